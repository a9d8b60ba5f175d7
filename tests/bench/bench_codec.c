/* SPDX-License-Identifier: Apache-2.0 */
/* In-memory codec cost without a broker: encodes N generated events into
 * one buffer, then decodes all of them again and again (arena reset every
 * 10,000 events, as the worker does per batch). Prints ns per event and,
 * when run with LD_PRELOAD=libmalloc_count.so, heap calls per event in the
 * timed passes (steady state: after one warm-up pass). */
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

static void usage(void)
{
    fprintf(stderr, "Usage: bench_codec [-n EVENTS] [--ms MIN_MS] [-s SEED]\n"
                    "Prints: codec events= passes= ns_per_event= "
                    "encode_ns= mallocs_per_event= frees_per_event=\n");
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
    struct cp_gen *gen = NULL;
    struct cp_codec *codec = NULL;
    struct cp_arena arena;
    struct cp_buf data;
    struct cp_event ev;
    size_t *off = NULL, n = 100000;
    int64_t min_ms = 2000, now_ms, t0, t1, enc_ns, passes = 0, bad = 0;
    uint64_t m0 = 0, f0 = 0, r0 = 0, m1 = 0, f1 = 0, r1 = 0;
    char errstr[512], reason[256];
    int status = 1;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) {
            n = strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--ms") && i + 1 < argc) {
            min_ms = strtoll(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "-s") && i + 1 < argc) {
            gcfg.seed = strtoull(argv[++i], NULL, 10);
        } else {
            usage();
            return 2;
        }
    }
    if (n == 0) {
        usage();
        return 2;
    }
    cp_arena_init(&arena, 1024 * 1024);
    cp_buf_init(&data, 0);
    off = calloc(n + 1, sizeof(*off));
    gen = cp_gen_new(&gcfg);
    codec = cp_codec_new(CP_FRAMING_CONFLUENT, errstr, sizeof(errstr));
    if (!off || !gen || !codec) {
        fprintf(stderr, "bench_codec: %s\n", codec ? "out of memory" : errstr);
        goto out;
    }

    t0 = bench_mono_ns();
    for (size_t i = 0; i < n; i++) {
        cp_gen_next(gen, &ev);
        off[i] = data.len;
        if (cp_codec_encode_event(codec, &ev, &data)) {
            fprintf(stderr, "bench_codec: encode event %zu failed\n", i);
            goto out;
        }
    }
    off[n] = data.len;
    enc_ns = bench_mono_ns() - t0;
    now_ms = ev.occurred_at + 1000;

    /* Warm-up pass: the arena, avro-c's values and any cache reach their
     * working size here, so the timed passes show the steady state. */
    for (int timed = 0; timed < 2; timed++) {
        if (timed && cp_malloc_count_snapshot)
            cp_malloc_count_snapshot(&m0, &f0, &r0);
        t0 = bench_mono_ns();
        do {
            for (size_t i = 0; i < n; i++) {
                if (i % 10000 == 0)
                    cp_arena_reset(&arena);
                if (cp_codec_decode_event(codec, data.data + off[i],
                                          off[i + 1] - off[i], now_ms, &arena,
                                          &ev, reason, sizeof(reason)))
                    bad++;
            }
            passes += timed;
            t1 = bench_mono_ns();
        } while (timed && t1 - t0 < min_ms * 1000000);
    }
    if (cp_malloc_count_snapshot)
        cp_malloc_count_snapshot(&m1, &f1, &r1);
    if (bad) {
        fprintf(stderr, "bench_codec: %lld events failed to decode (%s)\n",
                (long long)bad, reason);
        goto out;
    }
    printf("codec events=%zu bytes_per_event=%.1f passes=%lld "
           "ns_per_event=%.1f encode_ns=%.1f",
           n, (double)data.len / (double)n, (long long)passes,
           (double)(t1 - t0) / (double)((int64_t)n * passes),
           (double)enc_ns / (double)n);
    if (cp_malloc_count_snapshot)
        printf(" mallocs_per_event=%.3f frees_per_event=%.3f "
               "reallocs_per_event=%.3f",
               (double)(m1 - m0) / (double)((int64_t)n * passes),
               (double)(f1 - f0) / (double)((int64_t)n * passes),
               (double)(r1 - r0) / (double)((int64_t)n * passes));
    else
        printf(" mallocs_per_event=n/a");
    printf("\n");
    status = 0;
out:
    cp_codec_destroy(codec);
    cp_gen_destroy(gen);
    cp_buf_cleanup(&data);
    cp_arena_cleanup(&arena);
    free(off);
    return status;
}
