/* SPDX-License-Identifier: Apache-2.0 */
/* lib/base/common: the hot path's integer formatting, growing arrays. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static void check(int64_t v)
{
    char fast[CP_I64_STR_MAX], slow[32];
    size_t n = cp_i64_str(fast, v);

    snprintf(slow, sizeof(slow), "%lld", (long long)v);
    cr_assert_str_eq(fast, slow);
    cr_assert_eq(n, strlen(slow), "%s", slow);
}

Test(common, i64_str_prints_what_printf_prints)
{
    const int64_t edges[] = {0,
                             1,
                             -1,
                             9,
                             10,
                             -10,
                             99,
                             100,
                             INT32_MAX,
                             INT32_MIN,
                             INT64_MAX,
                             INT64_MIN,
                             INT64_MAX - 1,
                             INT64_MIN + 1};
    uint64_t s = 0x9e3779b97f4a7c15ULL;

    for (size_t i = 0; i < CP_ARRAY_SIZE(edges); i++)
        check(edges[i]);
    for (int i = 0; i < 100000; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        /* Every magnitude, both signs. */
        check((int64_t)(s >> (s % 64)) * (s & 1 ? -1 : 1));
    }
}

static void check_fixed(double v, int decimals, size_t cap)
{
    char fast[64], slow[64];
    int n, want;

    memset(fast, 'x', sizeof(fast));
    memset(slow, 'x', sizeof(slow));
    n = cp_fixed_str(fast, cap, v, decimals);
    want = snprintf(slow, cap, "%.*f", decimals, v);
    cr_assert_eq(n, want, "%.17g with %d decimals: %d, printf %d", v, decimals,
                 n, want);
    cr_assert_eq(memcmp(fast, slow, sizeof(fast)), 0,
                 "%.17g with %d decimals, cap %zu: \"%.*s\", printf \"%.*s\"",
                 v, decimals, cap, (int)cap, fast, (int)cap, slow);
}

static double next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (double)(*s >> 11) * 0x1p-53; /* [0, 1) */
}

Test(common, fixed_str_prints_what_printf_prints)
{
    const double edges[] = {
        0.0,    -0.0,    0.5,     1.5,      2.5,      -2.5,      0.125,   0.375,
        -0.125, 0.00005, 0.00015, -0.00005, 0.99995,  1e-300,    -1e-300, 1e14,
        1e15,   9.99e14, 1e300,   -1e300,   INFINITY, -INFINITY, NAN};
    uint64_t s = 0x9e3779b97f4a7c15ULL;

    for (size_t i = 0; i < CP_ARRAY_SIZE(edges); i++)
        for (int d = 0; d <= 9; d++)
            check_fixed(edges[i], d, 64);
    for (int i = 0; i < 200000; i++) {
        int d = i % 10;
        double u = next_random(&s), scale = (double)(1ULL << (i % 40));
        /* Near a tie of d decimals: k.5 / 10^d give or take a few ulps. */
        double tie = (floor(u * 1e6) + 0.5) / (d ? pow(10, d) : 1);

        check_fixed(u, d, 64);
        check_fixed(-u * scale, d, 64);
        check_fixed(u * 1e-6, d, 64);
        check_fixed(tie, d, 64);
        check_fixed(nextafter(tie, 0), d, 64);
        check_fixed(nextafter(tie, 2e6), d, 64);
    }
    /* Truncated like snprintf when the buffer is short. */
    for (size_t cap = 0; cap < 12; cap++)
        check_fixed(-123.456789, 4, cap);
}

Test(common, fmt_prints_what_snprintf_prints)
{
    uint64_t s = 0x2545f4914f6cdd1dULL;

    for (int i = 0; i < 100000; i++) {
        char fast[160], slow[160];
        double u = next_random(&s) * (double)(1ULL << (i % 30));
        int d = (int)(s % 2000001) - 1000000, n, want;
        unsigned int un = (unsigned int)(s >> 7);
        size_t cap = i % 7 ? sizeof(fast) : (size_t)(s % 40);
        const char *word = i & 1 ? "orders" : "";

        memset(fast, 'x', sizeof(fast));
        memset(slow, 'x', sizeof(slow));
        n = cp_fmt(fast, cap, "%d%% of %u: %s, %.1f and %.2f (%.4f) days", d,
                   un, word, u, -u, u / 3);
        want = snprintf(slow, cap, "%d%% of %u: %s, %.1f and %.2f (%.4f) days",
                        d, un, word, u, -u, u / 3);
        cr_assert_eq(n, want);
        cr_assert_eq(memcmp(fast, slow, sizeof(fast)), 0,
                     "cap %zu: \"%s\" vs \"%s\"", cap, fast, slow);
    }
    {
        char fast[400], slow[400];

        cr_assert_eq(cp_fmt(fast, sizeof(fast), "%d %.2f", INT32_MIN, 1e300),
                     snprintf(slow, sizeof(slow), "%d %.2f", INT32_MIN, 1e300));
        cr_assert_str_eq(fast, slow);
        cr_assert_eq(cp_fmt(fast, sizeof(fast), "plain"), 5);
        cr_assert_str_eq(fast, "plain");
    }
}

Test(common, grow_doubles_when_full_and_keeps_the_items)
{
    int *items = NULL, *grown;
    size_t cap = 0;

    for (size_t cnt = 0; cnt < 1000; cnt++) {
        size_t before = cap;

        grown = cp_grow(items, &cap, cnt, sizeof(*items), 4);
        cr_assert_not_null(grown);
        items = grown;
        cr_assert_eq(cap,
                     cnt < before ? before
                     : before     ? before * 2
                                  : 4,
                     "cnt %zu: cap %zu from %zu", cnt, cap, before);
        items[cnt] = (int)cnt * 7;
    }
    cr_assert_eq(cap, 1024);
    for (size_t i = 0; i < 1000; i++)
        cr_assert_eq(items[i], (int)i * 7);
    free(items);
}

Test(common, grow_refuses_a_size_that_overflows)
{
    char *items = malloc(1);
    size_t cap = SIZE_MAX / 2 + 1;

    cr_assert_not_null(items);
    cr_assert_null(cp_grow(items, &cap, cap, 1, 16), "2 * cap overflows");
    cr_assert_eq(cap, SIZE_MAX / 2 + 1, "cap unchanged");
    cap = 1;
    cr_assert_null(cp_grow(items, &cap, 1, SIZE_MAX / 2 + 1, 16),
                   "items * size overflows");
    cr_assert_eq(cap, 1);
    free(items);
}

Test(common, trim_strips_ascii_blanks_in_place)
{
    char a[] = " \t key = v \r\n", b[] = "", c[] = "\v\f";

    cr_assert_str_eq(cp_trim(a), "key = v");
    cr_assert_str_eq(cp_trim(b), "");
    cr_assert_str_eq(cp_trim(c), "");
    cr_assert_eq(cp_clamp64(-5, 0, 10), 0);
    cr_assert_eq(cp_clamp64(50, 0, 10), 10);
    cr_assert_eq(cp_min64(INT64_MIN, 0), INT64_MIN);
    cr_assert_eq(cp_max64(INT64_MAX, 0), INT64_MAX);
}
