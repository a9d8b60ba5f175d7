/* SPDX-License-Identifier: Apache-2.0 */
/* The counter definitions of schemas/redis-keys.md: applies one validated event
 * to the entity state and adds its counter deltas to the batch. Two phases per
 * batch, so all state a batch needs is loaded in one round trip:
 * cp_apply_prepare() for every event, load, then cp_apply_event() in order. */
#ifndef CP_APPLY_H
#define CP_APPLY_H

#include "churn.h"
#include "civil.h"
#include "common.h"
#include "counters.h"
#include "event.h"
#include "state.h"

/** The state an event needs, resolved by cp_apply_prepare(), and what
 * cp_apply_event() tells the churn scorer about it. */
struct cp_event_refs {
    struct cp_entity *entity;   /* deal, conversation or ticket; borrowed */
    struct cp_entity *customer; /* the event's customer; borrowed */
    int32_t partition;          /* input partition (set by the caller) */
    int64_t wait_started;       /* out: a wait began at this time; -1: none */
    int64_t wait_ended; /* out: the wait that began then ended; -1: none */
};

struct cp_apply;

/**
 * Ownership: caller owns the result; free with cp_apply_destroy().
 *            @p state and @p ctr are borrowed and must outlive it.
 */
struct cp_apply *cp_apply_new(const char *prefix, struct cp_state *state,
                              struct cp_counters *ctr);
void cp_apply_destroy(struct cp_apply *ap);
/**
 * @brief Sets the worker clock of the next events (once per batch) and
 *        minute.retention: minute keys whose minute start + retention is
 *        not after @p now_ms are not written. Until called: now 0, 48 h.
 */
void cp_apply_set_clock(struct cp_apply *ap, int64_t now_ms,
                        int64_t minute_retention_ms);

/**
 * @brief Feeds the churn features of each event's customer from now on
 *        (NULL: counters only). @p model is borrowed.
 */
void cp_apply_set_model(struct cp_apply *ap,
                        const struct cp_churn_model *model);

/**
 * @brief Adds one alert to `churn_alerts` (or `sla_breaches` when
 *        @p sla) in the day and minute hashes of @p event_time and, when
 *        @p manager is not NULL, in that manager's day hash.
 */
cp_rc cp_apply_count_alert(struct cp_apply *ap, struct cp_str tenant,
                           const char *manager, int64_t event_time, int sla);

/** @brief Resolves (and queues for loading) the state @p ev needs. */
cp_rc cp_apply_prepare(struct cp_apply *ap, const struct cp_event *ev,
                       struct cp_event_refs *refs);
/** @brief Applies @p ev: its counters, its state and its customer's churn
 *         features; its entities must be loaded. Sets the out fields of
 *         @p refs. */
cp_rc cp_apply_event(struct cp_apply *ap, const struct cp_event *ev,
                     struct cp_event_refs *refs);

#endif
