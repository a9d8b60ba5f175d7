/* SPDX-License-Identifier: Apache-2.0 */
/* Counter definitions (schemas/redis-keys.md "Counter definitions"). "First"
 * always means first in processing order; event time only picks the day/minute
 * bucket. */
#include "apply.h"
#include "keys.h"

#include <stdlib.h>
#include <string.h>

#define CP_KEY_MAX 512

struct cp_apply {
    char *prefix; /* owned */
    size_t prefix_len;
    struct cp_state *state;      /* borrowed */
    struct cp_counters *ctr;     /* borrowed */
    int64_t cached_day;          /* day index of cached_date, -1: none */
    int64_t now_ms;              /* worker clock of the batch (minute keys) */
    int64_t minute_retention_ms; /* minute.retention */
    const struct cp_churn_model *model; /* borrowed; NULL: no churn features */
    char cached_date[11];
};

/* The hashes one event's counters go to: day, minute, manager, channel. */
struct targets {
    struct cp_hash_delta *hd[4];
    int cnt;
    struct cp_hash_delta *source; /* only for lead/deal counters, lazily */
};

struct cp_apply *cp_apply_new(const char *prefix, struct cp_state *state,
                              struct cp_counters *ctr)
{
    struct cp_apply *ap;

    /* Keys are built in CP_KEY_MAX bytes: redis.prefix allows 32, tenant
     * ids 64, the rest of a key ~100. */
    if (strlen(prefix) > 64)
        return NULL;
    ap = calloc(1, sizeof(*ap));
    if (!ap)
        return NULL;
    ap->prefix = strdup(prefix);
    if (!ap->prefix) {
        free(ap);
        return NULL;
    }
    ap->prefix_len = strlen(prefix);
    ap->state = state;
    ap->ctr = ctr;
    ap->cached_day = -1;
    ap->minute_retention_ms = CP_MINUTE_RETENTION_MS;
    return ap;
}

void cp_apply_set_clock(struct cp_apply *ap, int64_t now_ms,
                        int64_t minute_retention_ms)
{
    ap->now_ms = now_ms;
    ap->minute_retention_ms = minute_retention_ms;
}

void cp_apply_set_model(struct cp_apply *ap, const struct cp_churn_model *model)
{
    ap->model = model;
}

void cp_apply_destroy(struct cp_apply *ap)
{
    if (!ap)
        return;
    free(ap->prefix);
    free(ap);
}

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

/* ---- key building: P:{T}:... ---- */

struct key {
    char buf[CP_KEY_MAX];
    size_t len;
};

static void key_add(struct key *k, const char *s, size_t len)
{
    /* Inputs are validated (names <= 64 bytes), so this never truncates. */
    if (k->len + len > sizeof(k->buf))
        len = sizeof(k->buf) - k->len;
    memcpy(k->buf + k->len, s, len);
    k->len += len;
}

static void key_add_str(struct key *k, const char *s)
{
    key_add(k, s, strlen(s));
}

static void key_tenant(struct cp_apply *ap, struct key *k, struct cp_str tenant)
{
    /* The prefix is <= 64 bytes (cp_apply_new) and validated tenant ids
     * <= CP_NAME_MAX: the head always fits. */
    k->len = cp_key_tenant_head(k->buf, ap->prefix, ap->prefix_len, tenant.ptr,
                                tenant.len);
}

static const char *event_date(struct cp_apply *ap, int64_t ms)
{
    int64_t day = ms / 86400000;

    if (day != ap->cached_day) {
        cp_format_day(ms, ap->cached_date);
        ap->cached_day = day;
    }
    return ap->cached_date;
}

static struct cp_hash_delta *hash_at(struct cp_apply *ap, const struct key *k,
                                     enum cp_hash_kind kind)
{
    return cp_counters_hash(ap->ctr, k->buf, k->len, kind);
}

/* P:{T}:d:D then @p suffix parts; NULL on ENOMEM. */
static struct cp_hash_delta *day_hash(struct cp_apply *ap,
                                      const struct cp_event *ev,
                                      const char *kind_name, struct cp_str name,
                                      enum cp_hash_kind kind)
{
    struct key k;

    key_tenant(ap, &k, ev->tenant_id);
    key_add(&k, CP_KSEG_DAY, sizeof(CP_KSEG_DAY) - 1);
    key_add(&k, event_date(ap, ev->occurred_at), 10);
    if (kind_name) {
        key_add(&k, ":", 1);
        key_add_str(&k, kind_name);
        if (name.ptr) {
            key_add(&k, ":", 1);
            key_add(&k, name.ptr, name.len);
        }
    }
    return hash_at(ap, &k, kind);
}

static int resolve_targets(struct cp_apply *ap, const struct cp_event *ev,
                           struct targets *t)
{
    struct cp_str none = {NULL, 0};
    struct key k;
    int64_t minute_of_day = ev->occurred_at % 86400000 / 60000;
    int64_t minute_start = ev->occurred_at - ev->occurred_at % 60000;
    char hhmm[5];

    t->cnt = 0;
    t->source = NULL;
    t->hd[t->cnt++] = day_hash(ap, ev, NULL, none, CP_HASH_COUNTERS);
    /* A minute key expires at its minute's start + minute.retention; an
     * event whose minute has already expired by the worker's clock writes
     * none (a backfill of old history creates no minute keys). */
    if (minute_start + ap->minute_retention_ms > ap->now_ms) {
        struct cp_hash_delta *minute;

        key_tenant(ap, &k, ev->tenant_id);
        key_add(&k, CP_KSEG_MINUTE, sizeof(CP_KSEG_MINUTE) - 1);
        key_add(&k, event_date(ap, ev->occurred_at), 10);
        put2(hhmm, (int)(minute_of_day / 60));
        put2(hhmm + 2, (int)(minute_of_day % 60));
        key_add(&k, ":", 1);
        key_add(&k, hhmm, 4);
        minute = hash_at(ap, &k, CP_HASH_MINUTE);
        if (!minute)
            return -1;
        cp_hash_set_expire_at(minute,
                              (minute_start + ap->minute_retention_ms) / 1000);
        t->hd[t->cnt++] = minute;
    }
    if (ev->manager_id.ptr)
        t->hd[t->cnt++] =
            day_hash(ap, ev, CP_KSEG_MANAGER, ev->manager_id, CP_HASH_COUNTERS);
    if (ev->channel != CP_CHANNEL_NONE) {
        const char *ch = cp_channel_key_name(ev->channel);
        struct cp_str name = {ch, strlen(ch)};

        t->hd[t->cnt++] =
            day_hash(ap, ev, CP_KSEG_CHANNEL, name, CP_HASH_COUNTERS);
    }
    for (int i = 0; i < t->cnt; i++)
        if (!t->hd[i])
            return -1;
    return 0;
}

static void inc(struct targets *t, enum cp_field field, int64_t delta)
{
    for (int i = 0; i < t->cnt; i++)
        cp_hash_add(t->hd[i], field, delta);
}

/* A lead/deal counter: also to the source hash of the deal's lead source. */
static cp_rc inc_source(struct cp_apply *ap, const struct cp_event *ev,
                        struct targets *t, const char *source,
                        enum cp_field field, int64_t delta)
{
    inc(t, field, delta);
    if (!t->source) {
        struct cp_str name = {source, strlen(source)};

        t->source = day_hash(ap, ev, CP_KSEG_SOURCE, name, CP_HASH_COUNTERS);
        if (!t->source)
            return CP_ENOMEM;
    }
    cp_hash_add(t->source, field, delta);
    return CP_OK;
}

static cp_rc funnel_add(struct cp_apply *ap, const struct cp_event *ev,
                        const char *field, size_t field_len)
{
    struct cp_str none = {NULL, 0};
    struct cp_hash_delta *hd =
        day_hash(ap, ev, CP_KSEG_FUNNEL, none, CP_HASH_NAMED);

    if (!hd)
        return CP_ENOMEM;
    return cp_hash_add_named(ap->ctr, hd, field, field_len, 1);
}

static int64_t non_negative(int64_t v)
{
    return v < 0 ? 0 : v;
}

/* ---- the definitions ---- */

static cp_rc apply_lead_created(struct cp_apply *ap, const struct cp_event *ev,
                                struct targets *t, struct cp_entity *deal)
{
    cp_rc rc;

    if (deal->deal_known)
        return CP_OK; /* a repeated LeadCreated counts nothing */
    deal->deal_known = 1;
    deal->deal_has_created = 1;
    deal->u.deal.created_at = ev->occurred_at;
    rc = cp_state_deal_set_source(ap->state, deal, ev->label);
    if (!rc)
        rc = inc_source(ap, ev, t, deal->u.deal.source, CP_F_LEADS, 1);
    if (!rc)
        rc = funnel_add(ap, ev, "lead", 4);
    cp_state_touch(ap->state, deal);
    return rc;
}

static cp_rc apply_stage_changed(struct cp_apply *ap, const struct cp_event *ev,
                                 struct cp_entity *deal)
{
    char field[6 + CP_NAME_MAX];
    cp_rc rc;

    if (cp_state_deal_has_stage(deal, ev->label))
        return CP_OK;
    if (cp_state_deal_full(deal)) {
        /* Not remembered, so not counted either: a repeat would count
         * again. Counted as dropped instead (crmpulse_state_dropped). */
        cp_state_count_drop(ap->state, CP_DROP_STAGE);
        return CP_OK;
    }
    rc = cp_state_deal_add_stage(ap->state, deal, ev->label);
    if (rc)
        return rc;
    cp_state_touch(ap->state, deal);
    memcpy(field, "stage:", 6);
    memcpy(field + 6, ev->label.ptr, ev->label.len);
    return funnel_add(ap, ev, field, 6 + ev->label.len);
}

static cp_rc apply_deal_closed(struct cp_apply *ap, const struct cp_event *ev,
                               struct targets *t, struct cp_entity *deal)
{
    const char *source = deal->u.deal.source ? deal->u.deal.source : "unknown";
    cp_rc rc;

    if (deal->deal_closed)
        return CP_OK; /* the first DealClosed wins */
    deal->deal_closed = 1;
    cp_state_touch(ap->state, deal);
    if (!ev->won) {
        rc = inc_source(ap, ev, t, source, CP_F_DEALS_LOST, 1);
        return rc ? rc : funnel_add(ap, ev, "lost", 4);
    }
    rc = inc_source(ap, ev, t, source, CP_F_DEALS_WON, 1);
    if (!rc)
        rc = inc_source(ap, ev, t, source, CP_F_WON_AMOUNT_MINOR, ev->amount);
    if (rc)
        return rc;
    if (deal->deal_has_created) {
        inc(t, CP_F_DEAL_CYCLE_MS_SUM,
            non_negative(ev->occurred_at - deal->u.deal.created_at));
        inc(t, CP_F_DEAL_CYCLE_COUNT, 1);
    }
    return funnel_add(ap, ev, "won", 3);
}

static cp_rc apply_message_sent(struct cp_apply *ap, const struct cp_event *ev,
                                struct targets *t, struct cp_entity *conv,
                                struct cp_customer *cust)
{
    struct cp_str none = {NULL, 0};
    struct cp_hash_delta *rt;
    int64_t response_ms;

    inc(t, CP_F_MESSAGES_OUT, 1);
    if (!conv->u.conv.waiting)
        return CP_OK;
    response_ms = non_negative(ev->occurred_at - conv->u.conv.wait_start);
    if (cust->waiting > 0)
        cust->waiting--;
    inc(t, CP_F_RESPONSES, 1);
    inc(t, CP_F_RESPONSE_MS_SUM, response_ms);
    rt = day_hash(ap, ev, CP_KSEG_RT, none, CP_HASH_RT);
    if (!rt)
        return CP_ENOMEM;
    cp_hash_add(rt, cp_rt_bucket(response_ms), 1);
    conv->u.conv.waiting = 0;
    cp_state_touch(ap->state, conv);
    return CP_OK;
}

static void apply_survey(const struct cp_event *ev, struct targets *t)
{
    switch (ev->survey_kind) {
    case CP_SURVEY_NPS:
        inc(t,
            ev->score >= 9   ? CP_F_NPS_PROMOTERS
            : ev->score >= 7 ? CP_F_NPS_PASSIVES
                             : CP_F_NPS_DETRACTORS,
            1);
        break;
    case CP_SURVEY_CSAT:
        inc(t, CP_F_CSAT_COUNT, 1);
        inc(t, CP_F_CSAT_SUM, ev->score);
        if (ev->score >= 4)
            inc(t, CP_F_CSAT_SATISFIED, 1);
        break;
    case CP_SURVEY_CES:
        inc(t, CP_F_CES_COUNT, 1);
        inc(t, CP_F_CES_SUM, ev->score);
        break;
    }
}

static void apply_subscription(const struct cp_event *ev, struct targets *t)
{
    switch (ev->sub_action) {
    case CP_SUB_STARTED:
        inc(t, CP_F_SUBS_STARTED, 1);
        break;
    case CP_SUB_RENEWED:
        inc(t, CP_F_SUBS_RENEWED, 1);
        break;
    case CP_SUB_CANCELLED:
        inc(t, CP_F_SUBS_CANCELLED, 1);
        inc(t, CP_F_MRR_CANCELLED_MINOR, ev->amount);
        break;
    }
}

/* One churn observation for the event's customer (no-op without a model). */
static void observe(struct cp_apply *ap, const struct cp_event_refs *refs,
                    enum cp_churn_obs obs, int64_t at, int64_t value)
{
    if (ap->model)
        cp_churn_observe(&refs->customer->u.customer->churn, ap->model, obs, at,
                         value);
}

cp_rc cp_apply_prepare(struct cp_apply *ap, const struct cp_event *ev,
                       struct cp_event_refs *refs)
{
    enum cp_entity_kind kind;

    refs->entity = NULL;
    refs->wait_started = -1;
    refs->wait_ended = -1;
    /* Every event feeds its customer's features (first order, churn). */
    refs->customer = cp_state_get(ap->state, CP_ENT_CUSTOMER, ev->tenant_id,
                                  ev->customer_id);
    if (!refs->customer)
        return CP_ENOMEM;
    switch (ev->kind) {
    case CP_LEAD_CREATED:
    case CP_STAGE_CHANGED:
    case CP_DEAL_CLOSED:
        kind = CP_ENT_DEAL;
        break;
    case CP_MESSAGE_RECEIVED:
    case CP_MESSAGE_SENT:
        kind = CP_ENT_CONV;
        break;
    case CP_TICKET_OPENED:
    case CP_TICKET_RESOLVED:
        kind = CP_ENT_TICKET;
        break;
    default:
        return CP_OK;
    }
    refs->entity = cp_state_get(ap->state, kind, ev->tenant_id, ev->entity_id);
    return refs->entity ? CP_OK : CP_ENOMEM;
}

/* What an event changed that the churn features need to know, taken
 * before the counter rules change the state. */
struct before {
    int deal_closed;    /* the deal was closed already */
    int ticket_open;    /* the ticket was open */
    int64_t opened_at;  /* ... since then */
    int conv_waiting;   /* the conversation was waiting */
    int64_t wait_start; /* ... since then */
};

static void take_before(const struct cp_event *ev, const struct cp_entity *ent,
                        struct before *b)
{
    memset(b, 0, sizeof(*b));
    if (!ent)
        return;
    switch (ev->kind) {
    case CP_DEAL_CLOSED:
        b->deal_closed = ent->deal_closed;
        break;
    case CP_TICKET_OPENED:
    case CP_TICKET_RESOLVED:
        b->ticket_open = ent->u.ticket.open;
        b->opened_at = ent->u.ticket.opened_at;
        break;
    case CP_MESSAGE_RECEIVED:
    case CP_MESSAGE_SENT:
        b->conv_waiting = ent->u.conv.waiting;
        b->wait_start = ent->u.conv.wait_start;
        break;
    default:
        break;
    }
}

/* The churn observations of one applied event (schemas/churn-model.md). */
static void observe_event(struct cp_apply *ap, const struct cp_event *ev,
                          struct cp_event_refs *refs, const struct before *b)
{
    int64_t at = ev->occurred_at;

    observe(ap, refs, CP_OBS_ACTIVITY, at, 0);
    switch (ev->kind) {
    case CP_DEAL_CLOSED:
        if (!b->deal_closed)
            observe(ap, refs, ev->won ? CP_OBS_DEAL_WON : CP_OBS_DEAL_LOST, at,
                    ev->amount);
        break;
    case CP_ORDER_PLACED:
        observe(ap, refs, CP_OBS_ORDER, at, ev->amount);
        break;
    case CP_MESSAGE_RECEIVED:
        observe(ap, refs, CP_OBS_MESSAGE_IN, at, 0);
        if (!b->conv_waiting && refs->entity->u.conv.waiting)
            refs->wait_started = at; /* not if a bound dropped the wait */
        break;
    case CP_MESSAGE_SENT:
        if (b->conv_waiting) {
            observe(ap, refs, CP_OBS_RESPONSE, at,
                    non_negative(at - b->wait_start));
            refs->wait_ended = b->wait_start;
        }
        break;
    case CP_CALL_LOGGED:
        if (ev->inbound && !ev->answered)
            observe(ap, refs, CP_OBS_CALL_MISSED, at, 0);
        break;
    case CP_TICKET_OPENED:
        if (!b->ticket_open && refs->entity->u.ticket.open)
            observe(ap, refs, CP_OBS_TICKET_OPENED, at, 0);
        break;
    case CP_TICKET_RESOLVED:
        if (b->ticket_open)
            observe(ap, refs, CP_OBS_TICKET_RESOLVED, at, b->opened_at);
        break;
    case CP_SURVEY_ANSWERED:
        observe(ap, refs,
                ev->survey_kind == CP_SURVEY_NPS    ? CP_OBS_NPS
                : ev->survey_kind == CP_SURVEY_CSAT ? CP_OBS_CSAT
                                                    : CP_OBS_CES,
                at, ev->score);
        break;
    case CP_SUBSCRIPTION_CHANGED:
        observe(ap, refs,
                ev->sub_action == CP_SUB_STARTED   ? CP_OBS_SUB_STARTED
                : ev->sub_action == CP_SUB_RENEWED ? CP_OBS_SUB_RENEWED
                                                   : CP_OBS_SUB_CANCELLED,
                at, ev->amount);
        break;
    case CP_WEB_VISIT:
        observe(ap, refs, CP_OBS_WEB_VISIT, at, 0);
        break;
    default:
        break;
    }
}

/* The counter rules of one event. */
static cp_rc count_event(struct cp_apply *ap, const struct cp_event *ev,
                         const struct cp_event_refs *refs)
{
    struct cp_entity *ent = refs->entity;
    struct cp_customer *cust = refs->customer->u.customer;
    struct targets t;

    if (resolve_targets(ap, ev, &t))
        return CP_ENOMEM;
    inc(&t, CP_F_EVENTS, 1);
    switch (ev->kind) {
    case CP_LEAD_CREATED:
        return apply_lead_created(ap, ev, &t, ent);
    case CP_STAGE_CHANGED:
        return apply_stage_changed(ap, ev, ent);
    case CP_DEAL_CLOSED:
        return apply_deal_closed(ap, ev, &t, ent);
    case CP_ORDER_PLACED:
        inc(&t, CP_F_ORDERS, 1);
        inc(&t, CP_F_ORDER_AMOUNT_MINOR, ev->amount);
        /* The churn features count orders too (observed after this). */
        inc(&t, cust->orders_seen ? CP_F_REPEAT_ORDERS : CP_F_FIRST_ORDERS, 1);
        cust->orders_seen = 1;
        return CP_OK;
    case CP_MESSAGE_RECEIVED:
        inc(&t, CP_F_MESSAGES_IN, 1);
        if (!ent->u.conv.waiting && cust->waiting >= CP_CUSTOMER_WAITING_MAX) {
            /* Not tracked: no response time, no SLA timer. */
            cp_state_count_drop(ap->state, CP_DROP_WAITING);
        } else if (!ent->u.conv.waiting) {
            /* Later customer messages do not restart the wait. */
            cust->waiting++;
            ent->u.conv.waiting = 1;
            ent->u.conv.wait_start = ev->occurred_at;
            cp_state_touch(ap->state, ent);
        }
        return CP_OK;
    case CP_MESSAGE_SENT:
        return apply_message_sent(ap, ev, &t, ent, cust);
    case CP_CALL_LOGGED:
        inc(&t, CP_F_CALLS, 1);
        inc(&t, CP_F_CALL_MS_SUM, ev->amount);
        if (ev->inbound) {
            inc(&t, CP_F_CALLS_INBOUND, 1);
            if (!ev->answered)
                inc(&t, CP_F_CALLS_MISSED, 1);
        }
        return CP_OK;
    case CP_TICKET_OPENED:
        if (!ent->u.ticket.open &&
            cust->churn.open_tickets >= CP_CUSTOMER_TICKETS_MAX) {
            /* Counted as opened, not tracked as open. */
            inc(&t, CP_F_TICKETS_OPENED, 1);
            cp_state_count_drop(ap->state, CP_DROP_TICKET);
        } else if (!ent->u.ticket.open) {
            ent->u.ticket.open = 1;
            ent->u.ticket.opened_at = ev->occurred_at;
            inc(&t, CP_F_TICKETS_OPENED, 1);
            cp_state_touch(ap->state, ent);
        }
        return CP_OK;
    case CP_TICKET_RESOLVED:
        if (ent->u.ticket.open) {
            inc(&t, CP_F_TICKETS_RESOLVED, 1);
            inc(&t, CP_F_RESOLUTION_MS_SUM,
                non_negative(ev->occurred_at - ent->u.ticket.opened_at));
            ent->u.ticket.open = 0;
            cp_state_touch(ap->state, ent);
        }
        return CP_OK;
    case CP_SURVEY_ANSWERED:
        apply_survey(ev, &t);
        return CP_OK;
    case CP_SUBSCRIPTION_CHANGED:
        apply_subscription(ev, &t);
        return CP_OK;
    case CP_WEB_VISIT:
        inc(&t, CP_F_WEB_VISITS, 1);
        return CP_OK;
    case CP_PAYLOAD_KIND_CNT:
        break;
    }
    return CP_OK;
}

cp_rc cp_apply_event(struct cp_apply *ap, const struct cp_event *ev,
                     struct cp_event_refs *refs)
{
    struct before b;
    cp_rc rc;

    take_before(ev, refs->entity, &b);
    rc = count_event(ap, ev, refs);
    if (rc)
        return rc;
    /* Every event changes its customer (at least the last-seen time). */
    cp_state_touch(ap->state, refs->customer);
    if (ev->manager_id.ptr) {
        rc = cp_state_customer_set_manager(ap->state, refs->customer,
                                           ev->manager_id);
        if (rc)
            return rc;
    }
    observe_event(ap, ev, refs, &b);
    return CP_OK;
}

cp_rc cp_apply_count_alert(struct cp_apply *ap, struct cp_str tenant,
                           const char *manager, int64_t event_time, int sla)
{
    struct cp_event ev;
    struct targets t;

    /* The alert counts like an event of its tenant, time and manager. */
    memset(&ev, 0, sizeof(ev));
    ev.tenant_id = tenant;
    ev.occurred_at = event_time;
    ev.channel = CP_CHANNEL_NONE;
    if (manager) {
        ev.manager_id.ptr = manager;
        ev.manager_id.len = strlen(manager);
    }
    if (resolve_targets(ap, &ev, &t))
        return CP_ENOMEM;
    inc(&t, sla ? CP_F_SLA_BREACHES : CP_F_CHURN_ALERTS, 1);
    return CP_OK;
}
