/* SPDX-License-Identifier: Apache-2.0 */
/* Churn model benchmarks, no servers needed.
 *
 *   bench_churn speed [N]
 *       ns per cp_churn_observe / cp_churn_evaluate / cp_churn_next_due /
 *       pack + unpack, on a realistic customer (N iterations).
 *   bench_churn alerts MODEL EVENTS.csv TRUTH.csv FROM_MS CUTOFF_MS
 *       Replays each customer's observations in event time the way the
 *       worker does (evaluate + decide at every observation, and at the
 *       silence timer cp_churn_next_due() sets) and scores the CHURN_RISK
 *       alerts raised in [FROM_MS, CUTOFF_MS) against the generator's
 *       truth (tests/bench/churn_cohort.py): an alert is right when the
 *       customer had started to churn by then; recall counts customers whose
 *       churn started in [FROM_MS, CUTOFF_MS - 30 days) and who were alerted
 *       after that start, before the cutoff. Prints precision, recall and
 *       the median delay from churn start to the first right alert.
 *   bench_churn cohort MODEL EVENTS.csv END_MS ALERTS.jsonl SCORES.csv
 *       The same replay over crmpulse-gen --churn-cohort --events-csv
 *       (customers are tenant and customer id) up to END_MS, without Kafka
 *       or Redis: every CHURN_RISK alert as a JSON line and every
 *       customer's score at END_MS as CSV, the inputs churn_eval.py
 *       (--alerts, --scores) scores against the labels. A quick look at a
 *       model; bench_churn_quality.sh (the real worker) is the measure.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn.h"
#include "churn_int.h"
#include "common.h"
#include "map.h"

#define DAY 86400000LL

static volatile double sink;

static int speed(long n)
{
    struct cp_churn_model *m = cp_churn_model_default();
    struct cp_churn_state st;
    struct cp_churn_score sc;
    uint8_t buf[CP_CHURN_PACKED_MAX];
    int64_t t0 = 1767225600000LL, u0, u1;
    double acc = 0;

    if (!m) {
        fprintf(stderr, "bench_churn: default model does not load\n");
        return 1;
    }
    cp_churn_state_init(&st);
    u0 = cp_mono_us();
    for (long i = 0; i < n; i++)
        cp_churn_observe(&st, m, (enum cp_churn_obs)(i % CP_OBS_CNT),
                         t0 + i * 60000, 1000);
    u1 = cp_mono_us();
    printf("observe      %8.1f ns\n", (double)(u1 - u0) * 1000 / (double)n);
    u0 = cp_mono_us();
    for (long i = 0; i < n; i++) {
        cp_churn_evaluate(m, &st, t0 + n * 60000 + i * 1000, &sc);
        acc += sc.score;
    }
    u1 = cp_mono_us();
    printf("evaluate     %8.1f ns  (with reasons)\n",
           (double)(u1 - u0) * 1000 / (double)n);
    {
        long k = n / 100 > 0 ? n / 100 : 1;
        struct cp_churn_state reg;

        /* A weekly buyer: the timer search has a crossing to find. */
        cp_churn_state_init(&reg);
        for (int i = 0; i < 30; i++)
            cp_churn_observe(&reg, m, CP_OBS_ORDER, t0 + i * 7 * DAY, 4000);
        u0 = cp_mono_us();
        for (long i = 0; i < k; i++)
            acc += (double)cp_churn_next_due(m, &reg, t0 + 29 * 7 * DAY + i);
        u1 = cp_mono_us();
        printf("next_due     %8.1f ns  (weekly buyer, crossing found)\n",
               (double)(u1 - u0) * 1000 / (double)k);
        cp_churn_evaluate(m, &reg, t0 + 400 * 7 * DAY, &sc);
        cp_churn_decide(m, &reg, &sc, t0 + 400 * 7 * DAY);
        u0 = cp_mono_us();
        for (long i = 0; i < k; i++)
            acc += (double)cp_churn_next_due(m, &reg, t0 + 400 * 7 * DAY + i);
        u1 = cp_mono_us();
        printf("next_due     %8.1f ns  (already critical: full scan)\n",
               (double)(u1 - u0) * 1000 / (double)k);
    }
    u0 = cp_mono_us();
    for (long i = 0; i < n; i++) {
        size_t len = cp_churn_state_pack(&st, buf, sizeof(buf));

        acc += cp_churn_state_unpack(&st, buf, len);
    }
    u1 = cp_mono_us();
    printf("pack+unpack  %8.1f ns  (%d bytes, struct %zu bytes)\n",
           (double)(u1 - u0) * 1000 / (double)n, CP_CHURN_PACKED_MAX,
           sizeof(struct cp_churn_state));
    sink = acc;
    cp_churn_model_destroy(m);
    return 0;
}

struct ev {
    uint32_t cust;
    int obs;
    int64_t at, value;
};

static int cmp_ev(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;

    if (x->cust != y->cust)
        return x->cust < y->cust ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* The next instant of customer @p c's replay, in event time: its timer
 * @p due, or its next observations (all of one instant, each observed into
 * @p st). @returns 0 once nothing is left before @p end. */
static int next_instant(const struct ev *ev, size_t n, size_t *i, uint32_t c,
                        int64_t due, int64_t end,
                        const struct cp_churn_model *m,
                        struct cp_churn_state *st, int64_t *at)
{
    int64_t next = *i < n && ev[*i].cust == c ? ev[*i].at : end;

    if (due <= next && due < end) {
        *at = due;
        return 1;
    }
    if (!(*i < n && ev[*i].cust == c))
        return 0;
    *at = ev[*i].at;
    /* Same instant: one evaluation after all of them. */
    do {
        cp_churn_observe(st, m, (enum cp_churn_obs)ev[*i].obs, *at,
                         ev[*i].value);
        (*i)++;
    } while (*i < n && ev[*i].cust == c && ev[*i].at == *at);
    return 1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

static struct cp_map ids;
static int64_t *churn_start; /* per customer; INT64_MAX: never */
static size_t cust_cnt, cust_cap;

static uint32_t cust_index(const char *id)
{
    size_t len = strlen(id);
    struct cp_map_entry *e = cp_map_upsert(&ids, id, len, cp_map_hash(id, len));

    if (!e)
        exit(1);
    if (!e->value) {
        if (cust_cnt == cust_cap) {
            cust_cap = cust_cap ? cust_cap * 2 : 4096;
            churn_start = realloc(churn_start, cust_cap * sizeof(int64_t));
            if (!churn_start)
                exit(1);
        }
        churn_start[cust_cnt] = INT64_MAX;
        e->value = (void *)(uintptr_t)++cust_cnt;
    }
    return (uint32_t)((uintptr_t)e->value - 1);
}

static char *field(char **s)
{
    char *f = *s, *c = strchr(f, ',');

    if (c) {
        *c = '\0';
        *s = c + 1;
    } else {
        f[strcspn(f, "\r\n")] = '\0';
        *s = f + strlen(f);
    }
    return f;
}

static int alerts(const char *model, const char *events, const char *truth,
                  int64_t from, int64_t cutoff)
{
    char err[512], line[1024];
    struct cp_churn_model *m = cp_churn_model_load(model, err, sizeof(err));
    FILE *fp;
    struct ev *ev = NULL;
    size_t n = 0, cap = 0;
    long right = 0, wrong = 0, churners = 0, caught = 0, healthy_alerted = 0;
    int64_t *delays;
    size_t nd = 0;
    /* BENCH_CHURN_DUMP=FILE: every alert as CSV, for a closer look. */
    const char *dump_path = getenv("BENCH_CHURN_DUMP");
    FILE *dump = dump_path ? fopen(dump_path, "w") : NULL;

    if (!m) {
        fprintf(stderr, "bench_churn: %s\n", err);
        return 1;
    }
    cp_map_init(&ids);
    fp = fopen(events, "r");
    if (!fp)
        return perror(events), 1;
    while (fgets(line, sizeof(line), fp)) {
        char *s = line, *cust, *obs;
        int o;

        field(&s);
        cust = field(&s);
        if (!strcmp(cust, "customer_id"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            ev = realloc(ev, cap * sizeof(*ev));
            if (!ev)
                return 1;
        }
        ev[n].cust = cust_index(cust);
        ev[n].at = strtoll(field(&s), NULL, 10);
        obs = field(&s);
        o = cp_churn_obs_parse(obs);
        ev[n].obs = o;
        ev[n].value = strtoll(field(&s), NULL, 10);
        if (o >= 0 && ev[n].at < cutoff)
            n++;
    }
    fclose(fp);
    fp = fopen(truth, "r");
    if (!fp)
        return perror(truth), 1;
    while (fgets(line, sizeof(line), fp)) {
        char *s = line, *cust, *start;

        cust = field(&s);
        field(&s);
        start = field(&s);
        if (!strcmp(cust, "customer_id"))
            continue;
        churn_start[cust_index(cust)] =
            *start ? strtoll(start, NULL, 10) : INT64_MAX;
    }
    fclose(fp);
    qsort(ev, n, sizeof(*ev), cmp_ev);
    delays = malloc(sizeof(int64_t) * (cust_cnt + 1));
    if (!delays)
        return 1;

    for (size_t i = 0; i < n;) {
        uint32_t c = ev[i].cust;
        struct cp_churn_state st;
        struct cp_churn_score sc;
        int64_t due = INT64_MAX, first_right = INT64_MAX, cs = churn_start[c];
        int any_wrong = 0;

        cp_churn_state_init(&st);
        /* Observations in event time; the timer fires when event time (the
         * next observation, or the cutoff) passes it. */
        int64_t at;

        while (next_instant(ev, n, &i, c, due, cutoff, m, &st, &at)) {
            enum cp_churn_level lvl;

            cp_churn_evaluate(m, &st, at, &sc);
            lvl = cp_churn_decide(m, &st, &sc, at);
            if (lvl != CP_LEVEL_NONE && at >= from && dump)
                fprintf(dump, "%u,%lld,%d,%d,%u,%.3f,%s\n", c, (long long)at,
                        (int)lvl, at >= cs, st.orders, sc.score,
                        sc.reason_cnt ? sc.reasons[0].factor : "");
            if (lvl != CP_LEVEL_NONE && at >= from) {
                if (at >= cs) {
                    right++;
                    if (first_right == INT64_MAX)
                        first_right = at;
                } else {
                    wrong++;
                    any_wrong = 1;
                }
            }
            due = cp_churn_next_due(m, &st, at);
        }
        if (cs >= from && cs < cutoff - 30 * DAY) {
            churners++;
            if (first_right != INT64_MAX) {
                caught++;
                delays[nd++] = first_right - cs;
            }
        }
        if (cs == INT64_MAX && any_wrong)
            healthy_alerted++;
    }
    qsort(delays, nd, sizeof(int64_t), cmp_i64);
    printf("alerts in window: %ld (right %ld, wrong %ld; %ld never-churning "
           "customers alerted)\n",
           right + wrong, right, wrong, healthy_alerted);
    printf("precision %.3f  recall %.3f (%ld of %ld churners)  median delay "
           "%.1f days\n",
           right + wrong ? (double)right / (double)(right + wrong) : 0,
           churners ? (double)caught / (double)churners : 0, caught, churners,
           nd ? (double)delays[nd / 2] / DAY : 0);
    if (dump)
        fclose(dump);
    free(delays);
    free(ev);
    free(churn_start);
    cp_map_cleanup(&ids);
    cp_churn_model_destroy(m);
    return 0;
}

/* ---- cohort: the replay of a crmpulse-gen cohort, for churn_eval.py ---- */

static char **cust_names; /* per customer: "tenant,customer"; owned */

static uint32_t cohort_cust(const char *tenant, const char *cust)
{
    char key[256];
    uint32_t c;
    size_t had = cust_cnt;

    snprintf(key, sizeof(key), "%s,%s", tenant, cust);
    c = cust_index(key);
    if (cust_cnt > had) {
        cust_names = realloc(cust_names, cust_cap * sizeof(char *));
        if (!cust_names || !(cust_names[c] = strdup(key)))
            exit(1);
    }
    return c;
}

static int cohort(const char *model, const char *events, int64_t end,
                  const char *alerts_path, const char *scores_path)
{
    char err[512], line[1024];
    struct cp_churn_model *m = cp_churn_model_load(model, err, sizeof(err));
    FILE *fp, *fa, *fs;
    struct ev *ev = NULL;
    size_t n = 0, cap = 0;
    long alerts_n = 0;

    if (!m) {
        fprintf(stderr, "bench_churn: %s\n", err);
        return 1;
    }
    cp_map_init(&ids);
    fp = fopen(events, "r");
    if (!fp)
        return perror(events), 1;
    while (fgets(line, sizeof(line), fp)) {
        char *s = line, *tenant, *cust, *obs;
        int o;

        tenant = field(&s);
        cust = field(&s);
        if (!strcmp(cust, "customer_id"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            ev = realloc(ev, cap * sizeof(*ev));
            if (!ev)
                return 1;
        }
        ev[n].cust = cohort_cust(tenant, cust);
        ev[n].at = strtoll(field(&s), NULL, 10);
        obs = field(&s);
        o = cp_churn_obs_parse(obs);
        ev[n].obs = o;
        ev[n].value = strtoll(field(&s), NULL, 10);
        if (o >= 0 && ev[n].at < end)
            n++;
    }
    fclose(fp);
    fa = fopen(alerts_path, "w");
    fs = fopen(scores_path, "w");
    if (!fa || !fs)
        return perror("bench_churn: an output file"), 1;
    fprintf(fs, "tenant_id,customer_id,score");
    for (int k = 0; k < CP_E_CNT; k++)
        fprintf(fs, ",%s", cp__churn_evidence_names[k]);
    fprintf(fs, ",evidence\n");
    qsort(ev, n, sizeof(*ev), cmp_ev);
    for (size_t i = 0; i < n;) {
        uint32_t c = ev[i].cust;
        struct cp_churn_state st;
        struct cp_churn_score sc;
        int64_t due = INT64_MAX;
        const char *name = cust_names[c], *comma = strchr(name, ',');

        cp_churn_state_init(&st);
        int64_t at;

        while (next_instant(ev, n, &i, c, due, end, m, &st, &at)) {
            /* As the worker: a prospect (never bought nor subscribed) has
             * nothing to churn from and is neither decided nor timed. */
            if (st.orders == 0 && !(st.renewals > 0) && !(st.cancels > 0)) {
                due = INT64_MAX;
                continue;
            }
            cp_churn_evaluate(m, &st, at, &sc);
            if (cp_churn_decide(m, &st, &sc, at) != CP_LEVEL_NONE) {
                fprintf(fa,
                        "{\"kind\":\"CHURN_RISK\",\"tenant_id\":\"%.*s\","
                        "\"customer_id\":\"%s\",\"event_time\":%lld,"
                        "\"alert_id\":\"%u-%lld\",\"reason\":\"%s\"}\n",
                        (int)(comma - name), name, comma + 1, (long long)at, c,
                        (long long)at,
                        sc.reason_cnt ? sc.reasons[0].factor : "");
                alerts_n++;
            }
            due = cp_churn_next_due(m, &st, at);
        }
        cp_churn_evaluate(m, &st, end, &sc);
        fprintf(fs, "%.*s,%s,%.6f", (int)(comma - name), name, comma + 1,
                sc.score);
        {
            /* and every evidence value at the end, for a closer look */
            double e[CP_E_CNT];

            cp__churn_evidence(m, &st, end, e);
            for (int k = 0; k < CP_E_CNT; k++)
                fprintf(fs, ",%.4f", e[k]);
            fprintf(fs, ",%.4f\n", sc.evidence);
        }
    }
    fclose(fa);
    fclose(fs);
    fprintf(stderr,
            "bench_churn: %zu observations of %zu customers, %ld "
            "CHURN_RISK alerts\n",
            n, cust_cnt, alerts_n);
    for (size_t c = 0; c < cust_cnt; c++)
        free(cust_names[c]);
    free(cust_names);
    free(ev);
    free(churn_start);
    cp_map_cleanup(&ids);
    cp_churn_model_destroy(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "speed"))
        return speed(argc > 2 ? atol(argv[2]) : 200000);
    if (argc == 7 && !strcmp(argv[1], "alerts"))
        return alerts(argv[2], argv[3], argv[4], strtoll(argv[5], NULL, 10),
                      strtoll(argv[6], NULL, 10));
    if (argc == 7 && !strcmp(argv[1], "cohort"))
        return cohort(argv[2], argv[3], strtoll(argv[4], NULL, 10), argv[5],
                      argv[6]);
    fprintf(stderr, "usage: bench_churn speed [N]\n"
                    "       bench_churn alerts MODEL EVENTS.csv TRUTH.csv "
                    "FROM_MS CUTOFF_MS\n"
                    "       bench_churn cohort MODEL EVENTS.csv END_MS "
                    "ALERTS.jsonl SCORES.csv\n");
    return 2;
}
