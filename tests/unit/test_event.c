/* SPDX-License-Identifier: Apache-2.0 */
/* Input-contract rules of cp_event_validate(): each rule at its boundaries,
 * and the wording of the reasons that end up in the DLQ. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "event.h"

#define NOW 1700000000000LL /* 2023-11-14T22:13:20Z */

static char reason[256];

static struct cp_str str(const char *s)
{
    return (struct cp_str){s, strlen(s)};
}

static struct cp_str bytes(const char *s, size_t len)
{
    return (struct cp_str){s, len};
}

/* A valid event of @p kind; strings are literals. */
static struct cp_event make(enum cp_payload_kind kind)
{
    struct cp_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.event_id = str("9b2f7a56-0d3c-4e4b-9f55-0b8a1f6f2c11");
    ev.tenant_id = str("acme.eu");
    ev.customer_id = str("cust-0042");
    ev.manager_id = str("mgr_7");
    ev.occurred_at = NOW - 1000;
    ev.channel = CP_CHANNEL_EMAIL;
    ev.kind = kind;
    ev.entity_id =
        kind == CP_SURVEY_ANSWERED ? (struct cp_str){NULL, 0} : str("ent-1");
    ev.label = str("google_ads");
    ev.stage_order = 3;
    ev.amount = 1999;
    ev.survey_kind = CP_SURVEY_NPS;
    ev.score = 9;
    ev.sub_action = CP_SUB_RENEWED;
    return ev;
}

static bool is_printable(char c)
{
    return (unsigned char)c >= 0x20 && (unsigned char)c < 0x7f;
}

static void expect_ok(const struct cp_event *ev)
{
    reason[0] = '\0';
    cr_assert(
        eq(int, cp_event_validate(ev, NOW, reason, sizeof(reason)), CP_OK),
        "unexpected rejection: %s", reason);
}

/* Rejected, and the reason contains @p want. */
static void expect_fail(const struct cp_event *ev, const char *want)
{
    reason[0] = '\0';
    cr_assert(
        eq(int, cp_event_validate(ev, NOW, reason, sizeof(reason)), CP_EDECODE),
        "accepted, expected \"%s\"", want);
    cr_assert(strstr(reason, want) != NULL, "reason \"%s\" lacks \"%s\"",
              reason, want);
    for (const char *p = reason; *p; p++)
        cr_assert(is_printable(*p), "reason has a raw byte 0x%02x",
                  (unsigned char)*p);
}

static void expect_reason(const struct cp_event *ev, const char *want)
{
    expect_fail(ev, want);
    cr_assert(eq(str, reason, (char *)want));
}

/* ---- names ---- */

Test(event, names_of_kinds_fields_and_channels)
{
    cr_assert(eq(str, (char *)cp_payload_kind_name(CP_LEAD_CREATED),
                 (char *)"LeadCreated"));
    cr_assert(eq(str, (char *)cp_payload_kind_name(CP_WEB_VISIT),
                 (char *)"WebVisit"));
    cr_assert(eq(str, (char *)cp_payload_kind_name(CP_SUBSCRIPTION_CHANGED),
                 (char *)"SubscriptionChanged"));
    cr_assert(eq(ptr, (void *)cp_payload_kind_name(CP_PAYLOAD_KIND_CNT), NULL));
    cr_assert(eq(str, (char *)cp_payload_entity_field(CP_ORDER_PLACED),
                 (char *)"order_id"));
    cr_assert(eq(str, (char *)cp_payload_entity_field(CP_MESSAGE_SENT),
                 (char *)"conversation_id"));
    cr_assert(eq(str, (char *)cp_payload_entity_field(CP_WEB_VISIT),
                 (char *)"session_id"));
    cr_assert(
        eq(ptr, (void *)cp_payload_entity_field(CP_SURVEY_ANSWERED), NULL));
    cr_assert(eq(str, (char *)cp_channel_symbol(CP_CHANNEL_IN_PERSON),
                 (char *)"IN_PERSON"));
    cr_assert(eq(str, (char *)cp_channel_key_name(CP_CHANNEL_IN_PERSON),
                 (char *)"in_person"));
    cr_assert(eq(str, (char *)cp_channel_key_name(CP_CHANNEL_MESSENGER),
                 (char *)"messenger"));
    cr_assert(eq(ptr, (void *)cp_channel_symbol(CP_CHANNEL_NONE), NULL));
    cr_assert(eq(ptr, (void *)cp_channel_key_name(CP_CHANNEL_NONE), NULL));
    cr_assert(eq(ptr, (void *)cp_channel_key_name(CP_CHANNEL_CNT), NULL));
}

Test(event, every_kind_valid)
{
    for (int k = 0; k < CP_PAYLOAD_KIND_CNT; k++) {
        struct cp_event ev = make((enum cp_payload_kind)k);

        expect_ok(&ev);
    }
}

Test(event, optional_fields_may_be_null)
{
    struct cp_event ev = make(CP_WEB_VISIT);

    ev.manager_id = (struct cp_str){NULL, 0};
    ev.channel = CP_CHANNEL_NONE;
    expect_ok(&ev);
}

/* ---- tenant, customer, manager ---- */

Test(event, names_64_ok_65_rejected)
{
    char buf[66];
    struct cp_event ev = make(CP_WEB_VISIT);

    memset(buf, 'a', sizeof(buf));
    ev.tenant_id = bytes(buf, 64);
    expect_ok(&ev);
    ev.tenant_id = bytes(buf, 65);
    expect_reason(&ev, "tenant_id: 65 bytes, longer than 64");

    ev = make(CP_WEB_VISIT);
    ev.customer_id = bytes(buf, 64);
    expect_ok(&ev);
    ev.customer_id = bytes(buf, 65);
    expect_fail(&ev, "customer_id: 65 bytes");

    ev = make(CP_WEB_VISIT);
    ev.manager_id = bytes(buf, 64);
    expect_ok(&ev);
    ev.manager_id = bytes(buf, 65);
    expect_fail(&ev, "manager_id: 65 bytes");
}

Test(event, names_empty_rejected)
{
    struct cp_event ev = make(CP_WEB_VISIT);

    ev.tenant_id = str("");
    expect_reason(&ev, "tenant_id: empty");
    ev = make(CP_WEB_VISIT);
    ev.customer_id = (struct cp_str){NULL, 0};
    expect_reason(&ev, "customer_id: empty");
    ev = make(CP_WEB_VISIT);
    ev.manager_id = str(""); /* present but empty is not null */
    expect_reason(&ev, "manager_id: empty");
}

Test(event, names_charset)
{
    struct cp_event ev = make(CP_WEB_VISIT);

    ev.customer_id = str("A-z.0_9");
    expect_ok(&ev);
    ev.customer_id = str("abc def");
    expect_reason(&ev, "customer_id: byte 0x20 at 3 not in [A-Za-z0-9._-]");
    ev.customer_id = str("ab:c");
    expect_fail(&ev, "byte 0x3a at 2");
    ev = make(CP_WEB_VISIT);
    ev.tenant_id = str("caf\xc3\xa9");
    expect_reason(&ev, "tenant_id: byte 0xc3 at 3 not in [A-Za-z0-9._-]");
    ev = make(CP_WEB_VISIT);
    ev.tenant_id = bytes("a\0b", 3);
    expect_reason(&ev, "tenant_id: byte 0x00 at 1 not in [A-Za-z0-9._-]");
    ev = make(CP_WEB_VISIT);
    ev.manager_id = str("m{x}");
    expect_fail(&ev, "manager_id: byte 0x7b at 1");
}

/* Ids that try to leave their place in a Redis key (hash tag braces, the
 * ':' separator, glob and protocol characters, control bytes, NUL, DEL,
 * UTF-8) or to blow it up (over-long): each rejected, the reason names
 * the field and stays printable. */
Test(event, key_escaping_names_rejected)
{
    static const char *const fields[] = {"tenant_id", "customer_id",
                                         "manager_id"};
    static const struct {
        const char *s;
        size_t len;
    } bad[] = {
        {"}", 1},     {"{", 1},    {"a}b", 3},         {"{acme}", 6},
        {"}{", 2},    {":", 1},    {"acme:x", 6},      {"a*", 2},
        {"a?", 2},    {"[a]", 3},  {"a b", 3},         {"\n", 1},
        {"a\r\n", 3}, {"\t", 1},   {"\x1b[0m", 4},     {"\x7f", 1},
        {"a\0", 2},   {"\0", 1},   {"a/b", 3},         {"\"", 1},
        {"\\", 1},    {"%s%n", 4}, {"caf\xc3\xa9", 5}, {"\xff", 1},
    };
    char what[64];

    for (size_t f = 0; f < CP_ARRAY_SIZE(fields); f++) {
        for (size_t i = 0; i < CP_ARRAY_SIZE(bad); i++) {
            struct cp_event ev = make(CP_ORDER_PLACED);
            struct cp_str v = bytes(bad[i].s, bad[i].len);

            if (f == 0)
                ev.tenant_id = v;
            else if (f == 1)
                ev.customer_id = v;
            else
                ev.manager_id = v;
            snprintf(what, sizeof(what), "%s: byte 0x", fields[f]);
            expect_fail(&ev, what);
            cr_assert(eq(int, strncmp(reason, fields[f], strlen(fields[f])), 0),
                      "reason \"%s\" does not start with %s", reason,
                      fields[f]);
        }
    }
}

Test(event, every_control_byte_rejected_in_names)
{
    char name[4] = "a?b";
    char want[64];

    for (int c = 0; c < 256; c++) {
        struct cp_event ev = make(CP_WEB_VISIT);
        bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                       c == '-';

        name[1] = (char)c;
        ev.customer_id = bytes(name, 3);
        if (allowed) {
            expect_ok(&ev);
            continue;
        }
        snprintf(want, sizeof(want),
                 "customer_id: byte 0x%02x at 1 not in [A-Za-z0-9._-]", c);
        expect_reason(&ev, want);
    }
}

Test(event, over_long_names_rejected_without_copying)
{
    static char big[(1 << 20) + 64];
    static const size_t lens[] = {65, 255, 4096, 65536, 1 << 20};
    char want[96];

    memset(big, 'a', sizeof(big));
    for (size_t i = 0; i < CP_ARRAY_SIZE(lens); i++) {
        struct cp_event ev = make(CP_WEB_VISIT);

        ev.tenant_id = bytes(big, lens[i]);
        snprintf(want, sizeof(want), "tenant_id: %zu bytes, longer than 64",
                 lens[i]);
        expect_reason(&ev, want);
        ev = make(CP_WEB_VISIT);
        ev.customer_id = bytes(big, lens[i]);
        snprintf(want, sizeof(want), "customer_id: %zu bytes, longer than 64",
                 lens[i]);
        expect_reason(&ev, want);
        ev = make(CP_WEB_VISIT);
        ev.entity_id = bytes(big, lens[i] + 64);
        snprintf(want, sizeof(want), "session_id: %zu bytes, longer than 128",
                 lens[i] + 64);
        expect_reason(&ev, want);
    }
}

/* ---- occurred_at ---- */

Test(event, occurred_at_not_before_2000)
{
    struct cp_event ev = make(CP_WEB_VISIT);

    ev.occurred_at = CP_MIN_OCCURRED_AT_MS;
    expect_ok(&ev);
    ev.occurred_at = CP_MIN_OCCURRED_AT_MS - 1;
    expect_reason(&ev,
                  "occurred_at 1999-12-31T23:59:59.999Z before 2000-01-01");
    ev.occurred_at = CP_MIN_OCCURRED_AT_MS - 1000;
    expect_reason(&ev,
                  "occurred_at 1999-12-31T23:59:59.000Z before 2000-01-01");
    ev.occurred_at = 0;
    expect_reason(&ev,
                  "occurred_at 1970-01-01T00:00:00.000Z before 2000-01-01");
    ev.occurred_at = -1;
    expect_reason(&ev,
                  "occurred_at 1969-12-31T23:59:59.999Z before 2000-01-01");
    ev.occurred_at = INT64_MIN;
    expect_fail(&ev, "before 2000-01-01");
}

Test(event, occurred_at_at_most_24h_ahead)
{
    struct cp_event ev = make(CP_WEB_VISIT);

    ev.occurred_at = NOW + CP_MAX_FUTURE_MS;
    expect_ok(&ev);
    ev.occurred_at = NOW + CP_MAX_FUTURE_MS + 1;
    expect_reason(&ev, "occurred_at 2023-11-15T22:13:20.001Z more than 24 h "
                       "after now 2023-11-14T22:13:20.000Z");
    ev.occurred_at = INT64_MAX;
    expect_fail(&ev, "more than 24 h after now");
}

Test(event, occurred_at_leap_days_format)
{
    struct cp_event ev = make(CP_WEB_VISIT);

    /* 2024-02-29T12:00:00Z, judged against a clock in 2023. */
    ev.occurred_at = 1709208000000LL;
    expect_reason(&ev, "occurred_at 2024-02-29T12:00:00.000Z more than 24 h "
                       "after now 2023-11-14T22:13:20.000Z");
}

Test(event, clock_near_int64_max_does_not_overflow)
{
    struct cp_event ev = make(CP_WEB_VISIT);

    /* The 24 h rule passes (no overflow), the year-9999 rule does not. */
    ev.occurred_at = CP_MAX_OCCURRED_AT_MS;
    cr_assert(eq(int,
                 cp_event_validate(&ev, INT64_MAX - 5, reason, sizeof(reason)),
                 CP_OK),
              "%s", reason);
    ev.occurred_at = INT64_MAX;
    cr_assert(eq(int,
                 cp_event_validate(&ev, INT64_MAX - 5, reason, sizeof(reason)),
                 CP_EDECODE));
    cr_assert(strstr(reason, "after 9999-12-31") != NULL, "%s", reason);
}

/* Day keys are YYYY-MM-DD: a wrong clock must not let year 10000 in. */
Test(event, occurred_at_not_after_year_9999_whatever_the_clock)
{
    struct cp_event ev = make(CP_WEB_VISIT);
    int64_t late_clock = CP_MAX_OCCURRED_AT_MS - 12 * 3600 * 1000LL;

    ev.occurred_at = CP_MAX_OCCURRED_AT_MS;
    reason[0] = '\0';
    cr_assert(eq(int,
                 cp_event_validate(&ev, late_clock, reason, sizeof(reason)),
                 CP_OK),
              "%s", reason);
    ev.occurred_at = CP_MAX_OCCURRED_AT_MS + 1;
    cr_assert(eq(int,
                 cp_event_validate(&ev, late_clock, reason, sizeof(reason)),
                 CP_EDECODE));
    cr_assert(eq(str, reason,
                 (char *)"occurred_at 10000-01-01T00:00:00.000Z after "
                         "9999-12-31"));
    /* With a sane clock the 24 h rule names the same field first. */
    expect_reason(&ev, "occurred_at 10000-01-01T00:00:00.000Z more than 24 h "
                       "after now 2023-11-14T22:13:20.000Z");
}

/* Negative, pre-1970, year 1 and the extremes: rejected with the field
 * and the date spelled out, never a wrapped or garbled date. */
Test(event, occurred_at_hostile_values)
{
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        {-1, "occurred_at 1969-12-31T23:59:59.999Z before 2000-01-01"},
        {-86400000LL * 365,
         "occurred_at 1969-01-01T00:00:00.000Z before 2000-01-01"},
        {-3155673600000LL, /* 1870-01-01 */
         "occurred_at 1870-01-01T00:00:00.000Z before 2000-01-01"},
        {-62135596800000LL, /* 0001-01-01 */
         "occurred_at 0001-01-01T00:00:00.000Z before 2000-01-01"},
        {INT64_MIN, "occurred_at -292275055-05-16T16:47:04.192Z before "
                    "2000-01-01"},
        {253402300800000LL, "occurred_at 10000-01-01T00:00:00.000Z more "
                            "than 24 h after now"},
        {INT64_MAX, "occurred_at 292278994-08-17T07:12:55.807Z more than "
                    "24 h after now"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cp_event ev = make(CP_ORDER_PLACED);

        ev.occurred_at = cases[i].ms;
        expect_fail(&ev, cases[i].want);
    }
}

/* ---- ids ---- */

Test(event, ids_128_bytes_ok_129_rejected)
{
    char buf[130];
    struct cp_event ev = make(CP_ORDER_PLACED);

    memset(buf, 'x', sizeof(buf));
    ev.event_id = bytes(buf, 128);
    expect_ok(&ev);
    ev.event_id = bytes(buf, 129);
    expect_reason(&ev, "event_id: 129 bytes, longer than 128");
    ev = make(CP_ORDER_PLACED);
    ev.entity_id = bytes(buf, 128);
    expect_ok(&ev);
    ev.entity_id = bytes(buf, 129);
    expect_reason(&ev, "order_id: 129 bytes, longer than 128");

    /* The limit is in bytes: 42 three-byte characters + 2 = 128 bytes. */
    for (int i = 0; i < 42; i++)
        memcpy(buf + 3 * i, "\xe2\x82\xac", 3);
    buf[126] = 'a';
    buf[127] = 'b';
    buf[128] = 'c';
    ev.entity_id = bytes(buf, 128);
    expect_ok(&ev);
    ev.entity_id = bytes(buf, 129);
    expect_fail(&ev, "order_id: 129 bytes");
}

Test(event, ids_empty_rejected)
{
    struct cp_event ev = make(CP_CALL_LOGGED);

    ev.event_id = str("");
    expect_reason(&ev, "event_id: empty");
    ev = make(CP_CALL_LOGGED);
    ev.entity_id = (struct cp_str){NULL, 0};
    expect_reason(&ev, "call_id: empty");
}

Test(event, ids_accept_any_printable_utf8)
{
    struct cp_event ev = make(CP_TICKET_OPENED);

    ev.event_id = str("id with spaces/and:colons{}");
    expect_ok(&ev);
    ev.event_id = str("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    expect_ok(&ev);
    ev.event_id = str("nbsp\xc2\xa0ok"); /* U+00A0 is the first non-C1 */
    expect_ok(&ev);
    ev.event_id = str("max\xf4\x8f\xbf\xbf"); /* U+10FFFF */
    expect_ok(&ev);
    ev.event_id = str("\xed\x9f\xbf\xee\x80\x80"); /* U+D7FF, U+E000 */
    expect_ok(&ev);
    ev.event_id = str("\xe0\xa0\x80\xf0\x90\x80\x80"); /* U+0800, U+10000 */
    expect_ok(&ev);
}

Test(event, ids_reject_bad_utf8)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *want;
    } cases[] = {
        {"a\xc0\xaf", 3, "event_id: invalid UTF-8 lead byte 0xc0 at 1"},
        {"\xc1\xbf", 2, "invalid UTF-8 lead byte 0xc1 at 0"},
        {"a\xe0\x80\xaf", 4, "event_id: overlong UTF-8 sequence at 1"},
        {"\xe0\x9f\xbf", 3, "overlong UTF-8 sequence at 0"},
        {"\xf0\x80\x80\xaf", 4, "overlong UTF-8 sequence at 0"},
        {"\xf0\x8f\xbf\xbf", 4, "overlong UTF-8 sequence at 0"},
        {"ab\xed\xa0\x80", 5, "event_id: UTF-16 surrogate U+D800 at 2"},
        {"\xed\xbf\xbf", 3, "UTF-16 surrogate U+DFFF at 0"},
        {"\xf4\x90\x80\x80", 4, "code point U+110000 above U+10FFFF at 0"},
        {"\xf5\x80\x80\x80", 4, "invalid UTF-8 lead byte 0xf5 at 0"},
        {"\xff", 1, "invalid UTF-8 lead byte 0xff at 0"},
        {"ab\x80", 3, "invalid UTF-8 lead byte 0x80 at 2"},
        {"ab\xe2\x82", 4, "event_id: truncated UTF-8 sequence at 2"},
        {"\xc3", 1, "truncated UTF-8 sequence at 0"},
        {"\xf0\x9f\x98", 3, "truncated UTF-8 sequence at 0"},
        {"\xe2\x28\xa1", 3, "invalid UTF-8 continuation byte 0x28 at 1"},
        {"\xc3\xc3\xa9", 3, "invalid UTF-8 continuation byte 0xc3 at 1"},
    };

    for (size_t i = 0; i < CP_ARRAY_SIZE(cases); i++) {
        struct cp_event ev = make(CP_WEB_VISIT);

        ev.event_id = bytes(cases[i].bytes, cases[i].len);
        expect_fail(&ev, cases[i].want);
    }
}

Test(event, ids_reject_control_characters)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *want;
    } cases[] = {
        {"a\x01", 2, "control byte 0x01 at 1"},
        {"a\0b", 3, "control byte 0x00 at 1"},
        {"\x1f", 1, "control byte 0x1f at 0"},
        {"tab\t", 4, "control byte 0x09 at 3"},
        {"nl\n", 3, "control byte 0x0a at 2"},
        {"del\x7f", 4, "control byte 0x7f at 3"},
        {"c1\xc2\x80", 4, "control character U+0080 at 2"},
        {"c1\xc2\x85", 4, "control character U+0085 at 2"},
        {"\xc2\x9f", 2, "control character U+009F at 0"},
    };

    for (size_t i = 0; i < CP_ARRAY_SIZE(cases); i++) {
        struct cp_event ev = make(CP_MESSAGE_RECEIVED);

        ev.entity_id = bytes(cases[i].bytes, cases[i].len);
        expect_fail(&ev, "conversation_id: ");
        expect_fail(&ev, cases[i].want);
    }
}

Test(event, entity_field_named_in_reason)
{
    for (int k = 0; k < CP_PAYLOAD_KIND_CNT; k++) {
        struct cp_event ev = make((enum cp_payload_kind)k);
        char want[64];

        if (!cp_payload_entity_field(ev.kind))
            continue;
        ev.entity_id = str("x\x7f");
        snprintf(want, sizeof(want), "%s: control byte 0x7f at 1",
                 cp_payload_entity_field(ev.kind));
        expect_reason(&ev, want);
    }
}

Test(event, survey_has_no_entity_id)
{
    struct cp_event ev = make(CP_SURVEY_ANSWERED);

    ev.entity_id = str("\x01 ignored");
    expect_ok(&ev);
}

/* ---- source, stage ---- */

Test(event, source_and_stage_names)
{
    char buf[66];
    struct cp_event ev = make(CP_LEAD_CREATED);

    memset(buf, 'S', sizeof(buf));
    ev.label = bytes(buf, 64);
    expect_ok(&ev);
    ev.label = bytes(buf, 65);
    expect_reason(&ev, "source: 65 bytes, longer than 64");
    ev.label = str("");
    expect_reason(&ev, "source: empty");
    ev.label = str("g.ads");
    expect_reason(&ev, "source: byte 0x2e at 1 not in [A-Za-z0-9_-]");

    ev = make(CP_STAGE_CHANGED);
    ev.label = str("proposal_sent-2");
    expect_ok(&ev);
    ev.label = str("won.x");
    expect_reason(&ev, "stage: byte 0x2e at 3 not in [A-Za-z0-9_-]");
    ev.label = bytes(buf, 65);
    expect_fail(&ev, "stage: 65 bytes");
}

Test(event, stage_order_0_to_63)
{
    struct cp_event ev = make(CP_STAGE_CHANGED);

    ev.stage_order = 0;
    expect_ok(&ev);
    ev.stage_order = 63;
    expect_ok(&ev);
    ev.stage_order = 64;
    expect_reason(&ev, "stage_order 64 out of range 0-63");
    ev.stage_order = -1;
    expect_reason(&ev, "stage_order -1 out of range 0-63");
    ev.stage_order = INT32_MIN;
    expect_fail(&ev, "out of range 0-63");
}

/* ---- amounts ---- */

Test(event, amounts_not_negative)
{
    static const struct {
        enum cp_payload_kind kind;
        const char *field;
    } cases[] = {
        {CP_DEAL_CLOSED, "amount_minor"},
        {CP_ORDER_PLACED, "amount_minor"},
        {CP_CALL_LOGGED, "duration_ms"},
        {CP_SUBSCRIPTION_CHANGED, "mrr_minor"},
    };

    for (size_t i = 0; i < CP_ARRAY_SIZE(cases); i++) {
        struct cp_event ev = make(cases[i].kind);
        char want[64];

        ev.amount = 0;
        expect_ok(&ev);
        ev.amount = INT64_MAX;
        expect_ok(&ev);
        ev.amount = -1;
        snprintf(want, sizeof(want), "%s -1 negative", cases[i].field);
        expect_reason(&ev, want);
        ev.amount = INT64_MIN;
        expect_fail(&ev, cases[i].field);
    }
}

Test(event, amount_ignored_where_absent)
{
    struct cp_event ev = make(CP_WEB_VISIT);

    ev.amount = -5;
    expect_ok(&ev);
}

/* ---- surveys ---- */

Test(event, survey_ranges)
{
    static const struct {
        enum cp_survey_kind kind;
        const char *name;
        int lo, hi;
    } cases[] = {
        {CP_SURVEY_NPS, "NPS", 0, 10},
        {CP_SURVEY_CSAT, "CSAT", 1, 5},
        {CP_SURVEY_CES, "CES", 1, 7},
    };

    for (size_t i = 0; i < CP_ARRAY_SIZE(cases); i++) {
        struct cp_event ev = make(CP_SURVEY_ANSWERED);
        char want[64];

        ev.survey_kind = cases[i].kind;
        for (int s = cases[i].lo; s <= cases[i].hi; s++) {
            ev.score = s;
            expect_ok(&ev);
        }
        ev.score = cases[i].lo - 1;
        snprintf(want, sizeof(want), "survey %s score %d out of range %d-%d",
                 cases[i].name, cases[i].lo - 1, cases[i].lo, cases[i].hi);
        expect_reason(&ev, want);
        ev.score = cases[i].hi + 1;
        snprintf(want, sizeof(want), "survey %s score %d out of range %d-%d",
                 cases[i].name, cases[i].hi + 1, cases[i].lo, cases[i].hi);
        expect_reason(&ev, want);
    }
}

Test(event, survey_nps_11_reason)
{
    struct cp_event ev = make(CP_SURVEY_ANSWERED);

    ev.score = 11;
    expect_reason(&ev, "survey NPS score 11 out of range 0-10");
}

/* ---- enums out of range (only reachable through a buggy producer) ---- */

Test(event, bad_enum_values_rejected)
{
    struct cp_event ev = make(CP_WEB_VISIT);

    ev.kind = CP_PAYLOAD_KIND_CNT;
    expect_fail(&ev, "payload: unknown kind 12");
    ev = make(CP_WEB_VISIT);
    ev.channel = CP_CHANNEL_CNT;
    expect_fail(&ev, "channel: unknown value 7");
    ev = make(CP_SURVEY_ANSWERED);
    ev.survey_kind = (enum cp_survey_kind)3;
    expect_fail(&ev, "survey: unknown kind 3");
    ev = make(CP_SUBSCRIPTION_CHANGED);
    ev.sub_action = (enum cp_sub_action)7;
    expect_fail(&ev, "subscription action: unknown value 7");
}

Test(event, reason_truncated_safely)
{
    struct cp_event ev = make(CP_WEB_VISIT);
    char small[8];

    memset(small, 'z', sizeof(small));
    ev.tenant_id = str("");
    cr_assert(
        eq(int, cp_event_validate(&ev, NOW, small, sizeof(small)), CP_EDECODE));
    cr_assert(eq(str, small, (char *)"tenant_"));
    cr_assert(eq(int, cp_event_validate(&ev, NOW, NULL, 0), CP_EDECODE));
}
