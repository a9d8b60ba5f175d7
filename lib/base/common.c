/* SPDX-License-Identifier: Apache-2.0 */
/* Return-code names, clocks, decimal integers, growing arrays. */
#include "common.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

const char *cp_rc_name(cp_rc rc)
{
    switch (rc) {
    case CP_OK:
        return "CP_OK";
    case CP_ENOMEM:
        return "CP_ENOMEM";
    case CP_ECONFIG:
        return "CP_ECONFIG";
    case CP_EDECODE:
        return "CP_EDECODE";
    case CP_EREDIS:
        return "CP_EREDIS";
    case CP_EKAFKA:
        return "CP_EKAFKA";
    case CP_EFENCED:
        return "CP_EFENCED";
    case CP_EIO:
        return "CP_EIO";
    }
    return "CP_E?";
}

int64_t cp_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cp_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cp_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

size_t cp_i64_str(char *out, int64_t v)
{
    char tmp[CP_I64_STR_MAX];
    size_t n = 0, i = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[i++] = '-';
    while (n)
        out[i++] = tmp[--n];
    out[i] = '\0';
    return i;
}

cp_rc cp_decode_fail(char *reason, size_t reason_size, const char *fmt, ...)
{
    va_list ap;

    if (reason && reason_size) {
        va_start(ap, fmt);
        vsnprintf(reason, reason_size, fmt, ap);
        va_end(ap);
    }
    return CP_EDECODE;
}

void cp_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

void *cp_grow(void *items, size_t *cap, size_t cnt, size_t size, size_t first)
{
    size_t want;
    void *moved;

    if (cnt < *cap)
        return items;
    want = *cap ? *cap * 2 : first;
    if (want < *cap || want > SIZE_MAX / size)
        return NULL; /* overflow */
    moved = realloc(items, want * size);
    if (!moved)
        return NULL;
    *cap = want;
    return moved;
}
