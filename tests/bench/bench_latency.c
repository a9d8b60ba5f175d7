/* SPDX-License-Identifier: Apache-2.0 */
/* End-to-end latency at a fixed input rate: produces generated events at
 * RATE/s (recording when each was handed to the producer and, from its
 * delivery report, its partition and offset) while polling the worker's
 * offsets hash in Redis every millisecond. The worker writes a batch's next
 * offsets in the same MULTI/EXEC as its counters, so the first poll that
 * sees offset > o for a partition is the moment the counters of message o
 * became visible. Latency = that moment - produce call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "bench_util.h"
#include "buf.h"
#include "codec.h"
#include "common.h"
#include "gen.h"

struct sent {
    int64_t t_us;   /* monotonic time of the produce call */
    int64_t offset; /* from the delivery report; -1 until acked */
    int32_t part;   /* from the delivery report */
};

/* Per partition: when the committed offset in Redis changed, and to what. */
struct seen {
    int64_t *t_us;   /* owned */
    int64_t *offset; /* owned */
    size_t cnt, cap;
};

struct probe {
    struct sent *sent; /* owned; one per message */
    int64_t acked;
    int64_t failed;
    struct seen seen[BENCH_MAX_PARTITIONS];
    int64_t committed[BENCH_MAX_PARTITIONS];
    int parts;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                        void *opaque)
{
    struct probe *pr = opaque;
    struct sent *s = &pr->sent[(intptr_t)rkm->_private];

    (void)rk;
    if (rkm->err) {
        pr->failed++;
        return;
    }
    s->offset = rkm->offset;
    s->part = rkm->partition;
    pr->acked++;
}

static int seen_add(struct seen *sn, int64_t t_us, int64_t offset)
{
    if (sn->cnt == sn->cap) {
        size_t cap = sn->cap ? sn->cap * 2 : 1024;
        int64_t *t = realloc(sn->t_us, cap * sizeof(*t));
        int64_t *o;

        if (!t)
            return -1;
        sn->t_us = t;
        o = realloc(sn->offset, cap * sizeof(*o));
        if (!o)
            return -1;
        sn->offset = o;
        sn->cap = cap;
    }
    sn->t_us[sn->cnt] = t_us;
    sn->offset[sn->cnt] = offset;
    sn->cnt++;
    return 0;
}

/* One HGETALL of the offsets hash; records the changes. HGETALL because the
 * worker never sends it, so the benchmark can tell these probes apart from
 * the worker's own traffic in INFO commandstats. */
static int poll_offsets(struct probe *pr, redisContext *redis, const char *key,
                        const char *topic)
{
    char prefix[300];
    size_t prefix_len;
    redisReply *reply;
    int64_t now;
    int rc = 0;

    snprintf(prefix, sizeof(prefix), "%s:", topic);
    prefix_len = strlen(prefix);
    reply = redisCommand(redis, "HGETALL %s", key);
    now = cp_mono_us();
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        fprintf(stderr, "bench_latency: HGETALL failed: %s\n",
                reply ? reply->str : redis->errstr);
        rc = -1;
        goto out;
    }
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *f = reply->element[i], *v = reply->element[i + 1];
        int64_t off;
        int p;

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
            strncmp(f->str, prefix, prefix_len))
            continue;
        p = atoi(f->str + prefix_len);
        if (p < 0 || p >= pr->parts)
            continue;
        off = strtoll(v->str, NULL, 10);
        if (off > pr->committed[p]) {
            pr->committed[p] = off;
            if (seen_add(&pr->seen[p], now, off))
                rc = -1;
        }
    }
out:
    freeReplyObject(reply);
    return rc;
}

/* First poll time at which partition @p s->part had committed past it. */
static int64_t visible_at(const struct probe *pr, const struct sent *s)
{
    const struct seen *sn = &pr->seen[s->part];
    size_t lo = 0, hi = sn->cnt;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (sn->offset[mid] > s->offset)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo < sn->cnt ? sn->t_us[lo] : -1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};

    nanosleep(&ts, NULL);
}

static void usage(void)
{
    fprintf(stderr,
            "Usage: bench_latency -b HOST:PORT -t TOPIC --redis-port PORT "
            "-g GROUP -R RATE [-d SECONDS] [--warmup SECONDS]\n"
            "       [-c CUSTOMERS] [--tenants N] [-s SEED] [-X key=value "
            "...]\n"
            "Prints: latency n= rate= p50_ms= p99_ms= max_ms= unseen=\n");
}

int main(int argc, char **argv)
{
    const char *bootstrap = NULL, *topic = NULL, *group = NULL;
    struct bench_props props = {0};
    struct cp_gen_config gcfg;
    double rate = 0, seconds = 10, warmup = 1;
    int redis_port = 0, status = 1;
    struct probe *pr = calloc(1, sizeof(*pr));
    struct cp_gen *gen = NULL;
    struct cp_codec *codec = NULL;
    redisContext *redis = NULL;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *rk = NULL;
    int64_t total, sent = 0, t0, t_poll = 0, t_check = 0, unseen = 0, n = 0;
    int64_t *lat = NULL;
    struct cp_buf key, value;
    static int64_t lo[BENCH_MAX_PARTITIONS], hi[BENCH_MAX_PARTITIONS];
    char errstr[512], okey[300];

    memset(&gcfg, 0, sizeof(gcfg));
    gcfg.seed = 1;
    gcfg.customers = 10000;
    gcfg.tenants = 10;
    cp_buf_init(&key, 0);
    cp_buf_init(&value, 0);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!v) {
            usage();
            return 2;
        }
        i++;
        if (!strcmp(a, "-b"))
            bootstrap = v;
        else if (!strcmp(a, "-t"))
            topic = v;
        else if (!strcmp(a, "-g"))
            group = v;
        else if (!strcmp(a, "--redis-port"))
            redis_port = atoi(v);
        else if (!strcmp(a, "-R"))
            rate = atof(v);
        else if (!strcmp(a, "-d"))
            seconds = atof(v);
        else if (!strcmp(a, "--warmup"))
            warmup = atof(v);
        else if (!strcmp(a, "-c"))
            gcfg.customers = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--tenants"))
            gcfg.tenants = atoi(v);
        else if (!strcmp(a, "-s"))
            gcfg.seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "-X")) {
            if (bench_props_add(&props, argv[i])) {
                usage();
                return 2;
            }
        } else {
            usage();
            return 2;
        }
    }
    if (!bootstrap || !topic || !group || !redis_port || rate <= 0 || !pr ||
        gcfg.customers < 1 || gcfg.tenants < 1) {
        usage();
        return 2;
    }
    total = (int64_t)(rate * seconds);
    pr->sent = calloc((size_t)total, sizeof(*pr->sent));
    lat = calloc((size_t)total, sizeof(*lat));
    if (!pr->sent || !lat) {
        fprintf(stderr, "bench_latency: out of memory\n");
        goto out;
    }
    snprintf(okey, sizeof(okey), "crmpulse:offsets:%s", group);
    /* Live traffic: event time follows the wall clock at the input rate. */
    gcfg.start_ms = cp_now_ms();
    gcfg.step_us = (int64_t)(1e6 / rate);
    gen = cp_gen_new(&gcfg);
    codec = cp_codec_new(CP_FRAMING_CONFLUENT, errstr, sizeof(errstr));
    if (!gen || !codec) {
        fprintf(stderr, "bench_latency: %s\n", codec ? "generator" : errstr);
        goto out;
    }
    redis = redisConnect("127.0.0.1", redis_port);
    if (!redis || redis->err) {
        fprintf(stderr, "bench_latency: redis: %s\n",
                redis ? redis->errstr : "out of memory");
        goto out;
    }

    /* Partition count and the current ends (the topic may hold old data). */
    {
        rd_kafka_t *meta =
            bench_consumer_new(bootstrap, &props, errstr, sizeof(errstr));

        if (!meta) {
            fprintf(stderr, "bench_latency: %s\n", errstr);
            goto out;
        }
        pr->parts = bench_topic_ends(meta, topic, lo, hi, BENCH_MAX_PARTITIONS,
                                     errstr, sizeof(errstr));
        rd_kafka_destroy(meta);
        if (pr->parts < 0) {
            fprintf(stderr, "bench_latency: %s\n", errstr);
            goto out;
        }
    }

    conf = rd_kafka_conf_new();
    /* A CRM backend's producer with librdkafka's default linger (5 ms). The
     * embedded broker returns one record batch per partition per fetch: at
     * 1 ms, 5,000 events/s over 16 partitions are ~1-event batches, and
     * consuming them tops out below the input rate (the lag grows and the
     * p99 becomes seconds whatever the worker does). One request in
     * flight: that broker keeps Nagle's algorithm on, and a second response
     * right behind a first waits 40 ms for our delayed ACK (see
     * new_sideout_producer() in lib/pipeline/worker.c); a real broker sets
     * TCP_NODELAY. */
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr,
                          sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "max.in.flight.requests.per.connection", "1",
                          errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "acks", "all", errstr, sizeof(errstr)))
        goto conf_fail;
    for (size_t i = 0; i < props.cnt; i++)
        if (rd_kafka_conf_set(conf, props.key[i], props.value[i], errstr,
                              sizeof(errstr)))
            goto conf_fail;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, pr);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk)
        goto conf_fail;
    conf = NULL; /* now owned by rk */

    for (int p = 0; p < pr->parts; p++)
        pr->committed[p] = -1;
    if (poll_offsets(pr, redis, okey, topic))
        goto out;

    t0 = cp_mono_us();
    for (;;) {
        int64_t now = cp_mono_us();
        int64_t due = (int64_t)((double)(now - t0) * rate / 1e6);
        int busy = 0;

        if (due > total)
            due = total;
        while (sent < due) {
            struct cp_event ev;
            rd_kafka_resp_err_t err;

            cp_gen_next(gen, &ev);
            cp_buf_reset(&value);
            if (cp_codec_encode_event(codec, &ev, &value) ||
                cp_gen_key(&ev, &key)) {
                fprintf(stderr, "bench_latency: encode failed\n");
                goto out;
            }
            pr->sent[sent].offset = -1;
            pr->sent[sent].t_us = cp_mono_us();
            err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key.data, key.len),
                RD_KAFKA_V_VALUE(value.data, value.len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_OPAQUE((void *)(intptr_t)sent), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 1);
                continue;
            }
            if (err) {
                fprintf(stderr, "bench_latency: produce: %s\n",
                        rd_kafka_err2str(err));
                goto out;
            }
            sent++;
            busy = 1;
        }
        rd_kafka_poll(rk, 0);
        if (now - t_poll >= 1000) {
            t_poll = now;
            if (poll_offsets(pr, redis, okey, topic))
                goto out;
            busy = 1;
        }
        if (sent == total && pr->acked + pr->failed == total &&
            now - t_check >= 50000) {
            int done = 1;

            t_check = now;
            for (int64_t i = 0; i < total && done; i++)
                if (pr->sent[i].offset >= 0 &&
                    pr->committed[pr->sent[i].part] <= pr->sent[i].offset)
                    done = 0;
            /* Everything visible, or give up 30 s after the last send. */
            if (done || now - t0 > (int64_t)(seconds * 1e6) + 30000000)
                break;
        }
        if (!busy)
            sleep_us(100);
    }

    for (int64_t i = 0; i < total; i++) {
        const struct sent *s = &pr->sent[i];
        int64_t at;

        if (s->t_us - t0 < (int64_t)(warmup * 1e6))
            continue;
        at = s->offset >= 0 ? visible_at(pr, s) : -1;
        if (at < 0) {
            unseen++;
            continue;
        }
        lat[n++] = at - s->t_us;
    }
    if (!n) {
        fprintf(stderr, "bench_latency: no message became visible\n");
        goto out;
    }
    qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
    printf("latency n=%lld rate=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f "
           "unseen=%lld failed=%lld\n",
           (long long)n, rate, (double)lat[n / 2] / 1000.0,
           (double)lat[(n * 99) / 100] / 1000.0, (double)lat[n - 1] / 1000.0,
           (long long)unseen, (long long)pr->failed);
    status = unseen || pr->failed ? 1 : 0;
    goto out;

conf_fail:
    fprintf(stderr, "bench_latency: producer: %s\n", errstr);
out:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (rk) {
        rd_kafka_flush(rk, 5000);
        rd_kafka_destroy(rk);
    }
    if (redis)
        redisFree(redis);
    cp_gen_destroy(gen);
    cp_codec_destroy(codec);
    cp_buf_cleanup(&key);
    cp_buf_cleanup(&value);
    if (pr) {
        for (int p = 0; p < BENCH_MAX_PARTITIONS; p++) {
            free(pr->seen[p].t_us);
            free(pr->seen[p].offset);
        }
        free(pr->sent);
    }
    free(pr);
    free(lat);
    return status;
}
