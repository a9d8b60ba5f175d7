/* SPDX-License-Identifier: Apache-2.0 */
/* The batch loop and its recovery: any failure before EXEC rolls the batch
 * back (drop cached state, seek to the offsets in Redis) and retries with
 * backoff, so Redis holds exactly what the input log implies. */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "arena.h"
#include "codec.h"
#include "counters.h"
#include "kafka.h"
#include "http.h"
#include "live.h"
#include "log.h"
#include "metrics.h"
#include "resp.h"
#include "scorer.h"
#include "state.h"
#include "store.h"

#define CP_MAX_PARTITIONS 4096
#define CP_DLQ_FLUSH_MS   30000
#define CP_BACKOFF_MAX_MS 5000
#define CP_PROGRESS_MS    10000

/* What we know of one partition of the input topic. */
struct part_slot {
    uint8_t owned;        /* assigned to us now */
    uint8_t touched;      /* consumed in the current batch */
    int64_t next_offset;  /* next offset to apply; -1: take the first seen */
    int64_t start_offset; /* where this assignment began (absolute): the
                             rewind target while Redis holds no offset */
    int64_t epoch;        /* our fence epoch for it (see arm_fences) */
};

struct cp_worker {
    const struct cp_config *cfg;  /* borrowed */
    struct cp_embedded *emb;      /* owned, NULL unless embedded */
    const char *bootstrap;        /* borrowed from cfg or emb */
    struct cp_codec *codec;       /* owned */
    struct cp_store *store;       /* owned */
    struct cp_producer *prod;     /* owned; DLQ (and alerts later) */
    struct cp_consumer *cons;     /* owned */
    struct cp_state *state;       /* owned */
    struct cp_counters *ctr;      /* owned */
    struct cp_apply *ap;          /* owned */
    struct cp_churn_model *model; /* owned */
    struct cp_scorer *sc;         /* owned */
    struct cp_live *live;         /* owned */
    struct cp_metrics *metrics;   /* owned; read by the HTTP thread */
    struct cp_http *http;         /* owned; NULL when http.listen is empty */

    /* Per-batch scratch, allocated once. */
    struct cp_msg *msgs;        /* owned, batch_max */
    struct cp_event *events;    /* owned, batch_max */
    struct cp_event_refs *refs; /* owned, batch_max */
    struct cp_arena arena;      /* decoded strings */
    struct cp_cmds cmds;        /* Redis commands of one round trip */
    struct cp_buf dlq_buf;      /* one encoded dead letter */
    struct cp_buf alert_buf;    /* one encoded alert */
    struct cp_cmds pub_cmds;    /* PUBLISH of the batch in flight, sent once
                                   its EXEC succeeded */
    int64_t last_tick_ms;       /* last batch run for timers alone */
    int64_t last_ping_ms;       /* last idle health check */
    struct cp_partition *rewind_parts; /* owned, CP_MAX_PARTITIONS: scratch */

    /* The transaction sent but not yet acknowledged: Redis runs it while we
     * fetch and decode the next batch. */
    struct {
        int active;
        struct cp_partition *parts; /* owned, CP_MAX_PARTITIONS */
        size_t part_cnt;
        int64_t events, dlq; /* what it commits, for the stats */
        size_t msgs;         /* messages in the batch */
        int64_t started_us;  /* when its processing began */
        uint32_t dl_class[CP_METRICS_DL_CLASS_CNT]; /* its dead letters */
        uint32_t alerts[CP_METRICS_ALERT_KIND_CNT][CP_METRICS_LEVEL_CNT];
        int64_t sent_us;
    } inflight;
    char offsets_key[300]; /* crmpulse:offsets:<group> */

    struct part_slot parts[CP_MAX_PARTITIONS];
    struct cp_worker_stats stats;
    int backoff_ms;
    int rewind_needed;         /* a commit failed inside a rebalance callback */
    uint64_t armed_connection; /* connection whose WATCH covers our fences */
    char rewind_error[128];    /* why the last rewind failed, if not Redis */
    int32_t *fence_parts;      /* owned, CP_MAX_PARTITIONS: MGET order */
};

static cp_rc finish_inflight(struct cp_worker *w);

/* ---- offsets in Redis ---- */

static void append_offset_field(struct cp_cmds *cmds, const char *topic,
                                int32_t partition)
{
    char field[300];
    int n = snprintf(field, sizeof(field), "%s:%d", topic, (int)partition);

    cp_cmd_arg(cmds, field, (size_t)n);
}

struct offsets_read {
    struct cp_partition *parts;
};

static cp_rc on_offset_reply(void *opaque, size_t i,
                             const struct cp_reply *reply)
{
    struct offsets_read *rd = opaque;
    char tmp[32];
    char *end;
    long long v;

    if (reply->type == CP_REPLY_ERROR)
        return CP_EREDIS;
    if (reply->type != CP_REPLY_STRING) {
        rd->parts[i].offset = CP_OFFSET_STORED;
        return CP_OK;
    }
    if (reply->len == 0 || reply->len >= sizeof(tmp))
        return CP_EREDIS;
    memcpy(tmp, reply->str, reply->len);
    tmp[reply->len] = '\0';
    v = strtoll(tmp, &end, 10);
    if (*end || v < 0)
        return CP_EREDIS;
    rd->parts[i].offset = v;
    return CP_OK;
}

/* Fills parts[].offset from crmpulse:offsets:<group> (CP_OFFSET_STORED when
 * Redis has none). */
static cp_rc read_offsets(struct cp_worker *w, struct cp_partition *parts,
                          size_t cnt)
{
    struct offsets_read rd = {parts};
    cp_rc rc;

    cp_cmds_reset(&w->cmds);
    for (size_t i = 0; i < cnt; i++) {
        cp_cmd_begin(&w->cmds, 3);
        cp_cmd_arg(&w->cmds, "HGET", 4);
        cp_cmd_str(&w->cmds, w->offsets_key);
        append_offset_field(&w->cmds, parts[i].topic, parts[i].partition);
    }
    rc = cp_store_roundtrip(w->store, &w->cmds, on_offset_reply, &rd);
    if (rc)
        cp_log(CP_LOG_WARNING, "REDIS", "read offsets: %s",
               cp_store_errstr(w->store));
    return rc;
}

/* ---- fencing ----
 * Each partition has a fence key whose value is bumped (INCR) by every
 * worker that is assigned the partition; the worker keeps the value it got.
 * Before its transactions it WATCHes the fence keys of all its partitions
 * and reads them back: a value that is not ours means another worker owns
 * the partition now, and a bump after the WATCH aborts our next EXEC. So a
 * worker that lost a partition (paused past its session, cut off) can never
 * overwrite what the new owner wrote. */

static void append_fence_key(struct cp_worker *w, int32_t p)
{
    char key[600];
    int n = snprintf(key, sizeof(key), "crmpulse:fence:%s:%s:%d",
                     w->cfg->kafka_group_id, w->cfg->topic_events, (int)p);

    cp_cmd_arg(&w->cmds, key, (size_t)n);
}

struct fence_read {
    struct cp_worker *w;
    size_t cnt;
};

static cp_rc on_fence_reply(void *opaque, size_t i,
                            const struct cp_reply *reply)
{
    struct fence_read *rd = opaque;
    struct cp_worker *w = rd->w;

    if (reply->type == CP_REPLY_ERROR)
        return CP_EREDIS;
    if (i < 2)
        return CP_OK; /* UNWATCH, WATCH */
    if (reply->type != CP_REPLY_ARRAY || reply->elements != rd->cnt)
        return CP_EREDIS;
    for (size_t j = 0; j < rd->cnt; j++) {
        struct part_slot *slot = &w->parts[w->fence_parts[j]];
        struct cp_reply elem;
        int64_t now_epoch = -1;

        cp_store_reply_element(reply, j, &elem);
        if (elem.type == CP_REPLY_STRING && elem.len < 32) {
            char tmp[32];

            memcpy(tmp, elem.str, elem.len);
            tmp[elem.len] = '\0';
            now_epoch = strtoll(tmp, NULL, 10);
        }
        if (now_epoch != slot->epoch) {
            cp_log(CP_LOG_WARNING, "WORKER",
                   "partition %s [%d] belongs to another worker now (fence "
                   "%lld, ours %lld): no more writes for it",
                   w->cfg->topic_events, (int)w->fence_parts[j],
                   (long long)now_epoch, (long long)slot->epoch);
            slot->owned = 0;
        }
    }
    return CP_OK;
}

/* WATCH the fence keys of every owned partition (only those: UNWATCH
 * first) and check they still hold our epochs. One round trip. */
static cp_rc arm_fences(struct cp_worker *w)
{
    struct fence_read rd = {w, 0};
    cp_rc rc;

    for (int32_t p = 0; p < CP_MAX_PARTITIONS; p++)
        if (w->parts[p].owned)
            w->fence_parts[rd.cnt++] = p;
    cp_cmds_reset(&w->cmds);
    cp_cmd_begin(&w->cmds, 1);
    cp_cmd_arg(&w->cmds, "UNWATCH", 7);
    if (rd.cnt) {
        cp_cmd_begin(&w->cmds, 1 + (int)rd.cnt);
        cp_cmd_arg(&w->cmds, "WATCH", 5);
        for (size_t j = 0; j < rd.cnt; j++)
            append_fence_key(w, w->fence_parts[j]);
        cp_cmd_begin(&w->cmds, 1 + (int)rd.cnt);
        cp_cmd_arg(&w->cmds, "MGET", 4);
        for (size_t j = 0; j < rd.cnt; j++)
            append_fence_key(w, w->fence_parts[j]);
    }
    rc = cp_store_roundtrip(w->store, &w->cmds, on_fence_reply, &rd);
    if (rc)
        cp_log(CP_LOG_WARNING, "REDIS", "arm fences: %s",
               cp_store_errstr(w->store));
    else
        w->armed_connection = cp_store_connection_id(w->store);
    return rc;
}

struct epoch_read {
    struct cp_worker *w;
    const struct cp_partition *parts;
};

static cp_rc on_incr_reply(void *opaque, size_t i, const struct cp_reply *reply)
{
    struct epoch_read *rd = opaque;

    if (reply->type != CP_REPLY_INTEGER)
        return CP_EREDIS;
    rd->w->parts[rd->parts[i].partition].epoch = reply->integer;
    return CP_OK;
}

/* Takes the partitions over: bump their fences, remember our epochs. */
static cp_rc claim_fences(struct cp_worker *w, const struct cp_partition *parts,
                          size_t cnt)
{
    struct epoch_read rd = {w, parts};

    cp_cmds_reset(&w->cmds);
    for (size_t i = 0; i < cnt; i++) {
        cp_cmd_begin(&w->cmds, 2);
        cp_cmd_arg(&w->cmds, "INCR", 4);
        append_fence_key(w, parts[i].partition);
    }
    return cp_store_roundtrip(w->store, &w->cmds, on_incr_reply, &rd);
}

/* ---- rebalance ---- */

static cp_rc on_assign(void *opaque, struct cp_partition *parts, size_t cnt)
{
    struct cp_worker *w = opaque;
    cp_rc rc;

    if (w->inflight.active && finish_inflight(w))
        w->rewind_needed = 1; /* its partitions re-read from Redis offsets */
    for (size_t i = 0; i < cnt; i++)
        if (parts[i].partition < 0 || parts[i].partition >= CP_MAX_PARTITIONS) {
            cp_log(CP_LOG_ERR, "WORKER", "partition %d above the limit %d",
                   (int)parts[i].partition, CP_MAX_PARTITIONS);
            return CP_ECONFIG;
        }
    rc = claim_fences(w, parts, cnt);
    if (rc)
        cp_log(CP_LOG_WARNING, "REDIS", "claim partitions: %s",
               cp_store_errstr(w->store));
    if (!rc)
        rc = read_offsets(w, parts, cnt);
    /* Without an offset in Redis, pin down where Kafka would start: a
     * rewind before the first commit must seek to an absolute offset. */
    if (!rc)
        rc = cp_consumer_resolve_offsets(w->cons, parts, cnt);
    if (rc)
        return rc;
    /* Other workers may have changed the state of these customers. */
    cp_state_clear(w->state);
    for (size_t i = 0; i < cnt; i++) {
        struct part_slot *slot = &w->parts[parts[i].partition];

        slot->owned = 1;
        slot->next_offset = parts[i].offset >= 0 ? parts[i].offset : -1;
        cp_scorer_assign(w->sc, parts[i].partition, cp_now_ms());
        slot->start_offset = parts[i].offset;
        cp_log(CP_LOG_INFO, "WORKER", "partition %s [%d]: start at %lld",
               parts[i].topic, (int)parts[i].partition,
               (long long)parts[i].offset);
    }
    return arm_fences(w);
}

static void on_revoke(void *opaque, const struct cp_partition *parts,
                      size_t cnt)
{
    struct cp_worker *w = opaque;

    /* Our last transaction must land (or fail) before the partitions go to
     * another worker, which will start from the offsets in Redis. */
    if (w->inflight.active && finish_inflight(w))
        w->rewind_needed = 1;
    for (size_t i = 0; i < cnt; i++)
        if (parts[i].partition >= 0 && parts[i].partition < CP_MAX_PARTITIONS) {
            w->parts[parts[i].partition].owned = 0;
            cp_scorer_revoke(w->sc, parts[i].partition);
            cp_metrics_partition_clear(w->metrics, parts[i].topic,
                                       parts[i].partition);
        }
    cp_state_clear(w->state);
    /* Keep watching only what we still own (a failure re-arms later). */
    if (arm_fences(w))
        w->armed_connection = 0;
}

/* ---- one batch ---- */

static cp_rc send_dead_letter(struct cp_worker *w, const struct cp_msg *msg,
                              const char *reason)
{
    struct cp_dead_letter dl = {
        .topic = msg->topic,
        .partition = msg->partition,
        .offset = msg->offset,
        .key = msg->key,
        .key_len = msg->key_len,
        .value = msg->value,
        .value_len = msg->value_len,
        .reason = reason,
        .failed_at = cp_now_ms(),
    };
    size_t max = cp_producer_max_bytes(w->prod);
    char cut_reason[512];
    cp_rc rc;

    cp_buf_reset(&w->dlq_buf);
    rc = cp_codec_encode_dead_letter(w->codec, &dl, &w->dlq_buf);
    /* Too large for Kafka: a copy with the value cut (the key too, if need
     * be) still lands, so the partition moves on; the reason says so. */
    for (int tries = 0; !rc && w->dlq_buf.len + dl.key_len > max; tries++) {
        size_t excess = w->dlq_buf.len + dl.key_len - max + 64;

        if (tries == 3)
            return CP_EKAFKA;
        if (excess > dl.value_len) {
            excess -= dl.value_len;
            dl.value_len = 0;
            dl.key_len = excess < dl.key_len ? dl.key_len - excess : 0;
        } else {
            dl.value_len -= excess;
        }
        snprintf(cut_reason, sizeof(cut_reason),
                 "%s (dead letter truncated: value %zu of %zu bytes kept, "
                 "key %zu of %zu)",
                 reason, dl.value_len, msg->value_len, dl.key_len,
                 msg->key_len);
        dl.reason = cut_reason;
        cp_buf_reset(&w->dlq_buf);
        rc = cp_codec_encode_dead_letter(w->codec, &dl, &w->dlq_buf);
    }
    if (rc)
        return rc;
    cp_log(CP_LOG_DEBUG, "WORKER", "%s [%d] @%lld to DLQ: %s", msg->topic,
           (int)msg->partition, (long long)msg->offset, reason);
    return cp_producer_send(w->prod, w->cfg->topic_dlq, -1, msg->key,
                            dl.key_len, w->dlq_buf.data, w->dlq_buf.len);
}

static cp_rc on_load_reply(void *opaque, size_t i, const struct cp_reply *reply)
{
    return cp_state_load_reply(opaque, i, reply);
}

static cp_rc load_state(struct cp_worker *w)
{
    cp_rc rc;

    cp_cmds_reset(&w->cmds);
    if (!cp_state_load_cmds(w->state, &w->cmds))
        return CP_OK;
    rc = cp_store_roundtrip(w->store, &w->cmds, on_load_reply, w->state);
    cp_state_load_done(w->state);
    return rc;
}

/* Pub/sub after EXEC, best effort: a lost message is only a hint, the
 * Redis keys are the truth. */
static void publish_committed(struct cp_worker *w)
{
    cp_live_publish_cmds(w->live, cp_now_ms(), &w->pub_cmds);
    if (!w->pub_cmds.cnt)
        return;
    if (cp_store_roundtrip(w->store, &w->pub_cmds, NULL, NULL))
        cp_log(CP_LOG_WARNING, "REDIS", "publish: %s",
               cp_store_errstr(w->store));
    cp_cmds_reset(&w->pub_cmds);
}

/* /metrics counts what committed, so a replayed batch counts once. */
static void count_committed(struct cp_worker *w)
{
    struct cp_metrics *m = w->metrics;
    int64_t now_us = cp_mono_us();

    cp_metrics_event(m, CP_METRICS_APPLIED, (uint64_t)w->inflight.events);
    cp_metrics_event(m, CP_METRICS_DEAD_LETTER, (uint64_t)w->inflight.dlq);
    for (int c = 0; c < CP_METRICS_DL_CLASS_CNT; c++)
        for (uint32_t i = 0; i < w->inflight.dl_class[c]; i++)
            cp_metrics_dead_letter_class(m, (enum cp_metrics_dl_class)c);
    for (int k = 0; k < CP_METRICS_ALERT_KIND_CNT; k++)
        for (int l = 0; l < CP_METRICS_LEVEL_CNT; l++)
            for (uint32_t i = 0; i < w->inflight.alerts[k][l]; i++)
                cp_metrics_alert(m, (enum cp_metrics_alert_kind)k,
                                 (enum cp_metrics_alert_level)l);
    cp_metrics_observe_batch(m, w->inflight.msgs,
                             (double)(now_us - w->inflight.started_us) / 1e6);
    cp_metrics_observe_redis_rtt(m,
                                 (double)(now_us - w->inflight.sent_us) / 1e6);
    cp_metrics_set_cache(m, cp_state_entity_cnt(w->state));
    cp_metrics_set_up(m, CP_METRICS_DEP_REDIS, true);
    cp_metrics_set_up(m, CP_METRICS_DEP_KAFKA, true);
    for (int32_t p = 0; p < CP_MAX_PARTITIONS; p++)
        if (w->parts[p].owned)
            cp_metrics_partition_set(
                m, w->cfg->topic_events, p,
                cp_consumer_lag(w->cons, p, w->parts[p].next_offset),
                cp_scorer_watermark(w->sc, p));
    cp_metrics_set_ready(m, true, NULL);
}

static cp_rc finish_inflight(struct cp_worker *w)
{
    struct cp_tx_result res;
    cp_rc rc;

    if (!w->inflight.active)
        return CP_OK;
    w->inflight.active = 0;
    rc = cp_store_finish_tx(w->store, &res);
    w->stats.commit_us += cp_mono_us() - w->inflight.sent_us;
    if (rc) {
        cp_log(CP_LOG_WARNING, "REDIS", "commit: %s",
               cp_store_errstr(w->store));
        return rc;
    }
    if (res.aborted) {
        cp_log(CP_LOG_ERR, "REDIS", "commit: transaction aborted");
        return CP_EFENCED;
    }
    if (res.errors) {
        /* Redis does not roll back: some keys were not what we expect
         * (e.g. another program wrote a key of another type). */
        cp_log(CP_LOG_ERR, "REDIS",
               "commit: %zu commands failed, first: %s (a key has a type "
               "crmpulse does not write? see schemas/redis-keys.md)",
               res.errors, res.error);
        return CP_EREDIS;
    }
    cp_state_commit_done(w->state);
    cp_scorer_commit_done(w->sc);
    cp_live_commit(w->live);
    cp_consumer_commit_async(w->cons, w->inflight.parts, w->inflight.part_cnt);
    publish_committed(w);
    /* EXEC dropped our WATCH: arm it again for the next transaction. */
    if (arm_fences(w))
        w->armed_connection = 0;
    w->stats.batches++;
    w->stats.events += w->inflight.events;
    w->stats.dlq += w->inflight.dlq;
    count_committed(w);
    return CP_OK;
}

/* Counters + state + next offsets in ONE transaction: a crash before EXEC
 * replays the batch, a crash after it skips the batch. Sent, not awaited. */
static cp_rc send_commit(struct cp_worker *w, int64_t events, int64_t dlq)
{
    struct cp_partition *parts = w->inflight.parts;
    size_t n = 0;
    cp_rc rc;

    /* A new connection has no WATCH: arm it before writing anything. */
    /* Connection ids start at 1, so 0 (disarmed) never matches. */
    if (w->armed_connection != cp_store_connection_id(w->store)) {
        rc = arm_fences(w);
        if (rc)
            return rc;
    }
    for (int32_t p = 0; p < CP_MAX_PARTITIONS; p++) {
        if (w->parts[p].touched && !w->parts[p].owned)
            return CP_EFENCED; /* fenced while we worked on the batch */
        n += w->parts[p].touched;
    }
    if (!n && !cp_scorer_has_writes(w->sc))
        return CP_OK; /* only messages of partitions that are not ours */
    n = 0;

    cp_cmds_reset(&w->cmds);
    cp_cmd_begin(&w->cmds, 1);
    cp_cmd_arg(&w->cmds, "MULTI", 5);
    cp_counters_write(w->ctr, &w->cmds);
    cp_scorer_write(w->sc, &w->cmds); /* before the state: it updates it */
    cp_state_write_dirty(w->state, &w->cmds);
    for (int32_t p = 0; p < CP_MAX_PARTITIONS; p++) {
        struct part_slot *slot = &w->parts[p];

        if (!slot->touched)
            continue;
        slot->touched = 0;
        if (slot->next_offset < 0)
            continue; /* an idle tick: nothing consumed yet */
        cp_cmd_begin(&w->cmds, 4);
        cp_cmd_arg(&w->cmds, "HSET", 4);
        cp_cmd_str(&w->cmds, w->offsets_key);
        append_offset_field(&w->cmds, w->cfg->topic_events, p);
        cp_cmd_int(&w->cmds, slot->next_offset);
        parts[n].topic = w->cfg->topic_events;
        parts[n].partition = p;
        parts[n].offset = slot->next_offset;
        slot->touched = 0;
        n++;
    }
    cp_cmd_begin(&w->cmds, 1);
    cp_cmd_arg(&w->cmds, "EXEC", 4);
    cp_cmds_reset(&w->pub_cmds);
    cp_scorer_publish_cmds(w->sc, &w->pub_cmds);
    if (cp_live_stage(w->live, w->ctr))
        return CP_ENOMEM;
    w->inflight.sent_us = cp_mono_us();
    rc = cp_store_send(w->store, &w->cmds);
    if (rc) {
        cp_log(CP_LOG_WARNING, "REDIS", "commit: %s",
               cp_store_errstr(w->store));
        return rc;
    }
    w->inflight.active = 1;
    w->inflight.part_cnt = n;
    w->inflight.events = events;
    w->inflight.dlq = dlq;
    return CP_OK;
}

static cp_rc on_prefetch_reply(void *opaque, size_t i,
                               const struct cp_reply *reply)
{
    return cp_scorer_prefetch_reply(opaque, i, reply);
}

/* Stored watermarks and the timers this batch's watermarks pass: at most
 * a round trip or two, only when a watermark reaches a timer (or after an
 * assignment). Fired timers queue their customers for the state load. */
static cp_rc prefetch_timers(struct cp_worker *w)
{
    for (int round = 0; round < 3; round++) {
        cp_rc rc;

        cp_cmds_reset(&w->cmds);
        if (!cp_scorer_prefetch_cmds(w->sc, &w->cmds))
            return cp_cmds_failed(&w->cmds) ? CP_ENOMEM : CP_OK;
        rc = cp_store_roundtrip(w->store, &w->cmds, on_prefetch_reply, w->sc);
        if (rc)
            return rc;
    }
    return CP_OK;
}

/* The batch's alerts to Kafka (acknowledged with the dead letters). */
static cp_rc send_alerts(struct cp_worker *w)
{
    for (size_t i = 0; i < cp_scorer_alert_cnt(w->sc); i++) {
        const struct cp_alert *a = cp_scorer_alert(w->sc, i);
        const char *key = cp_scorer_alert_key(w->sc, i);
        cp_rc rc;

        cp_buf_reset(&w->alert_buf);
        rc = cp_codec_encode_alert(w->codec, a, &w->alert_buf);
        if (!rc)
            rc = cp_producer_send(w->prod, w->cfg->topic_alerts, -1, key,
                                  strlen(key), w->alert_buf.data,
                                  w->alert_buf.len);
        if (rc)
            return rc;
        cp_log(CP_LOG_INFO, "ALERT", "%s %s %s/%s score %.2f (%s)",
               cp_alert_kind_symbol(a->kind), cp_alert_level_symbol(a->level),
               a->tenant_id, a->customer_id, a->risk_score,
               a->reason_cnt ? a->reasons[0].detail : "no reason");
    }
    return CP_OK;
}

static cp_rc process_batch(struct cp_worker *w, size_t cnt)
{
    uint32_t batch_dl_class[CP_METRICS_DL_CLASS_CNT] = {0};
    int64_t now = cp_now_ms();
    int64_t t0 = cp_mono_us(), t_decoded, t1, t2, t3;
    size_t valid = 0, dlq = 0;
    char reason[256];
    cp_rc rc;

    cp_arena_reset(&w->arena);
    cp_counters_reset(w->ctr);
    cp_apply_set_clock(w->ap, now, w->cfg->minute_retention_ms);
    cp_scorer_batch_begin(w->sc, now);
    if ((int64_t)cp_state_entity_cnt(w->state) > w->cfg->cache_max) {
        /* Dropping the cache is safe once everything in it is committed. */
        rc = finish_inflight(w);
        if (rc)
            return rc;
        cp_state_clear(w->state);
    }
    for (size_t i = 0; i < cnt; i++) {
        const struct cp_msg *msg = &w->msgs[i];
        struct part_slot *slot;

        if (msg->partition < 0 || msg->partition >= CP_MAX_PARTITIONS)
            continue;
        slot = &w->parts[msg->partition];
        /* A message fetched before a rebalance or a rewind: not ours now, or
         * already applied. */
        if (!slot->owned ||
            (slot->next_offset >= 0 && msg->offset < slot->next_offset)) {
            w->stats.skipped++;
            continue;
        }
        slot->next_offset = msg->offset + 1;
        slot->touched = 1;
        rc = cp_codec_decode_event(w->codec, msg->value, msg->value_len, now,
                                   &w->arena, &w->events[valid], reason,
                                   sizeof(reason));
        cp_scorer_note_message(w->sc, msg->partition,
                               rc ? INT64_MIN : w->events[valid].occurred_at);
        if (rc == CP_EDECODE) {
            batch_dl_class[cp_metrics_dl_classify(reason)]++;
            rc = send_dead_letter(w, msg, reason);
            if (rc)
                return rc;
            dlq++;
            continue;
        }
        if (rc)
            return rc;
        rc = cp_apply_prepare(w->ap, &w->events[valid], &w->refs[valid]);
        if (rc)
            return rc;
        w->refs[valid].partition = msg->partition;
        valid++;
    }
    t_decoded = cp_mono_us();
    /* The previous batch must be committed before this one changes the
     * state it wrote (and before the connection carries other replies). */
    rc = finish_inflight(w);
    if (rc)
        return rc;
    t1 = cp_mono_us();
    rc = prefetch_timers(w);
    if (!rc)
        rc = load_state(w);
    if (rc)
        return rc;
    t2 = cp_mono_us();
    for (size_t i = 0; i < valid; i++) {
        rc = cp_scorer_before_event(w->sc, &w->events[i], &w->refs[i]);
        if (!rc)
            rc = cp_apply_event(w->ap, &w->events[i], &w->refs[i]);
        if (!rc)
            rc = cp_scorer_after_event(w->sc, &w->events[i], &w->refs[i]);
        if (rc)
            return rc;
    }
    rc = cp_scorer_batch_end(w->sc);
    if (rc)
        return rc;
    t3 = cp_mono_us();
    rc = send_alerts(w);
    if (rc)
        return rc;
    /* Dead letters and alerts must be durable before the offsets move past
     * what caused them. */
    if (dlq || cp_scorer_alert_cnt(w->sc)) {
        rc = cp_producer_flush(w->prod, CP_DLQ_FLUSH_MS);
        if (rc) {
            cp_log(CP_LOG_WARNING, "KAFKA",
                   "dead letters or alerts not acknowledged: %s",
                   cp_producer_errstr(w->prod));
            return rc;
        }
    }
    w->stats.decode_us += t_decoded - t0;
    w->stats.load_us += t2 - t1;
    w->stats.apply_us += t3 - t2;
    rc = send_commit(w, (int64_t)valid, (int64_t)dlq);
    if (!rc && w->inflight.active) {
        w->inflight.msgs = cnt;
        w->inflight.started_us = t0;
        memcpy(w->inflight.dl_class, batch_dl_class, sizeof(batch_dl_class));
        memset(w->inflight.alerts, 0, sizeof(w->inflight.alerts));
        for (size_t i = 0; i < cp_scorer_alert_cnt(w->sc); i++) {
            const struct cp_alert *a = cp_scorer_alert(w->sc, i);

            w->inflight.alerts[a->kind == CP_ALERT_CHURN_RISK
                                   ? CP_METRICS_ALERT_CHURN_RISK
                                   : CP_METRICS_ALERT_RESPONSE_SLA_BREACH]
                              [a->level == CP_ALERT_CRITICAL
                                   ? CP_METRICS_LEVEL_CRITICAL
                                   : CP_METRICS_LEVEL_HIGH]++;
        }
    }
    return rc;
}

/* ---- recovery ---- */

/* Puts our fence values back where Redis lost them (restarted empty):
 * SET NX leaves a fence alone that exists, ours or a new owner's, so
 * arm_fences still tells a takeover from a data loss. */
static cp_rc restore_fences(struct cp_worker *w,
                            const struct cp_partition *parts, size_t cnt)
{
    cp_rc rc;

    cp_cmds_reset(&w->cmds);
    for (size_t i = 0; i < cnt; i++) {
        cp_cmd_begin(&w->cmds, 4);
        cp_cmd_arg(&w->cmds, "SET", 3);
        append_fence_key(w, parts[i].partition);
        cp_cmd_int(&w->cmds, w->parts[parts[i].partition].epoch);
        cp_cmd_arg(&w->cmds, "NX", 2);
    }
    rc = cp_store_roundtrip(w->store, &w->cmds, NULL, NULL);
    if (rc)
        cp_log(CP_LOG_WARNING, "REDIS", "restore fences: %s",
               cp_store_errstr(w->store));
    return rc;
}

/* Forget the failed batch and read again from the offsets in Redis. */
static cp_rc rewind_to_committed(struct cp_worker *w)
{
    struct cp_partition *parts = w->rewind_parts;
    size_t n = 0;
    cp_rc rc;

    cp_scorer_rollback(w->sc); /* before the cache it points into goes */
    cp_cmds_reset(&w->pub_cmds);
    cp_live_discard(w->live);
    cp_state_clear(w->state);
    cp_counters_reset(w->ctr);
    for (int32_t p = 0; p < CP_MAX_PARTITIONS; p++) {
        if (!w->parts[p].owned)
            continue;
        w->parts[p].touched = 0;
        parts[n].topic = w->cfg->topic_events;
        parts[n].partition = p;
        parts[n].offset = CP_OFFSET_STORED;
        n++;
    }
    if (!n)
        return CP_OK;
    rc = restore_fences(w, parts, n);
    if (!rc)
        rc = read_offsets(w, parts, n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct part_slot *slot = &w->parts[parts[i].partition];

        /* Nothing committed (yet, or Redis came back empty): restart where
         * this assignment began, an absolute offset (Kafka rejects a seek
         * to "the stored offset"). */
        if (parts[i].offset < 0)
            parts[i].offset = slot->start_offset;
        slot->next_offset = parts[i].offset;
    }
    rc = cp_consumer_seek(w->cons, parts, n);
    if (rc)
        snprintf(w->rewind_error, sizeof(w->rewind_error),
                 "seek to the committed offsets failed");
    return rc;
}

static void recover(struct cp_worker *w, cp_rc cause,
                    volatile sig_atomic_t *stop)
{
    /* Whatever the batch in flight did is in Redis or not, atomically; the
     * offsets read back below tell which. */
    if (w->inflight.active)
        finish_inflight(w);
    w->rewind_needed = 0;
    w->armed_connection = 0; /* an aborted EXEC dropped the WATCH */
    w->stats.retries++;
    cp_metrics_retry(w->metrics, cause == CP_EFENCED  ? CP_METRICS_RETRY_FENCED
                                 : cause == CP_EKAFKA ? CP_METRICS_RETRY_KAFKA
                                                      : CP_METRICS_RETRY_REDIS);
    if (cause == CP_EKAFKA)
        cp_metrics_set_up(w->metrics, CP_METRICS_DEP_KAFKA, false);
    else if (cause == CP_EREDIS)
        cp_metrics_set_up(w->metrics, CP_METRICS_DEP_REDIS, false);
    cp_metrics_set_ready(w->metrics, false,
                         cause == CP_EKAFKA   ? "kafka unreachable"
                         : cause == CP_EREDIS ? "redis unreachable"
                                              : "recovering a failed batch");
    cp_log(CP_LOG_WARNING, "WORKER",
           "batch failed (%s): rolled back, retrying in %d ms",
           cp_rc_name(cause), w->backoff_ms);
    while (!*stop) {
        /* In short steps: SIGTERM during an outage is honoured at once. */
        for (int slept = 0; slept < w->backoff_ms && !*stop; slept += 100)
            cp_sleep_ms(100);
        if (*stop)
            return;
        w->backoff_ms = w->backoff_ms * 2 < CP_BACKOFF_MAX_MS
                            ? w->backoff_ms * 2
                            : CP_BACKOFF_MAX_MS;
        w->rewind_error[0] = '\0';
        if (!rewind_to_committed(w))
            return;
        cp_log(CP_LOG_WARNING, "WORKER",
               "still not ready: %s; retrying in %d ms",
               w->rewind_error[0] ? w->rewind_error : cp_store_errstr(w->store),
               w->backoff_ms);
    }
}

/* ---- lifecycle ---- */

static cp_rc start_embedded(struct cp_worker *w, char *errstr,
                            size_t errstr_size)
{
    const struct cp_config *cfg = w->cfg;
    const char *topics[3] = {cfg->topic_events, cfg->topic_alerts,
                             cfg->topic_dlq};

    w->emb = cp_embedded_new(cfg->embedded_partitions, topics, 3, errstr,
                             errstr_size);
    if (!w->emb)
        return CP_EKAFKA;
    w->bootstrap = cp_embedded_bootstrap(w->emb);
    cp_log(CP_LOG_WARNING, "KAFKA",
           "EMBEDDED KAFKA (librdkafka mock cluster): in memory only, NOT "
           "DURABLE, lost when crmpulse exits. Bootstrap %s, topics %s %s %s "
           "with %d partitions. Set kafka.bootstrap.servers for a real "
           "cluster.",
           w->bootstrap, cfg->topic_events, cfg->topic_alerts, cfg->topic_dlq,
           cfg->embedded_partitions);
    if (cfg->embedded_bootstrap_file && cfg->embedded_bootstrap_file[0]) {
        FILE *f = fopen(cfg->embedded_bootstrap_file, "w");

        if (!f || fprintf(f, "%s\n", w->bootstrap) < 0 || fclose(f)) {
            snprintf(errstr, errstr_size, "write embedded.bootstrap.file %s",
                     cfg->embedded_bootstrap_file);
            return CP_EIO;
        }
    }
    return CP_OK;
}

/* The churn model (model.file, else the built-in one) and the scorer. */
static cp_rc load_model(struct cp_worker *w, char *errstr, size_t errstr_size)
{
    const struct cp_config *cfg = w->cfg;
    struct cp_scorer_cfg scfg = {
        .prefix = cfg->redis_prefix,
        .group = cfg->kafka_group_id,
        .topic = cfg->topic_events,
        .allowed_lateness_ms = cfg->allowed_lateness_ms,
        .idle_advance_ms = cfg->idle_advance_ms,
    };

    if (cfg->model_file[0])
        w->model = cp_churn_model_load(cfg->model_file, errstr, errstr_size);
    else
        w->model = cp_churn_model_default();
    if (!w->model) {
        if (!cfg->model_file[0])
            snprintf(errstr, errstr_size,
                     "built-in churn model: out of memory");
        return CP_ECONFIG;
    }
    cp_log(CP_LOG_INFO, "WORKER", "churn model %s (%s)",
           cp_churn_model_version(w->model),
           cfg->model_file[0] ? cfg->model_file : "built-in");
    scfg.model = w->model;
    w->sc = cp_scorer_new(&scfg, w->state, w->ap);
    w->live = cp_live_new(cfg->redis_prefix);
    if (!w->sc || !w->live) {
        snprintf(errstr, errstr_size, "out of memory");
        return CP_ENOMEM;
    }
    cp_apply_set_model(w->ap, w->model);
    return CP_OK;
}

struct cp_worker *cp_worker_new(const struct cp_config *cfg, char *errstr,
                                size_t errstr_size)
{
    struct cp_worker *w = calloc(1, sizeof(*w));
    struct cp_consumer_callbacks cbs = {on_assign, on_revoke, NULL};
    size_t n = (size_t)cfg->batch_max;

    if (!w) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    w->cfg = cfg;
    w->backoff_ms = 100;
    w->metrics = cp_metrics_new(CP_VERSION, errstr, errstr_size);
    if (!w->metrics)
        goto fail;
    cp_metrics_set_ready(w->metrics, false, "starting");
    if (cfg->http_listen[0]) {
        w->http =
            cp_http_start(cfg->http_listen, w->metrics, errstr, errstr_size);
        /* Several workers on one host: only the first gets the default
         * port; the others serve on a free one rather than not start. */
        if (!w->http && !strcmp(cfg->http_listen, CP_HTTP_DEFAULT_LISTEN)) {
            cp_log(CP_LOG_WARNING, "HTTP", "%s; serving on a free port",
                   errstr);
            w->http =
                cp_http_start("127.0.0.1:0", w->metrics, errstr, errstr_size);
        }
        if (!w->http)
            goto fail;
        cp_log(
            CP_LOG_INFO, "HTTP",
            "/metrics /healthz /readyz on http://127.0.0.1:%d (http.listen=%s)",
            cp_http_port(w->http), cfg->http_listen);
    }
    cp_arena_init(&w->arena, 1024 * 1024);
    cp_cmds_init(&w->cmds);
    cp_buf_init(&w->dlq_buf, 0);
    cp_buf_init(&w->alert_buf, 0);
    cp_cmds_init(&w->pub_cmds);
    snprintf(w->offsets_key, sizeof(w->offsets_key), "crmpulse:offsets:%s",
             cfg->kafka_group_id);
    w->msgs = calloc(n, sizeof(*w->msgs));
    w->events = calloc(n, sizeof(*w->events));
    w->refs = calloc(n, sizeof(*w->refs));
    w->rewind_parts = calloc(CP_MAX_PARTITIONS, sizeof(*w->rewind_parts));
    w->inflight.parts = calloc(CP_MAX_PARTITIONS, sizeof(*w->inflight.parts));
    w->fence_parts = calloc(CP_MAX_PARTITIONS, sizeof(*w->fence_parts));
    w->state = cp_state_new(cfg->redis_prefix);
    w->ctr = cp_counters_new();
    if (!w->msgs || !w->events || !w->refs || !w->rewind_parts ||
        !w->inflight.parts || !w->fence_parts || !w->state || !w->ctr) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    w->ap = cp_apply_new(cfg->redis_prefix, w->state, w->ctr);
    if (!w->ap) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (load_model(w, errstr, errstr_size))
        goto fail;
    w->codec =
        cp_codec_new(cfg->codec_raw ? CP_FRAMING_RAW : CP_FRAMING_CONFLUENT,
                     errstr, errstr_size);
    if (!w->codec)
        goto fail;
    w->store = cp_store_new(cfg->redis_url, errstr, errstr_size);
    if (!w->store)
        goto fail;
    if (!strcmp(cfg->kafka_bootstrap, "embedded") || !cfg->kafka_bootstrap[0]) {
        if (start_embedded(w, errstr, errstr_size))
            goto fail;
    } else {
        w->bootstrap = cfg->kafka_bootstrap;
    }
    w->prod = cp_producer_new(w->bootstrap, cfg->kafka_props,
                              cfg->kafka_prop_cnt, errstr, errstr_size);
    if (!w->prod)
        goto fail;
    cbs.opaque = w;
    w->cons = cp_consumer_new(w->bootstrap, cfg->kafka_group_id,
                              cfg->topic_events, cfg->kafka_props,
                              cfg->kafka_prop_cnt, &cbs, errstr, errstr_size);
    if (!w->cons)
        goto fail;
    return w;
fail:
    cp_worker_destroy(w);
    return NULL;
}

static void log_progress(struct cp_worker *w, int64_t *last_ms,
                         int64_t *last_events)
{
    int64_t now = cp_mono_ms();

    if (now - *last_ms < CP_PROGRESS_MS)
        return;
    cp_log(CP_LOG_INFO, "WORKER",
           "%lld events applied (%.0f/s), %lld to DLQ, %lld batches, %lld "
           "retries; ms in poll %lld decode %lld load %lld apply %lld commit "
           "%lld",
           (long long)w->stats.events,
           (double)(w->stats.events - *last_events) * 1000.0 /
               (double)(now - *last_ms),
           (long long)w->stats.dlq, (long long)w->stats.batches,
           (long long)w->stats.retries, (long long)w->stats.poll_us / 1000,
           (long long)w->stats.decode_us / 1000,
           (long long)w->stats.load_us / 1000,
           (long long)w->stats.apply_us / 1000,
           (long long)w->stats.commit_us / 1000);
    *last_ms = now;
    *last_events = w->stats.events;
}

/* Idle: nothing else would notice Redis going away, so /readyz asks. */
static void check_idle_health(struct cp_worker *w)
{
    int up;

    cp_cmds_reset(&w->cmds);
    cp_cmd_begin(&w->cmds, 1);
    cp_cmd_arg(&w->cmds, "PING", 4);
    up = cp_store_roundtrip(w->store, &w->cmds, NULL, NULL) == CP_OK;
    cp_metrics_set_up(w->metrics, CP_METRICS_DEP_REDIS, up);
    if (!up)
        cp_metrics_set_ready(w->metrics, false, "redis unreachable");
    else if (cp_consumer_generation(w->cons))
        cp_metrics_set_ready(w->metrics, true, NULL);
}

cp_rc cp_worker_run(struct cp_worker *w, volatile sig_atomic_t *stop)
{
    int64_t idle_since = cp_mono_ms();
    int64_t progress_ms = idle_since, progress_events = 0;
    uint64_t idle_gen = 0;    /* assignment idle_since counts from */
    int64_t idle_retries = 0; /* recoveries idle_since counts from */

    /* Rebalance callbacks wait for Redis inside the poll: let them see it. */
    cp_consumer_set_stop(w->cons, stop);
    cp_producer_set_stop(w->prod, stop); /* a flush waits for Kafka too */

    while (!*stop) {
        int64_t poll_start = cp_mono_us();
        size_t cnt = cp_consumer_poll(
            w->cons, w->msgs, (size_t)w->cfg->batch_max, w->cfg->batch_wait_ms);
        cp_rc rc;

        w->stats.poll_us += cp_mono_us() - poll_start;
        if (w->rewind_needed) {
            recover(w, CP_EREDIS, stop);
            continue;
        }
        if (!cnt) {
            cp_consumer_release(w->cons);
            /* Nothing to overlap with: settle the commit in flight now. */
            if (finish_inflight(w)) {
                recover(w, CP_EREDIS, stop);
                continue;
            }
            /* Idle time counts from the last batch, assignment or
             * recovery: time spent blocked in an outage, or waiting for
             * partitions while the group rebalances, is not a quiet
             * input. */
            if (cp_consumer_generation(w->cons) != idle_gen ||
                w->stats.retries != idle_retries ||
                cp_consumer_rebalancing(w->cons)) {
                idle_gen = cp_consumer_generation(w->cons);
                idle_retries = w->stats.retries;
                idle_since = cp_mono_ms();
            }
            /* Idle exit only counts once we own partitions (joining takes
             * a few seconds). */
            if (w->cfg->exit_idle_ms > 0 && cp_consumer_generation(w->cons) &&
                cp_mono_ms() - idle_since >= w->cfg->exit_idle_ms) {
                cp_log(CP_LOG_NOTICE, "WORKER",
                       "no input for %d ms (worker.exit.idle.ms): exiting",
                       w->cfg->exit_idle_ms);
                break;
            }
            /* Caught up with partitions assigned and Redis answering:
             * ready, even with no input at all. */
            if (cp_mono_ms() - w->last_ping_ms >= 1000) {
                w->last_ping_ms = cp_mono_ms();
                check_idle_health(w);
            }
            publish_committed(w); /* deltas held back by the 1/s limit */
            /* Silence is a signal: idle partitions' watermarks follow the
             * wall clock, and their timers fire with no input at all. */
            if (cp_mono_ms() - w->last_tick_ms >= 1000 &&
                cp_scorer_idle_tick_due(w->sc, cp_now_ms())) {
                w->last_tick_ms = cp_mono_ms();
                rc = process_batch(w, 0);
                if (rc == CP_ENOMEM)
                    return rc;
                if (rc) {
                    recover(w, rc, stop);
                    continue;
                }
            }
            log_progress(w, &progress_ms, &progress_events);
            continue;
        }
        rc = process_batch(w, cnt);
        cp_consumer_release(w->cons);
        idle_since = cp_mono_ms(); /* a batch may wait long on Kafka */
        if (rc == CP_ENOMEM) {
            cp_log(CP_LOG_ERR, "WORKER", "out of memory: stopping");
            return rc;
        }
        if (rc) {
            recover(w, rc, stop);
            continue;
        }
        w->backoff_ms = 100;
        log_progress(w, &progress_ms, &progress_events);
    }
    if (finish_inflight(w))
        cp_log(CP_LOG_WARNING, "WORKER",
               "last batch not committed: it will be read again on restart");
    cp_log(CP_LOG_INFO, "WORKER",
           "state cache: %zu entities in %zu bytes (%.0f bytes each)",
           cp_state_entity_cnt(w->state), cp_state_mem_bytes(w->state),
           cp_state_entity_cnt(w->state)
               ? (double)cp_state_mem_bytes(w->state) /
                     (double)cp_state_entity_cnt(w->state)
               : 0.0);
    cp_log(CP_LOG_NOTICE, "WORKER",
           "stopped: %lld events applied, %lld to DLQ in %lld batches; ms in "
           "poll %lld decode %lld load %lld apply %lld commit %lld",
           (long long)w->stats.events, (long long)w->stats.dlq,
           (long long)w->stats.batches, (long long)w->stats.poll_us / 1000,
           (long long)w->stats.decode_us / 1000,
           (long long)w->stats.load_us / 1000,
           (long long)w->stats.apply_us / 1000,
           (long long)w->stats.commit_us / 1000);
    return CP_OK;
}

const struct cp_worker_stats *cp_worker_stats(const struct cp_worker *w)
{
    return &w->stats;
}

void cp_worker_destroy(struct cp_worker *w)
{
    if (!w)
        return;
    cp_http_stop(w->http);        /* before the metrics it reads */
    cp_consumer_destroy(w->cons); /* leaves the group */
    cp_producer_destroy(w->prod);
    cp_embedded_destroy(w->emb);
    cp_store_destroy(w->store);
    cp_codec_destroy(w->codec);
    cp_scorer_destroy(w->sc);
    cp_live_destroy(w->live);
    cp_churn_model_destroy(w->model);
    cp_apply_destroy(w->ap);
    cp_counters_destroy(w->ctr);
    cp_state_destroy(w->state);
    cp_arena_cleanup(&w->arena);
    cp_cmds_cleanup(&w->cmds);
    cp_buf_cleanup(&w->dlq_buf);
    cp_buf_cleanup(&w->alert_buf);
    cp_cmds_cleanup(&w->pub_cmds);
    free(w->msgs);
    free(w->events);
    free(w->refs);
    free(w->rewind_parts);
    free(w->inflight.parts);
    free(w->fence_parts);
    cp_metrics_destroy(w->metrics); /* rebalance callbacks above use it */
    free(w);
}
