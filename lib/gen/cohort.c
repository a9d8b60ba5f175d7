/* SPDX-License-Identifier: Apache-2.0 */
/* The labelled churn cohort: a history of customers of known profiles
 * (healthy, casual, fading, complaining, cancelling, silent, prospect) in
 * tenants of four kinds of business, with the time each churner's decline
 * began, so that the churn model can be fitted and its quality measured.
 * Separate from the normal stream (gen.c); shares its PRNG and names
 * (gen_int.h). */
#include "gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"

/* ==== labelled churn cohort ====
 *
 * A history of customers with known profiles, so that the churn model can
 * be fitted and judged. Each customer runs a few recurring processes
 * (orders, web visits, conversations, calls, tickets, surveys, a
 * subscription, deals), each with the next event time it is due; a heap
 * over customers keyed on their earliest due time yields the events in
 * event-time order. A churner's processes change at its churn start (the
 * decline) and it stops for good at its stop time. Noise keeps the classes
 * apart only statistically: every customer may skip an order ("vacation"),
 * healthy ones have bad spells with tickets and bad scores and may cancel
 * and restart a subscription, casual ones have long irregular gaps, and a
 * churner may show a second profile's signs, or only some of its own. The
 * rates below are plausible for a small-business CRM; they are deliberately
 * round and not fitted to any data set. */

#define CO_DAY_MS   86400000LL
#define CO_HOUR_MS  3600000LL
#define CO_MIN_MS   60000LL
#define CO_NEVER    INT64_MAX
#define CO_TICKETS  4  /* tickets a customer can have open at once */
#define CO_SUB_DAYS 30 /* a subscription renews monthly */
/* A history shorter than this is short: the customers' past lies before
 * it, so a churner's decline may begin within days of its start. */
#define CO_SHORT_DAYS 120

/* The recurring processes; on a tie the lower one goes first, so a
 * customer's first event is its first order. */
enum co_proc {
    CO_ORDER = 0,
    CO_TRIGGER, /* a bad spell or the decline begins: no event itself */
    CO_SUB,
    CO_SURVEY,
    CO_TICKET,
    CO_RESOLVE,
    CO_MSG,
    CO_REPLY,
    CO_CALL,
    CO_VISIT,
    CO_DEAL,
    CO_PROC_CNT
};

/* Signs of trouble (a churner's decline, a bad spell). */
#define CO_TICKETS_OPEN 0x01 /* tickets opened often and left open */
#define CO_BAD_SURVEYS  0x02 /* low NPS/CSAT, high effort */
#define CO_SLOW_REPLIES 0x04 /* replies take hours to days, or never come */
#define CO_MISSED_CALLS 0x08 /* the customer calls; nobody answers */
#define CO_COMPLAINTS   0x0f
#define CO_FADE         0x10 /* orders thin out and shrink, then stop */
#define CO_CANCEL       0x20 /* the subscription is cancelled, bad NPS */

struct co_cust {
    int64_t next[CO_PROC_CNT]; /* next due time per process; CO_NEVER */
    int64_t key;               /* min of next[]: the heap key */
    int64_t first_ms;          /* first event: an order */
    int64_t churn_ms;          /* decline begins; CO_NEVER: never */
    int64_t stop_ms;           /* no event at or after; CO_NEVER */
    int64_t spell_from;        /* a bad spell [from, until); CO_NEVER */
    int64_t spell_until;
    int64_t sub_cancel_ms;       /* a healthy customer cancels then (and comes
                                    back); CO_NEVER */
    int64_t wait_from;           /* waiting for a reply since; INT64_MIN: not */
    int64_t interval_ms;         /* usual time between orders */
    int64_t visit_gap;           /* usual time between web visits */
    int64_t msg_gap;             /* ... conversations */
    int64_t call_gap;            /* ... calls */
    int64_t ticket_gap;          /* ... tickets */
    int64_t survey_gap;          /* ... surveys */
    int64_t deal_gap;            /* ... deals */
    int64_t tk_open[CO_TICKETS]; /* opened_at; INT64_MIN: slot free */
    int64_t tk_due[CO_TICKETS];  /* resolution time; CO_NEVER */
    uint32_t tk_seq[CO_TICKETS]; /* ticket number of the slot */
    uint32_t amount;             /* usual check, minor units */
    uint32_t mrr;                /* subscription mrr_minor */
    uint32_t order_seq, conv_seq, ticket_seq, sub_seq, deal_seq, call_seq,
        visit_seq;
    float fade_growth; /* a fading order gap grows by this per order */
    float fade_shrink; /* and its check shrinks by this */
    uint8_t profile;   /* enum cp_cohort_profile */
    uint8_t decline;   /* CO_* signs from churn_ms on */
    uint8_t spell;     /* CO_* signs within the bad spell */
    uint8_t fade_k;    /* orders placed in the decline */
    uint8_t fade_n;    /* orders in the decline, the last one included */
    uint8_t sub_state; /* SUB_* */
    uint8_t deal_state;
    uint8_t deal_stage;
    uint8_t deal_last; /* stage at which the current deal closes */
    uint8_t manager;
    uint8_t channel;
};

struct cp_cohort {
    struct cp_cohort_config cfg;
    struct gen_rng rng;
    int64_t start_ms;
    int64_t end_ms;
    struct co_cust *custs;      /* owned, cfg.customers entries */
    struct gen_tenant *tenants; /* owned, cfg.tenants entries */
    uint32_t *heap;             /* owned: customers by (key, index) */
    uint32_t heap_cnt;
    uint64_t counts[CP_PROFILE_CNT];
    char managers[GEN_MANAGERS_MAX][8];
    struct gen_strs s; /* strings of the last cp_cohort_next() */
};

static const char *const profile_names[CP_PROFILE_CNT] = {
    [CP_PROFILE_HEALTHY] = "healthy",
    [CP_PROFILE_CASUAL] = "casual",
    [CP_PROFILE_FADING] = "fading",
    [CP_PROFILE_COMPLAINING] = "complaining",
    [CP_PROFILE_CANCELLING] = "cancelling",
    [CP_PROFILE_SILENT] = "silent",
    [CP_PROFILE_PROSPECT] = "prospect",
};

static const char *const population_names[CP_PROFILE_CNT] = {
    [CP_PROFILE_HEALTHY] = "healthy",
    [CP_PROFILE_CASUAL] = "rare_loyal",
    [CP_PROFILE_FADING] = "quiet_churner",
    [CP_PROFILE_COMPLAINING] = "loud_churner",
    [CP_PROFILE_CANCELLING] = "loud_churner",
    [CP_PROFILE_SILENT] = "quiet_churner",
    [CP_PROFILE_PROSPECT] = "prospect",
};

static const char *const business_names[CP_BUSINESS_CNT] = {
    [CP_BUSINESS_RETAIL] = "retail",
    [CP_BUSINESS_SAAS] = "saas",
    [CP_BUSINESS_B2B] = "b2b",
    [CP_BUSINESS_SERVICES] = "services",
};

static const unsigned default_mix[CP_PROFILE_CNT] = {36, 16, 12, 10, 8, 12, 6};

const char *cp_cohort_profile_name(enum cp_cohort_profile p)
{
    if ((int)p < 0 || p >= CP_PROFILE_CNT)
        return NULL;
    return profile_names[p];
}

const char *cp_cohort_population_name(enum cp_cohort_profile p)
{
    if ((int)p < 0 || p >= CP_PROFILE_CNT)
        return NULL;
    return population_names[p];
}

const char *cp_cohort_business_name(enum cp_cohort_business b)
{
    if ((int)b < 0 || b >= CP_BUSINESS_CNT)
        return NULL;
    return business_names[b];
}

static int is_churner(unsigned profile)
{
    return profile >= CP_PROFILE_FADING && profile <= CP_PROFILE_SILENT;
}

static enum cp_cohort_business tenant_business(const struct cp_cohort *co,
                                               uint64_t c)
{
    return (enum cp_cohort_business)(c % (uint64_t)co->cfg.tenants %
                                     CP_BUSINESS_CNT);
}

/* ---- random shapes ---- */

/* Uniform in [0, 1). */
static double rng_unit(struct gen_rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform in [lo, hi). */
static double rng_uni(struct gen_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rng_unit(r);
}

/* Uniform in [lo, hi] for any width (rng_range() is for widths up to
 * 2^32; times in ms are wider); the modulo bias, width / 2^64, is
 * negligible. */
static int64_t rng_span(struct gen_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next(r) % ((uint64_t)(hi - lo) + 1));
}

/* Log-uniform in [lo, hi): as likely 1-2 days as 10-20 days. */
static double rng_logu(struct gen_rng *r, double lo, double hi)
{
    return lo * exp(log(hi / lo) * rng_unit(r));
}

static int64_t days_ms(double d)
{
    return (int64_t)(d * (double)CO_DAY_MS);
}

/* @p gap times a uniform factor in [lo, hi), at least one minute. */
static int64_t jitter(struct gen_rng *r, int64_t gap, double lo, double hi)
{
    int64_t g = (int64_t)((double)gap * rng_uni(r, lo, hi));

    return g < CO_MIN_MS ? CO_MIN_MS : g;
}

/* ---- the heap of customers ---- */

static int co_before(const struct cp_cohort *co, uint32_t a, uint32_t b)
{
    int64_t ka = co->custs[a].key;
    int64_t kb = co->custs[b].key;

    return ka < kb || (ka == kb && a < b);
}

static void co_sift_down(struct cp_cohort *co, uint32_t i)
{
    uint32_t *h = co->heap;
    uint32_t n = co->heap_cnt;
    uint32_t x = h[i];

    for (;;) {
        uint32_t child = 2 * i + 1;

        if (child >= n)
            break;
        if (child + 1 < n && co_before(co, h[child + 1], h[child]))
            child++;
        if (!co_before(co, h[child], x))
            break;
        h[i] = h[child];
        i = child;
    }
    h[i] = x;
}

static void co_update_key(struct co_cust *cu)
{
    int64_t k = CO_NEVER;

    for (int p = 0; p < CO_PROC_CNT; p++)
        k = cp_min64(k, cu->next[p]);
    cu->key = k;
}

/* ---- planning a customer ---- */

/* Signs of trouble active at @p t. */
static unsigned co_signs(const struct co_cust *cu, int64_t t)
{
    unsigned b = 0;

    if (t >= cu->churn_ms)
        b |= cu->decline;
    if (t >= cu->spell_from && t < cu->spell_until)
        b |= cu->spell;
    return b;
}

/* One to @p max complaint signs, each equally likely. */
static uint8_t co_complaints(struct gen_rng *r, int min, int max)
{
    static const uint8_t signs[] = {CO_TICKETS_OPEN, CO_BAD_SURVEYS,
                                    CO_SLOW_REPLIES, CO_MISSED_CALLS};
    int n = (int)rng_range(r, min, max);
    uint8_t b = 0;

    while (n > 0) {
        uint8_t s = signs[rng_below(r, CP_ARRAY_SIZE(signs))];

        if (!(b & s)) {
            b |= s;
            n--;
        }
    }
    return b;
}

/* The next time of the trigger process: the bad spell, then the decline. */
static int64_t co_next_trigger(const struct co_cust *cu, int64_t after)
{
    int64_t t = CO_NEVER;

    if (cu->spell && cu->spell_from > after)
        t = cu->spell_from;
    if (cu->decline && cu->churn_ms > after)
        t = cp_min64(t, cu->churn_ms);
    return t;
}

/* A prospect: web visits, messages and a deal, never an order; they go
 * cold after weeks to months. */
static void co_plan_prospect(struct cp_cohort *co, struct co_cust *cu)
{
    struct gen_rng *r = &co->rng;
    int64_t span = co->end_ms - co->start_ms;

    cu->interval_ms = 0;
    cu->amount = (uint32_t)rng_logu(r, 1500, 50000);
    cu->visit_gap = days_ms(rng_logu(r, 1, 7));
    cu->msg_gap = days_ms(rng_logu(r, 5, 30));
    cu->deal_gap = days_ms(rng_logu(r, 30, 120));
    cu->first_ms = co->start_ms + rng_span(r, 0, span * 3 / 4);
    cu->stop_ms = cu->first_ms + days_ms(rng_uni(r, 10, 120));
    cu->next[CO_VISIT] = cu->first_ms;
    cu->next[CO_MSG] = cu->first_ms + rng_span(r, 1, cu->msg_gap);
    if (rng_pm(r, 700))
        cu->next[CO_DEAL] = cu->first_ms + rng_span(r, 1, 7 * CO_DAY_MS);
    co_update_key(cu);
}

static void co_plan(struct cp_cohort *co, struct co_cust *cu, unsigned profile,
                    enum cp_cohort_business biz)
{
    struct gen_rng *r = &co->rng;
    int64_t span = co->end_ms - co->start_ms;
    int casual = profile == CP_PROFILE_CASUAL;
    int noise = !co->cfg.no_noise;
    static const unsigned sub_pm[CP_PROFILE_CNT] = {350,  150, 300, 350,
                                                    1000, 300, 0};
    static const uint8_t msg_channels[] = {CP_CHANNEL_EMAIL, CP_CHANNEL_CHAT,
                                           CP_CHANNEL_MESSENGER,
                                           CP_CHANNEL_SOCIAL, CP_CHANNEL_PHONE};

    cu->profile = (uint8_t)profile;
    cu->churn_ms = cu->stop_ms = cu->spell_from = cu->spell_until = CO_NEVER;
    cu->sub_cancel_ms = CO_NEVER;
    cu->wait_from = INT64_MIN;
    for (int i = 0; i < CO_TICKETS; i++) {
        cu->tk_open[i] = INT64_MIN;
        cu->tk_due[i] = CO_NEVER;
    }
    for (int p = 0; p < CO_PROC_CNT; p++)
        cu->next[p] = CO_NEVER;
    cu->channel = msg_channels[rng_below(r, CP_ARRAY_SIZE(msg_channels))];
    if (profile == CP_PROFILE_PROSPECT) {
        co_plan_prospect(co, cu);
        return;
    }

    /* Rhythm: regulars buy every 5-40 days, casual ones every 45-120. */
    cu->interval_ms =
        days_ms(casual ? rng_logu(r, 45, 120) : rng_logu(r, 5, 40));
    cu->amount = (uint32_t)rng_logu(r, 1500, 50000);
    cu->visit_gap =
        casual ? days_ms(rng_logu(r, 10, 60))
               : cp_max64(2 * CO_DAY_MS, (int64_t)((double)cu->interval_ms *
                                                   rng_logu(r, 0.5, 2)));
    cu->msg_gap = days_ms(rng_logu(r, 15, 90));
    cu->call_gap = days_ms(rng_logu(r, 20, 120));
    cu->ticket_gap = days_ms(rng_logu(r, 45, 240));
    cu->survey_gap =
        days_ms(casual ? rng_logu(r, 60, 200) : rng_logu(r, 30, 120));
    cu->deal_gap = days_ms(rng_logu(r, 60, 240));
    /* The business shapes the rhythms (retail is the base above): no extra
     * draws, so a retail-only cohort is the same for a seed. */
    switch (biz) {
    case CP_BUSINESS_SAAS: /* add-on orders; logins; support */
        cu->interval_ms *= 3;
        cu->visit_gap = cp_max64(CO_DAY_MS, cu->visit_gap / 3);
        cu->ticket_gap /= 2;
        break;
    case CP_BUSINESS_B2B: /* fewer, larger orders; a sales team */
        cu->interval_ms = cu->interval_ms * 3 / 2;
        cu->amount *= 8;
        cu->deal_gap /= 3;
        cu->call_gap /= 2;
        cu->msg_gap /= 2;
        break;
    case CP_BUSINESS_SERVICES: /* appointments, rated and booked by phone */
        cu->survey_gap /= 2;
        cu->call_gap /= 2;
        cu->ticket_gap *= 2;
        break;
    default:
        break;
    }

    /* Most customers were there before the history began; some join. */
    if (rng_pm(r, 700))
        cu->first_ms =
            co->start_ms + rng_span(r, 0, cp_min64(cu->interval_ms, span / 3));
    else
        cu->first_ms = co->start_ms + rng_span(r, 0, span * 3 / 4);

    if (is_churner(profile)) {
        /* A few regular orders before the decline; in a short history
         * (weeks) the customer's past lies before it, so a quarter of the
         * span is enough. */
        int64_t lead = 2 * cu->interval_ms + CO_DAY_MS;
        int64_t earliest = cu->first_ms + (span < CO_SHORT_DAYS * CO_DAY_MS
                                               ? cp_min64(lead, span / 4)
                                               : lead);
        int64_t c =
            co->end_ms - (int64_t)((double)span * rng_uni(r, -0.15, 0.7));

        if (c < earliest)
            c = earliest + rng_span(r, 0, cp_min64(cu->interval_ms, span / 4));
        cu->churn_ms = c;
        switch (profile) {
        case CP_PROFILE_FADING:
            cu->decline = CO_FADE;
            if (rng_pm(r, 300))
                cu->decline |= co_complaints(r, 1, 1);
            break;
        case CP_PROFILE_COMPLAINING:
            cu->decline = co_complaints(r, 2, 4);
            if (rng_pm(r, 300))
                cu->decline |= CO_FADE;
            cu->stop_ms = c + days_ms(rng_uni(r, 14, 60));
            break;
        case CP_PROFILE_CANCELLING:
            cu->decline = CO_CANCEL;
            if (rng_pm(r, 300))
                cu->decline |= co_complaints(r, 1, 1);
            cu->stop_ms = c + days_ms(rng_uni(r, 3, 30));
            break;
        default: /* silent: nothing at all from its churn start on */
            cu->decline = 0;
            cu->stop_ms = c;
            break;
        }
        if (cu->decline & CO_FADE) {
            cu->fade_growth = (float)rng_uni(r, 1.3, 1.9);
            cu->fade_shrink = (float)rng_uni(r, 0.55, 0.85);
            cu->fade_n = (uint8_t)rng_range(r, 2, 4);
            /* The fading orders set the stop; this is a backstop. */
            cu->stop_ms = cp_min64(cu->stop_ms, c + 400 * CO_DAY_MS);
        }
    }

    /* Bad spells (noise): 20% of healthy customers, 10% of the others
     * (before any decline). */
    if (rng_pm(r, profile == CP_PROFILE_HEALTHY ? 200 : 100)) {
        int64_t from = cu->first_ms + rng_span(r, 0, co->end_ms - cu->first_ms);
        int64_t until = from + days_ms(rng_uni(r, 10, 35));

        if (until < cu->churn_ms) {
            /* drawn either way, so that no_noise changes no other plan */
            uint8_t signs = co_complaints(r, 1, 2);

            if (noise || is_churner(profile)) {
                cu->spell_from = from;
                cu->spell_until = until;
                cu->spell = signs;
            }
        }
    }

    /* Subscriptions (nearly everyone's in subscription software); some
     * healthy and casual ones change plans: one subscription is cancelled,
     * another starts within two days (noise). */
    if (rng_pm(r, biz == CP_BUSINESS_SAAS && sub_pm[profile] < 900
                      ? 900
                      : sub_pm[profile])) {
        cu->mrr = (uint32_t)rng_logu(r, 990, 49000);
        if (cu->first_ms < co->start_ms + CO_SUB_DAYS * CO_DAY_MS &&
            rng_pm(r, 800)) {
            cu->sub_state = SUB_ACTIVE; /* started before the history */
            cu->sub_seq = 1;
            cu->next[CO_SUB] =
                cu->first_ms + rng_span(r, 0, CO_SUB_DAYS * CO_DAY_MS);
        } else {
            cu->next[CO_SUB] = cu->first_ms + rng_span(r, 0, 2 * CO_DAY_MS);
        }
        if (!is_churner(profile) && rng_pm(r, 60)) {
            int64_t at =
                cu->first_ms + rng_span(r, 0, co->end_ms - cu->first_ms);

            if (noise)
                cu->sub_cancel_ms = at;
        }
    } else if (cu->decline & CO_CANCEL) {
        cu->decline &= (uint8_t)~CO_CANCEL; /* nothing to cancel */
    }

    cu->next[CO_ORDER] = cu->first_ms;
    cu->next[CO_TRIGGER] = co_next_trigger(cu, INT64_MIN);
    cu->next[CO_SURVEY] = cu->first_ms + rng_span(r, 0, cu->survey_gap);
    cu->next[CO_TICKET] = cu->first_ms + rng_span(r, 0, cu->ticket_gap);
    cu->next[CO_MSG] = cu->first_ms + rng_span(r, 0, cu->msg_gap);
    cu->next[CO_CALL] = cu->first_ms + rng_span(r, 0, cu->call_gap);
    cu->next[CO_VISIT] = cu->first_ms + rng_span(r, 0, cu->visit_gap);
    if (rng_pm(r, biz == CP_BUSINESS_B2B ? 800 : 350))
        cu->next[CO_DEAL] = cu->first_ms + rng_span(r, 0, cu->deal_gap);
    co_update_key(cu);
}

struct cp_cohort *cp_cohort_new(const struct cp_cohort_config *ccfg,
                                char *errstr, size_t errstr_size)
{
    struct cp_cohort *co;
    uint64_t n, want[CP_PROFILE_CNT], total = 0, assigned = 0;
    const unsigned *mix;
    uint8_t *prof = NULL;
    int64_t span;

    if (!ccfg || ccfg->customers < 1 ||
        ccfg->customers > CP_COHORT_CUSTOMERS_MAX) {
        snprintf(errstr, errstr_size, "customers: expected 1..%d",
                 CP_COHORT_CUSTOMERS_MAX);
        return NULL;
    }
    if (ccfg->tenants < 1 || ccfg->tenants > GEN_TENANTS_MAX) {
        snprintf(errstr, errstr_size, "tenants: expected 1..%d",
                 GEN_TENANTS_MAX);
        return NULL;
    }
    if (ccfg->days < CP_COHORT_DAYS_MIN || ccfg->days > CP_COHORT_DAYS_MAX) {
        snprintf(errstr, errstr_size, "days: expected %d..%d",
                 CP_COHORT_DAYS_MIN, CP_COHORT_DAYS_MAX);
        return NULL;
    }
    span = (int64_t)ccfg->days * CO_DAY_MS;
    if (ccfg->end_ms - span < CP_MIN_OCCURRED_AT_MS ||
        ccfg->end_ms > 253402300799999LL) {
        snprintf(errstr, errstr_size,
                 "end: the history must lie within 2000-01-01 .. 9999-12-31");
        return NULL;
    }
    mix = ccfg->mix;
    for (int p = 0; p < CP_PROFILE_CNT; p++) {
        if (mix[p] > 1000000) {
            snprintf(errstr, errstr_size, "mix: a share is at most 1000000");
            return NULL;
        }
        total += mix[p];
    }
    if (total == 0) {
        mix = default_mix;
        for (int p = 0; p < CP_PROFILE_CNT; p++)
            total += mix[p];
    }

    co = calloc(1, sizeof(*co));
    if (!co)
        goto nomem;
    co->cfg = *ccfg;
    co->end_ms = ccfg->end_ms;
    co->start_ms = ccfg->end_ms - span;
    rng_seed(&co->rng, ccfg->seed ^ 0x94d049bb133111ebULL);
    n = ccfg->customers;
    co->custs = calloc(n, sizeof(*co->custs));
    co->tenants = calloc((size_t)ccfg->tenants, sizeof(*co->tenants));
    co->heap = calloc(n, sizeof(*co->heap));
    prof = malloc(n);
    if (!co->custs || !co->tenants || !co->heap || !prof)
        goto nomem;

    cp__gen_manager_names_fmt(co->managers);
    for (int t = 0; t < ccfg->tenants; t++) {
        cp__gen_tenant_id_fmt(&co->tenants[t], t, ccfg->tenants);
        co->tenants[t].managers =
            (uint8_t)rng_range(&co->rng, 3, GEN_MANAGERS_MAX);
    }

    /* Exact shares (largest remainder), then shuffled over the customers,
     * so that a small cohort still has every profile it asked for. */
    for (int p = 0; p < CP_PROFILE_CNT; p++) {
        want[p] = n * mix[p] / total;
        assigned += want[p];
    }
    {
        int used[CP_PROFILE_CNT] = {0};

        /* fewer left over than profiles with a share: one each, largest
         * remainder first */
        while (assigned < n) {
            int best = -1;

            for (int p = 0; p < CP_PROFILE_CNT; p++) {
                if (!mix[p] || used[p])
                    continue;
                if (best < 0 || n * mix[p] % total > n * mix[best] % total)
                    best = p;
            }
            want[best]++;
            used[best] = 1;
            assigned++;
        }
    }
    {
        uint64_t i = 0;

        for (int p = 0; p < CP_PROFILE_CNT; p++) {
            co->counts[p] = want[p];
            for (uint64_t k = 0; k < want[p]; k++)
                prof[i++] = (uint8_t)p;
        }
        for (uint64_t k = n - 1; k > 0; k--) {
            uint64_t j = rng_below(&co->rng, k + 1);
            uint8_t tmp = prof[k];

            prof[k] = prof[j];
            prof[j] = tmp;
        }
    }

    for (uint64_t c = 0; c < n; c++) {
        struct co_cust *cu = &co->custs[c];

        co_plan(co, cu, prof[c], tenant_business(co, c));
        cu->manager = (uint8_t)rng_below(
            &co->rng, co->tenants[c % (uint64_t)ccfg->tenants].managers);
        co->heap[co->heap_cnt++] = (uint32_t)c;
    }
    for (uint32_t i = co->heap_cnt / 2; i-- > 0;)
        co_sift_down(co, i);
    free(prof);
    return co;

nomem:
    free(prof);
    cp_cohort_destroy(co);
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
}

void cp_cohort_destroy(struct cp_cohort *co)
{
    if (!co)
        return;
    free(co->custs);
    free(co->tenants);
    free(co->heap);
    free(co);
}

uint64_t cp_cohort_customers(const struct cp_cohort *co)
{
    return co->cfg.customers;
}

uint64_t cp_cohort_profile_count(const struct cp_cohort *co,
                                 enum cp_cohort_profile p)
{
    if ((int)p < 0 || p >= CP_PROFILE_CNT)
        return 0;
    return co->counts[p];
}

int64_t cp_cohort_start_ms(const struct cp_cohort *co)
{
    return co->start_ms;
}

static void cust_id_fmt(char *dst, uint64_t c)
{
    size_t n = fmt_str(dst, "cust-");

    n += fmt_u64(dst + n, c, 6);
    dst[n] = '\0';
}

void cp_cohort_label(const struct cp_cohort *co, uint64_t i,
                     struct cp_cohort_label *out)
{
    const struct co_cust *cu = &co->custs[i];
    const struct gen_tenant *tn = &co->tenants[i % (uint64_t)co->cfg.tenants];

    memset(out, 0, sizeof(*out));
    out->tenant_id = tn->id;
    cust_id_fmt(out->customer_id, i);
    out->profile = (enum cp_cohort_profile)cu->profile;
    out->business = tenant_business(co, i);
    out->manager_id = co->managers[cu->manager % tn->managers];
    out->churn_start_ms = is_churner(cu->profile) ? cu->churn_ms : INT64_MAX;
    out->churned = is_churner(cu->profile) && cu->churn_ms <= co->end_ms;
    out->first_ms = cu->first_ms;
    out->interval_ms = cu->interval_ms;
}

/* ---- the processes: each fills @p ev / @p obs (or emits nothing) and
 * sets its next due time, always later than @p t or CO_NEVER ---- */

enum { MOOD_GOOD = 0, MOOD_MIXED, MOOD_BAD };

/* A score for @p mood; a good mood answers badly now and then (noise),
 * never with @p no_noise. */
static void co_survey_score(struct gen_rng *r, struct cp_event *ev, int mood,
                            int no_noise)
{
    unsigned roll = (unsigned)rng_below(r, 1000);

    if (no_noise && mood == MOOD_GOOD)
        roll %= 750;

    switch (ev->survey_kind) {
    case CP_SURVEY_NPS:
        if (mood == MOOD_GOOD)
            ev->score = (int32_t)(roll < 750   ? rng_range(r, 8, 10)
                                  : roll < 950 ? rng_range(r, 6, 7)
                                               : rng_range(r, 0, 5));
        else if (mood == MOOD_MIXED)
            ev->score = (int32_t)rng_range(r, 4, 9);
        else
            ev->score =
                (int32_t)(roll < 850 ? rng_range(r, 0, 4) : rng_range(r, 5, 6));
        break;
    case CP_SURVEY_CSAT:
        if (mood == MOOD_GOOD)
            ev->score = (int32_t)(roll < 850   ? rng_range(r, 4, 5)
                                  : roll < 970 ? 3
                                               : rng_range(r, 1, 2));
        else if (mood == MOOD_MIXED)
            ev->score = (int32_t)rng_range(r, 2, 5);
        else
            ev->score = (int32_t)(roll < 850 ? rng_range(r, 1, 2) : 3);
        break;
    default: /* CES: 7 is the most effort */
        if (mood == MOOD_GOOD)
            ev->score = (int32_t)(roll < 800   ? rng_range(r, 1, 3)
                                  : roll < 950 ? 4
                                               : rng_range(r, 5, 7));
        else if (mood == MOOD_MIXED)
            ev->score = (int32_t)rng_range(r, 2, 6);
        else
            ev->score = (int32_t)(roll < 850 ? rng_range(r, 5, 7) : 4);
        break;
    }
}

static int co_survey(struct cp_cohort *co, struct co_cust *cu, int64_t t,
                     unsigned b, struct cp_event *ev, struct cp_cohort_obs *obs)
{
    struct gen_rng *r = &co->rng;
    static const char *const names[] = {"nps", "csat", "ces"};
    unsigned roll = (unsigned)rng_below(r, 1000);
    int mood = MOOD_GOOD;

    if (b & (CO_BAD_SURVEYS | CO_CANCEL))
        mood = MOOD_BAD;
    else if ((b & CO_FADE) ||
             (cu->profile == CP_PROFILE_CASUAL && !co->cfg.no_noise))
        mood = MOOD_MIXED;
    ev->kind = CP_SURVEY_ANSWERED;
    if (b & CO_CANCEL) /* the exit survey */
        ev->survey_kind = roll < 700 ? CP_SURVEY_NPS : CP_SURVEY_CSAT;
    else
        ev->survey_kind = roll < 400   ? CP_SURVEY_NPS
                          : roll < 750 ? CP_SURVEY_CSAT
                                       : CP_SURVEY_CES;
    co_survey_score(r, ev, mood, co->cfg.no_noise);
    obs->name = names[ev->survey_kind];
    obs->value = ev->score;
    if (b & CO_BAD_SURVEYS)
        cu->next[CO_SURVEY] = t + days_ms(rng_uni(r, 7, 20));
    else
        cu->next[CO_SURVEY] = t + jitter(r, cu->survey_gap, 0.3, 1.7);
    return 1;
}

static int co_order(struct cp_cohort *co, struct co_cust *cu, int64_t t,
                    unsigned b, struct cp_event *ev, struct cp_cohort_obs *obs)
{
    struct gen_rng *r = &co->rng;
    double amount = cu->amount * rng_uni(r, 0.7, 1.3);
    int64_t gap;

    if (b & CO_FADE) {
        for (int k = 0; k <= cu->fade_k; k++)
            amount *= cu->fade_shrink;
    }
    ev->kind = CP_ORDER_PLACED;
    ev->amount = (int64_t)amount;
    cu->order_seq++;
    obs->name = "order";
    obs->value = ev->amount;

    /* A rare loyal (casual) buyer is as regular as anyone, only slower. */
    gap = jitter(r, cu->interval_ms, 0.5, 1.5);
    if (b & CO_FADE) {
        if (++cu->fade_k >= cu->fade_n) {
            /* the last order: a little residual activity, then nothing */
            cu->next[CO_ORDER] = CO_NEVER;
            cu->stop_ms = cp_min64(cu->stop_ms, t + days_ms(rng_uni(r, 3, 21)));
            return 1;
        }
        for (int k = 0; k < cu->fade_k; k++)
            gap = (int64_t)((double)gap * cu->fade_growth);
    } else if (b & CO_COMPLAINTS) {
        gap = gap * 3 / 2;
    } else if (rng_pm(r, 40) && !co->cfg.no_noise) {
        gap = (int64_t)((double)gap * rng_uni(r, 2, 3)); /* a holiday pause */
    }
    cu->next[CO_ORDER] = t + gap;
    return 1;
}

static int co_visit(struct cp_cohort *co, struct co_cust *cu, int64_t t,
                    unsigned b, struct cp_event *ev, struct cp_cohort_obs *obs)
{
    int64_t gap = jitter(&co->rng, cu->visit_gap, 0.3, 1.7);

    ev->kind = CP_WEB_VISIT;
    cu->visit_seq++;
    obs->name = "web_visit";
    if (b & CO_FADE)
        gap *= 1 + cu->fade_k;
    if (b & CO_CANCEL)
        gap *= 3;
    cu->next[CO_VISIT] = t + gap;
    return 1;
}

static int co_msg(struct cp_cohort *co, struct co_cust *cu, int64_t t,
                  unsigned b, struct cp_event *ev, struct cp_cohort_obs *obs)
{
    struct gen_rng *r = &co->rng;

    if (b & CO_SLOW_REPLIES)
        cu->next[CO_MSG] = t + days_ms(rng_uni(r, 2, 8));
    else
        cu->next[CO_MSG] = t + jitter(r, cu->msg_gap, 0.3, 1.7);

    ev->kind = CP_MESSAGE_RECEIVED;
    obs->name = "message_in";
    if (cu->wait_from != INT64_MIN) {
        /* still waiting: one more message, and the wait runs on; if no
         * reply was coming, this one gets a reply, as fast as service is
         * now */
        if (cu->next[CO_REPLY] != CO_NEVER)
            return 1;
    } else if (!(b & CO_SLOW_REPLIES) && rng_pm(r, 120)) {
        ev->kind = CP_MESSAGE_SENT; /* the manager writes first: no wait */
        obs->name = "activity";
        cu->conv_seq++;
        return 1;
    } else {
        cu->conv_seq++;
        cu->wait_from = t;
    }
    if (b & CO_SLOW_REPLIES) {
        if (!rng_pm(r, 150))
            cu->next[CO_REPLY] =
                t + (int64_t)rng_logu(r, 8.0 * CO_HOUR_MS, 5.0 * CO_DAY_MS);
    } else if (rng_pm(r, 920)) {
        cu->next[CO_REPLY] =
            t + (int64_t)rng_logu(r, 2.0 * CO_MIN_MS, 6.0 * CO_HOUR_MS);
    } else {
        cu->next[CO_REPLY] =
            t + (int64_t)rng_logu(r, 6.0 * CO_HOUR_MS, 2.0 * CO_DAY_MS);
    }
    return 1;
}

static int co_reply(struct co_cust *cu, int64_t t, struct cp_event *ev,
                    struct cp_cohort_obs *obs)
{
    ev->kind = CP_MESSAGE_SENT;
    cu->next[CO_REPLY] = CO_NEVER;
    if (cu->wait_from != INT64_MIN) {
        obs->name = "response";
        obs->value = t - cu->wait_from;
        cu->wait_from = INT64_MIN;
    }
    return 1;
}

static int co_call(struct cp_cohort *co, struct co_cust *cu, int64_t t,
                   unsigned b, struct cp_event *ev, struct cp_cohort_obs *obs)
{
    struct gen_rng *r = &co->rng;
    int missing = (b & CO_MISSED_CALLS) != 0;

    ev->kind = CP_CALL_LOGGED;
    cu->call_seq++;
    ev->inbound = rng_pm(r, missing ? 800 : 500);
    if (ev->inbound)
        ev->answered = rng_pm(r, missing ? 350 : 920);
    else
        ev->answered = rng_pm(r, 700);
    if (ev->answered)
        ev->amount = rng_range(r, 30000, 1200000);
    else
        ev->amount = ev->inbound ? 0 : rng_range(r, 5000, 40000);
    if (ev->inbound && !ev->answered)
        obs->name = "call_missed";
    if (missing)
        cu->next[CO_CALL] = t + days_ms(rng_uni(r, 3, 10));
    else
        cu->next[CO_CALL] = t + jitter(r, cu->call_gap, 0.3, 1.7);
    return 1;
}

static void co_resolve_due(struct co_cust *cu)
{
    int64_t due = CO_NEVER;

    for (int i = 0; i < CO_TICKETS; i++)
        due = cp_min64(due, cu->tk_due[i]);
    cu->next[CO_RESOLVE] = due;
}

static int co_ticket(struct cp_cohort *co, struct co_cust *cu, int64_t t,
                     unsigned b, struct cp_event *ev, struct cp_cohort_obs *obs)
{
    struct gen_rng *r = &co->rng;
    int trouble = (b & CO_TICKETS_OPEN) != 0;
    int slot = -1;

    if (trouble)
        cu->next[CO_TICKET] = t + days_ms(rng_uni(r, 4, 14));
    else
        cu->next[CO_TICKET] = t + jitter(r, cu->ticket_gap, 0.3, 1.7);
    for (int i = 0; i < CO_TICKETS && slot < 0; i++) {
        if (cu->tk_open[i] == INT64_MIN)
            slot = i;
    }
    if (slot < 0)
        return 0; /* enough open already */
    ev->kind = CP_TICKET_OPENED;
    cu->tk_seq[slot] = ++cu->ticket_seq;
    cu->tk_open[slot] = t;
    obs->name = "ticket_opened";
    if (!trouble && !co->cfg.no_noise && rng_pm(r, 60))
        /* now and then a slow one, for anyone (noise) */
        cu->tk_due[slot] = t + days_ms(rng_uni(r, 4, 12));
    else if (!trouble)
        cu->tk_due[slot] =
            t + (int64_t)rng_logu(r, 30.0 * CO_MIN_MS, 3.0 * CO_DAY_MS);
    else if (t >= cu->churn_ms)
        /* a churner's tickets stay open, or close far too late */
        cu->tk_due[slot] =
            rng_pm(r, 850) ? CO_NEVER : t + days_ms(rng_uni(r, 10, 30));
    else
        /* a bad spell ends with its tickets closed */
        cu->tk_due[slot] = cp_max64(cu->spell_until, t + CO_DAY_MS) +
                           days_ms(rng_uni(r, 0, 7));
    co_resolve_due(cu);
    return 1;
}

static int co_resolve(struct co_cust *cu, int64_t t, struct cp_event *ev,
                      struct cp_cohort_obs *obs, uint32_t *seq)
{
    int slot = 0;

    for (int i = 1; i < CO_TICKETS; i++) {
        if (cu->tk_due[i] < cu->tk_due[slot])
            slot = i;
    }
    ev->kind = CP_TICKET_RESOLVED;
    obs->name = "ticket_resolved";
    obs->value = cu->tk_open[slot];
    *seq = cu->tk_seq[slot];
    cu->tk_open[slot] = INT64_MIN;
    cu->tk_due[slot] = CO_NEVER;
    co_resolve_due(cu);
    (void)t;
    return 1;
}

static int co_sub(struct cp_cohort *co, struct co_cust *cu, int64_t t,
                  unsigned b, struct cp_event *ev, struct cp_cohort_obs *obs)
{
    struct gen_rng *r = &co->rng;

    ev->kind = CP_SUBSCRIPTION_CHANGED;
    if (cu->sub_state != SUB_ACTIVE) {
        if (cu->sub_state == SUB_CANCELLED) /* the new plan's price */
            cu->mrr = (uint32_t)rng_logu(r, 990, 49000);
        cu->sub_seq++;
        cu->sub_state = SUB_ACTIVE;
        ev->sub_action = CP_SUB_STARTED;
        obs->name = "sub_started";
        cu->next[CO_SUB] = t + CO_SUB_DAYS * CO_DAY_MS;
    } else if ((b & CO_CANCEL) || t >= cu->sub_cancel_ms) {
        cu->sub_state = SUB_CANCELLED;
        ev->sub_action = CP_SUB_CANCELLED;
        obs->name = "sub_cancelled";
        obs->value = cu->mrr;
        if (t >= cu->sub_cancel_ms && !(b & CO_CANCEL)) {
            /* a plan change: another subscription soon, at another price */
            cu->sub_cancel_ms = CO_NEVER;
            cu->next[CO_SUB] = t + days_ms(rng_uni(r, 0.02, 2));
        } else {
            cu->next[CO_SUB] = CO_NEVER;
        }
    } else {
        ev->sub_action = CP_SUB_RENEWED;
        obs->name = "sub_renewed";
        cu->next[CO_SUB] = t + CO_SUB_DAYS * CO_DAY_MS +
                           rng_span(r, -CO_HOUR_MS * 12, CO_HOUR_MS * 12);
    }
    ev->amount = cu->mrr;
    return 1;
}

static int co_deal(struct cp_cohort *co, struct co_cust *cu, int64_t t,
                   unsigned b, struct cp_event *ev, struct cp_cohort_obs *obs)
{
    struct gen_rng *r = &co->rng;

    if (cu->deal_state != DEAL_OPEN) {
        const char *src = cp__gen_lead_sources[rng_below(
            r, CP_ARRAY_SIZE(cp__gen_lead_sources))];

        cu->deal_seq++;
        cu->deal_state = DEAL_OPEN;
        cu->deal_stage = 0;
        cu->deal_last = (uint8_t)rng_range(r, 2, GEN_STAGE_LAST);
        ev->kind = CP_LEAD_CREATED;
        ev->label = mkstr(src, strlen(src));
        cu->next[CO_DEAL] = t + days_ms(rng_uni(r, 2, 15));
    } else if (cu->deal_stage < cu->deal_last) {
        const char *st = cp__gen_stage_names[++cu->deal_stage];

        ev->kind = CP_STAGE_CHANGED;
        ev->label = mkstr(st, strlen(st));
        ev->stage_order = cu->deal_stage;
        cu->next[CO_DEAL] = t + days_ms(rng_uni(r, 2, 15));
    } else {
        ev->kind = CP_DEAL_CLOSED;
        ev->won =
            rng_pm(r, (b & (CO_COMPLAINTS | CO_FADE | CO_CANCEL)) ? 200 : 650);
        ev->amount = (int64_t)(cu->amount * rng_uni(r, 2, 20));
        cu->deal_state = DEAL_CLOSED;
        obs->name = ev->won ? "deal_won" : "deal_lost";
        cu->next[CO_DEAL] = t + jitter(r, cu->deal_gap, 0.5, 1.5);
    }
    return 1;
}

/* A bad spell or the decline begins: the processes it changes are brought
 * forward, so that its first signs show within days. */
static void co_trigger(struct cp_cohort *co, struct co_cust *cu, int64_t t)
{
    struct gen_rng *r = &co->rng;
    unsigned b = co_signs(cu, t);

    if (b & CO_TICKETS_OPEN)
        cu->next[CO_TICKET] = t;
    if (b & CO_BAD_SURVEYS)
        cu->next[CO_SURVEY] =
            cp_min64(cu->next[CO_SURVEY], t + days_ms(rng_uni(r, 1, 6)));
    if (b & CO_SLOW_REPLIES)
        cu->next[CO_MSG] =
            cp_min64(cu->next[CO_MSG], t + days_ms(rng_uni(r, 0, 3)));
    if (b & CO_MISSED_CALLS)
        cu->next[CO_CALL] =
            cp_min64(cu->next[CO_CALL], t + days_ms(rng_uni(r, 0, 4)));
    if ((b & CO_CANCEL) && cu->sub_state == SUB_ACTIVE) {
        int primary = cu->profile == CP_PROFILE_CANCELLING;
        int64_t at = t + days_ms(rng_uni(r, 0, primary ? 2 : 20));

        cu->next[CO_SUB] = at;
        if (primary) /* the exit survey */
            cu->next[CO_SURVEY] =
                at + (int64_t)rng_logu(r, 1.0 * CO_HOUR_MS, 4.0 * CO_DAY_MS);
    }
    cu->next[CO_TRIGGER] = co_next_trigger(cu, t);
}

/* Channel of a cohort event, by kind. */
static enum cp_channel co_channel(struct gen_rng *r, const struct cp_event *ev,
                                  const struct co_cust *cu)
{
    switch (ev->kind) {
    case CP_CALL_LOGGED:
        return CP_CHANNEL_PHONE;
    case CP_WEB_VISIT:
        return CP_CHANNEL_WEB;
    case CP_MESSAGE_RECEIVED:
    case CP_MESSAGE_SENT:
        return (enum cp_channel)cu->channel;
    case CP_ORDER_PLACED:
        return rng_pm(r, 700)   ? CP_CHANNEL_WEB
               : rng_pm(r, 600) ? CP_CHANNEL_IN_PERSON
                                : CP_CHANNEL_NONE;
    case CP_SURVEY_ANSWERED:
        return CP_CHANNEL_EMAIL;
    case CP_SUBSCRIPTION_CHANGED:
        return CP_CHANNEL_NONE;
    default:
        return rng_pm(r, 700) ? (enum cp_channel)cu->channel : CP_CHANNEL_NONE;
    }
}

/* Identity, time and entity id of a cohort event whose payload is set. */
static void co_finish(struct cp_cohort *co, struct cp_event *ev, uint64_t c,
                      const struct co_cust *cu, int64_t t, uint32_t ticket)
{
    const struct gen_tenant *tn = &co->tenants[c % (uint64_t)co->cfg.tenants];
    struct gen_strs *s = &co->s;
    const char *m = co->managers[cu->manager % tn->managers];

    fmt_uuid(s->event_id, &co->rng);
    ev->event_id = mkstr(s->event_id, 36);
    ev->tenant_id = mkstr(tn->id, tn->id_len);
    cust_id_fmt(s->customer, c);
    ev->customer_id = mkstr(s->customer, strlen(s->customer));
    ev->manager_id = mkstr(m, strlen(m));
    ev->occurred_at = t;
    ev->channel = co_channel(&co->rng, ev, cu);
    cp__gen_set_entity_of(s, ev,
                          &(const struct entity_seqs){.deal = cu->deal_seq,
                                                      .order = cu->order_seq,
                                                      .conv = cu->conv_seq,
                                                      .call = cu->call_seq,
                                                      .ticket = ticket,
                                                      .sub = cu->sub_seq,
                                                      .visit = cu->visit_seq});
}

int cp_cohort_next(struct cp_cohort *co, struct cp_event *ev,
                   struct cp_cohort_obs *obs)
{
    while (co->heap_cnt) {
        uint32_t c = co->heap[0];
        struct co_cust *cu = &co->custs[c];
        int64_t t = cu->key;
        uint32_t ticket = cu->ticket_seq;
        unsigned b;
        int p = 0, emitted = 0;

        if (t > co->end_ms) {
            co->heap_cnt = 0; /* everything else is later still */
            return 0;
        }
        if (t >= cu->stop_ms) {
            /* gone: the rest of its plans never happen */
            co->heap[0] = co->heap[--co->heap_cnt];
            if (co->heap_cnt)
                co_sift_down(co, 0);
            continue;
        }
        for (int q = 1; q < CO_PROC_CNT; q++) {
            if (cu->next[q] < cu->next[p])
                p = q;
        }
        memset(ev, 0, sizeof(*ev));
        obs->name = "activity";
        obs->value = 0;
        b = co_signs(cu, t);
        switch (p) {
        case CO_ORDER:
            emitted = co_order(co, cu, t, b, ev, obs);
            break;
        case CO_TRIGGER:
            co_trigger(co, cu, t);
            break;
        case CO_SUB:
            emitted = co_sub(co, cu, t, b, ev, obs);
            break;
        case CO_SURVEY:
            emitted = co_survey(co, cu, t, b, ev, obs);
            break;
        case CO_TICKET:
            emitted = co_ticket(co, cu, t, b, ev, obs);
            ticket = cu->ticket_seq;
            break;
        case CO_RESOLVE:
            emitted = co_resolve(cu, t, ev, obs, &ticket);
            break;
        case CO_MSG:
            emitted = co_msg(co, cu, t, b, ev, obs);
            break;
        case CO_REPLY:
            emitted = co_reply(cu, t, ev, obs);
            break;
        case CO_CALL:
            emitted = co_call(co, cu, t, b, ev, obs);
            break;
        case CO_VISIT:
            emitted = co_visit(co, cu, t, b, ev, obs);
            break;
        default:
            emitted = co_deal(co, cu, t, b, ev, obs);
            break;
        }
        co_update_key(cu);
        co_sift_down(co, 0);
        if (emitted) {
            co_finish(co, ev, c, cu, t, ticket);
            return 1;
        }
    }
    return 0;
}
