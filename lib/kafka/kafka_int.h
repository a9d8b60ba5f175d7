/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the kafka module's files (kafka.c, embedded.c,
 * faults.c, producer.c, consumer.c). Not part of the public API. */
#ifndef CP_KAFKA_INT_H
#define CP_KAFKA_INT_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "config.h"

/* Whether the cluster answers, as one client handle sees it. librdkafka
 * logs each failed connection; this says once, plainly, that Kafka as a
 * whole is unreachable and when it answers again. The first member of the
 * producer and the consumer, so error_cb finds it in the opaque. */
struct cp__reach {
    const char *who;       /* "consumer" or "producer"; static */
    int64_t down_since_ms; /* 0 while reachable */
};

/** @brief Logs once that every broker is down (@p reason from librdkafka). */
void cp__reach_down(struct cp__reach *r, const char *reason);
/** @brief The cluster answered: logs once that it is reachable again. */
void cp__reach_up(struct cp__reach *r);
/** @brief librdkafka's log lines into ours, below our own levels. */
void cp__kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf);
/** @brief Sets one property; the error (secrets redacted) in errstr. */
int cp__kafka_conf_set(rd_kafka_conf_t *conf, const char *key,
                       const char *value, char *errstr, size_t errstr_size);
/**
 * @brief A configuration: @p bootstrap, our @p defaults (key, value pairs,
 *        NULL-terminated), then the user's @p props over them.
 * @returns it, or NULL with errstr. Ownership: the caller's.
 */
rd_kafka_conf_t *cp__kafka_conf_build(const char *bootstrap,
                                      const char *const defaults[][2],
                                      const struct cp_kv *props,
                                      size_t prop_cnt, char *errstr,
                                      size_t errstr_size);

/* The embedded cluster's parts, for faults.c. */
struct cp_embedded {
    rd_kafka_t *rk; /* owned; the mock cluster's host handle */
    rd_kafka_mock_cluster_t *mcluster; /* owned */
    char *bootstrap;                   /* owned */
};

#endif
