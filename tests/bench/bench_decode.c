/* SPDX-License-Identifier: Apache-2.0 */
/* Decode cost: (1) consume a topic and decode + validate every message, as
 * the worker does before it applies anything; (2) decode a copy of the
 * first messages again and again from memory: pure decode ns per event. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "bench_util.h"
#include "codec.h"
#include "common.h"

#define KEEP_MAX_DEFAULT 200000

struct decode_run {
    struct cp_codec *codec; /* owned */
    struct cp_arena arena;  /* decoded strings, reset per batch */
    struct cp_event ev;
    int64_t now_ms;
    int64_t valid;
    int64_t invalid;
    /* Copies of the first messages, for the in-memory pass. */
    char *keep_data; /* owned */
    size_t keep_len, keep_cap;
    size_t *keep_off; /* owned; keep_cnt + 1 entries */
    size_t keep_cnt, keep_max;
};

static int keep_copy(struct decode_run *run, const void *value, size_t len)
{
    if (run->keep_cnt >= run->keep_max)
        return 0;
    if (run->keep_len + len > run->keep_cap) {
        size_t cap = run->keep_cap ? run->keep_cap * 2 : 1 << 20;
        char *data;

        while (cap < run->keep_len + len)
            cap *= 2;
        data = realloc(run->keep_data, cap);
        if (!data)
            return -1;
        run->keep_data = data;
        run->keep_cap = cap;
    }
    if (len)
        memcpy(run->keep_data + run->keep_len, value, len);
    run->keep_off[run->keep_cnt] = run->keep_len;
    run->keep_len += len;
    run->keep_cnt++;
    run->keep_off[run->keep_cnt] = run->keep_len;
    return 0;
}

static int on_batch(void *opaque, rd_kafka_message_t **rkms, size_t cnt)
{
    struct decode_run *run = opaque;
    char reason[256];

    cp_arena_reset(&run->arena);
    for (size_t i = 0; i < cnt; i++) {
        cp_rc rc = cp_codec_decode_event(run->codec, rkms[i]->payload,
                                         rkms[i]->len, run->now_ms, &run->arena,
                                         &run->ev, reason, sizeof(reason));
        if (rc == CP_OK)
            run->valid++;
        else if (rc == CP_EDECODE)
            run->invalid++;
        else
            return -1;
        if (keep_copy(run, rkms[i]->payload, rkms[i]->len))
            return -1;
    }
    return 0;
}

/* Decodes the kept copies for at least @p min_us; returns ns per event. */
static double pure_decode(struct decode_run *run, int64_t min_us,
                          int64_t *decoded)
{
    int64_t t0 = cp_mono_us(), t1;
    char reason[256];

    *decoded = 0;
    if (!run->keep_cnt)
        return 0.0;
    do {
        for (size_t i = 0; i < run->keep_cnt; i++) {
            /* Same arena discipline as the worker: reset per batch. */
            if (i % 10000 == 0)
                cp_arena_reset(&run->arena);
            (void)cp_codec_decode_event(
                run->codec, run->keep_data + run->keep_off[i],
                run->keep_off[i + 1] - run->keep_off[i], run->now_ms,
                &run->arena, &run->ev, reason, sizeof(reason));
        }
        *decoded += (int64_t)run->keep_cnt;
        t1 = cp_mono_us();
    } while (t1 - t0 < min_us);
    return (double)(t1 - t0) * 1000.0 / (double)*decoded;
}

static void usage(void)
{
    fprintf(stderr, "Usage: bench_decode -b HOST:PORT [-t TOPIC] [--keep N] "
                    "[--idle-ms MS] [-X key=value ...]\n"
                    "Prints: decode msgs= valid= invalid= seconds= rate= "
                    "pure_ns= pure_rate=\n");
}

int main(int argc, char **argv)
{
    const char *bootstrap = NULL, *topic = "crm.events";
    struct bench_props props = {0};
    struct bench_consume_result res;
    struct decode_run run;
    int64_t decoded = 0;
    char errstr[512];
    int idle_ms = 10000, status = 1;
    double ns;

    memset(&run, 0, sizeof(run));
    run.keep_max = KEEP_MAX_DEFAULT;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-b") && i + 1 < argc) {
            bootstrap = argv[++i];
        } else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            topic = argv[++i];
        } else if (!strcmp(argv[i], "--keep") && i + 1 < argc) {
            run.keep_max = strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--idle-ms") && i + 1 < argc) {
            idle_ms = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "-X") && i + 1 < argc) {
            if (bench_props_add(&props, argv[++i])) {
                usage();
                return 2;
            }
        } else {
            usage();
            return 2;
        }
    }
    if (!bootstrap) {
        usage();
        return 2;
    }
    cp_arena_init(&run.arena, 1024 * 1024);
    run.now_ms = cp_now_ms();
    run.keep_off = calloc(run.keep_max + 1, sizeof(*run.keep_off));
    run.codec = cp_codec_new(CP_FRAMING_CONFLUENT, errstr, sizeof(errstr));
    if (!run.codec || !run.keep_off) {
        fprintf(stderr, "bench_decode: %s\n",
                run.codec ? "out of memory" : errstr);
        goto out;
    }
    if (bench_consume_all(bootstrap, topic, &props, on_batch, &run, idle_ms,
                          &res, errstr, sizeof(errstr))) {
        fprintf(stderr, "bench_decode: %s\n", errstr);
        goto out;
    }
    ns = pure_decode(&run, 1000000, &decoded);
    printf("decode msgs=%lld valid=%lld invalid=%lld seconds=%.3f rate=%.0f "
           "pure_ns=%.1f pure_rate=%.0f pure_n=%lld\n",
           (long long)res.msgs, (long long)run.valid, (long long)run.invalid,
           res.seconds, res.seconds > 0 ? (double)res.msgs / res.seconds : 0.0,
           ns, ns > 0 ? 1e9 / ns : 0.0, (long long)decoded);
    status = 0;
out:
    cp_codec_destroy(run.codec);
    cp_arena_cleanup(&run.arena);
    free(run.keep_data);
    free(run.keep_off);
    return status;
}
