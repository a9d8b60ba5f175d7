/* SPDX-License-Identifier: Apache-2.0 */
/* Logs an operator can use: the real crmpulse worker, with log.format=json,
 * over a generated stream with a Redis outage of a few seconds in the
 * middle (a second stream is produced while Redis is down). Every line of
 * its stderr must parse as JSON, each state change (ready / not ready,
 * partition assigned / revoked, redis down / back, backoff) must be logged
 * exactly once per change, the progress line must report the consumer lag,
 * and Redis must still match the independent oracle
 * (tests/integration/oracle.py).
 *
 * CP_IT_EVENTS sets the events per stream (default 4000, CI-sized); e.g.
 * CP_IT_EVENTS=200000 for a longer run. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "kafka.h"
#include "stream.h"

#define PARTITIONS 4
#define OUTAGE_MS  4000

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

TestSuite(logs, .init = start_kafka, .fini = stop_kafka, .timeout = 600);

/* ---- reading the worker's JSON lines ---- */

struct lines {
    char **line; /* owned */
    size_t cnt;
};

static void read_lines(const char *path, struct lines *out)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    cr_assert_not_null(f, "open %s", path);
    memset(out, 0, sizeof(*out));
    while ((n = getline(&line, &cap, f)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            line[n - 1] = '\0';
        out->line = realloc(out->line, (out->cnt + 1) * sizeof(*out->line));
        cr_assert_not_null(out->line);
        out->line[out->cnt] = strdup(line);
        cr_assert_not_null(out->line[out->cnt]);
        out->cnt++;
    }
    free(line);
    fclose(f);
}

static void free_lines(struct lines *ls)
{
    for (size_t i = 0; i < ls->cnt; i++)
        free(ls->line[i]);
    free(ls->line);
}

/* Our logger writes the fields in a fixed form: "key":"value" or
 * "key":number. @returns whether @p line has the event @p event. */
static int is_event(const char *line, const char *event)
{
    char want[96];

    snprintf(want, sizeof(want), "\"event\":\"%s\"", event);
    return strstr(line, want) != NULL;
}

static long long num_field(const char *line, const char *key)
{
    char want[96];
    const char *p;

    snprintf(want, sizeof(want), "\"%s\":", key);
    p = strstr(line, want);
    cr_assert_not_null(p, "no field %s in %s", key, line);
    return strtoll(p + strlen(want), NULL, 10);
}

static size_t count_event(const struct lines *ls, const char *event)
{
    size_t n = 0;

    for (size_t i = 0; i < ls->cnt; i++)
        n += is_event(ls->line[i], event);
    return n;
}

/* Index of the first line with @p event at or after @p from; cnt if none. */
static size_t find_event(const struct lines *ls, const char *event, size_t from)
{
    for (size_t i = from; i < ls->cnt; i++)
        if (is_event(ls->line[i], event))
            return i;
    return ls->cnt;
}

/* Each partition's @p event exactly @p times. */
static void assert_per_partition(const struct lines *ls, const char *event,
                                 int times)
{
    int seen[PARTITIONS] = {0};

    for (size_t i = 0; i < ls->cnt; i++) {
        long long p;

        if (!is_event(ls->line[i], event))
            continue;
        p = num_field(ls->line[i], "partition");
        cr_assert(p >= 0 && p < PARTITIONS, "%s", ls->line[i]);
        seen[p]++;
    }
    for (int p = 0; p < PARTITIONS; p++)
        cr_assert_eq(seen[p], times, "partition %d: %d %s lines, want %d", p,
                     seen[p], event, times);
}

/* Every line is one JSON object with time, level, component and message. */
static void assert_all_json(const char *log)
{
    static const char check[] =
        "import json,sys\n"
        "n=0\n"
        "for i,l in enumerate(open(sys.argv[1],'rb')):\n"
        "    o=json.loads(l)\n"
        "    assert isinstance(o,dict),i\n"
        "    for k in ('time','level','component','message'):\n"
        "        assert isinstance(o[k],str),(i,k)\n"
        "    assert o['time'].endswith('Z') and len(o['time'])==24,o\n"
        "    n+=1\n"
        "assert n>0\n"
        "print(n,'JSON lines')\n";
    const char *script = h_scratch_file("json_check.py");
    const char *out = h_scratch_file("json_check.log");
    const char *argv[] = {"/usr/bin/python3", script, log, NULL};
    int rc;

    h_write_file(script, check, strlen(check));
    rc = h_run(argv, out, 60);
    h_tail(out, rc ? 20 : 1);
    cr_assert_eq(rc, 0, "a line of %s is not a JSON object", log);
}

/* The state-change lines of a run with one Redis outage. */
static void assert_state_lines(const struct lines *ls, int64_t valid_events,
                               int64_t messages)
{
    size_t down, up, i, last_progress = ls->cnt;
    const char *want_ready[] = {"not_ready", "ready", "not_ready", "ready"};
    size_t ready_seq = 0;

    /* ready / not ready alternate: no line without a change. */
    for (i = 0; i < ls->cnt; i++) {
        const char *l = ls->line[i];

        if (!is_event(l, "ready") && !is_event(l, "not_ready"))
            continue;
        cr_assert_lt(ready_seq, 4, "a 5th readiness line: %s", l);
        cr_assert(is_event(l, want_ready[ready_seq]), "line %zu: %s, want %s",
                  ready_seq, l, want_ready[ready_seq]);
        if (ready_seq == 0)
            cr_assert(strstr(l, "\"reason\":\"starting\""), "%s", l);
        if (ready_seq == 2)
            cr_assert(strstr(l, "\"reason\":\"redis unreachable\""), "%s", l);
        ready_seq++;
    }
    cr_assert_eq(ready_seq, 4, "%zu readiness lines, want 4", ready_seq);

    cr_assert_eq(count_event(ls, "redis_down"), 1);
    cr_assert_eq(count_event(ls, "redis_up"), 1);
    down = find_event(ls, "redis_down", 0);
    up = find_event(ls, "redis_up", 0);
    cr_assert_lt(down, up, "redis back before it was down");
    cr_assert(strstr(ls->line[down], "\"error\":\"redis 127.0.0.1:"), "%s",
              ls->line[down]);
    cr_assert_geq(num_field(ls->line[up], "down_ms"), OUTAGE_MS / 2);
    /* Not ready while Redis was down, ready again after it came back. */
    cr_assert_lt(find_event(ls, "not_ready", 1), find_event(ls, "ready", down));
    cr_assert_gt(find_event(ls, "ready", down), up);

    /* The batch that met the outage backed off once, however many times it
     * retried; its delays stay within the documented 5 s. */
    cr_assert_eq(count_event(ls, "backoff"), 1);
    i = find_event(ls, "backoff", 0);
    cr_assert(strstr(ls->line[i], "\"cause\":\"redis\""), "%s", ls->line[i]);
    cr_assert_leq(num_field(ls->line[i], "delay_ms"), 5000);
    cr_assert_eq(num_field(ls->line[i], "max_delay_ms"), 5000);
    cr_assert(i > down && i < up, "backoff outside the outage: %s",
              ls->line[i]);

    /* One worker, nobody else: each partition assigned once, revoked once
     * (when it leaves the group), never fenced. */
    assert_per_partition(ls, "partition_assigned", 1);
    assert_per_partition(ls, "partition_revoked", 1);
    cr_assert_eq(count_event(ls, "partition_fenced"), 0);

    /* Progress lines report the lag; the last one before exit is caught up
     * with everything applied. */
    cr_assert_geq(count_event(ls, "progress"), 3);
    for (i = 0; i < ls->cnt; i++)
        if (is_event(ls->line[i], "progress"))
            last_progress = i;
    {
        const char *l = ls->line[last_progress];

        cr_assert_eq(num_field(l, "lag"), 0, "%s", l);
        cr_assert_eq(num_field(l, "partitions"), PARTITIONS, "%s", l);
        cr_assert_eq(num_field(l, "partitions_lag_unknown"), 0, "%s", l);
        /* A replay after the outage counts again in "events": what was
         * committed is the sum of the next offsets, every message. */
        cr_assert_geq(num_field(l, "events"), valid_events, "%s", l);
        cr_assert_eq(num_field(l, "committed_offsets"), messages, "%s", l);
    }
    /* Some progress line saw work still to do. */
    {
        int behind = 0;

        for (i = 0; i < ls->cnt; i++)
            if (is_event(ls->line[i], "progress") &&
                num_field(ls->line[i], "events") < valid_events)
                behind = 1;
        cr_assert(behind, "no progress line before the end");
    }
}

#define ALERTS_PER_S "3"

/* [ALERT] lines: at most log.alerts.per_s in a second of the worker's (so
 * at most twice that in a second of the clock), the rest counted by
 * "alerts_not_logged" lines. @returns the alerts logged plus counted. */
static int64_t assert_alert_lines(const struct lines *ls)
{
    const int per_s = atoi(ALERTS_PER_S);
    int64_t logged = 0, counted = 0;
    char second[32] = "";
    int in_second = 0;

    for (size_t i = 0; i < ls->cnt; i++) {
        const char *l = ls->line[i];
        const char *t = strstr(l, "\"time\":\"");

        if (is_event(l, "alerts_not_logged")) {
            cr_assert_gt(num_field(l, "count"), 0, "%s", l);
            counted += num_field(l, "count");
            continue;
        }
        if (!strstr(l, "\"component\":\"ALERT\"") || strstr(l, "\"event\":"))
            continue;
        logged++;
        cr_assert_not_null(t, "%s", l);
        /* "YYYY-MM-DDTHH:MM:SS" */
        if (strncmp(second, t + 8, 19)) {
            snprintf(second, sizeof(second), "%.19s", t + 8);
            in_second = 0;
        }
        cr_assert_leq(++in_second, 2 * per_s, "too many in %s", second);
    }
    fprintf(stderr, "alert lines: %lld logged, %lld counted\n",
            (long long)logged, (long long)counted);
    cr_assert_gt(logged, 0, "no [ALERT] line");
    cr_assert_gt(counted, 0, "no alerts_not_logged line (too few alerts?)");
    return logged + counted;
}

Test(logs, json_lines_and_one_line_per_state_change_through_an_outage)
{
    char dump_a[600], dump_b[600], log[600];
    const char *dumps[2] = {dump_a, dump_b};
    const char *extras[] = {"log.format=json",
                            "log.progress.interval=1",
                            "worker.batch.max=500",
                            "worker.exit.idle.ms=4000",
                            "log.alerts.per_s=" ALERTS_PER_S,
                            NULL};
    long n = h_env_long("CP_IT_EVENTS", 4000);
    int64_t t0 = cp_now_ms() - 3600 * 1000;
    int64_t invalid = 0, total_a, total_b, alerts_told, records;
    struct timespec started, outage;
    struct lines ls;
    struct h_redis r;
    pid_t pid;

    /* Copies: h_scratch_file() reuses its buffers. */
    snprintf(dump_a, sizeof(dump_a), "%s", h_scratch_file("a.dump"));
    snprintf(dump_b, sizeof(dump_b), "%s", h_scratch_file("b.dump"));
    snprintf(log, sizeof(log), "%s", h_scratch_file("worker.log"));
    clock_gettime(CLOCK_MONOTONIC, &started);
    h_redis_start(&r);
    h_produce(bootstrap, dumps[0], "7", n, t0, "5");
    total_a = h_dump_count(dumps[0], &invalid);
    pid = h_worker_spawn(bootstrap, &r, "logs", log, extras);
    cr_assert_eq(h_wait_for_commits(&r, "logs", total_a), total_a);
    /* A couple of idle seconds: progress lines and health pings. */
    h_sleep_ms(1500);

    /* Redis is killed; the second stream arrives while it is down, so a
     * batch fails and backs off. */
    h_redis_kill(&r, 1);
    clock_gettime(CLOCK_MONOTONIC, &outage);
    /* 20 minutes of event time later: the conversations the first stream
     * left waiting breach their SLA together, a burst of alerts for the
     * [ALERT] rate limit (a short stream alone raises no churn alert:
     * churn alerts need days of evidence). */
    h_produce(bootstrap, dumps[1], "8", n, t0 + n * 5 + 20 * 60 * 1000, "5");
    total_b = h_dump_count(dumps[1], &invalid);
    while (h_elapsed_s(&outage) < OUTAGE_MS / 1000.0)
        h_sleep_ms(50);
    h_redis_revive(&r);
    h_worker_wait_done(pid, log, 240);

    assert_all_json(log);
    read_lines(log, &ls);
    assert_state_lines(&ls, total_a + total_b - invalid, total_a + total_b);
    alerts_told = assert_alert_lines(&ls);
    free_lines(&ls);
    h_oracle_check(bootstrap, &r, dumps, 2, invalid);
    /* Every alert sent (a replayed batch sends its alerts again) was
     * logged or counted: as many as records on the alerts topic. */
    records = h_dump_alerts(bootstrap, h_scratch_file("alerts-again.jsonl"));
    cr_assert_eq(alerts_told, records,
                 "%lld alerts logged or counted, %lld "
                 "records on crm.alerts",
                 (long long)alerts_told, (long long)records);
    h_redis_stop(&r);
    fprintf(stderr, "logs: %lld events, outage %d ms, %.1f s in all\n",
            (long long)(total_a + total_b), OUTAGE_MS, h_elapsed_s(&started));
}

/* Another worker takes partition 0 (its fence is bumped in Redis, as a new
 * owner's assignment does) while this one runs: one "fenced" line for that
 * partition, however many batches follow, and no revoke line for it. */
Test(logs, a_fenced_partition_is_logged_once)
{
    char dump_a[600], dump_b[600], log[600];
    const char *extras[] = {"log.format=json", "worker.batch.max=200",
                            "worker.exit.idle.ms=3000", NULL};
    long n = h_env_long("CP_IT_EVENTS", 4000) / 4;
    int64_t t0 = cp_now_ms() - 3600 * 1000;
    int64_t invalid = 0, total_a;
    struct lines ls;
    struct h_redis r;
    size_t fenced;
    pid_t pid;

    snprintf(dump_a, sizeof(dump_a), "%s", h_scratch_file("fa.dump"));
    snprintf(dump_b, sizeof(dump_b), "%s", h_scratch_file("fb.dump"));
    snprintf(log, sizeof(log), "%s", h_scratch_file("fenced.log"));
    h_redis_start(&r);
    h_produce(bootstrap, dump_a, "9", n, t0, "0");
    total_a = h_dump_count(dump_a, &invalid);
    pid = h_worker_spawn(bootstrap, &r, "fence", log, extras);
    cr_assert_eq(h_wait_for_commits(&r, "fence", total_a), total_a);
    cr_assert_gt(h_redis_int(&r, "INCR crmpulse:fence:fence:crm.events:0"), 1);
    h_produce(bootstrap, dump_b, "10", n, t0 + n * 5, "0");
    h_worker_wait_done(pid, log, 120);

    assert_all_json(log);
    read_lines(log, &ls);
    cr_assert_eq(count_event(&ls, "partition_fenced"), 1);
    fenced = find_event(&ls, "partition_fenced", 0);
    cr_assert_eq(num_field(ls.line[fenced], "partition"), 0, "%s",
                 ls.line[fenced]);
    cr_assert_eq(count_event(&ls, "partition_revoked"), PARTITIONS - 1);
    for (size_t i = 0; i < ls.cnt; i++)
        if (is_event(ls.line[i], "partition_revoked"))
            cr_assert_neq(num_field(ls.line[i], "partition"), 0, "%s",
                          ls.line[i]);
    /* Whether the bump aborted a transaction (a backoff) or was seen when
     * the fences were armed depends on timing; at most one backoff. */
    cr_assert_leq(
        count_event(&ls, "backoff"), 1, "%zu backoffs, the 2nd: %s",
        count_event(&ls, "backoff"),
        ls.line[find_event(&ls, "backoff", find_event(&ls, "backoff", 0) + 1)]);
    if (count_event(&ls, "backoff"))
        cr_assert(strstr(ls.line[find_event(&ls, "backoff", 0)],
                         "\"cause\":\"fenced\""));
    free_lines(&ls);
    h_redis_stop(&r);
}
