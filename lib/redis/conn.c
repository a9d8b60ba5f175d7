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

#include "cluster.h"
#include "redis_int.h"

struct cp_rconn {
    redisContext *ctx; /* owned; dead after the first error; NULL in
                          cluster mode */
    char address[300]; /* "host:port", "unix:/path" or "cluster <seeds>" */
    char errstr[512];
    /* cluster mode (url->cluster_nodes): send runs the batch through the
     * router, read hands its replies out in order */
    struct cp_cluster *cluster; /* owned; NULL: one Redis */
    void **queue;               /* owned, each redisReply too until read */
    size_t queue_cnt, queue_next, queue_cap;
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

static struct cp_rconn *new_cluster(const struct cp_redis_url *url,
                                    int timeout_ms, char *errstr,
                                    size_t errstr_size)
{
    struct cp_rconn *conn = calloc(1, sizeof(*conn));

    if (!conn) {
        snprintf(errstr, errstr_size, "redis connect: out of memory");
        return NULL;
    }
    snprintf(conn->address, sizeof(conn->address), "cluster %s",
             url->cluster_nodes);
    conn->cluster = cp_cluster_new(url->cluster_nodes, url, timeout_ms, errstr,
                                   errstr_size);
    if (!conn->cluster)
        goto fail;
    /* Fail here as one Redis would: the callers retry a failed connect. */
    if (cp_cluster_ensure_map(conn->cluster)) {
        snprintf(errstr, errstr_size, "%s", cp_cluster_errstr(conn->cluster));
        goto fail;
    }
    return conn;
fail:
    cp_rconn_destroy(conn);
    return NULL;
}

struct cp_rconn *cp_rconn_new(const struct cp_redis_url *url, int timeout_ms,
                              char *errstr, size_t errstr_size)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    struct cp_rconn *conn;

    if (url->cluster_nodes)
        return new_cluster(url, timeout_ms, errstr, errstr_size);
    conn = calloc(1, sizeof(*conn));
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

struct cp_rconn *cp_rconn_new_node(const struct cp_redis_url *url,
                                   int timeout_ms, char *errstr,
                                   size_t errstr_size)
{
    const char *p, *item;
    size_t len;

    if (!url->cluster_nodes)
        return cp_rconn_new(url, timeout_ms, errstr, errstr_size);
    snprintf(errstr, errstr_size, "redis.cluster.nodes: no node");
    p = url->cluster_nodes;
    while (cp_list_next(&p, &item, &len)) {
        struct cp_redis_url one = *url; /* borrows url's strings */
        char host[256];
        size_t colon = len;
        struct cp_rconn *conn;

        while (colon > 0 && item[colon - 1] != ':')
            colon--;
        if (!colon || colon - 1 >= sizeof(host))
            continue; /* checked by cp_redis_url_set_cluster() */
        memcpy(host, item, colon - 1);
        host[colon - 1] = '\0';
        one.host = host;
        one.port = atoi(item + colon);
        one.cluster_nodes = NULL;
        conn = cp_rconn_new(&one, timeout_ms, errstr, errstr_size);
        if (conn)
            return conn;
    }
    return NULL;
}

static void queue_clear(struct cp_rconn *conn)
{
    for (size_t i = conn->queue_next; i < conn->queue_cnt; i++)
        freeReplyObject(conn->queue[i]);
    conn->queue_cnt = conn->queue_next = 0;
}

static cp_rc cluster_send(struct cp_rconn *conn, long master,
                          const struct cp_cmds *cmds)
{
    cp_rc rc;

    queue_clear(conn); /* replies nobody read: the stream starts over */
    if (!cmds->cnt)
        return CP_OK;
    if (conn->queue_cap < cmds->cnt) {
        void **grown = realloc(conn->queue, cmds->cnt * sizeof(*grown));

        if (!grown) {
            snprintf(conn->errstr, sizeof(conn->errstr), "out of memory");
            return CP_ENOMEM;
        }
        conn->queue = grown;
        conn->queue_cap = cmds->cnt;
    }
    rc = cp__cluster_collect(conn->cluster, cmds, master, conn->queue);
    if (rc) {
        snprintf(conn->errstr, sizeof(conn->errstr), "%s",
                 cp_cluster_errstr(conn->cluster));
        return rc;
    }
    conn->queue_cnt = cmds->cnt;
    return CP_OK;
}

size_t cp_rconn_masters(const struct cp_rconn *conn)
{
    return conn->cluster ? cp_cluster_masters(conn->cluster) : 1;
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
    if (conn->cluster)
        return cluster_send(conn, -1, cmds);
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

cp_rc cp_rconn_send_on(struct cp_rconn *conn, size_t master,
                       const struct cp_cmds *cmds)
{
    if (cp_cmds_failed(cmds))
        return CP_ENOMEM;
    if (conn->cluster)
        return cluster_send(conn, (long)master, cmds);
    if (master != 0) {
        snprintf(conn->errstr, sizeof(conn->errstr),
                 "redis %s: no master %zu (one Redis)", conn->address, master);
        return CP_EREDIS;
    }
    return cp_rconn_send(conn, cmds);
}

cp_rc cp_rconn_read(struct cp_rconn *conn, int wait_ms,
                    struct cp_rconn_reply **out)
{
    void *reply = NULL;

    *out = NULL;
    if (conn->cluster) {
        if (conn->queue_next < conn->queue_cnt) {
            *out = conn->queue[conn->queue_next++]; /* now the caller's */
            return CP_OK;
        }
        if (wait_ms >= 0)
            return CP_OK; /* nothing arrives unasked from a router */
        snprintf(conn->errstr, sizeof(conn->errstr),
                 "redis read %s: no reply pending", conn->address);
        return CP_EREDIS;
    }
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
    if (conn->cluster)
        queue_clear(conn);
    free(conn->queue);
    cp_cluster_destroy(conn->cluster);
    free(conn);
}
