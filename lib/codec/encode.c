/* SPDX-License-Identifier: Apache-2.0 */
/* Encoding: struct cp_event / cp_dead_letter / cp_alert into avro-c values
 * through the projection tables, then framed by codec.c. Serves the
 * generator, tests, the dead-letter path and alerts. */
#include <stdio.h>
#include <string.h>

#include "codec_impl.h"

/* Lends [ptr, ptr + len) to a string or bytes value without a copy. avro-c
 * only reads size - 1 bytes of a string (the NUL it counts is never
 * touched) and never frees a buffer without a free function. Ownership:
 * borrowed until the value is reset, which every encode does on its way
 * out. */
static int give(avro_value_t *v, bool is_string, const char *ptr, size_t len)
{
    avro_wrapped_buffer_t wb;

    if (!ptr)
        len = 0;
    wb.buf = len ? ptr : cp__empty_bytes;
    wb.size = is_string ? len + 1 : len;
    wb.user_data = NULL;
    wb.free = NULL; /* borrowed: nothing to free */
    wb.copy = NULL;
    wb.slice = NULL;
    return is_string ? avro_value_give_string_len(v, &wb)
                     : avro_value_give_bytes(v, &wb);
}

static int give_string(avro_value_t *v, const char *ptr, size_t len)
{
    return give(v, true, ptr, len);
}

static int give_string_at(avro_value_t *rec, int index, const char *ptr,
                          size_t len)
{
    avro_value_t v;

    if (avro_value_get_by_index(rec, (size_t)index, &v, NULL))
        return EINVAL;
    return give_string(&v, ptr, len);
}

static int set_long_at(avro_value_t *rec, int index, int64_t x)
{
    avro_value_t v;

    if (avro_value_get_by_index(rec, (size_t)index, &v, NULL))
        return EINVAL;
    return avro_value_set_long(&v, x);
}

static int give_bytes_at(avro_value_t *rec, int index, const void *ptr,
                         size_t len)
{
    avro_value_t v;

    if (avro_value_get_by_index(rec, (size_t)index, &v, NULL))
        return EINVAL;
    return give(&v, false, ptr, len);
}

/* Returns the value to fill for an optional field, or sets it to null. */
static int set_optional(avro_value_t *rec, const struct opt_field *of,
                        bool null, avro_value_t *out)
{
    avro_value_t field, branch;

    if (avro_value_get_by_index(rec, (size_t)of->index, &field, NULL))
        return EINVAL;
    if (of->null_branch < 0) {
        if (null)
            return EINVAL; /* the writer schema has no null here */
        *out = field;
        return 0;
    }
    if (null) {
        if (avro_value_set_branch(&field, of->null_branch, &branch))
            return EINVAL;
        return avro_value_set_null(&branch);
    }
    return avro_value_set_branch(&field, of->val_branch, out);
}

static int fill_payload(const struct event_proj *ep, avro_value_t *root,
                        const struct cp_event *ev)
{
    const struct kind_proj *kp;
    avro_value_t field, rec;

    if ((int)ev->kind < 0 || ev->kind >= CP_PAYLOAD_KIND_CNT)
        return EINVAL;
    kp = &ep->kinds[ev->kind];
    if (kp->branch < 0 ||
        avro_value_get_by_index(root, (size_t)ep->f_payload, &field, NULL) ||
        avro_value_set_branch(&field, kp->branch, &rec))
        return EINVAL;
    for (int i = 0; i < kp->field_cnt; i++) {
        const struct enum_map *map = kp->fields[i].map;
        avro_value_t v;
        int err = 0, ours;

        if (avro_value_get_by_index(&rec, (size_t)kp->fields[i].index, &v,
                                    NULL))
            return EINVAL;
        switch (kp->fields[i].role) {
        case R_ENTITY:
            err = give_string(&v, ev->entity_id.ptr,
                              ev->entity_id.ptr ? ev->entity_id.len : 0);
            break;
        case R_LABEL:
            err = give_string(&v, ev->label.ptr,
                              ev->label.ptr ? ev->label.len : 0);
            break;
        case R_STAGE_ORDER:
            err = avro_value_set_int(&v, ev->stage_order);
            break;
        case R_SCORE:
            err = avro_value_set_int(&v, ev->score);
            break;
        case R_AMOUNT:
            err = avro_value_set_long(&v, ev->amount);
            break;
        case R_WON:
            err = avro_value_set_boolean(&v, ev->won);
            break;
        case R_INBOUND:
            err = avro_value_set_boolean(&v, ev->inbound);
            break;
        case R_ANSWERED:
            err = avro_value_set_boolean(&v, ev->answered);
            break;
        case R_SURVEY_KIND:
        case R_ACTION:
            ours = kp->fields[i].role == R_ACTION ? (int)ev->sub_action
                                                  : (int)ev->survey_kind;
            if (ours < 0 || ours >= 3 || map->theirs[ours] < 0)
                return EINVAL;
            err = avro_value_set_enum(&v, map->theirs[ours]);
            break;
        }
        if (err)
            return err;
    }
    return 0;
}

cp_rc cp_codec_encode_event(struct cp_codec *codec, const struct cp_event *ev,
                            struct cp_buf *out)
{
    struct slot *slot = codec->event_slot;
    const struct event_proj *ep = slot->ev;
    avro_value_t *root = &slot->value;
    bool no_channel = ev->channel == CP_CHANNEL_NONE;
    avro_value_t v;
    int err;
    cp_rc rc;

    if (!no_channel && ((int)ev->channel < 0 || ev->channel >= CP_CHANNEL_CNT ||
                        ep->channels.theirs[ev->channel] < 0))
        return CP_EDECODE;
    err = avro_value_reset(root);
    if (!err)
        err = give_string_at(root, ep->f_event_id, ev->event_id.ptr,
                             ev->event_id.len);
    if (!err)
        err = give_string_at(root, ep->f_tenant_id, ev->tenant_id.ptr,
                             ev->tenant_id.len);
    if (!err)
        err = give_string_at(root, ep->f_customer_id, ev->customer_id.ptr,
                             ev->customer_id.len);
    if (!err)
        err = set_long_at(root, ep->f_occurred_at, ev->occurred_at);
    if (!err)
        err = set_optional(root, &ep->manager_id, !ev->manager_id.ptr, &v);
    if (!err && ev->manager_id.ptr)
        err = give_string(&v, ev->manager_id.ptr, ev->manager_id.len);
    if (!err)
        err = set_optional(root, &ep->channel, no_channel, &v);
    if (!err && !no_channel)
        err = avro_value_set_enum(&v, ep->channels.theirs[ev->channel]);
    if (!err)
        err = fill_payload(ep, root, ev);
    rc = err ? (err == ENOMEM ? CP_ENOMEM : CP_EDECODE)
             : cp__write_framed(codec, slot, out);
    avro_value_reset(root); /* drop the borrowed buffers */
    return rc;
}

cp_rc cp_codec_encode_dead_letter(struct cp_codec *codec,
                                  const struct cp_dead_letter *dl,
                                  struct cp_buf *out)
{
    struct slot *slot = codec->dead_letter_slot;
    const struct dl_proj *dp = slot->dl;
    avro_value_t *root = &slot->value;
    const char *topic = dl->topic ? dl->topic : "";
    const char *why = dl->reason ? dl->reason : "";
    avro_value_t v;
    int err;
    cp_rc rc;

    err = avro_value_reset(root);
    if (!err)
        err = give_string_at(root, dp->f_topic, topic, strlen(topic));
    if (!err)
        err = avro_value_get_by_index(root, (size_t)dp->f_partition, &v, NULL);
    if (!err)
        err = avro_value_set_int(&v, dl->partition);
    if (!err)
        err = set_long_at(root, dp->f_offset, dl->offset);
    if (!err)
        err = set_optional(root, &dp->key, !dl->key, &v);
    if (!err && dl->key)
        err = give(&v, false, dl->key, dl->key_len);
    if (!err)
        err = give_bytes_at(root, dp->f_value, dl->value, dl->value_len);
    if (!err)
        err = give_string_at(root, dp->f_reason, why, strlen(why));
    if (!err)
        err = set_long_at(root, dp->f_failed_at, dl->failed_at);
    rc = err ? (err == ENOMEM ? CP_ENOMEM : CP_EDECODE)
             : cp__write_framed(codec, slot, out);
    avro_value_reset(root); /* drop the borrowed buffers */
    return rc;
}

static int set_double_at(avro_value_t *rec, int index, double x)
{
    avro_value_t v;

    if (avro_value_get_by_index(rec, (size_t)index, &v, NULL))
        return EINVAL;
    return avro_value_set_double(&v, x);
}

static int set_enum_at(avro_value_t *rec, int index, const struct enum_map *map,
                       int ours)
{
    avro_value_t v;

    if (avro_value_get_by_index(rec, (size_t)index, &v, NULL))
        return EINVAL;
    return avro_value_set_enum(&v, map->theirs[ours]);
}

/* A required string; NULL is written as "", like the dead letter's. */
static int give_cstring_at(avro_value_t *rec, int index, const char *s)
{
    if (!s)
        s = "";
    return give_string_at(rec, index, s, strlen(s));
}

static int set_nullable_string(avro_value_t *rec, const struct opt_field *of,
                               const char *s)
{
    avro_value_t v;
    int err = set_optional(rec, of, !s, &v);

    if (!err && s)
        err = give_string(&v, s, strlen(s));
    return err;
}

static int fill_reasons(const struct alert_proj *ap, avro_value_t *root,
                        const struct cp_alert *a)
{
    avro_value_t arr;
    int err;

    err = avro_value_get_by_index(root, (size_t)ap->f_reasons, &arr, NULL);
    for (size_t i = 0; !err && i < a->reason_cnt; i++) {
        const struct cp_alert_reason *r = &a->reasons[i];
        avro_value_t item;

        err = avro_value_append(&arr, &item, NULL);
        if (!err)
            err = give_cstring_at(&item, ap->r_factor, r->factor);
        if (!err)
            err = set_double_at(&item, ap->r_contribution, r->contribution);
        if (!err)
            err = give_cstring_at(&item, ap->r_detail, r->detail);
    }
    return err;
}

cp_rc cp_codec_encode_alert(struct cp_codec *codec, const struct cp_alert *a,
                            struct cp_buf *out)
{
    struct slot *slot = codec->alert_slot;
    const struct alert_proj *ap = slot->al;
    avro_value_t *root = &slot->value;
    int kind = (int)a->kind, level = (int)a->level;
    int err;
    cp_rc rc;

    if (kind < 0 || kind >= CP_ALERT_KIND_CNT || ap->kinds.theirs[kind] < 0 ||
        level < 0 || level >= CP_ALERT_LEVEL_CNT ||
        ap->levels.theirs[level] < 0 || (a->reason_cnt && !a->reasons))
        return CP_EDECODE;
    err = avro_value_reset(root);
    if (!err)
        err = give_cstring_at(root, ap->f_alert_id, a->alert_id);
    if (!err)
        err = set_enum_at(root, ap->f_kind, &ap->kinds, kind);
    if (!err)
        err = give_cstring_at(root, ap->f_tenant_id, a->tenant_id);
    if (!err)
        err = give_cstring_at(root, ap->f_customer_id, a->customer_id);
    if (!err)
        err = set_nullable_string(root, &ap->manager_id, a->manager_id);
    if (!err)
        err = set_enum_at(root, ap->f_level, &ap->levels, level);
    if (!err)
        err = set_double_at(root, ap->f_risk_score, a->risk_score);
    if (!err)
        err = set_double_at(root, ap->f_previous_score, a->previous_score);
    if (!err)
        err = fill_reasons(ap, root, a);
    if (!err)
        err = set_nullable_string(root, &ap->triggered_by, a->triggered_by);
    if (!err)
        err = set_long_at(root, ap->f_event_time, a->event_time);
    if (!err)
        err = set_long_at(root, ap->f_emitted_at, a->emitted_at);
    if (!err)
        err = give_cstring_at(root, ap->f_model_version, a->model_version);
    if (!err && ap->f_action >= 0)
        err = give_cstring_at(root, ap->f_action, a->action);
    if (!err && ap->f_value_minor >= 0)
        err = set_long_at(root, ap->f_value_minor, a->value_minor);
    if (!err && ap->f_value_at_risk >= 0)
        err = set_long_at(root, ap->f_value_at_risk, a->value_at_risk_minor);
    rc = err ? (err == ENOMEM ? CP_ENOMEM : CP_EDECODE)
             : cp__write_framed(codec, slot, out);
    avro_value_reset(root); /* drop the borrowed buffers */
    return rc;
}
