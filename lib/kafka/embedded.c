/* SPDX-License-Identifier: Apache-2.0 */
/* librdkafka's in-process mock cluster: the embedded default broker (not
 * durable) and the tests' broker. */
#include "kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka_int.h"
#include "log.h"

/* ---- embedded cluster ---- */

struct cp_embedded *cp_embedded_new(int partitions, const char *const *topics,
                                    size_t topic_cnt, char *errstr,
                                    size_t errstr_size)
{
    struct cp_embedded *emb = calloc(1, sizeof(*emb));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[512];

    if (!emb) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, cp__kafka_log_cb);
    /* This handle only hosts the cluster and never connects anywhere: keep
     * its "no bootstrap.servers" notice out of the log. */
    rd_kafka_conf_set(conf, "log_level", "4", why, sizeof(why));
    emb->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!emb->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "start embedded kafka: %s", why);
        goto fail;
    }
    emb->mcluster = rd_kafka_mock_cluster_new(emb->rk, 1);
    if (!emb->mcluster) {
        snprintf(errstr, errstr_size, "start embedded kafka: mock cluster");
        goto fail;
    }
    for (size_t i = 0; i < topic_cnt; i++) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(emb->mcluster, topics[i], partitions, 1);
        if (err) {
            snprintf(errstr, errstr_size, "create topic %s: %s", topics[i],
                     rd_kafka_err2str(err));
            goto fail;
        }
    }
    emb->bootstrap = strdup(rd_kafka_mock_cluster_bootstraps(emb->mcluster));
    if (!emb->bootstrap) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    return emb;
fail:
    cp_embedded_destroy(emb);
    return NULL;
}

const char *cp_embedded_bootstrap(const struct cp_embedded *emb)
{
    return emb->bootstrap;
}

void cp_embedded_destroy(struct cp_embedded *emb)
{
    if (!emb)
        return;
    if (emb->mcluster)
        rd_kafka_mock_cluster_destroy(emb->mcluster);
    if (emb->rk)
        rd_kafka_destroy(emb->rk);
    free(emb->bootstrap);
    free(emb);
}
