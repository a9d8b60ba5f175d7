/* SPDX-License-Identifier: Apache-2.0 */
/* The checkpoint alone against a real redis-server: committed offsets read
 * back, fences claimed and armed, a takeover by another worker detected
 * (and its EXEC aborted), fences restored after Redis lost them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "fixtures.h"
#include "resp.h"
#include "store.h"

static struct fx_redis redis;

static void start(void)
{
    fx_redis_start(&redis, NULL);
}

static void stop(void)
{
    fx_redis_stop(&redis);
}

TestSuite(checkpoint, .init = start, .fini = stop, .timeout = 60);

static struct cp_store *connect_store(void)
{
    char errstr[256];
    struct cp_store *st = cp_store_new(redis.url, errstr, sizeof(errstr));

    cr_assert_not_null(st, "%s", errstr);
    return st;
}

static void commit(struct cp_store *st, struct cp_checkpoint *cp, int32_t p,
                   int64_t next, struct cp_tx_result *res)
{
    struct cp_cmds cmds;

    cp_cmds_init(&cmds);
    cp_cmd_begin(&cmds, 1);
    cp_cmd_arg(&cmds, "MULTI", 5);
    cp_checkpoint_append_commit(cp, &cmds, p, next);
    cp_cmd_begin(&cmds, 1);
    cp_cmd_arg(&cmds, "EXEC", 4);
    cr_assert_eq(cp_store_send(st, &cmds), CP_OK);
    cr_assert_eq(cp_store_finish_tx(st, res), CP_OK);
    cp_cmds_cleanup(&cmds);
}

static void parts_of(struct cp_partition *parts, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++) {
        parts[i].topic = "crm.events";
        parts[i].partition = (int32_t)i;
        parts[i].offset = 12345; /* must be overwritten */
    }
}

Test(checkpoint, offsets_round_trip_and_missing_ones_say_stored)
{
    struct cp_store *st = connect_store();
    struct cp_checkpoint *cp =
        cp_checkpoint_new(st, "crm", "g-off", "crm.events");
    struct cp_partition parts[3];
    struct cp_tx_result res;
    char out[64];

    parts_of(parts, 3);
    cr_assert_eq(cp_checkpoint_claim(cp, parts, 3), CP_OK);
    for (int32_t p = 0; p < 3; p++)
        cp_checkpoint_own(cp, p, true);
    cr_assert_eq(cp_checkpoint_arm(cp), CP_OK);
    commit(st, cp, 1, 777, &res);
    cr_assert_eq(res.aborted, 0);
    cr_assert_eq(res.errors, 0, "%s", res.error);
    cr_assert_eq(cp_checkpoint_read_offsets(cp, parts, 3), CP_OK);
    cr_assert_eq(parts[0].offset, CP_OFFSET_STORED);
    cr_assert_eq(parts[1].offset, 777);
    cr_assert_eq(parts[2].offset, CP_OFFSET_STORED);
    /* The contract's key and field (schemas/redis-keys.md). */
    fx_redis_cmd(&redis, "HGET crmpulse:offsets:g-off crm.events:1", out,
                 sizeof(out));
    cr_assert(strstr(out, "$3") != NULL, "reply: %s", out);
    cp_checkpoint_destroy(cp);
    cp_store_destroy(st);
}

Test(checkpoint, a_takeover_fences_the_old_owner_and_aborts_its_exec)
{
    struct cp_store *st_a = connect_store(), *st_b = connect_store();
    struct cp_checkpoint *a =
        cp_checkpoint_new(st_a, "crm", "g-fence", "crm.events");
    struct cp_checkpoint *b =
        cp_checkpoint_new(st_b, "crm", "g-fence", "crm.events");
    struct cp_partition parts[2];
    struct cp_tx_result res;

    parts_of(parts, 2);
    cr_assert_eq(cp_checkpoint_claim(a, parts, 2), CP_OK);
    cp_checkpoint_own(a, 0, true);
    cp_checkpoint_own(a, 1, true);
    cr_assert_eq(cp_checkpoint_arm(a), CP_OK);
    cr_assert(cp_checkpoint_armed(a));
    /* Worker b is assigned partition 1 while a still thinks it owns it. */
    cr_assert_eq(cp_checkpoint_claim(b, &parts[1], 1), CP_OK);
    cp_checkpoint_own(b, 1, true);
    commit(st_a, a, 1, 50, &res);
    cr_assert_eq(res.aborted, 1, "the fence moved under a's WATCH");
    /* Re-armed, a finds out and gives the partition up; 0 stays its own. */
    cr_assert_eq(cp_checkpoint_arm(a), CP_OK);
    cr_assert_not(cp_checkpoint_owns(a, 1));
    cr_assert(cp_checkpoint_owns(a, 0));
    cr_assert_eq(cp_checkpoint_arm(b), CP_OK);
    cr_assert(cp_checkpoint_owns(b, 1));
    commit(st_b, b, 1, 60, &res);
    cr_assert_eq(res.aborted, 0);
    cr_assert_eq(cp_checkpoint_read_offsets(a, &parts[1], 1), CP_OK);
    cr_assert_eq(parts[1].offset, 60);
    cp_checkpoint_destroy(a);
    cp_checkpoint_destroy(b);
    cp_store_destroy(st_a);
    cp_store_destroy(st_b);
}

Test(checkpoint, fences_lost_with_redis_data_are_reclaimed_not_stolen)
{
    struct cp_store *st = connect_store();
    struct cp_checkpoint *cp =
        cp_checkpoint_new(st, "crm", "g-lost", "crm.events");
    struct cp_partition parts[2];
    char out[64];

    parts_of(parts, 2);
    cr_assert_eq(cp_checkpoint_claim(cp, parts, 2), CP_OK);
    cp_checkpoint_own(cp, 0, true);
    cp_checkpoint_own(cp, 1, true);
    cr_assert_eq(fx_redis_cmd(&redis, "FLUSHALL", out, sizeof(out)), 0);
    /* Another worker claimed partition 1 after the data loss. */
    cr_assert_eq(fx_redis_cmd(&redis,
                              "SET crmpulse:fence:g-lost:crm.events:1 7", out,
                              sizeof(out)),
                 0);
    cr_assert_eq(cp_checkpoint_reclaim(cp, parts, 2), CP_OK);
    cr_assert_eq(cp_checkpoint_arm(cp), CP_OK);
    cr_assert(cp_checkpoint_owns(cp, 0),
              "our fence put back (bumped): still ours");
    cr_assert_not(cp_checkpoint_owns(cp, 1),
                  "the new owner's fence is left alone");
    cp_checkpoint_destroy(cp);
    cp_store_destroy(st);
}

/* A transaction of ours that Redis runs only after we gave up on its
 * connection (Redis stalled past the I/O timeout, then resumed) must not
 * land after we re-read the offsets: reclaiming bumps the fence it
 * WATCHed, so its EXEC aborts. Here the same connection stands in for the
 * stale one: a write to a WATCHed key by anyone aborts the EXEC. */
Test(checkpoint, reclaim_aborts_a_transaction_that_watched_the_old_fence)
{
    struct cp_store *st = connect_store();
    struct cp_checkpoint *cp =
        cp_checkpoint_new(st, "crm", "g-stale", "crm.events");
    struct cp_partition parts[1];
    struct cp_tx_result res;
    char out[64];

    parts_of(parts, 1);
    cr_assert_eq(cp_checkpoint_claim(cp, parts, 1), CP_OK);
    cp_checkpoint_own(cp, 0, true);
    cr_assert_eq(cp_checkpoint_arm(cp), CP_OK);
    cr_assert_eq(cp_checkpoint_reclaim(cp, parts, 1), CP_OK);
    commit(st, cp, 0, 500, &res);
    cr_assert_eq(res.aborted, 1, "the stale transaction must not land");
    cr_assert_eq(cp_checkpoint_read_offsets(cp, parts, 1), CP_OK);
    cr_assert_eq(parts[0].offset, CP_OFFSET_STORED);
    /* The bumped epoch is ours: armed again, the partition stays ours and
     * the next commit lands. */
    cr_assert_eq(cp_checkpoint_arm(cp), CP_OK);
    cr_assert(cp_checkpoint_owns(cp, 0));
    commit(st, cp, 0, 501, &res);
    cr_assert_eq(res.aborted, 0);
    fx_redis_cmd(&redis, "GET crmpulse:fence:g-stale:crm.events:0", out,
                 sizeof(out));
    cr_assert(strstr(out, "$1") != NULL, "fence: %s", out);
    cp_checkpoint_destroy(cp);
    cp_store_destroy(st);
}

Test(checkpoint, a_partition_above_the_limit_is_refused)
{
    struct cp_store *st = connect_store();
    struct cp_checkpoint *cp =
        cp_checkpoint_new(st, "crm", "g-big", "crm.events");
    struct cp_partition part = {"crm.events", CP_CHECKPOINT_MAX_PARTITIONS, 0};

    cr_assert_eq(cp_checkpoint_claim(cp, &part, 1), CP_ECONFIG);
    cp_checkpoint_own(cp, CP_CHECKPOINT_MAX_PARTITIONS, true);
    cr_assert_not(cp_checkpoint_owns(cp, CP_CHECKPOINT_MAX_PARTITIONS));
    cp_checkpoint_destroy(cp);
    cp_store_destroy(st);
}

/* Values read back are untrusted: an offset or a fence another program
 * wrote is an error naming the key and the field (CP_ECONFIG: the worker
 * stops with the fix), never "redis down" and a retry loop, and never a
 * takeover by another worker. */
Test(checkpoint, corrupt_offsets_are_named_not_taken_for_redis_down)
{
    /* Inline commands: quotes keep the space of " 7". */
    static const char *const bad[] = {
        "abc", "-5", "12x", "\" 7\"", "1e3", "99999999999999999999", "\"\""};
    struct cp_store *st = connect_store();
    struct cp_checkpoint *cp =
        cp_checkpoint_new(st, "crm", "g-bad", "crm.events");
    struct cp_partition parts[2];
    char cmd[128], out[64];

    for (size_t i = 0; i < CP_ARRAY_SIZE(bad); i++) {
        parts_of(parts, 2);
        snprintf(cmd, sizeof(cmd),
                 "HSET crmpulse:offsets:g-bad crm.events:1 %s", bad[i]);
        fx_redis_cmd(&redis, cmd, out, sizeof(out));
        cr_assert_eq(out[0], ':', "%s: %s", cmd, out);
        cr_assert_eq(cp_checkpoint_read_offsets(cp, parts, 2), CP_ECONFIG,
                     "offset \"%s\"", bad[i]);
    }
    fx_redis_cmd(&redis, "HSET crmpulse:offsets:g-bad crm.events:1 9", out,
                 sizeof(out));
    parts_of(parts, 2);
    cr_assert_eq(cp_checkpoint_read_offsets(cp, parts, 2), CP_OK);
    cr_assert_eq(parts[1].offset, 9);
    cp_checkpoint_destroy(cp);
    cp_store_destroy(st);
}

Test(checkpoint, a_corrupt_fence_is_named_not_taken_for_a_takeover)
{
    struct cp_store *st = connect_store();
    struct cp_checkpoint *cp =
        cp_checkpoint_new(st, "crm", "g-badf", "crm.events");
    struct cp_partition parts[1];
    char out[64];

    parts_of(parts, 1);
    /* Claiming: INCR refuses the value. */
    fx_redis_cmd(&redis, "SET crmpulse:fence:g-badf:crm.events:0 abc", out,
                 sizeof(out));
    cr_assert_eq(cp_checkpoint_claim(cp, parts, 1), CP_ECONFIG);
    /* Owned, then overwritten: arming reads it back. */
    fx_redis_cmd(&redis, "DEL crmpulse:fence:g-badf:crm.events:0", out,
                 sizeof(out));
    cr_assert_eq(cp_checkpoint_claim(cp, parts, 1), CP_OK);
    cp_checkpoint_own(cp, 0, true);
    cr_assert_eq(cp_checkpoint_arm(cp), CP_OK);
    fx_redis_cmd(&redis, "SET crmpulse:fence:g-badf:crm.events:0 abc", out,
                 sizeof(out));
    cr_assert_eq(cp_checkpoint_arm(cp), CP_ECONFIG);
    cp_checkpoint_destroy(cp);
    cp_store_destroy(st);
}

/* ---- per-tenant applied offsets: the skip rule ---- */

static cp_rc on_applied_reply(void *opaque, size_t i,
                              const struct cp_reply *reply)
{
    return cp_checkpoint_applied_load_reply(opaque, i, reply);
}

struct batch_event {
    const char *tenant;
    int32_t partition;
    int64_t offset;
};

/* The worker's order: every event's tenant seen, one load, then the rule
 * per event. @returns the events to apply, as bits; *rc_out: the load's. */
static unsigned run_rule(struct cp_store *st, struct cp_checkpoint *cp,
                         const struct batch_event *evs, size_t cnt,
                         cp_rc *rc_out)
{
    struct cp_cmds cmds;
    unsigned mask = 0;
    cp_rc rc = CP_OK;

    cp_cmds_init(&cmds);
    for (size_t i = 0; i < cnt; i++)
        cr_assert_eq(
            cp_checkpoint_tenant_seen(cp, evs[i].tenant, strlen(evs[i].tenant)),
            CP_OK);
    if (cp_checkpoint_applied_load_cmds(cp, &cmds))
        rc = cp_store_roundtrip(st, &cmds, on_applied_reply, cp);
    cp_checkpoint_applied_load_done(cp);
    cp_cmds_cleanup(&cmds);
    *rc_out = rc;
    if (rc)
        return 0;
    for (size_t i = 0; i < cnt; i++) {
        bool apply = false;

        cr_assert_eq(
            cp_checkpoint_applies(cp, evs[i].tenant, strlen(evs[i].tenant),
                                  evs[i].partition, evs[i].offset, &apply),
            CP_OK);
        mask |= (unsigned)apply << i;
    }
    return mask;
}

static void commit_applied(struct cp_store *st, struct cp_checkpoint *cp)
{
    struct cp_cmds cmds;
    struct cp_tx_result res;

    cp_cmds_init(&cmds);
    cp_cmd_begin(&cmds, 1);
    cp_cmd_arg(&cmds, "MULTI", 5);
    cp_checkpoint_append_applied(cp, &cmds);
    cp_cmd_begin(&cmds, 1);
    cp_cmd_arg(&cmds, "EXEC", 4);
    cr_assert_eq(cp_store_send(st, &cmds), CP_OK);
    cr_assert_eq(cp_store_finish_tx(st, &res), CP_OK);
    cr_assert_eq(res.errors, 0, "%s", res.error);
    cp_cmds_cleanup(&cmds);
}

/* Asserts field crm.events:<p> of crm:{T}:applied:<group> is @p want. */
static void expect_applied(const char *tenant, const char *group, int p,
                           const char *want)
{
    char cmd[512], out[64], exp[64];
    size_t n;

    snprintf(cmd, sizeof(cmd),
             "EVAL \"return {ok = redis.call('HGET', KEYS[1], ARGV[1]) or "
             "'nil'}\" 1 crm:{%s}:applied:%s crm.events:%d",
             tenant, group, p);
    fx_redis_cmd(&redis, cmd, out, sizeof(out));
    n = (size_t)snprintf(exp, sizeof(exp), "+%s", want);
    cr_assert(!strncmp(out, exp, n) && (out[n] == '\0' || out[n] == '\r'),
              "%s: %s, not %s", cmd, out, exp);
}

Test(checkpoint, a_batch_committed_for_one_tenant_replays_only_the_other)
{
    struct cp_store *st = connect_store();
    struct cp_checkpoint *cp =
        cp_checkpoint_new(st, "crm", "g-app", "crm.events");
    /* One batch over two partitions; tenants A and B in other slots. */
    static const struct batch_event batch[] = {
        {"A", 0, 10}, {"B", 0, 11}, {"A", 1, 5}, {"B", 1, 6}, {"A", 0, 12}};
    /* A replay from a later low watermark of partition 0 (11). */
    static const struct batch_event tail[] = {
        {"B", 0, 11}, {"A", 1, 5}, {"B", 1, 6}, {"A", 0, 12}, {"A", 0, 13}};
    char out[64];
    cp_rc rc;

    cr_assert_eq(run_rule(st, cp, batch, 5, &rc), 0x1f, "nothing applied yet");
    cr_assert_eq(rc, CP_OK);
    commit_applied(st, cp);
    /* The contract's key and fields: the next offset after the tenant's
     * last event of each partition. */
    expect_applied("A", "g-app", 0, "13");
    expect_applied("A", "g-app", 1, "6");
    expect_applied("B", "g-app", 0, "12");
    expect_applied("B", "g-app", 1, "7");

    /* B's slot failed: its applied offsets (like all it wrote) are not
     * there. The group's offsets were not moved: the batch is read again. */
    fx_redis_cmd(&redis, "DEL crm:{B}:applied:g-app", out, sizeof(out));
    cp_checkpoint_applied_forget(cp);
    cr_assert_eq(run_rule(st, cp, batch, 5, &rc), 0x0a,
                 "only B's events apply again");
    cr_assert_eq(rc, CP_OK);
    commit_applied(st, cp);

    /* Replayed again (both committed now): nothing applies twice, and an
     * event past the batch applies. */
    cp_checkpoint_applied_forget(cp);
    cr_assert_eq(run_rule(st, cp, tail, 5, &rc), 0x10);
    cr_assert_eq(rc, CP_OK);
    commit_applied(st, cp);
    expect_applied("A", "g-app", 0, "14");
    expect_applied("B", "g-app", 0, "12");

    /* Without a load the rule refuses to guess. */
    {
        bool apply = true;

        cp_checkpoint_applied_forget(cp);
        cr_assert_eq(cp_checkpoint_applies(cp, "A", 1, 0, 99, &apply),
                     CP_EREDIS);
        cr_assert(!apply);
    }
    cp_checkpoint_destroy(cp);
    cp_store_destroy(st);
}

Test(checkpoint, an_applied_offset_that_is_not_one_stops_naming_it)
{
    struct cp_store *st = connect_store();
    struct cp_checkpoint *cp =
        cp_checkpoint_new(st, "crm", "g-appbad", "crm.events");
    static const struct batch_event ev[] = {{"C", 2, 1}};
    char out[64];
    cp_rc rc;

    fx_redis_cmd(&redis, "HSET crm:{C}:applied:g-appbad crm.events:2 -5", out,
                 sizeof(out));
    /* Another topic's field is not ours: ignored. */
    fx_redis_cmd(&redis, "HSET crm:{C}:applied:g-appbad other:2 x", out,
                 sizeof(out));
    run_rule(st, cp, ev, 1, &rc);
    cr_assert_eq(rc, CP_ECONFIG);
    fx_redis_cmd(&redis, "HDEL crm:{C}:applied:g-appbad crm.events:2", out,
                 sizeof(out));
    cp_checkpoint_applied_forget(cp);
    cr_assert_eq(run_rule(st, cp, ev, 1, &rc), 1);
    cr_assert_eq(rc, CP_OK);
    cp_checkpoint_destroy(cp);
    cp_store_destroy(st);
}

Test(checkpoint, a_partition_moved_back_forgets_the_applied_offsets_above)
{
    struct cp_store *st = connect_store();
    struct cp_checkpoint *cp =
        cp_checkpoint_new(st, "crm", "g-back*", "crm.events");
    static const struct batch_event ev[] = {{"A", 0, 40}, {"A", 1, 40},
                                            {"B", 0, 3},  {"C", 0, 7},
                                            {"A", 0, 41}, {"B", 0, 4}};
    char out[64];
    cp_rc rc;

    cr_assert_eq(run_rule(st, cp, ev, 6, &rc), 0x3f);
    commit_applied(st, cp);
    /* Another group's offsets are not touched (the '*' is no glob). */
    fx_redis_cmd(&redis, "HSET crm:{A}:applied:g-backX crm.events:0 99", out,
                 sizeof(out));
    cr_assert_eq(cp_checkpoint_reset_applied(cp, 0, 5), CP_OK);
    expect_applied("A", "g-back*", 0, "nil");
    expect_applied("A", "g-back*", 1, "41");
    expect_applied("B", "g-back*", 0, "5");
    expect_applied("C", "g-back*", 0, "nil");
    expect_applied("A", "g-backX", 0, "99");
    /* The new log's events apply from the new offset on. */
    {
        static const struct batch_event again[] = {
            {"A", 0, 5}, {"B", 0, 4}, {"B", 0, 5}, {"A", 1, 40}};

        cr_assert_eq(run_rule(st, cp, again, 4, &rc), 0x05);
        cr_assert_eq(rc, CP_OK);
    }
    cp_checkpoint_destroy(cp);
    cp_store_destroy(st);
}
