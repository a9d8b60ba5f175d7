/* SPDX-License-Identifier: Apache-2.0 */
/* Counter deltas of one batch, coalesced in memory per (Redis key, field),
 * then written as one HINCRBY per dirty field (plus one EXPIREAT per minute
 * hash) inside the batch's transaction. */
#ifndef CP_COUNTERS_H
#define CP_COUNTERS_H

#include <stdint.h>

#include "common.h"
#include "resp.h"

/* The counter fields of day, minute, manager, channel and source hashes
 * (schemas/redis-keys.md "Counter fields"), in contract order: one list
 * gives the enum and the names written to Redis. */
#define CP_COUNTER_FIELDS(X)                                                   \
    X(EVENTS, "events")                                                        \
    X(LEADS, "leads")                                                          \
    X(WEB_VISITS, "web_visits")                                                \
    X(DEALS_WON, "deals_won")                                                  \
    X(DEALS_LOST, "deals_lost")                                                \
    X(WON_AMOUNT_MINOR, "won_amount_minor")                                    \
    X(DEAL_CYCLE_MS_SUM, "deal_cycle_ms_sum")                                  \
    X(DEAL_CYCLE_COUNT, "deal_cycle_count")                                    \
    X(ORDERS, "orders")                                                        \
    X(FIRST_ORDERS, "first_orders")                                            \
    X(REPEAT_ORDERS, "repeat_orders")                                          \
    X(ORDER_AMOUNT_MINOR, "order_amount_minor")                                \
    X(MESSAGES_IN, "messages_in")                                              \
    X(MESSAGES_OUT, "messages_out")                                            \
    X(RESPONSES, "responses")                                                  \
    X(RESPONSE_MS_SUM, "response_ms_sum")                                      \
    X(CALLS, "calls")                                                          \
    X(CALLS_INBOUND, "calls_inbound")                                          \
    X(CALLS_MISSED, "calls_missed")                                            \
    X(CALL_MS_SUM, "call_ms_sum")                                              \
    X(TICKETS_OPENED, "tickets_opened")                                        \
    X(TICKETS_RESOLVED, "tickets_resolved")                                    \
    X(RESOLUTION_MS_SUM, "resolution_ms_sum")                                  \
    X(NPS_PROMOTERS, "nps_promoters")                                          \
    X(NPS_PASSIVES, "nps_passives")                                            \
    X(NPS_DETRACTORS, "nps_detractors")                                        \
    X(CSAT_COUNT, "csat_count")                                                \
    X(CSAT_SUM, "csat_sum")                                                    \
    X(CSAT_SATISFIED, "csat_satisfied")                                        \
    X(CES_COUNT, "ces_count")                                                  \
    X(CES_SUM, "ces_sum")                                                      \
    X(SUBS_STARTED, "subs_started")                                            \
    X(SUBS_RENEWED, "subs_renewed")                                            \
    X(SUBS_CANCELLED, "subs_cancelled")                                        \
    X(MRR_CANCELLED_MINOR, "mrr_cancelled_minor")                              \
    X(CHURN_ALERTS, "churn_alerts")                                            \
    X(SLA_BREACHES, "sla_breaches")

#define CP_F_ENUM_(id, name) CP_F_##id,
enum cp_field { CP_COUNTER_FIELDS(CP_F_ENUM_) CP_F_CNT };
#undef CP_F_ENUM_

/* Response-time histogram buckets (upper bounds in seconds); the last is
 * "binf". */
#define CP_RT_BUCKET_CNT 14
extern const int64_t cp_rt_bounds_s[CP_RT_BUCKET_CNT - 1];

enum cp_hash_kind {
    CP_HASH_COUNTERS = 0, /* day, manager, channel, source: enum cp_field */
    CP_HASH_MINUTE,       /* like COUNTERS, plus EXPIREAT (minute.retention) */
    CP_HASH_RT,           /* histogram: bucket index */
    CP_HASH_NAMED,        /* funnel: free field names */
};

/* minute.retention's default: a minute key lives 48 h after its minute's
 * start (schemas/redis-keys.md). */
#define CP_MINUTE_RETENTION_MS (48LL * 3600 * 1000)

/** @brief Contract name of a field ("response_ms_sum"). */
const char *cp_field_name(enum cp_field field);
/** @brief Histogram bucket index for a response time (ms, >= 0). */
int cp_rt_bucket(int64_t response_ms);
/** @brief Histogram field name of a bucket index ("b60", "binf"). */
const char *cp_rt_field_name(int bucket);

struct cp_counters;
struct cp_hash_delta; /* the deltas of one Redis hash in this batch */

/** Ownership: caller owns the result; free with cp_counters_destroy(). */
struct cp_counters *cp_counters_new(void);
void cp_counters_destroy(struct cp_counters *ctr);

/**
 * @brief The delta slot of Redis hash @p key, created on first use.
 * @returns NULL on ENOMEM. Valid until cp_counters_reset().
 */
struct cp_hash_delta *cp_counters_hash(struct cp_counters *ctr, const char *key,
                                       size_t key_len, enum cp_hash_kind kind);
/** @brief Adds @p delta to fixed field @p field (enum cp_field or bucket). */
void cp_hash_add(struct cp_hash_delta *hd, int field, int64_t delta);
/** @brief Sets the EXPIREAT time (unix seconds) of a CP_HASH_MINUTE hash. */
void cp_hash_set_expire_at(struct cp_hash_delta *hd, int64_t unix_s);
/** @brief Adds @p delta to a named field of a CP_HASH_NAMED hash. */
cp_rc cp_hash_add_named(struct cp_counters *ctr, struct cp_hash_delta *hd,
                        const char *field, size_t field_len, int64_t delta);

/** @brief Appends HINCRBY (and EXPIRE) commands for every touched field. */
void cp_counters_write(const struct cp_counters *ctr, struct cp_cmds *cmds);
/**
 * @brief The pending delta of @p field in hash @p key (fixed or named
 *        field), 0 if untouched; *touched tells whether it was touched.
 */
int64_t cp_counters_get(const struct cp_counters *ctr, const char *key,
                        const char *field, int *touched);
/** Called per touched fixed field: @p field is an enum cp_field (or a
 * bucket index for CP_HASH_RT). */
typedef void (*cp_field_visit_fn)(void *opaque, const char *key, size_t key_len,
                                  int field, int64_t delta);
/** @brief Visits every touched field of the batch's hashes of @p kind. */
void cp_counters_visit_fields(const struct cp_counters *ctr,
                              enum cp_hash_kind kind, cp_field_visit_fn fn,
                              void *opaque);
/** @brief Number of Redis hashes touched in this batch. */
size_t cp_counters_hash_cnt(const struct cp_counters *ctr);
/** @brief Forgets all deltas, keeping memory for the next batch. */
void cp_counters_reset(struct cp_counters *ctr);

#endif
