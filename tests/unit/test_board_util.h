/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the board's unit tests: a scratch redis-server on a unix
 * socket (no port races between parallel tests), started per test and
 * killed after it, and a hiredis connection the test writes keys with the
 * way the worker does. */
#ifndef CP_TEST_BOARD_UTIL_H
#define CP_TEST_BOARD_UTIL_H

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>

#include <hiredis/hiredis.h>

struct test_redis {
    pid_t pid;
    char dir[64];
    char sock[128];
    char url[160];
    redisContext *ctx; /* the test's own connection */
};

static inline int test_redis_start(struct test_redis *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "/tmp/cp-board-test-XXXXXX");
    if (!mkdtemp(r->dir))
        return -1;
    snprintf(r->sock, sizeof(r->sock), "%s/redis.sock", r->dir);
    snprintf(r->url, sizeof(r->url), "unix://%s", r->sock);
    r->pid = fork();
    if (r->pid < 0)
        return -1;
    if (r->pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        if (null >= 0) { /* the server's banner is noise in test output */
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket",
               r->sock, "--save", "", "--appendonly", "no", "--dir", r->dir,
               "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) { /* up to 10 s */
        struct timeval tv = {1, 0};

        r->ctx = redisConnectUnixWithTimeout(r->sock, tv);
        if (r->ctx && !r->ctx->err)
            return 0;
        if (r->ctx)
            redisFree(r->ctx);
        r->ctx = NULL;
        nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
    return -1;
}

static inline void test_redis_stop(struct test_redis *r)
{
    char path[256];

    if (r->ctx)
        redisFree(r->ctx);
    r->ctx = NULL;
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
    }
    r->pid = 0;
    unlink(r->sock);
    snprintf(path, sizeof(path), "%s/dump.rdb", r->dir);
    unlink(path);
    rmdir(r->dir);
}

/* Runs one command and frees the reply; returns -1 on an error reply. */
static inline int test_redis_cmd(struct test_redis *r, const char *fmt, ...)
{
    redisReply *reply;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    reply = redisvCommand(r->ctx, fmt, ap);
    va_end(ap);
    rc = reply && reply->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (reply)
        freeReplyObject(reply);
    return rc;
}

/* Today's UTC date, and the date @p days_back days before it. */
static inline void test_date(char out[11], int days_back)
{
    time_t t = time(NULL) - (time_t)days_back * 86400;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

#endif
