/* SPDX-License-Identifier: Apache-2.0 */
/* Synthetic CRM event streams: tenants, managers, channels, lead sources,
 * deal funnels, orders, conversations, calls, tickets, surveys,
 * subscriptions and web visits, deterministic for a seed (gen.c). Also
 * malformed messages, for DLQ tests (invalid.c), and a labelled churn
 * cohort (cohort.c): a history of customers of known profiles (healthy,
 * casual, fading, complaining, cancelling, silent, prospect) in tenants of
 * four kinds of business, with the time each churner's decline began, so
 * the churn model's quality can be measured. */
#ifndef CP_GEN_H
#define CP_GEN_H

#include <stdint.h>

#include "buf.h"
#include "codec.h"
#include "common.h"
#include "event.h"

struct cp_gen_config {
    uint64_t seed;      /* same seed, same stream */
    uint64_t customers; /* distinct customers over all tenants (>= 1) */
    int tenants;        /* >= 1 */
    int64_t start_ms;   /* event time of the first event */
    int64_t
        step_ms; /* mean event-time advance per event (0: all at start_ms) */
    int64_t step_us; /* if > 0: the advance in microseconds, instead of
                        step_ms (for more than 1000 events/s) */
};

struct cp_gen;

/** Ownership: caller owns the result; free with cp_gen_destroy(). */
struct cp_gen *cp_gen_new(const struct cp_gen_config *gcfg);
void cp_gen_destroy(struct cp_gen *gen);

/**
 * @brief The next event of the stream; every event is valid per the input
 *        contract when judged at a clock >= its occurred_at.
 * Ownership: strings in @p ev are borrowed from @p gen, valid until the
 *            next cp_gen_next() call.
 */
void cp_gen_next(struct cp_gen *gen, struct cp_event *ev);

/**
 * @brief Appends one malformed message value (bad framing, unknown schema id,
 *        truncated/trailing bytes, out-of-range enum or value, bad id charset,
 *        timestamp out of range, empty, ...) to @p out, chosen by the stream.
 * @returns a short label of the kind of damage (static string).
 */
const char *cp_gen_invalid(struct cp_gen *gen, struct cp_codec *codec,
                           struct cp_buf *out);

/** @brief Bytes the generator holds (customer state, follow-up queue,
 *         scratch buffers); constant after cp_gen_new() but for scratch. */
size_t cp_gen_mem_bytes(const struct cp_gen *gen);

/** @brief Writes the Kafka key "tenant:customer" of @p ev into @p out (reset
 * first). */
cp_rc cp_gen_key(const struct cp_event *ev, struct cp_buf *out);

/* ---- labelled churn cohort ---- */

/** What a cohort customer does. Fading .. silent churn: from their churn
 * start on they decline and then stop for good. */
enum cp_cohort_profile {
    CP_PROFILE_HEALTHY = 0, /* steady orders at its own interval, good NPS */
    CP_PROFILE_CASUAL,      /* rare but loyal: long regular intervals */
    CP_PROFILE_FADING,      /* orders thin out and shrink, then stop */
    CP_PROFILE_COMPLAINING, /* open tickets, bad surveys, slow replies,
                               missed calls, then stop */
    CP_PROFILE_CANCELLING,  /* cancels its subscription, bad NPS, stops */
    CP_PROFILE_SILENT,      /* a regular who stops: no event at all after */
    CP_PROFILE_PROSPECT,    /* never orders: visits, messages, a deal */
    CP_PROFILE_CNT
};

/** The kind of business of a cohort tenant: tenant t is t % 4. */
enum cp_cohort_business {
    CP_BUSINESS_RETAIL = 0, /* orders at the customer's rhythm */
    CP_BUSINESS_SAAS,       /* subscription software: nearly everyone
                               subscribes, add-on orders are rare, logins
                               (web visits) and tickets frequent */
    CP_BUSINESS_B2B,        /* larger, slower orders; deals and calls */
    CP_BUSINESS_SERVICES,   /* appointments; surveys and calls frequent */
    CP_BUSINESS_CNT
};

struct cp_cohort_config {
    uint64_t seed;      /* same seed, same history */
    uint64_t customers; /* 1 .. CP_COHORT_CUSTOMERS_MAX, over all tenants */
    int tenants;        /* >= 1; customer i belongs to tenant i % tenants */
    int64_t end_ms;     /* no event after this event time */
    int days;           /* history length: CP_COHORT_DAYS_MIN .. _MAX */
    /* Relative shares of the profiles; all zero: the default mix (healthy
     * 36, casual 16, fading 12, complaining 10, cancelling 8, silent 12,
     * prospect 6). */
    unsigned mix[CP_PROFILE_CNT];
    /* 1: no noise: healthy and casual customers have no bad spells, no
     * holiday pauses, no plan changes, no slow tickets and no bad scores.
     * 0 (default): they do, now and then. */
    int no_noise;
};

#define CP_COHORT_CUSTOMERS_MAX 2000000
#define CP_COHORT_DAYS_MIN      21
#define CP_COHORT_DAYS_MAX      3650

/** One observation of the churn model, derived from one generated event. */
struct cp_cohort_obs {
    /** Observation name as the churn model spells it ("order", "nps",
     *  "response", ..., "activity" for an event that only shows the
     *  customer is there). Static string. */
    const char *name;
    /** order: amount_minor; nps/csat/ces: score; response: the wait in ms
     *  (reply time minus the first unanswered message, known here by
     *  construction where the worker pairs the messages);
     *  ticket_resolved: opened_at ms of the ticket; sub_cancelled:
     *  mrr_minor; else 0. */
    int64_t value;
};

/** The label of one cohort customer. */
struct cp_cohort_label {
    const char *tenant_id; /* borrowed from the cohort, NUL-terminated */
    char customer_id[16];  /* "cust-000123" */
    enum cp_cohort_profile profile;
    enum cp_cohort_business business; /* of its tenant */
    const char *manager_id; /* its manager, borrowed from the cohort */
    int churned;            /* a churner whose churn start is <= end_ms */
    int64_t churn_start_ms; /* the decline begins (churners, also when after
                               end_ms); INT64_MAX for healthy, casual and
                               prospects */
    int64_t first_ms;       /* its first event (an order; a web visit for a
                               prospect) */
    int64_t interval_ms;    /* its usual time between orders (pre-decline);
                               0 for a prospect */
};

struct cp_cohort;

/**
 * @brief Plans a cohort: every customer's profile, rhythm and churn start
 *        are drawn here; events come from cp_cohort_next().
 * @returns a cohort the caller owns (cp_cohort_destroy()), or NULL with a
 *          message in @p errstr (bad config, out of memory).
 */
struct cp_cohort *cp_cohort_new(const struct cp_cohort_config *ccfg,
                                char *errstr, size_t errstr_size);

/** @brief Frees @p co; NULL is a no-op. */
void cp_cohort_destroy(struct cp_cohort *co);

/**
 * @brief The next event of the history, in event-time order over all
 *        customers (so also per customer), every event valid per the input
 *        contract when judged at a clock >= end_ms; and the observation the
 *        churn model makes of it.
 * Ownership: strings in @p ev are borrowed from @p co, valid until the next
 *            call.
 * @returns 1 with an event, 0 when the history is complete (and on every
 *          later call).
 */
int cp_cohort_next(struct cp_cohort *co, struct cp_event *ev,
                   struct cp_cohort_obs *obs);

/** @brief Customers of the cohort (the config's count). */
uint64_t cp_cohort_customers(const struct cp_cohort *co);

/** @brief Customers of profile @p p. */
uint64_t cp_cohort_profile_count(const struct cp_cohort *co,
                                 enum cp_cohort_profile p);

/** @brief First instant of the history (end_ms - days). */
int64_t cp_cohort_start_ms(const struct cp_cohort *co);

/**
 * @brief The label of customer @p i (0 <= i < cp_cohort_customers()); known
 *        from cp_cohort_new() on, whatever the events read so far.
 */
void cp_cohort_label(const struct cp_cohort *co, uint64_t i,
                     struct cp_cohort_label *out);

/** @brief "healthy", "casual", "fading", "complaining", "cancelling",
 *         "silent", "prospect"; NULL when out of range. */
const char *cp_cohort_profile_name(enum cp_cohort_profile p);

/** @brief The population a profile belongs to, as the churn benchmark
 *         reports it: "healthy", "rare_loyal" (casual), "loud_churner"
 *         (complaining, cancelling: explicit signals), "quiet_churner"
 *         (fading, silent: they only slow down and go silent), "prospect";
 *         NULL when out of range. */
const char *cp_cohort_population_name(enum cp_cohort_profile p);

/** @brief "retail", "saas", "b2b", "services"; NULL when out of range. */
const char *cp_cohort_business_name(enum cp_cohort_business b);

#endif
