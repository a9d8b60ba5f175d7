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
