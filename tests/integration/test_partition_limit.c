/* SPDX-License-Identifier: Apache-2.0 */
/* A topic with more partitions than crmpulse handles (CP_PARTITIONS_MAX,
 * the one limit of the checkpoint, the scorer and the metrics): the worker
 * stops with an error naming the partition and the limit, rather than
 * retrying the assignment forever or dropping the partition's messages
 * without a word. The real crmpulse binary, a real redis-server and an
 * embedded Kafka of CP_PARTITIONS_MAX + 1 partitions. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "harness.h"
#include "kafka.h"
#include "stream.h"

TestSuite(partition_limit, .timeout = 300);

Test(partition_limit, a_partition_above_the_limit_stops_the_worker)
{
    const char *log = h_scratch_file("limit.log");
    struct cp_embedded *emb;
    const char *bootstrap;
    char needle[128], *text;
    struct h_redis r;
    int rc;

    h_redis_start(&r);
    emb = h_kafka_start(CP_PARTITIONS_MAX + 1, &bootstrap);
    rc = h_wait(h_worker_spawn(bootstrap, &r, "limit", log, NULL), 180);
    text = h_slurp(log);
    if (rc != 1)
        h_tail(log, 30);
    cr_assert_eq(rc, 1, "exit 1 expected (-1: still retrying), got %d", rc);
    snprintf(needle, sizeof(needle),
             "partition crm.events [%d] is beyond what crmpulse handles "
             "(partitions 0..%d",
             CP_PARTITIONS_MAX, CP_PARTITIONS_MAX - 1);
    cr_assert(strstr(text, needle), "the stop names the partition: %s", needle);
    free(text);
    h_kafka_stop(&emb);
    h_redis_stop(&r);
}
