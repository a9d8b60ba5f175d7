/* SPDX-License-Identifier: Apache-2.0 */
/* Kafka failing under the worker, through the embedded cluster's fault
 * injection (cp_embedded_set_up / _push_errors / _fail_requests in
 * kafka.h, so this file needs no librdkafka): every broker down for ~10 s
 * mid-stream; transient errors on the requests the worker sends (group
 * membership, offset lookups, Fetch, Produce of dead letters and alerts,
 * OffsetCommit); every Produce refused for ~10 s while the stream holds
 * invalid messages and alerts; SIGTERM while the brokers are down. Each
 * case but the last ends with the real crmpulse worker exiting on idle,
 * offsets covering every message, every invalid message on the DLQ at
 * least once, and Redis equal to the independent oracle
 * (tests/integration/oracle.py): exact, nothing counted twice.
 *
 * CP_IT_EVENTS sets the valid events per case (default 20000). */
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
#include "faults.h"
#include "kafka.h"
#include "stream.h"

#define PARTITIONS 8
#define OUTAGE_MS  10000
/* Shorter than h_worker_spawn()'s 8 s (a later -X wins): five cases, each
 * ending on it, in a CI budget. Outages do not count as idle time. */
#define IDLE_EXIT "worker.exit.idle.ms=4000"

static struct cp_embedded *emb;
static const char *bootstrap;
static long events_n;

static void start_kafka(void)
{
    events_n = h_env_long("CP_IT_EVENTS", 20000);
    emb = h_kafka_start(PARTITIONS, &bootstrap);
}

static void stop_kafka(void)
{
    h_kafka_stop(&emb);
}

TestSuite(broker_faults, .init = start_kafka, .fini = stop_kafka,
          .timeout = 600);

/* One case's stream, worker and Redis. */
struct run {
    char group[32];
    const char *log;  /* borrowed scratch path */
    const char *dump; /* borrowed scratch path */
    int64_t total;    /* messages produced, valid and invalid */
    int64_t invalid;
    struct h_redis r;
    pid_t pid;
};

/* Produces the stream, starts one worker in small batches (many commits,
 * so a fault lands between them) and waits until a fifth is committed. */
static void run_start(struct run *run, const char *group)
{
    char name[64];
    const char *extras[] = {"worker.batch.max=1000", IDLE_EXIT, NULL};
    int64_t done;

    memset(run, 0, sizeof(*run));
    snprintf(run->group, sizeof(run->group), "%s", group);
    snprintf(name, sizeof(name), "%s.log", group);
    run->log = h_scratch_file(name);
    snprintf(name, sizeof(name), "%s.dump", group);
    run->dump = h_scratch_file(name);
    h_redis_start(&run->r);
    h_produce(bootstrap, run->dump, "42", events_n, cp_now_ms() - 3600 * 1000,
              "5");
    run->total = h_dump_count(run->dump, &run->invalid);
    run->pid = h_worker_spawn(bootstrap, &run->r, group, run->log, extras);
    done = h_wait_for_commits(&run->r, group, run->total / 5);
    cr_assert_lt(done, run->total, "finished before the fault: test too slow");
}

/* Seconds from @p t0 until the group commits past @p from (up to 2 min). */
static double seconds_to_commit(const struct run *run, int64_t from,
                                const struct timespec *t0)
{
    while (h_offsets_sum(&run->r, run->group) <= from) {
        cr_assert_lt(h_elapsed_s(t0), 120.0, "no commit 2 min after the fault");
        h_sleep_ms(20);
    }
    return h_elapsed_s(t0);
}

static void read_dlq(const char *group_hint, int64_t expected,
                     struct h_dlq_seen *seen)
{
    h_read_dlq(bootstrap, group_hint, PARTITIONS, expected, seen, NULL, NULL);
}

/* The worker exits on idle; offsets complete; every invalid message on the
 * DLQ at least once; Redis exact. */
static void run_finish(struct run *run)
{
    struct h_dlq_seen dlq;

    h_worker_wait_done(run->pid, run->log, 300);
    cr_assert_eq(h_offsets_sum(&run->r, run->group), run->total,
                 "offsets must cover every message");
    read_dlq(run->group, run->invalid, &dlq);
    fprintf(stderr,
            "%s: %lld messages, %lld invalid; DLQ holds %lld dead letters "
            "(%lld duplicates)\n",
            run->group, (long long)run->total, (long long)run->invalid,
            (long long)dlq.records, (long long)(dlq.records - dlq.distinct));
    cr_assert_eq(dlq.distinct, run->invalid,
                 "every invalid message is on the DLQ at least once");
    h_oracle_check(bootstrap, &run->r, &run->dump, 1, run->invalid);
    h_redis_stop(&run->r);
}

/* Whether the worker's log says @p needle (no wait). */
static int log_has(const char *log, const char *needle)
{
    return h_log_wait(log, needle, 0);
}

Test(broker_faults, all_brokers_down_10s_mid_stream)
{
    struct timespec t0;
    struct run run;
    int64_t at_up;

    run_start(&run, "down");
    cr_assert_eq(cp_embedded_set_up(emb, 0), CP_OK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (h_elapsed_s(&t0) < OUTAGE_MS / 1000.0)
        h_sleep_ms(50);
    cr_assert(log_has(run.log, "kafka unreachable"),
              "the worker did not say Kafka is down");
    at_up = h_offsets_sum(&run.r, run.group);
    cr_assert_eq(cp_embedded_set_up(emb, 1), CP_OK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (at_up < run.total)
        fprintf(stderr, "down: committing again %.1f s after the brokers\n",
                seconds_to_commit(&run, at_up, &t0));
    run_finish(&run);
    cr_assert(log_has(run.log, "kafka reachable again"),
              "the worker did not say Kafka is back");
}

/* Transient, retriable errors on what a worker sends. */
struct injected {
    enum cp_kafka_api api;
    const char *name;
    int err;
    size_t cnt;
};

static void push_all(const struct injected *inj, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++)
        cr_assert_eq(
            cp_embedded_push_errors(emb, inj[i].api, inj[i].err, inj[i].cnt),
            CP_OK);
}

/* Whether every injected error was returned to some request (no assert). */
static int all_returned(const struct injected *inj, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++)
        if (cp_embedded_pending_errors(emb, inj[i].api))
            return 0;
    return 1;
}

/* Every injected error was returned to some request. */
static void assert_all_returned(const struct injected *inj, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++) {
        size_t left = cp_embedded_pending_errors(emb, inj[i].api);

        fprintf(stderr, "errors: %s %zu injected, %zu returned\n", inj[i].name,
                inj[i].cnt, inj[i].cnt - left);
        cr_assert_eq(left, 0, "%zu %s errors never reached a request", left,
                     inj[i].name);
    }
}

Test(broker_faults, transient_request_errors)
{
    /* Joining the group and finding where to start: before the worker. */
    static const struct injected at_join[] = {
        {CP_KAFKA_API_FIND_COORDINATOR, "FindCoordinator",
         CP_KAFKA_ERR_COORDINATOR_NOT_AVAILABLE, 2},
        {CP_KAFKA_API_JOIN_GROUP, "JoinGroup",
         CP_KAFKA_ERR_COORDINATOR_NOT_AVAILABLE, 2},
        {CP_KAFKA_API_SYNC_GROUP, "SyncGroup",
         CP_KAFKA_ERR_COORDINATOR_NOT_AVAILABLE, 1},
        {CP_KAFKA_API_OFFSET_FETCH, "OffsetFetch",
         CP_KAFKA_ERR_COORDINATOR_NOT_AVAILABLE, 2},
    };
    /* Mid-stream: reading, side outputs, lag commits, membership. */
    static const struct injected mid[] = {
        {CP_KAFKA_API_FETCH, "Fetch", CP_KAFKA_ERR_NOT_LEADER, 3},
        {CP_KAFKA_API_PRODUCE, "Produce", CP_KAFKA_ERR_NOT_ENOUGH_REPLICAS, 5},
        {CP_KAFKA_API_OFFSET_COMMIT, "OffsetCommit",
         CP_KAFKA_ERR_REQUEST_TIMED_OUT, 3},
        {CP_KAFKA_API_HEARTBEAT, "Heartbeat",
         CP_KAFKA_ERR_COORDINATOR_NOT_AVAILABLE, 2},
    };
    /* No idle exit: a heartbeat error is taken only at the next heartbeat
     * (every 3 s, later after a coordinator lookup), and a worker that
     * exits 4 s after its last batch may leave one untaken. The test stops
     * it once everything is committed and every error was returned. */
    const char *extras[] = {"worker.batch.max=1000", "worker.exit.idle.ms=0",
                            NULL};
    struct timespec t0;
    struct run run;
    int64_t at;
    int rc;

    /* run_start() with the join errors queued before the worker starts. */
    memset(&run, 0, sizeof(run));
    snprintf(run.group, sizeof(run.group), "transient");
    run.log = h_scratch_file("transient.log");
    run.dump = h_scratch_file("transient.dump");
    h_redis_start(&run.r);
    h_produce(bootstrap, run.dump, "42", events_n, cp_now_ms() - 3600 * 1000,
              "5");
    run.total = h_dump_count(run.dump, &run.invalid);
    push_all(at_join, sizeof(at_join) / sizeof(at_join[0]));
    run.pid = h_worker_spawn(bootstrap, &run.r, run.group, run.log, extras);
    at = h_wait_for_commits(&run.r, run.group, run.total / 5);
    cr_assert_lt(at, run.total, "finished before the fault: test too slow");
    push_all(mid, sizeof(mid) / sizeof(mid[0]));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    at = h_offsets_sum(&run.r, run.group);
    if (at < run.total)
        fprintf(stderr, "transient: committing %.1f s after the injection\n",
                seconds_to_commit(&run, at, &t0));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (h_elapsed_s(&t0) < 120 &&
           (h_offsets_sum(&run.r, run.group) < run.total ||
            !all_returned(mid, sizeof(mid) / sizeof(mid[0]))))
        h_sleep_ms(100);
    kill(run.pid, SIGTERM);
    rc = h_wait(run.pid, 30);
    if (rc)
        h_tail(run.log, 40);
    cr_assert_eq(rc, 0, "crmpulse exited %d after SIGTERM", rc);
    /* Before our own clients (DLQ and alert readers) take any. */
    assert_all_returned(at_join, sizeof(at_join) / sizeof(at_join[0]));
    assert_all_returned(mid, sizeof(mid) / sizeof(mid[0]));
    run.pid = 0;
    {
        struct h_dlq_seen dlq;

        cr_assert_eq(h_offsets_sum(&run.r, run.group), run.total,
                     "offsets must cover every message");
        read_dlq(run.group, run.invalid, &dlq);
        fprintf(stderr, "transient: %lld invalid, %lld dead letters\n",
                (long long)run.invalid, (long long)dlq.records);
        cr_assert_eq(dlq.distinct, run.invalid);
        h_oracle_check(bootstrap, &run.r, &run.dump, 1, run.invalid);
        h_redis_stop(&run.r);
    }
}

/* Every Produce refused for ~10 s: the DLQ and alert topics fail while
 * the stream has invalid messages and alerts. No batch may commit before
 * Kafka acknowledged its dead letters and alerts. */
static void side_outputs_fail_10s(const char *group, int err)
{
    struct timespec t0;
    struct run run;
    int64_t during, after;

    run_start(&run, group);
    cp_embedded_fail_requests(emb, CP_KAFKA_API_PRODUCE, err);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* A commit already past its flush may still land: then nothing more. */
    h_sleep_ms(2000);
    during = h_offsets_sum(&run.r, run.group);
    while (h_elapsed_s(&t0) < OUTAGE_MS / 1000.0)
        h_sleep_ms(50);
    after = h_offsets_sum(&run.r, run.group);
    cp_embedded_clear_failure(emb, CP_KAFKA_API_PRODUCE);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fprintf(stderr, "%s: %lld of %lld committed while Produce failed\n", group,
            (long long)after, (long long)run.total);
    cr_assert_eq(after, during,
                 "batches committed while Kafka refused their side outputs");
    cr_assert_lt(after, run.total);
    fprintf(stderr, "%s: committing again %.1f s after Produce works\n", group,
            seconds_to_commit(&run, after, &t0));
    run_finish(&run);
}

/* Retriable: the producer retries inside one flush. */
Test(broker_faults, dlq_and_alert_topics_fail_10s)
{
    side_outputs_fail_10s("sidefail", CP_KAFKA_ERR_NOT_ENOUGH_REPLICAS);
}

/* Refused for good each time: every flush fails, the batch is rolled back
 * and read again until Produce works. */
Test(broker_faults, dlq_and_alert_produce_refused_10s)
{
    side_outputs_fail_10s("siderefused", CP_KAFKA_ERR_TOPIC_AUTHORIZATION);
}

Test(broker_faults, sigterm_while_brokers_down_exits_within_5s)
{
    struct timespec t0;
    struct run run;
    double took;
    int rc;

    run_start(&run, "downterm");
    cr_assert_eq(cp_embedded_set_up(emb, 0), CP_OK);
    /* Soon after the worker noticed: it waits on a flush, and the offset
     * commits it sent to Kafka just before are still pending. */
    cr_assert(h_log_wait(run.log, "kafka unreachable", 30000),
              "the worker did not say Kafka is down");
    h_sleep_ms(1000);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill(run.pid, SIGTERM);
    rc = h_wait(run.pid, 60);
    took = h_elapsed_s(&t0);
    fprintf(stderr,
            "downterm: SIGTERM with the brokers down: exit %d in "
            "%.2f s\n",
            rc, took);
    if (rc || took >= 5.0)
        h_tail(run.log, 30);
    cr_assert_eq(rc, 0, "SIGTERM must exit 0, got %d (-1: still running)", rc);
    cr_assert_lt(took, 5.0, "took %.1f s to stop", took);
    cr_assert_lt(h_offsets_sum(&run.r, run.group), run.total);
    cp_embedded_set_up(emb, 1);
    h_redis_stop(&run.r);
}
