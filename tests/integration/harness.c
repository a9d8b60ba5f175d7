/* SPDX-License-Identifier: Apache-2.0 */
/* Integration-test plumbing. Uses hiredis directly: tests may look at Redis
 * however they like, the library keeps hiredis inside store.c. */
#define _GNU_SOURCE
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "arena.h"
#include "buf.h"
#include "codec.h"
#include "kafka.h"

static char scratch[512];

const char *h_scratch_dir(void)
{
    if (!scratch[0]) {
        const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

        snprintf(scratch, sizeof(scratch), "%s/crmpulse-it-XXXXXX", tmp);
        cr_assert_not_null(mkdtemp(scratch), "mkdtemp: %s", strerror(errno));
    }
    return scratch;
}

const char *h_bin(const char *name)
{
    static char path[4][1024];
    static int next;
    const char *dir = getenv("CP_BIN_DIR");
    char *out = path[next++ % 4];

    snprintf(out, sizeof(path[0]), "%s/%s", dir ? dir : ".", name);
    return out;
}

const char *h_src(const char *rel)
{
    static char path[4][1024];
    static int next;
    const char *dir = getenv("CP_SOURCE_DIR");
    char *out = path[next++ % 4];

    snprintf(out, sizeof(path[0]), "%s/%s", dir ? dir : ".", rel);
    return out;
}

void h_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static int free_port(void)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

pid_t h_spawn(const char *const argv[], const char *log_path)
{
    pid_t pid = fork();

    cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
    if (pid == 0) {
        if (log_path) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
        }
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

int h_wait(pid_t pid, int timeout_s)
{
    int64_t waited_ms = 0;
    int status;

    for (;;) {
        pid_t got = waitpid(pid, &status, WNOHANG);

        if (got == pid)
            break;
        if (waited_ms >= (int64_t)timeout_s * 1000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        h_sleep_ms(50);
        waited_ms += 50;
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

int h_run(const char *const argv[], const char *log_path, int timeout_s)
{
    return h_wait(h_spawn(argv, log_path), timeout_s);
}

void h_tail(const char *path, int lines)
{
    char cmd[1200];

    snprintf(cmd, sizeof(cmd), "tail -n %d '%s' >&2", lines, path);
    if (system(cmd) != 0)
        fprintf(stderr, "(no log at %s)\n", path);
}

static redisContext *connect_redis(const struct h_redis *r)
{
    struct timeval tv = {2, 0};
    redisContext *ctx = redisConnectWithTimeout("127.0.0.1", r->port, tv);

    if (ctx && ctx->err) {
        redisFree(ctx);
        return NULL;
    }
    return ctx;
}

void h_redis_start(struct h_redis *r)
{
    char port[16], dir[600], log[600];

    r->port = free_port();
    r->aof = 0;
    snprintf(port, sizeof(port), "%d", r->port);
    snprintf(dir, sizeof(dir), "%s", h_scratch_dir());
    snprintf(log, sizeof(log), "%s/redis-%d.log", h_scratch_dir(), r->port);
    snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d", r->port);
    {
        const char *argv[] = {"redis-server", "--port", port, "--bind",
                              "127.0.0.1",    "--save", "",   "--appendonly",
                              "no",           "--dir",  dir,  NULL};
        r->pid = h_spawn(argv, log);
    }
    for (int i = 0; i < 100; i++) {
        redisContext *ctx = connect_redis(r);

        if (ctx) {
            redisFree(ctx);
            return;
        }
        h_sleep_ms(50);
    }
    h_tail(log, 20);
    cr_assert_fail("redis-server did not start on port %d", r->port);
}

/* Starts redis-server on r->port (known to be free again) with
 * @p dbfile as its snapshot file in the scratch dir; waits until it answers. */
static void redis_spawn_on_port(struct h_redis *r, const char *dbfile)
{
    char port[16], dir[600], log[600];

    snprintf(port, sizeof(port), "%d", r->port);
    snprintf(dir, sizeof(dir), "%s", h_scratch_dir());
    snprintf(log, sizeof(log), "%s/redis-%d.log", h_scratch_dir(), r->port);
    {
        const char *argv[] = {"redis-server", "--port", port, "--bind",
                              "127.0.0.1",    "--save", "",   "--appendonly",
                              "no",           "--dir",  dir,  "--dbfilename",
                              dbfile,         NULL};
        r->pid = h_spawn(argv, log);
    }
    for (int i = 0; i < 200; i++) {
        redisContext *ctx = connect_redis(r);

        if (ctx) {
            redisFree(ctx);
            return;
        }
        h_sleep_ms(50);
    }
    h_tail(log, 20);
    cr_assert_fail("redis-server did not restart on port %d", r->port);
}

static void dbfile_name(const struct h_redis *r, char *out, size_t size)
{
    snprintf(out, size, "dump-%d.rdb", r->port);
}

void h_redis_kill(struct h_redis *r, int keep_data)
{
    char dbfile[64], path[700];

    dbfile_name(r, dbfile, sizeof(dbfile));
    snprintf(path, sizeof(path), "%s/%s", h_scratch_dir(), dbfile);
    unlink(path);
    if (keep_data) {
        redisContext *ctx = connect_redis(r);
        redisReply *reply;

        cr_assert_not_null(ctx, "connect to redis on %d", r->port);
        reply = redisCommand(ctx, "CONFIG SET dbfilename %s", dbfile);
        if (reply)
            freeReplyObject(reply);
        reply = redisCommand(ctx, "SAVE");
        cr_assert(reply && reply->type == REDIS_REPLY_STATUS,
                  "SAVE before the kill failed");
        freeReplyObject(reply);
        redisFree(ctx);
    }
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        h_wait(r->pid, 10);
        r->pid = 0;
    }
}

void h_redis_revive(struct h_redis *r)
{
    char dbfile[64];

    dbfile_name(r, dbfile, sizeof(dbfile));
    redis_spawn_on_port(r, dbfile);
}

int h_log_wait(const char *path, const char *needle, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        FILE *f = fopen(path, "r");

        if (f) {
            char *text = NULL;
            size_t cap = 0;
            ssize_t len = getdelim(&text, &cap, '\0', f);
            int found = len > 0 && strstr(text, needle) != NULL;

            free(text);
            fclose(f);
            if (found)
                return 1;
        }
        h_sleep_ms(20);
    }
    return 0;
}

long h_env_long(const char *name, long def)
{
    const char *s = getenv(name);
    char *end;
    long v;

    if (!s || !*s)
        return def;
    v = strtol(s, &end, 10);
    return *end || v <= 0 ? def : v;
}

void h_redis_stop(struct h_redis *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        h_wait(r->pid, 10);
        r->pid = 0;
    }
}

static int64_t reply_int(const redisReply *reply)
{
    if (!reply || reply->type == REDIS_REPLY_NIL)
        return -1;
    if (reply->type == REDIS_REPLY_INTEGER)
        return reply->integer;
    if (reply->type == REDIS_REPLY_STRING)
        return strtoll(reply->str, NULL, 10);
    return -1;
}

int64_t h_redis_int(const struct h_redis *r, const char *fmt, ...)
{
    redisContext *ctx = connect_redis(r);
    redisReply *reply;
    int64_t v;
    va_list ap;

    cr_assert_not_null(ctx, "connect to redis on %d", r->port);
    va_start(ap, fmt);
    reply = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    v = reply_int(reply);
    if (reply)
        freeReplyObject(reply);
    redisFree(ctx);
    return v;
}

int64_t h_redis_hash_sum(const struct h_redis *r, const char *key)
{
    redisContext *ctx = connect_redis(r);
    redisReply *reply;
    int64_t sum = 0;

    if (!ctx)
        return -1;
    reply = redisCommand(ctx, "HVALS %s", key);
    if (reply && reply->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < reply->elements; i++)
            sum += reply_int(reply->element[i]);
    if (reply)
        freeReplyObject(reply);
    redisFree(ctx);
    return sum;
}

int64_t h_redis_str(const struct h_redis *r, char *out, size_t size,
                    const char *fmt, ...)
{
    redisContext *ctx = connect_redis(r);
    redisReply *reply;
    int64_t len = -1;
    va_list ap;

    cr_assert_not_null(ctx, "connect to redis on %d", r->port);
    if (size)
        out[0] = '\0';
    va_start(ap, fmt);
    reply = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    if (reply && (reply->type == REDIS_REPLY_STRING ||
                  reply->type == REDIS_REPLY_STATUS)) {
        len = (int64_t)reply->len;
        if (size) {
            size_t n = reply->len < size - 1 ? reply->len : size - 1;

            memcpy(out, reply->str, n);
            out[n] = '\0';
        }
    } else if (reply && reply->type == REDIS_REPLY_INTEGER) {
        len = snprintf(out, size, "%lld", reply->integer);
    }
    if (reply)
        freeReplyObject(reply);
    redisFree(ctx);
    return len;
}

void h_redis_strs(const struct h_redis *r, struct h_strs *out, const char *fmt,
                  ...)
{
    redisContext *ctx = connect_redis(r);
    redisReply *reply;
    va_list ap;

    cr_assert_not_null(ctx, "connect to redis on %d", r->port);
    memset(out, 0, sizeof(*out));
    va_start(ap, fmt);
    reply = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements) {
        out->str = calloc(reply->elements, sizeof(*out->str));
        out->len = calloc(reply->elements, sizeof(*out->len));
        cr_assert(out->str && out->len);
        for (size_t i = 0; i < reply->elements; i++) {
            const redisReply *e = reply->element[i];
            size_t n = e->type == REDIS_REPLY_STRING ? e->len : 0;

            out->str[i] = malloc(n + 1);
            cr_assert_not_null(out->str[i]);
            if (n)
                memcpy(out->str[i], e->str, n);
            out->str[i][n] = '\0';
            out->len[i] = n;
        }
        out->cnt = reply->elements;
    }
    if (reply)
        freeReplyObject(reply);
    redisFree(ctx);
}

void h_strs_free(struct h_strs *s)
{
    for (size_t i = 0; i < s->cnt; i++)
        free(s->str[i]);
    free(s->str);
    free(s->len);
    memset(s, 0, sizeof(*s));
}

void h_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, len, f), len, "%s: short write", path);
    cr_assert_eq(fclose(f), 0, "%s: %s", path, strerror(errno));
}

const char *h_scratch_file(const char *name)
{
    static char path[8][700];
    static int next;
    char *out = path[next++ % 8];

    snprintf(out, sizeof(path[0]), "%s/%s", h_scratch_dir(), name);
    return out;
}

static uint32_t out_alert_id, out_dead_letter_id;

void h_set_output_ids(uint32_t alert_id, uint32_t dead_letter_id)
{
    out_alert_id = alert_id;
    out_dead_letter_id = dead_letter_id;
}

void h_codec_output_ids(struct cp_codec *codec)
{
    cp_codec_set_output_ids(codec, 0, out_alert_id, out_dead_letter_id);
}

/* Writes every alert on crm.alerts as one JSON line to @p path (the oracle
 * counts each alert_id once, so alerts sent again by a replayed batch do
 * not count twice); returns how many records were read. */
int64_t h_dump_alerts(const char *bootstrap, const char *path)
{
    struct cp_consumer_callbacks cbs = {NULL, NULL, NULL};
    char errstr[512], reason[256], group[64];
    struct cp_codec *codec =
        cp_codec_new(CP_FRAMING_CONFLUENT, errstr, sizeof(errstr));
    struct cp_alert_reason reasons[8];
    struct cp_msg msgs[1000];
    struct cp_arena arena;
    struct cp_consumer *cons;
    struct cp_buf json;
    FILE *out = fopen(path, "w");
    int64_t cnt = 0;
    int quiet_ms = 0;

    cr_assert_not_null(codec, "%s", errstr);
    h_codec_output_ids(codec);
    cr_assert_not_null(out);
    snprintf(group, sizeof(group), "alerts-check-%d", (int)getpid());
    cons = cp_consumer_new(bootstrap, group, "crm.alerts", NULL, 0, &cbs,
                           errstr, sizeof(errstr));
    cr_assert_not_null(cons, "%s", errstr);
    cp_arena_init(&arena, 0);
    cp_buf_init(&json, 0);
    /* Joining takes seconds; then stop once nothing more arrives. */
    while (quiet_ms < (cnt ? 3000 : 15000)) {
        size_t n = cp_consumer_poll(cons, msgs, 1000, 100);

        quiet_ms = n ? 0 : quiet_ms + 100;
        for (size_t i = 0; i < n; i++) {
            struct cp_alert a;

            cr_assert_eq(cp_codec_decode_alert(
                             codec, msgs[i].value, msgs[i].value_len, &arena,
                             &a, reasons, 8, reason, sizeof(reason)),
                         CP_OK, "undecodable alert: %s", reason);
            cp_buf_reset(&json);
            cr_assert_eq(cp_alert_json(&a, &json), CP_OK);
            fprintf(out, "%.*s\n", (int)json.len, json.data);
            cnt++;
        }
        cp_arena_reset(&arena);
    }
    cp_consumer_destroy(cons);
    cp_arena_cleanup(&arena);
    cp_buf_cleanup(&json);
    cp_codec_destroy(codec);
    cr_assert_eq(fclose(out), 0);
    return cnt;
}

int h_free_port(void)
{
    return free_port();
}

/* Starts redis-server on r->port with an AOF of its own (the directory is
 * named after the port: several servers share the scratch dir); waits up to
 * 30 s until it answers (loading a large AOF takes a while). */
static void redis_spawn_aof(struct h_redis *r)
{
    char port[16], dir[600], log[600], aofdir[64], dbfile[64];

    snprintf(port, sizeof(port), "%d", r->port);
    snprintf(dir, sizeof(dir), "%s", h_scratch_dir());
    snprintf(log, sizeof(log), "%s/redis-%d.log", h_scratch_dir(), r->port);
    snprintf(aofdir, sizeof(aofdir), "aof-%d", r->port);
    dbfile_name(r, dbfile, sizeof(dbfile));
    {
        const char *argv[] = {"redis-server",
                              "--port",
                              port,
                              "--bind",
                              "127.0.0.1",
                              "--save",
                              "",
                              "--dir",
                              dir,
                              "--dbfilename",
                              dbfile,
                              "--appendonly",
                              "yes",
                              "--appendfsync",
                              "always",
                              "--appenddirname",
                              aofdir,
                              "--aof-use-rdb-preamble",
                              "no",
                              NULL};
        r->pid = h_spawn(argv, log);
    }
    for (int i = 0; i < 600; i++) {
        redisContext *ctx = connect_redis(r);

        if (ctx) {
            redisReply *reply = redisCommand(ctx, "PING");
            int up = reply && reply->type == REDIS_REPLY_STATUS;

            if (reply)
                freeReplyObject(reply);
            redisFree(ctx);
            if (up)
                return; /* not LOADING any more */
        }
        h_sleep_ms(50);
    }
    h_tail(log, 20);
    cr_assert_fail("redis-server (AOF) did not start on port %d", r->port);
}

void h_redis_reserve(struct h_redis *r, int aof)
{
    r->pid = 0;
    r->aof = aof;
    r->port = free_port();
    snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d", r->port);
}

void h_redis_start_aof(struct h_redis *r)
{
    h_redis_reserve(r, 1);
    redis_spawn_aof(r);
}

void h_redis_crash(struct h_redis *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGCONT); /* a frozen server must die too */
        kill(r->pid, SIGKILL);
        h_wait(r->pid, 10);
        r->pid = 0;
    }
}

void h_redis_restart(struct h_redis *r)
{
    char dbfile[64];

    cr_assert_eq(r->pid, 0, "redis-server on %d still runs", r->port);
    if (r->aof) {
        redis_spawn_aof(r);
        return;
    }
    dbfile_name(r, dbfile, sizeof(dbfile));
    redis_spawn_on_port(r, dbfile);
}

void h_redis_freeze(const struct h_redis *r)
{
    cr_assert(r->pid > 0);
    cr_assert_eq(kill(r->pid, SIGSTOP), 0);
}

void h_redis_thaw(const struct h_redis *r)
{
    cr_assert(r->pid > 0);
    cr_assert_eq(kill(r->pid, SIGCONT), 0);
}

char *h_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text;
    long n;

    cr_assert_not_null(f, "open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = calloc(1, (size_t)n + 1);
    cr_assert_not_null(text);
    cr_assert_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return text;
}

size_t h_count(const char *text, const char *needle)
{
    size_t n = 0;

    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}
