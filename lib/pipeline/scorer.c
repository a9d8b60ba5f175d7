/* SPDX-License-Identifier: Apache-2.0 */
/* Watermarks, timers and alerts of the churn engine (see scorer.h). */
#include "scorer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "ids.h"
#include "log.h"
#include "map.h"
#include "keys.h"
#include "scorer_int.h"

/* Due timers read per partition and batch; more wait for the next batch. */
/* ---- lifecycle ---- */

static void part_reset(struct part *pt)
{
    pt->known = 0;
    pt->fetched = 0;
    pt->wm_dirty = 0;
    pt->wm = pt->wm_committed = INT64_MIN;
    pt->min_due = pt->min_due_committed = pt->min_due_pending = CP_NO_TIMER;
    pt->next_after = CP_NO_TIMER;
    pt->batch_max = INT64_MIN;
    pt->heap.cnt = 0;
}

struct cp_scorer *cp_scorer_new(const struct cp_scorer_cfg *cfg,
                                struct cp_state *state, struct cp_apply *ap)
{
    struct cp_scorer *sc = calloc(1, sizeof(*sc));

    if (!sc)
        return NULL;
    sc->prefix = strdup(cfg->prefix);
    sc->topic = strdup(cfg->topic);
    sc->parts = calloc(CP_SCORER_MAX_PARTITIONS, sizeof(*sc->parts));
    if (!sc->prefix || !sc->topic || !sc->parts || !cfg->model) {
        cp_scorer_destroy(sc);
        return NULL;
    }
    cp_key_watermarks(sc->wm_key, sizeof(sc->wm_key), cfg->group);
    cp_key_timers_prefix(sc->timers_key, sizeof(sc->timers_key), cfg->group,
                         cfg->topic);
    sc->lateness_ms = cfg->allowed_lateness_ms;
    sc->idle_advance_ms = cfg->idle_advance_ms;
    sc->max_skew_ms = cfg->max_skew_ms;
    sc->model = cfg->model;
    sc->state = state;
    sc->ap = ap;
    for (int i = 0; i < CP_SCORER_MAX_PARTITIONS; i++)
        part_reset(&sc->parts[i]);
    cp_arena_init(&sc->arena, 256 * 1024);
    cp_map_init(&sc->timer_map);
    cp_buf_init(&sc->buf, 0);
    cp_buf_init(&sc->buf2, 0);
    return sc;
}

void cp_scorer_destroy(struct cp_scorer *sc)
{
    if (!sc)
        return;
    if (sc->parts)
        for (int i = 0; i < CP_SCORER_MAX_PARTITIONS; i++)
            free(sc->parts[i].heap.items);
    free(sc->parts);
    free(sc->prefix);
    free(sc->topic);
    cp_arena_cleanup(&sc->arena);
    cp_map_cleanup(&sc->timer_map);
    free(sc->ops);
    free(sc->fetches);
    free(sc->scored);
    free(sc->alerts);
    cp_buf_cleanup(&sc->buf);
    cp_buf_cleanup(&sc->buf2);
    free(sc);
}

struct part *cp__sc_part_of(struct cp_scorer *sc, int32_t p)
{
    return p >= 0 && p < CP_SCORER_MAX_PARTITIONS ? &sc->parts[p] : NULL;
}

void cp_scorer_assign(struct cp_scorer *sc, int32_t p, int64_t wall_now)
{
    struct part *pt = cp__sc_part_of(sc, p);

    if (!pt)
        return;
    part_reset(pt);
    pt->owned = 1;
    pt->last_msg_wall = wall_now; /* idle counts from the assignment */
}

void cp_scorer_revoke(struct cp_scorer *sc, int32_t p)
{
    struct part *pt = cp__sc_part_of(sc, p);

    if (!pt)
        return;
    part_reset(pt);
    pt->owned = 0;
}

/* Forgets the batch's timers, alerts and scored customers. */
static void forget_batch(struct cp_scorer *sc)
{
    for (size_t i = 0; i < sc->scored_cnt; i++)
        sc->scored[i]->u.customer->in_batch = 0;
    sc->scored_cnt = 0;
    sc->op_cnt = 0;
    sc->alert_cnt = 0;
    sc->fetch_cnt = 0;
    sc->has_writes = 0;
    sc->bad_batch = 0;
    cp_map_reset(&sc->timer_map);
    cp_arena_reset(&sc->arena);
    for (int i = 0; i < CP_SCORER_MAX_PARTITIONS; i++) {
        struct part *pt = &sc->parts[i];

        pt->heap.cnt = 0;
        pt->fetched = 0;
        pt->wm_dirty = 0;
        pt->batch_max = INT64_MIN;
        pt->next_after = CP_NO_TIMER;
    }
}

void cp_scorer_batch_begin(struct cp_scorer *sc, int64_t wall_now)
{
    /* Customers of the previous batch were already written (or dropped
     * with the cache on failure, see cp_scorer_rollback). */
    sc->scored_cnt = 0;
    forget_batch(sc);
    sc->wall_now = wall_now;
}

/* The event time @p occurred_at may move a watermark to: at most the
 * worker clock + time.max_skew. One event stamped hours ahead (a producer's
 * wrong clock) would otherwise move its partition's time with it: false
 * SLA breaches, silence timers firing early, persisted in Redis. Such an
 * event still counts; it only does not move time. Replays of history are
 * far behind the clock and unaffected. */
static int64_t time_of(const struct cp_scorer *sc, int64_t occurred_at)
{
    if (occurred_at == INT64_MIN || sc->wall_now > INT64_MAX - sc->max_skew_ms)
        return occurred_at;
    return cp_min64(occurred_at, sc->wall_now + sc->max_skew_ms);
}

void cp_scorer_note_message(struct cp_scorer *sc, int32_t p,
                            int64_t occurred_at)
{
    struct part *pt = cp__sc_part_of(sc, p);

    if (!pt)
        return;
    pt->last_msg_wall = sc->wall_now;
    pt->batch_max = cp_max64(pt->batch_max, time_of(sc, occurred_at));
}

/* The watermark a partition would have by the wall clock alone, when it
 * is idle (no message for time.idle_advance); INT64_MIN otherwise. */
static int64_t idle_watermark(const struct cp_scorer *sc, const struct part *pt,
                              int64_t wall_now)
{
    if (sc->idle_advance_ms <= 0 || !pt->owned ||
        wall_now - pt->last_msg_wall < sc->idle_advance_ms)
        return INT64_MIN;
    return wall_now - sc->lateness_ms;
}

/* The watermark partition @p pt reaches by the end of this batch. */
static int64_t batch_watermark(const struct cp_scorer *sc,
                               const struct part *pt)
{
    int64_t wm = pt->wm;

    if (pt->batch_max != INT64_MIN)
        wm = cp_max64(wm, pt->batch_max - sc->lateness_ms);
    return cp_max64(wm, idle_watermark(sc, pt, sc->wall_now));
}

/* ---- keys ---- */

static const char *timers_key(struct cp_scorer *sc, int32_t p, size_t *len)
{
    *len = 0;
    cp_buf_reset(&sc->buf);
    if (cp_buf_printf(&sc->buf, "%s%d", sc->timers_key, (int)p))
        return NULL;
    *len = sc->buf.len;
    return sc->buf.data;
}

static void cmd_partition_field(struct cp_scorer *sc, struct cp_cmds *cmds,
                                int32_t p)
{
    char field[300];
    int n = snprintf(field, sizeof(field), "%s:%d", sc->topic, (int)p);

    cp_cmd_arg(cmds, field, (size_t)n);
}

/* P:{T}:<what>[C] for a cached entity's tenant. */
static const char *tenant_key(struct cp_scorer *sc, const struct cp_entity *ent,
                              const char *what, const char *tail, size_t *len)
{
    *len = 0;
    cp_buf_reset(&sc->buf);
    if (cp_key_tenant_buf(&sc->buf, sc->prefix, cp_entity_tenant(ent),
                          ent->tenant_len, what, tail))
        return NULL;
    *len = sc->buf.len;
    return sc->buf.data;
}

/* ---- prefetch ---- */

static int add_fetch(struct cp_scorer *sc, int32_t p, enum fetch_what what,
                     int64_t upto)
{
    struct fetch *fetches = cp_grow(sc->fetches, &sc->fetch_cap, sc->fetch_cnt,
                                    sizeof(*fetches), 256);

    if (!fetches)
        return -1;
    sc->fetches = fetches;
    sc->fetches[sc->fetch_cnt].p = p;
    sc->fetches[sc->fetch_cnt].what = (uint8_t)what;
    sc->fetches[sc->fetch_cnt].upto = upto;
    sc->fetch_cnt++;
    return 0;
}

static int part_in_play(const struct cp_scorer *sc, const struct part *pt)
{
    return pt->owned && (pt->batch_max != INT64_MIN ||
                         idle_watermark(sc, pt, sc->wall_now) != INT64_MIN);
}

size_t cp_scorer_prefetch_cmds(struct cp_scorer *sc, struct cp_cmds *cmds)
{
    size_t len;
    const char *key;

    sc->fetch_cnt = 0;
    /* Round 1: what Redis knows of partitions we have not read yet. */
    for (int32_t p = 0; p < CP_SCORER_MAX_PARTITIONS; p++) {
        struct part *pt = &sc->parts[p];

        if (pt->known || !part_in_play(sc, pt))
            continue;
        if (add_fetch(sc, p, FETCH_WM, 0) || add_fetch(sc, p, FETCH_MIN, 0)) {
            cp_cmds_poison(cmds);
            return 0;
        }
        cp_cmd_begin(cmds, 3);
        cp_cmd_arg(cmds, "HGET", 4);
        cp_cmd_str(cmds, sc->wm_key);
        cmd_partition_field(sc, cmds, p);
        key = timers_key(sc, p, &len);
        if (!key) {
            cp_cmds_poison(cmds);
            return 0;
        }
        cp_cmd_begin(cmds, 5);
        cp_cmd_arg(cmds, "ZRANGE", 6);
        cp_cmd_arg(cmds, key, len);
        cp_cmd_arg(cmds, "0", 1);
        cp_cmd_arg(cmds, "0", 1);
        cp_cmd_arg(cmds, "WITHSCORES", 10);
    }
    if (sc->fetch_cnt)
        return sc->fetch_cnt;
    /* Round 2: the timers this batch's watermarks pass, and the next one. */
    for (int32_t p = 0; p < CP_SCORER_MAX_PARTITIONS; p++) {
        struct part *pt = &sc->parts[p];
        int64_t upto;
        char above[32];

        if (pt->fetched || !pt->known || !part_in_play(sc, pt))
            continue;
        upto = batch_watermark(sc, pt);
        if (upto == INT64_MIN || upto < pt->min_due)
            continue;
        pt->fetched = 1;
        if (add_fetch(sc, p, FETCH_DUE, upto) ||
            add_fetch(sc, p, FETCH_NEXT, upto)) {
            cp_cmds_poison(cmds);
            return 0;
        }
        key = timers_key(sc, p, &len);
        if (!key) {
            cp_cmds_poison(cmds);
            return 0;
        }
        cp_cmd_begin(cmds, 8);
        cp_cmd_arg(cmds, "ZRANGEBYSCORE", 13);
        cp_cmd_arg(cmds, key, len);
        cp_cmd_arg(cmds, "-inf", 4);
        cp_cmd_int(cmds, upto);
        cp_cmd_arg(cmds, "WITHSCORES", 10);
        cp_cmd_arg(cmds, "LIMIT", 5);
        cp_cmd_arg(cmds, "0", 1);
        cp_cmd_int(cmds, FIRE_LIMIT);
        snprintf(above, sizeof(above), "(%lld", (long long)upto);
        cp_cmd_begin(cmds, 8);
        cp_cmd_arg(cmds, "ZRANGEBYSCORE", 13);
        cp_cmd_arg(cmds, key, len);
        cp_cmd_str(cmds, above);
        cp_cmd_arg(cmds, "+inf", 4);
        cp_cmd_arg(cmds, "WITHSCORES", 10);
        cp_cmd_arg(cmds, "LIMIT", 5);
        cp_cmd_arg(cmds, "0", 1);
        cp_cmd_arg(cmds, "1", 1);
    }
    return sc->fetch_cnt;
}

/* A time in ms read back from Redis (a ZSET score in double notation, a
 * watermark, a member's wait start): untrusted, so "inf", "nan", "abc" and
 * times outside 0 .. year 9999 are -1 (casting an out-of-range double to
 * int64 is undefined). */
int cp__sc_parse_i64(const char *s, size_t len, int64_t *out)
{
    char tmp[40];
    char *end;
    double d;

    if (!len || len >= sizeof(tmp) || s[0] < '0' || s[0] > '9')
        return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    /* Scores come back in double notation; times are whole ms < 2^53. */
    d = strtod(tmp, &end);
    if (*end || !(d >= 0 && d <= (double)CP_MAX_OCCURRED_AT_MS))
        return -1;
    *out = (int64_t)d;
    return 0;
}

/* ---- alerts ---- */

static char *arena_str(struct cp_scorer *sc, const char *s, size_t len)
{
    return cp_arena_strndup(&sc->arena, s ? s : "", s ? len : 0);
}

/* One alert of the batch; counted in churn_alerts / sla_breaches now. */
static cp_rc emit_alert(struct cp_scorer *sc, enum cp_alert_kind kind,
                        enum cp_churn_level level, struct cp_entity *cust,
                        double score, double previous,
                        const struct cp_churn_reason *reasons, int reason_cnt,
                        const struct cp_churn_score *churn, const char *trigger,
                        const char *triggered_by, int64_t event_time)
{
    const struct cp_customer *c = cust->u.customer;
    struct pending_alert *pa, *alerts;
    char id[33], tenant[CP_NAME_MAX + 1], customer[CP_NAME_MAX + 1];
    struct cp_str tenant_str = {cp_entity_tenant(cust), cust->tenant_len};
    char *key;
    size_t cap = sc->alert_cap;

    alerts = cp_grow(sc->alerts, &sc->alert_cap, sc->alert_cnt, sizeof(*alerts),
                     256);
    if (!alerts)
        return CP_ENOMEM;
    sc->alerts = alerts;
    /* Each alert points at its own reasons: re-point them after a move. */
    if (cap != sc->alert_cap)
        for (size_t i = 0; i < sc->alert_cnt; i++)
            sc->alerts[i].alert.reasons = sc->alerts[i].reasons;
    pa = &sc->alerts[sc->alert_cnt];
    memset(pa, 0, sizeof(*pa));
    snprintf(tenant, sizeof(tenant), "%.*s", (int)cust->tenant_len,
             cp_entity_tenant(cust));
    snprintf(customer, sizeof(customer), "%.*s", (int)cust->id_len,
             cp_entity_id(cust));
    cp_churn_alert_id(tenant, customer, cp_alert_kind_symbol(kind), level,
                      trigger, id);
    pa->alert.alert_id = arena_str(sc, id, strlen(id));
    pa->alert.kind = kind;
    pa->alert.tenant_id = arena_str(sc, tenant, strlen(tenant));
    pa->alert.customer_id = arena_str(sc, customer, strlen(customer));
    pa->alert.manager_id =
        c->manager ? arena_str(sc, c->manager, strlen(c->manager)) : NULL;
    pa->alert.level =
        level == CP_LEVEL_CRITICAL ? CP_ALERT_CRITICAL : CP_ALERT_HIGH;
    pa->alert.risk_score = score;
    pa->alert.previous_score = previous;
    for (int i = 0; i < reason_cnt && i < 3; i++) {
        pa->reasons[i].factor =
            arena_str(sc, reasons[i].factor, strlen(reasons[i].factor));
        pa->reasons[i].contribution = reasons[i].contribution;
        pa->reasons[i].detail =
            arena_str(sc, reasons[i].detail, strlen(reasons[i].detail));
        if (!pa->reasons[i].factor || !pa->reasons[i].detail)
            return CP_ENOMEM;
    }
    pa->alert.reasons = pa->reasons;
    pa->alert.reason_cnt = (size_t)(reason_cnt < 3 ? reason_cnt : 3);
    pa->alert.triggered_by =
        triggered_by ? arena_str(sc, triggered_by, strlen(triggered_by)) : NULL;
    pa->alert.event_time = event_time;
    pa->alert.emitted_at = sc->wall_now;
    pa->alert.model_version = cp_churn_model_version(sc->model);
    /* A churn alert says what to do and what is at stake. */
    pa->alert.action =
        churn ? arena_str(sc, churn->action, strlen(churn->action)) : "";
    pa->alert.value_minor = churn ? churn->value_minor : 0;
    pa->alert.value_at_risk_minor = churn ? churn->value_at_risk_minor : 0;
    key = cp_arena_alloc(&sc->arena, strlen(tenant) + strlen(customer) + 2);
    if (!pa->alert.alert_id || !pa->alert.tenant_id || !pa->alert.customer_id ||
        (c->manager && !pa->alert.manager_id) ||
        (triggered_by && !pa->alert.triggered_by) || !pa->alert.action || !key)
        return CP_ENOMEM;
    sprintf(key, "%s:%s", tenant, customer);
    pa->key = key;
    sc->alert_cnt++;
    sc->has_writes = 1;
    return cp_apply_count_alert(sc->ap, tenant_str, c->manager, event_time,
                                kind == CP_ALERT_RESPONSE_SLA_BREACH);
}

/* Out of memory fails the batch: a customer left out here would keep a
 * stale public hash and lose its silence timer. */
static cp_rc mark_scored(struct cp_scorer *sc, struct cp_entity *cust)
{
    struct cp_entity **scored;

    if (cust->u.customer->in_batch)
        return CP_OK;
    scored = cp_grow(sc->scored, &sc->scored_cap, sc->scored_cnt,
                     sizeof(*scored), 256);
    if (!scored)
        return CP_ENOMEM;
    sc->scored = scored;
    cust->u.customer->in_batch = 1;
    sc->scored[sc->scored_cnt++] = cust;
    cp_state_touch(sc->state, cust);
    sc->has_writes = 1;
    return CP_OK;
}

/* Scores a customer at event time @p t and alerts on a rising level;
 * then sets the silence timer for when silence alone would matter. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* A prospect never bought nor subscribed: it has nothing to churn from. It
 * is scored (the hash shows it) but never alerted, has no silence timer and
 * is not in the `risk` list, which would otherwise be all leads. */
static int is_prospect(const struct cp_churn_state *st)
{
    return st->orders == 0 && !(st->renewals > 0) && !(st->cancels > 0);
}

/* The public customer hash: what a person wants to see. */
struct shown {
    char score[16];
    const char *level;
    char reasons[CP_CHURN_REASONS_JSON_MAX];
    char scored_at[CP_I64_STR_MAX], orders[CP_I64_STR_MAX],
        last_order_at[CP_I64_STR_MAX], open_tickets[CP_I64_STR_MAX],
        last_nps[CP_I64_STR_MAX];
    char action[sizeof(((struct cp_churn_score *)0)->action)];
    char value[CP_I64_STR_MAX], value_at_risk[CP_I64_STR_MAX];
    const char *manager;
    uint64_t hash; /* of everything but scored_at */
};

/* Formats what the hash would show for @p score; out->hash fingerprints it
 * (everything but scored_at). */
static void build_shown(const struct cp_customer *c,
                        const struct cp_churn_score *score, struct shown *out)
{
    const struct cp_churn_state *st = &c->churn;
    uint64_t h = 1469598103934665603ULL;

    cp_fixed_str(out->score, sizeof(out->score), score->score, 4);
    out->level = cp_churn_level_name(score->level);
    cp_churn_reasons_json(score, out->reasons, sizeof(out->reasons));
    /* Integers without printf: this runs at every evaluation. */
    cp_i64_str(out->scored_at, c->shown_since);
    cp_i64_str(out->orders, (int64_t)st->orders);
    out->last_order_at[0] = '\0';
    if (st->orders && st->last_order_ms != INT64_MIN)
        cp_i64_str(out->last_order_at, st->last_order_ms);
    cp_i64_str(out->open_tickets, (int64_t)st->open_tickets);
    out->last_nps[0] = '\0';
    if (st->last_nps >= 0)
        cp_i64_str(out->last_nps, st->last_nps);
    out->manager = c->manager ? c->manager : "";
    memcpy(out->action, score->action, sizeof(out->action));
    out->action[sizeof(out->action) - 1] = '\0';
    cp_i64_str(out->value, score->value_minor);
    cp_i64_str(out->value_at_risk, score->value_at_risk_minor);
    /* Leaving the prospects changes `risk` membership: part of what shows. */
    h = fnv1a(h, is_prospect(st) ? "p" : "c", 2);
    h = fnv1a(h, out->score, strlen(out->score) + 1);
    h = fnv1a(h, out->level, strlen(out->level) + 1);
    h = fnv1a(h, out->reasons, strlen(out->reasons) + 1);
    h = fnv1a(h, out->orders, strlen(out->orders) + 1);
    h = fnv1a(h, out->last_order_at, strlen(out->last_order_at) + 1);
    h = fnv1a(h, out->open_tickets, strlen(out->open_tickets) + 1);
    h = fnv1a(h, out->last_nps, strlen(out->last_nps) + 1);
    h = fnv1a(h, out->manager, strlen(out->manager) + 1);
    h = fnv1a(h, out->action, strlen(out->action) + 1);
    h = fnv1a(h, out->value, strlen(out->value) + 1);
    h = fnv1a(h, out->value_at_risk, strlen(out->value_at_risk) + 1);
    out->hash = h ? h : 1;
}

static cp_rc score_customer(struct cp_scorer *sc, struct cp_entity *cust,
                            int32_t p, int64_t t, const char *trigger,
                            const char *triggered_by)
{
    struct cp_customer *c = cust->u.customer;
    struct cp_churn_score score;
    enum cp_churn_level level;
    double previous = c->churn.last_score;
    cp_rc rc;

    struct shown shown;

    cp_churn_evaluate(sc->model, &c->churn, t, &score);
    level = is_prospect(&c->churn)
                ? CP_LEVEL_NONE
                : cp_churn_decide(sc->model, &c->churn, &score, t);
    c->scored_at = t;
    /* scored_at shows when what is shown changed, not the last look: the
     * same whatever batches the events came in. */
    build_shown(c, &score, &shown);
    if (shown.hash != c->fingerprint) {
        c->fingerprint = shown.hash;
        c->shown_since = t;
        c->shown_changed = 1; /* even if it changes back in this batch */
    }
    rc = mark_scored(sc, cust);
    if (rc)
        return rc;
    if (level != CP_LEVEL_NONE) {
        rc = emit_alert(sc, CP_ALERT_CHURN_RISK, level, cust, score.score,
                        previous, score.reasons, score.reason_cnt, &score,
                        trigger, triggered_by, t);
        if (rc)
            return rc;
    }
    /* The silence timer is searched once per customer and batch (it costs
     * many evaluations): until then the old one is void and the customer
     * is checked by hand before its next event (check_silence). */
    c->timer_stale = 1;
    return cp__sc_set_silence_timer(sc, cust, p, CP_NO_TIMER);
}

static cp_rc fire_silence(struct cp_scorer *sc, struct cp_entity *cust,
                          int32_t p, int64_t due)
{
    char trigger[32];

    cust->u.customer->timer_due = CP_NO_TIMER;
    snprintf(trigger, sizeof(trigger), "timer:%lld", (long long)due);
    return score_customer(sc, cust, p,
                          cp_max64(due, cust->u.customer->churn.last_seen_ms),
                          trigger, NULL);
}

/* Before a customer's next event in the same batch: fires what its silence
 * timer would have fired by @p upto (at the time the timer search gives),
 * so alerts do not depend on where batches begin and end. The timer's own
 * search, cut off past @p upto: the evidence is not monotone in time (a
 * cancellation's grace ends, a waiting message's weight rises and fades),
 * so the evidence at @p upto alone cannot tell whether a timer stored at a
 * batch boundary in between would have fired. A few evaluations when the
 * events are close, the usual case. Every firing is due, so it ends:
 * each one moves scored_at past the last (cp_churn_next_due() is later
 * than the time it is given) and none passes @p upto. No round limit: a
 * firing left out here would never happen (the event changes the state). */
static cp_rc check_silence(struct cp_scorer *sc, struct cp_entity *cust,
                           int32_t p, int64_t upto)
{
    struct cp_customer *c = cust->u.customer;

    for (;;) {
        int64_t due;
        cp_rc rc;

        if (!c->timer_stale || upto <= c->scored_at || is_prospect(&c->churn))
            return CP_OK;
        due = cp_churn_next_due_by(sc->model, &c->churn, c->scored_at, upto);
        if (due > upto || due <= c->scored_at)
            return CP_OK; /* not due by upto: the stored timer would not be */
        rc = fire_silence(sc, cust, p, due);
        if (rc)
            return rc;
    }
}

/* Searches the silence timers left stale by this batch's evaluations. */
static cp_rc resolve_stale_timers(struct cp_scorer *sc, int *resolved)
{
    *resolved = 0;
    for (size_t i = 0; i < sc->scored_cnt; i++) {
        struct cp_entity *cust = sc->scored[i];
        struct cp_customer *c = cust->u.customer;
        cp_rc rc;

        if (!c->timer_stale)
            continue;
        c->timer_stale = 0;
        rc = cp__sc_set_silence_timer(
            sc, cust, c->partition,
            is_prospect(&c->churn)
                ? CP_NO_TIMER
                : cp_churn_next_due(sc->model, &c->churn, c->scored_at));
        if (rc)
            return rc;
        (*resolved)++;
    }
    return CP_OK;
}

static void format_duration(int64_t ms, char *out, size_t size)
{
    int64_t min = ms / 60000;

    if (min >= 48 * 60)
        snprintf(out, size, "%lld days", (long long)(min / 1440));
    else if (min >= 60)
        snprintf(out, size, "%lld h %02lld min", (long long)(min / 60),
                 (long long)(min % 60));
    else
        snprintf(out, size, "%lld min", (long long)min);
}

/* The longest prefix of @p s of at most @p max bytes that does not end in
 * the middle of a UTF-8 character (ids are valid UTF-8, see events.md). */
static int utf8_prefix(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return (int)len;
    /* A continuation byte (10xxxxxx) at the cut belongs to the character
     * before it: cut before that character's lead byte instead. */
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return (int)max;
}

static cp_rc fire_sla(struct cp_scorer *sc, struct timer_op *op, int64_t due)
{
    struct cp_churn_reason reason;
    char trigger[CP_ID_MAX + 32], sla[32];
    const struct cp_entity *conv = op->conv;
    double score = op->cust->u.customer->churn.last_score;

    /* Still waiting since the same message? Otherwise it was answered. */
    if (!conv || !conv->u.conv.waiting ||
        conv->u.conv.wait_start != op->wait_start)
        return CP_OK;
    memset(&reason, 0, sizeof(reason));
    snprintf(reason.factor, sizeof(reason.factor), "response_sla");
    format_duration(due - op->wait_start, sla, sizeof(sla));
    snprintf(reason.detail, sizeof(reason.detail),
             "conversation %.*s unanswered for %s (the SLA)",
             utf8_prefix(cp_entity_id(conv), conv->id_len, 64),
             cp_entity_id(conv), sla);
    snprintf(trigger, sizeof(trigger), "%.*s@%lld", (int)conv->id_len,
             cp_entity_id(conv), (long long)op->wait_start);
    return emit_alert(sc, CP_ALERT_RESPONSE_SLA_BREACH, CP_LEVEL_HIGH, op->cust,
                      score, score, &reason, 1, NULL, trigger, NULL, due);
}

static cp_rc fire(struct cp_scorer *sc, struct timer_op *op)
{
    int64_t due = op->due;
    cp_rc rc;

    rc = cp__sc_op_set(sc, op, CP_NO_TIMER);
    if (rc || !op->cust)
        return rc; /* a member we did not write: just cleared */
    if (op->kind == TIMER_SLA) {
        /* The breach shows the customer's score as of its due time: what
         * the customer's silence timer would have fired by then fires
         * first (a stored one would have, being earlier in the heap), even
         * when it is still to be searched because the customer was scored
         * in this batch. */
        rc = check_silence(sc, op->cust, op->p, due);
        return rc ? rc : fire_sla(sc, op, due);
    }
    return fire_silence(sc, op->cust, op->p, due);
}

/* Fires the timers of @p p due at or before @p upto, in due order. */
static cp_rc fire_until(struct cp_scorer *sc, int32_t p, int64_t upto)
{
    struct heap *h = &sc->parts[p].heap;

    while (h->cnt && h->items[0].due <= upto) {
        struct heap_item top = h->items[0];
        struct timer_op *op = &sc->ops[top.op];
        cp_rc rc;

        cp__sc_heap_pop(sc, h);
        if (op->due != top.due)
            continue; /* moved or cleared since */
        rc = fire(sc, op);
        if (rc)
            return rc;
    }
    return CP_OK;
}

cp_rc cp_scorer_before_event(struct cp_scorer *sc, const struct cp_event *ev,
                             const struct cp_event_refs *refs)
{
    int32_t p = refs->partition;
    struct part *pt = cp__sc_part_of(sc, p);
    int64_t wm;
    cp_rc rc;

    if (!pt)
        return CP_OK;
    /* The event moves the watermark first: what it passes fires before the
     * event applies (a late reply cannot hide the SLA breach it ends). */
    wm = cp_max64(pt->wm, time_of(sc, ev->occurred_at) - sc->lateness_ms);
    if (wm > pt->wm) {
        pt->wm = wm;
        pt->wm_dirty = 1;
        sc->has_writes = 1;
    }
    if (wm == INT64_MIN)
        return CP_OK;
    rc = fire_until(sc, p, wm);
    if (!rc && refs->customer->u.customer->in_batch)
        rc = check_silence(sc, refs->customer, p, wm);
    return rc;
}

cp_rc cp_scorer_after_event(struct cp_scorer *sc, const struct cp_event *ev,
                            const struct cp_event_refs *refs)
{
    struct part *pt = cp__sc_part_of(sc, refs->partition);
    struct cp_entity *cust = refs->customer;
    char event_id[CP_ID_MAX + 1];
    cp_rc rc;

    /* cp_scorer_before_event() already moved the watermark to the event. */
    if (!pt)
        return CP_OK;
    snprintf(event_id, sizeof(event_id), "%.*s", (int)ev->event_id.len,
             ev->event_id.ptr);
    rc = score_customer(sc, cust, refs->partition,
                        cp_max64(pt->wm, cust->u.customer->churn.last_seen_ms),
                        event_id, event_id);
    if (rc)
        return rc;
    if (refs->wait_started >= 0) {
        int64_t sla = cp_churn_model_sla_ms(sc->model, (int)ev->channel);

        if (sla > 0) {
            rc = cp__sc_set_sla_timer(sc, cust, refs->entity, refs->partition,
                                      refs->wait_started,
                                      refs->wait_started + sla);
            if (rc)
                return rc;
        }
    }
    if (refs->wait_ended >= 0) {
        rc = cp__sc_set_sla_timer(sc, cust, refs->entity, refs->partition,
                                  refs->wait_ended, CP_NO_TIMER);
        if (rc)
            return rc;
    }
    return CP_OK;
}

cp_rc cp_scorer_batch_end(struct cp_scorer *sc)
{
    int resolved = 1;
    cp_rc rc;

    for (int32_t p = 0; p < CP_SCORER_MAX_PARTITIONS; p++) {
        struct part *pt = &sc->parts[p];
        int64_t idle;

        if (!pt->owned)
            continue;
        idle = idle_watermark(sc, pt, sc->wall_now);
        if (idle > pt->wm && pt->known) {
            pt->wm = idle;
            pt->wm_dirty = 1;
            sc->has_writes = 1;
        }
    }
    /* Timers searched now may be due already (a firing leaves the next
     * one stale again): rounds until none fires. It ends: a firing is due
     * by the watermark and moves its customer's scored_at forward. A round
     * limit would leave the last customers fired with no timer at all. */
    while (resolved) {
        rc = resolve_stale_timers(sc, &resolved);
        if (rc)
            return rc;
        for (int32_t p = 0; p < CP_SCORER_MAX_PARTITIONS; p++) {
            struct part *pt = &sc->parts[p];

            if (!pt->owned || pt->wm == INT64_MIN)
                continue;
            rc = fire_until(sc, p, pt->wm);
            if (rc)
                return rc;
        }
    }
    return CP_OK;
}

size_t cp_scorer_alert_cnt(const struct cp_scorer *sc)
{
    return sc->alert_cnt;
}

const struct cp_alert *cp_scorer_alert(const struct cp_scorer *sc, size_t i)
{
    return &sc->alerts[i].alert;
}

const char *cp_scorer_alert_key(const struct cp_scorer *sc, size_t i)
{
    return sc->alerts[i].key;
}

int cp_scorer_has_writes(const struct cp_scorer *sc)
{
    return sc->has_writes;
}

/* ---- commit ---- */

static int cmp_entity_tenant(const void *pa, const void *pb)
{
    const struct cp_entity *a = *(struct cp_entity *const *)pa;
    const struct cp_entity *b = *(struct cp_entity *const *)pb;
    int c;

    if (a->tenant_len != b->tenant_len)
        return a->tenant_len < b->tenant_len ? -1 : 1;
    c = memcmp(cp_entity_tenant(a), cp_entity_tenant(b), a->tenant_len);
    if (c)
        return c;
    if (a->id_len != b->id_len)
        return a->id_len < b->id_len ? -1 : 1;
    return memcmp(cp_entity_id(a), cp_entity_id(b), a->id_len);
}

static int same_tenant(const struct cp_entity *a, const struct cp_entity *b)
{
    return a->tenant_len == b->tenant_len &&
           !memcmp(cp_entity_tenant(a), cp_entity_tenant(b), a->tenant_len);
}

static void field(struct cp_cmds *cmds, const char *name, const char *value)
{
    cp_cmd_str(cmds, name);
    cp_cmd_str(cmds, value);
}

static void write_customer_hash(struct cp_scorer *sc, struct cp_cmds *cmds,
                                const struct cp_entity *cust,
                                const struct shown *s)
{
    size_t len;
    char id[CP_ID_MAX + 1];
    const char *key;
    int argc = 2 + 2 * 9;

    snprintf(id, sizeof(id), "%.*s", (int)cust->id_len, cp_entity_id(cust));
    key = tenant_key(sc, cust, CP_KSEG_CUSTOMER, id, &len);
    if (!key) {
        cp_cmds_poison(cmds);
        return;
    }
    argc += s->manager[0] ? 2 : 0;
    argc += s->last_order_at[0] ? 2 : 0;
    argc += s->last_nps[0] ? 2 : 0;
    cp_cmd_begin(cmds, argc);
    cp_cmd_arg(cmds, "HSET", 4);
    cp_cmd_arg(cmds, key, len);
    field(cmds, "score", s->score);
    field(cmds, "level", s->level);
    field(cmds, "reasons", s->reasons);
    field(cmds, "scored_at", s->scored_at);
    field(cmds, "orders", s->orders);
    field(cmds, "open_tickets", s->open_tickets);
    /* Always written: an action that no longer applies must go. */
    field(cmds, "action", s->action);
    field(cmds, "value_minor", s->value);
    field(cmds, "value_at_risk_minor", s->value_at_risk);
    if (s->manager[0])
        field(cmds, "manager", s->manager);
    if (s->last_order_at[0])
        field(cmds, "last_order_at", s->last_order_at);
    if (s->last_nps[0])
        field(cmds, "last_nps", s->last_nps);
}

/* Customer hashes whose visible fields changed, and one ZADD `risk` per
 * tenant with their scores. */
static void write_customers(struct cp_scorer *sc, struct cp_cmds *cmds)
{
    struct shown *s = malloc(sizeof(*s));
    char(*scores)[16] = malloc(sc->scored_cnt * sizeof(*scores) + 1);
    struct cp_entity **changed = malloc(sc->scored_cnt * sizeof(*changed) + 1);
    size_t start = 0;

    if (!s || !scores || !changed) {
        cp_cmds_poison(cmds);
        goto out;
    }
    qsort(sc->scored, sc->scored_cnt, sizeof(*sc->scored), cmp_entity_tenant);
    while (start < sc->scored_cnt) {
        size_t end = start, n = 0, len;
        const char *key;

        while (end < sc->scored_cnt &&
               same_tenant(sc->scored[start], sc->scored[end]))
            end++;
        for (size_t i = start; i < end; i++) {
            struct cp_customer *c = sc->scored[i]->u.customer;
            struct cp_churn_score score;

            if (!c->shown_changed)
                continue;
            c->shown_changed = 0;
            cp_churn_evaluate(sc->model, &c->churn, c->scored_at, &score);
            build_shown(c, &score, s);
            write_customer_hash(sc, cmds, sc->scored[i], s);
            c->shown = s->hash;
            if (is_prospect(&c->churn))
                continue;
            memcpy(scores[n], s->score, sizeof(scores[n]));
            changed[n++] = sc->scored[i];
        }
        if (n) {
            key = tenant_key(sc, sc->scored[start], CP_KSEG_RISK, NULL, &len);
            if (!key) {
                cp_cmds_poison(cmds);
                goto out;
            }
            cp_cmd_begin(cmds, 2 + 2 * (int)n);
            cp_cmd_arg(cmds, "ZADD", 4);
            cp_cmd_arg(cmds, key, len);
            for (size_t i = 0; i < n; i++) {
                cp_cmd_str(cmds, scores[i]);
                cp_cmd_arg(cmds, cp_entity_id(changed[i]), changed[i]->id_len);
            }
        }
        start = end;
    }
out:
    free(s);
    free(scores);
    free(changed);
}

static int cmp_op_partition(const void *pa, const void *pb)
{
    const struct timer_op *a = *(struct timer_op *const *)pa;
    const struct timer_op *b = *(struct timer_op *const *)pb;

    if (a->p != b->p)
        return a->p < b->p ? -1 : 1;
    return a < b ? -1 : a > b; /* stable: keeps the batch's order */
}

/* One ZADD and one ZREM per partition for the timers that changed; also
 * what the partition's earliest stored timer will be after the commit. */
static void write_timers(struct cp_scorer *sc, struct cp_cmds *cmds)
{
    struct timer_op **dirty;
    size_t n = 0, start = 0;

    for (int32_t p = 0; p < CP_SCORER_MAX_PARTITIONS; p++) {
        struct part *pt = &sc->parts[p];

        pt->min_due_pending = pt->fetched ? pt->next_after : pt->min_due;
    }
    if (!sc->op_cnt)
        return;
    dirty = malloc(sc->op_cnt * sizeof(*dirty));
    if (!dirty) {
        cp_cmds_poison(cmds);
        return;
    }
    for (size_t i = 0; i < sc->op_cnt; i++)
        if (sc->ops[i].dirty)
            dirty[n++] = &sc->ops[i];
    qsort(dirty, n, sizeof(*dirty), cmp_op_partition);
    while (start < n) {
        int32_t p = dirty[start]->p;
        size_t end = start, adds = 0, len;
        const char *key;

        while (end < n && dirty[end]->p == p)
            adds += dirty[end++]->due != CP_NO_TIMER;
        key = timers_key(sc, p, &len);
        if (!key) {
            cp_cmds_poison(cmds);
            break;
        }
        if (adds) {
            cp_cmd_begin(cmds, 2 + 2 * (int)adds);
            cp_cmd_arg(cmds, "ZADD", 4);
            cp_cmd_arg(cmds, key, len);
            for (size_t i = start; i < end; i++) {
                if (dirty[i]->due == CP_NO_TIMER)
                    continue;
                cp_cmd_int(cmds, dirty[i]->due);
                cp_cmd_arg(cmds, dirty[i]->member, dirty[i]->member_len);
                sc->parts[p].min_due_pending =
                    cp_min64(sc->parts[p].min_due_pending, dirty[i]->due);
            }
        }
        if (end - start > adds) {
            key = timers_key(sc, p, &len);
            if (!key) {
                cp_cmds_poison(cmds);
                break;
            }
            cp_cmd_begin(cmds, 2 + (int)(end - start - adds));
            cp_cmd_arg(cmds, "ZREM", 4);
            cp_cmd_arg(cmds, key, len);
            for (size_t i = start; i < end; i++)
                if (dirty[i]->due == CP_NO_TIMER)
                    cp_cmd_arg(cmds, dirty[i]->member, dirty[i]->member_len);
        }
        start = end;
    }
    free(dirty);
}

static int cmp_alert_tenant(const void *pa, const void *pb)
{
    const struct pending_alert *const *a = pa, *const *b = pb;
    int c = strcmp((*a)->alert.tenant_id, (*b)->alert.tenant_id);

    if (c)
        return c;
    return *a < *b ? -1 : *a > *b; /* keep decision order */
}

static void write_recent_alerts(struct cp_scorer *sc, struct cp_cmds *cmds)
{
    struct pending_alert **sorted;
    size_t start = 0;

    if (!sc->alert_cnt)
        return;
    sorted = malloc(sc->alert_cnt * sizeof(*sorted));
    if (!sorted) {
        cp_cmds_poison(cmds);
        return;
    }
    for (size_t i = 0; i < sc->alert_cnt; i++)
        sorted[i] = &sc->alerts[i];
    qsort(sorted, sc->alert_cnt, sizeof(*sorted), cmp_alert_tenant);
    while (start < sc->alert_cnt) {
        size_t end = start;
        char key[512];
        int klen;

        while (end < sc->alert_cnt && !strcmp(sorted[start]->alert.tenant_id,
                                              sorted[end]->alert.tenant_id))
            end++;
        klen = cp_key_tenant(
            key, sizeof(key), sc->prefix, sorted[start]->alert.tenant_id,
            strlen(sorted[start]->alert.tenant_id), CP_KSEG_ALERTS_RECENT);
        /* LPUSH in decision order puts the newest first. */
        cp_cmd_begin(cmds, 2 + (int)(end - start));
        cp_cmd_arg(cmds, "LPUSH", 5);
        cp_cmd_arg(cmds, key, (size_t)klen);
        for (size_t i = start; i < end; i++) {
            cp_buf_reset(&sc->buf);
            if (cp_alert_json(&sorted[i]->alert, &sc->buf))
                cp_cmds_poison(cmds);
            cp_cmd_arg(cmds, sc->buf.data, sc->buf.len);
        }
        cp_cmd_begin(cmds, 4);
        cp_cmd_arg(cmds, "LTRIM", 5);
        cp_cmd_arg(cmds, key, (size_t)klen);
        cp_cmd_arg(cmds, "0", 1);
        cp_cmd_int(cmds, RECENT_MAX - 1);
        start = end;
    }
    free(sorted);
}

static void write_watermarks(struct cp_scorer *sc, struct cp_cmds *cmds)
{
    int n = 0;

    for (int32_t p = 0; p < CP_SCORER_MAX_PARTITIONS; p++)
        n += sc->parts[p].wm_dirty && sc->parts[p].wm != INT64_MIN;
    if (!n)
        return;
    cp_cmd_begin(cmds, 2 + 2 * n);
    cp_cmd_arg(cmds, "HSET", 4);
    cp_cmd_str(cmds, sc->wm_key);
    for (int32_t p = 0; p < CP_SCORER_MAX_PARTITIONS; p++) {
        if (!sc->parts[p].wm_dirty || sc->parts[p].wm == INT64_MIN)
            continue;
        cmd_partition_field(sc, cmds, p);
        cp_cmd_int(cmds, sc->parts[p].wm);
    }
}

void cp_scorer_write(struct cp_scorer *sc, struct cp_cmds *cmds)
{
    write_customers(sc, cmds);
    write_timers(sc, cmds);
    write_recent_alerts(sc, cmds);
    write_watermarks(sc, cmds);
    sc->bad_sent = sc->bad_batch;
    sc->bad_batch = 0;
    for (size_t i = 0; i < sc->scored_cnt; i++)
        sc->scored[i]->u.customer->in_batch = 0;
    sc->scored_cnt = 0;
}

void cp_scorer_publish_cmds(struct cp_scorer *sc, struct cp_cmds *cmds)
{
    for (size_t i = 0; i < sc->alert_cnt; i++) {
        const struct cp_alert *a = &sc->alerts[i].alert;
        char channel[512];
        int n =
            cp_key_tenant(channel, sizeof(channel), sc->prefix, a->tenant_id,
                          strlen(a->tenant_id), CP_KSEG_ALERTS_CHANNEL);

        cp_buf_reset(&sc->buf);
        if (cp_alert_json(a, &sc->buf))
            continue;
        cp_cmd_begin(cmds, 3);
        cp_cmd_arg(cmds, "PUBLISH", 7);
        cp_cmd_arg(cmds, channel, (size_t)n);
        cp_cmd_arg(cmds, sc->buf.data, sc->buf.len);
    }
}

void cp_scorer_commit_done(struct cp_scorer *sc)
{
    sc->bad_committed += sc->bad_sent;
    sc->bad_sent = 0;
    for (int32_t p = 0; p < CP_SCORER_MAX_PARTITIONS; p++) {
        struct part *pt = &sc->parts[p];

        if (!pt->owned || !pt->known)
            continue;
        pt->wm_committed = pt->wm;
        pt->min_due = pt->min_due_committed = pt->min_due_pending;
    }
}

void cp_scorer_rollback(struct cp_scorer *sc)
{
    /* Called before the state cache is dropped with the batch, so the
     * scored customers are still valid for forget_batch(). */
    forget_batch(sc);
    sc->bad_sent = 0;
    for (int32_t p = 0; p < CP_SCORER_MAX_PARTITIONS; p++) {
        struct part *pt = &sc->parts[p];

        pt->wm = pt->wm_committed;
        pt->min_due = pt->min_due_pending = pt->min_due_committed;
    }
}

int cp_scorer_idle_tick_due(const struct cp_scorer *sc, int64_t wall_now)
{
    for (int32_t p = 0; p < CP_SCORER_MAX_PARTITIONS; p++) {
        const struct part *pt = &sc->parts[p];
        int64_t idle = idle_watermark(sc, pt, wall_now);

        if (idle == INT64_MIN || idle <= pt->wm)
            continue;
        if (!pt->known || idle >= pt->min_due)
            return 1;
    }
    return 0;
}

int64_t cp_scorer_watermark(const struct cp_scorer *sc, int32_t p)
{
    return p >= 0 && p < CP_SCORER_MAX_PARTITIONS ? sc->parts[p].wm : INT64_MIN;
}

uint64_t cp_scorer_unreadable_cnt(const struct cp_scorer *sc)
{
    return sc->bad_committed;
}
