/* SPDX-License-Identifier: Apache-2.0 */
/* Decoding: a message value, walked and read by codec.c, projected by
 * field name into struct cp_event (then checked by cp_event_validate()),
 * struct cp_dead_letter or struct cp_alert. Strings are copied into the
 * caller's arena; avro-c's own copies are dropped before returning. */
#include <stdio.h>
#include <string.h>

#include "codec_impl.h"

static cp_rc copy_string(avro_value_t *v, struct cp_arena *arena,
                         struct cp_str *out)
{
    const char *p = NULL;
    size_t size = 0;
    char *copy;

    if (avro_value_get_string(v, &p, &size) || !p || size == 0)
        return CP_EDECODE;
    /* size counts avro-c's NUL; embedded NULs are kept by length. */
    copy = cp_arena_strndup(arena, p, size - 1);
    if (!copy)
        return CP_ENOMEM;
    out->ptr = copy;
    out->len = size - 1;
    return CP_OK;
}

static cp_rc copy_bytes(avro_value_t *v, struct cp_arena *arena,
                        const void **out, size_t *out_len)
{
    const void *p = NULL;
    size_t size = 0;
    char *copy;

    if (avro_value_get_bytes(v, &p, &size))
        return CP_EDECODE;
    copy = cp_arena_strndup(arena, p ? p : cp__empty_bytes, p ? size : 0);
    if (!copy)
        return CP_ENOMEM;
    *out = copy;
    *out_len = p ? size : 0;
    return CP_OK;
}

/* A string the writer may have written as bytes (Avro's bytes -> string
 * promotion; @p promoted from the projection). */
static cp_rc copy_str(avro_value_t *v, int8_t promoted, struct cp_arena *arena,
                      struct cp_str *out)
{
    const void *p = NULL;
    size_t size = 0;
    char *copy;

    if (!promoted)
        return copy_string(v, arena, out);
    if (avro_value_get_bytes(v, &p, &size))
        return CP_EDECODE;
    copy = cp_arena_strndup(arena, p ? p : cp__empty_bytes, p ? size : 0);
    if (!copy)
        return CP_ENOMEM;
    out->ptr = copy;
    out->len = p ? size : 0;
    return CP_OK;
}

/* A long the writer may have written as an int (promotion int -> long). */
static int get_long(avro_value_t *v, int8_t promoted, int64_t *out)
{
    int32_t i32;

    if (!promoted)
        return avro_value_get_long(v, out);
    if (avro_value_get_int(v, &i32))
        return -1;
    *out = i32;
    return 0;
}

/* Selects the value of an optional field; *is_null tells a null apart. */
static int get_optional(avro_value_t *rec, const struct opt_field *of,
                        avro_value_t *out, bool *is_null)
{
    avro_value_t field;
    int disc;

    if (of->index < 0) { /* the writer lacks it: the reader's default */
        *is_null = true;
        return 0;
    }
    if (avro_value_get_by_index(rec, (size_t)of->index, &field, NULL))
        return -1;
    *is_null = false;
    if (of->null_branch < 0) {
        *out = field;
        return 0;
    }
    if (avro_value_get_discriminant(&field, &disc))
        return -1;
    if (disc == of->null_branch) {
        *is_null = true;
        return 0;
    }
    return avro_value_get_current_branch(&field, out);
}

static cp_rc project_payload(const struct event_proj *ep, avro_value_t *root,
                             struct cp_arena *arena, struct cp_event *ev,
                             char *reason, size_t reason_size)
{
    const struct kind_proj *kp;
    avro_value_t field, rec;
    int disc;

    if (avro_value_get_by_index(root, (size_t)ep->f_payload, &field, NULL) ||
        avro_value_get_discriminant(&field, &disc) ||
        avro_value_get_current_branch(&field, &rec))
        return cp_decode_fail(reason, reason_size,
                              "payload: cannot read the union");
    if (disc < 0 || disc >= ep->payload_branches || ep->branch_kind[disc] < 0)
        return cp_decode_fail(reason, reason_size, "payload: unknown record %s",
                              disc >= 0 && disc < ep->payload_branches
                                  ? ep->branch_name[disc]
                                  : "?");
    ev->kind = (enum cp_payload_kind)ep->branch_kind[disc];
    kp = &ep->kinds[ev->kind];
    for (int i = 0; i < kp->field_cnt; i++) {
        avro_value_t v;
        int32_t i32 = 0;
        int b = 0, sym = 0;
        cp_rc rc = CP_OK;

        if (avro_value_get_by_index(&rec, (size_t)kp->fields[i].index, &v,
                                    NULL))
            return cp_decode_fail(reason, reason_size,
                                  "payload: cannot read field");
        switch (kp->fields[i].role) {
        case R_ENTITY:
            rc = copy_str(&v, kp->fields[i].promoted, arena, &ev->entity_id);
            break;
        case R_LABEL:
            rc = copy_str(&v, kp->fields[i].promoted, arena, &ev->label);
            break;
        case R_STAGE_ORDER:
            rc = avro_value_get_int(&v, &i32) ? CP_EDECODE : CP_OK;
            ev->stage_order = i32;
            break;
        case R_SCORE:
            rc = avro_value_get_int(&v, &i32) ? CP_EDECODE : CP_OK;
            ev->score = i32;
            break;
        case R_AMOUNT:
            rc = get_long(&v, kp->fields[i].promoted, &ev->amount) ? CP_EDECODE
                                                                   : CP_OK;
            break;
        case R_WON:
        case R_INBOUND:
        case R_ANSWERED:
            rc = avro_value_get_boolean(&v, &b) ? CP_EDECODE : CP_OK;
            if (kp->fields[i].role == R_WON)
                ev->won = b != 0;
            else if (kp->fields[i].role == R_INBOUND)
                ev->inbound = b != 0;
            else
                ev->answered = b != 0;
            break;
        case R_SURVEY_KIND:
        case R_ACTION: {
            const struct enum_map *map = kp->fields[i].map;

            if (avro_value_get_enum(&v, &sym))
                return cp_decode_fail(reason, reason_size,
                                      "payload: cannot read enum");
            if (sym < 0 || sym >= map->cnt || map->ours[sym] < 0)
                return cp_decode_fail(
                    reason, reason_size, "%s: unknown symbol %s",
                    kp->fields[i].role == R_ACTION ? "action" : "kind",
                    sym >= 0 && sym < map->cnt ? map->syms[sym] : "?");
            if (kp->fields[i].role == R_ACTION)
                ev->sub_action = (enum cp_sub_action)map->ours[sym];
            else
                ev->survey_kind = (enum cp_survey_kind)map->ours[sym];
            break;
        }
        }
        if (rc == CP_ENOMEM)
            return rc;
        if (rc)
            return cp_decode_fail(reason, reason_size,
                                  "payload: cannot read field");
    }
    return CP_OK;
}

static cp_rc project_event(const struct event_proj *ep, avro_value_t *root,
                           struct cp_arena *arena, struct cp_event *ev,
                           char *reason, size_t reason_size)
{
    const struct {
        int index;
        int8_t promoted;
        struct cp_str *out;
    } strs[] = {
        {ep->f_event_id, ep->event_id_bytes, &ev->event_id},
        {ep->f_tenant_id, ep->tenant_id_bytes, &ev->tenant_id},
        {ep->f_customer_id, ep->customer_id_bytes, &ev->customer_id},
    };
    avro_value_t v;
    bool is_null;
    cp_rc rc;
    int sym;

    memset(ev, 0, sizeof(*ev));
    ev->channel = CP_CHANNEL_NONE;
    for (size_t i = 0; i < CP_ARRAY_SIZE(strs); i++) {
        if (avro_value_get_by_index(root, (size_t)strs[i].index, &v, NULL))
            return cp_decode_fail(reason, reason_size,
                                  "cannot read a string field");
        rc = copy_str(&v, strs[i].promoted, arena, strs[i].out);
        if (rc == CP_ENOMEM)
            return rc;
        if (rc)
            return cp_decode_fail(reason, reason_size,
                                  "cannot read a string field");
    }
    if (avro_value_get_by_index(root, (size_t)ep->f_occurred_at, &v, NULL) ||
        get_long(&v, ep->occurred_at_int, &ev->occurred_at))
        return cp_decode_fail(reason, reason_size, "occurred_at: cannot read");
    if (get_optional(root, &ep->manager_id, &v, &is_null))
        return cp_decode_fail(reason, reason_size, "manager_id: cannot read");
    if (!is_null) {
        rc = copy_str(&v, ep->manager_id.promoted, arena, &ev->manager_id);
        if (rc == CP_ENOMEM)
            return rc;
        if (rc)
            return cp_decode_fail(reason, reason_size,
                                  "manager_id: cannot read");
    }
    if (get_optional(root, &ep->channel, &v, &is_null))
        return cp_decode_fail(reason, reason_size, "channel: cannot read");
    if (!is_null) {
        if (avro_value_get_enum(&v, &sym))
            return cp_decode_fail(reason, reason_size, "channel: cannot read");
        if (sym < 0 || sym >= ep->channels.cnt || ep->channels.ours[sym] < 0)
            return cp_decode_fail(
                reason, reason_size, "channel: unknown symbol %s",
                sym >= 0 && sym < ep->channels.cnt ? ep->channels.syms[sym]
                                                   : "?");
        ev->channel = (enum cp_channel)ep->channels.ours[sym];
    }
    return project_payload(ep, root, arena, ev, reason, reason_size);
}

cp_rc cp_codec_decode_event(struct cp_codec *codec, const void *value,
                            size_t len, int64_t now_ms, struct cp_arena *arena,
                            struct cp_event *ev, char *reason,
                            size_t reason_size)
{
    struct slot *slot = NULL;
    cp_rc rc = cp__read_message(codec, value, len, codec->event_slot,
                                WANT_EVENT, &slot, reason, reason_size);

    if (rc)
        return rc;
    rc = project_event(slot->ev, &slot->value, arena, ev, reason, reason_size);
    /* Our copies are in the arena: free avro-c's now rather than at the
     * next read, so an idle codec holds no message data. */
    avro_value_reset(&slot->value);
    if (rc)
        return rc;
    return cp_event_validate(ev, now_ms, reason, reason_size);
}

static cp_rc project_dead_letter(const struct dl_proj *dp, avro_value_t *root,
                                 struct cp_arena *arena,
                                 struct cp_dead_letter *dl, char *reason,
                                 size_t reason_size)
{
    struct cp_str s;
    avro_value_t v;
    bool is_null;
    cp_rc rc;

    memset(dl, 0, sizeof(*dl));
    if (avro_value_get_by_index(root, (size_t)dp->f_topic, &v, NULL))
        goto bad;
    rc = copy_string(&v, arena, &s);
    if (rc)
        goto out;
    /* topic and reason are C strings in struct cp_dead_letter */
    if (memchr(s.ptr, '\0', s.len))
        return cp_decode_fail(reason, reason_size,
                              "dead letter: NUL byte in topic");
    dl->topic = s.ptr;
    if (avro_value_get_by_index(root, (size_t)dp->f_partition, &v, NULL) ||
        avro_value_get_int(&v, &dl->partition))
        goto bad;
    if (avro_value_get_by_index(root, (size_t)dp->f_offset, &v, NULL) ||
        avro_value_get_long(&v, &dl->offset))
        goto bad;
    if (get_optional(root, &dp->key, &v, &is_null))
        goto bad;
    if (!is_null) {
        rc = copy_bytes(&v, arena, &dl->key, &dl->key_len);
        if (rc)
            goto out;
    }
    if (avro_value_get_by_index(root, (size_t)dp->f_value, &v, NULL))
        goto bad;
    rc = copy_bytes(&v, arena, &dl->value, &dl->value_len);
    if (rc)
        goto out;
    if (avro_value_get_by_index(root, (size_t)dp->f_reason, &v, NULL))
        goto bad;
    rc = copy_string(&v, arena, &s);
    if (rc)
        goto out;
    if (memchr(s.ptr, '\0', s.len))
        return cp_decode_fail(reason, reason_size,
                              "dead letter: NUL byte in reason");
    dl->reason = s.ptr;
    if (avro_value_get_by_index(root, (size_t)dp->f_failed_at, &v, NULL) ||
        avro_value_get_long(&v, &dl->failed_at))
        goto bad;
    return CP_OK;

bad:
    rc = CP_EDECODE;
out:
    if (rc == CP_EDECODE)
        cp_decode_fail(reason, reason_size, "dead letter: cannot read a field");
    return rc;
}

cp_rc cp_codec_decode_dead_letter(struct cp_codec *codec, const void *value,
                                  size_t len, struct cp_arena *arena,
                                  struct cp_dead_letter *dl, char *reason,
                                  size_t reason_size)
{
    struct slot *slot = NULL;
    cp_rc rc = cp__read_message(codec, value, len, codec->dead_letter_slot,
                                WANT_DEAD_LETTER, &slot, reason, reason_size);

    if (rc)
        return rc;
    rc = project_dead_letter(slot->dl, &slot->value, arena, dl, reason,
                             reason_size);
    avro_value_reset(&slot->value); /* free avro-c's copies now */
    return rc;
}

/* Copies string field @p index of @p rec into @p arena as a C string. */
static cp_rc alert_cstring(avro_value_t *rec, int index, const char *name,
                           struct cp_arena *arena, const char **out,
                           char *reason, size_t reason_size)
{
    struct cp_str s;
    avro_value_t v;
    cp_rc rc;

    if (avro_value_get_by_index(rec, (size_t)index, &v, NULL))
        return cp_decode_fail(reason, reason_size, "alert: cannot read %s",
                              name);
    rc = copy_string(&v, arena, &s);
    if (rc == CP_ENOMEM)
        return rc;
    if (rc)
        return cp_decode_fail(reason, reason_size, "alert: cannot read %s",
                              name);
    if (memchr(s.ptr, '\0', s.len))
        return cp_decode_fail(reason, reason_size, "alert: NUL byte in %s",
                              name);
    *out = s.ptr;
    return CP_OK;
}

static cp_rc alert_optional(avro_value_t *rec, const struct opt_field *of,
                            const char *name, struct cp_arena *arena,
                            const char **out, char *reason, size_t reason_size)
{
    avro_value_t v;
    bool is_null;
    cp_rc rc;
    struct cp_str s;

    *out = NULL;
    if (get_optional(rec, of, &v, &is_null))
        return cp_decode_fail(reason, reason_size, "alert: cannot read %s",
                              name);
    if (is_null)
        return CP_OK;
    rc = copy_string(&v, arena, &s);
    if (rc == CP_ENOMEM)
        return rc;
    if (rc)
        return cp_decode_fail(reason, reason_size, "alert: cannot read %s",
                              name);
    if (memchr(s.ptr, '\0', s.len))
        return cp_decode_fail(reason, reason_size, "alert: NUL byte in %s",
                              name);
    *out = s.ptr;
    return CP_OK;
}

/* Reads enum field @p index and maps its symbol through @p map. */
static cp_rc alert_enum(avro_value_t *rec, int index, const char *name,
                        const struct enum_map *map, int *out, char *reason,
                        size_t reason_size)
{
    avro_value_t v;
    int sym;

    if (avro_value_get_by_index(rec, (size_t)index, &v, NULL) ||
        avro_value_get_enum(&v, &sym))
        return cp_decode_fail(reason, reason_size, "alert: cannot read %s",
                              name);
    if (sym < 0 || sym >= map->cnt || map->ours[sym] < 0)
        return cp_decode_fail(
            reason, reason_size, "alert: %s: unknown symbol %s", name,
            sym >= 0 && sym < map->cnt ? map->syms[sym] : "?");
    *out = map->ours[sym];
    return CP_OK;
}

static cp_rc alert_double(avro_value_t *rec, int index, const char *name,
                          double *out, char *reason, size_t reason_size)
{
    avro_value_t v;

    if (avro_value_get_by_index(rec, (size_t)index, &v, NULL) ||
        avro_value_get_double(&v, out))
        return cp_decode_fail(reason, reason_size, "alert: cannot read %s",
                              name);
    return CP_OK;
}

static cp_rc alert_long(avro_value_t *rec, int index, const char *name,
                        int64_t *out, char *reason, size_t reason_size)
{
    avro_value_t v;

    if (avro_value_get_by_index(rec, (size_t)index, &v, NULL) ||
        avro_value_get_long(&v, out))
        return cp_decode_fail(reason, reason_size, "alert: cannot read %s",
                              name);
    return CP_OK;
}

static cp_rc project_reasons(const struct alert_proj *ap, avro_value_t *root,
                             struct cp_arena *arena, struct cp_alert *a,
                             struct cp_alert_reason *reasons,
                             size_t reasons_cap, char *reason,
                             size_t reason_size)
{
    avro_value_t arr;
    size_t n = 0;
    cp_rc rc;

    if (avro_value_get_by_index(root, (size_t)ap->f_reasons, &arr, NULL) ||
        avro_value_get_size(&arr, &n))
        return cp_decode_fail(reason, reason_size,
                              "alert: cannot read reasons");
    if (n > reasons_cap || (n && !reasons))
        return cp_decode_fail(reason, reason_size,
                              "alert: %zu reasons, room for %zu", n,
                              reasons_cap);
    for (size_t i = 0; i < n; i++) {
        struct cp_alert_reason *r = &reasons[i];
        avro_value_t item;

        if (avro_value_get_by_index(&arr, i, &item, NULL))
            return cp_decode_fail(reason, reason_size,
                                  "alert: cannot read reasons");
        rc = alert_cstring(&item, ap->r_factor, "reasons.factor", arena,
                           &r->factor, reason, reason_size);
        if (!rc)
            rc = alert_double(&item, ap->r_contribution, "reasons.contribution",
                              &r->contribution, reason, reason_size);
        if (!rc)
            rc = alert_cstring(&item, ap->r_detail, "reasons.detail", arena,
                               &r->detail, reason, reason_size);
        if (rc)
            return rc;
    }
    a->reasons = reasons;
    a->reason_cnt = n;
    return CP_OK;
}

static cp_rc project_alert(const struct alert_proj *ap, avro_value_t *root,
                           struct cp_arena *arena, struct cp_alert *a,
                           struct cp_alert_reason *reasons, size_t reasons_cap,
                           char *reason, size_t reason_size)
{
    int kind = 0, level = 0;
    cp_rc rc;

    memset(a, 0, sizeof(*a));
    rc = alert_cstring(root, ap->f_alert_id, "alert_id", arena, &a->alert_id,
                       reason, reason_size);
    if (!rc)
        rc = alert_enum(root, ap->f_kind, "kind", &ap->kinds, &kind, reason,
                        reason_size);
    if (!rc)
        rc = alert_cstring(root, ap->f_tenant_id, "tenant_id", arena,
                           &a->tenant_id, reason, reason_size);
    if (!rc)
        rc = alert_cstring(root, ap->f_customer_id, "customer_id", arena,
                           &a->customer_id, reason, reason_size);
    if (!rc)
        rc = alert_optional(root, &ap->manager_id, "manager_id", arena,
                            &a->manager_id, reason, reason_size);
    if (!rc)
        rc = alert_enum(root, ap->f_level, "level", &ap->levels, &level, reason,
                        reason_size);
    if (!rc)
        rc = alert_double(root, ap->f_risk_score, "risk_score", &a->risk_score,
                          reason, reason_size);
    if (!rc)
        rc = alert_double(root, ap->f_previous_score, "previous_score",
                          &a->previous_score, reason, reason_size);
    if (!rc)
        rc = project_reasons(ap, root, arena, a, reasons, reasons_cap, reason,
                             reason_size);
    if (!rc)
        rc = alert_optional(root, &ap->triggered_by, "triggered_by", arena,
                            &a->triggered_by, reason, reason_size);
    if (!rc)
        rc = alert_long(root, ap->f_event_time, "event_time", &a->event_time,
                        reason, reason_size);
    if (!rc)
        rc = alert_long(root, ap->f_emitted_at, "emitted_at", &a->emitted_at,
                        reason, reason_size);
    if (!rc)
        rc = alert_cstring(root, ap->f_model_version, "model_version", arena,
                           &a->model_version, reason, reason_size);
    /* Version 1 has none of these: their defaults. */
    a->action = "";
    if (!rc && ap->f_action >= 0)
        rc = alert_cstring(root, ap->f_action, "action", arena, &a->action,
                           reason, reason_size);
    if (!rc && ap->f_value_minor >= 0)
        rc = alert_long(root, ap->f_value_minor, "value_minor", &a->value_minor,
                        reason, reason_size);
    if (!rc && ap->f_value_at_risk >= 0)
        rc = alert_long(root, ap->f_value_at_risk, "value_at_risk_minor",
                        &a->value_at_risk_minor, reason, reason_size);
    a->kind = (enum cp_alert_kind)kind;
    a->level = (enum cp_alert_level)level;
    return rc;
}

cp_rc cp_codec_decode_alert(struct cp_codec *codec, const void *value,
                            size_t len, struct cp_arena *arena,
                            struct cp_alert *a, struct cp_alert_reason *reasons,
                            size_t reasons_cap, char *reason,
                            size_t reason_size)
{
    struct slot *slot = NULL;
    cp_rc rc = cp__read_message(codec, value, len, codec->alert_slot,
                                WANT_ALERT, &slot, reason, reason_size);

    if (rc)
        return rc;
    rc = project_alert(slot->al, &slot->value, arena, a, reasons, reasons_cap,
                       reason, reason_size);
    avro_value_reset(&slot->value); /* free avro-c's copies now */
    return rc;
}
