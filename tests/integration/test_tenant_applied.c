/* SPDX-License-Identifier: Apache-2.0 */
/* The per-tenant applied offsets (P:{T}:applied:<group>, schemas/
 * redis-keys.md) under the real worker and a real redis-server: a batch
 * whose commit reached some tenants and not others, and whose group offsets
 * (the low watermark) were not written, is read again from the low
 * watermark without counting anything twice.
 *
 * The state is made by hand after a complete run, as a commit split by
 * tenant slot leaves it when one slot's transaction fails: every key of one
 * tenant B (and its timers) is gone, as if none of its transactions had
 * committed, while the other tenants keep everything; the group's offsets
 * are back at 0 and its watermarks gone, as if the low watermark had never
 * moved.
 * The worker then reads the whole stream again: the other tenants' events
 * are passed over by their applied offsets, B's apply, and the oracle is
 * exact (each alert id with one content).
 *
 * Environment: CP_IT_EVENTS (default 6000) events of the stream. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "harness.h"
#include "kafka.h"
#include "stream.h"

#define PARTITIONS 4
#define GROUP      "partial"

static struct cp_embedded *emb;
static const char *bootstrap;

static void start_kafka(void)
{
    emb = h_kafka_start(PARTITIONS, &bootstrap);
}

static void stop_kafka(void)
{
    h_kafka_stop(&emb);
}

TestSuite(applied, .init = start_kafka, .fini = stop_kafka, .timeout = 600);

/* Deletes every key of tenant ARGV[1] (prefix ARGV[2]) and its members of
 * the group's timer zsets (ARGV[3] = "crmpulse:timers:<group>:*"), sets
 * every offset of the group (KEYS[1]) back to 0 (the low watermark before
 * the first batch; no offset at all would resume from Kafka's own) and
 * deletes its watermarks (KEYS[2]). Returns the keys of the tenant
 * deleted. */
static const char lose_script[] =
    "local n = 0 "
    "for _, k in ipairs(redis.call('KEYS', ARGV[2] .. ':{' .. ARGV[1] .. "
    "'}:*')) do redis.call('DEL', k) n = n + 1 end "
    "for _, z in ipairs(redis.call('KEYS', ARGV[3])) do "
    "for _, m in ipairs(redis.call('ZRANGE', z, 0, -1)) do "
    "if string.find(m, '\\t' .. ARGV[1] .. '\\t', 1, true) then "
    "redis.call('ZREM', z, m) end end end "
    "for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do "
    "redis.call('HSET', KEYS[1], f, 0) end "
    "redis.call('DEL', KEYS[2]) "
    "return n";

/* "stopped: A events applied, D to DLQ in B batches" of @p log: A. */
static int64_t applied_in_log(const char *log)
{
    char *text = h_slurp(log), *line = strstr(text, "stopped: ");
    long long a = -1;

    cr_assert_not_null(line, "no stopped: line in %s", log);
    cr_assert_eq(sscanf(line, "stopped: %lld events applied", &a), 1);
    free(text);
    return a;
}

Test(applied, replay_after_a_commit_that_reached_some_tenants_is_exact)
{
    const char *dump = h_scratch_file("events.dump");
    const char *log1 = h_scratch_file("worker1.log");
    const char *log2 = h_scratch_file("worker2.log");
    long events_n = h_env_long("CP_IT_EVENTS", 6000);
    struct h_redis r;
    struct h_strs applied;
    char tenant[128], key[256];
    int64_t total, invalid = 0, lost, b_events, first, second;

    h_redis_start(&r);
    h_produce(bootstrap, dump, "42", events_n, cp_now_ms() - 3600 * 1000, "5");
    total = h_dump_count(dump, &invalid);

    h_worker_wait_done(h_worker_spawn(bootstrap, &r, GROUP, log1, NULL), log1,
                       300);
    cr_assert_eq(h_offsets_sum(&r, GROUP), total);
    first = applied_in_log(log1);
    cr_assert_eq(first, total - invalid);

    /* Every tenant with events has its applied offsets, one field per
     * partition it had events in, none beyond the group's offsets. */
    h_redis_strs(&r, &applied, "KEYS crm:{*}:applied:" GROUP);
    cr_assert_geq(applied.cnt, 2, "the stream must have several tenants");
    {
        const char *open = strchr(applied.str[0], '{');
        const char *close = strchr(applied.str[0], '}');

        cr_assert(open && close && close > open);
        snprintf(tenant, sizeof(tenant), "%.*s", (int)(close - open - 1),
                 open + 1);
    }
    for (size_t i = 0; i < applied.cnt; i++) {
        struct h_strs fields;

        h_redis_strs(&r, &fields, "HGETALL %s", applied.str[i]);
        cr_assert_gt(fields.cnt, 0);
        for (size_t f = 0; f + 1 < fields.cnt; f += 2) {
            char committed[32];

            cr_assert_gt(h_redis_str(&r, committed, sizeof(committed),
                                     "HGET crmpulse:offsets:" GROUP " %s",
                                     fields.str[f]),
                         0, "%s: field %s is no partition of the group",
                         applied.str[i], fields.str[f]);
            cr_assert_leq(atoll(fields.str[f + 1]), atoll(committed), "%s %s",
                          applied.str[i], fields.str[f]);
        }
        h_strs_free(&fields);
    }
    h_strs_free(&applied);

    /* Tenant B's transactions failed, the low watermark was never written. */
    snprintf(key, sizeof(key), "crmpulse:timers:%s:*", GROUP);
    lost = h_redis_int(&r,
                       "EVAL %s 2 crmpulse:offsets:" GROUP
                       " crmpulse:watermarks:" GROUP " %s crm %s",
                       lose_script, tenant, key);
    cr_assert_gt(lost, 0, "tenant %s had no keys", tenant);

    /* Read again from the start: only B's events apply. */
    h_worker_wait_done(h_worker_spawn(bootstrap, &r, GROUP, log2, NULL), log2,
                       300);
    cr_assert_eq(h_offsets_sum(&r, GROUP), total);
    second = applied_in_log(log2);
    b_events = second;
    cr_assert_gt(b_events, 0, "tenant %s's events were not applied again",
                 tenant);
    cr_assert_lt(b_events, first,
                 "the other tenants' events were applied again (%lld of "
                 "%lld)",
                 (long long)b_events, (long long)first);
    {
        const char *dumps[] = {dump};

        h_oracle_check(bootstrap, &r, dumps, 1, invalid);
    }
    h_redis_stop(&r);
}
