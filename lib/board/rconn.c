/* SPDX-License-Identifier: Apache-2.0 */
/* The wallboard's Redis connections: redis.url parsing (the same forms as
 * the worker's store) and a connect that authenticates and selects the
 * database. The board only reads and subscribes; it never writes. */
#include "board_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static char *dup_range(const char *s, size_t len)
{
    char *d = malloc(len + 1);

    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

static int parse_db(const char *s, int *db)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 1000000)
        return -1;
    *db = (int)v;
    return 0;
}

void cp__redis_addr_cleanup(struct cp__redis_addr *addr)
{
    if (!addr)
        return;
    free(addr->host);
    free(addr->socket_path);
    free(addr->user);
    free(addr->password);
    memset(addr, 0, sizeof(*addr));
}

cp_rc cp__redis_addr_parse(struct cp__redis_addr *addr, const char *url,
                           char *errstr, size_t errstr_size)
{
    memset(addr, 0, sizeof(*addr));
    if (!strncmp(url, "unix://", 7)) {
        const char *path = url + 7;
        const char *q = strchr(path, '?');

        addr->socket_path =
            dup_range(path, q ? (size_t)(q - path) : strlen(path));
        if (q && (strncmp(q, "?db=", 4) || parse_db(q + 4, &addr->db)))
            goto bad;
        if (!addr->socket_path || !*addr->socket_path)
            goto bad;
        snprintf(addr->address, sizeof(addr->address), "unix:%s",
                 addr->socket_path);
        return CP_OK;
    }
    if (!strncmp(url, "redis://", 8)) {
        const char *p = url + 8;
        const char *at = strrchr(p, '@');
        const char *slash, *colon;

        if (at) {
            const char *sep = memchr(p, ':', (size_t)(at - p));

            if (sep) {
                if (sep > p)
                    addr->user = dup_range(p, (size_t)(sep - p));
                addr->password = dup_range(sep + 1, (size_t)(at - sep - 1));
            } else {
                /* redis://secret@host: a password alone, like redis-cli. */
                addr->password = dup_range(p, (size_t)(at - p));
            }
            p = at + 1;
        }
        slash = strchr(p, '/');
        colon = memchr(p, ':', slash ? (size_t)(slash - p) : strlen(p));
        addr->host = dup_range(p, colon   ? (size_t)(colon - p)
                                  : slash ? (size_t)(slash - p)
                                          : strlen(p));
        addr->port = 6379;
        if (colon) {
            char *end;
            long port = strtol(colon + 1, &end, 10);

            if (end == colon + 1 || (*end && *end != '/') || port < 1 ||
                port > 65535)
                goto bad;
            addr->port = (int)port;
        }
        if (slash && slash[1] && parse_db(slash + 1, &addr->db))
            goto bad;
        if (!addr->host || !*addr->host)
            goto bad;
        snprintf(addr->address, sizeof(addr->address), "%s:%d", addr->host,
                 addr->port);
        return CP_OK;
    }
bad:
    cp__redis_addr_cleanup(addr);
    snprintf(errstr, errstr_size,
             "redis.url: expected redis://[user[:password]@]host[:port][/db] "
             "or unix:///path[?db=N]");
    return CP_ECONFIG;
}

/* Runs one setup command; the password never reaches errstr. */
static int setup_command(redisContext *ctx, int argc, const char **argv,
                         const char *what, char *errstr, size_t errstr_size)
{
    redisReply *reply = redisCommandArgv(ctx, argc, argv, NULL);
    int ok = reply && reply->type != REDIS_REPLY_ERROR;

    if (!ok)
        snprintf(errstr, errstr_size, "redis %s: %s", what,
                 reply ? reply->str : ctx->errstr);
    if (reply)
        freeReplyObject(reply);
    return ok ? 0 : -1;
}

redisContext *cp__redis_connect(const struct cp__redis_addr *addr,
                                int timeout_ms, char *errstr,
                                size_t errstr_size)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *ctx;

    if (addr->socket_path)
        ctx = redisConnectUnixWithTimeout(addr->socket_path, tv);
    else
        ctx = redisConnectWithTimeout(addr->host, addr->port, tv);
    if (!ctx) {
        snprintf(errstr, errstr_size, "redis connect %s: out of memory",
                 addr->address);
        return NULL;
    }
    if (ctx->err) {
        snprintf(errstr, errstr_size,
                 "redis connect %s: %s (is redis-server running? set "
                 "redis.url)",
                 addr->address, ctx->errstr);
        goto fail;
    }
    if (redisSetTimeout(ctx, tv) != REDIS_OK) {
        snprintf(errstr, errstr_size, "redis connect %s: set timeout",
                 addr->address);
        goto fail;
    }
    if (!addr->socket_path)
        redisEnableKeepAlive(ctx); /* notices a silently dead subscription */
    if (addr->password) {
        const char *argv[3] = {"AUTH", addr->user ? addr->user : addr->password,
                               addr->password};

        if (setup_command(ctx, addr->user ? 3 : 2, argv, "AUTH", errstr,
                          errstr_size))
            goto fail;
    }
    if (addr->db) {
        char db[16];
        const char *argv[2] = {"SELECT", db};

        snprintf(db, sizeof(db), "%d", addr->db);
        if (setup_command(ctx, 2, argv, "SELECT", errstr, errstr_size))
            goto fail;
    }
    return ctx;

fail:
    redisFree(ctx);
    return NULL;
}
