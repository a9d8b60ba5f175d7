/* SPDX-License-Identifier: Apache-2.0 */
/* The scorer driven batch by batch as the worker drives it (prefetch, state
 * load, before/apply/after per event, batch end, MULTI/EXEC), against a
 * real redis-server: watermarks, timer firing, what it reads back from
 * Redis that someone else wrote, rollback after a failed batch. */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "apply.h"
#include "churn.h"
#include "counters.h"
#include "fixtures.h"
#include "resp.h"
#include "scorer.h"
#include "state.h"
#include "store.h"

static struct fx_redis redis;

static void start(void)
{
    fx_redis_start(&redis, NULL);
}

static void stop(void)
{
    fx_redis_stop(&redis);
}

TestSuite(scorer, .init = start, .fini = stop, .timeout = 120);

#define DAY_MS  86400000LL
#define HOUR_MS 3600000LL
#define MIN_MS  60000LL
/* 2026-01-01T00:00:00Z: the event times of these tests. */
#define T0 1767225600000LL

/* One worker's pipeline parts, without Kafka. */
struct rig {
    struct cp_store *st;
    struct cp_churn_model *model;
    struct cp_state *state;
    struct cp_counters *ctr;
    struct cp_apply *ap;
    struct cp_scorer *sc;
    struct cp_cmds cmds;
    int64_t wall; /* the worker clock of the next batch */
    /* Alerts of every committed batch: kind, customer, event time. */
    char alerts[512][200];
    size_t alert_cnt;
};

static void rig_open(struct rig *r, const struct cp_scorer_cfg *over)
{
    char errstr[256];
    struct cp_scorer_cfg cfg = {.prefix = "crm",
                                .group = "g",
                                .topic = "crm.events",
                                .allowed_lateness_ms = 0,
                                .idle_advance_ms = 0};

    memset(r, 0, sizeof(*r));
    if (over)
        cfg = *over;
    r->st = cp_store_new(redis.url, errstr, sizeof(errstr));
    cr_assert_not_null(r->st, "%s", errstr);
    r->model = cp_churn_model_default();
    cr_assert_not_null(r->model);
    cfg.model = r->model;
    r->state = cp_state_new("crm");
    r->ctr = cp_counters_new();
    r->ap = cp_apply_new("crm", r->state, r->ctr);
    cr_assert(r->state && r->ctr && r->ap);
    cp_apply_set_model(r->ap, r->model);
    r->sc = cp_scorer_new(&cfg, r->state, r->ap);
    cr_assert_not_null(r->sc);
    cp_cmds_init(&r->cmds);
    r->wall = T0 + 400 * DAY_MS;
    cp_scorer_assign(r->sc, 0, r->wall);
}

static void rig_close(struct rig *r)
{
    cp_cmds_cleanup(&r->cmds);
    cp_scorer_destroy(r->sc);
    cp_apply_destroy(r->ap);
    cp_counters_destroy(r->ctr);
    cp_state_destroy(r->state);
    cp_churn_model_destroy(r->model);
    cp_store_destroy(r->st);
}

static cp_rc on_prefetch(void *opaque, size_t i, const struct cp_reply *reply)
{
    return cp_scorer_prefetch_reply(opaque, i, reply);
}

static cp_rc on_load(void *opaque, size_t i, const struct cp_reply *reply)
{
    return cp_state_load_reply(opaque, i, reply);
}

/* What the worker does after a failed batch. */
static void rig_rollback(struct rig *r)
{
    cp_scorer_rollback(r->sc);
    cp_state_clear(r->state);
    cp_counters_reset(r->ctr);
}

/* One batch of @p n events of partition 0, committed; CP_OK or the first
 * error (then rolled back, as the worker does). */
static cp_rc rig_batch(struct rig *r, struct cp_event *evs, size_t n)
{
    struct cp_event_refs refs[64];
    struct cp_tx_result res;
    cp_rc rc = CP_OK;

    cr_assert_leq(n, CP_FX_ARRAY_SIZE(refs));
    cp_counters_reset(r->ctr);
    cp_apply_set_clock(r->ap, r->wall, 2 * DAY_MS);
    cp_scorer_batch_begin(r->sc, r->wall);
    for (size_t i = 0; i < n && !rc; i++) {
        cp_scorer_note_message(r->sc, 0, evs[i].occurred_at);
        rc = cp_apply_prepare(r->ap, &evs[i], &refs[i]);
        refs[i].partition = 0;
    }
    for (int round = 0; round < 3 && !rc; round++) {
        cp_cmds_reset(&r->cmds);
        if (!cp_scorer_prefetch_cmds(r->sc, &r->cmds)) {
            rc = cp_cmds_failed(&r->cmds) ? CP_ENOMEM : CP_OK;
            break;
        }
        rc = cp_store_roundtrip(r->st, &r->cmds, on_prefetch, r->sc);
    }
    if (!rc) {
        cp_cmds_reset(&r->cmds);
        if (cp_state_load_cmds(r->state, &r->cmds))
            rc = cp_store_roundtrip(r->st, &r->cmds, on_load, r->state);
        else if (cp_cmds_failed(&r->cmds))
            rc = CP_ENOMEM;
        cp_state_load_done(r->state);
    }
    for (size_t i = 0; i < n && !rc; i++) {
        rc = cp_scorer_before_event(r->sc, &evs[i], &refs[i]);
        if (!rc)
            rc = cp_apply_event(r->ap, &evs[i], &refs[i]);
        if (!rc)
            rc = cp_scorer_after_event(r->sc, &evs[i], &refs[i]);
    }
    if (!rc)
        rc = cp_scorer_batch_end(r->sc);
    if (!rc) {
        cp_cmds_reset(&r->cmds);
        cp_cmd_begin(&r->cmds, 1);
        cp_cmd_arg(&r->cmds, "MULTI", 5);
        cp_counters_write(r->ctr, &r->cmds);
        cp_scorer_write(r->sc, &r->cmds);
        cp_state_write_dirty(r->state, &r->cmds);
        cp_cmd_begin(&r->cmds, 1);
        cp_cmd_arg(&r->cmds, "EXEC", 4);
        if (cp_cmds_failed(&r->cmds))
            rc = CP_ENOMEM;
    }
    if (!rc) {
        rc = cp_store_send(r->st, &r->cmds);
        if (!rc)
            rc = cp_store_finish_tx(r->st, &res);
        if (!rc && (res.aborted || res.errors))
            rc = CP_EREDIS;
    }
    if (rc) {
        rig_rollback(r);
        return rc;
    }
    for (size_t i = 0; i < cp_scorer_alert_cnt(r->sc); i++) {
        const struct cp_alert *a = cp_scorer_alert(r->sc, i);

        if (r->alert_cnt < CP_FX_ARRAY_SIZE(r->alerts))
            snprintf(r->alerts[r->alert_cnt++], sizeof(r->alerts[0]),
                     "%s %s/%s %s at %lld",
                     cp_alert_kind_symbol(a->kind), a->tenant_id,
                     a->customer_id, cp_alert_level_symbol(a->level),
                     (long long)a->event_time);
    }
    cp_state_commit_done(r->state);
    cp_scorer_commit_done(r->sc);
    return CP_OK;
}

static struct cp_str s(const char *text)
{
    struct cp_str str = {text, text ? strlen(text) : 0};
    return str;
}

/* An event of customer acme/@p customer at @p t. */
static struct cp_event event(enum cp_payload_kind kind, const char *customer,
                             const char *entity, int64_t t)
{
    static unsigned seq;
    static char ids[4096][24];
    struct cp_event ev;
    char *id = ids[seq++ % 4096];

    snprintf(id, sizeof(ids[0]), "ev-%u", seq);
    memset(&ev, 0, sizeof(ev));
    ev.event_id = s(id);
    ev.tenant_id = s("acme");
    ev.customer_id = s(customer);
    ev.occurred_at = t;
    ev.channel = CP_CHANNEL_NONE;
    ev.kind = kind;
    ev.entity_id = s(entity);
    return ev;
}

static struct cp_event order(const char *customer, int64_t t)
{
    struct cp_event ev = event(CP_ORDER_PLACED, customer, "o", t);

    ev.amount = 5000;
    return ev;
}

/* Sends one binary-safe command; its reply's first string into @p out. */
struct one_reply {
    char text[512];
    int type;
};

static cp_rc keep_reply(void *opaque, size_t i, const struct cp_reply *reply)
{
    struct one_reply *out = opaque;

    (void)i;
    out->type = (int)reply->type;
    snprintf(out->text, sizeof(out->text), "%.*s", (int)reply->len,
             reply->str ? reply->str : "");
    return CP_OK;
}

static void redis_cmd(struct rig *r, struct one_reply *out, int argc,
                      const char *const *argv, const size_t *lens)
{
    struct cp_cmds cmds;
    struct one_reply ignored;

    cp_cmds_init(&cmds);
    cp_cmd_begin(&cmds, argc);
    for (int i = 0; i < argc; i++)
        cp_cmd_arg(&cmds, argv[i], lens ? lens[i] : strlen(argv[i]));
    cr_assert_eq(cp_store_roundtrip(r->st, &cmds, keep_reply,
                                    out ? out : &ignored),
                 CP_OK);
    cp_cmds_cleanup(&cmds);
}

static void flush(struct rig *r)
{
    const char *argv[] = {"FLUSHALL"};

    redis_cmd(r, NULL, 1, argv, NULL);
}

/* ---- tests ---- */

Test(scorer, a_batch_commits_and_the_watermark_reads_back)
{
    struct rig r;
    struct cp_event ev = order("c1", T0);
    struct one_reply out;
    const char *argv[] = {"HGET", "crmpulse:watermarks:g", "crm.events:0"};

    rig_open(&r, NULL);
    flush(&r);
    cr_assert_eq(rig_batch(&r, &ev, 1), CP_OK);
    redis_cmd(&r, &out, 3, argv, NULL);
    cr_assert_str_eq(out.text, "1767225600000");
    rig_close(&r);
}

/* Well-formed UTF-8 (what a strict Avro or JSON reader accepts)? */
static int utf8_ok(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;

    while (*u) {
        int n = *u < 0x80 ? 0 : (*u & 0xe0) == 0xc0 ? 1 : (*u & 0xf0) == 0xe0 ? 2
                            : (*u & 0xf8) == 0xf0 ? 3 : -1;

        if (n < 0)
            return 0;
        u++;
        for (int i = 0; i < n; i++, u++)
            if ((*u & 0xc0) != 0x80)
                return 0;
    }
    return 1;
}

Test(scorer, sla_alert_detail_cuts_a_long_id_on_a_character_boundary)
{
    struct rig r;
    char conv[128];
    struct cp_event evs[2];
    const struct cp_alert *a = NULL;

    /* "a" then 2-byte characters: byte 64 is the middle of one. */
    strcpy(conv, "a");
    for (int i = 0; i < 40; i++)
        strcat(conv, "\xc3\xa9"); /* U+00E9 */
    rig_open(&r, NULL);
    flush(&r);
    evs[0] = event(CP_MESSAGE_RECEIVED, "c1", conv, T0);
    evs[0].channel = CP_CHANNEL_CHAT; /* SLA 5 min in the default model */
    evs[1] = order("c2", T0 + 10 * MIN_MS);
    cr_assert_eq(rig_batch(&r, evs, 2), CP_OK);
    for (size_t i = 0; i < cp_scorer_alert_cnt(r.sc); i++)
        if (cp_scorer_alert(r.sc, i)->kind == CP_ALERT_RESPONSE_SLA_BREACH)
            a = cp_scorer_alert(r.sc, i);
    cr_assert_not_null(a, "no SLA alert");
    cr_assert_eq(a->reason_cnt, 1);
    cr_assert(utf8_ok(a->reasons[0].detail), "detail not UTF-8: %s",
              a->reasons[0].detail);
    /* 63 bytes of the id: "a" and 31 whole characters. */
    cr_assert(strstr(a->reasons[0].detail, "conversation a\xc3\xa9"));
    cr_assert_not_null(strstr(a->reasons[0].detail, "\xc3\xa9 unanswered"));
    rig_close(&r);
}
