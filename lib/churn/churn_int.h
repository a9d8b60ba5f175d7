/* SPDX-License-Identifier: Apache-2.0 */
/* Churn model internals shared with crmpulse-fit and the tests: the model's
 * fields, the factor table, the raw feature vector and the model writer. */
#ifndef CP_CHURN_INT_H
#define CP_CHURN_INT_H

#include <stdio.h>

#include "churn.h"

/* Units and bounds shared by the model file, the engine and packing. */
#define CP_LN2      0.69314718055994530942
#define MS_PER_DAY  86400000.0
#define MS_PER_HOUR 3600000LL
#define MS_PER_MIN  60000LL
/* Event times are clamped to [0, 2^32 s): seconds fit a uint32 and every
 * date from 1970 to 2106 is representable. */
#define AT_MAX_MS (4294967295LL * 1000)
/* Forward-decay weights are 2^((t - landmark) / halflife): the landmark is
 * moved once a weight would pass 2^RENORM_HALVES, so float sums stay far
 * from overflow for any span of time. */
#define RENORM_HALVES 32.0
/* How far cp_churn_next_due() looks ahead. */
#define DUE_HORIZON_MS (3LL * 365 * 86400000)

#define PACK_VERSION 2

/* The factors, in model-file order. Keep cp__churn_factor_names[] and the
 * feature code in churn.c in step. */
enum cp_churn_factor {
    CP_CF_HORIZON_SILENCE,  /* BG/NBD P(no order within the horizon) */
    CP_CF_ORDER_SILENCE,    /* days since last order / usual interval */
    CP_CF_ORDERS_RECENT,    /* decayed order count, short half-life */
    CP_CF_ORDERS_LONG,      /* decayed order count, long half-life */
    CP_CF_ORDER_DROP,       /* log(long-run rate / recent rate) */
    CP_CF_FREQUENCY,        /* orders, all time */
    CP_CF_MONETARY,         /* average check, major units */
    CP_CF_NO_ORDERS,        /* 1 when the customer never ordered */
    CP_CF_TENURE,           /* days since first seen */
    CP_CF_SILENCE_X_ORDERS, /* ln(1 + order_silence) * ln(1 + orders_long) */
    CP_CF_OPEN_TICKETS,     /* tickets open now */
    CP_CF_TICKET_AGE,       /* mean age of the open tickets, days */
    CP_CF_TICKETS_RECENT,   /* decayed tickets opened */
    CP_CF_NPS_LOW,          /* (10 - NPS) / 10, fading with its age */
    CP_CF_CSAT_LOW,         /* (5 - CSAT) / 4, fading with its age */
    CP_CF_CES_HIGH,         /* (CES - 1) / 6, fading with its age */
    CP_CF_RESPONSE_WAIT,    /* decayed mean first-response wait, hours */
    CP_CF_MISSED_CALLS,     /* decayed missed inbound calls */
    CP_CF_DEALS_LOST,       /* decayed lost deals */
    CP_CF_DEALS_WON,        /* decayed won deals */
    CP_CF_CANCELLATIONS,    /* decayed subscription cancellations */
    CP_CF_MRR_LOST,         /* decayed MRR cancelled, major units */
    CP_CF_RENEWALS,         /* decayed subscription starts and renewals */
    CP_CF_ENGAGEMENT_DROP,  /* log(long-run / recent visits + messages) */
    CP_CF_CNT
};

/* Factors computed from orders alone (crmpulse-fit fits them first). */
#define CP_CF_ORDER_GROUP_END CP_CF_OPEN_TICKETS

extern const char *const cp__churn_factor_names[CP_CF_CNT];

/* The evidence of change the alert weighs, in model-file order. Keep
 * cp__churn_evidence_names[] and evidence_raw() in churn.c in step. */
enum cp_churn_evidence {
    CP_E_CANCELLATION,    /* decayed subscription cancellations */
    CP_E_DETRACTOR,       /* the worst detractor answer, fading */
    CP_E_TICKET_OVERDUE,  /* open tickets older than the usual resolution */
    CP_E_SLOW_REPLIES,    /* decayed days waited for first replies */
    CP_E_MISSED_CALLS,    /* decayed missed inbound calls */
    CP_E_DEALS_LOST,      /* decayed lost deals */
    CP_E_SILENCE,         /* no order for longer than the own rhythm */
    CP_E_ORDER_DROP,      /* recent order rate below the own long-run one */
    CP_E_ENGAGEMENT_DROP, /* visits and messages below the own rate */
    CP_E_INACTIVITY,      /* no event for longer than the own rhythm */
    CP_E_UNANSWERED,      /* an inbound message still waiting for a reply */
    CP_E_COMPLAINT_SIGNS, /* several kinds of complaint at once */
    CP_E_CNT
};

extern const char *const cp__churn_evidence_names[CP_E_CNT];

/* Room of an action text in the model (what a manager should do). */
#define CP_CHURN_ACTION_MAX 96

enum cp_churn_transform { CP_TR_NONE = 0, CP_TR_LOG1P = 1, CP_TR_LOGIT = 2 };

struct cp_churn_factor_param {
    double weight; /* w_i */
    double ref;    /* typical value: reasons are w_i * (x_i - ref_i) */
    int transform; /* enum cp_churn_transform, applied before the clip */
    double lo, hi; /* clip of the transformed value */
};

struct cp_churn_model {
    char version[64];
    double hl_short_days;  /* orders, recent */
    double hl_long_days;   /* orders and engagement, long run */
    double hl_signal_days; /* support, service, sales, subs, surveys */
    double prior_interval_days;
    double prior_weight;        /* pseudo-intervals of the prior */
    double r, alpha_days, a, b; /* BG/NBD population parameters */
    double horizon_days;
    double bias;
    struct cp_churn_factor_param f[CP_CF_CNT];
    double ev_bias;             /* prior log-odds of a churn episode */
    double ev_weight[CP_E_CNT]; /* log-likelihood ratio per unit */
    double ev_clip[CP_E_CNT];   /* largest value an evidence counts */
    double silence_start;       /* usual intervals before silence counts */
    double ticket_usual_days;   /* usual resolution time of a ticket */
    double cancel_grace_days;   /* a cancellation counts from this age */
    char action[CP_E_CNT][CP_CHURN_ACTION_MAX];
    double thr_high, thr_critical, hysteresis;
    double cooldown_days;
    int64_t sla_ms[8]; /* [0] no channel, [1 + c] channel c */
};

/**
 * @brief The transformed, clipped feature vector of @p st at @p now_ms (the
 *        x_i of the score). A customer with no orders gets ref_i for the
 *        order factors other than no_orders.
 */
void cp__churn_features(const struct cp_churn_model *m,
                        const struct cp_churn_state *st, int64_t now_ms,
                        double x[CP_CF_CNT]);

/**
 * @brief The evidence values (x_e, before weights) of @p st at @p now_ms.
 */
void cp__churn_evidence(const struct cp_churn_model *m,
                        const struct cp_churn_state *st, int64_t now_ms,
                        double e[CP_E_CNT]);

/** @brief BG/NBD P(alive | x repeat orders, t_x, T), times in days. */
double cp__churn_bgnbd_palive(double r, double alpha, double a, double b,
                              double x, double t_x, double T);

/** @brief BG/NBD P(no order in (T, T + h] | x, t_x, T), times in days. */
double cp__churn_bgnbd_pnone(double r, double alpha, double a, double b,
                             double x, double t_x, double T, double h);

/** @brief BG/NBD log-likelihood of one customer (x, t_x, T in days). */
double cp__churn_bgnbd_ll(double r, double alpha, double a, double b, double x,
                          double t_x, double T);

/** @brief Usual inter-order interval in days, shrunk toward the prior. */
double cp__churn_usual_interval(const struct cp_churn_model *m,
                                const struct cp_churn_state *st);

/**
 * @brief How unusual a silence of @p rec_days since the last order is for
 *        this customer: -ln P(no order in rec_days | alive), the order rate
 *        Gamma(gaps + prior_weight, span + prior_weight * prior_days) days.
 */
double cp__churn_silence_surprise(const struct cp_churn_model *m,
                                  const struct cp_churn_state *st,
                                  double rec_days);

/* deploy/model.conf, compiled in (model_default.c, generated). */
extern const char cp__churn_default_model[];
extern const size_t cp__churn_default_model_len;

/** @brief A copy of @p m the caller owns (NULL when out of memory). */
struct cp_churn_model *cp__churn_model_dup(const struct cp_churn_model *m);

/**
 * @brief Writes @p m in the model-file format, @p header (may be NULL)
 *        first as '#' comment lines. Parsing the output gives @p m back.
 * @returns CP_OK or CP_EIO.
 */
cp_rc cp__churn_model_write(const struct cp_churn_model *m, const char *header,
                            FILE *out);

#endif
