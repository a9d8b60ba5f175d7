/* SPDX-License-Identifier: Apache-2.0 */
/* One JSON line of a user's history into a crm.v1.CrmEvent (replay.h), for
 * crmpulse-gen --replay. jansson parses; the member names are the Avro
 * schema's, so a line reads like the record it becomes. */
#include "replay.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

struct cp_replay {
    json_t *doc; /* owned; the last line, which ev's strings point into */
};

struct cp_replay *cp_replay_new(void)
{
    return calloc(1, sizeof(struct cp_replay));
}

void cp_replay_destroy(struct cp_replay *rp)
{
    if (!rp)
        return;
    json_decref(rp->doc);
    free(rp);
}

static cp_rc fail(char *reason, size_t reason_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static cp_rc fail(char *reason, size_t reason_size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, reason_size, fmt, ap);
    va_end(ap);
    return CP_EDECODE;
}

/* A string member; @p optional: absent or null leaves @p out a null
 * string. */
static cp_rc get_str(const json_t *obj, const char *prefix, const char *name,
                     int optional, struct cp_str *out, char *reason,
                     size_t reason_size)
{
    const json_t *v = json_object_get(obj, name);

    out->ptr = NULL;
    out->len = 0;
    if (!v || json_is_null(v)) {
        if (optional)
            return CP_OK;
        return fail(reason, reason_size, "%s%s: missing (a string is needed)",
                    prefix, name);
    }
    if (!json_is_string(v))
        return fail(reason, reason_size, "%s%s: expected a string", prefix,
                    name);
    out->ptr = json_string_value(v);
    out->len = json_string_length(v);
    return CP_OK;
}

static cp_rc get_int(const json_t *obj, const char *prefix, const char *name,
                     int64_t *out, char *reason, size_t reason_size)
{
    const json_t *v = json_object_get(obj, name);

    if (!v)
        return fail(reason, reason_size, "%s%s: missing (an integer is needed)",
                    prefix, name);
    if (!json_is_integer(v))
        return fail(reason, reason_size, "%s%s: expected an integer", prefix,
                    name);
    *out = (int64_t)json_integer_value(v);
    return CP_OK;
}

static cp_rc get_bool(const json_t *obj, const char *name, bool *out,
                      char *reason, size_t reason_size)
{
    const json_t *v = json_object_get(obj, name);

    if (!v || !json_is_boolean(v))
        return fail(reason, reason_size, "payload.%s: expected true or false",
                    name);
    *out = json_is_true(v);
    return CP_OK;
}

/* An enum member given by its Avro symbol (any case). @returns the index in
 * @p symbols, or -1 with @p reason. */
static int get_symbol(const json_t *obj, const char *name,
                      const char *const *symbols, int cnt, char *reason,
                      size_t reason_size)
{
    struct cp_str s;

    if (get_str(obj, "payload.", name, 0, &s, reason, reason_size))
        return -1;
    for (int i = 0; i < cnt; i++) {
        if (strlen(symbols[i]) == s.len &&
            !strncasecmp(symbols[i], s.ptr, s.len))
            return i;
    }
    fail(reason, reason_size, "payload.%s: \"%.*s\" is not one of %s, %s%s%s",
         name, (int)(s.len > 40 ? 40 : s.len), s.ptr, symbols[0], symbols[1],
         cnt > 2 ? ", " : "", cnt > 2 ? symbols[2] : "");
    return -1;
}

static cp_rc get_channel(const json_t *root, enum cp_channel *out, char *reason,
                         size_t reason_size)
{
    struct cp_str s;
    cp_rc rc = get_str(root, "", "channel", 1, &s, reason, reason_size);

    *out = CP_CHANNEL_NONE;
    if (rc || !s.ptr)
        return rc;
    for (int c = 0; c < CP_CHANNEL_CNT; c++) {
        const char *sym = cp_channel_symbol((enum cp_channel)c);

        if (strlen(sym) == s.len && !strncasecmp(sym, s.ptr, s.len)) {
            *out = (enum cp_channel)c;
            return CP_OK;
        }
    }
    return fail(reason, reason_size,
                "channel: \"%.*s\" is not one of PHONE, EMAIL, CHAT, "
                "MESSENGER, WEB, SOCIAL, IN_PERSON (or null)",
                (int)(s.len > 40 ? 40 : s.len), s.ptr);
}

/* The payload's own members, by kind. */
static cp_rc get_payload(const json_t *pl, struct cp_event *ev, char *reason,
                         size_t reason_size)
{
    static const char *const surveys[] = {"NPS", "CSAT", "CES"};
    static const char *const actions[] = {"STARTED", "RENEWED", "CANCELLED"};
    const char *entity = cp_payload_entity_field(ev->kind);
    int64_t v = 0;
    int sym;
    cp_rc rc;

    if (entity && (rc = get_str(pl, "payload.", entity, 0, &ev->entity_id,
                                reason, reason_size)) != CP_OK)
        return rc;
    switch (ev->kind) {
    case CP_LEAD_CREATED:
        return get_str(pl, "payload.", "source", 0, &ev->label, reason,
                       reason_size);
    case CP_STAGE_CHANGED:
        if ((rc = get_str(pl, "payload.", "stage", 0, &ev->label, reason,
                          reason_size)) ||
            (rc = get_int(pl, "payload.", "stage_order", &v, reason,
                          reason_size)))
            return rc;
        if (v < INT32_MIN || v > INT32_MAX)
            return fail(reason, reason_size,
                        "payload.stage_order: %lld is out of range",
                        (long long)v);
        ev->stage_order = (int32_t)v;
        return CP_OK;
    case CP_DEAL_CLOSED:
        if ((rc = get_bool(pl, "won", &ev->won, reason, reason_size)))
            return rc;
        return get_int(pl, "payload.", "amount_minor", &ev->amount, reason,
                       reason_size);
    case CP_ORDER_PLACED:
        return get_int(pl, "payload.", "amount_minor", &ev->amount, reason,
                       reason_size);
    case CP_CALL_LOGGED:
        if ((rc = get_bool(pl, "inbound", &ev->inbound, reason, reason_size)) ||
            (rc = get_bool(pl, "answered", &ev->answered, reason, reason_size)))
            return rc;
        return get_int(pl, "payload.", "duration_ms", &ev->amount, reason,
                       reason_size);
    case CP_SURVEY_ANSWERED:
        sym = get_symbol(pl, "kind", surveys, 3, reason, reason_size);
        if (sym < 0)
            return CP_EDECODE;
        ev->survey_kind = (enum cp_survey_kind)sym;
        if ((rc = get_int(pl, "payload.", "score", &v, reason, reason_size)))
            return rc;
        if (v < INT32_MIN || v > INT32_MAX)
            return fail(reason, reason_size,
                        "payload.score: %lld is out of range", (long long)v);
        ev->score = (int32_t)v;
        return CP_OK;
    case CP_SUBSCRIPTION_CHANGED:
        sym = get_symbol(pl, "action", actions, 3, reason, reason_size);
        if (sym < 0)
            return CP_EDECODE;
        ev->sub_action = (enum cp_sub_action)sym;
        return get_int(pl, "payload.", "mrr_minor", &ev->amount, reason,
                       reason_size);
    default: /* only the entity id */
        return CP_OK;
    }
}

cp_rc cp_replay_parse(struct cp_replay *rp, const char *line, size_t len,
                      int64_t now_ms, struct cp_event *ev, char *reason,
                      size_t reason_size)
{
    json_error_t jerr;
    const json_t *pl;
    struct cp_str type;
    cp_rc rc;
    int kind = -1;

    memset(ev, 0, sizeof(*ev));
    json_decref(rp->doc);
    rp->doc = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!rp->doc)
        return fail(reason, reason_size, "not JSON: %s (column %d)", jerr.text,
                    jerr.column);
    if (!json_is_object(rp->doc))
        return fail(reason, reason_size, "expected a JSON object");
    if ((rc = get_str(rp->doc, "", "event_id", 0, &ev->event_id, reason,
                      reason_size)) ||
        (rc = get_str(rp->doc, "", "tenant_id", 0, &ev->tenant_id, reason,
                      reason_size)) ||
        (rc = get_str(rp->doc, "", "customer_id", 0, &ev->customer_id, reason,
                      reason_size)) ||
        (rc = get_str(rp->doc, "", "manager_id", 1, &ev->manager_id, reason,
                      reason_size)) ||
        (rc = get_int(rp->doc, "", "occurred_at", &ev->occurred_at, reason,
                      reason_size)) ||
        (rc = get_channel(rp->doc, &ev->channel, reason, reason_size)))
        return rc;
    pl = json_object_get(rp->doc, "payload");
    if (!pl || !json_is_object(pl))
        return fail(reason, reason_size,
                    "payload: expected an object with a \"type\"");
    if ((rc = get_str(pl, "payload.", "type", 0, &type, reason, reason_size)))
        return rc;
    for (int k = 0; k < CP_PAYLOAD_KIND_CNT && kind < 0; k++) {
        const char *name = cp_payload_kind_name((enum cp_payload_kind)k);

        if (strlen(name) == type.len && !memcmp(name, type.ptr, type.len))
            kind = k;
    }
    if (kind < 0)
        return fail(reason, reason_size,
                    "payload.type: \"%.*s\" is not a crm.v1.CrmEvent payload "
                    "(LeadCreated, StageChanged, DealClosed, OrderPlaced, "
                    "MessageReceived, MessageSent, CallLogged, TicketOpened, "
                    "TicketResolved, SurveyAnswered, SubscriptionChanged, "
                    "WebVisit)",
                    (int)(type.len > 40 ? 40 : type.len), type.ptr);
    ev->kind = (enum cp_payload_kind)kind;
    if ((rc = get_payload(pl, ev, reason, reason_size)))
        return rc;
    return cp_event_validate(ev, now_ms, reason, reason_size);
}
