/* SPDX-License-Identifier: Apache-2.0 */
/* Redis Cluster slot router on hiredis' sync API: slot map, a connection per
 * master, per-master pipelines and MOVED/ASK/TRYAGAIN handling. */
#include "cluster.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "buf.h"
#include "log.h"
#include "redis_int.h"

#define NODE_NONE       0xFFFF
#define NODES_MAX       1024 /* known nodes, a hard cap (slot map + redirects) */
#define REDIRECTS_MAX   5    /* rounds of redirection per batch */
#define TRYAGAIN_MS     50   /* wait before a TRYAGAIN is retried */
#define SEEDS_MAX_BYTES 4096
#define PIPE_MAX_BYTES  ((size_t)1 << 30)

/* ---- hash slots ---- */

uint16_t cp_cluster_crc16(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint16_t crc = 0;

    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021)
                               : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned cp_cluster_keyslot(const void *key, size_t len)
{
    const char *k = key;
    size_t open, close;

    for (open = 0; open < len && k[open] != '{'; open++)
        ;
    if (open < len) {
        for (close = open + 1; close < len && k[close] != '}'; close++)
            ;
        /* "{}" or an unclosed '{': the whole key is hashed (the spec). */
        if (close < len && close > open + 1)
            return cp_cluster_crc16(k + open + 1, close - open - 1) &
                   (CP_CLUSTER_SLOTS - 1);
    }
    return cp_cluster_crc16(k, len) & (CP_CLUSTER_SLOTS - 1);
}

/* ---- host:port lists ---- */

/* Splits "host:port" (@p len bytes) into @p host and *@p port. */
static int parse_hostport(const char *s, size_t len, char *host,
                          size_t host_size, int *port)
{
    size_t colon = len;
    long v = 0;

    while (colon > 0 && s[colon - 1] != ':')
        colon--;
    if (colon == 0 || colon == len || colon - 1 >= host_size)
        return -1;
    for (size_t i = colon; i < len; i++) {
        if (!isdigit((unsigned char)s[i]) || v > 65535)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    memcpy(host, s, colon - 1);
    host[colon - 1] = '\0';
    *port = (int)v;
    return 0;
}

int cp_cluster_nodes_check(const char *nodes, char *errstr, size_t errstr_size)
{
    const char *p = nodes, *item;
    size_t len, cnt = 0;

    if (strlen(nodes) > SEEDS_MAX_BYTES) {
        snprintf(errstr, errstr_size, "longer than %d bytes", SEEDS_MAX_BYTES);
        return -1;
    }
    while (cp_list_next(&p, &item, &len)) {
        char host[256];
        int port;

        if (parse_hostport(item, len, host, sizeof(host), &port) || !host[0]) {
            snprintf(errstr, errstr_size,
                     "\"%.*s\" is not host:port (use "
                     "host:port[,host:port...])",
                     (int)(len > 64 ? 64 : len), item);
            return -1;
        }
        cnt++;
    }
    if (!cnt) {
        snprintf(errstr, errstr_size,
                 "no node given (use host:port[,host:port...])");
        return -1;
    }
    return 0;
}

/* ---- the router ---- */

struct node {
    char host[256];
    int port;
    char addr[280];    /* "host:port" */
    redisContext *ctx; /* owned; NULL while disconnected */
};

/* One command of a batch, as parsed for routing. */
struct cmd {
    size_t start, end; /* its bytes in the batch */
    int slot;          /* -1: no key */
};

/* A unit: one command, or WATCH* MULTI ... EXEC|DISCARD. */
struct unit {
    size_t first, cnt; /* its commands */
    int slot;          /* -1: no key (first master) */
    int tx;            /* a transaction: never retried */
    unsigned node;     /* where it goes this round */
    int asking;        /* send ASKING first */
    int done;          /* its replies are final */
};

struct cp_cluster {
    char *seeds;    /* owned; the setting, for messages */
    char *user;     /* owned; NULL: AUTH with the password alone */
    char *password; /* owned; NULL: no AUTH; never printed */
    int timeout_ms;
    struct node *nodes; /* owned; every node we learnt of */
    size_t node_cnt, node_cap;
    uint16_t slot_node[CP_CLUSTER_SLOTS]; /* index in nodes, NODE_NONE */
    unsigned *masters; /* owned; distinct nodes of the map, map order */
    size_t master_cnt, master_cap;
    int have_map, map_stale;
    uint64_t generation, moved, ask;
    /* scratch reused by every batch */
    struct cmd *cmds;
    size_t cmd_cap;
    struct unit *units;
    size_t unit_cap;
    struct cp_buf *pipes; /* one per node */
    size_t pipe_cap;
    char errstr[512];
};

static void node_drop(struct node *n)
{
    if (n->ctx)
        redisFree(n->ctx);
    n->ctx = NULL;
}

static const char *auth_hint(const char *error)
{
    if (!strncmp(error, "NOAUTH", 6))
        return "; the cluster wants a password: put it in redis.url "
               "(redis://user:pass@host)";
    if (!strncmp(error, "WRONGPASS", 9) || strstr(error, "invalid password") ||
        strstr(error, "invalid username-password"))
        return "; the user or password in redis.url is wrong";
    return "";
}

/* Connects @p n if needed: 0, -1 (I/O), -2 (credentials refused). */
static int node_connect(struct cp_cluster *cl, struct node *n)
{
    struct timeval tv = {cl->timeout_ms / 1000, (cl->timeout_ms % 1000) * 1000};
    redisReply *reply;
    int rc = 0;

    if (n->ctx)
        return 0;
    n->ctx = redisConnectWithTimeout(n->host, n->port, tv);
    if (!n->ctx || n->ctx->err) {
        snprintf(cl->errstr, sizeof(cl->errstr),
                 "redis connect %s: %s (is the cluster up? check "
                 "redis.cluster.nodes)",
                 n->addr, n->ctx ? n->ctx->errstr : "out of memory");
        node_drop(n);
        return -1;
    }
    redisSetTimeout(n->ctx, tv);
    redisEnableKeepAlive(n->ctx);
    if (cl->password) {
        const char *argv[3] = {"AUTH", cl->user ? cl->user : cl->password,
                               cl->password};

        reply = redisCommandArgv(n->ctx, cl->user ? 3 : 2, argv, NULL);
        if (!reply || reply->type == REDIS_REPLY_ERROR) {
            snprintf(cl->errstr, sizeof(cl->errstr), "redis %s AUTH: %s%s",
                     n->addr, reply ? reply->str : n->ctx->errstr,
                     reply ? auth_hint(reply->str) : "");
            rc = reply && auth_hint(reply->str)[0] ? -2 : -1;
        }
        if (reply)
            freeReplyObject(reply);
        if (rc) {
            node_drop(n);
            return rc;
        }
    }
    cl->generation++;
    cp_log(CP_LOG_INFO, "REDIS", "connected to cluster node %s", n->addr);
    return 0;
}

/* The index of node host:port, added if new; NODE_NONE at the cap. */
static unsigned node_find(struct cp_cluster *cl, const char *host, int port)
{
    struct node *n;

    for (size_t i = 0; i < cl->node_cnt; i++)
        if (cl->nodes[i].port == port && !strcmp(cl->nodes[i].host, host))
            return (unsigned)i;
    if (cl->node_cnt >= NODES_MAX || strlen(host) >= sizeof(n->host))
        return NODE_NONE;
    n = cp_grow(cl->nodes, &cl->node_cap, cl->node_cnt, sizeof(*n), 8);
    if (!n)
        return NODE_NONE;
    cl->nodes = n;
    n = &cl->nodes[cl->node_cnt];
    memset(n, 0, sizeof(*n));
    snprintf(n->host, sizeof(n->host), "%s", host);
    n->port = port;
    snprintf(n->addr, sizeof(n->addr), "%s:%d", host, port);
    return (unsigned)cl->node_cnt++;
}

/* Reads CLUSTER SLOTS from node @p ni into the map: 0, -1 (why in errstr),
 * -2 (credentials refused). Every field is checked: the reply is input. */
static int load_map_from(struct cp_cluster *cl, unsigned ni)
{
    uint16_t map[CP_CLUSTER_SLOTS]; /* 32 KiB; built whole, then swapped in */
    const char *argv[2] = {"CLUSTER", "SLOTS"};
    redisReply *reply;
    int rc;

    rc = node_connect(cl, &cl->nodes[ni]);
    if (rc)
        return rc;
    reply = redisCommandArgv(cl->nodes[ni].ctx, 2, argv, NULL);
    if (!reply) {
        snprintf(cl->errstr, sizeof(cl->errstr), "redis %s CLUSTER SLOTS: %s",
                 cl->nodes[ni].addr, cl->nodes[ni].ctx->errstr);
        node_drop(&cl->nodes[ni]);
        return -1;
    }
    rc = -1;
    if (reply->type != REDIS_REPLY_ARRAY) {
        snprintf(cl->errstr, sizeof(cl->errstr),
                 "redis %s CLUSTER SLOTS: %s (is it a cluster node? unset "
                 "redis.cluster.nodes for a single Redis)",
                 cl->nodes[ni].addr,
                 reply->type == REDIS_REPLY_ERROR ? reply->str
                                                  : "not an array");
        goto out;
    }
    for (size_t s = 0; s < CP_CLUSTER_SLOTS; s++)
        map[s] = NODE_NONE;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i], *m;
        char host[256];
        unsigned idx;

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER ||
            e->element[2]->type != REDIS_REPLY_ARRAY ||
            e->element[2]->elements < 2 ||
            e->element[2]->element[0]->type != REDIS_REPLY_STRING ||
            e->element[2]->element[0]->len >= sizeof(host) ||
            e->element[2]->element[1]->type != REDIS_REPLY_INTEGER ||
            e->element[0]->integer < 0 ||
            e->element[1]->integer >= CP_CLUSTER_SLOTS ||
            e->element[0]->integer > e->element[1]->integer ||
            e->element[2]->element[1]->integer < 1 ||
            e->element[2]->element[1]->integer > 65535) {
            snprintf(cl->errstr, sizeof(cl->errstr),
                     "redis %s CLUSTER SLOTS: entry %zu is not [start, end, "
                     "[host, port, ...], ...]",
                     cl->nodes[ni].addr, i);
            goto out;
        }
        m = e->element[2];
        /* An empty host means "the node you asked" (Redis 7). Copied:
         * node_find() may move cl->nodes. */
        snprintf(host, sizeof(host), "%s",
                 m->element[0]->len ? m->element[0]->str : cl->nodes[ni].host);
        idx = node_find(cl, host, (int)m->element[1]->integer);
        if (idx == NODE_NONE) {
            snprintf(cl->errstr, sizeof(cl->errstr),
                     "redis cluster: more than %d nodes, or out of memory",
                     NODES_MAX);
            goto out;
        }
        for (long long s = e->element[0]->integer; s <= e->element[1]->integer;
             s++)
            map[s] = (uint16_t)idx;
    }
    for (size_t s = 0; s < CP_CLUSTER_SLOTS; s++)
        if (map[s] == NODE_NONE) {
            snprintf(cl->errstr, sizeof(cl->errstr),
                     "redis %s CLUSTER SLOTS: slot %zu has no master (is "
                     "the cluster being set up or failing over? check "
                     "redis-cli --cluster check)",
                     cl->nodes[ni].addr, s);
            goto out;
        }
    cl->master_cnt = 0;
    for (size_t s = 0; s < CP_CLUSTER_SLOTS; s++) {
        size_t k;

        cl->slot_node[s] = map[s];
        for (k = 0; k < cl->master_cnt && cl->masters[k] != map[s]; k++)
            ;
        if (k < cl->master_cnt)
            continue;
        {
            unsigned *grown = cp_grow(cl->masters, &cl->master_cap,
                                      cl->master_cnt, sizeof(*grown), 4);

            if (!grown) {
                snprintf(cl->errstr, sizeof(cl->errstr), "out of memory");
                cl->master_cnt = 0;
                cl->have_map = 0;
                goto out;
            }
            cl->masters = grown;
            cl->masters[cl->master_cnt++] = map[s];
        }
    }
    cl->have_map = 1;
    cl->map_stale = 0;
    cl->generation++;
    rc = 0;
out:
    freeReplyObject(reply);
    return rc;
}

cp_rc cp_cluster_ensure_map(struct cp_cluster *cl)
{
    const char *p = cl->seeds, *item;
    size_t len;
    int rc;

    if (cl->have_map && !cl->map_stale)
        return CP_OK;
    /* Known masters first: a seed may have left the cluster. */
    for (size_t k = 0; k < cl->master_cnt; k++) {
        rc = load_map_from(cl, cl->masters[k]);
        if (!rc)
            return CP_OK;
        if (rc == -2)
            return CP_ECONFIG;
    }
    while (cp_list_next(&p, &item, &len)) {
        char host[256];
        int port;
        unsigned ni;

        if (parse_hostport(item, len, host, sizeof(host), &port))
            continue; /* checked in cp_cluster_new */
        ni = node_find(cl, host, port);
        if (ni == NODE_NONE)
            continue;
        rc = load_map_from(cl, ni);
        if (!rc)
            return CP_OK;
        if (rc == -2)
            return CP_ECONFIG;
    }
    return CP_EREDIS;
}

struct cp_cluster *cp_cluster_new(const char *nodes,
                                  const struct cp_redis_url *auth,
                                  int timeout_ms, char *errstr,
                                  size_t errstr_size)
{
    struct cp_cluster *cl = calloc(1, sizeof(*cl));
    char why[256];

    if (!cl) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (cp_cluster_nodes_check(nodes, why, sizeof(why))) {
        snprintf(errstr, errstr_size, "redis.cluster.nodes: %s", why);
        goto fail;
    }
    cl->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
    cl->seeds = strdup(nodes);
    if (!cl->seeds ||
        (auth && auth->user && !(cl->user = strdup(auth->user))) ||
        (auth && auth->password && !(cl->password = strdup(auth->password)))) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    for (size_t s = 0; s < CP_CLUSTER_SLOTS; s++)
        cl->slot_node[s] = NODE_NONE;
    return cl;
fail:
    cp_cluster_destroy(cl);
    return NULL;
}

/* ---- routing a batch ---- */

static int name_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && !strncasecmp(name, want, len);
}

/* Commands whose first argument is not a key. */
static int keyless(const char *name, size_t len)
{
    static const char *const names[] = {
        "MULTI",  "EXEC",   "DISCARD",  "PING",   "ECHO",     "INFO",
        "SCAN",   "ASKING", "CLUSTER",  "DBSIZE", "UNWATCH",  "TIME",
        "CLIENT", "CONFIG", "FUNCTION", "SCRIPT", "FLUSHALL", "FLUSHDB"};

    for (size_t i = 0; i < CP_ARRAY_SIZE(names); i++)
        if (name_is(name, len, names[i]))
            return 1;
    return 0;
}

/* Parses the command at *pos: its name, and its key (the first argument,
 * or the fourth of EVAL/EVALSHA/FCALL with at least one key). */
static int parse_cmd(const struct cp_buf *buf, size_t *pos, struct cmd *out,
                     const char **name, size_t *name_len)
{
    const char *args[4] = {0};
    size_t lens[4] = {0};
    long long argc;
    size_t p = *pos;

    out->start = p;
    argc = cp__resp_read_header(buf, &p, '*');
    if (argc < 1)
        return -1;
    for (long long a = 0; a < argc; a++) {
        long long len = cp__resp_read_header(buf, &p, '$');

        if (len < 0 || p + (size_t)len + 2 > buf->len)
            return -1;
        if (a < 4) {
            args[a] = buf->data + p;
            lens[a] = (size_t)len;
        }
        p += (size_t)len + 2;
    }
    out->end = p;
    *pos = p;
    *name = args[0];
    *name_len = lens[0];
    out->slot = -1;
    if (name_is(args[0], lens[0], "EVAL") ||
        name_is(args[0], lens[0], "EVALSHA") ||
        name_is(args[0], lens[0], "FCALL")) {
        if (argc > 3 && !(lens[2] == 1 && args[2][0] == '0'))
            out->slot = (int)cp_cluster_keyslot(args[3], lens[3]);
    } else if (argc > 1 && !keyless(args[0], lens[0])) {
        out->slot = (int)cp_cluster_keyslot(args[1], lens[1]);
    }
    return 0;
}

static int add_unit(struct cp_cluster *cl, size_t *unit_cnt, size_t first,
                    size_t cnt, int tx)
{
    struct unit *u =
        cp_grow(cl->units, &cl->unit_cap, *unit_cnt, sizeof(*u), 16);

    if (!u)
        return -1;
    cl->units = u;
    u = &cl->units[(*unit_cnt)++];
    memset(u, 0, sizeof(*u));
    u->first = first;
    u->cnt = cnt;
    u->tx = tx;
    u->slot = -1;
    for (size_t i = first; i < first + cnt; i++) {
        int s = cl->cmds[i].slot;

        if (s < 0)
            continue;
        if (u->slot >= 0 && u->slot != s) {
            snprintf(cl->errstr, sizeof(cl->errstr),
                     "redis cluster: a transaction spans slots %d and %d "
                     "(commands %zu and %zu of the batch): a transaction "
                     "must keep to one hash slot",
                     u->slot, s, first, i);
            return -2;
        }
        u->slot = s;
    }
    return 0;
}

/* Splits @p cmds into commands and units. Returns the unit count, or -1
 * with errstr set. */
static long split(struct cp_cluster *cl, const struct cp_cmds *cmds)
{
    size_t pos = 0, unit_cnt = 0, tx_first = SIZE_MAX, watch_first = SIZE_MAX;
    int rc;

    for (size_t i = 0; i < cmds->cnt; i++) {
        const char *name;
        size_t name_len;
        struct cmd *c = cp_grow(cl->cmds, &cl->cmd_cap, i, sizeof(*c), 64);

        if (!c) {
            snprintf(cl->errstr, sizeof(cl->errstr), "out of memory");
            return -1;
        }
        cl->cmds = c;
        if (parse_cmd(&cmds->buf, &pos, &cl->cmds[i], &name, &name_len)) {
            snprintf(cl->errstr, sizeof(cl->errstr),
                     "redis cluster: command %zu of the batch is not RESP", i);
            return -1;
        }
        if (tx_first != SIZE_MAX) { /* inside MULTI */
            if (name_is(name, name_len, "EXEC") ||
                name_is(name, name_len, "DISCARD")) {
                rc = add_unit(cl, &unit_cnt, tx_first, i + 1 - tx_first, 1);
                if (rc)
                    goto fail;
                tx_first = SIZE_MAX;
            }
            continue;
        }
        if (name_is(name, name_len, "WATCH")) {
            if (watch_first == SIZE_MAX)
                watch_first = i;
            continue;
        }
        if (name_is(name, name_len, "MULTI")) {
            tx_first = watch_first != SIZE_MAX ? watch_first : i;
            watch_first = SIZE_MAX;
            continue;
        }
        if (watch_first != SIZE_MAX) { /* WATCHes not followed by MULTI */
            for (size_t w = watch_first; w < i; w++)
                if (add_unit(cl, &unit_cnt, w, 1, 0))
                    goto oom;
            watch_first = SIZE_MAX;
        }
        if (add_unit(cl, &unit_cnt, i, 1, 0))
            goto oom;
    }
    if (tx_first != SIZE_MAX) {
        snprintf(cl->errstr, sizeof(cl->errstr),
                 "redis cluster: MULTI without EXEC in the batch (a "
                 "transaction must be sent whole)");
        return -1;
    }
    for (size_t w = watch_first; w != SIZE_MAX && w < cmds->cnt; w++)
        if (add_unit(cl, &unit_cnt, w, 1, 0))
            goto oom;
    return (long)unit_cnt;
oom:
    snprintf(cl->errstr, sizeof(cl->errstr), "out of memory");
    return -1;
fail:
    if (rc == -1)
        snprintf(cl->errstr, sizeof(cl->errstr), "out of memory");
    return -1;
}

static int pipes_ready(struct cp_cluster *cl)
{
    if (cl->pipe_cap < cl->node_cnt) {
        struct cp_buf *p = realloc(cl->pipes, cl->node_cnt * sizeof(*p));

        if (!p)
            return -1;
        for (size_t i = cl->pipe_cap; i < cl->node_cnt; i++)
            cp_buf_init(&p[i], PIPE_MAX_BYTES);
        cl->pipes = p;
        cl->pipe_cap = cl->node_cnt;
    }
    for (size_t i = 0; i < cl->node_cnt; i++)
        cp_buf_reset(&cl->pipes[i]);
    return 0;
}

/* Writes the pipe of node @p ni: 0, or -1 (the node's connection dropped). */
static int write_pipe(struct cp_cluster *cl, unsigned ni)
{
    struct node *n = &cl->nodes[ni];
    struct cp_buf *pb = &cl->pipes[ni];
    int done = 0;

    if (!pb->len)
        return 0;
    if (node_connect(cl, n)) {
        cl->map_stale = 1; /* a failover may have replaced it */
        return -1;
    }
    if (redisAppendFormattedCommand(n->ctx, pb->data, pb->len) != REDIS_OK)
        goto fail;
    while (!done)
        if (redisBufferWrite(n->ctx, &done) != REDIS_OK)
            goto fail;
    return 0;
fail:
    snprintf(cl->errstr, sizeof(cl->errstr), "redis %s: %s", n->addr,
             n->ctx->errstr[0] ? n->ctx->errstr : "write failed");
    node_drop(n);
    cl->map_stale = 1;
    return -1;
}

/* Reads one reply from node @p ni: the reply, or NULL (connection dropped,
 * errstr set). */
static redisReply *read_one(struct cp_cluster *cl, unsigned ni)
{
    struct node *n = &cl->nodes[ni];
    void *reply = NULL;

    if (n->ctx && redisGetReply(n->ctx, &reply) == REDIS_OK && reply)
        return reply;
    snprintf(cl->errstr, sizeof(cl->errstr), "redis %s: %s", n->addr,
             n->ctx && n->ctx->errstr[0] ? n->ctx->errstr : "connection lost");
    node_drop(n);
    cl->map_stale = 1;
    return NULL;
}

enum redirect { RD_NONE, RD_MOVED, RD_ASK, RD_TRYAGAIN };

/* Whether @p reply is a redirection; for MOVED/ASK, the target node. */
static enum redirect redirect_of(struct cp_cluster *cl, const redisReply *reply,
                                 unsigned from, unsigned *target)
{
    enum redirect kind;
    const char *p;
    char host[256];
    int port;

    if (reply->type != REDIS_REPLY_ERROR)
        return RD_NONE;
    if (!strncmp(reply->str, "TRYAGAIN", 8))
        return RD_TRYAGAIN;
    if (!strncmp(reply->str, "MOVED ", 6))
        kind = RD_MOVED;
    else if (!strncmp(reply->str, "ASK ", 4))
        kind = RD_ASK;
    else
        return RD_NONE;
    /* "MOVED <slot> <host>:<port>"; an empty host is the node we asked */
    p = strrchr(reply->str, ' ');
    if (!p)
        return RD_NONE;
    p++;
    if (*p == ':') {
        char tmp[300];

        snprintf(tmp, sizeof(tmp), "%s%s", cl->nodes[from].host, p);
        if (parse_hostport(tmp, strlen(tmp), host, sizeof(host), &port))
            return RD_NONE;
    } else if (parse_hostport(p, strlen(p), host, sizeof(host), &port)) {
        return RD_NONE;
    }
    *target = node_find(cl, host, port);
    return *target == NODE_NONE ? RD_NONE : kind;
}

/* Whether a reply of @p cnt says the cluster cannot answer right now (no
 * master for a slot during a failover, a node loading its data): not an
 * answer to the command, so the whole batch fails and is retried, and the
 * map is read again first. Sets errstr. */
static bool transient_error(struct cp_cluster *cl, size_t cnt, redisReply **out)
{
    static const char *const states[] = {"CLUSTERDOWN", "LOADING",
                                         "MASTERDOWN"};

    for (size_t i = 0; i < cnt; i++) {
        const redisReply *r = out[i];

        if (!r || r->type != REDIS_REPLY_ERROR)
            continue;
        for (size_t k = 0; k < CP_ARRAY_SIZE(states); k++) {
            if (strncmp(r->str, states[k], strlen(states[k])) != 0)
                continue;
            cl->map_stale = 1;
            snprintf(cl->errstr, sizeof(cl->errstr),
                     "redis cluster: %.200s (the batch is retried)", r->str);
            return true;
        }
    }
    return false;
}

static const char asking_cmd[] = "*1\r\n$6\r\nASKING\r\n";

/* Sends the units not done to their nodes and reads their replies into
 * @p out. Returns 0, or -1 on an I/O error with some node (errstr set;
 * the units of that node keep NULL replies). */
static int round_trip(struct cp_cluster *cl, const struct cp_cmds *cmds,
                      size_t unit_cnt, redisReply **out)
{
    int failed = 0;

    if (pipes_ready(cl)) {
        snprintf(cl->errstr, sizeof(cl->errstr), "out of memory");
        return -1;
    }
    for (size_t k = 0; k < unit_cnt; k++) {
        struct unit *u = &cl->units[k];
        struct cp_buf *pb = &cl->pipes[u->node];
        size_t from = cl->cmds[u->first].start;
        size_t to = cl->cmds[u->first + u->cnt - 1].end;

        if (u->done)
            continue;
        if ((u->asking &&
             cp_buf_append(pb, asking_cmd, sizeof(asking_cmd) - 1)) ||
            cp_buf_append(pb, cmds->buf.data + from, to - from)) {
            snprintf(cl->errstr, sizeof(cl->errstr),
                     "redis cluster: out of memory building a pipeline");
            return -1;
        }
    }
    for (unsigned ni = 0; ni < cl->node_cnt; ni++)
        if (cl->pipes[ni].len && write_pipe(cl, ni)) {
            failed = 1;
            cp_buf_reset(&cl->pipes[ni]); /* nothing to read from it */
        }
    /* Replies come back per node in the order its units were appended. */
    for (size_t k = 0; k < unit_cnt; k++) {
        struct unit *u = &cl->units[k];

        if (u->done || !cl->pipes[u->node].len)
            continue;
        if (u->asking) {
            redisReply *r = read_one(cl, u->node);

            if (!r) {
                failed = 1;
                cp_buf_reset(&cl->pipes[u->node]);
                continue;
            }
            freeReplyObject(r);
        }
        for (size_t j = 0; j < u->cnt; j++) {
            redisReply *r = read_one(cl, u->node);

            if (!r) {
                failed = 1;
                cp_buf_reset(&cl->pipes[u->node]);
                break;
            }
            if (out[u->first + j])
                freeReplyObject(out[u->first + j]);
            out[u->first + j] = r;
        }
    }
    return failed ? -1 : 0;
}

/* Runs @p cmds, filling out[0 .. cnt-1] (owned by the caller, freed with
 * freeReplyObject; NULL entries only on failure). @p forced: NODE_NONE to
 * route by slot, else every command goes to that node unredirected. */
static cp_rc collect(struct cp_cluster *cl, const struct cp_cmds *cmds,
                     unsigned forced, redisReply **out)
{
    long unit_cnt;
    cp_rc rc;

    cl->errstr[0] = '\0';
    if (!cmds->cnt)
        return CP_OK;
    if (cp_cmds_failed(cmds)) {
        snprintf(cl->errstr, sizeof(cl->errstr),
                 "redis batch: out of memory building commands");
        return CP_ENOMEM;
    }
    rc = cp_cluster_ensure_map(cl);
    if (rc)
        return rc;
    unit_cnt = split(cl, cmds);
    if (unit_cnt < 0)
        return CP_EREDIS;
    for (long k = 0; k < unit_cnt; k++) {
        struct unit *u = &cl->units[k];

        u->node = forced != NODE_NONE ? forced
                  : u->slot >= 0      ? cl->slot_node[u->slot]
                                      : cl->masters[0];
    }
    for (int round = 0;; round++) {
        int pending = 0, tryagain = 0;

        if (round_trip(cl, cmds, (size_t)unit_cnt, out))
            return CP_EREDIS;
        for (long k = 0; k < unit_cnt; k++) {
            struct unit *u = &cl->units[k];
            enum redirect kind = RD_NONE;
            unsigned target = NODE_NONE;

            if (u->done)
                continue;
            u->done = 1;
            if (forced != NODE_NONE)
                continue;
            for (size_t j = 0; j < u->cnt && kind == RD_NONE; j++)
                kind = redirect_of(cl, out[u->first + j], u->node, &target);
            if (kind == RD_MOVED && u->slot >= 0) {
                /* Learn the new owner now; re-read the whole map before
                 * the next batch (more slots have probably moved). */
                cl->slot_node[u->slot] = (uint16_t)target;
                cl->map_stale = 1;
                cl->moved++;
            } else if (kind == RD_ASK) {
                cl->ask++;
            }
            if (kind == RD_NONE || u->tx || round + 1 >= REDIRECTS_MAX)
                continue;
            u->done = 0;
            /* TRYAGAIN: the same node, with ASKING again if it had it */
            if (kind == RD_MOVED || kind == RD_ASK) {
                u->node = target;
                u->asking = kind == RD_ASK;
            }
            tryagain |= kind == RD_TRYAGAIN;
            pending = 1;
        }
        if (!pending)
            return transient_error(cl, cmds->cnt, out) ? CP_EREDIS : CP_OK;
        if (tryagain)
            cp_sleep_ms(TRYAGAIN_MS);
    }
}

cp_rc cp__cluster_collect(struct cp_cluster *cl, const struct cp_cmds *cmds,
                          long master, void **out)
{
    unsigned forced = NODE_NONE;
    cp_rc rc;

    if (master >= 0) {
        rc = cp_cluster_ensure_map(cl);
        if (rc)
            return rc;
        if ((size_t)master >= cl->master_cnt) {
            snprintf(cl->errstr, sizeof(cl->errstr),
                     "redis cluster: no master %ld (the map has %zu)", master,
                     cl->master_cnt);
            return CP_EREDIS;
        }
        forced = cl->masters[master];
    }
    memset(out, 0, cmds->cnt * sizeof(*out));
    rc = collect(cl, cmds, forced, (redisReply **)out);
    if (rc)
        for (size_t i = 0; i < cmds->cnt; i++) {
            if (out[i])
                freeReplyObject(out[i]);
            out[i] = NULL;
        }
    return rc;
}

static cp_rc run(struct cp_cluster *cl, long master, const struct cp_cmds *cmds,
                 cp_cluster_reply_fn fn, void *opaque)
{
    redisReply **out;
    cp_rc rc;

    if (!cmds->cnt)
        return CP_OK;
    out = calloc(cmds->cnt, sizeof(*out));
    if (!out) {
        snprintf(cl->errstr, sizeof(cl->errstr), "out of memory");
        return CP_ENOMEM;
    }
    rc = cp__cluster_collect(cl, cmds, master, (void **)out);
    for (size_t i = 0; !rc && i < cmds->cnt; i++) {
        struct cp_reply view;
        cp_rc fn_rc = CP_OK;

        cp__redis_reply_view(out[i], &view);
        if (view.type == CP_REPLY_ERROR && !cl->errstr[0])
            snprintf(cl->errstr, sizeof(cl->errstr), "redis cluster: %.*s",
                     (int)view.len, view.str);
        if (fn)
            fn_rc = fn(opaque, i, &view);
        else if (view.type == CP_REPLY_ERROR)
            fn_rc = CP_EREDIS;
        if (fn_rc) {
            rc = fn_rc;
            break;
        }
    }
    for (size_t i = 0; i < cmds->cnt; i++)
        if (out[i])
            freeReplyObject(out[i]);
    free(out);
    return rc;
}

cp_rc cp_cluster_run(struct cp_cluster *cl, const struct cp_cmds *cmds,
                     cp_cluster_reply_fn fn, void *opaque)
{
    return run(cl, -1, cmds, fn, opaque);
}

cp_rc cp_cluster_run_on(struct cp_cluster *cl, size_t master,
                        const struct cp_cmds *cmds, cp_cluster_reply_fn fn,
                        void *opaque)
{
    return run(cl, (long)master, cmds, fn, opaque);
}

size_t cp_cluster_masters(const struct cp_cluster *cl)
{
    return cl->have_map ? cl->master_cnt : 0;
}

const char *cp_cluster_master_address(const struct cp_cluster *cl,
                                      size_t master)
{
    return master < cl->master_cnt ? cl->nodes[cl->masters[master]].addr : "";
}

uint64_t cp_cluster_generation(const struct cp_cluster *cl)
{
    return cl->generation;
}

void cp_cluster_redirects(const struct cp_cluster *cl, uint64_t *moved,
                          uint64_t *ask)
{
    *moved = cl->moved;
    *ask = cl->ask;
}

const char *cp_cluster_address(const struct cp_cluster *cl)
{
    return cl->seeds;
}

const char *cp_cluster_errstr(const struct cp_cluster *cl)
{
    return cl->errstr;
}

void cp_cluster_destroy(struct cp_cluster *cl)
{
    if (!cl)
        return;
    for (size_t i = 0; i < cl->node_cnt; i++)
        node_drop(&cl->nodes[i]);
    for (size_t i = 0; i < cl->pipe_cap; i++)
        cp_buf_cleanup(&cl->pipes[i]);
    free(cl->pipes);
    free(cl->nodes);
    free(cl->masters);
    free(cl->cmds);
    free(cl->units);
    free(cl->seeds);
    free(cl->user);
    if (cl->password) {
        memset(cl->password, 0, strlen(cl->password));
        free(cl->password);
    }
    free(cl);
}
