/* SPDX-License-Identifier: Apache-2.0 */
/* The synthetic event generator: deterministic, valid, covering every
 * payload kind and response-time bucket, consistent entity ids, bounded
 * memory, and malformed messages that the codec rejects. The labelled churn
 * cohort: deterministic, valid, in event-time order, labels that match the
 * events, observations that match what the worker would derive, and each
 * profile showing its signs. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "churn.h"
#include "codec.h"
#include "gen.h"

/* ---- a tiny string map for the properties below ---- */

struct smap_ent {
    char *key; /* owned */
    int64_t a;
    int64_t b;
};

struct smap {
    struct smap_ent *ents; /* owned */
    size_t cap;
    size_t cnt;
};

static void smap_init(struct smap *m, size_t cap)
{
    m->cap = cap;
    m->cnt = 0;
    m->ents = calloc(cap, sizeof(*m->ents));
    cr_assert(m->ents != NULL);
}

static void smap_free(struct smap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->ents[i].key);
    free(m->ents);
}

/* @returns the entry for key (a new one with a = b = 0 and *fresh set). */
static struct smap_ent *smap_get(struct smap *m, const char *key, int *fresh)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    cr_assert(m->cnt < m->cap * 3 / 4, "smap full");
    for (i = h % m->cap; m->ents[i].key; i = (i + 1) % m->cap) {
        if (strcmp(m->ents[i].key, key) == 0) {
            *fresh = 0;
            return &m->ents[i];
        }
    }
    m->ents[i].key = strdup(key);
    cr_assert(m->ents[i].key != NULL);
    m->cnt++;
    *fresh = 1;
    return &m->ents[i];
}

static void str_of(char *dst, size_t size, struct cp_str s)
{
    cr_assert(s.ptr && s.len < size);
    memcpy(dst, s.ptr, s.len);
    dst[s.len] = '\0';
}

static struct cp_gen *new_gen(uint64_t seed, uint64_t customers, int tenants,
                              int64_t start_ms, int64_t step_ms)
{
    struct cp_gen_config gc = {
        .seed = seed,
        .customers = customers,
        .tenants = tenants,
        .start_ms = start_ms,
        .step_ms = step_ms,
    };
    struct cp_gen *gen = cp_gen_new(&gc);

    cr_assert(gen != NULL);
    return gen;
}

#define WEEK_MS (7LL * 86400 * 1000)

static int str_eq(struct cp_str a, struct cp_str b)
{
    if (!a.ptr || !b.ptr)
        return !a.ptr && !b.ptr;
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

static int events_equal(const struct cp_event *a, const struct cp_event *b)
{
    return str_eq(a->event_id, b->event_id) &&
           str_eq(a->tenant_id, b->tenant_id) &&
           str_eq(a->customer_id, b->customer_id) &&
           str_eq(a->manager_id, b->manager_id) &&
           a->occurred_at == b->occurred_at && a->channel == b->channel &&
           a->kind == b->kind && str_eq(a->entity_id, b->entity_id) &&
           str_eq(a->label, b->label) && a->stage_order == b->stage_order &&
           a->amount == b->amount && a->won == b->won &&
           a->inbound == b->inbound && a->answered == b->answered &&
           a->survey_kind == b->survey_kind && a->score == b->score &&
           a->sub_action == b->sub_action;
}

TestSuite(gen, .timeout = 60);

Test(gen, same_seed_gives_same_stream_other_seed_differs)
{
    int64_t start = 1700000000000LL;
    struct cp_gen *a = new_gen(42, 5000, 3, start, 1000);
    struct cp_gen *b = new_gen(42, 5000, 3, start, 1000);
    struct cp_gen *c = new_gen(43, 5000, 3, start, 1000);
    struct cp_event ea, eb, ec;
    int differ = 0;

    for (int i = 0; i < 30000; i++) {
        cp_gen_next(a, &ea);
        cp_gen_next(b, &eb);
        cp_gen_next(c, &ec);
        cr_assert(events_equal(&ea, &eb), "event %d differs for one seed", i);
        differ += !events_equal(&ea, &ec);
    }
    cr_assert_gt(differ, 29000);
    cp_gen_destroy(a);
    cp_gen_destroy(b);
    cp_gen_destroy(c);
}

Test(gen, rejects_bad_config)
{
    struct cp_gen_config gc = {.seed = 1, .customers = 0, .tenants = 1};

    cr_assert_null(cp_gen_new(&gc));
    gc.customers = 10;
    gc.tenants = 0;
    cr_assert_null(cp_gen_new(&gc));
    gc.tenants = 2;
    gc.step_ms = -1;
    cr_assert_null(cp_gen_new(&gc));
    gc.step_ms = 0;
    gc.step_us = -1;
    cr_assert_null(cp_gen_new(&gc));
}

Test(gen, every_event_is_valid_and_in_the_past)
{
    int64_t now = cp_now_ms();
    int n = 50000;
    struct cp_gen *gen = new_gen(7, 2000, 5, now - WEEK_MS, WEEK_MS / n);
    char reason[256];
    struct cp_event ev;
    int64_t min_t = INT64_MAX, max_t = INT64_MIN;

    for (int i = 0; i < n; i++) {
        cp_gen_next(gen, &ev);
        cr_assert_eq(
            cp_event_validate(&ev, ev.occurred_at, reason, sizeof(reason)),
            CP_OK, "event %d: %s", i, reason);
        cr_assert_eq(cp_event_validate(&ev, now, reason, sizeof(reason)), CP_OK,
                     "event %d at now: %s", i, reason);
        cr_assert_leq(ev.occurred_at, now + 3000, "event %d in the future", i);
        min_t = ev.occurred_at < min_t ? ev.occurred_at : min_t;
        max_t = ev.occurred_at > max_t ? ev.occurred_at : max_t;
    }
    /* spread over the week, across many days and minutes */
    cr_assert_lt(min_t, now - WEEK_MS + 60000);
    cr_assert_gt(max_t, now - 3600000);
    cp_gen_destroy(gen);
}

Test(gen, clamps_event_time_to_year_2000)
{
    struct cp_gen *gen = new_gen(3, 100, 1, 0, 1000);
    char reason[256];
    struct cp_event ev;

    for (int i = 0; i < 2000; i++) {
        cp_gen_next(gen, &ev);
        cr_assert_geq(ev.occurred_at, CP_MIN_OCCURRED_AT_MS);
        cr_assert_eq(
            cp_event_validate(&ev, cp_now_ms(), reason, sizeof(reason)), CP_OK,
            "%s", reason);
    }
    cp_gen_destroy(gen);
}

Test(gen, zero_step_puts_every_event_at_start)
{
    int64_t start = 1700000000000LL;
    struct cp_gen *gen = new_gen(3, 100, 2, start, 0);
    struct cp_event ev;

    for (int i = 0; i < 2000; i++) {
        cp_gen_next(gen, &ev);
        cr_assert_eq(ev.occurred_at, start);
    }
    cp_gen_destroy(gen);
}

Test(gen, microsecond_step_follows_the_stream_position)
{
    int64_t start = 1700000000000LL;
    struct cp_gen_config gc = {
        .seed = 3,
        .customers = 1000,
        .tenants = 2,
        .start_ms = start,
        .step_ms = 1000, /* ignored: step_us wins */
        .step_us = 250,
    };
    struct cp_gen *gen = cp_gen_new(&gc);
    struct cp_event ev;
    int64_t max_t = 0;

    cr_assert(gen != NULL);
    for (int i = 0; i < 40000; i++) {
        cp_gen_next(gen, &ev);
        cr_assert_leq(ev.occurred_at, start + i / 4 + 3000, "event %d", i);
        max_t = ev.occurred_at > max_t ? ev.occurred_at : max_t;
    }
    /* 40000 events x 0.25 ms = 10 s of event time */
    cr_assert_geq(max_t, start + 9000);
    cp_gen_destroy(gen);
}

Test(gen, key_is_tenant_colon_customer)
{
    struct cp_gen *gen = new_gen(5, 100, 2, 1700000000000LL, 1000);
    struct cp_buf key;
    struct cp_event ev;
    char want[160], t[80], c[80];

    cp_buf_init(&key, 0);
    cp_buf_append(&key, "junk", 4);
    for (int i = 0; i < 100; i++) {
        cp_gen_next(gen, &ev);
        cr_assert_eq(cp_gen_key(&ev, &key), CP_OK);
        str_of(t, sizeof(t), ev.tenant_id);
        str_of(c, sizeof(c), ev.customer_id);
        snprintf(want, sizeof(want), "%s:%s", t, c);
        cr_assert_eq(key.len, strlen(want));
        cr_assert(memcmp(key.data, want, key.len) == 0);
    }
    cp_buf_cleanup(&key);
    cp_gen_destroy(gen);
}

/* ---- coverage: what the worker's counters need to see ---- */

static const int64_t rt_bounds_s[] = {15,   30,   60,   120,   300,   600,  900,
                                      1800, 3600, 7200, 14400, 28800, 86400};
#define RT_BUCKETS (CP_ARRAY_SIZE(rt_bounds_s) + 1)

static size_t rt_bucket(int64_t ms)
{
    for (size_t i = 0; i < CP_ARRAY_SIZE(rt_bounds_s); i++) {
        if (ms <= rt_bounds_s[i] * 1000)
            return i;
    }
    return CP_ARRAY_SIZE(rt_bounds_s);
}

struct coverage {
    int kinds[CP_PAYLOAD_KIND_CNT];
    int rt[RT_BUCKETS];
    int sent_no_wait;
    int received_in_row; /* a MessageReceived while already waiting */
    int stage_without_lead, stage_repeat, stage_skip, stage_back;
    int lead_repeat, close_repeat, won, lost;
    int ticket_reopen, ticket_reresolve, ticket_resolve_unknown;
    int nps[11], csat[6], ces[8];
    int sub[3];
    int call_in, call_out, call_missed, call_zero;
    int order_zero, orders;
    int null_manager, null_channel, events;
    int channels[CP_CHANNEL_CNT];
};

static void key_of(char *dst, size_t size, const struct cp_event *ev,
                   const char *cls)
{
    char t[80], e[200];

    str_of(t, sizeof(t), ev->tenant_id);
    str_of(e, sizeof(e), ev->entity_id);
    snprintf(dst, size, "%s|%s|%s", cls, t, e);
}

/* Follows the stream like the worker would (per tenant state keyed by
 * entity id) and records what it saw. */
static void observe(struct cp_gen *gen, int n, struct coverage *cv)
{
    struct smap convs, deals, tickets;
    struct cp_event ev;
    char key[400];
    int fresh;

    memset(cv, 0, sizeof(*cv));
    smap_init(&convs, 1 << 17);
    smap_init(&deals, 1 << 17);
    smap_init(&tickets, 1 << 17);
    for (int i = 0; i < n; i++) {
        struct smap_ent *e;

        cp_gen_next(gen, &ev);
        cv->events++;
        cv->kinds[ev.kind]++;
        cv->null_manager += !ev.manager_id.ptr;
        if (ev.channel == CP_CHANNEL_NONE)
            cv->null_channel++;
        else
            cv->channels[ev.channel]++;
        switch (ev.kind) {
        case CP_MESSAGE_RECEIVED:
            key_of(key, sizeof(key), &ev, "conv");
            e = smap_get(&convs, key, &fresh);
            if (e->a)
                cv->received_in_row++;
            else
                e->a = 1, e->b = ev.occurred_at;
            break;
        case CP_MESSAGE_SENT:
            key_of(key, sizeof(key), &ev, "conv");
            e = smap_get(&convs, key, &fresh);
            if (e->a) {
                int64_t ms = ev.occurred_at - e->b;

                cv->rt[rt_bucket(ms < 0 ? 0 : ms)]++;
                e->a = 0;
            } else {
                cv->sent_no_wait++;
            }
            break;
        case CP_LEAD_CREATED:
            key_of(key, sizeof(key), &ev, "deal");
            e = smap_get(&deals, key, &fresh);
            if (e->a & 1)
                cv->lead_repeat++;
            e->a |= 1;
            break;
        case CP_STAGE_CHANGED:
            key_of(key, sizeof(key), &ev, "deal");
            e = smap_get(&deals, key, &fresh);
            if (!(e->a & 1) && fresh)
                cv->stage_without_lead++;
            if (!fresh && ev.stage_order == e->b)
                cv->stage_repeat++;
            if (!fresh && ev.stage_order > e->b + 1)
                cv->stage_skip++;
            if (!fresh && ev.stage_order < e->b)
                cv->stage_back++;
            e->b = ev.stage_order;
            break;
        case CP_DEAL_CLOSED:
            key_of(key, sizeof(key), &ev, "deal");
            e = smap_get(&deals, key, &fresh);
            if (e->a & 2)
                cv->close_repeat++;
            e->a |= 2;
            if (ev.won)
                cv->won++;
            else
                cv->lost++;
            break;
        case CP_TICKET_OPENED:
            key_of(key, sizeof(key), &ev, "ticket");
            e = smap_get(&tickets, key, &fresh);
            if (e->a == 1)
                cv->ticket_reopen++;
            e->a = 1;
            break;
        case CP_TICKET_RESOLVED:
            key_of(key, sizeof(key), &ev, "ticket");
            e = smap_get(&tickets, key, &fresh);
            if (fresh)
                cv->ticket_resolve_unknown++;
            else if (e->a == 2)
                cv->ticket_reresolve++;
            e->a = 2;
            break;
        case CP_SURVEY_ANSWERED:
            if (ev.survey_kind == CP_SURVEY_NPS)
                cv->nps[ev.score]++;
            else if (ev.survey_kind == CP_SURVEY_CSAT)
                cv->csat[ev.score]++;
            else
                cv->ces[ev.score]++;
            break;
        case CP_SUBSCRIPTION_CHANGED:
            cv->sub[ev.sub_action]++;
            break;
        case CP_CALL_LOGGED:
            if (ev.inbound)
                cv->call_in++;
            else
                cv->call_out++;
            cv->call_missed += ev.inbound && !ev.answered;
            cv->call_zero += ev.amount == 0;
            break;
        case CP_ORDER_PLACED:
            cv->orders++;
            cv->order_zero += ev.amount == 0;
            break;
        default:
            break;
        }
    }
    smap_free(&convs);
    smap_free(&deals);
    smap_free(&tickets);
}

Test(gen, covers_every_kind_bucket_and_edge_case_in_50k_events)
{
    int n = 50000;
    struct cp_gen *gen =
        new_gen(11, 1000, 3, cp_now_ms() - WEEK_MS, WEEK_MS / n);
    struct coverage cv;

    observe(gen, n, &cv);
    for (int k = 0; k < CP_PAYLOAD_KIND_CNT; k++)
        cr_assert_gt(cv.kinds[k], 100, "kind %d: %d", k, cv.kinds[k]);
    for (size_t b = 0; b < RT_BUCKETS; b++)
        cr_assert_gt(cv.rt[b], 100, "response bucket %zu: %d", b, cv.rt[b]);
    cr_assert_gt(cv.sent_no_wait, 500);
    cr_assert_gt(cv.received_in_row, 1000);
    cr_assert_gt(cv.stage_without_lead, 30);
    cr_assert_gt(cv.stage_repeat, 50);
    cr_assert_gt(cv.stage_skip, 100);
    cr_assert_eq(cv.stage_back, 0);
    cr_assert_gt(cv.lead_repeat, 40);
    cr_assert_gt(cv.close_repeat, 20);
    cr_assert_gt(cv.won, 300);
    cr_assert_gt(cv.lost, 200);
    cr_assert_gt(cv.ticket_reopen, 40);
    cr_assert_gt(cv.ticket_reresolve, 20);
    cr_assert_gt(cv.ticket_resolve_unknown, 30);
    for (int s = 0; s <= 10; s++)
        cr_assert_gt(cv.nps[s], 0, "NPS %d never answered", s);
    for (int s = 1; s <= 5; s++)
        cr_assert_gt(cv.csat[s], 0, "CSAT %d never answered", s);
    for (int s = 1; s <= 7; s++)
        cr_assert_gt(cv.ces[s], 0, "CES %d never answered", s);
    cr_assert_eq(cv.csat[0], 0);
    cr_assert_eq(cv.ces[0], 0);
    for (int a = 0; a < 3; a++)
        cr_assert_gt(cv.sub[a], 20, "subscription action %d", a);
    cr_assert_gt(cv.call_in, 100);
    cr_assert_gt(cv.call_out, 100);
    cr_assert_gt(cv.call_missed, 50);
    cr_assert_gt(cv.call_zero, 50);
    cr_assert_gt(cv.order_zero, 10);
    cr_assert_lt(cv.order_zero, cv.orders / 5);
    /* ~10% null manager and channel */
    cr_assert(cv.null_manager > cv.events / 20 &&
                  cv.null_manager < cv.events / 7,
              "null managers: %d of %d", cv.null_manager, cv.events);
    cr_assert(cv.null_channel > cv.events / 20 &&
                  cv.null_channel < cv.events / 7,
              "null channels: %d of %d", cv.null_channel, cv.events);
    for (int ch = 0; ch < CP_CHANNEL_CNT; ch++)
        cr_assert_gt(cv.channels[ch], 50, "channel %d", ch);
    cp_gen_destroy(gen);
}

Test(gen, ids_belong_to_one_customer_and_names_are_well_formed)
{
    int n = 50000;
    struct cp_gen *gen = new_gen(13, 3000, 4, 1700000000000LL, 5000);
    struct smap owner, customers, event_ids, managers, tenants;
    struct cp_event ev;
    char key[400], cust[80], mgr[80], ten[80], eid[80];
    int fresh;

    smap_init(&owner, 1 << 17);
    smap_init(&customers, 1 << 13);
    smap_init(&event_ids, 1 << 17);
    smap_init(&managers, 1 << 10);
    smap_init(&tenants, 1 << 4);
    for (int i = 0; i < n; i++) {
        struct smap_ent *e;
        static const char *const cls[CP_PAYLOAD_KIND_CNT] = {
            "deal", "deal",   "deal",   "order", "conv", "conv",
            "call", "ticket", "ticket", NULL,    "sub",  "session"};

        cp_gen_next(gen, &ev);
        str_of(cust, sizeof(cust), ev.customer_id);
        str_of(ten, sizeof(ten), ev.tenant_id);
        str_of(eid, sizeof(eid), ev.event_id);
        smap_get(&tenants, ten, &fresh);

        /* a customer lives in one tenant */
        e = smap_get(&customers, cust, &fresh);
        if (fresh)
            e->a = (int64_t)(uintptr_t)smap_get(&tenants, ten, &fresh)->key;
        cr_assert_str_eq((const char *)(uintptr_t)e->a, ten);

        e = smap_get(&event_ids, eid, &fresh);
        cr_assert(fresh, "event_id %s repeated", eid);
        cr_assert_eq(ev.event_id.len, 36);

        if (ev.manager_id.ptr) {
            str_of(mgr, sizeof(mgr), ev.manager_id);
            snprintf(key, sizeof(key), "%s|%s", ten, mgr);
            smap_get(&managers, key, &fresh);
        }
        if (!cls[ev.kind])
            continue;
        key_of(key, sizeof(key), &ev, cls[ev.kind]);
        e = smap_get(&owner, key, &fresh);
        if (fresh) {
            e->a = (int64_t)(uintptr_t)smap_get(&customers, cust, &fresh)->key;
            if (ev.kind == CP_CALL_LOGGED || ev.kind == CP_WEB_VISIT)
                e->b = 1;
        } else {
            cr_assert_str_eq((const char *)(uintptr_t)e->a, cust,
                             "%s belongs to two customers", key);
            cr_assert_eq(e->b, 0, "%s used twice", key);
        }
    }
    cr_assert_eq(tenants.cnt, 4);
    /* 3..20 managers per tenant */
    cr_assert(managers.cnt >= 4 * 3 && managers.cnt <= 4 * 20, "%zu managers",
              managers.cnt);
    cr_assert_gt(customers.cnt, 2000);
    smap_free(&owner);
    smap_free(&customers);
    smap_free(&event_ids);
    smap_free(&managers);
    smap_free(&tenants);
    cp_gen_destroy(gen);
}

Test(gen, customer_event_time_never_goes_backwards)
{
    uint64_t customers = 500;
    int64_t *last = calloc(customers, sizeof(*last));
    struct cp_gen *gen = new_gen(17, customers, 3, 1700000000000LL, 2000);
    struct cp_event ev;
    char cust[80];

    cr_assert(last != NULL);
    for (int i = 0; i < 50000; i++) {
        unsigned long c;

        cp_gen_next(gen, &ev);
        str_of(cust, sizeof(cust), ev.customer_id);
        cr_assert_eq(sscanf(cust, "cust-%lu", &c), 1);
        cr_assert_lt(c, customers);
        cr_assert_geq(ev.occurred_at, last[c], "event %d of %s goes back", i,
                      cust);
        /* close to its position in the stream */
        cr_assert_leq(ev.occurred_at, 1700000000000LL + 2000LL * i + 3000);
        last[c] = ev.occurred_at;
    }
    free(last);
    cp_gen_destroy(gen);
}

Test(gen, memory_per_customer_is_bounded)
{
    uint64_t customers = 1000000;
    struct mallinfo2 before = mallinfo2();
    struct cp_gen *gen = new_gen(19, customers, 10, 1700000000000LL, 10);
    struct mallinfo2 after;
    struct cp_event ev;
    size_t own;

    for (int i = 0; i < 300000; i++)
        cp_gen_next(gen, &ev);
    own = cp_gen_mem_bytes(gen);
    after = mallinfo2();
    cr_assert_lt(own / customers, 64, "%zu bytes per customer",
                 own / customers);
    cr_assert_geq(own, customers * 32);
    /* The allocator agrees (it reports zeros under AddressSanitizer). */
    cr_assert_lt(
        (after.uordblks + after.hblkhd - before.uordblks - before.hblkhd) /
            customers,
        100);
    cp_gen_destroy(gen);
}

/* ---- malformed messages (needs the codec) ---- */

static void check_invalid(enum cp_framing framing)
{
    char errstr[256], reason[512];
    struct cp_codec *codec = cp_codec_new(framing, errstr, sizeof(errstr));
    struct cp_gen *gen = new_gen(23, 1000, 3, cp_now_ms() - WEEK_MS, 10000);
    struct cp_arena arena;
    struct cp_buf out;
    struct cp_event ev;
    const char *labels[64];
    size_t label_cnt = 0;

    cr_assert(codec != NULL, "codec: %s", errstr);
    cp_arena_init(&arena, 4096);
    cp_buf_init(&out, 0);
    for (int i = 0; i < 600; i++) {
        const char *label;
        size_t j;

        cp_gen_next(gen, &ev); /* interleaved, as crmpulse-gen does */
        cp_buf_reset(&out);
        label = cp_gen_invalid(gen, codec, &out);
        cr_assert(label && *label);
        reason[0] = '\0';
        cr_assert_eq(cp_codec_decode_event(codec, out.data, out.len,
                                           cp_now_ms(), &arena, &ev, reason,
                                           sizeof(reason)),
                     CP_EDECODE, "%s (message %d) was accepted", label, i);
        cr_assert_neq(reason[0], '\0', "%s: empty reason", label);
        cp_arena_reset(&arena);
        for (j = 0; j < label_cnt; j++) {
            if (strcmp(labels[j], label) == 0)
                break;
        }
        if (j == label_cnt && label_cnt < CP_ARRAY_SIZE(labels))
            labels[label_cnt++] = label;
    }
    /* every kind comes round (framing kinds are replaced in raw mode) */
    cr_assert_geq(label_cnt, framing == CP_FRAMING_RAW ? 23 : 26, "%zu kinds",
                  label_cnt);
    cp_buf_cleanup(&out);
    cp_arena_cleanup(&arena);
    cp_gen_destroy(gen);
    cp_codec_destroy(codec);
}

Test(gen, invalid_messages_are_rejected_confluent)
{
    check_invalid(CP_FRAMING_CONFLUENT);
}

Test(gen, invalid_messages_are_rejected_raw)
{
    check_invalid(CP_FRAMING_RAW);
}

Test(gen, invalid_stream_is_deterministic_and_leaves_valid_stream_alone)
{
    char errstr[256];
    struct cp_codec *codec =
        cp_codec_new(CP_FRAMING_CONFLUENT, errstr, sizeof(errstr));
    struct cp_gen *a = new_gen(29, 1000, 3, 1700000000000LL, 1000);
    struct cp_gen *b = new_gen(29, 1000, 3, 1700000000000LL, 1000);
    struct cp_gen *c = new_gen(29, 1000, 3, 1700000000000LL, 1000);
    struct cp_buf ba, bb;
    struct cp_event ea, eb, ec;

    cr_assert(codec != NULL, "codec: %s", errstr);
    cp_buf_init(&ba, 0);
    cp_buf_init(&bb, 0);
    for (int i = 0; i < 500; i++) {
        const char *la, *lb;

        cp_gen_next(a, &ea);
        cp_gen_next(b, &eb);
        cp_gen_next(c, &ec);
        cr_assert(events_equal(&ea, &ec));
        cp_buf_reset(&ba);
        cp_buf_reset(&bb);
        la = cp_gen_invalid(a, codec, &ba);
        lb = cp_gen_invalid(b, codec, &bb);
        cr_assert_str_eq(la, lb);
        if (strcmp(la, "occurred-at-future") != 0) {
            cr_assert_eq(ba.len, bb.len);
            cr_assert(ba.len == 0 || memcmp(ba.data, bb.data, ba.len) == 0,
                      "%s differs", la);
        }
    }
    cp_buf_cleanup(&ba);
    cp_buf_cleanup(&bb);
    cp_gen_destroy(a);
    cp_gen_destroy(b);
    cp_gen_destroy(c);
    cp_codec_destroy(codec);
}

Test(gen, generated_events_survive_the_codec)
{
    char errstr[256], reason[512];
    struct cp_codec *codec =
        cp_codec_new(CP_FRAMING_CONFLUENT, errstr, sizeof(errstr));
    struct cp_gen *gen = new_gen(31, 1000, 3, cp_now_ms() - WEEK_MS, 10000);
    struct cp_arena arena;
    struct cp_buf out;
    struct cp_event ev, back;

    cr_assert(codec != NULL, "codec: %s", errstr);
    cp_arena_init(&arena, 4096);
    cp_buf_init(&out, 0);
    for (int i = 0; i < 5000; i++) {
        cp_gen_next(gen, &ev);
        cp_buf_reset(&out);
        cr_assert_eq(cp_codec_encode_event(codec, &ev, &out), CP_OK);
        cr_assert_eq(cp_codec_decode_event(codec, out.data, out.len,
                                           cp_now_ms(), &arena, &back, reason,
                                           sizeof(reason)),
                     CP_OK, "event %d: %s", i, reason);
        cr_assert(events_equal(&ev, &back), "event %d changed", i);
        cp_arena_reset(&arena);
    }
    cp_buf_cleanup(&out);
    cp_arena_cleanup(&arena);
    cp_gen_destroy(gen);
    cp_codec_destroy(codec);
}

/* ---- labelled churn cohort ---- */

#define DAY_MS     86400000LL
#define COHORT_END 1764000000000LL /* 2025-11-24T16:00:00Z */

static struct cp_cohort *new_cohort(uint64_t seed, uint64_t customers,
                                    int tenants, int days)
{
    struct cp_cohort_config cc = {
        .seed = seed,
        .customers = customers,
        .tenants = tenants,
        .end_ms = COHORT_END,
        .days = days,
    };
    char errstr[256] = "";
    struct cp_cohort *co = cp_cohort_new(&cc, errstr, sizeof(errstr));

    cr_assert(co != NULL, "cohort: %s", errstr);
    return co;
}

/* Index of "cust-000123". */
static uint64_t cust_index(struct cp_str id)
{
    char buf[32];

    str_of(buf, sizeof(buf), id);
    cr_assert(strncmp(buf, "cust-", 5) == 0, "customer id %s", buf);
    return strtoull(buf + 5, NULL, 10);
}

static int is_churner_profile(enum cp_cohort_profile p)
{
    return p == CP_PROFILE_FADING || p == CP_PROFILE_COMPLAINING ||
           p == CP_PROFILE_CANCELLING || p == CP_PROFILE_SILENT;
}

Test(gen, cohort_same_seed_same_history_other_seed_differs)
{
    struct cp_cohort *a = new_cohort(11, 400, 2, 120);
    struct cp_cohort *b = new_cohort(11, 400, 2, 120);
    struct cp_cohort *c = new_cohort(12, 400, 2, 120);
    struct cp_event ea, eb, ec;
    struct cp_cohort_obs oa, ob, oc;
    struct cp_cohort_label la, lb, lc;
    int n = 0, differ = 0, labels_differ = 0;

    for (uint64_t i = 0; i < 400; i++) {
        cp_cohort_label(a, i, &la);
        cp_cohort_label(b, i, &lb);
        cp_cohort_label(c, i, &lc);
        cr_assert_str_eq(la.tenant_id, lb.tenant_id);
        cr_assert_str_eq(la.customer_id, lb.customer_id);
        cr_assert(la.profile == lb.profile && la.churned == lb.churned &&
                      la.churn_start_ms == lb.churn_start_ms &&
                      la.first_ms == lb.first_ms &&
                      la.interval_ms == lb.interval_ms,
                  "label %d", (int)i);
        labels_differ +=
            la.profile != lc.profile || la.churn_start_ms != lc.churn_start_ms;
    }
    cr_assert_gt(labels_differ, 200);
    for (;;) {
        int ra = cp_cohort_next(a, &ea, &oa);
        int rb = cp_cohort_next(b, &eb, &ob);
        int rc = cp_cohort_next(c, &ec, &oc);

        cr_assert_eq(ra, rb);
        if (!ra)
            break;
        cr_assert(events_equal(&ea, &eb), "event %d differs for one seed", n);
        cr_assert_str_eq(oa.name, ob.name);
        cr_assert_eq(oa.value, ob.value);
        differ += !rc || !events_equal(&ea, &ec);
        n++;
    }
    cr_assert_gt(n, 5000);
    cr_assert_gt(differ, n * 99 / 100);
    /* done stays done */
    cr_assert_eq(cp_cohort_next(a, &ea, &oa), 0);
    cp_cohort_destroy(a);
    cp_cohort_destroy(b);
    cp_cohort_destroy(c);
}

Test(gen, cohort_rejects_bad_config)
{
    struct cp_cohort_config cc = {.seed = 1,
                                  .customers = 10,
                                  .tenants = 1,
                                  .end_ms = COHORT_END,
                                  .days = 365};
    char errstr[256];
    struct cp_cohort *co;

    errstr[0] = '\0';
    cc.customers = 0;
    cr_assert_null(cp_cohort_new(&cc, errstr, sizeof(errstr)));
    cr_assert(strstr(errstr, "customers") != NULL, "%s", errstr);
    cc.customers = CP_COHORT_CUSTOMERS_MAX + 1ULL;
    cr_assert_null(cp_cohort_new(&cc, errstr, sizeof(errstr)));
    cc.customers = 10;
    cc.tenants = 0;
    cr_assert_null(cp_cohort_new(&cc, errstr, sizeof(errstr)));
    cr_assert(strstr(errstr, "tenants") != NULL, "%s", errstr);
    cc.tenants = 1;
    cc.days = CP_COHORT_DAYS_MIN - 1;
    cr_assert_null(cp_cohort_new(&cc, errstr, sizeof(errstr)));
    cr_assert(strstr(errstr, "days") != NULL, "%s", errstr);
    cc.days = 365;
    cc.end_ms = CP_MIN_OCCURRED_AT_MS + 364 * DAY_MS; /* starts in 1999 */
    cr_assert_null(cp_cohort_new(&cc, errstr, sizeof(errstr)));
    cr_assert(strstr(errstr, "end") != NULL, "%s", errstr);
    cc.end_ms = COHORT_END;
    cc.mix[0] = 1000001;
    cr_assert_null(cp_cohort_new(&cc, errstr, sizeof(errstr)));
    cr_assert(strstr(errstr, "mix") != NULL, "%s", errstr);
    cc.mix[0] = 0;
    co = cp_cohort_new(&cc, errstr, sizeof(errstr));
    cr_assert(co != NULL, "%s", errstr);
    cp_cohort_destroy(co);
}

Test(gen, cohort_mix_is_exact)
{
    struct cp_cohort_config cc = {.seed = 5,
                                  .customers = 1001,
                                  .tenants = 1,
                                  .end_ms = COHORT_END,
                                  .days = 60,
                                  .mix = {1, 0, 0, 0, 0, 2}};
    char errstr[256];
    struct cp_cohort *co = cp_cohort_new(&cc, errstr, sizeof(errstr));
    struct cp_cohort *dflt = new_cohort(5, 3000, 3, 60);
    static const uint64_t want[CP_PROFILE_CNT] = {1080, 480, 360, 300,
                                                  240,  360, 180};
    uint64_t seen[CP_PROFILE_CNT] = {0};
    struct cp_cohort_label lb;

    cr_assert(co != NULL, "%s", errstr);
    cr_assert_eq(cp_cohort_profile_count(co, CP_PROFILE_HEALTHY), 334);
    cr_assert_eq(cp_cohort_profile_count(co, CP_PROFILE_SILENT), 667);
    cr_assert_eq(cp_cohort_profile_count(co, CP_PROFILE_CASUAL), 0);
    for (int p = 0; p < CP_PROFILE_CNT; p++)
        cr_assert_eq(cp_cohort_profile_count(dflt, (enum cp_cohort_profile)p),
                     want[p], "profile %s", cp_cohort_profile_name(p));
    for (uint64_t i = 0; i < 3000; i++) {
        cp_cohort_label(dflt, i, &lb);
        seen[lb.profile]++;
    }
    for (int p = 0; p < CP_PROFILE_CNT; p++)
        cr_assert_eq(seen[p], want[p]);
    cr_assert_str_eq(cp_cohort_profile_name(CP_PROFILE_COMPLAINING),
                     "complaining");
    cr_assert_null(cp_cohort_profile_name(CP_PROFILE_CNT));
    cr_assert_str_eq(cp_cohort_population_name(CP_PROFILE_CASUAL),
                     "rare_loyal");
    cr_assert_str_eq(cp_cohort_population_name(CP_PROFILE_CANCELLING),
                     "loud_churner");
    cr_assert_str_eq(cp_cohort_population_name(CP_PROFILE_FADING),
                     "quiet_churner");
    cr_assert_null(cp_cohort_population_name(CP_PROFILE_CNT));
    cr_assert_str_eq(cp_cohort_business_name(CP_BUSINESS_SAAS), "saas");
    cr_assert_null(cp_cohort_business_name(CP_BUSINESS_CNT));
    cp_cohort_destroy(co);
    cp_cohort_destroy(dflt);
}

Test(gen, cohort_events_are_valid_ordered_and_survive_the_codec)
{
    char errstr[256], reason[512], want[160], t[80], c[80];
    struct cp_codec *codec =
        cp_codec_new(CP_FRAMING_CONFLUENT, errstr, sizeof(errstr));
    struct cp_cohort *co = new_cohort(21, 600, 3, 180);
    int64_t start = cp_cohort_start_ms(co), prev = INT64_MIN;
    struct cp_arena arena;
    struct cp_buf out, key;
    struct cp_event ev, back;
    struct cp_cohort_obs obs;
    struct cp_cohort_label lb;
    int kinds[CP_PAYLOAD_KIND_CNT] = {0};
    int n = 0;

    cr_assert(codec != NULL, "codec: %s", errstr);
    cr_assert_eq(start, COHORT_END - 180 * DAY_MS);
    cp_arena_init(&arena, 4096);
    cp_buf_init(&out, 0);
    cp_buf_init(&key, 0);
    while (cp_cohort_next(co, &ev, &obs)) {
        cr_assert_eq(cp_event_validate(&ev, COHORT_END, reason, sizeof(reason)),
                     CP_OK, "event %d: %s", n, reason);
        cr_assert_geq(ev.occurred_at, start, "event %d", n);
        cr_assert_leq(ev.occurred_at, COHORT_END, "event %d", n);
        cr_assert_geq(ev.occurred_at, prev, "event %d goes back in time", n);
        prev = ev.occurred_at;
        kinds[ev.kind]++;

        /* the key names the labelled customer's tenant */
        cp_cohort_label(co, cust_index(ev.customer_id), &lb);
        str_of(t, sizeof(t), ev.tenant_id);
        str_of(c, sizeof(c), ev.customer_id);
        cr_assert_str_eq(t, lb.tenant_id);
        cr_assert_str_eq(c, lb.customer_id);
        cr_assert_eq(cp_gen_key(&ev, &key), CP_OK);
        snprintf(want, sizeof(want), "%s:%s", t, c);
        cr_assert(key.len == strlen(want) && !memcmp(key.data, want, key.len));

        if (n % 5 == 0) {
            cp_buf_reset(&out);
            cr_assert_eq(cp_codec_encode_event(codec, &ev, &out), CP_OK);
            cr_assert_eq(cp_codec_decode_event(codec, out.data, out.len,
                                               COHORT_END, &arena, &back,
                                               reason, sizeof(reason)),
                         CP_OK, "event %d: %s", n, reason);
            cr_assert(events_equal(&ev, &back), "event %d changed", n);
            cp_arena_reset(&arena);
        }
        n++;
    }
    cr_assert_gt(n, 10000);
    for (int k = 0; k < CP_PAYLOAD_KIND_CNT; k++)
        cr_assert_gt(kinds[k], 0, "no %s", cp_payload_kind_name(k));
    cp_buf_cleanup(&out);
    cp_buf_cleanup(&key);
    cp_arena_cleanup(&arena);
    cp_cohort_destroy(co);
    cp_codec_destroy(codec);
}

/* What the test remembers of one customer's events. */
struct seen {
    int64_t first_ms, last_ms, last_order_ms;
    int first_is_order;
    uint32_t events;
    uint32_t orders_after_start; /* at or after the churn start */
    uint32_t events_after_start;
    int64_t cancel_ms;      /* first sub_cancelled after the start */
    int first_survey_after; /* score; -1: none */
    int first_survey_kind;
    double amt_before, amt_after; /* order amounts, before/after the start */
    uint32_t n_before, n_after;
    int64_t first_after_ms, last_before_ms; /* orders around the start */
    uint32_t trouble_after; /* tickets opened, missed calls, bad scores */
    uint32_t trouble_all;
    uint32_t nps_sum, nps_cnt;
    uint32_t bad_scores;
    uint32_t slow_tickets;  /* resolved more than 3 days after opening */
    uint32_t cancels;       /* subscriptions cancelled */
    uint32_t plan_changes;  /* started within 2 days after a cancel */
    int64_t last_cancel_ms; /* INT64_MIN: none yet */
    uint32_t subscribed;    /* subscription events of any kind */
};

static int bad_score(const struct cp_event *ev)
{
    return ev->kind == CP_SURVEY_ANSWERED &&
           ((ev->survey_kind == CP_SURVEY_NPS && ev->score <= 4) ||
            (ev->survey_kind == CP_SURVEY_CSAT && ev->score <= 2) ||
            (ev->survey_kind == CP_SURVEY_CES && ev->score >= 6));
}

static int trouble(const struct cp_event *ev)
{
    return ev->kind == CP_TICKET_OPENED ||
           (ev->kind == CP_CALL_LOGGED && ev->inbound && !ev->answered) ||
           bad_score(ev);
}

/* Reads a whole cohort into per-customer summaries (owned by the caller,
 * free()) and its labels. */
static struct seen *read_cohort(struct cp_cohort *co,
                                struct cp_cohort_label *labels)
{
    uint64_t n = cp_cohort_customers(co);
    struct seen *s = calloc(n, sizeof(*s));
    struct cp_event ev;
    struct cp_cohort_obs obs;

    cr_assert(s != NULL);
    for (uint64_t i = 0; i < n; i++) {
        cp_cohort_label(co, i, &labels[i]);
        s[i].first_ms = INT64_MAX;
        s[i].last_ms = s[i].last_order_ms = INT64_MIN;
        s[i].cancel_ms = INT64_MAX;
        s[i].first_survey_after = -1;
        s[i].first_after_ms = INT64_MAX;
        s[i].last_before_ms = INT64_MIN;
        s[i].last_cancel_ms = INT64_MIN;
    }
    while (cp_cohort_next(co, &ev, &obs)) {
        uint64_t c = cust_index(ev.customer_id);
        struct seen *x = &s[c];
        int64_t cs = labels[c].churn_start_ms;
        int after = ev.occurred_at >= cs;

        cr_assert_lt(c, n);
        if (x->events++ == 0) {
            x->first_ms = ev.occurred_at;
            x->first_is_order = ev.kind == CP_ORDER_PLACED;
        }
        x->last_ms = ev.occurred_at;
        x->events_after_start += after;
        x->trouble_all += trouble(&ev);
        x->bad_scores += bad_score(&ev);
        x->trouble_after += after && trouble(&ev);
        if (ev.kind == CP_TICKET_RESOLVED &&
            ev.occurred_at - obs.value > 3 * DAY_MS)
            x->slow_tickets++;
        if (ev.kind == CP_SUBSCRIPTION_CHANGED) {
            x->subscribed++;
            if (ev.sub_action == CP_SUB_CANCELLED) {
                x->cancels++;
                x->last_cancel_ms = ev.occurred_at;
            } else if (ev.sub_action == CP_SUB_STARTED &&
                       x->last_cancel_ms != INT64_MIN &&
                       ev.occurred_at - x->last_cancel_ms <= 2 * DAY_MS) {
                x->plan_changes++;
            }
        }
        if (ev.kind == CP_ORDER_PLACED) {
            x->last_order_ms = ev.occurred_at;
            if (after) {
                x->orders_after_start++;
                x->amt_after += (double)ev.amount;
                x->n_after++;
                if (x->first_after_ms == INT64_MAX)
                    x->first_after_ms = ev.occurred_at;
            } else {
                x->amt_before += (double)ev.amount;
                x->n_before++;
                x->last_before_ms = ev.occurred_at;
            }
        } else if (ev.kind == CP_SUBSCRIPTION_CHANGED &&
                   ev.sub_action == CP_SUB_CANCELLED && after &&
                   x->cancel_ms == INT64_MAX) {
            x->cancel_ms = ev.occurred_at;
        } else if (ev.kind == CP_SURVEY_ANSWERED) {
            if (after && x->first_survey_after < 0) {
                x->first_survey_after = ev.score;
                x->first_survey_kind = (int)ev.survey_kind;
            }
            if (ev.survey_kind == CP_SURVEY_NPS) {
                x->nps_sum += (uint32_t)ev.score;
                x->nps_cnt++;
            }
        }
    }
    return s;
}

Test(gen, cohort_labels_match_the_events)
{
    uint64_t n = 3000;
    struct cp_cohort *co = new_cohort(33, n, 3, 365);
    struct cp_cohort_label *lb = calloc(n, sizeof(*lb));
    struct seen *s;
    int churned = 0, pending = 0, late_joiners = 0, prospects = 0;

    cr_assert(lb != NULL);
    s = read_cohort(co, lb);
    for (uint64_t i = 0; i < n; i++) {
        const struct cp_cohort_label *l = &lb[i];
        const struct seen *x = &s[i];
        int churner = is_churner_profile(l->profile);

        /* every labelled customer is in the events, first with an order
         * (a prospect never orders) */
        cr_assert_gt(x->events, 0, "%s has no event", l->customer_id);
        cr_assert_eq(x->first_ms, l->first_ms, "%s", l->customer_id);
        if (l->profile == CP_PROFILE_PROSPECT) {
            cr_assert_eq(x->last_order_ms, INT64_MIN, "%s", l->customer_id);
            cr_assert(l->churned == 0 && l->churn_start_ms == INT64_MAX);
            prospects++;
            continue;
        }
        cr_assert(x->first_is_order, "%s", l->customer_id);
        cr_assert_eq(l->churned, churner && l->churn_start_ms <= COHORT_END,
                     "%s", l->customer_id);
        churned += l->churned;
        pending += churner && !l->churned;
        late_joiners += l->first_ms > COHORT_END - 365 * DAY_MS / 2;
        if (!churner) {
            cr_assert_eq(l->churn_start_ms, INT64_MAX);
            /* steady to the end: the last gap is at most a long vacation */
            cr_assert_geq(x->last_order_ms,
                          COHORT_END - (l->profile == CP_PROFILE_HEALTHY
                                            ? 9 * l->interval_ms / 2
                                            : 6 * l->interval_ms),
                          "%s (%s) stopped ordering", l->customer_id,
                          cp_cohort_profile_name(l->profile));
            continue;
        }
        /* a churner starts declining after a few regular orders */
        cr_assert_gt(l->churn_start_ms, l->first_ms + 2 * l->interval_ms);
        switch (l->profile) {
        case CP_PROFILE_SILENT:
            cr_assert_eq(x->events_after_start, 0,
                         "silent %s has %u events after its churn start",
                         l->customer_id, x->events_after_start);
            cr_assert_lt(x->last_ms, l->churn_start_ms);
            break;
        case CP_PROFILE_COMPLAINING:
            cr_assert_lt(x->last_ms, l->churn_start_ms + 60 * DAY_MS, "%s",
                         l->customer_id);
            break;
        case CP_PROFILE_CANCELLING:
            cr_assert_lt(x->last_ms, l->churn_start_ms + 30 * DAY_MS, "%s",
                         l->customer_id);
            break;
        default: /* fading: a few thinner orders, then nothing */
            cr_assert_leq(x->orders_after_start, 4, "%s", l->customer_id);
            break;
        }
        if (!l->churned) /* not yet: nothing of the decline shows */
            cr_assert_eq(x->events_after_start, 0);
    }
    /* customers join all through the history, not just at its start */
    cr_assert_gt(late_joiners, (int)n / 20);
    /* the default mix: 42% churners; most of them churned by the end */
    cr_assert_eq(prospects, 180);
    cr_assert_gt(churned, 900);
    cr_assert_gt(pending, 50);
    free(s);
    free(lb);
    cp_cohort_destroy(co);
}

static struct cp_cohort *new_cohort_cfg(const struct cp_cohort_config *cc)
{
    char errstr[256] = "";
    struct cp_cohort *co = cp_cohort_new(cc, errstr, sizeof(errstr));

    cr_assert(co != NULL, "cohort: %s", errstr);
    return co;
}

/* Three weeks of history ending now, as a new installation sees it: the
 * customers' past lies before it, so churners must decline inside it. */
Test(gen, cohort_three_weeks_has_churners_inside_the_window)
{
    uint64_t n = 3000;
    struct cp_cohort_config cc = {.seed = 66,
                                  .customers = n,
                                  .tenants = 4,
                                  .end_ms = COHORT_END,
                                  .days = 21};
    struct cp_cohort *co = new_cohort_cfg(&cc);
    struct cp_cohort_label *lb = calloc(n, sizeof(*lb));
    int64_t start = COHORT_END - 21 * DAY_MS;
    int churners = 0, churned = 0, loud = 0, loud_signs = 0;
    int biz[CP_BUSINESS_CNT] = {0}, subs[CP_BUSINESS_CNT] = {0};
    struct seen *s;

    cr_assert(lb != NULL);
    cr_assert_eq(cp_cohort_start_ms(co), start);
    s = read_cohort(co, lb);
    for (uint64_t i = 0; i < n; i++) {
        const struct cp_cohort_label *l = &lb[i];
        const struct seen *x = &s[i];

        cr_assert_gt(x->events, 0, "%s has no event", l->customer_id);
        cr_assert_geq(x->first_ms, start);
        cr_assert_eq((int)l->business, (int)(i % 4), "tenant t is t %% 4");
        cr_assert_not_null(l->manager_id);
        biz[l->business]++;
        subs[l->business] += x->subscribed > 0;
        if (!is_churner_profile(l->profile))
            continue;
        churners++;
        if (!l->churned)
            continue;
        churned++;
        cr_assert_geq(l->churn_start_ms, start, "%s", l->customer_id);
        cr_assert_leq(l->churn_start_ms, COHORT_END, "%s", l->customer_id);
        if (l->profile == CP_PROFILE_COMPLAINING ||
            l->profile == CP_PROFILE_CANCELLING) {
            /* a loud churner gives a sign within the window, if it has
             * a week left to give one */
            if (l->churn_start_ms > COHORT_END - 7 * DAY_MS)
                continue;
            loud++;
            loud_signs += x->trouble_after > 0 || x->cancel_ms != INT64_MAX;
        }
    }
    /* most churners begin to decline inside three weeks */
    cr_assert_gt(churned, churners * 6 / 10, "%d of %d", churned, churners);
    cr_assert_gt(loud, 100);
    cr_assert_gt(loud_signs, loud * 8 / 10, "%d of %d", loud_signs, loud);
    /* four kinds of business; nearly everyone subscribes in software */
    for (int b = 0; b < CP_BUSINESS_CNT; b++)
        cr_assert_eq(biz[b], (int)n / 4);
    cr_assert_gt(subs[CP_BUSINESS_SAAS], 2 * subs[CP_BUSINESS_RETAIL],
                 "saas %d retail %d", subs[CP_BUSINESS_SAAS],
                 subs[CP_BUSINESS_RETAIL]);
    free(s);
    free(lb);
    cp_cohort_destroy(co);
}

/* Noise: healthy and casual customers answer a survey badly now and then,
 * wait days for a ticket, change plans; with no_noise they never do. */
Test(gen, cohort_noise_is_there_unless_turned_off)
{
    uint64_t n = 3000;
    struct cp_cohort_config cc = {.seed = 77,
                                  .customers = n,
                                  .tenants = 2,
                                  .end_ms = COHORT_END,
                                  .days = 365};
    int bad[2] = {0}, slow[2] = {0}, plans[2] = {0}, cancels[2] = {0};
    int quiet = 0;
    struct cp_cohort_label *noisy = calloc(n, sizeof(*noisy));

    cr_assert(noisy != NULL);
    for (int off = 0; off < 2; off++) {
        struct cp_cohort *co;
        struct cp_cohort_label *lb = calloc(n, sizeof(*lb));
        struct seen *s;

        cc.no_noise = off;
        co = new_cohort_cfg(&cc);
        cr_assert(lb != NULL);
        s = read_cohort(co, lb);
        for (uint64_t i = 0; i < n; i++) {
            if (!off) {
                noisy[i] = lb[i];
            } else {
                /* the same customers, only without the noise */
                cr_assert_eq(lb[i].profile, noisy[i].profile);
                cr_assert_eq(lb[i].churn_start_ms, noisy[i].churn_start_ms);
                cr_assert_eq(lb[i].first_ms, noisy[i].first_ms);
                cr_assert_eq(lb[i].interval_ms, noisy[i].interval_ms);
            }
            if (lb[i].profile != CP_PROFILE_HEALTHY &&
                lb[i].profile != CP_PROFILE_CASUAL)
                continue;
            quiet += !off;
            bad[off] += s[i].bad_scores > 0;
            slow[off] += s[i].slow_tickets > 0;
            plans[off] += s[i].plan_changes > 0;
            cancels[off] += s[i].cancels > 0;
        }
        free(s);
        free(lb);
        cp_cohort_destroy(co);
    }
    free(noisy);
    cr_assert_gt(quiet, 1000);
    /* on: a noisy minority */
    cr_assert_gt(bad[0], quiet / 20, "%d of %d", bad[0], quiet);
    cr_assert_lt(bad[0], quiet / 2, "%d of %d", bad[0], quiet);
    cr_assert_gt(slow[0], quiet / 20, "%d of %d", slow[0], quiet);
    cr_assert_gt(plans[0], 5);
    cr_assert_eq(plans[0], cancels[0], "every cancel is a plan change");
    /* off: none at all */
    cr_assert_eq(bad[1], 0);
    cr_assert_eq(slow[1], 0);
    cr_assert_eq(cancels[1], 0);
}

Test(gen, cohort_profiles_show_their_signs)
{
    uint64_t n = 3000;
    struct cp_cohort *co = new_cohort(44, n, 1, 365);
    struct cp_cohort_label *lb = calloc(n, sizeof(*lb));
    struct seen *s;
    int cancel_n = 0, cancel_ok = 0, exit_bad = 0, exit_n = 0;
    int fade_n = 0, fade_smaller = 0, fade_slower = 0;
    int healthy = 0, healthy_happy = 0, healthy_trouble = 0;
    double compl_rate = 0, healthy_rate = 0;
    int compl_n = 0;

    cr_assert(lb != NULL);
    s = read_cohort(co, lb);
    for (uint64_t i = 0; i < n; i++) {
        const struct cp_cohort_label *l = &lb[i];
        const struct seen *x = &s[i];

        switch (l->profile) {
        case CP_PROFILE_HEALTHY: {
            double days = (double)(COHORT_END - x->first_ms) / DAY_MS + 1;

            healthy++;
            healthy_rate += x->trouble_all / days;
            healthy_trouble += x->bad_scores > 0;
            if (x->nps_cnt)
                healthy_happy += x->nps_sum >= 7 * x->nps_cnt;
            else
                healthy_happy++;
            break;
        }
        case CP_PROFILE_COMPLAINING:
            if (l->churn_start_ms > COHORT_END - 30 * DAY_MS)
                break;
            compl_n++;
            compl_rate +=
                x->trouble_after /
                ((double)(x->last_ms - l->churn_start_ms) / DAY_MS + 1);
            break;
        case CP_PROFILE_CANCELLING:
            if (l->churn_start_ms > COHORT_END - 3 * DAY_MS)
                break;
            /* every cancelling churner has a subscription: it goes */
            cancel_n++;
            cancel_ok += x->cancel_ms < l->churn_start_ms + 2 * DAY_MS;
            if (x->first_survey_after >= 0) {
                exit_n++;
                exit_bad += x->first_survey_kind == CP_SURVEY_NPS
                                ? x->first_survey_after <= 6
                                : x->first_survey_after <= 3;
            }
            break;
        case CP_PROFILE_FADING:
            if (!l->churned || x->n_after < 2 || x->n_before < 3)
                break;
            fade_n++;
            fade_smaller +=
                x->amt_after / x->n_after < 0.9 * x->amt_before / x->n_before;
            /* the gap after the churn start beats the usual one */
            fade_slower += (x->last_order_ms - x->first_after_ms) /
                               (int64_t)(x->n_after - 1) >
                           l->interval_ms;
            break;
        default:
            break;
        }
    }
    cr_assert_gt(healthy, 1000);
    /* healthy: mostly happy, but some have bad spells (noise) */
    cr_assert_gt(healthy_happy, healthy * 8 / 10);
    cr_assert_gt(healthy_trouble, healthy / 10, "%d of %d", healthy_trouble,
                 healthy);
    cr_assert_lt(healthy_trouble, healthy / 2, "%d of %d", healthy_trouble,
                 healthy);
    /* complaining: trouble many times as often as a healthy customer */
    cr_assert_gt(compl_n, 100);
    cr_assert_gt(compl_rate / compl_n, 4 * healthy_rate / healthy,
                 "complaining %.3f/day vs healthy %.3f/day",
                 compl_rate / compl_n, healthy_rate / healthy);
    /* cancelling: the subscription goes within two days; a bad exit
     * survey follows */
    cr_assert_gt(cancel_n, 100);
    cr_assert_eq(cancel_ok, cancel_n);
    cr_assert_gt(exit_n, cancel_n * 9 / 10);
    cr_assert_gt(exit_bad, exit_n * 8 / 10);
    /* fading: smaller checks, longer gaps */
    cr_assert_gt(fade_n, 50);
    cr_assert_gt(fade_smaller, fade_n * 8 / 10);
    cr_assert_gt(fade_slower, fade_n * 8 / 10);
    free(s);
    free(lb);
    cp_cohort_destroy(co);
}

/* Pairs messages and tickets the way the worker does and checks each
 * observation against that. */
Test(gen, cohort_observations_follow_the_events)
{
    struct cp_cohort *co = new_cohort(55, 400, 2, 365);
    struct smap convs, tickets;
    struct cp_event ev;
    struct cp_cohort_obs obs;
    char key[256], cust[80], ent[160];
    int names[CP_OBS_CNT] = {0};
    int n = 0;

    smap_init(&convs, 1 << 17);
    smap_init(&tickets, 1 << 16);
    while (cp_cohort_next(co, &ev, &obs)) {
        int o = cp_churn_obs_parse(obs.name);
        const char *want = "activity";
        int64_t value = 0;
        struct smap_ent *e;
        int fresh;

        cr_assert_geq(o, 0, "event %d: unknown observation %s", n, obs.name);
        names[o]++;
        str_of(cust, sizeof(cust), ev.customer_id);
        if (ev.entity_id.ptr) {
            str_of(ent, sizeof(ent), ev.entity_id);
            /* entity ids embed their customer */
            cr_assert(strstr(ent, cust) != NULL, "%s of %s", ent, cust);
        }
        snprintf(key, sizeof(key), "%s/%s", cust, ev.entity_id.ptr ? ent : "");
        switch (ev.kind) {
        case CP_ORDER_PLACED:
            want = "order";
            value = ev.amount;
            break;
        case CP_SURVEY_ANSWERED:
            want = ev.survey_kind == CP_SURVEY_NPS    ? "nps"
                   : ev.survey_kind == CP_SURVEY_CSAT ? "csat"
                                                      : "ces";
            value = ev.score;
            break;
        case CP_MESSAGE_RECEIVED:
            want = "message_in";
            e = smap_get(&convs, key, &fresh);
            if (!e->a) { /* a = waiting, b = since */
                e->a = 1;
                e->b = ev.occurred_at;
            }
            break;
        case CP_MESSAGE_SENT:
            e = smap_get(&convs, key, &fresh);
            if (e->a) {
                want = "response";
                value = ev.occurred_at - e->b;
                e->a = 0;
            }
            break;
        case CP_TICKET_OPENED:
            want = "ticket_opened";
            e = smap_get(&tickets, key, &fresh);
            cr_assert(fresh, "ticket %s opened twice", key);
            e->a = 1;
            e->b = ev.occurred_at;
            break;
        case CP_TICKET_RESOLVED:
            want = "ticket_resolved";
            e = smap_get(&tickets, key, &fresh);
            cr_assert(e->a == 1 && !fresh, "ticket %s not open", key);
            e->a = 2;
            value = e->b;
            break;
        case CP_CALL_LOGGED:
            if (ev.inbound && !ev.answered)
                want = "call_missed";
            break;
        case CP_DEAL_CLOSED:
            want = ev.won ? "deal_won" : "deal_lost";
            break;
        case CP_SUBSCRIPTION_CHANGED:
            want = ev.sub_action == CP_SUB_STARTED   ? "sub_started"
                   : ev.sub_action == CP_SUB_RENEWED ? "sub_renewed"
                                                     : "sub_cancelled";
            value = ev.sub_action == CP_SUB_CANCELLED ? ev.amount : 0;
            break;
        case CP_WEB_VISIT:
            want = "web_visit";
            break;
        default:
            break;
        }
        cr_assert_str_eq(obs.name, want, "event %d (%s)", n,
                         cp_payload_kind_name(ev.kind));
        cr_assert_eq(obs.value, value, "event %d (%s)", n, obs.name);
        n++;
    }
    /* every observation the model knows occurs */
    for (int o = 0; o < CP_OBS_CNT; o++)
        cr_assert_gt(names[o], 0, "no %s", cp_churn_obs_name(o));
    smap_free(&convs);
    smap_free(&tickets);
    cp_cohort_destroy(co);
}
