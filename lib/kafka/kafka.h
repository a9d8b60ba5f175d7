/* SPDX-License-Identifier: Apache-2.0 */
/* Everything Kafka: the embedded mock cluster, an acknowledged producer for
 * side outputs (DLQ, alerts), and the group consumer whose partition
 * assignment is decided by offsets the caller keeps (in Redis). */
#ifndef CP_KAFKA_H
#define CP_KAFKA_H

#include <signal.h>
#include <stdint.h>

#include "common.h"
#include "config.h"

/* ---- settings ---- */

/**
 * @brief Checks the kafka.* passthrough settings with librdkafka's own
 *        configuration parser, before anything connects: an unknown name
 *        (with the closest property as a hint) or an invalid value is an
 *        error. Values of secret settings never appear in @p errstr.
 * @returns CP_OK or CP_ECONFIG.
 */
cp_rc cp_kafka_check_props(const struct cp_kv *props, size_t prop_cnt,
                           char *errstr, size_t errstr_size);

/* ---- embedded cluster ---- */

struct cp_embedded;

/**
 * @brief Starts librdkafka's in-process mock cluster (not durable) and
 *        creates @p topics with @p partitions partitions each.
 * Ownership: caller owns the result; free with cp_embedded_destroy().
 */
struct cp_embedded *cp_embedded_new(int partitions, const char *const *topics,
                                    size_t topic_cnt, char *errstr,
                                    size_t errstr_size);
/** @returns "host:port,..." to connect to; borrowed from @p emb. */
const char *cp_embedded_bootstrap(const struct cp_embedded *emb);
void cp_embedded_destroy(struct cp_embedded *emb);

/* ---- producer ---- */

struct cp_producer;

/**
 * @brief An idempotent producer (acks=all). @p props are passed verbatim to
 *        librdkafka after our defaults, so users can override them.
 * Ownership: caller owns the result; free with cp_producer_destroy().
 */
struct cp_producer *cp_producer_new(const char *bootstrap,
                                    const struct cp_kv *props, size_t prop_cnt,
                                    char *errstr, size_t errstr_size);
/**
 * @brief Queues one message (copied). partition -1: by key hash.
 *        Blocks (serving delivery reports) while the local queue is full.
 */
cp_rc cp_producer_send(struct cp_producer *prod, const char *topic,
                       int32_t partition, const void *key, size_t key_len,
                       const void *value, size_t value_len);
/**
 * @brief Waits until every queued message is acknowledged or failed.
 * @returns CP_OK when all were acknowledged since the last flush, CP_EKAFKA
 *          if any failed or @p timeout_ms passed (see cp_producer_errstr()).
 */
cp_rc cp_producer_flush(struct cp_producer *prod, int timeout_ms);
/**
 * @brief The largest key + value a record may have to land: what
 *        kafka.message.max.bytes allows (by default more than the largest
 *        message a consumer fetches), lowered when the broker refused a
 *        record as too large. Callers that may shrink a record (dead
 *        letters) cut it to this size.
 */
size_t cp_producer_max_bytes(const struct cp_producer *prod);
/**
 * @brief cp_producer_flush() returns (CP_EKAFKA) within a fraction of a
 *        second once *@p stop is non-zero, and destroying the producer
 *        then drops what is unacknowledged instead of waiting for it.
 *        @p stop is borrowed and must outlive the producer.
 */
void cp_producer_set_stop(struct cp_producer *prod,
                          volatile sig_atomic_t *stop);
/** @brief Messages acknowledged since creation. */
int64_t cp_producer_acked_cnt(const struct cp_producer *prod);
const char *cp_producer_errstr(const struct cp_producer *prod);
void cp_producer_destroy(struct cp_producer *prod);

/* ---- consumer ---- */

/** One topic partition and where to start reading it. */
struct cp_partition {
    const char *topic; /* borrowed from the consumer */
    int32_t partition;
    int64_t offset; /* in assign_cb: set it to the next offset to read, or
                       leave CP_OFFSET_STORED to use the group's committed
                       offset (else the earliest) */
};
#define CP_OFFSET_STORED (-1000) /* = RD_KAFKA_OFFSET_INVALID */

/** One consumed message; a passive view valid until cp_consumer_release(). */
struct cp_msg {
    const char *topic; /* borrowed */
    int32_t partition;
    int64_t offset;
    const void *key; /* NULL when the message has no key */
    size_t key_len;
    const void *value; /* NULL for a tombstone */
    size_t value_len;
    int64_t timestamp_ms; /* Kafka message timestamp, -1 if none */
};

struct cp_consumer_callbacks {
    /** Partitions were assigned: fill in each offset. A non-OK return
     *  means "cannot decide now" (e.g. Redis down): the consumer retries
     *  with backoff (at most 5 s apart) until it succeeds or the stop flag
     *  (cp_consumer_set_stop()) is set. CP_ECONFIG means "never": the
     *  partitions stay unassigned and nothing is retried (the caller is
     *  stopping, and has said why). */
    cp_rc (*assign)(void *opaque, struct cp_partition *parts, size_t cnt);
    /** Partitions are being taken away: finish with them now. */
    void (*revoke)(void *opaque, const struct cp_partition *parts, size_t cnt);
    void *opaque;
};

/** See cp_consumer_set_out_of_range(). */
typedef void (*cp_out_of_range_fn)(void *opaque, const char *topic,
                                   int32_t partition, int64_t offset,
                                   const char *reason);

struct cp_consumer;

/**
 * @brief Joins group @p group_id and subscribes to @p topic.
 * Ownership: caller owns the result; free with cp_consumer_destroy()
 *            (which leaves the group).
 */
struct cp_consumer *cp_consumer_new(const char *bootstrap, const char *group_id,
                                    const char *topic,
                                    const struct cp_kv *props, size_t prop_cnt,
                                    const struct cp_consumer_callbacks *cbs,
                                    char *errstr, size_t errstr_size);
/**
 * @brief Whether a poll or a partition assignment failed to allocate memory.
 *        Then cp_consumer_poll() returned 0 without meaning "no messages",
 *        or partitions were not assigned though the group believes they
 *        are: the caller must stop (a restart resumes from the committed
 *        offsets).
 */
int cp_consumer_out_of_memory(const struct cp_consumer *cons);

/**
 * @brief Fills @p msgs with up to @p max messages, waiting at most
 *        @p timeout_ms. Errors from the client are logged, not returned as
 *        messages. Rebalance callbacks run inside this call.
 * @returns the number of messages (0 on timeout).
 * Ownership: the messages stay valid until cp_consumer_release().
 */
size_t cp_consumer_poll(struct cp_consumer *cons, struct cp_msg *msgs,
                        size_t max, int timeout_ms);
/** @brief Frees the messages returned by the last poll. */
void cp_consumer_release(struct cp_consumer *cons);
/**
 * @brief Moves the read position of owned partitions (after a failed batch,
 *        to re-read from the offsets the caller last committed).
 */
cp_rc cp_consumer_seek(struct cp_consumer *cons,
                       const struct cp_partition *parts, size_t cnt);
/**
 * @brief Replaces every CP_OFFSET_STORED offset of @p parts by the absolute
 *        offset the consumer would start from: the group's committed offset,
 *        else (auto.offset.reset) the partition's first or next offset.
 *        Usable inside the assign callback. Blocks up to a few seconds.
 * @returns CP_OK, or CP_EKAFKA if the cluster did not answer (logged).
 */
cp_rc cp_consumer_resolve_offsets(struct cp_consumer *cons,
                                  struct cp_partition *parts, size_t cnt);
/**
 * @brief @p fn (with the callbacks' opaque) is told when the broker no
 *        longer has (or never had) the offset of a partition where the
 *        consumer was about to fetch (retention deleted messages not read
 *        yet, or the topic was recreated). The consumer never picks a new
 *        position by itself (auto.offset.reset=error): the partition
 *        fetches nothing until cp_consumer_seek(). Called from
 *        cp_consumer_poll(); without @p fn it is only logged.
 */
void cp_consumer_set_out_of_range(struct cp_consumer *cons,
                                  cp_out_of_range_fn fn);
/**
 * @brief Asks the cluster for the first offset (@p low) and the next offset
 *        to be written (@p high) of @p partition: the log the broker still
 *        holds is [low, high). Usable inside the assign callback. Blocks up
 *        to a few seconds.
 * @returns CP_OK, or CP_EKAFKA if the cluster did not answer (logged).
 */
cp_rc cp_consumer_watermarks(struct cp_consumer *cons, int32_t partition,
                             int64_t *low, int64_t *high);
/**
 * @brief Every wait of the consumer (the assign retry loop) ends once
 *        *@p stop is non-zero, so a signal is honoured within a fraction of
 *        a second. @p stop is borrowed and must outlive the consumer.
 */
void cp_consumer_set_stop(struct cp_consumer *cons,
                          volatile sig_atomic_t *stop);
/** @brief Commits @p parts (offset = next to read) to Kafka, asynchronously. */
void cp_consumer_commit_async(struct cp_consumer *cons,
                              const struct cp_partition *parts, size_t cnt);
/**
 * @brief Consumer lag of @p partition: the high watermark of its last fetch
 *        minus @p next_offset (no broker round trip).
 * @returns the lag, or -1 when not known yet (no fetch, or next_offset < 0).
 */
int64_t cp_consumer_lag(struct cp_consumer *cons, int32_t partition,
                        int64_t next_offset);
/** @brief Number of times the assignment changed (to spot a rebalance). */
uint64_t cp_consumer_generation(const struct cp_consumer *cons);
/**
 * @brief 1 from losing the assignment (a revoke: a member joined or left,
 *        or our session was lost) until the next one: the group is
 *        rebalancing and silence says nothing about the input.
 */
int cp_consumer_rebalancing(const struct cp_consumer *cons);
void cp_consumer_destroy(struct cp_consumer *cons);

#endif
