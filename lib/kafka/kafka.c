/* SPDX-License-Identifier: Apache-2.0 */
/* The only module that speaks librdkafka: the embedded mock cluster, the
 * acknowledged side-output producer and the group consumer. The consumer's
 * assignment takes its start offsets from the caller (offsets kept in Redis
 * next to the state), not from Kafka's committed offsets. */
#include "kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "log.h"

/* ---- shared helpers ---- */

/* Whether the cluster answers, as one client handle sees it. librdkafka
 * logs each failed connection; this says once, plainly, that Kafka as a
 * whole is unreachable and when it answers again. The first member of the
 * producer and the consumer, so error_cb finds it in the opaque. */
struct reach {
    const char *who;       /* "consumer" or "producer"; static */
    int64_t down_since_ms; /* 0 while reachable */
};

static void reach_down(struct reach *r, const char *reason)
{
    if (r->down_since_ms)
        return;
    r->down_since_ms = cp_mono_ms();
    cp_log(CP_LOG_ERR, "KAFKA",
           "kafka unreachable: all brokers are down (%s: %s); retrying", r->who,
           reason);
}

/* Called when the cluster answered something. */
static void reach_up(struct reach *r)
{
    if (!r->down_since_ms)
        return;
    cp_log(CP_LOG_NOTICE, "KAFKA", "kafka reachable again after %.1f s (%s)",
           (double)(cp_mono_ms() - r->down_since_ms) / 1000.0, r->who);
    r->down_since_ms = 0;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
    (void)rk;
    /* librdkafka uses syslog levels too; keep its chatter below ours. */
    cp_log(level < CP_LOG_ERR ? CP_LOG_ERR : level, "KAFKA", "%s: %s", fac,
           buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && opaque)
        reach_down(opaque, reason);
    cp_log(err == RD_KAFKA_RESP_ERR__FATAL ? CP_LOG_ERR : CP_LOG_WARNING,
           "KAFKA", "%s: %s", rd_kafka_err2name(err), reason);
}

/* librdkafka's message about kafka.<key> = @p value, with the value
 * replaced by *** where the setting may hold a secret (librdkafka quotes
 * invalid values). */
static void redact(const char *key, const char *value, const char *why,
                   char *out, size_t out_size)
{
    size_t vlen = strlen(value), len = 0;

    if (!cp_config_kafka_key_is_secret(key) || vlen == 0) {
        snprintf(out, out_size, "%s", why);
        return;
    }
    out[0] = '\0';
    while (*why && len + 4 < out_size) {
        if (!strncmp(why, value, vlen)) {
            memcpy(out + len, "***", 3);
            len += 3;
            why += vlen;
        } else {
            out[len++] = *why++;
        }
    }
    out[len] = '\0';
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                    char *errstr, size_t errstr_size)
{
    char why[256], shown[256];

    if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) ==
        RD_KAFKA_CONF_OK)
        return 0;
    redact(key, value, why, shown, sizeof(shown));
    snprintf(errstr, errstr_size, "kafka setting kafka.%s: %s", key, shown);
    return -1;
}

/* The librdkafka property closest to @p key (within a third of its
 * length), from librdkafka's own table; NULL if none. Ownership: caller
 * frees the result. */
static char *closest_property(const char *key)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char *table = NULL, *best = NULL, *line, *save = NULL;
    size_t table_len = 0, best_d = strlen(key) / 3 + 1;
    FILE *fp = open_memstream(&table, &table_len);

    if (!fp) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_properties_show(fp);
    fclose(fp);
    rd_kafka_conf_destroy(conf);
    /* A markdown table: "name | C/P | range | default | ..." rows. */
    for (line = strtok_r(table, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        size_t n = strspn(line, "abcdefghijklmnopqrstuvwxyz0123456789._");
        size_t d;

        if (n == 0 || line[n] != ' ')
            continue;
        line[n] = '\0';
        d = cp_config_edit_distance(key, line);
        if (d < best_d) {
            free(best);
            best = strdup(line);
            best_d = d;
        }
    }
    free(table);
    return best;
}

cp_rc cp_kafka_check_props(const struct cp_kv *props, size_t prop_cnt,
                           char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    cp_rc rc = CP_OK;

    for (size_t i = 0; i < prop_cnt && !rc; i++) {
        const char *key = props[i].key;
        char why[256];
        char *hint;

        switch (
            rd_kafka_conf_set(conf, key, props[i].value, why, sizeof(why))) {
        case RD_KAFKA_CONF_OK:
            break;
        case RD_KAFKA_CONF_UNKNOWN:
            hint = closest_property(key);
            if (hint)
                snprintf(errstr, errstr_size,
                         "unknown setting 'kafka.%s'; did you mean "
                         "'kafka.%s'?",
                         key, hint);
            else
                snprintf(errstr, errstr_size,
                         "unknown setting 'kafka.%s': not a librdkafka "
                         "property (see librdkafka's CONFIGURATION.md)",
                         key);
            free(hint);
            rc = CP_ECONFIG;
            break;
        default: {
            char shown[256];

            redact(key, props[i].value, why, shown, sizeof(shown));
            snprintf(errstr, errstr_size, "kafka.%s: %s", key, shown);
            rc = CP_ECONFIG;
            break;
        }
        }
    }
    rd_kafka_conf_destroy(conf);
    return rc;
}

/* Our defaults, then the user's kafka.* settings (which win). */
static rd_kafka_conf_t *conf_build(const char *bootstrap,
                                   const char *const defaults[][2],
                                   const struct cp_kv *props, size_t prop_cnt,
                                   char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    if (conf_set(conf, "bootstrap.servers", bootstrap, errstr, errstr_size))
        goto fail;
    for (size_t i = 0; defaults[i][0]; i++)
        if (conf_set(conf, defaults[i][0], defaults[i][1], errstr, errstr_size))
            goto fail;
    for (size_t i = 0; i < prop_cnt; i++)
        if (conf_set(conf, props[i].key, props[i].value, errstr, errstr_size))
            goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* ---- embedded cluster ---- */

struct cp_embedded {
    rd_kafka_t *rk; /* owned; the mock cluster's host handle */
    rd_kafka_mock_cluster_t *mcluster; /* owned */
    char *bootstrap;                   /* owned */
};

struct cp_embedded *cp_embedded_new(int partitions, const char *const *topics,
                                    size_t topic_cnt, char *errstr,
                                    size_t errstr_size)
{
    struct cp_embedded *emb = calloc(1, sizeof(*emb));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[512];

    if (!emb) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    /* This handle only hosts the cluster and never connects anywhere: keep
     * its "no bootstrap.servers" notice out of the log. */
    rd_kafka_conf_set(conf, "log_level", "4", why, sizeof(why));
    emb->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!emb->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "start embedded kafka: %s", why);
        goto fail;
    }
    emb->mcluster = rd_kafka_mock_cluster_new(emb->rk, 1);
    if (!emb->mcluster) {
        snprintf(errstr, errstr_size, "start embedded kafka: mock cluster");
        goto fail;
    }
    for (size_t i = 0; i < topic_cnt; i++) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(emb->mcluster, topics[i], partitions, 1);
        if (err) {
            snprintf(errstr, errstr_size, "create topic %s: %s", topics[i],
                     rd_kafka_err2str(err));
            goto fail;
        }
    }
    emb->bootstrap = strdup(rd_kafka_mock_cluster_bootstraps(emb->mcluster));
    if (!emb->bootstrap) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    return emb;
fail:
    cp_embedded_destroy(emb);
    return NULL;
}

const char *cp_embedded_bootstrap(const struct cp_embedded *emb)
{
    return emb->bootstrap;
}

/* The embedded cluster has one broker; mock broker ids start at 1. */
#define CP_EMBEDDED_BROKER 1
/* Errors stacked for an open-ended failure: far more requests than a test
 * sends before clearing them. */
#define CP_FAILURE_DEPTH 100000

cp_rc cp_embedded_set_up(struct cp_embedded *emb, int up)
{
    rd_kafka_resp_err_t err =
        up ? rd_kafka_mock_broker_set_up(emb->mcluster, -1)
           : rd_kafka_mock_broker_set_down(emb->mcluster, -1);

    return err ? CP_EKAFKA : CP_OK;
}

cp_rc cp_embedded_push_errors(struct cp_embedded *emb, enum cp_kafka_api api,
                              int err, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++)
        if (rd_kafka_mock_broker_push_request_error_rtts(
                emb->mcluster, CP_EMBEDDED_BROKER, (int16_t)api, 1,
                (rd_kafka_resp_err_t)err, 0))
            return CP_EKAFKA;
    return CP_OK;
}

size_t cp_embedded_pending_errors(struct cp_embedded *emb,
                                  enum cp_kafka_api api)
{
    size_t cnt = 0;

    if (rd_kafka_mock_broker_error_stack_cnt(emb->mcluster, CP_EMBEDDED_BROKER,
                                             (int16_t)api, &cnt))
        return 0;
    return cnt;
}

void cp_embedded_fail_requests(struct cp_embedded *emb, enum cp_kafka_api api,
                               int err)
{
    rd_kafka_resp_err_t *errs = malloc(CP_FAILURE_DEPTH * sizeof(*errs));

    if (!errs)
        return;
    for (size_t i = 0; i < CP_FAILURE_DEPTH; i++)
        errs[i] = (rd_kafka_resp_err_t)err;
    rd_kafka_mock_push_request_errors_array(emb->mcluster, (int16_t)api,
                                            CP_FAILURE_DEPTH, errs);
    free(errs);
}

void cp_embedded_clear_failure(struct cp_embedded *emb, enum cp_kafka_api api)
{
    rd_kafka_mock_clear_request_errors(emb->mcluster, (int16_t)api);
}

void cp_embedded_destroy(struct cp_embedded *emb)
{
    if (!emb)
        return;
    if (emb->mcluster)
        rd_kafka_mock_cluster_destroy(emb->mcluster);
    if (emb->rk)
        rd_kafka_destroy(emb->rk);
    free(emb->bootstrap);
    free(emb);
}

/* ---- producer ---- */

/* The producer accepts records this large (message.max.bytes) unless the
 * user sets another limit: more than the largest message our consumer can
 * fetch (fetch.max.bytes, 52428800 by default) plus what a dead letter adds
 * to it, so the dead letter of any input message fits. */
#define CP_PRODUCER_MAX_BYTES "53477376"
/* What a broker that refused a record as too large is assumed to take next:
 * Kafka's default limit (1048588) less room for the batch headers. */
#define CP_BROKER_SAFE_BYTES 1000000

struct cp_producer {
    struct reach reach;          /* first: librdkafka's opaque */
    rd_kafka_t *rk;              /* owned */
    volatile sig_atomic_t *stop; /* borrowed, may be NULL */
    int64_t queued;              /* messages handed to librdkafka */
    int64_t acked;               /* delivery reports with success */
    int64_t failed;   /* delivery reports with an error, since last flush */
    size_t max_bytes; /* largest value + key we expect to land */
    char errstr[512]; /* first failure since the last flush */
};

static void delivery_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                        void *opaque)
{
    struct cp_producer *prod = opaque;

    (void)rk;
    if (!rkm->err) {
        reach_up(&prod->reach);
        prod->acked++;
        return;
    }
    if (rkm->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        /* The broker (or topic) takes less than we do: from now on callers
         * that shrink records aim below what it refused (see
         * cp_producer_max_bytes()), the retried batch then lands. */
        size_t refused = rkm->len + rkm->key_len;

        if (prod->max_bytes > CP_BROKER_SAFE_BYTES)
            prod->max_bytes = CP_BROKER_SAFE_BYTES;
        if (refused <= prod->max_bytes)
            prod->max_bytes = refused / 2;
    }
    if (!prod->failed++)
        snprintf(prod->errstr, sizeof(prod->errstr), "deliver to %s [%d]: %s",
                 rd_kafka_topic_name(rkm->rkt), (int)rkm->partition,
                 rd_kafka_err2str(rkm->err));
}

struct cp_producer *cp_producer_new(const char *bootstrap,
                                    const struct cp_kv *props, size_t prop_cnt,
                                    char *errstr, size_t errstr_size)
{
    /* Idempotence keeps retried side outputs free of duplicates and in order;
     * a bounded timeout turns an outage into a failed flush we can retry. */
    static const char *const defaults[][2] = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "5"},
        {"message.timeout.ms", "30000"},
        {"queue.buffering.max.messages", "1000000"},
        {"batch.num.messages", "10000"},
        {"message.max.bytes", CP_PRODUCER_MAX_BYTES},
        {NULL, NULL},
    };
    struct cp_producer *prod = calloc(1, sizeof(*prod));
    rd_kafka_conf_t *conf;
    char why[512], max_bytes[32];
    size_t max_bytes_size = sizeof(max_bytes);

    if (!prod) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    prod->reach.who = "producer";
    conf =
        conf_build(bootstrap, defaults, props, prop_cnt, errstr, errstr_size);
    if (!conf)
        goto fail;
    /* The effective limit, ours or the user's; a record holds some bytes
     * besides key and value (headers, batch framing). */
    if (rd_kafka_conf_get(conf, "message.max.bytes", max_bytes,
                          &max_bytes_size) == RD_KAFKA_CONF_OK)
        prod->max_bytes = (size_t)strtoull(max_bytes, NULL, 10);
    prod->max_bytes = prod->max_bytes > 1024 ? prod->max_bytes - 512 : 512;
    rd_kafka_conf_set_dr_msg_cb(conf, delivery_cb);
    rd_kafka_conf_set_opaque(conf, prod);
    prod->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!prod->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "create kafka producer: %s", why);
        goto fail;
    }
    conf = NULL; /* now owned by rk */
    return prod;
fail:
    cp_producer_destroy(prod);
    return NULL;
}

cp_rc cp_producer_send(struct cp_producer *prod, const char *topic,
                       int32_t partition, const void *key, size_t key_len,
                       const void *value, size_t value_len)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            prod->rk, RD_KAFKA_V_TOPIC(topic),
            RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA
                                               : partition),
            RD_KAFKA_V_KEY((void *)key, key_len),
            RD_KAFKA_V_VALUE((void *)value, value_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);

        if (!err) {
            prod->queued++;
            rd_kafka_poll(prod->rk, 0);
            return CP_OK;
        }
        if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
            snprintf(prod->errstr, sizeof(prod->errstr),
                     "produce to %s: %zu bytes exceed kafka.message.max.bytes",
                     topic, key_len + value_len);
            return CP_EKAFKA;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            snprintf(prod->errstr, sizeof(prod->errstr), "produce to %s: %s",
                     topic, rd_kafka_err2str(err));
            return CP_EKAFKA;
        }
        /* Local queue full: serve delivery reports until there is room. */
        rd_kafka_poll(prod->rk, 50);
    }
}

static int producer_stopping(const struct cp_producer *prod)
{
    return prod->stop && *prod->stop;
}

cp_rc cp_producer_flush(struct cp_producer *prod, int timeout_ms)
{
    int64_t deadline = cp_mono_ms() + timeout_ms;
    rd_kafka_resp_err_t err;
    cp_rc rc = CP_OK;

    /* In short steps: while Kafka is down a flush waits for the whole
     * message timeout, and a stop request must not. */
    for (;;) {
        int64_t left = deadline - cp_mono_ms();

        err = rd_kafka_flush(prod->rk, left > 100 ? 100
                                       : left > 0 ? (int)left
                                                  : 0);
        if (!err || left <= 0 || producer_stopping(prod))
            break;
    }
    if (err) {
        snprintf(prod->errstr, sizeof(prod->errstr),
                 "flush: %d messages not acknowledged after %d ms%s: %s",
                 rd_kafka_outq_len(prod->rk), timeout_ms,
                 producer_stopping(prod) ? " (stop requested)" : "",
                 rd_kafka_err2str(err));
        rc = CP_EKAFKA;
    } else if (prod->failed) {
        rc = CP_EKAFKA;
    }
    prod->failed = 0;
    return rc;
}

void cp_producer_set_stop(struct cp_producer *prod, volatile sig_atomic_t *stop)
{
    prod->stop = stop;
}

size_t cp_producer_max_bytes(const struct cp_producer *prod)
{
    return prod->max_bytes;
}

int64_t cp_producer_acked_cnt(const struct cp_producer *prod)
{
    return prod->acked;
}

const char *cp_producer_errstr(const struct cp_producer *prod)
{
    return prod->errstr;
}

void cp_producer_destroy(struct cp_producer *prod)
{
    if (!prod)
        return;
    if (prod->rk) {
        /* On a stop request what is unacknowledged is dropped: its batch is
         * not committed, so it is sent again after a restart. */
        if (producer_stopping(prod))
            rd_kafka_purge(prod->rk,
                           RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        else
            rd_kafka_flush(prod->rk, 5000);
        rd_kafka_destroy(prod->rk);
    }
    free(prod);
}

/* ---- consumer ---- */

#define CP_CONSUMER_MAX_BATCH     100000
#define CP_ASSIGN_BACKOFF_MAX_MS  5000
#define CP_OFFSET_QUERY_MS        5000
#define CP_CONSUMER_CLOSE_MS      2000
#define CP_CONSUMER_CLOSE_STOP_MS 1000 /* SIGTERM: exit within seconds */

struct cp_consumer {
    struct reach reach;      /* first: librdkafka's opaque */
    rd_kafka_t *rk;          /* owned */
    rd_kafka_queue_t *queue; /* owned; the consumer queue */
    char *topic;             /* owned */
    struct cp_consumer_callbacks cbs;
    cp_out_of_range_fn out_of_range; /* may be NULL */
    volatile sig_atomic_t *stop; /* borrowed, may be NULL; see set_stop */
    int reset_latest;            /* auto.offset.reset is latest/largest/end */
    rd_kafka_message_t **rkms;   /* owned array; messages of the last poll */
    size_t rkm_cnt;
    size_t rkm_cap;
    int out_of_memory; /* a poll or an assignment failed to allocate */
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
        reach_up(&cons->reach); /* the group coordinator answered */
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
    conf =
        conf_build(bootstrap, defaults, props, prop_cnt, errstr, errstr_size);
    if (!conf)
        goto fail;
    if (conf_set(conf, "group.id", group_id, errstr, errstr_size))
        goto fail;
    /* Where a partition starts is always decided by us (an absolute offset
     * at assignment, see reset_latest): an offset the broker does not have
     * must come back as an error (out_of_range callback), never as a
     * silent jump to another position. */
    if (conf_set(conf, "auto.offset.reset", "error", errstr, errstr_size))
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
                reach_down(&cons->reach, rd_kafka_message_errstr(rkm));
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
        reach_up(&cons->reach);
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
