/* SPDX-License-Identifier: Apache-2.0 */
/* Fitting the churn model's parameters from a labelled history (what
 * crmpulse-fit runs): read events and labels -> per-customer state at the
 * cutoff (churn.c) -> BG/NBD population parameters by maximum likelihood
 * (Nelder-Mead on log-parameters) -> logistic weights by L2-regularised
 * Newton (IRLS), order factors first -> held-out AUC on the report ->
 * refit on everything -> model file. The input format is in
 * schemas/churn-model.md ("Training data"). */
#include "fit.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "churn_int.h"
#include "civil.h"
#include "common.h"
#include "map.h"

#define MS_PER_DAY 86400000.0
#define NF         CP_CF_CNT

struct cust {
    char *id;
    struct cp_churn_state st;
    int label;   /* 1 churned, 0 stayed, -1 unlabelled */
    int holdout; /* in the held-out split */
    int64_t start; /* evidence fit: churn start (ms), INT64_MAX: none */
};

struct data {
    struct cust *c;
    size_t cnt, cap;
    struct cp_map idx; /* tenant US customer -> index + 1 */
    char *tenant;      /* the first tenant of the events (owned) */
    int tenants;       /* 0, 1 or 2 (= more than one) */
};

/* Customers are keyed by tenant and id: the same id in two tenants is two
 * customers. The separator is a byte no id contains. */
#define KEY_SEP '\x1f'
#define KEY_MAX 1024

/* Out of memory, as fitting reports it. */
static cp_rc nomem(char *errstr, size_t errstr_size)
{
    snprintf(errstr, errstr_size, "out of memory");
    return CP_ENOMEM;
}

/* @returns the customer @p tenant / @p customer (created empty when new),
 * or NULL when out of memory. Both ids are shorter than KEY_MAX / 2 (the
 * lines they come from are). */
static struct cust *cust_get(struct data *d, const char *tenant,
                             const char *customer)
{
    char id[KEY_MAX];
    size_t len =
        (size_t)snprintf(id, sizeof(id), "%s%c%s", tenant, KEY_SEP, customer);
    uint64_t h;

    if (len >= sizeof(id))
        len = sizeof(id) - 1;
    h = cp_map_hash(id, len);
    struct cp_map_entry *e = cp_map_upsert(&d->idx, id, len, h);
    struct cust *c;

    if (!e)
        return NULL;
    if (e->value)
        return &d->c[(uintptr_t)e->value - 1];
    if (d->cnt == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 1024;
        struct cust *nc = realloc(d->c, ncap * sizeof(*nc));

        if (!nc)
            return NULL;
        d->c = nc;
        d->cap = ncap;
    }
    c = &d->c[d->cnt];
    c->id = malloc(len + 1);
    if (!c->id)
        return NULL;
    d->cnt++;
    memcpy(c->id, id, len);
    c->id[len] = '\0';
    cp_churn_state_init(&c->st);
    c->label = -1;
    c->start = INT64_MAX;
    /* A stable split: the same customers are held out on every run. */
    c->holdout = 0;
    e->value = (void *)(uintptr_t)d->cnt;
    return c;
}

/* Splits a CSV line in place at commas (no quoting: ids have no commas). */
static int split(char *line, char **f, int max)
{
    int n = 0;

    line[strcspn(line, "\r\n")] = '\0';
    while (n < max) {
        f[n++] = line;
        line = strchr(line, ',');
        if (!line)
            break;
        *line++ = '\0';
    }
    return n;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');

    return s ? s + 1 : path;
}

int cp_fit_parse_ms(const char *s, int64_t *out)
{
    char *end;
    long long v;

    if (!*s)
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end || errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

/* The next row of the events CSV (tenant_id, customer_id, occurred_at_ms,
 * observation, value) into @p f, @p at, @p obs and @p value; the header
 * and empty lines are skipped. @returns 1, 0 at the end of the file, or -1
 * with the file, line and what is wrong in @p errstr. */
static int next_event_row(FILE *fp, const char *path, long *lineno,
                          char *line, size_t line_size, char *f[6],
                          int64_t *at, int *obs, int64_t *value, char *errstr,
                          size_t errstr_size)
{
    while (fgets(line, (int)line_size, fp)) {
        ++*lineno;
        if (split(line, f, 6) != 5) {
            if (!line[0])
                continue;
            snprintf(errstr, errstr_size, "%s:%ld: expected 5 fields", path,
                     *lineno);
            return -1;
        }
        if (*lineno == 1 && !strcmp(f[0], "tenant_id"))
            continue;
        *obs = cp_churn_obs_parse(f[3]);
        if (*obs < 0 || cp_fit_parse_ms(f[2], at) ||
            cp_fit_parse_ms(f[4], value)) {
            snprintf(errstr, errstr_size, "%s:%ld: bad row (obs '%s')", path,
                     *lineno, f[3]);
            return -1;
        }
        return 1;
    }
    return 0;
}

/* Remembers the events' tenants: a labels file without a tenant column is
 * only unambiguous with one. */
static int note_tenant(struct data *d, const char *tenant)
{
    if (d->tenants == 0) {
        d->tenant = strdup(tenant);
        if (!d->tenant)
            return -1;
        d->tenants = 1;
    } else if (d->tenants == 1 && strcmp(d->tenant, tenant)) {
        d->tenants = 2;
    }
    return 0;
}

static cp_rc read_events(struct data *d, const struct cp_churn_model *m,
                         const struct cp_fit_opts *o, size_t *used,
                         char *errstr, size_t errstr_size)
{
    FILE *fp = fopen(o->events, "r");
    char line[4096];
    long lineno = 0;
    cp_rc rc = CP_OK;

    if (!fp) {
        snprintf(errstr, errstr_size,
                 "open events %s: %s (fix: a readable CSV file)", o->events,
                 strerror(errno));
        return CP_EIO;
    }
    *used = 0;
    for (;;) {
        char *f[6];
        int64_t at, value;
        struct cust *c;
        int obs, got = next_event_row(fp, o->events, &lineno, line,
                                      sizeof(line), f, &at, &obs, &value,
                                      errstr, errstr_size);

        if (got <= 0) {
            rc = got < 0 ? CP_EDECODE : rc;
            break;
        }
        if (at >= o->cutoff)
            continue;
        if (o->orders_only && obs != CP_OBS_ORDER)
            continue;
        c = cust_get(d, f[0], f[1]);
        if (!c || note_tenant(d, f[0])) {
            rc = nomem(errstr, errstr_size);
            break;
        }
        cp_churn_observe(&c->st, m, (enum cp_churn_obs)obs, at, value);
        (*used)++;
    }
    if (!rc && ferror(fp)) {
        snprintf(errstr, errstr_size, "read events %s: %s", o->events,
                 strerror(errno));
        rc = CP_EIO;
    }
    fclose(fp);
    return rc;
}

/* Labels: customer_id,churned, or tenant_id,customer_id,churned. Without
 * the tenant column the events must have one tenant. */
static cp_rc read_labels(struct data *d, const struct cp_fit_opts *o,
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
        char *f[4];
        const char *tenant, *customer, *churned;
        struct cust *c;
        int n;

        lineno++;
        n = split(line, f, 4);
        if (n != 2 && n != 3) {
            if (!line[0])
                continue;
            snprintf(errstr, errstr_size,
                     "%s:%ld: expected customer_id,churned or "
                     "tenant_id,customer_id,churned",
                     o->labels, lineno);
            rc = CP_EDECODE;
            break;
        }
        if (lineno == 1 &&
            (!strcmp(f[0], "customer_id") || !strcmp(f[0], "tenant_id")))
            continue;
        tenant = n == 3 ? f[0] : d->tenant ? d->tenant : "";
        customer = f[n - 2];
        churned = f[n - 1];
        if (n == 2 && d->tenants > 1) {
            snprintf(errstr, errstr_size,
                     "%s:%ld: no tenant column, but the events have "
                     "several tenants (fix: tenant_id,customer_id,churned)",
                     o->labels, lineno);
            rc = CP_EDECODE;
            break;
        }
        if (strcmp(churned, "0") && strcmp(churned, "1")) {
            snprintf(errstr, errstr_size, "%s:%ld: churned must be 0 or 1",
                     o->labels, lineno);
            rc = CP_EDECODE;
            break;
        }
        c = cust_get(d, tenant, customer);
        if (!c) {
            rc = nomem(errstr, errstr_size);
            break;
        }
        c->label = churned[0] == '1';
        c->holdout = (double)(cp_map_hash(customer, strlen(customer)) % 10000) <
                     o->holdout * 10000;
    }
    if (!rc && ferror(fp)) {
        snprintf(errstr, errstr_size, "read labels %s: %s", o->labels,
                 strerror(errno));
        rc = CP_EIO;
    }
    fclose(fp);
    return rc;
}

/* ------------------------------------------------------------------ */
/* BG/NBD by maximum likelihood                                        */

struct rfm {
    double x, t_x, T;
};

static double bgnbd_nll(const double lp[4], const struct rfm *r, size_t n)
{
    double p[4], ll = 0;

    for (int i = 0; i < 4; i++) {
        if (lp[i] < -9 || lp[i] > 9)
            return 1e300;
        p[i] = exp(lp[i]);
    }
    for (size_t i = 0; i < n; i++)
        ll += cp__churn_bgnbd_ll(p[0], p[1], p[2], p[3], r[i].x, r[i].t_x,
                                 r[i].T);
    return isfinite(ll) ? -ll : 1e300;
}

/* Nelder-Mead on the log-parameters (r, alpha, a, b). */
static void fit_bgnbd(struct cp_churn_model *m, const struct rfm *r, size_t n,
                      FILE *report)
{
    double s[5][4], fv[5];
    int it;

    s[0][0] = log(m->r);
    s[0][1] = log(m->alpha_days);
    s[0][2] = log(m->a);
    s[0][3] = log(m->b);
    for (int i = 1; i < 5; i++) {
        memcpy(s[i], s[0], sizeof(s[0]));
        s[i][i - 1] += 0.5;
    }
    for (int i = 0; i < 5; i++)
        fv[i] = bgnbd_nll(s[i], r, n);
    for (it = 0; it < 3000; it++) {
        int hi = 0, lo = 0, nh = 0;
        double c[4] = {0}, xr[4], fr;

        for (int i = 1; i < 5; i++) {
            if (fv[i] > fv[hi])
                hi = i;
            if (fv[i] < fv[lo])
                lo = i;
        }
        nh = hi == 0 ? 1 : 0;
        for (int i = 0; i < 5; i++)
            if (i != hi && fv[i] > fv[nh])
                nh = i;
        if (fabs(fv[hi] - fv[lo]) < 1e-9 * (fabs(fv[lo]) + 1e-9))
            break;
        for (int i = 0; i < 5; i++)
            if (i != hi)
                for (int j = 0; j < 4; j++)
                    c[j] += s[i][j] / 4;
        for (int j = 0; j < 4; j++)
            xr[j] = c[j] + (c[j] - s[hi][j]);
        fr = bgnbd_nll(xr, r, n);
        if (fr < fv[lo]) {
            double xe[4], fe;

            for (int j = 0; j < 4; j++)
                xe[j] = c[j] + 2 * (c[j] - s[hi][j]);
            fe = bgnbd_nll(xe, r, n);
            if (fe < fr) {
                memcpy(s[hi], xe, sizeof(xe));
                fv[hi] = fe;
            } else {
                memcpy(s[hi], xr, sizeof(xr));
                fv[hi] = fr;
            }
        } else if (fr < fv[nh]) {
            memcpy(s[hi], xr, sizeof(xr));
            fv[hi] = fr;
        } else {
            double xc[4], fc;

            for (int j = 0; j < 4; j++)
                xc[j] = c[j] + 0.5 * (s[hi][j] - c[j]);
            fc = bgnbd_nll(xc, r, n);
            if (fc < fv[hi]) {
                memcpy(s[hi], xc, sizeof(xc));
                fv[hi] = fc;
            } else {
                for (int i = 0; i < 5; i++) {
                    if (i == lo)
                        continue;
                    for (int j = 0; j < 4; j++)
                        s[i][j] = s[lo][j] + 0.5 * (s[i][j] - s[lo][j]);
                    fv[i] = bgnbd_nll(s[i], r, n);
                }
            }
        }
    }
    {
        int lo = 0;

        for (int i = 1; i < 5; i++)
            if (fv[i] < fv[lo])
                lo = i;
        m->r = exp(s[lo][0]);
        m->alpha_days = exp(s[lo][1]);
        m->a = exp(s[lo][2]);
        m->b = exp(s[lo][3]);
        if (report)
            fprintf(report,
                    "bgnbd: r=%.4g alpha=%.4g days a=%.4g b=%.4g "
                    "(-loglik %.1f, %zu customers, %d iterations)\n",
                    m->r, m->alpha_days, m->a, m->b, fv[lo], n, it);
    }
}

/* ------------------------------------------------------------------ */
/* Logistic regression                                                 */

/* Solves A x = b (n x n, row-major, overwritten) by Gaussian elimination
 * with partial pivoting. Returns -1 when singular. */
static int solve(double *A, double *b, int n)
{
    for (int k = 0; k < n; k++) {
        int p = k;

        for (int i = k + 1; i < n; i++)
            if (fabs(A[i * n + k]) > fabs(A[p * n + k]))
                p = i;
        if (fabs(A[p * n + k]) < 1e-12)
            return -1;
        if (p != k) {
            for (int j = 0; j < n; j++) {
                double t = A[k * n + j];

                A[k * n + j] = A[p * n + j];
                A[p * n + j] = t;
            }
            double t = b[k];

            b[k] = b[p];
            b[p] = t;
        }
        for (int i = k + 1; i < n; i++) {
            double f = A[i * n + k] / A[k * n + k];

            for (int j = k; j < n; j++)
                A[i * n + j] -= f * A[k * n + j];
            b[i] -= f * b[k];
        }
    }
    for (int k = n - 1; k >= 0; k--) {
        for (int j = k + 1; j < n; j++)
            b[k] -= A[k * n + j] * b[j];
        b[k] /= A[k * n + k];
    }
    return 0;
}

/* Penalised log-likelihood of the standardised coefficients @p beta. */
static double penalised_ll(const double *X, const int *y, const double *off,
                           const char *use, size_t n, const int *cols,
                           const int *act, int na, const double *mu,
                           const double *sd, double extra, const double *beta,
                           double l2)
{
    double ll = 0;

    for (size_t i = 0; i < n; i++) {
        double eta = off[i] + extra + beta[0];

        if (!use[i])
            continue;
        for (int a = 0; a < na; a++)
            eta += beta[a + 1] * (X[i * NF + cols[act[a]]] - mu[act[a]]) /
                   sd[act[a]];
        /* log sigma(eta) for y = 1, log sigma(-eta) for y = 0, stably. */
        eta = y[i] ? eta : -eta;
        ll -= eta > 0 ? log1p(exp(-eta)) : -eta + log1p(exp(eta));
    }
    for (int a = 0; a < na; a++)
        ll -= 0.5 * l2 * beta[a + 1] * beta[a + 1];
    return ll;
}

/*
 * Fits bias + w[cols] on rows with use[i] != 0, with the fixed offset
 * off[i] in the linear predictor. Columns are standardised for the penalty;
 * a constant column keeps its weight (its share moves into the offset).
 * @p bias0 starts the bias (NAN: the base rate's log-odds). Returns the
 * bias; w[] is updated for the columns fitted.
 */
static double logit_fit(const double *X, const int *y, const double *off,
                        const char *use, size_t n, const int *cols, int k,
                        double l2, double bias0, double *w)
{
    double mu[NF] = {0}, sd[NF] = {0}, beta[NF + 1] = {0};
    int act[NF], na = 0;
    double cnt = 0, pos = 0, extra = 0;
    double H[(NF + 1) * (NF + 1)]; /* small: no allocation */

    for (size_t i = 0; i < n; i++) {
        if (!use[i])
            continue;
        cnt++;
        pos += y[i];
        for (int j = 0; j < k; j++)
            mu[j] += X[i * NF + cols[j]];
    }
    for (int j = 0; j < k; j++)
        mu[j] /= cnt;
    for (size_t i = 0; i < n; i++)
        if (use[i])
            for (int j = 0; j < k; j++) {
                double dv = X[i * NF + cols[j]] - mu[j];

                sd[j] += dv * dv;
            }
    for (int j = 0; j < k; j++) {
        sd[j] = sqrt(sd[j] / cnt);
        if (sd[j] > 1e-9)
            act[na++] = j;
        else
            extra += w[cols[j]] * mu[j];
    }
    beta[0] =
        isfinite(bias0) ? bias0 - extra : log((pos + 0.5) / (cnt - pos + 0.5));
    for (int iter = 0; iter < 100; iter++) {
        int d = na + 1;
        double g[NF + 1] = {0}, nb[NF + 1], step = 0, obj, nobj, t = 1;

        obj = penalised_ll(X, y, off, use, n, cols, act, na, mu, sd, extra,
                           beta, l2);
        memset(H, 0, sizeof(double) * (size_t)d * (size_t)d);
        for (size_t i = 0; i < n; i++) {
            double z[NF + 1], eta, p, wt;

            if (!use[i])
                continue;
            z[0] = 1;
            for (int a = 0; a < na; a++)
                z[a + 1] = (X[i * NF + cols[act[a]]] - mu[act[a]]) / sd[act[a]];
            eta = off[i] + extra;
            for (int a = 0; a < d; a++)
                eta += beta[a] * z[a];
            p = 1 / (1 + exp(-fmax(-50, fmin(50, eta))));
            wt = fmax(p * (1 - p), 1e-9);
            for (int a = 0; a < d; a++) {
                g[a] += (y[i] - p) * z[a];
                for (int b = 0; b <= a; b++)
                    H[a * d + b] += wt * z[a] * z[b];
            }
        }
        for (int a = 0; a < d; a++) {
            for (int b = a + 1; b < d; b++)
                H[a * d + b] = H[b * d + a];
            if (a > 0) {
                H[a * d + a] += l2;
                g[a] -= l2 * beta[a];
            }
        }
        if (solve(H, g, d))
            break;
        /* Newton with step halving: the penalised likelihood must not
         * drop, so a poor start cannot make the fit diverge. */
        for (int half = 0; half < 30; half++, t /= 2) {
            for (int a = 0; a < d; a++)
                nb[a] = beta[a] + t * g[a];
            nobj = penalised_ll(X, y, off, use, n, cols, act, na, mu, sd, extra,
                                nb, l2);
            if (nobj >= obj)
                break;
        }
        if (!(nobj >= obj))
            break;
        for (int a = 0; a < d; a++) {
            step = fmax(step, fabs(nb[a] - beta[a]));
            beta[a] = nb[a];
        }
        if (step < 1e-8)
            break;
    }
    {
        double bias = beta[0] + extra;

        for (int a = 0; a < na; a++) {
            int j = act[a];

            w[cols[j]] = beta[a + 1] / sd[j];
            bias -= beta[a + 1] * mu[j] / sd[j];
        }
        return bias;
    }
}

struct scored {
    double s;
    int y;
};

static int cmp_scored(const void *a, const void *b)
{
    double x = ((const struct scored *)a)->s, z = ((const struct scored *)b)->s;

    return x < z ? -1 : x > z;
}

/* ROC AUC by ranks (Mann-Whitney), ties averaged. */
static double auc(struct scored *v, size_t n)
{
    double pos = 0, rank_sum = 0;
    size_t i = 0;

    qsort(v, n, sizeof(*v), cmp_scored);
    while (i < n) {
        size_t j = i;
        double avg;

        while (j + 1 < n && v[j + 1].s == v[i].s)
            j++;
        avg = (double)(i + j) / 2 + 1;
        for (size_t t = i; t <= j; t++)
            if (v[t].y) {
                rank_sum += avg;
                pos++;
            }
        i = j + 1;
    }
    if (pos == 0 || pos == (double)n)
        return 0.5;
    return (rank_sum - pos * (pos + 1) / 2) / (pos * ((double)n - pos));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, z = *(const double *)b;

    return x < z ? -1 : x > z;
}

/* Features of every labelled customer at the cutoff. */
static void features(const struct cp_churn_model *m, const struct data *d,
                     const size_t *rows, size_t n, int64_t cutoff, double *X)
{
    for (size_t i = 0; i < n; i++)
        cp__churn_features(m, &d->c[rows[i]].st, cutoff, X + i * NF);
}

/* ref_i = median over stayers (with orders, for order factors): the
 * "typical healthy customer" that reasons compare against. */
static void fit_refs(struct cp_churn_model *m, const struct data *d,
                     const size_t *rows, size_t n, const double *X,
                     const char *use, double *col)
{
    for (int j = 0; j < NF; j++) {
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
            const struct cust *c = &d->c[rows[i]];

            if (!use[i] || c->label != 0)
                continue;
            if (j < CP_CF_ORDER_GROUP_END && c->st.orders == 0)
                continue;
            col[k++] = X[i * NF + j];
        }
        if (j == CP_CF_NO_ORDERS)
            m->f[j].ref = 0;
        else if (k > 0) {
            qsort(col, k, sizeof(double), cmp_double);
            m->f[j].ref = col[k / 2];
        }
    }
}

/* Expected direction of each non-order factor: +1 raises the risk, -1
 * lowers it, 0 free. */
static const int risk_sign[NF] = {
    [CP_CF_OPEN_TICKETS] = 1,   [CP_CF_TICKET_AGE] = 1,
    [CP_CF_TICKETS_RECENT] = 1, [CP_CF_NPS_LOW] = 1,
    [CP_CF_CSAT_LOW] = 1,       [CP_CF_CES_HIGH] = 1,
    [CP_CF_RESPONSE_WAIT] = 1,  [CP_CF_MISSED_CALLS] = 1,
    [CP_CF_DEALS_LOST] = 1,     [CP_CF_DEALS_WON] = -1,
    [CP_CF_CANCELLATIONS] = 1,  [CP_CF_MRR_LOST] = 1,
    [CP_CF_RENEWALS] = -1,      [CP_CF_ENGAGEMENT_DROP] = 1,
};

/* Two stages: the order factors alone first (every tenant has orders, and
 * an orders-only history then ranks customers as well as it can), then the
 * other factors on top of them with the order part as a fixed offset. */
static void fit_weights(struct cp_churn_model *m, size_t n, const double *X,
                        const int *y, const char *use, double l2, double *off)
{
    int cols[NF], k = 0;
    double w[NF], b1;
    int dropped[NF] = {0};

    memset(off, 0, sizeof(double) * n);
    for (int j = 0; j < NF; j++)
        w[j] = m->f[j].weight;
    for (int j = 0; j < CP_CF_ORDER_GROUP_END; j++)
        cols[k++] = j;
    b1 = logit_fit(X, y, off, use, n, cols, k, l2, NAN, w);
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < CP_CF_ORDER_GROUP_END; j++)
            off[i] += w[j] * X[i * NF + j];
    /* Sign-constrained: a factor whose fitted weight points against its
     * meaning (an open ticket lowering the risk) is a confounder of the
     * training data, not something to tell a manager. It gets weight 0
     * and the rest is refitted, until no weight has the wrong sign. */
    for (int round = 0; round < NF; round++) {
        int wrong = 0;

        k = 0;
        for (int j = CP_CF_ORDER_GROUP_END; j < NF; j++) {
            if (dropped[j])
                w[j] = 0;
            else
                cols[k++] = j;
        }
        m->bias = logit_fit(X, y, off, use, n, cols, k, l2, b1, w);
        for (int j = CP_CF_ORDER_GROUP_END; j < NF; j++)
            if (!dropped[j] && w[j] * risk_sign[j] < 0) {
                dropped[j] = 1;
                wrong = 1;
            }
        if (!wrong)
            break;
    }
    for (int j = 0; j < NF; j++)
        m->f[j].weight = fmax(-100, fmin(100, w[j]));
    m->bias = fmax(-100, fmin(100, m->bias));
}

static double model_auc(const struct cp_churn_model *m, const double *X,
                        const int *y, const char *use, size_t n, int from,
                        int to, int single, struct scored *v)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        double z = 0;

        if (!use[i])
            continue;
        for (int j = from; j < to; j++)
            z += (single ? 1 : m->f[j].weight) * X[i * NF + j];
        v[k].s = z;
        v[k++].y = y[i];
    }
    return auc(v, k);
}

/* Calibration of the probability on the rows in @p use: Brier score,
 * expected calibration error over ten equal-count deciles of the
 * probability, and the reliability table (mean probability vs. the share
 * that churned, per decile). */
static void calibration(const struct cp_churn_model *m, const double *X,
                        const int *y, const char *use, size_t n, FILE *out,
                        struct scored *v)
{
    size_t k = 0;
    double brier = 0, ece = 0;

    for (size_t i = 0; i < n; i++) {
        double z = m->bias;

        if (!use[i])
            continue;
        for (int j = 0; j < NF; j++)
            z += m->f[j].weight * X[i * NF + j];
        z = 1 / (1 + exp(-fmax(-50, fmin(50, z))));
        v[k].s = fmin(CP_CHURN_P_MAX, fmax(CP_CHURN_P_MIN, z));
        v[k].y = y[i];
        brier += (v[k].s - v[k].y) * (v[k].s - v[k].y);
        k++;
    }
    if (!k)
        return;
    qsort(v, k, sizeof(*v), cmp_scored);
    fprintf(out, "reliability by decile of the probability (n, mean "
                 "probability, churned):\n");
    for (int d = 0; d < 10; d++) {
        size_t a = k * (size_t)d / 10, b = k * (size_t)(d + 1) / 10;
        double sp = 0, sy = 0;

        for (size_t i = a; i < b; i++) {
            sp += v[i].s;
            sy += v[i].y;
        }
        if (b > a) {
            ece += fabs(sp - sy) / (double)k;
            fprintf(out, "  %2d  %5zu  %.3f  %.3f\n", d + 1, b - a,
                    sp / (double)(b - a), sy / (double)(b - a));
        }
    }
    fprintf(out, "calibration: Brier %.4f, ECE %.4f (%zu customers)\n",
            brier / (double)k, ece, k);
}

static int cmp_scored_desc(const void *a, const void *b)
{
    return -cmp_scored(a, b);
}

/* The lowest score at or above which the customers churned with precision
 * >= @p prec (and at least 20 of them); 0.999 when no score qualifies. */
static double threshold_for(const struct scored *v, size_t n, double prec)
{
    double tp = 0, best = 0.999;

    for (size_t i = 0; i < n; i++) {
        tp += v[i].y;
        /* Only between distinct scores: a threshold includes all ties. */
        if (i + 1 < n && v[i + 1].s == v[i].s)
            continue;
        if (i + 1 >= 20 && tp / (double)(i + 1) >= prec)
            best = v[i].s;
    }
    return best;
}

/* Level thresholds from the precision targets, on the evidence probability
 * the alert rule uses (snapshot precision at the cutoff: churned = no
 * order within the horizon). */
static void set_thresholds(struct cp_churn_model *m, const struct data *d,
                           const size_t *rows, const int *y, const char *use,
                           size_t n, const struct cp_fit_opts *o, FILE *report,
                           struct scored *v)
{
    size_t k = 0;
    double hi = m->thr_high, cr = m->thr_critical;

    for (size_t i = 0; i < n; i++) {
        double e[CP_E_CNT], z = m->ev_bias;

        if (!use[i])
            continue;
        cp__churn_evidence(m, &d->c[rows[i]].st, o->cutoff, e);
        for (int j = 0; j < CP_E_CNT; j++)
            z += m->ev_weight[j] * e[j];
        v[k].s = 1 / (1 + exp(-fmax(-50, fmin(50, z))));
        v[k++].y = y[i];
    }
    qsort(v, k, sizeof(*v), cmp_scored_desc);
    if (o->prec_high > 0)
        hi = fmin(0.99, fmax(0.05, threshold_for(v, k, o->prec_high)));
    if (o->prec_crit > 0)
        cr = fmin(0.999, fmax(hi + 0.01, threshold_for(v, k, o->prec_crit)));
    if (hi < cr && m->hysteresis < hi) {
        m->thr_high = floor(hi * 1000) / 1000;
        m->thr_critical = floor(cr * 1000) / 1000;
    }
    if (report)
        fprintf(report, "levels of the evidence: high %.3f, critical %.3f\n",
                m->thr_high, m->thr_critical);
}

/* AUC of the model and of the usual single-number baselines. */
static void evaluate(const struct cp_churn_model *m, const struct data *d,
                     const size_t *rows, size_t n, const double *X,
                     const int *y, const char *use, int64_t cutoff, FILE *out,
                     struct scored *v)
{
    size_t pos = 0;

    for (size_t i = 0; i < n; i++)
        pos += (size_t)y[i];
    fprintf(out, "%zu labelled customers, churn rate %.3f\n", n,
            (double)pos / (double)n);
    fprintf(out, "ROC AUC: model %.4f, order factors %.4f\n",
            model_auc(m, X, y, use, n, 0, NF, 0, v),
            model_auc(m, X, y, use, n, 0, CP_CF_ORDER_GROUP_END, 0, v));
    for (size_t i = 0; i < n; i++) {
        const struct cp_churn_state *st = &d->c[rows[i]].st;

        v[i].s = st->orders ? (double)(cutoff - st->last_order_ms) : 1e300;
        v[i].y = y[i];
    }
    fprintf(out, "ROC AUC baselines: recency %.4f", auc(v, n));
    for (size_t i = 0; i < n; i++) {
        const struct cp_churn_state *st = &d->c[rows[i]].st;
        double c =
            st->landmark_ms == INT64_MIN
                ? 0
                : st->ord_long * exp2(-(double)(cutoff - st->landmark_ms) /
                                      MS_PER_DAY / m->hl_long_days);

        v[i].s = -c;
        v[i].y = y[i];
    }
    fprintf(out, ", decayed orders (half-life %g d) %.4f", m->hl_long_days,
            auc(v, n));
    for (size_t i = 0; i < n; i++) {
        v[i].s = d->c[rows[i]].st.orders ? X[i * NF + CP_CF_HORIZON_SILENCE] : 2;
        v[i].y = y[i];
    }
    fprintf(out, ", horizon_silence %.4f\n", auc(v, n));
    calibration(m, X, y, use, n, out, v);
}

void cp_fit_usage(FILE *out)
{
    fprintf(
        out,
        "Usage: crmpulse-fit --events FILE --labels FILE --cutoff TIME -o OUT "
        "[options]\n"
        "Fits the churn model (BG/NBD population parameters by maximum "
        "likelihood,\nlogistic weights by L2-regularised regression, "
        "evidence weights of the alert)\nfrom a labelled history and "
        "writes a model file.\n"
        "\n"
        "  -e, --events FILE   CSV tenant_id,customer_id,occurred_at_ms,"
        "obs,value\n"
        "                      (header optional; obs = order, "
        "ticket_opened,\n"
        "                      ticket_resolved, nps, csat, ces, response, "
        "call_missed,\n"
        "                      deal_won, deal_lost, sub_started, "
        "sub_renewed,\n"
        "                      sub_cancelled, web_visit, message_in, "
        "activity)\n"
        "  -l, --labels FILE   CSV [tenant_id,]customer_id,churned (1 = "
        "churned,\n"
        "                      0 = stayed; without tenant_id the events "
        "must have\n"
        "                      one tenant)\n"
        "      --cutoff TIME   features use events before this event time: "
        "ms since\n"
        "                      the epoch or YYYY-MM-DD[THH:MM[:SS]] (UTC)\n"
        "  -b, --base FILE     model to start from: keys not fitted are "
        "copied\n"
        "                      (default: the settings' model.file, else the "
        "built-in model)\n"
        "  -o, --out FILE      model file to write ('-' = stdout); written "
        "to a\n"
        "                      temporary file and renamed once it loads\n"
        "      --model-version STR  version of the written model (default "
        "fit-<cutoff>)\n"
        "      --note TEXT     a line for the written model's header\n"
        "      --holdout F     fraction held out for the AUC report "
        "(default 0.3)\n"
        "      --l2 LAMBDA     L2 penalty on standardised weights "
        "(default 1)\n"
        "      --precision-high P  level.high = the lowest evidence "
        "probability whose\n"
        "                      customers churned with precision >= P "
        "(default 0 = keep\n"
        "                      the base's)\n"
        "      --precision-critical P  the same for level.critical "
        "(default 0)\n"
        "      --orders-only   use order observations only\n"
        "      --keep-bgnbd    keep the base model's BG/NBD parameters\n"
        "      --evaluate MODEL  fit nothing: print the ROC AUC and the "
        "calibration\n"
        "                      of MODEL on all labelled customers (-o not "
        "needed)\n"
        "      --evidence-horizon DAYS  fit the alert instead: the "
        "evidence weights\n"
        "                      (logistic regression, L2, non-negative) of "
        "\"the churn\n"
        "                      started within DAYS\" on every labelled "
        "customer's\n"
        "                      evidence sampled through the history (in "
        "event-time\n"
        "                      order; no --cutoff needed), and level.high "
        "for\n"
        "                      --evidence-precision; the labels are "
        "crmpulse-gen\n"
        "                      --churn-cohort's (churn_start_ms); the "
        "score's\n"
        "                      factors are the base's\n"
        "      --evidence-step DAYS  days between samples (default 1)\n"
        "      --evidence-precision P  precision of the alerts on the "
        "training\n"
        "                      history that level.high is set for "
        "(default 0.9)\n"
        "  -q, --quiet         no report on stdout\n"
        "  -c, --config FILE   settings file (key = value lines), as for "
        "crmpulse\n"
        "  -X key=value        set one setting\n"
        "  -h, --help          this help\n"
        "      --version       print the program's version\n"
        "\n"
        "Prints the held-out ROC AUC and calibration (Brier score, expected "
        "calibration\nerror, a reliability table by decile) of the model; "
        "the written model is\nrefitted on all labelled customers.\n");
}

/* A fraction or number argument: the whole token, finite. */
static int arg_num(const char *s, double *out)
{
    char *end;

    if (!*s)
        return -1;
    errno = 0;
    *out = strtod(s, &end);
    return *end || errno == ERANGE || !isfinite(*out) ? -1 : 0;
}

int cp_fit_arg(struct cp_fit_opts *o, const char **rest, int cnt, char *errstr,
               size_t errstr_size)
{
    static const struct {
        const char *s, *l;
        int flag; /* takes no value */
    } opt[] = {
        {"-e", "--events", 0},
        {"-l", "--labels", 0},
        {NULL, "--cutoff", 0},
        {"-b", "--base", 0},
        {"-o", "--out", 0},
        {NULL, "--model-version", 0},
        {NULL, "--holdout", 0},
        {NULL, "--l2", 0},
        {NULL, "--orders-only", 1},
        {NULL, "--keep-bgnbd", 1},
        {NULL, "--evaluate", 0},
        {NULL, "--note", 0},
        {NULL, "--precision-high", 0},
        {NULL, "--precision-critical", 0},
        {"-q", "--quiet", 1},
        {NULL, "--evidence-horizon", 0},
        {NULL, "--evidence-step", 0},
        {NULL, "--evidence-precision", 0},
    };
    const char *a = rest[0], *v;
    double d;
    int k = -1;

    for (int i = 0; i < (int)CP_ARRAY_SIZE(opt); i++)
        if ((opt[i].s && !strcmp(a, opt[i].s)) || !strcmp(a, opt[i].l))
            k = i;
    if (k < 0 || (!opt[k].flag && cnt < 2))
        return 0;
    v = opt[k].flag ? NULL : rest[1];
    switch (k) {
    case 0:
        o->events = v;
        break;
    case 1:
        o->labels = v;
        break;
    case 2:
        if (cp_parse_utc_time(v, &o->cutoff)) {
            snprintf(errstr, errstr_size,
                     "--cutoff: expected ms since the epoch or "
                     "YYYY-MM-DD[THH:MM[:SS]] (UTC), got '%s'",
                     v);
            return -1;
        }
        break;
    case 3:
        o->base = v;
        break;
    case 4:
        o->out = v;
        break;
    case 5:
        o->version = v;
        break;
    case 6:
        if (arg_num(v, &d) || !(d > 0 && d < 1)) {
            snprintf(errstr, errstr_size,
                     "--holdout: expected a fraction in (0, 1), got '%s'", v);
            return -1;
        }
        o->holdout = d;
        break;
    case 7:
        if (arg_num(v, &d) || !(d >= 0)) {
            snprintf(errstr, errstr_size,
                     "--l2: expected a number >= 0, got '%s'", v);
            return -1;
        }
        o->l2 = d;
        break;
    case 8:
        o->orders_only = 1;
        break;
    case 9:
        o->keep_bgnbd = 1;
        break;
    case 10:
        o->evaluate = v;
        break;
    case 11:
        o->note = v;
        break;
    case 12:
    case 13:
        if (arg_num(v, &d) || !(d >= 0 && d < 1)) {
            snprintf(errstr, errstr_size,
                     "%s: expected a fraction in [0, 1), got '%s'", a, v);
            return -1;
        }
        if (k == 12)
            o->prec_high = d;
        else
            o->prec_crit = d;
        break;
    case 14:
        o->quiet = 1;
        break;
    case 15:
    case 16:
        if (arg_num(v, &d) || !(d > 0 && d <= 3650)) {
            snprintf(errstr, errstr_size,
                     "%s: expected days in (0, 3650], got '%s'", a, v);
            return -1;
        }
        if (k == 15)
            o->ev_horizon = d;
        else
            o->ev_step = d;
        break;
    default:
        if (arg_num(v, &d) || !(d > 0 && d < 1)) {
            snprintf(errstr, errstr_size,
                     "%s: expected a fraction in (0, 1), got '%s'", a, v);
            return -1;
        }
        o->ev_precision = d;
        break;
    }
    return opt[k].flag ? 1 : 2;
}

/* ------------------------------------------------------------------ */
/* The whole fit                                                       */

void cp_fit_opts_init(struct cp_fit_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->holdout = 0.3;
    o->l2 = 1.0;
    o->cutoff = INT64_MIN;
    /* Levels are the model file's unless asked: the evidence weights are
     * log-likelihood ratios, and a snapshot precision is a poor guide to
     * where an episode starts. */
    o->prec_high = 0;
    o->prec_crit = 0;
    o->ev_horizon = 0;
    o->ev_step = 1;
    o->ev_precision = 0.9;
}

/* Names the written model: --version, the evaluated model's or fit-<cutoff>. */
static cp_rc set_version(struct cp_churn_model *m, const struct cp_fit_opts *o,
                         char *errstr, size_t errstr_size)
{
    const char *given = o->evaluate ? m->version : o->version;
    char version[64];

    snprintf(version, sizeof(version), "%s", given ? given : "");
    if (!given && o->cutoff == INT64_MIN)
        snprintf(version, sizeof(version), "fit-evidence");
    else if (!given)
        snprintf(version, sizeof(version), "fit-%lld", (long long)o->cutoff);
    if (!version[0] || strlen(version) >= sizeof(m->version) ||
        strspn(version, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789._-") != strlen(version)) {
        snprintf(errstr, errstr_size,
                 "--version: 1 to 63 characters of A-Z a-z 0-9 . _ -, got "
                 "'%s'",
                 version);
        return CP_ECONFIG;
    }
    memmove(m->version, version, strlen(version) + 1);
    return CP_OK;
}

/* Writes the model file. The text is parsed by the model loader first, so
 * a model the worker would refuse is never written; then it goes to a
 * temporary file next to the target, renamed over it once complete: the
 * old model stays whole until the new one is. */
static cp_rc write_model(const struct cp_churn_model *m,
                         const struct cp_fit_opts *o, size_t n, char *errstr,
                         size_t errstr_size)
{
    struct cp_churn_model *chk;
    char header[1024], why[512], tmp[4096];
    char *text = NULL;
    size_t len = 0;
    FILE *mem, *out;
    cp_rc rc;

    char when[160];

    if (o->ev_horizon > 0)
        snprintf(when, sizeof(when),
                 "evidence weights and level.high only (churn started "
                 "within %g d, precision %g), the rest from the base",
                 o->ev_horizon, o->ev_precision);
    else
        snprintf(when, sizeof(when), "cutoff %lld ms", (long long)o->cutoff);
    snprintf(header, sizeof(header),
             "crmpulse churn-risk model, written by crmpulse-fit.\n"
             "Fitted on %s (labels %s), %s, %zu labelled "
             "customers%s.\n%s%s"
             "Format and factors: schemas/churn-model.md.",
             base_name(o->events), base_name(o->labels), when, n,
             o->orders_only ? ", orders only" : "", o->note ? o->note : "",
             o->note ? "\n" : "");
    mem = open_memstream(&text, &len);
    if (!mem)
        return nomem(errstr, errstr_size);
    rc = cp__churn_model_write(m, header, mem);
    if (fclose(mem) || rc) {
        free(text);
        return nomem(errstr, errstr_size);
    }
    chk = cp_churn_model_parse(text, len, "fitted model", why, sizeof(why));
    if (!chk) {
        snprintf(errstr, errstr_size,
                 "the fitted model does not load, nothing written: %.400s "
                 "(fix: a smaller --l2 or more labelled customers)",
                 why);
        free(text);
        return CP_ECONFIG;
    }
    cp_churn_model_destroy(chk);
    if (!strcmp(o->out, "-")) {
        rc = fwrite(text, 1, len, stdout) == len && !fflush(stdout) ? CP_OK
                                                                    : CP_EIO;
        if (rc)
            snprintf(errstr, errstr_size, "write the model to stdout: %s",
                     strerror(errno));
        free(text);
        return rc;
    }
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", o->out,
                         (long)getpid()) >= sizeof(tmp)) {
        snprintf(errstr, errstr_size, "-o %.200s: path too long", o->out);
        free(text);
        return CP_EIO;
    }
    out = fopen(tmp, "w");
    if (!out) {
        snprintf(errstr, errstr_size,
                 "open %s: %s (fix: -o in a writable directory)", tmp,
                 strerror(errno));
        free(text);
        return CP_EIO;
    }
    rc = fwrite(text, 1, len, out) == len && !fflush(out) && !fsync(fileno(out))
             ? CP_OK
             : CP_EIO;
    if (rc)
        snprintf(errstr, errstr_size, "write %s: %s", tmp, strerror(errno));
    if (fclose(out) && !rc) {
        snprintf(errstr, errstr_size, "write %s: %s", tmp, strerror(errno));
        rc = CP_EIO;
    }
    if (!rc && rename(tmp, o->out)) {
        snprintf(errstr, errstr_size, "rename %s to %s: %s", tmp, o->out,
                 strerror(errno));
        rc = CP_EIO;
    }
    if (rc)
        unlink(tmp);
    free(text);
    return rc;
}

/* Everything one fit allocates, freed in one place. */
struct fit_run {
    struct data d;
    size_t *rows;      /* labelled customers: indexes into d.c */
    struct rfm *rfm;   /* BG/NBD data of training customers with orders */
    double *X;         /* n x NF features */
    int *y;            /* labels */
    char *tr, *te;     /* training / held-out rows */
    char *all;         /* every row */
    double *scratch;   /* n doubles: offsets, a column */
    struct scored *sv; /* n scored rows */
};

static void fit_run_cleanup(struct fit_run *f)
{
    for (size_t i = 0; i < f->d.cnt; i++)
        free(f->d.c[i].id);
    free(f->d.c);
    free(f->d.tenant);
    cp_map_cleanup(&f->d.idx);
    free(f->rows);
    free(f->rfm);
    free(f->X);
    free(f->y);
    free(f->tr);
    free(f->te);
    free(f->all);
    free(f->scratch);
    free(f->sv);
}

/* The labelled rows and the BG/NBD data; @returns the labelled count. */
static size_t collect_rows(struct fit_run *f, const struct cp_fit_opts *o,
                           size_t *nr)
{
    size_t n = 0;

    *nr = 0;
    for (size_t i = 0; i < f->d.cnt; i++) {
        const struct cp_churn_state *st = &f->d.c[i].st;

        if (f->d.c[i].label < 0)
            continue;
        f->rows[n++] = i;
        /* BG/NBD data from the training customers with an order. */
        if (st->orders > 0 && !f->d.c[i].holdout) {
            struct rfm *r = &f->rfm[(*nr)++];
            double T = (double)(o->cutoff - st->first_order_ms) / MS_PER_DAY;

            r->x = st->order_days - 1.0;
            r->t_x =
                (double)(st->last_order_ms - st->first_order_ms) / MS_PER_DAY;
            r->T = fmax(T, r->t_x);
        }
    }
    return n;
}

/* The held-out report of a fit on the training rows. */
static void report_holdout(const struct cp_churn_model *m, struct fit_run *f,
                           size_t n, FILE *report)
{
    fprintf(
        report, "held-out ROC AUC: model %.4f, order factors %.4f\n",
        model_auc(m, f->X, f->y, f->te, n, 0, NF, 0, f->sv),
        model_auc(m, f->X, f->y, f->te, n, 0, CP_CF_ORDER_GROUP_END, 0, f->sv));
    fprintf(report, "held-out ROC AUC of single factors:");
    for (int j = 0; j < NF; j++)
        fprintf(report, "%s %s %.3f", j % 4 ? "," : "\n ",
                cp__churn_factor_names[j],
                model_auc(m, f->X, f->y, f->te, n, j, j + 1, 1, f->sv));
    fprintf(report, "\nheld out: ");
    calibration(m, f->X, f->y, f->te, n, report, f->sv);
}

/* Refs from @p m's features, then features with the refs (customers
 * without orders take the refs for the order factors), then weights. */
static void fit_on(struct cp_churn_model *m, struct fit_run *f, size_t n,
                   const struct cp_fit_opts *o, const char *use)
{
    features(m, &f->d, f->rows, n, o->cutoff, f->X);
    fit_refs(m, &f->d, f->rows, n, f->X, use, f->scratch);
    features(m, &f->d, f->rows, n, o->cutoff, f->X);
    fit_weights(m, n, f->X, f->y, use, o->l2, f->scratch);
}

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
        n = split(line, f, 9);
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
        c = cust_get(d, f[0], f[1]);
        if (!c) {
            rc = nomem(errstr, errstr_size);
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
    FILE *fp = fopen(o->events, "r");
    char line[4096];
    long lineno = 0;
    int64_t next = INT64_MIN, last = INT64_MIN;
    double horizon_ms = o->ev_horizon * MS_PER_DAY;
    cp_rc rc = CP_OK;

    if (!fp) {
        snprintf(errstr, errstr_size,
                 "open events %s: %s (fix: a readable CSV file)", o->events,
                 strerror(errno));
        return CP_EIO;
    }
    *used = 0;
    for (;;) {
        char *f[6];
        int64_t at, value;
        struct cust *c;
        int obs, got = next_event_row(fp, o->events, &lineno, line,
                                      sizeof(line), f, &at, &obs, &value,
                                      errstr, errstr_size);

        if (got <= 0) {
            rc = got < 0 ? CP_EDECODE : rc;
            break;
        }
        if (o->cutoff != INT64_MIN && at >= o->cutoff)
            continue;
        if (at < last) {
            snprintf(errstr, errstr_size,
                     "%s:%ld: event time goes back (%lld after %lld): the "
                     "evidence fit replays in event-time order (fix: sort "
                     "the file by occurred_at_ms)",
                     o->events, lineno, (long long)at, (long long)last);
            rc = CP_EDECODE;
            break;
        }
        last = at;
        if (next == INT64_MIN)
            next = at + step_ms;
        while (at >= next) {
            if (ev_sample_all(s, d, mall, next, horizon_ms)) {
                rc = nomem(errstr, errstr_size);
                goto out;
            }
            next += step_ms;
        }
        c = cust_get(d, f[0], f[1]);
        if (!c) {
            rc = nomem(errstr, errstr_size);
            break;
        }
        cp_churn_observe(&c->st, m, (enum cp_churn_obs)obs, at, value);
        (*used)++;
    }
    if (!rc && ferror(fp)) {
        snprintf(errstr, errstr_size, "read events %s: %s", o->events,
                 strerror(errno));
        rc = CP_EIO;
    }
    /* The end of the history is sampled too (a silence up to it). */
    if (!rc && next != INT64_MIN &&
        ev_sample_all(s, d, mall, last, horizon_ms))
        rc = nomem(errstr, errstr_size);
out:
    fclose(fp);
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
        if (solve(H, g, d))
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
        rc = nomem(errstr, errstr_size);
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

        ev_simulate(s, d, p, thr, m->hysteresis,
                    m->cooldown_days * MS_PER_DAY, latched, last, hit, &oc);
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
static cp_rc ev_run(struct cp_churn_model *m, const struct cp_fit_opts *o,
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
        rc = nomem(errstr, errstr_size);
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
        rc = write_model(m, o, labelled, errstr, errstr_size);
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

cp_rc cp_fit_run(const struct cp_fit_opts *o, FILE *report, char *errstr,
                 size_t errstr_size)
{
    struct fit_run f;
    struct cp_churn_model *m;
    const char *base = o->evaluate ? o->evaluate : o->base;
    FILE *rep = o->quiet ? NULL : report;
    size_t used, n, nr, pos = 0, ntr = 0, cap;
    cp_rc rc;

    memset(&f, 0, sizeof(f));
    cp_map_init(&f.d.idx);
    m = base ? cp_churn_model_load(base, errstr, errstr_size)
             : cp_churn_model_default();
    if (!m) {
        if (!base)
            snprintf(errstr, errstr_size, "built-in model: out of memory");
        rc = base ? CP_ECONFIG : CP_ENOMEM;
        goto out;
    }
    rc = set_version(m, o, errstr, errstr_size);
    if (!rc && o->ev_horizon > 0 && !o->evaluate) {
        rc = ev_run(m, o, rep, errstr, errstr_size);
        goto out;
    }
    if (!rc)
        rc = read_events(&f.d, m, o, &used, errstr, errstr_size);
    if (!rc)
        rc = read_labels(&f.d, o, errstr, errstr_size);
    if (rc)
        goto out;
    cap = f.d.cnt ? f.d.cnt : 1;
    f.rows = malloc(sizeof(*f.rows) * cap);
    f.rfm = malloc(sizeof(*f.rfm) * cap);
    if (!f.rows || !f.rfm) {
        rc = nomem(errstr, errstr_size);
        goto out;
    }
    n = collect_rows(&f, o, &nr);
    if (n < 20) {
        snprintf(errstr, errstr_size,
                 "fewer than 20 labelled customers: nothing to fit");
        rc = CP_ECONFIG;
        goto out;
    }
    if (rep)
        fprintf(rep,
                "read %zu observations before the cutoff, %zu customers, "
                "%zu labelled\n",
                used, f.d.cnt, n);
    if (!o->keep_bgnbd && !o->evaluate && nr >= 10)
        fit_bgnbd(m, f.rfm, nr, rep);

    f.X = malloc(sizeof(double) * NF * n);
    f.y = malloc(sizeof(int) * n);
    f.tr = malloc(n);
    f.te = malloc(n);
    f.all = malloc(n);
    f.scratch = malloc(sizeof(double) * n);
    f.sv = malloc(sizeof(*f.sv) * n);
    if (!f.X || !f.y || !f.tr || !f.te || !f.all || !f.scratch || !f.sv) {
        rc = nomem(errstr, errstr_size);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        f.y[i] = f.d.c[f.rows[i]].label;
        f.te[i] = (char)f.d.c[f.rows[i]].holdout;
        f.tr[i] = (char)!f.te[i];
        f.all[i] = 1;
        pos += (size_t)f.y[i];
        ntr += (size_t)f.tr[i];
    }
    if (rep)
        fprintf(rep, "churn rate %.3f; train %zu, held out %zu\n",
                (double)pos / (double)n, ntr, n - ntr);
    if (ntr < 10 || n - ntr < 10) {
        snprintf(errstr, errstr_size,
                 "too few customers on one side of the split");
        rc = CP_ECONFIG;
        goto out;
    }
    if (o->evaluate) {
        /* Judging a model is the point of --evaluate: reported even with
         * quiet. */
        features(m, &f.d, f.rows, n, o->cutoff, f.X);
        evaluate(m, &f.d, f.rows, n, f.X, f.y, f.all, o->cutoff, report, f.sv);
        goto out;
    }
    fit_on(m, &f, n, o, f.tr);
    if (rep)
        report_holdout(m, &f, n, rep);
    /* The model written uses every labelled customer. */
    fit_on(m, &f, n, o, f.all);
    if (rep)
        fprintf(rep, "fitted on all %zu labelled customers: bias %.4f\n", n,
                m->bias);
    set_thresholds(m, &f.d, f.rows, f.y, f.all, n, o, rep, f.sv);
    rc = write_model(m, o, n, errstr, errstr_size);
out:
    fit_run_cleanup(&f);
    cp_churn_model_destroy(m);
    return rc;
}
