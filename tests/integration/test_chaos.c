/* SPDX-License-Identifier: Apache-2.0 */
/* Several workers in one consumer group over one long stream while they
 * are killed: three real crmpulse workers share a test-owned embedded
 * Kafka (8 partitions) and one real redis-server while crmpulse-gen feeds
 * the stream at a fixed rate. At random moments (a seeded generator; the
 * seed is printed so a failure can be replayed) a random worker is
 * SIGKILLed and restarted, a 4th worker joins, and later one leaves with
 * SIGTERM. Each kill must land mid-stream (asserted: the committed offsets
 * were still short of the stream). At the end every worker exits on idle
 * and: the offsets cover every message, Redis equals the independent
 * oracle (tests/integration/oracle.py), and an alert seen more than once
 * on crm.alerts always carries the same alert_id (its natural identity:
 * tenant, customer, kind, level, trigger, event time; see
 * schemas/churn-model.md section 7). Printed: kills and restarts, alert
 * duplicates on the topic, and per kill the seconds until every partition
 * committed again.
 *
 * Larger runs by hand: CP_CHAOS_EVENTS (valid events fed live, default
 * 120000), CP_CHAOS_RATE (events/s, default 2000), CP_CHAOS_KILLS (default
 * 4), CP_CHAOS_SEED (default 20261129). Actions come 2.5 to 6.5 s apart,
 * so the feed (EVENTS / RATE seconds) must last about 6.5 s per kill plus
 * 25 s, e.g. CP_CHAOS_EVENTS=240000 CP_CHAOS_KILLS=12. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alert.h"
#include "arena.h"
#include "codec.h"
#include "harness.h"
#include "kafka.h"
#include "stream.h"

#define PARTITIONS  8
#define SLOTS       16 /* worker processes over a run, one log each */
#define GROUP       "chaos"
#define WARM_EVENTS 5000 /* produced before the workers start */

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

TestSuite(chaos, .init = start_kafka, .fini = stop_kafka, .timeout = 900);

/* ---- a seeded generator, so a run can be replayed ---- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int rng_below(int n)
{
    return (int)(rng_next() % (uint64_t)n);
}

/* ---- workers ---- */

struct member {
    pid_t pid; /* 0: not running */
    char log[512];
};

static struct member members[SLOTS];
static int member_cnt;
static const struct h_redis *redis;

static int spawn_member(void)
{
    struct member *m;
    char name[32];

    cr_assert_lt(member_cnt, SLOTS, "more worker starts than log slots");
    m = &members[member_cnt];
    snprintf(name, sizeof(name), "worker-%d.log", member_cnt);
    snprintf(m->log, sizeof(m->log), "%s", h_scratch_file(name));
    m->pid = h_worker_spawn(bootstrap, redis, GROUP, m->log, NULL);
    return member_cnt++;
}

/* A random running worker. */
static int pick_member(void)
{
    int running[SLOTS], n = 0;

    for (int i = 0; i < member_cnt; i++)
        if (members[i].pid)
            running[n++] = i;
    cr_assert_gt(n, 0);
    return running[rng_below(n)];
}

/* No worker may leave on its own while the stream still flows: an idle
 * exit then means it took waiting for an assignment for a quiet input. */
static void assert_none_left_early(double at_s)
{
    for (int i = 0; i < member_cnt; i++) {
        int st;

        if (!members[i].pid ||
            waitpid(members[i].pid, &st, WNOHANG) != members[i].pid)
            continue;
        h_tail(members[i].log, 20);
        cr_assert_fail("%.1f s: worker %d exited (status 0x%x) mid-stream",
                       at_s, i, (unsigned)st);
    }
}

static int running_cnt(void)
{
    int n = 0;

    for (int i = 0; i < member_cnt; i++)
        n += members[i].pid != 0;
    return n;
}

/* ---- committed offsets per partition ---- */

static void read_offsets(int64_t out[PARTITIONS])
{
    struct h_strs kv;

    memset(out, 0, PARTITIONS * sizeof(out[0]));
    h_redis_strs(redis, &kv, "HGETALL crmpulse:offsets:%s", GROUP);
    for (size_t i = 0; i + 1 < kv.cnt; i += 2) {
        const char *colon = strrchr(kv.str[i], ':');
        int p = colon ? atoi(colon + 1) : -1;

        if (p >= 0 && p < PARTITIONS)
            out[p] = strtoll(kv.str[i + 1], NULL, 10);
    }
    h_strs_free(&kv);
}

static int64_t offsets_total(void)
{
    return h_offsets_sum(redis, GROUP);
}

/* A kill and how long the group took to commit on every partition again. */
struct kill_rec {
    struct timespec at;
    int64_t offsets[PARTITIONS]; /* committed when the worker died */
    double recovered_s;          /* < 0 until every partition moved on */
};

static void check_recovered(struct kill_rec *kills, int kill_cnt)
{
    int64_t now[PARTITIONS];
    int read = 0;

    for (int k = 0; k < kill_cnt; k++) {
        int all = 1;

        if (kills[k].recovered_s >= 0)
            continue;
        if (!read) {
            read_offsets(now);
            read = 1;
        }
        for (int p = 0; p < PARTITIONS; p++)
            all &= now[p] > kills[k].offsets[p];
        if (all)
            kills[k].recovered_s = h_elapsed_s(&kills[k].at);
    }
}

/* ---- the live feed ---- */

/* crmpulse-gen at @p rate events/s: a stream that outlasts the chaos. */
static pid_t spawn_feed(const char *dump, long n, long rate, int64_t start_ms)
{
    static char n_s[32], rate_s[32], start_s[32];
    static char log[512];
    const char *argv[] = {h_bin("crmpulse-gen"),
                          "-b",
                          bootstrap,
                          "-n",
                          n_s,
                          "-r",
                          rate_s,
                          "-c",
                          "5000",
                          "--tenants",
                          "3",
                          "-s",
                          "43",
                          "--invalid",
                          "5",
                          "--start-ms",
                          start_s,
                          "--step-ms",
                          "5",
                          "-o",
                          dump,
                          "-q",
                          NULL};

    snprintf(n_s, sizeof(n_s), "%ld", n);
    snprintf(rate_s, sizeof(rate_s), "%ld", rate);
    snprintf(start_s, sizeof(start_s), "%lld", (long long)start_ms);
    snprintf(log, sizeof(log), "%s", h_scratch_file("feed.log"));
    return h_spawn(argv, log);
}

/* ---- alert identity ---- */

struct alert_rec {
    char *identity; /* owned: tenant, customer, kind, level, trigger, time */
    char *id;       /* owned: alert_id */
};

static int by_identity(const void *a, const void *b)
{
    const struct alert_rec *x = a, *y = b;
    int c = strcmp(x->identity, y->identity);

    return c ? c : strcmp(x->id, y->id);
}

static int by_id(const void *a, const void *b)
{
    const struct alert_rec *x = a, *y = b;
    int c = strcmp(x->id, y->id);

    return c ? c : strcmp(x->identity, y->identity);
}

/* Reads crm.alerts whole; asserts each natural identity maps to exactly
 * one alert_id and back; returns the records, *distinct the ids. */
static int64_t check_alert_ids(int64_t *distinct)
{
    struct cp_consumer_callbacks cbs = {NULL, NULL, NULL};
    char errstr[512], reason[256], group[64];
    struct cp_codec *codec =
        cp_codec_new(CP_FRAMING_CONFLUENT, errstr, sizeof(errstr));
    struct cp_alert_reason reasons[8];
    struct cp_msg msgs[1000];
    struct alert_rec *recs = NULL;
    size_t cnt = 0, cap = 0;
    struct cp_arena arena;
    struct cp_consumer *cons;
    int quiet_ms = 0;

    cr_assert_not_null(codec, "%s", errstr);
    snprintf(group, sizeof(group), "alert-ids-%d", (int)getpid());
    cons = cp_consumer_new(bootstrap, group, "crm.alerts", NULL, 0, &cbs,
                           errstr, sizeof(errstr));
    cr_assert_not_null(cons, "%s", errstr);
    cp_arena_init(&arena, 0);
    while (quiet_ms < (cnt ? 3000 : 15000)) {
        size_t n = cp_consumer_poll(cons, msgs, 1000, 100);

        quiet_ms = n ? 0 : quiet_ms + 100;
        for (size_t i = 0; i < n; i++) {
            struct cp_alert a;

            cr_assert_eq(cp_codec_decode_alert(
                             codec, msgs[i].value, msgs[i].value_len, &arena,
                             &a, reasons, 8, reason, sizeof(reason)),
                         CP_OK, "undecodable alert: %s", reason);
            if (cnt == cap) {
                cap = cap ? cap * 2 : 1024;
                recs = realloc(recs, cap * sizeof(*recs));
                cr_assert_not_null(recs);
            }
            cr_assert_neq(asprintf(&recs[cnt].identity, "%s|%s|%s|%s|%s|%lld",
                                   a.tenant_id, a.customer_id,
                                   cp_alert_kind_symbol(a.kind),
                                   cp_alert_level_symbol(a.level),
                                   a.triggered_by ? a.triggered_by : "(timer)",
                                   (long long)a.event_time),
                          -1);
            recs[cnt].id = strdup(a.alert_id);
            cr_assert_not_null(recs[cnt].id);
            cnt++;
        }
        cp_arena_reset(&arena);
    }
    cp_consumer_destroy(cons);
    cp_arena_cleanup(&arena);
    cp_codec_destroy(codec);
    cr_assert_gt(cnt, 0, "the stream raised no alert: nothing checked");
    qsort(recs, cnt, sizeof(*recs), by_identity);
    for (size_t i = 1; i < cnt; i++)
        if (!strcmp(recs[i].identity, recs[i - 1].identity))
            cr_assert_str_eq(recs[i].id, recs[i - 1].id,
                             "alert %s re-emitted with another alert_id",
                             recs[i].identity);
    qsort(recs, cnt, sizeof(*recs), by_id);
    *distinct = cnt ? 1 : 0;
    for (size_t i = 1; i < cnt; i++) {
        if (strcmp(recs[i].id, recs[i - 1].id)) {
            (*distinct)++;
            continue;
        }
        cr_assert_str_eq(recs[i].identity, recs[i - 1].identity,
                         "alert_id %s names two alerts", recs[i].id);
    }
    for (size_t i = 0; i < cnt; i++) {
        free(recs[i].identity);
        free(recs[i].id);
    }
    free(recs);
    return (int64_t)cnt;
}

/* ---- the run ---- */

enum action { KILL, ADD, TERM };

Test(chaos, kills_restarts_joins_and_leaves_stay_exact)
{
    long events = h_env_long("CP_CHAOS_EVENTS", 120000);
    long rate = h_env_long("CP_CHAOS_RATE", 2000);
    long kill_n = h_env_long("CP_CHAOS_KILLS", 4);
    long seed = h_env_long("CP_CHAOS_SEED", 20261129);
    int64_t start_ms = cp_now_ms() - 3600 * 1000;
    enum action plan[64];
    int plan_n = 0, kill_cnt = 0, restarts = 0;
    struct kill_rec kills[64];
    char dumps[2][512];
    const char *dump_ptrs[2] = {dumps[0], dumps[1]};
    int64_t total = 0, invalid = 0, alert_records, alert_ids;
    struct h_redis r;
    pid_t feed, leaving = 0;
    struct timespec t0, leave_at;
    double leave_s = -1;

    cr_assert_lt(kill_n, 60);
    rng_state = (uint64_t)seed;
    fprintf(stderr,
            "chaos: seed %ld (CP_CHAOS_SEED to replay), %ld live events at "
            "%ld/s, %ld kills\n",
            seed, events, rate, kill_n);
    /* Kill, join, kill, kill, leave, then the remaining kills. */
    for (long k = 0; k < kill_n; k++) {
        plan[plan_n++] = KILL;
        if (k == 0)
            plan[plan_n++] = ADD;
        if (k == 2)
            plan[plan_n++] = TERM;
    }

    h_redis_start(&r);
    redis = &r;
    snprintf(dumps[0], sizeof(dumps[0]), "%s", h_scratch_file("warm.dump"));
    snprintf(dumps[1], sizeof(dumps[1]), "%s", h_scratch_file("live.dump"));
    h_produce(bootstrap, dumps[0], "42", WARM_EVENTS, start_ms, "5");
    feed =
        spawn_feed(dumps[1], events, rate, start_ms + WARM_EVENTS * 5 + 60000);
    for (int i = 0; i < 3; i++)
        spawn_member();
    cr_assert_gt(h_wait_for_commits(&r, GROUP, 1), 0, "nothing committed");
    clock_gettime(CLOCK_MONOTONIC, &t0);

    for (int a = 0; a < plan_n; a++) {
        /* A random moment 2.5 to 6.5 s after the previous action. */
        double due = h_elapsed_s(&t0) + 2.5 + (double)rng_below(4000) / 1000;

        while (h_elapsed_s(&t0) < due) {
            int st;

            check_recovered(kills, kill_cnt);
            assert_none_left_early(h_elapsed_s(&t0));
            if (leaving && waitpid(leaving, &st, WNOHANG) == leaving) {
                leave_s = h_elapsed_s(&leave_at);
                cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                          "SIGTERM: the worker did not exit 0");
                leaving = 0;
            }
            h_sleep_ms(100);
        }
        if (plan[a] == KILL) {
            int m = pick_member();
            struct kill_rec *k = &kills[kill_cnt];
            int64_t done = offsets_total();

            /* Mid-stream: the feed has not even produced everything. */
            cr_assert_lt(done, WARM_EVENTS + events,
                         "kill %d came after the stream", kill_cnt + 1);
            read_offsets(k->offsets);
            clock_gettime(CLOCK_MONOTONIC, &k->at);
            k->recovered_s = -1;
            kill(members[m].pid, SIGKILL);
            cr_assert_eq(waitpid(members[m].pid, NULL, 0), members[m].pid);
            members[m].pid = 0;
            fprintf(stderr,
                    "chaos: %.1f s: SIGKILL worker %d at %lld committed, "
                    "restarting it\n",
                    h_elapsed_s(&t0), m, (long long)done);
            kill_cnt++;
            spawn_member();
            restarts++;
        } else if (plan[a] == ADD) {
            fprintf(stderr, "chaos: %.1f s: worker %d joins\n",
                    h_elapsed_s(&t0), spawn_member());
        } else {
            int m = pick_member();

            cr_assert_lt(offsets_total(), WARM_EVENTS + events,
                         "leave after the stream");
            fprintf(stderr, "chaos: %.1f s: SIGTERM worker %d\n",
                    h_elapsed_s(&t0), m);
            clock_gettime(CLOCK_MONOTONIC, &leave_at);
            kill(members[m].pid, SIGTERM);
            leaving = members[m].pid;
            members[m].pid = 0;
        }
    }
    if (leaving) {
        cr_assert_eq(h_wait(leaving, 60), 0,
                     "SIGTERM: the worker did not "
                     "exit 0");
        leave_s = h_elapsed_s(&leave_at);
    }
    /* The feed still runs: keep watching for early exits until it ends. */
    for (;;) {
        int st;
        pid_t got = waitpid(feed, &st, WNOHANG);

        if (got == feed) {
            cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "crmpulse-gen failed");
            break;
        }
        check_recovered(kills, kill_cnt);
        assert_none_left_early(h_elapsed_s(&t0));
        cr_assert_lt(h_elapsed_s(&t0), 600.0, "crmpulse-gen still running");
        h_sleep_ms(100);
    }
    while (running_cnt()) {
        for (int i = 0; i < member_cnt; i++) {
            int st;

            check_recovered(kills, kill_cnt);
            if (members[i].pid &&
                waitpid(members[i].pid, &st, WNOHANG) == members[i].pid) {
                if (!WIFEXITED(st) || WEXITSTATUS(st))
                    h_tail(members[i].log, 40);
                cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                          "worker %d did not exit 0 on idle", i);
                members[i].pid = 0;
            }
        }
        cr_assert_lt(h_elapsed_s(&t0), 600.0, "workers still running");
        h_sleep_ms(100);
    }

    for (int i = 0; i < 2; i++)
        total += h_dump_count(dumps[i], &invalid);
    cr_assert_eq(offsets_total(), total, "offsets must cover every message");
    alert_records = check_alert_ids(&alert_ids);
    fprintf(stderr,
            "chaos: %d kills, %d restarts, 1 join, 1 leave (exit 0 %.1f s "
            "after SIGTERM); %lld messages (%lld invalid); crm.alerts: %lld "
            "records, %lld alert ids, %lld duplicates\n",
            kill_cnt, restarts, leave_s, (long long)total, (long long)invalid,
            (long long)alert_records, (long long)alert_ids,
            (long long)(alert_records - alert_ids));
    for (int k = 0; k < kill_cnt; k++)
        fprintf(stderr,
                "chaos: kill %d: every partition committing again "
                "after %.1f s%s\n",
                k + 1, kills[k].recovered_s,
                kills[k].recovered_s < 0 ? " (not seen)" : "");
    h_oracle_check(bootstrap, &r, dump_ptrs, 2, invalid);
    h_redis_stop(&r);
}
