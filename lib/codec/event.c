/* SPDX-License-Identifier: Apache-2.0 */
/* Names of payload kinds and channels, and the input-contract rules that the
 * Avro schema cannot express. Runs on every decoded event, right after the
 * codec's projection and before any state is touched. */
#include "event.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

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

static const char *const channel_keys[CP_CHANNEL_CNT] = {
    "phone", "email", "chat", "messenger", "web", "social", "in_person",
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
    return channel_keys[channel];
}

/* ---- reasons ---- */

/* Formats ms since the epoch as 2000-01-01T00:00:00.000Z for any int64,
 * proleptic Gregorian calendar (gmtime_r fails on far-out years). */
static void format_ms(int64_t ms, char *out, size_t out_size)
{
    int64_t days = ms / 86400000, rem = ms % 86400000;
    int64_t era, doe, yoe, doy, mp, y, m, d;

    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    /* Civil date from days since 1970-01-01, in 400-year eras starting
     * on March 1st so the leap day is the last day of a year. */
    days += 719468;
    era = (days >= 0 ? days : days - 146096) / 146097;
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2)
        y++;
    snprintf(out, out_size, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d.%03dZ", y,
             (int)m, (int)d, (int)(rem / 3600000), (int)(rem / 60000 % 60),
             (int)(rem / 1000 % 60), (int)(rem % 1000));
}

/* ---- field rules ---- */

/* Bit 0: allowed in stage and source names [A-Za-z0-9_-]; bit 1: allowed
 * in tenant, customer and manager ids [A-Za-z0-9._-]. A table, because
 * every event checks up to four names byte by byte. */
static const unsigned char name_class[256] = {
    ['-'] = 3, ['.'] = 2, ['_'] = 3, ['0'] = 3, ['1'] = 3, ['2'] = 3, ['3'] = 3,
    ['4'] = 3, ['5'] = 3, ['6'] = 3, ['7'] = 3, ['8'] = 3, ['9'] = 3, ['A'] = 3,
    ['B'] = 3, ['C'] = 3, ['D'] = 3, ['E'] = 3, ['F'] = 3, ['G'] = 3, ['H'] = 3,
    ['I'] = 3, ['J'] = 3, ['K'] = 3, ['L'] = 3, ['M'] = 3, ['N'] = 3, ['O'] = 3,
    ['P'] = 3, ['Q'] = 3, ['R'] = 3, ['S'] = 3, ['T'] = 3, ['U'] = 3, ['V'] = 3,
    ['W'] = 3, ['X'] = 3, ['Y'] = 3, ['Z'] = 3, ['a'] = 3, ['b'] = 3, ['c'] = 3,
    ['d'] = 3, ['e'] = 3, ['f'] = 3, ['g'] = 3, ['h'] = 3, ['i'] = 3, ['j'] = 3,
    ['k'] = 3, ['l'] = 3, ['m'] = 3, ['n'] = 3, ['o'] = 3, ['p'] = 3, ['q'] = 3,
    ['r'] = 3, ['s'] = 3, ['t'] = 3, ['u'] = 3, ['v'] = 3, ['w'] = 3, ['x'] = 3,
    ['y'] = 3, ['z'] = 3,
};

/* tenant_id, customer_id, manager_id (allow_dot) and stage/source names. */
static cp_rc check_name(const char *field, struct cp_str s, bool allow_dot,
                        char *reason, size_t reason_size)
{
    const char *set = allow_dot ? "[A-Za-z0-9._-]" : "[A-Za-z0-9_-]";
    unsigned char mask = allow_dot ? 2 : 1;

    if (!s.ptr || s.len == 0)
        return cp_decode_fail(reason, reason_size, "%s: empty", field);
    if (s.len > CP_NAME_MAX)
        return cp_decode_fail(reason, reason_size,
                              "%s: %zu bytes, longer than %d", field, s.len,
                              CP_NAME_MAX);
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];

        if (!(name_class[c] & mask))
            return cp_decode_fail(reason, reason_size,
                                  "%s: byte 0x%02x at %zu not in %s", field, c,
                                  i, set);
    }
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
        format_ms(ev->occurred_at, t1, sizeof(t1));
        return cp_decode_fail(reason, reason_size,
                              "occurred_at %s before 2000-01-01", t1);
    }
    /* now_ms + 24 h saturates instead of overflowing on a hostile clock. */
    limit = now_ms > INT64_MAX - CP_MAX_FUTURE_MS ? INT64_MAX
                                                  : now_ms + CP_MAX_FUTURE_MS;
    if (ev->occurred_at > limit) {
        format_ms(ev->occurred_at, t1, sizeof(t1));
        format_ms(now_ms, t2, sizeof(t2));
        return cp_decode_fail(reason, reason_size,
                              "occurred_at %s more than 24 h after now %s", t1,
                              t2);
    }
    /* Only reachable with a clock past 9999-12-30: keeps day keys 4-digit. */
    if (ev->occurred_at > CP_MAX_OCCURRED_AT_MS) {
        format_ms(ev->occurred_at, t1, sizeof(t1));
        return cp_decode_fail(reason, reason_size,
                              "occurred_at %s after 9999-12-31", t1);
    }
    if ((int)ev->channel < CP_CHANNEL_NONE || ev->channel >= CP_CHANNEL_CNT)
        return cp_decode_fail(reason, reason_size, "channel: unknown value %d",
                              (int)ev->channel);
    return check_payload(ev, reason, reason_size);
}

cp_rc cp_event_check_name(const char *field, struct cp_str s, char *reason,
                          size_t reason_size)
{
    return check_name(field, s, true, reason, reason_size);
}

cp_rc cp_event_check_id(const char *field, struct cp_str s, char *reason,
                        size_t reason_size)
{
    return check_id(field, s, reason, reason_size);
}
