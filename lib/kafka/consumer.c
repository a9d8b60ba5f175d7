/* SPDX-License-Identifier: Apache-2.0 */
/* The group consumer. Its assignment takes start offsets from the caller
 * (offsets kept in Redis next to the state), not from Kafka's committed
 * offsets, and offsets Kafka no longer has are the caller's to decide. */
#include "kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka_int.h"
#include "log.h"

/* ---- consumer ---- */

#define CP_CONSUMER_MAX_BATCH     100000
#define CP_ASSIGN_BACKOFF_MAX_MS  5000
#define CP_OFFSET_QUERY_MS        5000
#define CP_CONSUMER_CLOSE_MS      2000
#define CP_CONSUMER_CLOSE_STOP_MS 1000 /* SIGTERM: exit within seconds */

struct cp_consumer {
    struct cp__reach reach;  /* first: librdkafka's opaque */
    rd_kafka_t *rk;          /* owned */
    rd_kafka_queue_t *queue; /* owned; the consumer queue */
    char *topic;             /* owned */
    struct cp_consumer_callbacks cbs;
    cp_out_of_range_fn out_of_range; /* may be NULL */
    volatile sig_atomic_t *stop;     /* borrowed, may be NULL; see set_stop */
    int reset_latest;          /* auto.offset.reset is latest/largest/end */
    rd_kafka_message_t **rkms; /* owned array; messages of the last poll */
    size_t rkm_cnt;
    size_t rkm_cap;
    int out_of_memory;   /* a poll or an assignment failed to allocate */
    uint64_t generation; /* assignment changes */
    int rebalancing;     /* revoked, not assigned again yet */
};

/* Translates a librdkafka list into ours; names borrowed from the list. */
static struct cp_partition *
parts_from_list(const rd_kafka_topic_partition_list_t *list)
{
    struct cp_partition *parts =
        calloc(list->cnt ? (size_t)list->cnt : 1, sizeof(*parts));

    if (!parts)
        return NULL;
    for (int i = 0; i < list->cnt; i++) {
        parts[i].topic = list->elems[i].topic;
        parts[i].partition = list->elems[i].partition;
        parts[i].offset = CP_OFFSET_STORED;
    }
    return parts;
}

static int stopping(const struct cp_consumer *cons)
{
    return cons->stop && *cons->stop;
}

/* Sleeps @p ms in short steps so a stop request ends the wait at once. */
static void backoff_sleep(const struct cp_consumer *cons, int ms)
{
    while (ms > 0 && !stopping(cons)) {
        cp_sleep_ms(ms < 100 ? ms : 100);
        ms -= 100;
    }
}

static void on_assign(struct cp_consumer *cons,
                      rd_kafka_topic_partition_list_t *list, int cooperative)
{
    struct cp_partition *parts = parts_from_list(list);
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t err = 0;
    int backoff_ms = 100;
    cp_rc rc;

    if (!parts) {
        /* Not assigning leaves the group believing we consume partitions
         * we never read: the caller must stop (cp_consumer_out_of_memory). */
        cp_log(CP_LOG_ERR, "KAFKA", "assign: out of memory: stopping");
        cons->out_of_memory = 1;
        return;
    }
    /* Where to start must come from the offsets stored with the state: if
     * that store is down we wait rather than guess (guessing double counts).
     * The callback logs why it cannot decide. */
    while (cons->cbs.assign && (rc = cons->cbs.assign(cons->cbs.opaque, parts,
                                                      (size_t)list->cnt))) {
        if (rc == CP_ECONFIG) {
            cp_log(CP_LOG_NOTICE, "KAFKA",
                   "assign %d partitions: refused (the worker is stopping)",
                   list->cnt);
            free(parts);
            return;
        }
        if (stopping(cons)) {
            /* Nothing was read from these partitions: leaving them
             * unassigned loses nothing, and the caller is about to close. */
            cp_log(CP_LOG_NOTICE, "KAFKA",
                   "assign %d partitions: stop requested, not assigning",
                   list->cnt);
            free(parts);
            return;
        }
        /* One warning per assignment; each retry after it at debug
         * level (the caller logs why, once per change). */
        cp_log(backoff_ms == 100 ? CP_LOG_WARNING : CP_LOG_DEBUG, "KAFKA",
               "assign %d partitions: start offsets unavailable, retrying in "
               "%d ms (then up to %d ms apart)",
               list->cnt, backoff_ms, CP_ASSIGN_BACKOFF_MAX_MS);
        backoff_sleep(cons, backoff_ms);
        backoff_ms = backoff_ms * 2 < CP_ASSIGN_BACKOFF_MAX_MS
                         ? backoff_ms * 2
                         : CP_ASSIGN_BACKOFF_MAX_MS;
    }
    /* With auto.offset.reset=error librdkafka must be given a position:
     * what the caller left to the group is resolved here (committed, else
     * the start or end as auto.offset.reset said). */
    for (int i = 0; i < list->cnt; i++)
        if (parts[i].offset == CP_OFFSET_STORED) {
            cp_consumer_resolve_offsets(cons, parts, (size_t)list->cnt);
            break;
        }
    for (int i = 0; i < list->cnt; i++)
        list->elems[i].offset = parts[i].offset;
    free(parts);
    if (cooperative)
        error = rd_kafka_incremental_assign(cons->rk, list);
    else
        err = rd_kafka_assign(cons->rk, list);
    if (error) {
        cp_log(CP_LOG_ERR, "KAFKA", "assign: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (err) {
        cp_log(CP_LOG_ERR, "KAFKA", "assign: %s", rd_kafka_err2str(err));
    }
}

static void on_revoke(struct cp_consumer *cons,
                      rd_kafka_topic_partition_list_t *list, int cooperative)
{
    struct cp_partition *parts = parts_from_list(list);

    if (parts && cons->cbs.revoke)
        cons->cbs.revoke(cons->cbs.opaque, parts, (size_t)list->cnt);
    free(parts);
    if (cooperative) {
        rd_kafka_error_t *error = rd_kafka_incremental_unassign(cons->rk, list);
        if (error)
            rd_kafka_error_destroy(error);
    } else {
        rd_kafka_assign(cons->rk, NULL);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *list, void *opaque)
{
    struct cp_consumer *cons = opaque;
    int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");

    cons->generation++;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        cp__reach_up(&cons->reach); /* the group coordinator answered */
        cons->rebalancing = 0;
        cp_log(CP_LOG_INFO, "KAFKA", "assigned %d partitions", list->cnt);
        on_assign(cons, list, cooperative);
    } else {
        cp_log(CP_LOG_INFO, "KAFKA", "revoked %d partitions (%s)", list->cnt,
               rd_kafka_err2name(err));
        cons->rebalancing = 1;
        on_revoke(cons, list, cooperative);
    }
}

/* Whether auto.offset.reset (ours, or the user's, which wins) starts a
 * partition without a committed offset at its end rather than its start. */
static int reset_is_latest(const char *const defaults[][2],
                           const struct cp_kv *props, size_t prop_cnt)
{
    const char *value = NULL;

    for (size_t i = 0; defaults[i][0]; i++)
        if (!strcmp(defaults[i][0], "auto.offset.reset"))
            value = defaults[i][1];
    for (size_t i = 0; i < prop_cnt; i++)
        if (!strcmp(props[i].key, "auto.offset.reset"))
            value = props[i].value;
    return value && (!strcmp(value, "latest") || !strcmp(value, "largest") ||
                     !strcmp(value, "end"));
}

struct cp_consumer *cp_consumer_new(const char *bootstrap, const char *group_id,
                                    const char *topic,
                                    const struct cp_kv *props, size_t prop_cnt,
                                    const struct cp_consumer_callbacks *cbs,
                                    char *errstr, size_t errstr_size)
{
    /* Offsets are stored by us (in Redis, then committed explicitly), so
     * librdkafka must neither auto-commit nor auto-store. */
    static const char *const defaults[][2] = {
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"session.timeout.ms", "6000"},
        {"fetch.wait.max.ms", "10"},
        /* Enough prefetch for several batches, bounded so a backlog does
         * not turn into hundreds of MB of queued messages. */
        {"queued.min.messages", "50000"},
        {"queued.max.messages.kbytes", "32768"},
        {"fetch.message.max.bytes", "4194304"},
        {NULL, NULL},
    };
    struct cp_consumer *cons = calloc(1, sizeof(*cons));
    rd_kafka_topic_partition_list_t *subscription = NULL;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_resp_err_t err;
    char why[512];

    if (!cons) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    cons->cbs = *cbs;
    cons->reach.who = "consumer";
    cons->reset_latest = reset_is_latest(defaults, props, prop_cnt);
    cons->topic = strdup(topic);
    if (!cons->topic) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    conf = cp__kafka_conf_build(bootstrap, defaults, props, prop_cnt, errstr,
                                errstr_size);
    if (!conf)
        goto fail;
    if (cp__kafka_conf_set(conf, "group.id", group_id, errstr, errstr_size))
        goto fail;
    /* Where a partition starts is always decided by us (an absolute offset
     * at assignment, see reset_latest): an offset the broker does not have
     * must come back as an error (out_of_range callback), never as a
     * silent jump to another position. */
    if (cp__kafka_conf_set(conf, "auto.offset.reset", "error", errstr,
                           errstr_size))
        goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, cons);
    cons->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (!cons->rk) {
        snprintf(errstr, errstr_size, "create kafka consumer: %s", why);
        goto fail;
    }
    conf = NULL; /* now owned by rk */
    rd_kafka_poll_set_consumer(cons->rk);
    cons->queue = rd_kafka_queue_get_consumer(cons->rk);
    subscription = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subscription, topic,
                                      RD_KAFKA_PARTITION_UA);
    err = rd_kafka_subscribe(cons->rk, subscription);
    rd_kafka_topic_partition_list_destroy(subscription);
    if (err) {
        snprintf(errstr, errstr_size, "subscribe to %s: %s", topic,
                 rd_kafka_err2str(err));
        goto fail;
    }
    return cons;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    cp_consumer_destroy(cons);
    return NULL;
}

static int ensure_capacity(struct cp_consumer *cons, size_t max)
{
    rd_kafka_message_t **rkms;

    if (max <= cons->rkm_cap)
        return 0;
    rkms = realloc(cons->rkms, max * sizeof(*rkms));
    if (!rkms)
        return -1;
    cons->rkms = rkms;
    cons->rkm_cap = max;
    return 0;
}

int cp_consumer_out_of_memory(const struct cp_consumer *cons)
{
    return cons->out_of_memory;
}

size_t cp_consumer_poll(struct cp_consumer *cons, struct cp_msg *msgs,
                        size_t max, int timeout_ms)
{
    ssize_t got;
    size_t cnt = 0;

    cp_consumer_release(cons);
    if (max > CP_CONSUMER_MAX_BATCH)
        max = CP_CONSUMER_MAX_BATCH;
    if (ensure_capacity(cons, max)) {
        cons->out_of_memory = 1; /* not "no messages": see the header */
        return 0;
    }
    got =
        rd_kafka_consume_batch_queue(cons->queue, timeout_ms, cons->rkms, max);
    if (got <= 0)
        return 0;
    for (ssize_t i = 0; i < got; i++) {
        rd_kafka_message_t *rkm = cons->rkms[i];
        struct cp_msg *msg;

        if (rkm->err) {
            if (rkm->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
                cp__reach_down(&cons->reach, rd_kafka_message_errstr(rkm));
            if ((rkm->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                 rkm->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) &&
                rkm->rkt) {
                if (cons->out_of_range)
                    cons->out_of_range(cons->cbs.opaque,
                                       rd_kafka_topic_name(rkm->rkt),
                                       rkm->partition, rkm->offset,
                                       rd_kafka_message_errstr(rkm));
                else
                    cp_log(CP_LOG_ERR, "KAFKA", "consume: %s",
                           rd_kafka_message_errstr(rkm));
                rd_kafka_message_destroy(rkm);
                continue;
            }
            if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                cp_log(CP_LOG_WARNING, "KAFKA", "consume: %s",
                       rd_kafka_message_errstr(rkm));
            rd_kafka_message_destroy(rkm);
            continue;
        }
        cp__reach_up(&cons->reach);
        cons->rkms[cnt] = rkm;
        msg = &msgs[cnt++];
        msg->topic = rd_kafka_topic_name(rkm->rkt);
        msg->partition = rkm->partition;
        msg->offset = rkm->offset;
        msg->key = rkm->key;
        msg->key_len = rkm->key_len;
        msg->value = rkm->payload;
        msg->value_len = rkm->len;
        msg->timestamp_ms = rd_kafka_message_timestamp(rkm, NULL);
    }
    cons->rkm_cnt = cnt;
    return cnt;
}

void cp_consumer_release(struct cp_consumer *cons)
{
    for (size_t i = 0; i < cons->rkm_cnt; i++)
        rd_kafka_message_destroy(cons->rkms[i]);
    cons->rkm_cnt = 0;
}

static rd_kafka_topic_partition_list_t *
list_from_parts(const struct cp_partition *parts, size_t cnt)
{
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new((int)cnt);

    for (size_t i = 0; i < cnt; i++)
        rd_kafka_topic_partition_list_add(list, parts[i].topic,
                                          parts[i].partition)
            ->offset = parts[i].offset;
    return list;
}

cp_rc cp_consumer_seek(struct cp_consumer *cons,
                       const struct cp_partition *parts, size_t cnt)
{
    rd_kafka_topic_partition_list_t *list = list_from_parts(parts, cnt);
    rd_kafka_error_t *error = rd_kafka_seek_partitions(cons->rk, list, 5000);
    cp_rc rc = CP_OK;

    if (error) {
        cp_log(CP_LOG_ERR, "KAFKA", "seek: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        rc = CP_EKAFKA;
    }
    for (int i = 0; i < list->cnt && !rc; i++) {
        if (list->elems[i].err) {
            cp_log(CP_LOG_ERR, "KAFKA", "seek %s [%d]: %s",
                   list->elems[i].topic, (int)list->elems[i].partition,
                   rd_kafka_err2str(list->elems[i].err));
            rc = CP_EKAFKA;
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

void cp_consumer_commit_async(struct cp_consumer *cons,
                              const struct cp_partition *parts, size_t cnt)
{
    rd_kafka_topic_partition_list_t *list;

    /* Only for lag tools: the authoritative offsets are in Redis. Not once
     * a stop is requested: a commit waiting for an unreachable coordinator
     * holds up closing the consumer for a whole session timeout. */
    if (!cnt || stopping(cons))
        return;
    list = list_from_parts(parts, cnt);
    rd_kafka_commit(cons->rk, list, 1);
    rd_kafka_topic_partition_list_destroy(list);
}

cp_rc cp_consumer_resolve_offsets(struct cp_consumer *cons,
                                  struct cp_partition *parts, size_t cnt)
{
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_resp_err_t err;
    cp_rc rc = CP_OK;

    list = rd_kafka_topic_partition_list_new((int)(cnt ? cnt : 1));
    for (size_t i = 0; i < cnt; i++)
        if (parts[i].offset == CP_OFFSET_STORED)
            rd_kafka_topic_partition_list_add(list, parts[i].topic,
                                              parts[i].partition);
    if (!list->cnt)
        goto out;
    err = rd_kafka_committed(cons->rk, list, CP_OFFSET_QUERY_MS);
    if (err) {
        cp_log(CP_LOG_WARNING, "KAFKA", "read committed offsets: %s",
               rd_kafka_err2str(err));
        rc = CP_EKAFKA;
        goto out;
    }
    for (size_t i = 0; i < cnt && !rc; i++) {
        rd_kafka_topic_partition_t *tp;
        int64_t low, high;

        if (parts[i].offset != CP_OFFSET_STORED)
            continue;
        tp = rd_kafka_topic_partition_list_find(list, parts[i].topic,
                                                parts[i].partition);
        if (tp && !tp->err && tp->offset >= 0) {
            parts[i].offset = tp->offset;
            continue;
        }
        /* Nothing committed: auto.offset.reset decides, as it would have. */
        err = rd_kafka_query_watermark_offsets(cons->rk, parts[i].topic,
                                               parts[i].partition, &low, &high,
                                               CP_OFFSET_QUERY_MS);
        if (err) {
            cp_log(CP_LOG_WARNING, "KAFKA", "watermarks of %s [%d]: %s",
                   parts[i].topic, (int)parts[i].partition,
                   rd_kafka_err2str(err));
            rc = CP_EKAFKA;
            break;
        }
        parts[i].offset = cons->reset_latest ? high : low;
    }
out:
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

void cp_consumer_set_out_of_range(struct cp_consumer *cons,
                                  cp_out_of_range_fn fn)
{
    cons->out_of_range = fn;
}

cp_rc cp_consumer_watermarks(struct cp_consumer *cons, int32_t partition,
                             int64_t *low, int64_t *high)
{
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        cons->rk, cons->topic, partition, low, high, CP_OFFSET_QUERY_MS);

    if (err) {
        cp_log(CP_LOG_WARNING, "KAFKA", "watermarks of %s [%d]: %s",
               cons->topic, (int)partition, rd_kafka_err2str(err));
        return CP_EKAFKA;
    }
    return CP_OK;
}

void cp_consumer_set_stop(struct cp_consumer *cons, volatile sig_atomic_t *stop)
{
    cons->stop = stop;
}

uint64_t cp_consumer_generation(const struct cp_consumer *cons)
{
    return cons->generation;
}

int cp_consumer_rebalancing(const struct cp_consumer *cons)
{
    return cons->rebalancing;
}

/* Leaves the group (the others take over at once) and destroys the
 * handle. Bounded: while Kafka is down rd_kafka_consumer_close() waits for
 * a coordinator that does not answer (a minute and more), which must not
 * hold up a stop; the group then finds out by the session timeout. */
static void consumer_close(struct cp_consumer *cons)
{
    rd_kafka_queue_t *queue = rd_kafka_queue_new(cons->rk);
    rd_kafka_error_t *error = rd_kafka_consumer_close_queue(cons->rk, queue);
    int wait_ms =
        stopping(cons) ? CP_CONSUMER_CLOSE_STOP_MS : CP_CONSUMER_CLOSE_MS;
    int64_t deadline = cp_mono_ms() + wait_ms;
    int closed = 0;

    if (error) {
        cp_log(CP_LOG_WARNING, "KAFKA", "leave the group: %s",
               rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else {
        /* Serves the revoke of the leave; errors are librdkafka's to log. */
        while (!(closed = rd_kafka_consumer_closed(cons->rk)) &&
               cp_mono_ms() < deadline) {
            rd_kafka_event_t *ev = rd_kafka_queue_poll(queue, 100);

            if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
                rebalance_cb(cons->rk, rd_kafka_event_error(ev),
                             rd_kafka_event_topic_partition_list(ev), cons);
            if (ev)
                rd_kafka_event_destroy(ev);
        }
        if (!closed)
            cp_log(CP_LOG_WARNING, "KAFKA",
                   "leave the group: no answer in %d ms (kafka unreachable?); "
                   "closing without it",
                   wait_ms);
    }
    rd_kafka_queue_destroy(queue);
    if (!closed && stopping(cons)) {
        /* Destroying waits for offset commits sent before the outage to
         * time out (a session timeout, 6 s): past what a stop may take.
         * The process is exiting; its threads still hold the handle. */
        cp_log(CP_LOG_WARNING, "KAFKA",
               "stop requested with kafka unreachable: not waiting for it");
        return;
    }
    rd_kafka_destroy_flags(cons->rk,
                           closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

void cp_consumer_destroy(struct cp_consumer *cons)
{
    if (!cons)
        return;
    if (cons->rk) {
        cp_consumer_release(cons);
        if (cons->queue)
            rd_kafka_queue_destroy(cons->queue);
        consumer_close(cons);
    }
    free(cons->rkms);
    free(cons->topic);
    free(cons);
}

int64_t cp_consumer_lag(struct cp_consumer *cons, int32_t partition,
                        int64_t next_offset)
{
    int64_t low = 0, high = 0;

    if (next_offset < 0 ||
        rd_kafka_get_watermark_offsets(cons->rk, cons->topic, partition, &low,
                                       &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        high < 0)
        return -1;
    return high > next_offset ? high - next_offset : 0;
}
