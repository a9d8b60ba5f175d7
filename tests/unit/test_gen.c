/* SPDX-License-Identifier: Apache-2.0 */
/* The synthetic event generator: deterministic, valid, covering every
 * payload kind and response-time bucket, consistent entity ids, bounded
 * memory, and malformed messages that the codec rejects. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

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
