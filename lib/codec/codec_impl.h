/* SPDX-License-Identifier: Apache-2.0 */
/* Private to lib/codec (it needs avro.h, which only this layer sees): the
 * projection tables, a compiled-in schema (struct slot) and the codec
 * object shared by codec.c (life cycle, framing), proj.c (projection
 * set-up), decode.c and encode.c. */
#ifndef CP_CODEC_IMPL_H
#define CP_CODEC_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <avro.h>

#include "buf.h"
#include "codec.h"
#include "walk.h"

#define CONFLUENT_HDR 5
#define MAX_SYMBOLS   64 /* enum symbols / union branches we can map */

/* ---- projection tables (by name, resolved once) ---- */

/* An optional field: T or union{null, T} in either order. */
struct opt_field {
    int index;       /* field index in the record; -1: the writer lacks it,
                        read as the reader's default (null) */
    int null_branch; /* -1: the field is not a union */
    int val_branch;
    int8_t promoted; /* 1: written as bytes, read as string */
};

/* A writer enum mapped by symbol name onto one of our enums. */
struct enum_map {
    int cnt;                       /* writer symbols */
    int8_t ours[MAX_SYMBOLS];      /* writer index -> our value, -1 unknown */
    int8_t theirs[MAX_SYMBOLS];    /* our value -> writer index, -1 missing */
    const char *syms[MAX_SYMBOLS]; /* borrowed from the schema */
};

enum role {
    R_ENTITY,
    R_LABEL,
    R_STAGE_ORDER,
    R_WON,
    R_AMOUNT,
    R_INBOUND,
    R_ANSWERED,
    R_SURVEY_KIND,
    R_SCORE,
    R_ACTION,
};

#define KIND_MAX_FIELDS 4

struct kind_proj {
    int branch; /* payload union branch of this kind; -1: not in the schema */
    int field_cnt;
    struct {
        enum role role;
        int index;            /* field index in the branch record */
        int8_t promoted;      /* 1: int read as long, bytes as string */
        struct enum_map *map; /* owned by the event_proj, or NULL */
    } fields[KIND_MAX_FIELDS];
};

struct event_proj {
    int f_event_id, f_tenant_id, f_customer_id, f_occurred_at, f_payload;
    /* Avro promotions the writer needs: bytes read as string (ids), int
     * read as long (occurred_at). */
    int8_t event_id_bytes, tenant_id_bytes, customer_id_bytes;
    int8_t occurred_at_int;
    struct opt_field manager_id;
    struct opt_field channel;
    struct enum_map channels;
    struct enum_map survey_kinds;
    struct enum_map sub_actions;
    int payload_branches;
    int8_t branch_kind[MAX_SYMBOLS];      /* branch -> kind, -1 unknown */
    const char *branch_name[MAX_SYMBOLS]; /* borrowed, for reasons */
    struct kind_proj kinds[CP_PAYLOAD_KIND_CNT];
};

struct dl_proj {
    int f_topic, f_partition, f_offset, f_value, f_reason, f_failed_at;
    struct opt_field key;
};

struct alert_proj {
    int f_alert_id, f_kind, f_tenant_id, f_customer_id, f_level;
    int f_risk_score, f_previous_score, f_reasons, f_event_time;
    int f_emitted_at, f_model_version;
    int f_action, f_value_minor, f_value_at_risk; /* -1: not in this
                                                     version (defaults) */
    int r_factor, r_contribution, r_detail;       /* in the Reason record */
    struct opt_field manager_id;
    struct opt_field triggered_by;
    struct enum_map kinds;
    struct enum_map levels;
};

/* One compiled-in schema id. */
struct slot {
    int id;
    char fullname[128];        /* "crm.v1.CrmEvent" */
    avro_schema_t schema;      /* owned */
    avro_value_iface_t *iface; /* owned */
    avro_value_t value;        /* owned when iface && value.self */
    struct cp_walk *walk;      /* owned: the validation walk program */
    struct event_proj *ev;     /* owned; NULL: not a CrmEvent */
    struct dl_proj *dl;        /* owned; NULL: not a DeadLetter */
    struct alert_proj *al;     /* owned; NULL: not an Alert */
    char *unusable; /* owned; a registry id we cannot read: why (every
                       message of it is dead-lettered with this) */
};

struct cp_codec {
    enum cp_framing framing;
    struct slot *slots; /* owned */
    size_t slot_cnt;
    struct slot *event_slot;       /* borrowed from slots: schema id 1 */
    struct slot *dead_letter_slot; /* borrowed from slots: schema id 3 */
    struct slot *alert_slot;       /* borrowed from slots: schema id 4 */
    bool use_registry;             /* event ids are the registry's */
    uint32_t out_event_id;         /* registry ids to frame with; 0: */
    uint32_t out_alert_id;         /* the compiled-in id */
    uint32_t out_dead_letter_id;
    struct slot **writers; /* owned: registry writer schemas */
    size_t writer_cnt, writer_cap;
    avro_reader_t reader; /* owned, re-pointed per message */
    avro_writer_t writer; /* owned, re-pointed per message */
};

/* A zero-length buffer avro-c readers/writers can point at. */
extern const char cp__empty_bytes[1];

/* ---- proj.c: projection set-up, one per record kind ---- */

/* Each returns a table owned by the caller (free()), or NULL with
 * @p errstr set when the writer schema lacks what we read. @p lenient
 * (a registry writer schema): Avro resolution to schemas/crm_event.avsc,
 * i.e. optional fields the writer lacks read as null, and the promotions
 * int->long and bytes->string; the error names the field and the rule. */
struct event_proj *cp__event_proj_new(avro_schema_t rec, bool lenient,
                                      char *errstr, size_t errstr_size);
struct dl_proj *cp__dl_proj_new(avro_schema_t rec, char *errstr,
                                size_t errstr_size);
struct alert_proj *cp__alert_proj_new(avro_schema_t rec, char *errstr,
                                      size_t errstr_size);

/* ---- codec.c: framing ---- */

/* The record a decoder expects; several schema ids may carry one. */
enum want {
    WANT_EVENT,
    WANT_DEAD_LETTER,
    WANT_ALERT,
};

/* Unframes @p value (the writer schema from the framing: @p raw_slot for
 * raw framing, else the Confluent id, which must name a record of kind
 * @p want), walks it and lets avro-c read it: on CP_OK, (*slot)->value holds
 * the message (reset it once projected). */
cp_rc cp__read_message(struct cp_codec *codec, const void *value, size_t len,
                       struct slot *raw_slot, enum want want,
                       struct slot **slot, char *reason, size_t reason_size);
/* Appends the header and the encoding of slot->value to @p out. */
cp_rc cp__write_framed(struct cp_codec *codec, struct slot *slot,
                       struct cp_buf *out);

#endif
