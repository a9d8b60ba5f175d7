/* SPDX-License-Identifier: Apache-2.0 */
/* lib/base/common: the hot path's integer formatting. */
#include <criterion/criterion.h>
#include <stdio.h>
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
