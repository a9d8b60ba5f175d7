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
#include "fit_int.h"
#include "map.h"

/* Out of memory, as fitting reports it. */
cp_rc cp__fit_nomem(char *errstr, size_t errstr_size)
{
    snprintf(errstr, errstr_size, "out of memory");
    return CP_ENOMEM;
}

/* @returns the customer @p tenant / @p customer (created empty when new),
 * or NULL when out of memory. Both ids are shorter than KEY_MAX / 2 (the
 * lines they come from are). */
struct cust *cp__fit_cust_get(struct data *d, const char *tenant,
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
int cp__fit_split(char *line, char **f, int max)
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

cp_rc cp__fit_events_open(struct cp__fit_events *ev, const char *path,
                          char *errstr, size_t errstr_size)
{
    ev->path = path;
    ev->lineno = 0;
    ev->err = CP_OK;
    ev->fp = fopen(path, "r");
    if (ev->fp)
        return CP_OK;
    snprintf(errstr, errstr_size,
             "open events %s: %s (fix: a readable CSV file)", path,
             strerror(errno));
    return CP_EIO;
}

int cp__fit_events_next(struct cp__fit_events *ev, char *f[6], int64_t *at,
                        int *obs, int64_t *value, char *errstr,
                        size_t errstr_size)
{
    while (fgets(ev->line, (int)sizeof(ev->line), ev->fp)) {
        ++ev->lineno;
        if (cp__fit_split(ev->line, f, 6) != 5) {
            if (!ev->line[0])
                continue;
            snprintf(errstr, errstr_size, "%s:%ld: expected 5 fields", ev->path,
                     ev->lineno);
            ev->err = CP_EDECODE;
            return -1;
        }
        if (ev->lineno == 1 && !strcmp(f[0], "tenant_id"))
            continue;
        *obs = cp_churn_obs_parse(f[3]);
        if (*obs < 0 || cp_fit_parse_ms(f[2], at) ||
            cp_fit_parse_ms(f[4], value)) {
            snprintf(errstr, errstr_size, "%s:%ld: bad row (obs '%s')",
                     ev->path, ev->lineno, f[3]);
            ev->err = CP_EDECODE;
            return -1;
        }
        return 1;
    }
    if (ferror(ev->fp)) {
        snprintf(errstr, errstr_size, "read events %s: %s", ev->path,
                 strerror(errno));
        ev->err = CP_EIO;
        return -1;
    }
    return 0;
}

void cp__fit_events_close(struct cp__fit_events *ev)
{
    if (ev->fp)
        fclose(ev->fp);
    ev->fp = NULL;
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
    struct cp__fit_events ev;
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
        if (at >= o->cutoff)
            continue;
        if (o->orders_only && obs != CP_OBS_ORDER)
            continue;
        c = cp__fit_cust_get(d, f[0], f[1]);
        if (!c || note_tenant(d, f[0])) {
            rc = cp__fit_nomem(errstr, errstr_size);
            break;
        }
        cp_churn_observe(&c->st, m, (enum cp_churn_obs)obs, at, value);
        (*used)++;
    }
    cp__fit_events_close(&ev);
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
        n = cp__fit_split(line, f, 4);
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
        c = cp__fit_cust_get(d, tenant, customer);
        if (!c) {
            rc = cp__fit_nomem(errstr, errstr_size);
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
int cp__fit_solve(double *A, double *b, int n)
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
        if (cp__fit_solve(H, g, d))
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
        v[i].s =
            d->c[rows[i]].st.orders ? X[i * NF + CP_CF_HORIZON_SILENCE] : 2;
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
cp_rc cp__fit_write_model(const struct cp_churn_model *m,
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
        return cp__fit_nomem(errstr, errstr_size);
    rc = cp__churn_model_write(m, header, mem);
    if (fclose(mem) || rc) {
        free(text);
        return cp__fit_nomem(errstr, errstr_size);
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

/* The labelled rows and the BG/NBD data; @returns the labelled count.
 * A labelled customer with no event before the cutoff was not a customer
 * yet then: fitting it (an empty state labelled "stayed" because it buys
 * later) would teach the model from after the cutoff. It is left out and
 * counted in @p unseen. */
static size_t collect_rows(struct fit_run *f, const struct cp_fit_opts *o,
                           size_t *nr, size_t *unseen)
{
    size_t n = 0;

    *nr = 0;
    *unseen = 0;
    for (size_t i = 0; i < f->d.cnt; i++) {
        const struct cp_churn_state *st = &f->d.c[i].st;

        if (f->d.c[i].label < 0)
            continue;
        if (st->first_seen_ms == INT64_MIN) {
            (*unseen)++;
            continue;
        }
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

cp_rc cp_fit_run(const struct cp_fit_opts *o, FILE *report, char *errstr,
                 size_t errstr_size)
{
    struct fit_run f;
    struct cp_churn_model *m;
    const char *base = o->evaluate ? o->evaluate : o->base;
    FILE *rep = o->quiet ? NULL : report;
    size_t used, n, nr, unseen, pos = 0, ntr = 0, cap;
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
        rc = cp__fit_ev_run(m, o, rep, errstr, errstr_size);
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
        rc = cp__fit_nomem(errstr, errstr_size);
        goto out;
    }
    n = collect_rows(&f, o, &nr, &unseen);
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
    if (rep && unseen > 0)
        fprintf(rep,
                "left out %zu labelled customers with no event before the "
                "cutoff (not customers yet then; label only customers seen "
                "before it)\n",
                unseen);
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
        rc = cp__fit_nomem(errstr, errstr_size);
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
    rc = cp__fit_write_model(m, o, n, errstr, errstr_size);
out:
    fit_run_cleanup(&f);
    cp_churn_model_destroy(m);
    return rc;
}
