/* SPDX-License-Identifier: Apache-2.0 */
/* The process logger: one line per message on stderr, UTC timestamp with
 * milliseconds, syslog level name and a facility tag, as text or as one JSON
 * object (log.format=json, for log shippers). Each line leaves in a single
 * write(2) so lines from librdkafka's threads never interleave. */
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
int cp_log_format = CP_LOG_TEXT;

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

/* ---- JSON escaping ---- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there
 * are not one (stray continuation, overlong form, surrogate, > U+10FFFF,
 * cut short). */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0; /* overlong */
    else if (c == 0xed)
        hi = 0x9f; /* UTF-16 surrogates */
    else if (c == 0xf0)
        lo = 0x90; /* overlong */
    else if (c == 0xf4)
        hi = 0x8f; /* above U+10FFFF */
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

/* The code point of the valid @p n-byte sequence at @p s. */
static uint32_t utf8_code_point(const unsigned char *s, size_t n)
{
    static const unsigned char lead_mask[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    uint32_t cp = s[0] & lead_mask[n];

    for (size_t i = 1; i < n; i++)
        cp = cp << 6 | (s[i] & 0x3f);
    return cp;
}

/* C1 controls and the invisible characters that reorder or hide text
 * (bidi embeddings, overrides, isolates and marks): an id holding U+202E
 * would reverse the rest of a log line on a terminal. */
static int is_hidden_control(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e ||
           cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

/* Appends @p piece to out as cp_log_*_escape() do: never a piece in two. */
static void put_piece(char *out, size_t *out_size, size_t *need,
                      const char *piece, size_t piece_len)
{
    if (*out_size && *need + piece_len < *out_size)
        memcpy(out + *need, piece, piece_len);
    else if (*out_size && *need < *out_size)
        *out_size = *need + 1; /* stop writing; terminate here */
    *need += piece_len;
}

size_t cp_log_text_escape(const char *s, size_t len, char *out, size_t out_size)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t need = 0;

    for (size_t i = 0; i < len;) {
        char esc[12];
        const char *piece = esc;
        size_t piece_len, seq = utf8_seq_len(u + i, len - i);

        if (seq == 0) {
            snprintf(esc, sizeof(esc), "\\x%02x", u[i]);
            piece_len = 4;
            seq = 1;
        } else if (seq > 1) {
            uint32_t cp = utf8_code_point(u + i, seq);

            piece = s + i;
            piece_len = seq;
            if (is_hidden_control(cp)) {
                snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
                piece = esc;
                piece_len = 6;
            }
        } else if (u[i] == '\n' || u[i] == '\r') {
            piece = " "; /* one entry, one line */
            piece_len = 1;
        } else if ((u[i] < 0x20 && u[i] != '\t') || u[i] == 0x7f) {
            snprintf(esc, sizeof(esc), "\\x%02x", u[i]);
            piece_len = 4;
        } else {
            piece = s + i;
            piece_len = 1;
        }
        put_piece(out, &out_size, &need, piece, piece_len);
        i += seq;
    }
    if (out_size)
        out[need < out_size ? need : out_size - 1] = '\0';
    return need;
}

size_t cp_log_json_escape(const char *s, size_t len, char *out, size_t out_size)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t need = 0;

    for (size_t i = 0; i < len;) {
        char esc[8];
        const char *piece = esc;
        size_t piece_len, seq = utf8_seq_len(u + i, len - i);

        if (seq == 0) {
            piece = "\\ufffd";
            piece_len = 6;
            seq = 1;
        } else if (seq > 1) {
            uint32_t cp = utf8_code_point(u + i, seq);

            piece = s + i;
            piece_len = seq;
            if (is_hidden_control(cp)) {
                snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
                piece = esc;
                piece_len = 6;
            }
        } else if (u[i] == '"' || u[i] == '\\') {
            esc[0] = '\\';
            esc[1] = (char)u[i];
            piece_len = 2;
        } else if (u[i] == '\n' || u[i] == '\r' || u[i] == '\t') {
            esc[0] = '\\';
            esc[1] = u[i] == '\n' ? 'n' : u[i] == '\r' ? 'r' : 't';
            piece_len = 2;
        } else if (u[i] < 0x20 || u[i] == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", u[i]);
            piece_len = 6;
        } else {
            piece = s + i;
            piece_len = 1;
        }
        /* Never cut an escape or a character in two. */
        put_piece(out, &out_size, &need, piece, piece_len);
        i += seq;
    }
    if (out_size)
        out[need < out_size ? need : out_size - 1] = '\0';
    return need;
}

/* ---- one line ---- */

/* A line under construction: on the stack, on the heap once it grows. */
struct line {
    char *p;
    size_t len, cap;
    int failed; /* out of memory: the line is cut where it was */
    char stack[LOG_LINE_MAX];
};

static void line_init(struct line *ln)
{
    ln->p = ln->stack;
    ln->len = 0;
    ln->cap = sizeof(ln->stack);
    ln->failed = 0;
}

/* Makes room for @p more bytes plus a newline; 0 if it cannot. */
static int line_reserve(struct line *ln, size_t more)
{
    size_t want = ln->len + more + 2;
    char *p;

    if (ln->failed)
        return 0;
    if (want <= ln->cap)
        return 1;
    p = malloc(want * 2);
    if (!p) {
        ln->failed = 1;
        return 0;
    }
    memcpy(p, ln->p, ln->len);
    if (ln->p != ln->stack)
        free(ln->p);
    ln->p = p;
    ln->cap = want * 2;
    return 1;
}

static void line_add(struct line *ln, const char *s, size_t n)
{
    if (line_reserve(ln, n)) {
        memcpy(ln->p + ln->len, s, n);
        ln->len += n;
    }
}

static void line_str(struct line *ln, const char *s)
{
    line_add(ln, s, strlen(s));
}

static void line_json_str(struct line *ln, const char *s, size_t n)
{
    size_t need = cp_log_json_escape(s, n, NULL, 0);

    line_add(ln, "\"", 1);
    if (line_reserve(ln, need)) {
        cp_log_json_escape(s, n, ln->p + ln->len, need + 1);
        ln->len += need;
    }
    line_add(ln, "\"", 1);
}

static void line_done(struct line *ln)
{
    ln->p[ln->len++] = '\n'; /* line_reserve kept room for it */
    write_all(ln->p, ln->len);
    if (ln->p != ln->stack)
        free(ln->p);
}

/* The message, formatted into @p ln at its end; @returns its length. */
__attribute__((format(printf, 2, 0))) static size_t
add_message(struct line *ln, const char *fmt, va_list ap)
{
    size_t start = ln->len;
    va_list again;
    int n;

    va_copy(again, ap);
    n = vsnprintf(ln->p + start, ln->cap - start - 1, fmt, ap);
    if (n < 0) {
        va_end(again);
        return 0;
    }
    if ((size_t)n + 2 > ln->cap - start) {
        if (line_reserve(ln, (size_t)n + 1))
            vsnprintf(ln->p + start, (size_t)n + 1, fmt, again);
        else
            n = (int)(ln->cap - start - 2); /* truncated rather than lost */
    }
    va_end(again);
    ln->len = start + (size_t)n;
    return (size_t)n;
}

/* The message, escaped for a terminal (cp_log_text_escape()), at the end
 * of @p ln: formatted into a scratch line first, as escaping may grow it. */
__attribute__((format(printf, 2, 0))) static void
text_message(struct line *ln, const char *fmt, va_list ap)
{
    struct line raw;
    size_t len, need;

    line_init(&raw);
    len = flatten(raw.p, add_message(&raw, fmt, ap));
    need = cp_log_text_escape(raw.p, len, NULL, 0);
    if (line_reserve(ln, need + 1))
        ln->len +=
            cp_log_text_escape(raw.p, len, ln->p + ln->len, ln->cap - ln->len);
    if (raw.p != raw.stack)
        free(raw.p);
}

__attribute__((format(printf, 5, 0))) static void
vlog(int level, const char *fac, const struct cp_log_field *fields,
     size_t field_cnt, const char *fmt, va_list ap)
{
    struct line ln;
    struct timespec ts;
    struct tm tm;
    char head[96];
    size_t msg_len;
    int n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(head, sizeof(head), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
    if (n < 0)
        return;
    line_init(&ln);
    if (cp_log_format != CP_LOG_JSON) {
        line_str(&ln, head);
        line_str(&ln, " ");
        line_str(&ln, level_name(level));
        line_str(&ln, " [");
        line_str(&ln, fac ? fac : "-");
        line_str(&ln, "] ");
        text_message(&ln, fmt, ap);
        line_done(&ln);
        return;
    }

    /* JSON: the message is formatted at the end of the buffer first, then
     * escaped into a second line (escaping may grow it six-fold). */
    {
        struct line raw;
        char num[32];

        line_init(&raw);
        msg_len = add_message(&raw, fmt, ap);
        while (msg_len > 0 &&
               (raw.p[msg_len - 1] == '\n' || raw.p[msg_len - 1] == '\r'))
            msg_len--;
        line_str(&ln, "{\"time\":\"");
        line_str(&ln, head);
        line_str(&ln, "\",\"level\":\"");
        for (const char *l = level_name(level); *l; l++) {
            char c = (char)(*l - 'A' + 'a');

            line_add(&ln, &c, 1);
        }
        line_str(&ln, "\",\"component\":");
        line_json_str(&ln, fac ? fac : "-", strlen(fac ? fac : "-"));
        line_str(&ln, ",\"message\":");
        line_json_str(&ln, raw.p, msg_len);
        for (size_t i = 0; i < field_cnt; i++) {
            line_str(&ln, ",");
            line_json_str(&ln, fields[i].key, strlen(fields[i].key));
            line_str(&ln, ":");
            if (fields[i].str) {
                line_json_str(&ln, fields[i].str, strlen(fields[i].str));
            } else {
                snprintf(num, sizeof(num), "%lld", (long long)fields[i].num);
                line_str(&ln, num);
            }
        }
        if (ln.failed) {
            /* Out of memory mid-line: a shorter line that still parses. */
            line_init(&ln);
            line_str(&ln, "{\"time\":\"");
            line_str(&ln, head);
            line_str(&ln, "\",\"level\":\"error\",\"component\":\"LOG\","
                          "\"message\":\"out of memory formatting a line\"");
        }
        line_str(&ln, "}");
        if (raw.p != raw.stack)
            free(raw.p);
        line_done(&ln);
    }
}

void cp__log(int level, const char *fac, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(level, fac, NULL, 0, fmt, ap);
    va_end(ap);
}

void cp__log_fields(int level, const char *fac,
                    const struct cp_log_field *fields, size_t field_cnt,
                    const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(level, fac, fields, field_cnt, fmt, ap);
    va_end(ap);
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
