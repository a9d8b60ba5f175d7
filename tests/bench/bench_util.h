/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by the benchmark programs: clocks, -X option lists,
 * and a plain librdkafka consumer that reads whole topics by assignment
 * (no group join), so the baselines measure only fetching. */
#ifndef CP_BENCH_UTIL_H
#define CP_BENCH_UTIL_H

#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "common.h" /* cp_mono_us(), cp_now_ms() */

#define BENCH_MAX_PROPS      64
#define BENCH_MAX_PARTITIONS 4096

/** Monotonic clock in nanoseconds, for timing in-memory passes. */
int64_t bench_mono_ns(void);

/* Defined by the counting shim (malloc_count.c) when it is preloaded with
 * LD_PRELOAD; NULL otherwise, so a benchmark reports heap calls only then. */
void cp_malloc_count_snapshot(uint64_t *mallocs, uint64_t *frees,
                              uint64_t *reallocs) __attribute__((weak));

/** kafka key=value pairs from -X options (pointers into argv). */
struct bench_props {
    const char *key[BENCH_MAX_PROPS];   /* borrowed from argv */
    const char *value[BENCH_MAX_PROPS]; /* borrowed from argv */
    size_t cnt;
};

/** @returns 0, or -1 if @p kv is not key=value or the list is full. */
int bench_props_add(struct bench_props *props, char *kv);

/**
 * @brief A consumer for reading topics from the beginning by assignment:
 *        large fetches, short fetch waits, no commits. @p props win.
 * Ownership: caller owns the result; free with rd_kafka_destroy().
 */
rd_kafka_t *bench_consumer_new(const char *bootstrap,
                               const struct bench_props *props, char *errstr,
                               size_t errstr_size);

/**
 * @brief Low and high watermarks of every partition of @p topic.
 * @returns the partition count, or -1 with @p errstr.
 */
int bench_topic_ends(rd_kafka_t *rk, const char *topic, int64_t *lo,
                     int64_t *hi, int max, char *errstr, size_t errstr_size);

/** @brief Assigns partitions 0..cnt-1 of @p topic from their low watermark. */
int bench_assign_all(rd_kafka_t *rk, const char *topic, const int64_t *lo,
                     int cnt, char *errstr, size_t errstr_size);

/** Called with each batch of consumed messages (errors already removed). */
typedef int (*bench_batch_fn)(void *opaque, rd_kafka_message_t **rkms,
                              size_t cnt);

struct bench_consume_result {
    int64_t msgs;     /* messages consumed */
    int64_t bytes;    /* key + value bytes */
    int64_t expected; /* sum of high - low watermarks at the start */
    double seconds;   /* from assignment to the last message */
};

/**
 * @brief Reads every partition of @p topic from its low watermark up to the
 *        high watermark seen at the start, passing batches to @p fn (may be
 *        NULL). Gives up after @p idle_ms without a message.
 * @returns 0, or -1 with @p errstr (including "fewer messages than expected").
 */
int bench_consume_all(const char *bootstrap, const char *topic,
                      const struct bench_props *props, bench_batch_fn fn,
                      void *opaque, int idle_ms,
                      struct bench_consume_result *res, char *errstr,
                      size_t errstr_size);

#endif
