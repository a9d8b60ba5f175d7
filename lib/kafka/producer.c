/* SPDX-License-Identifier: Apache-2.0 */
/* The acknowledged side-output producer (idempotent, acks=all): dead
 * letters and alerts must be acknowledged before a batch commits. */
#include "kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka_int.h"
#include "log.h"

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
    struct cp__reach reach;      /* first: librdkafka's opaque */
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
        cp__reach_up(&prod->reach);
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
    conf = cp__kafka_conf_build(bootstrap, defaults, props, prop_cnt, errstr,
                                errstr_size);
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
