/* SPDX-License-Identifier: Apache-2.0 */
/* Fault injection into the embedded cluster (kafka.h), for failure tests
 * only: what a broker outage or a failing request looks like to every
 * client of the cluster, without the tests seeing librdkafka. */
#ifndef CP_FAULTS_H
#define CP_FAULTS_H

#include <stddef.h>

#include "kafka.h"

/** Kafka protocol request types (the protocol's ApiKey numbers). */
enum cp_kafka_api {
    CP_KAFKA_API_PRODUCE = 0,
    CP_KAFKA_API_FETCH = 1,
    CP_KAFKA_API_LIST_OFFSETS = 2,
    CP_KAFKA_API_METADATA = 3,
    CP_KAFKA_API_OFFSET_COMMIT = 8,
    CP_KAFKA_API_OFFSET_FETCH = 9,
    CP_KAFKA_API_FIND_COORDINATOR = 10,
    CP_KAFKA_API_JOIN_GROUP = 11,
    CP_KAFKA_API_HEARTBEAT = 12,
    CP_KAFKA_API_LEAVE_GROUP = 13,
    CP_KAFKA_API_SYNC_GROUP = 14,
    CP_KAFKA_API_INIT_PRODUCER_ID = 22,
};

/* Kafka protocol error codes the tests inject (retriable but the last),
 * and a dropped connection. */
#define CP_KAFKA_ERR_NOT_LEADER                6
#define CP_KAFKA_ERR_REQUEST_TIMED_OUT         7
#define CP_KAFKA_ERR_COORDINATOR_NOT_AVAILABLE 15
#define CP_KAFKA_ERR_NOT_COORDINATOR           16
#define CP_KAFKA_ERR_NOT_ENOUGH_REPLICAS       19
#define CP_KAFKA_ERR_TOPIC_AUTHORIZATION       29
#define CP_KAFKA_ERR_DISCONNECT                (-195)

/**
 * @brief Takes every broker down (connections closed, new ones refused;
 *        the data stays) or brings them back up.
 */
cp_rc cp_embedded_set_up(struct cp_embedded *emb, int up);
/**
 * @brief The next @p cnt requests of type @p api fail with the Kafka error
 *        code @p err (CP_KAFKA_ERR_*), one each, whoever sends them.
 */
cp_rc cp_embedded_push_errors(struct cp_embedded *emb, enum cp_kafka_api api,
                              int err, size_t cnt);
/** @brief How many errors pushed for @p api are still to be returned. */
size_t cp_embedded_pending_errors(struct cp_embedded *emb,
                                  enum cp_kafka_api api);
/**
 * @brief Every request of type @p api fails with @p err until
 *        cp_embedded_clear_failure() (an outage of that request type).
 */
void cp_embedded_fail_requests(struct cp_embedded *emb, enum cp_kafka_api api,
                               int err);
void cp_embedded_clear_failure(struct cp_embedded *emb, enum cp_kafka_api api);

#endif
