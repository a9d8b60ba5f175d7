/* SPDX-License-Identifier: Apache-2.0 */
/* End to end: the churn engine of the real crmpulse binary, driven by
 * scripted events (crmpulse-scenario) on the embedded Kafka, with a real
 * redis-server. Histories are laid out relative to the wall clock with
 * time.idle_advance=0, so the watermark moves only with the events and every
 * alert is determined by the input. Expectations come from the model API
 * (thresholds, SLAs, crossing times), not from constants, so a re-fitted
 * default model keeps the tests meaningful. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "churn.h"
#include "codec.h"
#include "harness.h"
#include "kafka.h"
#include "state.h"

#define DAY_MS      86400000LL
#define WEEK_MS     (7 * DAY_MS)
#define MIN_MS      60000LL
#define LATENESS    60000LL /* time.allowed_lateness of every run */
#define LATENESS_S  "60000"
#define IDLE_EXIT   "2500"
#define ALERTS      "crm.alerts"
#define ALERTS_B    "crm.alerts.clean" /* a second run's own alert topic */
#define ORDER_MINOR 5000
#define MAX_ALERTS  512

static struct cp_embedded *emb;
static const char *bootstrap;

/* One partition per topic: every event shares one watermark, and file
 * order is processing order. */
static void start_kafka(void)
{
    const char *topics[] = {"crm.events", ALERTS, "crm.events.dlq", ALERTS_B};
    char errstr[512];

    emb = cp_embedded_new(1, topics, CP_ARRAY_SIZE(topics), errstr,
                          sizeof(errstr));
    cr_assert_not_null(emb, "embedded kafka: %s", errstr);
    bootstrap = cp_embedded_bootstrap(emb);
}

static void stop_kafka(void)
{
    cp_embedded_destroy(emb);
    emb = NULL;
}

TestSuite(churn, .init = start_kafka, .fini = stop_kafka, .timeout = 240);

/* ---- scenarios ---- */

/* A scenario being written: lines kept with their event time, sorted
 * before they are written (stable, so equal times keep their order). */
struct scn_line {
    int64_t at;
    size_t seq;
    char text[192];
};

struct scn {
    struct scn_line *lines;
    size_t cnt, cap;
};

static void scn_add(struct scn *s, int64_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void scn_add(struct scn *s, int64_t at, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (s->cnt == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->lines = realloc(s->lines, s->cap * sizeof(*s->lines));
        cr_assert_not_null(s->lines);
    }
    s->lines[s->cnt].at = at;
    s->lines[s->cnt].seq = s->cnt;
    va_start(ap, fmt);
    n = vsnprintf(s->lines[s->cnt].text, sizeof(s->lines[0].text), fmt, ap);
    va_end(ap);
    cr_assert_lt(n, (int)sizeof(s->lines[0].text));
    s->cnt++;
}

static int cmp_line(const void *pa, const void *pb)
{
    const struct scn_line *a = pa, *b = pb;

    if (a->at != b->at)
        return a->at < b->at ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Writes the lines in event-time order to @p path and frees them. */
static void scn_write(struct scn *s, const char *path)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f, "%s", path);
    qsort(s->lines, s->cnt, sizeof(*s->lines), cmp_line);
    for (size_t i = 0; i < s->cnt; i++)
        fprintf(f, "%s\n", s->lines[i].text);
    cr_assert_eq(fclose(f), 0);
    free(s->lines);
    memset(s, 0, sizeof(*s));
}

/* Produces scenario @p path (and its dump for the oracle, if @p dump). */
static void produce(const char *path, const char *dump)
{
    const char *log = h_scratch_file("scenario.log");
    const char *argv[] = {
        h_bin("crmpulse-scenario"), "-b", bootstrap, "-f", path,
        dump ? "-o" : NULL,         dump, NULL};
    int rc = h_run(argv, log, 120);

    if (rc)
        h_tail(log, 20);
    cr_assert_eq(rc, 0, "crmpulse-scenario exited %d", rc);
}

/* ---- the worker ---- */

static pid_t spawn_worker(const struct h_redis *r, const char *group,
                          const char *alerts_topic, const char *batch_max,
                          const char *log)
{
    char x_boot[300], x_redis[128], x_group[128], x_alerts[128], x_batch[64];
    const char *argv[] = {h_bin("crmpulse"),
                          "-X",
                          x_boot,
                          "-X",
                          x_redis,
                          "-X",
                          x_group,
                          "-X",
                          x_alerts,
                          "-X",
                          x_batch,
                          "-X",
                          "worker.exit.idle.ms=" IDLE_EXIT,
                          "-X",
                          "time.idle_advance=0",
                          "-X",
                          "time.allowed_lateness=" LATENESS_S,
                          "-X",
                          "http.listen=",
                          NULL};

    snprintf(x_boot, sizeof(x_boot), "kafka.bootstrap.servers=%s", bootstrap);
    snprintf(x_redis, sizeof(x_redis), "redis.url=%s", r->url);
    snprintf(x_group, sizeof(x_group), "kafka.group.id=%s", group);
    snprintf(x_alerts, sizeof(x_alerts), "topic.alerts=%s", alerts_topic);
    snprintf(x_batch, sizeof(x_batch), "worker.batch.max=%s", batch_max);
    return h_spawn(argv, log);
}

static void run_worker(const struct h_redis *r, const char *group,
                       const char *alerts_topic, const char *log)
{
    int rc = h_wait(spawn_worker(r, group, alerts_topic, "20000", log), 120);

    if (rc)
        h_tail(log, 40);
    cr_assert_eq(rc, 0, "crmpulse exited %d", rc);
}

/* ---- alerts on Kafka ---- */

struct got_alert {
    char id[40];
    int kind;  /* enum cp_alert_kind */
    int level; /* enum cp_alert_level */
    char tenant[72], customer[72], manager[72], trig[200];
    int has_manager, has_trig;
    int64_t event_time;
    double score;
    size_t reason_cnt;
    char factors[3][32];
    char action[200];
    int64_t value, value_at_risk;
    unsigned char *raw; /* the framed record as it was on the topic */
    size_t raw_len;
    char *json; /* the record as crmpulse's alert JSON (cp_alert_json) */
};

struct got_alerts {
    struct got_alert a[MAX_ALERTS];
    size_t cnt;
};

static void copy_str(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

/* Reads every alert of @p topic: waits until at least @p expected arrived
 * (at most 30 s) and then 1.5 s of quiet after the consumer got its
 * partitions. Each record must decode with the codec. */
static void read_alerts(const char *topic, size_t expected,
                        struct got_alerts *out)
{
    struct cp_consumer_callbacks cbs = {NULL, NULL, NULL};
    char errstr[512], reason[256], group[64];
    struct cp_codec *codec =
        cp_codec_new(CP_FRAMING_CONFLUENT, errstr, sizeof(errstr));
    struct cp_msg msgs[256];
    struct cp_arena arena;
    struct cp_consumer *cons;
    struct cp_buf json;
    static int seq;
    int quiet_ms = 0, waited_ms = 0;

    cr_assert_not_null(codec, "%s", errstr);
    memset(out, 0, sizeof(*out));
    snprintf(group, sizeof(group), "alerts-check-%d-%d", (int)getpid(), seq++);
    cons = cp_consumer_new(bootstrap, group, topic, NULL, 0, &cbs, errstr,
                           sizeof(errstr));
    cr_assert_not_null(cons, "%s", errstr);
    cp_arena_init(&arena, 0);
    cp_buf_init(&json, 0);
    while (waited_ms < 60000 &&
           quiet_ms < (out->cnt >= expected ? 2000 : 30000)) {
        size_t n = cp_consumer_poll(cons, msgs, CP_ARRAY_SIZE(msgs), 100);

        waited_ms += 100;
        /* Silence before the assignment proves nothing. */
        quiet_ms = n || !cp_consumer_generation(cons) ? 0 : quiet_ms + 100;
        for (size_t i = 0; i < n; i++) {
            struct cp_alert a;
            struct cp_alert_reason reasons[8];
            struct got_alert *g = &out->a[out->cnt];

            cr_assert_lt(out->cnt, MAX_ALERTS, "too many alerts");
            cr_assert_eq(cp_codec_decode_alert(
                             codec, msgs[i].value, msgs[i].value_len, &arena,
                             &a, reasons, 8, reason, sizeof(reason)),
                         CP_OK, "undecodable alert: %s", reason);
            copy_str(g->id, sizeof(g->id), a.alert_id);
            g->kind = (int)a.kind;
            g->level = (int)a.level;
            copy_str(g->tenant, sizeof(g->tenant), a.tenant_id);
            copy_str(g->customer, sizeof(g->customer), a.customer_id);
            g->has_manager = a.manager_id != NULL;
            copy_str(g->manager, sizeof(g->manager), a.manager_id);
            g->has_trig = a.triggered_by != NULL;
            copy_str(g->trig, sizeof(g->trig), a.triggered_by);
            g->event_time = a.event_time;
            g->score = a.risk_score;
            copy_str(g->action, sizeof(g->action), a.action);
            g->value = a.value_minor;
            g->value_at_risk = a.value_at_risk_minor;
            g->reason_cnt = a.reason_cnt;
            for (size_t k = 0; k < a.reason_cnt && k < 3; k++)
                copy_str(g->factors[k], sizeof(g->factors[k]),
                         a.reasons[k].factor);
            /* The key is tenant:customer. */
            cr_assert_not_null(msgs[i].key);
            {
                char key[160];

                snprintf(key, sizeof(key), "%s:%s", g->tenant, g->customer);
                cr_assert(msgs[i].key_len == strlen(key) &&
                              !memcmp(msgs[i].key, key, msgs[i].key_len),
                          "alert key \"%.*s\", expected \"%s\"",
                          (int)msgs[i].key_len, (const char *)msgs[i].key, key);
            }
            cp_buf_reset(&json);
            cr_assert_eq(cp_alert_json(&a, &json), CP_OK);
            g->json = strndup(json.data, json.len);
            cr_assert_not_null(g->json);
            g->raw = malloc(msgs[i].value_len);
            cr_assert_not_null(g->raw);
            memcpy(g->raw, msgs[i].value, msgs[i].value_len);
            g->raw_len = msgs[i].value_len;
            out->cnt++;
        }
        cp_consumer_release(cons);
        cp_arena_reset(&arena);
    }
    cp_consumer_destroy(cons);
    cp_arena_cleanup(&arena);
    cp_buf_cleanup(&json);
    cp_codec_destroy(codec);
}

static void free_alerts(struct got_alerts *g)
{
    for (size_t i = 0; i < g->cnt; i++) {
        free(g->a[i].raw);
        free(g->a[i].json);
    }
    g->cnt = 0;
}

/* Alerts of one customer and kind; the i-th of them in @p *first. */
static size_t alerts_of(const struct got_alerts *g, const char *customer,
                        int kind, const struct got_alert **first)
{
    size_t n = 0;

    for (size_t i = 0; i < g->cnt; i++) {
        if (strcmp(g->a[i].customer, customer) || g->a[i].kind != kind)
            continue;
        if (!n && first)
            *first = &g->a[i];
        n++;
    }
    return n;
}

/* ---- Redis readings ---- */

static void day_of(int64_t ms, char *out, size_t size)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&s, &tm);
    strftime(out, size, "%Y-%m-%d", &tm);
}

static void minute_of(int64_t ms, char *out, size_t size)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&s, &tm);
    strftime(out, size, "%Y-%m-%d:%H%M", &tm);
}

/* Sum of @p field over the tenant's plain day hashes (crm:{T}:d:D). */
static int64_t day_sum(const struct h_redis *r, const char *tenant,
                       const char *field)
{
    struct h_strs keys;
    int64_t sum = 0;

    h_redis_strs(r, &keys, "KEYS crm:{%s}:d:\?\?\?\?-\?\?-\?\?", tenant);
    for (size_t i = 0; i < keys.cnt; i++) {
        int64_t v = h_redis_int(r, "HGET %s %s", keys.str[i], field);

        sum += v > 0 ? v : 0;
    }
    h_strs_free(&keys);
    return sum;
}

/* Alerts Redis counted for tenant @p t: what its alert topic must hold
 * (distinct), since the counters are committed with the alerts. */
static size_t counted_alerts(const struct h_redis *r, const char *t)
{
    return (size_t)(day_sum(r, t, "churn_alerts") +
                    day_sum(r, t, "sla_breaches"));
}

/* The value of "name": in a flat JSON object, as its raw token (a string
 * without its quotes); -1 when absent. Enough for crmpulse's alert JSON,
 * whose ids and symbols need no escapes. */
static int json_field(const char *json, const char *name, char *out,
                      size_t size)
{
    char pat[64];
    const char *p, *end;
    size_t n;

    snprintf(pat, sizeof(pat), "\"%s\":", name);
    p = strstr(json, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    if (*p == '"') {
        end = strchr(++p, '"');
    } else {
        end = p + strcspn(p, ",}");
    }
    if (!end)
        return -1;
    n = (size_t)(end - p) < size - 1 ? (size_t)(end - p) : size - 1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

/* The stored churn state of a customer, as the worker persisted it. */
static void stored_customer(const struct h_redis *r, const char *tenant,
                            const char *customer, struct cp_customer *out)
{
    static char bytes[4096];
    struct cp_state *st = cp_state_new("crm");
    int64_t len =
        h_redis_str(r, bytes, sizeof(bytes), "HGET crm:{%s}:state:customers %s",
                    tenant, customer);

    cr_assert_not_null(st);
    cr_assert_gt(len, 0, "no stored state for %s/%s", tenant, customer);
    cr_assert_lt(len, (int64_t)sizeof(bytes));
    cr_assert_eq(cp_state_customer_decode(st, out, bytes, (size_t)len), CP_OK,
                 "stored state of %s/%s does not decode", tenant, customer);
    out->manager = NULL; /* lives in st */
    cp_state_destroy(st);
}

static int64_t watermark(const struct h_redis *r, const char *group)
{
    return h_redis_int(r, "HGET crmpulse:watermarks:%s crm.events:0", group);
}

static int64_t silence_timer(const struct h_redis *r, const char *group,
                             const char *tenant, const char *customer)
{
    char member[200];

    snprintf(member, sizeof(member), "c\t%.64s\t%.64s", tenant, customer);
    return h_redis_int(r, "ZSCORE crmpulse:timers:%s:crm.events:0 %s", group,
                       member);
}

/* python3-avro decodes @p g against schemas/alert_v2.avsc and finds the same
 * record as crmpulse's own JSON @p json. */
static void check_with_python_avro(const struct got_alert *g, const char *json)
{
    const char *bin = h_scratch_file("alert.bin");
    const char *js = h_scratch_file("alert.json");
    const char *log = h_scratch_file("alert_decode.log");
    char schema[1024];
    const char *argv[] = {"/usr/bin/python3",
                          h_src("tests/integration/alert_decode.py"),
                          "--schema",
                          schema,
                          "--compare",
                          js,
                          bin,
                          NULL};
    int rc;

    snprintf(schema, sizeof(schema), "%s", h_src("schemas/alert_v2.avsc"));
    h_write_file(bin, g->raw, g->raw_len);
    h_write_file(js, json, strlen(json));
    rc = h_run(argv, log, 60);
    if (rc)
        h_tail(log, 10);
    cr_assert_eq(rc, 0,
                 "python3-avro: alert %s does not decode or differs "
                 "from its JSON",
                 g->id);
}

static void check_with_oracle(const struct h_redis *r, const char *dump,
                              const struct got_alerts *alerts,
                              int64_t processed_from);

/* ---- the model's view ---- */

/* A regular buyer: an order every week for 20 weeks (21 orders), the last
 * at @p last. */
static void regular_history(const struct cp_churn_model *m,
                            struct cp_churn_state *st, int64_t last)
{
    cp_churn_state_init(st);
    for (int i = 20; i >= 0; i--) {
        int64_t t = last - i * WEEK_MS;
        struct cp_churn_score sc;

        cp_churn_observe(st, m, CP_OBS_ACTIVITY, t, 0);
        cp_churn_observe(st, m, CP_OBS_ORDER, t, ORDER_MINOR);
        cp_churn_evaluate(m, st, t, &sc);
        cr_assert_eq(cp_churn_decide(m, st, &sc, t), CP_LEVEL_NONE,
                     "the default model alerts on a weekly buyer");
    }
}

/* How long after the last order of regular_history() silence alone raises
 * the level to HIGH (@p d_high) and then to CRITICAL (@p d_crit, INT64_MAX
 * if it never does within the timers' horizon). */
static void silence_offsets(const struct cp_churn_model *m, int64_t *d_high,
                            int64_t *d_crit)
{
    const int64_t last = 1735689600000LL; /* 2025-01-01 */
    struct cp_churn_state st;
    int64_t now = last;

    regular_history(m, &st, last);
    *d_high = *d_crit = INT64_MAX;
    for (int k = 0; k < 20; k++) {
        int64_t due = cp_churn_next_due(m, &st, now);
        struct cp_churn_score sc;
        enum cp_churn_level lvl;

        if (due == INT64_MAX)
            break;
        cp_churn_evaluate(m, &st, due, &sc);
        lvl = cp_churn_decide(m, &st, &sc, due);
        if (lvl == CP_LEVEL_HIGH && *d_high == INT64_MAX)
            *d_high = due - last;
        if (lvl == CP_LEVEL_CRITICAL) {
            if (*d_high == INT64_MAX)
                *d_high = due - last;
            else
                *d_crit = due - last;
            break;
        }
        now = due;
    }
    cr_assert_neq(*d_high, INT64_MAX,
                  "the default model never raises a regular buyer who stops "
                  "to HIGH: a silent customer cannot be detected");
}

/* The timeline of tests 1 and 2: where the last of the 21 weekly orders
 * lies so that, with the watermark ending at now - lateness, silence has
 * crossed HIGH but not CRITICAL. */
static int64_t last_regular_order(const struct cp_churn_model *m, int64_t now,
                                  int64_t *d_high)
{
    int64_t d_crit, gap;

    silence_offsets(m, d_high, &d_crit);
    gap = d_crit == INT64_MAX ? 5 * DAY_MS : (d_crit - *d_high) / 2;
    if (gap > 10 * DAY_MS)
        gap = 10 * DAY_MS;
    return (now - LATENESS - *d_high - gap) / MIN_MS * MIN_MS;
}

/* A busy, healthy customer whose orders move the watermark: every
 * @p step from @p from to @p to (inclusive). */
static void add_filler(struct scn *s, const char *tenant, const char *customer,
                       int64_t from, int64_t to, int64_t step)
{
    int i = 0;

    for (int64_t t = from; t <= to; t += step, i++)
        scn_add(s, t, "%s-%s-%d %s %s %lld OrderPlaced manager=mb amount=7000",
                customer, tenant, i, tenant, customer, (long long)t);
}

/* ---- 1. silence ---- */

Test(churn, silent_customer_gets_one_alert_from_its_timer)
{
    const char *group = "silence";
    struct cp_churn_model *m = cp_churn_model_default();
    double high = cp_churn_model_threshold(m, CP_LEVEL_HIGH);
    int64_t now = cp_now_ms(), d_high, last, due, wm;
    struct h_redis r;
    struct scn a = {0}, b = {0};
    struct got_alerts *got = calloc(1, sizeof(*got));
    const struct got_alert *g = NULL;
    struct cp_customer cust;
    struct cp_churn_score sc;
    char buf[8192], day[16], expect_id[33], trig[48], json[8192];

    cr_assert_not_null(m);
    cr_assert_not_null(got);
    last = last_regular_order(m, now, &d_high);
    h_redis_start(&r);

    /* Phase 1: the history up to a day after the last order. */
    for (int i = 20; i >= 0; i--)
        scn_add(&a, last - i * WEEK_MS,
                "silent-%d t1 silent %lld OrderPlaced manager=m1 amount=%d",
                20 - i, (long long)(last - i * WEEK_MS), ORDER_MINOR);
    add_filler(&a, "t1", "busy", last - 21 * WEEK_MS, last + DAY_MS,
               2 * DAY_MS);
    scn_write(&a, h_scratch_file("silence-1.scn"));
    produce(h_scratch_file("silence-1.scn"), NULL);
    run_worker(&r, group, ALERTS, h_scratch_file("silence.log"));

    due = silence_timer(&r, group, "t1", "silent");
    wm = watermark(&r, group);
    cr_assert_gt(due, last, "no pending silence timer after the last order");
    cr_assert_lt(wm, due, "the timer is due already before the silence");
    cr_assert_eq(h_redis_int(&r, "LLEN crm:{t1}:alerts:recent"), 0,
                 "an alert while the customer still buys");
    h_redis_str(&r, buf, sizeof(buf), "HGET crm:{t1}:customer:silent level");
    cr_assert_str_eq(buf, "none");

    /* Phase 2: only the other customer keeps buying, up to now. */
    add_filler(&b, "t1", "busy", last + 3 * DAY_MS, now, 2 * DAY_MS);
    scn_write(&b, h_scratch_file("silence-2.scn"));
    produce(h_scratch_file("silence-2.scn"), NULL);
    run_worker(&r, group, ALERTS, h_scratch_file("silence.log"));
    wm = watermark(&r, group);
    cr_assert_geq(wm, due, "test layout: the watermark did not pass the timer");

    /* Exactly one alert, from the timer, at its due time. */
    read_alerts(ALERTS, 1, got);
    cr_assert_eq(got->cnt, 1, "%zu alerts on %s, expected 1", got->cnt, ALERTS);
    cr_assert_eq(alerts_of(got, "silent", CP_ALERT_CHURN_RISK, &g), 1);
    snprintf(trig, sizeof(trig), "timer:%lld", (long long)due);
    cp_churn_alert_id("t1", "silent", "CHURN_RISK", CP_LEVEL_HIGH, trig,
                      expect_id);
    cr_assert_str_eq(g->id, expect_id, "alert_id is not the timer's");
    cr_assert_eq(g->level, CP_ALERT_HIGH);
    cr_assert_not(g->has_trig, "a timer's alert has triggered_by \"%s\"",
                  g->trig);
    cr_assert_eq(g->event_time, due, "event_time %lld, timer due %lld",
                 (long long)g->event_time, (long long)due);
    cr_assert(g->has_manager && !strcmp(g->manager, "m1"));
    /* The probability, never 0 or 1; the evidence alerted. */
    cr_assert(g->score >= CP_CHURN_P_MIN && g->score <= CP_CHURN_P_MAX, "%g",
              g->score);
    cr_assert_geq(g->reason_cnt, 1);

    /* Within one timer tick of the crossing, by the stored features. */
    stored_customer(&r, "t1", "silent", &cust);
    cr_assert_eq(cust.churn.last_order_ms, last);
    cp_churn_evaluate(m, &cust.churn, due, &sc);
    cr_assert_geq(sc.evidence, high, "evidence %.4f at the alert < HIGH %.4f",
                  sc.evidence, high);
    cr_assert_float_eq(g->score, sc.score, 1e-12);
    /* What to do and what is at stake: silence against a weekly rhythm.
     * With orders as the only contacts, `inactivity` (days without any
     * contact / the usual gap) and `silence` (the surprise of the days
     * without an order) tell the same silence; inactivity, linear in the
     * days, is the larger one. */
    cr_assert(!strcmp(g->factors[0], "silence") ||
                  !strcmp(g->factors[0], "inactivity"),
              "first reason %s", g->factors[0]);
    cr_assert_str_eq(g->action, sc.action);
    cr_assert(
        !strncmp(g->action,
                 "get in touch and ask how things are: no "
                 "order for ",
                 50) ||
            !strncmp(g->action, "get in touch today: no contact for ", 35),
        "action \"%s\"", g->action);
    cr_assert(g->value == sc.value_minor && g->value > 0, "value %lld",
              (long long)g->value);
    cr_assert_eq(g->value_at_risk, sc.value_at_risk_minor);
    cp_churn_evaluate(m, &cust.churn, due - MIN_MS, &sc);
    cr_assert_lt(sc.evidence, high,
                 "already HIGH a minute before the alert (%.4f)", sc.evidence);

    /* The customer hash, risk, alerts:recent and the counters. */
    h_redis_str(&r, buf, sizeof(buf), "HGET crm:{t1}:customer:silent level");
    cr_assert(!strcmp(buf, "high") || !strcmp(buf, "critical"),
              "customer level \"%s\"", buf);
    h_redis_str(&r, buf, sizeof(buf), "HGET crm:{t1}:customer:silent reasons");
    cr_assert(!strncmp(buf, "[{\"factor\":\"", 12), "reasons %s", buf);
    h_redis_str(&r, buf, sizeof(buf), "HGET crm:{t1}:customer:silent action");
    cr_assert_str_eq(buf, g->action);
    cr_assert_eq(
        h_redis_int(&r, "HGET crm:{t1}:customer:silent value_at_risk_minor"),
        g->value_at_risk);
    cr_assert_eq(h_redis_int(&r, "HGET crm:{t1}:customer:silent scored_at"),
                 due);
    h_redis_str(&r, buf, sizeof(buf), "HGET crm:{t1}:customer:silent score");
    {
        double shown = strtod(buf, NULL);
        char zs[64];

        cr_assert_float_eq(shown, g->score, 0.00005);
        h_redis_str(&r, zs, sizeof(zs), "ZSCORE crm:{t1}:risk silent");
        cr_assert_float_eq(strtod(zs, NULL), shown, 0.00001,
                           "risk %s, customer hash %s", zs, buf);
    }
    cr_assert_eq(h_redis_int(&r, "LLEN crm:{t1}:alerts:recent"), 1);
    h_redis_str(&r, json, sizeof(json), "LINDEX crm:{t1}:alerts:recent 0");
    cr_assert_eq(json_field(json, "alert_id", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, expect_id);
    cr_assert_eq(json_field(json, "triggered_by", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "null");
    day_of(due, day, sizeof(day));
    cr_assert_eq(h_redis_int(&r, "HGET crm:{t1}:d:%s churn_alerts", day), 1);
    cr_assert_eq(
        h_redis_int(&r, "HGET crm:{t1}:d:%s:manager:m1 churn_alerts", day), 1);
    cr_assert_eq(day_sum(&r, "t1", "churn_alerts"), 1);
    cr_assert_eq(day_sum(&r, "t1", "sla_breaches"), 0);
    /* The next crossing (CRITICAL, if silence reaches it) is still ahead. */
    due = silence_timer(&r, group, "t1", "silent");
    cr_assert(due == -1 || due > wm, "a past-due timer %lld <= wm %lld",
              (long long)due, (long long)wm);

    /* 5. The record decodes with python3-avro to what Redis holds. */
    check_with_python_avro(g, json);

    free_alerts(got);
    free(got);
    cp_churn_model_destroy(m);
    h_redis_stop(&r);
}

/* ---- 2. a healthy customer ---- */

Test(churn, healthy_regular_customer_gets_no_alert)
{
    const char *group = "healthy";
    struct cp_churn_model *m = cp_churn_model_default();
    int64_t now = cp_now_ms(), d_high, last, wm, due;
    struct h_redis r;
    struct scn s = {0};
    struct got_alerts *got = calloc(1, sizeof(*got));
    char buf[256];
    int i = 0;

    cr_assert_not_null(m);
    cr_assert_not_null(got);
    /* The silent customer's history, but the orders go on: had they
     * stopped at week 20, the watermark would pass their HIGH crossing. */
    last = last_regular_order(m, now, &d_high);
    for (int64_t t = last - 20 * WEEK_MS; t <= now - DAY_MS; t += WEEK_MS)
        scn_add(&s, t,
                "steady-%d t2 steady %lld OrderPlaced manager=m2 "
                "amount=%d",
                i++, (long long)t, ORDER_MINOR);
    add_filler(&s, "t2", "busy", last - 21 * WEEK_MS, now, 2 * DAY_MS);
    scn_write(&s, h_scratch_file("healthy.scn"));
    h_redis_start(&r);
    produce(h_scratch_file("healthy.scn"), NULL);
    run_worker(&r, group, ALERTS, h_scratch_file("healthy.log"));

    wm = watermark(&r, group);
    cr_assert_gt(wm, last + d_high,
                 "test layout: the watermark must pass "
                 "where silence would have alerted");
    read_alerts(ALERTS, 0, got);
    cr_assert_eq(got->cnt, 0,
                 "%zu alerts for healthy customers (first: %s "
                 "%s)",
                 got->cnt, got->cnt ? got->a[0].customer : "",
                 got->cnt ? got->a[0].id : "");
    cr_assert_eq(h_redis_int(&r, "LLEN crm:{t2}:alerts:recent"), 0);
    cr_assert_eq(day_sum(&r, "t2", "churn_alerts"), 0);
    h_redis_str(&r, buf, sizeof(buf), "HGET crm:{t2}:customer:steady level");
    cr_assert_str_eq(buf, "none");
    cr_assert_eq(h_redis_int(&r, "HGET crm:{t2}:customer:steady orders"), i);
    /* Their silence timer moved with every order: still ahead. */
    due = silence_timer(&r, group, "t2", "steady");
    cr_assert(due == -1 || due > wm, "a past-due timer %lld <= wm %lld",
              (long long)due, (long long)wm);
    free(got);
    cp_churn_model_destroy(m);
    h_redis_stop(&r);
}

/* ---- 3. cancellation with bad NPS ---- */

/* One event as the model sees it (the worker adds CP_OBS_ACTIVITY). */
struct sim_event {
    int64_t at;
    enum cp_churn_obs obs;
    int64_t value;
    const char *id;
};

static struct sim_event sim(int64_t at, enum cp_churn_obs obs, int64_t value,
                            const char *id)
{
    struct sim_event e = {at, obs, value, id};

    return e;
}

Test(churn, cancellation_with_bad_nps_is_critical)
{
    const char *group = "cancel";
    struct cp_churn_model *m = cp_churn_model_default();
    int64_t now = cp_now_ms();
    int64_t first = now - 200 * DAY_MS, cancel_at = now - 6 * DAY_MS;
    int64_t nps_at = cancel_at + 3600000, due;
    struct h_redis r;
    struct scn s = {0};
    struct got_alerts *got = calloc(1, sizeof(*got));
    struct cp_churn_state st;
    struct cp_churn_score sc;
    enum cp_churn_level expect[8];
    const char *expect_by[8];
    int64_t expect_at[8];
    size_t expect_cnt = 0, seen = 0;
    char buf[512], id[33];

    cr_assert_not_null(m);
    cr_assert_not_null(got);
    /* A customer who orders monthly and subscribes after the first order
     * (a customer with no order yet is a prospect, scored apart), cancels,
     * then answers NPS 2; no subscription starts again, so the cancellation
     * stands once its grace has passed (the timer alerts then). */
    scn_add(&s, first + 3600000,
            "sub-start t3 leaver %lld "
            "SubscriptionChanged manager=m3 "
            "action=STARTED mrr=9900 id=sub1",
            (long long)(first + 3600000));
    for (int i = 0; i < 6; i++)
        scn_add(&s, first + i * 30 * DAY_MS,
                "leaver-o%d t3 leaver %lld OrderPlaced manager=m3 "
                "amount=20000",
                i, (long long)(first + i * 30 * DAY_MS));
    scn_add(&s, cancel_at,
            "leaver-cancel t3 leaver %lld SubscriptionChanged "
            "manager=m3 action=CANCELLED mrr=9900 id=sub1",
            (long long)cancel_at);
    scn_add(&s, nps_at,
            "leaver-nps t3 leaver %lld SurveyAnswered manager=m3 "
            "channel=EMAIL kind=NPS score=2",
            (long long)nps_at);
    add_filler(&s, "t3", "busy", first - DAY_MS, now, 2 * DAY_MS);

    /* What the model says of these events, decided at each of them. */
    cp_churn_state_init(&st);
    {
        struct sim_event evs[9];
        size_t n = 0;

        for (int i = 0; i < 6; i++) {
            evs[n++] =
                sim(first + i * 30 * DAY_MS, CP_OBS_ORDER, 20000, "order");
            if (!i)
                evs[n++] =
                    sim(first + 3600000, CP_OBS_SUB_STARTED, 9900, "sub-start");
        }
        evs[n++] = sim(cancel_at, CP_OBS_SUB_CANCELLED, 9900, "leaver-cancel");
        evs[n++] = sim(nps_at, CP_OBS_NPS, 2, "leaver-nps");
        for (size_t i = 0; i < n; i++) {
            enum cp_churn_level lvl;

            cp_churn_observe(&st, m, CP_OBS_ACTIVITY, evs[i].at, 0);
            cp_churn_observe(&st, m, evs[i].obs, evs[i].at, evs[i].value);
            cp_churn_evaluate(m, &st, evs[i].at, &sc);
            lvl = cp_churn_decide(m, &st, &sc, evs[i].at);
            if (lvl != CP_LEVEL_NONE && expect_cnt < 8) {
                expect[expect_cnt] = lvl;
                expect_at[expect_cnt] = evs[i].at;
                expect_by[expect_cnt++] = evs[i].id;
            }
        }
        /* Then the timer: the cancellation's grace ends with no new
         * event (a NULL trigger: the timer's alert). */
        due = cp_churn_next_due(m, &st, nps_at);
        cr_assert_lt(due, now - DAY_MS, "timer due %lld", (long long)due);
        cp_churn_score_at(m, &st, due, &sc);
        cr_assert_eq(sc.level, CP_LEVEL_CRITICAL,
                     "the default model weighs a cancellation followed by "
                     "NPS 2 %.4f, below CRITICAL %.4f",
                     sc.evidence,
                     cp_churn_model_threshold(m, CP_LEVEL_CRITICAL));
        if (cp_churn_decide(m, &st, &sc, due) != CP_LEVEL_NONE &&
            expect_cnt < 8) {
            expect[expect_cnt] = sc.level;
            expect_at[expect_cnt] = due;
            expect_by[expect_cnt++] = NULL;
        }
    }
    cr_assert_eq(expect_cnt, 1, "one alert for the episode");
    cr_assert_eq(expect[0], CP_LEVEL_CRITICAL);
    cr_assert_null(expect_by[0],
                   "the model alerts at %s, not when the cancellation's "
                   "grace ends",
                   expect_by[0]);
    /* The default's evidence.cancel_grace_days = 2. */
    cr_assert_geq(due, cancel_at + 2 * DAY_MS);

    scn_write(&s, h_scratch_file("cancel.scn"));
    h_redis_start(&r);
    produce(h_scratch_file("cancel.scn"), NULL);
    run_worker(&r, group, ALERTS, h_scratch_file("cancel.log"));
    read_alerts(ALERTS, counted_alerts(&r, "t3"), got);

    /* The worker decides what the model decides, event by event. */
    for (size_t i = 0; i < got->cnt; i++) {
        const struct got_alert *g = &got->a[i];

        if (strcmp(g->customer, "leaver"))
            continue;
        cr_assert_lt(seen, expect_cnt,
                     "more alerts for leaver than the "
                     "model gives (%zu)",
                     expect_cnt);
        cr_assert_eq(g->level,
                     expect[seen] == CP_LEVEL_CRITICAL ? CP_ALERT_CRITICAL
                                                       : CP_ALERT_HIGH,
                     "alert %zu: level", seen);
        if (expect_by[seen]) {
            cr_assert(g->has_trig, "alert %zu: no triggered_by", seen);
            cr_assert_str_eq(g->trig, expect_by[seen]);
            cp_churn_alert_id("t3", "leaver", "CHURN_RISK", expect[seen],
                              g->trig, id);
        } else {
            char trig[48];

            cr_assert_not(g->has_trig, "alert %zu: triggered_by %s", seen,
                          g->trig);
            snprintf(trig, sizeof(trig), "timer:%lld",
                     (long long)expect_at[seen]);
            cp_churn_alert_id("t3", "leaver", "CHURN_RISK", expect[seen], trig,
                              id);
        }
        cr_assert_str_eq(g->id, id);
        cr_assert_eq(g->event_time, expect_at[seen], "alert %zu: event_time",
                     seen);
        cr_assert_str_eq(g->manager, "m3");
        seen++;
    }
    cr_assert_eq(seen, expect_cnt,
                 "%zu alerts for leaver, the model gives "
                 "%zu",
                 seen, expect_cnt);
    h_redis_str(&r, buf, sizeof(buf), "HGET crm:{t3}:customer:leaver level");
    cr_assert_str_eq(buf, "critical");
    cr_assert_eq(h_redis_int(&r, "HGET crm:{t3}:customer:leaver last_nps"), 2);
    cr_assert_eq(day_sum(&r, "t3", "churn_alerts"), (int64_t)got->cnt);
    free_alerts(got);
    free(got);
    cp_churn_model_destroy(m);
    h_redis_stop(&r);
}

/* ---- 6. response SLA ---- */

/* Chat conversations around the CHAT SLA; @p lonely_reply adds a
 * conversation whose late reply is the first event past its deadline. */
static void sla_scenario(const struct cp_churn_model *m, int64_t w, int lonely,
                         const char *path)
{
    int64_t sla = cp_churn_model_sla_ms(m, CP_CHANNEL_CHAT);
    int64_t step = sla / 5 > MIN_MS ? sla / 5 : MIN_MS;
    struct scn s = {0};
    int i = 0;

    /* Never answered. */
    scn_add(&s, w,
            "wait-in t6 waiter %lld MessageReceived manager=m6 "
            "channel=CHAT id=cv-w",
            (long long)w);
    /* Answered within the SLA. */
    scn_add(&s, w + MIN_MS,
            "quick-in t6 quick %lld MessageReceived "
            "manager=m6 channel=CHAT id=cv-q",
            (long long)(w + MIN_MS));
    scn_add(&s, w + MIN_MS + sla / 2,
            "quick-out t6 quick %lld MessageSent "
            "manager=m6 channel=CHAT id=cv-q",
            (long long)(w + MIN_MS + sla / 2));
    /* Answered at three times the SLA, with traffic in between. */
    scn_add(&s, w + 2 * sla,
            "slow-in t6 slow %lld MessageReceived "
            "manager=m6 channel=CHAT id=cv-s",
            (long long)(w + 2 * sla));
    scn_add(&s, w + 5 * sla,
            "slow-out t6 slow %lld MessageSent manager=m6 "
            "channel=CHAT id=cv-s",
            (long long)(w + 5 * sla));
    /* Web visits of someone else move the watermark meanwhile. */
    for (int64_t t = w - 10 * MIN_MS; t <= w + 6 * sla; t += step)
        scn_add(&s, t, "visit-%d t6 browser %lld WebVisit manager=mb", i++,
                (long long)t);
    if (lonely) {
        int64_t at = w + 6 * sla + 10 * MIN_MS;

        scn_add(&s, at,
                "lonely-in t6 lonely %lld MessageReceived "
                "manager=m6 channel=CHAT id=cv-l",
                (long long)at);
        scn_add(&s, at + 3 * sla,
                "lonely-out t6 lonely %lld MessageSent "
                "manager=m6 channel=CHAT id=cv-l",
                (long long)(at + 3 * sla));
    }
    scn_write(&s, path);
}

static void expect_breach(const struct got_alerts *got, const char *customer,
                          const char *conv, int64_t wait_start, int64_t sla)
{
    const struct got_alert *g = NULL;
    char trig[96], id[33];

    cr_assert_eq(alerts_of(got, customer, CP_ALERT_RESPONSE_SLA_BREACH, &g), 1,
                 "%s: expected exactly one SLA breach", customer);
    snprintf(trig, sizeof(trig), "%s@%lld", conv, (long long)wait_start);
    cp_churn_alert_id("t6", customer, "RESPONSE_SLA_BREACH", CP_LEVEL_HIGH,
                      trig, id);
    cr_assert_str_eq(g->id, id, "%s: alert_id", customer);
    cr_assert_eq(g->event_time, wait_start + sla, "%s: event_time", customer);
    cr_assert_eq(g->level, CP_ALERT_HIGH);
    cr_assert_not(g->has_trig);
    cr_assert_str_eq(g->manager, "m6");
}

Test(churn, response_sla_breach_once_per_wait)
{
    const char *group = "sla";
    struct cp_churn_model *m = cp_churn_model_default();
    int64_t sla, now = cp_now_ms();
    int64_t w;
    struct h_redis r;
    struct got_alerts *got = calloc(1, sizeof(*got));
    const struct got_alert *g = NULL;
    char day[16], minute[24], json[8192];
    struct h_strs recent;

    cr_assert_not_null(m);
    cr_assert_not_null(got);
    sla = cp_churn_model_sla_ms(m, CP_CHANNEL_CHAT);
    cr_assert_gt(sla, 0, "the default model has no CHAT SLA");
    /* Recent enough for minute keys, ending before now. */
    w = (now - 6 * sla - 3 * 3600000LL) / MIN_MS * MIN_MS;
    sla_scenario(m, w, 0, h_scratch_file("sla.scn"));
    h_redis_start(&r);
    produce(h_scratch_file("sla.scn"), h_scratch_file("sla.dump"));
    run_worker(&r, group, ALERTS, h_scratch_file("sla.log"));
    cr_assert_geq(watermark(&r, group), w + 5 * sla);

    read_alerts(ALERTS, counted_alerts(&r, "t6"), got);
    expect_breach(got, "waiter", "cv-w", w, sla);
    expect_breach(got, "slow", "cv-s", w + 2 * sla, sla);
    cr_assert_eq(alerts_of(got, "quick", CP_ALERT_RESPONSE_SLA_BREACH, NULL), 0,
                 "a reply within the SLA raised a breach");
    cr_assert_eq(day_sum(&r, "t6", "sla_breaches"), 2);
    day_of(w + sla, day, sizeof(day));
    {
        char day2[16];

        /* Both breaches count for their manager, on their own days. */
        day_of(w + 3 * sla, day2, sizeof(day2));
        cr_assert_eq(
            h_redis_int(&r, "HGET crm:{t6}:d:%s:manager:m6 sla_breaches", day),
            strcmp(day, day2) ? 1 : 2);
    }
    minute_of(w + sla, minute, sizeof(minute));
    cr_assert_eq(h_redis_int(&r, "HGET crm:{t6}:m:%s sla_breaches", minute), 1,
                 "minute hash of the breach");
    /* alerts:recent holds each breach once, newest first. */
    h_redis_strs(&r, &recent, "LRANGE crm:{t6}:alerts:recent 0 -1");
    {
        size_t breaches = 0;
        char kind[64];

        for (size_t i = 0; i < recent.cnt; i++) {
            cr_assert_eq(json_field(recent.str[i], "kind", kind, sizeof(kind)),
                         0);
            breaches += !strcmp(kind, "RESPONSE_SLA_BREACH");
        }
        cr_assert_eq(breaches, 2);
    }
    h_strs_free(&recent);
    /* 5. Both kinds decode with python3-avro. */
    cr_assert_eq(alerts_of(got, "waiter", CP_ALERT_RESPONSE_SLA_BREACH, &g), 1);
    h_redis_strs(&r, &recent, "LRANGE crm:{t6}:alerts:recent 0 -1");
    json[0] = '\0';
    for (size_t i = 0; i < recent.cnt; i++) {
        char id[64];

        if (!json_field(recent.str[i], "alert_id", id, sizeof(id)) &&
            !strcmp(id, g->id))
            snprintf(json, sizeof(json), "%s", recent.str[i]);
    }
    h_strs_free(&recent);
    cr_assert(json[0], "breach %s not in alerts:recent", g->id);
    check_with_python_avro(g, json);
    /* 7. Every counter, the alert counters of day, minute and manager
     * hashes included, as the oracle computes them. */
    check_with_oracle(&r, h_scratch_file("sla.dump"), got, now);
    free_alerts(got);
    free(got);
    cp_churn_model_destroy(m);
    h_redis_stop(&r);
}

/* A reply that comes only after the SLA, with no other event in between:
 * the wait was longer than the SLA, so it is a breach (schemas/churn-model.md,
 * "Response-SLA breaches": it fires when the watermark passes wait start +
 * SLA, not when the reply finally comes). */
Test(churn, late_reply_that_moves_the_watermark_still_breaches)
{
    const char *group = "lonely";
    struct cp_churn_model *m = cp_churn_model_default();
    int64_t sla, now = cp_now_ms(), w;
    struct h_redis r;
    struct got_alerts *got = calloc(1, sizeof(*got));

    cr_assert_not_null(m);
    cr_assert_not_null(got);
    sla = cp_churn_model_sla_ms(m, CP_CHANNEL_CHAT);
    w = (now - 10 * sla - 3 * 3600000LL) / MIN_MS * MIN_MS;
    sla_scenario(m, w, 1, h_scratch_file("lonely.scn"));
    h_redis_start(&r);
    produce(h_scratch_file("lonely.scn"), NULL);
    run_worker(&r, group, ALERTS, h_scratch_file("lonely.log"));
    read_alerts(ALERTS, counted_alerts(&r, "t6"), got);
    expect_breach(got, "lonely", "cv-l", w + 6 * sla + 10 * MIN_MS, sla);
    cr_assert_eq(day_sum(&r, "t6", "sla_breaches"), 3);
    free_alerts(got);
    free(got);
    cp_churn_model_destroy(m);
    h_redis_stop(&r);
}

/* ---- 4. kill -9 and 7. the counter oracle ---- */

#define KILL_SILENT  40
#define KILL_FILLERS 200
#define KILL_EVENTS  20000 /* filler orders */
#define KILL_BATCH   "100" /* many transactions, so kills land mid-stream */

/* Regular buyers who fall silent one after the other, their crossings
 * spread over the stream, among steady buyers who carry the watermark.
 * @returns the number of events. */
static size_t kill_scenario(const struct cp_churn_model *m, int64_t now,
                            const char *path)
{
    int64_t d_high, d_crit, start, step;
    struct scn s = {0};
    size_t cnt;

    silence_offsets(m, &d_high, &d_crit);
    start =
        now - (20 * WEEK_MS + d_high + 2 * KILL_SILENT * DAY_MS + 7 * DAY_MS);
    for (int c = 0; c < KILL_SILENT; c++)
        for (int i = 0; i <= 20; i++) {
            int64_t t = start + c * 2 * DAY_MS + i * WEEK_MS;

            scn_add(&s, t,
                    "s%02d-%d t4 s%02d %lld OrderPlaced manager=m%d "
                    "amount=%d",
                    c, i, c, (long long)t, c % 4, ORDER_MINOR);
        }
    step = (now - start + DAY_MS) / KILL_EVENTS;
    for (int k = 0; k < KILL_EVENTS; k++) {
        int64_t t = start - DAY_MS + k * step;

        scn_add(&s, t,
                "f-%d t4 f%03d %lld OrderPlaced manager=m%d "
                "amount=%d",
                k, k % KILL_FILLERS, (long long)t, k % 4, 3000 + k % 97);
    }
    cnt = s.cnt;
    scn_write(&s, path);
    return cnt;
}

/* When silent customer @p c of kill_scenario() ordered last. */
static int64_t kill_last_order(const struct cp_churn_model *m, int64_t now,
                               int c)
{
    int64_t d_high, d_crit;

    silence_offsets(m, &d_high, &d_crit);
    return now -
           (20 * WEEK_MS + d_high + 2 * KILL_SILENT * DAY_MS + 7 * DAY_MS) +
           c * 2 * DAY_MS + 20 * WEEK_MS;
}

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

struct pending {
    char customer[16];
    int64_t due;
};

static int has_id(const struct got_alerts *g, const char *id)
{
    for (size_t i = 0; i < g->cnt; i++)
        if (!strcmp(g->a[i].id, id))
            return 1;
    return 0;
}

static const struct got_alert *by_id(const struct got_alerts *g, const char *id)
{
    for (size_t i = 0; i < g->cnt; i++)
        if (!strcmp(g->a[i].id, id))
            return &g->a[i];
    return NULL;
}

/* Writes every alert of @p g (repeats included) as JSON lines. */
static void write_alert_lines(const struct got_alerts *g, const char *path)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f, "%s", path);
    for (size_t i = 0; i < g->cnt; i++)
        fprintf(f, "%s\n", g->a[i].json);
    cr_assert_eq(fclose(f), 0);
}

/* The exact-counter oracle on the events of @p dump and the alerts of
 * @p alerts (as read from the topic, repeats included): every counter,
 * churn_alerts and sla_breaches with each alert_id once. */
static void check_with_oracle(const struct h_redis *r, const char *dump,
                              const struct got_alerts *alerts,
                              int64_t processed_from)
{
    const char *lines = h_scratch_file("alerts.jsonl");
    const char *log = h_scratch_file("oracle.log");
    char from[32];
    const char *argv[] = {"/usr/bin/python3",
                          h_src("tests/integration/oracle.py"),
                          "--dump",
                          dump,
                          "--schema-dir",
                          h_src("schemas"),
                          "--redis-url",
                          r->url,
                          "--partitions",
                          "1",
                          "--dlq-count",
                          "0",
                          "--processed-from",
                          from,
                          "--alerts",
                          lines,
                          NULL};
    int rc;

    write_alert_lines(alerts, lines);
    snprintf(from, sizeof(from), "%lld", (long long)processed_from);
    rc = h_run(argv, log, 300);
    h_tail(log, rc ? 30 : 1);
    cr_assert_eq(rc, 0, "oracle found mismatches (exit %d)", rc);
}

Test(churn, kill_9_keeps_timers_and_alert_ids)
{
    struct cp_churn_model *m = cp_churn_model_default();
    const char *scn = h_scratch_file("kill.scn");
    const char *dump = h_scratch_file("kill.dump");
    const char *log = h_scratch_file("crashy.log");
    const double kill_at[] = {0.35, 0.72, 0.86};
    struct got_alerts *clean = calloc(1, sizeof(*clean));
    struct got_alerts *crashy = calloc(1, sizeof(*crashy));
    struct pending pend[KILL_SILENT * 2];
    size_t pend_cnt = 0, distinct = 0, churn = 0;
    int64_t wm_end;
    struct h_redis rc_clean, rc_crashy;
    struct h_strs rec_clean, rec_crashy;
    int64_t total, produced_at = cp_now_ms();

    cr_assert(m && clean && crashy);
    total = (int64_t)kill_scenario(m, produced_at, scn);
    produce(scn, dump);
    h_redis_start(&rc_clean);
    h_redis_start(&rc_crashy);

    /* The reference: one uninterrupted run. */
    {
        int rc = h_wait(spawn_worker(&rc_clean, "clean", ALERTS_B, KILL_BATCH,
                                     h_scratch_file("clean.log")),
                        300);

        if (rc)
            h_tail(h_scratch_file("clean.log"), 40);
        cr_assert_eq(rc, 0, "crmpulse exited %d", rc);
    }

    /* The same stream, killed twice while timers are pending. */
    for (size_t k = 0; k < CP_ARRAY_SIZE(kill_at); k++) {
        pid_t pid = spawn_worker(&rc_crashy, "crashy", ALERTS, KILL_BATCH, log);
        int64_t done = wait_for_commits(&rc_crashy, "crashy",
                                        (int64_t)(kill_at[k] * (double)total));
        int64_t wm;
        struct h_strs t;

        /* Writes paused: the batch in flight has its alerts acknowledged
         * by Kafka and waits for its transaction, so the kill leaves
         * alerts on the topic that Redis never counted. */
        h_redis_int(&rc_crashy, "CLIENT PAUSE 10000 WRITE");
        h_sleep_ms(300);
        kill(pid, SIGKILL);
        cr_assert_eq(h_wait(pid, 30), 128 + SIGKILL);
        h_redis_int(&rc_crashy, "CLIENT UNPAUSE");
        cr_assert_lt(done, total, "kill %zu landed after the end", k);
        fprintf(stderr, "killed worker at %lld/%lld messages\n",
                (long long)done, (long long)total);
        /* The silence timers that are pending at the crash. */
        wm = watermark(&rc_crashy, "crashy");
        h_redis_strs(&rc_crashy, &t,
                     "ZRANGEBYSCORE crmpulse:timers:crashy:crm.events:0 "
                     "(%lld +inf WITHSCORES",
                     (long long)wm);
        for (size_t i = 0; i + 1 < t.cnt; i += 2) {
            /* Only customers past their last order: an order still to come
             * moves the timer. */
            if (strncmp(t.str[i], "c\tt4\ts", 6) ||
                pend_cnt == CP_ARRAY_SIZE(pend) ||
                kill_last_order(m, produced_at, atoi(t.str[i] + 6)) > wm)
                continue;
            snprintf(pend[pend_cnt].customer, sizeof(pend[0].customer), "%s",
                     t.str[i] + 5);
            pend[pend_cnt++].due = strtoll(t.str[i + 1], NULL, 10);
        }
        h_strs_free(&t);
    }
    {
        int rc = h_wait(
            spawn_worker(&rc_crashy, "crashy", ALERTS, KILL_BATCH, log), 300);

        if (rc)
            h_tail(log, 40);
        cr_assert_eq(rc, 0, "crmpulse exited %d", rc);
    }
    cr_assert_eq(h_redis_hash_sum(&rc_crashy, "crmpulse:offsets:crashy"),
                 total);
    cr_assert_gt(pend_cnt, 0, "no silence timer was pending at the kills");

    read_alerts(ALERTS_B, counted_alerts(&rc_clean, "t4"), clean);
    cr_assert_eq(clean->cnt, counted_alerts(&rc_clean, "t4"),
                 "%zu alerts on Kafka, %zu counted in Redis", clean->cnt,
                 counted_alerts(&rc_clean, "t4"));
    for (size_t i = 0; i < clean->cnt; i++) {
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(clean->a[i].id, clean->a[j].id,
                              "one run emitted alert %s twice", clean->a[i].id);
        churn += clean->a[i].kind == CP_ALERT_CHURN_RISK;
    }
    read_alerts(ALERTS, counted_alerts(&rc_crashy, "t4"), crashy);

    /* Every silent customer alerted, from its timer. */
    for (int c = 0; c < KILL_SILENT; c++) {
        char cust[16];
        const struct got_alert *g = NULL;

        snprintf(cust, sizeof(cust), "s%02d", c);
        cr_assert_geq(alerts_of(clean, cust, CP_ALERT_CHURN_RISK, &g), 1,
                      "%s never alerted (timer %lld, watermark %lld)", cust,
                      (long long)silence_timer(&rc_clean, "clean", "t4", cust),
                      (long long)watermark(&rc_clean, "clean"));
        cr_assert_eq(g->level, CP_ALERT_HIGH);
        cr_assert_not(g->has_trig);
    }

    /* The crashed run: the same alerts, with the same ids; a re-emitted
     * one is a copy. */
    for (size_t i = 0; i < crashy->cnt; i++) {
        const struct got_alert *a = &crashy->a[i];
        const struct got_alert *ref = by_id(clean, a->id);
        int first = 1;

        cr_assert_not_null(ref,
                           "alert %s (%s, %lld) after the crash is not "
                           "in the uninterrupted run",
                           a->id, a->customer, (long long)a->event_time);
        cr_assert_str_eq(a->customer, ref->customer);
        cr_assert_eq(a->event_time, ref->event_time);
        cr_assert_eq(a->level, ref->level);
        cr_assert_eq(a->has_trig, ref->has_trig);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(crashy->a[j].id, a->id))
                first = 0;
        distinct += first;
    }
    cr_assert_eq(distinct, clean->cnt,
                 "%zu distinct alerts after the crash, "
                 "%zu without",
                 distinct, clean->cnt);
    fprintf(stderr, "alerts: %zu, re-emitted after kills: %zu\n", clean->cnt,
            crashy->cnt - distinct);

    /* Each timer pending at a kill fired after the restart, at its time;
     * one due after the stream's end (a later kill can catch the next
     * level's timer) cannot fire in either run: it must still be pending,
     * unchanged. */
    wm_end = watermark(&rc_crashy, "crashy");
    for (size_t i = 0; i < pend_cnt; i++) {
        char trig[48], id_high[33], id_crit[33];

        if (pend[i].due > wm_end) {
            cr_assert_eq(
                silence_timer(&rc_crashy, "crashy", "t4", pend[i].customer),
                pend[i].due,
                "%s's timer due %lld (after the end, watermark "
                "%lld) was not kept",
                pend[i].customer, (long long)pend[i].due, (long long)wm_end);
            continue;
        }
        snprintf(trig, sizeof(trig), "timer:%lld", (long long)pend[i].due);
        cp_churn_alert_id("t4", pend[i].customer, "CHURN_RISK", CP_LEVEL_HIGH,
                          trig, id_high);
        cp_churn_alert_id("t4", pend[i].customer, "CHURN_RISK",
                          CP_LEVEL_CRITICAL, trig, id_crit);
        cr_assert(has_id(crashy, id_high) || has_id(crashy, id_crit),
                  "%s's timer due %lld, pending at a kill, did not fire "
                  "(timer now %lld, watermark %lld)",
                  pend[i].customer, (long long)pend[i].due,
                  (long long)silence_timer(&rc_crashy, "crashy", "t4",
                                           pend[i].customer),
                  (long long)watermark(&rc_crashy, "crashy"));
    }

    /* Redis holds each alert once: alerts:recent as in the clean run, and
     * the counters. */
    h_redis_strs(&rc_clean, &rec_clean, "LRANGE crm:{t4}:alerts:recent 0 -1");
    h_redis_strs(&rc_crashy, &rec_crashy, "LRANGE crm:{t4}:alerts:recent 0 -1");
    cr_assert_eq(rec_crashy.cnt, rec_clean.cnt);
    cr_assert_eq(rec_clean.cnt, clean->cnt < 100 ? clean->cnt : 100);
    /* The same alerts, each once. (Their order within a batch follows the
     * batch boundaries, which differ after a restart.) */
    for (size_t i = 0; i < rec_crashy.cnt; i++) {
        char a[64], b[64];
        int found = 0;

        cr_assert_eq(json_field(rec_crashy.str[i], "alert_id", b, sizeof(b)),
                     0);
        for (size_t j = 0; j < rec_clean.cnt; j++) {
            cr_assert_eq(json_field(rec_clean.str[j], "alert_id", a, sizeof(a)),
                         0);
            found += !strcmp(a, b);
        }
        cr_assert_eq(found, 1, "alerts:recent holds %s, not in the clean run",
                     b);
        for (size_t j = 0; j < i; j++) {
            cr_assert_eq(
                json_field(rec_crashy.str[j], "alert_id", a, sizeof(a)), 0);
            cr_assert_str_neq(a, b, "alerts:recent holds %s twice", b);
        }
    }
    h_strs_free(&rec_clean);
    h_strs_free(&rec_crashy);
    cr_assert_eq(day_sum(&rc_clean, "t4", "churn_alerts"), (int64_t)churn);
    cr_assert_eq(day_sum(&rc_crashy, "t4", "churn_alerts"), (int64_t)churn);
    for (int mgr = 0; mgr < 4; mgr++) {
        struct h_strs keys;
        int64_t sum_clean = 0, sum_crashy = 0;

        h_redis_strs(&rc_clean, &keys, "KEYS crm:{t4}:d:*:manager:m%d", mgr);
        for (size_t i = 0; i < keys.cnt; i++) {
            int64_t a =
                h_redis_int(&rc_clean, "HGET %s churn_alerts", keys.str[i]);
            int64_t b =
                h_redis_int(&rc_crashy, "HGET %s churn_alerts", keys.str[i]);

            sum_clean += a > 0 ? a : 0;
            sum_crashy += b > 0 ? b : 0;
            cr_assert_eq(b, a, "%s churn_alerts", keys.str[i]);
        }
        h_strs_free(&keys);
        cr_assert_eq(sum_crashy, sum_clean);
    }

    /* 7. Alerts add only churn_alerts/sla_breaches, each alert once: the
     * counters are exactly what the oracle computes from the input and the
     * alerts on the topic (re-emitted ones included). */
    check_with_oracle(&rc_crashy, dump, crashy, produced_at);

    free_alerts(clean);
    free_alerts(crashy);
    free(clean);
    free(crashy);
    cp_churn_model_destroy(m);
    h_redis_stop(&rc_clean);
    h_redis_stop(&rc_crashy);
}

/* A customer whose events carry no manager_id is scored and stored like
 * any other (the customer hash has no `manager` field then). */
Test(churn, customer_without_manager_is_stored)
{
    struct h_redis r;
    struct scn s = {0};
    int64_t now = cp_now_ms();
    char buf[64];

    scn_add(&s, now - DAY_MS, "solo-1 t5 solo %lld OrderPlaced amount=100",
            (long long)(now - DAY_MS));
    scn_write(&s, h_scratch_file("solo.scn"));
    h_redis_start(&r);
    produce(h_scratch_file("solo.scn"), NULL);
    run_worker(&r, "solo", ALERTS, h_scratch_file("solo.log"));
    cr_assert_eq(h_redis_int(&r, "HGET crm:{t5}:customer:solo orders"), 1);
    cr_assert_eq(h_redis_str(&r, buf, sizeof(buf),
                             "HGET crm:{t5}:customer:solo manager"),
                 -1);
    h_redis_stop(&r);
}
