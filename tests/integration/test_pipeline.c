/* SPDX-License-Identifier: Apache-2.0 */
/* End to end: generated events plus malformed messages on the embedded
 * Kafka, the real crmpulse binary, a real redis-server. Redis must hold
 * exactly what an independent implementation of schemas/redis-keys.md computes,
 * every malformed message must be in the DLQ, and kill -9 must change nothing.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "codec.h"
#include "harness.h"
#include "stream.h"
#include "kafka.h"

/* Events of the stream: the crash, SIGTERM and fencing tests need a long
 * one to strike in the middle of. CP_IT_EVENTS sets it for every case
 * (deploy/test.sh runs 30000 under the sanitizers and the full size in
 * Release). */
#define FULL_EVENTS 300000
static int64_t events_n = FULL_EVENTS;
#define EVENTS_N   events_n
#define CUSTOMERS  "20000"
#define INVALID    "5" /* per 1000 events */
#define PARTITIONS 32
#define IDLE_EXIT  "worker.exit.idle.ms=4000"

static struct cp_embedded *emb;
static const char *bootstrap;

static void start_kafka(void)
{
    events_n = h_env_long("CP_IT_EVENTS", FULL_EVENTS);
    emb = h_kafka_start(PARTITIONS, &bootstrap);
}

static void stop_kafka(void)
{
    h_kafka_stop(&emb);
}

TestSuite(pipeline, .init = start_kafka, .fini = stop_kafka, .timeout = 1500);

static const char *scratch_file(const char *name)
{
    static char path[8][700];
    static int next;
    char *out = path[next++ % 8];

    snprintf(out, sizeof(path[0]), "%s/%s", h_scratch_dir(), name);
    return out;
}

/* The worker's clock was at least this while it processed the stream:
 * the oracle's lower bound for deciding which minute keys exist. */
static int64_t produced_at_ms;

/* Produces the test stream and keeps a copy for the oracle. */
static void produce(const char *dump)
{
    const char *log = scratch_file("gen.log");
    char events[32];
    const char *argv[] = {h_bin("crmpulse-gen"),
                          "-b",
                          bootstrap,
                          "-n",
                          events,
                          "-c",
                          CUSTOMERS,
                          "--tenants",
                          "4",
                          "-s",
                          "42",
                          "--invalid",
                          INVALID,
                          "-o",
                          dump,
                          "-q",
                          NULL};
    int rc;

    snprintf(events, sizeof(events), "%lld", (long long)EVENTS_N);
    produced_at_ms = cp_now_ms();
    rc = h_run(argv, log, 600);
    if (rc)
        h_tail(log, 30);
    cr_assert_eq(rc, 0, "crmpulse-gen exited %d", rc);
}

static pid_t spawn_worker(const struct h_redis *r, const char *group,
                          const char *log)
{
    char x_boot[300], x_redis[128], x_group[128];
    const char *argv[] = {h_bin("crmpulse"), "-X", x_boot, "-X", x_redis, "-X",
                          x_group, "-X", IDLE_EXIT, "-X",
                          "http.listen=127.0.0.1:0",
                          /* Event time only: replays give the same alerts. */
                          "-X", "time.idle_advance=0", NULL};

    snprintf(x_boot, sizeof(x_boot), "kafka.bootstrap.servers=%s", bootstrap);
    snprintf(x_redis, sizeof(x_redis), "redis.url=%s", r->url);
    snprintf(x_group, sizeof(x_group), "kafka.group.id=%s", group);
    return h_spawn(argv, log);
}

static void run_worker_to_idle(const struct h_redis *r, const char *group,
                               const char *log)
{
    int rc = h_wait(spawn_worker(r, group, log), 900);

    if (rc)
        h_tail(log, 40);
    cr_assert_eq(rc, 0, "crmpulse exited %d", rc);
}

static void check_letter(const struct cp_dead_letter *dl, void *opaque)
{
    (void)opaque;
    cr_assert_str_eq(dl->topic, "crm.events");
    cr_assert(dl->reason && dl->reason[0], "dead letter without reason");
}

/* Reads the whole DLQ topic; every record must decode and carry a reason.
 * Returns how many records it holds. */
static int64_t count_dead_letters(int64_t expected)
{
    struct h_dlq_seen seen;

    h_read_dlq(bootstrap, "check", PARTITIONS, expected, &seen, check_letter,
               NULL);
    return seen.records;
}

static int64_t invalid_in_dump(const char *dump)
{
    FILE *f = fopen(dump, "rb");
    int64_t invalid = 0;
    int flag;

    cr_assert_not_null(f);
    while ((flag = fgetc(f)) != EOF) {
        for (int part = 0; part < 2; part++) {
            unsigned char b[4];
            uint32_t len;

            cr_assert_eq(fread(b, 1, 4, f), 4);
            len = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
                  (uint32_t)b[2] << 8 | b[3];
            if (len != 0xFFFFFFFFu)
                cr_assert_eq(fseek(f, len, SEEK_CUR), 0);
        }
        invalid += flag == 1;
    }
    fclose(f);
    return invalid;
}

static void check_with_oracle(const struct h_redis *r, const char *dump,
                              int64_t dlq_cnt)
{
    const char *log = scratch_file("oracle.log");
    const char *alerts = scratch_file("alerts.jsonl");
    char dlq[32], from[32];
    const char *argv[] = {"/usr/bin/python3",
                          h_src("tests/integration/oracle.py"),
                          "--dump",
                          dump,
                          "--schema-dir",
                          h_src("schemas"),
                          "--redis-url",
                          r->url,
                          "--dlq-count",
                          dlq,
                          "--processed-from",
                          from,
                          "--alerts",
                          alerts,
                          NULL};
    int rc;

    fprintf(stderr, "%lld alert records on crm.alerts\n",
            (long long)h_dump_alerts(bootstrap, alerts));
    snprintf(dlq, sizeof(dlq), "%lld", (long long)dlq_cnt);
    snprintf(from, sizeof(from), "%lld", (long long)produced_at_ms);
    rc = h_run(argv, log, 600);
    h_tail(log, rc ? 30 : 1);
    cr_assert_eq(rc, 0, "oracle found mismatches (exit %d)", rc);
}

/* Keys that expire before @p cutoff_s (epoch seconds) are left out: see
 * snapshot.py. */
static void snapshot(const struct h_redis *r, const char *out, int64_t cutoff_s)
{
    char cutoff[32];
    const char *argv[] = {"/usr/bin/python3",
                          h_src("tests/integration/snapshot.py"), r->url,
                          cutoff, NULL};
    int rc;

    snprintf(cutoff, sizeof(cutoff), "%lld", (long long)cutoff_s);
    rc = h_run(argv, out, 300);

    cr_assert_eq(rc, 0, "snapshot of %s failed", r->url);
}

/* Waits (up to 2 min) until group @p group has committed @p target
 * messages; returns what it has committed. */
static int64_t wait_for_commits(const struct h_redis *r, const char *group,
                                int64_t target)
{
    char key[128];
    int64_t done = 0;

    snprintf(key, sizeof(key), "crmpulse:offsets:%s", group);
    for (int waited = 0; waited < 120000; waited += 20) {
        done = h_redis_hash_sum(r, key);
        if (done >= target)
            break;
        h_sleep_ms(20);
    }
    return done;
}

Test(pipeline, redis_holds_exactly_what_the_input_implies)
{
    const char *dump = scratch_file("events.dump");
    struct h_redis r;
    int64_t invalid, dlq;

    h_redis_start(&r);
    produce(dump);
    invalid = invalid_in_dump(dump);
    cr_assert_gt(invalid, EVENTS_N / 1000, "the stream must hold bad input");
    run_worker_to_idle(&r, "exact", scratch_file("worker.log"));
    dlq = count_dead_letters(invalid);
    cr_assert_eq(dlq, invalid, "DLQ holds %lld records, %lld were invalid",
                 (long long)dlq, (long long)invalid);
    cr_assert_eq(h_redis_hash_sum(&r, "crmpulse:offsets:exact"),
                 EVENTS_N + invalid, "offsets must cover every message");
    check_with_oracle(&r, dump, dlq);
    h_redis_stop(&r);
}

Test(pipeline, kill_9_mid_stream_changes_nothing)
{
    const char *dump = scratch_file("events.dump");
    const char *log = scratch_file("crashy.log");
    const char *clean_snap = scratch_file("clean.snapshot");
    const char *crash_snap = scratch_file("crash.snapshot");
    const double kill_at[] = {0.15, 0.40, 0.65, 0.85};
    struct h_redis clean, crashy;
    int64_t total, invalid, cutoff_s;
    char cmd[2000];

    h_redis_start(&clean);
    h_redis_start(&crashy);
    produce(dump);
    invalid = invalid_in_dump(dump);
    total = EVENTS_N + invalid;

    run_worker_to_idle(&clean, "clean", scratch_file("clean.log"));

    /* Kill the worker whenever it has committed past the next mark. */
    for (size_t k = 0; k < CP_ARRAY_SIZE(kill_at); k++) {
        pid_t pid = spawn_worker(&crashy, "crashy", log);
        int64_t done = wait_for_commits(&crashy, "crashy",
                                        (int64_t)(kill_at[k] * (double)total));

        kill(pid, SIGKILL);
        cr_assert_eq(h_wait(pid, 30), 128 + SIGKILL);
        cr_assert_lt(done, total, "kill %zu landed after the end", k);
        fprintf(stderr, "killed worker at %lld/%lld messages\n",
                (long long)done, (long long)total);
    }
    run_worker_to_idle(&crashy, "crashy", log);
    cr_assert_eq(h_redis_hash_sum(&crashy, "crmpulse:offsets:crashy"), total);

    /* Minute keys at the retention edge during the runs or the snapshots
     * depend on the wall clock, not on the kills: compare the rest. */
    cutoff_s = cp_now_ms() / 1000 + 600;
    snapshot(&clean, clean_snap, cutoff_s);
    snapshot(&crashy, crash_snap, cutoff_s);
    snprintf(cmd, sizeof(cmd),
             "cmp -s '%s' '%s' || diff '%s' '%s' | head -20 >&2", clean_snap,
             crash_snap, clean_snap, crash_snap);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", clean_snap, crash_snap);
    cr_assert_eq(system(cmd), 0,
                 "Redis after kill -9 differs from the uninterrupted run");
    check_with_oracle(&crashy, dump, invalid);
    h_redis_stop(&clean);
    h_redis_stop(&crashy);
}

Test(pipeline, sigterm_commits_and_exits_zero_within_seconds)
{
    const char *dump = scratch_file("events.dump");
    const char *log = scratch_file("term.log");
    struct h_redis r;
    int64_t total, done;
    struct timespec t0, t1;
    pid_t pid;
    int rc;

    h_redis_start(&r);
    produce(dump);
    total = EVENTS_N + invalid_in_dump(dump);
    pid = spawn_worker(&r, "term", log);
    wait_for_commits(&r, "term", total / 3);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill(pid, SIGTERM);
    rc = h_wait(pid, 30);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc)
        h_tail(log, 30);
    cr_assert_eq(rc, 0, "SIGTERM must exit 0, got %d", rc);
    cr_assert_lt(t1.tv_sec - t0.tv_sec, 10, "took %lds to stop",
                 (long)(t1.tv_sec - t0.tv_sec));
    done = h_redis_hash_sum(&r, "crmpulse:offsets:term");
    cr_assert_lt(done, total, "stopped only after the end: test too slow");
    /* A restart continues exactly where the committed offsets say. */
    run_worker_to_idle(&r, "term", log);
    cr_assert_eq(h_redis_hash_sum(&r, "crmpulse:offsets:term"), total);
    check_with_oracle(&r, dump, invalid_in_dump(dump));
    h_redis_stop(&r);
}

/* A worker whose partitions were taken over must stop writing at once. The
 * takeover is made the way a new owner makes it: by bumping the fences. */
Test(pipeline, fenced_worker_stops_writing)
{
    const char *dump = scratch_file("events.dump");
    const char *log = scratch_file("fenced.log");
    char cmd[1200];
    struct h_redis r;
    int64_t total, frozen;
    pid_t pid;

    h_redis_start(&r);
    produce(dump);
    total = EVENTS_N + invalid_in_dump(dump);
    pid = spawn_worker(&r, "fenced", log);
    wait_for_commits(&r, "fenced", total / 4);
    for (int p = 0; p < PARTITIONS; p++)
        h_redis_int(&r, "INCR crmpulse:fence:fenced:crm.events:%d", p);
    h_sleep_ms(500); /* a transaction already executing may still land */
    frozen = h_redis_hash_sum(&r, "crmpulse:offsets:fenced");
    h_sleep_ms(3000);
    cr_assert_eq(h_redis_hash_sum(&r, "crmpulse:offsets:fenced"), frozen,
                 "a fenced worker kept committing");
    cr_assert_lt(frozen, total, "finished before the fence: test too slow");
    snprintf(cmd, sizeof(cmd), "grep -q 'belongs to another worker' '%s'", log);
    cr_assert_eq(system(cmd), 0, "the worker did not notice the fence");
    kill(pid, SIGTERM);
    cr_assert_eq(h_wait(pid, 30), 0);

    /* The next owner finishes the stream exactly. */
    run_worker_to_idle(&r, "fenced", scratch_file("fenced-next.log"));
    cr_assert_eq(h_redis_hash_sum(&r, "crmpulse:offsets:fenced"), total);
    check_with_oracle(&r, dump, invalid_in_dump(dump));
    h_redis_stop(&r);
}
