/* SPDX-License-Identifier: Apache-2.0 */
/* Churn model: the math of each feature (decay, order-insensitivity,
 * interval shrinkage, BG/NBD), score and reasons, the alert rule
 * (hysteresis, cooldown), the silence timer, state packing, model parsing
 * and writing, reasons JSON and alert ids. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "churn.h"
#include "churn_int.h"

#define DAY  86400000LL
#define HOUR 3600000LL
/* 2026-01-01T00:00:00Z */
#define T0 1767225600000LL

static struct cp_churn_model *model(void)
{
    struct cp_churn_model *m = cp_churn_model_default();

    cr_assert(m != NULL, "the built-in model must load");
    return m;
}

/* A model whose factors are the raw values (no transform, no clip). */
static struct cp_churn_model *raw_model(void)
{
    struct cp_churn_model *m = model();

    for (int i = 0; i < CP_CF_CNT; i++) {
        m->f[i].transform = CP_TR_NONE;
        m->f[i].lo = -1e6;
        m->f[i].hi = 1e6;
    }
    return m;
}

static int close_rel(double a, double b, double rel)
{
    return fabs(a - b) <= rel * fmax(1e-12, fmax(fabs(a), fabs(b)));
}

/* ---------------------------------------------------------------- */

Test(churn_model, default_loads)
{
    struct cp_churn_model *m = model();

    cr_assert(strlen(cp_churn_model_version(m)) > 0);
    cr_assert(cp_churn_model_threshold(m, CP_LEVEL_HIGH) <
              cp_churn_model_threshold(m, CP_LEVEL_CRITICAL));
    cr_assert(cp_churn_model_sla_ms(m, 0) > 0, "phone has an SLA");
    cr_assert_eq(cp_churn_model_sla_ms(m, 7), 0, "out of range: no SLA");
    cr_assert_eq(cp_churn_model_sla_ms(m, -2), 0);
    cp_churn_model_destroy(m);
}

Test(churn_model, load_file_and_missing_file)
{
    char err[256] = "";
    struct cp_churn_model *m =
        cp_churn_model_load("/nonexistent/model.conf", err, sizeof(err));

    cr_assert(m == NULL);
    cr_assert(strstr(err, "/nonexistent/model.conf") != NULL, "%s", err);
}

/* The default model's text with line @p lineno (1-based) replaced. */
static char *replace_line(int lineno, const char *with)
{
    const char *t = cp__churn_default_model;
    size_t n = cp__churn_default_model_len;
    char *out = malloc(n + strlen(with) + 2);
    size_t o = 0, i = 0;
    int line = 1;

    cr_assert(out);
    while (i < n) {
        size_t e = i;

        while (e < n && t[e] != '\n')
            e++;
        if (line == lineno) {
            memcpy(out + o, with, strlen(with));
            o += strlen(with);
        } else {
            memcpy(out + o, t + i, e - i);
            o += e - i;
        }
        out[o++] = '\n';
        i = e + 1;
        line++;
    }
    out[o] = '\0';
    return out;
}

/* Line number of the first line starting with @p prefix in the default. */
static int line_of(const char *prefix)
{
    const char *t = cp__churn_default_model;
    int line = 1;

    for (const char *p = t; *p; p++) {
        if ((p == t || p[-1] == '\n') && !strncmp(p, prefix, strlen(prefix)))
            return line;
        if (*p == '\n')
            line++;
    }
    cr_assert_fail("no line %s", prefix);
    return -1;
}

static void expect_error(const char *text, const char *want1, const char *want2)
{
    char err[512] = "";
    struct cp_churn_model *m = cp_churn_model_parse(
        text, strlen(text), "model.conf", err, sizeof(err));

    cr_assert(m == NULL, "accepted; wanted error %s", want1);
    cr_assert(strstr(err, want1) != NULL, "error '%s' lacks '%s'", err, want1);
    if (want2)
        cr_assert(strstr(err, want2) != NULL, "error '%s' lacks '%s'", err,
                  want2);
    cr_assert(strstr(err, "fix") != NULL, "error '%s' gives no fix", err);
}

Test(churn_model, errors_name_the_line)
{
    int l = line_of("weight.order_silence");
    char want[64], *t;

    snprintf(want, sizeof(want), "model.conf:%d: weight.order_silence", l);
    t = replace_line(l, "weight.order_silence = abc");
    expect_error(t, want, "expected a number, got 'abc'");
    free(t);

    l = line_of("bgnbd.r");
    snprintf(want, sizeof(want), "model.conf:%d: bgnbd.r", l);
    t = replace_line(l, "bgnbd.r = -1");
    expect_error(t, want, "out of range");
    free(t);

    l = line_of("horizon_days");
    snprintf(want, sizeof(want), "model.conf:%d: weight.colour", l);
    t = replace_line(l, "weight.colour = 1");
    expect_error(t, want, "unknown key");
    free(t);

    l = line_of("level.high");
    snprintf(want, sizeof(want), "model.conf:%d:", l);
    t = replace_line(l, "level.high 0.5");
    expect_error(t, want, "expected 'key = value'");
    free(t);

    l = line_of("clip.monetary");
    snprintf(want, sizeof(want), "model.conf:%d: clip.monetary", l);
    t = replace_line(l, "clip.monetary = 5 1");
    expect_error(t, want, "LO HI");
    free(t);

    l = line_of("transform.tenure");
    snprintf(want, sizeof(want), "model.conf:%d: transform.tenure", l);
    t = replace_line(l, "transform.tenure = sqrt");
    expect_error(t, want, "unknown transform");
    free(t);
}

Test(churn_model, missing_duplicate_and_inconsistent)
{
    int l = line_of("alert.cooldown_days");
    char *t = replace_line(l, "# removed");
    char want[64];

    expect_error(t, "missing key 'alert.cooldown_days'", NULL);
    free(t);

    l = line_of("bias");
    t = replace_line(l, "version = again");
    snprintf(want, sizeof(want), "model.conf:%d: version", l);
    expect_error(t, want, "given twice");
    free(t);

    l = line_of("level.high");
    t = replace_line(l, "level.high = 0.95");
    expect_error(t, "level.high 0.95 must be below level.critical", NULL);
    free(t);

    expect_error("", "missing key 'version'", NULL);
}

Test(churn_model, write_then_parse_round_trip)
{
    struct cp_churn_model *m = model(), *back;
    char *text = NULL, err[256] = "";
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);

    cr_assert(mem);
    m->f[CP_CF_NPS_LOW].weight = 1.234567;
    m->sla_ms[3] = 90 * 60000;
    cr_assert_eq(cp__churn_model_write(m, "a header\nof two lines", mem),
                 CP_OK);
    fclose(mem);
    cr_assert(strncmp(text, "# a header\n# of two lines\n", 26) == 0);
    back = cp_churn_model_parse(text, len, "written", err, sizeof(err));
    cr_assert(back != NULL, "%s", err);
    cr_assert(close_rel(back->f[CP_CF_NPS_LOW].weight, 1.234567, 1e-9));
    cr_assert_eq(cp_churn_model_sla_ms(back, 2), 90 * 60000);
    cr_assert(close_rel(back->r, m->r, 1e-9));
    cr_assert_eq(back->f[CP_CF_ORDER_SILENCE].transform,
                 m->f[CP_CF_ORDER_SILENCE].transform);
    free(text);
    cp_churn_model_destroy(back);
    cp_churn_model_destroy(m);
}

/* silence_x_orders came after the format: a model file written before it
 * (without its four keys) still loads and scores as before (weight 0); a
 * file with them reads them; giving one twice is still an error. */
/* The default model's text without the lines that start with one of
 * @p keys, into @p text (room for the whole default): an older model file.
 * @returns its length. */
static size_t default_model_without(const char *const *keys, size_t cnt,
                                    char *text)
{
    size_t o = 0;

    for (size_t i = 0; i < cp__churn_default_model_len;) {
        size_t e = i;
        int drop = 0;

        while (e < cp__churn_default_model_len &&
               cp__churn_default_model[e] != '\n')
            e++;
        for (size_t k = 0; k < cnt; k++)
            if (!strncmp(cp__churn_default_model + i, keys[k], strlen(keys[k])))
                drop = 1;
        if (!drop) {
            memcpy(text + o, cp__churn_default_model + i, e - i);
            o += e - i;
            text[o++] = '\n';
        }
        i = e + 1;
    }
    text[o] = '\0';
    return o;
}

Test(churn_model, silence_x_orders_keys_may_be_left_out)
{
    static const char *const keys[] = {
        "weight.silence_x_orders", "ref.silence_x_orders",
        "transform.silence_x_orders", "clip.silence_x_orders"};
    char *text = malloc(cp__churn_default_model_len + 1), err[256] = "";
    struct cp_churn_model *m, *full = model();
    size_t o;

    cr_assert(text);
    o = default_model_without(keys, 4, text);
    cr_assert(strstr(text, "silence_x_orders =") == NULL);
    m = cp_churn_model_parse(text, o, "old.conf", err, sizeof(err));
    cr_assert(m != NULL, "an older model file must load: %s", err);
    cr_assert_eq(m->f[CP_CF_SILENCE_X_ORDERS].weight, 0.0);
    cr_assert_eq(m->f[CP_CF_SILENCE_X_ORDERS].ref, 0.0);
    cr_assert_eq(m->f[CP_CF_SILENCE_X_ORDERS].transform, CP_TR_NONE);
    cr_assert_eq(m->f[CP_CF_SILENCE_X_ORDERS].lo, 0.0);
    cr_assert_eq(m->f[CP_CF_SILENCE_X_ORDERS].hi, 40.0);
    cr_assert(full->f[CP_CF_SILENCE_X_ORDERS].weight != 0,
              "the default weighs it");
    cp_churn_model_destroy(m);
    cp_churn_model_destroy(full);
    free(text);

    {
        int l = line_of("weight.silence_x_orders");
        char *t = replace_line(l + 1, "weight.silence_x_orders = 1");
        char want[64];

        snprintf(want, sizeof(want), "model.conf:%d: weight.silence_x_orders",
                 l + 1);
        expect_error(t, want, "given twice");
        free(t);
    }
    /* Every other factor's keys are still required. */
    {
        char *t = replace_line(line_of("weight.order_silence"), "# removed");

        expect_error(t, "missing key 'weight.order_silence'", NULL);
        free(t);
    }
}

/* ---------------------------------------------------------------- */

Test(churn_features, decay_halves_per_half_life)
{
    struct cp_churn_model *m = raw_model();
    struct cp_churn_state st;
    double x0[CP_CF_CNT], x1[CP_CF_CNT], x2[CP_CF_CNT];
    int64_t hs = (int64_t)(m->hl_short_days * DAY);
    int64_t hl = (int64_t)(m->hl_long_days * DAY);

    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_ORDER, T0, 1000);
    cp__churn_features(m, &st, T0, x0);
    cp__churn_features(m, &st, T0 + hs, x1);
    cp__churn_features(m, &st, T0 + 2 * hs, x2);
    cr_assert(close_rel(x0[CP_CF_ORDERS_RECENT], 1.0, 1e-6));
    cr_assert(close_rel(x1[CP_CF_ORDERS_RECENT], 0.5, 1e-6));
    cr_assert(close_rel(x2[CP_CF_ORDERS_RECENT], 0.25, 1e-6));
    cp__churn_features(m, &st, T0 + hl, x1);
    cr_assert(close_rel(x1[CP_CF_ORDERS_LONG], 0.5, 1e-6));
    /* The average check is a ratio of two sums of one half-life: it does
     * not decay. */
    cr_assert(close_rel(x1[CP_CF_MONETARY], 10.0, 1e-6));
    cp_churn_model_destroy(m);
}

/* Deterministic xorshift for the shuffles. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

struct ob {
    enum cp_churn_obs obs;
    int64_t at, value;
};

static void replay(const struct cp_churn_model *m, struct cp_churn_state *st,
                   const struct ob *v, size_t n)
{
    cp_churn_state_init(st);
    for (size_t i = 0; i < n; i++)
        cp_churn_observe(st, m, v[i].obs, v[i].at, v[i].value);
}

static void order_insensitive(int64_t from, int64_t span, uint64_t seed)
{
    struct cp_churn_model *m = raw_model();
    struct ob v[150];
    struct cp_churn_state a, b, c;
    double xa[CP_CF_CNT], xb[CP_CF_CNT], xc[CP_CF_CNT];
    uint64_t s = seed;
    int64_t last = from;
    size_t n = CP_ARRAY_SIZE(v);

    for (size_t i = 0; i < n; i++) {
        v[i].obs = (enum cp_churn_obs)(rnd(&s) % CP_OBS_CNT);
        if (v[i].obs == CP_OBS_TICKET_OPENED ||
            v[i].obs == CP_OBS_TICKET_RESOLVED)
            v[i].obs = CP_OBS_ORDER; /* pairs are order-dependent by nature */
        /* One observation per slot of span / n (> 2 days), in the first
         * half of it: no two orders share a UTC day, where arrival order
         * would legitimately matter (order_days). */
        v[i].at = from + (int64_t)i * (span / (int64_t)n) +
                  (int64_t)(rnd(&s) % (uint64_t)(span / (int64_t)n / 2));
        v[i].value = (int64_t)(rnd(&s) % 10);
        if (v[i].at > last)
            last = v[i].at;
    }
    replay(m, &a, v, n);
    for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        size_t j = rnd(&s) % (i + 1);
        struct ob t = v[i];

        v[i] = v[j];
        v[j] = t;
    }
    replay(m, &b, v, n);
    for (size_t i = 0; i < n / 2; i++) { /* reversed */
        struct ob t = v[i];

        v[i] = v[n - 1 - i];
        v[n - 1 - i] = t;
    }
    replay(m, &c, v, n);
    for (int k = 0; k < 3; k++) {
        int64_t now = last + k * 40 * DAY;

        cp__churn_features(m, &a, now, xa);
        cp__churn_features(m, &b, now, xb);
        cp__churn_features(m, &c, now, xc);
        for (int i = 0; i < CP_CF_CNT; i++) {
            cr_assert(isfinite(xa[i]), "%s not finite",
                      cp__churn_factor_names[i]);
            cr_assert(fabs(xa[i] - xb[i]) <= 1e-4 * fmax(1, fabs(xa[i])),
                      "%s: %g in order, %g shuffled", cp__churn_factor_names[i],
                      xa[i], xb[i]);
            cr_assert(fabs(xa[i] - xc[i]) <= 1e-4 * fmax(1, fabs(xa[i])),
                      "%s: %g in order, %g reversed", cp__churn_factor_names[i],
                      xa[i], xc[i]);
        }
    }
    cr_assert_eq(a.orders, b.orders);
    cr_assert_eq(a.first_order_ms, c.first_order_ms);
    cr_assert_eq(a.last_order_ms, c.last_order_ms);
    cr_assert_eq(a.last_nps, b.last_nps);
    cr_assert_eq(a.last_ces, c.last_ces);
    cp_churn_model_destroy(m);
}

Test(churn_features, decayed_sums_order_insensitive_one_year)
{
    order_insensitive(T0, 365 * DAY, 42);
}

Test(churn_features, decayed_sums_order_insensitive_2000_to_2100)
{
    /* 2000-01-01 .. 2100-01-01: forces landmark moves in every order. */
    order_insensitive(946684800000LL, 4102444800000LL - 946684800000LL, 7);
}

Test(churn_features, century_of_orders_stays_finite)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;
    struct cp_churn_score sc;

    cp_churn_state_init(&st);
    for (int64_t t = 946684800000LL; t < 4102444800000LL; t += 3 * DAY)
        cp_churn_observe(&st, m, CP_OBS_ORDER, t, 5000);
    cr_assert(isfinite(st.ord_short) && isfinite(st.ord_long));
    cp_churn_evaluate(m, &st, 4102444800000LL, &sc);
    cr_assert(isfinite(sc.score) && sc.score >= 0 && sc.score <= 1);
    /* Every third day for a century: the decayed count is its steady
     * state rate * h / ln 2 = h / (3 ln 2). */
    {
        double x[CP_CF_CNT];
        struct cp_churn_model *r = raw_model();

        cp__churn_features(r, &st, 4102444800000LL, x);
        cr_assert(close_rel(x[CP_CF_ORDERS_LONG],
                            r->hl_long_days / (3 * 0.693147), 0.02),
                  "%g", x[CP_CF_ORDERS_LONG]);
        cp_churn_model_destroy(r);
    }
    cp_churn_model_destroy(m);
}

Test(churn_features, usual_interval_shrinks_toward_prior)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;

    m->prior_interval_days = 30;
    m->prior_weight = 2;
    cp_churn_state_init(&st);
    cr_assert(close_rel(cp__churn_usual_interval(m, &st), 30, 1e-12),
              "no orders: the prior");
    cp_churn_observe(&st, m, CP_OBS_ORDER, T0, 100);
    cr_assert(close_rel(cp__churn_usual_interval(m, &st), 30, 1e-12));
    cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + 20 * DAY, 100);
    cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + 10 * DAY, 100);
    /* gaps 2, span 20 days: (20 + 2 * 30) / (2 + 2) = 20 */
    cr_assert(close_rel(cp__churn_usual_interval(m, &st), 20, 1e-12));
    for (int i = 3; i <= 100; i++)
        cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + i * 10 * DAY, 100);
    /* 100 gaps of 10 days: (1000 + 60) / 102, close to the data */
    cr_assert(close_rel(cp__churn_usual_interval(m, &st), 1060.0 / 102, 1e-12));
    {
        double x[CP_CF_CNT];
        struct cp_churn_model *r = raw_model();

        r->prior_interval_days = 30;
        r->prior_weight = 2;
        cp__churn_features(r, &st, T0 + 1000 * DAY + 52 * DAY, x);
        cr_assert(close_rel(x[CP_CF_ORDER_SILENCE], 52 / (1060.0 / 102), 1e-9));
        cp_churn_model_destroy(r);
    }
    cp_churn_model_destroy(m);
}

/* silence_x_orders = ln(1 + days since the last order / usual interval)
 * * ln(1 + D_long of orders); a customer without orders gets its ref. */
Test(churn_features, silence_x_orders_is_its_formula)
{
    struct cp_churn_model *r = raw_model();
    struct cp_churn_state st;
    double x[CP_CF_CNT], want_l;

    r->prior_interval_days = 30;
    r->prior_weight = 2;
    r->hl_long_days = 180;
    cp_churn_state_init(&st);
    cp_churn_observe(&st, r, CP_OBS_ORDER, T0, 100);
    cp_churn_observe(&st, r, CP_OBS_ORDER, T0 + 10 * DAY, 100);
    cp_churn_observe(&st, r, CP_OBS_ORDER, T0 + 30 * DAY, 100);
    /* gaps 2, span 30 days: usual (30 + 2 * 30) / (2 + 2) = 22.5 days; 45
     * days of silence are 2 usual intervals. */
    cp__churn_features(r, &st, T0 + 75 * DAY, x);
    want_l = exp2(-75 / 180.0) + exp2(-65 / 180.0) + exp2(-45 / 180.0);
    cr_assert(close_rel(x[CP_CF_ORDER_SILENCE], 2.0, 1e-9));
    cr_assert(close_rel(x[CP_CF_ORDERS_LONG], want_l, 1e-6));
    cr_assert(
        close_rel(x[CP_CF_SILENCE_X_ORDERS], log1p(2.0) * log1p(want_l), 1e-6),
        "%.9g", x[CP_CF_SILENCE_X_ORDERS]);
    /* At the last order: no silence, nothing to weigh. */
    cp__churn_features(r, &st, T0 + 30 * DAY, x);
    cr_assert_eq(x[CP_CF_SILENCE_X_ORDERS], 0.0);
    /* The clip bounds it (the default's clip is 0..40). */
    r->f[CP_CF_SILENCE_X_ORDERS].hi = 0.5;
    cp__churn_features(r, &st, T0 + 75 * DAY, x);
    cr_assert_eq(x[CP_CF_SILENCE_X_ORDERS], 0.5);
    /* No orders: the typical value, as for every order factor. */
    r->f[CP_CF_SILENCE_X_ORDERS].ref = 0.7;
    r->f[CP_CF_SILENCE_X_ORDERS].hi = 40;
    cp_churn_state_init(&st);
    cp_churn_observe(&st, r, CP_OBS_ACTIVITY, T0, 0);
    cp__churn_features(r, &st, T0 + 75 * DAY, x);
    cr_assert_eq(x[CP_CF_SILENCE_X_ORDERS], 0.7);
    cp_churn_model_destroy(r);
}

Test(churn_features, bgnbd_against_closed_form)
{
    /* FHL 2005's CDNOW parameters (weeks) and their example customer. */
    double r = 0.243, al = 4.414, a = 0.793, b = 2.426;

    cr_assert(close_rel(cp__churn_bgnbd_palive(r, al, a, b, 2, 30.43, 38.86),
                        0.726578570080673, 1e-12));
    cr_assert(close_rel(cp__churn_bgnbd_pnone(r, al, a, b, 2, 30.43, 38.86, 39),
                        0.44537286208299554, 1e-12));
    cr_assert(close_rel(cp__churn_bgnbd_ll(r, al, a, b, 2, 30.43, 38.86),
                        -9.458606307066272, 1e-12));
    /* No repeat order: alive for sure, P(none) is the NBD term. */
    cr_assert_eq(cp__churn_bgnbd_palive(r, al, a, b, 0, 0, 38.86), 1.0);
    cr_assert(close_rel(cp__churn_bgnbd_pnone(r, al, a, b, 0, 0, 38.86, 39),
                        0.8554494592166816, 1e-12));
    /* Long silence after many orders: P(alive) -> 0 without NaN. */
    {
        double p = cp__churn_bgnbd_palive(r, al, a, b, 5000, 10, 1e6);

        cr_assert(p >= 0 && p < 1e-9);
        cr_assert_eq(cp__churn_bgnbd_pnone(r, al, a, b, 5000, 10, 1e6, 39),
                     1.0);
    }
}

Test(churn_features, orders_of_one_day_are_one_occasion)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;

    m->prior_weight = 0;
    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + HOUR, 100);
    cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + 2 * HOUR, 100);
    cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + 20 * HOUR, 100);
    cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + 10 * DAY + HOUR, 100);
    cr_assert_eq(st.orders, 4, "every order counts as an order");
    cr_assert_eq(st.order_days, 2, "but two purchase days");
    /* One gap of 10 days - 0 h (first order 01:00, last 10 days later). */
    cr_assert(close_rel(cp__churn_usual_interval(m, &st), 10, 1e-12));
    cp_churn_model_destroy(m);
}

Test(churn_features, horizon_silence_uses_bgnbd_in_days)
{
    struct cp_churn_model *m = raw_model();
    struct cp_churn_state st;
    double x[CP_CF_CNT];

    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_ORDER, T0, 100);
    cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + 10 * DAY, 100);
    cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + 30 * DAY, 100);
    cp__churn_features(m, &st, T0 + 50 * DAY, x);
    cr_assert(close_rel(x[CP_CF_HORIZON_SILENCE],
                        cp__churn_bgnbd_pnone(m->r, m->alpha_days, m->a, m->b,
                                              2, 30, 50, m->horizon_days),
                        1e-12));
    cp_churn_model_destroy(m);
}

/* ---------------------------------------------------------------- */

static int is_evidence_name(const char *name)
{
    for (int e = 0; e < CP_E_CNT; e++)
        if (!strcmp(name, cp__churn_evidence_names[e]))
            return 1;
    return 0;
}

Test(churn_score, reasons_top3_descending_positive)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;
    struct cp_churn_score sc;
    int64_t now = T0 + 300 * DAY;
    /* 2026-10-27 */
    int64_t nps_at = T0 + 299 * DAY;

    cp_churn_state_init(&st);
    for (int i = 0; i < 20; i++)
        cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + i * 7 * DAY, 5000);
    cp_churn_observe(&st, m, CP_OBS_TICKET_OPENED, now - 9 * DAY, 0);
    cp_churn_observe(&st, m, CP_OBS_TICKET_OPENED, now - 9 * DAY, 0);
    cp_churn_observe(&st, m, CP_OBS_NPS, nps_at, 1);
    cp_churn_observe(&st, m, CP_OBS_SUB_CANCELLED, now - DAY, 9900);
    cp_churn_evaluate(m, &st, now, &sc);
    cr_assert(sc.score > 0.5 && sc.score <= 1, "%g", sc.score);
    cr_assert_eq(sc.reason_cnt, 3);
    for (int i = 0; i < sc.reason_cnt; i++) {
        cr_assert(sc.reasons[i].contribution > 0);
        cr_assert(strlen(sc.reasons[i].detail) > 0);
        if (i)
            cr_assert(sc.reasons[i].contribution <=
                      sc.reasons[i - 1].contribution);
    }
    /* Reasons match w_i * (x_i - ref_i) of their factor (the evidence
     * terms come first and weigh their own way, some under a factor's
     * name, e.g. order_drop). */
    {
        double x[CP_CF_CNT];

        cp__churn_features(m, &st, now, x);
        for (int i = 0; i < sc.reason_cnt; i++)
            for (int f = 0; f < CP_CF_CNT; f++)
                if (!strcmp(sc.reasons[i].factor, cp__churn_factor_names[f]) &&
                    !is_evidence_name(sc.reasons[i].factor) &&
                    f != CP_CF_OPEN_TICKETS && f != CP_CF_TICKET_AGE)
                    cr_assert(close_rel(sc.reasons[i].contribution,
                                        m->f[f].weight * (x[f] - m->f[f].ref),
                                        1e-9));
    }
    cp_churn_model_destroy(m);
}

/* Finds the reason of @p factor in @p sc, or NULL. */
static const struct cp_churn_reason *reason(const struct cp_churn_score *sc,
                                            const char *factor)
{
    for (int i = 0; i < sc->reason_cnt; i++)
        if (!strcmp(sc->reasons[i].factor, factor))
            return &sc->reasons[i];
    return NULL;
}

Test(churn_score, details_are_sentences)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;
    struct cp_churn_score sc;
    const struct cp_churn_reason *r;

    /* Only the factor under test contributes. */
    for (int i = 0; i < CP_CF_CNT; i++)
        m->f[i].weight = 0;
    m->f[CP_CF_ORDER_SILENCE].weight = 1;
    m->f[CP_CF_ORDER_SILENCE].ref = 0;
    m->f[CP_CF_NPS_LOW].weight = 1;
    m->f[CP_CF_NPS_LOW].ref = 0;
    m->f[CP_CF_OPEN_TICKETS].weight = 1;
    m->f[CP_CF_OPEN_TICKETS].ref = 0;
    m->prior_weight = 0;
    cp_churn_state_init(&st);
    for (int i = 0; i < 5; i++)
        cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + i * 12 * DAY, 100);
    /* 2026-04-01 */
    cp_churn_observe(&st, m, CP_OBS_NPS, T0 + 90 * DAY + 5 * HOUR, 3);
    cp_churn_observe(&st, m, CP_OBS_TICKET_OPENED, T0 + 48 * DAY, 0);
    cp_churn_observe(&st, m, CP_OBS_TICKET_OPENED, T0 + 50 * DAY, 0);
    cp_churn_evaluate(m, &st, T0 + 96 * DAY, &sc);
    /* Each is evidence of change: named as such, told as its factor. */
    r = reason(&sc, "silence");
    cr_assert(r != NULL);
    cr_assert_str_eq(r->detail, "no order for 48 days; usually every 12 days");
    r = reason(&sc, "detractor");
    cr_assert(r != NULL);
    cr_assert_str_eq(r->detail, "NPS 3 on 2026-04-01");
    r = reason(&sc, "ticket_overdue");
    cr_assert(r != NULL);
    cr_assert_str_eq(r->detail, "2 tickets open, 47 days on average");
    /* No evidence of change: the factors explain the probability. */
    for (int e = 0; e < CP_E_CNT; e++)
        m->ev_weight[e] = 0;
    cp_churn_evaluate(m, &st, T0 + 96 * DAY, &sc);
    r = reason(&sc, "order_silence");
    cr_assert(r != NULL);
    cr_assert_str_eq(r->detail, "no order for 48 days; usually every 12 days");
    r = reason(&sc, "nps_low");
    cr_assert(r != NULL && !strcmp(r->detail, "NPS 3 on 2026-04-01"));
    r = reason(&sc, "open_tickets");
    cr_assert(r != NULL);
    cr_assert_str_eq(r->detail, "2 tickets open, 47 days on average");
    cr_assert_str_eq(sc.action, "");
    cp_churn_model_destroy(m);
}

/* silence_x_orders tells the silence and what the customer used to buy;
 * when the silence is evidence of change it is told once, as evidence. */
Test(churn_score, silence_x_orders_reason)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;
    struct cp_churn_score sc;
    const struct cp_churn_reason *r;
    char want[128];
    double ord_l = 0;

    for (int i = 0; i < CP_CF_CNT; i++)
        m->f[i].weight = 0;
    m->f[CP_CF_SILENCE_X_ORDERS].weight = 1;
    m->f[CP_CF_SILENCE_X_ORDERS].ref = 0;
    m->prior_weight = 0;
    cp_churn_state_init(&st);
    for (int i = 0; i < 5; i++) {
        cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + i * 12 * DAY, 100);
        ord_l += exp2(-(96 - i * 12) / m->hl_long_days);
    }
    cp_churn_evaluate(m, &st, T0 + 96 * DAY, &sc);
    cr_assert(reason(&sc, "silence") != NULL);
    cr_assert(reason(&sc, "silence_x_orders") == NULL,
              "the silence is told once");
    for (int e = 0; e < CP_E_CNT; e++)
        m->ev_weight[e] = 0;
    cp_churn_evaluate(m, &st, T0 + 96 * DAY, &sc);
    r = reason(&sc, "silence_x_orders");
    cr_assert(r != NULL);
    snprintf(want, sizeof(want),
             "no order for 48 days after about %.1f orders in the last %d "
             "days",
             ord_l, (int)lround(m->hl_long_days / CP_LN2));
    cr_assert_str_eq(r->detail, want);
    cr_assert(close_rel(r->contribution, log1p(48 / 12.0) * log1p(ord_l), 1e-6),
              "%.9g", r->contribution);
    cp_churn_model_destroy(m);
}

Test(churn_score, no_orders_and_empty_state_are_finite)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;
    struct cp_churn_score sc;

    cp_churn_state_init(&st);
    cp_churn_evaluate(m, &st, T0, &sc);
    cr_assert(isfinite(sc.score) && sc.score > 0 && sc.score < 1);
    cp_churn_observe(&st, m, CP_OBS_NPS, T0, 0);
    cp_churn_observe(&st, m, CP_OBS_TICKET_OPENED, T0, 0);
    cp_churn_evaluate(m, &st, T0 + DAY, &sc);
    cr_assert(isfinite(sc.score) && sc.score > 0 && sc.score < 1);
    for (int i = 0; i < sc.reason_cnt; i++)
        cr_assert(strcmp(sc.reasons[i].factor, "order_silence"),
                  "no order factor explains a customer without orders");
    cp_churn_model_destroy(m);
}

Test(churn_pack, observed_states_always_unpack)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st, back;
    uint8_t buf[CP_CHURN_PACKED_MAX];
    uint64_t s = 5;

    for (int round = 0; round < 200; round++) {
        cp_churn_state_init(&st);
        for (int i = 0; i < 50; i++) {
            int64_t vals[] = {INT64_MIN, 0, T0, 4294967295000LL, INT64_MAX};

            cp_churn_observe(&st, m, (enum cp_churn_obs)(rnd(&s) % CP_OBS_CNT),
                             vals[rnd(&s) % 5], vals[rnd(&s) % 5]);
        }
        cr_assert_eq(
            cp_churn_state_unpack(&back, buf,
                                  cp_churn_state_pack(&st, buf, sizeof(buf))),
            CP_OK, "round %d", round);
    }
    cp_churn_model_destroy(m);
}

/* The silence check decides on cp_churn_score_at(): any difference from the
 * full evaluation's bits would move an alert. */
Test(churn_score, score_at_has_the_evaluations_bits)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;
    struct cp_churn_score full, fast;
    uint64_t s = 11;

    for (int round = 0; round < 300; round++) {
        int64_t t = T0;

        cp_churn_state_init(&st);
        for (int i = 0; i < 40; i++) {
            t += (int64_t)(rnd(&s) % (30LL * 86400000));
            cp_churn_observe(&st, m, (enum cp_churn_obs)(rnd(&s) % CP_OBS_CNT),
                             t, (int64_t)(rnd(&s) % 100000));
            int64_t at = t + (int64_t)(rnd(&s) % (400LL * 86400000));

            cp_churn_evaluate(m, &st, at, &full);
            cp_churn_score_at(m, &st, at, &fast);
            cr_assert(memcmp(&full.score, &fast.score, sizeof(double)) == 0,
                      "round %d: %.17g != %.17g", round, full.score,
                      fast.score);
            cr_assert_eq(full.level, fast.level);
            cr_assert_eq(fast.reason_cnt, 0);
        }
    }
    cp_churn_model_destroy(m);
}

Test(churn_score, hostile_inputs_stay_finite)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;
    struct cp_churn_score sc;
    const int64_t vals[] = {INT64_MIN, -1, 0, 1, INT64_MAX};
    double x[CP_CF_CNT];

    cp_churn_state_init(&st);
    for (int o = 0; o < CP_OBS_CNT; o++)
        for (size_t t = 0; t < CP_ARRAY_SIZE(vals); t++)
            for (size_t v = 0; v < CP_ARRAY_SIZE(vals); v++)
                cp_churn_observe(&st, m, (enum cp_churn_obs)o, vals[t],
                                 vals[v]);
    cp_churn_observe(&st, m, (enum cp_churn_obs)99, T0, 1);
    for (size_t t = 0; t < CP_ARRAY_SIZE(vals); t++) {
        cp_churn_evaluate(m, &st, vals[t], &sc);
        cr_assert(isfinite(sc.score) && sc.score >= 0 && sc.score <= 1);
        for (int i = 0; i < sc.reason_cnt; i++)
            cr_assert(isfinite(sc.reasons[i].contribution));
        cp__churn_features(m, &st, vals[t], x);
        for (int i = 0; i < CP_CF_CNT; i++)
            cr_assert(isfinite(x[i]), "%s", cp__churn_factor_names[i]);
        cr_assert(cp_churn_next_due(m, &st, vals[t]) > vals[t] ||
                  vals[t] == INT64_MAX);
        cp_churn_decide(m, &st, &sc, vals[t]);
    }
    /* Whatever observe and decide did, the state packs and unpacks. */
    {
        uint8_t buf[CP_CHURN_PACKED_MAX];
        struct cp_churn_state back;
        size_t n = cp_churn_state_pack(&st, buf, sizeof(buf));

        cr_assert_eq(cp_churn_state_unpack(&back, buf, n), CP_OK);
    }
    cp_churn_model_destroy(m);
}

/* ---------------------------------------------------------------- */

static struct cp_churn_score score_of(double s)
{
    struct cp_churn_score sc;

    memset(&sc, 0, sizeof(sc));
    sc.score = s;
    sc.evidence = s; /* what the rule decides on */
    return sc;
}

static enum cp_churn_level decide(const struct cp_churn_model *m,
                                  struct cp_churn_state *st, double s,
                                  int64_t at)
{
    struct cp_churn_score sc = score_of(s);

    return cp_churn_decide(m, st, &sc, at);
}

Test(churn_alerts, rises_hysteresis_and_cooldown)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;
    double hi, cr, hy;
    int64_t cd;

    m->thr_high = 0.6;
    m->thr_critical = 0.8;
    m->hysteresis = 0.05;
    m->cooldown_days = 7;
    hi = m->thr_high;
    cr = m->thr_critical;
    hy = m->hysteresis;
    cd = 7 * DAY;
    cp_churn_state_init(&st);

    cr_assert_eq(decide(m, &st, 0.3, T0), CP_LEVEL_NONE);
    cr_assert_eq(decide(m, &st, hi, T0 + 1), CP_LEVEL_HIGH, "none->HIGH");
    cr_assert_eq(decide(m, &st, hi + 0.05, T0 + 2), CP_LEVEL_NONE,
                 "still HIGH: nothing");
    /* Dips inside the hysteresis band do not re-arm. */
    cr_assert_eq(decide(m, &st, hi - hy + 0.01, T0 + 3), CP_LEVEL_NONE);
    cr_assert_eq(decide(m, &st, hi + 0.01, T0 + cd + 10), CP_LEVEL_NONE,
                 "never left the band: no second alert");
    cr_assert_eq(decide(m, &st, cr, T0 + 5), CP_LEVEL_NONE,
                 "HIGH->CRITICAL is the same episode: no second alert");
    cr_assert_eq(st.alert_level, CP_LEVEL_CRITICAL, "the latch moves up");
    cr_assert_eq(st.last_score, (float)cr);
    /* Falls well below: the episode is over. */
    cr_assert_eq(decide(m, &st, 0.1, T0 + DAY), CP_LEVEL_NONE);
    cr_assert_eq(st.alert_level, CP_LEVEL_NONE);
    cr_assert_eq(decide(m, &st, hi, T0 + 2 * DAY), CP_LEVEL_NONE,
                 "a new episode of the same level within the cooldown");
    cr_assert_eq(decide(m, &st, cr + 0.1, T0 + 3 * DAY), CP_LEVEL_CRITICAL,
                 "a worse one is never held back");
    cr_assert_eq(decide(m, &st, 0.1, T0 + 4 * DAY), CP_LEVEL_NONE);
    cr_assert_eq(decide(m, &st, cr + 0.1, T0 + 5 * DAY), CP_LEVEL_NONE,
                 "CRITICAL again within its cooldown");
    cr_assert_eq(decide(m, &st, 0.1, T0 + 3 * DAY + cd - 1), CP_LEVEL_NONE);
    /* ... and alerts once the cooldown (from the last alert) passed. */
    cr_assert_eq(decide(m, &st, cr + 0.1, T0 + 3 * DAY + cd),
                 CP_LEVEL_CRITICAL);
    cp_churn_model_destroy(m);
}

Test(churn_alerts, critical_release_to_high_is_the_same_episode)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;

    m->thr_high = 0.6;
    m->thr_critical = 0.8;
    m->hysteresis = 0.05;
    m->cooldown_days = 1;
    cp_churn_state_init(&st);
    cr_assert_eq(decide(m, &st, 0.9, T0), CP_LEVEL_CRITICAL, "none->CRIT");
    /* Down to HIGH: CRITICAL released, HIGH stays latched. */
    cr_assert_eq(decide(m, &st, 0.7, T0 + 2 * DAY), CP_LEVEL_NONE);
    cr_assert_eq(st.alert_level, CP_LEVEL_HIGH);
    cr_assert_eq(decide(m, &st, 0.85, T0 + 3 * DAY), CP_LEVEL_NONE,
                 "never left HIGH: the same episode");
    cr_assert_eq(st.alert_level, CP_LEVEL_CRITICAL);
    cp_churn_model_destroy(m);
}

/* A weekly buyer who then goes silent. */
static void weekly_buyer(const struct cp_churn_model *m,
                         struct cp_churn_state *st, int64_t *last)
{
    cp_churn_state_init(st);
    for (int i = 0; i < 30; i++)
        cp_churn_observe(st, m, CP_OBS_ORDER, T0 + i * 7 * DAY, 4000);
    *last = T0 + 29 * 7 * DAY;
}

Test(churn_timer, next_due_is_the_crossing)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;
    struct cp_churn_score sc;
    int64_t last, due;

    weekly_buyer(m, &st, &last);
    cp_churn_evaluate(m, &st, last, &sc);
    cr_assert_eq(sc.level, CP_LEVEL_NONE, "a regular buyer is fine: %g",
                 sc.score);
    cr_assert_eq(cp_churn_decide(m, &st, &sc, last), CP_LEVEL_NONE);
    due = cp_churn_next_due(m, &st, last);
    cr_assert(due > last && due < last + 365 * DAY, "due %lld",
              (long long)(due - last));
    cp_churn_evaluate(m, &st, due, &sc);
    cr_assert(sc.level >= CP_LEVEL_HIGH, "at due %g", sc.score);
    cr_assert_eq(cp_churn_decide(m, &st, &sc, due), sc.level,
                 "the timer's evaluation alerts");
    cp_churn_evaluate(m, &st, due - HOUR, &sc);
    cr_assert_eq(sc.level, CP_LEVEL_NONE, "an hour before: %g", sc.score);
    /* Deterministic. */
    {
        struct cp_churn_state st2;

        weekly_buyer(m, &st2, &last);
        cr_assert_eq(cp_churn_next_due(m, &st2, last),
                     cp_churn_next_due(m, &st2, last));
    }
    cp_churn_model_destroy(m);
}

Test(churn_timer, nothing_to_wait_for)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;
    struct cp_churn_score sc;
    int64_t last;

    cp_churn_state_init(&st);
    cr_assert_eq(cp_churn_next_due(m, &st, T0), INT64_MAX, "unknown");
    /* Already alerted CRITICAL and silence only keeps it there. */
    weekly_buyer(m, &st, &last);
    cp_churn_evaluate(m, &st, last + 400 * DAY, &sc);
    cr_assert_eq(sc.level, CP_LEVEL_CRITICAL, "%g", sc.score);
    cp_churn_decide(m, &st, &sc, last + 400 * DAY);
    cr_assert_eq(st.alert_level, CP_LEVEL_CRITICAL);
    cr_assert_eq(cp_churn_next_due(m, &st, last + 400 * DAY), INT64_MAX);
    cp_churn_model_destroy(m);
}

/* cp_churn_next_due_by() is cp_churn_next_due() cut off at a limit: the
 * same instant whenever that is at most the limit, INT64_MAX otherwise,
 * for evidence that rises (silence), jumps (a cancellation's grace) and
 * rises then fades (a waiting message), whatever the limit. The check
 * before a customer's next event relies on it being the stored timer's
 * instant exactly. */
Test(churn_timer, next_due_by_is_next_due_cut_off)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st[3];
    struct cp_churn_score sc;
    int64_t last, cases = 0, due_cnt = 0;

    weekly_buyer(m, &st[0], &last);
    cp_churn_state_init(&st[1]);
    cp_churn_observe(&st[1], m, CP_OBS_SUB_STARTED, T0 - 90 * DAY, 4900);
    cp_churn_observe(&st[1], m, CP_OBS_SUB_CANCELLED, T0, 4900);
    cp_churn_state_init(&st[2]);
    cp_churn_observe(&st[2], m, CP_OBS_ORDER, T0 - DAY, 4000);
    cp_churn_observe(&st[2], m, CP_OBS_NPS, T0, 0);
    cp_churn_observe(&st[2], m, CP_OBS_CALL_MISSED, T0, 0);
    cp_churn_observe(&st[2], m, CP_OBS_CALL_MISSED, T0, 0);
    cp_churn_observe(&st[2], m, CP_OBS_MESSAGE_IN, T0, 0);
    for (int k = 0; k < 3; k++) {
        int64_t from = k ? T0 : last;

        cp_churn_evaluate(m, &st[k], from, &sc);
        cp_churn_decide(m, &st[k], &sc, from);
        for (int64_t step = 0; step < 2; step++) {
            int64_t due = cp_churn_next_due(m, &st[k], from);

            cr_assert(due > from, "case %d: %lld", k, (long long)due);
            if (step && due == INT64_MAX) {
                cr_assert_eq(
                    cp_churn_next_due_by(m, &st[k], from, from + 3000 * DAY),
                    INT64_MAX);
                break;
            }
            cr_assert_lt(due, from + 400 * DAY, "case %d: nothing due", k);
            for (int64_t lim = from; lim < due + 5 * DAY;
                 lim += 37 * 60000LL + (lim - from) / 7) {
                int64_t by = cp_churn_next_due_by(m, &st[k], from, lim);

                cr_assert_eq(by, due <= lim ? due : INT64_MAX,
                             "case %d, limit %+.4f d: %lld vs due %+.4f d", k,
                             (double)(lim - due) / DAY, (long long)by,
                             (double)(due - from) / DAY);
                cases++;
                due_cnt += by != INT64_MAX;
            }
            cr_assert_eq(cp_churn_next_due_by(m, &st[k], from, due), due);
            cr_assert_eq(cp_churn_next_due_by(m, &st[k], from, due - 1),
                         INT64_MAX);
            /* The next one, after the timer's evaluation. */
            cp_churn_score_at(m, &st[k], due, &sc);
            cp_churn_decide(m, &st[k], &sc, due);
            from = due;
        }
    }
    cr_assert_gt(due_cnt, 0);
    cr_assert_gt(cases - due_cnt, 0);
    cp_churn_model_destroy(m);
}

/* ---------------------------------------------------------------- */

static void busy_state(const struct cp_churn_model *m,
                       struct cp_churn_state *st)
{
    struct cp_churn_score sc;

    cp_churn_state_init(st);
    for (int o = 0; o < CP_OBS_CNT; o++)
        cp_churn_observe(st, m, (enum cp_churn_obs)o, T0 + o * DAY,
                         o == CP_OBS_TICKET_RESOLVED ? T0 : 3);
    cp_churn_observe(st, m, CP_OBS_TICKET_OPENED, T0 + 30 * DAY, 0);
    cp_churn_evaluate(m, st, T0 + 200 * DAY, &sc);
    cp_churn_decide(m, st, &sc, T0 + 200 * DAY);
}

Test(churn_pack, round_trip)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st, back;
    uint8_t buf[CP_CHURN_PACKED_MAX + 8], buf2[CP_CHURN_PACKED_MAX];
    size_t n;

    cr_assert(sizeof(struct cp_churn_state) <= 168);
    busy_state(m, &st);
    cr_assert_neq(st.last_start_ms, INT64_MIN, "a subscription started");
    cr_assert_neq(st.wait_since_ms, INT64_MIN, "a message waits");
    cr_assert_eq(cp_churn_state_pack(&st, buf, CP_CHURN_PACKED_MAX - 1), 0);
    n = cp_churn_state_pack(&st, buf, sizeof(buf));
    cr_assert_eq(n, CP_CHURN_PACKED_MAX);
    cr_assert_eq(buf[0], 2, "version byte first");
    cr_assert_eq(cp_churn_state_unpack(&back, buf, n), CP_OK);
    cr_assert_eq(cp_churn_state_pack(&back, buf2, sizeof(buf2)), n);
    cr_assert(memcmp(buf, buf2, n) == 0);
    cr_assert_eq(back.orders, st.orders);
    cr_assert_eq(back.landmark_ms, st.landmark_ms);
    cr_assert_eq(back.open_tickets, st.open_tickets);
    cr_assert_eq(back.last_ces, st.last_ces);
    cr_assert_eq(back.alert_level, st.alert_level);
    cr_assert_eq(back.eng_long, st.eng_long);
    cr_assert_eq(back.last_start_ms, st.last_start_ms);
    cr_assert_eq(back.wait_since_ms, st.wait_since_ms);
    /* Same state, same score. */
    {
        struct cp_churn_score a, b;

        cp_churn_evaluate(m, &st, T0 + 300 * DAY, &a);
        cp_churn_evaluate(m, &back, T0 + 300 * DAY, &b);
        cr_assert_eq(a.score, b.score);
    }
    /* An empty state round-trips too. */
    cp_churn_state_init(&st);
    n = cp_churn_state_pack(&st, buf, sizeof(buf));
    cr_assert_eq(cp_churn_state_unpack(&back, buf, n), CP_OK);
    cr_assert_eq(back.first_seen_ms, INT64_MIN);
    cp_churn_model_destroy(m);
}

/* Version 1 (152 bytes, no last_start_ms, wait_since_ms) is still read: a
 * customer stored before version 2 reads as one with no subscription start
 * seen and no message waiting, every version 1 field as it was. */
Test(churn_pack, version_1_still_reads)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st, back, want;
    uint8_t buf[CP_CHURN_PACKED_MAX], v1[CP_CHURN_PACKED_V1];
    size_t n;

    busy_state(m, &st);
    n = cp_churn_state_pack(&st, buf, sizeof(buf));
    cr_assert_eq(n, CP_CHURN_PACKED_V1 + 16, "version 2 appends two i64");
    /* The version 1 bytes: the same layout without the appended field. */
    memcpy(v1, buf, CP_CHURN_PACKED_V1);
    v1[0] = 1;
    cr_assert_eq(cp_churn_state_unpack(&back, v1, sizeof(v1)), CP_OK);
    want = st;
    want.last_start_ms = INT64_MIN;
    want.wait_since_ms = INT64_MIN;
    cr_assert(memcmp(&back, &want, sizeof(want)) == 0,
              "version 1 reads as the state without a start time");
    /* Each version only at its own length. */
    cr_assert_eq(cp_churn_state_unpack(&back, buf, CP_CHURN_PACKED_V1),
                 CP_EDECODE);
    buf[0] = 1;
    cr_assert_eq(cp_churn_state_unpack(&back, buf, n), CP_EDECODE);
    v1[0] = 2;
    cr_assert_eq(cp_churn_state_unpack(&back, v1, sizeof(v1)), CP_EDECODE);
    cp_churn_model_destroy(m);
}

Test(churn_pack, rejects_garbage)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st, back;
    uint8_t buf[CP_CHURN_PACKED_MAX], bad[CP_CHURN_PACKED_MAX];
    size_t n;
    uint64_t s = 99;
    int accepted = 0;
    float nan_f = NAN;

    busy_state(m, &st);
    n = cp_churn_state_pack(&st, buf, sizeof(buf));
    cr_assert_eq(cp_churn_state_unpack(&back, buf, n - 1), CP_EDECODE);
    cr_assert_eq(cp_churn_state_unpack(&back, NULL, 0), CP_EDECODE);
    memcpy(bad, buf, n);
    bad[0] = 3;
    cr_assert_eq(cp_churn_state_unpack(&back, bad, n), CP_EDECODE,
                 "unknown version");
    /* last_start_ms and wait_since_ms (version 2's fields, the last 16
     * bytes) out of range. */
    memcpy(bad, buf, n);
    bad[n - 9] = 0x7f;
    cr_assert_eq(cp_churn_state_unpack(&back, bad, n), CP_EDECODE);
    memcpy(bad, buf, n);
    bad[n - 1] = 0x7f;
    cr_assert_eq(cp_churn_state_unpack(&back, bad, n), CP_EDECODE);
    cr_assert_eq(back.orders, 0, "a rejected unpack leaves an empty state");
    /* A NaN in the first float (ord_short, after 1 + 8*8 + 5*4 bytes). */
    memcpy(bad, buf, n);
    memcpy(bad + 1 + 64 + 20, &nan_f, 4);
    cr_assert_eq(cp_churn_state_unpack(&back, bad, n), CP_EDECODE);
    /* Alert level 3 (before version 2's 16 bytes). */
    memcpy(bad, buf, n);
    bad[n - 16 - 2] = 3;
    cr_assert_eq(cp_churn_state_unpack(&back, bad, n), CP_EDECODE);
    /* Random bytes: no crash, and (almost) all rejected. */
    for (int i = 0; i < 2000; i++) {
        for (size_t j = 0; j < n; j++)
            bad[j] = (uint8_t)rnd(&s);
        bad[0] = 2;
        if (cp_churn_state_unpack(&back, bad, n) == CP_OK) {
            struct cp_churn_score sc;

            accepted++;
            cp_churn_evaluate(m, &back, T0, &sc);
            cr_assert(isfinite(sc.score));
        }
    }
    cr_assert(accepted < 5, "%d random states accepted", accepted);
    cp_churn_model_destroy(m);
}

/* ---------------------------------------------------------------- */

Test(churn_json, escaped_and_sized)
{
    struct cp_churn_score sc;
    char buf[CP_CHURN_REASONS_JSON_MAX], small[16];
    size_t n;

    memset(&sc, 0, sizeof(sc));
    n = cp_churn_reasons_json(&sc, buf, sizeof(buf));
    cr_assert_str_eq(buf, "[]");
    cr_assert_eq(n, 2);
    sc.reason_cnt = 2;
    strcpy(sc.reasons[0].factor, "nps_low");
    sc.reasons[0].contribution = 0.42;
    strcpy(sc.reasons[0].detail, "say \"hi\"\\\n\x01");
    strcpy(sc.reasons[1].factor, "order_silence");
    sc.reasons[1].contribution = 0.1;
    strcpy(sc.reasons[1].detail, "no order for 48 days");
    n = cp_churn_reasons_json(&sc, buf, sizeof(buf));
    cr_assert_str_eq(buf,
                     "[{\"factor\":\"nps_low\",\"contribution\":0.4200,"
                     "\"detail\":\"say \\\"hi\\\"\\\\\\u000a\\u0001\"},"
                     "{\"factor\":\"order_silence\",\"contribution\":0.1000,"
                     "\"detail\":\"no order for 48 days\"}]");
    cr_assert_eq(n, strlen(buf));
    cr_assert_eq(cp_churn_reasons_json(&sc, small, sizeof(small)), n,
                 "returns the size needed");
    cr_assert_str_eq(small, "[]", "truncated output is still valid JSON");
    /* Worst case fits the documented maximum. */
    for (int i = 0; i < 3; i++) {
        memset(sc.reasons[i].factor, '"', sizeof(sc.reasons[i].factor) - 1);
        sc.reasons[i].factor[sizeof(sc.reasons[i].factor) - 1] = '\0';
        memset(sc.reasons[i].detail, 1, sizeof(sc.reasons[i].detail) - 1);
        sc.reasons[i].detail[sizeof(sc.reasons[i].detail) - 1] = '\0';
        sc.reasons[i].contribution = -DBL_MAX;
    }
    sc.reason_cnt = 3;
    cr_assert(cp_churn_reasons_json(&sc, buf, sizeof(buf)) < sizeof(buf));
}

Test(churn_alert_id, deterministic_and_distinct)
{
    char a[33], b[33], c[33], d[33];

    cp_churn_alert_id("t1", "c1", "CHURN_RISK", CP_LEVEL_HIGH, "ev-1", a);
    cp_churn_alert_id("t1", "c1", "CHURN_RISK", CP_LEVEL_HIGH, "ev-1", b);
    cr_assert_str_eq(a, b);
    cr_assert_eq(strlen(a), 32);
    cr_assert_eq(strspn(a, "0123456789abcdef"), 32);
    cp_churn_alert_id("t1", "c1", "CHURN_RISK", CP_LEVEL_CRITICAL, "ev-1", c);
    cr_assert_str_neq(a, c);
    /* Field boundaries matter: ("t1","c1") vs ("t1c","1"). */
    cp_churn_alert_id("t1c", "1", "CHURN_RISK", CP_LEVEL_HIGH, "ev-1", d);
    cr_assert_str_neq(a, d);
    /* Pinned: ids must not change between releases (replays compare). */
    cr_assert_str_eq(a, "94ebc953eda64795b1729b611822fb7b");
}

Test(churn_model, complaint_signs_keys_may_be_left_out)
{
    static const char *const keys[] = {"evidence.weight.complaint_signs",
                                       "evidence.clip.complaint_signs",
                                       "action.complaint_signs"};
    char *text = malloc(cp__churn_default_model_len + 1), err[256] = "";
    struct cp_churn_model *m;
    size_t o;

    cr_assert(text);
    o = default_model_without(keys, 3, text);
    cr_assert(strstr(text, "complaint_signs =") == NULL);
    m = cp_churn_model_parse(text, o, "old.conf", err, sizeof(err));
    cr_assert(m != NULL, "an older model file must load: %s", err);
    cr_expect_eq(m->ev_weight[CP_E_COMPLAINT_SIGNS], 0.0);
    cr_expect_eq(m->ev_clip[CP_E_COMPLAINT_SIGNS], 3.0);
    cr_expect(m->action[CP_E_COMPLAINT_SIGNS][0] != '\0');
    cp_churn_model_destroy(m);
    free(text);
}

/* ---------------------------------------------------------------- */
/* Evidence of change: each term, the calibration bounds, the decision. */

static double ev(const struct cp_churn_model *m,
                 const struct cp_churn_state *st, int64_t at, int e)
{
    double x[CP_E_CNT];

    cp__churn_evidence(m, st, at, x);
    return x[e];
}

Test(churn_evidence, every_term_is_its_formula)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;
    double hg = m->hl_signal_days, u;

    /* Cancellation: the decayed count once the grace has passed, one
     * half-life later half. */
    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_SUB_CANCELLED, T0, 4900);
    cr_expect(close_rel(m->cancel_grace_days, 2, 1e-12));
    cr_expect(ev(m, &st, T0, CP_E_CANCELLATION) == 0, "within the grace");
    cr_expect(close_rel(ev(m, &st, T0 + 2 * DAY, CP_E_CANCELLATION),
                        exp2(-2 / hg), 1e-6));
    cr_expect(close_rel(ev(m, &st, T0 + (int64_t)(hg * DAY), CP_E_CANCELLATION),
                        0.5, 1e-6));
    /* Detractors: NPS 0..6, CSAT 1..2, CES 5..7; the worst counts. */
    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_NPS, T0, 7);
    cr_expect(ev(m, &st, T0, CP_E_DETRACTOR) == 0, "NPS 7 is passive");
    cp_churn_observe(&st, m, CP_OBS_NPS, T0 + 1000, 3);
    cr_expect(close_rel(ev(m, &st, T0 + 1000, CP_E_DETRACTOR), 4.0 / 7, 1e-6));
    cp_churn_observe(&st, m, CP_OBS_CSAT, T0 + 1000, 1);
    cr_expect(close_rel(ev(m, &st, T0 + 1000, CP_E_DETRACTOR), 1, 1e-6));
    cr_expect(
        close_rel(ev(m, &st, T0 + 1000 + (int64_t)(hg * DAY), CP_E_DETRACTOR),
                  0.5, 1e-6));
    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_CES, T0, 6);
    cr_expect(close_rel(ev(m, &st, T0, CP_E_DETRACTOR), 2.0 / 3, 1e-6));
    /* A ticket counts once open longer than the usual resolution. */
    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_TICKET_OPENED, T0, 0);
    u = m->ticket_usual_days;
    cr_expect(ev(m, &st, T0 + (int64_t)(u * DAY), CP_E_TICKET_OVERDUE) == 0);
    cr_expect(
        close_rel(ev(m, &st, T0 + (int64_t)(3 * u * DAY), CP_E_TICKET_OVERDUE),
                  log(3), 1e-6));
    cp_churn_observe(&st, m, CP_OBS_TICKET_RESOLVED, T0 + DAY, T0);
    cr_expect(ev(m, &st, T0 + 10 * DAY, CP_E_TICKET_OVERDUE) == 0, "resolved");
    /* Slow replies: log1p(decayed days waited); missed calls, lost deals:
     * log1p(decayed count). */
    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_RESPONSE, T0, 48 * HOUR);
    cp_churn_observe(&st, m, CP_OBS_CALL_MISSED, T0, 0);
    cp_churn_observe(&st, m, CP_OBS_CALL_MISSED, T0, 0);
    cp_churn_observe(&st, m, CP_OBS_DEAL_LOST, T0, 0);
    cr_expect(close_rel(ev(m, &st, T0, CP_E_SLOW_REPLIES), log(3), 1e-6));
    cr_expect(close_rel(ev(m, &st, T0, CP_E_MISSED_CALLS), log(3), 1e-6));
    cr_expect(close_rel(ev(m, &st, T0, CP_E_DEALS_LOST), log(2), 1e-6));
    /* Silence against the own rhythm: a buyer every 10 days (9 gaps over
     * 90 days): the surprise 9 ln(1 + rec / 90) minus the start. */
    m->prior_weight = 0;
    cp_churn_state_init(&st);
    for (int i = 0; i < 10; i++)
        cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + i * 10 * DAY, 100);
    cr_expect(ev(m, &st, T0 + 100 * DAY, CP_E_SILENCE) == 0,
              "one usual interval is no silence");
    cr_expect(close_rel(ev(m, &st, T0 + 130 * DAY, CP_E_SILENCE),
                        9 * log1p(40.0 / 90) - m->silence_start, 1e-6));
    cr_expect(ev(m, &st, T0 + 90 * DAY, CP_E_ORDER_DROP) == 0);
    /* Falling frequency against the own long-run rate. */
    for (int i = 10; i < 40; i++)
        cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + i * 10 * DAY, 100);
    cr_expect(ev(m, &st, T0 + 390 * DAY, CP_E_ORDER_DROP) == 0);
    cr_expect(ev(m, &st, T0 + 450 * DAY, CP_E_ORDER_DROP) > 0.5);
    cr_expect(ev(m, &st, T0 + 50000 * DAY, CP_E_SILENCE) ==
                  m->ev_clip[CP_E_SILENCE],
              "clipped");
    /* Engagement against its own rate. */
    cp_churn_state_init(&st);
    for (int i = 0; i < 60; i++)
        cp_churn_observe(&st, m, CP_OBS_WEB_VISIT, T0 + i * DAY, 0);
    cr_expect(ev(m, &st, T0 + 60 * DAY, CP_E_ENGAGEMENT_DROP) < 0.3);
    cr_expect(ev(m, &st, T0 + 240 * DAY, CP_E_ENGAGEMENT_DROP) > 1);
    /* Inactivity against the own rhythm of contacts: a visit every 2 days
     * (no order), then 10 days without anything: 5 usual gaps. */
    cp_churn_state_init(&st);
    for (int i = 0; i < 30; i++)
        cp_churn_observe(&st, m, CP_OBS_WEB_VISIT, T0 + i * 2 * DAY, 0);
    cr_expect(ev(m, &st, T0 + 58 * DAY + DAY, CP_E_INACTIVITY) == 0);
    cr_expect(close_rel(ev(m, &st, T0 + 58 * DAY + 10 * DAY, CP_E_INACTIVITY),
                        5 - m->silence_start, 0.1),
              "%g", ev(m, &st, T0 + 68 * DAY, CP_E_INACTIVITY));
    /* Too little to know a rhythm: nothing. */
    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_WEB_VISIT, T0, 0);
    cr_expect(ev(m, &st, T0 + 300 * DAY, CP_E_INACTIVITY) == 0);
    /* A message still waiting: ln(1 + days waited) fading with the signal
     * half-life; the reply to its wait ends it. */
    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_MESSAGE_IN, T0, 0);
    cr_expect(ev(m, &st, T0, CP_E_UNANSWERED) == 0);
    cr_expect(close_rel(ev(m, &st, T0 + 3 * DAY, CP_E_UNANSWERED),
                        log1p(3) * exp2(-3 / hg), 1e-6));
    cr_expect(close_rel(ev(m, &st, T0 + 90 * DAY, CP_E_UNANSWERED),
                        log1p(90) * exp2(-90 / hg), 1e-6),
              "a reply never seen does not weigh forever");
    cp_churn_observe(&st, m, CP_OBS_MESSAGE_IN, T0 + DAY, 0);
    cr_expect(close_rel(ev(m, &st, T0 + 3 * DAY, CP_E_UNANSWERED),
                        log1p(3) * exp2(-3 / hg), 1e-6),
              "the oldest message waiting counts");
    cp_churn_observe(&st, m, CP_OBS_RESPONSE, T0 + 2 * DAY, 2 * DAY);
    cr_expect(ev(m, &st, T0 + 3 * DAY, CP_E_UNANSWERED) == 0, "answered");
    /* Two conversations: the reply to the younger wait leaves the older. */
    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_MESSAGE_IN, T0, 0);
    cp_churn_observe(&st, m, CP_OBS_MESSAGE_IN, T0 + 2 * DAY, 0);
    cp_churn_observe(&st, m, CP_OBS_RESPONSE, T0 + 3 * DAY, DAY);
    cr_expect(close_rel(ev(m, &st, T0 + 4 * DAY, CP_E_UNANSWERED),
                        log1p(4) * exp2(-4 / hg), 1e-6));
    cp_churn_model_destroy(m);
}

/* Several kinds of complaint at once: each kind beyond the second counts
 * one (a bad spell shows one or two kinds; a complaining churner more). A
 * kind is a detractor answer of degree >= 1/4 after fading, a ticket open
 * past the usual resolution, decayed missed calls >= 1/2, or replies kept
 * waiting (decayed waits >= 24 h, or a message unanswered for a day). */
Test(churn_evidence, complaint_signs_count_kinds_beyond_the_second)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;
    double u, hg = m->hl_signal_days;
    int64_t at;

    m->ev_weight[CP_E_COMPLAINT_SIGNS] = 1;
    m->ev_clip[CP_E_COMPLAINT_SIGNS] = 3;
    u = m->ticket_usual_days;
    at = T0 + (int64_t)((u + 1) * DAY);
    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_NPS, T0, 3);
    cr_expect(ev(m, &st, at, CP_E_COMPLAINT_SIGNS) == 0, "one kind");
    cp_churn_observe(&st, m, CP_OBS_TICKET_OPENED, T0, 0);
    cr_expect(
        ev(m, &st, T0 + (int64_t)(u * DAY) - 1000, CP_E_COMPLAINT_SIGNS) == 0,
        "a ticket within its usual resolution is no complaint");
    cr_expect(ev(m, &st, at, CP_E_COMPLAINT_SIGNS) == 0, "two kinds");
    cp_churn_observe(&st, m, CP_OBS_CALL_MISSED, T0, 0);
    cr_expect(ev(m, &st, at, CP_E_COMPLAINT_SIGNS) == 1, "three kinds");
    cp_churn_observe(&st, m, CP_OBS_MESSAGE_IN, T0, 0);
    cr_expect(ev(m, &st, T0 + DAY - 1000, CP_E_COMPLAINT_SIGNS) == 0,
              "a message waiting less than a day; the ticket not overdue");
    cr_expect(ev(m, &st, at, CP_E_COMPLAINT_SIGNS) == 2, "four kinds");
    cp_churn_observe(&st, m, CP_OBS_TICKET_RESOLVED, T0 + DAY, T0);
    cr_expect(ev(m, &st, at, CP_E_COMPLAINT_SIGNS) == 1, "the ticket closed");
    /* The detractor fades below 1/4: NPS 3 is 4/7, gone after
     * log2(16/7) signal half-lives; the missed call below 1/2 after one. */
    cr_expect(
        ev(m, &st, T0 + (int64_t)(1.1 * hg * DAY), CP_E_COMPLAINT_SIGNS) == 0,
        "the missed call faded; detractor and waiting remain");
    /* Waits that ended: a day of decayed waiting is a kind. */
    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_CES, T0, 7);
    cp_churn_observe(&st, m, CP_OBS_CALL_MISSED, T0, 0);
    cp_churn_observe(&st, m, CP_OBS_RESPONSE, T0, 23 * HOUR);
    cr_expect(ev(m, &st, T0, CP_E_COMPLAINT_SIGNS) == 0, "23 h waited");
    cp_churn_observe(&st, m, CP_OBS_RESPONSE, T0, 2 * HOUR);
    cr_expect(ev(m, &st, T0, CP_E_COMPLAINT_SIGNS) == 1, "25 h waited");
    /* A mild detractor (NPS 6: 1/7) is not a kind. */
    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_NPS, T0, 6);
    cp_churn_observe(&st, m, CP_OBS_CALL_MISSED, T0, 0);
    cp_churn_observe(&st, m, CP_OBS_MESSAGE_IN, T0, 0);
    cr_expect(ev(m, &st, T0 + 2 * DAY, CP_E_COMPLAINT_SIGNS) == 0);
    cp_churn_observe(&st, m, CP_OBS_NPS, T0 + DAY, 5);
    cr_expect(ev(m, &st, T0 + 2 * DAY, CP_E_COMPLAINT_SIGNS) == 1, "NPS 5");
    cp_churn_model_destroy(m);
}

/* The default weighs three kinds of complaint as a churn episode: a
 * detractor, an overdue ticket and a missed call alert together, any two
 * of them (a healthy customer's bad spell) do not. */
Test(churn_decision, three_kinds_of_complaint_alert_two_do_not)
{
    struct cp_churn_model *m = model();
    struct cp_churn_score sc;
    int64_t at = T0 + 5 * DAY;

    cr_assert(m->ev_weight[CP_E_COMPLAINT_SIGNS] > 0);
    for (int drop = -1; drop < 3; drop++) {
        struct cp_churn_state st;

        cp_churn_state_init(&st);
        for (int i = 0; i < 6; i++)
            cp_churn_observe(&st, m, CP_OBS_ORDER, T0 - 60 * DAY + i * 10 * DAY,
                             5000);
        if (drop != 0)
            cp_churn_observe(&st, m, CP_OBS_NPS, T0, 3);
        if (drop != 1)
            cp_churn_observe(&st, m, CP_OBS_TICKET_OPENED, T0, 0);
        if (drop != 2)
            cp_churn_observe(&st, m, CP_OBS_CALL_MISSED, T0, 0);
        cp_churn_evaluate(m, &st, at, &sc);
        if (drop < 0) {
            cr_expect(sc.evidence >= m->thr_high, "three kinds: %.3f",
                      sc.evidence);
            cr_expect(!strcmp(sc.reasons[0].factor, "complaint_signs"));
            cr_expect(strstr(sc.reasons[0].detail, "3 kinds of complaint at "
                                                   "once") != NULL,
                      "%s", sc.reasons[0].detail);
            cr_expect(!strncmp(sc.action, "call today", 10), "%s", sc.action);
        } else {
            cr_expect(sc.evidence < m->thr_high, "without kind %d: %.3f", drop,
                      sc.evidence);
        }
    }
    cp_churn_model_destroy(m);
}

/* Silence before the rhythm is known: the population prior, k =
 * interval.prior_weight pseudo-gaps of interval.prior_days, so the
 * surprise of one order's silence is k ln(1 + rec / (k p)): it grows with
 * the log, as the population's rhythms are wide apart. */
Test(churn_evidence, silence_uses_the_prior_until_the_rhythm_is_known)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st, known;
    double p = m->prior_interval_days, k = m->prior_weight;

    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_ORDER, T0, 100);
    cr_expect(close_rel(ev(m, &st, T0 + (int64_t)(10 * p * DAY), CP_E_SILENCE),
                        k * log1p(10 * p / (k * p)) - m->silence_start, 1e-6));
    cr_expect(close_rel(cp__churn_silence_surprise(m, &st, 10 * p),
                        k * log1p(10 / k), 1e-9));
    /* Three prior intervals are no evidence with one order; with a rhythm
     * of the same length, known from 13 orders, they are. */
    cr_expect(ev(m, &st, T0 + (int64_t)(3 * p * DAY), CP_E_SILENCE) == 0);
    cp_churn_state_init(&known);
    for (int i = 0; i < 13; i++)
        cp_churn_observe(&known, m, CP_OBS_ORDER, T0 + i * (int64_t)(p * DAY),
                         100);
    cr_expect(close_rel(cp__churn_silence_surprise(m, &known, 3 * p),
                        (12 + k) * log1p(3 * p / (12 * p + k * p)), 1e-6));
    cr_expect(ev(m, &known, T0 + (int64_t)((12 + 3) * p * DAY), CP_E_SILENCE) >
              0);
    cp_churn_model_destroy(m);
}

static int alerts_between(const struct cp_churn_model *m,
                          struct cp_churn_state *st, int64_t from, int64_t to,
                          int64_t step);

/* A plan change cancels one subscription and starts another: the start
 * retracts the cancellation, which only counts once it is
 * evidence.cancel_grace_days old with no start since (or from that long
 * before it). */
Test(churn_evidence, restart_retracts_the_cancellation)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;
    struct cp_churn_score sc;
    double g = m->cancel_grace_days, hg = m->hl_signal_days;
    int64_t grace = (int64_t)(g * DAY);

    /* A plan change: cancelled, another started a day later. */
    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_SUB_STARTED, T0 - 200 * DAY, 4900);
    cp_churn_observe(&st, m, CP_OBS_SUB_CANCELLED, T0, 4900);
    cp_churn_observe(&st, m, CP_OBS_SUB_STARTED, T0 + DAY, 9900);
    for (int d = 0; d < 60; d++)
        cr_expect(ev(m, &st, T0 + d * DAY, CP_E_CANCELLATION) == 0, "day %d",
                  d);
    cr_expect_eq(alerts_between(m, &st, T0, T0 + 60 * DAY, HOUR), 0,
                 "a plan change is not a churn episode");
    /* The same order of events in another order (the start arrives first,
     * late cancellation): the same result. */
    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_SUB_STARTED, T0 + DAY, 9900);
    cp_churn_observe(&st, m, CP_OBS_SUB_CANCELLED, T0, 4900);
    cr_expect(ev(m, &st, T0 + 10 * DAY, CP_E_CANCELLATION) == 0);
    /* A start just within the grace before the cancellation: one plan
     * replaced by another, too. */
    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_SUB_STARTED, T0 - grace, 9900);
    cp_churn_observe(&st, m, CP_OBS_SUB_CANCELLED, T0, 4900);
    cr_expect(ev(m, &st, T0 + 10 * DAY, CP_E_CANCELLATION) == 0);
    /* A cancellation with no start: evidence from the grace on, alerted
     * by the timer at that instant, and a win-back 20 days later
     * retracts it. */
    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_SUB_STARTED, T0 - grace - 1, 4900);
    cp_churn_observe(&st, m, CP_OBS_SUB_CANCELLED, T0, 4900);
    cr_expect(ev(m, &st, T0 + grace - 1, CP_E_CANCELLATION) == 0);
    cr_expect(close_rel(ev(m, &st, T0 + grace, CP_E_CANCELLATION),
                        exp2(-g / hg), 1e-6));
    cp_churn_evaluate(m, &st, T0, &sc);
    cr_expect_eq(cp_churn_decide(m, &st, &sc, T0), CP_LEVEL_NONE);
    {
        int64_t due = cp_churn_next_due(m, &st, T0);

        cr_expect(llabs(due - (T0 + grace)) <= 60000,
                  "due %.3f days after the cancellation",
                  (double)(due - T0) / DAY);
        cp_churn_score_at(m, &st, due, &sc);
        cr_expect_eq(cp_churn_decide(m, &st, &sc, due), CP_LEVEL_CRITICAL);
    }
    cp_churn_observe(&st, m, CP_OBS_SUB_STARTED, T0 + 20 * DAY, 4900);
    cr_expect(ev(m, &st, T0 + 20 * DAY, CP_E_CANCELLATION) == 0, "win-back");
    cp_churn_model_destroy(m);
}

Test(churn_evidence, probability_is_never_0_or_1)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;
    struct cp_churn_score sc;

    cp_churn_state_init(&st);
    cp_churn_observe(&st, m, CP_OBS_ORDER, T0, 100);
    m->bias = 100;
    cp_churn_evaluate(m, &st, T0, &sc);
    cr_expect(sc.score == CP_CHURN_P_MAX, "%.17g", sc.score);
    m->bias = -100;
    cp_churn_evaluate(m, &st, T0, &sc);
    cr_expect(sc.score == CP_CHURN_P_MIN, "%.17g", sc.score);
    cp_churn_model_destroy(m);
}

Test(churn_evidence, value_is_the_recent_monthly_spend)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;
    struct cp_churn_score sc;
    double h = m->hl_long_days, want = 0;

    cp_churn_state_init(&st);
    /* 50.00 every week for a year. */
    for (int i = 0; i < 52; i++) {
        cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + i * 7 * DAY, 5000);
        want += 50 * exp2(-(51 - i) * 7 / h);
    }
    want = want * log(2) / h * 30.436875 * 100;
    cp_churn_evaluate(m, &st, T0 + 51 * 7 * DAY, &sc);
    cr_expect(llabs(sc.value_minor - llround(want)) <= 1, "%lld vs %.1f",
              (long long)sc.value_minor, want);
    cr_expect(sc.value_minor > 15000 && sc.value_minor < 25000,
              "about 4.3 orders of 50.00 a month: %lld",
              (long long)sc.value_minor);
    cr_expect(sc.value_at_risk_minor ==
              llround(sc.score * (double)sc.value_minor));
    cp_churn_model_destroy(m);
}

/* Every customer event, then the rule: how many alerts in [from, to]. */
static int alerts_between(const struct cp_churn_model *m,
                          struct cp_churn_state *st, int64_t from, int64_t to,
                          int64_t step)
{
    struct cp_churn_score sc;
    int n = 0;

    for (int64_t t = from; t <= to; t += step) {
        cp_churn_evaluate(m, st, t, &sc);
        n += cp_churn_decide(m, st, &sc, t) != CP_LEVEL_NONE;
    }
    return n;
}

/* The rare loyal buyer: one order every 120 days for three years, rarer
 * than the 90-day horizon. A high probability of no order in the horizon
 * (on the risk list) but the same behaviour as always: never alerted. */
Test(churn_decision, rare_loyal_buyer_is_on_the_risk_list_not_alerted)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;
    struct cp_churn_score sc;
    int n = 0;

    cp_churn_state_init(&st);
    for (int i = 0; i < 10; i++) {
        int64_t at = T0 + i * 120 * DAY;

        /* From the third order on the rhythm is the customer's own (before,
         * the population prior says 120 days of silence is a change). */
        if (i >= 3)
            n += alerts_between(m, &st, at - 119 * DAY, at - DAY, DAY);
        cp_churn_observe(&st, m, CP_OBS_ORDER, at, 8000);
        n += alerts_between(m, &st, at, at, DAY);
    }
    cr_expect_eq(n, 0, "the rare loyal buyer alerted %d times", n);
    cp_churn_evaluate(m, &st, T0 + 9 * 120 * DAY + 100 * DAY, &sc);
    cr_expect(sc.evidence < m->thr_high, "no evidence of change: %g",
              sc.evidence);
    /* Higher on the risk list than a weekly buyer seen last week. */
    {
        struct cp_churn_state wk;
        struct cp_churn_score ws;

        cp_churn_state_init(&wk);
        for (int i = 0; i < 150; i++)
            cp_churn_observe(&wk, m, CP_OBS_ORDER, T0 + i * 7 * DAY, 8000);
        cp_churn_evaluate(m, &wk, T0 + 149 * 7 * DAY + 3 * DAY, &ws);
        cr_expect(sc.score > 2 * ws.score, "%g vs. the weekly buyer's %g",
                  sc.score, ws.score);
    }
    cp_churn_model_destroy(m);
}

/* The same customer: a detractor answer is a change, alerted at once. */
Test(churn_decision, alerts_on_change_not_on_state)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st;
    struct cp_churn_score sc;
    int64_t at = T0 + 11 * 60 * DAY + 20 * DAY;

    cp_churn_state_init(&st);
    for (int i = 0; i < 12; i++)
        cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + i * 60 * DAY, 8000);
    cr_expect_eq(alerts_between(m, &st, at - DAY, at - DAY, DAY), 0);
    /* A detractor answer while a ticket waits past its usual resolution. */
    cp_churn_observe(&st, m, CP_OBS_TICKET_OPENED, at - 10 * DAY, 0);
    cp_churn_observe(&st, m, CP_OBS_NPS, at, 0);
    cp_churn_evaluate(m, &st, at, &sc);
    cr_assert_neq(cp_churn_decide(m, &st, &sc, at), CP_LEVEL_NONE, "%g",
                  sc.evidence);
    cr_expect_str_eq(sc.reasons[0].factor, "detractor");
    cr_expect_str_eq(sc.reasons[1].factor, "ticket_overdue");
    cr_expect(!strncmp(sc.action, "call today: NPS 0 on ", 21), "%s",
              sc.action);
    cp_churn_model_destroy(m);
}

/* A weekly buyer who only goes silent: alerted by silence against the own
 * rhythm, once for the episode, by the timer at the crossing with no new
 * event; a monthly buyer silent as long is not. */
Test(churn_decision, quiet_churner_alerted_once_by_silence)
{
    struct cp_churn_model *m = model();
    struct cp_churn_state st, monthly;
    struct cp_churn_score sc;
    int64_t last, due;

    cp_churn_state_init(&st);
    cp_churn_state_init(&monthly);
    for (int i = 0; i < 40; i++)
        cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + i * 7 * DAY, 3000);
    for (int i = 0; i < 10; i++)
        cp_churn_observe(&monthly, m, CP_OBS_ORDER,
                         T0 + 39 * 7 * DAY - (9 - i) * 30 * DAY, 3000);
    last = T0 + 39 * 7 * DAY;
    cp_churn_evaluate(m, &st, last, &sc);
    cr_assert_eq(cp_churn_decide(m, &st, &sc, last), CP_LEVEL_NONE);
    due = cp_churn_next_due(m, &st, last);
    cr_assert(due > last + 14 * DAY && due < last + 45 * DAY,
              "silence against a weekly rhythm: due after %.2f days",
              (double)(due - last) / DAY);
    cp_churn_score_at(m, &st, due, &sc);
    cr_assert_eq(cp_churn_decide(m, &st, &sc, due), CP_LEVEL_HIGH);
    cr_expect_eq(alerts_between(m, &st, due + HOUR, due + 60 * DAY, DAY / 4), 0,
                 "one alert per episode");
    cr_expect_eq(
        alerts_between(m, &monthly, last + DAY, last + (due - last), DAY), 0,
        "a monthly buyer silent as long is not alerted");
    cp_churn_model_destroy(m);
}
