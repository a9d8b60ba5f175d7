/* SPDX-License-Identifier: Apache-2.0 */
/* Kafka message bytes <-> our structs. Decoding: framing (Confluent 0x00 +
 * 4-byte big-endian schema id, or raw Avro), an allocation-free validation
 * walk of the bytes against the writer schema, avro_value_read, projection
 * by field name into struct cp_event, then cp_event_validate(). Encoding:
 * events (for the generator and tests), dead letters and alerts, same
 * framing; alerts and dead letters decode too, for tests and tools. */
#ifndef CP_CODEC_H
#define CP_CODEC_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "alert.h"
#include "common.h"
#include "event.h"

enum cp_framing {
    CP_FRAMING_CONFLUENT = 0, /* 0x00, schema id (BE32), Avro binary */
    CP_FRAMING_RAW,           /* Avro binary of the record's v1 schema */
};

/** Passive: what goes to the dead-letter topic. */
struct cp_dead_letter {
    const char *topic; /* source topic, borrowed */
    int32_t partition;
    int64_t offset;
    const void *key; /* borrowed; NULL: null */
    size_t key_len;
    const void *value; /* borrowed; the original bytes (may be NULL if len 0) */
    size_t value_len;
    const char *reason; /* borrowed, NUL-terminated */
    int64_t failed_at;  /* ms since epoch */
};

struct cp_codec;

/**
 * @brief Parses the compiled-in schemas and prepares one reader per schema id.
 * Ownership: caller owns the result; free with cp_codec_destroy().
 * Thread: one codec per thread.
 */
struct cp_codec *cp_codec_new(enum cp_framing framing, char *errstr,
                              size_t errstr_size);
void cp_codec_destroy(struct cp_codec *codec);

/* ---- schema registry: writer schemas by registry id ---- */

/**
 * @brief From now on the Confluent schema ids of events are those of a
 *        schema registry: the compiled-in ids no longer read events, only
 *        the writer schemas given with cp_codec_add_schema() do.
 */
void cp_codec_use_registry(struct cp_codec *codec);

/**
 * @brief Whether @p value is a Confluent-framed message whose schema id
 *        the codec (in registry mode) has not been given yet: the caller
 *        fetches it and calls cp_codec_add_schema() (or
 *        cp_codec_add_unusable()) before decoding.
 */
bool cp_codec_needs_schema(const struct cp_codec *codec, const void *value,
                           size_t len, uint32_t *id);

/**
 * @brief Compiles writer schema @p json of registry id @p id and its
 *        resolution to our reader (schemas/crm_event.avsc, by the Avro
 *        rules: fields only the writer has are skipped, optional fields it
 *        lacks read as null, int->long and bytes->string promotions, enum
 *        symbols and payload records by name). Kept for the codec's life.
 * @returns CP_OK with @p summary saying what differs from the reader
 *          ("added: ...; removed: ..."); CP_EDECODE when it cannot be
 *          read (bad JSON, not a CrmEvent, a reader field without default
 *          missing, a type that does not resolve): the id is kept as
 *          unusable, every message of it decodes to CP_EDECODE with that
 *          reason, also in @p summary; CP_ENOMEM.
 * Ownership: borrows @p json for the call.
 */
cp_rc cp_codec_add_schema(struct cp_codec *codec, uint32_t id, const char *json,
                          char *summary, size_t summary_size);

/**
 * @brief Records that id @p id has no usable schema (the registry said
 *        "not found"): its messages decode to CP_EDECODE with @p why.
 * @returns CP_OK or CP_ENOMEM.
 */
cp_rc cp_codec_add_unusable(struct cp_codec *codec, uint32_t id,
                            const char *why);

/**
 * @brief Frames what this codec encodes with registry ids: events with
 *        @p event_id, alerts with @p alert_id, dead letters with
 *        @p dead_letter_id (each 0 = the compiled-in id). The schemas
 *        written are still ours (the .avsc files of schemas/): the ids are the
 * ones the registry gave for exactly those schemas.
 */
void cp_codec_set_output_ids(struct cp_codec *codec, uint32_t event_id,
                             uint32_t alert_id, uint32_t dead_letter_id);

/**
 * @brief Decodes and validates one message value.
 * @param now_ms the worker's clock, for the "24 h in the future" rule.
 * @returns CP_OK with @p ev filled (its strings copied into @p arena), or
 *          CP_EDECODE with a human-readable reason (never crashes, never
 *          leaks, whatever the bytes), or CP_ENOMEM.
 */
cp_rc cp_codec_decode_event(struct cp_codec *codec, const void *value,
                            size_t len, int64_t now_ms, struct cp_arena *arena,
                            struct cp_event *ev, char *reason,
                            size_t reason_size);

/** @brief Appends the framed encoding of @p ev to @p out. */
cp_rc cp_codec_encode_event(struct cp_codec *codec, const struct cp_event *ev,
                            struct cp_buf *out);

/** @brief Appends the framed encoding of @p dl to @p out. */
cp_rc cp_codec_encode_dead_letter(struct cp_codec *codec,
                                  const struct cp_dead_letter *dl,
                                  struct cp_buf *out);

/**
 * @brief Decodes a framed DeadLetter (tests and tools read the DLQ with it).
 * Ownership: strings and bytes in @p dl point into @p arena.
 */
cp_rc cp_codec_decode_dead_letter(struct cp_codec *codec, const void *value,
                                  size_t len, struct cp_arena *arena,
                                  struct cp_dead_letter *dl, char *reason,
                                  size_t reason_size);

/**
 * @brief Appends the framed encoding of @p a (crm.v1.Alert, schema id 4 in
 *        Confluent framing) to @p out. kind and level are written by symbol
 *        name; a NULL required string is written as "".
 * @returns CP_OK; CP_EDECODE (kind or level out of range, reasons NULL
 *          with a count) or CP_ENOMEM with @p out left as it was.
 * Ownership: borrows @p a only for the call.
 */
cp_rc cp_codec_encode_alert(struct cp_codec *codec, const struct cp_alert *a,
                            struct cp_buf *out);

/**
 * @brief Decodes a framed crm.v1.Alert (tests and tools read crm.alerts
 *        with it). The bytes are walked against the writer schema before
 *        avro-c sees them, like events.
 * @param reasons room for @p reasons_cap reasons; more is CP_EDECODE.
 * @returns CP_OK with @p a filled (a->reasons = @p reasons), CP_EDECODE
 *          with a reason (bad bytes, an unknown symbol, a NUL inside a
 *          string, too many reasons), or CP_ENOMEM.
 * Ownership: the strings of @p a and @p reasons point into @p arena.
 */
cp_rc cp_codec_decode_alert(struct cp_codec *codec, const void *value,
                            size_t len, struct cp_arena *arena,
                            struct cp_alert *a, struct cp_alert_reason *reasons,
                            size_t reasons_cap, char *reason,
                            size_t reason_size);

#endif
