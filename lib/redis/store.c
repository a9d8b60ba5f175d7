/* SPDX-License-Identifier: Apache-2.0 */
/* Redis access through hiredis (sync API, pipelined). */
#include "store.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "cluster.h"
#include "log.h"
#include "redis_int.h"
#include "url.h"

#define CP_REDIS_CONNECT_TIMEOUT_MS 2000
#define CP_REDIS_IO_TIMEOUT_MS      30000
/* A wait for Redis looks at the stop flag this often... */
#define CP_REDIS_WAIT_STEP_MS 100
/* ...and gives up this long after a stop was requested: a Redis that
 * answers gets to commit the last transaction, a stalled one (SIGSTOP,
 * CLIENT PAUSE) cannot hold the shutdown for an I/O timeout. */
#define CP_REDIS_STOP_GRACE_MS 1000

struct cp_store {
    redisContext *ctx;       /* owned; NULL while disconnected */
    struct cp_redis_url url; /* owned; its password is never logged */
    size_t pending;          /* replies sent for but not read yet */
    size_t error_cmd;        /* command whose error reply is in errstr;
                                SIZE_MAX: none (see cp_store_error_cmd) */
    uint64_t connection_id;  /* bumped by every successful connect */
    char address[300];       /* for messages */
    char errstr[512];
    volatile sig_atomic_t *stop; /* borrowed, may be NULL; see set_stop */
    int64_t stop_seen_ms;        /* when a wait first saw the stop flag */
    /* cluster mode (redis.cluster.nodes): ctx stays NULL, the router talks */
    struct cp_cluster *cluster; /* owned; NULL: one Redis */
    redisReply **replies;       /* owned, each too: the replies of the last
                                   send, read by finish */
    size_t reply_cap;
};

static void drop_connection(struct cp_store *st)
{
    if (st->ctx)
        redisFree(st->ctx);
    st->ctx = NULL;
}

/* What to do about an error reply that is about authentication; "" for
 * any other error. Operators see these at start-up or after Redis was
 * reconfigured, and the fix is always in redis.url. */
static const char *auth_hint(const char *error)
{
    if (!strncmp(error, "NOAUTH", 6))
        return "; redis.url has no password: use "
               "redis://user:pass@host[:port][/db] (or redis://:pass@host "
               "for requirepass)";
    if (!strncmp(error, "WRONGPASS", 9) || strstr(error, "invalid password") ||
        strstr(error, "invalid username-password"))
        return "; the user or password in redis.url is wrong";
    if (strstr(error, "without any password configured"))
        return "; this Redis has no password: remove it from redis.url";
    return "";
}

/* What to do about a NOPERM reply (Redis 6+ ACLs); "" for any other. */
static const char *acl_hint(const char *error, size_t len)
{
    if (len >= 6 && !strncmp(error, "NOPERM", 6))
        return " (Redis ACL: the user in redis.url lacks a permission "
               "crmpulse needs: keys ~<redis.prefix>:* ~crmpulse:*, channels "
               "&<redis.prefix>:*; see README, Security)";
    return "";
}

/* Whether a stop request is older than the grace: from then on every wait
 * for Redis ends at once. */
static int stop_overdue(struct cp_store *st)
{
    if (!st->stop || !*st->stop)
        return 0;
    if (!st->stop_seen_ms)
        st->stop_seen_ms = cp_mono_ms();
    return cp_mono_ms() - st->stop_seen_ms >= CP_REDIS_STOP_GRACE_MS;
}

/* Waits until the socket is ready for @p events, in short steps: an I/O
 * timeout or a stop request ends the wait (0: ready, -1: ctx->errstr says
 * why). hiredis' own blocking read would sit out its timeout, since it
 * retries a read interrupted by the signal. */
static int wait_socket(struct cp_store *st, short events)
{
    int64_t deadline = cp_mono_ms() + CP_REDIS_IO_TIMEOUT_MS;

    for (;;) {
        struct pollfd pfd = {st->ctx->fd, events, 0};
        int n;

        if (stop_overdue(st)) {
            snprintf(st->ctx->errstr, sizeof(st->ctx->errstr),
                     "stop requested while waiting for Redis");
            return -1;
        }
        n = poll(&pfd, 1, CP_REDIS_WAIT_STEP_MS);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR) {
            snprintf(st->ctx->errstr, sizeof(st->ctx->errstr), "poll: %s",
                     strerror(errno));
            return -1;
        }
        if (cp_mono_ms() >= deadline) {
            snprintf(st->ctx->errstr, sizeof(st->ctx->errstr),
                     "no reply in %d ms", CP_REDIS_IO_TIMEOUT_MS);
            return -1;
        }
    }
}

/* redisGetReply() with wait_socket() before every read. */
static int read_reply(struct cp_store *st, void **reply)
{
    *reply = NULL;
    for (;;) {
        if (redisGetReplyFromReader(st->ctx, reply) != REDIS_OK)
            return REDIS_ERR;
        if (*reply)
            return REDIS_OK;
        if (wait_socket(st, POLLIN) || redisBufferRead(st->ctx) != REDIS_OK)
            return REDIS_ERR;
    }
}

/* Runs one command during connection setup: 0, -1 on I/O error, -2 if
 * Redis refused us (authentication: the fix is in redis.url). */
static int setup_command(struct cp_store *st, int argc, const char **argv)
{
    redisReply *reply = NULL;
    int done = 0;
    int rc = 0;

    if (redisAppendCommandArgv(st->ctx, argc, argv, NULL) != REDIS_OK)
        rc = -1;
    while (!rc && !done)
        if (redisBufferWrite(st->ctx, &done) != REDIS_OK)
            rc = -1;
    if (!rc && read_reply(st, (void **)&reply) != REDIS_OK)
        rc = -1;
    if (rc)
        snprintf(st->errstr, sizeof(st->errstr), "redis %s %s: %s", st->address,
                 argv[0], st->ctx->errstr);
    else if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(st->errstr, sizeof(st->errstr), "redis %s %s: %s%s",
                 st->address, argv[0], reply->str, auth_hint(reply->str));
        rc = auth_hint(reply->str)[0] ? -2 : -1;
    }
    if (reply)
        freeReplyObject(reply);
    return rc;
}

cp_rc cp_store_ensure_connected(struct cp_store *st)
{
    struct timeval connect_tv = {CP_REDIS_CONNECT_TIMEOUT_MS / 1000,
                                 CP_REDIS_CONNECT_TIMEOUT_MS % 1000 * 1000};
    struct timeval io_tv = {CP_REDIS_IO_TIMEOUT_MS / 1000, 0};
    int rc;

    if (st->cluster) {
        cp_rc rc_map = cp_cluster_ensure_map(st->cluster);

        if (rc_map)
            snprintf(st->errstr, sizeof(st->errstr), "%s",
                     cp_cluster_errstr(st->cluster));
        return rc_map;
    }
    if (st->ctx)
        return CP_OK;
    if (stop_overdue(st)) {
        snprintf(st->errstr, sizeof(st->errstr),
                 "redis %s: not connecting, stop requested", st->address);
        return CP_EREDIS;
    }
    st->ctx =
        st->url.socket_path
            ? redisConnectUnixWithTimeout(st->url.socket_path, connect_tv)
            : redisConnectWithTimeout(st->url.host, st->url.port, connect_tv);
    if (!st->ctx || st->ctx->err) {
        snprintf(st->errstr, sizeof(st->errstr),
                 "redis connect %s: %s (is redis-server running? set "
                 "redis.url)",
                 st->address, st->ctx ? st->ctx->errstr : "out of memory");
        drop_connection(st);
        return CP_EREDIS;
    }
    redisSetTimeout(st->ctx, io_tv);
    if (st->url.password) {
        const char *argv[3] = {"AUTH",
                               st->url.user ? st->url.user : st->url.password,
                               st->url.password};

        rc = setup_command(st, st->url.user ? 3 : 2, argv);
        if (rc)
            goto fail;
    } else {
        /* A Redis that wants a password accepts the connection and refuses
         * every command: find out now, with the fix in the message, rather
         * than at the first offsets read. */
        const char *argv[1] = {"PING"};

        rc = setup_command(st, 1, argv);
        if (rc)
            goto fail;
    }
    if (st->url.db) {
        char db[16];
        const char *argv[2] = {"SELECT", db};

        snprintf(db, sizeof(db), "%d", st->url.db);
        rc = setup_command(st, 2, argv);
        if (rc)
            goto fail;
    }
    st->connection_id++;
    cp_log(CP_LOG_INFO, "REDIS", "connected to %s", st->address);
    return CP_OK;
fail:
    drop_connection(st);
    return rc == -2 ? CP_ECONFIG : CP_EREDIS;
}

struct cp_store *cp_store_open(const char *url, char *errstr,
                               size_t errstr_size)
{
    struct cp_store *st = calloc(1, sizeof(*st));

    if (!st) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (cp_redis_url_parse(url, &st->url, errstr, errstr_size))
        goto fail;
    if (st->url.socket_path)
        snprintf(st->address, sizeof(st->address), "unix:%s",
                 st->url.socket_path);
    else
        snprintf(st->address, sizeof(st->address), "%s:%d", st->url.host,
                 st->url.port);
    return st;
fail:
    cp_store_destroy(st);
    return NULL;
}

struct cp_store *cp_store_open_cluster(const char *url,
                                       const char *cluster_nodes, char *errstr,
                                       size_t errstr_size)
{
    struct cp_store *st = cp_store_open(url, errstr, errstr_size);

    if (!st || !cluster_nodes || !cluster_nodes[0])
        return st;
    if (cp_redis_url_set_cluster(&st->url, cluster_nodes, errstr, errstr_size))
        goto fail;
    st->cluster = cp_cluster_new(cluster_nodes, &st->url,
                                 CP_REDIS_IO_TIMEOUT_MS, errstr, errstr_size);
    if (!st->cluster)
        goto fail;
    snprintf(st->address, sizeof(st->address), "cluster %s", cluster_nodes);
    return st;
fail:
    cp_store_destroy(st);
    return NULL;
}

struct cp_store *cp_store_new_cluster(const char *url,
                                      const char *cluster_nodes, char *errstr,
                                      size_t errstr_size)
{
    struct cp_store *st =
        cp_store_open_cluster(url, cluster_nodes, errstr, errstr_size);

    if (st && cp_store_ensure_connected(st)) {
        snprintf(errstr, errstr_size, "%s", st->errstr);
        cp_store_destroy(st);
        return NULL;
    }
    return st;
}

struct cp_store *cp_store_new(const char *url, char *errstr, size_t errstr_size)
{
    struct cp_store *st = cp_store_open(url, errstr, errstr_size);

    if (st && cp_store_ensure_connected(st)) {
        snprintf(errstr, errstr_size, "%s", st->errstr);
        cp_store_destroy(st);
        return NULL;
    }
    return st;
}

void cp_store_set_stop(struct cp_store *st, volatile sig_atomic_t *stop)
{
    st->stop = stop;
}

static void hiredis_element(const void *impl, size_t i, struct cp_reply *out);

void cp__redis_reply_view(const redisReply *reply, struct cp_reply *out)
{
    memset(out, 0, sizeof(*out));
    out->impl = reply;
    switch (reply->type) {
    case REDIS_REPLY_STRING:
        out->type = CP_REPLY_STRING;
        break;
    case REDIS_REPLY_STATUS:
        out->type = CP_REPLY_STATUS;
        break;
    case REDIS_REPLY_ERROR:
        out->type = CP_REPLY_ERROR;
        break;
    case REDIS_REPLY_INTEGER:
        out->type = CP_REPLY_INTEGER;
        out->integer = reply->integer;
        return;
    case REDIS_REPLY_ARRAY:
        out->type = CP_REPLY_ARRAY;
        out->elements = reply->elements;
        out->element_fn = hiredis_element;
        /* A transaction's results: surface the first failed command. */
        for (size_t i = 0; i < reply->elements; i++) {
            const redisReply *elem = reply->element[i];

            if (elem && elem->type == REDIS_REPLY_ERROR) {
                out->type = CP_REPLY_ERROR;
                out->str = elem->str;
                out->len = elem->len;
                return;
            }
        }
        return;
    default:
        out->type = CP_REPLY_NIL;
        return;
    }
    out->str = reply->str;
    out->len = reply->len;
}

static void hiredis_element(const void *impl, size_t i, struct cp_reply *out)
{
    const redisReply *r = impl;

    if (r->element[i])
        cp__redis_reply_view(r->element[i], out);
}

void cp_store_reply_element(const struct cp_reply *reply, size_t i,
                            struct cp_reply *out)
{
    const redisReply *r = reply->impl;

    /* A view made by hand around a redisReply has no element_fn. */
    if (!reply->element_fn && r && r->type == REDIS_REPLY_ARRAY &&
        i < r->elements) {
        memset(out, 0, sizeof(*out));
        hiredis_element(r, i, out);
        return;
    }
    cp_reply_element(reply, i, out);
}

static cp_rc io_error(struct cp_store *st)
{
    snprintf(st->errstr, sizeof(st->errstr), "redis %s: %s", st->address,
             st->ctx && st->ctx->errstr[0] ? st->ctx->errstr
                                           : "connection lost");
    drop_connection(st);
    st->pending = 0;
    return CP_EREDIS;
}

/* ---- cluster mode: the router runs the batch, finish hands out replies */

static void cluster_free_replies(struct cp_store *st)
{
    for (size_t i = 0; i < st->pending; i++)
        if (st->replies[i])
            freeReplyObject(st->replies[i]);
    st->pending = 0;
}

static cp_rc cluster_send(struct cp_store *st, const struct cp_cmds *cmds)
{
    cp_rc rc;

    if (st->reply_cap < cmds->cnt) {
        redisReply **grown = realloc(st->replies, cmds->cnt * sizeof(*grown));

        if (!grown) {
            snprintf(st->errstr, sizeof(st->errstr), "out of memory");
            return CP_ENOMEM;
        }
        st->replies = grown;
        st->reply_cap = cmds->cnt;
    }
    rc = cp__cluster_collect(st->cluster, cmds, -1, (void **)st->replies);
    if (rc) {
        snprintf(st->errstr, sizeof(st->errstr), "%s",
                 cp_cluster_errstr(st->cluster));
        return rc;
    }
    st->pending = cmds->cnt;
    return CP_OK;
}

/* One reply of a finish: the first error reply is the message, even when
 * a callback turns it into the failure (NOPERM on a fence INCR, say); @p fn
 * sees every reply until one fails, else an error reply fails the batch. */
static void take_reply(struct cp_store *st, size_t i,
                       const struct cp_reply *view, cp_reply_fn fn,
                       void *opaque, cp_rc *rc)
{
    if (!*rc && view->type == CP_REPLY_ERROR && st->error_cmd == SIZE_MAX) {
        snprintf(st->errstr, sizeof(st->errstr), "redis %s: %.*s%s",
                 st->address, (int)view->len, view->str,
                 acl_hint(view->str, view->len));
        st->error_cmd = i;
    }
    if (!*rc && fn)
        *rc = fn(opaque, i, view);
    else if (!*rc && view->type == CP_REPLY_ERROR)
        *rc = CP_EREDIS;
}

static cp_rc cluster_finish(struct cp_store *st, cp_reply_fn fn, void *opaque)
{
    cp_rc rc = CP_OK;

    st->error_cmd = SIZE_MAX;
    for (size_t i = 0; i < st->pending; i++) {
        struct cp_reply view;

        cp__redis_reply_view(st->replies[i], &view);
        take_reply(st, i, &view, fn, opaque, &rc);
    }
    cluster_free_replies(st);
    return rc;
}

/* What cp_store_finish_tx() tallies, from the held replies. */
static void cluster_finish_tx(struct cp_store *st, struct cp_tx_result *res)
{
    for (size_t i = 0; i < st->pending; i++) {
        const redisReply *r = st->replies[i];

        res->aborted = r->type == REDIS_REPLY_NIL;
        if (r->type == REDIS_REPLY_ERROR) {
            if (!res->errors++) {
                res->error_cmd = i;
                snprintf(res->error, sizeof(res->error), "%s", r->str);
            }
        } else if (r->type == REDIS_REPLY_ARRAY) {
            for (size_t j = 0; j < r->elements; j++) {
                const redisReply *e = r->element[j];

                if (e->type != REDIS_REPLY_ERROR)
                    continue;
                /* EXEC's j-th result is the j-th queued command. */
                if (!res->errors++) {
                    res->error_cmd = i - r->elements + j;
                    snprintf(res->error, sizeof(res->error), "%s", e->str);
                }
                res->exec_errors++;
            }
        }
    }
    cluster_free_replies(st);
}

cp_rc cp_store_send(struct cp_store *st, const struct cp_cmds *cmds)
{
    if (st->pending) {
        snprintf(st->errstr, sizeof(st->errstr),
                 "redis %s: %zu replies not read yet", st->address,
                 st->pending);
        return CP_EREDIS;
    }
    if (!cmds->cnt)
        return CP_OK;
    if (cp_cmds_failed(cmds)) {
        snprintf(st->errstr, sizeof(st->errstr),
                 "redis batch: out of memory building commands");
        return CP_ENOMEM;
    }
    if (st->cluster)
        return cluster_send(st, cmds);
    if (cp_store_ensure_connected(st))
        return CP_EREDIS;
    /* The whole batch is already RESP: write it to the socket ourselves
     * (hiredis would copy it into its own buffer first), all of it now, so
     * Redis runs it while we do other work. */
    for (size_t off = 0; off < cmds->buf.len;) {
        /* Never blocks: a Redis that reads nothing (stalled, paused) fills
         * the socket buffer, and then wait_socket() keeps the stop flag in
         * sight. */
        ssize_t n = send(st->ctx->fd, cmds->buf.data + off, cmds->buf.len - off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_socket(st, POLLOUT))
                return io_error(st);
            continue;
        }
        if (n <= 0) {
            snprintf(st->ctx->errstr, sizeof(st->ctx->errstr), "write: %s",
                     n < 0 ? strerror(errno) : "closed");
            return io_error(st);
        }
        off += (size_t)n;
    }
    st->pending = cmds->cnt;
    return CP_OK;
}

cp_rc cp_store_finish(struct cp_store *st, cp_reply_fn fn, void *opaque)
{
    size_t cnt = st->pending;
    cp_rc rc = CP_OK;

    if (st->cluster)
        return cluster_finish(st, fn, opaque);
    st->error_cmd = SIZE_MAX;
    for (size_t i = 0; i < cnt; i++) {
        redisReply *reply = NULL;
        struct cp_reply view;

        if (read_reply(st, (void **)&reply) != REDIS_OK || !reply)
            return io_error(st);
        st->pending--;
        cp__redis_reply_view(reply, &view);
        take_reply(st, i, &view, fn, opaque, &rc);
        /* Keep reading after a failure: the stream must stay in sync. */
        freeReplyObject(reply);
    }
    return rc;
}

/* ---- transaction replies without reply objects ---- */

static char tally_token; /* what every "object" of the tally reader is */

static void *tally_note(const redisReadTask *task, int type)
{
    struct cp_tx_result *res = task->privdata;

    /* Only EXEC's own reply (top level, last) can be nil or an array. */
    if (!task->parent)
        res->aborted = type == REDIS_REPLY_NIL;
    return &tally_token;
}

static void *tally_string(const redisReadTask *task, char *str, size_t len)
{
    struct cp_tx_result *res = task->privdata;
    void *obj = tally_note(task, task->type);

    if (task->type != REDIS_REPLY_ERROR)
        return obj;
    if (task->parent) {
        /* Element idx of EXEC's reply: the idx-th queued command, the
         * commands of the transaction being the exec_elems_ before EXEC. */
        if (!res->errors)
            res->error_cmd =
                res->replies_ - res->exec_elems_ + (size_t)task->idx;
        res->exec_errors++;
    } else if (!res->errors) {
        res->error_cmd = res->replies_;
    }
    if (!res->errors++)
        snprintf(res->error, sizeof(res->error), "%.*s", (int)len, str);
    return obj;
}

/* hiredis 1.0 counts elements in a size_t and added RESP3's doubles and
 * booleans; this reader serves both APIs. */
#if HIREDIS_MAJOR >= 1
#define TALLY_ELEMENTS size_t
#else
#define TALLY_ELEMENTS int
#endif

static void *tally_array(const redisReadTask *task, TALLY_ELEMENTS elements)
{
    struct cp_tx_result *res = task->privdata;

    if (!task->parent)
        res->exec_elems_ = elements > 0 ? (size_t)elements : 0;
    return tally_note(task, REDIS_REPLY_ARRAY);
}

static void *tally_integer(const redisReadTask *task, long long value)
{
    (void)value;
    return tally_note(task, REDIS_REPLY_INTEGER);
}

static void *tally_nil(const redisReadTask *task)
{
    return tally_note(task, REDIS_REPLY_NIL);
}

#if HIREDIS_MAJOR >= 1
static void *tally_double(const redisReadTask *task, double value, char *str,
                          size_t len)
{
    (void)value;
    (void)str;
    (void)len;
    return tally_note(task, REDIS_REPLY_DOUBLE);
}

static void *tally_bool(const redisReadTask *task, int value)
{
    (void)value;
    return tally_note(task, REDIS_REPLY_BOOL);
}
#endif

static void tally_free(void *obj)
{
    (void)obj;
}

/* Designated: hiredis >= 1.0 added members (createDouble, createBool...)
 * between these; a positional list would fill the wrong slots. */
static redisReplyObjectFunctions tally_fns = {
    .createString = tally_string,
    .createArray = tally_array,
    .createInteger = tally_integer,
    .createNil = tally_nil,
#if HIREDIS_MAJOR >= 1
    .createDouble = tally_double,
    .createBool = tally_bool,
#endif
    .freeObject = tally_free,
};

cp_rc cp_store_finish_tx(struct cp_store *st, struct cp_tx_result *res)
{
    redisReader *reader;
    redisReplyObjectFunctions *saved_fn;
    void *saved_privdata;

    memset(res, 0, sizeof(*res));
    if (!st->pending)
        return CP_OK;
    if (st->cluster) {
        cluster_finish_tx(st, res);
        return CP_OK;
    }
    reader = st->ctx->reader;
    saved_fn = reader->fn;
    saved_privdata = reader->privdata;
    reader->fn = &tally_fns;
    reader->privdata = res;
    res->replies_ = 0;
    while (st->pending) {
        void *reply = NULL;

        if (read_reply(st, &reply) != REDIS_OK || !reply)
            return io_error(st); /* frees with tally_fns still set */
        st->pending--;
        res->replies_++;
    }
    reader->fn = saved_fn;
    reader->privdata = saved_privdata;
    return CP_OK;
}

uint64_t cp_store_connection_id(const struct cp_store *st)
{
    if (st->cluster)
        return cp_cluster_generation(st->cluster);
    return st->connection_id;
}

size_t cp_store_error_cmd(const struct cp_store *st)
{
    return st->error_cmd;
}

size_t cp_store_pending(const struct cp_store *st)
{
    return st->pending;
}

cp_rc cp_store_roundtrip(struct cp_store *st, const struct cp_cmds *cmds,
                         cp_reply_fn fn, void *opaque)
{
    cp_rc rc = cp_store_send(st, cmds);

    return rc ? rc : cp_store_finish(st, fn, opaque);
}

const char *cp_store_address(const struct cp_store *st)
{
    return st->address;
}

const char *cp_store_errstr(const struct cp_store *st)
{
    return st->errstr;
}

void cp_store_destroy(struct cp_store *st)
{
    if (!st)
        return;
    drop_connection(st);
    if (st->cluster)
        cluster_free_replies(st);
    free(st->replies);
    cp_cluster_destroy(st->cluster);
    cp_redis_url_cleanup(&st->url);
    free(st);
}
