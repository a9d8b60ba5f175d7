/* SPDX-License-Identifier: Apache-2.0 */
/* The allocator avro-c decodes with: installed exactly when not under a
 * sanitizer, contents kept across every kind of resize, blocks reused and
 * freeable on any thread, and codec round trips unchanged over 100k mixed
 * valid and malformed messages (with whichever allocator is installed). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "avro_alloc.h"
#include "buf.h"
#include "codec.h"
#include "gen.h"

#if defined(__SANITIZE_ADDRESS__)
#define CP_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CP_SANITIZED 1
#endif
#endif
#ifdef CP_SANITIZED
#include <sanitizer/lsan_interface.h>
#endif

TestSuite(avro_alloc, .timeout = 60);

static void *a_alloc(size_t n)
{
    return cp__avro_alloc(NULL, NULL, 0, n);
}

static void *a_realloc(void *p, size_t o, size_t n)
{
    return cp__avro_alloc(NULL, p, o, n);
}

static void a_free(void *p, size_t o)
{
    cr_assert_null(cp__avro_alloc(NULL, p, o, 0));
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 31u + seed);
}

static bool holds(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 31u + seed))
            return false;
    return true;
}

Test(avro_alloc, installed_unless_sanitized)
{
#ifdef CP_SANITIZED
    cr_assert_not(cp__avro_alloc_installed());
#else
    cr_assert(cp__avro_alloc_installed());
#endif
}

Test(avro_alloc, aligned_and_writable_at_every_size)
{
    static const size_t sizes[] = {1,    7,    15,   16,   17,   31,   32,
                                   33,   100,  255,  256,  257,  1000, 2047,
                                   2048, 2049, 4095, 4096, 4097, 65536};
    void *blocks[CP_ARRAY_SIZE(sizes)];

    for (size_t i = 0; i < CP_ARRAY_SIZE(sizes); i++) {
        blocks[i] = a_alloc(sizes[i]);
        cr_assert_not_null(blocks[i]);
        cr_assert_eq((uintptr_t)blocks[i] % _Alignof(max_align_t), 0);
        fill(blocks[i], sizes[i], (unsigned)i);
    }
    for (size_t i = 0; i < CP_ARRAY_SIZE(sizes); i++) {
        cr_assert(holds(blocks[i], sizes[i], (unsigned)i), "size %zu",
                  sizes[i]);
        a_free(blocks[i], sizes[i]);
    }
    cr_assert_null(a_alloc(0));
    cr_assert_null(cp__avro_alloc(NULL, NULL, 0, 0));
}

Test(avro_alloc, resize_keeps_contents)
{
    /* Growth and shrinkage within a class, across classes, small to large,
     * large to large and large back to small. */
    static const size_t steps[] = {10,   12,    16,   17,    100,  64,
                                   4000, 4096,  5000, 70000, 9000, 3000,
                                   40,   20000, 8,    1,     300};
    size_t cur = steps[0];
    unsigned char *p = a_alloc(cur);

    cr_assert_not_null(p);
    fill(p, cur, 5);
    for (size_t i = 1; i < CP_ARRAY_SIZE(steps); i++) {
        size_t keep = cur < steps[i] ? cur : steps[i];

        p = a_realloc(p, cur, steps[i]);
        cr_assert_not_null(p);
        cr_assert(holds(p, keep, 5), "resize %zu -> %zu", cur, steps[i]);
        fill(p, steps[i], 5);
        cur = steps[i];
    }
    a_free(p, cur);
}

Test(avro_alloc, resize_ignores_a_wrong_old_size)
{
    unsigned char *p = a_alloc(3000);

    fill(p, 3000, 9);
    /* avro-c's osize is not trusted: the block knows its own class */
    p = a_realloc(p, 1, 10000);
    cr_assert(holds(p, 3000, 9));
    a_free(p, 7);
}

Test(avro_alloc, freed_blocks_are_reused_by_class)
{
    void *a = a_alloc(100), *b, *c;

    a_free(a, 100);
    b = a_alloc(120); /* same 128-byte class: the cached block */
    cr_assert_eq(b, a);
    c = a_alloc(20); /* another class: not that block */
    cr_assert_neq(c, b);
    a_free(b, 120);
    a_free(c, 20);
}

Test(avro_alloc, many_random_blocks)
{
    enum { SLOTS = 512, ROUNDS = 200000 };
    unsigned char *p[SLOTS] = {0};
    size_t len[SLOTS] = {0};
    uint64_t x = 88172645463325252ULL;

    for (int r = 0; r < ROUNDS; r++) {
        size_t s, n;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s = (size_t)(x % SLOTS);
        /* mostly small, some beyond the largest class */
        n = (x >> 20) % 8 == 0 ? (size_t)((x >> 24) % 20000)
                               : (size_t)((x >> 24) % 300);
        if (p[s])
            cr_assert(holds(p[s], len[s], (unsigned)s), "round %d", r);
        if (!p[s]) {
            p[s] = n ? a_alloc(n) : NULL;
        } else if ((x >> 40) % 3 == 0) {
            a_free(p[s], len[s]);
            p[s] = NULL;
            n = 0;
        } else {
            p[s] = a_realloc(p[s], len[s], n);
        }
        cr_assert(n == 0 || p[s] != NULL);
        len[s] = n;
        if (p[s])
            fill(p[s], n, (unsigned)s);
    }
    for (int s = 0; s < SLOTS; s++)
        if (p[s])
            a_free(p[s], len[s]);
}

/* ---- threads ---- */

enum { XBLOCKS = 4000 };

struct xthread {
    unsigned char *blocks[XBLOCKS];
    unsigned seed;
};

static void *alloc_in_thread(void *arg)
{
    struct xthread *xt = arg;

    for (int i = 0; i < XBLOCKS; i++) {
        size_t n = (size_t)(i % 700) + 1;

        xt->blocks[i] = a_alloc(n);
        if (!xt->blocks[i])
            return NULL;
        fill(xt->blocks[i], n, xt->seed);
    }
    /* some freed here, so this thread's cache has blocks when it exits */
    for (int i = 0; i < XBLOCKS; i += 2) {
        cp__avro_alloc(NULL, xt->blocks[i], 0, 0);
        xt->blocks[i] = NULL;
    }
    return xt;
}

static void *free_in_thread(void *arg)
{
    struct xthread *xt = arg;

    for (int i = 1; i < XBLOCKS; i += 2) {
        size_t n = (size_t)(i % 700) + 1;

        if (!holds(xt->blocks[i], n, xt->seed))
            return NULL;
        cp__avro_alloc(NULL, xt->blocks[i], n, 0);
        xt->blocks[i] = NULL;
    }
    /* reuse what another thread allocated */
    for (int i = 1; i < XBLOCKS; i += 2) {
        xt->blocks[i] = a_alloc(64);
        if (!xt->blocks[i])
            return NULL;
        memset(xt->blocks[i], 0xa5, 64);
    }
    for (int i = 1; i < XBLOCKS; i += 2)
        cp__avro_alloc(NULL, xt->blocks[i], 64, 0);
    return xt;
}

Test(avro_alloc, blocks_cross_threads)
{
    struct xthread *xt = calloc(1, sizeof(*xt));
    pthread_t t;
    void *res = NULL;

    cr_assert_not_null(xt);
    for (unsigned round = 0; round < 8; round++) {
        xt->seed = round;
        cr_assert_eq(pthread_create(&t, NULL, alloc_in_thread, xt), 0);
        cr_assert_eq(pthread_join(t, &res), 0);
        cr_assert_eq(res, xt);
        cr_assert_eq(pthread_create(&t, NULL, free_in_thread, xt), 0);
        cr_assert_eq(pthread_join(t, &res), 0);
        cr_assert_eq(res, xt, "a block changed between threads");
    }
    free(xt);
#ifdef CP_SANITIZED
    /* Exited threads must have given their cached blocks back. */
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,
                 "leaked (LeakSanitizer report above)");
#endif
}

/* ---- the codec over it ---- */

struct round_trip {
    struct cp_codec *codec;
    struct cp_gen *gen;
    int valid, invalid;
    int bad; /* events whose re-encoding differed */
};

static void *round_trips(void *arg)
{
    struct round_trip *rt = arg;
    struct cp_gen_config gc = {
        .seed = 77,
        .customers = 5000,
        .tenants = 7,
        .start_ms = 1700000000000LL,
        .step_ms = 3,
    };
    struct cp_arena arena;
    struct cp_buf a, b;
    struct cp_event ev, back;
    char reason[256];

    cp_arena_init(&arena, 64 * 1024);
    cp_buf_init(&a, 0);
    cp_buf_init(&b, 0);
    rt->gen = cp_gen_new(&gc);
    for (int i = 0; rt->gen && i < 100000; i++) {
        int64_t now;

        if (i % 1000 == 0)
            cp_arena_reset(&arena);
        cp_buf_reset(&a);
        cp_buf_reset(&b);
        cp_gen_next(rt->gen, &ev);
        now = ev.occurred_at + 1000;
        if (i % 5 == 4) {
            cp_gen_invalid(rt->gen, rt->codec, &a);
            if (cp_codec_decode_event(rt->codec, a.data, a.len, now, &arena,
                                      &back, reason,
                                      sizeof(reason)) == CP_EDECODE)
                rt->invalid++;
            continue;
        }
        if (cp_codec_encode_event(rt->codec, &ev, &a) ||
            cp_codec_decode_event(rt->codec, a.data, a.len, now, &arena, &back,
                                  reason, sizeof(reason)) ||
            cp_codec_encode_event(rt->codec, &back, &b) || a.len != b.len ||
            memcmp(a.data, b.data, a.len) != 0 ||
            back.event_id.len != ev.event_id.len ||
            memcmp(back.event_id.ptr, ev.event_id.ptr, ev.event_id.len) != 0)
            rt->bad++;
        else
            rt->valid++;
    }
    cp_gen_destroy(rt->gen);
    rt->gen = NULL;
    cp_buf_cleanup(&a);
    cp_buf_cleanup(&b);
    cp_arena_cleanup(&arena);
    return rt;
}

Test(avro_alloc, codec_round_trips_of_100k_mixed_messages)
{
    struct round_trip rt = {0};
    char errstr[256];

    rt.codec = cp_codec_new(CP_FRAMING_CONFLUENT, errstr, sizeof(errstr));
    cr_assert_not_null(rt.codec, "%s", errstr);
    round_trips(&rt);
    cp_codec_destroy(rt.codec);
    cr_assert_eq(rt.bad, 0, "%d of %d events changed", rt.bad,
                 rt.bad + rt.valid);
    cr_assert_eq(rt.valid, 80000);
    cr_assert_eq(rt.invalid, 20000);
}

Test(avro_alloc, codecs_in_threads_and_destroyed_elsewhere)
{
    struct round_trip rt[2] = {{0}, {0}};
    pthread_t t[2];
    char errstr[256];

    /* Created here, used on other threads, destroyed here again: avro-c's
     * blocks move between threads' lists both ways. */
    for (int i = 0; i < 2; i++) {
        rt[i].codec =
            cp_codec_new(CP_FRAMING_CONFLUENT, errstr, sizeof(errstr));
        cr_assert_not_null(rt[i].codec, "%s", errstr);
    }
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, round_trips, &rt[i]), 0);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < 2; i++) {
        cp_codec_destroy(rt[i].codec);
        cr_assert_eq(rt[i].bad, 0);
        cr_assert_eq(rt[i].valid, 80000);
        cr_assert_eq(rt[i].invalid, 20000);
    }
}
