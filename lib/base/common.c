/* SPDX-License-Identifier: Apache-2.0 */
/* Return-code names, clocks, decimal integers, growing arrays. */
#include "common.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    /* Two digits a division: this writes every RESP length we send. */
    static const char pairs[] = "00010203040506070809"
                                "10111213141516171819"
                                "20212223242526272829"
                                "30313233343536373839"
                                "40414243444546474849"
                                "50515253545556575859"
                                "60616263646566676869"
                                "70717273747576777879"
                                "80818283848586878889"
                                "90919293949596979899";
    char tmp[CP_I64_STR_MAX];
    char *p = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    size_t n, i = 0;

    while (u >= 100) {
        p -= 2;
        memcpy(p, pairs + 2 * (u % 100), 2);
        u /= 100;
    }
    if (u >= 10) {
        p -= 2;
        memcpy(p, pairs + 2 * u, 2);
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0)
        out[i++] = '-';
    n = (size_t)(tmp + sizeof(tmp) - p);
    memcpy(out + i, p, n);
    i += n;
    out[i] = '\0';
    return i;
}

/* The fast path of cp_fixed_str(): @returns the length written to @p out
 * (room for 32 bytes), or -1 where only printf's exact conversion can tell
 * how to round. Exact by construction: a * 10^d is rounded once (10^d is
 * exact for d <= 9), so it is within s * 2^-53 of the true product, and the
 * result is taken only when that cannot move it across a rounding tie. */
static int fixed_fast(char *out, double v, int decimals)
{
    static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4,
                                   1e5, 1e6, 1e7, 1e8, 1e9};
    static const uint64_t upow10[] = {1,         10,        100,     1000,
                                      10000,     100000,    1000000, 10000000,
                                      100000000, 1000000000};
    double s = fabs(v) * pow10[decimals];
    double whole, frac;
    uint64_t n, int_part, frac_part;
    char digits[CP_I64_STR_MAX];
    size_t len = 0;

    if (!(s < 1e15)) /* also NaN and infinities */
        return -1;
    whole = floor(s);
    frac = s - whole; /* exact below 2^52 */
    if (fabs(frac - 0.5) <= s * 0x1p-50 + 0x1p-60)
        return -1; /* a tie, or too near one to be sure */
    n = (uint64_t)whole + (frac > 0.5);
    int_part = n / upow10[decimals];
    frac_part = n % upow10[decimals];
    if (signbit(v)) /* printf keeps the sign of -0.0 and of -0.00001 */
        out[len++] = '-';
    len += cp_i64_str(out + len, (int64_t)int_part);
    if (decimals) {
        size_t k = cp_i64_str(digits, (int64_t)frac_part);

        out[len++] = '.';
        for (size_t z = k; z < (size_t)decimals; z++)
            out[len++] = '0';
        memcpy(out + len, digits, k);
        len += k;
    }
    out[len] = '\0';
    return (int)len;
}

int cp_fixed_str(char *out, size_t cap, double v, int decimals)
{
    char tmp[32];
    int len =
        decimals >= 0 && decimals <= 9 ? fixed_fast(tmp, v, decimals) : -1;

    if (len < 0)
        return snprintf(out, cap, "%.*f", decimals, v);
    if (cap) { /* what snprintf would keep of it */
        size_t keep = (size_t)len < cap ? (size_t)len : cap - 1;

        memcpy(out, tmp, keep);
        out[keep] = '\0';
    }
    return len;
}

/* Appends @p n bytes of @p s where they fit; *len counts them all. */
static void fmt_put(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    if (*len + 1 < cap) {
        size_t room = cap - 1 - *len;

        memcpy(buf + *len, s, n < room ? n : room);
    }
    *len += n;
}

int cp_fmt(char *buf, size_t cap, const char *fmt, ...)
{
    char num[64];
    size_t len = 0;
    va_list ap;

    va_start(ap, fmt);
    for (const char *p = fmt; *p; p++) {
        const char *run = p;
        int k;

        if (*p != '%') {
            while (p[1] && p[1] != '%')
                p++;
            fmt_put(buf, cap, &len, run, (size_t)(p - run + 1));
            continue;
        }
        switch (p[1]) {
        case 'd':
            fmt_put(buf, cap, &len, num, cp_i64_str(num, va_arg(ap, int)));
            p++;
            break;
        case 'u':
            fmt_put(buf, cap, &len, num,
                    cp_i64_str(num, va_arg(ap, unsigned int)));
            p++;
            break;
        case 's':
            run = va_arg(ap, const char *);
            fmt_put(buf, cap, &len, run, strlen(run));
            p++;
            break;
        case '%':
            fmt_put(buf, cap, &len, "%", 1);
            p++;
            break;
        case '.':
            if (p[2] >= '0' && p[2] <= '9' && p[3] == 'f') {
                /* Straight into the room left: cp_fixed_str() cuts and
                 * counts as snprintf does, whatever the number's size. */
                size_t room = len < cap ? cap - len : 0;

                k = cp_fixed_str(room ? buf + len : num, room,
                                 va_arg(ap, double), p[2] - '0');
                len += k > 0 ? (size_t)k : 0;
                p += 3;
                break;
            }
            /* fall through */
        default: /* not ours: as it stands */
            fmt_put(buf, cap, &len, p, 1);
            break;
        }
    }
    va_end(ap);
    if (cap)
        buf[len < cap ? len : cap - 1] = '\0';
    return (int)len;
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

/* Allocations left before the one that fails; 0: none fails. */
static uint64_t alloc_fail_countdown;

uint64_t cp__alloc_fail_at(uint64_t n)
{
    uint64_t left = alloc_fail_countdown;

    alloc_fail_countdown = n;
    return left;
}

int cp__alloc_fails(void)
{
    return alloc_fail_countdown && !--alloc_fail_countdown;
}

void *cp_grow(void *items, size_t *cap, size_t cnt, size_t size, size_t first)
{
    size_t want;
    void *moved;

    if (cnt < *cap)
        return items;
    want = *cap ? *cap * 2 : first;
    if (want < *cap || want > SIZE_MAX / size || cp__alloc_fails())
        return NULL; /* overflow (or the test hook) */
    moved = realloc(items, want * size);
    if (!moved)
        return NULL;
    *cap = want;
    return moved;
}

char *cp_trim(char *s)
{
    char *end;

    while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
        s++;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || (end[-1] >= '\t' && end[-1] <= '\r')))
        end--;
    *end = '\0';
    return s;
}

int cp_list_next(const char **p, const char **item, size_t *len)
{
    while (**p) {
        const char *s = *p, *end = strchr(s, ',');
        size_t n;

        if (!end)
            end = s + strlen(s);
        *p = *end ? end + 1 : end;
        while (s < end && (*s == ' ' || *s == '\t'))
            s++;
        n = (size_t)(end - s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n) {
            *item = s;
            *len = n;
            return 1;
        }
    }
    return 0;
}
