/* SPDX-License-Identifier: Apache-2.0 */
/* Names of payload kinds and channels, and the input-contract rules that the
 * Avro schema cannot express. Runs on every decoded event, right after the
 * codec's projection and before any state is touched. */
#include "event.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "civil.h"
#include "ids.h"

#define CP_KIND_RECORD_(id, record, entity) record,
static const char *const kind_names[CP_PAYLOAD_KIND_CNT] = {
    CP_PAYLOAD_KINDS(CP_KIND_RECORD_)};
#undef CP_KIND_RECORD_

#define CP_KIND_ENTITY_(id, record, entity) entity,
static const char *const entity_fields[CP_PAYLOAD_KIND_CNT] = {
    CP_PAYLOAD_KINDS(CP_KIND_ENTITY_)};
#undef CP_KIND_ENTITY_

static const char *const channel_symbols[CP_CHANNEL_CNT] = {
    "PHONE", "EMAIL", "CHAT", "MESSENGER", "WEB", "SOCIAL", "IN_PERSON",
};

const char *cp_payload_kind_name(enum cp_payload_kind kind)
{
    if ((int)kind < 0 || kind >= CP_PAYLOAD_KIND_CNT)
        return NULL;
    return kind_names[kind];
}

const char *cp_payload_entity_field(enum cp_payload_kind kind)
{
    if ((int)kind < 0 || kind >= CP_PAYLOAD_KIND_CNT)
        return NULL;
    return entity_fields[kind];
}

const char *cp_channel_symbol(enum cp_channel channel)
{
    if ((int)channel < 0 || channel >= CP_CHANNEL_CNT)
        return NULL;
    return channel_symbols[channel];
}

const char *cp_channel_key_name(enum cp_channel channel)
{
    if ((int)channel < 0 || channel >= CP_CHANNEL_CNT)
        return NULL;
    return cp_key_channel_name((int)channel);
}

/* ---- reasons ---- */

/* ---- field rules ---- */

/* tenant_id, customer_id, manager_id (allow_dot) and stage/source names. */
static cp_rc check_name(const char *field, struct cp_str s, bool allow_dot,
                        char *reason, size_t reason_size)
{
    const char *set = allow_dot ? "[A-Za-z0-9._-]" : "[A-Za-z0-9_-]";
    size_t bad;

    if (!s.ptr || s.len == 0)
        return cp_decode_fail(reason, reason_size, "%s: empty", field);
    if (s.len > CP_NAME_MAX)
        return cp_decode_fail(reason, reason_size,
                              "%s: %zu bytes, longer than %d", field, s.len,
                              CP_NAME_MAX);
    bad = cp_name_bad_byte(s.ptr, s.len, allow_dot);
    if (bad < s.len)
        return cp_decode_fail(reason, reason_size,
                              "%s: byte 0x%02x at %zu not in %s", field,
                              (unsigned char)s.ptr[bad], bad, set);
    return CP_OK;
}

/* Event and entity ids: 1-128 bytes of well-formed UTF-8 (no overlongs,
 * surrogates or code points above U+10FFFF) without C0, DEL or C1. */
static cp_rc check_id(const char *field, struct cp_str s, char *reason,
                      size_t reason_size)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t i = 0;

    if (!s.ptr || s.len == 0)
        return cp_decode_fail(reason, reason_size, "%s: empty", field);
    if (s.len > CP_ID_MAX)
        return cp_decode_fail(reason, reason_size,
                              "%s: %zu bytes, longer than %d", field, s.len,
                              CP_ID_MAX);
    while (i < s.len) {
        unsigned char c = p[i];
        uint32_t cp;
        size_t n;

        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return cp_decode_fail(reason, reason_size,
                                      "%s: control byte 0x%02x at %zu", field,
                                      c, i);
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            cp = c & 0x07;
        } else {
            /* 0x80-0xbf: stray continuation; 0xc0, 0xc1: always overlong;
             * 0xf5-0xff: beyond U+10FFFF or not UTF-8 at all. */
            return cp_decode_fail(reason, reason_size,
                                  "%s: invalid UTF-8 lead byte 0x%02x at %zu",
                                  field, c, i);
        }
        if (s.len - i < n)
            return cp_decode_fail(reason, reason_size,
                                  "%s: truncated UTF-8 sequence at %zu", field,
                                  i);
        for (size_t k = 1; k < n; k++) {
            unsigned char cc = p[i + k];

            if ((cc & 0xc0) != 0x80)
                return cp_decode_fail(
                    reason, reason_size,
                    "%s: invalid UTF-8 continuation byte 0x%02x at %zu", field,
                    cc, i + k);
            cp = (cp << 6) | (cc & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000))
            return cp_decode_fail(reason, reason_size,
                                  "%s: overlong UTF-8 sequence at %zu", field,
                                  i);
        if (cp >= 0xd800 && cp <= 0xdfff)
            return cp_decode_fail(reason, reason_size,
                                  "%s: UTF-16 surrogate U+%04" PRIX32 " at %zu",
                                  field, cp, i);
        if (cp > 0x10ffff)
            return cp_decode_fail(reason, reason_size,
                                  "%s: code point U+%" PRIX32
                                  " above U+10FFFF at %zu",
                                  field, cp, i);
        if (cp >= 0x80 && cp <= 0x9f)
            return cp_decode_fail(
                reason, reason_size,
                "%s: control character U+%04" PRIX32 " at %zu", field, cp, i);
        i += n;
    }
    return CP_OK;
}

static cp_rc check_non_negative(const char *field, int64_t v, char *reason,
                                size_t reason_size)
{
    if (v < 0)
        return cp_decode_fail(reason, reason_size, "%s %" PRId64 " negative",
                              field, v);
    return CP_OK;
}

static cp_rc check_survey(const struct cp_event *ev, char *reason,
                          size_t reason_size)
{
    static const struct {
        const char *name;
        int32_t lo, hi;
    } ranges[] = {
        [CP_SURVEY_NPS] = {"NPS", 0, 10},
        [CP_SURVEY_CSAT] = {"CSAT", 1, 5},
        [CP_SURVEY_CES] = {"CES", 1, 7},
    };

    if ((int)ev->survey_kind < 0 ||
        (size_t)ev->survey_kind >= CP_ARRAY_SIZE(ranges))
        return cp_decode_fail(reason, reason_size, "survey: unknown kind %d",
                              (int)ev->survey_kind);
    if (ev->score < ranges[ev->survey_kind].lo ||
        ev->score > ranges[ev->survey_kind].hi)
        return cp_decode_fail(
            reason, reason_size,
            "survey %s score %" PRId32 " out of range %" PRId32 "-%" PRId32,
            ranges[ev->survey_kind].name, ev->score, ranges[ev->survey_kind].lo,
            ranges[ev->survey_kind].hi);
    return CP_OK;
}

static cp_rc check_payload(const struct cp_event *ev, char *reason,
                           size_t reason_size)
{
    const char *entity = cp_payload_entity_field(ev->kind);
    cp_rc rc;

    if (entity) {
        rc = check_id(entity, ev->entity_id, reason, reason_size);
        if (rc)
            return rc;
    }
    switch (ev->kind) {
    case CP_LEAD_CREATED:
        return check_name("source", ev->label, false, reason, reason_size);
    case CP_STAGE_CHANGED:
        rc = check_name("stage", ev->label, false, reason, reason_size);
        if (rc)
            return rc;
        if (ev->stage_order < 0 || ev->stage_order > 63)
            return cp_decode_fail(reason, reason_size,
                                  "stage_order %" PRId32 " out of range 0-63",
                                  ev->stage_order);
        return CP_OK;
    case CP_DEAL_CLOSED:
    case CP_ORDER_PLACED:
        return check_non_negative("amount_minor", ev->amount, reason,
                                  reason_size);
    case CP_CALL_LOGGED:
        return check_non_negative("duration_ms", ev->amount, reason,
                                  reason_size);
    case CP_SURVEY_ANSWERED:
        return check_survey(ev, reason, reason_size);
    case CP_SUBSCRIPTION_CHANGED:
        if ((int)ev->sub_action < CP_SUB_STARTED ||
            ev->sub_action > CP_SUB_CANCELLED)
            return cp_decode_fail(reason, reason_size,
                                  "subscription action: unknown value %d",
                                  (int)ev->sub_action);
        return check_non_negative("mrr_minor", ev->amount, reason, reason_size);
    case CP_MESSAGE_RECEIVED:
    case CP_MESSAGE_SENT:
    case CP_TICKET_OPENED:
    case CP_TICKET_RESOLVED:
    case CP_WEB_VISIT:
        return CP_OK;
    case CP_PAYLOAD_KIND_CNT:
        break;
    }
    return cp_decode_fail(reason, reason_size, "payload: unknown kind %d",
                          (int)ev->kind);
}

cp_rc cp_event_validate(const struct cp_event *ev, int64_t now_ms, char *reason,
                        size_t reason_size)
{
    char t1[64], t2[64];
    int64_t limit;
    cp_rc rc;

    if ((int)ev->kind < 0 || ev->kind >= CP_PAYLOAD_KIND_CNT)
        return cp_decode_fail(reason, reason_size, "payload: unknown kind %d",
                              (int)ev->kind);
    rc = check_id("event_id", ev->event_id, reason, reason_size);
    if (rc)
        return rc;
    rc = check_name("tenant_id", ev->tenant_id, true, reason, reason_size);
    if (rc)
        return rc;
    rc = check_name("customer_id", ev->customer_id, true, reason, reason_size);
    if (rc)
        return rc;
    if (ev->manager_id.ptr) {
        rc =
            check_name("manager_id", ev->manager_id, true, reason, reason_size);
        if (rc)
            return rc;
    }
    if (ev->occurred_at < CP_MIN_OCCURRED_AT_MS) {
        cp_format_iso_ms(ev->occurred_at, t1);
        return cp_decode_fail(reason, reason_size,
                              "occurred_at %s before 2000-01-01", t1);
    }
    /* now_ms + 24 h saturates instead of overflowing on a hostile clock. */
    limit = now_ms > INT64_MAX - CP_MAX_FUTURE_MS ? INT64_MAX
                                                  : now_ms + CP_MAX_FUTURE_MS;
    if (ev->occurred_at > limit) {
        cp_format_iso_ms(ev->occurred_at, t1);
        cp_format_iso_ms(now_ms, t2);
        return cp_decode_fail(reason, reason_size,
                              "occurred_at %s more than 24 h after now %s", t1,
                              t2);
    }
    /* Only reachable with a clock past 9999-12-30: keeps day keys 4-digit. */
    if (ev->occurred_at > CP_MAX_OCCURRED_AT_MS) {
        cp_format_iso_ms(ev->occurred_at, t1);
        return cp_decode_fail(reason, reason_size,
                              "occurred_at %s after 9999-12-31", t1);
    }
    if ((int)ev->channel < CP_CHANNEL_NONE || ev->channel >= CP_CHANNEL_CNT)
        return cp_decode_fail(reason, reason_size, "channel: unknown value %d",
                              (int)ev->channel);
    return check_payload(ev, reason, reason_size);
}

cp_rc cp_event_check_id(const char *field, struct cp_str s, char *reason,
                        size_t reason_size)
{
    return check_id(field, s, reason, reason_size);
}
