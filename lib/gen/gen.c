/* SPDX-License-Identifier: Apache-2.0 */
/* Synthetic CRM event streams for load tests, demos and end-to-end checks:
 * a deterministic walk over tenants, managers and customers that emits deal
 * funnels, orders, conversations, calls, tickets, surveys, subscriptions and
 * web visits. Its malformed messages are in invalid.c, the labelled churn
 * cohort in cohort.c. It sits in front of Kafka: crmpulse-gen encodes what
 * it returns here. */
#include "gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"

/* ---- vocabulary ---- */

/* Upper bounds (seconds) of the first-response histogram buckets; replies
 * are spread evenly over them so that every bucket, binf included, sees
 * traffic. binf replies take up to three days. */
static const int64_t reply_bounds_s[] = {
    15,   30,   60,   120,   300,   600,   900,
    1800, 3600, 7200, 14400, 28800, 86400, 3 * 86400,
};

#define GEN_JITTER_MS 3000
#define GEN_HEAP_MIN  (1u << 16) /* follow-ups queued at most: */
#define GEN_HEAP_MAX  (1u << 22) /* customers / 2 within these */

/* ---- lifecycle ---- */

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

    cp__gen_manager_names_fmt(gen->managers);
    for (int t = 0; t < gcfg->tenants; t++) {
        struct gen_tenant *tn = &gen->tenants[t];

        cp__gen_tenant_id_fmt(tn, t, gcfg->tenants);
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

int64_t cp__gen_stream_time(const struct cp_gen *gen)
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

void cp__gen_set_identity(struct cp_gen *gen, struct gen_rng *r,
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

int64_t cp__gen_pick_amount(struct gen_rng *r, uint64_t base)
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
        const char *src = cp__gen_lead_sources[rng_below(
            r, CP_ARRAY_SIZE(cp__gen_lead_sources))];

        ev->label = mkstr(src, strlen(src));
    } else if (ev->kind == CP_STAGE_CHANGED) {
        const char *st = cp__gen_stage_names[cu->deal_stage];

        ev->label = mkstr(st, strlen(st));
        ev->stage_order = cu->deal_stage;
    } else if (ev->won) {
        ev->amount = cp__gen_pick_amount(r, 500000);
    } else if (rng_pm(r, 300)) {
        ev->amount =
            cp__gen_pick_amount(r, 100000); /* the quote that was lost */
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

void cp__gen_call(struct gen_rng *r, struct cp_event *ev)
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

    cp__gen_set_identity(gen, &gen->rng, &gen->s, ev, c, cu->manager,
                         cu->channel);
    cp__gen_set_entity_of(&gen->s, ev, &q);
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
        cp__gen_set_entity(&gen->s, ev, "conv", d->seq);
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
        ev->amount = cp__gen_pick_amount(r, cust_base_amount(gen, c));
    } else if (roll < 430) {
        ev->kind = CP_MESSAGE_RECEIVED;
        gen_message_in(gen, cu, c, t);
    } else if (roll < 480) {
        gen_message_out(gen, ev, cu);
    } else if (roll < 590) {
        cp__gen_call(r, ev);
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
    int64_t base = cp__gen_stream_time(gen);
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
