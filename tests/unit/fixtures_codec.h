/* SPDX-License-Identifier: Apache-2.0 */
/* Shared fixture of the codec's unit tests (test_codec.c, test_alert.c):
 * a codec per framing, an arena, an output buffer and a reason buffer,
 * made before each test and freed after it, and a leak check that fails
 * the test under LeakSanitizer. Header-only: each test is one file and
 * uses the names below directly. */
#ifndef CP_FIXTURES_CODEC_H
#define CP_FIXTURES_CODEC_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define CP_HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CP_HAVE_LSAN 1
#endif
#endif
#ifdef CP_HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#include "arena.h"
#include "buf.h"
#include "codec.h"

#define NOW 1700000000000LL /* 2023-11-14T22:13:20Z */

static struct cp_codec *conf; /* Confluent framing */
static struct cp_codec *raw;  /* raw framing */
static struct cp_arena arena;
static struct cp_buf out;
static char reason[256];

static void fx_codec_setup(void)
{
    char err[256];

    conf = cp_codec_new(CP_FRAMING_CONFLUENT, err, sizeof(err));
    cr_assert(conf != NULL, "codec: %s", err);
    raw = cp_codec_new(CP_FRAMING_RAW, err, sizeof(err));
    cr_assert(raw != NULL, "codec: %s", err);
    cp_arena_init(&arena, 4096);
    cp_buf_init(&out, 0);
}

static void fx_codec_teardown(void)
{
    cp_codec_destroy(conf);
    cp_codec_destroy(raw);
    cp_arena_cleanup(&arena);
    cp_buf_cleanup(&out);
#ifdef CP_HAVE_LSAN
    /* A leak report alone does not fail a Criterion test, and asserts in
     * .fini are not counted: crash the test instead. */
    if (__lsan_do_recoverable_leak_check()) {
        fprintf(stderr, "memory leaked (LeakSanitizer report above)\n");
        abort();
    }
#endif
}

#endif
