/* SPDX-License-Identifier: Apache-2.0 */
/* A plain synchronous hiredis connection with polling reads, for the
 * wallboard. The worker's store (store.c) keeps its own: it retries,
 * tallies transactions and never waits on pub/sub. */
#include "conn.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "redis_int.h"

struct cp_rconn {
    redisContext *ctx; /* owned; dead after the first error */
    char address[300]; /* "host:port" or "unix:/path" */
    char errstr[512];
};

void cp_redis_url_address(const struct cp_redis_url *url, char *out,
                          size_t out_size)
{
    if (url->socket_path)
        snprintf(out, out_size, "unix:%s", url->socket_path);
    else
        snprintf(out, out_size, "%s:%d", url->host, url->port);
}

/* Runs one setup command; the password never reaches errstr. */
static int setup_command(struct cp_rconn *conn, int argc, const char **argv,
                         char *errstr, size_t errstr_size)
{
    redisReply *reply = redisCommandArgv(conn->ctx, argc, argv, NULL);
    int ok = reply && reply->type != REDIS_REPLY_ERROR;

    if (!ok)
        snprintf(errstr, errstr_size, "redis %s: %s", argv[0],
                 reply ? reply->str : conn->ctx->errstr);
    if (reply)
        freeReplyObject(reply);
    return ok ? 0 : -1;
}

struct cp_rconn *cp_rconn_new(const struct cp_redis_url *url, int timeout_ms,
                              char *errstr, size_t errstr_size)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    struct cp_rconn *conn = calloc(1, sizeof(*conn));

    if (!conn) {
        snprintf(errstr, errstr_size, "redis connect: out of memory");
        return NULL;
    }
    cp_redis_url_address(url, conn->address, sizeof(conn->address));
    conn->ctx = url->socket_path
                    ? redisConnectUnixWithTimeout(url->socket_path, tv)
                    : redisConnectWithTimeout(url->host, url->port, tv);
    if (!conn->ctx || conn->ctx->err) {
        snprintf(errstr, errstr_size,
                 "redis connect %s: %s (is redis-server running? set "
                 "redis.url)",
                 conn->address,
                 conn->ctx ? conn->ctx->errstr : "out of memory");
        goto fail;
    }
    if (redisSetTimeout(conn->ctx, tv) != REDIS_OK) {
        snprintf(errstr, errstr_size, "redis connect %s: set timeout",
                 conn->address);
        goto fail;
    }
    if (!url->socket_path)
        redisEnableKeepAlive(conn->ctx); /* notices a silently dead peer */
    if (url->password) {
        const char *argv[3] = {"AUTH", url->user ? url->user : url->password,
                               url->password};

        if (setup_command(conn, url->user ? 3 : 2, argv, errstr, errstr_size))
            goto fail;
    }
    if (url->db) {
        char db[16];
        const char *argv[2] = {"SELECT", db};

        snprintf(db, sizeof(db), "%d", url->db);
        if (setup_command(conn, 2, argv, errstr, errstr_size))
            goto fail;
    }
    return conn;

fail:
    cp_rconn_destroy(conn);
    return NULL;
}

static cp_rc io_error(struct cp_rconn *conn, const char *what)
{
    snprintf(conn->errstr, sizeof(conn->errstr), "redis %s %s: %s", what,
             conn->address,
             conn->ctx->errstr[0] ? conn->ctx->errstr : "connection lost");
    return CP_EREDIS;
}

cp_rc cp_rconn_send(struct cp_rconn *conn, const struct cp_cmds *cmds)
{
    int done = 0;

    if (cp_cmds_failed(cmds))
        return CP_ENOMEM;
    /* The bytes are RESP already: hiredis only buffers and writes them. */
    if (cmds->buf.len &&
        redisAppendFormattedCommand(conn->ctx, (const char *)cmds->buf.data,
                                    cmds->buf.len) != REDIS_OK)
        return io_error(conn, "write");
    while (!done)
        if (redisBufferWrite(conn->ctx, &done) != REDIS_OK)
            return io_error(conn, "write");
    return CP_OK;
}

cp_rc cp_rconn_read(struct cp_rconn *conn, int wait_ms,
                    struct cp_rconn_reply **out)
{
    void *reply = NULL;

    *out = NULL;
    if (wait_ms < 0) {
        if (redisGetReply(conn->ctx, &reply) != REDIS_OK || !reply)
            return io_error(conn, "read");
        *out = reply;
        return CP_OK;
    }
    /* A reply may sit in the reader from an earlier read already. */
    if (redisGetReplyFromReader(conn->ctx, &reply) != REDIS_OK)
        return io_error(conn, "read");
    if (!reply) {
        struct pollfd pfd = {.fd = conn->ctx->fd, .events = POLLIN};
        int rc = poll(&pfd, 1, wait_ms);

        if (rc < 0 && errno != EINTR) {
            snprintf(conn->errstr, sizeof(conn->errstr), "redis read %s: %s",
                     conn->address, strerror(errno));
            return CP_EREDIS;
        }
        if (rc <= 0)
            return CP_OK;
        if (redisBufferRead(conn->ctx) != REDIS_OK ||
            redisGetReplyFromReader(conn->ctx, &reply) != REDIS_OK)
            return io_error(conn, "read");
    }
    *out = reply;
    return CP_OK;
}

void cp_rconn_reply_view(const struct cp_rconn_reply *reply,
                         struct cp_reply *view)
{
    cp__redis_reply_view((const redisReply *)reply, view);
}

void cp_rconn_reply_free(struct cp_rconn_reply *reply)
{
    if (reply)
        freeReplyObject(reply);
}

const char *cp_rconn_address(const struct cp_rconn *conn)
{
    return conn->address;
}

const char *cp_rconn_errstr(const struct cp_rconn *conn)
{
    return conn->errstr;
}

void cp_rconn_destroy(struct cp_rconn *conn)
{
    if (!conn)
        return;
    if (conn->ctx)
        redisFree(conn->ctx);
    free(conn);
}
