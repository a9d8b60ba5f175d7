/* SPDX-License-Identifier: Apache-2.0 */
/* Recovery at the seams, as an operator meets it: Redis lost right after a
 * fresh group's assignment (back with its data, or empty), Redis emptied
 * mid-stream, a ~1 MB invalid message whose dead letter is larger than the
 * producer's default limit, Redis refusing us (NOAUTH) or gone while the
 * worker waits, and SIGTERM during every one of those waits. The real
 * crmpulse binary, a real redis-server, the embedded Kafka; the counters
 * are checked against the independent oracle (tests/integration/oracle.py).
 *
 * CP_IT_EVENTS shrinks (or grows) the event count for a quick local run. */
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

#define PARTITIONS 8
#define BIG_VALUE  1040000 /* fits Kafka's default limit, its DLQ copy not */
#define BIG_KEY    "1:big-customer"

static struct cp_embedded *emb;
static const char *bootstrap;
static long events_n; /* valid events per generated stream */

static void start_kafka(void)
{
    events_n = h_env_long("CP_IT_EVENTS", 40000);
    emb = h_kafka_start(PARTITIONS, &bootstrap);
}

static void stop_kafka(void)
{
    h_kafka_stop(&emb);
}

TestSuite(recovery, .init = start_kafka, .fini = stop_kafka, .timeout = 900);

static void put_u32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};

    cr_assert_eq(fwrite(b, 1, 4, f), 4);
}

/* One invalid message of BIG_VALUE bytes (Confluent framing of schema 1,
 * then bytes that are no Avro event), to Kafka and to @p dump. */
static void produce_big_invalid(const char *dump)
{
    static const char key[] = BIG_KEY;
    unsigned char *value = malloc(BIG_VALUE);
    struct cp_producer *prod;
    char errstr[512];
    FILE *f;

    cr_assert_not_null(value);
    memset(value, 0xff, BIG_VALUE);
    value[0] = 0;
    value[1] = value[2] = value[3] = 0;
    value[4] = 1;
    prod = cp_producer_new(bootstrap, NULL, 0, errstr, sizeof(errstr));
    cr_assert_not_null(prod, "%s", errstr);
    cr_assert_eq(cp_producer_send(prod, "crm.events", -1, key, strlen(key),
                                  value, BIG_VALUE),
                 CP_OK, "%s", cp_producer_errstr(prod));
    cr_assert_eq(cp_producer_flush(prod, 30000), CP_OK, "%s",
                 cp_producer_errstr(prod));
    cp_producer_destroy(prod);
    f = fopen(dump, "wb");
    cr_assert_not_null(f);
    fputc(1, f);
    put_u32(f, (uint32_t)strlen(key));
    cr_assert_eq(fwrite(key, 1, strlen(key), f), strlen(key));
    put_u32(f, BIG_VALUE);
    cr_assert_eq(fwrite(value, 1, BIG_VALUE, f), BIG_VALUE);
    fclose(f);
    free(value);
}

/* One worker with at most one extra setting. */
static pid_t spawn_worker(const struct h_redis *r, const char *group,
                          const char *log, const char *extra)
{
    const char *extras[] = {extra, NULL};

    return h_worker_spawn(bootstrap, r, group, log, extras);
}

/* What the DLQ topic holds, distinct source offsets only (a retried batch
 * may send a dead letter twice: the DLQ is at least once). */
struct dlq_seen {
    int64_t distinct;
    int64_t big_value_len; /* value length of the big message's letter */
    char big_reason[512];  /* its reason */
};

static void note_big_letter(const struct cp_dead_letter *dl, void *opaque)
{
    struct dlq_seen *seen = opaque;

    if (dl->key_len == strlen(BIG_KEY) &&
        !memcmp(dl->key, BIG_KEY, dl->key_len)) {
        seen->big_value_len = (int64_t)dl->value_len;
        snprintf(seen->big_reason, sizeof(seen->big_reason), "%s", dl->reason);
    }
}

static void read_dlq(const char *group_hint, int64_t expected,
                     struct dlq_seen *seen)
{
    struct h_dlq_seen all;

    memset(seen, 0, sizeof(*seen));
    seen->big_value_len = -1;
    h_read_dlq(bootstrap, group_hint, PARTITIONS, expected, &all,
               note_big_letter, seen);
    seen->distinct = all.distinct;
}

/* A fresh group is assigned its partitions, then Redis dies before the
 * first batch commits and is back 3 s later: the worker must rewind to
 * where the assignment began and end with exact counters. */
static void first_batch_fails(int keep_data, const char *group)
{
    char log_name[64], dump_name[64];
    const char *log, *dump;
    int64_t invalid = 0, total;
    struct h_redis r;
    pid_t pid;

    snprintf(log_name, sizeof(log_name), "%s.log", group);
    snprintf(dump_name, sizeof(dump_name), "%s.dump", group);
    log = h_scratch_file(log_name);
    dump = h_scratch_file(dump_name);
    h_redis_start(&r);
    /* A topic of its own would need another cluster: the partitions are
     * empty for this group because nothing is produced before the kill. */
    pid = spawn_worker(&r, group, log, NULL);
    cr_assert(h_log_wait(log, "assigned ", 60000),
              "the worker was not assigned partitions");
    h_sleep_ms(1000); /* let it read (empty) offsets and settle */
    {
        struct timespec t0;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        h_redis_kill(&r, keep_data);
        h_produce(bootstrap, dump, "42", events_n, cp_now_ms() - 3600 * 1000,
                  "5");
        while (h_elapsed_s(&t0) < 3.0)
            h_sleep_ms(50);
    }
    h_redis_revive(&r);
    h_worker_wait_done(pid, log, 300);
    total = h_dump_count(dump, &invalid);
    cr_assert_eq(h_offsets_sum(&r, group), total,
                 "offsets must cover every message");
    h_oracle_check(bootstrap, &r, &dump, 1, invalid);
    h_redis_stop(&r);
}

Test(recovery, first_batch_fails_redis_back_empty)
{
    first_batch_fails(0, "first-empty");
}

Test(recovery, first_batch_fails_redis_back_with_its_data)
{
    first_batch_fails(1, "first-kept");
}

/* Redis loses everything (offsets, fences, counters) while the worker is
 * mid-stream: it must notice, take its partitions back and rebuild the
 * counters from where its assignment began. */
Test(recovery, redis_back_empty_mid_stream)
{
    const char *dump = h_scratch_file("mid.dump");
    const char *log = h_scratch_file("mid.log");
    int64_t invalid = 0, total, done;
    struct dlq_seen dlq;
    struct h_redis r;
    pid_t pid;

    h_redis_start(&r);
    h_produce(bootstrap, dump, "42", events_n, cp_now_ms() - 3600 * 1000, "5");
    total = h_dump_count(dump, &invalid);
    pid = spawn_worker(&r, "mid", log, "worker.batch.max=2000");
    done = h_wait_for_commits(&r, "mid", total / 4);
    cr_assert_lt(done, total, "finished before the outage: test too slow");
    h_redis_kill(&r, 0);
    h_sleep_ms(3000);
    h_redis_revive(&r);
    h_worker_wait_done(pid, log, 300);
    cr_assert_eq(h_offsets_sum(&r, "mid"), total,
                 "offsets must cover every message");
    read_dlq("mid", invalid, &dlq);
    cr_assert_eq(dlq.distinct, invalid);
    h_oracle_check(bootstrap, &r, &dump, 1, dlq.distinct);
    h_redis_stop(&r);
}

/* SIGTERM at @p t0's caller: exit 0 within 5 s. */
static void sigterm_exits_fast(pid_t pid, const char *log)
{
    struct timespec t0;
    double took;
    int rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill(pid, SIGTERM);
    rc = h_wait(pid, 20);
    took = h_elapsed_s(&t0);
    if (rc || took >= 5.0)
        h_tail(log, 30);
    cr_assert_eq(rc, 0, "SIGTERM must exit 0, got %d (-1: still running)", rc);
    cr_assert_lt(took, 5.0, "took %.1f s to stop", took);
}

/* Redis gone between connect and assignment: the assignment waits for it
 * with backoff, and SIGTERM ends that wait. */
Test(recovery, sigterm_while_redis_is_down_at_assignment)
{
    const char *log = h_scratch_file("down.log");
    struct h_redis r;
    pid_t pid;

    h_redis_start(&r);
    pid = spawn_worker(&r, "down", log, NULL);
    cr_assert(h_log_wait(log, "connected to", 30000));
    h_redis_kill(&r, 0);
    cr_assert(h_log_wait(log, "start offsets unavailable", 60000),
              "the assignment did not wait for Redis");
    h_sleep_ms(7000); /* the backoff is at its longest by now */
    sigterm_exits_fast(pid, log);
}

/* Redis wants a password the URL lacks: say so, with the fix, keep
 * retrying, and still honour SIGTERM. */
Test(recovery, noauth_is_logged_with_the_fix_and_sigterm_honoured)
{
    const char *log = h_scratch_file("noauth.log");
    struct h_redis r;
    pid_t pid;
    char cmd[900];

    h_redis_start(&r);
    /* Debug level: each retry after the first is logged there. */
    pid = spawn_worker(&r, "noauth", log, "log.level=debug");
    cr_assert(h_log_wait(log, "connected to", 30000));
    /* Drop the worker's connection, then require a password. */
    h_redis_int(&r, "CLIENT KILL TYPE normal");
    h_redis_int(&r, "CONFIG SET requirepass hunter2");
    cr_assert(h_log_wait(log, "redis.url has no password", 60000),
              "NOAUTH was not explained");
    snprintf(cmd, sizeof(cmd), "grep -q 'NOAUTH' '%s'", log);
    cr_assert_eq(system(cmd), 0);
    /* Still retrying with backoff a while later. */
    h_sleep_ms(6000);
    snprintf(cmd, sizeof(cmd),
             "test $(grep -c 'start offsets unavailable' '%s') -ge 3", log);
    cr_assert_eq(system(cmd), 0, "the assignment is not retried");
    sigterm_exits_fast(pid, log);
    h_redis_stop(&r);
}

/* Redis down mid-stream: the batch loop's own backoff honours SIGTERM. */
Test(recovery, sigterm_during_batch_retry_backoff)
{
    const char *dump = h_scratch_file("retry.dump");
    const char *log = h_scratch_file("retry.log");
    int64_t invalid = 0, total;
    struct h_redis r;
    pid_t pid;

    h_redis_start(&r);
    h_produce(bootstrap, dump, "42", events_n, cp_now_ms() - 3600 * 1000, "0");
    total = h_dump_count(dump, &invalid);
    pid = spawn_worker(&r, "retry", log, "worker.batch.max=1000");
    cr_assert_lt(h_wait_for_commits(&r, "retry", total / 10), total);
    h_redis_kill(&r, 0);
    cr_assert(h_log_wait(log, "backoff: batch failed", 60000),
              "the worker did not retry");
    h_sleep_ms(7000);
    sigterm_exits_fast(pid, log);
}

/* Valid events, a 1,040,000-byte invalid message, more valid events. */
static void produce_with_big_invalid(const char *dumps[3], int64_t *total,
                                     int64_t *invalid)
{
    int64_t t0 = cp_now_ms() - 3600 * 1000;
    long half = events_n / 2;

    dumps[0] = h_scratch_file("before.dump");
    dumps[1] = h_scratch_file("big.dump");
    dumps[2] = h_scratch_file("after.dump");
    h_produce(bootstrap, dumps[0], "42", half, t0, "5");
    produce_big_invalid(dumps[1]);
    h_produce(bootstrap, dumps[2], "43", half, t0 + half * 5 + 60000, "5");
    *invalid = 0;
    *total = 0;
    for (int i = 0; i < 3; i++)
        *total += h_dump_count(dumps[i], invalid);
}

Test(recovery, megabyte_invalid_message_lands_in_the_dlq_whole)
{
    const char *log = h_scratch_file("big.log");
    const char *dumps[3];
    int64_t total, invalid;
    struct dlq_seen dlq;
    struct h_redis r;

    h_redis_start(&r);
    produce_with_big_invalid(dumps, &total, &invalid);
    h_worker_wait_done(spawn_worker(&r, "big", log, NULL), log, 300);
    cr_assert_eq(h_offsets_sum(&r, "big"), total,
                 "the valid events behind the big message were applied");
    read_dlq("big", invalid, &dlq);
    cr_assert_eq(dlq.distinct, invalid);
    cr_assert_eq(dlq.big_value_len, BIG_VALUE,
                 "the big message's dead letter holds all of it (%lld)",
                 (long long)dlq.big_value_len);
    h_oracle_check(bootstrap, &r, dumps, 3, dlq.distinct);
    h_redis_stop(&r);
}

/* A dead letter still too large for the producer's limit lands cut, and
 * says so. */
Test(recovery, oversized_dead_letter_lands_truncated)
{
    const char *log = h_scratch_file("cut.log");
    const char *dumps[3];
    int64_t total, invalid;
    struct dlq_seen dlq;
    struct h_redis r;

    h_redis_start(&r);
    produce_with_big_invalid(dumps, &total, &invalid);
    h_worker_wait_done(
        spawn_worker(&r, "cut", log, "kafka.message.max.bytes=600000"), log,
        300);
    cr_assert_eq(h_offsets_sum(&r, "cut"), total);
    read_dlq("cut", invalid, &dlq);
    cr_assert_eq(dlq.distinct, invalid);
    cr_assert(dlq.big_value_len > 0 && dlq.big_value_len < 600000,
              "value kept: %lld", (long long)dlq.big_value_len);
    cr_assert(strstr(dlq.big_reason, "truncated") &&
                  strstr(dlq.big_reason, "1040000"),
              "reason: %s", dlq.big_reason);
    h_oracle_check(bootstrap, &r, dumps, 3, dlq.distinct);
    h_redis_stop(&r);
}
