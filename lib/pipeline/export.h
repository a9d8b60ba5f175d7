/* SPDX-License-Identifier: Apache-2.0 */
/* Scores as of an instant, from the state the worker stored: every customer
 * of a tenant scored with its features decayed to that event time, as CSV
 * (crmpulse-score), so the model can be backtested on history. */
#ifndef CP_EXPORT_H
#define CP_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "churn.h"
#include "common.h"

struct cp_export_stats {
    int64_t customers;  /* rows written */
    int64_t unreadable; /* stored values crmpulse did not write: skipped */
};

/**
 * @brief Writes `customer_id,score,level,reasons` and one row per customer
 *        of @p tenant stored under @p prefix in the Redis at @p redis_url,
 *        or in the Redis Cluster of @p cluster_nodes when that is not empty
 *        (redis.cluster.nodes; the tenant's keys are in one slot),
 *        scored by @p model as of @p as_of_ms (event time). `reasons` is the
 *        JSON array of the customer hash, CSV-quoted.
 * @returns CP_OK, CP_EREDIS (message in errstr), CP_EIO (write failed).
 */
cp_rc cp_export_scores(const char *redis_url, const char *cluster_nodes,
                       const char *prefix, const char *tenant, int64_t as_of_ms,
                       const struct cp_churn_model *model, FILE *out,
                       struct cp_export_stats *stats, char *errstr,
                       size_t errstr_size);

#endif
