/* SPDX-License-Identifier: Apache-2.0 */
/* The Avro codec: round trips of every payload kind in both framings,
 * interop with bytes written by another Avro implementation, dead letters,
 * and rejection of hostile bytes (prefixes, trailing bytes, huge or
 * negative lengths, bad enum/union/boolean/varint encodings, random and
 * mutated buffers) without crashes, leaks or false accepts. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures_codec.h"
#include "codec_int.h"
#include "event.h"

TestSuite(codec, .init = fx_codec_setup, .fini = fx_codec_teardown,
          .timeout = 30);

/* ---- helpers ---- */

static struct cp_str str(const char *s)
{
    return (struct cp_str){s, strlen(s)};
}

static bool is_printable(char c)
{
    return (unsigned char)c >= 0x20 && (unsigned char)c < 0x7f;
}

static bool str_eq(struct cp_str a, struct cp_str b)
{
    if (!a.ptr || !b.ptr)
        return !a.ptr && !b.ptr;
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

static struct cp_event make(enum cp_payload_kind kind)
{
    struct cp_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.event_id = str("9b2f7a56-0d3c-4e4b-9f55-0b8a1f6f2c11");
    ev.tenant_id = str("acme.eu");
    ev.customer_id = str("cust-0042");
    ev.manager_id = str("mgr_7");
    ev.occurred_at = NOW - 86400000LL * 3 + 17;
    ev.channel = (enum cp_channel)(kind % CP_CHANNEL_CNT);
    ev.kind = kind;
    switch (kind) {
    case CP_LEAD_CREATED:
        ev.entity_id = str("deal-1");
        ev.label = str("google_ads");
        break;
    case CP_STAGE_CHANGED:
        ev.entity_id = str("deal-1");
        ev.label = str("proposal");
        ev.stage_order = 63;
        break;
    case CP_DEAL_CLOSED:
        ev.entity_id = str("deal-1");
        ev.won = true;
        ev.amount = 1234567890123LL;
        break;
    case CP_ORDER_PLACED:
        ev.entity_id = str("ord-\xe2\x82\xac-77");
        ev.amount = 4999;
        break;
    case CP_CALL_LOGGED:
        ev.entity_id = str("call-5");
        ev.inbound = true;
        ev.answered = false;
        ev.amount = 61000;
        break;
    case CP_SURVEY_ANSWERED:
        ev.survey_kind = CP_SURVEY_CSAT;
        ev.score = 4;
        break;
    case CP_SUBSCRIPTION_CHANGED:
        ev.entity_id = str("sub-9");
        ev.sub_action = CP_SUB_CANCELLED;
        ev.amount = 990;
        break;
    default:
        ev.entity_id = str("ent-3");
        break;
    }
    return ev;
}

static void assert_events_equal(const struct cp_event *a,
                                const struct cp_event *b)
{
    cr_assert(str_eq(a->event_id, b->event_id));
    cr_assert(str_eq(a->tenant_id, b->tenant_id));
    cr_assert(str_eq(a->customer_id, b->customer_id));
    cr_assert(str_eq(a->manager_id, b->manager_id));
    cr_assert(eq(i64, a->occurred_at, b->occurred_at));
    cr_assert(eq(int, a->channel, b->channel));
    cr_assert(eq(int, a->kind, b->kind));
    if (a->kind != CP_SURVEY_ANSWERED)
        cr_assert(str_eq(a->entity_id, b->entity_id));
    if (a->kind == CP_LEAD_CREATED || a->kind == CP_STAGE_CHANGED)
        cr_assert(str_eq(a->label, b->label));
    cr_assert(eq(i32, a->stage_order, b->stage_order));
    cr_assert(eq(i64, a->amount, b->amount));
    cr_assert(eq(int, a->won, b->won));
    cr_assert(eq(int, a->inbound, b->inbound));
    cr_assert(eq(int, a->answered, b->answered));
    cr_assert(eq(int, a->survey_kind, b->survey_kind));
    cr_assert(eq(i32, a->score, b->score));
    cr_assert(eq(int, a->sub_action, b->sub_action));
}

static cp_rc decode(struct cp_codec *codec, const void *v, size_t len,
                    struct cp_event *ev)
{
    reason[0] = '\0';
    return cp_codec_decode_event(codec, v, len, NOW, &arena, ev, reason,
                                 sizeof(reason));
}

/* Rejected with a printable reason containing @p want. */
static void expect_reject(struct cp_codec *codec, const void *v, size_t len,
                          const char *want)
{
    struct cp_event ev;
    cp_rc rc = decode(codec, v, len, &ev);

    cr_assert(eq(int, rc, CP_EDECODE), "accepted, wanted \"%s\"", want);
    cr_assert(strstr(reason, want) != NULL, "reason \"%s\" lacks \"%s\"",
              reason, want);
    for (const char *p = reason; *p; p++)
        cr_assert(is_printable(*p), "raw byte in reason");
}

static void encode(struct cp_codec *codec, const struct cp_event *ev)
{
    cp_buf_reset(&out);
    cr_assert(eq(int, cp_codec_encode_event(codec, ev, &out), CP_OK));
}

/* Avro binary writer for hand-made (and broken) messages. */
struct msg {
    uint8_t b[512];
    size_t len;
};

static void put_raw(struct msg *m, const void *p, size_t n)
{
    cr_assert(m->len + n <= sizeof(m->b));
    memcpy(m->b + m->len, p, n);
    m->len += n;
}

static void put_byte(struct msg *m, uint8_t c)
{
    put_raw(m, &c, 1);
}

static void put_long(struct msg *m, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);

    while (u >= 0x80) {
        put_byte(m, (uint8_t)(u | 0x80));
        u >>= 7;
    }
    put_byte(m, (uint8_t)u);
}

static void put_str(struct msg *m, const char *s)
{
    put_long(m, (int64_t)strlen(s));
    put_raw(m, s, strlen(s));
}

static void put_header(struct msg *m, uint32_t id)
{
    m->len = 0;
    put_byte(m, 0);
    put_byte(m, (uint8_t)(id >> 24));
    put_byte(m, (uint8_t)(id >> 16));
    put_byte(m, (uint8_t)(id >> 8));
    put_byte(m, (uint8_t)id);
}

/* Header and CrmEvent fields up to (not including) the payload. */
static void put_event_head(struct msg *m)
{
    put_header(m, 1);
    put_str(m, "e-1");
    put_str(m, "acme");
    put_str(m, "c-1");
    put_long(m, NOW - 5000);
    put_long(m, 1); /* manager_id: string */
    put_str(m, "m-1");
    put_long(m, 1); /* channel: enum */
    put_long(m, 2); /* CHAT */
}

/* ---- round trips ---- */

Test(codec, round_trip_every_kind_confluent)
{
    for (int k = 0; k < CP_PAYLOAD_KIND_CNT; k++) {
        struct cp_event ev = make((enum cp_payload_kind)k), got;
        cp_rc rc;

        encode(conf, &ev);
        cr_assert(eq(u8, (uint8_t)out.data[0], 0));
        cr_assert(eq(int, memcmp(out.data, "\0\0\0\0\1", 5), 0));
        rc = decode(conf, out.data, out.len, &got);
        cr_assert(eq(int, rc, CP_OK), "%s: %s", cp_payload_kind_name(ev.kind),
                  reason);
        assert_events_equal(&ev, &got);
    }
}

Test(codec, round_trip_every_kind_raw)
{
    for (int k = 0; k < CP_PAYLOAD_KIND_CNT; k++) {
        struct cp_event ev = make((enum cp_payload_kind)k), got;
        struct cp_buf framed;

        cp_buf_init(&framed, 0);
        encode(conf, &ev);
        cr_assert(eq(int, cp_buf_append(&framed, out.data, out.len), CP_OK));
        encode(raw, &ev);
        /* Raw is the Confluent encoding without its 5-byte header. */
        cr_assert(eq(sz, out.len + 5, framed.len));
        cr_assert(eq(int, memcmp(out.data, framed.data + 5, out.len), 0));
        cp_buf_cleanup(&framed);
        cr_assert(eq(int, decode(raw, out.data, out.len, &got), CP_OK), "%s",
                  reason);
        assert_events_equal(&ev, &got);
    }
}

Test(codec, round_trip_nulls_and_every_channel)
{
    struct cp_event ev = make(CP_WEB_VISIT), got;

    ev.manager_id = (struct cp_str){NULL, 0};
    ev.channel = CP_CHANNEL_NONE;
    encode(conf, &ev);
    cr_assert(eq(int, decode(conf, out.data, out.len, &got), CP_OK), "%s",
              reason);
    cr_assert(eq(ptr, (void *)got.manager_id.ptr, NULL));
    cr_assert(eq(int, got.channel, CP_CHANNEL_NONE));
    for (int c = 0; c < CP_CHANNEL_CNT; c++) {
        ev.channel = (enum cp_channel)c;
        encode(conf, &ev);
        cr_assert(eq(int, decode(conf, out.data, out.len, &got), CP_OK));
        cr_assert(eq(int, got.channel, c));
    }
    for (int s = 0; s < 3; s++) {
        ev = make(CP_SUBSCRIPTION_CHANGED);
        ev.sub_action = (enum cp_sub_action)s;
        encode(conf, &ev);
        cr_assert(eq(int, decode(conf, out.data, out.len, &got), CP_OK));
        cr_assert(eq(int, got.sub_action, s));
    }
    for (int s = 0; s < 3; s++) {
        ev = make(CP_SURVEY_ANSWERED);
        ev.survey_kind = (enum cp_survey_kind)s;
        ev.score = 5;
        encode(conf, &ev);
        cr_assert(eq(int, decode(conf, out.data, out.len, &got), CP_OK));
        cr_assert(eq(int, got.survey_kind, s));
    }
}

Test(codec, encode_appends_to_the_buffer)
{
    struct cp_event a = make(CP_ORDER_PLACED), b = make(CP_TICKET_OPENED);
    struct cp_event got;
    size_t first;

    cp_buf_reset(&out);
    cr_assert(eq(int, cp_codec_encode_event(conf, &a, &out), CP_OK));
    first = out.len;
    cr_assert(eq(int, cp_codec_encode_event(conf, &b, &out), CP_OK));
    cr_assert(eq(int, decode(conf, out.data, first, &got), CP_OK));
    cr_assert(eq(int, got.kind, CP_ORDER_PLACED));
    cr_assert(
        eq(int, decode(conf, out.data + first, out.len - first, &got), CP_OK));
    cr_assert(eq(int, got.kind, CP_TICKET_OPENED));
}

/* Bytes written by python3-avro 1.11 from schemas/crm_event.avsc. */
Test(codec, decodes_bytes_of_another_avro_implementation)
{
    static const uint8_t order[] = {
        0x00, 0x00, 0x00, 0x00, 0x01, 0x06, 0x65, 0x2d, 0x31, 0x08, 0x61,
        0x63, 0x6d, 0x65, 0x08, 0x63, 0x2e, 0x34, 0x32, 0xf6, 0xa1, 0xab,
        0xfe, 0xf9, 0x62, 0x02, 0x06, 0x6d, 0x5f, 0x37, 0x02, 0x0c, 0x06,
        0x06, 0x6f, 0x2d, 0x39, 0xaa, 0xb4, 0xde, 0x75};
    static const uint8_t survey[] = {0x14, 0xc3, 0xa9, 0x76, 0xe2, 0x82, 0xac,
                                     0xf0, 0x9f, 0x98, 0x80, 0x02, 0x74, 0x02,
                                     0x63, 0x80, 0xb0, 0xfd, 0xac, 0x8d, 0x37,
                                     0x00, 0x00, 0x12, 0x04, 0x0e};
    struct cp_event ev;

    cr_assert(eq(int, decode(conf, order, sizeof(order), &ev), CP_OK), "%s",
              reason);
    cr_assert(str_eq(ev.event_id, str("e-1")));
    cr_assert(str_eq(ev.tenant_id, str("acme")));
    cr_assert(str_eq(ev.customer_id, str("c.42")));
    cr_assert(str_eq(ev.manager_id, str("m_7")));
    cr_assert(eq(i64, ev.occurred_at, 1700000000123LL));
    cr_assert(eq(int, ev.channel, CP_CHANNEL_IN_PERSON));
    cr_assert(eq(int, ev.kind, CP_ORDER_PLACED));
    cr_assert(str_eq(ev.entity_id, str("o-9")));
    cr_assert(eq(i64, ev.amount, 123456789));
    encode(conf, &ev);
    cr_assert(eq(sz, out.len, sizeof(order)));
    cr_assert(eq(int, memcmp(out.data, order, sizeof(order)), 0));

    cr_assert(eq(int, decode(raw, survey, sizeof(survey), &ev), CP_OK), "%s",
              reason);
    cr_assert(
        str_eq(ev.event_id, str("\xc3\xa9v\xe2\x82\xac\xf0\x9f\x98\x80")));
    cr_assert(eq(ptr, (void *)ev.manager_id.ptr, NULL));
    cr_assert(eq(int, ev.channel, CP_CHANNEL_NONE));
    cr_assert(eq(i64, ev.occurred_at, CP_MIN_OCCURRED_AT_MS));
    cr_assert(eq(int, ev.kind, CP_SURVEY_ANSWERED));
    cr_assert(eq(int, ev.survey_kind, CP_SURVEY_CES));
    cr_assert(eq(i32, ev.score, 7));
}

Test(codec, strings_live_in_the_arena)
{
    struct cp_event a = make(CP_LEAD_CREATED), b = make(CP_LEAD_CREATED);
    struct cp_event got_a, got_b;
    struct cp_buf copy;

    cp_buf_init(&copy, 0);
    encode(conf, &a);
    cr_assert(eq(int, cp_buf_append(&copy, out.data, out.len), CP_OK));
    cr_assert(eq(int, decode(conf, copy.data, copy.len, &got_a), CP_OK));
    /* Neither the input bytes nor the next decode may change them. */
    memset(copy.data, 0xee, copy.len);
    b.tenant_id = str("other");
    b.label = str("facebook");
    encode(conf, &b);
    cr_assert(eq(int, decode(conf, out.data, out.len, &got_b), CP_OK));
    cr_assert(str_eq(got_a.tenant_id, str("acme.eu")));
    cr_assert(str_eq(got_a.label, str("google_ads")));
    cr_assert(str_eq(got_b.label, str("facebook")));
    cr_assert(got_a.label.ptr >= (const char *)arena.head);
    cp_buf_cleanup(&copy);
}

Test(codec, validation_failures_are_decode_errors)
{
    struct cp_event ev = make(CP_SURVEY_ANSWERED);

    ev.survey_kind = CP_SURVEY_NPS;
    ev.score = 11;
    encode(conf, &ev);
    expect_reject(conf, out.data, out.len,
                  "survey NPS score 11 out of range 0-10");

    ev = make(CP_ORDER_PLACED);
    ev.amount = -1;
    encode(conf, &ev);
    expect_reject(conf, out.data, out.len, "amount_minor -1 negative");

    ev = make(CP_ORDER_PLACED);
    ev.occurred_at = NOW + 86400001;
    encode(raw, &ev);
    expect_reject(raw, out.data, out.len, "more than 24 h after now");

    ev = make(CP_ORDER_PLACED);
    ev.customer_id = str("abc def");
    encode(conf, &ev);
    expect_reject(conf, out.data, out.len,
                  "customer_id: byte 0x20 at 3 not in [A-Za-z0-9._-]");
}

Test(codec, embedded_nul_kept_by_length_then_rejected)
{
    struct cp_event ev = make(CP_WEB_VISIT), got;
    static const char id[] = "ab\0cd";

    ev.entity_id = (struct cp_str){id, 5};
    encode(conf, &ev);
    expect_reject(conf, out.data, out.len,
                  "session_id: control byte 0x00 at 2");
    ev.entity_id = str("abcd");
    ev.customer_id = (struct cp_str){id, 5};
    encode(conf, &ev);
    expect_reject(conf, out.data, out.len,
                  "customer_id: byte 0x00 at 2 not in [A-Za-z0-9._-]");
    /* The length survives avro-c: a valid string after a NUL-free one. */
    ev = make(CP_WEB_VISIT);
    encode(conf, &ev);
    cr_assert(eq(int, decode(conf, out.data, out.len, &got), CP_OK));
    cr_assert(eq(sz, got.entity_id.len, 5));
}

/* Oversized messages through the whole decode: ids of up to 1 MiB and
 * a valid event followed by 4 MiB of padding are dead letters whose
 * reason names the field (or the trailing bytes), without leaks. */
Test(codec, oversized_messages_rejected_naming_the_field)
{
    static char big[1 << 20];
    struct cp_event ev;
    char want[96];
    char *pad;

    memset(big, 'a', sizeof(big));
    ev = make(CP_WEB_VISIT);
    ev.customer_id = (struct cp_str){big, sizeof(big)};
    encode(conf, &ev);
    cr_assert_gt(out.len, sizeof(big));
    snprintf(want, sizeof(want), "customer_id: %zu bytes, longer than 64",
             sizeof(big));
    expect_reject(conf, out.data, out.len, want);

    ev = make(CP_WEB_VISIT);
    ev.tenant_id = (struct cp_str){big, 65536};
    encode(raw, &ev);
    expect_reject(raw, out.data, out.len,
                  "tenant_id: 65536 bytes, longer than 64");

    ev = make(CP_WEB_VISIT);
    ev.event_id = (struct cp_str){big, sizeof(big)};
    encode(conf, &ev);
    snprintf(want, sizeof(want), "event_id: %zu bytes, longer than 128",
             sizeof(big));
    expect_reject(conf, out.data, out.len, want);

    ev = make(CP_WEB_VISIT);
    ev.entity_id = (struct cp_str){big, 129};
    encode(conf, &ev);
    expect_reject(conf, out.data, out.len,
                  "session_id: 129 bytes, longer than 128");

    ev = make(CP_WEB_VISIT);
    encode(conf, &ev);
    pad = calloc(4 << 20, 1);
    cr_assert_not_null(pad);
    cr_assert(eq(int, cp_buf_append(&out, pad, 4 << 20), CP_OK));
    free(pad);
    expect_reject(conf, out.data, out.len, "avro: 4194304 trailing bytes");
}

/* Key-escaping ids survive Avro intact and are refused by name. */
Test(codec, key_escaping_ids_rejected_through_decode)
{
    static const char *const bad[] = {"}", "{", "acme}:{x", ":", "a\r\nb"};

    for (size_t i = 0; i < CP_ARRAY_SIZE(bad); i++) {
        struct cp_event ev = make(CP_ORDER_PLACED);

        ev.tenant_id = str(bad[i]);
        encode(conf, &ev);
        expect_reject(conf, out.data, out.len, "tenant_id: byte 0x");
        ev = make(CP_ORDER_PLACED);
        ev.customer_id = str(bad[i]);
        encode(raw, &ev);
        expect_reject(raw, out.data, out.len, "customer_id: byte 0x");
    }
}

/* Timestamps out of range through decode: the reason names occurred_at. */
Test(codec, hostile_timestamps_rejected_through_decode)
{
    static const int64_t bad[] = {-1,
                                  INT64_MIN,
                                  -62135596800000LL,
                                  0,
                                  CP_MIN_OCCURRED_AT_MS - 1,
                                  253402300800000LL,
                                  INT64_MAX};

    for (size_t i = 0; i < CP_ARRAY_SIZE(bad); i++) {
        struct cp_event ev = make(CP_DEAL_CLOSED);

        ev.occurred_at = bad[i];
        encode(conf, &ev);
        expect_reject(conf, out.data, out.len, "occurred_at ");
    }
}

/* ---- framing ---- */

Test(codec, framing_errors)
{
    static const uint8_t zero[] = {0};
    static const uint8_t short4[] = {0, 0, 0, 1};
    static const uint8_t magic[] = {0x7b, 0, 0, 0, 1, 2};
    static const uint8_t id0[] = {0, 0, 0, 0, 0, 2};
    static const uint8_t id9[] = {0, 0, 0, 0, 9, 2};
    static const uint8_t idbig[] = {0, 0xff, 0xff, 0xff, 0xff, 2};
    static const uint8_t id2[] = {0, 0, 0, 0, 2, 2};
    static const uint8_t id3[] = {0, 0, 0, 0, 3, 2};

    expect_reject(conf, NULL, 0, "empty message (tombstone)");
    expect_reject(conf, zero, 0, "empty message (tombstone)");
    expect_reject(raw, NULL, 0, "empty message (tombstone)");
    expect_reject(raw, zero, 0, "empty message (tombstone)");
    expect_reject(conf, NULL, 10, "empty message (tombstone)");
    expect_reject(conf, zero, 1, "bad framing: 1 bytes");
    expect_reject(conf, short4, 4, "bad framing: 4 bytes");
    expect_reject(conf, magic, sizeof(magic),
                  "bad framing: magic byte 0x7b, expected 0x00");
    expect_reject(conf, id0, sizeof(id0), "unknown schema id 0");
    expect_reject(conf, id9, sizeof(id9), "unknown schema id 9");
    expect_reject(conf, idbig, sizeof(idbig), "unknown schema id 4294967295");
    expect_reject(conf, id2, sizeof(id2),
                  "schema id 2 is crm.v1.Alert, not a CrmEvent");
    expect_reject(conf, id3, sizeof(id3),
                  "schema id 3 is crm.v1.DeadLetter, not a CrmEvent");
}

Test(codec, raw_codec_reads_confluent_bytes_as_avro)
{
    struct cp_event ev = make(CP_ORDER_PLACED);

    /* A raw codec sees the header as the start of event_id. */
    encode(conf, &ev);
    expect_reject(raw, out.data, out.len, "avro: ");
}

/* ---- hostile bytes ---- */

static void reject_every_prefix(struct cp_codec *codec,
                                const struct cp_event *ev)
{
    struct cp_event got;

    encode(codec, ev);
    cr_assert(eq(int, decode(codec, out.data, out.len, &got), CP_OK));
    for (size_t n = 0; n < out.len; n++) {
        /* A copy of exactly n bytes, so Asan sees any read past them. */
        uint8_t *p = malloc(n ? n : 1);

        memcpy(p, out.data, n);
        cr_assert(eq(int, decode(codec, n ? p : NULL, n, &got), CP_EDECODE),
                  "prefix %zu of %zu accepted", n, out.len);
        cr_assert(reason[0] != '\0');
        free(p);
    }
}

Test(codec, every_strict_prefix_rejected)
{
    for (int k = 0; k < CP_PAYLOAD_KIND_CNT; k++) {
        struct cp_event ev = make((enum cp_payload_kind)k);

        reject_every_prefix(conf, &ev);
        reject_every_prefix(raw, &ev);
        ev.manager_id = (struct cp_str){NULL, 0};
        ev.channel = CP_CHANNEL_NONE;
        reject_every_prefix(conf, &ev);
    }
}

Test(codec, truncation_reason_names_field)
{
    struct cp_event ev = make(CP_ORDER_PLACED);

    encode(conf, &ev);
    expect_reject(conf, out.data, out.len - 1, "avro: truncated at byte");
    expect_reject(conf, out.data, out.len - 1, "(amount_minor)");
    expect_reject(conf, out.data, 5, "avro: truncated at byte 5 (event_id)");
}

Test(codec, trailing_bytes_rejected)
{
    struct cp_event ev = make(CP_TICKET_RESOLVED);
    size_t len;

    encode(conf, &ev);
    len = out.len;
    cr_assert(eq(int, cp_buf_append(&out, "\0", 1), CP_OK));
    expect_reject(conf, out.data, out.len, "avro: 1 trailing bytes");
    cr_assert(eq(int, cp_buf_append(&out, "xyz", 3), CP_OK));
    expect_reject(conf, out.data, out.len, "avro: 4 trailing bytes");
    (void)len;
    encode(raw, &ev);
    cr_assert(eq(int, cp_buf_append(&out, "\x02", 1), CP_OK));
    expect_reject(raw, out.data, out.len, "trailing bytes after the record");
}

Test(codec, string_length_of_1gib_rejected)
{
    struct msg m;

    put_header(&m, 1);
    put_long(&m, (int64_t)1 << 30);
    put_raw(&m, "abcdefghijklmnopqrstuvwxyz", 26);
    expect_reject(conf, m.b, m.len,
                  "string length 1073741824 at byte 5 exceeds the 26 bytes "
                  "left (event_id)");

    put_header(&m, 1);
    put_str(&m, "e-1");
    put_long(&m, INT64_MAX);
    expect_reject(conf, m.b, m.len, "exceeds the 0 bytes left (tenant_id)");
}

Test(codec, negative_string_length_rejected)
{
    struct msg m;

    put_header(&m, 1);
    put_str(&m, "e-1");
    put_str(&m, "acme");
    put_long(&m, -3);
    put_raw(&m, "abcdefgh", 8);
    expect_reject(conf, m.b, m.len,
                  "negative string length -3 at byte 14 (customer_id)");
    put_header(&m, 1);
    put_long(&m, INT64_MIN);
    expect_reject(conf, m.b, m.len, "negative string length");
}

Test(codec, enum_index_out_of_range_rejected)
{
    struct msg m;

    put_header(&m, 1);
    put_str(&m, "e-1");
    put_str(&m, "acme");
    put_str(&m, "c-1");
    put_long(&m, NOW);
    put_long(&m, 0);
    put_long(&m, 1);
    put_long(&m, 7); /* Channel has 7 symbols */
    put_long(&m, 11);
    put_str(&m, "w-1");
    expect_reject(conf, m.b, m.len, "enum index 7 at byte");
    expect_reject(conf, m.b, m.len, "out of range 0-6 (channel)");

    put_event_head(&m);
    put_long(&m, 9); /* SurveyAnswered */
    put_long(&m, -1);
    put_long(&m, 5);
    expect_reject(conf, m.b, m.len, "enum index -1");
    expect_reject(conf, m.b, m.len, "out of range 0-2 (kind)");

    put_event_head(&m);
    put_long(&m, 10); /* SubscriptionChanged */
    put_str(&m, "s-1");
    put_long(&m, 3);
    put_long(&m, 100);
    expect_reject(conf, m.b, m.len, "enum index 3");
    expect_reject(conf, m.b, m.len, "(action)");
}

Test(codec, boolean_byte_must_be_0_or_1)
{
    struct msg m;
    struct cp_event ev;

    put_event_head(&m);
    put_long(&m, 2); /* DealClosed */
    put_str(&m, "d-1");
    put_byte(&m, 1);
    put_long(&m, 500);
    cr_assert(eq(int, decode(conf, m.b, m.len, &ev), CP_OK), "%s", reason);
    cr_assert(ev.won);
    cr_assert(eq(i64, ev.amount, 500));
    m.b[m.len - 3] = 2;
    expect_reject(conf, m.b, m.len, "boolean byte 0x02 at byte");
    expect_reject(conf, m.b, m.len, "(won)");

    put_event_head(&m);
    put_long(&m, 6); /* CallLogged */
    put_str(&m, "call-1");
    put_byte(&m, 0);
    put_byte(&m, 0xff);
    put_long(&m, 1);
    expect_reject(conf, m.b, m.len, "boolean byte 0xff");
    expect_reject(conf, m.b, m.len, "(answered)");
}

Test(codec, union_index_out_of_range_rejected)
{
    struct msg m;

    put_header(&m, 1);
    put_str(&m, "e-1");
    put_str(&m, "acme");
    put_str(&m, "c-1");
    put_long(&m, NOW);
    put_long(&m, 5);
    put_str(&m, "m-1");
    expect_reject(conf, m.b, m.len,
                  "union index 5 at byte 24 out of range 0-1 (manager_id)");

    put_event_head(&m);
    put_long(&m, 12); /* 12 payload branches: 0-11 */
    put_str(&m, "x");
    expect_reject(conf, m.b, m.len, "union index 12");
    expect_reject(conf, m.b, m.len, "out of range 0-11 (payload)");

    put_event_head(&m);
    put_long(&m, -1);
    expect_reject(conf, m.b, m.len, "union index -1");
}

Test(codec, over_long_varints_rejected)
{
    struct msg m;

    put_header(&m, 1);
    put_str(&m, "e-1");
    put_str(&m, "acme");
    put_str(&m, "c-1");
    for (int i = 0; i < 11; i++)
        put_byte(&m, 0xff);
    put_byte(&m, 0x01);
    expect_reject(conf, m.b, m.len, "longer than 10 bytes (occurred_at)");

    /* Tenth byte may only carry bit 63. */
    put_header(&m, 1);
    put_str(&m, "e-1");
    put_str(&m, "acme");
    put_str(&m, "c-1");
    for (int i = 0; i < 9; i++)
        put_byte(&m, 0xff);
    put_byte(&m, 0x02);
    expect_reject(conf, m.b, m.len, "out of 64-bit range (occurred_at)");

    /* int: 5 bytes at most and 32 bits. */
    put_event_head(&m);
    put_long(&m, 1); /* StageChanged */
    put_str(&m, "d-1");
    put_str(&m, "won");
    put_raw(&m, "\xff\xff\xff\xff\x1f", 5);
    expect_reject(conf, m.b, m.len, "out of 32-bit range (stage_order)");
    m.len -= 5;
    put_raw(&m, "\xff\xff\xff\xff\xff\x01", 6);
    expect_reject(conf, m.b, m.len, "longer than 5 bytes (stage_order)");
    m.len -= 6;
    put_raw(&m, "\xfe\xff\xff\xff\x0f", 5); /* INT32_MAX: fits */
    expect_reject(conf, m.b, m.len, "stage_order 2147483647 out of range");
}

Test(codec, non_canonical_varints_rejected)
{
    struct msg m;

    put_header(&m, 1);
    put_raw(&m, "\x86\x00", 2); /* 3, padded */
    put_raw(&m, "e-1", 3);
    expect_reject(conf, m.b, m.len, "non-canonical varint at byte 5");
}

Test(codec, hand_made_valid_message_accepted)
{
    struct msg m;
    struct cp_event ev;

    put_event_head(&m);
    put_long(&m, 11); /* WebVisit */
    put_str(&m, "sess-1");
    cr_assert(eq(int, decode(conf, m.b, m.len, &ev), CP_OK), "%s", reason);
    cr_assert(eq(int, ev.kind, CP_WEB_VISIT));
    cr_assert(eq(int, ev.channel, CP_CHANNEL_CHAT));
    cr_assert(str_eq(ev.entity_id, str("sess-1")));
    /* Same bytes raw. */
    cr_assert(eq(int, decode(raw, m.b + 5, m.len - 5, &ev), CP_OK), "%s",
              reason);
}

/* ---- random input ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic across runs */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/* Anything the codec accepts is a valid event whose encoding is exactly
 * the input (no ignored bytes, no alternative encodings). */
static void check_accepted(struct cp_codec *codec, const uint8_t *p, size_t len,
                           const struct cp_event *ev)
{
    char again[256];

    cr_assert(eq(int, cp_event_validate(ev, NOW, again, sizeof(again)), CP_OK));
    encode(codec, ev);
    cr_assert(eq(sz, out.len, len), "accepted bytes re-encode differently");
    cr_assert(eq(int, memcmp(out.data, p, len), 0),
              "accepted bytes re-encode differently");
}

Test(codec, random_buffers_with_valid_header)
{
    uint8_t buf[160];
    size_t accepted = 0;

    rng_state = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 100000; i++) {
        size_t len = 5 + rnd() % (sizeof(buf) - 5);
        struct cp_event ev;

        memcpy(buf, "\0\0\0\0\1", 5);
        for (size_t k = 5; k < len; k++)
            buf[k] = (uint8_t)rnd();
        /* Short plausible strings now and then, so the walk goes deep. */
        if (rnd() % 2)
            for (size_t k = 5; k < len && k < 40; k++)
                buf[k] = (uint8_t)(rnd() % 8 == 0 ? 0x06 : 'a' + rnd() % 3);
        if (i % 64 == 0)
            cp_arena_reset(&arena);
        if (decode(conf, buf, len, &ev) == CP_OK) {
            accepted++;
            check_accepted(conf, buf, len, &ev);
        } else {
            cr_assert(reason[0] != '\0');
        }
    }
    cr_log_info("random buffers accepted: %zu", accepted);
}

Test(codec, mutated_messages)
{
    uint8_t buf[256];
    size_t accepted = 0, seeds = 0;

    rng_state = 0xC0FFEEULL;
    for (int i = 0; i < 100000; i++) {
        struct cp_event ev =
            make((enum cp_payload_kind)(i % CP_PAYLOAD_KIND_CNT));
        size_t len;
        int flips = 1 + (int)(rnd() % 3);

        if (i % 5 == 0)
            ev.manager_id = (struct cp_str){NULL, 0};
        encode(conf, &ev);
        len = out.len;
        memcpy(buf, out.data, len);
        for (int f = 0; f < flips; f++) {
            size_t at = 5 + rnd() % (len - 5);

            switch (rnd() % 4) {
            case 0:
                buf[at] ^= (uint8_t)(1u << (rnd() % 8));
                break;
            case 1:
                buf[at] = (uint8_t)rnd();
                break;
            case 2:
                buf[at] = (uint8_t)(rnd() % 3);
                break;
            default:
                if (len > 6 && rnd() % 2)
                    len--; /* drop the tail */
                else if (len < sizeof(buf))
                    buf[len++] = (uint8_t)rnd();
                break;
            }
        }
        if (i % 64 == 0)
            cp_arena_reset(&arena);
        if (decode(conf, buf, len, &ev) == CP_OK) {
            accepted++;
            check_accepted(conf, buf, len, &ev);
        }
        seeds++;
    }
    cr_log_info("mutated messages accepted: %zu of %zu", accepted, seeds);
    cr_assert(accepted > 0, "mutation test never reached a valid message");
}

/* ---- dead letters ---- */

Test(codec, dead_letter_round_trip)
{
    static const uint8_t value[] = {0x00, 0x00, 0xff, 0x7f, 0x80, 0x01};
    struct cp_dead_letter dl = {
        .topic = "crm.events",
        .partition = 17,
        .offset = 1234567890123LL,
        .key = "acme:c-1",
        .key_len = 8,
        .value = value,
        .value_len = sizeof(value),
        .reason = "customer_id: byte 0x20 at 3 not in [A-Za-z0-9._-]",
        .failed_at = NOW,
    };
    struct cp_dead_letter got;

    cp_buf_reset(&out);
    cr_assert(eq(int, cp_codec_encode_dead_letter(conf, &dl, &out), CP_OK));
    cr_assert(eq(int, memcmp(out.data, "\0\0\0\0\3", 5), 0));
    cr_assert(eq(int,
                 cp_codec_decode_dead_letter(conf, out.data, out.len, &arena,
                                             &got, reason, sizeof(reason)),
                 CP_OK),
              "%s", reason);
    cr_assert(eq(str, (char *)got.topic, (char *)dl.topic));
    cr_assert(eq(i32, got.partition, 17));
    cr_assert(eq(i64, got.offset, dl.offset));
    cr_assert(eq(sz, got.key_len, 8));
    cr_assert(eq(int, memcmp(got.key, "acme:c-1", 8), 0));
    cr_assert(eq(sz, got.value_len, sizeof(value)));
    cr_assert(eq(int, memcmp(got.value, value, sizeof(value)), 0));
    cr_assert(eq(str, (char *)got.reason, (char *)dl.reason));
    cr_assert(eq(i64, got.failed_at, NOW));

    /* A dead letter is not an event, and the other way round. */
    expect_reject(conf, out.data, out.len,
                  "schema id 3 is crm.v1.DeadLetter, not a CrmEvent");
    {
        struct cp_event ev = make(CP_WEB_VISIT);

        encode(conf, &ev);
        cr_assert(
            eq(int,
               cp_codec_decode_dead_letter(conf, out.data, out.len, &arena,
                                           &got, reason, sizeof(reason)),
               CP_EDECODE));
        cr_assert(eq(str, reason,
                     (char *)"schema id 1 is crm.v1.CrmEvent, not a "
                             "DeadLetter"));
    }
}

Test(codec, dead_letter_null_key_empty_value_raw)
{
    struct cp_dead_letter dl = {
        .topic = "t",
        .partition = 0,
        .offset = 0,
        .key = NULL,
        .value = NULL,
        .value_len = 0,
        .reason = "empty message (tombstone)",
        .failed_at = NOW,
    };
    struct cp_dead_letter got;

    cp_buf_reset(&out);
    cr_assert(eq(int, cp_codec_encode_dead_letter(raw, &dl, &out), CP_OK));
    /* Raw: no header; the record starts with the topic string "t". */
    cr_assert(eq(u8, (uint8_t)out.data[0], 0x02));
    cr_assert(eq(int,
                 cp_codec_decode_dead_letter(raw, out.data, out.len, &arena,
                                             &got, reason, sizeof(reason)),
                 CP_OK),
              "%s", reason);
    cr_assert(eq(ptr, (void *)got.key, NULL));
    cr_assert(eq(sz, got.value_len, 0));
    cr_assert(eq(str, (char *)got.reason, (char *)dl.reason));

    /* An empty but present key stays present. */
    dl.key = "";
    dl.key_len = 0;
    cp_buf_reset(&out);
    cr_assert(eq(int, cp_codec_encode_dead_letter(conf, &dl, &out), CP_OK));
    cr_assert(eq(int,
                 cp_codec_decode_dead_letter(conf, out.data, out.len, &arena,
                                             &got, reason, sizeof(reason)),
                 CP_OK),
              "%s", reason);
    cr_assert(got.key != NULL);
    cr_assert(eq(sz, got.key_len, 0));
}

Test(codec, dead_letter_prefixes_rejected)
{
    static const uint8_t value[] = {1, 2, 3};
    struct cp_dead_letter dl = {
        .topic = "crm.events",
        .partition = 3,
        .offset = 99,
        .key = "k",
        .key_len = 1,
        .value = value,
        .value_len = 3,
        .reason = "r",
        .failed_at = NOW,
    };
    struct cp_dead_letter got;

    cp_buf_reset(&out);
    cr_assert(eq(int, cp_codec_encode_dead_letter(conf, &dl, &out), CP_OK));
    for (size_t n = 0; n < out.len; n++) {
        uint8_t *p = malloc(n ? n : 1);

        memcpy(p, out.data, n);
        cr_assert(eq(int,
                     cp_codec_decode_dead_letter(conf, p, n, &arena, &got,
                                                 reason, sizeof(reason)),
                     CP_EDECODE),
                  "prefix %zu accepted", n);
        free(p);
    }
}

Test(codec, dead_letter_hostile_lengths)
{
    struct cp_dead_letter got;
    struct msg m;

    put_header(&m, 3);
    put_str(&m, "crm.events");
    put_long(&m, 1);  /* partition */
    put_long(&m, 10); /* offset */
    put_long(&m, 0);  /* key: null */
    put_long(&m, (int64_t)1 << 30);
    put_raw(&m, "abc", 3);
    cr_assert(eq(int,
                 cp_codec_decode_dead_letter(conf, m.b, m.len, &arena, &got,
                                             reason, sizeof(reason)),
                 CP_EDECODE));
    cr_assert(eq(str, reason,
                 (char *)"avro: bytes length 1073741824 at byte 19 exceeds "
                         "the 3 bytes left (value)"));

    put_header(&m, 3);
    put_str(&m, "crm.events");
    put_long(&m, 1);
    put_long(&m, 10);
    put_long(&m, 2); /* key: union index out of range */
    cr_assert(eq(int,
                 cp_codec_decode_dead_letter(conf, m.b, m.len, &arena, &got,
                                             reason, sizeof(reason)),
                 CP_EDECODE));
    cr_assert(strstr(reason, "union index 2") != NULL, "%s", reason);
    cr_assert(strstr(reason, "(key)") != NULL, "%s", reason);
}

Test(codec, dead_letter_with_nul_in_reason_rejected)
{
    struct cp_dead_letter got;
    struct msg m;

    put_header(&m, 3);
    put_str(&m, "t");
    put_long(&m, 0);
    put_long(&m, 0);
    put_long(&m, 0);
    put_long(&m, 0); /* value: empty */
    put_long(&m, 3); /* reason: "a\0b" */
    put_raw(&m, "a\0b", 3);
    put_long(&m, NOW);
    cr_assert(eq(int,
                 cp_codec_decode_dead_letter(conf, m.b, m.len, &arena, &got,
                                             reason, sizeof(reason)),
                 CP_EDECODE));
    cr_assert(eq(str, reason, (char *)"dead letter: NUL byte in reason"));
}

/* ---- the walk over arrays and doubles (alerts) ---- */

static void put_double(struct msg *m, double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    for (int i = 0; i < 8; i++)
        put_byte(m, (uint8_t)(u >> (8 * i)));
}

/* Alert fields before reasons; then the caller writes the array. */
static void put_alert_head(struct msg *m)
{
    m->len = 0;
    put_str(m, "a-1");
    put_long(m, 0); /* CHURN_RISK */
    put_str(m, "acme");
    put_str(m, "c-1");
    put_long(m, 1); /* manager_id: string */
    put_str(m, "m-1");
    put_long(m, 1); /* CRITICAL */
    put_double(m, 0.91);
    put_double(m, 0.42);
}

static void put_reason(struct msg *m)
{
    put_str(m, "overdue_purchase");
    put_double(m, 0.5);
    put_str(m, "no order for 40 days");
}

static void put_alert_tail(struct msg *m)
{
    put_long(m, 0); /* triggered_by: null */
    put_long(m, NOW);
    put_long(m, NOW + 5);
    put_str(m, "v1");
}

static cp_rc check_alert(const struct msg *m)
{
    reason[0] = '\0';
    return cp__codec_check(conf, 2, m->b, m->len, reason, sizeof(reason));
}

Test(codec, alert_arrays_walked)
{
    struct msg m;
    size_t at;

    put_alert_head(&m); /* two reasons in one block */
    put_long(&m, 2);
    put_reason(&m);
    put_reason(&m);
    put_long(&m, 0);
    put_alert_tail(&m);
    cr_assert(eq(int, check_alert(&m), CP_OK), "%s", reason);

    put_alert_head(&m); /* empty array */
    put_long(&m, 0);
    put_alert_tail(&m);
    cr_assert(eq(int, check_alert(&m), CP_OK), "%s", reason);

    put_alert_head(&m); /* two blocks, the second with a byte size */
    put_long(&m, 1);
    put_reason(&m);
    put_long(&m, -1);
    put_long(&m, 17 + 8 + 21);
    put_reason(&m);
    put_long(&m, 0);
    put_alert_tail(&m);
    cr_assert(eq(int, check_alert(&m), CP_OK), "%s", reason);

    put_alert_head(&m); /* a byte size that does not match the items */
    put_long(&m, -1);
    put_long(&m, 17 + 8 + 20);
    put_reason(&m);
    put_long(&m, 0);
    put_alert_tail(&m);
    cr_assert(eq(int, check_alert(&m), CP_EDECODE));
    cr_assert(strstr(reason, "size 45 but items take 46 bytes") != NULL, "%s",
              reason);

    put_alert_head(&m); /* more items than bytes */
    at = m.len;
    put_long(&m, (int64_t)1 << 40);
    put_reason(&m);
    put_long(&m, 0);
    put_alert_tail(&m);
    cr_assert(eq(int, check_alert(&m), CP_EDECODE));
    cr_assert(strstr(reason, "block count 1099511627776 at byte") != NULL, "%s",
              reason);
    cr_assert(strstr(reason, "too large (reasons)") != NULL, "%s", reason);

    m.len = at; /* block count INT64_MIN cannot be negated */
    put_raw(&m, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);
    put_long(&m, 0);
    put_alert_tail(&m);
    cr_assert(eq(int, check_alert(&m), CP_EDECODE));
    cr_assert(strstr(reason, "bad block count") != NULL, "%s", reason);

    m.len = at; /* negative byte size */
    put_long(&m, -1);
    put_long(&m, -5);
    put_reason(&m);
    put_long(&m, 0);
    put_alert_tail(&m);
    cr_assert(eq(int, check_alert(&m), CP_EDECODE));
    cr_assert(strstr(reason, "bad block size -5") != NULL, "%s", reason);

    put_alert_head(&m); /* array never terminated */
    put_long(&m, 1);
    put_reason(&m);
    cr_assert(eq(int, check_alert(&m), CP_EDECODE));
    cr_assert(strstr(reason, "truncated") != NULL, "%s", reason);

    put_alert_head(&m); /* a double cut short */
    m.len -= 3;
    cr_assert(eq(int, check_alert(&m), CP_EDECODE));
    cr_assert(strstr(reason, "truncated at byte") != NULL, "%s", reason);
    cr_assert(strstr(reason, "(previous_score)") != NULL, "%s", reason);
}

Test(codec, alert_every_prefix_rejected)
{
    struct msg m;

    put_alert_head(&m);
    put_long(&m, -2);
    put_long(&m, 2 * (17 + 8 + 21));
    put_reason(&m);
    put_reason(&m);
    put_long(&m, 0);
    put_alert_tail(&m);
    cr_assert(eq(int, check_alert(&m), CP_OK), "%s", reason);
    for (size_t n = 0; n < m.len; n++) {
        uint8_t *p = malloc(n ? n : 1);

        memcpy(p, m.b, n);
        cr_assert(eq(int,
                     cp__codec_check(conf, 2, p, n, reason, sizeof(reason)),
                     CP_EDECODE),
                  "prefix %zu accepted", n);
        free(p);
    }
}

Test(codec, check_knows_every_schema_id)
{
    struct cp_event ev = make(CP_CALL_LOGGED);

    encode(raw, &ev);
    cr_assert(
        eq(int,
           cp__codec_check(conf, 1, out.data, out.len, reason, sizeof(reason)),
           CP_OK),
        "%s", reason);
    cr_assert(
        eq(int,
           cp__codec_check(conf, 3, out.data, out.len, reason, sizeof(reason)),
           CP_EDECODE));
    cr_assert(
        eq(int,
           cp__codec_check(conf, 5, out.data, out.len, reason, sizeof(reason)),
           CP_EDECODE));
    cr_assert(eq(str, reason, (char *)"unknown schema id 5"));
}
