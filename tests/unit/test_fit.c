/* SPDX-License-Identifier: Apache-2.0 */
/* Fitting the churn model (fit.h): a small labelled history with a known
 * answer (churners stop ordering, stayers keep on) gives the parameters the
 * fit has always given, a model that loads and ranks the customers, and
 * every bad input becomes an error with the file and line, never an exit. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "churn.h"
#include "churn_int.h"
#include "fit.h"

#define DAY    86400000LL
#define T0     1700000000000LL
#define CUTOFF (T0 + 180 * DAY)
#define CUSTS  120

/* What crmpulse-fit wrote for this history from the built-in model (the
 * model file's numbers; BG/NBD starts from the built-in's parameters, so
 * a new default moves r and alpha: on this history of weekly buyers the
 * likelihood is a flat ridge in r / alpha, and the default of
 * silence_x_orders moved them along it; that factor, fitted with the other
 * order factors, moved the bias and order_silence's weight). */
#define EXPECT_BIAS      -19.990899
#define EXPECT_R         15.4503
#define EXPECT_ALPHA     135.597
#define EXPECT_W_SILENCE 0.976475
#define EXPECT_THR_HIGH  0.55 /* the base's: levels are kept by default */

static char dir[64], events[128], labels[128], out[128];
static char errstr[512];

/* Customer i churns when i % 3 == 0. Stayers order weekly up to the
 * cutoff, churners stop after day 90; some of each open a ticket, more
 * churners than stayers; a few of each go against the rule so the classes
 * overlap (no perfect separation). */
static void write_history(void)
{
    FILE *ev = fopen(events, "w"), *lb = fopen(labels, "w");

    cr_assert(ev && lb);
    fprintf(ev, "tenant_id,customer_id,occurred_at_ms,obs,value\n");
    fprintf(lb, "customer_id,churned\n");
    for (int i = 0; i < CUSTS; i++) {
        int churned = i % 3 == 0;
        int last_day =
            churned ? (i % 9 == 0 ? 170 : 90) : (i % 10 == 1 ? 120 : 179);

        for (int d = i % 7; d <= last_day; d += 7)
            fprintf(ev, "t,c%d,%lld,order,%d\n", i, T0 + d * DAY, 100 + i % 50);
        if (churned ? i % 2 == 0 : i % 5 == 0)
            fprintf(ev, "t,c%d,%lld,ticket_opened,1\n", i, T0 + 100 * DAY);
        fprintf(lb, "c%d,%d\n", i, churned);
    }
    /* After the cutoff: must be ignored. */
    fprintf(ev, "t,c0,%lld,order,100\n", CUTOFF + DAY);
    fclose(ev);
    fclose(lb);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/cp-fit-test-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    snprintf(events, sizeof(events), "%s/events.csv", dir);
    snprintf(labels, sizeof(labels), "%s/labels.csv", dir);
    snprintf(out, sizeof(out), "%s/model.conf", dir);
    write_history();
}

static void teardown(void)
{
    unlink(events);
    unlink(labels);
    unlink(out);
    rmdir(dir);
}

TestSuite(fit, .init = setup, .fini = teardown, .timeout = 30);

static void opts(struct cp_fit_opts *o)
{
    cp_fit_opts_init(o);
    o->events = events;
    o->labels = labels;
    o->cutoff = CUTOFF;
    o->out = out;
    o->quiet = 1;
}

/* Runs the fit with its report in a string; caller frees the result. */
static char *run_report(const struct cp_fit_opts *o, cp_rc *rc)
{
    char *text = NULL;
    size_t len = 0;
    FILE *rep = open_memstream(&text, &len);

    cr_assert(rep != NULL);
    *rc = cp_fit_run(o, rep, errstr, sizeof(errstr));
    fclose(rep);
    return text;
}

Test(fit, defaults_are_the_documented_ones)
{
    struct cp_fit_opts o;

    cp_fit_opts_init(&o);
    cr_assert(o.holdout == 0.3 && o.l2 == 1.0 && o.cutoff == INT64_MIN);
    cr_assert(o.prec_high == 0 && o.prec_crit == 0);
    cr_assert(!o.events && !o.out && !o.quiet);
}

/* The expected numbers are what crmpulse-fit wrote for this history before
 * fitting moved into the library: the move must not change a digit that
 * matters. */
Test(fit, known_history_gives_known_parameters)
{
    struct cp_churn_model *m;
    struct cp_fit_opts o;

    opts(&o);
    cr_assert(cp_fit_run(&o, stdout, errstr, sizeof(errstr)) == CP_OK, "%s",
              errstr);
    m = cp_churn_model_load(out, errstr, sizeof(errstr));
    cr_assert(m != NULL, "the written model must load: %s", errstr);
    cr_expect(!strcmp(m->version, "fit-1715552000000"), "%s", m->version);
    cr_expect(fabs(m->bias - EXPECT_BIAS) < 1e-3, "bias %.6f", m->bias);
    cr_expect(fabs(m->r - EXPECT_R) < 1e-3 * EXPECT_R, "r %.6g", m->r);
    cr_expect(fabs(m->alpha_days - EXPECT_ALPHA) < 1e-3 * EXPECT_ALPHA,
              "alpha %.6g", m->alpha_days);
    cr_expect(fabs(m->f[CP_CF_ORDER_SILENCE].weight - EXPECT_W_SILENCE) < 1e-3,
              "order_silence weight %.6f", m->f[CP_CF_ORDER_SILENCE].weight);
    cr_expect(fabs(m->thr_high - EXPECT_THR_HIGH) < 1e-9, "high %.3f",
              m->thr_high);
    cp_churn_model_destroy(m);
}

/* A labelled customer with no event before the cutoff (its first order
 * comes after it, or it has no event at all) was not a customer yet: an
 * empty state labelled "stayed" because it buys later is information from
 * after the cutoff. It is left out, counted in the report, and the fit is
 * the one without it. */
Test(fit, customers_first_seen_after_the_cutoff_are_left_out)
{
    struct cp_churn_model *m;
    struct cp_fit_opts o;
    FILE *ev = fopen(events, "a"), *lb = fopen(labels, "a");
    char *text;
    cp_rc rc;

    cr_assert(ev && lb);
    for (int i = 0; i < 40; i++) {
        fprintf(ev, "t,late%d,%lld,order,100\n", i, CUTOFF + (i + 1) * DAY);
        fprintf(lb, "late%d,0\n", i);
    }
    fprintf(lb, "ghost,0\n");
    fclose(ev);
    fclose(lb);
    opts(&o);
    o.quiet = 0;
    text = run_report(&o, &rc);
    cr_assert(rc == CP_OK, "%s", errstr);
    cr_expect(strstr(text, "120 labelled\n") &&
                  strstr(text, "left out 41 labelled customers with no event "
                               "before the cutoff"),
              "%s", text);
    cr_expect(strstr(text, "churn rate 0.333;"), "%s", text);
    free(text);
    m = cp_churn_model_load(out, errstr, sizeof(errstr));
    cr_assert(m != NULL, "the written model must load: %s", errstr);
    cr_expect(fabs(m->bias - EXPECT_BIAS) < 1e-3, "bias %.6f", m->bias);
    cr_expect(fabs(m->f[CP_CF_ORDER_SILENCE].weight - EXPECT_W_SILENCE) < 1e-3,
              "order_silence weight %.6f", m->f[CP_CF_ORDER_SILENCE].weight);
    cp_churn_model_destroy(m);
}

Test(fit, evaluation_ranks_the_churners_first)
{
    struct cp_fit_opts o;
    char *text;
    double model_auc = 0;
    cp_rc rc;

    opts(&o);
    cr_assert(cp_fit_run(&o, stdout, errstr, sizeof(errstr)) == CP_OK, "%s",
              errstr);
    o.evaluate = out;
    text = run_report(&o, &rc); /* printed even with quiet */
    cr_assert(rc == CP_OK, "%s", errstr);
    cr_assert(text && strstr(text, "120 labelled customers"), "%s", text);
    cr_assert(sscanf(strstr(text, "ROC AUC: model "), "ROC AUC: model %lf",
                     &model_auc) == 1);
    cr_expect(model_auc > 0.9, "AUC %.4f\n%s", model_auc, text);
    free(text);
}

Test(fit, report_names_each_stage)
{
    struct cp_fit_opts o;
    char *text;
    cp_rc rc;

    opts(&o);
    o.quiet = 0;
    text = run_report(&o, &rc);
    cr_assert(rc == CP_OK, "%s", errstr);
    cr_expect(strstr(text, "read ") && strstr(text, "bgnbd: r=") &&
                  strstr(text, "held-out ROC AUC: model") &&
                  strstr(text, "held out: reliability by decile") &&
                  strstr(text, "calibration: Brier ") &&
                  strstr(text, "levels of the evidence: high"),
              "%s", text);
    free(text);
}

Test(fit, bad_input_is_an_error_with_file_and_line)
{
    struct cp_fit_opts o;
    FILE *f;

    opts(&o);
    o.events = "/nonexistent/events.csv";
    cr_assert(cp_fit_run(&o, stdout, errstr, sizeof(errstr)) == CP_EIO);
    cr_assert(strstr(errstr, "open events /nonexistent/events.csv"), "%s",
              errstr);

    f = fopen(events, "a");
    fprintf(f, "t,c1,%lld,teleport,1\n", T0);
    fclose(f);
    opts(&o);
    cr_assert(cp_fit_run(&o, stdout, errstr, sizeof(errstr)) == CP_EDECODE);
    cr_assert(strstr(errstr, "bad row (obs 'teleport')"), "%s", errstr);

    f = fopen(labels, "a");
    fprintf(f, "c1,maybe\n");
    fclose(f);
    opts(&o);
    o.events = "/dev/null";
    cr_assert(cp_fit_run(&o, stdout, errstr, sizeof(errstr)) == CP_EDECODE);
    cr_assert(strstr(errstr, ":122: churned must be 0 or 1"), "%s", errstr);
}

Test(fit, too_few_labels_or_a_bad_version_fit_nothing)
{
    struct cp_fit_opts o;
    FILE *f = fopen(labels, "w");

    for (int i = 0; i < 19; i++)
        fprintf(f, "c%d,%d\n", i, i % 2);
    fclose(f);
    opts(&o);
    cr_assert(cp_fit_run(&o, stdout, errstr, sizeof(errstr)) == CP_ECONFIG);
    cr_assert(strstr(errstr, "fewer than 20 labelled customers"), "%s", errstr);

    write_history();
    opts(&o);
    o.version = "has space";
    cr_assert(cp_fit_run(&o, stdout, errstr, sizeof(errstr)) == CP_ECONFIG);
    cr_assert(strstr(errstr, "--version"), "%s", errstr);
    cr_assert(access(out, F_OK) != 0, "nothing may be written");
}

/* The same customer id in two tenants is two customers (issue 15): the
 * events' tenant column keys them, and a labels file with a tenant column
 * labels each one. */
Test(fit, customers_are_keyed_by_tenant)
{
    FILE *ev = fopen(events, "w"), *lb = fopen(labels, "w");
    struct cp_fit_opts o;
    char *text;
    cp_rc rc;

    cr_assert(ev && lb);
    fprintf(lb, "tenant_id,customer_id,churned\n");
    for (int i = 0; i < CUSTS; i++) {
        /* Tenant a's c<i> churns when i % 3 == 0, tenant b's never. */
        for (int d = i % 7; d <= (i % 3 == 0 ? 60 : 179); d += 7)
            fprintf(ev, "a,c%d,%lld,order,100\n", i, T0 + d * DAY);
        for (int d = i % 5; d <= 179; d += 5)
            fprintf(ev, "b,c%d,%lld,order,100\n", i, T0 + d * DAY);
        fprintf(lb, "a,c%d,%d\nb,c%d,0\n", i, i % 3 == 0, i);
    }
    fclose(ev);
    fclose(lb);
    opts(&o);
    o.quiet = 0;
    text = run_report(&o, &rc);
    cr_assert(rc == CP_OK, "%s", errstr);
    cr_expect(strstr(text, ", 240 customers, 240 labelled"), "%s", text);
    cr_expect(strstr(text, "churn rate 0.167"), "%s", text);
    free(text);

    /* Without a tenant column the label would fit either tenant. */
    lb = fopen(labels, "w");
    fprintf(lb, "customer_id,churned\nc1,0\n");
    fclose(lb);
    opts(&o);
    cr_assert(cp_fit_run(&o, stdout, errstr, sizeof(errstr)) == CP_EDECODE);
    cr_expect(strstr(errstr, "labels.csv:2: no tenant column, but the events "
                             "have several tenants"),
              "%s", errstr);
}

Test(fit, parse_ms_rejects_out_of_range_numbers)
{
    int64_t v = 7;

    cr_expect(cp_fit_parse_ms("9223372036854775807", &v) == 0 &&
              v == INT64_MAX);
    cr_expect(cp_fit_parse_ms("9223372036854775808", &v) == -1);
    cr_expect(cp_fit_parse_ms("-99999999999999999999", &v) == -1);
    cr_expect(cp_fit_parse_ms("12x", &v) == -1 && cp_fit_parse_ms("", &v));
}

Test(fit, file_errors_say_why)
{
    struct cp_fit_opts o;

    opts(&o);
    o.labels = "/nonexistent/labels.csv";
    cr_assert(cp_fit_run(&o, stdout, errstr, sizeof(errstr)) == CP_EIO);
    cr_expect(strstr(errstr, "open labels /nonexistent/labels.csv: No such "
                             "file or directory"),
              "%s", errstr);
    opts(&o);
    o.out = "/nonexistent/dir/model.conf";
    cr_assert(cp_fit_run(&o, stdout, errstr, sizeof(errstr)) == CP_EIO);
    cr_expect(strstr(errstr, "No such file or directory"), "%s", errstr);
}

/* crmpulse-fit's own arguments: -c and --version are the shared command
 * line's (settings file, program version); --cutoff takes dates. */
Test(fit, command_line_is_the_shared_one)
{
    struct cp_fit_opts o;
    const char *cut[] = {"--cutoff", "2011-06-12"};
    const char *cut_ms[] = {"--cutoff", "1307836800000"};
    const char *cut_t[] = {"--cutoff", "2011-06-12T06:00"};
    const char *bad[] = {"--cutoff", "June"};
    const char *mv[] = {"--model-version", "v7"};
    const char *cfg[] = {"-c", "x.conf"};
    const char *ver[] = {"--version"};
    const char *l2[] = {"--l2", "1e999"};

    cp_fit_opts_init(&o);
    cr_assert(cp_fit_arg(&o, cut, 2, errstr, sizeof(errstr)) == 2);
    cr_expect(o.cutoff == 1307836800000LL, "%lld", (long long)o.cutoff);
    o.cutoff = 0;
    cr_assert(cp_fit_arg(&o, cut_ms, 2, errstr, sizeof(errstr)) == 2);
    cr_expect(o.cutoff == 1307836800000LL);
    cr_assert(cp_fit_arg(&o, cut_t, 2, errstr, sizeof(errstr)) == 2);
    cr_expect(o.cutoff == 1307836800000LL + 6 * 3600000LL);
    cr_expect(cp_fit_arg(&o, bad, 2, errstr, sizeof(errstr)) == -1);
    cr_expect(strstr(errstr, "--cutoff: expected ms since the epoch or "
                             "YYYY-MM-DD"),
              "%s", errstr);
    cr_expect(cp_fit_arg(&o, mv, 2, errstr, sizeof(errstr)) == 2 &&
              !strcmp(o.version, "v7"));
    cr_expect(cp_fit_arg(&o, cfg, 2, errstr, sizeof(errstr)) == 0);
    cr_expect(cp_fit_arg(&o, ver, 1, errstr, sizeof(errstr)) == 0);
    cr_expect(cp_fit_arg(&o, l2, 2, errstr, sizeof(errstr)) == -1);
    cr_expect(cp_fit_arg(&o, cut, 1, errstr, sizeof(errstr)) == 0);
}

/* issue 16: a model the loader refuses is never written, and the file at
 * -o keeps its old content. */
Test(fit, a_model_that_would_not_load_is_not_written)
{
    struct cp_fit_opts o;
    FILE *f = fopen(out, "w");
    char buf[64] = {0};

    fputs("old model\n", f);
    fclose(f);
    /* With this history and a huge penalty the average check's weight
     * comes out as a subnormal double, which the loader refuses. */
    f = fopen(events, "w");
    cr_assert(f);
    for (int i = 0; i < CUSTS; i++) {
        int churned = i % 3 == 0;
        int last_day =
            churned ? (i % 9 == 0 ? 170 : 90) : (i % 10 == 1 ? 120 : 179);

        for (int d = i % 7; d <= last_day; d += 7)
            fprintf(f, "t,c%d,%lld,order,%d\n", i, T0 + d * DAY,
                    100 + (i * 13) % 50);
        if (churned ? i % 2 == 0 : i % 5 == 0)
            fprintf(f, "t,c%d,%lld,ticket_opened,1\n", i, T0 + 100 * DAY);
    }
    fclose(f);
    opts(&o);
    o.l2 = 1.79e308;
    cr_assert(cp_fit_run(&o, stdout, errstr, sizeof(errstr)) == CP_ECONFIG,
              "%s", errstr);
    cr_expect(strstr(errstr, "does not load, nothing written"), "%s", errstr);
    f = fopen(out, "r");
    cr_assert(f);
    cr_expect(fgets(buf, sizeof(buf), f) && !strcmp(buf, "old model\n"));
    fclose(f);
}

/* The calibration report is what it says: the Brier score and the expected
 * calibration error over ten equal-count deciles of the probability,
 * recomputed here from the model and the same history. */
Test(fit, calibration_report_is_brier_and_ece)
{
    struct cp_churn_model *m;
    struct cp_fit_opts o;
    struct {
        double p;
        int y;
    } v[CUSTS], t;
    double brier = 0, ece = 0, got_brier = 0, got_ece = 0;
    char *text;
    const char *at;
    cp_rc rc;

    opts(&o);
    cr_assert(cp_fit_run(&o, stdout, errstr, sizeof(errstr)) == CP_OK, "%s",
              errstr);
    m = cp_churn_model_load(out, errstr, sizeof(errstr));
    cr_assert(m != NULL, "%s", errstr);
    for (int i = 0; i < CUSTS; i++) {
        struct cp_churn_state st;
        struct cp_churn_score sc;
        int churned = i % 3 == 0;
        int last_day =
            churned ? (i % 9 == 0 ? 170 : 90) : (i % 10 == 1 ? 120 : 179);

        cp_churn_state_init(&st);
        for (int d = i % 7; d <= last_day; d += 7)
            cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + d * DAY, 100 + i % 50);
        if (churned ? i % 2 == 0 : i % 5 == 0)
            cp_churn_observe(&st, m, CP_OBS_TICKET_OPENED, T0 + 100 * DAY, 1);
        cp_churn_score_at(m, &st, CUTOFF, &sc);
        v[i].p = sc.score;
        v[i].y = churned;
        brier += (sc.score - churned) * (sc.score - churned) / CUSTS;
    }
    for (int i = 1; i < CUSTS; i++) /* insertion sort by probability */
        for (int j = i; j > 0 && v[j - 1].p > v[j].p; j--) {
            t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    for (int d = 0; d < 10; d++) {
        double sp = 0, sy = 0;

        for (int i = CUSTS * d / 10; i < CUSTS * (d + 1) / 10; i++) {
            sp += v[i].p;
            sy += v[i].y;
        }
        ece += fabs(sp - sy) / CUSTS;
    }
    o.evaluate = out;
    text = run_report(&o, &rc);
    cr_assert(rc == CP_OK, "%s", errstr);
    at = strstr(text, "calibration: Brier ");
    cr_assert(at && sscanf(at, "calibration: Brier %lf, ECE %lf", &got_brier,
                           &got_ece) == 2,
              "%s", text);
    cr_expect(fabs(got_brier - brier) < 1e-4, "Brier %.4f, recomputed %.6f",
              got_brier, brier);
    cr_expect(fabs(got_ece - ece) < 1e-4, "ECE %.4f, recomputed %.6f", got_ece,
              ece);
    cr_expect(strstr(text, "reliability by decile"), "%s", text);
    free(text);
    cp_churn_model_destroy(m);
}

/* ------------------------------------------------------------------ */
/* --evidence-horizon: the alert's evidence weights from episodes      */

#define EV_CUSTS 240
#define EV_DAYS  60

/* A cohort in event-time order, labelled as crmpulse-gen --churn-cohort
 * labels it. Everyone orders every 3 days. Customer i churns when
 * i % 4 == 0, from day 25 + i % 20: four of five cancel their
 * subscription that day, the fifth only stops ordering. Missed calls come
 * to every tenth customer, churner or not (no sign of churn); lost deals
 * only to customers who stay (a sign against it). */
static void write_episodes(const char *ev_path, const char *lb_path)
{
    FILE *ev = fopen(ev_path, "w"), *lb = fopen(lb_path, "w");

    cr_assert(ev && lb);
    fprintf(ev, "tenant_id,customer_id,occurred_at_ms,obs,value\n");
    fprintf(lb, "tenant_id,customer_id,profile,churned,churn_start_ms,"
                "population,business,manager_id\n");
    for (int d = 0; d < EV_DAYS; d++)
        for (int i = 0; i < EV_CUSTS; i++) {
            int churner = i % 4 == 0, start = 25 + i % 20;
            long long at = T0 + d * DAY + i * 1000LL;

            if (churner && d == start && i % 5 != 0)
                fprintf(ev, "t,c%d,%lld,sub_cancelled,5000\n", i, at);
            if ((!churner || d < start) && (d + i) % 3 == 0)
                fprintf(ev, "t,c%d,%lld,order,1000\n", i, at + 1);
            if (i % 10 == 3 && d % 9 == i % 9)
                fprintf(ev, "t,c%d,%lld,call_missed,1\n", i, at + 2);
            if (!churner && i % 6 == 1 && d % 11 == i % 11)
                fprintf(ev, "t,c%d,%lld,deal_lost,1\n", i, at + 3);
        }
    for (int i = 0; i < EV_CUSTS; i++) {
        if (i % 4 == 0)
            fprintf(lb, "t,c%d,%s,1,%lld,x,retail,m\n", i,
                    i % 5 ? "cancelling" : "silent", T0 + (25 + i % 20) * DAY);
        else
            fprintf(lb, "t,c%d,healthy,0,,healthy,retail,m\n", i);
    }
    fclose(ev);
    fclose(lb);
}

static void ev_opts(struct cp_fit_opts *o, const char *ev, const char *lb)
{
    cp_fit_opts_init(o);
    o->events = ev;
    o->labels = lb;
    o->out = out;
    o->quiet = 1;
    o->ev_horizon = 7;
}

/* The cancellation that comes with churn gets a large weight, the missed
 * calls that come to churners and stayers alike a small one, the lost deals
 * that only stayers have none (evidence only adds: never negative); the
 * score's factors stay the base's; level.high makes the alerts on the
 * training history as precise as asked, and the rule then alerts a
 * canceller and not a stayer with missed calls. */
Test(fit, evidence_fit_weighs_the_sign_that_comes_with_churn)
{
    char ev[160], lb[160];
    struct cp_fit_opts o;
    struct cp_churn_model *m, *def = cp_churn_model_default();
    struct cp_churn_state st;
    struct cp_churn_score sc;
    char *text;
    cp_rc rc;
    double wc, wm;

    snprintf(ev, sizeof(ev), "%s/ev-events.csv", dir);
    snprintf(lb, sizeof(lb), "%s/ev-labels.csv", dir);
    write_episodes(ev, lb);
    ev_opts(&o, ev, lb);
    o.quiet = 0;
    text = run_report(&o, &rc);
    cr_assert(rc == CP_OK, "%s", errstr);
    cr_expect(strstr(text, "evidence: ") && strstr(text, "level.high "), "%s",
              text);
    m = cp_churn_model_load(out, errstr, sizeof(errstr));
    cr_assert(m != NULL, "the written model must load: %s", errstr);
    wc = m->ev_weight[CP_E_CANCELLATION];
    wm = m->ev_weight[CP_E_MISSED_CALLS];
    cr_expect(wc > 2, "cancellation %.4f\n%s", wc, text);
    cr_expect(wm < wc / 4, "missed calls %.4f vs cancellation %.4f\n%s", wm, wc,
              text);
    cr_expect(m->ev_weight[CP_E_DEALS_LOST] == 0, "deals_lost %.4f\n%s",
              m->ev_weight[CP_E_DEALS_LOST], text);
    for (int e = 0; e < CP_E_CNT; e++)
        cr_expect(m->ev_weight[e] >= 0, "%s %.4f", cp__churn_evidence_names[e],
                  m->ev_weight[e]);
    cr_expect(m->bias == def->bias && m->f[CP_CF_ORDER_SILENCE].weight ==
                                          def->f[CP_CF_ORDER_SILENCE].weight);
    cr_expect(m->thr_high > 0 && m->thr_high < 1 &&
                  m->thr_critical > m->thr_high,
              "high %.2f critical %.2f", m->thr_high, m->thr_critical);
    cr_expect(strstr(text, "precision 1.000"), "%s", text);
    cr_expect(!strcmp(m->version, "fit-evidence"), "version %s", m->version);
    {
        char head[512] = "";
        FILE *f = fopen(out, "r");

        cr_assert(f != NULL);
        cr_expect(fread(head, 1, sizeof(head) - 1, f) > 0);
        fclose(f);
        cr_expect(strstr(head, "evidence weights and level.high only "
                               "(churn started within 7 d, precision 0.9)") &&
                      !strstr(head, "cutoff"),
                  "%s", head);
    }

    /* A canceller alerts once the cancellation's grace (2 days) has
     * passed; a stayer with missed calls not. */
    cp_churn_state_init(&st);
    for (int d = 0; d < 30; d += 3)
        cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + d * DAY, 1000);
    cp_churn_observe(&st, m, CP_OBS_SUB_CANCELLED, T0 + 31 * DAY, 5000);
    cp_churn_score_at(m, &st, T0 + 33 * DAY, &sc);
    cr_expect(cp_churn_decide(m, &st, &sc, T0 + 33 * DAY) != CP_LEVEL_NONE,
              "evidence %.3f", sc.evidence);
    cp_churn_state_init(&st);
    for (int d = 0; d < 30; d += 3) {
        cp_churn_observe(&st, m, CP_OBS_ORDER, T0 + d * DAY, 1000);
        cp_churn_observe(&st, m, CP_OBS_CALL_MISSED, T0 + d * DAY + 1, 1);
    }
    cp_churn_score_at(m, &st, T0 + 31 * DAY, &sc);
    cr_expect(cp_churn_decide(m, &st, &sc, T0 + 31 * DAY) == CP_LEVEL_NONE,
              "evidence %.3f", sc.evidence);
    cp_churn_model_destroy(m);
    cp_churn_model_destroy(def);
    free(text);
    unlink(ev);
    unlink(lb);
}

/* The evidence fit needs the cohort's labels (churn_start_ms) and events in
 * event-time order; its options take only sensible values. */
Test(fit, evidence_fit_refuses_what_it_cannot_use)
{
    char ev[160], lb[160];
    struct cp_fit_opts o;
    const char *h0[] = {"--evidence-horizon", "0"};
    const char *h14[] = {"--evidence-horizon", "14"};
    const char *st2[] = {"--evidence-step", "2"};
    const char *p1[] = {"--evidence-precision", "1"};
    const char *p8[] = {"--evidence-precision", "0.8"};
    FILE *f;

    snprintf(ev, sizeof(ev), "%s/ev-events.csv", dir);
    snprintf(lb, sizeof(lb), "%s/ev-labels.csv", dir);
    write_episodes(ev, lb);

    cp_fit_opts_init(&o);
    cr_expect(o.ev_horizon == 0 && o.ev_step == 1 && o.ev_precision == 0.9);
    cr_expect(cp_fit_arg(&o, h0, 2, errstr, sizeof(errstr)) == -1);
    cr_expect(strstr(errstr, "--evidence-horizon: expected days"), "%s",
              errstr);
    cr_expect(cp_fit_arg(&o, p1, 2, errstr, sizeof(errstr)) == -1);
    cr_expect(cp_fit_arg(&o, h14, 2, errstr, sizeof(errstr)) == 2 &&
              o.ev_horizon == 14);
    cr_expect(cp_fit_arg(&o, st2, 2, errstr, sizeof(errstr)) == 2 &&
              o.ev_step == 2);
    cr_expect(cp_fit_arg(&o, p8, 2, errstr, sizeof(errstr)) == 2 &&
              o.ev_precision == 0.8);

    /* customer_id,churned labels: no churn start to learn from. */
    ev_opts(&o, ev, labels);
    cr_expect(cp_fit_run(&o, stdout, errstr, sizeof(errstr)) == CP_EDECODE);
    cr_expect(strstr(errstr, "--evidence-horizon needs the header"), "%s",
              errstr);
    cr_expect(access(out, F_OK) != 0, "nothing written");

    /* An event earlier than the one before it. */
    f = fopen(ev, "a");
    fprintf(f, "t,c1,%lld,order,1000\n", T0);
    fclose(f);
    ev_opts(&o, ev, lb);
    cr_expect(cp_fit_run(&o, stdout, errstr, sizeof(errstr)) == CP_EDECODE);
    cr_expect(strstr(errstr, "event time goes back"), "%s", errstr);

    /* No churner at all: nothing to fit. */
    f = fopen(lb, "w");
    fprintf(f, "tenant_id,customer_id,profile,churned,churn_start_ms\n"
               "t,c1,healthy,0,\n");
    fclose(f);
    write_history(); /* restores the shared files only */
    f = fopen(ev, "w");
    fprintf(f, "t,c1,%lld,order,1000\nt,c1,%lld,order,1000\n", T0,
            T0 + 10 * DAY);
    fclose(f);
    ev_opts(&o, ev, lb);
    cr_expect(cp_fit_run(&o, stdout, errstr, sizeof(errstr)) == CP_ECONFIG);
    cr_expect(strstr(errstr, "positive and"), "%s", errstr);
    cr_expect(access(out, F_OK) != 0, "nothing written");
    unlink(ev);
    unlink(lb);
}
