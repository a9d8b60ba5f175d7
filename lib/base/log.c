/* SPDX-License-Identifier: Apache-2.0 */
/* The process logger: one line per message on stderr, UTC timestamp with
 * milliseconds, syslog level name and a facility tag. Each line leaves in a
 * single write(2) so lines from librdkafka's threads never interleave. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

int cp_log_level = CP_LOG_INFO;

/* Longest line formatted on the stack; longer ones get a heap buffer. */
#define LOG_LINE_MAX 2048

static const char *level_name(int level)
{
    switch (level) {
    case CP_LOG_ERR:
        return "ERROR";
    case CP_LOG_WARNING:
        return "WARNING";
    case CP_LOG_NOTICE:
        return "NOTICE";
    case CP_LOG_INFO:
        return "INFO";
    case CP_LOG_DEBUG:
        return "DEBUG";
    }
    return level < CP_LOG_ERR ? "ERROR" : "DEBUG";
}

/* Writes all of buf, retrying on EINTR and short writes; a logger has
 * nowhere to report its own failure, so errors are dropped. */
static void write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* Keeps the message on one line: librdkafka and strerror texts sometimes
 * end in a newline, and a multi-line entry would break line-based parsers. */
static size_t flatten(char *msg, size_t len)
{
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        len--;
    for (size_t i = 0; i < len; i++) {
        if (msg[i] == '\n' || msg[i] == '\r')
            msg[i] = ' ';
    }
    return len;
}

void cp__log(int level, const char *fac, const char *fmt, ...)
{
    char stack[LOG_LINE_MAX];
    char *line = stack;
    size_t cap = sizeof(stack);
    struct timespec ts;
    struct tm tm;
    size_t head;
    va_list ap;
    int n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(stack, sizeof(stack),
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s [%s] ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000),
                 level_name(level), fac ? fac : "-");
    if (n < 0)
        return;
    head = (size_t)n < sizeof(stack) ? (size_t)n : sizeof(stack) - 1;

    va_start(ap, fmt);
    n = vsnprintf(line + head, cap - head, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;

    /* Too long for the stack buffer: format again into the heap; if that
     * fails the message is truncated rather than lost. */
    if ((size_t)n + 1 >= cap - head) {
        char *big = malloc(head + (size_t)n + 2);

        if (big) {
            memcpy(big, stack, head);
            va_start(ap, fmt);
            vsnprintf(big + head, (size_t)n + 1, fmt, ap);
            va_end(ap);
            line = big;
            cap = head + (size_t)n + 2;
        } else {
            n = (int)(cap - head - 2);
        }
    }

    size_t len = head + flatten(line + head, (size_t)n);

    line[len++] = '\n';
    write_all(line, len);
    if (line != stack)
        free(line);
}

int cp_log_level_parse(const char *name)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {
        {"err", CP_LOG_ERR},         {"error", CP_LOG_ERR},
        {"warning", CP_LOG_WARNING}, {"warn", CP_LOG_WARNING},
        {"notice", CP_LOG_NOTICE},   {"info", CP_LOG_INFO},
        {"debug", CP_LOG_DEBUG},
    };

    if (!name)
        return -1;
    if (name[0] >= '3' && name[0] <= '7' && name[1] == '\0')
        return name[0] - '0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!strcasecmp(name, names[i].name))
            return names[i].level;
    }
    return -1;
}
