/* SPDX-License-Identifier: Apache-2.0 */
/* Keys of ours changed by another program, in a real redis-server under
 * the real worker. MULTI/EXEC has no rollback: a write to a key turned into
 * another type fails alone while the rest of the transaction, offsets
 * included, applies. The worker checks the types of the keys a transaction
 * writes in the same pipeline and aborts the EXEC on a foreign one: a loud
 * stop naming the key, nothing of the batch applied, and after the
 * operator restores the key a restart ends with exact counters (the
 * oracle). A value the type check cannot see (a counter pushed to the
 * int64 limit, so HINCRBY overflows inside EXEC) is a loud stop that says
 * the batch was partly applied, never "rolled back".
 *
 * Environment: CP_IT_EVENTS (default 4000) valid events per stream. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "harness.h"
#include "kafka.h"
#include "stream.h"

#define PARTITIONS 4

static struct cp_embedded *emb;
static const char *bootstrap;
static long events_n;
static int64_t t0_ms;

static void start_kafka(void)
{
    events_n = h_env_long("CP_IT_EVENTS", 4000);
    t0_ms = cp_now_ms() - 3600 * 1000;
    emb = h_kafka_start(PARTITIONS, &bootstrap);
}

static void stop_kafka(void)
{
    h_kafka_stop(&emb);
}

TestSuite(foreign_keys, .init = start_kafka, .fini = stop_kafka,
          .timeout = 600);

struct streams {
    const char *dumps[4];
    char paths[4][700];
    size_t cnt;
    int64_t total, invalid;
};

static void produce(struct streams *s, const char *group)
{
    char seed[16], name[64];
    int i = (int)s->cnt;

    snprintf(name, sizeof(name), "%s-%d.dump", group, i);
    snprintf(s->paths[i], sizeof(s->paths[0]), "%s", h_scratch_file(name));
    s->dumps[i] = s->paths[i];
    s->cnt++;
    snprintf(seed, sizeof(seed), "%d", 42 + i);
    h_produce(bootstrap, s->dumps[i], seed, events_n,
              t0_ms + (int64_t)i * (events_n * 5 + 60000), "5");
    s->total += h_dump_count(s->dumps[i], &s->invalid);
}

/* The first key matching @p pattern (asserts there is one). */
static void first_key(const struct h_redis *r, const char *pattern, char *out,
                      size_t size)
{
    struct h_strs keys;

    h_redis_strs(r, &keys, "KEYS %s", pattern);
    cr_assert_gt(keys.cnt, 0, "no key matches %s", pattern);
    snprintf(out, size, "%s", keys.str[0]);
    h_strs_free(&keys);
}

Test(foreign_keys, wrong_type_stops_before_writing_and_resumes_exactly)
{
    const char *log1 = h_scratch_file("ft1.log"),
               *log2 = h_scratch_file("ft2.log"),
               *log3 = h_scratch_file("ft3.log");
    struct streams s = {0};
    char key[256], saved[300], needle[400];
    int64_t committed;
    struct h_redis r;
    char *text;
    int rc;

    h_redis_start(&r);
    produce(&s, "ft");
    h_worker_wait_done(h_worker_spawn(bootstrap, &r, "ft", log1, NULL), log1,
                       180);
    /* A tenant's top-risk zset, written by every batch that scores one of
     * its customers, becomes a string (another program's SET). */
    first_key(&r, "crm:*:risk", key, sizeof(key));
    snprintf(saved, sizeof(saved), "%s.saved", key);
    h_redis_int(&r, "RENAME %s %s", key, saved);
    h_redis_int(&r, "SET %s foreign", key);
    committed = h_offsets_sum(&r, "ft");
    produce(&s, "ft");

    rc = h_wait(h_worker_spawn(bootstrap, &r, "ft", log2, NULL), 120);
    text = h_slurp(log2);
    if (rc != 1)
        h_tail(log2, 40);
    cr_assert_eq(rc, 1,
                 "a foreign key type must stop the worker (exit 1), "
                 "got %d",
                 rc);
    snprintf(needle, sizeof(needle),
             "key %s is a string, crmpulse writes a zset there", key);
    cr_assert(strstr(text, needle), "the stop must name the key: %s", needle);
    cr_assert(strstr(text, "Nothing of this batch was applied"));
    cr_assert_null(strstr(text, "rolled back"), "no retry, no rollback claim");
    cr_assert_null(strstr(text, "redis down"), "Redis is not down");
    free(text);
    text = NULL;
    /* Batches without a write to that key may have committed; none that
     * has one. The oracle below tells. */
    cr_assert_geq(h_offsets_sum(&r, "ft"), committed);
    cr_assert_lt(h_offsets_sum(&r, "ft"), s.total,
                 "the stream must not have been applied past the key");

    /* The operator restores the key; a restart finishes, exactly. */
    h_redis_int(&r, "DEL %s", key);
    h_redis_int(&r, "RENAME %s %s", saved, key);
    h_worker_wait_done(h_worker_spawn(bootstrap, &r, "ft", log3, NULL), log3,
                       180);
    cr_assert_eq(h_offsets_sum(&r, "ft"), s.total);
    h_oracle_check(bootstrap, &r, s.dumps, s.cnt, s.invalid);
    h_redis_stop(&r);
}

/* The same for a key the batch reads before it writes (the packed
 * customer state): the read fails, the worker stops naming the key rather
 * than taking WRONGTYPE for "redis down" and retrying forever. */
Test(foreign_keys, wrong_type_of_a_key_read_back_stops_and_resumes_exactly)
{
    const char *log1 = h_scratch_file("fr1.log"),
               *log2 = h_scratch_file("fr2.log"),
               *log3 = h_scratch_file("fr3.log");
    struct streams s = {0};
    char key[256], saved[300], needle[400];
    struct h_redis r;
    char *text;
    int rc;

    h_redis_start(&r);
    produce(&s, "fr");
    h_worker_wait_done(h_worker_spawn(bootstrap, &r, "fr", log1, NULL), log1,
                       180);
    first_key(&r, "crm:*:state:customers", key, sizeof(key));
    snprintf(saved, sizeof(saved), "%s.saved", key);
    h_redis_int(&r, "RENAME %s %s", key, saved);
    h_redis_int(&r, "SET %s foreign", key);
    produce(&s, "fr");
    rc = h_wait(h_worker_spawn(bootstrap, &r, "fr", log2, NULL), 120);
    text = h_slurp(log2);
    if (rc != 1)
        h_tail(log2, 40);
    cr_assert_eq(rc, 1, "exit 1 expected, got %d", rc);
    snprintf(needle, sizeof(needle), "STOPPING: key %s has a type", key);
    cr_assert(strstr(text, needle), "the stop must name the key: %s", needle);
    cr_assert_null(strstr(text, "redis down"), "Redis is not down");
    cr_assert_null(strstr(text, "rolled back"));
    free(text);
    h_redis_int(&r, "DEL %s", key);
    h_redis_int(&r, "RENAME %s %s", saved, key);
    h_worker_wait_done(h_worker_spawn(bootstrap, &r, "fr", log3, NULL), log3,
                       180);
    cr_assert_eq(h_offsets_sum(&r, "fr"), s.total);
    h_oracle_check(bootstrap, &r, s.dumps, s.cnt, s.invalid);
    h_redis_stop(&r);
}

Test(foreign_keys, error_inside_exec_is_a_loud_stop_never_rolled_back)
{
    const char *log1 = h_scratch_file("fo1.log"),
               *log2 = h_scratch_file("fo2.log");
    struct streams s = {0};
    char key[256], day[16];
    struct h_redis r;
    char *text;
    int rc;

    h_redis_start(&r);
    produce(&s, "fo");
    h_worker_wait_done(h_worker_spawn(bootstrap, &r, "fo", log1, NULL), log1,
                       180);
    /* The day hashes of stream 2's first day, every tenant, whose "events"
     * counter another program pushed to the int64 limit: the type is right,
     * HINCRBY overflows inside EXEC. */
    {
        struct h_strs risk;
        time_t day_s = (time_t)((t0_ms + events_n * 5 + 60000) / 1000);
        struct tm tm;

        gmtime_r(&day_s, &tm);
        strftime(day, sizeof(day), "%Y-%m-%d", &tm);
        h_redis_strs(&r, &risk, "KEYS crm:*:risk");
        cr_assert_gt(risk.cnt, 0);
        for (size_t i = 0; i < risk.cnt; i++) {
            /* crm:{T}:risk -> crm:{T}:d:<day> */
            snprintf(key, sizeof(key), "%.*s:d:%s",
                     (int)(strlen(risk.str[i]) - strlen(":risk")), risk.str[i],
                     day);
            h_redis_int(&r, "HSET %s events 9223372036854775807", key);
        }
        h_strs_free(&risk);
        snprintf(key, sizeof(key), ":d:%s", day);
    }
    produce(&s, "fo");
    rc = h_wait(h_worker_spawn(bootstrap, &r, "fo", log2, NULL), 120);
    text = h_slurp(log2);
    if (rc != 1)
        h_tail(log2, 40);
    cr_assert_eq(rc, 1, "exit 1 expected, got %d", rc);
    cr_assert(strstr(text, "commit partly applied"), "the stop says so");
    cr_assert(strstr(text, key), "the stop names the key %s", key);
    cr_assert(strstr(text, "overflow"), "and Redis's error");
    cr_assert_null(strstr(text, "rolled back"), "never claimed rolled back");
    cr_assert(strstr(text, "stopped: "), "the worker's last line");
    free(text);
    h_redis_stop(&r);
}
