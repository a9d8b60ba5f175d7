/* SPDX-License-Identifier: Apache-2.0 */
/* Side outputs: the records a batch sends to Kafka besides its Redis
 * transaction — dead letters for bad input, alerts for the churn engine.
 * They must be acknowledged by Kafka before the batch commits (the offsets
 * move past what caused them only once they are durable), so the worker
 * sends them while it works and settles them just before the commit. A
 * failed commit re-sends them: at least once, de-duplicated downstream by
 * (topic, partition, offset) for dead letters and by alert_id for alerts
 * (schemas/events.md). */
#ifndef CP_SIDEOUT_H
#define CP_SIDEOUT_H

#include <stddef.h>

#include "alert.h"
#include "codec.h"
#include "common.h"
#include "kafka.h"

struct cp_sideout;

/**
 * @brief Side outputs encoded with @p codec and produced with @p prod
 *        (both borrowed; must outlive it) to @p dlq_topic and
 *        @p alerts_topic (copied).
 * @returns NULL on ENOMEM. Ownership: free with cp_sideout_destroy().
 */
struct cp_sideout *cp_sideout_new(struct cp_codec *codec,
                                  struct cp_producer *prod,
                                  const char *dlq_topic,
                                  const char *alerts_topic);
void cp_sideout_destroy(struct cp_sideout *so);

/**
 * @brief Sends the dead letter of @p msg with @p reason. A letter too large
 *        for the producer is sent with its value (then key) cut and the
 *        reason saying so, so a partition never stalls on it.
 * @returns CP_OK (queued, not yet acknowledged), or CP_EKAFKA/CP_ENOMEM.
 */
cp_rc cp_sideout_dead_letter(struct cp_sideout *so, const struct cp_msg *msg,
                             const char *reason);
/** @brief Sends @p alert keyed @p key ("tenant:customer"). */
cp_rc cp_sideout_alert(struct cp_sideout *so, const struct cp_alert *alert,
                       const char *key);
/**
 * @brief Waits until Kafka acknowledged everything sent since the last
 *        settle (at most @p timeout_ms); does nothing if nothing was sent.
 * @returns CP_OK, or CP_EKAFKA (the producer's error is logged).
 */
cp_rc cp_sideout_settle(struct cp_sideout *so, int timeout_ms);
/** @brief Records sent since the last successful settle. */
size_t cp_sideout_pending(const struct cp_sideout *so);

#endif
