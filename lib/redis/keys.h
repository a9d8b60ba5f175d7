/* SPDX-License-Identifier: Apache-2.0 */
/* Every Redis key and pub/sub channel crmpulse writes, reads or publishes
 * is spelled here and nowhere else; schemas/redis-keys.md is the contract
 * this mirrors, row by row.
 *
 * Per-tenant keys are "P:{T}:" followed by one of the segments below (P is
 * redis.prefix, T the tenant id). The braces make Redis Cluster hash only
 * T, so every key of a tenant lives in the tenant's slot. The hot path
 * (the counter rules, once per event) appends segments to its own buffer;
 * everything else builds a whole key with cp_key_tenant(). */
#ifndef CP_KEYS_H
#define CP_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"

/* "P:{T}:" as a printf format (prefix, tenant), for readers that build a
 * key with one format string, e.g. CP_KEY_TENANT_FMT CP_KSEG_DAY "%s". */
#define CP_KEY_TENANT_FMT "%s:{%s}:"

/* ---- segments after "P:{T}:" ---- */

/* Day counters: d:YYYY-MM-DD, and below it :manager:M, :channel:C,
 * :source:S (counter hashes), :funnel (funnel steps), :rt (histogram). */
#define CP_KSEG_DAY     "d:"
#define CP_KSEG_MANAGER "manager"
#define CP_KSEG_CHANNEL "channel"
#define CP_KSEG_SOURCE  "source"
#define CP_KSEG_FUNNEL  "funnel"
#define CP_KSEG_RT      "rt"
/* Minute counters: m:YYYY-MM-DD:HHMM (EXPIREAT minute start + retention). */
#define CP_KSEG_MINUTE "m:"
/* Churn engine, public: customer:C (hash), risk (zset), alerts:recent
 * (list). */
#define CP_KSEG_CUSTOMER      "customer:"
#define CP_KSEG_RISK          "risk"
#define CP_KSEG_ALERTS_RECENT "alerts:recent"
/* Pub/sub channels: alerts (alert JSON), live (day-counter deltas). */
#define CP_KSEG_ALERTS_CHANNEL "alerts"
#define CP_KSEG_LIVE_CHANNEL   "live"
/* Internal state: open deals, waiting conversations, open tickets, packed
 * customer state. */
#define CP_KSEG_STATE_DEALS     "state:deals"
#define CP_KSEG_STATE_WAITING   "waiting"
#define CP_KSEG_STATE_TICKETS   "state:tickets"
#define CP_KSEG_STATE_CUSTOMERS "state:customers"
/* Stored state crmpulse could not read, set aside: "<kind>:<id>" -> value. */
#define CP_KSEG_STATE_UNREADABLE "state:unreadable"
/* Per consumer group: applied:<group>, hash "<topic>:<partition>" -> the
 * next offset of that partition whose events of the tenant are applied. */
#define CP_KSEG_APPLIED "applied:"

/**
 * @brief Writes "P:{T}:<segment>" (NUL-terminated) into @p out.
 * @returns its length, or -1 if it does not fit in @p size.
 */
int cp_key_tenant(char *out, size_t size, const char *prefix,
                  const char *tenant, size_t tenant_len, const char *segment);

/**
 * @brief Appends "P:{T}:<segment><tail>" to @p out (NUL-terminated;
 *        @p tail may be NULL).
 * @returns 0, or -1 on ENOMEM.
 */
int cp_key_tenant_buf(struct cp_buf *out, const char *prefix,
                      const char *tenant, size_t tenant_len,
                      const char *segment, const char *tail);

/**
 * @brief Writes the head "P:{T}:" of every key of tenant @p tenant into
 *        @p out without formatting (the counter rules build several keys
 *        per event); @p size must hold prefix_len + tenant_len + 4.
 * @returns the head's length (not NUL-terminated).
 */
static inline size_t cp_key_tenant_head(char *out, const char *prefix,
                                        size_t prefix_len, const char *tenant,
                                        size_t tenant_len)
{
    memcpy(out, prefix, prefix_len);
    memcpy(out + prefix_len, ":{", 2);
    memcpy(out + prefix_len + 2, tenant, tenant_len);
    memcpy(out + prefix_len + 2 + tenant_len, "}:", 2);
    return prefix_len + tenant_len + 4;
}

/* ---- per consumer group (outside any tenant's slot) ---- */

/** @brief crmpulse:offsets:<group> (hash: partition -> next offset). */
int cp_key_offsets(char *out, size_t size, const char *group);
/** @brief crmpulse:fence:<group>:<topic>:<partition> (owner epoch). */
int cp_key_fence(char *out, size_t size, const char *group, const char *topic,
                 int32_t partition);
/** @brief crmpulse:watermarks:<group> (hash: partition -> event time). */
int cp_key_watermarks(char *out, size_t size, const char *group);
/** @brief crmpulse:timers:<group>:<topic>: — the timer zset of a partition
 *         is this prefix followed by the partition number. */
int cp_key_timers_prefix(char *out, size_t size, const char *group,
                         const char *topic);

#endif
