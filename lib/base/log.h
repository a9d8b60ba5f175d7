/* SPDX-License-Identifier: Apache-2.0 */
/* One logger to stderr with syslog levels and facility tags. */
#ifndef CP_LOG_H
#define CP_LOG_H

#define CP_LOG_ERR     3
#define CP_LOG_WARNING 4
#define CP_LOG_NOTICE  5
#define CP_LOG_INFO    6
#define CP_LOG_DEBUG   7

extern int cp_log_level; /* messages above this level are skipped */

void cp__log(int level, const char *fac, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks the level before evaluating the arguments. */
#define cp_log(level, fac, ...)                                                \
    do {                                                                       \
        if ((level) <= cp_log_level)                                           \
            cp__log((level), (fac), __VA_ARGS__);                              \
    } while (0)

/** @brief "err", "warning", "notice", "info", "debug" or 3..7; -1 if unknown.
 */
int cp_log_level_parse(const char *name);

#endif
