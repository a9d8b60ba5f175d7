/* SPDX-License-Identifier: Apache-2.0 */
/* Kafka message values <-> struct cp_event / struct cp_dead_letter /
 * struct cp_alert with avro-c. Decoding is the first step after the
 * consumer: framing, a schema-driven walk over the raw bytes that proves
 * them well-formed without allocating (avro-c leaks or mallocs huge sizes on
 * hostile input), then avro_value_read with the writer schema, projection by
 * field and symbol name, and cp_event_validate(). Encoding serves the
 * generator, tests, the dead-letter path and alerts. avro-c allocates
 * through our size-class free lists (avro_alloc.h), so steady-state decoding
 * never calls malloc. */
#include "codec.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "avro_alloc.h"
#include "codec_impl.h"
#include "codec_int.h"
#include "schemas.h"

const char cp__empty_bytes[1] = "";

/* ---- life cycle ---- */

static struct slot *writer_by_id(const struct cp_codec *codec, uint32_t id)
{
    for (size_t i = 0; i < codec->writer_cnt; i++)
        if ((uint32_t)codec->writers[i]->id == id)
            return codec->writers[i];
    return NULL;
}

static int attach_event(struct slot *slot, char *why, size_t why_size)
{
    return (slot->ev = cp__event_proj_new(slot->schema, false, why, why_size))
               ? 0
               : -1;
}

static int attach_dead_letter(struct slot *slot, char *why, size_t why_size)
{
    return (slot->dl = cp__dl_proj_new(slot->schema, why, why_size)) ? 0 : -1;
}

static int attach_alert(struct slot *slot, char *why, size_t why_size)
{
    return (slot->al = cp__alert_proj_new(slot->schema, why, why_size)) ? 0
                                                                        : -1;
}

/* The records we project, by full name: a schema id whose record is one of
 * these gets its projection table; any other compiled-in schema is only
 * walked and read (cp__codec_check). A new record kind is one row here. */
static const struct record_kind {
    const char *fullname;
    int (*attach)(struct slot *slot, char *why, size_t why_size);
} record_kinds[] = {
    {"crm.v1.CrmEvent", attach_event},
    {"crm.v1.DeadLetter", attach_dead_letter},
    {"crm.v1.Alert", attach_alert},
};

static int slot_init(struct slot *slot, const struct cp_schema_entry *entry,
                     char *errstr, size_t errstr_size)
{
    const char *ns, *name;
    char why[200];

    slot->id = entry->id;
    if (avro_schema_from_json_length(entry->json, strlen(entry->json),
                                     &slot->schema)) {
        slot->schema = NULL;
        snprintf(errstr, errstr_size, "parse schema %d (%s): %s", entry->id,
                 entry->file, avro_strerror());
        return -1;
    }
    name = avro_schema_type_name(slot->schema);
    ns = is_avro_named_type(slot->schema) ? avro_schema_namespace(slot->schema)
                                          : NULL;
    snprintf(slot->fullname, sizeof(slot->fullname), "%s%s%s", ns ? ns : "",
             ns && *ns ? "." : "", name ? name : "?");
    slot->iface = avro_generic_class_from_schema(slot->schema);
    if (!slot->iface) {
        snprintf(errstr, errstr_size, "schema %d (%s): %s", entry->id,
                 entry->file, avro_strerror());
        return -1;
    }
    if (avro_generic_value_new(slot->iface, &slot->value)) {
        slot->value.self = NULL;
        snprintf(errstr, errstr_size, "schema %d (%s): %s", entry->id,
                 entry->file, avro_strerror());
        return -1;
    }
    if (!(slot->walk = cp__walk_compile(slot->schema, why, sizeof(why)))) {
        snprintf(errstr, errstr_size, "compile schema %d (%s): %s", entry->id,
                 entry->file, why);
        return -1;
    }
    for (size_t i = 0; i < CP_ARRAY_SIZE(record_kinds); i++)
        if (strcmp(slot->fullname, record_kinds[i].fullname) == 0) {
            if (record_kinds[i].attach(slot, why, sizeof(why)))
                goto bad_proj;
            break;
        }
    return 0;

bad_proj:
    snprintf(errstr, errstr_size, "schema %d (%s): %s", entry->id, entry->file,
             why);
    return -1;
}

static void slot_cleanup(struct slot *slot)
{
    if (slot->iface && slot->value.self)
        avro_value_decref(&slot->value);
    if (slot->iface)
        avro_value_iface_decref(slot->iface);
    if (slot->schema)
        avro_schema_decref(slot->schema);
    cp__walk_free(slot->walk);
    free(slot->ev);
    free(slot->dl);
    free(slot->al);
    free(slot->unusable);
    memset(slot, 0, sizeof(*slot));
}

struct cp_codec *cp_codec_new(enum cp_framing framing, char *errstr,
                              size_t errstr_size)
{
    struct cp_codec *codec;
    size_t n = 0;

    /* Normally already done before main(); a no-op then. */
    cp__avro_alloc_install();
    codec = calloc(1, sizeof(*codec));
    if (!codec) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    codec->framing = framing;
    while (cp_schema_registry[n].id)
        n++;
    codec->slots = calloc(n ? n : 1, sizeof(*codec->slots));
    if (!codec->slots) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        codec->slot_cnt++;
        if (slot_init(&codec->slots[i], &cp_schema_registry[i], errstr,
                      errstr_size))
            goto fail;
        if (codec->slots[i].id == CP_SCHEMA_ID_CRM_EVENT)
            codec->event_slot = &codec->slots[i];
        if (codec->slots[i].id == CP_SCHEMA_ID_DEAD_LETTER)
            codec->dead_letter_slot = &codec->slots[i];
        if (codec->slots[i].id == CP_SCHEMA_ID_ALERT)
            codec->alert_slot = &codec->slots[i];
    }
    if (!codec->event_slot || !codec->event_slot->ev) {
        snprintf(errstr, errstr_size, "schema id %d is not a crm.v1.CrmEvent",
                 CP_SCHEMA_ID_CRM_EVENT);
        goto fail;
    }
    if (!codec->dead_letter_slot || !codec->dead_letter_slot->dl) {
        snprintf(errstr, errstr_size, "schema id %d is not a crm.v1.DeadLetter",
                 CP_SCHEMA_ID_DEAD_LETTER);
        goto fail;
    }
    if (!codec->alert_slot || !codec->alert_slot->al) {
        snprintf(errstr, errstr_size, "schema id %d is not a crm.v1.Alert",
                 CP_SCHEMA_ID_ALERT);
        goto fail;
    }
    codec->reader = avro_reader_memory(cp__empty_bytes, 0);
    codec->writer = avro_writer_memory(cp__empty_bytes, 0);
    if (!codec->reader || !codec->writer) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    return codec;

fail:
    cp_codec_destroy(codec);
    return NULL;
}

void cp_codec_destroy(struct cp_codec *codec)
{
    if (!codec)
        return;
    for (size_t i = 0; i < codec->slot_cnt; i++)
        slot_cleanup(&codec->slots[i]);
    free(codec->slots);
    for (size_t i = 0; i < codec->writer_cnt; i++) {
        slot_cleanup(codec->writers[i]);
        free(codec->writers[i]);
    }
    free(codec->writers);
    if (codec->reader)
        avro_reader_free(codec->reader);
    if (codec->writer)
        avro_writer_free(codec->writer);
    free(codec);
}

/* ---- schema registry ---- */

#define WRITERS_MAX 65536 /* registry schema ids a codec holds */

void cp_codec_use_registry(struct cp_codec *codec)
{
    codec->use_registry = true;
}

void cp_codec_set_output_ids(struct cp_codec *codec, uint32_t event_id,
                             uint32_t alert_id, uint32_t dead_letter_id)
{
    codec->out_event_id = event_id;
    codec->out_alert_id = alert_id;
    codec->out_dead_letter_id = dead_letter_id;
}

bool cp_codec_needs_schema(const struct cp_codec *codec, const void *value,
                           size_t len, uint32_t *id)
{
    const uint8_t *p = value;

    if (!codec->use_registry || codec->framing != CP_FRAMING_CONFLUENT ||
        !value || len < CONFLUENT_HDR || p[0] != 0)
        return false; /* decoding says what is wrong, if anything */
    *id = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 |
          (uint32_t)p[4];
    return writer_by_id(codec, *id) == NULL;
}

/* A new writer slot for @p id, appended; NULL when out of memory or room. */
static struct slot *writer_new(struct cp_codec *codec, uint32_t id)
{
    struct slot *s;

    if (codec->writer_cnt == codec->writer_cap) {
        size_t cap = codec->writer_cap ? codec->writer_cap * 2 : 8;
        struct slot **grown;

        if (cap > WRITERS_MAX || codec->writer_cnt == WRITERS_MAX)
            return NULL;
        grown = realloc(codec->writers, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        codec->writers = grown;
        codec->writer_cap = cap;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->id = (int)id;
    codec->writers[codec->writer_cnt++] = s;
    return s;
}

cp_rc cp_codec_add_unusable(struct cp_codec *codec, uint32_t id,
                            const char *why)
{
    struct slot *s = writer_new(codec, id);

    if (!s)
        return CP_ENOMEM;
    s->unusable = strdup(why);
    return s->unusable ? CP_OK : CP_ENOMEM;
}

static bool has_field(avro_schema_t rec, const char *name)
{
    return avro_schema_record_field_get_index(rec, name) >= 0;
}

/* Appends "sep name" to @p out (bounded, truncation is fine: a log line). */
static void append(char *out, size_t size, const char *sep, const char *rec,
                   const char *name)
{
    size_t len = strlen(out);

    if (len + 1 < size)
        snprintf(out + len, size - len, "%s%s%s%s", sep, rec ? rec : "",
                 rec ? "." : "", name);
}

/* Names in @p a's record (and payload records) that @p b lacks. */
static void diff_fields(avro_schema_t a, avro_schema_t b, char *out,
                        size_t size)
{
    int pa, pb;

    for (size_t i = 0; i < avro_schema_record_size(a); i++) {
        const char *name = avro_schema_record_field_name(a, (int)i);

        if (name && !has_field(b, name))
            append(out, size, *out ? ", " : "", NULL, name);
    }
    pa = avro_schema_record_field_get_index(a, "payload");
    pb = avro_schema_record_field_get_index(b, "payload");
    if (pa < 0 || pb < 0)
        return;
    {
        avro_schema_t ua =
            cp__resolve_link(avro_schema_record_field_get_by_index(a, pa));
        avro_schema_t ub =
            cp__resolve_link(avro_schema_record_field_get_by_index(b, pb));

        if (!ua || !ub || !is_avro_union(ua) || !is_avro_union(ub))
            return;
        for (size_t i = 0; i < avro_schema_union_size(ua); i++) {
            avro_schema_t ra =
                cp__resolve_link(avro_schema_union_branch(ua, (int)i));
            avro_schema_t rb = NULL;

            if (!ra || !is_avro_record(ra))
                continue;
            for (size_t k = 0; k < avro_schema_union_size(ub) && !rb; k++) {
                avro_schema_t c =
                    cp__resolve_link(avro_schema_union_branch(ub, (int)k));

                if (c && is_avro_record(c) &&
                    strcmp(avro_schema_name(c), avro_schema_name(ra)) == 0)
                    rb = c;
            }
            if (!rb) {
                append(out, size, *out ? ", " : "", NULL, avro_schema_name(ra));
                continue;
            }
            for (size_t f = 0; f < avro_schema_record_size(ra); f++) {
                const char *name = avro_schema_record_field_name(ra, (int)f);

                if (name && !has_field(rb, name))
                    append(out, size, *out ? ", " : "", avro_schema_name(ra),
                           name);
            }
        }
    }
}

/* Named types seen while checking a schema: avro-c leaks what it built
 * when a schema defines a name twice, so such schemas are refused before
 * avro-c parses them. */
struct names {
    char **v; /* owned, each owned */
    size_t cnt, cap;
};

#define NAMES_MAX 4096

/* 0, 1 when a name is defined twice (@p dup gets it), -1 out of memory or
 * too many names. */
static int scan_names(json_t *node, const char *ns, struct names *seen,
                      char *dup, size_t dup_size)
{
    const char *type, *name, *own_ns;
    char full[512], space[512];
    size_t i;
    json_t *v;

    if (json_is_array(node)) {
        json_array_foreach(node, i, v)
        {
            int rc = scan_names(v, ns, seen, dup, dup_size);

            if (rc)
                return rc;
        }
        return 0;
    }
    if (!json_is_object(node))
        return 0;
    type = json_string_value(json_object_get(node, "type"));
    name = json_string_value(json_object_get(node, "name"));
    own_ns = json_string_value(json_object_get(node, "namespace"));
    if (type && name &&
        (!strcmp(type, "record") || !strcmp(type, "enum") ||
         !strcmp(type, "fixed") || !strcmp(type, "error"))) {
        if (strchr(name, '.'))
            snprintf(full, sizeof(full), "%s", name);
        else
            snprintf(full, sizeof(full), "%s%s%s", own_ns ? own_ns : ns,
                     *(own_ns ? own_ns : ns) ? "." : "", name);
        for (i = 0; i < seen->cnt; i++)
            if (!strcmp(seen->v[i], full)) {
                snprintf(dup, dup_size, "%s", full);
                return 1;
            }
        if (seen->cnt == seen->cap) {
            size_t cap = seen->cap ? seen->cap * 2 : 16;
            char **grown;

            if (cap > NAMES_MAX)
                return -1;
            grown = realloc(seen->v, cap * sizeof(*grown));
            if (!grown)
                return -1;
            seen->v = grown;
            seen->cap = cap;
        }
        if (!(seen->v[seen->cnt] = strdup(full)))
            return -1;
        seen->cnt++;
        /* Names inside take this one's namespace. */
        {
            const char *dot = strrchr(full, '.');

            snprintf(space, sizeof(space), "%.*s", dot ? (int)(dot - full) : 0,
                     full);
            ns = space;
        }
    }
    {
        const char *key;
        char inner[512];

        snprintf(inner, sizeof(inner), "%s", ns);
        json_object_foreach(node, key, v)
        {
            int rc;

            if (strcmp(key, "type") && strcmp(key, "fields") &&
                strcmp(key, "items") && strcmp(key, "values"))
                continue;
            rc = scan_names(v, inner, seen, dup, dup_size);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* 0 if @p json defines each name once (or is not JSON: avro-c says so),
 * else -1 with @p why set. */
static int check_names(const char *json, uint32_t id, char *why,
                       size_t why_size)
{
    struct names seen = {0};
    json_t *root = json_loads(json, JSON_DECODE_ANY, NULL);
    char dup[512];
    int rc;

    if (!root)
        return 0;
    rc = scan_names(root, "", &seen, dup, sizeof(dup));
    json_decref(root);
    for (size_t i = 0; i < seen.cnt; i++)
        free(seen.v[i]);
    free(seen.v);
    if (rc > 0)
        snprintf(why, why_size,
                 "schema id %" PRIu32 ": not an Avro schema: %.200s is "
                 "defined twice (rule: a name is defined once)",
                 id, dup);
    else if (rc < 0)
        snprintf(why, why_size,
                 "schema id %" PRIu32 ": more than %d named types, or out "
                 "of memory",
                 id, NAMES_MAX);
    return rc ? -1 : 0;
}

cp_rc cp_codec_add_schema(struct cp_codec *codec, uint32_t id, const char *json,
                          char *summary, size_t summary_size)
{
    struct slot *s = writer_new(codec, id);
    avro_schema_t reader = codec->event_slot->schema;
    char why[400] = "", added[300] = "", removed[300] = "";

    if (!s)
        return CP_ENOMEM;
    if (check_names(json, id, why, sizeof(why)))
        goto unusable;
    if (avro_schema_from_json_length(json, strlen(json), &s->schema)) {
        s->schema = NULL;
        snprintf(why, sizeof(why),
                 "schema id %" PRIu32 ": not an Avro "
                 "schema: %.200s",
                 id, avro_strerror());
        goto unusable;
    }
    if (!is_avro_record(s->schema) ||
        strcmp(avro_schema_name(s->schema), "CrmEvent") != 0) {
        snprintf(why, sizeof(why),
                 "schema id %" PRIu32 ": a %s %s, not a record CrmEvent "
                 "(rule: records resolve by name)",
                 id, avro_schema_type_name(s->schema),
                 is_avro_named_type(s->schema) ? avro_schema_name(s->schema)
                                               : "");
        goto unusable;
    }
    snprintf(s->fullname, sizeof(s->fullname), "crm.v1.CrmEvent");
    if (!(s->walk = cp__walk_compile(s->schema, added, sizeof(added)))) {
        snprintf(why, sizeof(why), "schema id %" PRIu32 ": %s", id, added);
        goto unusable;
    }
    if (!(s->ev = cp__event_proj_new(s->schema, true, added, sizeof(added)))) {
        snprintf(why, sizeof(why),
                 "schema id %" PRIu32 " does not resolve to "
                 "crm.v1.CrmEvent: %s",
                 id, added);
        goto unusable;
    }
    added[0] = '\0';
    if (!(s->iface = avro_generic_class_from_schema(s->schema)) ||
        avro_generic_value_new(s->iface, &s->value)) {
        /* Not the schema's fault: forget the id, it is asked again. */
        s->value.self = NULL;
        slot_cleanup(s);
        free(s);
        codec->writer_cnt--;
        return CP_ENOMEM;
    }
    diff_fields(s->schema, reader, added, sizeof(added));
    diff_fields(reader, s->schema, removed, sizeof(removed));
    snprintf(summary, summary_size, "added: %s; removed: %s",
             *added ? added : "none", *removed ? removed : "none");
    return CP_OK;

unusable:
    /* Keep the reason; drop what was built. */
    {
        int keep = s->id;

        slot_cleanup(s);
        s->id = keep;
    }
    s->unusable = strdup(why);
    snprintf(summary, summary_size, "%s", why);
    return s->unusable ? CP_EDECODE : CP_ENOMEM;
}

/* ---- decoding ---- */

static struct slot *slot_by_id(struct cp_codec *codec, uint32_t id)
{
    for (size_t i = 0; i < codec->slot_cnt; i++)
        if ((uint32_t)codec->slots[i].id == id)
            return &codec->slots[i];
    return NULL;
}

static bool slot_is(const struct slot *s, enum want want)
{
    switch (want) {
    case WANT_EVENT:
        return s->ev != NULL;
    case WANT_DEAD_LETTER:
        return s->dl != NULL;
    case WANT_ALERT:
        return s->al != NULL;
    }
    return false;
}

static const char *want_name(enum want want)
{
    return want == WANT_EVENT         ? "CrmEvent"
           : want == WANT_DEAD_LETTER ? "DeadLetter"
                                      : "Alert";
}

/* Picks the writer schema from the framing: @p raw_slot for raw framing,
 * else the Confluent id, which must name a record of kind @p want. */
static cp_rc unframe(struct cp_codec *codec, const void *value, size_t len,
                     struct slot *raw_slot, enum want want, struct slot **slot,
                     const uint8_t **body, size_t *body_len, char *reason,
                     size_t reason_size)
{
    const uint8_t *p = value;
    uint32_t id;
    struct slot *s;

    if (!value || len == 0)
        return cp_decode_fail(reason, reason_size, "empty message (tombstone)");
    if (codec->framing == CP_FRAMING_RAW) {
        *slot = raw_slot;
        *body = p;
        *body_len = len;
        return CP_OK;
    }
    if (len < CONFLUENT_HDR)
        return cp_decode_fail(reason, reason_size,
                              "bad framing: %zu bytes, shorter than the 5-byte "
                              "Confluent header",
                              len);
    if (p[0] != 0)
        return cp_decode_fail(reason, reason_size,
                              "bad framing: magic byte 0x%02x, expected 0x00",
                              p[0]);
    id = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 |
         (uint32_t)p[4];
    /* In registry mode, events are framed with the registry's ids only. */
    s = codec->use_registry && want == WANT_EVENT ? writer_by_id(codec, id)
                                                  : slot_by_id(codec, id);
    /* What we wrote with a registry id reads back with our schema. */
    if (want == WANT_DEAD_LETTER && id && id == codec->out_dead_letter_id)
        s = codec->dead_letter_slot;
    else if (want == WANT_ALERT && id && id == codec->out_alert_id)
        s = codec->alert_slot;
    if (!s)
        return cp_decode_fail(reason, reason_size, "unknown schema id %" PRIu32,
                              id);
    if (s->unusable)
        return cp_decode_fail(reason, reason_size, "%s", s->unusable);
    if (!slot_is(s, want))
        return cp_decode_fail(
            reason, reason_size, "schema id %" PRIu32 " is %s, not a%s %s", id,
            s->fullname, want == WANT_ALERT ? "n" : "", want_name(want));
    *slot = s;
    *body = p + CONFLUENT_HDR;
    *body_len = len - CONFLUENT_HDR;
    return CP_OK;
}

/* Walk, then let avro-c read bytes we know to be well-formed. */
static cp_rc read_value(struct cp_codec *codec, struct slot *slot,
                        const void *value, const uint8_t *body, size_t body_len,
                        char *reason, size_t reason_size)
{
    cp_rc rc =
        cp__walk_value(slot->walk, value, body, body_len, reason, reason_size);
    int err;

    if (rc)
        return rc;
    avro_reader_memory_set_source(codec->reader, (const char *)body,
                                  (int64_t)body_len);
    err = avro_value_read(codec->reader, &slot->value);
    if (err)
        avro_value_reset(&slot->value); /* drop a partial read */
    if (err == ENOMEM)
        return CP_ENOMEM;
    if (err)
        /* avro_strerror() is a process-wide buffer: not used here. */
        return cp_decode_fail(reason, reason_size,
                              "avro: read failed (error %d)", err);
    return CP_OK;
}

cp_rc cp__read_message(struct cp_codec *codec, const void *value, size_t len,
                       struct slot *raw_slot, enum want want,
                       struct slot **slot, char *reason, size_t reason_size)
{
    const uint8_t *body = NULL;
    size_t body_len = 0;
    cp_rc rc = unframe(codec, value, len, raw_slot, want, slot, &body,
                       &body_len, reason, reason_size);

    if (rc)
        return rc;
    return read_value(codec, *slot, value, body, body_len, reason, reason_size);
}

cp_rc cp__codec_check(struct cp_codec *codec, int schema_id, const void *body,
                      size_t len, char *reason, size_t reason_size)
{
    struct slot *slot = slot_by_id(codec, (uint32_t)schema_id);
    cp_rc rc;

    if (!slot)
        return cp_decode_fail(reason, reason_size, "unknown schema id %d",
                              schema_id);
    if (!body)
        body = cp__empty_bytes; /* an empty body is still walked */
    rc = read_value(codec, slot, body, body, len, reason, reason_size);
    if (!rc)
        avro_value_reset(&slot->value);
    return rc;
}

/* ---- encoding ---- */

cp_rc cp__write_framed(struct cp_codec *codec, struct slot *slot,
                       struct cp_buf *out)
{
    size_t hdr = codec->framing == CP_FRAMING_CONFLUENT ? CONFLUENT_HDR : 0;
    uint32_t id = (uint32_t)slot->id;
    size_t size = 0;
    uint8_t *dst;

    if (slot == codec->event_slot && codec->out_event_id)
        id = codec->out_event_id;
    else if (slot == codec->alert_slot && codec->out_alert_id)
        id = codec->out_alert_id;
    else if (slot == codec->dead_letter_slot && codec->out_dead_letter_id)
        id = codec->out_dead_letter_id;
    if (avro_value_sizeof(&slot->value, &size))
        return CP_EDECODE;
    if (cp_buf_reserve(out, hdr + size))
        return CP_ENOMEM;
    dst = (uint8_t *)out->data + out->len;
    if (hdr) {
        dst[0] = 0;
        dst[1] = (uint8_t)(id >> 24);
        dst[2] = (uint8_t)(id >> 16);
        dst[3] = (uint8_t)(id >> 8);
        dst[4] = (uint8_t)id;
    }
    avro_writer_memory_set_dest(codec->writer, (const char *)dst + hdr,
                                (int64_t)size);
    if (avro_value_write(codec->writer, &slot->value) ||
        avro_writer_tell(codec->writer) != (int64_t)size)
        return CP_EDECODE;
    out->len += hdr + size;
    return CP_OK;
}
