/* SPDX-License-Identifier: Apache-2.0 */
/* Every counter definition of schemas/redis-keys.md, applied without Redis: the
 * deltas one batch would write. */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>
#include <string.h>

#include "apply.h"
#include "counters.h"
#include "state.h"

#define T0  1795342530000LL /* 2026-11-22T10:15:30Z */
#define DAY "crm:{acme}:d:2026-11-22"
#define MIN "crm:{acme}:m:2026-11-22:1015"
#define SEC 1000LL

static struct cp_state *state;
static struct cp_counters *ctr;
static struct cp_apply *ap;

static void setup(void)
{
    state = cp_state_new("crm");
    ctr = cp_counters_new();
    ap = cp_apply_new("crm", state, ctr);
    cr_assert(state && ctr && ap);
}

static void teardown(void)
{
    cp_apply_destroy(ap);
    cp_counters_destroy(ctr);
    cp_state_destroy(state);
}

TestSuite(apply, .init = setup, .fini = teardown, .timeout = 10);

static struct cp_str s(const char *text)
{
    struct cp_str str = {text, text ? strlen(text) : 0};
    return str;
}

static struct cp_event ev_of(enum cp_payload_kind kind, const char *entity,
                             int64_t at)
{
    struct cp_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.event_id = s("e");
    ev.tenant_id = s("acme");
    ev.customer_id = s("c1");
    ev.manager_id = s("m1");
    ev.channel = CP_CHANNEL_CHAT;
    ev.occurred_at = at;
    ev.kind = kind;
    ev.entity_id = s(entity);
    return ev;
}

static void feed(const struct cp_event *ev)
{
    struct cp_event_refs refs;

    cr_assert_eq(cp_apply_prepare(ap, ev, &refs), CP_OK);
    cr_assert_eq(cp_apply_event(ap, ev, &refs), CP_OK);
}

static int64_t get(const char *key, const char *field)
{
    int touched;

    return cp_counters_get(ctr, key, field, &touched);
}

static int has(const char *key, const char *field)
{
    int touched;

    cp_counters_get(ctr, key, field, &touched);
    return touched;
}

Test(apply, every_event_counts_in_day_minute_manager_and_channel)
{
    struct cp_event ev = ev_of(CP_WEB_VISIT, "s1", T0);

    feed(&ev);
    feed(&ev);
    cr_assert_eq(get(DAY, "events"), 2);
    cr_assert_eq(get(MIN, "events"), 2);
    cr_assert_eq(get(DAY ":manager:m1", "events"), 2);
    cr_assert_eq(get(DAY ":channel:chat", "events"), 2);
    cr_assert_eq(get(DAY, "web_visits"), 2);
    cr_assert_eq(get(DAY ":channel:chat", "web_visits"), 2);
    cr_assert_eq(cp_counters_hash_cnt(ctr), 4);
}

Test(apply, null_manager_and_channel_make_no_hashes)
{
    struct cp_event ev = ev_of(CP_WEB_VISIT, "s1", T0);

    ev.manager_id = s(NULL);
    ev.channel = CP_CHANNEL_NONE;
    feed(&ev);
    cr_assert_eq(get(DAY, "events"), 1);
    cr_assert_eq(cp_counters_hash_cnt(ctr), 2); /* day and minute only */
}

Test(apply, channel_hash_names_are_lower_case)
{
    struct cp_event ev = ev_of(CP_WEB_VISIT, "s1", T0);

    ev.channel = CP_CHANNEL_IN_PERSON;
    feed(&ev);
    cr_assert_eq(get(DAY ":channel:in_person", "events"), 1);
}

Test(apply, event_time_picks_day_and_minute)
{
    struct cp_event a = ev_of(CP_WEB_VISIT, "s1", T0 + 24 * 3600 * SEC);
    struct cp_event b = ev_of(CP_WEB_VISIT, "s1", T0 + 45 * 60 * SEC);

    feed(&a);
    feed(&b);
    cr_assert_eq(get("crm:{acme}:d:2026-11-23", "events"), 1);
    cr_assert_eq(get("crm:{acme}:m:2026-11-23:1015", "events"), 1);
    cr_assert_eq(get(DAY, "events"), 1);
    cr_assert_eq(get("crm:{acme}:m:2026-11-22:1100", "events"), 1);
}

Test(apply, response_time_from_first_unanswered_message)
{
    struct cp_event in1 = ev_of(CP_MESSAGE_RECEIVED, "conv1", T0);
    struct cp_event in2 = ev_of(CP_MESSAGE_RECEIVED, "conv1", T0 + 5 * SEC);
    struct cp_event out = ev_of(CP_MESSAGE_SENT, "conv1", T0 + 40 * SEC);
    struct cp_event out2 = ev_of(CP_MESSAGE_SENT, "conv1", T0 + 50 * SEC);

    feed(&in1);
    feed(&in2); /* does not restart the wait */
    feed(&out);
    feed(&out2); /* no wait: only messages_out */
    cr_assert_eq(get(DAY, "messages_in"), 2);
    cr_assert_eq(get(DAY, "messages_out"), 2);
    cr_assert_eq(get(DAY, "responses"), 1);
    cr_assert_eq(get(DAY, "response_ms_sum"), 40000);
    cr_assert_eq(get(DAY ":manager:m1", "response_ms_sum"), 40000);
    cr_assert_eq(get(DAY ":rt", "b60"), 1);
    cr_assert_eq(get(DAY ":rt", "b30"), 0);
}

Test(apply, reply_before_message_in_event_time_counts_zero)
{
    struct cp_event in = ev_of(CP_MESSAGE_RECEIVED, "c", T0);
    struct cp_event out = ev_of(CP_MESSAGE_SENT, "c", T0 - 10 * SEC);

    feed(&in);
    feed(&out);
    cr_assert_eq(get(DAY, "responses"), 1);
    cr_assert(has(DAY, "response_ms_sum"));
    cr_assert_eq(get(DAY, "response_ms_sum"), 0);
    cr_assert_eq(get(DAY ":rt", "b15"), 1);
}

Test(apply, waiting_state_is_per_tenant_conversation)
{
    struct cp_event in = ev_of(CP_MESSAGE_RECEIVED, "c", T0);
    struct cp_event other = ev_of(CP_MESSAGE_SENT, "c", T0 + SEC);

    other.tenant_id = s("beta");
    feed(&in);
    feed(&other);
    cr_assert_eq(get("crm:{beta}:d:2026-11-22", "responses"), 0);
    cr_assert_eq(get("crm:{beta}:d:2026-11-22", "messages_out"), 1);
}

Test(apply, histogram_bounds_are_exact_milliseconds)
{
    cr_assert_str_eq(cp_rt_field_name(cp_rt_bucket(0)), "b15");
    cr_assert_str_eq(cp_rt_field_name(cp_rt_bucket(15000)), "b15");
    cr_assert_str_eq(cp_rt_field_name(cp_rt_bucket(15001)), "b30");
    cr_assert_str_eq(cp_rt_field_name(cp_rt_bucket(3600000)), "b3600");
    cr_assert_str_eq(cp_rt_field_name(cp_rt_bucket(86400000)), "b86400");
    cr_assert_str_eq(cp_rt_field_name(cp_rt_bucket(86400001)), "binf");
}

Test(apply, funnel_counts_first_entry_per_deal_and_stage)
{
    struct cp_event lead = ev_of(CP_LEAD_CREATED, "d1", T0);
    struct cp_event st = ev_of(CP_STAGE_CHANGED, "d1", T0 + SEC);
    struct cp_event st2 = ev_of(CP_STAGE_CHANGED, "d1", T0 + 2 * SEC);

    lead.label = s("google_ads");
    st.label = s("qualified");
    st.stage_order = 1;
    st2.label = s("proposal");
    st2.stage_order = 3;
    feed(&lead);
    feed(&lead); /* known deal: counts only events */
    feed(&st);
    feed(&st2);
    feed(&st); /* back to a stage it entered before */
    cr_assert_eq(get(DAY, "events"), 5);
    cr_assert_eq(get(DAY, "leads"), 1);
    cr_assert_eq(get(DAY ":source:google_ads", "leads"), 1);
    cr_assert_eq(get(DAY ":manager:m1", "leads"), 1);
    cr_assert_eq(get(DAY ":funnel", "lead"), 1);
    cr_assert_eq(get(DAY ":funnel", "stage:qualified"), 1);
    cr_assert_eq(get(DAY ":funnel", "stage:proposal"), 1);
    cr_assert(!has(DAY ":source:google_ads", "events"));
}

Test(apply, stage_named_lead_is_its_own_field)
{
    struct cp_event st = ev_of(CP_STAGE_CHANGED, "d1", T0);

    st.label = s("lead");
    feed(&st);
    cr_assert_eq(get(DAY ":funnel", "stage:lead"), 1);
    cr_assert(!has(DAY ":funnel", "lead"));
    cr_assert_eq(get(DAY, "leads"), 0);
}

Test(apply, won_deal_counts_amount_cycle_and_first_close_only)
{
    struct cp_event lead = ev_of(CP_LEAD_CREATED, "d1", T0);
    struct cp_event won = ev_of(CP_DEAL_CLOSED, "d1", T0 + 3600 * SEC);
    struct cp_event lost = ev_of(CP_DEAL_CLOSED, "d1", T0 + 7200 * SEC);

    lead.label = s("referral");
    won.won = true;
    won.amount = 12345;
    lost.won = false;
    feed(&lead);
    feed(&won);
    feed(&lost); /* the first DealClosed wins */
    cr_assert_eq(get(DAY, "deals_won"), 1);
    cr_assert_eq(get(DAY, "deals_lost"), 0);
    cr_assert_eq(get(DAY, "won_amount_minor"), 12345);
    cr_assert_eq(get(DAY, "deal_cycle_ms_sum"), 3600 * SEC);
    cr_assert_eq(get(DAY, "deal_cycle_count"), 1);
    cr_assert_eq(get(DAY ":source:referral", "deals_won"), 1);
    cr_assert_eq(get(DAY ":source:referral", "won_amount_minor"), 12345);
    cr_assert(!has(DAY ":source:referral", "deal_cycle_count"));
    cr_assert_eq(get(DAY ":funnel", "won"), 1);
    cr_assert_eq(get(DAY ":funnel", "lost"), 0);
}

Test(apply, unknown_deal_closes_to_source_unknown_without_cycle)
{
    struct cp_event lost = ev_of(CP_DEAL_CLOSED, "d9", T0);
    struct cp_event won = ev_of(CP_DEAL_CLOSED, "d8", T0);
    struct cp_event lead = ev_of(CP_LEAD_CREATED, "d9", T0 + SEC);

    won.won = true;
    won.amount = 5;
    feed(&lost);
    feed(&won);
    feed(&lead); /* a later LeadCreated still counts: the deal was not known */
    cr_assert_eq(get(DAY ":source:unknown", "deals_lost"), 1);
    cr_assert_eq(get(DAY ":source:unknown", "deals_won"), 1);
    cr_assert_eq(get(DAY, "deal_cycle_count"), 0);
    cr_assert_eq(get(DAY ":funnel", "lost"), 1);
    cr_assert_eq(get(DAY, "leads"), 1);
    cr_assert_eq(get(DAY ":funnel", "lead"), 1);
}

Test(apply, negative_deal_cycle_counts_zero)
{
    struct cp_event lead = ev_of(CP_LEAD_CREATED, "d1", T0);
    struct cp_event won = ev_of(CP_DEAL_CLOSED, "d1", T0 - SEC);

    lead.label = s("x");
    won.won = true;
    feed(&lead);
    feed(&won);
    cr_assert_eq(get(DAY, "deal_cycle_ms_sum"), 0);
    cr_assert_eq(get(DAY, "deal_cycle_count"), 1);
}

Test(apply, orders_first_then_repeat_per_customer)
{
    struct cp_event o1 = ev_of(CP_ORDER_PLACED, "o1", T0);
    struct cp_event o2 = ev_of(CP_ORDER_PLACED, "o2", T0);
    struct cp_event o3 = ev_of(CP_ORDER_PLACED, "o3", T0);

    o1.amount = 100;
    o2.amount = 0;
    o3.amount = 50;
    o3.customer_id = s("c2");
    feed(&o1);
    feed(&o2);
    feed(&o3);
    cr_assert_eq(get(DAY, "orders"), 3);
    cr_assert_eq(get(DAY, "first_orders"), 2);
    cr_assert_eq(get(DAY, "repeat_orders"), 1);
    cr_assert_eq(get(DAY, "order_amount_minor"), 150);
}

Test(apply, calls_missed_only_when_inbound_and_unanswered)
{
    struct cp_event in_missed = ev_of(CP_CALL_LOGGED, "k1", T0);
    struct cp_event in_ok = ev_of(CP_CALL_LOGGED, "k2", T0);
    struct cp_event out_missed = ev_of(CP_CALL_LOGGED, "k3", T0);

    in_missed.inbound = true;
    in_ok.inbound = true;
    in_ok.answered = true;
    in_ok.amount = 60000;
    out_missed.amount = 7;
    feed(&in_missed);
    feed(&in_ok);
    feed(&out_missed);
    cr_assert_eq(get(DAY, "calls"), 3);
    cr_assert_eq(get(DAY, "calls_inbound"), 2);
    cr_assert_eq(get(DAY, "calls_missed"), 1);
    cr_assert_eq(get(DAY, "call_ms_sum"), 60007);
}

Test(apply, tickets_open_once_and_resolve_when_open)
{
    struct cp_event open = ev_of(CP_TICKET_OPENED, "t1", T0);
    struct cp_event open_again = ev_of(CP_TICKET_OPENED, "t1", T0 + SEC);
    struct cp_event resolve = ev_of(CP_TICKET_RESOLVED, "t1", T0 + 90 * SEC);
    struct cp_event resolve_again = ev_of(CP_TICKET_RESOLVED, "t1", T0);
    struct cp_event stray = ev_of(CP_TICKET_RESOLVED, "t2", T0);
    struct cp_event reopen = ev_of(CP_TICKET_OPENED, "t1", T0 + 100 * SEC);

    feed(&open);
    feed(&open_again);
    feed(&resolve);
    feed(&resolve_again);
    feed(&stray);
    feed(&reopen);
    cr_assert_eq(get(DAY, "events"), 6);
    cr_assert_eq(get(DAY, "tickets_opened"), 2);
    cr_assert_eq(get(DAY, "tickets_resolved"), 1);
    cr_assert_eq(get(DAY, "resolution_ms_sum"), 90 * SEC);
}

Test(apply, surveys_classify_scores)
{
    static const struct {
        enum cp_survey_kind kind;
        int score;
    } answers[] = {
        {CP_SURVEY_NPS, 10}, {CP_SURVEY_NPS, 9},  {CP_SURVEY_NPS, 8},
        {CP_SURVEY_NPS, 7},  {CP_SURVEY_NPS, 6},  {CP_SURVEY_NPS, 0},
        {CP_SURVEY_CSAT, 3}, {CP_SURVEY_CSAT, 4}, {CP_SURVEY_CSAT, 5},
        {CP_SURVEY_CES, 1},  {CP_SURVEY_CES, 7}};

    for (size_t i = 0; i < CP_ARRAY_SIZE(answers); i++) {
        struct cp_event ev = ev_of(CP_SURVEY_ANSWERED, NULL, T0);

        ev.survey_kind = answers[i].kind;
        ev.score = answers[i].score;
        feed(&ev);
    }
    cr_assert_eq(get(DAY, "nps_promoters"), 2);
    cr_assert_eq(get(DAY, "nps_passives"), 2);
    cr_assert_eq(get(DAY, "nps_detractors"), 2);
    cr_assert_eq(get(DAY, "csat_count"), 3);
    cr_assert_eq(get(DAY, "csat_sum"), 12);
    cr_assert_eq(get(DAY, "csat_satisfied"), 2);
    cr_assert_eq(get(DAY, "ces_count"), 2);
    cr_assert_eq(get(DAY, "ces_sum"), 8);
}

Test(apply, subscriptions_count_actions_and_cancelled_mrr)
{
    enum cp_sub_action actions[] = {CP_SUB_STARTED, CP_SUB_RENEWED,
                                    CP_SUB_RENEWED, CP_SUB_CANCELLED};

    for (size_t i = 0; i < CP_ARRAY_SIZE(actions); i++) {
        struct cp_event ev = ev_of(CP_SUBSCRIPTION_CHANGED, "sub1", T0);

        ev.sub_action = actions[i];
        ev.amount = 990;
        feed(&ev);
    }
    cr_assert_eq(get(DAY, "subs_started"), 1);
    cr_assert_eq(get(DAY, "subs_renewed"), 2);
    cr_assert_eq(get(DAY, "subs_cancelled"), 1);
    cr_assert_eq(get(DAY, "mrr_cancelled_minor"), 990);
}

/* T0's minute starts at 10:15:00 = 1795342500 s; + 48 h = 1795515300 s. */
#define MIN_EXPIREAT "1795515300"

static int cmds_have(const struct cp_cmds *cmds, const char *resp)
{
    return memmem(cmds->buf.data, cmds->buf.len, resp, strlen(resp)) != NULL;
}

static int count_of(const struct cp_cmds *cmds, const char *word)
{
    const char *p = cmds->buf.data, *end = p + cmds->buf.len;
    int n = 0;

    while ((p = memmem(p, (size_t)(end - p), word, strlen(word))) != NULL) {
        n++;
        p += strlen(word);
    }
    return n;
}

Test(apply, minute_hashes_expire_at_their_minute_plus_retention)
{
    struct cp_event a = ev_of(CP_WEB_VISIT, "s1", T0);
    struct cp_event b = ev_of(CP_WEB_VISIT, "s2", T0 + 20 * SEC);
    struct cp_cmds cmds;

    /* Written an hour after the minute, and again: same EXPIREAT, once. */
    cp_apply_set_clock(ap, T0 + 3600 * SEC, CP_MINUTE_RETENTION_MS);
    feed(&a);
    feed(&b);
    cp_cmds_init(&cmds);
    cp_counters_write(ctr, &cmds);
    cr_assert(!cp_cmds_failed(&cmds));
    cr_assert(cmds_have(&cmds, "$8\r\nEXPIREAT\r\n$28\r\n" MIN
                               "\r\n$10\r\n" MIN_EXPIREAT "\r\n"));
    cr_assert(!cmds_have(&cmds, "EXPIRE\r\n"));
    cr_assert_eq(count_of(&cmds, "EXPIREAT"), 1);
    cr_assert_eq(get(MIN, "web_visits"), 2);
    cp_cmds_cleanup(&cmds);
}

Test(apply, expired_minutes_write_no_minute_key)
{
    struct cp_event old = ev_of(CP_WEB_VISIT, "s1", T0);
    struct cp_event edge = ev_of(CP_WEB_VISIT, "s2", T0 + 29 * SEC);

    /* Exactly at the minute's start + 48 h the key has expired already. */
    cp_apply_set_clock(ap, T0 - 30 * SEC + CP_MINUTE_RETENTION_MS,
                       CP_MINUTE_RETENTION_MS);
    feed(&old);
    feed(&edge);
    cr_assert_eq(get(DAY, "web_visits"), 2);
    cr_assert_eq(get("crm:{acme}:d:2026-11-22:manager:m1", "events"), 2);
    cr_assert(!has(MIN, "events"));
    cr_assert_eq(cp_counters_hash_cnt(ctr), 3); /* day, manager, channel */
}

Test(apply, minute_retention_is_configurable)
{
    struct cp_event ev = ev_of(CP_WEB_VISIT, "s1", T0);

    cp_apply_set_clock(ap, T0 + 3600 * SEC, 600 * SEC);
    feed(&ev);
    cr_assert(!has(MIN, "events"));
    cp_apply_set_clock(ap, T0 + 60 * SEC, 600 * SEC);
    feed(&ev);
    cr_assert_eq(get(MIN, "events"), 1);
}
