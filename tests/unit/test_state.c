/* SPDX-License-Identifier: Apache-2.0 */
/* Entity state: what is written at commit reads back as the same state. */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "map.h"
#include "state.h"

static int contains(const struct cp_cmds *cmds, const char *text)
{
    return memmem(cmds->buf.data, cmds->buf.len, text, strlen(text)) != NULL;
}

static struct cp_str s(const char *text)
{
    struct cp_str str = {text, strlen(text)};
    return str;
}

/* Pulls the last bulk string argument out of the RESP in @p cmds. */
static void last_arg(const struct cp_cmds *cmds, char *out, size_t size)
{
    const char *end = cmds->buf.data + cmds->buf.len - 2; /* before \r\n */
    const char *p = end;

    while (p > cmds->buf.data && p[-1] != '\n')
        p--;
    cr_assert((size_t)(end - p) < size);
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
}

/* The last bulk string of the RESP in @p cmds, binary-safe; its length. */
static size_t last_bulk(const struct cp_cmds *cmds, char *out, size_t size)
{
    const char *p = cmds->buf.data, *end = p + cmds->buf.len;
    const char *last = NULL;
    size_t last_len = 0;

    while (p < end) {
        char *next;
        long n = strtol(p + 1, &next, 10);

        if (*p == '*') {
            p = next + 2;
            continue;
        }
        cr_assert_eq(*p, '$');
        last = next + 2;
        last_len = (size_t)n;
        p = last + n + 2;
    }
    cr_assert_not_null(last);
    cr_assert_lt(last_len, size);
    memcpy(out, last, last_len);
    return last_len;
}

Test(state, deal_state_round_trips_through_its_encoding)
{
    struct cp_state *state = cp_state_new("crm");
    struct cp_entity *deal =
        cp_state_get(state, CP_ENT_DEAL, s("acme"), s("deal-1"));
    struct cp_cmds cmds;
    struct cp_reply reply;
    char value[256];

    cr_assert_not_null(deal);
    deal->deal_known = 1;
    deal->deal_has_created = 1;
    deal->u.deal.created_at = 1795342530000LL;
    cr_assert_eq(cp_state_deal_set_source(state, deal, s("google_ads")), CP_OK);
    cr_assert_eq(cp_state_deal_add_stage(state, deal, s("qualified")), CP_OK);
    cr_assert_eq(cp_state_deal_add_stage(state, deal, s("meeting")), CP_OK);
    cp_state_touch(state, deal);
    cp_cmds_init(&cmds);
    cp_state_write_dirty(state, &cmds);
    cr_assert_eq(cmds.cnt, 1);
    cr_assert(
        memmem(cmds.buf.data, cmds.buf.len, "crm:{acme}:state:deals", 22));
    last_arg(&cmds, value, sizeof(value));
    cr_assert_str_eq(value, "1|0|1795342530000|google_ads|qualified,meeting");

    /* A fresh cache loads the same state back. */
    cp_state_clear(state);
    deal = cp_state_get(state, CP_ENT_DEAL, s("acme"), s("deal-1"));
    cp_cmds_reset(&cmds);
    cr_assert_eq(cp_state_load_cmds(state, &cmds), 1);
    cr_assert(memmem(cmds.buf.data, cmds.buf.len, "HMGET", 5));
    {
        struct cp_reply elem = {
            .type = CP_REPLY_STRING, .str = value, .len = strlen(value)};

        cp_reply_array(&reply, &elem, 1);
        cr_assert_eq(cp_state_load_reply(state, 0, &reply), CP_OK);
    }
    cp_state_load_done(state);
    cr_assert(deal->loaded && deal->deal_known && !deal->deal_closed);
    cr_assert_eq(deal->u.deal.created_at, 1795342530000LL);
    cr_assert_str_eq(deal->u.deal.source, "google_ads");
    cr_assert(cp_state_deal_has_stage(deal, s("meeting")));
    cr_assert(cp_state_deal_has_stage(deal, s("qualified")));
    cr_assert(!cp_state_deal_has_stage(deal, s("qualif")));
    cp_cmds_cleanup(&cmds);
    cp_state_destroy(state);
}

/* Feeds one stored value to a fresh entity of @p kind; CP_OK expected. */
static struct cp_entity *load_value(struct cp_state *state,
                                    enum cp_entity_kind kind, const char *id,
                                    const char *value, size_t len)
{
    struct cp_entity *ent = cp_state_get(state, kind, s("acme"), s(id));
    struct cp_cmds cmds;
    struct cp_reply elem = {.type = CP_REPLY_STRING, .str = value, .len = len};
    struct cp_reply arr;

    cr_assert_not_null(ent);
    cp_cmds_init(&cmds);
    cr_assert_eq(cp_state_load_cmds(state, &cmds), 1);
    cp_reply_array(&arr, &elem, 1);
    cr_assert_eq(cp_state_load_reply(state, 0, &arr), CP_OK,
                 "one unreadable value must not stop the batch");
    cp_state_load_done(state);
    cp_cmds_cleanup(&cmds);
    return ent;
}

/* Values someone else wrote: the entity starts empty, the value is kept
 * under state:unreadable by the commit that overwrites it, and counted. */
Test(state, unreadable_stored_state_is_set_aside_not_a_stop)
{
    struct cp_state *state = cp_state_new("crm");
    struct cp_entity *deal, *conv, *conv2, *ticket, *cust;
    struct cp_cmds cmds;
    uint8_t packed[16] = {7}; /* version 7: not ours */

    deal = load_value(state, CP_ENT_DEAL, "d", "x|y", 3);
    cr_assert(deal->loaded && !deal->deal_known && !deal->u.deal.stages);
    conv = load_value(state, CP_ENT_CONV, "cv", "inf", 3);
    cr_assert(conv->loaded && !conv->u.conv.waiting);
    conv2 = load_value(state, CP_ENT_CONV, "cv2", "1e400", 5);
    cr_assert(!conv2->u.conv.waiting);
    ticket = load_value(state, CP_ENT_TICKET, "t", "-5", 2);
    cr_assert(ticket->loaded && !ticket->u.ticket.open);
    cust = load_value(state, CP_ENT_CUSTOMER, "c1", (const char *)packed,
                      sizeof(packed));
    cr_assert_eq(cust->u.customer->timer_due, CP_NO_TIMER);
    cr_assert_eq(cust->u.customer->partition, -1);

    cp_cmds_init(&cmds);
    cp_state_write_dirty(state, &cmds);
    cr_assert(!cp_cmds_failed(&cmds));
    cr_assert(contains(&cmds, "crm:{acme}:state:unreadable"));
    cr_assert(contains(&cmds, "state:deals:d"));
    cr_assert(contains(&cmds, "waiting:cv2"));
    cr_assert(contains(&cmds, "state:tickets:t"));
    cr_assert(contains(&cmds, "state:customers:c1"));
    cr_assert(contains(&cmds, "1e400"));
    /* The bad values are overwritten (or deleted) in the same commit. */
    cr_assert(contains(&cmds, "ZREM"));
    cr_assert(contains(&cmds, "HDEL"));
    cr_assert(contains(&cmds, "0|0|-||"));
    cr_assert_eq(cp_state_drop_cnt(state, CP_DROP_UNREADABLE), 0,
                 "counted once committed");
    cp_state_commit_done(state);
    cr_assert_eq(cp_state_drop_cnt(state, CP_DROP_UNREADABLE), 5);
    cp_cmds_cleanup(&cmds);
    cp_state_destroy(state);
}

/* A manager id in packed state becomes part of key names: the id rules of
 * events apply to it as read back. */
Test(state, packed_customer_with_a_foreign_manager_id_is_unreadable)
{
    struct cp_state *state = cp_state_new("crm");
    struct cp_entity *cust =
        cp_state_get(state, CP_ENT_CUSTOMER, s("acme"), s("c1"));
    struct cp_cmds cmds;
    char value[1024];
    size_t len;
    struct cp_customer decoded;

    /* A good packed value, as the state writes it, with manager "m-1". */
    cr_assert_eq(cp_state_customer_set_manager(state, cust, s("m-1")), CP_OK);
    cust->u.customer->scored_at = 1795342530000LL;
    cp_state_touch(state, cust);
    cp_cmds_init(&cmds);
    cp_state_write_dirty(state, &cmds);
    len = last_bulk(&cmds, value, sizeof(value));
    cr_assert_eq(cp_state_customer_decode(state, &decoded, value, len), CP_OK,
                 "the packed value must decode (len %zu)", len);
    cr_assert_str_eq(decoded.manager, "m-1");
    /* Same bytes with "m}1" as the manager: not an id of ours. */
    ((char *)memmem(value, len, "m-1", 3))[1] = '}';
    cr_assert_eq(cp_state_customer_decode(state, &decoded, value, len),
                 CP_EDECODE);
    cp_cmds_cleanup(&cmds);
    cp_state_destroy(state);
}

Test(state, missing_state_loads_as_zero)
{
    struct cp_state *state = cp_state_new("crm");
    struct cp_entity *conv =
        cp_state_get(state, CP_ENT_CONV, s("acme"), s("conv"));
    struct cp_cmds cmds;
    struct cp_reply elem = {.type = CP_REPLY_NIL};
    struct cp_reply nil;

    cp_cmds_init(&cmds);
    cr_assert_eq(cp_state_load_cmds(state, &cmds), 1);
    cr_assert(memmem(cmds.buf.data, cmds.buf.len, "ZMSCORE", 7));
    cp_reply_array(&nil, &elem, 1);
    cr_assert_eq(cp_state_load_reply(state, 0, &nil), CP_OK);
    cr_assert(conv->loaded && !conv->u.conv.waiting);
    /* Same entity again: cached, nothing more to load. */
    cp_state_load_done(state);
    cr_assert_eq(cp_state_get(state, CP_ENT_CONV, s("acme"), s("conv")), conv);
    cp_cmds_reset(&cmds);
    cr_assert_eq(cp_state_load_cmds(state, &cmds), 0);
    cp_cmds_cleanup(&cmds);
    cp_state_destroy(state);
}

Test(state, one_command_per_tenant_and_kind)
{
    struct cp_state *state = cp_state_new("crm");
    const char *ids[] = {"d1", "d2", "d3"};
    struct cp_cmds cmds;

    for (size_t i = 0; i < 3; i++) {
        struct cp_entity *deal =
            cp_state_get(state, CP_ENT_DEAL, s("acme"), s(ids[i]));
        struct cp_entity *conv =
            cp_state_get(state, CP_ENT_CONV, s(i ? "beta" : "acme"), s(ids[i]));

        deal->deal_known = 1;
        conv->u.conv.waiting = i != 1;
        conv->u.conv.wait_start = 1000;
        cp_state_touch(state, deal);
        cp_state_touch(state, conv);
    }
    cp_cmds_init(&cmds);
    /* deals: acme; conversations: acme, beta */
    cr_assert_eq(cp_state_load_cmds(state, &cmds), 3);
    cp_cmds_reset(&cmds);
    cp_state_write_dirty(state, &cmds);
    /* HSET deals(acme), ZADD acme, ZADD beta (d3), ZREM beta (d2) */
    cr_assert_eq(cmds.cnt, 4);
    cr_assert(
        contains(&cmds, "*8\r\n$4\r\nHSET\r\n$22\r\ncrm:{acme}:state:deals"));
    cr_assert(contains(
        &cmds, "*3\r\n$4\r\nZREM\r\n$18\r\ncrm:{beta}:waiting\r\n$2\r\nd2"));
    cp_cmds_cleanup(&cmds);
    cp_state_destroy(state);
}

/* The bulk arguments of the first RESP command in @p cmds. */
static size_t resp_args(const struct cp_cmds *cmds, const char **args,
                        size_t *lens, size_t max)
{
    const char *p = cmds->buf.data;
    size_t n = (size_t)strtoul(p + 1, NULL, 10);

    cr_assert(p[0] == '*' && n <= max);
    p = strstr(p, "\r\n") + 2;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(*p, '$');
        lens[i] = (size_t)strtoul(p + 1, NULL, 10);
        p = strstr(p, "\r\n") + 2;
        args[i] = p;
        p += lens[i] + 2;
    }
    return n;
}

Test(state, customer_state_round_trips_through_its_packed_encoding)
{
    struct cp_state *state = cp_state_new("crm");
    struct cp_entity *a =
        cp_state_get(state, CP_ENT_CUSTOMER, s("acme"), s("cust-1"));
    struct cp_entity *b =
        cp_state_get(state, CP_ENT_CUSTOMER, s("acme"), s("cust-2"));
    struct cp_customer back;
    struct cp_cmds cmds;
    const char *args[8];
    size_t lens[8];

    cr_assert(a && b);
    a->u.customer->timer_due = 1795342590000LL;
    a->u.customer->scored_at = 1795342530000LL;
    a->u.customer->shown = 0x1234567890abcdefULL;
    a->u.customer->partition = 7;
    a->u.customer->orders_seen = 1;
    {
        struct cp_churn_model *m = cp_churn_model_default();

        cr_assert_not_null(m);
        for (int i = 0; i < 3; i++)
            cp_churn_observe(&a->u.customer->churn, m, CP_OBS_ORDER,
                             1795342530000LL - i * 86400000LL, 1000);
        cp_churn_observe(&a->u.customer->churn, m, CP_OBS_NPS, 1795342530000LL,
                         2);
        cp_churn_model_destroy(m);
    }
    cr_assert_eq(cp_state_customer_set_manager(state, a, s("mgr-9")), CP_OK);
    cp_state_touch(state, a);
    cp_state_touch(state, b);
    cp_cmds_init(&cmds);
    cp_state_write_dirty(state, &cmds);
    /* One HSET for the tenant, both customers in it. */
    cr_assert_eq(cmds.cnt, 1);
    cr_assert_eq(resp_args(&cmds, args, lens, 8), 6);
    cr_assert(lens[1] == strlen("crm:{acme}:state:customers") &&
              !memcmp(args[1], "crm:{acme}:state:customers", lens[1]));
    cr_assert(lens[2] == 6 && !memcmp(args[2], "cust-1", 6));
    cr_assert_eq(cp_state_customer_decode(state, &back, args[3], lens[3]),
                 CP_OK);
    cr_assert_eq(back.timer_due, 1795342590000LL);
    cr_assert_eq(back.scored_at, 1795342530000LL);
    cr_assert_eq(back.shown, 0x1234567890abcdefULL);
    cr_assert_eq(back.partition, 7);
    cr_assert_eq(back.orders_seen, 1);
    cr_assert_eq(back.churn.orders, 3);
    cr_assert_eq(back.churn.last_nps, 2);
    cr_assert_str_eq(back.manager, "mgr-9");
    /* A customer never changed reads back as new: no timer, no manager. */
    cr_assert_eq(cp_state_customer_decode(state, &back, args[5], lens[5]),
                 CP_OK);
    cr_assert_eq(back.timer_due, CP_NO_TIMER);
    cr_assert_null(back.manager);
    cr_assert_eq(back.partition, -1);
    /* Bytes crmpulse did not write are refused, never half-read. */
    cr_assert_eq(cp_state_customer_decode(state, &back, "junk", 4), CP_EDECODE);
    cr_assert_eq(cp_state_customer_decode(state, &back, args[3], lens[3] - 1),
                 CP_EDECODE);
    cp_cmds_cleanup(&cmds);
    cp_state_destroy(state);
}

/* The cache's bytes per customer are a budget (README, performance): an
 * entity and its map slot must not grow back by accident. */
Test(state, entity_and_its_map_slot_stay_small)
{
    cr_assert_leq(sizeof(struct cp_entity), 40, "entity: %zu bytes",
                  sizeof(struct cp_entity));
    cr_assert_leq(sizeof(struct cp_map_entry), 24, "map slot: %zu bytes",
                  sizeof(struct cp_map_entry));
}

/* worker.cache.max.bytes compares with what the entities use: it grows
 * with them, and a cleared cache uses nothing (its memory is kept for
 * reuse, so what it holds would never fall below the bound again). */
Test(state, used_bytes_follow_the_entities_and_clear)
{
    struct cp_state *state = cp_state_new("crm");
    char id[32];
    size_t one, many;

    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "c%d", i);
        cr_assert_not_null(
            cp_state_get(state, CP_ENT_CUSTOMER, s("acme"), s(id)));
    }
    one = cp_state_used_bytes(state);
    for (int i = 10; i < 10000; i++) {
        snprintf(id, sizeof(id), "c%d", i);
        cr_assert_not_null(
            cp_state_get(state, CP_ENT_CUSTOMER, s("acme"), s(id)));
    }
    many = cp_state_used_bytes(state);
    cr_assert_gt(many, 900 * one, "%zu vs %zu", many, one);
    cr_assert_geq(cp_state_mem_bytes(state), many);
    cp_state_clear(state);
    cr_assert_eq(cp_state_used_bytes(state), 0);
    cr_assert_geq(cp_state_mem_bytes(state), many, "kept for reuse");
    cp_state_destroy(state);
}
