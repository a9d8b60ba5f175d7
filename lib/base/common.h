/* SPDX-License-Identifier: Apache-2.0 */
/* Return codes and tiny value types shared by every module. */
#ifndef CP_COMMON_H
#define CP_COMMON_H

#include <stddef.h>
#include <stdint.h>

typedef enum cp_rc {
    CP_OK = 0,
    CP_ENOMEM,  /* allocation failed or a hard cap was hit */
    CP_ECONFIG, /* bad setting */
    CP_EDECODE, /* input bytes are not a valid event: goes to the DLQ */
    CP_EREDIS,  /* Redis unreachable or replied with an error */
    CP_EKAFKA,  /* Kafka client error or a delivery failed */
    CP_EFENCED, /* another worker owns the partition now */
    CP_EIO,     /* file or socket error */
} cp_rc;

/** @brief Short name of a return code ("CP_EREDIS"). */
const char *cp_rc_name(cp_rc rc);

/**
 * @brief Writes a printf-style reason (if @p reason is not NULL) and
 *        returns CP_EDECODE: the one way decoders report bad input.
 */
cp_rc cp_decode_fail(char *reason, size_t reason_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** A borrowed byte string; ptr == NULL means absent (Avro null). */
struct cp_str {
    const char *ptr; /* borrowed, not NUL-terminated in general */
    size_t len;
};

#define CP_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline int64_t cp_min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static inline int64_t cp_max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/** @brief @p v bounded to [@p lo, @p hi] (@p lo <= @p hi). */
static inline int64_t cp_clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/** Partitions of the input topic crmpulse handles: 0 .. CP_PARTITIONS_MAX-1.
 *  The checkpoint, the scorer and the metrics size their tables by it; an
 *  assignment of a partition above it stops the worker with an error. */
#define CP_PARTITIONS_MAX 4096

/** @brief Wall clock in milliseconds since the epoch. */
int64_t cp_now_ms(void);
/** @brief Monotonic clock in milliseconds. */
int64_t cp_mono_ms(void);
/** @brief Sleeps @p ms milliseconds (a signal may cut it short). */
void cp_sleep_ms(int ms);
/** @brief Monotonic clock in microseconds. */
int64_t cp_mono_us(void);

/** Room cp_i64_str() needs: "-9223372036854775808" and the NUL. */
#define CP_I64_STR_MAX 21
/**
 * @brief Writes @p v in decimal and a NUL to @p out (at least
 *        CP_I64_STR_MAX bytes); returns the digits' length. What "%lld"
 *        prints, without printf's cost on the hot path.
 */
size_t cp_i64_str(char *out, int64_t v);

/**
 * @brief What snprintf(@p out, @p cap, "%.*f", @p decimals, @p v) writes
 *        and returns, byte for byte, for @p decimals 0..9 in any locale
 *        whose decimal point is '.'. Values far from a rounding tie are
 *        formatted by hand (printf's float path is the hot path's largest
 *        cost otherwise); ties, near-ties and huge values go to snprintf.
 */
int cp_fixed_str(char *out, size_t cap, double v, int decimals);

/**
 * @brief snprintf() for the conversions %d, %u, %s, %% and %.Nf (N 0..9)
 *        alone, without printf's cost: what snprintf would write and
 *        return for them. Any other conversion is written as it stands.
 */
int cp_fmt(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * @brief Room for one more item in a growing array of @p size-byte items:
 *        when @p cnt has reached *@p cap, the capacity doubles (starting at
 *        @p first).
 * @returns the array, moved or not; NULL on ENOMEM, when @p items and
 *          *@p cap are unchanged and still valid.
 */
void *cp_grow(void *items, size_t *cap, size_t cnt, size_t size, size_t first);

/**
 * @brief Strips ASCII white space (space, \t, \r, \n, \v, \f) from both
 *        ends of the NUL-terminated @p s, in place.
 * @returns the first non-blank character of @p s (within @p s).
 */
char *cp_trim(char *s);

/**
 * @brief The next item of a comma-separated list, blanks around it left
 *        out: "a, b@c ,d". Empty items are skipped.
 * @param p     where the rest of the list starts; advanced past the item
 * @returns 1 with *@p item and *@p len set (not NUL-terminated, within
 *          the list), or 0 at the end of the list.
 */
int cp_list_next(const char **p, const char **item, size_t *len);

/**
 * @brief Test hook: the @p n-th allocation from now made by cp_grow(),
 *        cp_buf, cp_map or cp_arena fails (1: the next one); 0 turns it off.
 *        Tests use it to prove that out of memory fails a batch instead of
 *        being carried on. Not thread-safe; never set outside tests.
 * @returns the allocations that were still to go before this call (0: the
 *          failure happened, or none was set).
 */
uint64_t cp__alloc_fail_at(uint64_t n);
/** @returns 1 if this allocation is to fail (see cp__alloc_fail_at()). */
int cp__alloc_fails(void);

#endif
