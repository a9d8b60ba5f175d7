/* SPDX-License-Identifier: Apache-2.0 */
/* The worker: consume a batch -> decode+validate (invalid -> DLQ) -> load
 * the state it needs -> apply -> DLQ acknowledged -> ONE Redis transaction
 * with counters, state and next offsets -> async Kafka offset commit. */
#ifndef CP_WORKER_H
#define CP_WORKER_H

#include <signal.h>
#include <stdint.h>

#include "common.h"
#include "config.h"

struct cp_worker_stats {
    int64_t batches; /* committed batches */
    int64_t events;  /* events applied (committed) */
    int64_t dlq;     /* messages sent to the DLQ (committed) */
    int64_t skipped; /* messages of partitions not owned, or replays */
    int64_t retries; /* batches rolled back and read again */
    int64_t out_of_range_skipped; /* messages never applied: Kafka no longer
                                     had them (offsets.out_of_range) */
    /* Time spent per phase, microseconds (monotonic clock). */
    int64_t poll_us;   /* waiting for and fetching messages */
    int64_t decode_us; /* decode, validate, DLQ hand-off, resolve state */
    int64_t load_us;   /* state round trip to Redis */
    int64_t apply_us;  /* counter rules and the churn engine */
    int64_t ack_us;    /* waiting for Kafka to acknowledge dead letters and
                          alerts (before the offsets may move past them) */
    int64_t commit_us; /* sending the transaction and blocked on its reply
                          (the reply itself overlaps the next poll) */
};

struct cp_worker;

/**
 * @brief Starts embedded Kafka if configured, connects to Redis, joins the
 *        consumer group.
 * Ownership: @p cfg is borrowed and must outlive the worker; caller owns
 *            the result; free with cp_worker_destroy().
 */
struct cp_worker *cp_worker_new(const struct cp_config *cfg, char *errstr,
                                size_t errstr_size);
/**
 * @brief Runs until *@p stop is set (then finishes the batch, commits and
 *        returns CP_OK) or worker.exit.idle.ms passes without input.
 */
cp_rc cp_worker_run(struct cp_worker *w, volatile sig_atomic_t *stop);
const struct cp_worker_stats *cp_worker_stats(const struct cp_worker *w);
/** @brief Leaves the group and frees everything; accepts NULL. */
void cp_worker_destroy(struct cp_worker *w);

#endif
