/* SPDX-License-Identifier: Apache-2.0 */
/* One logger to stderr with syslog levels and facility tags, as text lines
 * (the default) or one JSON object per line (log.format=json). */
#ifndef CP_LOG_H
#define CP_LOG_H

#include <stddef.h>
#include <stdint.h>

#define CP_LOG_ERR     3
#define CP_LOG_WARNING 4
#define CP_LOG_NOTICE  5
#define CP_LOG_INFO    6
#define CP_LOG_DEBUG   7

#define CP_LOG_TEXT 0 /* "<time> LEVEL [FAC] message" */
#define CP_LOG_JSON 1 /* {"time","level","component","message",fields...} */

extern int cp_log_level;  /* messages above this level are skipped */
extern int cp_log_format; /* CP_LOG_TEXT or CP_LOG_JSON */

/** A structured field of a log line: shown in JSON lines only (the text
 *  message says the same in words). */
struct cp_log_field {
    const char *key; /* borrowed; a plain [a-z_] name */
    const char *str; /* borrowed; NULL: the field is the number num */
    int64_t num;
};

void cp__log(int level, const char *fac, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cp__log_fields(int level, const char *fac,
                    const struct cp_log_field *fields, size_t field_cnt,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Checks the level before evaluating the arguments. */
#define cp_log(level, fac, ...)                                                \
    do {                                                                       \
        if ((level) <= cp_log_level)                                           \
            cp__log((level), (fac), __VA_ARGS__);                              \
    } while (0)

/* cp_log with structured fields (an array of struct cp_log_field). */
#define cp_log_fields(level, fac, fields, field_cnt, ...)                      \
    do {                                                                       \
        if ((level) <= cp_log_level)                                           \
            cp__log_fields((level), (fac), (fields), (field_cnt),              \
                           __VA_ARGS__);                                       \
    } while (0)

/** @brief "err", "warning", "notice", "info", "debug" or 3..7; -1 if unknown.
 */
int cp_log_level_parse(const char *name);

/**
 * @brief Escapes @p len bytes of @p s for a text log line, as
 *        cp_log_json_escape() sizes and cuts: newlines become spaces,
 *        other control bytes and invalid UTF-8 `\xNN`, C1 controls and the
 *        bidi controls that reorder a terminal line (U+202E...) `\uNNNN`.
 * @returns the length of the full escaped text (excluding the NUL).
 */
size_t cp_log_text_escape(const char *s, size_t len, char *out,
                          size_t out_size);

/**
 * @brief Writes @p s (@p len bytes) as the inside of a JSON string: '"'
 *        and '\\' escaped, control characters as \n \t ... or \u00XX,
 *        each byte that is not part of valid UTF-8 as \ufffd.
 * @returns the length of the whole escaped text (like snprintf); @p out
 *          gets as much of it as fits, NUL-terminated when out_size > 0.
 */
size_t cp_log_json_escape(const char *s, size_t len, char *out,
                          size_t out_size);

#endif
