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
 * (DESIGN.md "Counter fields"), in contract order. */
enum cp_field {
    CP_F_EVENTS = 0,
    CP_F_LEADS,
    CP_F_WEB_VISITS,
    CP_F_DEALS_WON,
    CP_F_DEALS_LOST,
    CP_F_WON_AMOUNT_MINOR,
    CP_F_DEAL_CYCLE_MS_SUM,
    CP_F_DEAL_CYCLE_COUNT,
    CP_F_ORDERS,
    CP_F_FIRST_ORDERS,
    CP_F_REPEAT_ORDERS,
    CP_F_ORDER_AMOUNT_MINOR,
    CP_F_MESSAGES_IN,
    CP_F_MESSAGES_OUT,
    CP_F_RESPONSES,
    CP_F_RESPONSE_MS_SUM,
    CP_F_CALLS,
    CP_F_CALLS_INBOUND,
    CP_F_CALLS_MISSED,
    CP_F_CALL_MS_SUM,
    CP_F_TICKETS_OPENED,
    CP_F_TICKETS_RESOLVED,
    CP_F_RESOLUTION_MS_SUM,
    CP_F_NPS_PROMOTERS,
    CP_F_NPS_PASSIVES,
    CP_F_NPS_DETRACTORS,
    CP_F_CSAT_COUNT,
    CP_F_CSAT_SUM,
    CP_F_CSAT_SATISFIED,
    CP_F_CES_COUNT,
    CP_F_CES_SUM,
    CP_F_SUBS_STARTED,
    CP_F_SUBS_RENEWED,
    CP_F_SUBS_CANCELLED,
    CP_F_MRR_CANCELLED_MINOR,
    CP_F_CHURN_ALERTS,
    CP_F_SLA_BREACHES,
    CP_F_CNT
};

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
