/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-fit --evidence-horizon: the alert's evidence weights fitted from
 * labelled episodes (fit_int.h): the history replayed through the engine,
 * every customer's evidence sampled every step, an L2 logistic regression
 * with non-negative weights, and level.high set for a target precision. */
#include "fit.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn.h"
#include "fit_int.h"

/* ------------------------------------------------------------------ */
/* The evidence weights of the alert, from labelled episodes           */

#define NE CP_E_CNT
/* Samples kept at most: the step grows to stay below (80 MB of values). */
#define EV_SAMPLES_MAX 2000000

/* Evidence samples: every customer seen so far, every ev_step days. */
struct ev_samples {
    float *x;       /* n x NE evidence values */
    uint32_t *cust; /* index into data.c */
    int64_t *at;    /* sample time (ms) */
    char *y;        /* 1: within the horizon after the churn start */
    char *use;      /* in the regression (a churner long gone is not) */
    size_t n, cap;
};

static void ev_samples_cleanup(struct ev_samples *s)
{
    free(s->x);
    free(s->cust);
    free(s->at);
    free(s->y);
    free(s->use);
    memset(s, 0, sizeof(*s));
}

static int ev_reserve(struct ev_samples *s, size_t more)
{
    size_t ncap = s->cap ? s->cap : 4096;

    if (s->n + more <= s->cap)
        return 0;
    while (ncap < s->n + more)
        ncap *= 2;
#define GROW(p, k)                                                             \
    do {                                                                       \
        void *np_ = realloc((p), ncap * (k) * sizeof(*(p)));                   \
        if (!np_)                                                              \
            return -1;                                                         \
        (p) = np_;                                                             \
    } while (0)
    GROW(s->x, NE);
    GROW(s->cust, 1);
    GROW(s->at, 1);
    GROW(s->y, 1);
    GROW(s->use, 1);
#undef GROW
    s->cap = ncap;
    return 0;
}

/* One sample of every customer seen before @p at. */
static int ev_sample_all(struct ev_samples *s, const struct data *d,
                         const struct cp_churn_model *mall, int64_t at,
                         double horizon_ms)
{
    if (ev_reserve(s, d->cnt))
        return -1;
    for (size_t i = 0; i < d->cnt; i++) {
        const struct cust *c = &d->c[i];
        double e[NE];
        size_t k = s->n;

        if (c->label < 0 || c->st.first_seen_ms == INT64_MIN ||
            c->st.first_seen_ms >= at)
            continue;
        cp__churn_evidence(mall, &c->st, at, e);
        for (int j = 0; j < NE; j++)
            s->x[k * NE + j] = (float)e[j];
        s->cust[k] = (uint32_t)i;
        s->at[k] = at;
        s->y[k] = c->start != INT64_MAX && at >= c->start &&
                  (double)(at - c->start) < horizon_ms;
        s->use[k] = !(c->start != INT64_MAX && at >= c->start && !s->y[k]);
        s->n++;
    }
    return 0;
}

/* Labels of the cohort generator: tenant_id,customer_id,profile,churned,
 * churn_start_ms[,...] with that header. */
static cp_rc ev_read_labels(struct data *d, const struct cp_fit_opts *o,
                            char *errstr, size_t errstr_size)
{
    FILE *fp = fopen(o->labels, "r");
    char line[4096];
    long lineno = 0;
    cp_rc rc = CP_OK;

    if (!fp) {
        snprintf(errstr, errstr_size,
                 "open labels %s: %s (fix: a readable CSV file)", o->labels,
                 strerror(errno));
        return CP_EIO;
    }
    while (fgets(line, sizeof(line), fp)) {
        char *f[9];
        int n;
        struct cust *c;
        int64_t start = INT64_MAX;

        lineno++;
        n = cp__fit_split(line, f, 9);
        if (lineno == 1) {
            if (n < 5 || strcmp(f[0], "tenant_id") ||
                strcmp(f[1], "customer_id") || strcmp(f[3], "churned") ||
                strcmp(f[4], "churn_start_ms")) {
                snprintf(errstr, errstr_size,
                         "%s:1: --evidence-horizon needs the header "
                         "tenant_id,customer_id,profile,churned,"
                         "churn_start_ms (fix: crmpulse-gen --churn-cohort "
                         "--labels FILE)",
                         o->labels);
                rc = CP_EDECODE;
                break;
            }
            continue;
        }
        if (n == 1 && !line[0])
            continue;
        if (n < 5 || (strcmp(f[3], "0") && strcmp(f[3], "1")) ||
            (f[4][0] && cp_fit_parse_ms(f[4], &start))) {
            snprintf(errstr, errstr_size,
                     "%s:%ld: expected tenant_id,customer_id,profile,"
                     "churned (0 or 1),churn_start_ms (ms or empty)",
                     o->labels, lineno);
            rc = CP_EDECODE;
            break;
        }
        c = cp__fit_cust_get(d, f[0], f[1]);
        if (!c) {
            rc = cp__fit_nomem(errstr, errstr_size);
            break;
        }
        c->label = f[3][0] == '1';
        c->start = start;
    }
    if (!rc && ferror(fp)) {
        snprintf(errstr, errstr_size, "read labels %s: %s", o->labels,
                 strerror(errno));
        rc = CP_EIO;
    }
    fclose(fp);
    return rc;
}

/* Replays the events in time order, sampling every labelled customer's
 * evidence every @p step_ms of event time. */
static cp_rc ev_replay(struct data *d, struct ev_samples *s,
                       const struct cp_churn_model *m,
                       const struct cp_churn_model *mall,
                       const struct cp_fit_opts *o, int64_t step_ms,
                       size_t *used, char *errstr, size_t errstr_size)
{
    struct cp__fit_events ev;
    int64_t next = INT64_MIN, last = INT64_MIN;
    double horizon_ms = o->ev_horizon * MS_PER_DAY;
    cp_rc rc = CP_OK;

    rc = cp__fit_events_open(&ev, o->events, errstr, errstr_size);
    if (rc)
        return rc;
    *used = 0;
    for (;;) {
        char *f[6];
        int64_t at, value;
        struct cust *c;
        int obs, got = cp__fit_events_next(&ev, f, &at, &obs, &value, errstr,
                                           errstr_size);

        if (got <= 0) {
            rc = got < 0 ? ev.err : CP_OK;
            break;
        }
        if (o->cutoff != INT64_MIN && at >= o->cutoff)
            continue;
        if (at < last) {
            snprintf(errstr, errstr_size,
                     "%s:%ld: event time goes back (%lld after %lld): the "
                     "evidence fit replays in event-time order (fix: sort "
                     "the file by occurred_at_ms)",
                     o->events, ev.lineno, (long long)at, (long long)last);
            rc = CP_EDECODE;
            break;
        }
        last = at;
        if (next == INT64_MIN)
            next = at + step_ms;
        while (at >= next) {
            if (ev_sample_all(s, d, mall, next, horizon_ms)) {
                rc = cp__fit_nomem(errstr, errstr_size);
                goto out;
            }
            next += step_ms;
        }
        c = cp__fit_cust_get(d, f[0], f[1]);
        if (!c) {
            rc = cp__fit_nomem(errstr, errstr_size);
            break;
        }
        cp_churn_observe(&c->st, m, (enum cp_churn_obs)obs, at, value);
        (*used)++;
    }
    /* The end of the history is sampled too (a silence up to it). */
    if (!rc && next != INT64_MIN && ev_sample_all(s, d, mall, last, horizon_ms))
        rc = cp__fit_nomem(errstr, errstr_size);
out:
    cp__fit_events_close(&ev);
    return rc;
}

/* L2-penalised logistic regression of y on the evidence columns with
 * act[j] != 0 (Newton with step halving); w[NE] and *bias are updated. */
static void ev_logit(const struct ev_samples *s, const char *act, double l2,
                     double *bias, double w[NE])
{
    double beta[NE + 1], H[(NE + 1) * (NE + 1)], g[NE + 1];
    int d = NE + 1;

    beta[0] = *bias;
    for (int j = 0; j < NE; j++)
        beta[j + 1] = act[j] ? w[j] : 0;
    for (int iter = 0; iter < 60; iter++) {
        double step = 0;

        memset(H, 0, sizeof(H));
        memset(g, 0, sizeof(g));
        for (size_t i = 0; i < s->n; i++) {
            double z[NE + 1], eta = 0, p, wt;

            if (!s->use[i])
                continue;
            z[0] = 1;
            for (int j = 0; j < NE; j++)
                z[j + 1] = act[j] ? s->x[i * NE + j] : 0;
            for (int a = 0; a < d; a++)
                eta += beta[a] * z[a];
            p = 1 / (1 + exp(-fmax(-50, fmin(50, eta))));
            wt = fmax(p * (1 - p), 1e-9);
            for (int a = 0; a < d; a++) {
                g[a] += (s->y[i] - p) * z[a];
                for (int b = 0; b <= a; b++)
                    H[a * d + b] += wt * z[a] * z[b];
            }
        }
        for (int a = 0; a < d; a++) {
            for (int b = a + 1; b < d; b++)
                H[a * d + b] = H[b * d + a];
            if (a > 0) {
                /* An inactive column: a unit diagonal keeps it at 0. */
                H[a * d + a] += act[a - 1] ? l2 : 1;
                g[a] -= act[a - 1] ? l2 * beta[a] : beta[a];
            }
        }
        if (cp__fit_solve(H, g, d))
            break;
        for (int a = 0; a < d; a++) {
            /* Damped: a separable column must not run away in one step. */
            double dv = fmax(-2, fmin(2, g[a]));

            beta[a] += dv;
            step = fmax(step, fabs(dv));
        }
        if (step < 1e-7)
            break;
    }
    *bias = beta[0];
    for (int j = 0; j < NE; j++)
        w[j] = act[j] ? beta[j + 1] : 0;
}

/* What the alert rule makes of the samples with level.high @p thr: one
 * alert when the evidence probability reaches it, latched until it falls
 * below thr - hysteresis, again only after the cooldown. */
struct ev_outcome {
    size_t alerts, true_alerts, churners, detected;
    double lead_sum; /* days from the churn start, detected churners */
};

static void ev_simulate(const struct ev_samples *s, const struct data *d,
                        const double *p, double thr, double hyst,
                        double cooldown_ms, char *latched, int64_t *last,
                        char *hit, struct ev_outcome *out)
{
    memset(out, 0, sizeof(*out));
    memset(latched, 0, d->cnt);
    memset(hit, 0, d->cnt);
    for (size_t i = 0; i < d->cnt; i++)
        last[i] = INT64_MIN;
    for (size_t i = 0; i < s->n; i++) {
        uint32_t c = s->cust[i];

        if (latched[c]) {
            if (p[i] < thr - hyst)
                latched[c] = 0;
            continue;
        }
        if (p[i] < thr || (last[c] != INT64_MIN &&
                           (double)(s->at[i] - last[c]) < cooldown_ms))
            continue;
        latched[c] = 1;
        last[c] = s->at[i];
        out->alerts++;
        if (d->c[c].label == 1 && s->at[i] >= d->c[c].start) {
            out->true_alerts++;
            if (!hit[c]) {
                hit[c] = 1;
                out->detected++;
                out->lead_sum +=
                    (double)(s->at[i] - d->c[c].start) / MS_PER_DAY;
            }
        }
    }
    for (size_t i = 0; i < d->cnt; i++)
        out->churners += d->c[i].label == 1;
}

/* Fits evidence.bias and evidence.weight.* (non-negative: evidence of
 * change only adds) and sets level.high for the target precision of the
 * alerts on the training history. */
static cp_rc ev_fit(struct cp_churn_model *m, const struct data *d,
                    const struct ev_samples *s, const struct cp_fit_opts *o,
                    FILE *rep, char *errstr, size_t errstr_size)
{
    double w[NE] = {0}, bias, pos = 0, cnt = 0;
    char act[NE];
    double *p = malloc(sizeof(double) * (s->n ? s->n : 1));
    char *latched = malloc(d->cnt ? d->cnt : 1);
    char *hit = malloc(d->cnt ? d->cnt : 1);
    int64_t *last = malloc(sizeof(int64_t) * (d->cnt ? d->cnt : 1));
    double best_thr = m->thr_high, best_prec = -1;
    struct ev_outcome oc;
    cp_rc rc = CP_OK;

    if (!p || !latched || !hit || !last) {
        rc = cp__fit_nomem(errstr, errstr_size);
        goto out;
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->use[i]) {
            cnt++;
            pos += s->y[i];
        }
    if (pos < 5 || cnt - pos < 5) {
        snprintf(errstr, errstr_size,
                 "evidence fit: %.0f positive and %.0f negative samples; "
                 "at least 5 of each are needed (fix: a longer history, "
                 "more churners or a longer --evidence-horizon)",
                 pos, cnt - pos);
        rc = CP_ECONFIG;
        goto out;
    }
    bias = log(pos / (cnt - pos));
    for (int j = 0; j < NE; j++)
        act[j] = 1;
    /* Drop the columns fitted negative and fit again, until none is. */
    for (int round = 0; round <= NE; round++) {
        int neg = 0;

        ev_logit(s, act, o->l2, &bias, w);
        for (int j = 0; j < NE; j++)
            if (act[j] && w[j] <= 0) {
                act[j] = 0;
                w[j] = 0;
                neg = 1;
            }
        if (!neg)
            break;
    }
    m->ev_bias = fmax(-100, fmin(100, bias));
    for (int j = 0; j < NE; j++)
        m->ev_weight[j] = fmin(100, w[j]);
    if (rep) {
        fprintf(rep,
                "evidence: %zu samples, %.0f in the regression, %.0f "
                "positive; bias %.4f, weights:",
                s->n, cnt, pos, m->ev_bias);
        for (int j = 0; j < NE; j++)
            fprintf(rep, "%s %s %.4f", j % 4 ? "," : "\n ",
                    cp__churn_evidence_names[j], m->ev_weight[j]);
        fprintf(rep, "\n");
    }
    for (size_t i = 0; i < s->n; i++) {
        double z = m->ev_bias;

        for (int j = 0; j < NE; j++)
            z += m->ev_weight[j] * s->x[i * NE + j];
        p[i] = 1 / (1 + exp(-fmax(-50, fmin(50, z))));
    }
    /* The lowest level whose alerts reach the precision (most recall);
     * else the most precise. */
    for (int k = 0; k < 99; k++) {
        double thr = 0.01 * (k + 1), prec;

        ev_simulate(s, d, p, thr, m->hysteresis, m->cooldown_days * MS_PER_DAY,
                    latched, last, hit, &oc);
        if (!oc.alerts)
            continue;
        prec = (double)oc.true_alerts / (double)oc.alerts;
        if (prec >= o->ev_precision) {
            best_thr = thr;
            break;
        }
        if (prec > best_prec) {
            best_prec = prec;
            best_thr = thr;
        }
    }
    m->thr_high = best_thr;
    if (m->thr_critical <= m->thr_high)
        m->thr_critical = fmin(0.99, (1 + m->thr_high) / 2);
    m->hysteresis = fmin(m->hysteresis, m->thr_high / 2);
    ev_simulate(s, d, p, m->thr_high, m->hysteresis,
                m->cooldown_days * MS_PER_DAY, latched, last, hit, &oc);
    if (rep)
        fprintf(rep,
                "level.high %.2f: on the training history %zu alerts, "
                "precision %.3f, recall %.3f (%zu of %zu churners), mean "
                "lead %.1f d\n",
                m->thr_high, oc.alerts,
                oc.alerts ? (double)oc.true_alerts / (double)oc.alerts : 0,
                oc.churners ? (double)oc.detected / (double)oc.churners : 0,
                oc.detected, oc.churners,
                oc.detected ? oc.lead_sum / (double)oc.detected : 0);
out:
    free(p);
    free(latched);
    free(hit);
    free(last);
    return rc;
}

/* crmpulse-fit --evidence-horizon: the evidence weights and level.high
 * from a labelled history of episodes; the score's factors are kept. */
cp_rc cp__fit_ev_run(struct cp_churn_model *m, const struct cp_fit_opts *o,
                     FILE *rep, char *errstr, size_t errstr_size)
{
    struct data d;
    struct ev_samples s;
    struct cp_churn_model *mall = cp__churn_model_dup(m);
    size_t used = 0, labelled = 0;
    int64_t step_ms = (int64_t)llround(o->ev_step * MS_PER_DAY);
    cp_rc rc;

    memset(&d, 0, sizeof(d));
    memset(&s, 0, sizeof(s));
    cp_map_init(&d.idx);
    if (!mall) {
        rc = cp__fit_nomem(errstr, errstr_size);
        goto out;
    }
    /* Every term computed: a weight of 0 would skip it. */
    for (int j = 0; j < NE; j++)
        mall->ev_weight[j] = 1;
    rc = ev_read_labels(&d, o, errstr, errstr_size);
    if (rc)
        goto out;
    for (size_t i = 0; i < d.cnt; i++)
        labelled += d.c[i].label >= 0;
    rc = ev_replay(&d, &s, m, mall, o, step_ms, &used, errstr, errstr_size);
    if (!rc && s.n > EV_SAMPLES_MAX) {
        snprintf(errstr, errstr_size,
                 "evidence fit: %zu samples, more than %d (fix: a longer "
                 "--evidence-step)",
                 s.n, EV_SAMPLES_MAX);
        rc = CP_ECONFIG;
    }
    if (rc)
        goto out;
    if (rep)
        fprintf(rep,
                "read %zu observations, %zu customers, %zu labelled; "
                "evidence every %.2f d, horizon %.1f d after the churn "
                "start\n",
                used, d.cnt, labelled, (double)step_ms / MS_PER_DAY,
                o->ev_horizon);
    rc = ev_fit(m, &d, &s, o, rep, errstr, errstr_size);
    if (!rc)
        rc = cp__fit_write_model(m, o, labelled, errstr, errstr_size);
out:
    ev_samples_cleanup(&s);
    for (size_t i = 0; i < d.cnt; i++)
        free(d.c[i].id);
    free(d.c);
    free(d.tenant);
    cp_map_cleanup(&d.idx);
    cp_churn_model_destroy(mall);
    return rc;
}
