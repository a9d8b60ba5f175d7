/* SPDX-License-Identifier: Apache-2.0 */
/* Malformed messages for DLQ tests: a valid encoding of a generated event,
 * then one kind of damage (bad framing, unknown schema id, truncated or
 * trailing bytes, out-of-range enum or value, bad id charset, timestamp out
 * of range, empty, ...), dealt from a shuffled deck so every kind comes up.
 * Driven by its own PRNG, so --invalid leaves the valid stream unchanged. */
#include "gen.h"

#include <stdlib.h>
#include <string.h>

#include "gen_int.h"

/* ---- malformed messages ---- */

enum inv_kind {
    INV_EMPTY = 0,
    INV_BAD_MAGIC,
    INV_TOO_SHORT,
    INV_UNKNOWN_ID,
    INV_ALERT_ID,
    INV_TRUNCATED,
    INV_TRAILING,
    INV_RANDOM_BODY,
    INV_CUSTOMER_SPACE,
    INV_TENANT_65,
    INV_MANAGER_EMPTY,
    INV_EVENT_ID_CTRL,
    INV_EVENT_ID_UTF8,
    INV_TIME_1999,
    INV_TIME_FUTURE,
    INV_NEG_AMOUNT,
    INV_STAGE_ORDER_64,
    INV_NPS_11,
    INV_CSAT_0,
    INV_CES_8,
    INV_STAGE_DOT,
    INV_ENUM_RANGE,
    INV_BOOL_2,
    INV_HUGE_LEN,
    INV_UNION_RANGE,
    INV_ENTITY_129,
    INV_KIND_CNT
};

_Static_assert(INV_KIND_CNT <= sizeof(((struct cp_gen *)0)->deck),
               "the deck holds every kind");

static const char *const inv_labels[INV_KIND_CNT] = {
    [INV_EMPTY] = "empty",
    [INV_BAD_MAGIC] = "bad-magic",
    [INV_TOO_SHORT] = "too-short",
    [INV_UNKNOWN_ID] = "unknown-schema-id",
    [INV_ALERT_ID] = "alert-schema-id",
    [INV_TRUNCATED] = "truncated",
    [INV_TRAILING] = "trailing-byte",
    [INV_RANDOM_BODY] = "random-body",
    [INV_CUSTOMER_SPACE] = "customer-id-space",
    [INV_TENANT_65] = "tenant-id-65-chars",
    [INV_MANAGER_EMPTY] = "manager-id-empty",
    [INV_EVENT_ID_CTRL] = "event-id-control-char",
    [INV_EVENT_ID_UTF8] = "event-id-bad-utf8",
    [INV_TIME_1999] = "occurred-at-1999",
    [INV_TIME_FUTURE] = "occurred-at-future",
    [INV_NEG_AMOUNT] = "negative-amount",
    [INV_STAGE_ORDER_64] = "stage-order-64",
    [INV_NPS_11] = "nps-11",
    [INV_CSAT_0] = "csat-0",
    [INV_CES_8] = "ces-8",
    [INV_STAGE_DOT] = "stage-name-dot",
    [INV_ENUM_RANGE] = "enum-out-of-range",
    [INV_BOOL_2] = "boolean-2",
    [INV_HUGE_LEN] = "huge-string-length",
    [INV_UNION_RANGE] = "union-out-of-range",
    [INV_ENTITY_129] = "entity-id-129-bytes",
};

static const char *const entity_prefix[CP_PAYLOAD_KIND_CNT] = {
    [CP_LEAD_CREATED] = "d",
    [CP_STAGE_CHANGED] = "d",
    [CP_DEAL_CLOSED] = "d",
    [CP_ORDER_PLACED] = "o",
    [CP_MESSAGE_RECEIVED] = "conv",
    [CP_MESSAGE_SENT] = "conv",
    [CP_CALL_LOGGED] = "call",
    [CP_TICKET_OPENED] = "t",
    [CP_TICKET_RESOLVED] = "t",
    [CP_SURVEY_ANSWERED] = NULL,
    [CP_SUBSCRIPTION_CHANGED] = "sub",
    [CP_WEB_VISIT] = "s",
};

/* A valid event of @p kind for a random customer, built without touching
 * the stream's state; strings live in gen->inv. */
static void invalid_base(struct cp_gen *gen, struct cp_event *ev,
                         enum cp_payload_kind kind)
{
    struct gen_rng *r = &gen->inv_rng;
    uint64_t c = rng_below(r, gen->cfg.customers);
    int64_t t = cp__gen_stream_time(gen);

    memset(ev, 0, sizeof(*ev));
    ev->kind = kind;
    ev->occurred_at = t < CP_MIN_OCCURRED_AT_MS ? CP_MIN_OCCURRED_AT_MS : t;
    cp__gen_set_identity(gen, r, &gen->inv, ev, c, (uint8_t)rng_below(r, 256),
                         CP_CHANNEL_CHAT);
    if (entity_prefix[kind])
        cp__gen_set_entity(&gen->inv, ev, entity_prefix[kind],
                           rng_range(r, 1, 999));
    switch (kind) {
    case CP_LEAD_CREATED:
        ev->label =
            mkstr(cp__gen_lead_sources[0], strlen(cp__gen_lead_sources[0]));
        break;
    case CP_STAGE_CHANGED:
        ev->stage_order = (int32_t)rng_range(r, 1, GEN_STAGE_LAST);
        ev->label = mkstr(cp__gen_stage_names[ev->stage_order],
                          strlen(cp__gen_stage_names[ev->stage_order]));
        break;
    case CP_DEAL_CLOSED:
        ev->won = rng_pm(r, 500);
        ev->amount = cp__gen_pick_amount(r, 100000);
        break;
    case CP_ORDER_PLACED:
        ev->amount = cp__gen_pick_amount(r, 10000);
        break;
    case CP_CALL_LOGGED:
        cp__gen_call(r, ev);
        break;
    case CP_SURVEY_ANSWERED:
        ev->survey_kind = CP_SURVEY_CSAT;
        ev->score = 3;
        break;
    case CP_SUBSCRIPTION_CHANGED:
        ev->sub_action = CP_SUB_RENEWED;
        ev->amount = 4900;
        break;
    default:
        break;
    }
}

static cp_rc encode_into(struct cp_codec *codec, const struct cp_event *ev,
                         struct cp_buf *b)
{
    cp_buf_reset(b);
    return cp_codec_encode_event(codec, ev, b);
}

/* Encodes @p a and @p b (same shape, one field differs) into the scratch
 * buffers and finds the byte that holds the field. Leaves a's encoding in
 * scratch[0]. @returns the offset, or -1. */
static long find_field_byte(struct cp_gen *gen, struct cp_codec *codec,
                            const struct cp_event *a, const struct cp_event *b)
{
    struct cp_buf *x = &gen->scratch[0];
    struct cp_buf *y = &gen->scratch[1];

    if (encode_into(codec, b, y) || encode_into(codec, a, x) ||
        x->len != y->len)
        return -1;
    for (size_t i = 0; i < x->len; i++) {
        if (x->data[i] != y->data[i])
            return (long)i;
    }
    return -1;
}

/* An id-like string that breaks the rules: 65 name characters. */
static struct cp_str long_name(struct gen_rng *r, char *dst, size_t len)
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";

    for (size_t i = 0; i < len; i++)
        dst[i] = alnum[rng_below(r, sizeof(alnum) - 1)];
    return mkstr(dst, len);
}

/* A copy of @p s with one byte at a random position replaced by @p bad
 * (1 or 2 bytes). */
static struct cp_str with_bad_byte(struct gen_rng *r, char *dst,
                                   struct cp_str s, const char *bad,
                                   size_t bad_len)
{
    size_t pos = (size_t)rng_below(r, s.len);

    memcpy(dst, s.ptr, pos);
    memcpy(dst + pos, bad, bad_len);
    memcpy(dst + pos + bad_len, s.ptr + pos + 1, s.len - pos - 1);
    return mkstr(dst, s.len - 1 + bad_len);
}

static enum inv_kind deal_kind(struct cp_gen *gen)
{
    struct gen_rng *r = &gen->inv_rng;
    enum inv_kind k;

    if (gen->deck_pos == 0) {
        for (int i = 0; i < INV_KIND_CNT; i++)
            gen->deck[i] = (uint8_t)i;
        for (int i = INV_KIND_CNT - 1; i > 0; i--) {
            int j = (int)rng_below(r, (uint64_t)i + 1);
            uint8_t tmp = gen->deck[i];

            gen->deck[i] = gen->deck[j];
            gen->deck[j] = tmp;
        }
    }
    k = (enum inv_kind)gen->deck[gen->deck_pos];
    gen->deck_pos = (gen->deck_pos + 1) % INV_KIND_CNT;
    return k;
}

/* Builds the damaged bytes into gen->scratch[0]. @returns 0, or -1 when the
 * codec failed (the caller falls back to an empty value). */
static int build_invalid(struct cp_gen *gen, struct cp_codec *codec,
                         enum inv_kind *kindp)
{
    struct gen_rng *r = &gen->inv_rng;
    struct cp_buf *b = &gen->scratch[0];
    struct cp_buf *y = &gen->scratch[1];
    struct cp_event ev, ev2;
    enum inv_kind kind = *kindp;
    size_t body;
    long pos;
    int framed;

    /* Every kind starts from a valid encoding; the framing decides where
     * the Avro body begins (a raw body never starts with 0x00, because an
     * empty event_id is not valid). */
    invalid_base(gen, &ev,
                 (enum cp_payload_kind)rng_below(r, CP_PAYLOAD_KIND_CNT));
    if (encode_into(codec, &ev, b) || b->len < 6)
        return -1;
    framed = b->data[0] == 0;
    body = framed ? 5 : 0;
    if (!framed) {
        /* Raw Avro has no header to damage: other damage instead. */
        if (kind == INV_BAD_MAGIC || kind == INV_UNKNOWN_ID)
            kind = INV_HUGE_LEN;
        else if (kind == INV_ALERT_ID)
            kind = INV_UNION_RANGE;
    }
    *kindp = kind;

    switch (kind) {
    case INV_EMPTY:
        b->len = 0;
        return 0;
    case INV_BAD_MAGIC:
        b->data[0] = (char)rng_range(r, 1, 255);
        return 0;
    case INV_TOO_SHORT:
        b->len = (size_t)rng_range(r, 1, 4);
        return 0;
    case INV_UNKNOWN_ID:
    case INV_ALERT_ID:
        b->data[1] = b->data[2] = b->data[3] = 0;
        b->data[4] = kind == INV_ALERT_ID ? 2 : 99;
        return 0;
    case INV_TRUNCATED:
        b->len = (size_t)rng_range(r, 5, (int64_t)b->len - 1);
        return 0;
    case INV_TRAILING: {
        char g = (char)rng_below(r, 256);

        return cp_buf_append(b, &g, 1) ? -1 : 0;
    }
    case INV_RANDOM_BODY: {
        /* Random bytes, but the event_id length is odd in zigzag, that is
         * negative, so no reader can take them for an event. */
        size_t n = (size_t)rng_range(r, 1, 64);

        b->len = body;
        if (cp_buf_reserve(b, n))
            return -1;
        for (size_t i = 0; i < n; i++)
            b->data[b->len++] = (char)rng_below(r, 256);
        b->data[body] = (char)(b->data[body] | 1);
        return 0;
    }
    case INV_HUGE_LEN: {
        /* event_id claims ~16 GiB (the 36-byte id's length is one byte). */
        static const char huge[5] = {(char)0xfe, (char)0xff, (char)0xff,
                                     (char)0xff, 0x7f};

        cp_buf_reset(y);
        if (cp_buf_append(y, b->data, body) || cp_buf_append(y, huge, 5) ||
            cp_buf_append(y, b->data + body + 1, b->len - body - 1))
            return -1;
        cp_buf_reset(b);
        return cp_buf_append(b, y->data, y->len) ? -1 : 0;
    }
    case INV_UNION_RANGE:
        invalid_base(gen, &ev, CP_MESSAGE_RECEIVED);
        ev2 = ev;
        ev2.kind = CP_MESSAGE_SENT;
        pos = find_field_byte(gen, codec, &ev, &ev2);
        if (pos < 0)
            return -1;
        b->data[pos] = (char)(2 * rng_range(r, CP_PAYLOAD_KIND_CNT, 63));
        return 0;
    case INV_ENUM_RANGE: {
        int which = (int)rng_below(r, 3);

        if (which == 0) {
            invalid_base(gen, &ev, CP_WEB_VISIT);
            ev.channel = CP_CHANNEL_PHONE;
            ev2 = ev;
            ev2.channel = CP_CHANNEL_IN_PERSON;
        } else if (which == 1) {
            invalid_base(gen, &ev, CP_SURVEY_ANSWERED);
            ev.survey_kind = CP_SURVEY_NPS;
            ev2 = ev;
            ev2.survey_kind = CP_SURVEY_CES;
        } else {
            invalid_base(gen, &ev, CP_SUBSCRIPTION_CHANGED);
            ev.sub_action = CP_SUB_STARTED;
            ev2 = ev;
            ev2.sub_action = CP_SUB_CANCELLED;
        }
        pos = find_field_byte(gen, codec, &ev, &ev2);
        if (pos < 0)
            return -1;
        /* zigzag: index k is the byte 2k; channel has 7 symbols, the
         * others 3. */
        b->data[pos] =
            (char)(2 * rng_range(r, which == 0 ? CP_CHANNEL_CNT : 3, 63));
        return 0;
    }
    case INV_BOOL_2:
        invalid_base(gen, &ev, CP_DEAL_CLOSED);
        ev.won = false;
        ev2 = ev;
        ev2.won = true;
        pos = find_field_byte(gen, codec, &ev, &ev2);
        if (pos < 0)
            return -1;
        b->data[pos] = 2;
        return 0;
    default:
        break;
    }

    /* Rule violations: a well-formed encoding of a bad value. */
    switch (kind) {
    case INV_CUSTOMER_SPACE:
        ev.customer_id = with_bad_byte(r, gen->inv.bad, ev.customer_id, " ", 1);
        break;
    case INV_TENANT_65:
        ev.tenant_id = long_name(r, gen->inv.bad, CP_NAME_MAX + 1);
        break;
    case INV_MANAGER_EMPTY:
        ev.manager_id = mkstr(gen->inv.bad, 0);
        break;
    case INV_EVENT_ID_CTRL: {
        static const char ctrl[] = {0x01, 0x09, 0x0a, 0x1b, 0x1f, 0x7f};
        char cc = ctrl[rng_below(r, sizeof(ctrl))];

        ev.event_id = with_bad_byte(r, gen->inv.bad, ev.event_id, &cc, 1);
        break;
    }
    case INV_EVENT_ID_UTF8: {
        /* A lone continuation byte, a never-valid byte, a truncated
         * 2-byte sequence, an overlong '/', or U+0085 (a C1 control). */
        static const char *const bad[] = {"\x80", "\xff", "\xc3", "\xc0\xaf",
                                          "\xc2\x85"};
        static const size_t bad_len[] = {1, 1, 1, 2, 2};
        size_t k = (size_t)rng_below(r, CP_ARRAY_SIZE(bad));

        if (k == 2) {
            /* truncated sequence: put it last so nothing completes it */
            memcpy(gen->inv.bad, ev.event_id.ptr, ev.event_id.len - 1);
            gen->inv.bad[ev.event_id.len - 1] = bad[k][0];
            ev.event_id = mkstr(gen->inv.bad, ev.event_id.len);
        } else {
            ev.event_id =
                with_bad_byte(r, gen->inv.bad, ev.event_id, bad[k], bad_len[k]);
        }
        break;
    }
    case INV_TIME_1999:
        ev.occurred_at = 915148800000LL + rng_range(r, 0, 364LL * 86400000);
        break;
    case INV_TIME_FUTURE:
        ev.occurred_at = cp_now_ms() + 3LL * 86400000;
        break;
    case INV_NEG_AMOUNT: {
        static const enum cp_payload_kind kinds[] = {
            CP_DEAL_CLOSED, CP_ORDER_PLACED, CP_SUBSCRIPTION_CHANGED,
            CP_CALL_LOGGED};

        invalid_base(gen, &ev, kinds[rng_below(r, CP_ARRAY_SIZE(kinds))]);
        ev.amount = -rng_range(r, 1, 1000000);
        break;
    }
    case INV_STAGE_ORDER_64:
        invalid_base(gen, &ev, CP_STAGE_CHANGED);
        ev.stage_order = 64;
        break;
    case INV_NPS_11:
    case INV_CSAT_0:
    case INV_CES_8:
        invalid_base(gen, &ev, CP_SURVEY_ANSWERED);
        ev.survey_kind = kind == INV_NPS_11   ? CP_SURVEY_NPS
                         : kind == INV_CSAT_0 ? CP_SURVEY_CSAT
                                              : CP_SURVEY_CES;
        ev.score = kind == INV_NPS_11 ? 11 : kind == INV_CSAT_0 ? 0 : 8;
        break;
    case INV_STAGE_DOT: {
        size_t n;

        invalid_base(gen, &ev, CP_STAGE_CHANGED);
        n = fmt_str(gen->inv.bad, cp__gen_stage_names[ev.stage_order]);
        n += fmt_str(gen->inv.bad + n, ".v2");
        ev.label = mkstr(gen->inv.bad, n);
        break;
    }
    case INV_ENTITY_129:
        invalid_base(gen, &ev, CP_ORDER_PLACED);
        ev.entity_id = long_name(r, gen->inv.bad, CP_ID_MAX + 1);
        break;
    default:
        return -1;
    }
    return encode_into(codec, &ev, b) ? -1 : 0;
}

const char *cp_gen_invalid(struct cp_gen *gen, struct cp_codec *codec,
                           struct cp_buf *out)
{
    enum inv_kind kind = deal_kind(gen);

    if (build_invalid(gen, codec, &kind)) {
        /* An empty value is invalid too, and needs no codec. */
        return inv_labels[INV_EMPTY];
    }
    if (cp_buf_append(out, gen->scratch[0].data, gen->scratch[0].len))
        return inv_labels[INV_EMPTY];
    return inv_labels[kind];
}
