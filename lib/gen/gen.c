/* SPDX-License-Identifier: Apache-2.0 */
/* Synthetic CRM event streams for load tests, demos and end-to-end checks:
 * a deterministic walk over tenants, managers and customers that emits deal
 * funnels, orders, conversations, calls, tickets, surveys, subscriptions and
 * web visits, plus malformed messages that the worker must send to the DLQ;
 * and, apart from that stream, a labelled churn cohort (a history of
 * customers of known profiles, see "labelled churn cohort" below). It sits
 * in front of Kafka: crmpulse-gen encodes what it returns here. */
#include "gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- PRNG: xoshiro256** seeded through splitmix64 ---- */

struct gen_rng {
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(struct gen_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(struct gen_rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

/* Uniform in [0, n) for n <= 2^32 (multiply-shift; the bias is < 2^-32). */
static inline uint64_t rng_below(struct gen_rng *r, uint64_t n)
{
    return ((rng_next(r) >> 32) * n) >> 32;
}

/* Uniform in [lo, hi]. */
static inline int64_t rng_range(struct gen_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)rng_below(r, (uint64_t)(hi - lo) + 1);
}

/* True with probability pm/1000. */
static inline int rng_pm(struct gen_rng *r, unsigned pm)
{
    return rng_below(r, 1000) < pm;
}

/* A stable per-customer hash, so traits cost no memory. */
static uint64_t hash_u64(uint64_t seed, uint64_t v)
{
    uint64_t x = seed ^ (v * 0xd1342543de82ef95ULL);

    return splitmix64(&x);
}

/* ---- vocabulary ---- */

static const char *const tenant_names[] = {
    "acme",      "globex",    "initech", "umbrella.corp", "hooli",
    "stark_ind", "wayne-ent", "tyrell",  "soylent",       "cyberdyne",
};

static const char *const lead_sources[] = {
    "google_ads", "facebook", "referral", "organic",
    "cold_call",  "partner",  "webinar",
};

/* Funnel stages by stage_order; 0 is the lead itself. */
#define GEN_STAGE_LAST 5
static const char *const stage_names[GEN_STAGE_LAST + 1] = {
    "lead", "qualified", "meeting", "proposal", "negotiation", "contract",
};

/* Upper bounds (seconds) of the first-response histogram buckets; replies
 * are spread evenly over them so that every bucket, binf included, sees
 * traffic. binf replies take up to three days. */
static const int64_t reply_bounds_s[] = {
    15,   30,   60,   120,   300,   600,   900,
    1800, 3600, 7200, 14400, 28800, 86400, 3 * 86400,
};

#define GEN_MANAGERS_MAX 20
#define GEN_JITTER_MS    3000
#define GEN_HEAP_MIN     (1u << 16) /* follow-ups queued at most: */
#define GEN_HEAP_MAX     (1u << 22) /* customers / 2 within these */
#define GEN_TENANTS_MAX  100000

/* ---- state ---- */

enum { DEAL_NONE = 0, DEAL_OPEN, DEAL_CLOSED };
enum { CONV_NONE = 0, CONV_IDLE, CONV_WAITING };
enum { TICKET_NONE = 0, TICKET_OPEN, TICKET_DONE };
enum { SUB_NONE = 0, SUB_ACTIVE, SUB_CANCELLED };

#define CUST_CHURNER 0x01 /* stops ordering after a few orders */

/* Everything the stream remembers about one customer: one open deal, one
 * conversation, one ticket and one subscription at a time. 40 bytes. */
struct gen_cust {
    int64_t last_ms;      /* occurred_at of its latest event */
    uint32_t deal_seq;    /* deals begun; the current one is d-<cust>-<seq> */
    uint32_t conv_seq;    /* conversations begun */
    uint32_t ticket_seq;  /* tickets begun */
    uint32_t sub_seq;     /* subscriptions begun */
    uint32_t order_cnt;   /* orders placed */
    uint32_t mrr;         /* mrr_minor of the current subscription */
    int8_t deal_stage;    /* stage_order reached by the current deal */
    uint8_t deal_state;   /* DEAL_* */
    uint8_t conv_state;   /* CONV_* */
    uint8_t ticket_state; /* TICKET_* */
    uint8_t sub_state;    /* SUB_* */
    uint8_t manager;      /* index into the tenant's managers */
    uint8_t channel;      /* preferred channel (enum cp_channel) */
    uint8_t flags;        /* CUST_* */
};

struct gen_tenant {
    char id[32];
    uint8_t id_len;
    uint8_t managers; /* 3..20 */
};

enum { DUE_REPLY = 0, DUE_MORE, DUE_DEAL, DUE_TICKET };

/* A follow-up planned for a later event time: the manager's reply to a
 * conversation, one more customer message before that reply, the next step
 * of a deal, the resolution of a ticket. Without them a customer among many
 * would rarely be seen often enough to close a deal or get a quick reply. */
struct gen_due {
    int64_t due_ms;
    uint32_t cust;
    uint32_t seq;  /* conversation, deal or ticket number */
    uint32_t what; /* DUE_* */
};

/* String storage for one event: the strings of struct cp_event point here. */
struct gen_strs {
    char event_id[40];
    char customer[32];
    char entity[CP_ID_MAX + 8];
    char bad[CP_ID_MAX + 80]; /* a broken field of an invalid message */
};

struct cp_gen {
    struct cp_gen_config cfg;
    struct gen_rng rng;         /* drives the valid stream */
    struct gen_rng inv_rng;     /* drives cp_gen_invalid(), so --invalid leaves
                                   the valid stream unchanged */
    uint64_t idx;               /* events returned so far */
    struct gen_cust *custs;     /* owned, cfg.customers entries */
    struct gen_tenant *tenants; /* owned, cfg.tenants entries */
    struct gen_due *heap;       /* owned min-heap on due_ms */
    uint32_t heap_cnt;
    uint32_t heap_cap;
    uint64_t hot;     /* customers [0, hot) are picked more often */
    int64_t step_us;  /* event-time advance per event */
    size_t mem_bytes; /* everything allocated by cp_gen_new */
    char managers[GEN_MANAGERS_MAX][8]; /* "mgr-07" */
    struct gen_strs s;                  /* strings of the last cp_gen_next() */
    struct gen_strs inv; /* strings of the last cp_gen_invalid() */
    /* cp_gen_invalid(): kinds are dealt from a shuffled deck */
    uint8_t deck[32];
    uint32_t deck_pos;
    struct cp_buf scratch[2];
};

/* ---- small formatting helpers (no printf on the hot path) ---- */

static size_t fmt_u64(char *p, uint64_t v, int minw)
{
    char tmp[24];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while ((int)n < minw)
        tmp[n++] = '0';
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

static size_t fmt_str(char *p, const char *s)
{
    size_t n = strlen(s);

    memcpy(p, s, n);
    return n;
}

static const char hex_digits[] = "0123456789abcdef";

/* A random UUID (version 4 layout): 36 characters. */
static void fmt_uuid(char *p, struct gen_rng *r)
{
    uint64_t hi = rng_next(r);
    uint64_t lo = rng_next(r);
    uint8_t b[16];
    size_t n = 0;

    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(hi >> (56 - 8 * i));
        b[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            p[n++] = '-';
        p[n++] = hex_digits[b[i] >> 4];
        p[n++] = hex_digits[b[i] & 0x0f];
    }
}

static struct cp_str mkstr(const char *p, size_t len)
{
    struct cp_str s = {p, len};

    return s;
}

/* ---- lifecycle ---- */

/* "acme-1", "globex-1", ...; "t001", ... when there are many tenants. */
static void tenant_id_fmt(struct gen_tenant *tn, int t, int tenants)
{
    size_t nn = CP_ARRAY_SIZE(tenant_names);
    size_t n;

    if (tenants <= 3 * (int)nn) {
        n = fmt_str(tn->id, tenant_names[(size_t)t % nn]);
        tn->id[n++] = '-';
        n += fmt_u64(tn->id + n, (uint64_t)t / nn + 1, 1);
    } else {
        tn->id[0] = 't';
        n = 1 + fmt_u64(tn->id + 1, (uint64_t)t + 1, 3);
    }
    tn->id[n] = '\0';
    tn->id_len = (uint8_t)n;
}

/* "mgr-01" .. "mgr-20". */
static void manager_names_fmt(char (*managers)[8])
{
    for (int m = 0; m < GEN_MANAGERS_MAX; m++) {
        size_t n = fmt_str(managers[m], "mgr-");

        n += fmt_u64(managers[m] + n, (uint64_t)m + 1, 2);
        managers[m][n] = '\0';
    }
}

struct cp_gen *cp_gen_new(const struct cp_gen_config *gcfg)
{
    struct cp_gen *gen;
    struct gen_rng init;

    if (!gcfg || gcfg->customers < 1 || gcfg->customers > UINT32_MAX ||
        gcfg->tenants < 1 || gcfg->tenants > GEN_TENANTS_MAX ||
        gcfg->step_ms < 0 || gcfg->step_us < 0)
        return NULL;
    gen = calloc(1, sizeof(*gen));
    if (!gen)
        return NULL;
    gen->cfg = *gcfg;
    gen->step_us = gcfg->step_us > 0 ? gcfg->step_us : gcfg->step_ms * 1000;
    gen->mem_bytes = sizeof(*gen);
    rng_seed(&gen->rng, gcfg->seed);
    rng_seed(&gen->inv_rng, gcfg->seed ^ 0x6c8e9cf570932bd5ULL);
    rng_seed(&init, gcfg->seed ^ 0x2545f4914f6cdd1dULL);

    gen->custs = calloc(gcfg->customers, sizeof(*gen->custs));
    gen->tenants = calloc((size_t)gcfg->tenants, sizeof(*gen->tenants));
    gen->heap_cap = (uint32_t)(gcfg->customers / 2);
    if (gen->heap_cap < GEN_HEAP_MIN)
        gen->heap_cap = GEN_HEAP_MIN;
    if (gen->heap_cap > GEN_HEAP_MAX)
        gen->heap_cap = GEN_HEAP_MAX;
    gen->heap = calloc(gen->heap_cap, sizeof(*gen->heap));
    if (!gen->custs || !gen->tenants || !gen->heap)
        goto fail;
    gen->mem_bytes += gcfg->customers * sizeof(*gen->custs) +
                      (size_t)gcfg->tenants * sizeof(*gen->tenants) +
                      gen->heap_cap * sizeof(*gen->heap);

    manager_names_fmt(gen->managers);
    for (int t = 0; t < gcfg->tenants; t++) {
        struct gen_tenant *tn = &gen->tenants[t];

        tenant_id_fmt(tn, t, gcfg->tenants);
        tn->managers = (uint8_t)rng_range(&init, 3, GEN_MANAGERS_MAX);
    }
    for (uint64_t c = 0; c < gcfg->customers; c++) {
        struct gen_cust *cu = &gen->custs[c];
        const struct gen_tenant *tn =
            &gen->tenants[c % (uint64_t)gcfg->tenants];
        static const uint8_t msg_channels[] = {
            CP_CHANNEL_EMAIL,  CP_CHANNEL_CHAT,  CP_CHANNEL_MESSENGER,
            CP_CHANNEL_SOCIAL, CP_CHANNEL_PHONE,
        };

        cu->last_ms = INT64_MIN;
        cu->manager = (uint8_t)rng_below(&init, tn->managers);
        cu->channel = msg_channels[rng_below(&init, sizeof(msg_channels))];
        if (rng_pm(&init, 100))
            cu->flags |= CUST_CHURNER;
    }
    gen->hot = gcfg->customers / 10 ? gcfg->customers / 10 : 1;
    for (size_t i = 0; i < CP_ARRAY_SIZE(gen->scratch); i++)
        cp_buf_init(&gen->scratch[i], 1 << 20);
    return gen;

fail:
    cp_gen_destroy(gen);
    return NULL;
}

void cp_gen_destroy(struct cp_gen *gen)
{
    if (!gen)
        return;
    for (size_t i = 0; i < CP_ARRAY_SIZE(gen->scratch); i++)
        cp_buf_cleanup(&gen->scratch[i]);
    free(gen->custs);
    free(gen->tenants);
    free(gen->heap);
    free(gen);
}

size_t cp_gen_mem_bytes(const struct cp_gen *gen)
{
    size_t n = gen->mem_bytes;

    for (size_t i = 0; i < CP_ARRAY_SIZE(gen->scratch); i++)
        n += gen->scratch[i].cap;
    return n;
}

/* Event time of the stream position: start + index x step. */
static int64_t stream_time(const struct cp_gen *gen)
{
    int64_t i = (int64_t)gen->idx;

    if (gen->step_us % 1000 == 0)
        return gen->cfg.start_ms + i * (gen->step_us / 1000);
    return gen->cfg.start_ms + i * gen->step_us / 1000;
}

/* ---- follow-up heap ---- */

static void heap_push(struct cp_gen *gen, int64_t due_ms, uint64_t cust,
                      uint32_t seq, uint32_t what)
{
    struct gen_due *h = gen->heap;
    uint32_t i;

    /* Full: the follow-up is dropped; the customer's next natural event
     * can still do what it would have done, so the memory stays bounded.
     * Every kind of follow-up is dropped alike, so the mix is kept. */
    if (gen->heap_cnt == gen->heap_cap)
        return;
    i = gen->heap_cnt++;
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;

        if (h[parent].due_ms <= due_ms)
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i].due_ms = due_ms;
    h[i].cust = (uint32_t)cust;
    h[i].seq = seq;
    h[i].what = what;
}

static struct gen_due heap_pop(struct cp_gen *gen)
{
    struct gen_due *h = gen->heap;
    struct gen_due top = h[0];
    struct gen_due last = h[--gen->heap_cnt];
    uint32_t n = gen->heap_cnt;
    uint32_t i = 0;

    for (;;) {
        uint32_t child = 2 * i + 1;

        if (child >= n)
            break;
        if (child + 1 < n && h[child + 1].due_ms < h[child].due_ms)
            child++;
        if (last.due_ms <= h[child].due_ms)
            break;
        h[i] = h[child];
        i = child;
    }
    if (n)
        h[i] = last;
    return top;
}

/* ---- building events ---- */

static const struct gen_tenant *cust_tenant(const struct cp_gen *gen,
                                            uint64_t c)
{
    return &gen->tenants[c % (uint64_t)gen->cfg.tenants];
}

/* Fills the identity fields of @p ev for customer @p c: event id, tenant,
 * customer, manager (null ~10%) and channel (null ~10%; else by kind). */
static void set_identity(struct cp_gen *gen, struct gen_rng *r,
                         struct gen_strs *s, struct cp_event *ev, uint64_t c,
                         uint8_t mgr, uint8_t pref_channel)
{
    const struct gen_tenant *tn = cust_tenant(gen, c);
    size_t n;

    fmt_uuid(s->event_id, r);
    ev->event_id = mkstr(s->event_id, 36);
    ev->tenant_id = mkstr(tn->id, tn->id_len);
    n = fmt_str(s->customer, "cust-");
    n += fmt_u64(s->customer + n, c, 6);
    ev->customer_id = mkstr(s->customer, n);
    if (rng_pm(r, 100)) {
        ev->manager_id = mkstr(NULL, 0);
    } else {
        const char *m = gen->managers[mgr % tn->managers];

        ev->manager_id = mkstr(m, strlen(m));
    }

    if (rng_pm(r, 100)) {
        ev->channel = CP_CHANNEL_NONE;
        return;
    }
    switch (ev->kind) {
    case CP_CALL_LOGGED:
        ev->channel = CP_CHANNEL_PHONE;
        break;
    case CP_WEB_VISIT:
        ev->channel = CP_CHANNEL_WEB;
        break;
    case CP_MESSAGE_RECEIVED:
    case CP_MESSAGE_SENT:
        ev->channel = (enum cp_channel)pref_channel;
        break;
    default:
        ev->channel = rng_pm(r, 600)
                          ? (enum cp_channel)pref_channel
                          : (enum cp_channel)rng_below(r, CP_CHANNEL_CNT);
        break;
    }
}

/* Entity ids embed the customer id, so an id names one customer of one
 * tenant by construction: "<prefix>-cust-000123-<n>". */
static void set_entity(struct gen_strs *s, struct cp_event *ev,
                       const char *prefix, uint64_t n)
{
    size_t len = fmt_str(s->entity, prefix);

    len += fmt_str(s->entity + len, "-");
    memcpy(s->entity + len, ev->customer_id.ptr, ev->customer_id.len);
    len += ev->customer_id.len;
    s->entity[len++] = '-';
    len += fmt_u64(s->entity + len, n, 1);
    ev->entity_id = mkstr(s->entity, len);
}

/* The sequence numbers that name a customer's entities. */
struct entity_seqs {
    uint64_t deal, order, conv, call, ticket, sub, visit;
};

/* The entity id of @p ev by its kind: "<prefix>-<customer>-<seq>". */
static void set_entity_of(struct gen_strs *s, struct cp_event *ev,
                          const struct entity_seqs *q)
{
    switch (ev->kind) {
    case CP_LEAD_CREATED:
    case CP_STAGE_CHANGED:
    case CP_DEAL_CLOSED:
        set_entity(s, ev, "d", q->deal);
        break;
    case CP_ORDER_PLACED:
        set_entity(s, ev, "o", q->order);
        break;
    case CP_MESSAGE_RECEIVED:
    case CP_MESSAGE_SENT:
        set_entity(s, ev, "conv", q->conv);
        break;
    case CP_CALL_LOGGED:
        set_entity(s, ev, "call", q->call);
        break;
    case CP_TICKET_OPENED:
    case CP_TICKET_RESOLVED:
        set_entity(s, ev, "t", q->ticket);
        break;
    case CP_SUBSCRIPTION_CHANGED:
        set_entity(s, ev, "sub", q->sub);
        break;
    case CP_WEB_VISIT:
        set_entity(s, ev, "s", q->visit);
        break;
    default:
        break;
    }
}

/* Reply delay: a histogram bucket uniformly, then a point inside it;
 * sometimes exactly on a bucket bound, to exercise "response_ms <= b". */
static int64_t pick_reply_delay(struct gen_rng *r)
{
    size_t b = (size_t)rng_below(r, CP_ARRAY_SIZE(reply_bounds_s));
    int64_t lo = b ? reply_bounds_s[b - 1] * 1000 : 0;
    int64_t hi = reply_bounds_s[b] * 1000;
    unsigned edge = (unsigned)rng_below(r, 20);

    if (edge == 0)
        return hi; /* upper bound: still this bucket */
    if (edge == 1)
        return lo + 1; /* just above the lower bound */
    return rng_range(r, lo + 1, hi);
}

static int64_t pick_amount(struct gen_rng *r, uint64_t base)
{
    if (rng_pm(r, 40))
        return 0;
    return (int64_t)(base / 2 + rng_below(r, base + 1));
}

/* Per-customer usual order amount in minor units, 10.00 .. 2000.00. */
static uint64_t cust_base_amount(const struct cp_gen *gen, uint64_t c)
{
    return 1000 + hash_u64(gen->cfg.seed, c) % 199001;
}

/* Orders a churner places before going quiet: 2..7. */
static uint32_t cust_churn_after(const struct cp_gen *gen, uint64_t c)
{
    return 2 + (uint32_t)(hash_u64(gen->cfg.seed ^ 0x5bd1e995, c) % 6);
}

/* The next step of the customer's deal: a new lead, a funnel move (mostly
 * up, sometimes skipping or repeating a stage), a close; sometimes a repeated
 * LeadCreated, a deal first seen at a later stage, or a second close. */
static void gen_deal(struct cp_gen *gen, struct cp_event *ev,
                     struct gen_cust *cu)
{
    struct gen_rng *r = &gen->rng;

    if (cu->deal_state == DEAL_OPEN) {
        if (rng_pm(r, 30)) {
            ev->kind = CP_LEAD_CREATED; /* known deal: counts nothing */
        } else if (cu->deal_stage >= 1 &&
                   (cu->deal_stage >= GEN_STAGE_LAST || rng_pm(r, 250))) {
            ev->kind = CP_DEAL_CLOSED;
            ev->won = rng_pm(r, 300 + 100 * (unsigned)cu->deal_stage);
            cu->deal_state = DEAL_CLOSED;
        } else if (cu->deal_stage >= 1 && rng_pm(r, 80)) {
            ev->kind = CP_STAGE_CHANGED; /* same stage again */
        } else {
            int next = cu->deal_stage + (rng_pm(r, 120) ? 2 : 1);

            ev->kind = CP_STAGE_CHANGED;
            cu->deal_stage =
                (int8_t)(next > GEN_STAGE_LAST ? GEN_STAGE_LAST : next);
        }
    } else if (cu->deal_state == DEAL_CLOSED && rng_pm(r, 60)) {
        ev->kind = CP_DEAL_CLOSED; /* a second close: the first one wins */
        ev->won = rng_pm(r, 500);
    } else {
        cu->deal_seq++;
        cu->deal_state = DEAL_OPEN;
        if (rng_pm(r, 50)) {
            /* Its LeadCreated never reaches us: source "unknown". */
            ev->kind = CP_STAGE_CHANGED;
            cu->deal_stage = (int8_t)rng_range(r, 1, 3);
        } else {
            ev->kind = CP_LEAD_CREATED;
            cu->deal_stage = 0;
        }
    }
    if (ev->kind == CP_LEAD_CREATED) {
        const char *src =
            lead_sources[rng_below(r, CP_ARRAY_SIZE(lead_sources))];

        ev->label = mkstr(src, strlen(src));
    } else if (ev->kind == CP_STAGE_CHANGED) {
        const char *st = stage_names[cu->deal_stage];

        ev->label = mkstr(st, strlen(st));
        ev->stage_order = cu->deal_stage;
    } else if (ev->won) {
        ev->amount = pick_amount(r, 500000);
    } else if (rng_pm(r, 300)) {
        ev->amount = pick_amount(r, 100000); /* the quote that was lost */
    }
}

static void gen_message_in(struct cp_gen *gen, struct gen_cust *cu, uint64_t c,
                           int64_t t)
{
    struct gen_rng *r = &gen->rng;

    if (cu->conv_state == CONV_WAITING)
        return; /* one more message in a row; the wait is not restarted */
    if (cu->conv_state == CONV_NONE || rng_pm(r, 600))
        cu->conv_seq++;
    cu->conv_state = CONV_WAITING;
    if (rng_pm(r, 880)) {
        int64_t delay = pick_reply_delay(r);

        if (rng_pm(r, 250)) {
            int more = (int)rng_range(r, 1, 2);

            for (int i = 0; i < more; i++) {
                int64_t d = rng_range(r, 0, delay < 600000 ? delay : 600000);

                heap_push(gen, t + d, c, cu->conv_seq, DUE_MORE);
            }
        }
        heap_push(gen, t + delay, c, cu->conv_seq, DUE_REPLY);
    }
}

static void gen_message_out(struct cp_gen *gen, struct cp_event *ev,
                            struct gen_cust *cu)
{
    ev->kind = CP_MESSAGE_SENT;
    if (cu->conv_state == CONV_NONE || rng_pm(&gen->rng, 200)) {
        cu->conv_seq++; /* the manager writes first: no wait */
        cu->conv_state = CONV_IDLE;
    } else if (cu->conv_state == CONV_WAITING) {
        cu->conv_state = CONV_IDLE;
    }
}

static void gen_ticket(struct cp_gen *gen, struct cp_event *ev,
                       struct gen_cust *cu)
{
    struct gen_rng *r = &gen->rng;

    if (cu->ticket_state == TICKET_OPEN) {
        if (rng_pm(r, 100)) {
            ev->kind = CP_TICKET_OPENED; /* duplicate open */
        } else {
            ev->kind = CP_TICKET_RESOLVED;
            cu->ticket_state = TICKET_DONE;
        }
    } else if (cu->ticket_state == TICKET_DONE && rng_pm(r, 60)) {
        ev->kind = CP_TICKET_RESOLVED; /* duplicate resolve */
    } else if (rng_pm(r, 40)) {
        /* Resolve of a ticket that was never opened. */
        cu->ticket_seq++;
        cu->ticket_state = TICKET_DONE;
        ev->kind = CP_TICKET_RESOLVED;
    } else {
        cu->ticket_seq++;
        cu->ticket_state = TICKET_OPEN;
        ev->kind = CP_TICKET_OPENED;
    }
}

static void gen_survey(struct gen_rng *r, struct cp_event *ev, int unhappy)
{
    static const int32_t lo[] = {0, 1, 1};
    static const int32_t hi[] = {10, 5, 7};
    int k = (int)rng_below(r, 3);

    /* Unhappy customers: low NPS/CSAT, high effort (CES 7 is the worst). */
    ev->kind = CP_SURVEY_ANSWERED;
    ev->survey_kind = (enum cp_survey_kind)k;
    if (!unhappy)
        ev->score = (int32_t)rng_range(r, lo[k], hi[k]);
    else if (k == CP_SURVEY_CES)
        ev->score = (int32_t)rng_range(r, 4, hi[k]);
    else
        ev->score = (int32_t)rng_range(r, lo[k], (lo[k] + hi[k]) / 2);
}

static void gen_subscription(struct cp_gen *gen, struct cp_event *ev,
                             struct gen_cust *cu, int churned)
{
    struct gen_rng *r = &gen->rng;

    ev->kind = CP_SUBSCRIPTION_CHANGED;
    if (cu->sub_state != SUB_ACTIVE) {
        cu->sub_seq++;
        cu->sub_state = SUB_ACTIVE;
        cu->mrr = rng_pm(r, 20) ? 0 : (uint32_t)rng_range(r, 990, 99000);
        ev->sub_action = CP_SUB_STARTED;
    } else if (churned || rng_pm(r, 200)) {
        cu->sub_state = SUB_CANCELLED;
        ev->sub_action = CP_SUB_CANCELLED;
    } else {
        if (rng_pm(r, 200))
            cu->mrr = (uint32_t)rng_range(r, 990, 99000);
        ev->sub_action = CP_SUB_RENEWED;
    }
    ev->amount = cu->mrr;
}

static void gen_call(struct gen_rng *r, struct cp_event *ev)
{
    ev->kind = CP_CALL_LOGGED;
    ev->inbound = rng_pm(r, 550);
    ev->answered = rng_pm(r, ev->inbound ? 750 : 650);
    if (ev->answered)
        ev->amount = rng_pm(r, 10) ? 0 : rng_range(r, 3000, 1800000);
    else
        ev->amount = rng_pm(r, 600) ? 0 : rng_range(r, 1000, 40000);
}

/* Plans the next step of an open deal or the resolution of an open ticket
 * for a later time: sales cycles of hours to days, tickets of minutes to
 * days. */
static void plan_followups(struct cp_gen *gen, const struct cp_event *ev,
                           const struct gen_cust *cu, uint64_t c)
{
    struct gen_rng *r = &gen->rng;

    switch (ev->kind) {
    case CP_LEAD_CREATED:
    case CP_STAGE_CHANGED:
        if (cu->deal_state == DEAL_OPEN && rng_pm(r, 750))
            heap_push(gen, ev->occurred_at + rng_range(r, 1800000, 345600000),
                      c, cu->deal_seq, DUE_DEAL);
        break;
    case CP_TICKET_OPENED:
        if (cu->ticket_state == TICKET_OPEN && rng_pm(r, 800))
            heap_push(gen, ev->occurred_at + rng_range(r, 300000, 432000000), c,
                      cu->ticket_seq, DUE_TICKET);
        break;
    default:
        break;
    }
}

/* Event time: never before 2000-01-01 and never before the customer's
 * previous event (so replies come after messages, closes after leads). */
static int64_t event_time(struct gen_cust *cu, int64_t t)
{
    if (t < CP_MIN_OCCURRED_AT_MS)
        t = CP_MIN_OCCURRED_AT_MS;
    if (t < cu->last_ms)
        t = cu->last_ms;
    cu->last_ms = t;
    return t;
}

/* Identity and entity id of an event whose payload is filled in. */
static void finish(struct cp_gen *gen, struct cp_event *ev, uint64_t c,
                   const struct gen_cust *cu)
{
    /* A call and a web visit are one event each: the stream position. */
    const struct entity_seqs q = {.deal = cu->deal_seq,
                                  .order = cu->order_cnt,
                                  .conv = cu->conv_seq,
                                  .call = gen->idx,
                                  .ticket = cu->ticket_seq,
                                  .sub = cu->sub_seq,
                                  .visit = gen->idx};

    set_identity(gen, &gen->rng, &gen->s, ev, c, cu->manager, cu->channel);
    set_entity_of(&gen->s, ev, &q);
}

/* Emits the follow-up @p d. @returns 0 when it no longer applies (the deal
 * or ticket moved on meanwhile) and nothing was emitted. */
static int next_due(struct cp_gen *gen, struct cp_event *ev,
                    const struct gen_due *d)
{
    struct gen_cust *cu = &gen->custs[d->cust];

    switch (d->what) {
    case DUE_REPLY:
    case DUE_MORE:
        ev->kind = d->what == DUE_REPLY ? CP_MESSAGE_SENT : CP_MESSAGE_RECEIVED;
        if (d->seq == cu->conv_seq) {
            if (d->what == DUE_REPLY && cu->conv_state == CONV_WAITING)
                cu->conv_state = CONV_IDLE;
            else if (d->what == DUE_MORE)
                cu->conv_state = CONV_WAITING;
        }
        /* A reply to a conversation that was answered meanwhile stays: a
         * MessageSent with no wait, which the contract counts apart. */
        ev->occurred_at = event_time(cu, d->due_ms);
        finish(gen, ev, d->cust, cu);
        set_entity(&gen->s, ev, "conv", d->seq);
        return 1;
    case DUE_DEAL:
        if (d->seq != cu->deal_seq || cu->deal_state != DEAL_OPEN)
            return 0;
        gen_deal(gen, ev, cu);
        break;
    case DUE_TICKET:
        if (d->seq != cu->ticket_seq || cu->ticket_state != TICKET_OPEN)
            return 0;
        ev->kind = CP_TICKET_RESOLVED;
        cu->ticket_state = TICKET_DONE;
        break;
    default:
        return 0;
    }
    ev->occurred_at = event_time(cu, d->due_ms);
    finish(gen, ev, d->cust, cu);
    plan_followups(gen, ev, cu, d->cust);
    return 1;
}

/* Orders a churner places before going quiet. */
static int is_churned(const struct cp_gen *gen, const struct gen_cust *cu,
                      uint64_t c)
{
    return (cu->flags & CUST_CHURNER) &&
           cu->order_cnt >= cust_churn_after(gen, c);
}

static void next_natural(struct cp_gen *gen, struct cp_event *ev, int64_t base)
{
    struct gen_rng *r = &gen->rng;
    uint64_t c = rng_below(r, gen->cfg.customers);
    struct gen_cust *cu;
    unsigned roll, quiet;
    int churned;
    int64_t t = base;

    if (rng_pm(r, 300))
        c %= gen->hot; /* some customers are much busier than others */
    cu = &gen->custs[c];
    churned = is_churned(gen, cu, c);
    if (churned && rng_pm(r, 500)) {
        /* churned customers show up less */
        c = rng_below(r, gen->cfg.customers);
        cu = &gen->custs[c];
        churned = is_churned(gen, cu, c);
    }
    if (gen->step_us > 0)
        t += rng_range(r, -GEN_JITTER_MS, GEN_JITTER_MS);
    ev->occurred_at = t = event_time(cu, t);
    if (rng_pm(r, 5))
        cu->manager = (uint8_t)rng_below(r, cust_tenant(gen, c)->managers);

    /* The mix, per mille: deals 130, orders 130, messages in 170 and out
     * 50, calls 110, tickets 90, surveys 70, subscriptions 50, web visits
     * 200. A churned customer orders nothing: tickets, surveys and
     * cancellations take the orders' share. */
    roll = (unsigned)rng_below(r, 1000);
    quiet = churned ? 120 : 0;
    if (churned && roll >= 130 && roll < 260)
        roll = 590 + (roll - 130) * 3 % 360;

    if (roll < 130) {
        gen_deal(gen, ev, cu);
    } else if (roll < 260) {
        ev->kind = CP_ORDER_PLACED;
        cu->order_cnt++;
        ev->amount = pick_amount(r, cust_base_amount(gen, c));
    } else if (roll < 430) {
        ev->kind = CP_MESSAGE_RECEIVED;
        gen_message_in(gen, cu, c, t);
    } else if (roll < 480) {
        gen_message_out(gen, ev, cu);
    } else if (roll < 590) {
        gen_call(r, ev);
    } else if (roll < 680 + quiet) {
        gen_ticket(gen, ev, cu);
    } else if (roll < 750 + quiet) {
        gen_survey(r, ev, churned);
    } else if (roll < 800 + quiet) {
        if (churned && cu->sub_state != SUB_ACTIVE)
            gen_survey(r, ev, churned); /* gone: no new subscription */
        else
            gen_subscription(gen, ev, cu, churned);
    } else {
        ev->kind = CP_WEB_VISIT;
    }
    finish(gen, ev, c, cu);
    plan_followups(gen, ev, cu, c);
}

void cp_gen_next(struct cp_gen *gen, struct cp_event *ev)
{
    int64_t base = stream_time(gen);
    int done = 0;

    /* Follow-ups that are due go first; their event time is when they were
     * planned for, which is <= base, so events stay in the past. */
    while (!done && gen->heap_cnt && gen->heap[0].due_ms <= base) {
        struct gen_due d = heap_pop(gen);

        memset(ev, 0, sizeof(*ev));
        done = next_due(gen, ev, &d);
    }
    if (!done) {
        memset(ev, 0, sizeof(*ev));
        next_natural(gen, ev, base);
    }
    gen->idx++;
}

cp_rc cp_gen_key(const struct cp_event *ev, struct cp_buf *out)
{
    cp_buf_reset(out);
    if (cp_buf_reserve(out, ev->tenant_id.len + 1 + ev->customer_id.len))
        return CP_ENOMEM;
    cp_buf_append(out, ev->tenant_id.ptr, ev->tenant_id.len);
    cp_buf_append(out, ":", 1);
    cp_buf_append(out, ev->customer_id.ptr, ev->customer_id.len);
    return CP_OK;
}

/* ---- malformed messages ---- */

enum inv_kind {
    INV_EMPTY = 0,
    INV_BAD_MAGIC,
    INV_TOO_SHORT,
    INV_UNKNOWN_ID,
    INV_ALERT_ID,
    INV_TRUNCATED,
    INV_TRAILING,
    INV_RANDOM_BODY,
    INV_CUSTOMER_SPACE,
    INV_TENANT_65,
    INV_MANAGER_EMPTY,
    INV_EVENT_ID_CTRL,
    INV_EVENT_ID_UTF8,
    INV_TIME_1999,
    INV_TIME_FUTURE,
    INV_NEG_AMOUNT,
    INV_STAGE_ORDER_64,
    INV_NPS_11,
    INV_CSAT_0,
    INV_CES_8,
    INV_STAGE_DOT,
    INV_ENUM_RANGE,
    INV_BOOL_2,
    INV_HUGE_LEN,
    INV_UNION_RANGE,
    INV_ENTITY_129,
    INV_KIND_CNT
};

_Static_assert(INV_KIND_CNT <= sizeof(((struct cp_gen *)0)->deck),
               "the deck holds every kind");

static const char *const inv_labels[INV_KIND_CNT] = {
    [INV_EMPTY] = "empty",
    [INV_BAD_MAGIC] = "bad-magic",
    [INV_TOO_SHORT] = "too-short",
    [INV_UNKNOWN_ID] = "unknown-schema-id",
    [INV_ALERT_ID] = "alert-schema-id",
    [INV_TRUNCATED] = "truncated",
    [INV_TRAILING] = "trailing-byte",
    [INV_RANDOM_BODY] = "random-body",
    [INV_CUSTOMER_SPACE] = "customer-id-space",
    [INV_TENANT_65] = "tenant-id-65-chars",
    [INV_MANAGER_EMPTY] = "manager-id-empty",
    [INV_EVENT_ID_CTRL] = "event-id-control-char",
    [INV_EVENT_ID_UTF8] = "event-id-bad-utf8",
    [INV_TIME_1999] = "occurred-at-1999",
    [INV_TIME_FUTURE] = "occurred-at-future",
    [INV_NEG_AMOUNT] = "negative-amount",
    [INV_STAGE_ORDER_64] = "stage-order-64",
    [INV_NPS_11] = "nps-11",
    [INV_CSAT_0] = "csat-0",
    [INV_CES_8] = "ces-8",
    [INV_STAGE_DOT] = "stage-name-dot",
    [INV_ENUM_RANGE] = "enum-out-of-range",
    [INV_BOOL_2] = "boolean-2",
    [INV_HUGE_LEN] = "huge-string-length",
    [INV_UNION_RANGE] = "union-out-of-range",
    [INV_ENTITY_129] = "entity-id-129-bytes",
};

static const char *const entity_prefix[CP_PAYLOAD_KIND_CNT] = {
    [CP_LEAD_CREATED] = "d",
    [CP_STAGE_CHANGED] = "d",
    [CP_DEAL_CLOSED] = "d",
    [CP_ORDER_PLACED] = "o",
    [CP_MESSAGE_RECEIVED] = "conv",
    [CP_MESSAGE_SENT] = "conv",
    [CP_CALL_LOGGED] = "call",
    [CP_TICKET_OPENED] = "t",
    [CP_TICKET_RESOLVED] = "t",
    [CP_SURVEY_ANSWERED] = NULL,
    [CP_SUBSCRIPTION_CHANGED] = "sub",
    [CP_WEB_VISIT] = "s",
};

/* A valid event of @p kind for a random customer, built without touching
 * the stream's state; strings live in gen->inv. */
static void invalid_base(struct cp_gen *gen, struct cp_event *ev,
                         enum cp_payload_kind kind)
{
    struct gen_rng *r = &gen->inv_rng;
    uint64_t c = rng_below(r, gen->cfg.customers);
    int64_t t = stream_time(gen);

    memset(ev, 0, sizeof(*ev));
    ev->kind = kind;
    ev->occurred_at = t < CP_MIN_OCCURRED_AT_MS ? CP_MIN_OCCURRED_AT_MS : t;
    set_identity(gen, r, &gen->inv, ev, c, (uint8_t)rng_below(r, 256),
                 CP_CHANNEL_CHAT);
    if (entity_prefix[kind])
        set_entity(&gen->inv, ev, entity_prefix[kind], rng_range(r, 1, 999));
    switch (kind) {
    case CP_LEAD_CREATED:
        ev->label = mkstr(lead_sources[0], strlen(lead_sources[0]));
        break;
    case CP_STAGE_CHANGED:
        ev->stage_order = (int32_t)rng_range(r, 1, GEN_STAGE_LAST);
        ev->label = mkstr(stage_names[ev->stage_order],
                          strlen(stage_names[ev->stage_order]));
        break;
    case CP_DEAL_CLOSED:
        ev->won = rng_pm(r, 500);
        ev->amount = pick_amount(r, 100000);
        break;
    case CP_ORDER_PLACED:
        ev->amount = pick_amount(r, 10000);
        break;
    case CP_CALL_LOGGED:
        gen_call(r, ev);
        break;
    case CP_SURVEY_ANSWERED:
        ev->survey_kind = CP_SURVEY_CSAT;
        ev->score = 3;
        break;
    case CP_SUBSCRIPTION_CHANGED:
        ev->sub_action = CP_SUB_RENEWED;
        ev->amount = 4900;
        break;
    default:
        break;
    }
}

static cp_rc encode_into(struct cp_codec *codec, const struct cp_event *ev,
                         struct cp_buf *b)
{
    cp_buf_reset(b);
    return cp_codec_encode_event(codec, ev, b);
}

/* Encodes @p a and @p b (same shape, one field differs) into the scratch
 * buffers and finds the byte that holds the field. Leaves a's encoding in
 * scratch[0]. @returns the offset, or -1. */
static long find_field_byte(struct cp_gen *gen, struct cp_codec *codec,
                            const struct cp_event *a, const struct cp_event *b)
{
    struct cp_buf *x = &gen->scratch[0];
    struct cp_buf *y = &gen->scratch[1];

    if (encode_into(codec, b, y) || encode_into(codec, a, x) ||
        x->len != y->len)
        return -1;
    for (size_t i = 0; i < x->len; i++) {
        if (x->data[i] != y->data[i])
            return (long)i;
    }
    return -1;
}

/* An id-like string that breaks the rules: 65 name characters. */
static struct cp_str long_name(struct gen_rng *r, char *dst, size_t len)
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";

    for (size_t i = 0; i < len; i++)
        dst[i] = alnum[rng_below(r, sizeof(alnum) - 1)];
    return mkstr(dst, len);
}

/* A copy of @p s with one byte at a random position replaced by @p bad
 * (1 or 2 bytes). */
static struct cp_str with_bad_byte(struct gen_rng *r, char *dst,
                                   struct cp_str s, const char *bad,
                                   size_t bad_len)
{
    size_t pos = (size_t)rng_below(r, s.len);

    memcpy(dst, s.ptr, pos);
    memcpy(dst + pos, bad, bad_len);
    memcpy(dst + pos + bad_len, s.ptr + pos + 1, s.len - pos - 1);
    return mkstr(dst, s.len - 1 + bad_len);
}

static enum inv_kind deal_kind(struct cp_gen *gen)
{
    struct gen_rng *r = &gen->inv_rng;
    enum inv_kind k;

    if (gen->deck_pos == 0) {
        for (int i = 0; i < INV_KIND_CNT; i++)
            gen->deck[i] = (uint8_t)i;
        for (int i = INV_KIND_CNT - 1; i > 0; i--) {
            int j = (int)rng_below(r, (uint64_t)i + 1);
            uint8_t tmp = gen->deck[i];

            gen->deck[i] = gen->deck[j];
            gen->deck[j] = tmp;
        }
    }
    k = (enum inv_kind)gen->deck[gen->deck_pos];
    gen->deck_pos = (gen->deck_pos + 1) % INV_KIND_CNT;
    return k;
}

/* Builds the damaged bytes into gen->scratch[0]. @returns 0, or -1 when the
 * codec failed (the caller falls back to an empty value). */
static int build_invalid(struct cp_gen *gen, struct cp_codec *codec,
                         enum inv_kind *kindp)
{
    struct gen_rng *r = &gen->inv_rng;
    struct cp_buf *b = &gen->scratch[0];
    struct cp_buf *y = &gen->scratch[1];
    struct cp_event ev, ev2;
    enum inv_kind kind = *kindp;
    size_t body;
    long pos;
    int framed;

    /* Every kind starts from a valid encoding; the framing decides where
     * the Avro body begins (a raw body never starts with 0x00, because an
     * empty event_id is not valid). */
    invalid_base(gen, &ev,
                 (enum cp_payload_kind)rng_below(r, CP_PAYLOAD_KIND_CNT));
    if (encode_into(codec, &ev, b) || b->len < 6)
        return -1;
    framed = b->data[0] == 0;
    body = framed ? 5 : 0;
    if (!framed) {
        /* Raw Avro has no header to damage: other damage instead. */
        if (kind == INV_BAD_MAGIC || kind == INV_UNKNOWN_ID)
            kind = INV_HUGE_LEN;
        else if (kind == INV_ALERT_ID)
            kind = INV_UNION_RANGE;
    }
    *kindp = kind;

    switch (kind) {
    case INV_EMPTY:
        b->len = 0;
        return 0;
    case INV_BAD_MAGIC:
        b->data[0] = (char)rng_range(r, 1, 255);
        return 0;
    case INV_TOO_SHORT:
        b->len = (size_t)rng_range(r, 1, 4);
        return 0;
    case INV_UNKNOWN_ID:
    case INV_ALERT_ID:
        b->data[1] = b->data[2] = b->data[3] = 0;
        b->data[4] = kind == INV_ALERT_ID ? 2 : 99;
        return 0;
    case INV_TRUNCATED:
        b->len = (size_t)rng_range(r, 5, (int64_t)b->len - 1);
        return 0;
    case INV_TRAILING: {
        char g = (char)rng_below(r, 256);

        return cp_buf_append(b, &g, 1) ? -1 : 0;
    }
    case INV_RANDOM_BODY: {
        /* Random bytes, but the event_id length is odd in zigzag, that is
         * negative, so no reader can take them for an event. */
        size_t n = (size_t)rng_range(r, 1, 64);

        b->len = body;
        if (cp_buf_reserve(b, n))
            return -1;
        for (size_t i = 0; i < n; i++)
            b->data[b->len++] = (char)rng_below(r, 256);
        b->data[body] = (char)(b->data[body] | 1);
        return 0;
    }
    case INV_HUGE_LEN: {
        /* event_id claims ~16 GiB (the 36-byte id's length is one byte). */
        static const char huge[5] = {(char)0xfe, (char)0xff, (char)0xff,
                                     (char)0xff, 0x7f};

        cp_buf_reset(y);
        if (cp_buf_append(y, b->data, body) || cp_buf_append(y, huge, 5) ||
            cp_buf_append(y, b->data + body + 1, b->len - body - 1))
            return -1;
        cp_buf_reset(b);
        return cp_buf_append(b, y->data, y->len) ? -1 : 0;
    }
    case INV_UNION_RANGE:
        invalid_base(gen, &ev, CP_MESSAGE_RECEIVED);
        ev2 = ev;
        ev2.kind = CP_MESSAGE_SENT;
        pos = find_field_byte(gen, codec, &ev, &ev2);
        if (pos < 0)
            return -1;
        b->data[pos] = (char)(2 * rng_range(r, CP_PAYLOAD_KIND_CNT, 63));
        return 0;
    case INV_ENUM_RANGE: {
        int which = (int)rng_below(r, 3);

        if (which == 0) {
            invalid_base(gen, &ev, CP_WEB_VISIT);
            ev.channel = CP_CHANNEL_PHONE;
            ev2 = ev;
            ev2.channel = CP_CHANNEL_IN_PERSON;
        } else if (which == 1) {
            invalid_base(gen, &ev, CP_SURVEY_ANSWERED);
            ev.survey_kind = CP_SURVEY_NPS;
            ev2 = ev;
            ev2.survey_kind = CP_SURVEY_CES;
        } else {
            invalid_base(gen, &ev, CP_SUBSCRIPTION_CHANGED);
            ev.sub_action = CP_SUB_STARTED;
            ev2 = ev;
            ev2.sub_action = CP_SUB_CANCELLED;
        }
        pos = find_field_byte(gen, codec, &ev, &ev2);
        if (pos < 0)
            return -1;
        /* zigzag: index k is the byte 2k; channel has 7 symbols, the
         * others 3. */
        b->data[pos] =
            (char)(2 * rng_range(r, which == 0 ? CP_CHANNEL_CNT : 3, 63));
        return 0;
    }
    case INV_BOOL_2:
        invalid_base(gen, &ev, CP_DEAL_CLOSED);
        ev.won = false;
        ev2 = ev;
        ev2.won = true;
        pos = find_field_byte(gen, codec, &ev, &ev2);
        if (pos < 0)
            return -1;
        b->data[pos] = 2;
        return 0;
    default:
        break;
    }

    /* Rule violations: a well-formed encoding of a bad value. */
    switch (kind) {
    case INV_CUSTOMER_SPACE:
        ev.customer_id = with_bad_byte(r, gen->inv.bad, ev.customer_id, " ", 1);
        break;
    case INV_TENANT_65:
        ev.tenant_id = long_name(r, gen->inv.bad, CP_NAME_MAX + 1);
        break;
    case INV_MANAGER_EMPTY:
        ev.manager_id = mkstr(gen->inv.bad, 0);
        break;
    case INV_EVENT_ID_CTRL: {
        static const char ctrl[] = {0x01, 0x09, 0x0a, 0x1b, 0x1f, 0x7f};
        char cc = ctrl[rng_below(r, sizeof(ctrl))];

        ev.event_id = with_bad_byte(r, gen->inv.bad, ev.event_id, &cc, 1);
        break;
    }
    case INV_EVENT_ID_UTF8: {
        /* A lone continuation byte, a never-valid byte, a truncated
         * 2-byte sequence, an overlong '/', or U+0085 (a C1 control). */
        static const char *const bad[] = {"\x80", "\xff", "\xc3", "\xc0\xaf",
                                          "\xc2\x85"};
        static const size_t bad_len[] = {1, 1, 1, 2, 2};
        size_t k = (size_t)rng_below(r, CP_ARRAY_SIZE(bad));

        if (k == 2) {
            /* truncated sequence: put it last so nothing completes it */
            memcpy(gen->inv.bad, ev.event_id.ptr, ev.event_id.len - 1);
            gen->inv.bad[ev.event_id.len - 1] = bad[k][0];
            ev.event_id = mkstr(gen->inv.bad, ev.event_id.len);
        } else {
            ev.event_id =
                with_bad_byte(r, gen->inv.bad, ev.event_id, bad[k], bad_len[k]);
        }
        break;
    }
    case INV_TIME_1999:
        ev.occurred_at = 915148800000LL + rng_range(r, 0, 364LL * 86400000);
        break;
    case INV_TIME_FUTURE:
        ev.occurred_at = cp_now_ms() + 3LL * 86400000;
        break;
    case INV_NEG_AMOUNT: {
        static const enum cp_payload_kind kinds[] = {
            CP_DEAL_CLOSED, CP_ORDER_PLACED, CP_SUBSCRIPTION_CHANGED,
            CP_CALL_LOGGED};

        invalid_base(gen, &ev, kinds[rng_below(r, CP_ARRAY_SIZE(kinds))]);
        ev.amount = -rng_range(r, 1, 1000000);
        break;
    }
    case INV_STAGE_ORDER_64:
        invalid_base(gen, &ev, CP_STAGE_CHANGED);
        ev.stage_order = 64;
        break;
    case INV_NPS_11:
    case INV_CSAT_0:
    case INV_CES_8:
        invalid_base(gen, &ev, CP_SURVEY_ANSWERED);
        ev.survey_kind = kind == INV_NPS_11   ? CP_SURVEY_NPS
                         : kind == INV_CSAT_0 ? CP_SURVEY_CSAT
                                              : CP_SURVEY_CES;
        ev.score = kind == INV_NPS_11 ? 11 : kind == INV_CSAT_0 ? 0 : 8;
        break;
    case INV_STAGE_DOT: {
        size_t n;

        invalid_base(gen, &ev, CP_STAGE_CHANGED);
        n = fmt_str(gen->inv.bad, stage_names[ev.stage_order]);
        n += fmt_str(gen->inv.bad + n, ".v2");
        ev.label = mkstr(gen->inv.bad, n);
        break;
    }
    case INV_ENTITY_129:
        invalid_base(gen, &ev, CP_ORDER_PLACED);
        ev.entity_id = long_name(r, gen->inv.bad, CP_ID_MAX + 1);
        break;
    default:
        return -1;
    }
    return encode_into(codec, &ev, b) ? -1 : 0;
}

const char *cp_gen_invalid(struct cp_gen *gen, struct cp_codec *codec,
                           struct cp_buf *out)
{
    enum inv_kind kind = deal_kind(gen);

    if (build_invalid(gen, codec, &kind)) {
        /* An empty value is invalid too, and needs no codec. */
        return inv_labels[INV_EMPTY];
    }
    if (cp_buf_append(out, gen->scratch[0].data, gen->scratch[0].len))
        return inv_labels[INV_EMPTY];
    return inv_labels[kind];
}

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
};

static const unsigned default_mix[CP_PROFILE_CNT] = {40, 18, 12, 10, 8, 12};

const char *cp_cohort_profile_name(enum cp_cohort_profile p)
{
    if ((int)p < 0 || p >= CP_PROFILE_CNT)
        return NULL;
    return profile_names[p];
}

static int is_churner(unsigned profile)
{
    return profile >= CP_PROFILE_FADING;
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

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
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
        k = min64(k, cu->next[p]);
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
        t = min64(t, cu->churn_ms);
    return t;
}

static void co_plan(struct cp_cohort *co, struct co_cust *cu, unsigned profile)
{
    struct gen_rng *r = &co->rng;
    int64_t span = co->end_ms - co->start_ms;
    int casual = profile == CP_PROFILE_CASUAL;
    static const unsigned sub_pm[CP_PROFILE_CNT] = {350, 150,  300,
                                                    350, 1000, 300};
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

    /* Rhythm: regulars buy every 5-40 days, casual ones every 45-120. */
    cu->interval_ms =
        days_ms(casual ? rng_logu(r, 45, 120) : rng_logu(r, 5, 40));
    cu->amount = (uint32_t)rng_logu(r, 1500, 50000);
    cu->visit_gap =
        casual
            ? days_ms(rng_logu(r, 10, 60))
            : max64(2 * CO_DAY_MS,
                    (int64_t)((double)cu->interval_ms * rng_logu(r, 0.5, 2)));
    cu->msg_gap = days_ms(rng_logu(r, 15, 90));
    cu->call_gap = days_ms(rng_logu(r, 20, 120));
    cu->ticket_gap = days_ms(rng_logu(r, 45, 240));
    cu->survey_gap =
        days_ms(casual ? rng_logu(r, 60, 200) : rng_logu(r, 30, 120));
    cu->deal_gap = days_ms(rng_logu(r, 60, 240));

    /* Most customers were there before the history began; some join. */
    if (rng_pm(r, 700))
        cu->first_ms =
            co->start_ms + rng_span(r, 0, min64(cu->interval_ms, span / 3));
    else
        cu->first_ms = co->start_ms + rng_span(r, 0, span * 3 / 4);

    if (is_churner(profile)) {
        int64_t earliest = cu->first_ms + 2 * cu->interval_ms + CO_DAY_MS;
        int64_t c =
            co->end_ms - (int64_t)((double)span * rng_uni(r, -0.15, 0.7));

        if (c < earliest)
            c = earliest + rng_span(r, 0, cu->interval_ms);
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
            cu->stop_ms = min64(cu->stop_ms, c + 400 * CO_DAY_MS);
        }
    }

    /* Bad spells: 20% of healthy customers, 10% of the others (before
     * any decline). */
    if (rng_pm(r, profile == CP_PROFILE_HEALTHY ? 200 : 100)) {
        int64_t from = cu->first_ms + rng_span(r, 0, co->end_ms - cu->first_ms);
        int64_t until = from + days_ms(rng_uni(r, 10, 35));

        if (until < cu->churn_ms) {
            cu->spell_from = from;
            cu->spell_until = until;
            cu->spell = co_complaints(r, 1, 2);
        }
    }

    /* Subscriptions; some healthy and casual ones cancel once and come
     * back weeks later. */
    if (rng_pm(r, sub_pm[profile])) {
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
        if (!is_churner(profile) && rng_pm(r, 60))
            cu->sub_cancel_ms =
                cu->first_ms + rng_span(r, 0, co->end_ms - cu->first_ms);
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
    if (rng_pm(r, 350))
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

    manager_names_fmt(co->managers);
    for (int t = 0; t < ccfg->tenants; t++) {
        tenant_id_fmt(&co->tenants[t], t, ccfg->tenants);
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

        co_plan(co, cu, prof[c]);
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

    memset(out, 0, sizeof(*out));
    out->tenant_id = co->tenants[i % (uint64_t)co->cfg.tenants].id;
    cust_id_fmt(out->customer_id, i);
    out->profile = (enum cp_cohort_profile)cu->profile;
    out->churn_start_ms = is_churner(cu->profile) ? cu->churn_ms : INT64_MAX;
    out->churned = is_churner(cu->profile) && cu->churn_ms <= co->end_ms;
    out->first_ms = cu->first_ms;
    out->interval_ms = cu->interval_ms;
}

/* ---- the processes: each fills @p ev / @p obs (or emits nothing) and
 * sets its next due time, always later than @p t or CO_NEVER ---- */

enum { MOOD_GOOD = 0, MOOD_MIXED, MOOD_BAD };

static void co_survey_score(struct gen_rng *r, struct cp_event *ev, int mood)
{
    unsigned roll = (unsigned)rng_below(r, 1000);

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
    else if ((b & CO_FADE) || cu->profile == CP_PROFILE_CASUAL)
        mood = MOOD_MIXED;
    ev->kind = CP_SURVEY_ANSWERED;
    if (b & CO_CANCEL) /* the exit survey */
        ev->survey_kind = roll < 700 ? CP_SURVEY_NPS : CP_SURVEY_CSAT;
    else
        ev->survey_kind = roll < 400   ? CP_SURVEY_NPS
                          : roll < 750 ? CP_SURVEY_CSAT
                                       : CP_SURVEY_CES;
    co_survey_score(r, ev, mood);
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

    if (cu->profile == CP_PROFILE_CASUAL)
        gap = jitter(r, cu->interval_ms, 0.3, 1.9);
    else
        gap = jitter(r, cu->interval_ms, 0.5, 1.5);
    if (b & CO_FADE) {
        if (++cu->fade_k >= cu->fade_n) {
            /* the last order: a little residual activity, then nothing */
            cu->next[CO_ORDER] = CO_NEVER;
            cu->stop_ms = min64(cu->stop_ms, t + days_ms(rng_uni(r, 3, 21)));
            return 1;
        }
        for (int k = 0; k < cu->fade_k; k++)
            gap = (int64_t)((double)gap * cu->fade_growth);
    } else if (b & CO_COMPLAINTS) {
        gap = gap * 3 / 2;
    } else if (rng_pm(r, 40)) {
        gap = (int64_t)((double)gap * rng_uni(r, 2, 3)); /* a vacation */
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
        due = min64(due, cu->tk_due[i]);
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
    if (!trouble)
        cu->tk_due[slot] =
            t + (int64_t)rng_logu(r, 30.0 * CO_MIN_MS, 3.0 * CO_DAY_MS);
    else if (t >= cu->churn_ms)
        /* a churner's tickets stay open, or close far too late */
        cu->tk_due[slot] =
            rng_pm(r, 850) ? CO_NEVER : t + days_ms(rng_uni(r, 10, 30));
    else
        /* a bad spell ends with its tickets closed */
        cu->tk_due[slot] =
            max64(cu->spell_until, t + CO_DAY_MS) + days_ms(rng_uni(r, 0, 7));
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
            cu->sub_cancel_ms = CO_NEVER; /* it comes back */
            cu->next[CO_SUB] = t + days_ms(rng_uni(r, 10, 60));
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
        const char *src =
            lead_sources[rng_below(r, CP_ARRAY_SIZE(lead_sources))];

        cu->deal_seq++;
        cu->deal_state = DEAL_OPEN;
        cu->deal_stage = 0;
        cu->deal_last = (uint8_t)rng_range(r, 2, GEN_STAGE_LAST);
        ev->kind = CP_LEAD_CREATED;
        ev->label = mkstr(src, strlen(src));
        cu->next[CO_DEAL] = t + days_ms(rng_uni(r, 2, 15));
    } else if (cu->deal_stage < cu->deal_last) {
        const char *st = stage_names[++cu->deal_stage];

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
            min64(cu->next[CO_SURVEY], t + days_ms(rng_uni(r, 1, 6)));
    if (b & CO_SLOW_REPLIES)
        cu->next[CO_MSG] =
            min64(cu->next[CO_MSG], t + days_ms(rng_uni(r, 0, 3)));
    if (b & CO_MISSED_CALLS)
        cu->next[CO_CALL] =
            min64(cu->next[CO_CALL], t + days_ms(rng_uni(r, 0, 4)));
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
    set_entity_of(s, ev,
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
