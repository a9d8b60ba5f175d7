/* SPDX-License-Identifier: Apache-2.0 */
/* The slot router against a real 3-master Redis Cluster on loopback
 * (deploy/cluster.sh): keys land on the master of their slot, a tenant's
 * transaction stays in its slot, and a slot migrated by hand (CLUSTER
 * SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE) makes the router
 * follow ASK and MOVED without losing or repeating a write. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster.h"
#include "cluster_fixture.h"
#include "conn.h"
#include "harness.h"
#include "resp.h"

#define MASTERS H_CLUSTER_MASTERS

static struct h_cluster cluster;
static int *ports = cluster.ports;
static const char *seeds = cluster.seeds;

static void start_cluster(void)
{
    h_cluster_start(&cluster);
}

static void stop_cluster(void)
{
    h_cluster_stop(&cluster);
}

TestSuite(cluster_it, .init = start_cluster, .fini = stop_cluster,
          .timeout = 90);

/* ---- direct access to one node, for setting up and checking ---- */

static redisContext *node(int port)
{
    redisContext *ctx = redisConnect("127.0.0.1", port);

    cr_assert(ctx && !ctx->err, "connect %d", port);
    return ctx;
}

static redisReply *cmd(redisContext *ctx, const char *fmt, ...)
{
    va_list ap;
    redisReply *reply;

    va_start(ap, fmt);
    reply = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    cr_assert_not_null(reply, "%s: %s", fmt, ctx->errstr);
    return reply;
}

static void cmd_ok(redisContext *ctx, const char *fmt, ...)
{
    va_list ap;
    redisReply *reply;

    va_start(ap, fmt);
    reply = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    cr_assert_not_null(reply, "%s: %s", fmt, ctx->errstr);
    cr_assert_neq(reply->type, REDIS_REPLY_ERROR, "%s: %s", fmt, reply->str);
    freeReplyObject(reply);
}

static void myid(int port, char *out, size_t size)
{
    redisContext *ctx = node(port);
    redisReply *reply = cmd(ctx, "CLUSTER MYID");

    snprintf(out, size, "%s", reply->str);
    freeReplyObject(reply);
    redisFree(ctx);
}

/* The port of the master owning @p slot, asked of node ports[0]. */
static int owner_port(unsigned slot)
{
    redisContext *ctx = node(ports[0]);
    redisReply *reply = cmd(ctx, "CLUSTER SLOTS");
    int port = 0;

    for (size_t i = 0; i < reply->elements; i++) {
        redisReply *e = reply->element[i];

        if ((unsigned)e->element[0]->integer <= slot &&
            slot <= (unsigned)e->element[1]->integer)
            port = (int)e->element[2]->element[1]->integer;
    }
    freeReplyObject(reply);
    redisFree(ctx);
    cr_assert_neq(port, 0, "slot %u has no owner", slot);
    return port;
}

static struct cp_cluster *router(void)
{
    char errstr[256];
    struct cp_cluster *cl =
        cp_cluster_new(seeds, NULL, 5000, errstr, sizeof(errstr));

    cr_assert_not_null(cl, "%s", errstr);
    return cl;
}

/* ---- reply collectors ---- */

struct replies {
    char str[64][64];
    int64_t integer[64];
    enum cp_reply_type type[64];
    size_t cnt;
};

static cp_rc keep(void *opaque, size_t i, const struct cp_reply *reply)
{
    struct replies *r = opaque;

    cr_assert_lt(i, 64);
    r->type[i] = reply->type;
    r->integer[i] = reply->integer;
    snprintf(r->str[i], sizeof(r->str[i]), "%.*s", (int)reply->len,
             reply->str ? reply->str : "");
    r->cnt = i + 1;
    return CP_OK;
}

static void set_cmd(struct cp_cmds *cmds, const char *key, const char *value)
{
    cp_cmd_begin(cmds, 3);
    cp_cmd_str(cmds, "SET");
    cp_cmd_str(cmds, key);
    cp_cmd_str(cmds, value);
}

static void get_cmd(struct cp_cmds *cmds, const char *key)
{
    cp_cmd_begin(cmds, 2);
    cp_cmd_str(cmds, "GET");
    cp_cmd_str(cmds, key);
}

Test(cluster_it, keyslot_agrees_with_the_server)
{
    redisContext *ctx = node(ports[0]);
    const char *keys[] = {"foo",   "crm:{acme}:applied:g",
                          "a{b}c", "x{}y",
                          "{{t}}", "crm:{tenant-42}:state:customers"};

    for (size_t i = 0; i < CP_ARRAY_SIZE(keys); i++) {
        redisReply *reply = cmd(ctx, "CLUSTER KEYSLOT %s", keys[i]);

        cr_assert_eq(cp_cluster_keyslot(keys[i], strlen(keys[i])),
                     (unsigned)reply->integer, "%s", keys[i]);
        freeReplyObject(reply);
    }
    redisFree(ctx);
}

Test(cluster_it, a_batch_lands_on_the_master_of_each_slot)
{
    struct cp_cluster *cl = router();
    struct cp_cmds cmds;
    char key[64], value[32];
    int64_t total = 0;
    struct replies *got = calloc(1, sizeof(*got));
    uint64_t moved, ask;

    cp_cmds_init(&cmds);
    /* 60 tenants in one pipelined batch, with a per-tenant transaction
     * touching two keys of the tenant's slot in the middle of it. */
    for (int t = 0; t < 60; t++) {
        snprintf(key, sizeof(key), "crm:{t%d}:k", t);
        snprintf(value, sizeof(value), "v%d", t);
        set_cmd(&cmds, key, value);
    }
    cr_assert_eq(cp_cluster_run(cl, &cmds, NULL, NULL), CP_OK, "%s",
                 cp_cluster_errstr(cl));
    cr_assert_eq(cp_cluster_masters(cl), MASTERS);

    cp_cmds_reset(&cmds);
    cp_cmd_begin(&cmds, 1);
    cp_cmd_str(&cmds, "MULTI");
    cp_cmd_begin(&cmds, 2);
    cp_cmd_str(&cmds, "INCR");
    cp_cmd_str(&cmds, "crm:{t7}:n");
    cp_cmd_begin(&cmds, 4);
    cp_cmd_str(&cmds, "HSET");
    cp_cmd_str(&cmds, "crm:{t7}:h");
    cp_cmd_str(&cmds, "f");
    cp_cmd_str(&cmds, "1");
    cp_cmd_begin(&cmds, 1);
    cp_cmd_str(&cmds, "EXEC");
    for (int t = 0; t < 60; t += 7) {
        snprintf(key, sizeof(key), "crm:{t%d}:k", t);
        get_cmd(&cmds, key);
    }
    cr_assert_eq(cp_cluster_run(cl, &cmds, keep, got), CP_OK, "%s",
                 cp_cluster_errstr(cl));
    cr_assert_eq(got->cnt, 4 + 9);
    cr_assert_str_eq(got->str[1], "QUEUED");
    cr_assert_eq(got->type[3], CP_REPLY_ARRAY);
    for (int t = 0, i = 4; t < 60; t += 7, i++) {
        snprintf(value, sizeof(value), "v%d", t);
        cr_assert_str_eq(got->str[i], value, "reply %d", i);
    }

    /* Every key is on the master of its slot and on no other. */
    for (int m = 0; m < MASTERS; m++) {
        redisContext *ctx = node(ports[m]);
        redisReply *reply = cmd(ctx, "DBSIZE");

        cr_assert_gt(reply->integer, 0, "master %d holds nothing", m);
        total += reply->integer;
        freeReplyObject(reply);
        redisFree(ctx);
    }
    cr_assert_eq(total, 60 + 2);
    cp_cluster_redirects(cl, &moved, &ask);
    cr_assert_eq(moved + ask, 0);
    free(got);
    cp_cmds_cleanup(&cmds);
    cp_cluster_destroy(cl);
}

Test(cluster_it, a_transaction_across_slots_is_refused_before_sending)
{
    struct cp_cluster *cl = router();
    struct cp_cmds cmds;
    redisContext *ctx;

    cp_cmds_init(&cmds);
    cp_cmd_begin(&cmds, 1);
    cp_cmd_str(&cmds, "MULTI");
    set_cmd(&cmds, "crm:{a}:x", "1");
    set_cmd(&cmds, "crm:{b}:x", "1");
    cp_cmd_begin(&cmds, 1);
    cp_cmd_str(&cmds, "EXEC");
    cr_assert_eq(cp_cluster_run(cl, &cmds, NULL, NULL), CP_EREDIS);
    cr_assert(strstr(cp_cluster_errstr(cl), "one hash slot"), "%s",
              cp_cluster_errstr(cl));
    for (int m = 0; m < MASTERS; m++) {
        redisReply *reply;

        ctx = node(ports[m]);
        reply = cmd(ctx, "DBSIZE");
        cr_assert_eq(reply->integer, 0);
        freeReplyObject(reply);
        redisFree(ctx);
    }
    cp_cmds_cleanup(&cmds);
    cp_cluster_destroy(cl);
}

Test(cluster_it, a_migrating_slot_gives_ask_then_moved_and_no_write_is_lost)
{
    const char *k_old = "crm:{mig}:old", *k_new = "crm:{mig}:new";
    unsigned slot = cp_cluster_keyslot(k_old, strlen(k_old));
    int src = owner_port(slot), dst = 0;
    char src_id[64], dst_id[64];
    struct cp_cluster *cl = router();
    struct cp_cmds cmds;
    struct replies *got = calloc(1, sizeof(*got));
    redisContext *s, *d;
    redisReply *reply;
    uint64_t moved, ask;

    for (int m = 0; m < MASTERS && !dst; m++)
        if (ports[m] != src)
            dst = ports[m];
    myid(src, src_id, sizeof(src_id));
    myid(dst, dst_id, sizeof(dst_id));
    cp_cmds_init(&cmds);
    set_cmd(&cmds, k_old, "1");
    cr_assert_eq(cp_cluster_run(cl, &cmds, NULL, NULL), CP_OK, "%s",
                 cp_cluster_errstr(cl));

    /* Slot in migration: the old key stays on src, a new one is ASKed to
     * dst (src does not have it). */
    s = node(src);
    d = node(dst);
    cmd_ok(d, "CLUSTER SETSLOT %u IMPORTING %s", slot, src_id);
    cmd_ok(s, "CLUSTER SETSLOT %u MIGRATING %s", slot, dst_id);
    cp_cmds_reset(&cmds);
    set_cmd(&cmds, k_new, "2");
    get_cmd(&cmds, k_old);
    cr_assert_eq(cp_cluster_run(cl, &cmds, keep, got), CP_OK, "%s",
                 cp_cluster_errstr(cl));
    cr_assert_str_eq(got->str[0], "OK");
    cr_assert_str_eq(got->str[1], "1");
    cp_cluster_redirects(cl, &moved, &ask);
    cr_assert_eq(ask, 1);
    cr_assert_eq(moved, 0);
    reply = cmd(d, "ASKING");
    freeReplyObject(reply);
    reply = cmd(d, "GET %s", k_new);
    cr_assert_eq(reply->type, REDIS_REPLY_STRING, "the ASKed write is on dst");
    cr_assert_str_eq(reply->str, "2");
    freeReplyObject(reply);

    /* Finish the move: MIGRATE the old key, then hand the slot over. */
    reply = cmd(s, "MIGRATE 127.0.0.1 %d %b 0 5000 KEYS %s", dst, "", (size_t)0,
                k_old);
    cr_assert_eq(reply->type, REDIS_REPLY_STATUS, "%s", reply->str);
    freeReplyObject(reply);
    cmd_ok(d, "CLUSTER SETSLOT %u NODE %s", slot, dst_id);
    cmd_ok(s, "CLUSTER SETSLOT %u NODE %s", slot, dst_id);

    /* The router's map still names src: MOVED, followed to dst. */
    cp_cmds_reset(&cmds);
    memset(got, 0, sizeof(*got));
    cp_cmd_begin(&cmds, 2);
    cp_cmd_str(&cmds, "INCR");
    cp_cmd_str(&cmds, k_old);
    get_cmd(&cmds, k_new);
    cr_assert_eq(cp_cluster_run(cl, &cmds, keep, got), CP_OK, "%s",
                 cp_cluster_errstr(cl));
    cr_assert_eq(got->integer[0], 2, "INCR applied exactly once");
    cr_assert_str_eq(got->str[1], "2");
    cp_cluster_redirects(cl, &moved, &ask);
    cr_assert_eq(moved, 2, "each command of the batch was MOVED once");

    /* The next batch re-reads the map first: no more redirections. */
    cp_cmds_reset(&cmds);
    memset(got, 0, sizeof(*got));
    get_cmd(&cmds, k_old);
    cr_assert_eq(cp_cluster_run(cl, &cmds, keep, got), CP_OK, "%s",
                 cp_cluster_errstr(cl));
    cr_assert_str_eq(got->str[0], "2");
    cp_cluster_redirects(cl, &moved, &ask);
    cr_assert_eq(moved, 2);
    reply = cmd(d, "GET %s", k_old);
    cr_assert_str_eq(reply->str, "2", "the key lives on dst now");
    freeReplyObject(reply);

    redisFree(s);
    redisFree(d);
    free(got);
    cp_cmds_cleanup(&cmds);
    cp_cluster_destroy(cl);
}

Test(cluster_it, a_moved_transaction_is_not_retried_and_applies_nothing)
{
    const char *key = "crm:{tx}:n";
    unsigned slot = cp_cluster_keyslot(key, strlen(key));
    int src = owner_port(slot), dst = 0;
    char dst_id[64];
    struct cp_cluster *cl = router();
    struct cp_cmds cmds;
    struct replies *got = calloc(1, sizeof(*got));
    redisContext *ctx;
    redisReply *reply;

    for (int m = 0; m < MASTERS && !dst; m++)
        if (ports[m] != src)
            dst = ports[m];
    myid(dst, dst_id, sizeof(dst_id));
    cp_cmds_init(&cmds);
    get_cmd(&cmds, key); /* reads the map */
    cr_assert_eq(cp_cluster_run(cl, &cmds, NULL, NULL), CP_OK, "%s",
                 cp_cluster_errstr(cl));
    /* An empty slot can be handed over without MIGRATE. */
    for (int m = 0; m < MASTERS; m++) {
        ctx = node(ports[m]);
        cmd_ok(ctx, "CLUSTER SETSLOT %u NODE %s", slot, dst_id);
        redisFree(ctx);
    }
    cp_cmds_reset(&cmds);
    cp_cmd_begin(&cmds, 1);
    cp_cmd_str(&cmds, "MULTI");
    cp_cmd_begin(&cmds, 2);
    cp_cmd_str(&cmds, "INCR");
    cp_cmd_str(&cmds, key);
    cp_cmd_begin(&cmds, 1);
    cp_cmd_str(&cmds, "EXEC");
    cr_assert_eq(cp_cluster_run(cl, &cmds, keep, got), CP_OK, "%s",
                 cp_cluster_errstr(cl));
    cr_assert_eq(got->type[1], CP_REPLY_ERROR);
    cr_assert(!strncmp(got->str[1], "MOVED", 5), "%s", got->str[1]);
    cr_assert_eq(got->type[2], CP_REPLY_ERROR, "EXEC must fail: %s",
                 got->str[2]);
    ctx = node(dst);
    reply = cmd(ctx, "EXISTS %s", key);
    cr_assert_eq(reply->integer, 0, "nothing applied");
    freeReplyObject(reply);
    redisFree(ctx);
    /* The caller retries the transaction: it goes to dst now. */
    memset(got, 0, sizeof(*got));
    cr_assert_eq(cp_cluster_run(cl, &cmds, keep, got), CP_OK, "%s",
                 cp_cluster_errstr(cl));
    cr_assert_eq(got->type[2], CP_REPLY_ARRAY);
    ctx = node(dst);
    reply = cmd(ctx, "GET %s", key);
    cr_assert_str_eq(reply->str, "1", "applied exactly once");
    freeReplyObject(reply);
    redisFree(ctx);
    free(got);
    cp_cmds_cleanup(&cmds);
    cp_cluster_destroy(cl);
}

Test(cluster_it, a_half_migrated_multi_key_read_waits_then_gives_up_clearly)
{
    const char *ka = "crm:{try}:a", *kb = "crm:{try}:b";
    unsigned slot = cp_cluster_keyslot(ka, strlen(ka));
    int src = owner_port(slot), dst = 0;
    char src_id[64], dst_id[64];
    struct cp_cluster *cl = router();
    struct cp_cmds cmds;
    struct replies *got = calloc(1, sizeof(*got));
    redisContext *s, *d;
    redisReply *reply;
    int64_t t0;
    uint64_t moved, ask;

    for (int m = 0; m < MASTERS && !dst; m++)
        if (ports[m] != src)
            dst = ports[m];
    myid(src, src_id, sizeof(src_id));
    myid(dst, dst_id, sizeof(dst_id));
    cp_cmds_init(&cmds);
    set_cmd(&cmds, ka, "A");
    set_cmd(&cmds, kb, "B");
    cr_assert_eq(cp_cluster_run(cl, &cmds, NULL, NULL), CP_OK, "%s",
                 cp_cluster_errstr(cl));

    /* a moved, b not: a read of both gets TRYAGAIN from src (Redis 7
     * answers so for a multi-key request with some keys already moved):
     * the router waits and retries, then reports it. */
    s = node(src);
    d = node(dst);
    cmd_ok(d, "CLUSTER SETSLOT %u IMPORTING %s", slot, src_id);
    cmd_ok(s, "CLUSTER SETSLOT %u MIGRATING %s", slot, dst_id);
    reply = cmd(s, "MIGRATE 127.0.0.1 %d %b 0 5000 KEYS %s", dst, "", (size_t)0,
                ka);
    cr_assert_eq(reply->type, REDIS_REPLY_STATUS, "%s", reply->str);
    freeReplyObject(reply);
    cp_cmds_reset(&cmds);
    cp_cmd_begin(&cmds, 3);
    cp_cmd_str(&cmds, "MGET");
    cp_cmd_str(&cmds, ka);
    cp_cmd_str(&cmds, kb);
    t0 = cp_mono_ms();
    cr_assert_eq(cp_cluster_run(cl, &cmds, NULL, NULL), CP_EREDIS);
    cr_assert(strstr(cp_cluster_errstr(cl), "TRYAGAIN"), "%s",
              cp_cluster_errstr(cl));
    /* 5 rounds of TRYAGAIN, with a 50 ms wait after each but the last */
    cr_assert_geq(cp_mono_ms() - t0, 200);
    cp_cluster_redirects(cl, &moved, &ask);
    cr_assert_eq(moved + ask, 0);

    /* Migration finished: the same read succeeds (after one MOVED). */
    reply = cmd(s, "MIGRATE 127.0.0.1 %d %b 0 5000 KEYS %s", dst, "", (size_t)0,
                kb);
    freeReplyObject(reply);
    cmd_ok(d, "CLUSTER SETSLOT %u NODE %s", slot, dst_id);
    cmd_ok(s, "CLUSTER SETSLOT %u NODE %s", slot, dst_id);
    cr_assert_eq(cp_cluster_run(cl, &cmds, keep, got), CP_OK, "%s",
                 cp_cluster_errstr(cl));
    cr_assert_eq(got->type[0], CP_REPLY_ARRAY);
    cp_cluster_redirects(cl, &moved, &ask);
    cr_assert_eq(moved, 1);
    redisFree(s);
    redisFree(d);
    free(got);
    cp_cmds_cleanup(&cmds);
    cp_cluster_destroy(cl);
}

struct expect {
    int bad;
    int64_t seen;
};

static cp_rc check_v(void *opaque, size_t i, const struct cp_reply *reply)
{
    struct expect *e = opaque;
    char want[32];

    snprintf(want, sizeof(want), "v%zu", i);
    e->seen++;
    if (reply->type != CP_REPLY_STRING || reply->len != strlen(want) ||
        memcmp(reply->str, want, reply->len))
        e->bad++;
    return CP_OK;
}

Test(cluster_it, reads_during_a_live_reshard_never_fail_nor_go_wrong)
{
    enum { N = 2000 };
    struct cp_cluster *cl = router();
    struct cp_cmds sets, gets;
    char key[64], value[32], from_id[64], to_id[64], seed[32], log[700];
    uint64_t moved, ask;
    int rounds = 0, status;
    pid_t pid;

    cp_cmds_init(&sets);
    cp_cmds_init(&gets);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "crm:{r%d}:k", i);
        snprintf(value, sizeof(value), "v%d", i);
        set_cmd(&sets, key, value);
        get_cmd(&gets, key);
    }
    cr_assert_eq(cp_cluster_run(cl, &sets, NULL, NULL), CP_OK, "%s",
                 cp_cluster_errstr(cl));
    myid(ports[0], from_id, sizeof(from_id));
    myid(ports[1], to_id, sizeof(to_id));
    snprintf(seed, sizeof(seed), "127.0.0.1:%d", ports[0]);
    snprintf(log, sizeof(log), "%s/reshard.log", h_scratch_dir());
    {
        const char *argv[] = {"redis-cli",
                              "--cluster",
                              "reshard",
                              seed,
                              "--cluster-from",
                              from_id,
                              "--cluster-to",
                              to_id,
                              "--cluster-slots",
                              "3000",
                              "--cluster-pipeline",
                              "5",
                              "--cluster-yes",
                              NULL};

        pid = h_spawn(argv, log);
    }
    /* Read everything again and again while slots and keys move. */
    for (;;) {
        struct expect e = {0};
        int done = waitpid(pid, &status, WNOHANG) == pid;

        cr_assert_eq(cp_cluster_run(cl, &gets, check_v, &e), CP_OK,
                     "round %d: %s", rounds, cp_cluster_errstr(cl));
        cr_assert_eq(e.seen, N);
        cr_assert_eq(e.bad, 0, "round %d: %d wrong values", rounds, e.bad);
        rounds++;
        if (done)
            break;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status))
        h_tail(log, 20);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "redis-cli --cluster reshard failed");
    cp_cluster_redirects(cl, &moved, &ask);
    cr_assert_gt(moved, 0,
                 "%d rounds, no MOVED: the reshard moved no key "
                 "we read?",
                 rounds);
    cr_log_info("%d rounds during the reshard: %llu MOVED, %llu ASK", rounds,
                (unsigned long long)moved, (unsigned long long)ask);
    cp_cmds_cleanup(&sets);
    cp_cmds_cleanup(&gets);
    cp_cluster_destroy(cl);
}

/* The readers' connection (conn.h) in cluster mode: replies in the batch's
 * order, SCAN per master covering every key once, and pub/sub on one node
 * seeing what is published on every master. */
Test(cluster_it, reader_connection_routes_scans_and_subscribes)
{
    enum { TENANTS = 30 };
    struct cp_redis_url url;
    struct cp_rconn *conn, *sub;
    struct cp_cluster *cl = router();
    struct cp_cmds cmds;
    struct cp_rconn_reply *reply;
    struct cp_reply view, elem;
    char errstr[256], key[64], value[32];
    const char *psub[] = {"PSUBSCRIBE", "crm:{*}:alerts"};
    int64_t scanned = 0;
    int got = 0;

    cr_assert_eq(
        cp_redis_url_parse("redis://127.0.0.1", &url, errstr, sizeof(errstr)),
        CP_OK);
    cr_assert_eq(cp_redis_url_set_cluster(&url, seeds, errstr, sizeof(errstr)),
                 CP_OK, "%s", errstr);
    conn = cp_rconn_new(&url, 5000, errstr, sizeof(errstr));
    cr_assert_not_null(conn, "%s", errstr);
    cr_assert_eq(cp_rconn_masters(conn), MASTERS);
    sub = cp_rconn_new_node(&url, 5000, errstr, sizeof(errstr));
    cr_assert_not_null(sub, "%s", errstr);
    cp_cmds_init(&cmds);
    cp_cmd_begin(&cmds, 2);
    cp_cmd_str(&cmds, psub[0]);
    cp_cmd_str(&cmds, psub[1]);
    cr_assert_eq(cp_rconn_send(sub, &cmds), CP_OK);
    cr_assert_eq(cp_rconn_read(sub, -1, &reply), CP_OK);
    cp_rconn_reply_free(reply);

    /* A batch over every master; replies come back in order. */
    cp_cmds_reset(&cmds);
    for (int t = 0; t < TENANTS; t++) {
        snprintf(key, sizeof(key), "crm:{c%d}:d:x", t);
        snprintf(value, sizeof(value), "%d", t);
        set_cmd(&cmds, key, value);
        get_cmd(&cmds, key);
    }
    cr_assert_eq(cp_rconn_send(conn, &cmds), CP_OK, "%s",
                 cp_rconn_errstr(conn));
    for (int t = 0; t < TENANTS; t++) {
        cr_assert_eq(cp_rconn_read(conn, -1, &reply), CP_OK);
        cp_rconn_reply_free(reply);
        cr_assert_eq(cp_rconn_read(conn, -1, &reply), CP_OK);
        cp_rconn_reply_view(reply, &view);
        snprintf(value, sizeof(value), "%d", t);
        cr_assert_eq(view.type, CP_REPLY_STRING);
        cr_assert_eq(view.len, strlen(value));
        cr_assert(!memcmp(view.str, value, view.len), "reply %d", t);
        cp_rconn_reply_free(reply);
    }

    /* SCAN on each master finds every key exactly once overall. */
    for (size_t m = 0; m < cp_rconn_masters(conn); m++) {
        char cursor[32] = "0";

        do {
            struct cp_reply cur, keys;

            cp_cmds_reset(&cmds);
            cp_cmd_begin(&cmds, 6);
            cp_cmd_str(&cmds, "SCAN");
            cp_cmd_str(&cmds, cursor);
            cp_cmd_str(&cmds, "MATCH");
            cp_cmd_str(&cmds, "crm:{c*}:d:x");
            cp_cmd_str(&cmds, "COUNT");
            cp_cmd_str(&cmds, "100");
            cr_assert_eq(cp_rconn_send_on(conn, m, &cmds), CP_OK);
            cr_assert_eq(cp_rconn_read(conn, -1, &reply), CP_OK);
            cp_rconn_reply_view(reply, &view);
            cp_reply_element(&view, 0, &cur);
            cp_reply_element(&view, 1, &keys);
            snprintf(cursor, sizeof(cursor), "%.*s", (int)cur.len, cur.str);
            scanned += (int64_t)keys.elements;
            cp_rconn_reply_free(reply);
        } while (strcmp(cursor, "0"));
    }
    cr_assert_eq(scanned, TENANTS);

    /* Published through the router on every master, heard on one node. */
    cp_cmds_reset(&cmds);
    for (int t = 0; t < TENANTS; t++) {
        snprintf(key, sizeof(key), "crm:{c%d}:alerts", t);
        cp_cmd_begin(&cmds, 3);
        cp_cmd_str(&cmds, "PUBLISH");
        cp_cmd_str(&cmds, key);
        cp_cmd_str(&cmds, "{}");
    }
    cr_assert_eq(cp_cluster_run(cl, &cmds, NULL, NULL), CP_OK, "%s",
                 cp_cluster_errstr(cl));
    while (got < TENANTS) {
        cr_assert_eq(cp_rconn_read(sub, 3000, &reply), CP_OK);
        cr_assert_not_null(reply, "only %d of %d messages arrived", got,
                           TENANTS);
        cp_rconn_reply_view(reply, &view);
        cp_reply_element(&view, 0, &elem);
        if (elem.len == 8 && !memcmp(elem.str, "pmessage", 8))
            got++;
        cp_rconn_reply_free(reply);
    }
    cp_cmds_cleanup(&cmds);
    cp_rconn_destroy(sub);
    cp_rconn_destroy(conn);
    cp_redis_url_cleanup(&url);
    cp_cluster_destroy(cl);
}
