/* SPDX-License-Identifier: Apache-2.0 */
/* The worker's metrics registry: counters, gauges and histograms updated by
 * the worker thread (and librdkafka callback threads) and rendered in the
 * Prometheus text format by the HTTP thread (http.h).
 *
 * Sharing: every counter, gauge and histogram bucket is a C11 atomic updated
 * with memory_order_relaxed. An update is one atomic add or store: no lock
 * and no allocation on the hot path, and a scrape never stalls the worker.
 * Relaxed ordering means a scrape is not a snapshot: it may see a histogram
 * whose _sum and buckets are a few observations apart, or an event counter
 * ahead of its dead-letter reason counter. Prometheus tolerates that (every
 * series stays monotonic, and a histogram's _count is derived from the very
 * bucket values rendered, so _count always equals the +Inf bucket). Only the
 * readiness reason, a string, sits under a mutex (see cp_metrics_set_ready),
 * and the first update of a new topic name takes that mutex once. */
#ifndef CP_METRICS_H
#define CP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "common.h"

/** Partitions 0 .. CP_METRICS_MAX_PARTITIONS-1 of each topic are tracked:
 *  every partition the worker can own (common.h). */
#define CP_METRICS_MAX_PARTITIONS CP_PARTITIONS_MAX
/** Distinct topics with per-partition gauges (the worker consumes one). */
#define CP_METRICS_MAX_TOPICS 4
/** Longest topic name kept (Kafka's own limit is 249). */
#define CP_METRICS_TOPIC_MAX 255
/** Longest readiness reason kept; longer ones are truncated. */
#define CP_METRICS_REASON_MAX 127

/** crmpulse_events_total{result=...} */
enum cp_metrics_result {
    CP_METRICS_APPLIED,     /* applied to state and committed */
    CP_METRICS_DEAD_LETTER, /* sent to the dead-letter topic */
    CP_METRICS_RESULT_CNT
};

/** crmpulse_dead_letters_total{reason=...}: the class of a dead letter's
 * reason, see cp_metrics_dl_classify(). */
enum cp_metrics_dl_class {
    CP_METRICS_DL_FRAMING,    /* empty message, bad Confluent header */
    CP_METRICS_DL_SCHEMA,     /* unknown schema id, wrong record type */
    CP_METRICS_DL_DECODE,     /* Avro bytes that do not decode */
    CP_METRICS_DL_VALIDATION, /* decoded, but a field breaks the contract */
    CP_METRICS_DL_OTHER,      /* anything else */
    CP_METRICS_DL_CLASS_CNT
};

/** crmpulse_alerts_total{kind=...} */
enum cp_metrics_alert_kind {
    CP_METRICS_ALERT_CHURN_RISK,
    CP_METRICS_ALERT_RESPONSE_SLA_BREACH,
    CP_METRICS_ALERT_KIND_CNT
};

/** crmpulse_alerts_total{level=...} */
enum cp_metrics_alert_level {
    CP_METRICS_LEVEL_HIGH,
    CP_METRICS_LEVEL_CRITICAL,
    CP_METRICS_LEVEL_CNT
};

/** crmpulse_retries_total{cause=...} */
enum cp_metrics_retry_cause {
    CP_METRICS_RETRY_REDIS,    /* Redis unreachable or a transaction failed */
    CP_METRICS_RETRY_KAFKA,    /* a produce, commit or fetch failed */
    CP_METRICS_RETRY_FENCED,   /* another worker took the partition over */
    CP_METRICS_RETRY_REGISTRY, /* the schema registry gave no answer */
    CP_METRICS_RETRY_CAUSE_CNT
};

/** crmpulse_state_dropped_total{reason=...}: what the state kept out */
enum cp_metrics_drop {
    CP_METRICS_DROP_STAGE,      /* a deal's stage past its bound */
    CP_METRICS_DROP_TICKET,     /* an open ticket past a customer's bound */
    CP_METRICS_DROP_WAITING,    /* a waiting conversation past the bound */
    CP_METRICS_DROP_UNREADABLE, /* a value read back from Redis, set aside */
    CP_METRICS_DROP_CNT
};

/** crmpulse_up{dependency=...} */
enum cp_metrics_dep {
    CP_METRICS_DEP_REDIS,
    CP_METRICS_DEP_KAFKA,
    CP_METRICS_DEP_CNT
};

struct cp_metrics;

/**
 * @brief Creates a registry with every series at zero, not ready ("starting")
 *        and both dependencies down, and records the process start time.
 * @param version goes into crmpulse_build_info{version=...}; copied.
 * @returns the registry, or NULL with a message in @p errstr.
 * Ownership: caller owns the result; free with cp_metrics_destroy().
 */
struct cp_metrics *cp_metrics_new(const char *version, char *errstr,
                                  size_t errstr_size);

/** @brief Frees @p m (NULL is fine). Stop the HTTP server that reads it
 * first. */
void cp_metrics_destroy(struct cp_metrics *m);

/* ---- updates: any thread, lock-free, no allocation ---- */

/** @brief Adds @p n events with @p result (out-of-range values are ignored).
 */
void cp_metrics_event(struct cp_metrics *m, enum cp_metrics_result result,
                      uint64_t n);

/**
 * @brief Maps a dead letter's reason string to its class.
 *
 * The reason strings come from the codec (lib/codec), so the mapping follows
 * their wording, first match wins:
 *  - framing: starts with "empty message" or "bad framing";
 *  - schema: starts with "unknown schema id" or "schema id ";
 *  - decode: starts with "avro:", "payload:" or "dead letter:", or
 *    contains "cannot read" or "unknown symbol" (the bytes did not decode
 *    into our record);
 *  - validation: contains one of the validator's verdicts: "empty",
 *    "longer than", "byte 0x", "UTF-8", "UTF-16", "U+", "negative",
 *    "out of range", "before ", "after now", "unknown kind", "unknown value";
 *  - other: NULL, "" and anything else.
 * Case-sensitive, bounded (reasons are read up to 512 bytes).
 * Ownership: @p reason is borrowed.
 */
enum cp_metrics_dl_class cp_metrics_dl_classify(const char *reason);

/** @brief Label value of a class ("framing", ...). Ownership: static. */
const char *cp_metrics_dl_class_name(enum cp_metrics_dl_class cls);

/** @brief Counts one dead letter under the class of @p reason. It does not
 * count crmpulse_events_total{result="dead_letter"}: cp_metrics_event() does,
 * at the moment the caller counts events. Ownership: @p reason is borrowed. */
void cp_metrics_dead_letter(struct cp_metrics *m, const char *reason);

/** @brief Counts one dead letter of a known class. */
void cp_metrics_dead_letter_class(struct cp_metrics *m,
                                  enum cp_metrics_dl_class cls);

/** @brief Counts one alert emitted. */
void cp_metrics_alert(struct cp_metrics *m, enum cp_metrics_alert_kind kind,
                      enum cp_metrics_alert_level level);

/** @brief Observes one batch: @p size messages taking @p seconds. */
void cp_metrics_observe_batch(struct cp_metrics *m, uint64_t size,
                              double seconds);

/** @brief Observes one Redis round trip of @p seconds. */
void cp_metrics_observe_redis_rtt(struct cp_metrics *m, double seconds);

/** @brief Counts @p cnt input messages passed over for good
 *         (crmpulse_messages_skipped_total; offsets.out_of_range). */
void cp_metrics_skipped(struct cp_metrics *m, uint64_t cnt);

/** @brief Counts one retry. */
void cp_metrics_retry(struct cp_metrics *m, enum cp_metrics_retry_cause cause);

/**
 * @brief Exports (or updates) the gauges of an assigned partition.
 * @param lag consumer lag in messages; < 0 leaves the gauge as it is (a
 *        freshly assigned partition exports no lag until one is set).
 * @param watermark_ms event-time watermark, ms since the epoch; < 0 leaves it
 *        as it is (none exported until set).
 * So the lag and the watermark may come from different call sites. For one
 * partition, the last of set and clear wins.
 * @returns CP_OK; CP_ECONFIG when @p partition is outside
 *          0..CP_METRICS_MAX_PARTITIONS-1 or @p topic is new and
 *          CP_METRICS_MAX_TOPICS topics are already tracked or the name is
 *          longer than CP_METRICS_TOPIC_MAX (the update is dropped).
 * Ownership: @p topic is borrowed (copied the first time it is seen).
 */
cp_rc cp_metrics_partition_set(struct cp_metrics *m, const char *topic,
                               int32_t partition, int64_t lag,
                               int64_t watermark_ms);

/** @brief Stops exporting a partition (revoked or lost). Unknown ones are
 * ignored. Ownership: @p topic is borrowed. */
void cp_metrics_partition_clear(struct cp_metrics *m, const char *topic,
                                int32_t partition);

/** @brief Sets crmpulse_schema_registry_requests_total, _errors_total and
 *         _cached_schemas (the client's running counts). */
void cp_metrics_set_registry(struct cp_metrics *m, uint64_t requests,
                             uint64_t errors, uint64_t cached);

/** @brief Sets crmpulse_state_cache_entries. */
void cp_metrics_set_cache(struct cp_metrics *m, uint64_t entries);
/** @brief Sets crmpulse_state_dropped_total{reason} to @p total (the
 *         caller's running count of committed batches: never decreases). */
void cp_metrics_set_dropped(struct cp_metrics *m, enum cp_metrics_drop why,
                            uint64_t total);

/** @brief Sets crmpulse_up{dependency=...} to 1 (@p up) or 0. */
void cp_metrics_set_up(struct cp_metrics *m, enum cp_metrics_dep dep, bool up);

/**
 * @brief Sets readiness, served by /readyz and crmpulse_ready.
 * @param reason why not ready, e.g. "redis unreachable"; ignored when
 *        @p ready; truncated to CP_METRICS_REASON_MAX bytes.
 * The reason is copied into a fixed buffer under a mutex: the update is rare
 * (state changes) and the reader copies it out, so a plain mutex is simpler
 * than a seqlock and never blocks for longer than a short memcpy.
 * Thread: any. Ownership: @p reason is borrowed.
 */
void cp_metrics_set_ready(struct cp_metrics *m, bool ready, const char *reason);

/* ---- readers ---- */

/**
 * @brief Reads readiness.
 * @param reason receives the not-ready reason ("" when ready), NUL-terminated
 *        and truncated to @p reason_size; may be NULL.
 * @returns true when ready. Thread: any.
 */
bool cp_metrics_ready(struct cp_metrics *m, char *reason, size_t reason_size);

/**
 * @brief Appends the whole exposition (text format 0.0.4) to @p out.
 * @returns CP_OK, or CP_ENOMEM when @p out hit its cap (the text is then
 *          incomplete). Thread: any; typically the HTTP thread.
 * Ownership: @p out is the caller's; it grows it.
 */
cp_rc cp_metrics_render(struct cp_metrics *m, struct cp_buf *out);

#endif
