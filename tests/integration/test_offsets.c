/* SPDX-License-Identifier: Apache-2.0 */
/* Offsets in Redis that Kafka no longer has, or never had, under the real
 * worker and a real redis-server, with each offsets.out_of_range policy:
 *
 * - beyond the log end: the group ran against one embedded cluster, and a
 *   second run against the same Redis meets a new cluster holding fewer
 *   messages (what a recreated topic or a Redis restored from elsewhere
 *   looks like). fail stops (exit 1) naming the partition and the offsets
 *   and applies nothing; earliest applies the whole new log (the oracle is
 *   exact over both streams); latest applies none of it and counts it as
 *   skipped (the oracle is exact over the first stream alone).
 * - below the log start: the embedded cluster keeps about 5 MiB a
 *   partition and drops older messages; a stream larger than that,
 *   produced while the worker is away, deletes messages it never read.
 *   fail stops; earliest and latest go on and the messages applied plus
 *   those skipped are exactly the stream.
 *
 * Environment: CP_IT_EVENTS (default 2000) events of the first stream. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "harness.h"
#include "kafka.h"
#include "stream.h"

#define PARTITIONS 2
/* Events that overflow what the embedded cluster keeps per partition
 * (~5 MiB; an event is over 100 bytes): 100k over 2 partitions. */
#define FLOOD_EVENTS 100000

static long events_n;
static int64_t t0_ms;

static void setup(void)
{
    events_n = h_env_long("CP_IT_EVENTS", 2000);
    t0_ms = cp_now_ms() - 3600 * 1000;
}

TestSuite(offsets, .init = setup, .timeout = 600);

struct streams {
    const char *dumps[4];
    char paths[4][700];
    size_t cnt;
    int64_t total[4], invalid[4];
};

static void produce(const char *bootstrap, struct streams *s, const char *group,
                    long n)
{
    char seed[16], name[64];
    int i = (int)s->cnt;

    snprintf(name, sizeof(name), "%s-%d.dump", group, i);
    snprintf(s->paths[i], sizeof(s->paths[0]), "%s", h_scratch_file(name));
    s->dumps[i] = s->paths[i];
    s->cnt++;
    snprintf(seed, sizeof(seed), "%d", 42 + i);
    h_produce(bootstrap, s->dumps[i], seed, n,
              t0_ms + (int64_t)i * (events_n * 5 + 60000), "5");
    s->total[i] = h_dump_count(s->dumps[i], &s->invalid[i]);
}

/* "stopped: A events applied, D to DLQ in B batches, S skipped" of @p log:
 * *consumed = A + D, *skipped = S (asserts the line is there). */
static void stopped_line(const char *log, int64_t *consumed, int64_t *skipped)
{
    char *text = h_slurp(log), *line = strstr(text, "stopped: ");
    long long a = -1, d = -1, b = -1, sk = -1;

    cr_assert_not_null(line, "no stopped: line in %s", log);
    cr_assert_eq(sscanf(line,
                        "stopped: %lld events applied, %lld to DLQ in %lld "
                        "batches, %lld skipped",
                        &a, &d, &b, &sk),
                 4, "%.200s", line);
    free(text);
    *consumed = a + d;
    *skipped = sk;
}

/* The oracle over the first @p dump_cnt dumps of @p s against @p r, with
 * the alerts of every cluster the streams went through: those saved in
 * @p alerts_a (the first cluster, gone now) and those on @p bootstrap. */
static void oracle(const char *bootstrap, const struct h_redis *r,
                   const struct streams *s, size_t dump_cnt,
                   const char *alerts_a)
{
    const char *alerts = h_scratch_file("alerts-all.jsonl");
    const char *alerts_b = h_scratch_file("alerts-b.jsonl");
    const char *log = h_scratch_file("oracle.log");
    char dlq[32], from[32], *a, *b, *both;
    const char *argv[32];
    int64_t invalid = 0;
    size_t argc = 0;
    int rc;

    h_dump_alerts(bootstrap, alerts_b);
    a = h_slurp(alerts_a);
    b = h_slurp(alerts_b);
    both = malloc(strlen(a) + strlen(b) + 1);
    cr_assert_not_null(both);
    strcpy(both, a);
    strcat(both, b);
    h_write_file(alerts, both, strlen(both));
    free(a);
    free(b);
    free(both);
    for (size_t i = 0; i < dump_cnt; i++)
        invalid += s->invalid[i];
    snprintf(dlq, sizeof(dlq), "%lld", (long long)invalid);
    snprintf(from, sizeof(from), "%lld", (long long)h_produced_at_ms());
    argv[argc++] = "/usr/bin/python3";
    argv[argc++] = h_src("tests/integration/oracle.py");
    for (size_t i = 0; i < dump_cnt; i++) {
        argv[argc++] = "--dump";
        argv[argc++] = s->dumps[i];
    }
    argv[argc++] = "--schema-dir";
    argv[argc++] = h_src("schemas");
    argv[argc++] = "--redis-url";
    argv[argc++] = r->url;
    argv[argc++] = "--dlq-count";
    argv[argc++] = dlq;
    argv[argc++] = "--processed-from";
    argv[argc++] = from;
    argv[argc++] = "--alerts";
    argv[argc++] = alerts;
    argv[argc] = NULL;
    rc = h_run(argv, log, 600);
    h_tail(log, rc ? 30 : 1);
    cr_assert_eq(rc, 0, "oracle found mismatches (exit %d)", rc);
}

static const char *policy_x(const char *policy, char *buf, size_t size)
{
    snprintf(buf, size, "offsets.out_of_range=%s", policy);
    return buf;
}

/* Runs a worker with @p policy; @returns its exit status. */
static int run_worker(const char *bootstrap, const struct h_redis *r,
                      const char *group, const char *log, const char *policy)
{
    char x[64];
    const char *extras[] = {policy_x(policy, x, sizeof(x)), NULL};

    return h_wait(h_worker_spawn(bootstrap, r, group, log, extras), 300);
}

static void expect_stop(const char *log, const char *what)
{
    char *text = h_slurp(log);
    int ok = strstr(text, "STOPPING: partition crm.events [") &&
             strstr(text, what) &&
             strstr(text, "offsets.out_of_range=earliest") &&
             !strstr(text, "rolled back");

    if (!ok)
        h_tail(log, 30);
    free(text);
    cr_assert(ok, "the stop must name the partition, say \"%s\" and the fix",
              what);
}

/* ---- beyond the log end: a new cluster, the same Redis ---- */

static void beyond_log_end(const char *policy)
{
    char group[32], log1[64], log2[64];
    struct cp_embedded *emb;
    struct streams s = {0};
    const char *bootstrap;
    int64_t committed, consumed, skipped;
    struct h_redis r;
    int rc;

    char alerts_a[700];

    snprintf(group, sizeof(group), "end-%s", policy);
    snprintf(log1, sizeof(log1), "%s-1.log", group);
    snprintf(log2, sizeof(log2), "%s-2.log", group);
    h_redis_start(&r);
    emb = h_kafka_start(PARTITIONS, &bootstrap);
    produce(bootstrap, &s, group, events_n);
    rc = run_worker(bootstrap, &r, group, h_scratch_file(log1), policy);
    cr_assert_eq(rc, 0);
    committed = h_offsets_sum(&r, group);
    cr_assert_eq(committed, s.total[0]);
    snprintf(alerts_a, sizeof(alerts_a), "%s",
             h_scratch_file("alerts-a.jsonl"));
    h_dump_alerts(bootstrap, alerts_a);
    h_kafka_stop(&emb);

    /* A new cluster with half as many messages: every stored offset lies
     * beyond its partition's log end. */
    emb = h_kafka_start(PARTITIONS, &bootstrap);
    produce(bootstrap, &s, group, events_n / 2);
    rc = run_worker(bootstrap, &r, group, h_scratch_file(log2), policy);
    if (!strcmp(policy, "fail")) {
        cr_assert_eq(rc, 1, "fail must stop the worker (exit 1), got %d", rc);
        expect_stop(h_scratch_file(log2), "is beyond the log end");
        cr_assert_eq(h_offsets_sum(&r, group), committed,
                     "nothing applied, offsets untouched");
        oracle(bootstrap, &r, &s, 1, alerts_a);
    } else if (!strcmp(policy, "earliest")) {
        if (rc)
            h_tail(h_scratch_file(log2), 30);
        cr_assert_eq(rc, 0);
        stopped_line(h_scratch_file(log2), &consumed, &skipped);
        cr_assert_eq(skipped, 0, "the new log is applied whole");
        cr_assert_eq(consumed, s.total[1]);
        cr_assert_eq(h_offsets_sum(&r, group), s.total[1]);
        oracle(bootstrap, &r, &s, 2, alerts_a);
    } else {
        if (rc)
            h_tail(h_scratch_file(log2), 30);
        cr_assert_eq(rc, 0);
        stopped_line(h_scratch_file(log2), &consumed, &skipped);
        cr_assert_eq(skipped, s.total[1], "all of the new log is skipped");
        cr_assert_eq(consumed, 0);
        cr_assert_eq(h_offsets_sum(&r, group), s.total[1],
                     "the log end is committed at once");
        oracle(bootstrap, &r, &s, 1, alerts_a);
    }
    h_kafka_stop(&emb);
    h_redis_stop(&r);
}

Test(offsets, beyond_log_end_fail)
{
    beyond_log_end("fail");
}

Test(offsets, beyond_log_end_earliest)
{
    beyond_log_end("earliest");
}

Test(offsets, beyond_log_end_latest)
{
    beyond_log_end("latest");
}

/* ---- below the log start: retention deleted what was not read ---- */

static void below_log_start(const char *policy)
{
    char group[32], log1[64], log2[64];
    struct cp_embedded *emb;
    struct streams s = {0};
    const char *bootstrap;
    int64_t committed, consumed, skipped;
    struct h_redis r;
    int rc;

    snprintf(group, sizeof(group), "start-%s", policy);
    snprintf(log1, sizeof(log1), "%s-1.log", group);
    snprintf(log2, sizeof(log2), "%s-2.log", group);
    h_redis_start(&r);
    emb = h_kafka_start(PARTITIONS, &bootstrap);
    produce(bootstrap, &s, group, events_n);
    cr_assert_eq(run_worker(bootstrap, &r, group, h_scratch_file(log1), policy),
                 0);
    committed = h_offsets_sum(&r, group);
    cr_assert_eq(committed, s.total[0]);
    /* More than the cluster keeps, while no worker reads: it drops the
     * oldest messages, some of this stream's first ones among them. */
    produce(bootstrap, &s, group, FLOOD_EVENTS);
    rc = run_worker(bootstrap, &r, group, h_scratch_file(log2), policy);
    if (!strcmp(policy, "fail")) {
        cr_assert_eq(rc, 1, "fail must stop the worker (exit 1), got %d", rc);
        expect_stop(h_scratch_file(log2), "is below the log start");
        cr_assert_eq(h_offsets_sum(&r, group), committed);
    } else {
        if (rc)
            h_tail(h_scratch_file(log2), 30);
        cr_assert_eq(rc, 0);
        stopped_line(h_scratch_file(log2), &consumed, &skipped);
        cr_assert_gt(skipped, 0, "messages were deleted unread");
        /* Exact accounting: every message of the stream was applied (or
         * dead-lettered) or counted as skipped, none both. */
        cr_assert_eq(consumed + skipped, s.total[1],
                     "%lld consumed + %lld skipped != %lld produced",
                     (long long)consumed, (long long)skipped,
                     (long long)s.total[1]);
        cr_assert_eq(h_offsets_sum(&r, group), s.total[0] + s.total[1]);
        if (!strcmp(policy, "latest"))
            cr_assert_eq(consumed, 0, "latest starts at the log end");
    }
    h_kafka_stop(&emb);
    h_redis_stop(&r);
}

Test(offsets, below_log_start_fail)
{
    below_log_start("fail");
}

Test(offsets, below_log_start_earliest)
{
    below_log_start("earliest");
}

Test(offsets, below_log_start_latest)
{
    below_log_start("latest");
}
