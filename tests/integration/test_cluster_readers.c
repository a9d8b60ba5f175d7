/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-score and crmpulse-board read from a Redis Cluster
 * (redis.cluster.nodes) exactly what they read from one Redis: the worker
 * fills one Redis, redis-cli --cluster import copies it into a 3-master
 * cluster, and both readers must answer byte for byte the same from either.
 * The worker itself refuses a cluster with a clear message (its batch
 * transaction spans tenant slots). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cluster_fixture.h"
#include "harness.h"
#include "stream.h"

#define PARTITIONS 4
#define AS_OF      "2026-11-01"

static struct cp_embedded *emb;
static const char *bootstrap;
static struct h_redis single;
static struct h_cluster cluster;

static void setup(void)
{
    emb = h_kafka_start(PARTITIONS, &bootstrap);
    h_redis_start(&single);
    h_cluster_start(&cluster);
}

static void teardown(void)
{
    h_cluster_stop(&cluster);
    h_redis_stop(&single);
    h_kafka_stop(&emb);
}

TestSuite(cluster_readers, .init = setup, .fini = teardown, .timeout = 90);

/* Fills the single Redis with the worker, then copies every key into the
 * cluster; checks the copy is whole and spread over every master. */
static void fill_and_import(void)
{
    char dump[700], log[700], from[64], to[64];
    long n = h_env_long("CP_IT_EVENTS", 6000);
    int64_t single_keys, cluster_keys = 0;
    pid_t pid;

    snprintf(dump, sizeof(dump), "%s/events.dump", h_scratch_dir());
    snprintf(log, sizeof(log), "%s/worker.log", h_scratch_dir());
    h_produce(bootstrap, dump, "7", n > 3000 ? 3000 : n, cp_now_ms() - 3600000,
              "0");
    pid = h_worker_spawn(bootstrap, &single, "readers", log, NULL);
    h_worker_wait_done(pid, log, 80);

    snprintf(to, sizeof(to), "127.0.0.1:%d", cluster.ports[0]);
    snprintf(from, sizeof(from), "127.0.0.1:%d", single.port);
    {
        const char *argv[] = {
            "redis-cli",      "--cluster", "import",         to,
            "--cluster-from", from,        "--cluster-copy", NULL};
        char ilog[700];

        snprintf(ilog, sizeof(ilog), "%s/import.log", h_scratch_dir());
        if (h_run(argv, ilog, 60)) {
            h_tail(ilog, 20);
            cr_assert_fail("redis-cli --cluster import failed");
        }
    }
    single_keys = h_redis_int(&single, "DBSIZE");
    cr_assert_gt(single_keys, 100);
    for (int m = 0; m < H_CLUSTER_MASTERS; m++) {
        struct h_redis node = {.port = cluster.ports[m]};
        int64_t keys;

        snprintf(node.url, sizeof(node.url), "redis://127.0.0.1:%d",
                 cluster.ports[m]);
        keys = h_redis_int(&node, "DBSIZE");
        cr_assert_gt(keys, 0, "master %d holds no key", m);
        cluster_keys += keys;
    }
    cr_assert_eq(cluster_keys, single_keys);
}

/* The tenants the worker wrote: `crm:{T}:state:customers` keys. */
static size_t tenants(char out[][64], size_t max)
{
    struct h_strs keys;
    size_t cnt = 0;

    h_redis_strs(&single, &keys, "KEYS crm:{*}:state:customers");
    for (size_t i = 0; i < keys.cnt && cnt < max; i++) {
        const char *open = strchr(keys.str[i], '{');
        const char *close = open ? strchr(open, '}') : NULL;

        if (open && close && close - open - 1 < 64) {
            snprintf(out[cnt], 64, "%.*s", (int)(close - open - 1), open + 1);
            cnt++;
        }
    }
    h_strs_free(&keys);
    return cnt;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data;
    long size;

    cr_assert_not_null(f, "open %s", path);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    data = malloc((size_t)size + 1);
    cr_assert_eq(fread(data, 1, (size_t)size, f), (size_t)size);
    data[size] = '\0';
    fclose(f);
    *len = (size_t)size;
    return data;
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The same rows, in any order: HSCAN's order follows the hash's layout,
 * which a copy (RESTORE) need not keep, and the CSV promises none. */
static void assert_same_rows(const char *a, const char *b)
{
    size_t len[2], cnt[2] = {0, 0};
    char *data[2] = {slurp(a, &len[0]), slurp(b, &len[1])};
    char **rows[2];

    for (int f = 0; f < 2; f++) {
        rows[f] = calloc(len[f] + 1, sizeof(char *));
        for (char *line = strtok(data[f], "\n"); line;
             line = strtok(NULL, "\n"))
            rows[f][cnt[f]++] = line;
        cr_assert_gt(cnt[f], 0);
        /* the header stays first */
        qsort(rows[f] + 1, cnt[f] - 1, sizeof(char *), cmp_line);
    }
    cr_assert_eq(cnt[0], cnt[1], "%s: %zu rows, %s: %zu rows", a, cnt[0], b,
                 cnt[1]);
    for (size_t i = 0; i < cnt[0]; i++)
        cr_assert_str_eq(rows[0][i], rows[1][i], "row %zu of %s and %s", i, a,
                         b);
    for (int f = 0; f < 2; f++) {
        free(rows[f]);
        free(data[f]);
    }
}

static int lines(const char *path)
{
    size_t len;
    char *data = slurp(path, &len);
    int n = 0;

    for (size_t i = 0; i < len; i++)
        n += data[i] == '\n';
    free(data);
    return n;
}

static void score(const char *tenant, const char *setting, const char *out)
{
    char x[200], log[700];
    const char *argv[] = {h_bin("crmpulse-score"),
                          "--tenant",
                          tenant,
                          "--as-of",
                          AS_OF,
                          "-X",
                          x,
                          "-o",
                          out,
                          NULL};
    int rc;

    snprintf(x, sizeof(x), "%s", setting);
    snprintf(log, sizeof(log), "%s.log", out);
    rc = h_run(argv, log, 60);
    if (rc)
        h_tail(log, 20);
    cr_assert_eq(rc, 0, "crmpulse-score %s exited %d", setting, rc);
}

Test(cluster_readers, score_and_board_read_a_cluster_as_one_redis)
{
    char names[8][64], one[700], many[700], x_url[128], x_nodes[200];
    size_t cnt;

    fill_and_import();
    cnt = tenants(names, 8);
    cr_assert_geq(cnt, 2, "the generator writes 3 tenants");
    snprintf(x_url, sizeof(x_url), "redis.url=%s", single.url);
    snprintf(x_nodes, sizeof(x_nodes), "redis.cluster.nodes=%s", cluster.seeds);
    for (size_t t = 0; t < cnt; t++) {
        snprintf(one, sizeof(one), "%s/score-%s-one.csv", h_scratch_dir(),
                 names[t]);
        snprintf(many, sizeof(many), "%s/score-%s-cluster.csv", h_scratch_dir(),
                 names[t]);
        score(names[t], x_url, one);
        score(names[t], x_nodes, many);
        cr_assert_gt(lines(one), 10, "%s: too few customers scored", one);
        assert_same_rows(one, many);
    }

    /* The board: its tenant index (SCAN of every master) and one tenant's
     * whole answer, read from both. */
    {
        char listen[2][64], log[2][700], x_listen[2][100];
        const char *setting[2] = {x_url, x_nodes};
        pid_t pid[2];
        char index_json[700];

        for (int b = 0; b < 2; b++) {
            const char *argv[] = {h_bin("crmpulse-board"),
                                  "-X",
                                  x_listen[b],
                                  "-X",
                                  setting[b],
                                  NULL};

            snprintf(listen[b], sizeof(listen[b]), "127.0.0.1:%d",
                     h_free_port());
            snprintf(x_listen[b], sizeof(x_listen[b]), "board.listen=%s",
                     listen[b]);
            snprintf(log[b], sizeof(log[b]), "%s/board-%d.log", h_scratch_dir(),
                     b);
            pid[b] = h_spawn(argv, log[b]);
        }
        {
            char base[2][100], tenant_path[200], flog[700];
            const char *argv[] = {
                "python3",       h_src("tests/integration/fetch_compare.py"),
                base[0],         base[1],
                h_scratch_dir(), "/api/tenants",
                tenant_path,     NULL};
            int rc;

            for (int b = 0; b < 2; b++)
                snprintf(base[b], sizeof(base[b]), "http://%s", listen[b]);
            snprintf(tenant_path, sizeof(tenant_path), "/api/tenants/%s/board",
                     names[0]);
            snprintf(flog, sizeof(flog), "%s/fetch.log", h_scratch_dir());
            rc = h_run(argv, flog, 80);
            h_tail(flog, 10);
            for (int b = 0; b < 2; b++) {
                kill(pid[b], SIGTERM);
                h_wait(pid[b], 10);
            }
            if (rc) {
                h_tail(log[0], 10);
                h_tail(log[1], 10);
            }
            cr_assert_eq(rc, 0,
                         "the boards on one Redis and on the cluster "
                         "answered differently (see above)");
        }
        /* Not two empty answers: the index holds the tenants. */
        snprintf(index_json, sizeof(index_json), "%s/a-0.json",
                 h_scratch_dir());
        {
            size_t len;
            char *body = slurp(index_json, &len);

            for (size_t t = 0; t < cnt; t++)
                cr_assert(strstr(body, names[t]), "tenant index: %s", body);
            free(body);
        }
    }
}

Test(cluster_readers, worker_refuses_a_cluster_with_the_reason)
{
    char log[700], x[200];
    const char *extras[] = {x, NULL};
    pid_t pid;
    int rc;

    snprintf(log, sizeof(log), "%s/refused.log", h_scratch_dir());
    snprintf(x, sizeof(x), "redis.cluster.nodes=%s", cluster.seeds);
    pid = h_worker_spawn(bootstrap, &single, "refused", log, extras);
    rc = h_wait(pid, 30);
    cr_assert_neq(rc, 0, "the worker must not run on a cluster yet");
    cr_assert(
        h_log_wait(log, "redis.cluster.nodes: the worker cannot commit", 1000),
        "the log names the setting and the reason");
}
