/* SPDX-License-Identifier: Apache-2.0 */
/* Waits until the worker has committed a whole topic: reads the high
 * watermarks from Kafka once, then polls the offsets hash in Redis every
 * few milliseconds until each partition's next offset reaches its end.
 * Prints wall-clock times, so callers can relate them to the worker's log.
 * It polls with HGETALL, a command the worker never sends, so the benchmark
 * can tell its probes apart from the worker's traffic in INFO commandstats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "bench_util.h"

static void usage(void)
{
    fprintf(stderr, "Usage: bench_wait_committed -b HOST:PORT -t TOPIC "
                    "--redis-port PORT -g GROUP [--timeout SECONDS] "
                    "[--poll-ms MS] [-X key=value ...]\n"
                    "Prints: committed events= first_ms= done_ms=\n");
}

int main(int argc, char **argv)
{
    static int64_t lo[BENCH_MAX_PARTITIONS], hi[BENCH_MAX_PARTITIONS];
    const char *bootstrap = NULL, *topic = NULL, *group = NULL;
    struct bench_props props = {0};
    int redis_port = 0, poll_ms = 5, parts;
    double timeout_s = 600;
    int64_t events = 0, first_ms = 0, t_end;
    redisContext *redis;
    rd_kafka_t *rk;
    char errstr[512], key[300], field_prefix[300];
    size_t prefix_len;
    int64_t off[BENCH_MAX_PARTITIONS];

    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-b"))
            bootstrap = argv[i + 1];
        else if (!strcmp(argv[i], "-t"))
            topic = argv[i + 1];
        else if (!strcmp(argv[i], "-g"))
            group = argv[i + 1];
        else if (!strcmp(argv[i], "--redis-port"))
            redis_port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--timeout"))
            timeout_s = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--poll-ms"))
            poll_ms = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-X") &&
                 !bench_props_add(&props, argv[i + 1]))
            continue;
        else {
            usage();
            return 2;
        }
    }
    if (!bootstrap || !topic || !group || !redis_port || argc % 2 == 0) {
        usage();
        return 2;
    }
    rk = bench_consumer_new(bootstrap, &props, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "bench_wait_committed: %s\n", errstr);
        return 1;
    }
    parts = bench_topic_ends(rk, topic, lo, hi, BENCH_MAX_PARTITIONS, errstr,
                             sizeof(errstr));
    rd_kafka_destroy(rk);
    if (parts < 0) {
        fprintf(stderr, "bench_wait_committed: %s\n", errstr);
        return 1;
    }
    for (int p = 0; p < parts; p++)
        events += hi[p] - lo[p];
    redis = redisConnect("127.0.0.1", redis_port);
    if (!redis || redis->err) {
        fprintf(stderr, "bench_wait_committed: redis: %s\n",
                redis ? redis->errstr : "out of memory");
        return 1;
    }
    snprintf(key, sizeof(key), "crmpulse:offsets:%s", group);
    snprintf(field_prefix, sizeof(field_prefix), "%s:", topic);
    prefix_len = strlen(field_prefix);
    t_end = cp_mono_us() + (int64_t)(timeout_s * 1e6);
    for (;;) {
        redisReply *reply = redisCommand(redis, "HGETALL %s", key);
        int64_t now_ms = cp_now_ms();
        int done = 1, any = 0;

        if (!reply || reply->type != REDIS_REPLY_ARRAY) {
            fprintf(stderr, "bench_wait_committed: HGETALL failed\n");
            freeReplyObject(reply);
            redisFree(redis);
            return 1;
        }
        for (int p = 0; p < parts; p++)
            off[p] = -1;
        for (size_t i = 0; i + 1 < reply->elements; i += 2) {
            const redisReply *f = reply->element[i], *v = reply->element[i + 1];
            int p;

            if (f->type != REDIS_REPLY_STRING ||
                v->type != REDIS_REPLY_STRING ||
                strncmp(f->str, field_prefix, prefix_len))
                continue;
            p = atoi(f->str + prefix_len);
            if (p >= 0 && p < parts)
                off[p] = strtoll(v->str, NULL, 10);
        }
        for (int p = 0; p < parts; p++) {
            if (off[p] >= 0)
                any = 1;
            if (off[p] < hi[p] && hi[p] > lo[p])
                done = 0;
        }
        freeReplyObject(reply);
        if (any && !first_ms)
            first_ms = now_ms;
        if (done) {
            printf("committed events=%lld first_ms=%lld done_ms=%lld\n",
                   (long long)events, (long long)first_ms, (long long)now_ms);
            break;
        }
        if (cp_mono_us() > t_end) {
            fprintf(stderr, "bench_wait_committed: timeout\n");
            redisFree(redis);
            return 1;
        }
        struct timespec ts = {0, poll_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    redisFree(redis);
    return 0;
}
