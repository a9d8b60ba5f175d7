/* SPDX-License-Identifier: Apache-2.0 */
/* The live feed (live.h): day-hash deltas staged per batch, published per
 * tenant once committed, at most once a second, and forgotten when the
 * batch fails; many tenant-days at once, as a backfill has them. */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "counters.h"
#include "live.h"

#define T0 1795342530000LL /* 2026-11-22T10:15:30Z */

static struct cp_live *live;
static struct cp_counters *ctr;
static struct cp_cmds cmds;

static void setup(void)
{
    live = cp_live_new("crm");
    ctr = cp_counters_new();
    cr_assert(live && ctr);
    cp_cmds_init(&cmds);
}

static void teardown(void)
{
    cp_cmds_cleanup(&cmds);
    cp_counters_destroy(ctr);
    cp_live_destroy(live);
}

TestSuite(live, .init = setup, .fini = teardown, .timeout = 10);

/* Adds @p n events to tenant @p t's day hash of day @p day (1..28). */
static void add_events(const char *t, int day, int64_t n)
{
    char key[128];
    int len = snprintf(key, sizeof(key), "crm:{%s}:d:2026-11-%02d", t, day);
    struct cp_hash_delta *hd =
        cp_counters_hash(ctr, key, (size_t)len, CP_HASH_COUNTERS);

    cr_assert_not_null(hd);
    cp_hash_add(hd, CP_F_EVENTS, n);
}

/* One batch: its counters staged, then committed or discarded. */
static void batch(int commit)
{
    cr_assert_eq(cp_live_stage(live, ctr), CP_OK);
    if (commit)
        cp_live_commit(live);
    else
        cp_live_discard(live);
    cp_counters_reset(ctr);
}

static size_t publish(int64_t now_ms)
{
    cp_cmds_reset(&cmds);
    return cp_live_publish_cmds(live, now_ms, &cmds);
}

/* Whether the published commands carry @p text (a JSON fragment). */
static int published(const char *text)
{
    return cmds.buf.len &&
           memmem(cmds.buf.data, cmds.buf.len, text, strlen(text)) != NULL;
}

static void expect_day(const char *t, int day, long long events)
{
    char want[160];

    snprintf(want, sizeof(want),
             "{\"tenant\":\"%s\",\"day\":\"2026-11-%02d\",\"at\":%lld,"
             "\"deltas\":{\"events\":%lld}}",
             t, day, (long long)T0, events);
    cr_assert(published(want), "not published: %s", want);
}

Test(live, one_message_per_tenant_day_with_its_own_deltas)
{
    char t[16];

    /* 100 tenants x 21 days, each with its own count, in two batches. */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 100; i++)
            for (int d = 1; d <= 21; d++) {
                snprintf(t, sizeof(t), "t%d", i);
                add_events(t, d, i * 100 + d);
            }
        batch(1);
    }
    cr_assert_eq(publish(T0), 100 * 21);
    for (int i = 0; i < 100; i += 33)
        for (int d = 1; d <= 21; d += 5) {
            snprintf(t, sizeof(t), "t%d", i);
            expect_day(t, d, 2LL * (i * 100 + d));
        }
    /* Everything went out: nothing is left to publish. */
    cr_assert_eq(publish(T0 + 5000), 0);
}

Test(live, a_failed_batch_publishes_nothing)
{
    add_events("acme", 22, 5);
    batch(0);
    cr_assert_eq(publish(T0), 0);
    add_events("acme", 22, 7);
    batch(1);
    cr_assert_eq(publish(T0), 1);
    expect_day("acme", 22, 7);
}

Test(live, at_most_once_a_second_per_tenant)
{
    add_events("acme", 22, 1);
    batch(1);
    cr_assert_eq(publish(T0 - 1000), 1);
    add_events("acme", 22, 2);
    batch(1);
    add_events("acme", 22, 3);
    batch(1);
    cr_assert_eq(publish(T0 - 500), 0, "within the second of the last");
    cr_assert_eq(publish(T0), 1);
    expect_day("acme", 22, 5);
}

Test(live, each_tenant_has_its_own_clock)
{
    add_events("a", 1, 1);
    add_events("a", 2, 2);
    batch(1);
    cr_assert_eq(publish(T0 - 500), 2); /* a's clock starts */
    add_events("a", 1, 4);
    add_events("b", 1, 8);
    add_events("a", 3, 16);
    batch(1);
    cr_assert_eq(publish(T0), 1, "only b: a sent half a second ago");
    expect_day("b", 1, 8);
    cr_assert_eq(publish(T0 + 499), 0);
    cr_assert_eq(publish(T0 + 500), 2);
}

/* Published slots are dropped and the rest move: staging afterwards must
 * still find each tenant-day's own slot. */
Test(live, deltas_land_on_their_tenant_day_after_others_were_dropped)
{
    add_events("a", 1, 1);
    add_events("b", 1, 10);
    add_events("c", 2, 100);
    batch(1);
    cr_assert_eq(publish(T0 - 2000), 3); /* all out; the clocks start */
    add_events("a", 1, 2);
    add_events("c", 2, 200);
    batch(1);
    cr_assert_eq(publish(T0 - 1500), 0); /* a and c wait */
    add_events("b", 1, 20);              /* a new slot behind the others */
    batch(1);
    add_events("c", 2, 300);
    add_events("a", 1, 3);
    batch(1);
    cr_assert_eq(publish(T0), 3);
    expect_day("a", 1, 5);
    expect_day("b", 1, 20);
    expect_day("c", 2, 500);
}
