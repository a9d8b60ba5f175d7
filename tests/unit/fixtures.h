/* SPDX-License-Identifier: Apache-2.0 */
/* Shared fixtures for unit tests: a scratch directory and a real
 * redis-server on a free port (and a unix socket) that a test starts and
 * stops itself. Header-only, because every unit test is one file; needs no
 * Redis client library: readiness and setup commands use a plain socket. */
#ifndef CP_FIXTURES_H
#define CP_FIXTURES_H

#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CP_FX_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/** A redis-server started by fx_redis_start(). */
struct fx_redis {
    pid_t pid;      /* 0 when not running */
    int port;       /* TCP port on 127.0.0.1 */
    char dir[512];  /* its scratch directory (working dir, log) */
    char sock[600]; /* its unix socket */
    char url[128];  /* redis://127.0.0.1:<port> */
};

static inline void fx_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/** @brief A fresh directory under $TMPDIR (or /tmp); the caller removes it
 *         (fx_redis_stop() removes a Redis directory). */
static inline void fx_tmpdir(char *out, size_t size)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

    snprintf(out, size, "%s/crmpulse-unit-XXXXXX", tmp);
    cr_assert_not_null(mkdtemp(out), "mkdtemp: %s", strerror(errno));
}

/** @brief A TCP port on 127.0.0.1 that was free a moment ago. */
static inline int fx_free_port(void)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

/**
 * @brief Sends @p cmd (an inline command, e.g. "CONFIG SET requirepass x")
 *        to the server and copies the first line of its reply to @p out.
 * @returns 0, or -1 if the server could not be reached.
 */
static inline int fx_redis_cmd(const struct fx_redis *r, const char *cmd,
                               char *out, size_t out_size)
{
    struct sockaddr_in addr;
    struct timeval tv = {2, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t len = 0;
    char line[4096];

    out[0] = '\0';
    if (fd < 0)
        return -1;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)r->port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) ||
        dprintf(fd, "%s\r\n", cmd) < 0) {
        close(fd);
        return -1;
    }
    while (len + 1 < sizeof(line)) {
        ssize_t n = read(fd, line + len, 1);

        if (n <= 0 || line[len] == '\n')
            break;
        len++;
    }
    close(fd);
    while (len && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        len--;
    snprintf(out, out_size, "%.*s", (int)len, line);
    return len ? 0 : -1;
}

/* Servers still running, stopped at exit even when an assertion ended the
 * test before its own fx_redis_stop(). */
static pid_t fx_redis_pids[16];

static inline void fx_redis_reap(void)
{
    for (size_t i = 0; i < CP_FX_ARRAY_SIZE(fx_redis_pids); i++) {
        if (fx_redis_pids[i] > 0) {
            kill(fx_redis_pids[i], SIGKILL);
            waitpid(fx_redis_pids[i], NULL, 0);
            fx_redis_pids[i] = 0;
        }
    }
}

static inline void fx_redis_track(pid_t pid, pid_t replace)
{
    static int registered;

    if (!registered++)
        atexit(fx_redis_reap);
    for (size_t i = 0; i < CP_FX_ARRAY_SIZE(fx_redis_pids); i++) {
        if (fx_redis_pids[i] == replace) {
            fx_redis_pids[i] = pid;
            return;
        }
    }
}

/**
 * @brief Starts redis-server without persistence on a free port and a unix
 *        socket in its own scratch directory, with @p extra arguments
 *        (NULL-terminated, may be NULL), e.g. {"--requirepass", "pw", NULL}.
 *        Returns once it answers (PONG, or NOAUTH when it wants a password).
 */
static inline void fx_redis_start(struct fx_redis *r, const char *const *extra)
{
    char port[16], log[700], reply[256];
    const char *argv[64];
    size_t argc = 0;

    memset(r, 0, sizeof(*r));
    fx_tmpdir(r->dir, sizeof(r->dir));
    r->port = fx_free_port();
    snprintf(port, sizeof(port), "%d", r->port);
    snprintf(r->sock, sizeof(r->sock), "%s/redis.sock", r->dir);
    snprintf(log, sizeof(log), "%s/redis.log", r->dir);
    snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d", r->port);
    {
        const char *base[] = {
            "redis-server", "--port",    port,   "--bind",
            "127.0.0.1",    "--save",    "",     "--appendonly",
            "no",           "--dir",     r->dir, "--unixsocket",
            r->sock,        "--logfile", log};

        for (size_t i = 0; i < CP_FX_ARRAY_SIZE(base); i++)
            argv[argc++] = base[i];
    }
    for (size_t i = 0; extra && extra[i] && argc + 1 < CP_FX_ARRAY_SIZE(argv);
         i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    r->pid = fork();
    cr_assert_neq(r->pid, -1, "fork: %s", strerror(errno));
    if (r->pid == 0) {
        /* It logs to its file; keep the test's output pipes free. */
        if (!freopen("/dev/null", "w", stdout) ||
            !freopen("/dev/null", "w", stderr))
            _exit(126);
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "exec redis-server: %s\n", strerror(errno));
        _exit(127);
    }
    fx_redis_track(r->pid, 0);
    for (int i = 0; i < 200; i++) {
        if (!fx_redis_cmd(r, "PING", reply, sizeof(reply)))
            return;
        fx_sleep_ms(25);
    }
    cr_assert_fail("redis-server did not start on port %d (see %s)", r->port,
                   log);
}

/** @brief Stops the server (SIGTERM, then SIGKILL) and removes its dir. */
static inline void fx_redis_stop(struct fx_redis *r)
{
    char cmd[700];
    int status;

    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        for (int i = 0; i < 200 && waitpid(r->pid, &status, WNOHANG) == 0; i++)
            fx_sleep_ms(25);
        if (waitpid(r->pid, &status, WNOHANG) == 0) {
            kill(r->pid, SIGKILL);
            waitpid(r->pid, &status, 0);
        }
        fx_redis_track(0, r->pid);
        r->pid = 0;
    }
    if (r->dir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", r->dir);
        r->dir[0] = '\0';
    }
}

#endif
