/* SPDX-License-Identifier: Apache-2.0 */
/* Decode cost with schema registry writer schemas, in memory: N generated
 * events decoded again and again (arena reset every 10,000, as the worker
 * does per batch) three ways: "fixed" (schema id 1, no registry: what
 * the worker did before), "registry_reader" (the reader schema itself
 * under a registry id) and "registry_evolved" (a writer schema resolved to
 * the reader: crm_event.avsc plus a trailing optional field "note" the
 * reader skips, each message its bytes plus that field's null). Prints ns
 * per event and, run with LD_PRELOAD=libmalloc_count.so, heap calls per
 * event in the timed passes (steady state: after one warm-up pass). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "bench_util.h"
#include "buf.h"
#include "codec.h"
#include "common.h"
#include "gen.h"
#include "schemas.h"

/* The messages of one way: framed values at off[i]..off[i + 1]. */
struct msgs {
    struct cp_buf data;
    size_t *off; /* owned, n + 1 */
};

/* Copies @p src's messages with id @p id and @p tail appended to each. */
static int reframe(const struct msgs *src, size_t n, uint32_t id,
                   const char *tail, size_t tail_len, struct msgs *dst)
{
    dst->off = calloc(n + 1, sizeof(*dst->off));
    if (!dst->off)
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t len = src->off[i + 1] - src->off[i];
        uint8_t *p;

        dst->off[i] = dst->data.len;
        if (cp_buf_reserve(&dst->data, len + tail_len))
            return -1;
        p = (uint8_t *)dst->data.data + dst->data.len;
        memcpy(p, (const char *)src->data.data + src->off[i], len);
        p[1] = (uint8_t)(id >> 24);
        p[2] = (uint8_t)(id >> 16);
        p[3] = (uint8_t)(id >> 8);
        p[4] = (uint8_t)id;
        memcpy(p + len, tail, tail_len);
        dst->data.len += len + tail_len;
    }
    dst->off[n] = dst->data.len;
    return 0;
}

/* Times decoding @p m with @p codec; prints one line. */
static int run(const char *mode, struct cp_codec *codec, const struct msgs *m,
               size_t n, int64_t now_ms, int64_t min_ms, struct cp_arena *arena)
{
    uint64_t m0 = 0, f0 = 0, r0 = 0, m1 = 0, f1 = 0, r1 = 0;
    int64_t t0 = 0, t1 = 0, passes = 0, bad = 0;
    char reason[256] = "";
    struct cp_event ev;

    for (int timed = 0; timed < 2; timed++) {
        if (timed && cp_malloc_count_snapshot)
            cp_malloc_count_snapshot(&m0, &f0, &r0);
        t0 = bench_mono_ns();
        do {
            for (size_t i = 0; i < n; i++) {
                if (i % 10000 == 0)
                    cp_arena_reset(arena);
                if (cp_codec_decode_event(codec, m->data.data + m->off[i],
                                          m->off[i + 1] - m->off[i], now_ms,
                                          arena, &ev, reason, sizeof(reason)))
                    bad++;
            }
            passes += timed;
            t1 = bench_mono_ns();
        } while (timed && t1 - t0 < min_ms * 1000000);
    }
    if (cp_malloc_count_snapshot)
        cp_malloc_count_snapshot(&m1, &f1, &r1);
    if (bad) {
        fprintf(stderr, "bench_resolve: %s: %lld events failed (%s)\n", mode,
                (long long)bad, reason);
        return -1;
    }
    printf("resolve mode=%s events=%zu passes=%lld ns_per_event=%.1f", mode, n,
           (long long)passes,
           (double)(t1 - t0) / (double)((int64_t)n * passes));
    if (cp_malloc_count_snapshot)
        printf(" mallocs_per_event=%.3f frees_per_event=%.3f",
               (double)(m1 - m0) / (double)((int64_t)n * passes),
               (double)(f1 - f0) / (double)((int64_t)n * passes));
    else
        printf(" mallocs_per_event=n/a");
    printf("\n");
    return 0;
}

int main(int argc, char **argv)
{
    struct cp_gen_config gcfg = {
        .seed = 42,
        .customers = 100000,
        .tenants = 100,
        .start_ms = 1700000000000,
        .step_ms = 1,
    };
    const char *reader = cp_schema_json(CP_SCHEMA_ID_CRM_EVENT);
    const char note[] = ", {\"name\": \"note\", \"type\": [\"null\", "
                        "\"string\"], \"default\": null}";
    struct cp_codec *fixed = NULL, *reg = NULL;
    struct msgs base = {0}, same = {0}, evolved = {0};
    struct cp_gen *gen = NULL;
    struct cp_arena arena;
    struct cp_event ev;
    char errstr[512], summary[512], *writer = NULL;
    const char *end;
    size_t n = 100000;
    int64_t min_ms = 2000, now_ms;
    int status = 1;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) {
            n = strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--ms") && i + 1 < argc) {
            min_ms = strtoll(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "Usage: bench_resolve [-n EVENTS] [--ms MIN_MS]\n"
                            "Prints per mode (fixed, registry_reader, "
                            "registry_evolved): ns_per_event= "
                            "mallocs_per_event=\n");
            return 2;
        }
    }
    if (n == 0)
        return 2;
    cp_arena_init(&arena, 1024 * 1024);
    cp_buf_init(&base.data, 0);
    cp_buf_init(&same.data, 0);
    cp_buf_init(&evolved.data, 0);
    /* The evolved writer: the reader's fields, then "note". */
    end = strrchr(reader, ']');
    writer = end ? malloc(strlen(reader) + sizeof(note)) : NULL;
    base.off = calloc(n + 1, sizeof(*base.off));
    gen = cp_gen_new(&gcfg);
    fixed = cp_codec_new(CP_FRAMING_CONFLUENT, errstr, sizeof(errstr));
    reg = fixed ? cp_codec_new(CP_FRAMING_CONFLUENT, errstr, sizeof(errstr))
                : NULL;
    if (!writer || !base.off || !gen || !fixed || !reg) {
        fprintf(stderr, "bench_resolve: %s\n", reg ? "out of memory" : errstr);
        goto out;
    }
    /* The reader's closing "]" of its fields is the last one but for
     * payload's: the fields array closes at the last ']' of the text. */
    snprintf(writer, strlen(reader) + sizeof(note), "%.*s%s%s",
             (int)(end - reader), reader, note, end);
    cp_codec_use_registry(reg);
    if (cp_codec_add_schema(reg, 100, reader, summary, sizeof(summary)) ||
        cp_codec_add_schema(reg, 101, writer, summary, sizeof(summary))) {
        fprintf(stderr, "bench_resolve: %s\n", summary);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        cp_gen_next(gen, &ev);
        base.off[i] = base.data.len;
        if (cp_codec_encode_event(fixed, &ev, &base.data)) {
            fprintf(stderr, "bench_resolve: encode event %zu failed\n", i);
            goto out;
        }
    }
    base.off[n] = base.data.len;
    now_ms = ev.occurred_at + 1000;
    if (reframe(&base, n, 100, "", 0, &same) ||
        reframe(&base, n, 101, "\0", 1, &evolved)) {
        fprintf(stderr, "bench_resolve: out of memory\n");
        goto out;
    }
    if (run("fixed", fixed, &base, n, now_ms, min_ms, &arena) ||
        run("registry_reader", reg, &same, n, now_ms, min_ms, &arena) ||
        run("registry_evolved", reg, &evolved, n, now_ms, min_ms, &arena))
        goto out;
    status = 0;
out:
    cp_codec_destroy(fixed);
    cp_codec_destroy(reg);
    cp_gen_destroy(gen);
    cp_buf_cleanup(&base.data);
    cp_buf_cleanup(&same.data);
    cp_buf_cleanup(&evolved.data);
    free(base.off);
    free(same.off);
    free(evolved.off);
    free(writer);
    cp_arena_cleanup(&arena);
    return status;
}
