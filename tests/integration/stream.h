/* SPDX-License-Identifier: Apache-2.0 */
/* A generated stream through the real worker, checked by the oracle: the
 * pieces every failure test repeats (produce with crmpulse-gen, spawn a
 * worker against a test-owned Kafka and a scratch redis-server, wait for
 * it, count what a dump holds, compare Redis with tests/integration/
 * oracle.py). Built on harness.h; every function asserts on failure. */
#ifndef CP_STREAM_H
#define CP_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "harness.h"

struct cp_embedded;

/**
 * @brief Starts the test's embedded Kafka with the worker's topics
 *        (crm.events, crm.alerts, crm.events.dlq), @p partitions each;
 *        *bootstrap gets its address (valid until h_kafka_stop()).
 */
struct cp_embedded *h_kafka_start(int partitions, const char **bootstrap);
/** @brief Stops it and sets *emb to NULL. */
void h_kafka_stop(struct cp_embedded **emb);

/**
 * @brief Produces @p n valid events (and @p invalid_per_mille malformed
 *        ones per 1000, e.g. "5") over 5000 customers of 3 tenants with
 *        event times from @p start_ms, 5 ms apart, to crm.events on
 *        @p bootstrap; keeps a copy in the dump file @p dump.
 */
void h_produce(const char *bootstrap, const char *dump, const char *seed,
               long n, int64_t start_ms, const char *invalid_per_mille);

/**
 * @brief Starts producing as h_produce() does, paced at @p rate events/s,
 *        and returns at once; h_produce_wait() waits for the end.
 */
pid_t h_produce_paced(const char *bootstrap, const char *dump, const char *seed,
                      long n, int64_t start_ms, const char *invalid_per_mille,
                      long rate);
/** @brief Waits up to @p timeout_s for a h_produce_paced() to exit 0. */
void h_produce_wait(pid_t pid, int timeout_s);

/** @brief The worker's clock when the first stream was produced: the
 *         oracle's --processed-from (minute keys older than 48 h before it
 *         are not written). */
int64_t h_produced_at_ms(void);

/** @brief Messages (valid and invalid) in a dump; *invalid += the invalid
 *         ones. */
int64_t h_dump_count(const char *dump, int64_t *invalid);

/**
 * @brief Starts the crmpulse worker on @p bootstrap and @p r in consumer
 *        group @p group, exiting after 8 s idle, no HTTP endpoint, event
 *        time only; @p extras: NULL or a NULL-terminated list of further
 *        "name=value" settings (passed as -X).
 */
pid_t h_worker_spawn(const char *bootstrap, const struct h_redis *r,
                     const char *group, const char *log,
                     const char *const *extras);
/** @brief Waits up to @p timeout_s for the worker to exit 0 (asserts; the
 *         log's tail is printed otherwise). */
void h_worker_wait_done(pid_t pid, const char *log, int timeout_s);

/** @brief Sum of the committed offsets of @p group in Redis. */
int64_t h_offsets_sum(const struct h_redis *r, const char *group);
/** @brief Waits (up to 2 min) until @p group has committed @p target
 *         messages; returns how many it had. */
int64_t h_wait_for_commits(const struct h_redis *r, const char *group,
                           int64_t target);

struct cp_dead_letter;

/** What h_read_dlq() found: distinct source messages and all records (a
 *  retried batch may send a dead letter twice: the DLQ is at least once). */
struct h_dlq_seen {
    int64_t distinct;
    int64_t records;
};

/**
 * @brief Reads crm.events.dlq of @p bootstrap (a new group named after
 *        @p group_hint) until @p expected distinct source messages were
 *        seen and 3 s passed without a record (30 s if fewer). Every
 *        record must decode and name a source partition below
 *        @p partitions; @p on_letter (may be NULL) sees each one.
 */
void h_read_dlq(const char *bootstrap, const char *group_hint, int partitions,
                int64_t expected, struct h_dlq_seen *seen,
                void (*on_letter)(const struct cp_dead_letter *dl,
                                  void *opaque),
                void *opaque);

/**
 * @brief Runs the oracle over @p dumps against @p r, with @p dlq_cnt
 *        invalid messages expected and the alerts read back from
 *        crm.alerts of @p bootstrap; asserts it found no mismatch.
 */
void h_oracle_check(const char *bootstrap, const struct h_redis *r,
                    const char *const *dumps, size_t dump_cnt, int64_t dlq_cnt);

/** @brief Seconds since @p t0 (CLOCK_MONOTONIC). */
double h_elapsed_s(const struct timespec *t0);

#endif
