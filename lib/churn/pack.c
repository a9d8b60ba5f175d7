/* SPDX-License-Identifier: Apache-2.0 */
/* The churn state as versioned little-endian bytes (cp_churn_state_pack,
 * cp_churn_state_unpack), independent of the host's struct layout; what is
 * read back is checked as untrusted input. */
#include "churn.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "churn_int.h"

/* ------------------------------------------------------------------ */
/* Packing                                                             */

static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static uint8_t *put_f32(uint8_t *p, float f)
{
    uint32_t v;

    memcpy(&v, &f, 4);
    return put_u32(p, v);
}

static const uint8_t *get_u64(const uint8_t *p, uint64_t *v)
{
    *v = 0;
    for (int i = 0; i < 8; i++)
        *v |= (uint64_t)p[i] << (8 * i);
    return p + 8;
}

static const uint8_t *get_u32(const uint8_t *p, uint32_t *v)
{
    *v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
    return p + 4;
}

static const uint8_t *get_f32(const uint8_t *p, float *f)
{
    uint32_t v;

    p = get_u32(p, &v);
    memcpy(f, &v, 4);
    return p;
}

/* Field order of format version 1 (never reorder; add a version);
 * version 2 appends V2_I64_FIELDS after the version 1 fields. One
 * field a line: clang-format would fold these lists differently at every
 * pass. */
// clang-format off
#define I64_FIELDS(X)                                                          \
    X(landmark_ms)                                                             \
    X(first_seen_ms)                                                           \
    X(last_seen_ms)                                                            \
    X(first_order_ms)                                                          \
    X(last_order_ms)                                                           \
    X(open_sum_ms)                                                             \
    X(last_alert_ms)                                                           \
    X(last_cancel_ms)
#define U32_FIELDS(X)                                                          \
    X(orders)                                                                  \
    X(order_days)                                                              \
    X(nps_at_s)                                                                \
    X(csat_at_s)                                                               \
    X(ces_at_s)
#define F32_FIELDS(X)                                                          \
    X(ord_short)                                                               \
    X(ord_long)                                                                \
    X(amt_long)                                                                \
    X(tickets)                                                                 \
    X(wait_h)                                                                  \
    X(waits)                                                                   \
    X(missed)                                                                  \
    X(lost)                                                                    \
    X(won)                                                                     \
    X(cancels)                                                                 \
    X(mrr_lost)                                                                \
    X(renewals)                                                                \
    X(eng_short)                                                               \
    X(eng_long)                                                                \
    X(last_score)
#define V2_I64_FIELDS(X)                                                       \
    X(last_start_ms)                                                           \
    X(wait_since_ms)
// clang-format on

size_t cp_churn_state_pack(const struct cp_churn_state *st, uint8_t *buf,
                           size_t cap)
{
    uint8_t *p = buf;

    if (cap < CP_CHURN_PACKED_MAX)
        return 0;
    *p++ = PACK_VERSION;
#define X(f) p = put_u64(p, (uint64_t)st->f);
    I64_FIELDS(X)
#undef X
#define X(f) p = put_u32(p, st->f);
    U32_FIELDS(X)
#undef X
#define X(f) p = put_f32(p, st->f);
    F32_FIELDS(X)
#undef X
    *p++ = (uint8_t)(st->open_tickets & 0xff);
    *p++ = (uint8_t)(st->open_tickets >> 8);
    *p++ = (uint8_t)st->last_nps;
    *p++ = (uint8_t)st->last_csat;
    *p++ = (uint8_t)st->last_ces;
    *p++ = st->alert_level;
    *p++ = st->last_alert_lvl;
#define X(f) p = put_u64(p, (uint64_t)st->f);
    V2_I64_FIELDS(X)
#undef X
    return (size_t)(p - buf);
}

static int time_ok(int64_t t)
{
    return t == INT64_MIN || (t >= 0 && t <= AT_MAX_MS);
}

cp_rc cp_churn_state_unpack(struct cp_churn_state *st, const uint8_t *buf,
                            size_t len)
{
    struct cp_churn_state s;
    const uint8_t *p = buf;
    int version;

    cp_churn_state_init(st);
    if (!buf || len < 1)
        return CP_EDECODE;
    version = *p++;
    /* Version 1 (no last_start_ms, wait_since_ms) stays readable: a
     * customer stored before version 2 reads as one with no subscription
     * start seen and no message waiting. */
    if (!((version == 1 && len == CP_CHURN_PACKED_V1) ||
          (version == PACK_VERSION && len == CP_CHURN_PACKED_MAX)))
        return CP_EDECODE;
    cp_churn_state_init(&s);
#define X(f)                                                                   \
    {                                                                          \
        uint64_t u;                                                            \
        p = get_u64(p, &u);                                                    \
        s.f = (int64_t)u;                                                      \
    }
    I64_FIELDS(X)
#undef X
#define X(f) p = get_u32(p, &s.f);
    U32_FIELDS(X)
#undef X
#define X(f)                                                                   \
    p = get_f32(p, &s.f);                                                      \
    if (!isfinite(s.f) || s.f < 0)                                             \
        return CP_EDECODE;
    F32_FIELDS(X)
#undef X
    s.open_tickets = (uint16_t)(p[0] | p[1] << 8);
    s.last_nps = (int8_t)p[2];
    s.last_csat = (int8_t)p[3];
    s.last_ces = (int8_t)p[4];
    s.alert_level = p[5];
    s.last_alert_lvl = p[6];
    p += 7;
    if (version >= 2) {
#define X(f)                                                                   \
    {                                                                          \
        uint64_t u;                                                            \
        p = get_u64(p, &u);                                                    \
        s.f = (int64_t)u;                                                      \
    }
        V2_I64_FIELDS(X)
#undef X
    }

    if (!time_ok(s.landmark_ms) || !time_ok(s.first_seen_ms) ||
        !time_ok(s.last_seen_ms) || !time_ok(s.first_order_ms) ||
        !time_ok(s.last_order_ms) || !time_ok(s.last_alert_ms) ||
        !time_ok(s.last_cancel_ms) || !time_ok(s.last_start_ms) ||
        !time_ok(s.wait_since_ms))
        return CP_EDECODE;
    if ((s.first_seen_ms == INT64_MIN) != (s.last_seen_ms == INT64_MIN) ||
        s.first_seen_ms > s.last_seen_ms)
        return CP_EDECODE;
    if ((s.orders == 0) != (s.first_order_ms == INT64_MIN) ||
        (s.orders == 0) != (s.order_days == 0) || s.order_days > s.orders ||
        (s.first_order_ms == INT64_MIN) != (s.last_order_ms == INT64_MIN) ||
        s.first_order_ms > s.last_order_ms)
        return CP_EDECODE;
    if (s.open_sum_ms < 0 ||
        s.open_sum_ms > (int64_t)s.open_tickets * AT_MAX_MS ||
        (s.open_tickets == 0 && s.open_sum_ms != 0))
        return CP_EDECODE;
    if (s.last_score > 1 || s.last_nps < -1 || s.last_nps > 10 ||
        (s.last_csat != -1 && (s.last_csat < 1 || s.last_csat > 5)) ||
        (s.last_ces != -1 && (s.last_ces < 1 || s.last_ces > 7)) ||
        (s.last_nps < 0) != (s.nps_at_s == 0) ||
        (s.last_csat < 0) != (s.csat_at_s == 0) ||
        (s.last_ces < 0) != (s.ces_at_s == 0))
        return CP_EDECODE;
    if (s.alert_level > CP_LEVEL_CRITICAL ||
        s.last_alert_lvl > CP_LEVEL_CRITICAL)
        return CP_EDECODE;
    *st = s;
    return CP_OK;
}
