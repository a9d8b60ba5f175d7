/* SPDX-License-Identifier: Apache-2.0 */
/* Projection set-up: resolves, once per writer schema, every field and
 * enum symbol we read or write by name, so decoding and encoding index
 * straight into avro-c values. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_impl.h"

/* Every payload field we read, by kind; the entity id field comes from
 * cp_payload_entity_field(). */
static const struct payload_field {
    enum cp_payload_kind kind;
    enum role role;
    const char *name;
    avro_type_t type;
} payload_fields[] = {
    {CP_LEAD_CREATED, R_LABEL, "source", AVRO_STRING},
    {CP_STAGE_CHANGED, R_LABEL, "stage", AVRO_STRING},
    {CP_STAGE_CHANGED, R_STAGE_ORDER, "stage_order", AVRO_INT32},
    {CP_DEAL_CLOSED, R_WON, "won", AVRO_BOOLEAN},
    {CP_DEAL_CLOSED, R_AMOUNT, "amount_minor", AVRO_INT64},
    {CP_ORDER_PLACED, R_AMOUNT, "amount_minor", AVRO_INT64},
    {CP_CALL_LOGGED, R_INBOUND, "inbound", AVRO_BOOLEAN},
    {CP_CALL_LOGGED, R_ANSWERED, "answered", AVRO_BOOLEAN},
    {CP_CALL_LOGGED, R_AMOUNT, "duration_ms", AVRO_INT64},
    {CP_SURVEY_ANSWERED, R_SURVEY_KIND, "kind", AVRO_ENUM},
    {CP_SURVEY_ANSWERED, R_SCORE, "score", AVRO_INT32},
    {CP_SUBSCRIPTION_CHANGED, R_ACTION, "action", AVRO_ENUM},
    {CP_SUBSCRIPTION_CHANGED, R_AMOUNT, "mrr_minor", AVRO_INT64},
};

static const char *const survey_symbols[] = {"NPS", "CSAT", "CES"};
static const char *const action_symbols[] = {"STARTED", "RENEWED", "CANCELLED"};

static const char *type_name(avro_type_t type)
{
    switch (type) {
    case AVRO_STRING:
        return "string";
    case AVRO_BYTES:
        return "bytes";
    case AVRO_ENUM:
        return "an enum";
    default:
        return "the expected type";
    }
}

/* Whether a writer value of type @p got is read as @p want: the same type,
 * or (when @p promoted is not NULL) one of Avro's promotions we read:
 * int -> long, bytes -> string; *promoted tells which. */
static bool type_resolves(avro_type_t got, avro_type_t want, int8_t *promoted)
{
    if (promoted)
        *promoted = 0;
    if (got == want)
        return true;
    if (!promoted)
        return false;
    if ((want == AVRO_INT64 && got == AVRO_INT32) ||
        (want == AVRO_STRING && got == AVRO_BYTES)) {
        *promoted = 1;
        return true;
    }
    return false;
}

static const char *avro_type_str(avro_type_t type)
{
    switch (type) {
    case AVRO_STRING:
        return "string";
    case AVRO_BYTES:
        return "bytes";
    case AVRO_INT32:
        return "int";
    case AVRO_INT64:
        return "long";
    case AVRO_FLOAT:
        return "float";
    case AVRO_DOUBLE:
        return "double";
    case AVRO_BOOLEAN:
        return "boolean";
    case AVRO_ENUM:
        return "enum";
    case AVRO_UNION:
        return "union";
    case AVRO_ARRAY:
        return "array";
    case AVRO_RECORD:
        return "record";
    default:
        return "another type";
    }
}

/* The index of reader field @p name (required: no reader default) in
 * writer record @p rec, or -1 with the field and the Avro rule it breaks in
 * @p errstr. @p promoted: NULL = the exact type only. */
static int record_field_p(avro_schema_t rec, const char *name, avro_type_t type,
                          avro_schema_t *fs, int8_t *promoted, char *errstr,
                          size_t errstr_size)
{
    int idx = avro_schema_record_field_get_index(rec, name);
    avro_schema_t s;

    if (idx < 0) {
        snprintf(errstr, errstr_size,
                 "field %s.%s: the writer lacks it and the reader has no "
                 "default (rule: a reader field missing from the writer "
                 "needs a default)",
                 avro_schema_name(rec), name);
        return -1;
    }
    s = cp__resolve_link(avro_schema_record_field_get_by_index(rec, idx));
    if (!s || !type_resolves(avro_typeof(s), type, promoted)) {
        snprintf(errstr, errstr_size,
                 "field %s.%s: writer type %s, reader type %s (rule: same "
                 "type or a promotion int->long, float->double, "
                 "string<->bytes)",
                 avro_schema_name(rec), name,
                 s ? avro_type_str(avro_typeof(s)) : "?", avro_type_str(type));
        return -1;
    }
    if (fs)
        *fs = s;
    return idx;
}

static int record_field(avro_schema_t rec, const char *name, avro_type_t type,
                        avro_schema_t *fs, char *errstr, size_t errstr_size)
{
    return record_field_p(rec, name, type, fs, NULL, errstr, errstr_size);
}

/* A required field: where its index goes, its name and type. */
struct field_want {
    int *index;
    const char *name;
    avro_type_t type;
};

/* Resolves every field of @p wants in @p rec; -1 (errstr set) if one is
 * missing or of another type. */
static int record_fields(avro_schema_t rec, const struct field_want *wants,
                         size_t cnt, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < cnt; i++) {
        *wants[i].index = record_field(rec, wants[i].name, wants[i].type, NULL,
                                       errstr, errstr_size);
        if (*wants[i].index < 0)
            return -1;
    }
    return 0;
}

/* An optional reader field (T or union{null, T}, default null). With
 * @p lenient (a registry writer), a writer that lacks it reads the default
 * (index -1) and a string may be written as bytes. */
static int optional_field_p(avro_schema_t rec, const char *name,
                            avro_type_t type, struct opt_field *of,
                            avro_schema_t *fs, bool lenient, char *errstr,
                            size_t errstr_size)
{
    int idx = avro_schema_record_field_get_index(rec, name);
    int8_t promoted = 0;
    avro_schema_t s;

    of->null_branch = of->val_branch = -1;
    of->promoted = 0;
    of->index = idx;
    if (idx < 0 && lenient)
        return 0; /* the reader's default: null */
    if (idx < 0) {
        snprintf(errstr, errstr_size, "%s: no field %s", avro_schema_name(rec),
                 name);
        return -1;
    }
    s = cp__resolve_link(avro_schema_record_field_get_by_index(rec, idx));
    if (s && type_resolves(avro_typeof(s), type, lenient ? &promoted : NULL)) {
        of->val_branch = 0;
        of->promoted = promoted;
        *fs = s;
        return 0;
    }
    if (s && is_avro_union(s) && avro_schema_union_size(s) == 2) {
        for (int i = 0; i < 2; i++) {
            avro_schema_t b = cp__resolve_link(avro_schema_union_branch(s, i));

            if (b && is_avro_null(b))
                of->null_branch = i;
            else if (b && type_resolves(avro_typeof(b), type,
                                        lenient ? &promoted : NULL)) {
                of->val_branch = i;
                of->promoted = promoted;
                *fs = b;
            }
        }
        if (of->null_branch >= 0 && of->val_branch >= 0)
            return 0;
    }
    snprintf(errstr, errstr_size,
             "field %s.%s: neither %s nor [null, %s] (rule: a writer union "
             "branch must resolve to the reader's)",
             avro_schema_name(rec), name, type_name(type), type_name(type));
    return -1;
}

static int optional_field(avro_schema_t rec, const char *name, avro_type_t type,
                          struct opt_field *of, avro_schema_t *fs, char *errstr,
                          size_t errstr_size)
{
    return optional_field_p(rec, name, type, of, fs, false, errstr,
                            errstr_size);
}

static int map_enum(avro_schema_t es, const char *const *ours, int our_cnt,
                    struct enum_map *map, char *errstr, size_t errstr_size)
{
    int n = avro_schema_enum_number_of_symbols(es);

    if (n <= 0 || n > MAX_SYMBOLS) {
        snprintf(errstr, errstr_size, "enum %s: %d symbols",
                 avro_schema_name(es), n);
        return -1;
    }
    map->cnt = n;
    for (int i = 0; i < MAX_SYMBOLS; i++) {
        map->ours[i] = map->theirs[i] = -1;
        map->syms[i] = NULL;
    }
    for (int i = 0; i < n; i++) {
        map->syms[i] = avro_schema_enum_get(es, i);
        for (int k = 0; k < our_cnt; k++)
            if (map->syms[i] && strcmp(map->syms[i], ours[k]) == 0) {
                map->ours[i] = (int8_t)k;
                map->theirs[k] = (int8_t)i;
            }
    }
    return 0;
}

struct event_proj *cp__event_proj_new(avro_schema_t rec, bool lenient,
                                      char *errstr, size_t errstr_size)
{
    int8_t *const no = NULL;
    struct event_proj *ep = calloc(1, sizeof(*ep));
    const char *channel_syms[CP_CHANNEL_CNT];
    avro_schema_t s, payload;

    if (!ep) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    for (int i = 0; i < CP_CHANNEL_CNT; i++)
        channel_syms[i] = cp_channel_symbol((enum cp_channel)i);
    ep->f_event_id =
        record_field_p(rec, "event_id", AVRO_STRING, NULL,
                       lenient ? &ep->event_id_bytes : no, errstr, errstr_size);
    if (ep->f_event_id < 0)
        goto fail;
    ep->f_tenant_id = record_field_p(rec, "tenant_id", AVRO_STRING, NULL,
                                     lenient ? &ep->tenant_id_bytes : no,
                                     errstr, errstr_size);
    if (ep->f_tenant_id < 0)
        goto fail;
    ep->f_customer_id = record_field_p(rec, "customer_id", AVRO_STRING, NULL,
                                       lenient ? &ep->customer_id_bytes : no,
                                       errstr, errstr_size);
    if (ep->f_customer_id < 0)
        goto fail;
    ep->f_occurred_at = record_field_p(rec, "occurred_at", AVRO_INT64, NULL,
                                       lenient ? &ep->occurred_at_int : no,
                                       errstr, errstr_size);
    if (ep->f_occurred_at < 0)
        goto fail;
    if (optional_field_p(rec, "manager_id", AVRO_STRING, &ep->manager_id, &s,
                         lenient, errstr, errstr_size))
        goto fail;
    s = NULL;
    if (optional_field_p(rec, "channel", AVRO_ENUM, &ep->channel, &s, lenient,
                         errstr, errstr_size))
        goto fail;
    if (s && map_enum(s, channel_syms, CP_CHANNEL_CNT, &ep->channels, errstr,
                      errstr_size))
        goto fail;
    ep->f_payload =
        record_field(rec, "payload", AVRO_UNION, &payload, errstr, errstr_size);
    if (ep->f_payload < 0)
        goto fail;

    for (int k = 0; k < CP_PAYLOAD_KIND_CNT; k++)
        ep->kinds[k].branch = -1;
    ep->payload_branches = (int)avro_schema_union_size(payload);
    if (ep->payload_branches > MAX_SYMBOLS) {
        snprintf(errstr, errstr_size, "payload: too many branches");
        goto fail;
    }
    for (int b = 0; b < ep->payload_branches; b++) {
        avro_schema_t br =
            cp__resolve_link(avro_schema_union_branch(payload, b));
        struct kind_proj *kp = NULL;
        const char *entity;
        int kind = -1;

        ep->branch_kind[b] = -1;
        ep->branch_name[b] = br ? avro_schema_type_name(br) : "?";
        if (!br || !is_avro_record(br))
            continue; /* not ours: decoding it fails with a reason */
        for (int k = 0; k < CP_PAYLOAD_KIND_CNT; k++)
            if (strcmp(avro_schema_name(br),
                       cp_payload_kind_name((enum cp_payload_kind)k)) == 0)
                kind = k;
        if (kind < 0 || ep->kinds[kind].branch >= 0)
            continue;
        kp = &ep->kinds[kind];
        ep->branch_kind[b] = (int8_t)kind;
        kp->branch = b;
        entity = cp_payload_entity_field((enum cp_payload_kind)kind);
        if (entity) {
            kp->fields[kp->field_cnt].role = R_ENTITY;
            kp->fields[kp->field_cnt].index = record_field_p(
                br, entity, AVRO_STRING, NULL,
                lenient ? &kp->fields[kp->field_cnt].promoted : no, errstr,
                errstr_size);
            if (kp->fields[kp->field_cnt++].index < 0)
                goto fail;
        }
        for (size_t i = 0; i < CP_ARRAY_SIZE(payload_fields); i++) {
            const struct payload_field *pf = &payload_fields[i];
            int f = kp->field_cnt;

            if ((int)pf->kind != kind)
                continue;
            kp->fields[f].role = pf->role;
            kp->fields[f].map = NULL;
            kp->fields[f].index = record_field_p(
                br, pf->name, pf->type, &s,
                lenient ? &kp->fields[f].promoted : no, errstr, errstr_size);
            if (kp->fields[f].index < 0)
                goto fail;
            if (pf->role == R_SURVEY_KIND) {
                if (map_enum(s, survey_symbols, 3, &ep->survey_kinds, errstr,
                             errstr_size))
                    goto fail;
                kp->fields[f].map = &ep->survey_kinds;
            } else if (pf->role == R_ACTION) {
                if (map_enum(s, action_symbols, 3, &ep->sub_actions, errstr,
                             errstr_size))
                    goto fail;
                kp->fields[f].map = &ep->sub_actions;
            }
            kp->field_cnt++;
        }
    }
    return ep;

fail:
    free(ep);
    return NULL;
}

struct dl_proj *cp__dl_proj_new(avro_schema_t rec, char *errstr,
                                size_t errstr_size)
{
    struct dl_proj *dp = calloc(1, sizeof(*dp));
    avro_schema_t s;

    if (!dp) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    {
        const struct field_want fields[] = {
            {&dp->f_topic, "topic", AVRO_STRING},
            {&dp->f_partition, "partition", AVRO_INT32},
            {&dp->f_offset, "offset", AVRO_INT64},
            {&dp->f_value, "value", AVRO_BYTES},
            {&dp->f_reason, "reason", AVRO_STRING},
            {&dp->f_failed_at, "failed_at", AVRO_INT64},
        };

        if (record_fields(rec, fields, CP_ARRAY_SIZE(fields), errstr,
                          errstr_size))
            goto fail;
    }
    if (optional_field(rec, "key", AVRO_BYTES, &dp->key, &s, errstr,
                       errstr_size))
        goto fail;
    return dp;

fail:
    free(dp);
    return NULL;
}

struct alert_proj *cp__alert_proj_new(avro_schema_t rec, char *errstr,
                                      size_t errstr_size)
{
    struct alert_proj *ap = calloc(1, sizeof(*ap));
    const char *kind_syms[CP_ALERT_KIND_CNT];
    const char *level_syms[CP_ALERT_LEVEL_CNT];
    avro_schema_t s, items;

    if (!ap) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    for (int i = 0; i < CP_ALERT_KIND_CNT; i++)
        kind_syms[i] = cp_alert_kind_symbol((enum cp_alert_kind)i);
    for (int i = 0; i < CP_ALERT_LEVEL_CNT; i++)
        level_syms[i] = cp_alert_level_symbol((enum cp_alert_level)i);
    {
        const struct field_want fields[] = {
            {&ap->f_alert_id, "alert_id", AVRO_STRING},
            {&ap->f_tenant_id, "tenant_id", AVRO_STRING},
            {&ap->f_customer_id, "customer_id", AVRO_STRING},
            {&ap->f_risk_score, "risk_score", AVRO_DOUBLE},
            {&ap->f_previous_score, "previous_score", AVRO_DOUBLE},
            {&ap->f_event_time, "event_time", AVRO_INT64},
            {&ap->f_emitted_at, "emitted_at", AVRO_INT64},
            {&ap->f_model_version, "model_version", AVRO_STRING},
        };

        if (record_fields(rec, fields, CP_ARRAY_SIZE(fields), errstr,
                          errstr_size))
            goto fail;
    }
    ap->f_kind = record_field(rec, "kind", AVRO_ENUM, &s, errstr, errstr_size);
    if (ap->f_kind < 0 || map_enum(s, kind_syms, CP_ALERT_KIND_CNT, &ap->kinds,
                                   errstr, errstr_size))
        goto fail;
    ap->f_level =
        record_field(rec, "level", AVRO_ENUM, &s, errstr, errstr_size);
    if (ap->f_level < 0 || map_enum(s, level_syms, CP_ALERT_LEVEL_CNT,
                                    &ap->levels, errstr, errstr_size))
        goto fail;
    /* Fields a later version added, with defaults: -1 when absent. */
    ap->f_action = avro_schema_record_field_get_index(rec, "action") < 0
                       ? -1
                       : record_field(rec, "action", AVRO_STRING, NULL, errstr,
                                      errstr_size);
    ap->f_value_minor =
        avro_schema_record_field_get_index(rec, "value_minor") < 0
            ? -1
            : record_field(rec, "value_minor", AVRO_INT64, NULL, errstr,
                           errstr_size);
    ap->f_value_at_risk =
        avro_schema_record_field_get_index(rec, "value_at_risk_minor") < 0
            ? -1
            : record_field(rec, "value_at_risk_minor", AVRO_INT64, NULL, errstr,
                           errstr_size);
    if ((ap->f_action < 0 &&
         avro_schema_record_field_get_index(rec, "action") >= 0) ||
        (ap->f_value_minor < 0 &&
         avro_schema_record_field_get_index(rec, "value_minor") >= 0) ||
        (ap->f_value_at_risk < 0 &&
         avro_schema_record_field_get_index(rec, "value_at_risk_minor") >= 0))
        goto fail;
    if (optional_field(rec, "manager_id", AVRO_STRING, &ap->manager_id, &s,
                       errstr, errstr_size) ||
        optional_field(rec, "triggered_by", AVRO_STRING, &ap->triggered_by, &s,
                       errstr, errstr_size))
        goto fail;
    ap->f_reasons =
        record_field(rec, "reasons", AVRO_ARRAY, &s, errstr, errstr_size);
    if (ap->f_reasons < 0)
        goto fail;
    items = cp__resolve_link(avro_schema_array_items(s));
    if (!items || !is_avro_record(items)) {
        snprintf(errstr, errstr_size, "%s.reasons: items are not a record",
                 avro_schema_name(rec));
        goto fail;
    }
    ap->r_factor =
        record_field(items, "factor", AVRO_STRING, NULL, errstr, errstr_size);
    ap->r_contribution = ap->r_factor < 0
                             ? -1
                             : record_field(items, "contribution", AVRO_DOUBLE,
                                            NULL, errstr, errstr_size);
    ap->r_detail = ap->r_contribution < 0
                       ? -1
                       : record_field(items, "detail", AVRO_STRING, NULL,
                                      errstr, errstr_size);
    if (ap->r_detail < 0)
        goto fail;
    return ap;

fail:
    free(ap);
    return NULL;
}
