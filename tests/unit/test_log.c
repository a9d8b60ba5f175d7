/* SPDX-License-Identifier: Apache-2.0 */
/* Logger: line format on stderr, level names, filtering before argument
 * evaluation, one line per call, level name parsing, and the JSON form
 * (log.format=json): escaping, fields, long lines. */
#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

/* The new assert API wants a 0/1 int and expands macros in its argument,
 * so plain conditions go through these functions. */
static int truthy(int cond)
{
    return cond != 0;
}

static int falsy(int cond)
{
    return cond == 0;
}

#include "log.h"

static int saved_stderr = -1;
static int capture_fd = -1;

/* Points fd 2 at a pipe; capture_end() restores it and returns the bytes. */
static void capture_begin(void)
{
    int fds[2];

    cr_assert(eq(int, pipe(fds), 0));
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    cr_assert(truthy(saved_stderr >= 0));
    cr_assert(truthy(dup2(fds[1], STDERR_FILENO) >= 0));
    close(fds[1]);
    capture_fd = fds[0];
}

static char *read_all(int fd)
{
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    ssize_t n;

    cr_assert(truthy(out != NULL));
    for (;;) {
        if (cap - len < 2048) {
            cap *= 2;
            out = realloc(out, cap);
            cr_assert(truthy(out != NULL));
        }
        n = read(fd, out + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    out[len] = '\0';
    return out;
}

/* Ownership: caller frees the result. */
static char *capture_end(void)
{
    char *out;

    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    out = read_all(capture_fd);
    close(capture_fd);
    return out;
}

/* Each test runs in its own process, so cp_log_level starts at its default. */
TestSuite(log, .timeout = 10);

static bool matches(const char *text, const char *pattern)
{
    regex_t re;
    int rc;

    cr_assert(eq(int, regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0));
    rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    return rc == 0;
}

Test(log, line_has_utc_time_level_facility_and_message)
{
    char before[16], after[16];
    time_t now = time(NULL);
    struct tm tm;
    char *out;

    gmtime_r(&now, &tm);
    strftime(before, sizeof(before), "%Y-%m-%d", &tm);
    capture_begin();
    cp__log(CP_LOG_NOTICE, "KAFKA", "hello %d %s", 42, "world");
    out = capture_end();
    now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(after, sizeof(after), "%Y-%m-%d", &tm);

    cr_assert(
        truthy(matches(out, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
                            "[0-9]{2}\\.[0-9]{3}Z NOTICE \\[KAFKA\\] "
                            "hello 42 world\n$")),
        "got: %s", out);
    /* The date is today's in UTC, not local time. */
    cr_assert(truthy(!strncmp(out, before, 10) || !strncmp(out, after, 10)),
              "got: %s, want %s", out, before);
    free(out);
}

Test(log, every_level_has_its_name)
{
    static const struct {
        int level;
        const char *name;
    } levels[] = {
        {CP_LOG_ERR, " ERROR [T] m\n"},
        {CP_LOG_WARNING, " WARNING [T] m\n"},
        {CP_LOG_NOTICE, " NOTICE [T] m\n"},
        {CP_LOG_INFO, " INFO [T] m\n"},
        {CP_LOG_DEBUG, " DEBUG [T] m\n"},
    };

    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        char *out;

        capture_begin();
        cp__log(levels[i].level, "T", "m");
        out = capture_end();
        cr_assert(truthy(strstr(out, levels[i].name) != NULL), "level %d: %s",
                  levels[i].level, out);
        free(out);
    }
}

static int evaluated;

static int side_effect(void)
{
    evaluated++;
    return 7;
}

Test(log, messages_above_the_level_are_skipped_unevaluated)
{
    char *out;

    cp_log_level = CP_LOG_WARNING;
    evaluated = 0;
    capture_begin();
    cp_log(CP_LOG_INFO, "REDIS", "skipped %d", side_effect());
    cp_log(CP_LOG_DEBUG, "REDIS", "skipped %d", side_effect());
    cp_log(CP_LOG_WARNING, "REDIS", "kept %d", side_effect());
    cp_log(CP_LOG_ERR, "REDIS", "also kept");
    out = capture_end();

    cr_assert(eq(int, evaluated, 1));
    cr_assert(falsy(strstr(out, "skipped") != NULL), "got: %s", out);
    cr_assert(truthy(strstr(out, "WARNING [REDIS] kept 7\n") != NULL),
              "got: %s", out);
    cr_assert(truthy(strstr(out, "ERROR [REDIS] also kept\n") != NULL),
              "got: %s", out);
    free(out);
}

Test(log, default_level_is_info)
{
    char *out;

    cr_assert(eq(int, cp_log_level, CP_LOG_INFO));
    capture_begin();
    cp_log(CP_LOG_DEBUG, "X", "debug line");
    cp_log(CP_LOG_INFO, "X", "info line");
    out = capture_end();
    cr_assert(falsy(strstr(out, "debug line") != NULL));
    cr_assert(truthy(strstr(out, "info line") != NULL));
    free(out);
}

Test(log, embedded_newlines_keep_one_line)
{
    char *out;

    capture_begin();
    cp__log(CP_LOG_INFO, "KAFKA", "first\nsecond\r\n");
    out = capture_end();
    cr_assert(truthy(matches(out, "INFO \\[KAFKA\\] first second\n$")),
              "got: %s", out);
    cr_assert(eq(ptr, strchr(out, '\n'), out + strlen(out) - 1));
    free(out);
}

Test(log, long_message_is_written_whole)
{
    size_t n = 10000;
    char *msg = malloc(n + 1);
    char *out;

    cr_assert(truthy(msg != NULL));
    memset(msg, 'x', n);
    msg[n] = '\0';
    msg[n - 1] = 'E';
    capture_begin();
    cp__log(CP_LOG_INFO, "BIG", "%s", msg);
    out = capture_end();

    char *body = strstr(out, "[BIG] ");
    cr_assert(truthy(body != NULL));
    body += strlen("[BIG] ");
    cr_assert(eq(sz, strlen(body), n + 1));
    cr_assert(eq(int, body[n - 1], 'E'));
    cr_assert(eq(int, body[n], '\n'));
    free(out);
    free(msg);
}

/* ---- lines from several threads do not interleave ---- */

#define THREADS 4
#define LINES   200

static void *log_thread(void *arg)
{
    int id = (int)(intptr_t)arg;
    char pad[600];

    memset(pad, 'a' + id, sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    for (int i = 0; i < LINES; i++)
        cp__log(CP_LOG_INFO, "MT", "t=%d i=%d %s end", id, i, pad);
    return NULL;
}

static void *drain_thread(void *arg)
{
    (void)arg;
    return read_all(capture_fd);
}

Test(log, concurrent_lines_do_not_interleave)
{
    pthread_t writers[THREADS], reader;
    int counts[THREADS] = {0};
    void *res;
    char *out, *line, *save = NULL;
    int total = 0;

    capture_begin();
    cr_assert(eq(int, pthread_create(&reader, NULL, drain_thread, NULL), 0));
    for (int t = 0; t < THREADS; t++)
        pthread_create(&writers[t], NULL, log_thread, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(writers[t], NULL);
    /* Restoring fd 2 closes the pipe's last write end: the reader sees EOF. */
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    pthread_join(reader, &res);
    close(capture_fd);
    out = res;

    for (line = strtok_r(out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        int id, i, off = 0;
        const char *pad;

        cr_assert(
            truthy(matches(line, "^[0-9T:.-]+Z INFO \\[MT\\] t=[0-9] i=[0-9]+ "
                                 "[a-d]+ end$")),
            "torn line: %.80s", line);
        cr_assert(truthy(
            sscanf(strstr(line, "t="), "t=%d i=%d %n", &id, &i, &off) == 2));
        pad = strstr(line, "t=") + off;
        for (int k = 0; k < 599; k++)
            cr_assert(eq(int, pad[k], 'a' + id), "mixed line: %.80s", line);
        counts[id]++;
        total++;
    }
    cr_assert(eq(int, total, THREADS *LINES));
    for (int t = 0; t < THREADS; t++)
        cr_assert(eq(int, counts[t], LINES));
    free(out);
}

/* ---- level names ---- */

Test(log, level_parse_accepts_names_aliases_and_numbers)
{
    cr_assert(eq(int, cp_log_level_parse("err"), CP_LOG_ERR));
    cr_assert(eq(int, cp_log_level_parse("error"), CP_LOG_ERR));
    cr_assert(eq(int, cp_log_level_parse("warning"), CP_LOG_WARNING));
    cr_assert(eq(int, cp_log_level_parse("warn"), CP_LOG_WARNING));
    cr_assert(eq(int, cp_log_level_parse("notice"), CP_LOG_NOTICE));
    cr_assert(eq(int, cp_log_level_parse("info"), CP_LOG_INFO));
    cr_assert(eq(int, cp_log_level_parse("debug"), CP_LOG_DEBUG));
    cr_assert(eq(int, cp_log_level_parse("DEBUG"), CP_LOG_DEBUG));
    for (int n = 3; n <= 7; n++) {
        char s[2] = {(char)('0' + n), '\0'};

        cr_assert(eq(int, cp_log_level_parse(s), n));
    }
}

Test(log, level_parse_rejects_others)
{
    static const char *const bad[] = {"",      "2",     "8",     "37",
                                      "infos", "trace", " info", "6 "};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert(eq(int, cp_log_level_parse(bad[i]), -1), "\"%s\"", bad[i]);
    cr_assert(eq(int, cp_log_level_parse(NULL), -1));
}

/* ---- JSON lines (log.format=json) ---- */

static void assert_escaped(const char *in, size_t len, const char *want)
{
    char out[256];
    size_t n = cp_log_json_escape(in, len, out, sizeof(out));

    cr_assert(eq(sz, n, strlen(want)), "length %zu, want %zu (%s)", n,
              strlen(want), want);
    cr_assert(truthy(!strcmp(out, want)), "got %s, want %s", out, want);
}

Test(log, json_escape_quotes_backslashes_and_controls)
{
    assert_escaped("plain", 5, "plain");
    assert_escaped("say \"hi\" \\o/", 12, "say \\\"hi\\\" \\\\o/");
    assert_escaped("a\nb\rc\td", 7, "a\\nb\\rc\\td");
    assert_escaped("\x01\x1f\x7f", 3, "\\u0001\\u001f\\u007f");
    assert_escaped("nul\0byte", 8, "nul\\u0000byte");
}

Test(log, json_escape_keeps_utf8_and_replaces_invalid_bytes)
{
    /* Valid 2, 3 and 4 byte sequences pass through unchanged. */
    assert_escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
                   "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    /* Stray continuation, lone lead byte, cut sequence at the end. */
    assert_escaped("a\x80z", 3, "a\\ufffdz");
    assert_escaped("\xff\xfe", 2, "\\ufffd\\ufffd");
    assert_escaped("end\xe2\x82", 5, "end\\ufffd\\ufffd");
    /* Overlong '/', UTF-16 surrogate, above U+10FFFF. */
    assert_escaped("\xc0\xaf", 2, "\\ufffd\\ufffd");
    assert_escaped("\xed\xa0\x80", 3, "\\ufffd\\ufffd\\ufffd");
    assert_escaped("\xf4\x90\x80\x80", 4, "\\ufffd\\ufffd\\ufffd\\ufffd");
}

Test(log, json_escape_truncates_whole_escapes_and_reports_length)
{
    char out[8];
    size_t n = cp_log_json_escape("ab\"cdefgh", 9, out, sizeof(out));

    cr_assert(eq(sz, n, 10));
    cr_assert(truthy(!strcmp(out, "ab\\\"cde")), "got %s", out);
    n = cp_log_json_escape("abcdef\n", 7, out, sizeof(out));
    cr_assert(eq(sz, n, 8));
    cr_assert(truthy(!strcmp(out, "abcdef")), "no half escape: %s", out);
    cr_assert(eq(sz, cp_log_json_escape("x\x01", 2, NULL, 0), 7));
}

Test(log, json_line_has_time_level_component_message_and_fields)
{
    struct cp_log_field f[] = {{"event", "redis_down", 0},
                               {"error", "conn \"refused\"\n", 0},
                               {"delay_ms", NULL, -5000}};
    char *out;

    cp_log_format = CP_LOG_JSON;
    capture_begin();
    cp_log_fields(CP_LOG_WARNING, "REDIS", f, 3, "redis down: %s\n",
                  "bad \xff byte");
    cp_log(CP_LOG_INFO, "KAFKA", "plain %d", 7);
    out = capture_end();
    cp_log_format = CP_LOG_TEXT;

    cr_assert(truthy(matches(
                  out, "^\\{\"time\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
                       "[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z\",\"level\":"
                       "\"warning\",\"component\":\"REDIS\",\"message\":"
                       "\"redis down: bad \\\\ufffd byte\",\"event\":"
                       "\"redis_down\",\"error\":\"conn \\\\\"refused\\\\"
                       "\"\\\\n\",\"delay_ms\":-5000\\}\n")),
              "got: %s", out);
    cr_assert(truthy(strstr(out, "\n{\"time\":\"") != NULL), "got: %s", out);
    cr_assert(
        truthy(strstr(out, "\",\"level\":\"info\",\"component\":"
                           "\"KAFKA\",\"message\":\"plain 7\"}\n") != NULL),
        "got: %s", out);
    /* Two lines, each ending in '}' + newline. */
    cr_assert(
        eq(ptr, strchr(strchr(out, '\n') + 1, '\n'), out + strlen(out) - 1));
    free(out);
}

Test(log, text_line_ignores_fields)
{
    struct cp_log_field f[] = {{"event", "ready", 0}};
    char *out;

    capture_begin();
    cp_log_fields(CP_LOG_NOTICE, "WORKER", f, 1, "ready");
    out = capture_end();
    cr_assert(truthy(matches(out, "^[0-9T:.-]+Z NOTICE \\[WORKER\\] ready\n$")),
              "got: %s", out);
    free(out);
}

Test(log, long_json_message_is_written_whole)
{
    size_t n = 10000;
    char *msg = malloc(n + 1);
    char *out, *body;

    cr_assert(truthy(msg != NULL));
    for (size_t i = 0; i < n; i++)
        msg[i] = i % 100 == 99 ? '"' : 'x';
    msg[n] = '\0';
    cp_log_format = CP_LOG_JSON;
    capture_begin();
    cp__log(CP_LOG_INFO, "BIG", "%s", msg);
    out = capture_end();
    cp_log_format = CP_LOG_TEXT;

    body = strstr(out, "\"message\":\"");
    cr_assert(truthy(body != NULL));
    body += strlen("\"message\":\"");
    /* 100 quotes escaped: one more byte each. */
    cr_assert(eq(sz, strlen(body), n + 100 + 3), "tail: %s",
              body + strlen(body) - 10);
    cr_assert(truthy(!strcmp(body + n + 100, "\"}\n")));
    free(out);
    free(msg);
}

/* An id holding U+202E (RIGHT-TO-LEFT OVERRIDE) reversed the rest of a text
 * log line on a terminal; control bytes could forge a second line. */
Test(log, text_lines_escape_controls_and_bidi_overrides)
{
    char *out;

    capture_begin();
    cp__log(CP_LOG_NOTICE, "BOARD", "tenant %s: %s", "ab\xe2\x80\xae" "cd",
            "x\x1b[31my\nz\xff");
    out = capture_end();
    cr_assert(truthy(strstr(out, "tenant ab\\u202ecd: x\\x1b[31my z\\xff\n") != NULL),
              "got: %s", out);
    cr_assert(truthy(strchr(out, '\n') == out + strlen(out) - 1), "one line");
    free(out);
}

Test(log, escapes_size_like_snprintf_and_never_cut_a_piece)
{
    const char *s = "a\xe2\x80\xae\xc3\xa9\x01";
    char buf[64], small[5];
    size_t n = cp_log_text_escape(s, strlen(s), buf, sizeof(buf));

    cr_assert_str_eq(buf, "a\\u202e\xc3\xa9\\x01");
    cr_assert_eq(n, strlen(buf));
    cr_assert_eq(cp_log_text_escape(s, strlen(s), NULL, 0), n);
    cp_log_text_escape(s, strlen(s), small, sizeof(small));
    cr_assert_str_eq(small, "a", "the escape does not fit: cut before it");
    n = cp_log_json_escape("\xe2\x81\xa6x", 4, buf, sizeof(buf));
    cr_assert_str_eq(buf, "\\u2066x", "JSON lines escape isolates too");
}
