/* SPDX-License-Identifier: Apache-2.0 */
/* What the generator's three parts share: the normal stream (gen.c), its
 * malformed messages (invalid.c) and the labelled churn cohort (cohort.c)
 * draw from one PRNG, one vocabulary and one way of naming tenants,
 * managers and entities (names.c). Internal to lib/gen. */
#ifndef CP_GEN_INT_H
#define CP_GEN_INT_H

#include <string.h>

#include "gen.h"

/* ---- PRNG: xoshiro256** seeded through splitmix64 ---- */

struct gen_rng {
    uint64_t s[4];
};

static inline uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void rng_seed(struct gen_rng *r, uint64_t seed)
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
static inline uint64_t hash_u64(uint64_t seed, uint64_t v)
{
    uint64_t x = seed ^ (v * 0xd1342543de82ef95ULL);

    return splitmix64(&x);
}

/* ---- vocabulary (names.c) ---- */

#define GEN_LEAD_SOURCE_CNT 7
extern const char *const cp__gen_lead_sources[GEN_LEAD_SOURCE_CNT];

/* Funnel stages by stage_order; 0 is the lead itself. */
#define GEN_STAGE_LAST 5
extern const char *const cp__gen_stage_names[GEN_STAGE_LAST + 1];

#define GEN_MANAGERS_MAX 20
#define GEN_TENANTS_MAX  100000

enum { DEAL_NONE = 0, DEAL_OPEN, DEAL_CLOSED };
enum { CONV_NONE = 0, CONV_IDLE, CONV_WAITING };
enum { TICKET_NONE = 0, TICKET_OPEN, TICKET_DONE };
enum { SUB_NONE = 0, SUB_ACTIVE, SUB_CANCELLED };

struct gen_tenant {
    char id[32];
    uint8_t id_len;
    uint8_t managers; /* 3..20 */
};

/* String storage for one event: the strings of struct cp_event point here. */
struct gen_strs {
    char event_id[40];
    char customer[32];
    char entity[CP_ID_MAX + 8];
    char bad[CP_ID_MAX + 80]; /* a broken field of an invalid message */
};

/* The sequence numbers that name a customer's entities. */
struct entity_seqs {
    uint64_t deal, order, conv, call, ticket, sub, visit;
};

/* ---- small formatting helpers (no printf on the hot path) ---- */

static inline size_t fmt_u64(char *p, uint64_t v, int minw)
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

static inline size_t fmt_str(char *p, const char *s)
{
    size_t n = strlen(s);

    memcpy(p, s, n);
    return n;
}

/* A random UUID (version 4 layout): 36 characters. */
static inline void fmt_uuid(char *p, struct gen_rng *r)
{
    static const char hex_digits[] = "0123456789abcdef";
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

static inline struct cp_str mkstr(const char *p, size_t len)
{
    struct cp_str s = {p, len};

    return s;
}

/* "acme-1", "globex-1", ...; "t001", ... when there are many tenants. */
void cp__gen_tenant_id_fmt(struct gen_tenant *tn, int t, int tenants);
/* "mgr-01" .. "mgr-20". */
void cp__gen_manager_names_fmt(char (*managers)[8]);
/* Entity ids embed the customer id, so an id names one customer of one
 * tenant by construction: "<prefix>-cust-000123-<n>". */
void cp__gen_set_entity(struct gen_strs *s, struct cp_event *ev,
                        const char *prefix, uint64_t n);
/* The entity id of @p ev by its kind: "<prefix>-<customer>-<seq>". */
void cp__gen_set_entity_of(struct gen_strs *s, struct cp_event *ev,
                           const struct entity_seqs *q);

/* ---- the normal stream, as the malformed messages borrow it (gen.c) ---- */

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

/* Event time of the stream position: start + index x step. */
int64_t cp__gen_stream_time(const struct cp_gen *gen);
/* Fills the identity fields of @p ev for customer @p c: event id, tenant,
 * customer, manager (null ~10%) and channel (null ~10%; else by kind). */
void cp__gen_set_identity(struct cp_gen *gen, struct gen_rng *r,
                          struct gen_strs *s, struct cp_event *ev, uint64_t c,
                          uint8_t mgr, uint8_t pref_channel);
/* An amount around @p base (minor units); now and then 0. */
int64_t cp__gen_pick_amount(struct gen_rng *r, uint64_t base);
/* A CallLogged payload: direction, answered, duration. */
void cp__gen_call(struct gen_rng *r, struct cp_event *ev);

#endif
