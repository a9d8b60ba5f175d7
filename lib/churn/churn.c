/* SPDX-License-Identifier: Apache-2.0 */
/* Churn-risk model: features, score, reasons, alert rule, silence timer.
 * The math is specified in schemas/churn-model.md. */
#include "churn.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn_int.h"

const char *const cp__churn_factor_names[CP_CF_CNT] = {
    [CP_CF_HORIZON_SILENCE] = "horizon_silence",
    [CP_CF_ORDER_SILENCE] = "order_silence",
    [CP_CF_ORDERS_RECENT] = "orders_recent",
    [CP_CF_ORDERS_LONG] = "orders_long",
    [CP_CF_ORDER_DROP] = "order_drop",
    [CP_CF_FREQUENCY] = "frequency",
    [CP_CF_MONETARY] = "monetary",
    [CP_CF_NO_ORDERS] = "no_orders",
    [CP_CF_TENURE] = "tenure",
    [CP_CF_SILENCE_X_ORDERS] = "silence_x_orders",
    [CP_CF_OPEN_TICKETS] = "open_tickets",
    [CP_CF_TICKET_AGE] = "ticket_age",
    [CP_CF_TICKETS_RECENT] = "tickets_recent",
    [CP_CF_NPS_LOW] = "nps_low",
    [CP_CF_CSAT_LOW] = "csat_low",
    [CP_CF_CES_HIGH] = "ces_high",
    [CP_CF_RESPONSE_WAIT] = "response_wait",
    [CP_CF_MISSED_CALLS] = "missed_calls",
    [CP_CF_DEALS_LOST] = "deals_lost",
    [CP_CF_DEALS_WON] = "deals_won",
    [CP_CF_CANCELLATIONS] = "cancellations",
    [CP_CF_MRR_LOST] = "mrr_lost",
    [CP_CF_RENEWALS] = "renewals",
    [CP_CF_ENGAGEMENT_DROP] = "engagement_drop",
};

const char *const cp__churn_evidence_names[CP_E_CNT] = {
    [CP_E_CANCELLATION] = "cancellation",
    [CP_E_DETRACTOR] = "detractor",
    [CP_E_TICKET_OVERDUE] = "ticket_overdue",
    [CP_E_SLOW_REPLIES] = "slow_replies",
    [CP_E_MISSED_CALLS] = "missed_calls",
    [CP_E_DEALS_LOST] = "deals_lost",
    [CP_E_SILENCE] = "silence",
    [CP_E_ORDER_DROP] = "order_drop",
    [CP_E_ENGAGEMENT_DROP] = "engagement_drop",
    [CP_E_INACTIVITY] = "inactivity",
    [CP_E_UNANSWERED] = "unanswered",
    [CP_E_COMPLAINT_SIGNS] = "complaint_signs",
};

static const char *const obs_names[CP_OBS_CNT] = {
    [CP_OBS_ACTIVITY] = "activity",
    [CP_OBS_ORDER] = "order",
    [CP_OBS_TICKET_OPENED] = "ticket_opened",
    [CP_OBS_TICKET_RESOLVED] = "ticket_resolved",
    [CP_OBS_NPS] = "nps",
    [CP_OBS_CSAT] = "csat",
    [CP_OBS_CES] = "ces",
    [CP_OBS_RESPONSE] = "response",
    [CP_OBS_CALL_MISSED] = "call_missed",
    [CP_OBS_DEAL_WON] = "deal_won",
    [CP_OBS_DEAL_LOST] = "deal_lost",
    [CP_OBS_SUB_STARTED] = "sub_started",
    [CP_OBS_SUB_RENEWED] = "sub_renewed",
    [CP_OBS_SUB_CANCELLED] = "sub_cancelled",
    [CP_OBS_WEB_VISIT] = "web_visit",
    [CP_OBS_MESSAGE_IN] = "message_in",
};

const char *cp_churn_obs_name(enum cp_churn_obs obs)
{
    if ((int)obs < 0 || obs >= CP_OBS_CNT)
        return NULL;
    return obs_names[obs];
}

int cp_churn_obs_parse(const char *name)
{
    for (int i = 0; i < CP_OBS_CNT; i++)
        if (!strcmp(name, obs_names[i]))
            return i;
    return -1;
}

const char *cp_churn_level_name(enum cp_churn_level level)
{
    switch (level) {
    case CP_LEVEL_HIGH:
        return "high";
    case CP_LEVEL_CRITICAL:
        return "critical";
    default:
        return "none";
    }
}

/* ------------------------------------------------------------------ */
/* State and observations                                              */

void cp_churn_state_init(struct cp_churn_state *st)
{
    memset(st, 0, sizeof(*st));
    st->landmark_ms = INT64_MIN;
    st->first_seen_ms = INT64_MIN;
    st->last_seen_ms = INT64_MIN;
    st->first_order_ms = INT64_MIN;
    st->last_order_ms = INT64_MIN;
    st->last_alert_ms = INT64_MIN;
    st->last_cancel_ms = INT64_MIN;
    st->last_start_ms = INT64_MIN;
    st->wait_since_ms = INT64_MIN;
    st->last_nps = -1;
    st->last_csat = -1;
    st->last_ces = -1;
}

enum hl_class { HL_SHORT, HL_LONG, HL_SIGNAL };

/* Every decayed sum and its half-life class. */
static const struct {
    size_t off;
    enum hl_class hl;
} decayed[] = {
    {offsetof(struct cp_churn_state, ord_short), HL_SHORT},
    {offsetof(struct cp_churn_state, ord_long), HL_LONG},
    {offsetof(struct cp_churn_state, amt_long), HL_LONG},
    {offsetof(struct cp_churn_state, tickets), HL_SIGNAL},
    {offsetof(struct cp_churn_state, wait_h), HL_SIGNAL},
    {offsetof(struct cp_churn_state, waits), HL_SIGNAL},
    {offsetof(struct cp_churn_state, missed), HL_SIGNAL},
    {offsetof(struct cp_churn_state, lost), HL_SIGNAL},
    {offsetof(struct cp_churn_state, won), HL_SIGNAL},
    {offsetof(struct cp_churn_state, cancels), HL_SIGNAL},
    {offsetof(struct cp_churn_state, mrr_lost), HL_SIGNAL},
    {offsetof(struct cp_churn_state, renewals), HL_LONG},
    {offsetof(struct cp_churn_state, eng_short), HL_SIGNAL},
    {offsetof(struct cp_churn_state, eng_long), HL_LONG},
};

static double hl_days(const struct cp_churn_model *m, enum hl_class c)
{
    switch (c) {
    case HL_SHORT:
        return m->hl_short_days;
    case HL_LONG:
        return m->hl_long_days;
    default:
        return m->hl_signal_days;
    }
}

static float *sum_at(struct cp_churn_state *st, size_t off)
{
    return (float *)(void *)((char *)st + off);
}

/* Moves the landmark to @p at_ms when a weight at @p at_ms would pass
 * 2^RENORM_HALVES, rescaling every sum: values at any later time are
 * unchanged, only where the numbers sit in the float range moves. */
static void landmark_fit(struct cp_churn_state *st,
                         const struct cp_churn_model *m, int64_t at_ms)
{
    double min_hl =
        fmin(m->hl_short_days, fmin(m->hl_long_days, m->hl_signal_days));

    if (st->landmark_ms == INT64_MIN) {
        st->landmark_ms = at_ms;
        return;
    }
    if ((double)(at_ms - st->landmark_ms) / MS_PER_DAY <=
        RENORM_HALVES * min_hl)
        return;
    for (size_t i = 0; i < CP_ARRAY_SIZE(decayed); i++) {
        float *s = sum_at(st, decayed[i].off);
        double halves = (double)(at_ms - st->landmark_ms) / MS_PER_DAY /
                        hl_days(m, decayed[i].hl);

        *s = (float)(*s * exp2(-halves));
    }
    st->landmark_ms = at_ms;
}

/* Adds @p amount observed at @p at_ms to the sum at @p off. */
static void decay_add(struct cp_churn_state *st, const struct cp_churn_model *m,
                      size_t off, int64_t at_ms, double amount)
{
    enum hl_class c = HL_SIGNAL;
    float *s = sum_at(st, off);
    double v;

    for (size_t i = 0; i < CP_ARRAY_SIZE(decayed); i++)
        if (decayed[i].off == off)
            c = decayed[i].hl;
    v = *s + amount * exp2((double)(at_ms - st->landmark_ms) / MS_PER_DAY /
                           hl_days(m, c));
    /* Only reachable with absurd amounts: keep the sum finite. */
    *s = (float)fmin(v, FLT_MAX / 4);
}

#define ADD(field, amount)                                                     \
    decay_add(st, m, offsetof(struct cp_churn_state, field), at_ms, (amount))

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Keeps the latest answer; of two at the same second the worse one, so the
 * result does not depend on arrival order. */
static void survey(int8_t *score, uint32_t *at_s, int64_t at_ms, int64_t value,
                   int lo, int hi, int worse_is_high)
{
    uint32_t s = (uint32_t)(at_ms / 1000);

    if (s == 0)
        s = 1; /* 0 means "none" */
    value = clamp64(value, lo, hi);
    if (*score >= 0) {
        if (s < *at_s)
            return;
        if (s == *at_s && (worse_is_high ? value <= *score : value >= *score))
            return;
    }
    *score = (int8_t)value;
    *at_s = s;
}

void cp_churn_observe(struct cp_churn_state *st, const struct cp_churn_model *m,
                      enum cp_churn_obs obs, int64_t at_ms, int64_t value)
{
    at_ms = clamp64(at_ms, 0, AT_MAX_MS);
    st->first_seen_ms = st->first_seen_ms == INT64_MIN
                            ? at_ms
                            : min64(st->first_seen_ms, at_ms);
    st->last_seen_ms = max64(st->last_seen_ms, at_ms);
    if (obs != CP_OBS_ACTIVITY && obs != CP_OBS_NPS && obs != CP_OBS_CSAT &&
        obs != CP_OBS_CES && obs != CP_OBS_TICKET_RESOLVED)
        landmark_fit(st, m, at_ms);

    switch (obs) {
    case CP_OBS_ORDER:
        /* Several orders on one day are one purchase occasion for the
         * purchase process (BG/NBD counts repeat transactions by day). */
        if ((st->orders == 0 ||
             at_ms / 86400000 != st->last_order_ms / 86400000) &&
            st->order_days < UINT32_MAX)
            st->order_days++;
        if (st->orders < UINT32_MAX)
            st->orders++;
        st->first_order_ms = st->first_order_ms == INT64_MIN
                                 ? at_ms
                                 : min64(st->first_order_ms, at_ms);
        st->last_order_ms = max64(st->last_order_ms, at_ms);
        ADD(ord_short, 1);
        ADD(ord_long, 1);
        ADD(amt_long, (double)clamp64(value, 0, INT64_C(1) << 50) / 100.0);
        break;
    case CP_OBS_TICKET_OPENED:
        if (st->open_tickets < UINT16_MAX) {
            st->open_tickets++;
            st->open_sum_ms += at_ms;
        }
        ADD(tickets, 1);
        break;
    case CP_OBS_TICKET_RESOLVED:
        if (st->open_tickets > 0) {
            st->open_tickets--;
            st->open_sum_ms -= clamp64(value, 0, AT_MAX_MS);
            /* An opened_at that was never added leaves an impossible sum:
             * fall back to "opened now" rather than carry garbage. */
            if (st->open_tickets == 0)
                st->open_sum_ms = 0;
            else if (st->open_sum_ms < 0 ||
                     st->open_sum_ms > (int64_t)st->open_tickets * AT_MAX_MS)
                st->open_sum_ms = (int64_t)st->open_tickets * at_ms;
        }
        break;
    case CP_OBS_NPS:
        survey(&st->last_nps, &st->nps_at_s, at_ms, value, 0, 10, 0);
        break;
    case CP_OBS_CSAT:
        survey(&st->last_csat, &st->csat_at_s, at_ms, value, 1, 5, 0);
        break;
    case CP_OBS_CES:
        /* CES 1..7 with 7 the most effort (the worst). */
        survey(&st->last_ces, &st->ces_at_s, at_ms, value, 1, 7, 1);
        break;
    case CP_OBS_RESPONSE:
        ADD(wait_h, (double)clamp64(value, 0, 365 * 86400000LL) / 3600000.0);
        ADD(waits, 1);
        /* The reply answers the wait that began value ms before it, and
         * every message since; an older wait (another conversation) goes
         * on. */
        if (st->wait_since_ms != INT64_MIN &&
            st->wait_since_ms >= at_ms - clamp64(value, 0, at_ms))
            st->wait_since_ms = INT64_MIN;
        break;
    case CP_OBS_MESSAGE_IN:
        /* The oldest message not answered yet. */
        st->wait_since_ms = st->wait_since_ms == INT64_MIN
                                ? at_ms
                                : min64(st->wait_since_ms, at_ms);
        ADD(eng_short, 1);
        ADD(eng_long, 1);
        break;
    case CP_OBS_CALL_MISSED:
        ADD(missed, 1);
        break;
    case CP_OBS_DEAL_WON:
        ADD(won, 1);
        break;
    case CP_OBS_DEAL_LOST:
        ADD(lost, 1);
        break;
    case CP_OBS_SUB_STARTED:
        st->last_start_ms = max64(st->last_start_ms, at_ms);
        ADD(renewals, 1);
        break;
    case CP_OBS_SUB_RENEWED:
        ADD(renewals, 1);
        break;
    case CP_OBS_SUB_CANCELLED:
        ADD(cancels, 1);
        ADD(mrr_lost, (double)clamp64(value, 0, INT64_C(1) << 50) / 100.0);
        st->last_cancel_ms = max64(st->last_cancel_ms, at_ms);
        break;
    case CP_OBS_WEB_VISIT:
        ADD(eng_short, 1);
        ADD(eng_long, 1);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------ */
/* Features                                                            */

double cp__churn_bgnbd_palive(double r, double alpha, double a, double b,
                              double x, double t_x, double T)
{
    double lt;

    if (x <= 0)
        return 1.0;
    /* 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x)),
     * in logs so large x or T cannot overflow. */
    lt =
        log(a) - log(b + x - 1) + (r + x) * (log(alpha + T) - log(alpha + t_x));
    if (lt > 700)
        return 0.0;
    return 1.0 / (1.0 + exp(lt));
}

double cp__churn_bgnbd_pnone(double r, double alpha, double a, double b,
                             double x, double t_x, double T, double h)
{
    double pa = cp__churn_bgnbd_palive(r, alpha, a, b, x, t_x, T);
    /* Alive, the rate's posterior is Gamma(r + x, alpha + T) and nobody
     * drops out without buying, so P(no order in h | alive) is the gamma
     * mixture of exp(-lambda h). */
    double quiet = exp((r + x) * (log(alpha + T) - log(alpha + T + h)));

    return (1.0 - pa) + pa * quiet;
}

static double lbeta(double p, double q)
{
    return lgamma(p) + lgamma(q) - lgamma(p + q);
}

double cp__churn_bgnbd_ll(double r, double alpha, double a, double b, double x,
                          double t_x, double T)
{
    double ll = lbeta(a, b + x) - lbeta(a, b) + lgamma(r + x) - lgamma(r) +
                r * log(alpha) - (r + x) * log(alpha + T);

    if (x > 0) {
        double lt = log(a) - log(b + x - 1) +
                    (r + x) * (log(alpha + T) - log(alpha + t_x));

        ll += lt > 0 ? lt + log1p(exp(-lt)) : log1p(exp(lt));
    }
    return ll;
}

double cp__churn_usual_interval(const struct cp_churn_model *m,
                                const struct cp_churn_state *st)
{
    double gaps = st->order_days > 1 ? (double)st->order_days - 1 : 0;
    double span =
        gaps > 0 ? (double)(st->last_order_ms - st->first_order_ms) / MS_PER_DAY
                 : 0;
    double k = m->prior_weight;
    double v;

    /* The mean gap (span / gaps) shrunk toward the prior: k pseudo-gaps of
     * the prior's length, so one or two orders say little and many say a
     * lot. */
    if (gaps + k <= 0)
        return m->prior_interval_days;
    v = (span + k * m->prior_interval_days) / (gaps + k);
    return fmax(v, 1.0 / 24);
}

double cp__churn_silence_surprise(const struct cp_churn_model *m,
                                  const struct cp_churn_state *st,
                                  double rec_days)
{
    double gaps = st->order_days > 1 ? (double)st->order_days - 1 : 0;
    double span =
        gaps > 0 ? (double)(st->last_order_ms - st->first_order_ms) / MS_PER_DAY
                 : 0;
    double shape = gaps + m->prior_weight;
    double scale =
        fmax(span + m->prior_weight * m->prior_interval_days, 1.0 / 24);

    /* The order rate's posterior is Gamma(shape, scale) (the prior's k
     * pseudo-gaps of prior_days plus the own gaps and span); a live
     * customer's chance of no order in rec days is then
     * (scale / (scale + rec))^shape, and the surprise its -ln. Close to
     * rec / usual with many orders; with one or two it grows only with
     * the log, as the population's rhythms are wide apart. */
    if (shape <= 0 || rec_days <= 0)
        return 0;
    return shape * log1p(rec_days / scale);
}

/* BG/NBD's x: repeat purchase days (0 for a state from before order_days
 * was kept consistent, never negative). */
static double repeat_days(const struct cp_churn_state *st)
{
    return st->order_days > 1 ? (double)st->order_days - 1 : 0;
}

/* Value of a forward-decayed sum at @p now_ms. Before the landmark the sum
 * is read at the landmark (later observations cannot be taken back). */
static double decayed_at(const struct cp_churn_state *st, float sum, double hl,
                         int64_t now_ms)
{
    double halves;

    if (st->landmark_ms == INT64_MIN || sum <= 0)
        return 0;
    halves = (double)(now_ms - st->landmark_ms) / MS_PER_DAY / hl;
    return (double)sum * exp2(-fmax(halves, 0));
}

static double age_days(int64_t now_ms, int64_t at_ms)
{
    if (at_ms == INT64_MIN)
        return 0;
    return fmax(0, (double)(now_ms - at_ms) / MS_PER_DAY);
}

/* Raw (untransformed) factor values plus what the details need. */
struct raw {
    double v[CP_CF_CNT];
    double usual, recency, rate_s, rate_l, eng_s, eng_l, waits;
};

static void raw_features(const struct cp_churn_model *m,
                         const struct cp_churn_state *st, int64_t now_ms,
                         struct raw *rw)
{
    double *v = rw->v;
    double hs = m->hl_short_days, hl = m->hl_long_days;
    double hg = m->hl_signal_days;
    double floor_rate = 0.1 / m->prior_interval_days;

    memset(rw, 0, sizeof(*rw));
    now_ms = clamp64(now_ms, 0, AT_MAX_MS);
    if (st->orders > 0 && st->first_order_ms != INT64_MIN) {
        double T = age_days(now_ms, st->first_order_ms);
        double t_x =
            fmin(T, fmax(0, (double)(st->last_order_ms - st->first_order_ms) /
                                MS_PER_DAY));
        double ord_l;

        v[CP_CF_HORIZON_SILENCE] =
            cp__churn_bgnbd_pnone(m->r, m->alpha_days, m->a, m->b,
                                  repeat_days(st), t_x, T, m->horizon_days);
        rw->usual = cp__churn_usual_interval(m, st);
        rw->recency = age_days(now_ms, st->last_order_ms);
        v[CP_CF_ORDER_SILENCE] = rw->recency / rw->usual;
        v[CP_CF_ORDERS_RECENT] = decayed_at(st, st->ord_short, hs, now_ms);
        ord_l = decayed_at(st, st->ord_long, hl, now_ms);
        v[CP_CF_ORDERS_LONG] = ord_l;
        /* A decayed count over half-life h estimates rate * h / ln 2. */
        rw->rate_s = v[CP_CF_ORDERS_RECENT] * CP_LN2 / hs;
        rw->rate_l = ord_l * CP_LN2 / hl;
        v[CP_CF_ORDER_DROP] =
            log((rw->rate_l + floor_rate) / (rw->rate_s + floor_rate));
        v[CP_CF_FREQUENCY] = st->orders;
        v[CP_CF_MONETARY] =
            ord_l > 1e-30 ? decayed_at(st, st->amt_long, hl, now_ms) / ord_l
                          : 0;
        /* Recency against the own rhythm, weighed by how much the customer
         * used to buy: a frequent buyer gone quiet says more than a rare
         * one (the interaction of recency with frequency). */
        v[CP_CF_SILENCE_X_ORDERS] =
            log1p(v[CP_CF_ORDER_SILENCE]) * log1p(ord_l);
    } else {
        v[CP_CF_NO_ORDERS] = 1;
    }
    v[CP_CF_TENURE] = age_days(now_ms, st->first_seen_ms);
    v[CP_CF_OPEN_TICKETS] = st->open_tickets;
    if (st->open_tickets > 0)
        v[CP_CF_TICKET_AGE] =
            fmin(3650, age_days(now_ms, st->open_sum_ms / st->open_tickets));
    v[CP_CF_TICKETS_RECENT] = decayed_at(st, st->tickets, hg, now_ms);
    if (st->last_nps >= 0)
        v[CP_CF_NPS_LOW] = (10 - st->last_nps) / 10.0 *
                           exp2(-age_days(now_ms, st->nps_at_s * 1000LL) / hg);
    if (st->last_csat >= 0)
        v[CP_CF_CSAT_LOW] =
            (5 - st->last_csat) / 4.0 *
            exp2(-age_days(now_ms, st->csat_at_s * 1000LL) / hg);
    if (st->last_ces >= 0)
        v[CP_CF_CES_HIGH] = (st->last_ces - 1) / 6.0 *
                            exp2(-age_days(now_ms, st->ces_at_s * 1000LL) / hg);
    v[CP_CF_RESPONSE_WAIT] = decayed_at(st, st->wait_h, hg, now_ms);
    rw->waits = decayed_at(st, st->waits, hg, now_ms);
    v[CP_CF_MISSED_CALLS] = decayed_at(st, st->missed, hg, now_ms);
    v[CP_CF_DEALS_LOST] = decayed_at(st, st->lost, hg, now_ms);
    v[CP_CF_DEALS_WON] = decayed_at(st, st->won, hg, now_ms);
    v[CP_CF_CANCELLATIONS] = decayed_at(st, st->cancels, hg, now_ms);
    v[CP_CF_MRR_LOST] = decayed_at(st, st->mrr_lost, hg, now_ms);
    v[CP_CF_RENEWALS] = decayed_at(st, st->renewals, hl, now_ms);
    rw->eng_s = decayed_at(st, st->eng_short, hg, now_ms) * CP_LN2 / hg;
    rw->eng_l = decayed_at(st, st->eng_long, hl, now_ms) * CP_LN2 / hl;
    if (st->eng_long > 0)
        v[CP_CF_ENGAGEMENT_DROP] = log((rw->eng_l + 0.02) / (rw->eng_s + 0.02));
}

static double transform(const struct cp_churn_factor_param *fp, double v)
{
    if (isnan(v))
        v = 0;
    if (v == 0 && fp->transform != CP_TR_LOGIT) {
        /* log1p(0) = 0: the common case of a signal never seen. */
    } else if (fp->transform == CP_TR_LOG1P) {
        v = v >= 0 ? log1p(v) : -log1p(-v); /* odd, so signs survive */
    } else if (fp->transform == CP_TR_LOGIT) {
        /* Log-odds of a probability; the clamp keeps 0 and 1 finite. */
        v = v < 1e-9 ? 1e-9 : v > 1 - 1e-9 ? 1 - 1e-9 : v;
        v = log(v / (1 - v));
    }
    return v < fp->lo ? fp->lo : v > fp->hi ? fp->hi : v;
}

static void features_from_raw(const struct cp_churn_model *m,
                              const struct raw *rw, double x[CP_CF_CNT])
{
    int no_orders = rw->v[CP_CF_NO_ORDERS] > 0.5;

    for (int i = 0; i < CP_CF_CNT; i++) {
        /* Order factors mean nothing without orders: the typical value,
         * so no_orders alone carries that case. */
        if (no_orders && i < CP_CF_ORDER_GROUP_END && i != CP_CF_NO_ORDERS &&
            i != CP_CF_TENURE)
            x[i] = m->f[i].ref;
        else
            x[i] = transform(&m->f[i], rw->v[i]);
    }
}

void cp__churn_features(const struct cp_churn_model *m,
                        const struct cp_churn_state *st, int64_t now_ms,
                        double x[CP_CF_CNT])
{
    struct raw rw;

    raw_features(m, st, now_ms, &rw);
    features_from_raw(m, &rw, x);
}

/* ------------------------------------------------------------------ */
/* Score and reasons                                                   */

/* YYYY-MM-DD of @p s seconds since the epoch (proleptic Gregorian, UTC). */
static void fmt_date(char *buf, size_t cap, int64_t s)
{
    int64_t z = (s >= 0 ? s : s - 86399) / 86400 + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t mo = mp < 10 ? mp + 3 : mp - 9;

    snprintf(buf, cap, "%04d-%02d-%02d", (int)(y + (mo <= 2)), (int)mo, (int)d);
}

static int iround(double v)
{
    if (!(v > -1e9))
        return -1000000000;
    if (v > 1e9)
        return 1000000000;
    return (int)lround(v);
}

static const char *plural(double n)
{
    return iround(n) == 1 ? "" : "s";
}

static void detail(const struct cp_churn_model *m,
                   const struct cp_churn_state *st, const struct raw *rw, int f,
                   int64_t now_ms, char *buf, size_t cap)
{
    const double *v = rw->v;
    int win_s = iround(m->hl_short_days / CP_LN2);
    int win_l = iround(m->hl_long_days / CP_LN2);
    int win_g = iround(m->hl_signal_days / CP_LN2);
    char date[48]; /* room for any int fields, to please -Wformat-truncation */
    int n;

    switch (f) {
    case CP_CF_HORIZON_SILENCE:
        cp_fmt(buf, cap, "%d%% chance of no order in the next %d days",
               iround(100 * v[f]), iround(m->horizon_days));
        break;
    case CP_CF_ORDER_SILENCE:
        cp_fmt(buf, cap, "no order for %d days; usually every %d days",
               iround(rw->recency), iround(fmax(1, rw->usual)));
        break;
    case CP_CF_ORDERS_RECENT:
        cp_fmt(buf, cap,
               "few recent orders: about %.1f in the last %d "
               "days",
               v[f], win_s);
        break;
    case CP_CF_ORDERS_LONG:
        cp_fmt(buf, cap,
               "few orders over time: about %.1f in the last %d "
               "days",
               v[f], win_l);
        break;
    case CP_CF_ORDER_DROP:
        cp_fmt(buf, cap, "orders down %d%% vs. usual",
               iround(100 * (1 - exp(-v[f]))));
        break;
    case CP_CF_FREQUENCY:
        cp_fmt(buf, cap, "only %u order%s so far", st->orders,
               st->orders == 1 ? "" : "s");
        break;
    case CP_CF_MONETARY:
        cp_fmt(buf, cap, "small average check: %.2f", v[f]);
        break;
    case CP_CF_NO_ORDERS:
        cp_fmt(buf, cap, "no order yet");
        break;
    case CP_CF_TENURE:
        cp_fmt(buf, cap, "customer for %d days", iround(v[f]));
        break;
    case CP_CF_SILENCE_X_ORDERS:
        cp_fmt(buf, cap,
               "no order for %d days after about %.1f orders in the last "
               "%d days",
               iround(rw->recency), v[CP_CF_ORDERS_LONG], win_l);
        break;
    case CP_CF_OPEN_TICKETS:
    case CP_CF_TICKET_AGE:
        if (st->open_tickets == 1)
            cp_fmt(buf, cap, "1 ticket open for %d days",
                   iround(v[CP_CF_TICKET_AGE]));
        else
            cp_fmt(buf, cap, "%u tickets open, %d days on average",
                   st->open_tickets, iround(v[CP_CF_TICKET_AGE]));
        break;
    case CP_CF_TICKETS_RECENT:
        cp_fmt(buf, cap, "%d ticket%s opened in the last %d days", iround(v[f]),
               plural(v[f]), win_g);
        break;
    case CP_CF_NPS_LOW:
        fmt_date(date, sizeof(date), st->nps_at_s);
        cp_fmt(buf, cap, "NPS %d on %s", st->last_nps, date);
        break;
    case CP_CF_CSAT_LOW:
        fmt_date(date, sizeof(date), st->csat_at_s);
        cp_fmt(buf, cap, "CSAT %d of 5 on %s", st->last_csat, date);
        break;
    case CP_CF_CES_HIGH:
        fmt_date(date, sizeof(date), st->ces_at_s);
        cp_fmt(buf, cap, "effort score CES %d of 7 on %s", st->last_ces, date);
        break;
    case CP_CF_RESPONSE_WAIT:
        n = iround(rw->waits);
        cp_fmt(buf, cap,
               "waited %.1f hours for first replies in the last "
               "%d days (%d conversation%s)",
               v[f], win_g, n, n == 1 ? "" : "s");
        break;
    case CP_CF_MISSED_CALLS:
        cp_fmt(buf, cap, "%d missed call%s in the last %d days", iround(v[f]),
               plural(v[f]), win_g);
        break;
    case CP_CF_DEALS_LOST:
        cp_fmt(buf, cap, "%d lost deal%s in the last %d days", iround(v[f]),
               plural(v[f]), win_g);
        break;
    case CP_CF_DEALS_WON:
        cp_fmt(buf, cap, "no deal won in the last %d days", win_g);
        break;
    case CP_CF_CANCELLATIONS:
        fmt_date(date, sizeof(date),
                 st->last_cancel_ms == INT64_MIN ? 0
                                                 : st->last_cancel_ms / 1000);
        cp_fmt(buf, cap, "cancelled a subscription on %s", date);
        break;
    case CP_CF_MRR_LOST:
        cp_fmt(buf, cap,
               "cancelled subscriptions worth %.2f a month (last %d "
               "days)",
               v[f], win_g);
        break;
    case CP_CF_RENEWALS:
        cp_fmt(buf, cap, "no subscription renewed in the last %d days", win_l);
        break;
    case CP_CF_ENGAGEMENT_DROP:
        cp_fmt(buf, cap, "web visits and messages down %d%% vs. usual",
               iround(100 * (1 - exp(-v[f]))));
        break;
    default: /* every factor has its case above */
        cp_fmt(buf, cap, "%s", "");
        break;
    }
    (void)now_ms;
}

static double sigmoid(double z)
{
    z = fmin(50, fmax(-50, z));
    return 1.0 / (1.0 + exp(-z));
}

static enum cp_churn_level level_of(const struct cp_churn_model *m, double s)
{
    if (s >= m->thr_critical)
        return CP_LEVEL_CRITICAL;
    if (s >= m->thr_high)
        return CP_LEVEL_HIGH;
    return CP_LEVEL_NONE;
}

/* The probability as shown and stored: never 0 % nor 100 %. */
static double shown_p(double z)
{
    return fmin(CP_CHURN_P_MAX, fmax(CP_CHURN_P_MIN, sigmoid(z)));
}

/* Score only (no reasons). */
static double score_only(const struct cp_churn_model *m,
                         const struct cp_churn_state *st, int64_t now_ms)
{
    double x[CP_CF_CNT];
    double z = m->bias;

    cp__churn_features(m, st, now_ms, x);
    for (int i = 0; i < CP_CF_CNT; i++)
        z += m->f[i].weight * x[i];
    return shown_p(z);
}

/* How far a detractor answer counts: NPS 0..6, CSAT 1..2, CES 5..7; the
 * worst answer 1, the mildest detractor 1/7 (NPS 6), 1/2 (CSAT 2), 1/3
 * (CES 5); promoters and passives 0. */
static double nps_detractor(int nps)
{
    return nps >= 0 && nps <= 6 ? (7 - nps) / 7.0 : 0;
}

static double csat_detractor(int csat)
{
    return csat >= 1 && csat <= 2 ? (3 - csat) / 2.0 : 0;
}

static double ces_detractor(int ces)
{
    return ces >= 5 ? (ces - 4) / 3.0 : 0;
}

/* Fading of a survey answer given at @p at_s (s) seen at @p now_ms. */
static double fading(const struct cp_churn_model *m, int64_t now_ms,
                     uint32_t at_s)
{
    return exp2(-age_days(now_ms, at_s * 1000LL) / m->hl_signal_days);
}

/* The usual days between a customer's contacts (orders, web visits,
 * inbound messages), from their own rates: orders at the usual interval,
 * visits and messages from their long-run decayed count over the window
 * seen so far (a decayed count over a window of w days estimates
 * rate * h / ln 2 * (1 - 2^(-w/h))). 0 (unknown) before three visits or
 * messages over a week. */
static double usual_activity_days(const struct cp_churn_model *m,
                                  const struct cp_churn_state *st)
{
    double rate = 0, h = m->hl_long_days, span, d;

    if (st->first_seen_ms == INT64_MIN || st->last_seen_ms == INT64_MIN)
        return 0;
    span = age_days(st->last_seen_ms, st->first_seen_ms);
    d = decayed_at(st, st->eng_long, h, st->last_seen_ms);
    if (d >= 2.5 && span >= 7)
        rate = d * CP_LN2 / (h * (1 - exp2(-span / h)));
    if (st->orders > 0)
        rate += 1 / cp__churn_usual_interval(m, st);
    return rate > 0 ? fmax(1.0 / 24, 1 / rate) : 0;
}

/* Does the latest cancellation stand at @p now_ms? Not before it is
 * evidence.cancel_grace_days old, and not when a subscription started from
 * that long before it on: a plan change cancels one subscription and
 * starts another, a win-back starts one again; either retracts it. */
static int cancel_stands(const struct cp_churn_model *m,
                         const struct cp_churn_state *st, int64_t now_ms)
{
    double grace_ms = m->cancel_grace_days * MS_PER_DAY;

    if (st->last_cancel_ms == INT64_MIN)
        return 1; /* a cancellation without its time (none seen) */
    if ((double)(now_ms - st->last_cancel_ms) < grace_ms)
        return 0;
    return st->last_start_ms == INT64_MIN ||
           (double)(st->last_cancel_ms - st->last_start_ms) > grace_ms;
}

/* The worst of the latest NPS, CSAT and CES answers as a detractor degree
 * (0..1), each fading with the signal half-life. */
static double detractor_degree(const struct cp_churn_model *m,
                               const struct cp_churn_state *st, int64_t now_ms)
{
    double d = 0;

    if (st->last_nps >= 0)
        d = fmax(d,
                 nps_detractor(st->last_nps) * fading(m, now_ms, st->nps_at_s));
    if (st->last_csat >= 0)
        d = fmax(d, csat_detractor(st->last_csat) *
                        fading(m, now_ms, st->csat_at_s));
    if (st->last_ces >= 0)
        d = fmax(d,
                 ces_detractor(st->last_ces) * fading(m, now_ms, st->ces_at_s));
    return d;
}

/* The kinds of complaint a customer shows at @p now_ms, as bits: a
 * detractor answer (degree at least 1/4 after fading), a ticket open past
 * the usual resolution, a missed call (decayed count at least 1/2), replies
 * kept waiting (decayed waits of a day, or a message unanswered for a
 * day within two signal half-lives). A bad spell shows one or two; a
 * complaining churner most often more. */
enum { SIGN_DETRACTOR = 1, SIGN_TICKET = 2, SIGN_MISSED = 4, SIGN_WAITING = 8 };

static unsigned complaint_signs(const struct cp_churn_model *m,
                                const struct cp_churn_state *st, int64_t now_ms)
{
    double hg = m->hl_signal_days;
    unsigned b = 0;

    if (detractor_degree(m, st, now_ms) >= 0.25)
        b |= SIGN_DETRACTOR;
    if (st->open_tickets > 0 &&
        age_days(now_ms, st->open_sum_ms / st->open_tickets) >
            m->ticket_usual_days)
        b |= SIGN_TICKET;
    if (decayed_at(st, st->missed, hg, now_ms) >= 0.5)
        b |= SIGN_MISSED;
    if (decayed_at(st, st->wait_h, hg, now_ms) >= 24)
        b |= SIGN_WAITING;
    if (st->wait_since_ms != INT64_MIN) {
        double w = age_days(now_ms, st->wait_since_ms);

        if (w >= 1 && w <= 2 * hg)
            b |= SIGN_WAITING;
    }
    return b;
}

static int popcount4(unsigned b)
{
    return (int)(b & 1) + (int)(b >> 1 & 1) + (int)(b >> 2 & 1) +
           (int)(b >> 3 & 1);
}

void cp__churn_evidence(const struct cp_churn_model *m,
                        const struct cp_churn_state *st, int64_t now_ms,
                        double e[CP_E_CNT])
{
    double hg = m->hl_signal_days;

    memset(e, 0, sizeof(double) * CP_E_CNT);
    now_ms = clamp64(now_ms, 0, AT_MAX_MS);
    if (m->ev_weight[CP_E_CANCELLATION] > 0 && st->cancels > 0 &&
        cancel_stands(m, st, now_ms))
        e[CP_E_CANCELLATION] = decayed_at(st, st->cancels, hg, now_ms);
    if (m->ev_weight[CP_E_DETRACTOR] > 0)
        e[CP_E_DETRACTOR] = detractor_degree(m, st, now_ms);
    if (st->open_tickets > 0 && m->ev_weight[CP_E_TICKET_OVERDUE] > 0) {
        double age =
            fmin(3650, age_days(now_ms, st->open_sum_ms / st->open_tickets));

        e[CP_E_TICKET_OVERDUE] =
            log1p(fmax(0, age - m->ticket_usual_days) / m->ticket_usual_days);
    }
    if (m->ev_weight[CP_E_SLOW_REPLIES] > 0)
        e[CP_E_SLOW_REPLIES] =
            log1p(decayed_at(st, st->wait_h, hg, now_ms) / 24);
    if (m->ev_weight[CP_E_MISSED_CALLS] > 0)
        e[CP_E_MISSED_CALLS] = log1p(decayed_at(st, st->missed, hg, now_ms));
    if (m->ev_weight[CP_E_DEALS_LOST] > 0)
        e[CP_E_DEALS_LOST] = log1p(decayed_at(st, st->lost, hg, now_ms));
    if (st->orders > 0 && st->last_order_ms != INT64_MIN) {
        double rec = age_days(now_ms, st->last_order_ms);

        e[CP_E_SILENCE] =
            fmax(0, cp__churn_silence_surprise(m, st, rec) - m->silence_start);
        /* A fall needs a rate to fall from: two purchase days at least. */
        if (st->order_days >= 2 && m->ev_weight[CP_E_ORDER_DROP] > 0) {
            double floor_rate = 0.1 / m->prior_interval_days;
            double rs =
                decayed_at(st, st->ord_short, m->hl_short_days, now_ms) *
                CP_LN2 / m->hl_short_days;
            double rl = decayed_at(st, st->ord_long, m->hl_long_days, now_ms) *
                        CP_LN2 / m->hl_long_days;

            e[CP_E_ORDER_DROP] =
                fmax(0, log((rl + floor_rate) / (rs + floor_rate)));
        }
    }
    if (st->eng_long > 0 && m->ev_weight[CP_E_ENGAGEMENT_DROP] > 0) {
        double es = decayed_at(st, st->eng_short, hg, now_ms) * CP_LN2 / hg;
        double el = decayed_at(st, st->eng_long, m->hl_long_days, now_ms) *
                    CP_LN2 / m->hl_long_days;

        e[CP_E_ENGAGEMENT_DROP] = fmax(0, log((el + 0.02) / (es + 0.02)));
    }
    if (m->ev_weight[CP_E_INACTIVITY] > 0) {
        double usual = usual_activity_days(m, st);

        if (usual > 0)
            e[CP_E_INACTIVITY] =
                fmax(0, age_days(now_ms, st->last_seen_ms) / usual -
                            m->silence_start);
    }
    /* A message still waiting for a reply: ln(1 + days waited so far), as
     * slow_replies counts the waits that have ended, fading with the
     * signal half-life (a reply the state never sees, e.g. by phone, must
     * not weigh forever). */
    if (st->wait_since_ms != INT64_MIN && m->ev_weight[CP_E_UNANSWERED] > 0) {
        double d = age_days(now_ms, st->wait_since_ms);

        e[CP_E_UNANSWERED] = log1p(d) * exp2(-d / hg);
    }
    /* Several kinds of complaint at once: each kind beyond the first. */
    if (m->ev_weight[CP_E_COMPLAINT_SIGNS] > 0)
        e[CP_E_COMPLAINT_SIGNS] =
            fmax(0, popcount4(complaint_signs(m, st, now_ms)) - 2);
    for (int i = 0; i < CP_E_CNT; i++)
        e[i] = isfinite(e[i]) ? fmin(e[i], m->ev_clip[i]) : 0;
}

/* P(a churn episode | the evidence of change) and each term's share. */
static double evidence_of(const struct cp_churn_model *m,
                          const struct cp_churn_state *st, int64_t now_ms,
                          double c[CP_E_CNT])
{
    double e[CP_E_CNT], z = m->ev_bias;

    cp__churn_evidence(m, st, now_ms, e);
    for (int i = 0; i < CP_E_CNT; i++) {
        c[i] = m->ev_weight[i] * e[i];
        z += c[i];
    }
    return sigmoid(z);
}

/* Recent monthly spend in minor units: the long-run decayed amount as a
 * rate (sum * ln 2 / h per day) times an average month. */
static int64_t monthly_value(const struct cp_churn_model *m,
                             const struct cp_churn_state *st, int64_t now_ms)
{
    double v = decayed_at(st, st->amt_long, m->hl_long_days, now_ms) * CP_LN2 /
               m->hl_long_days * 30.436875 * 100;

    return isfinite(v) ? (int64_t)llround(fmin(v, 1e15)) : 0;
}

void cp_churn_score_at(const struct cp_churn_model *m,
                       const struct cp_churn_state *st, int64_t now_ms,
                       struct cp_churn_score *out)
{
    double c[CP_E_CNT];

    now_ms = clamp64(now_ms, 0, AT_MAX_MS);
    out->score = score_only(m, st, now_ms);
    out->evidence = evidence_of(m, st, now_ms, c);
    out->level = level_of(m, out->evidence);
    out->reason_cnt = 0;
    out->action[0] = '\0';
    out->value_minor = monthly_value(m, st, now_ms);
    out->value_at_risk_minor =
        (int64_t)llround(out->score * (double)out->value_minor);
}

/* The score factor whose sentence tells an evidence term's story. */
static int evidence_factor(const struct cp_churn_state *st, int e,
                           int64_t now_ms, const struct cp_churn_model *m)
{
    switch (e) {
    case CP_E_CANCELLATION:
        return CP_CF_CANCELLATIONS;
    case CP_E_DETRACTOR: {
        double n = st->last_nps >= 0 ? nps_detractor(st->last_nps) *
                                           fading(m, now_ms, st->nps_at_s)
                                     : 0;
        double c = st->last_csat >= 0 ? csat_detractor(st->last_csat) *
                                            fading(m, now_ms, st->csat_at_s)
                                      : 0;
        double x = st->last_ces >= 0 ? ces_detractor(st->last_ces) *
                                           fading(m, now_ms, st->ces_at_s)
                                     : 0;

        return n >= c && n >= x ? CP_CF_NPS_LOW
               : c >= x         ? CP_CF_CSAT_LOW
                                : CP_CF_CES_HIGH;
    }
    case CP_E_TICKET_OVERDUE:
        return CP_CF_TICKET_AGE;
    case CP_E_SLOW_REPLIES:
        return CP_CF_RESPONSE_WAIT;
    case CP_E_MISSED_CALLS:
        return CP_CF_MISSED_CALLS;
    case CP_E_DEALS_LOST:
        return CP_CF_DEALS_LOST;
    case CP_E_SILENCE:
        return CP_CF_ORDER_SILENCE;
    case CP_E_ORDER_DROP:
        return CP_CF_ORDER_DROP;
    case CP_E_INACTIVITY:
    case CP_E_UNANSWERED:
    case CP_E_COMPLAINT_SIGNS:
        return CP_CF_TENURE; /* its own sentence; nothing else to hide */
    default:
        return CP_CF_ENGAGEMENT_DROP;
    }
}

/* "3 kinds of complaint at once: a detractor answer, an overdue ticket,
 * missed calls" for the bits of complaint_signs(). */
static void signs_detail(unsigned b, char *buf, size_t cap)
{
    static const char *const what[] = {"a detractor answer",
                                       "an overdue ticket", "missed calls",
                                       "replies kept waiting"};
    size_t n = (size_t)cp_fmt(buf, cap,
                              "%d kinds of complaint at once:", popcount4(b));
    const char *sep = " ";

    for (int i = 0; i < 4; i++) {
        if (!(b >> i & 1) || n >= cap)
            continue;
        n += (size_t)cp_fmt(buf + n, cap - n, "%s%s", sep, what[i]);
        sep = ", ";
    }
}

void cp_churn_evaluate(const struct cp_churn_model *m,
                       const struct cp_churn_state *st, int64_t now_ms,
                       struct cp_churn_score *out)
{
    struct raw rw;
    double x[CP_CF_CNT], c[CP_CF_CNT], ce[CP_E_CNT];
    double z = m->bias;
    int used[CP_CF_CNT] = {0}, eused[CP_E_CNT] = {0};

    now_ms = clamp64(now_ms, 0, AT_MAX_MS);
    raw_features(m, st, now_ms, &rw);
    features_from_raw(m, &rw, x);
    for (int i = 0; i < CP_CF_CNT; i++) {
        z += m->f[i].weight * x[i];
        c[i] = m->f[i].weight * (x[i] - m->f[i].ref);
    }
    memset(out, 0, sizeof(*out));
    out->score = shown_p(z);
    out->evidence = evidence_of(m, st, now_ms, ce);
    out->level = level_of(m, out->evidence);
    out->value_minor = monthly_value(m, st, now_ms);
    out->value_at_risk_minor =
        (int64_t)llround(out->score * (double)out->value_minor);
    /* open_tickets and ticket_age share one sentence: one reason for both,
     * under the larger contribution's name. */
    if (c[CP_CF_OPEN_TICKETS] > 0 && c[CP_CF_TICKET_AGE] > 0) {
        int lo = c[CP_CF_OPEN_TICKETS] < c[CP_CF_TICKET_AGE]
                     ? CP_CF_OPEN_TICKETS
                     : CP_CF_TICKET_AGE;

        c[CP_CF_OPEN_TICKETS + CP_CF_TICKET_AGE - lo] += c[lo];
        c[lo] = 0;
    }
    /* The evidence of change first (what an alert is about), each with the
     * sentence of its factor; then what makes the probability high. */
    while (out->reason_cnt < 3) {
        int best = -1, f;
        struct cp_churn_reason *r;

        for (int i = 0; i < CP_E_CNT; i++)
            if (!eused[i] && ce[i] > 1e-6 && (best < 0 || ce[i] > ce[best]))
                best = i;
        if (best < 0)
            break;
        eused[best] = 1;
        f = evidence_factor(st, best, now_ms, m);
        used[f] = 1;
        if (f == CP_CF_TICKET_AGE)
            used[CP_CF_OPEN_TICKETS] = 1;
        if (f == CP_CF_ORDER_SILENCE) /* the same silence, told once */
            used[CP_CF_SILENCE_X_ORDERS] = 1;
        r = &out->reasons[out->reason_cnt++];
        snprintf(r->factor, sizeof(r->factor), "%s",
                 cp__churn_evidence_names[best]);
        r->contribution = ce[best];
        if (best == CP_E_UNANSWERED)
            cp_fmt(r->detail, sizeof(r->detail),
                   "a message waiting for a reply for %.1f days",
                   age_days(now_ms, st->wait_since_ms));
        else if (best == CP_E_COMPLAINT_SIGNS)
            signs_detail(complaint_signs(m, st, now_ms), r->detail,
                         sizeof(r->detail));
        else if (best == CP_E_INACTIVITY)
            cp_fmt(r->detail, sizeof(r->detail),
                   "no contact for %d days; usually every %d days",
                   iround(age_days(now_ms, st->last_seen_ms)),
                   iround(fmax(1, usual_activity_days(m, st))));
        else
            detail(m, st, &rw, f, now_ms, r->detail, sizeof(r->detail));
        if (out->reason_cnt == 1)
            cp_fmt(out->action, sizeof(out->action), "%s: %s", m->action[best],
                   r->detail);
    }
    while (out->reason_cnt < 3) {
        int best = -1;

        for (int i = 0; i < CP_CF_CNT; i++)
            if (!used[i] && c[i] > 1e-6 && (best < 0 || c[i] > c[best]))
                best = i;
        if (best < 0)
            break;
        used[best] = 1;
        struct cp_churn_reason *r = &out->reasons[out->reason_cnt++];

        snprintf(r->factor, sizeof(r->factor), "%s",
                 cp__churn_factor_names[best]);
        r->contribution = c[best];
        detail(m, st, &rw, best, now_ms, r->detail, sizeof(r->detail));
    }
}

/* ------------------------------------------------------------------ */
/* Alerts and the silence timer                                        */

enum cp_churn_level cp_churn_decide(const struct cp_churn_model *m,
                                    struct cp_churn_state *st,
                                    const struct cp_churn_score *sc,
                                    int64_t now_ms)
{
    double s = isfinite(sc->evidence) ? sc->evidence : 0;
    enum cp_churn_level lvl = level_of(m, s);
    int64_t cooldown_ms = (int64_t)llround(m->cooldown_days * MS_PER_DAY);

    now_ms = clamp64(now_ms, 0, AT_MAX_MS);
    st->last_score =
        (float)(isfinite(sc->score) ? fmin(1, fmax(0, sc->score)) : 0);
    /* Release latched levels the evidence has clearly left: the episode
     * is over. */
    while (st->alert_level > CP_LEVEL_NONE &&
           s < cp_churn_model_threshold(m, st->alert_level) - m->hysteresis)
        st->alert_level--;
    /* One alert per episode: a rise within one (HIGH -> CRITICAL) moves
     * the latch without a second alert. */
    if (st->alert_level > CP_LEVEL_NONE) {
        if ((int)lvl > st->alert_level)
            st->alert_level = (uint8_t)lvl;
        return CP_LEVEL_NONE;
    }
    if (lvl == CP_LEVEL_NONE)
        return CP_LEVEL_NONE;
    /* Not an escalation past the last alert: wait out the cooldown. */
    if (st->last_alert_ms != INT64_MIN && (int)lvl <= st->last_alert_lvl &&
        now_ms < st->last_alert_ms + cooldown_ms)
        return CP_LEVEL_NONE;
    st->alert_level = (uint8_t)lvl;
    st->last_alert_lvl = (uint8_t)lvl;
    st->last_alert_ms = now_ms;
    return lvl;
}

/* Would cp_churn_decide() at @p t, with no new observation, alert or
 * release a latch? The same evidence cp_churn_score_at() computes. */
static int decide_changes(const struct cp_churn_model *m,
                          const struct cp_churn_state *st, int64_t t)
{
    struct cp_churn_state cp = *st;
    struct cp_churn_score sc;
    double c[CP_E_CNT];

    sc.score = st->last_score;
    sc.evidence = evidence_of(m, st, t, c);
    if (cp_churn_decide(m, &cp, &sc, t) != CP_LEVEL_NONE)
        return 1;
    /* An episode ending (a latch released) matters; a latch moving up
     * within an episode alerts nothing and waits for the next look. */
    return cp.alert_level < st->alert_level;
}

/* cp_churn_next_due() searched no further than needed to tell whether it
 * is at most @p limit_ms: the same scan points and the same bisection, so
 * the same value when it is, and INT64_MAX when it is not. */
static int64_t next_due_until(const struct cp_churn_model *m,
                              const struct cp_churn_state *st, int64_t now_ms,
                              int64_t limit_ms)
{
    int64_t lo = now_ms, hi = -1, end;

    if (st->first_seen_ms == INT64_MIN)
        return INT64_MAX; /* nothing known: silence changes nothing */
    if (now_ms < 0 || now_ms > AT_MAX_MS - DUE_HORIZON_MS)
        return INT64_MAX;
    end = now_ms + DUE_HORIZON_MS;
    /* Coarse scan with steps of half the time elapsed (1 h .. 60 days),
     * then bisection down to a minute. Along a silence the evidence is
     * cheap to evaluate exactly (a few decayed sums and ages). */
    while (lo < end) {
        int64_t step =
            clamp64((lo - now_ms) / 2, MS_PER_HOUR, 60 * 24 * MS_PER_HOUR);
        int64_t t = min64(lo + step, end);

        if (decide_changes(m, st, t)) {
            hi = t;
            break;
        }
        lo = t;
        /* Nothing changes up to a scan point past the limit: the search
         * would go on beyond it and end there or later. */
        if (lo > limit_ms)
            return INT64_MAX;
    }
    if (hi < 0)
        return INT64_MAX;
    while (hi - lo > MS_PER_MIN) {
        int64_t mid = lo + (hi - lo) / 2;

        if (decide_changes(m, st, mid))
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

int64_t cp_churn_next_due(const struct cp_churn_model *m,
                          const struct cp_churn_state *st, int64_t now_ms)
{
    return next_due_until(m, st, now_ms, INT64_MAX);
}

int64_t cp_churn_next_due_by(const struct cp_churn_model *m,
                             const struct cp_churn_state *st, int64_t now_ms,
                             int64_t limit_ms)
{
    int64_t due = next_due_until(m, st, now_ms, limit_ms);

    return due <= limit_ms ? due : INT64_MAX;
}

/* ------------------------------------------------------------------ */
/* JSON and alert ids                                                  */

struct jw {
    char *buf;
    size_t cap, len;
};

static void jw_put(struct jw *w, const char *s, size_t n)
{
    if (w->len + n < w->cap)
        memcpy(w->buf + w->len, s, n);
    w->len += n;
}

/* Writes the first @p max bytes of @p s (fewer at a NUL) as a JSON string;
 * runs that need no escape are copied whole. */
static void jw_strn(struct jw *w, const char *s, size_t max)
{
    size_t i = 0;

    jw_put(w, "\"", 1);
    while (i < max && s[i]) {
        size_t run = i;
        unsigned char ch;
        char esc[8];

        while (run < max && (ch = (unsigned char)s[run]) >= 0x20 && ch != '"' &&
               ch != '\\')
            run++;
        jw_put(w, s + i, run - i);
        i = run;
        if (i >= max || !s[i])
            break;
        ch = (unsigned char)s[i++];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            jw_put(w, esc, 2);
        } else {
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
            jw_put(w, esc, 6);
        }
    }
    jw_put(w, "\"", 1);
}

size_t cp_churn_reasons_json(const struct cp_churn_score *sc, char *buf,
                             size_t cap)
{
    struct jw w = {buf, cap, 0};
    int n = sc->reason_cnt < 0 ? 0 : sc->reason_cnt > 3 ? 3 : sc->reason_cnt;

    jw_put(&w, "[", 1);
    for (int i = 0; i < n; i++) {
        const struct cp_churn_reason *r = &sc->reasons[i];
        char num[64];
        int n_num;
        double c = isfinite(r->contribution) ? r->contribution : 0;

        if (i)
            jw_put(&w, ",", 1);
        jw_put(&w, "{\"factor\":", 10);
        /* The fields may not be NUL-terminated in a caller's struct. */
        jw_strn(&w, r->factor, sizeof(r->factor) - 1);
        jw_put(&w, ",\"contribution\":", 16);
        n_num = cp_fixed_str(num, sizeof(num), c, 4);
        if (n_num > 0 && n_num < (int)sizeof(num))
            jw_put(&w, num, (size_t)n_num);
        else /* unreachable: contributions are bounded; keep it JSON */
            jw_put(&w, "0", 1);
        jw_put(&w, ",\"detail\":", 10);
        jw_strn(&w, r->detail, sizeof(r->detail) - 1);
        jw_put(&w, "}", 1);
    }
    jw_put(&w, "]", 1);
    if (w.len < cap) {
        buf[w.len] = '\0';
    } else if (cap >= 3) {
        memcpy(buf, "[]", 3);
    } else if (cap > 0) {
        buf[0] = '\0';
    }
    return w.len;
}

static void fnv_field(uint64_t h[2], const char *s)
{
    size_t n = s ? strlen(s) : 0;
    uint8_t pre[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16),
                      (uint8_t)(n >> 24)};

    /* Length-prefixed, so ("ab","c") and ("a","bc") differ. */
    for (int i = 0; i < 4; i++) {
        h[0] = (h[0] ^ pre[i]) * 0x100000001b3ULL;
        h[1] = (h[1] ^ (uint8_t)(pre[i] ^ 0xa5)) * 0x100000001b3ULL;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];

        h[0] = (h[0] ^ c) * 0x100000001b3ULL;
        h[1] = (h[1] ^ (uint8_t)(c ^ 0xa5)) * 0x100000001b3ULL;
    }
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void cp_churn_alert_id(const char *tenant, const char *customer,
                       const char *kind, enum cp_churn_level level,
                       const char *trigger, char out[33])
{
    uint64_t h[2] = {0xcbf29ce484222325ULL, 0x6c62272e07bb0142ULL};

    fnv_field(h, tenant);
    fnv_field(h, customer);
    fnv_field(h, kind);
    fnv_field(h, cp_churn_level_name(level));
    fnv_field(h, trigger);
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)mix64(h[0]),
             (unsigned long long)mix64(h[1]));
}
