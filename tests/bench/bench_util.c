/* SPDX-License-Identifier: Apache-2.0 */
/* Benchmark helpers: clocks, -X lists and the assignment-based consumer. */
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t bench_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int bench_props_add(struct bench_props *props, char *kv)
{
    char *eq = strchr(kv, '=');

    if (!eq || eq == kv || props->cnt >= BENCH_MAX_PROPS)
        return -1;
    *eq = '\0';
    /* Accept the worker's spelling (kafka.x=y) as well as plain x=y. */
    props->key[props->cnt] = strncmp(kv, "kafka.", 6) ? kv : kv + 6;
    props->value[props->cnt] = eq + 1;
    props->cnt++;
    return 0;
}

rd_kafka_t *bench_consumer_new(const char *bootstrap,
                               const struct bench_props *props, char *errstr,
                               size_t errstr_size)
{
    /* The physical-limit settings: big fetches, many messages prefetched,
     * a short broker-side wait so the tail is not padded. */
    static const char *const defaults[][2] = {
        {"group.id", "crmpulse-bench-raw"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"fetch.wait.max.ms", "5"},
        {"fetch.message.max.bytes", "10485760"},
        {"fetch.max.bytes", "104857600"},
        {"queued.min.messages", "500000"},
        {"queued.max.messages.kbytes", "1048576"},
        {NULL, NULL},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr,
                          errstr_size))
        goto fail;
    for (size_t i = 0; defaults[i][0]; i++)
        if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], errstr,
                              errstr_size))
            goto fail;
    for (size_t i = 0; i < props->cnt; i++)
        if (rd_kafka_conf_set(conf, props->key[i], props->value[i], errstr,
                              errstr_size))
            goto fail;
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!rk)
        goto fail;
    conf = NULL; /* now owned by rk */
    rd_kafka_poll_set_consumer(rk);
    return rk;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int bench_topic_ends(rd_kafka_t *rk, const char *topic, int64_t *lo,
                     int64_t *hi, int max, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err;
    int cnt = -1;

    if (!rkt) {
        snprintf(errstr, errstr_size, "topic %s: %s", topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    /* A fresh client may see the topic only after a metadata refresh. */
    for (int attempt = 0; attempt < 50; attempt++) {
        err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
        if (!err && md->topic_cnt == 1 && !md->topics[0].err &&
            md->topics[0].partition_cnt > 0)
            break;
        if (md)
            rd_kafka_metadata_destroy(md);
        md = NULL;
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (!md) {
        snprintf(errstr, errstr_size, "metadata of %s: not available", topic);
        goto out;
    }
    cnt = md->topics[0].partition_cnt;
    if (cnt > max) {
        snprintf(errstr, errstr_size, "%s has %d partitions, limit %d", topic,
                 cnt, max);
        cnt = -1;
        goto out;
    }
    for (int p = 0; p < cnt; p++) {
        err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo[p], &hi[p],
                                               10000);
        if (err) {
            snprintf(errstr, errstr_size, "watermarks of %s [%d]: %s", topic, p,
                     rd_kafka_err2str(err));
            cnt = -1;
            goto out;
        }
    }
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return cnt;
}

int bench_assign_all(rd_kafka_t *rk, const char *topic, const int64_t *lo,
                     int cnt, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new(cnt);
    rd_kafka_resp_err_t err;

    for (int p = 0; p < cnt; p++)
        rd_kafka_topic_partition_list_add(list, topic, p)->offset = lo[p];
    err = rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err) {
        snprintf(errstr, errstr_size, "assign %s: %s", topic,
                 rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

#define BENCH_BATCH 10000

int bench_consume_all(const char *bootstrap, const char *topic,
                      const struct bench_props *props, bench_batch_fn fn,
                      void *opaque, int idle_ms,
                      struct bench_consume_result *res, char *errstr,
                      size_t errstr_size)
{
    static int64_t lo[BENCH_MAX_PARTITIONS], hi[BENCH_MAX_PARTITIONS];
    rd_kafka_message_t **rkms = calloc(BENCH_BATCH, sizeof(*rkms));
    rd_kafka_queue_t *queue = NULL;
    rd_kafka_t *rk;
    int64_t t_start, t_last, t_seen;
    int rc = -1, cnt;

    memset(res, 0, sizeof(*res));
    rk = bench_consumer_new(bootstrap, props, errstr, errstr_size);
    if (!rk || !rkms)
        goto out;
    cnt = bench_topic_ends(rk, topic, lo, hi, BENCH_MAX_PARTITIONS, errstr,
                           errstr_size);
    if (cnt < 0)
        goto out;
    for (int p = 0; p < cnt; p++)
        res->expected += hi[p] - lo[p];
    queue = rd_kafka_queue_get_consumer(rk);
    t_start = t_last = t_seen = cp_mono_us();
    if (bench_assign_all(rk, topic, lo, cnt, errstr, errstr_size))
        goto out;
    while (res->msgs < res->expected) {
        /* A short timeout: a long one pads the tail of the measurement. */
        ssize_t n = rd_kafka_consume_batch_queue(queue, 10, rkms, BENCH_BATCH);
        size_t good = 0;

        if (n < 0) {
            snprintf(errstr, errstr_size, "consume: %s",
                     rd_kafka_err2str(rd_kafka_last_error()));
            goto out;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (rkms[i]->err) {
                if (rkms[i]->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    fprintf(stderr, "consume: %s\n",
                            rd_kafka_message_errstr(rkms[i]));
                rd_kafka_message_destroy(rkms[i]);
                continue;
            }
            res->bytes += (int64_t)(rkms[i]->len + rkms[i]->key_len);
            rkms[good++] = rkms[i];
        }
        if (good) {
            res->msgs += (int64_t)good;
            t_last = cp_mono_us();
            t_seen = t_last;
            if (fn && fn(opaque, rkms, good)) {
                snprintf(errstr, errstr_size, "batch handler failed");
                for (size_t i = 0; i < good; i++)
                    rd_kafka_message_destroy(rkms[i]);
                goto out;
            }
        }
        for (size_t i = 0; i < good; i++)
            rd_kafka_message_destroy(rkms[i]);
        if (cp_mono_us() - t_seen > (int64_t)idle_ms * 1000) {
            snprintf(errstr, errstr_size,
                     "%lld of %lld messages, then nothing for %d ms (dropped "
                     "by broker retention?)",
                     (long long)res->msgs, (long long)res->expected, idle_ms);
            goto out;
        }
    }
    res->seconds = (double)(t_last - t_start) / 1e6;
    rc = 0;
out:
    if (queue)
        rd_kafka_queue_destroy(queue);
    if (rk) {
        rd_kafka_assign(rk, NULL);
        rd_kafka_destroy(rk);
    }
    free(rkms);
    return rc;
}
