/* SPDX-License-Identifier: Apache-2.0 */
/* Dead letters and alerts to Kafka, acknowledged before the commit (see
 * sideout.h). */
#include "sideout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

struct cp_sideout {
    struct cp_codec *codec;   /* borrowed */
    struct cp_producer *prod; /* borrowed */
    char *dlq_topic;          /* owned */
    char *alerts_topic;       /* owned */
    struct cp_buf buf;        /* one encoded record */
    size_t pending;           /* sent since the last settle */
};

struct cp_sideout *cp_sideout_new(struct cp_codec *codec,
                                  struct cp_producer *prod,
                                  const char *dlq_topic,
                                  const char *alerts_topic)
{
    struct cp_sideout *so = calloc(1, sizeof(*so));

    if (!so)
        return NULL;
    so->codec = codec;
    so->prod = prod;
    so->dlq_topic = strdup(dlq_topic);
    so->alerts_topic = strdup(alerts_topic);
    cp_buf_init(&so->buf, 0);
    if (!so->dlq_topic || !so->alerts_topic) {
        cp_sideout_destroy(so);
        return NULL;
    }
    return so;
}

void cp_sideout_destroy(struct cp_sideout *so)
{
    if (!so)
        return;
    free(so->dlq_topic);
    free(so->alerts_topic);
    cp_buf_cleanup(&so->buf);
    free(so);
}

/* Cuts the value (then the key) of @p dl so its encoding fits @p max
 * bytes, re-encoding into so->buf; the reason says what was kept. */
static cp_rc encode_cut(struct cp_sideout *so, struct cp_dead_letter *dl,
                        const struct cp_msg *msg, const char *reason,
                        size_t max, char *cut_reason, size_t cut_size)
{
    cp_rc rc = CP_OK;

    for (int tries = 0; so->buf.len + dl->key_len > max; tries++) {
        size_t excess = so->buf.len + dl->key_len - max + 64;

        if (tries == 3)
            return CP_EKAFKA;
        if (excess > dl->value_len) {
            excess -= dl->value_len;
            dl->value_len = 0;
            dl->key_len = excess < dl->key_len ? dl->key_len - excess : 0;
        } else {
            dl->value_len -= excess;
        }
        snprintf(cut_reason, cut_size,
                 "%s (dead letter truncated: value %zu of %zu bytes kept, "
                 "key %zu of %zu)",
                 reason, dl->value_len, msg->value_len, dl->key_len,
                 msg->key_len);
        dl->reason = cut_reason;
        cp_buf_reset(&so->buf);
        rc = cp_codec_encode_dead_letter(so->codec, dl, &so->buf);
        if (rc)
            return rc;
    }
    return rc;
}

cp_rc cp_sideout_dead_letter(struct cp_sideout *so, const struct cp_msg *msg,
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
    char cut_reason[512];
    cp_rc rc;

    cp_buf_reset(&so->buf);
    rc = cp_codec_encode_dead_letter(so->codec, &dl, &so->buf);
    if (!rc)
        rc = encode_cut(so, &dl, msg, reason, cp_producer_max_bytes(so->prod),
                        cut_reason, sizeof(cut_reason));
    if (rc)
        return rc;
    cp_log(CP_LOG_DEBUG, "WORKER", "%s [%d] @%lld to DLQ: %s", msg->topic,
           (int)msg->partition, (long long)msg->offset, reason);
    rc = cp_producer_send(so->prod, so->dlq_topic, -1, msg->key, dl.key_len,
                          so->buf.data, so->buf.len);
    so->pending += rc == CP_OK;
    return rc;
}

cp_rc cp_sideout_alert(struct cp_sideout *so, const struct cp_alert *alert,
                       const char *key)
{
    cp_rc rc;

    cp_buf_reset(&so->buf);
    rc = cp_codec_encode_alert(so->codec, alert, &so->buf);
    if (!rc)
        rc = cp_producer_send(so->prod, so->alerts_topic, -1, key, strlen(key),
                              so->buf.data, so->buf.len);
    so->pending += rc == CP_OK;
    return rc;
}

cp_rc cp_sideout_settle(struct cp_sideout *so, int timeout_ms)
{
    cp_rc rc;

    if (!so->pending)
        return CP_OK;
    rc = cp_producer_flush(so->prod, timeout_ms);
    if (rc) {
        cp_log(CP_LOG_WARNING, "KAFKA",
               "dead letters or alerts not acknowledged: %s",
               cp_producer_errstr(so->prod));
        return rc;
    }
    so->pending = 0;
    return CP_OK;
}

size_t cp_sideout_pending(const struct cp_sideout *so)
{
    return so->pending;
}
