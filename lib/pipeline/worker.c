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
#include "checkpoint.h"
#include "codec.h"
#include "counters.h"
#include "kafka.h"
#include "http.h"
#include "live.h"
#include "log.h"
#include "map.h"
#include "metrics.h"
#include "resp.h"
#include "scorer.h"
#include "sideout.h"
#include "state.h"
#include "store.h"
#include "writer_schemas.h"

#define CP_MAX_PARTITIONS   CP_CHECKPOINT_MAX_PARTITIONS
#define CP_DLQ_FLUSH_MS     30000
#define CP_BACKOFF_MAX_MS   5000
#define CP_CHECKED_KEYS_MAX ((size_t)1 << 20) /* then forgotten, rechecked */
#define TYPE_CHECK_TAG      "CPTYPE" /* the type check's error replies */
/* /readyz once a value of ours read back from Redis was not ours (the
 * checkpoint logged which key, which field and the fix). */
#define CORRUPT_REASON "stopped: corrupt value in Redis (see the log)"

/* What we know of one partition of the input topic. */
struct part_slot {
    uint8_t touched;      /* consumed in the current batch */
    int64_t next_offset;  /* next offset to apply; -1: take the first seen */
    int64_t start_offset; /* where this assignment began (absolute): the
                             rewind target while Redis holds no offset */
};

struct cp_worker {
    const struct cp_config *cfg;  /* borrowed */
    struct cp_embedded *emb;      /* owned, NULL unless embedded */
    const char *bootstrap;        /* borrowed from cfg or emb */
    struct cp_codec *codec;       /* owned */
    struct cp_writer_schemas *ws; /* owned; NULL without a schema registry */
    struct cp_store *store;       /* owned */
    struct cp_checkpoint *cp;     /* owned: offsets and fences */
    struct cp_producer *prod;     /* owned; dead letters and alerts */
    struct cp_sideout *so;        /* owned: what prod must acknowledge */
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
    int64_t *offsets;           /* owned, batch_max: each event's offset */
    struct cp_arena arena;      /* decoded strings */
    struct cp_cmds cmds;        /* Redis commands of one round trip */
    struct cp_cmds body_cmds;   /* MULTI ... EXEC being built */
    struct cp_cmds tx_cmds;     /* the type check and the transaction in
                                   flight, kept until its replies are read
                                   (to name a failed key) */
    struct cp_map tx_keys;      /* keys the transaction writes -> type */
    struct cp_map checked_keys; /* keys whose type a committed transaction
                                   confirmed: not checked again until a
                                   rebalance, a failure or a cache drop */
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

    struct part_slot parts[CP_MAX_PARTITIONS];
    struct cp_worker_stats stats;
    int backoff_ms;
    int rewind_needed;      /* a commit failed inside a rebalance callback */
    cp_rc fatal;            /* non-OK: a loud stop; no retry can fix it */
    char rewind_error[128]; /* why the last rewind failed, if not Redis */

    /* What the log said last, so that each state change is one line. */
    int said_ready;          /* -1 nothing yet, 0 not ready, 1 ready */
    char said_reason[64];    /* the not-ready reason logged */
    int said_redis_down;     /* "redis down" is the latest Redis line */
    int64_t redis_down_ms;   /* when (monotonic) */
    int said_publish_failed; /* "publish" warned, not "works again" yet */
    struct {
        int64_t window_ms;  /* start of the current second (monotonic) */
        int logged;         /* [ALERT] lines in it */
        int64_t not_logged; /* alerts over log.alerts.per_s, since the
                               last count line */
    } alert_log;
};

static cp_rc finish_inflight(struct cp_worker *w);
static void remember_checked(struct cp_worker *w);

/* ---- state changes: one log line each ---- */

/* /readyz and the log together: a line only when readiness or the reason
 * for not being ready changes, never per retry or per batch. */
static void set_ready(struct cp_worker *w, bool ready, const char *reason)
{
    cp_metrics_set_ready(w->metrics, ready, reason);
    if (ready && w->said_ready != 1) {
        struct cp_log_field f[] = {{"event", "ready", 0}};

        cp_log_fields(CP_LOG_NOTICE, "WORKER", f, CP_ARRAY_SIZE(f), "ready");
    } else if (!ready &&
               (w->said_ready != 0 || strcmp(w->said_reason, reason))) {
        struct cp_log_field f[] = {{"event", "not_ready", 0},
                                   {"reason", reason, 0}};

        cp_log_fields(CP_LOG_WARNING, "WORKER", f, CP_ARRAY_SIZE(f),
                      "not ready: %s", reason);
        snprintf(w->said_reason, sizeof(w->said_reason), "%s", reason);
    }
    w->said_ready = ready;
}

/* Stops the worker for good (the run loop ends and returns @p rc): what
 * went wrong is not something a retry can fix. Logged by the caller. */
static void stop_fatally(struct cp_worker *w, cp_rc rc, const char *reason)
{
    if (!w->fatal)
        w->fatal = rc;
    set_ready(w, false, reason);
}

/* A Redis call failed (@p what, e.g. "commit"): "redis down" once, the
 * details of each further failure at debug level. */
static void redis_failed(struct cp_worker *w, const char *what)
{
    const char *err = cp_store_errstr(w->store);

    if (!w->said_redis_down) {
        struct cp_log_field f[] = {{"event", "redis_down", 0},
                                   {"error", err, 0}};

        cp_log_fields(CP_LOG_WARNING, "REDIS", f, CP_ARRAY_SIZE(f),
                      "redis down: %s: %s", what, err);
        w->said_redis_down = 1;
        w->redis_down_ms = cp_mono_ms();
    } else {
        cp_log(CP_LOG_DEBUG, "REDIS", "%s: %s", what, err);
    }
}

/* A Redis round trip succeeded. */
static void redis_answered(struct cp_worker *w)
{
    int64_t down_ms;

    if (!w->said_redis_down)
        return;
    down_ms = cp_mono_ms() - w->redis_down_ms;
    {
        struct cp_log_field f[] = {{"event", "redis_up", 0},
                                   {"down_ms", NULL, down_ms}};

        cp_log_fields(CP_LOG_NOTICE, "REDIS", f, CP_ARRAY_SIZE(f),
                      "redis back after %.1f s", (double)down_ms / 1000.0);
    }
    w->said_redis_down = 0;
}

/* WATCH our fences again (see checkpoint.h), telling the log about Redis. */
static cp_rc arm(struct cp_worker *w)
{
    cp_rc rc = cp_checkpoint_arm(w->cp);

    if (rc == CP_ECONFIG)
        stop_fatally(w, rc, CORRUPT_REASON);
    else if (rc)
        redis_failed(w, "arm fences");
    else
        redis_answered(w);
    return rc;
}

/* ---- offsets Kafka does not have (offsets.out_of_range) ---- */

static const char *const out_of_range_names[] = {"fail", "earliest", "latest"};

/* Partition @p p was to be read from @p next, but the broker holds only
 * [@p low, @p high). offsets.out_of_range decides: fail stops the worker
 * (logged; CP_ECONFIG), earliest and latest set *@p to and *@p skipped,
 * what is never applied (counted by the caller once the move is
 * committed, see count_skipped()). */
static cp_rc out_of_range(struct cp_worker *w, const char *topic, int32_t p,
                          int64_t next, int64_t low, int64_t high, int64_t *to,
                          int64_t *skipped_out)
{
    int policy = w->cfg->offsets_out_of_range;
    bool below = next < low;
    int64_t gone = below ? low - next : next - high, skipped;
    char what[320];

    if (below)
        snprintf(what, sizeof(what),
                 "committed offset %lld is below the log start %lld (log end "
                 "%lld): %lld messages were deleted (retention) before this "
                 "group applied them",
                 (long long)next, (long long)low, (long long)high,
                 (long long)gone);
    else
        snprintf(what, sizeof(what),
                 "committed offset %lld is beyond the log end %lld (log start "
                 "%lld): Kafka never had %lld of the offsets this group "
                 "committed (topic recreated, another cluster, or Redis "
                 "restored from elsewhere)",
                 (long long)next, (long long)high, (long long)low,
                 (long long)gone);
    if (policy == CP_OUT_OF_RANGE_FAIL) {
        struct cp_log_field f[] = {{"event", "offset_out_of_range", 0},
                                   {"topic", topic, 0},
                                   {"partition", NULL, p},
                                   {"offset", NULL, next},
                                   {"log_start", NULL, low},
                                   {"log_end", NULL, high},
                                   {"missing", NULL, gone}};

        cp_log_fields(
            CP_LOG_ERR, "KAFKA", f, CP_ARRAY_SIZE(f),
            "STOPPING: partition %s [%d]: %s. Nothing more of it is applied "
            "until an operator chooses (offsets.out_of_range=fail): set "
            "offsets.out_of_range=earliest to continue from the log start "
            "(%lld), or latest to continue from the log end (%lld), the "
            "messages passed over counted in crmpulse_messages_skipped_total; "
            "or bring back the topic or the Redis that match.",
            topic, (int)p, what, (long long)low, (long long)high);
        stop_fatally(w, CP_EKAFKA, "stopped: committed offset out of range");
        return CP_ECONFIG;
    }
    *to = policy == CP_OUT_OF_RANGE_EARLIEST ? low : high;
    skipped = below ? *to - next : *to - low;
    {
        struct cp_log_field f[] = {{"event", "offset_out_of_range", 0},
                                   {"topic", topic, 0},
                                   {"partition", NULL, p},
                                   {"offset", NULL, next},
                                   {"log_start", NULL, low},
                                   {"log_end", NULL, high},
                                   {"missing", NULL, gone},
                                   {"resume_at", NULL, *to},
                                   {"skipped", NULL, skipped}};

        cp_log_fields(CP_LOG_WARNING, "KAFKA", f, CP_ARRAY_SIZE(f),
                      "partition %s [%d]: %s; offsets.out_of_range=%s: "
                      "continuing at offset %lld, %lld messages skipped "
                      "(never applied)",
                      topic, (int)p, what, out_of_range_names[policy],
                      (long long)*to, (long long)skipped);
    }
    *skipped_out = skipped;
    return CP_OK;
}

static void count_skipped(struct cp_worker *w, int64_t skipped)
{
    w->stats.out_of_range_skipped += skipped;
    cp_metrics_skipped(w->metrics, (uint64_t)skipped);
}

/* At assignment: an offset from Redis must lie within the partition's log
 * (a new cluster, a recreated topic or a Redis from elsewhere put it beyond
 * the end; retention, below the start). Fixes parts[].offset per policy. */
static cp_rc check_stored_offsets(struct cp_worker *w,
                                  struct cp_partition *parts, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++) {
        int64_t low, high, to, skipped;
        cp_rc rc;

        if (parts[i].offset < 0)
            continue; /* nothing stored: Kafka's own start, in range */
        rc = cp_consumer_watermarks(w->cons, parts[i].partition, &low, &high);
        if (rc)
            return rc;
        if (parts[i].offset >= low && parts[i].offset <= high)
            continue;
        rc = out_of_range(w, parts[i].topic, parts[i].partition,
                          parts[i].offset, low, high, &to, &skipped);
        if (rc)
            return rc;
        /* Back to the start of another log: the tenants' applied offsets
         * of the old one must not pass over the new one's events. */
        if (to < parts[i].offset)
            rc = cp_checkpoint_reset_applied(w->cp, parts[i].partition, to);
        /* Committed now: a restart before the next batch must not count
         * (or even see) the same gap again. */
        if (!rc)
            rc = cp_checkpoint_move_offset(w->cp, parts[i].partition, to);
        if (rc == CP_EREDIS)
            redis_failed(w, "move offset");
        if (rc)
            return rc;
        count_skipped(w, skipped);
        parts[i].offset = to;
    }
    return CP_OK;
}

/* While consuming: the broker answered "out of range" where the consumer
 * was about to fetch (retention deleted messages not read yet). */
static void on_out_of_range(void *opaque, const char *topic, int32_t partition,
                            int64_t offset, const char *reason)
{
    struct cp_worker *w = opaque;
    struct cp_partition part = {topic, partition, 0};
    int64_t next, low, high, skipped = 0;

    if (partition < 0 || partition >= CP_MAX_PARTITIONS ||
        !cp_checkpoint_owns(w->cp, partition) || w->fatal)
        return;
    next = w->parts[partition].next_offset >= 0
               ? w->parts[partition].next_offset
               : offset;
    cp_log(CP_LOG_DEBUG, "KAFKA", "%s [%d]: %s", topic, (int)partition, reason);
    if (cp_consumer_watermarks(w->cons, partition, &low, &high)) {
        w->rewind_needed = 1; /* read the offsets again, and retry */
        return;
    }
    if (next >= low && next <= high) {
        /* Our next offset is still in the log (the fetcher, ahead of
         * what we applied, hit the gap): fetch again from ours. */
        low = high = -1;
    } else if (out_of_range(w, topic, partition, next, low, high, &part.offset,
                            &skipped)) {
        return; /* stopping */
    }
    if (low < 0)
        part.offset = next;
    /* Everything before the gap is committed first (the batch in flight),
     * then the new position, so a restart resumes after the gap. */
    if ((w->inflight.active && finish_inflight(w)) ||
        (low >= 0 && part.offset < next &&
         cp_checkpoint_reset_applied(w->cp, partition, part.offset)) ||
        (low >= 0 &&
         cp_checkpoint_move_offset(w->cp, partition, part.offset))) {
        w->rewind_needed = 1;
        return;
    }
    count_skipped(w, skipped);
    w->parts[partition].next_offset = part.offset;
    if (cp_consumer_seek(w->cons, &part, 1))
        w->rewind_needed = 1;
}

/* ---- rebalance ---- */

static cp_rc on_assign(void *opaque, struct cp_partition *parts, size_t cnt)
{
    struct cp_worker *w = opaque;
    cp_rc rc;

    if (w->inflight.active && finish_inflight(w))
        w->rewind_needed = 1; /* its partitions re-read from Redis offsets */
    if (w->fatal)
        return CP_ECONFIG; /* stopping: not assigning, not retrying */
    rc = cp_checkpoint_claim(w->cp, parts, cnt);
    if (rc == CP_EREDIS)
        redis_failed(w, "claim partitions");
    if (rc == CP_ECONFIG) { /* logged: which partition or fence */
        bool above = false;

        for (size_t i = 0; i < cnt; i++)
            above |= parts[i].partition >= CP_MAX_PARTITIONS;
        stop_fatally(w, CP_ECONFIG,
                     above ? "stopped: a partition above the limit"
                           : CORRUPT_REASON);
        return CP_ECONFIG;
    }
    if (!rc) {
        rc = cp_checkpoint_read_offsets(w->cp, parts, cnt);
        if (rc == CP_ECONFIG) {
            stop_fatally(w, rc, CORRUPT_REASON);
            return rc;
        }
        if (rc)
            redis_failed(w, "read offsets");
    }
    if (!rc)
        rc = check_stored_offsets(w, parts, cnt);
    /* Without an offset in Redis, pin down where Kafka would start: a
     * rewind before the first commit must seek to an absolute offset. */
    if (!rc)
        rc = cp_consumer_resolve_offsets(w->cons, parts, cnt);
    if (rc)
        return rc;
    /* Other workers may have changed the state of these customers. */
    cp_state_clear(w->state);
    cp_checkpoint_applied_forget(w->cp);
    cp_map_reset(&w->checked_keys);
    for (size_t i = 0; i < cnt; i++) {
        struct part_slot *slot = &w->parts[parts[i].partition];

        cp_checkpoint_own(w->cp, parts[i].partition, true);
        slot->next_offset = parts[i].offset >= 0 ? parts[i].offset : -1;
        cp_scorer_assign(w->sc, parts[i].partition, cp_now_ms());
        slot->start_offset = parts[i].offset;
    }
    rc = arm(w);
    if (rc)
        return rc; /* the consumer calls us again (CP_ECONFIG: it stops) */
    for (size_t i = 0; i < cnt; i++) {
        struct cp_log_field f[] = {{"event", "partition_assigned", 0},
                                   {"topic", parts[i].topic, 0},
                                   {"partition", NULL, parts[i].partition},
                                   {"offset", NULL, parts[i].offset}};

        cp_log_fields(CP_LOG_INFO, "WORKER", f, CP_ARRAY_SIZE(f),
                      "partition %s [%d] assigned: start at %lld",
                      parts[i].topic, (int)parts[i].partition,
                      (long long)parts[i].offset);
    }
    return CP_OK;
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
            struct cp_log_field f[] = {{"event", "partition_revoked", 0},
                                       {"topic", parts[i].topic, 0},
                                       {"partition", NULL, parts[i].partition}};

            /* A fenced partition was logged as lost already. */
            if (cp_checkpoint_owns(w->cp, parts[i].partition))
                cp_log_fields(CP_LOG_INFO, "WORKER", f, CP_ARRAY_SIZE(f),
                              "partition %s [%d] revoked", parts[i].topic,
                              (int)parts[i].partition);
            cp_checkpoint_own(w->cp, parts[i].partition, false);
            cp_scorer_revoke(w->sc, parts[i].partition);
            cp_metrics_partition_clear(w->metrics, parts[i].topic,
                                       parts[i].partition);
        }
    cp_state_clear(w->state);
    cp_checkpoint_applied_forget(w->cp);
    cp_map_reset(&w->checked_keys);
    /* Keep watching only what we still own (a failure re-arms later). */
    arm(w);
}

/* ---- one batch ---- */

/* The state load's replies: the entities', then the tenants' applied
 * offsets. */
struct load_read {
    struct cp_worker *w;
    size_t entities; /* commands of cp_state_load_cmds() */
};

static cp_rc on_load_reply(void *opaque, size_t i, const struct cp_reply *reply)
{
    struct load_read *rd = opaque;

    if (i < rd->entities)
        return cp_state_load_reply(rd->w->state, i, reply);
    return cp_checkpoint_applied_load_reply(rd->w->cp, i - rd->entities, reply);
}

/* Entities not cached, and the applied offsets of tenants not seen since
 * the cache was last dropped: one round trip. */
static cp_rc load_state(struct cp_worker *w)
{
    struct load_read rd = {w, 0};
    size_t applied;
    cp_rc rc;

    cp_cmds_reset(&w->cmds);
    rd.entities = cp_state_load_cmds(w->state, &w->cmds);
    applied = cp_checkpoint_applied_load_cmds(w->cp, &w->cmds);
    if (!rd.entities && !applied)
        return CP_OK;
    rc = cp_store_roundtrip(w->store, &w->cmds, on_load_reply, &rd);
    cp_state_load_done(w->state);
    cp_checkpoint_applied_load_done(w->cp);
    return rc;
}

/* Pub/sub after EXEC, best effort: a lost message is only a hint, the
 * Redis keys are the truth. */
static void publish_committed(struct cp_worker *w)
{
    cp_live_publish_cmds(w->live, cp_now_ms(), &w->pub_cmds);
    if (!w->pub_cmds.cnt)
        return;
    /* A denied channel (ACL) fails every publish while the keys commit:
     * one warning when it starts failing, one line when it works again. */
    if (cp_store_roundtrip(w->store, &w->pub_cmds, NULL, NULL)) {
        cp_log(w->said_publish_failed ? CP_LOG_DEBUG : CP_LOG_WARNING, "REDIS",
               "publish (best effort; the keys are committed): %s",
               cp_store_errstr(w->store));
        w->said_publish_failed = 1;
    } else if (w->said_publish_failed) {
        cp_log(CP_LOG_NOTICE, "REDIS", "publish works again");
        w->said_publish_failed = 0;
    }
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
    cp_metrics_set_dropped(m, CP_METRICS_DROP_STAGE,
                           cp_state_drop_cnt(w->state, CP_DROP_STAGE));
    cp_metrics_set_dropped(m, CP_METRICS_DROP_TICKET,
                           cp_state_drop_cnt(w->state, CP_DROP_TICKET));
    cp_metrics_set_dropped(m, CP_METRICS_DROP_WAITING,
                           cp_state_drop_cnt(w->state, CP_DROP_WAITING));
    cp_metrics_set_dropped(m, CP_METRICS_DROP_UNREADABLE,
                           cp_state_drop_cnt(w->state, CP_DROP_UNREADABLE) +
                               cp_scorer_unreadable_cnt(w->sc));
    cp_metrics_set_up(m, CP_METRICS_DEP_REDIS, true);
    cp_metrics_set_up(m, CP_METRICS_DEP_KAFKA, true);
    for (int32_t p = 0; p < CP_MAX_PARTITIONS; p++)
        if (cp_checkpoint_owns(w->cp, p))
            cp_metrics_partition_set(
                m, w->cfg->topic_events, p,
                cp_consumer_lag(w->cons, p, w->parts[p].next_offset),
                cp_scorer_watermark(w->sc, p));
    set_ready(w, true, NULL);
}

/* EXEC answered errors. Queued errors (EXECABORT) applied nothing: the
 * batch is retried. Errors inside EXEC's result mean Redis ran the rest of
 * the transaction, offsets included (it never rolls back): the batch
 * cannot be read again without counting the rest twice, and what the failed
 * commands carried is lost. That is a loud stop, naming the key. */
static cp_rc tx_failed(struct cp_worker *w, const struct cp_tx_result *res)
{
    char cmd[32], key[256];

    cp_cmds_arg(&w->tx_cmds, res->error_cmd, 0, cmd, sizeof(cmd));
    cp_cmds_arg(&w->tx_cmds, res->error_cmd, 1, key, sizeof(key));
    if (!strncmp(res->error, TYPE_CHECK_TAG " ", sizeof(TYPE_CHECK_TAG))) {
        struct cp_log_field f[] = {{"event", "foreign_key_type", 0},
                                   {"error", res->error, 0}};

        /* The check aborted the EXEC: nothing of the batch applied, so
         * once the key is fixed the batch is read again, exactly. */
        cp_log_fields(CP_LOG_ERR, "REDIS", f, CP_ARRAY_SIZE(f),
                      "STOPPING: %s (another program wrote it; see "
                      "schemas/redis-keys.md). Nothing of this batch was "
                      "applied. Fix: delete the key (or restore what "
                      "crmpulse wrote there), then restart the worker.",
                      res->error + sizeof(TYPE_CHECK_TAG));
        stop_fatally(w, CP_EREDIS,
                     "stopped: a key crmpulse writes has "
                     "another type");
        return CP_EREDIS;
    }
    if (!res->exec_errors) {
        struct cp_log_field f[] = {{"event", "transaction_refused", 0},
                                   {"command", cmd, 0},
                                   {"key", key, 0},
                                   {"error", res->error, 0}};

        cp_log_fields(CP_LOG_ERR, "REDIS", f, CP_ARRAY_SIZE(f),
                      "commit refused, nothing applied: %s %s: %s", cmd, key,
                      res->error);
        return CP_EREDIS;
    }
    {
        struct cp_log_field f[] = {
            {"event", "transaction_partly_applied", 0},
            {"command", cmd, 0},
            {"key", key, 0},
            {"error", res->error, 0},
            {"failed_commands", NULL, (int64_t)res->exec_errors},
            {"commands", NULL, (int64_t)w->tx_cmds.cnt}};

        cp_log_fields(
            CP_LOG_ERR, "REDIS", f, CP_ARRAY_SIZE(f),
            "STOPPING: commit partly applied: %zu of the %zu commands of the "
            "transaction failed, first %s %s: %s. Redis does not roll back: "
            "the other commands and the partition offsets WERE applied, so "
            "what the failed commands carried is lost (this batch of %lld "
            "events is not counted as applied). Key %s has a type crmpulse "
            "does not write there (another program wrote it; see "
            "schemas/redis-keys.md). Fix: delete or restore the key, then "
            "restart the worker.",
            res->exec_errors, w->tx_cmds.cnt, cmd, key, res->error,
            (long long)w->inflight.events, key);
    }
    stop_fatally(w, CP_EREDIS, "stopped: a transaction partly applied");
    return CP_EREDIS;
}

static cp_rc finish_inflight(struct cp_worker *w)
{
    struct cp_tx_result res;
    int64_t t0;
    cp_rc rc;

    if (!w->inflight.active)
        return CP_OK;
    w->inflight.active = 0;
    t0 = cp_mono_us();
    rc = cp_store_finish_tx(w->store, &res);
    w->stats.commit_us += cp_mono_us() - t0;
    if (rc) {
        redis_failed(w, "commit");
        return rc;
    }
    if (res.errors)
        return tx_failed(w, &res); /* before aborted: the check aborts */
    if (res.aborted) {
        cp_log(CP_LOG_ERR, "REDIS", "commit: transaction aborted");
        return CP_EFENCED;
    }
    remember_checked(w);
    cp_state_commit_done(w->state);
    cp_scorer_commit_done(w->sc);
    cp_live_commit(w->live);
    cp_consumer_commit_async(w->cons, w->inflight.parts, w->inflight.part_cnt);
    publish_committed(w);
    /* EXEC dropped our WATCH: arm it again for the next transaction. */
    arm(w);
    w->stats.batches++;
    w->stats.events += w->inflight.events;
    w->stats.dlq += w->inflight.dlq;
    count_committed(w);
    return CP_OK;
}

/* A read of the batch (state load, timers) failed on an error reply: a key
 * of ours of another type is a loud stop naming it (nothing of the batch
 * was written yet, so once the key is fixed the batch reads again,
 * exactly), not "redis down" and a retry loop. */
static void read_wrong_type(struct cp_worker *w)
{
    const char *err = cp_store_errstr(w->store);
    size_t i = cp_store_error_cmd(w->store);
    char cmd[32], key[256];

    if (!strstr(err, "WRONGTYPE") || i == SIZE_MAX)
        return;
    cp_cmds_arg(&w->cmds, i, 0, cmd, sizeof(cmd));
    cp_cmds_arg(&w->cmds, i, 1, key, sizeof(key));
    {
        struct cp_log_field f[] = {{"event", "foreign_key_type", 0},
                                   {"command", cmd, 0},
                                   {"key", key, 0},
                                   {"error", err, 0}};

        cp_log_fields(CP_LOG_ERR, "REDIS", f, CP_ARRAY_SIZE(f),
                      "STOPPING: key %s has a type crmpulse does not write "
                      "there (%s %s: %s; another program wrote it? see "
                      "schemas/redis-keys.md). Nothing of this batch was "
                      "applied. Fix: delete the key (or restore what "
                      "crmpulse wrote there), then restart the worker.",
                      key, cmd, key, err);
    }
    stop_fatally(w, CP_EREDIS,
                 "stopped: a key crmpulse writes has another type");
}

/* ---- the type check before a transaction ---- */

/* MULTI/EXEC has no rollback: a write to a key another program turned into
 * another type fails alone while the rest, offsets included, applies. So
 * the transaction is preceded, in the same pipeline, by a script that
 * checks the type of every key it writes; on a foreign type it rewrites a
 * fence we WATCH with its own value, which aborts our EXEC (nothing
 * applied), and answers the key and both types. KEYS[1] is that fence,
 * KEYS[2..] the keys, ARGV[i] the type crmpulse writes to KEYS[i + 1]. */
static const char type_check_script[] =
    "for i = 2, #KEYS do "
    "local t = redis.call('TYPE', KEYS[i])['ok'] "
    "if t ~= 'none' and t ~= ARGV[i - 1] then "
    "local f = redis.call('GET', KEYS[1]) "
    "if f then redis.call('SET', KEYS[1], f) end "
    "return redis.error_reply('" TYPE_CHECK_TAG " key ' .. KEYS[i] .. "
    "' is a ' .. t .. ', crmpulse writes a ' .. ARGV[i - 1] .. ' there') "
    "end end return 0";

/* The Redis type a write command of ours needs its key to have; NULL for
 * commands that take any type (EXPIREAT) or that we do not know. */
static const char *type_written(const struct cp_cmd_view *v)
{
    static const struct {
        const char *name;
        const char *type;
    } cmds[] = {{"HSET", "hash"},    {"HDEL", "hash"},
                {"HINCRBY", "hash"}, {"HINCRBYFLOAT", "hash"},
                {"ZADD", "zset"},    {"ZREM", "zset"},
                {"ZINCRBY", "zset"}, {"LPUSH", "list"},
                {"LTRIM", "list"},   {"RPUSH", "list"}};

    if (!v->key)
        return NULL;
    for (size_t i = 0; i < CP_ARRAY_SIZE(cmds); i++)
        if (v->name_len == strlen(cmds[i].name) &&
            !memcmp(v->name, cmds[i].name, v->name_len))
            return cmds[i].type;
    return NULL;
}

/* The transaction committed: the types of the keys it checked hold (a
 * later change by another program is caught by EXEC's own errors, the
 * loud stop of tx_failed()). */
static void remember_checked(struct cp_worker *w)
{
    if (w->checked_keys.cnt + w->tx_keys.cnt > CP_CHECKED_KEYS_MAX)
        cp_map_reset(&w->checked_keys);
    for (size_t i = 0; i < w->tx_keys.cap; i++) {
        const struct cp_map_entry *e = &w->tx_keys.slots[i];

        if (e->key && !cp_map_upsert(&w->checked_keys, e->key, e->key_len,
                                     cp_map_hash(e->key, e->key_len))) {
            cp_map_reset(&w->checked_keys); /* out of memory: check all */
            return;
        }
    }
}

/* tx_cmds = the type check of body_cmds' keys, then body_cmds. */
static cp_rc build_tx(struct cp_worker *w)
{
    struct cp_cmd_view v;
    size_t pos = 0, keys = 0;

    cp_cmds_reset(&w->tx_cmds);
    cp_map_reset(&w->tx_keys);
    if (cp_cmds_failed(&w->body_cmds))
        return CP_ENOMEM;
    while (cp_cmds_next(&w->body_cmds, &pos, &v)) {
        const char *type = type_written(&v);
        uint64_t hash;
        struct cp_map_entry *e;

        if (!type)
            continue;
        hash = cp_map_hash(v.key, v.key_len);
        if (cp_map_find(&w->checked_keys, v.key, v.key_len, hash))
            continue;
        e = cp_map_upsert(&w->tx_keys, v.key, v.key_len, hash);
        if (!e)
            return CP_ENOMEM;
        if (!e->value)
            keys++;
        e->value = (void *)type;
    }
    if (keys && cp_checkpoint_watched_fence(w->cp, NULL)) {
        cp_cmd_begin(&w->tx_cmds, 3 + 1 + 2 * (int)keys);
        cp_cmd_arg(&w->tx_cmds, "EVAL", 4);
        cp_cmd_arg(&w->tx_cmds, type_check_script,
                   sizeof(type_check_script) - 1);
        cp_cmd_int(&w->tx_cmds, 1 + (int64_t)keys);
        cp_checkpoint_watched_fence(w->cp, &w->tx_cmds);
        for (size_t i = 0; i < w->tx_keys.cap; i++)
            if (w->tx_keys.slots[i].key)
                cp_cmd_arg(&w->tx_cmds, w->tx_keys.slots[i].key,
                           w->tx_keys.slots[i].key_len);
        for (size_t i = 0; i < w->tx_keys.cap; i++)
            if (w->tx_keys.slots[i].key)
                cp_cmd_str(&w->tx_cmds, w->tx_keys.slots[i].value);
    }
    if (cp_buf_append(&w->tx_cmds.buf, w->body_cmds.buf.data,
                      w->body_cmds.buf.len))
        return CP_ENOMEM;
    w->tx_cmds.cnt += w->body_cmds.cnt;
    return cp_cmds_failed(&w->tx_cmds) ? CP_ENOMEM : CP_OK;
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
    if (!cp_checkpoint_armed(w->cp)) {
        rc = arm(w);
        if (rc)
            return rc;
    }
    for (int32_t p = 0; p < CP_MAX_PARTITIONS; p++) {
        if (w->parts[p].touched && !cp_checkpoint_owns(w->cp, p))
            return CP_EFENCED; /* fenced while we worked on the batch */
        n += w->parts[p].touched;
    }
    if (!n && !cp_scorer_has_writes(w->sc))
        return CP_OK; /* only messages of partitions that are not ours */
    n = 0;

    cp_cmds_reset(&w->body_cmds);
    cp_cmd_begin(&w->body_cmds, 1);
    cp_cmd_arg(&w->body_cmds, "MULTI", 5);
    cp_counters_write(w->ctr, &w->body_cmds);
    cp_scorer_write(w->sc, &w->body_cmds); /* before the state: it updates it */
    cp_state_write_dirty(w->state, &w->body_cmds);
    cp_checkpoint_append_applied(w->cp, &w->body_cmds);
    for (int32_t p = 0; p < CP_MAX_PARTITIONS; p++) {
        struct part_slot *slot = &w->parts[p];

        if (!slot->touched)
            continue;
        slot->touched = 0;
        if (slot->next_offset < 0)
            continue; /* an idle tick: nothing consumed yet */
        cp_checkpoint_append_commit(w->cp, &w->body_cmds, p, slot->next_offset);
        parts[n].topic = w->cfg->topic_events;
        parts[n].partition = p;
        parts[n].offset = slot->next_offset;
        slot->touched = 0;
        n++;
    }
    cp_cmd_begin(&w->body_cmds, 1);
    cp_cmd_arg(&w->body_cmds, "EXEC", 4);
    rc = build_tx(w);
    if (rc)
        return rc;
    cp_cmds_reset(&w->pub_cmds);
    cp_scorer_publish_cmds(w->sc, &w->pub_cmds);
    if (cp_live_stage(w->live, w->ctr))
        return CP_ENOMEM;
    w->inflight.sent_us = cp_mono_us();
    rc = cp_store_send(w->store, &w->tx_cmds);
    if (rc) {
        redis_failed(w, "commit");
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

/* Starts a new second of alert lines once the current one is over,
 * saying first how many alerts the last ones did not log. */
static void alert_log_roll(struct cp_worker *w, bool at_exit)
{
    int64_t now = cp_mono_ms();

    if (!at_exit && now - w->alert_log.window_ms < 1000)
        return;
    if (w->alert_log.not_logged) {
        struct cp_log_field f[] = {{"event", "alerts_not_logged", 0},
                                   {"count", NULL, w->alert_log.not_logged}};

        cp_log_fields(CP_LOG_INFO, "ALERT", f, CP_ARRAY_SIZE(f),
                      "%lld more alerts not logged (log.alerts.per_s = %d); "
                      "every alert is on topic %s and in Redis",
                      (long long)w->alert_log.not_logged,
                      w->cfg->log_alerts_per_s, w->cfg->topic_alerts);
    }
    w->alert_log.window_ms = now;
    w->alert_log.logged = 0;
    w->alert_log.not_logged = 0;
}

/* One [ALERT] line, at most log.alerts.per_s a second: a backfill decides
 * thousands a second, and a journal that limits rates on its own drops
 * lines without a word, these and others. What is not logged is counted. */
static void log_alert(struct cp_worker *w, const struct cp_alert *a)
{
    alert_log_roll(w, false);
    if (w->alert_log.logged >= w->cfg->log_alerts_per_s) {
        w->alert_log.not_logged++;
        return;
    }
    w->alert_log.logged++;
    cp_log(CP_LOG_INFO, "ALERT", "%s %s %s/%s score %.2f (%s)",
           cp_alert_kind_symbol(a->kind), cp_alert_level_symbol(a->level),
           a->tenant_id, a->customer_id, a->risk_score,
           a->reason_cnt ? a->reasons[0].detail : "no reason");
}

/* Hands the alerts decided since *@p sent to the producer. Called after
 * every event, so Kafka acknowledges them while the batch goes on and the
 * wait before the commit is for the last few only. A batch that fails
 * after this sends them again when it is read again: the same alert_id. */
static cp_rc send_new_alerts(struct cp_worker *w, size_t *sent)
{
    size_t i = *sent;

    for (; i < cp_scorer_alert_cnt(w->sc); i++) {
        const struct cp_alert *a = cp_scorer_alert(w->sc, i);
        cp_rc rc = cp_sideout_alert(w->so, a, cp_scorer_alert_key(w->sc, i));

        if (rc)
            return rc;
        log_alert(w, a);
        *sent = i + 1;
    }
    return CP_OK;
}

static cp_rc process_batch(struct cp_worker *w, size_t cnt)
{
    uint32_t batch_dl_class[CP_METRICS_DL_CLASS_CNT] = {0};
    int64_t now = cp_now_ms();
    int64_t t0 = cp_mono_us(), t_decoded, t1, t2, t3, t4;
    size_t valid = 0, dlq = 0, alerts_sent = 0, done = 0;
    char reason[256];
    cp_rc rc;

    /* Writer schemas first: a registry that does not answer fails the
     * batch before anything of it happened (it is read again). */
    rc = cp_writer_schemas_prepare(w->ws, w->msgs, cnt);
    if (rc)
        return rc;
    cp_arena_reset(&w->arena);
    cp_counters_reset(w->ctr);
    cp_apply_set_clock(w->ap, now, w->cfg->minute_retention_ms);
    cp_scorer_batch_begin(w->sc, now);
    if ((int64_t)cp_state_entity_cnt(w->state) > w->cfg->cache_max ||
        (int64_t)cp_state_used_bytes(w->state) > w->cfg->cache_max_bytes) {
        /* Dropping the cache is safe once everything in it is committed. */
        rc = finish_inflight(w);
        if (rc)
            return rc;
        cp_state_clear(w->state);
        cp_checkpoint_applied_forget(w->cp);
        cp_map_reset(&w->checked_keys);
    }
    for (size_t i = 0; i < cnt; i++) {
        const struct cp_msg *msg = &w->msgs[i];
        struct part_slot *slot;

        if (msg->partition < 0 || msg->partition >= CP_MAX_PARTITIONS)
            continue;
        slot = &w->parts[msg->partition];
        /* A message fetched before a rebalance or a rewind: not ours now, or
         * already applied. */
        if (!cp_checkpoint_owns(w->cp, msg->partition) ||
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
            rc = cp_sideout_dead_letter(w->so, msg, reason);
            if (rc)
                return rc;
            dlq++;
            continue;
        }
        if (rc)
            return rc;
        rc = cp_apply_prepare(w->ap, &w->events[valid], &w->refs[valid]);
        if (!rc)
            rc =
                cp_checkpoint_tenant_seen(w->cp, w->events[valid].tenant_id.ptr,
                                          w->events[valid].tenant_id.len);
        if (rc)
            return rc;
        w->refs[valid].partition = msg->partition;
        w->offsets[valid] = msg->offset;
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
    if (rc == CP_EREDIS)
        read_wrong_type(w);
    if (rc)
        return rc;
    t2 = cp_mono_us();
    for (size_t i = 0; i < valid; i++) {
        const struct cp_event *ev = &w->events[i];
        bool apply;

        /* A replay from the group's offsets (a low watermark) passes over
         * what the event's tenant committed already. */
        rc = cp_checkpoint_applies(w->cp, ev->tenant_id.ptr, ev->tenant_id.len,
                                   w->refs[i].partition, w->offsets[i], &apply);
        if (!rc && !apply) {
            w->stats.skipped++;
            rc = cp_scorer_skip_event(w->sc, ev, w->refs[i].partition);
            if (rc)
                return rc;
            continue;
        }
        if (rc)
            return rc;
        done++;
        rc = cp_scorer_before_event(w->sc, &w->events[i], &w->refs[i]);
        if (!rc)
            rc = cp_apply_event(w->ap, &w->events[i], &w->refs[i]);
        if (!rc)
            rc = cp_scorer_after_event(w->sc, &w->events[i], &w->refs[i]);
        if (!rc)
            rc = send_new_alerts(w, &alerts_sent);
        if (rc)
            return rc;
    }
    rc = cp_scorer_batch_end(w->sc);
    if (rc)
        return rc;
    t3 = cp_mono_us();
    rc = send_new_alerts(w, &alerts_sent); /* the silence timers' */
    if (rc)
        return rc;
    /* Dead letters and alerts must be durable before the offsets move past
     * what caused them. */
    rc = cp_sideout_settle(w->so, CP_DLQ_FLUSH_MS);
    if (rc)
        return rc;
    t4 = cp_mono_us();
    w->stats.decode_us += t_decoded - t0;
    w->stats.load_us += t2 - t1;
    w->stats.apply_us += t3 - t2;
    w->stats.ack_us += t4 - t3;
    rc = send_commit(w, (int64_t)done, (int64_t)dlq);
    w->stats.commit_us += cp_mono_us() - t4;
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

/* Drops from @p parts those that are not ours; @returns how many remain. */
static size_t keep_owned(const struct cp_worker *w, struct cp_partition *parts,
                         size_t cnt)
{
    size_t kept = 0;

    for (size_t i = 0; i < cnt; i++)
        if (cp_checkpoint_owns(w->cp, parts[i].partition))
            parts[kept++] = parts[i];
    return kept;
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
    cp_checkpoint_applied_forget(w->cp);
    cp_map_reset(&w->checked_keys);
    cp_counters_reset(w->ctr);
    for (int32_t p = 0; p < CP_MAX_PARTITIONS; p++) {
        /* Every partition, owned or not: one fenced in the failed batch
         * would otherwise stay "touched", and every later commit would see
         * a write to a partition that is not ours and fail as fenced. */
        w->parts[p].touched = 0;
        if (!cp_checkpoint_owns(w->cp, p))
            continue;
        parts[n].topic = w->cfg->topic_events;
        parts[n].partition = p;
        parts[n].offset = CP_OFFSET_STORED;
        n++;
    }
    if (!n)
        return CP_OK;
    rc = cp_checkpoint_reclaim(w->cp, parts, n);
    if (rc) {
        redis_failed(w, "reclaim fences");
        return rc;
    }
    /* Read the fences now: a partition another worker took is dropped
     * here, before the next batch consumes it and has to fail as fenced. */
    rc = arm(w);
    if (rc)
        return rc;
    n = keep_owned(w, parts, n);
    if (!n)
        return CP_OK;
    rc = cp_checkpoint_read_offsets(w->cp, parts, n);
    if (rc == CP_ECONFIG)
        stop_fatally(w, rc, CORRUPT_REASON);
    else if (rc)
        redis_failed(w, "read offsets");
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
    if (w->fatal)
        return;                  /* said why; nothing to roll back or retry */
    cp_checkpoint_disarm(w->cp); /* an aborted EXEC dropped the WATCH */
    w->stats.retries++;
    cp_metrics_retry(w->metrics, cause == CP_EFENCED  ? CP_METRICS_RETRY_FENCED
                                 : cause == CP_EKAFKA ? CP_METRICS_RETRY_KAFKA
                                 : cp_writer_schemas_waiting(w->ws)
                                     ? CP_METRICS_RETRY_REGISTRY
                                     : CP_METRICS_RETRY_REDIS);
    if (cause == CP_EKAFKA)
        cp_metrics_set_up(w->metrics, CP_METRICS_DEP_KAFKA, false);
    else if (cause == CP_EREDIS)
        cp_metrics_set_up(w->metrics, CP_METRICS_DEP_REDIS, false);
    if (cause == CP_EREDIS)
        redis_failed(w, "batch"); /* "redis down" before what follows */
    set_ready(w, false,
              cause == CP_EKAFKA                 ? "kafka unreachable"
              : cause == CP_EREDIS               ? "redis unreachable"
              : cp_writer_schemas_waiting(w->ws) ? "schema registry unreachable"
                                                 : "recovering a failed batch");
    {
        const char *why = cause == CP_EKAFKA                 ? "kafka"
                          : cause == CP_EREDIS               ? "redis"
                          : cause == CP_EFENCED              ? "fenced"
                          : cp_writer_schemas_waiting(w->ws) ? "registry"
                                                             : "error";
        struct cp_log_field f[] = {{"event", "backoff", 0},
                                   {"cause", why, 0},
                                   {"delay_ms", NULL, w->backoff_ms},
                                   {"max_delay_ms", NULL, CP_BACKOFF_MAX_MS}};

        /* One line per failure; the retries until it heals are at debug
         * level (the redis_down/not_ready lines already say why). */
        cp_log_fields(CP_LOG_WARNING, "WORKER", f, CP_ARRAY_SIZE(f),
                      "backoff: batch failed (%s), rolled back; retrying in "
                      "%d ms, then up to %d ms apart",
                      why, w->backoff_ms, CP_BACKOFF_MAX_MS);
    }
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
        if (!rewind_to_committed(w) || w->fatal)
            return;
        cp_log(CP_LOG_DEBUG, "WORKER", "still not ready: %s; retrying in %d ms",
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
           "DURABLE, lost when crmpulse exits; it keeps only about 5 MiB "
           "(or 100,000 batches) per partition and DROPS OLDER MESSAGES, so "
           "a worker further behind than that stops "
           "(offsets.out_of_range). Bootstrap %s, topics %s %s %s "
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
        .max_skew_ms = cfg->max_skew_ms,
        .counters_only = !cfg->churn_enabled,
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
    if (cfg->churn_enabled)
        cp_log(CP_LOG_INFO, "WORKER", "churn model %s (%s)",
               cp_churn_model_version(w->model),
               cfg->model_file[0] ? cfg->model_file : "built-in");
    else /* the model still gives the reply SLAs */
        cp_log(CP_LOG_INFO, "WORKER",
               "churn.enabled = false: counters only (SLAs from model %s)",
               cp_churn_model_version(w->model));
    scfg.model = w->model;
    w->sc = cp_scorer_new(&scfg, w->state, w->ap);
    w->live = cp_live_new(cfg->redis_prefix);
    if (!w->sc || !w->live) {
        snprintf(errstr, errstr_size, "out of memory");
        return CP_ENOMEM;
    }
    if (cfg->churn_enabled) /* no model: no churn features kept */
        cp_apply_set_model(w->ap, w->model);
    return CP_OK;
}

/* The producer of dead letters and alerts, whose acknowledgement holds every
 * commit: one request in flight per broker connection. With several, a
 * broker whose sockets keep Nagle's algorithm on (librdkafka's embedded
 * cluster does) holds the second of two back-to-back responses until our
 * delayed ACK, 40 ms later: a flush of 50 alerts took 43 ms at the median,
 * with one request in flight 0.6 ms. A commit flushes all it sent anyway,
 * so pipelining requests gains little here. A kafka.* setting still wins. */
static struct cp_producer *new_sideout_producer(const char *bootstrap,
                                                const struct cp_config *cfg,
                                                char *errstr,
                                                size_t errstr_size)
{
    static char key[] = "max.in.flight.requests.per.connection", value[] = "1";
    size_t cnt = cfg->kafka_prop_cnt + 1;
    struct cp_kv *props = malloc(cnt * sizeof(*props)); /* owned, shallow */
    struct cp_producer *prod;

    if (!props) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    props[0].key = key;
    props[0].value = value;
    if (cfg->kafka_prop_cnt)
        memcpy(props + 1, cfg->kafka_props,
               cfg->kafka_prop_cnt * sizeof(*props));
    prod = cp_producer_new(bootstrap, props, cnt, errstr, errstr_size);
    free(props);
    return prod;
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
    w->said_ready = -1;
    set_ready(w, false, "starting");
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
    cp_cmds_init(&w->pub_cmds);
    cp_cmds_init(&w->tx_cmds);
    cp_cmds_init(&w->body_cmds);
    cp_map_init(&w->tx_keys);
    cp_map_init(&w->checked_keys);
    w->msgs = calloc(n, sizeof(*w->msgs));
    w->events = calloc(n, sizeof(*w->events));
    w->refs = calloc(n, sizeof(*w->refs));
    w->offsets = calloc(n, sizeof(*w->offsets));
    w->rewind_parts = calloc(CP_MAX_PARTITIONS, sizeof(*w->rewind_parts));
    w->inflight.parts = calloc(CP_MAX_PARTITIONS, sizeof(*w->inflight.parts));
    w->state = cp_state_new(cfg->redis_prefix);
    w->ctr = cp_counters_new();
    if (!w->msgs || !w->events || !w->refs || !w->offsets || !w->rewind_parts ||
        !w->inflight.parts || !w->state || !w->ctr) {
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
    /* The batch's one transaction spans every tenant of the batch and the
     * group's offsets: a cluster would refuse it (CROSSSLOT). Say so now
     * rather than fail every batch. */
    if (cfg->redis_cluster_nodes[0]) {
        snprintf(errstr, errstr_size,
                 "redis.cluster.nodes: the worker cannot commit to a Redis "
                 "Cluster yet (its batch transaction spans tenant slots); "
                 "unset it and use one Redis at redis.url (crmpulse-board "
                 "and crmpulse-score can read from a cluster)");
        goto fail;
    }
    /* Redis may come up after us: the assignment waits for it with
     * backoff (and /readyz says so). Credentials it refuses stay fatal. */
    w->store = cp_store_open(cfg->redis_url, errstr, errstr_size);
    if (!w->store)
        goto fail;
    w->cp = cp_checkpoint_new(w->store, cfg->redis_prefix, cfg->kafka_group_id,
                              cfg->topic_events);
    if (!w->cp) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    switch (cp_store_ensure_connected(w->store)) {
    case CP_OK:
        break;
    case CP_ECONFIG:
        snprintf(errstr, errstr_size, "%s", cp_store_errstr(w->store));
        goto fail;
    default:
        redis_failed(w, "connect");
        set_ready(w, false, "redis unreachable");
        break;
    }
    if (!strcmp(cfg->kafka_bootstrap, "embedded") || !cfg->kafka_bootstrap[0]) {
        if (start_embedded(w, errstr, errstr_size))
            goto fail;
    } else {
        w->bootstrap = cfg->kafka_bootstrap;
    }
    w->prod = new_sideout_producer(w->bootstrap, cfg, errstr, errstr_size);
    if (!w->prod)
        goto fail;
    w->so =
        cp_sideout_new(w->codec, w->prod, cfg->topic_dlq, cfg->topic_alerts);
    if (!w->so) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    cbs.opaque = w;
    w->cons = cp_consumer_new(w->bootstrap, cfg->kafka_group_id,
                              cfg->topic_events, cfg->kafka_props,
                              cfg->kafka_prop_cnt, &cbs, errstr, errstr_size);
    if (!w->cons)
        goto fail;
    cp_consumer_set_out_of_range(w->cons, on_out_of_range);
    /* Registry ids for events, alerts and dead letters (none configured:
     * the fixed ids); refuses to start on an output schema it lacks. */
    if (cp_writer_schemas_open(cfg, w->codec, w->metrics, &w->ws, errstr,
                               errstr_size))
        goto fail;
    return w;
fail:
    cp_worker_destroy(w);
    return NULL;
}

/* The periodic progress line (log.progress.interval): throughput, what is
 * committed and how far behind the input the worker is. */
static void log_progress(struct cp_worker *w, int64_t *last_ms,
                         int64_t *last_events)
{
    int64_t now = cp_mono_ms();
    int64_t lag = 0, max_lag = -1, committed = 0, rate;
    int32_t max_part = -1;
    int owned = 0, unknown = 0;
    char max_desc[64] = "";

    if (w->cfg->progress_interval_s <= 0 ||
        now - *last_ms < (int64_t)w->cfg->progress_interval_s * 1000)
        return;
    for (int32_t p = 0; p < CP_MAX_PARTITIONS; p++) {
        int64_t l;

        if (!cp_checkpoint_owns(w->cp, p))
            continue;
        owned++;
        if (w->parts[p].next_offset > 0)
            committed += w->parts[p].next_offset;
        l = cp_consumer_lag(w->cons, p, w->parts[p].next_offset);
        if (l < 0) {
            unknown++; /* nothing fetched yet */
            continue;
        }
        lag += l;
        if (l > max_lag) {
            max_lag = l;
            max_part = p;
        }
    }
    rate = (w->stats.events - *last_events) * 1000 / (now - *last_ms);
    if (max_part >= 0)
        snprintf(max_desc, sizeof(max_desc), " (max %lld on [%d])",
                 (long long)max_lag, (int)max_part);
    {
        struct cp_log_field f[] = {
            {"event", "progress", 0},
            {"events", NULL, w->stats.events},
            {"events_per_s", NULL, rate},
            {"dlq", NULL, w->stats.dlq},
            {"committed_offsets", NULL, committed},
            {"lag", NULL, lag},
            {"max_lag", NULL, max_lag < 0 ? 0 : max_lag},
            {"max_lag_partition", NULL, max_part},
            {"partitions", NULL, owned},
            {"partitions_lag_unknown", NULL, unknown},
            {"retries", NULL, w->stats.retries},
            {"skipped_out_of_range", NULL, w->stats.out_of_range_skipped}};

        cp_log_fields(
            CP_LOG_INFO, "WORKER", f, CP_ARRAY_SIZE(f),
            "progress: %lld events applied (%lld/s), %lld to DLQ, offsets "
            "%lld; lag %lld over %d partitions%s%s, %lld retries, %lld "
            "skipped (offsets out of range); ms in poll "
            "%lld decode %lld load %lld apply %lld ack %lld commit %lld",
            (long long)w->stats.events, (long long)rate,
            (long long)w->stats.dlq, (long long)committed, (long long)lag,
            owned, max_desc, unknown ? " (some not fetched yet)" : "",
            (long long)w->stats.retries,
            (long long)w->stats.out_of_range_skipped,
            (long long)w->stats.poll_us / 1000,
            (long long)w->stats.decode_us / 1000,
            (long long)w->stats.load_us / 1000,
            (long long)w->stats.apply_us / 1000,
            (long long)w->stats.ack_us / 1000,
            (long long)w->stats.commit_us / 1000);
    }
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
    if (!up) {
        redis_failed(w, "ping");
        set_ready(w, false, "redis unreachable");
    } else {
        redis_answered(w);
        /* A batch waiting for the registry is read again: not ready yet. */
        if (cp_consumer_generation(w->cons) &&
            !cp_writer_schemas_waiting(w->ws))
            set_ready(w, true, NULL);
    }
}

cp_rc cp_worker_run(struct cp_worker *w, volatile sig_atomic_t *stop)
{
    int64_t idle_since = cp_mono_ms();
    int64_t progress_ms = idle_since, progress_events = 0;
    uint64_t idle_gen = 0;    /* assignment idle_since counts from */
    int64_t idle_retries = 0; /* recoveries idle_since counts from */

    /* Rebalance callbacks wait for Redis inside the poll: let them see it. */
    cp_consumer_set_stop(w->cons, stop);
    /* A stalled Redis must not hold a shutdown either: after a grace the
     * store abandons a transaction in flight. That loses nothing: the
     * offsets are in the same MULTI/EXEC, so Redis either applied all of
     * it (and we resume after it) or none (and it is read again). */
    cp_store_set_stop(w->store, stop);
    cp_producer_set_stop(w->prod, stop);     /* a flush waits for Kafka too */
    cp_writer_schemas_set_stop(w->ws, stop); /* and a registry request */

    while (!*stop && !w->fatal) {
        int64_t poll_start = cp_mono_us();
        size_t cnt = cp_consumer_poll(
            w->cons, w->msgs, (size_t)w->cfg->batch_max, w->cfg->batch_wait_ms);
        cp_rc rc;

        w->stats.poll_us += cp_mono_us() - poll_start;
        /* Not "idle": the consumer could not take messages or partitions. */
        if (cp_consumer_out_of_memory(w->cons))
            stop_fatally(w, CP_ENOMEM, "stopped: out of memory");
        if (w->fatal) {
            /* Said why; what this poll returned is read again on restart. */
            cp_consumer_release(w->cons);
            break;
        }
        if (w->rewind_needed) {
            recover(w, CP_EREDIS, stop);
            idle_since = cp_mono_ms(); /* waiting out a failure is not idle */
            continue;
        }
        if (!cnt) {
            cp_consumer_release(w->cons);
            /* Nothing to overlap with: settle the commit in flight now. */
            if (finish_inflight(w)) {
                recover(w, CP_EREDIS, stop);
                idle_since = cp_mono_ms();
                continue;
            }
            /* Stopping (perhaps out of an assignment that never got its
             * offsets): no health check to report "ready" on the way out. */
            if (*stop)
                break;
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
            publish_committed(w);     /* deltas held back by the 1/s limit */
            alert_log_roll(w, false); /* the count of alerts not logged */
            /* Silence is a signal: idle partitions' watermarks follow the
             * wall clock, and their timers fire with no input at all. */
            if (cp_mono_ms() - w->last_tick_ms >= 1000 &&
                cp_scorer_idle_tick_due(w->sc, cp_now_ms())) {
                w->last_tick_ms = cp_mono_ms();
                rc = process_batch(w, 0);
                if (rc == CP_ENOMEM) {
                    cp_log(CP_LOG_ERR, "WORKER", "out of memory: stopping");
                    return rc;
                }
                if (rc) {
                    recover(w, rc, stop);
                    idle_since = cp_mono_ms();
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
            idle_since = cp_mono_ms();
            continue;
        }
        w->backoff_ms = 100;
        log_progress(w, &progress_ms, &progress_events);
    }
    if (finish_inflight(w) && !w->fatal)
        cp_log(CP_LOG_WARNING, "WORKER",
               "last batch not committed: it will be read again on restart");
    alert_log_roll(w, true);
    cp_log(CP_LOG_INFO, "WORKER",
           "state cache: %zu entities in %zu bytes (%.0f bytes each)",
           cp_state_entity_cnt(w->state), cp_state_mem_bytes(w->state),
           cp_state_entity_cnt(w->state)
               ? (double)cp_state_mem_bytes(w->state) /
                     (double)cp_state_entity_cnt(w->state)
               : 0.0);
    cp_log(
        CP_LOG_NOTICE, "WORKER",
        "stopped: %lld events applied, %lld to DLQ in %lld batches, %lld "
        "skipped (offsets out of range); ms in "
        "poll %lld decode %lld load %lld apply %lld ack %lld commit %lld",
        (long long)w->stats.events, (long long)w->stats.dlq,
        (long long)w->stats.batches, (long long)w->stats.out_of_range_skipped,
        (long long)w->stats.poll_us / 1000,
        (long long)w->stats.decode_us / 1000,
        (long long)w->stats.load_us / 1000, (long long)w->stats.apply_us / 1000,
        (long long)w->stats.ack_us / 1000,
        (long long)w->stats.commit_us / 1000);
    return w->fatal;
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
    cp_sideout_destroy(w->so);
    cp_producer_destroy(w->prod);
    cp_embedded_destroy(w->emb);
    cp_checkpoint_destroy(w->cp);
    cp_store_destroy(w->store);
    cp_writer_schemas_destroy(w->ws); /* before the codec it borrows */
    cp_codec_destroy(w->codec);
    cp_scorer_destroy(w->sc);
    cp_live_destroy(w->live);
    cp_churn_model_destroy(w->model);
    cp_apply_destroy(w->ap);
    cp_counters_destroy(w->ctr);
    cp_state_destroy(w->state);
    cp_arena_cleanup(&w->arena);
    cp_cmds_cleanup(&w->cmds);
    cp_cmds_cleanup(&w->pub_cmds);
    cp_cmds_cleanup(&w->tx_cmds);
    cp_cmds_cleanup(&w->body_cmds);
    cp_map_cleanup(&w->tx_keys);
    cp_map_cleanup(&w->checked_keys);
    free(w->msgs);
    free(w->events);
    free(w->refs);
    free(w->offsets);
    free(w->rewind_parts);
    free(w->inflight.parts);
    cp_metrics_destroy(w->metrics); /* rebalance callbacks above use it */
    free(w);
}
