/* SPDX-License-Identifier: Apache-2.0 */
/* Fault injection into the embedded cluster (faults.h), for tests. */
#include "faults.h"

#include "kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka_int.h"
#include "log.h"

/* The embedded cluster has one broker; mock broker ids start at 1. */
#define CP_EMBEDDED_BROKER 1
/* Errors stacked for an open-ended failure: far more requests than a test
 * sends before clearing them. */
#define CP_FAILURE_DEPTH 100000

cp_rc cp_embedded_set_up(struct cp_embedded *emb, int up)
{
    rd_kafka_resp_err_t err =
        up ? rd_kafka_mock_broker_set_up(emb->mcluster, -1)
           : rd_kafka_mock_broker_set_down(emb->mcluster, -1);

    return err ? CP_EKAFKA : CP_OK;
}

cp_rc cp_embedded_push_errors(struct cp_embedded *emb, enum cp_kafka_api api,
                              int err, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++)
        if (rd_kafka_mock_broker_push_request_error_rtts(
                emb->mcluster, CP_EMBEDDED_BROKER, (int16_t)api, 1,
                (rd_kafka_resp_err_t)err, 0))
            return CP_EKAFKA;
    return CP_OK;
}

size_t cp_embedded_pending_errors(struct cp_embedded *emb,
                                  enum cp_kafka_api api)
{
    size_t cnt = 0;

    if (rd_kafka_mock_broker_error_stack_cnt(emb->mcluster, CP_EMBEDDED_BROKER,
                                             (int16_t)api, &cnt))
        return 0;
    return cnt;
}

void cp_embedded_fail_requests(struct cp_embedded *emb, enum cp_kafka_api api,
                               int err)
{
    rd_kafka_resp_err_t *errs = malloc(CP_FAILURE_DEPTH * sizeof(*errs));

    if (!errs)
        return;
    for (size_t i = 0; i < CP_FAILURE_DEPTH; i++)
        errs[i] = (rd_kafka_resp_err_t)err;
    rd_kafka_mock_push_request_errors_array(emb->mcluster, (int16_t)api,
                                            CP_FAILURE_DEPTH, errs);
    free(errs);
}

void cp_embedded_clear_failure(struct cp_embedded *emb, enum cp_kafka_api api)
{
    rd_kafka_mock_clear_request_errors(emb->mcluster, (int16_t)api);
}
