/* SPDX-License-Identifier: Apache-2.0 */
/* The churn scorer inside the batch loop: per-partition event-time
 * watermarks, persistent timers (customer silence, response SLA), the
 * alert decisions and everything they write (schemas/churn-model.md,
 * schemas/redis-keys.md). Effectively once like the counters: its writes go
 * into the batch's transaction, and the same input log gives the same
 * alerts with the same ids, whatever the batch boundaries (time.idle_advance
 * aside, which follows the wall clock, and events stamped past the clock +
 * time.max_skew, which move time only that far).
 *
 * Per batch: cp_scorer_batch_begin(), cp_scorer_note_message() for each
 * message, prefetch round trips (stored watermarks, due timers) until
 * cp_scorer_prefetch_cmds() returns 0, the state load, then for each event
 * in order cp_scorer_before_event() / cp_apply_event() /
 * cp_scorer_after_event(), then cp_scorer_batch_end(); at commit the alerts
 * go to Kafka, cp_scorer_write() into the transaction, and after EXEC the
 * PUBLISH commands of cp_scorer_publish_cmds(). */
#ifndef CP_SCORER_H
#define CP_SCORER_H

#include <stdint.h>

#include "alert.h"
#include "apply.h"
#include "churn.h"
#include "common.h"
#include "resp.h"
#include "state.h"

/** Partitions of the input topic the scorer can track. */
#define CP_SCORER_MAX_PARTITIONS CP_PARTITIONS_MAX

struct cp_scorer_cfg {
    const char *prefix;          /* redis.prefix */
    const char *group;           /* kafka.group.id */
    const char *topic;           /* topic.events */
    int64_t allowed_lateness_ms; /* time.allowed_lateness */
    int64_t idle_advance_ms;     /* time.idle_advance; 0 = off */
    int64_t max_skew_ms;         /* time.max_skew: event times past the worker
                                    clock + this do not move a watermark further */
    const struct cp_churn_model *model; /* borrowed */
    int counters_only; /* churn.enabled = false: no customer is scored */
};

struct cp_scorer;

/**
 * Ownership: caller owns the result (cp_scorer_destroy()); @p cfg's
 *            strings are copied; the model, @p state and @p ap are
 *            borrowed and must outlive the scorer.
 */
struct cp_scorer *cp_scorer_new(const struct cp_scorer_cfg *cfg,
                                struct cp_state *state, struct cp_apply *ap);
void cp_scorer_destroy(struct cp_scorer *sc);

/** @brief Partition @p p is ours from now on (its stored watermark and
 *         timers are read before its next batch). */
void cp_scorer_assign(struct cp_scorer *sc, int32_t p, int64_t wall_now);
/** @brief Partition @p p is no longer ours. */
void cp_scorer_revoke(struct cp_scorer *sc, int32_t p);

/** @brief Starts a batch; @p wall_now is the worker clock (idle advance). */
void cp_scorer_batch_begin(struct cp_scorer *sc, int64_t wall_now);
/** @brief A message of partition @p p (valid or not) is in the batch;
 *         @p occurred_at is its event time, or INT64_MIN if invalid. */
void cp_scorer_note_message(struct cp_scorer *sc, int32_t p,
                            int64_t occurred_at);
/**
 * @brief Appends the next prefetch round's commands (stored watermarks,
 *        earliest timers, due timers); 0 when nothing is left to read.
 *        Feed every reply to cp_scorer_prefetch_reply() in order.
 */
size_t cp_scorer_prefetch_cmds(struct cp_scorer *sc, struct cp_cmds *cmds);
cp_rc cp_scorer_prefetch_reply(struct cp_scorer *sc, size_t i,
                               const struct cp_reply *reply);

/** @brief Moves the partition's watermark to the event and fires the
 *         timers it passed (and its customer's, if scored earlier in the
 *         batch), before the event applies. */
cp_rc cp_scorer_before_event(struct cp_scorer *sc, const struct cp_event *ev,
                             const struct cp_event_refs *refs);
/** @brief For an event the batch does not apply (its tenant committed it
 *         already, checkpoint.h): moves the partition's watermark as
 *         cp_scorer_before_event() does and fires the timers it passes. */
cp_rc cp_scorer_skip_event(struct cp_scorer *sc, const struct cp_event *ev,
                           int32_t partition);
/** @brief Moves the watermark, scores the event's customer, alerts, sets
 *         the customer's silence timer and the conversation's SLA timer. */
cp_rc cp_scorer_after_event(struct cp_scorer *sc, const struct cp_event *ev,
                            const struct cp_event_refs *refs);
/** @brief Fires what the batch's final watermarks passed. */
cp_rc cp_scorer_batch_end(struct cp_scorer *sc);

/** @brief Alerts of the batch, in the order they were decided. */
size_t cp_scorer_alert_cnt(const struct cp_scorer *sc);
const struct cp_alert *cp_scorer_alert(const struct cp_scorer *sc, size_t i);
/** @brief "tenant:customer" of alert @p i (its Kafka key). */
const char *cp_scorer_alert_key(const struct cp_scorer *sc, size_t i);

/** @returns 1 if the batch has something to write even with no message
 *           (an idle tick fired timers or moved a watermark). */
int cp_scorer_has_writes(const struct cp_scorer *sc);
/** @brief Appends the batch's writes to the transaction: customer hashes
 *         whose visible fields changed, `risk`, timers, `alerts:recent`,
 *         watermarks. Call before cp_state_write_dirty(). */
void cp_scorer_write(struct cp_scorer *sc, struct cp_cmds *cmds);
/** @brief Appends one PUBLISH per alert (send after EXEC succeeded). */
void cp_scorer_publish_cmds(struct cp_scorer *sc, struct cp_cmds *cmds);
/** @brief The batch's transaction landed. */
void cp_scorer_commit_done(struct cp_scorer *sc);
/** @brief The batch failed: forget it (watermarks back to the last commit). */
void cp_scorer_rollback(struct cp_scorer *sc);

/** @returns 1 when an idle partition's watermark would pass a timer (or
 *           is unknown) by the wall clock: worth a batch with no message. */
int cp_scorer_idle_tick_due(const struct cp_scorer *sc, int64_t wall_now);
/** @brief Values read back from Redis that were not crmpulse's (timer
 *         members, scores, watermarks), dropped by committed batches. */
uint64_t cp_scorer_unreadable_cnt(const struct cp_scorer *sc);
/** @brief Watermark of @p p (ms), INT64_MIN if none, for metrics. */
int64_t cp_scorer_watermark(const struct cp_scorer *sc, int32_t p);

#endif
