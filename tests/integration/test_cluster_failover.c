/* SPDX-License-Identifier: Apache-2.0 */
/* The slot router through a failover: 3 masters with a replica each
 * (cluster-node-timeout 1 s); a master is killed with SIGKILL after WAIT
 * confirmed its writes on its replica; the router fails while the slot has
 * no live master, re-reads the map, and finds every acknowledged write on
 * the promoted replica. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cluster_fixture.h"
#include "harness.h"
#include "resp.h"

#define KEYS 300

static struct h_cluster cluster;

static void setup(void)
{
    h_cluster_start_opts(&cluster, 1, 1000);
}

static void teardown(void)
{
    h_cluster_stop(&cluster);
}

TestSuite(cluster_failover, .init = setup, .fini = teardown, .timeout = 90);

struct check {
    int bad;      /* replies that are not the value written */
    int64_t seen; /* replies read */
};

static cp_rc check_value(void *opaque, size_t i, const struct cp_reply *reply)
{
    struct check *c = opaque;
    char want[32];

    snprintf(want, sizeof(want), "v%zu", i);
    c->seen++;
    if (reply->type != CP_REPLY_STRING || reply->len != strlen(want) ||
        memcmp(reply->str, want, reply->len)) {
        if (!c->bad)
            fprintf(stderr, "first bad key %zu: reply type %d \"%.*s\"\n", i,
                    (int)reply->type, (int)reply->len,
                    reply->str ? reply->str : "");
        c->bad++;
    }
    return CP_OK;
}

static cp_rc count_acks(void *opaque, size_t i, const struct cp_reply *reply)
{
    (void)i;
    if (reply->type == CP_REPLY_INTEGER)
        *(int64_t *)opaque += reply->integer;
    return CP_OK;
}

static pid_t pid_of(int port)
{
    char path[800];
    FILE *f;
    long pid = 0;

    snprintf(path, sizeof(path), "%s/redis-%d.pid", cluster.dir, port);
    f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    return (pid_t)pid;
}

Test(cluster_failover, acknowledged_writes_survive_a_master_killed)
{
    char errstr[256], key[64], value[32], victim[32];
    struct cp_cluster *cl =
        cp_cluster_new(cluster.seeds, NULL, 8000, errstr, sizeof(errstr));
    struct cp_cmds sets, gets, wait;
    struct check c = {0};
    int64_t acks = 0, t0;
    int failures = 0, victim_port;
    cp_rc rc;

    cr_assert_not_null(cl, "%s", errstr);
    cp_cmds_init(&sets);
    cp_cmds_init(&gets);
    cp_cmds_init(&wait);
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "crm:{t%d}:k", i);
        snprintf(value, sizeof(value), "v%d", i);
        cp_cmd_begin(&sets, 3);
        cp_cmd_str(&sets, "SET");
        cp_cmd_str(&sets, key);
        cp_cmd_str(&sets, value);
        cp_cmd_begin(&gets, 2);
        cp_cmd_str(&gets, "GET");
        cp_cmd_str(&gets, key);
    }
    cr_assert_eq(cp_cluster_run(cl, &sets, NULL, NULL), CP_OK, "%s",
                 cp_cluster_errstr(cl));
    cr_assert_eq(cp_cluster_masters(cl), H_CLUSTER_MASTERS);
    /* WAIT on each master: its writes reached its replica. */
    cp_cmd_begin(&wait, 3);
    cp_cmd_str(&wait, "WAIT");
    cp_cmd_str(&wait, "1");
    cp_cmd_str(&wait, "5000");
    for (size_t m = 0; m < H_CLUSTER_MASTERS; m++)
        cr_assert_eq(cp_cluster_run_on(cl, m, &wait, count_acks, &acks), CP_OK,
                     "%s", cp_cluster_errstr(cl));
    cr_assert_eq(acks, H_CLUSTER_MASTERS, "every master has its replica");

    /* Kill the master of t0's slot. */
    snprintf(
        victim, sizeof(victim), "%s",
        cp_cluster_master_address(cl, 0)); /* map order: the master of slot 0 */
    victim_port = atoi(strchr(victim, ':') + 1);
    cr_assert_eq(kill(pid_of(victim_port), SIGKILL), 0);

    /* Until the replica is promoted, batches touching that master fail;
     * then the router finds the new map by itself. */
    t0 = cp_mono_ms();
    for (;;) {
        memset(&c, 0, sizeof(c));
        rc = cp_cluster_run(cl, &gets, check_value, &c);
        if (!rc)
            break;
        failures++;
        cr_assert_lt(cp_mono_ms() - t0, 30000, "no failover within 30 s: %s",
                     cp_cluster_errstr(cl));
        h_sleep_ms(200);
    }
    cr_assert_gt(failures, 0, "the dead master was noticed");
    cr_assert_eq(c.seen, KEYS);
    cr_assert_eq(c.bad, 0, "%d acknowledged writes lost or wrong", c.bad);
    cr_assert_eq(cp_cluster_masters(cl), H_CLUSTER_MASTERS);
    for (size_t m = 0; m < H_CLUSTER_MASTERS; m++)
        cr_assert_str_neq(cp_cluster_master_address(cl, m), victim,
                          "the killed node is no master now");
    /* And it takes writes again. */
    cr_assert_eq(cp_cluster_run(cl, &sets, NULL, NULL), CP_OK, "%s",
                 cp_cluster_errstr(cl));
    cp_cmds_cleanup(&sets);
    cp_cmds_cleanup(&gets);
    cp_cmds_cleanup(&wait);
    cp_cluster_destroy(cl);
}
