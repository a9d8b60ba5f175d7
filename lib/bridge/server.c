/* SPDX-License-Identifier: Apache-2.0 */
/* The bridge's request path, on libmicrohttpd's one polling thread:
 *   route -> authenticate -> per-tenant rate limit -> map (REST fetches)
 *   -> claim each event id in Redis (SET NX, short TTL) -> produce events
 *   and dead letters -> wait for Kafka's acknowledgement -> mark the ids
 *   delivered (72 h TTL) -> 200.
 * Any failure after the claim releases the claims and answers 503, so the
 * CRM's retry finds the ids free. One thread serves every request, which
 * keeps "acknowledged since the last flush" meaning "this request's
 * events"; waiting connections are the bounded queue (bridge.connections).
 */
#include "bridge.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>

#include "auth.h"
#include "buf.h"
#include "civil.h"
#include "codec.h"
#include "conn.h"
#include "form.h"
#include "ids.h"
#include "kafka.h"
#include "log.h"
#include "mapping.h"
#include "registry.h"
#include "resp.h"
#include "rest.h"
#include "schemas.h"
#include "tenants.h"
#include "url.h"

/* A claim outlives the longest a request can hold it (the Kafka ack
 * wait, see hook()) by this margin; if the bridge dies between claim and
 * ack, the CRM's retry after that produces the events again. */
#define CLAIM_MARGIN_MS   2000
#define AUTH_LOG_EVERY_MS 1000
#define REDIS_TIMEOUT     2000
#define METRICS_MAX       (256u << 10)
#define CT_TEXT           "text/plain; charset=utf-8"
#define CT_JSON           "application/json"

/* Answers counted in crmpulse_bridge_requests_total{code}. */
static const unsigned codes[] = {200, 400, 401, 404, 405, 413, 429, 500, 503};
#define CODE_CNT (sizeof(codes) / sizeof(codes[0]))

/* A tenant's token bucket. */
struct bucket {
    double tokens;
    int64_t at_us;
};

struct cp_bridge {
    const struct cp_config *cfg;  /* borrowed */
    struct cp_tenants *tenants;   /* owned */
    struct bucket *buckets;       /* owned; one per tenant */
    struct cp_embedded *emb;      /* owned; NULL unless embedded */
    struct cp_producer *prod;     /* owned */
    struct cp_codec *codec;       /* owned; used on the MHD thread only */
    struct cp_rest *rest;         /* owned */
    struct cp_fetcher rest_fetch; /* borrows rest */
    struct cp_fetcher fetch;      /* the mappers': rest_fetch + Redis */
    struct cp_redis_url rurl;     /* owned */
    struct cp_rconn *redis;       /* owned; NULL while down */
    struct MHD_Daemon *daemon;    /* owned */
    struct cp_map_out out;        /* reused per request */
    struct cp_cmds cmds;          /* reused per request */
    struct cp_buf val;            /* reused: encoded records */
    char (*dl_ids)[96];           /* owned, reused: ids of dead letters */
    size_t dl_ids_cap;
    int port;
    bool kafka_ok, redis_ok;
    /* Metrics: under work, like the rest. */
    uint64_t requests[CP_CRM_CNT + 1][CODE_CNT]; /* [CP_CRM_CNT]: no CRM */
    uint64_t produced, duplicates, dead_letters, ignored, auth_failures;
    uint64_t ack_us_sum, ack_cnt;
    int64_t auth_log_ms;       /* last 401 logged, monotonic ms */
    uint64_t auth_log_dropped; /* 401s not logged since */
    /* One request at a time: MHD's thread serves the CRMs, the main thread
     * polls Bitrix24's offline queues; both take this around everything
     * above (Redis, producer, metrics). */
    pthread_mutex_t work;
    struct offline *offline; /* owned; one per tenant */
};

/* A Bitrix24 tenant's offline queue (offline.poll). */
struct offline {
    int64_t due_ms;   /* next poll, monotonic */
    bool loaded;      /* process read from Redis */
    char process[64]; /* event.offline.get's process_id of the records we
                         hold and have not cleared; "" when none */
};

/* What one connection carries between MHD's calls. */
struct req {
    struct cp_buf body;
    bool too_big;
};

/* ---- small helpers ---- */

static void count(struct cp_bridge *b, int crm, unsigned status)
{
    for (size_t i = 0; i < CODE_CNT; i++)
        if (codes[i] == status)
            b->requests[crm < 0 ? CP_CRM_CNT : crm][i]++;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const char *ctype, const char *body,
                             const char *retry_after)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                           MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (retry_after)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static bool take_token(struct cp_bridge *b, size_t ti)
{
    struct bucket *bk = &b->buckets[ti];
    double rate = b->cfg->bridge_rate, burst = 2.0 * rate;
    int64_t now = cp_mono_us();

    if (bk->at_us == 0) {
        bk->tokens = burst;
    } else {
        bk->tokens += (double)(now - bk->at_us) * rate / 1e6;
        if (bk->tokens > burst)
            bk->tokens = burst;
    }
    bk->at_us = now;
    if (bk->tokens < 1.0)
        return false;
    bk->tokens -= 1.0;
    return true;
}

/* ---- Redis: claims of event ids ---- */

static struct cp_rconn *redis(struct cp_bridge *b)
{
    char err[512];

    if (!b->redis) {
        b->redis = cp_rconn_new(&b->rurl, REDIS_TIMEOUT, err, sizeof(err));
        if (!b->redis)
            cp_log(CP_LOG_WARNING, "BRIDGE", "%s", err);
    }
    b->redis_ok = b->redis != NULL;
    return b->redis;
}

static void redis_dead(struct cp_bridge *b)
{
    cp_log(CP_LOG_WARNING, "BRIDGE", "redis: %s",
           b->redis ? cp_rconn_errstr(b->redis) : "down");
    cp_rconn_destroy(b->redis);
    b->redis = NULL;
    b->redis_ok = false;
}

/* crm:{T}:bridge:seen:<event id> */
/* What a request delivers: its events, then its dead letters; each has
 * an id the claims are keyed by. */
static size_t item_cnt(const struct cp_bridge *b)
{
    return b->out.cnt + b->out.dead_cnt;
}

static const char *item_id(const struct cp_bridge *b, size_t i)
{
    return i < b->out.cnt ? b->out.evs[i].event_id : b->dl_ids[i - b->out.cnt];
}

/* A dead letter's id: the payload's hash and which of its reasons, so a
 * redelivered unmappable payload is not dead-lettered again. */
static cp_rc dead_ids(struct cp_bridge *b, const char *body, size_t len)
{
    char hex[65];

    if (b->out.dead_cnt > b->dl_ids_cap) {
        char(*ids)[96] = realloc(b->dl_ids, b->out.dead_cnt * sizeof(*ids));

        if (!ids)
            return CP_ENOMEM;
        b->dl_ids = ids;
        b->dl_ids_cap = b->out.dead_cnt;
    }
    cp_auth_sha256_hex(body, len, hex);
    for (size_t i = 0; i < b->out.dead_cnt; i++)
        snprintf(b->dl_ids[i], sizeof(b->dl_ids[i]), "dl-%s-%zu", hex, i);
    return CP_OK;
}

/* P:{T}:bridge:seen:<id> */
static void seen_key(struct cp_bridge *b, const char *tenant, size_t i)
{
    char key[512];
    int n = snprintf(key, sizeof(key), "%s:{%s}:bridge:seen:%s",
                     b->cfg->redis_prefix, tenant, item_id(b, i));

    cp_cmd_arg(&b->cmds, key, (size_t)n);
}

/* Reads @p cnt replies; @p fn sees each. @returns CP_OK or CP_EREDIS. */
static cp_rc read_replies(struct cp_bridge *b, size_t cnt,
                          void (*fn)(void *, size_t, const struct cp_reply *),
                          void *opaque)
{
    cp_rc rc = CP_OK;

    for (size_t i = 0; i < cnt; i++) {
        struct cp_rconn_reply *r = NULL;
        struct cp_reply view;

        if (cp_rconn_read(b->redis, -1, &r) || !r) {
            redis_dead(b);
            return CP_EREDIS;
        }
        cp_rconn_reply_view(r, &view);
        if (view.type == CP_REPLY_ERROR) {
            cp_log(CP_LOG_WARNING, "BRIDGE", "redis: %.*s", (int)view.len,
                   view.str);
            rc = CP_EREDIS;
        } else if (fn) {
            fn(opaque, i, &view);
        }
        cp_rconn_reply_free(r);
    }
    return rc;
}

static cp_rc send_cmds(struct cp_bridge *b)
{
    if (cp_cmds_failed(&b->cmds))
        return CP_ENOMEM;
    if (!redis(b))
        return CP_EREDIS;
    if (cp_rconn_send(b->redis, &b->cmds)) {
        redis_dead(b);
        return CP_EREDIS;
    }
    return CP_OK;
}

/* ---- the mappers' fetcher: REST reads, skipped for delivered events ---- */

static cp_rc fetch_get(void *opaque, const struct cp_tenant *t,
                       const char *path, struct cp_buf *body, char *err,
                       size_t err_size)
{
    struct cp_bridge *b = opaque;

    return b->rest_fetch.get(b->rest_fetch.opaque, t, path, body, err,
                             err_size);
}

static void on_get_done(void *opaque, size_t i, const struct cp_reply *r)
{
    bool *done = opaque;

    (void)i;
    *done =
        r->type == CP_REPLY_STRING && r->len == 4 && !memcmp(r->str, "done", 4);
}

static bool fetch_delivered(void *opaque, const struct cp_tenant *t,
                            const char *event_id)
{
    struct cp_bridge *b = opaque;
    char key[512];
    bool done = false;
    int n = snprintf(key, sizeof(key), "%s:{%s}:bridge:seen:%s",
                     b->cfg->redis_prefix, t->name, event_id);

    cp_cmds_reset(&b->cmds);
    cp_cmd_begin(&b->cmds, 2);
    cp_cmd_str(&b->cmds, "GET");
    cp_cmd_arg(&b->cmds, key, (size_t)n);
    if (send_cmds(b) || read_replies(b, 1, on_get_done, &done))
        return false; /* the claim after mapping fails the request */
    return done;
}

enum claim { CLAIM_NEW = 0, CLAIM_DONE, CLAIM_BUSY };

/* The flush waits bridge.ack.timeout.ms + 1 s at most and the producer
 * fails what Kafka has not acknowledged by bridge.ack.timeout.ms
 * (message.timeout.ms): past that, a claim protects nothing. */
static int64_t claim_ttl_ms(const struct cp_bridge *b)
{
    return (int64_t)b->cfg->bridge_ack_timeout_ms + 1000 + CLAIM_MARGIN_MS;
}

struct claim_ctx {
    enum claim *claims;
    size_t n; /* events; replies: n SETs then n GETs */
};

static void on_claim(void *opaque, size_t i, const struct cp_reply *r)
{
    struct claim_ctx *c = opaque;

    if (i < c->n) {
        c->claims[i] = r->type == CP_REPLY_NIL ? CLAIM_BUSY : CLAIM_NEW;
        return;
    }
    i -= c->n;
    /* The GET after a refused SET tells a finished delivery from one in
     * progress (or cut short by a crash, until its claim expires). */
    if (c->claims[i] == CLAIM_BUSY && r->type == CP_REPLY_STRING &&
        r->len == 4 && !memcmp(r->str, "done", 4))
        c->claims[i] = CLAIM_DONE;
}

static cp_rc claim(struct cp_bridge *b, const char *tenant, enum claim *claims)
{
    struct claim_ctx ctx = {claims, item_cnt(b)};
    cp_rc rc;

    cp_cmds_reset(&b->cmds);
    for (size_t i = 0; i < item_cnt(b); i++) {
        cp_cmd_begin(&b->cmds, 6);
        cp_cmd_str(&b->cmds, "SET");
        seen_key(b, tenant, i);
        cp_cmd_str(&b->cmds, "pending");
        cp_cmd_str(&b->cmds, "NX");
        cp_cmd_str(&b->cmds, "PX");
        cp_cmd_int(&b->cmds, claim_ttl_ms(b));
    }
    for (size_t i = 0; i < item_cnt(b); i++) {
        cp_cmd_begin(&b->cmds, 2);
        cp_cmd_str(&b->cmds, "GET");
        seen_key(b, tenant, i);
    }
    rc = send_cmds(b);
    if (!rc)
        rc = read_replies(b, 2 * item_cnt(b), on_claim, &ctx);
    return rc;
}

/* After the ack: "done" for 72 h+; after a failure: the claims go. */
static cp_rc settle(struct cp_bridge *b, const char *tenant,
                    const enum claim *claims, bool delivered)
{
    size_t n = 0;
    cp_rc rc;

    cp_cmds_reset(&b->cmds);
    for (size_t i = 0; i < item_cnt(b); i++) {
        if (claims[i] != CLAIM_NEW)
            continue;
        if (delivered) {
            cp_cmd_begin(&b->cmds, 5);
            cp_cmd_str(&b->cmds, "SET");
            seen_key(b, tenant, i);
            cp_cmd_str(&b->cmds, "done");
            cp_cmd_str(&b->cmds, "EX");
            cp_cmd_int(&b->cmds, b->cfg->bridge_dedup_ttl_s);
        } else {
            cp_cmd_begin(&b->cmds, 2);
            cp_cmd_str(&b->cmds, "DEL");
            seen_key(b, tenant, i);
        }
        n++;
    }
    if (!n)
        return CP_OK;
    rc = send_cmds(b);
    if (!rc)
        rc = read_replies(b, n, NULL, NULL);
    return rc;
}

/* ---- Kafka ---- */

static cp_rc produce_dead(struct cp_bridge *b, const struct cp_tenant *t,
                          const char *body, size_t len, const char *reason)
{
    struct cp_dead_letter dl = {0};
    char topic[64];
    cp_rc rc;

    snprintf(topic, sizeof(topic), "webhook/%s", cp_crm_name(t->crm));
    dl.topic = topic;
    dl.partition = -1;
    dl.offset = -1;
    dl.key = t->name;
    dl.key_len = strlen(t->name);
    dl.value = body;
    dl.value_len = len;
    dl.reason = reason;
    dl.failed_at = cp_now_ms();
    cp_buf_reset(&b->val);
    rc = cp_codec_encode_dead_letter(b->codec, &dl, &b->val);
    if (!rc)
        rc = cp_producer_send(b->prod, b->cfg->topic_dlq, -1, t->name,
                              strlen(t->name), b->val.data, b->val.len);
    return rc;
}

static cp_rc produce_event(struct cp_bridge *b, const struct cp_tenant *t,
                           const struct cp_bridge_ev *bev)
{
    struct cp_event ev;
    char key[CP_NAME_MAX * 2 + 2];
    int n;
    cp_rc rc;

    cp_bridge_ev_view(bev, t->name, &ev);
    n = snprintf(key, sizeof(key), "%s:%s", t->name, bev->customer);
    cp_buf_reset(&b->val);
    rc = cp_codec_encode_event(b->codec, &ev, &b->val);
    if (!rc)
        rc = cp_producer_send(b->prod, b->cfg->topic_events, -1, key, (size_t)n,
                              b->val.data, b->val.len);
    return rc;
}

/* ---- authentication ---- */

static bool authenticate(struct cp_bridge *b, struct MHD_Connection *conn,
                         const struct cp_tenant *t, const char *url,
                         const char *secret_seg, const struct req *rq,
                         char *why, size_t why_size)
{
    const char *body = rq->body.data ? rq->body.data : "";
    size_t len = rq->body.len;

    (void)b;
    switch (t->crm) {
    case CP_CRM_HUBSPOT: {
        const char *host =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
        char uri[2048];

        if (t->url)
            snprintf(uri, sizeof(uri), "%s", t->url);
        else
            snprintf(uri, sizeof(uri), "http://%s%s", host ? host : "", url);
        return cp_auth_hubspot_v3(
            t->secret, "POST", uri, body, len,
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                        "X-HubSpot-Request-Timestamp"),
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                        "X-HubSpot-Signature-v3"),
            cp_now_ms(), why, why_size);
    }
    case CP_CRM_BITRIX24: {
        struct cp_form form;
        bool ok;

        if (cp_form_parse(body, len, &form, why, why_size)) {
            snprintf(why, why_size, "body is not a form");
            return false;
        }
        ok = cp_auth_equal(cp_form_get(&form, "auth[application_token]"),
                           t->secret);
        if (ok && t->account)
            ok = cp_auth_equal(cp_form_get(&form, "auth[member_id]"),
                               t->account);
        cp_form_cleanup(&form);
        if (!ok)
            snprintf(why, why_size, "wrong auth[application_token]");
        return ok;
    }
    case CP_CRM_AMOCRM: {
        struct cp_form form;
        bool ok = cp_auth_equal(secret_seg, t->secret);

        if (ok && cp_form_parse(body, len, &form, why, why_size) == CP_OK) {
            ok = cp_auth_equal(cp_form_get(&form, "account[id]"), t->account);
            cp_form_cleanup(&form);
        } else {
            ok = false;
        }
        if (!ok)
            snprintf(why, why_size, "wrong secret path segment or account[id]");
        return ok;
    }
    case CP_CRM_PIPEDRIVE:
        if (cp_auth_basic(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                      "Authorization"),
                          t->user, t->password))
            return true;
        snprintf(why, why_size, "wrong or missing HTTP Basic credentials");
        return false;
    case CP_CRM_CNT:
        break;
    }
    snprintf(why, why_size, "tenant has no CRM");
    return false;
}

/* At most one line a second: a flood of forged requests must not flood
 * the log too (crmpulse_bridge_auth_failures_total counts them all). */
static void log_auth_failure(struct cp_bridge *b, const struct cp_tenant *t,
                             const char *why)
{
    int64_t now = cp_mono_ms();

    if (b->auth_log_ms && now - b->auth_log_ms < AUTH_LOG_EVERY_MS) {
        b->auth_log_dropped++;
        return;
    }
    cp_log(CP_LOG_NOTICE, "BRIDGE",
           "tenant %s (%s): 401: %s (%llu more not logged)", t->name,
           cp_crm_name(t->crm), why, (unsigned long long)b->auth_log_dropped);
    b->auth_log_ms = now;
    b->auth_log_dropped = 0;
}

/* ---- the webhook ---- */

/* "/hooks/<crm>/<tenant>[/<secret>]" -> segments; false if not that. */
static bool split_hook(const char *url, char *crm, char *tenant, char *secret,
                       size_t size)
{
    const char *p = url + strlen("/hooks/");
    char *outs[3] = {crm, tenant, secret};
    int seg = 0;

    if (strncmp(url, "/hooks/", 7) != 0)
        return false;
    crm[0] = tenant[0] = secret[0] = '\0';
    while (*p && seg < 3) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);

        if (n == 0 || n >= size)
            return false;
        memcpy(outs[seg], p, n);
        outs[seg][n] = '\0';
        seg++;
        p += n;
        if (*p == '/')
            p++;
    }
    return seg >= 2 && *p == '\0';
}

/* What one authenticated request (or one offline event) delivers: map,
 * claim, produce, wait for Kafka's ack, settle the claims.
 * @returns the HTTP status for the CRM: 200 with @p answer (the counts as
 *          JSON), 503 (Kafka, Redis or the CRM's API did not answer: the
 *          CRM retries) or 500. Called under b->work. */
static unsigned deliver(struct cp_bridge *b, const struct cp_tenant *t,
                        const char *body, size_t len, char *answer,
                        size_t answer_size)
{
    enum claim *claims = NULL;
    size_t fresh = 0, dups = 0, dead = 0;
    int64_t t0;
    cp_rc rc;

    t0 = cp_mono_us();
    rc = cp_map_request(t, body, len, &b->fetch, &b->out);
    if (rc == CP_EIO)
        goto unavailable;
    if (rc)
        goto fail;
    /* Events that break the input contract are dead letters here, where
     * the raw payload still is, not later in the worker. */
    for (size_t i = 0; i < b->out.cnt;) {
        struct cp_event ev;
        char reason[CP_MAP_REASON_MAX];

        cp_bridge_ev_view(&b->out.evs[i], t->name, &ev);
        if (cp_event_validate(&ev, cp_now_ms(), reason, sizeof(reason))) {
            char full[CP_MAP_REASON_MAX + 160];

            snprintf(full, sizeof(full), "%s event %s: %s", cp_crm_name(t->crm),
                     b->out.evs[i].event_id, reason);
            rc = cp_map_out_dead(&b->out, full);
            if (rc)
                goto fail;
            /* Keep the others in the CRM's order: a deal's creation must
             * stay before its close. */
            memmove(&b->out.evs[i], &b->out.evs[i + 1],
                    (b->out.cnt - i - 1) * sizeof(b->out.evs[0]));
            b->out.cnt--;
            continue;
        }
        i++;
    }
    rc = dead_ids(b, body, len);
    if (rc)
        goto fail;
    if (item_cnt(b)) {
        claims = calloc(item_cnt(b), sizeof(*claims));
        if (!claims) {
            rc = CP_ENOMEM;
            goto fail;
        }
        rc = claim(b, t->name, claims);
        if (rc)
            goto unavailable_claims;
        for (size_t i = 0; i < item_cnt(b); i++) {
            if (claims[i] == CLAIM_BUSY) {
                /* Another delivery of this event is in flight (or died
                 * less than claim_ttl_ms() ago): let the CRM come back. */
                rc = CP_EKAFKA;
                goto unavailable_claims;
            }
        }
    }
    for (size_t i = 0; i < item_cnt(b) && !rc; i++) {
        if (claims[i] != CLAIM_NEW) {
            dups++;
        } else if (i < b->out.cnt) {
            rc = produce_event(b, t, &b->out.evs[i]);
            fresh++;
        } else {
            rc = produce_dead(b, t, body, len, b->out.dead[i - b->out.cnt]);
            dead++;
        }
    }
    /* Flush whatever was queued even after a failed send: the next
     * request's flush must see only its own records. (Records of a failed
     * request that Kafka took anyway may come again with the CRM's retry:
     * the rare way to a duplicate, README "Connect your CRM".) */
    if (fresh || dead) {
        cp_rc frc =
            cp_producer_flush(b->prod, b->cfg->bridge_ack_timeout_ms + 1000);

        if (!rc)
            rc = frc;
    }
    if (rc) {
        cp_log(CP_LOG_WARNING, "BRIDGE",
               "tenant %s: Kafka did not acknowledge the request's events: "
               "%s (503, the CRM retries)",
               t->name, cp_producer_errstr(b->prod));
        b->kafka_ok = false;
        goto unavailable_claims;
    }
    b->kafka_ok = true;
    if (item_cnt(b) && settle(b, t->name, claims, true))
        cp_log(CP_LOG_WARNING, "BRIDGE",
               "tenant %s: events delivered but not marked in Redis; a "
               "redelivery may repeat them",
               t->name);
    b->ack_us_sum += (uint64_t)(cp_mono_us() - t0);
    b->ack_cnt++;
    b->produced += fresh;
    dups += b->out.skipped;
    b->duplicates += dups;
    b->dead_letters += dead;
    b->ignored += b->out.ignored;
    free(claims);
    snprintf(answer, answer_size,
             "{\"events\":%zu,\"duplicates\":%zu,\"dead_letters\":%zu,"
             "\"ignored\":%zu}\n",
             fresh, dups, dead, b->out.ignored);
    return 200;

unavailable_claims:
    if (claims && item_cnt(b))
        settle(b, t->name, claims, false);
unavailable:
    free(claims);
    return 503;
fail:
    free(claims);
    cp_log(CP_LOG_ERR, "BRIDGE", "tenant %s: %s", t->name, cp_rc_name(rc));
    return 500;
}

static enum MHD_Result hook(struct cp_bridge *b, struct MHD_Connection *conn,
                            const char *url, struct req *rq)
{
    char crm_s[64], tenant_s[128], secret_s[256], why[CP_MAP_REASON_MAX];
    const char *body = rq->body.data ? rq->body.data : "";
    const struct cp_tenant *t;
    size_t ti;
    int crm;
    char answer[256];
    unsigned status;

    if (!split_hook(url, crm_s, tenant_s, secret_s, 128) ||
        (crm = cp_crm_parse(crm_s)) < 0) {
        count(b, -1, 404);
        return reply(conn, 404, CT_TEXT,
                     "not found: POST /hooks/<bitrix24|amocrm|hubspot|"
                     "pipedrive>/<tenant>\n",
                     NULL);
    }
    t = cp_tenants_find(b->tenants, tenant_s);
    if (!t || (int)t->crm != crm || (secret_s[0] && t->crm != CP_CRM_AMOCRM)) {
        count(b, crm, 404);
        return reply(conn, 404, CT_TEXT,
                     "not found: no such tenant for this CRM\n", NULL);
    }
    ti = (size_t)(t - cp_tenants_get(b->tenants, 0));
    if (rq->too_big) {
        count(b, crm, 413);
        return reply(conn, 413, CT_TEXT, "payload too large\n", NULL);
    }
    /* Authentication first: forged requests must not spend the tenant's
     * rate (and a 401 costs one HMAC at most). */
    if (!authenticate(b, conn, t, url, secret_s, rq, why, sizeof(why))) {
        b->auth_failures++;
        count(b, crm, 401);
        log_auth_failure(b, t, why);
        return reply(conn, 401, CT_TEXT, "unauthorized\n", NULL);
    }
    if (!take_token(b, ti)) {
        count(b, crm, 429);
        return reply(conn, 429, CT_TEXT, "too many requests\n", "1");
    }

    status = deliver(b, t, body, rq->body.len, answer, sizeof(answer));
    count(b, crm, status);
    if (status == 200)
        return reply(conn, 200, CT_JSON, answer, NULL);
    if (status == 503)
        return reply(conn, 503, CT_TEXT,
                     "unavailable: Kafka, Redis or the CRM's API did not "
                     "answer; retry\n",
                     "5");
    return reply(conn, 500, CT_TEXT, "internal error\n", NULL);
}

/* ---- ops endpoints ---- */

static enum MHD_Result serve_metrics(struct cp_bridge *b,
                                     struct MHD_Connection *conn)
{
    struct cp_rest_stats rs;
    struct MHD_Response *resp;
    struct cp_buf buf;
    enum MHD_Result ret;

    cp_rest_stats(b->rest, &rs);
    cp_buf_init(&buf, METRICS_MAX);
    cp_buf_printf(&buf,
                  "# HELP crmpulse_bridge_requests_total Webhook requests by "
                  "CRM and answer.\n"
                  "# TYPE crmpulse_bridge_requests_total counter\n");
    for (int c = 0; c <= CP_CRM_CNT; c++)
        for (size_t i = 0; i < CODE_CNT; i++)
            if (b->requests[c][i] || c < CP_CRM_CNT)
                cp_buf_printf(&buf,
                              "crmpulse_bridge_requests_total{crm=\"%s\","
                              "code=\"%u\"} %llu\n",
                              c < CP_CRM_CNT ? cp_crm_name(c) : "none",
                              codes[i], (unsigned long long)b->requests[c][i]);
    cp_buf_printf(
        &buf,
        "# HELP crmpulse_bridge_events_total Events by what became of them.\n"
        "# TYPE crmpulse_bridge_events_total counter\n"
        "crmpulse_bridge_events_total{result=\"produced\"} %llu\n"
        "crmpulse_bridge_events_total{result=\"duplicate\"} %llu\n"
        "crmpulse_bridge_events_total{result=\"dead_letter\"} %llu\n"
        "crmpulse_bridge_events_total{result=\"ignored\"} %llu\n"
        "# HELP crmpulse_bridge_auth_failures_total Requests answered 401.\n"
        "# TYPE crmpulse_bridge_auth_failures_total counter\n"
        "crmpulse_bridge_auth_failures_total %llu\n"
        "# HELP crmpulse_bridge_rest_total Vendor REST fetches.\n"
        "# TYPE crmpulse_bridge_rest_total counter\n"
        "crmpulse_bridge_rest_total{result=\"fetch\"} %llu\n"
        "crmpulse_bridge_rest_total{result=\"retry\"} %llu\n"
        "crmpulse_bridge_rest_total{result=\"failure\"} %llu\n"
        "# HELP crmpulse_bridge_request_seconds Time from authenticated "
        "request to Kafka ack, for 2xx answers.\n"
        "# TYPE crmpulse_bridge_request_seconds summary\n"
        "crmpulse_bridge_request_seconds_sum %.6f\n"
        "crmpulse_bridge_request_seconds_count %llu\n"
        "# HELP crmpulse_bridge_up Dependency reachable at the last use.\n"
        "# TYPE crmpulse_bridge_up gauge\n"
        "crmpulse_bridge_up{dependency=\"kafka\"} %d\n"
        "crmpulse_bridge_up{dependency=\"redis\"} %d\n"
        "# HELP crmpulse_build_info Build of this process.\n"
        "# TYPE crmpulse_build_info gauge\n"
        "crmpulse_build_info{version=\"%s\",program=\"crmpulse-bridge\"} 1\n",
        (unsigned long long)b->produced, (unsigned long long)b->duplicates,
        (unsigned long long)b->dead_letters, (unsigned long long)b->ignored,
        (unsigned long long)b->auth_failures, (unsigned long long)rs.fetches,
        (unsigned long long)rs.retries, (unsigned long long)rs.failures,
        (double)b->ack_us_sum / 1e6, (unsigned long long)b->ack_cnt,
        b->kafka_ok, b->redis_ok, CP_VERSION);
    if (!buf.data) {
        cp_buf_cleanup(&buf);
        return reply(conn, 500, CT_TEXT, "out of memory\n", NULL);
    }
    resp = MHD_create_response_from_buffer(buf.len, buf.data,
                                           MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        cp_buf_cleanup(&buf);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4");
    ret = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result serve_ready(struct cp_bridge *b,
                                   struct MHD_Connection *conn)
{
    if (!redis(b))
        return reply(conn, 503, CT_TEXT, "not ready: redis unreachable\n",
                     NULL);
    if (!b->kafka_ok)
        return reply(conn, 503, CT_TEXT,
                     "not ready: kafka did not acknowledge the last "
                     "request\n",
                     NULL);
    return reply(conn, 200, CT_TEXT, "ready\n", NULL);
}

static enum MHD_Result dispatch(struct cp_bridge *b,
                                struct MHD_Connection *conn, const char *url,
                                const char *method, struct req *rq);

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    struct cp_bridge *b = cls;
    struct req *rq = *req_cls;
    enum MHD_Result ret;

    (void)version;
    if (!rq) {
        rq = calloc(1, sizeof(*rq));
        if (!rq)
            return MHD_NO;
        cp_buf_init(&rq->body, (size_t)b->cfg->bridge_body_max);
        *req_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!rq->too_big &&
            cp_buf_append(&rq->body, upload_data, *upload_data_size))
            rq->too_big = true; /* keep reading, answer 413 at the end */
        *upload_data_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&b->work);
    ret = dispatch(b, conn, url, method, rq);
    pthread_mutex_unlock(&b->work);
    return ret;
}

/* The whole request is in: answer it (under b->work). */
static enum MHD_Result dispatch(struct cp_bridge *b,
                                struct MHD_Connection *conn, const char *url,
                                const char *method, struct req *rq)
{
    if (!strcmp(method, MHD_HTTP_METHOD_POST) && !strncmp(url, "/hooks/", 7))
        return hook(b, conn, url, rq);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        count(b, -1, 405);
        return reply(conn, 405, CT_TEXT,
                     "method not allowed: POST /hooks/..., GET /metrics "
                     "/healthz /readyz\n",
                     NULL);
    }
    if (!strcmp(url, "/healthz"))
        return reply(conn, 200, CT_TEXT, "ok\n", NULL);
    if (!strcmp(url, "/readyz"))
        return serve_ready(b, conn);
    if (!strcmp(url, "/metrics"))
        return serve_metrics(b, conn);
    count(b, -1, 404);
    return reply(conn, 404, CT_TEXT, "not found\n", NULL);
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct req *rq = *req_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (rq) {
        cp_buf_cleanup(&rq->body);
        free(rq);
        *req_cls = NULL;
    }
}

/* ---- lifecycle ---- */

static bool parse_listen(const char *listen, char *host, size_t host_size,
                         char *port, size_t port_size)
{
    const char *colon = strrchr(listen, ':');
    size_t hl;

    if (!colon || colon == listen)
        return false;
    hl = (size_t)(colon - listen);
    if (hl >= host_size || strlen(colon + 1) >= port_size || !colon[1] ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return false;
    if (listen[0] == '[') { /* "[::1]:8088" */
        if (hl < 3 || listen[hl - 1] != ']')
            return false;
        listen++;
        hl -= 2;
    }
    memcpy(host, listen, hl);
    host[hl] = '\0';
    strcpy(port, colon + 1);
    return true;
}

/* ---- schema registry ---- */

/* With schema.registry.url: the ids the registry gives our event and
 * dead-letter schemas under <topic>-value (registered unless
 * schema.registry.auto.register = false), which they are framed with, so a
 * worker reading by registry id finds exactly these schemas. */
static cp_rc register_outputs(struct cp_bridge *b, char *errstr,
                              size_t errstr_size)
{
    const struct cp_config *cfg = b->cfg;
    char ev_subject[300], dl_subject[300];
    uint32_t ev_id = 0, dl_id = 0;
    struct cp_registry *reg;
    cp_rc rc;

    if (!cfg->registry_url || !cfg->registry_url[0])
        return CP_OK;
    if (cfg->codec_raw) {
        snprintf(errstr, errstr_size,
                 "schema.registry.url needs codec.framing=confluent (raw "
                 "messages carry no schema id)");
        return CP_ECONFIG;
    }
    reg = cp_registry_from_config(cfg, errstr, errstr_size);
    if (!reg)
        return CP_ECONFIG;
    snprintf(ev_subject, sizeof(ev_subject), "%s-value", cfg->topic_events);
    snprintf(dl_subject, sizeof(dl_subject), "%s-value", cfg->topic_dlq);
    rc = cp_registry_id_for(
        reg, ev_subject, cp_schema_json(CP_SCHEMA_ID_CRM_EVENT),
        cfg->registry_auto_register != 0, &ev_id, errstr, errstr_size);
    if (!rc)
        rc = cp_registry_id_for(
            reg, dl_subject, cp_schema_json(CP_SCHEMA_ID_DEAD_LETTER),
            cfg->registry_auto_register != 0, &dl_id, errstr, errstr_size);
    cp_registry_destroy(reg);
    if (rc)
        return rc == CP_ENOMEM ? rc : CP_ECONFIG;
    cp_codec_set_output_ids(b->codec, ev_id, 0, dl_id);
    cp_log(CP_LOG_NOTICE, "BRIDGE",
           "schema registry: events framed with id %u (%s), dead letters "
           "with id %u (%s)",
           (unsigned)ev_id, ev_subject, (unsigned)dl_id, dl_subject);
    return CP_OK;
}

struct cp_bridge *cp_bridge_new(const struct cp_config *cfg, char *errstr,
                                size_t errstr_size)
{
    struct cp_rest_opts ro = {cfg->bridge_rest_timeout_ms,
                              cfg->bridge_rest_attempts,
                              cfg->bridge_rest_backoff_ms};
    struct addrinfo hints = {0}, *ai = NULL;
    const union MHD_DaemonInfo *info;
    const char *bootstrap = cfg->kafka_bootstrap;
    struct cp_kv *props = NULL;
    char host[256], port[8], tmo[32];
    struct cp_bridge *b;

    b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    b->cfg = cfg;
    b->kafka_ok = true;
    pthread_mutex_init(&b->work, NULL);
    cp_map_out_init(&b->out);
    cp_cmds_init(&b->cmds);
    cp_buf_init(&b->val, 0);
    if (!cfg->bridge_tenants[0]) {
        snprintf(errstr, errstr_size,
                 "bridge.tenants is empty (fix: -X bridge.tenants=FILE, the "
                 "tenants file; see deploy/bridge.conf)");
        goto fail;
    }
    b->tenants = cp_tenants_load(cfg->bridge_tenants, errstr, errstr_size);
    if (!b->tenants)
        goto fail;
    b->buckets = calloc(cp_tenants_count(b->tenants), sizeof(*b->buckets));
    b->offline = calloc(cp_tenants_count(b->tenants), sizeof(*b->offline));
    if (!b->buckets || !b->offline) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (cp_redis_url_parse(cfg->redis_url, &b->rurl, errstr, errstr_size))
        goto fail;
    if (!strcmp(bootstrap, "embedded")) {
        const char *topics[] = {cfg->topic_events, cfg->topic_alerts,
                                cfg->topic_dlq};

        b->emb = cp_embedded_new(cfg->embedded_partitions, topics, 3, errstr,
                                 errstr_size);
        if (!b->emb)
            goto fail;
        bootstrap = cp_embedded_bootstrap(b->emb);
        if (cfg->embedded_bootstrap_file[0]) {
            FILE *fp = fopen(cfg->embedded_bootstrap_file, "w");

            if (!fp || fprintf(fp, "%s\n", bootstrap) < 0 || fclose(fp)) {
                snprintf(errstr, errstr_size,
                         "embedded.bootstrap.file=%s: cannot write: %s",
                         cfg->embedded_bootstrap_file, strerror(errno));
                goto fail;
            }
        }
        cp_log(CP_LOG_WARNING, "BRIDGE",
               "kafka.bootstrap.servers=embedded: an in-process mock "
               "cluster, NOT durable (%s)",
               bootstrap);
    }
    /* A message Kafka has not acknowledged by the request's deadline must
     * fail, not linger in the client and land after the 503 (the CRM's
     * retry would then add it twice). The user's kafka.* settings win. */
    props = calloc(cfg->kafka_prop_cnt + 2, sizeof(*props));
    if (!props) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    snprintf(tmo, sizeof(tmo), "%d", cfg->bridge_ack_timeout_ms);
    props[0].key = (char *)"message.timeout.ms";
    props[0].value = tmo;
    /* Each request waits for its own events: batching across requests
     * cannot happen on one thread, so lingering only adds latency. */
    props[1].key = (char *)"linger.ms";
    props[1].value = (char *)"0";
    if (cfg->kafka_prop_cnt)
        memcpy(props + 2, cfg->kafka_props,
               cfg->kafka_prop_cnt * sizeof(*props));
    b->prod = cp_producer_new(bootstrap, props, cfg->kafka_prop_cnt + 2, errstr,
                              errstr_size);
    free(props);
    if (!b->prod)
        goto fail;
    b->codec =
        cp_codec_new(cfg->codec_raw ? CP_FRAMING_RAW : CP_FRAMING_CONFLUENT,
                     errstr, errstr_size);
    if (!b->codec || register_outputs(b, errstr, errstr_size))
        goto fail;
    b->rest = cp_rest_new(&ro, errstr, errstr_size);
    if (!b->rest)
        goto fail;
    cp_rest_fetcher(b->rest, &b->rest_fetch);
    b->fetch.get = fetch_get;
    b->fetch.delivered = fetch_delivered;
    b->fetch.opaque = b;

    if (!parse_listen(cfg->bridge_listen, host, sizeof(host), port,
                      sizeof(port))) {
        snprintf(errstr, errstr_size,
                 "bridge.listen=%s: expected host:port, e.g. 127.0.0.1:8088",
                 cfg->bridge_listen);
        goto fail;
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &ai)) {
        snprintf(errstr, errstr_size,
                 "bridge.listen=%s: cannot resolve %s (fix: an IP address "
                 "such as 127.0.0.1)",
                 cfg->bridge_listen, host);
        goto fail;
    }
    b->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
            (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
        0, NULL, NULL, handle, b, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->bridge_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->bridge_timeout_s,
        MHD_OPTION_NOTIFY_COMPLETED, completed, b, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!b->daemon) {
        snprintf(errstr, errstr_size,
                 "bridge.listen=%s: cannot listen: %s (fix: choose a free "
                 "port)",
                 cfg->bridge_listen, strerror(errno));
        goto fail;
    }
    info = MHD_get_daemon_info(b->daemon, MHD_DAEMON_INFO_BIND_PORT);
    b->port = info ? info->port : 0;
    cp_log(CP_LOG_NOTICE, "BRIDGE",
           "%zu tenants; webhooks on http://%s%s%s:%d/hooks/<crm>/<tenant>",
           cp_tenants_count(b->tenants), strchr(host, ':') ? "[" : "", host,
           strchr(host, ':') ? "]" : "", b->port);
    return b;

fail:
    cp_bridge_destroy(b);
    return NULL;
}

int cp_bridge_port(const struct cp_bridge *b)
{
    return b->port;
}

/* ---- Bitrix24 offline events (offline.poll) ---- */

/* Records read back per poll (event.offline.get's limit, 50 by default). */
#define OFFLINE_LIMIT 50

static void on_process(void *opaque, size_t i, const struct cp_reply *r)
{
    struct offline *o = opaque;

    (void)i;
    o->process[0] = '\0';
    if (r->type == CP_REPLY_STRING && r->len < sizeof(o->process)) {
        memcpy(o->process, r->str, r->len);
        o->process[r->len] = '\0';
    }
}

/* crm:{T}:bridge:offline:process holds the process id of the records this
 * tenant's bridge took (clear=0) and has not cleared yet, so a restarted
 * bridge asks for exactly those again. @p op: 'G' reads it into @p o, 'S'
 * sets it to o->process, 'D' deletes it. */
static cp_rc offline_process(struct cp_bridge *b, const struct cp_tenant *t,
                             struct offline *o, char op)
{
    char key[512];
    int n = snprintf(key, sizeof(key), "%s:{%s}:bridge:offline:process",
                     b->cfg->redis_prefix, t->name);
    cp_rc rc;

    cp_cmds_reset(&b->cmds);
    cp_cmd_begin(&b->cmds, op == 'S' ? 3 : 2);
    cp_cmd_str(&b->cmds, op == 'G' ? "GET" : op == 'S' ? "SET" : "DEL");
    cp_cmd_arg(&b->cmds, key, (size_t)n);
    if (op == 'S')
        cp_cmd_str(&b->cmds, o->process);
    rc = send_cmds(b);
    if (!rc)
        rc = read_replies(b, 1, op == 'G' ? on_process : NULL, o);
    return rc;
}

/* One offline record as the webhook Bitrix24 would have sent: event name,
 * record id and time; the mapper reads the record back as for a webhook.
 * A record without those is handed over as it is (a dead letter). */
static unsigned offline_record(struct cp_bridge *b, const struct cp_tenant *t,
                               json_t *rec)
{
    const char *name = json_string_value(json_object_get(rec, "EVENT_NAME"));
    const char *stamp = json_string_value(json_object_get(rec, "TIMESTAMP_X"));
    json_t *idv = json_object_get(
        json_object_get(json_object_get(rec, "EVENT_DATA"), "FIELDS"), "ID");
    char id[32], form[512], answer[256], *raw;
    int64_t at;
    unsigned status;
    int n;

    id[0] = '\0';
    if (json_is_integer(idv))
        snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(idv));
    else if (json_is_string(idv) && strlen(json_string_value(idv)) < 32)
        strcpy(id, json_string_value(idv));
    if (name && strlen(name) <= 64 && cp_id_valid(name, strlen(name)) &&
        cp_id_valid(id, strlen(id)) && stamp &&
        !cp_parse_utc_time(stamp, &at) && at >= 1000) {
        n = snprintf(form, sizeof(form),
                     "event=%s&data%%5BFIELDS%%5D%%5BID%%5D=%s&ts=%lld%s%s",
                     name, id, (long long)(at / 1000),
                     t->account ? "&auth%5Bmember_id%5D=" : "",
                     t->account ? t->account : "");
        return deliver(b, t, form, (size_t)n, answer, sizeof(answer));
    }
    raw = json_dumps(rec, JSON_COMPACT);
    if (!raw)
        return 500;
    status = deliver(b, t, raw, strlen(raw), answer, sizeof(answer));
    free(raw);
    return status;
}

/* Takes the tenant's queued records (clear=0: Bitrix24 keeps them under
 * our process id), delivers each like a webhook, and clears them only
 * once all are acknowledged; on any failure they are asked for again,
 * with the same process id, at the next poll. Under b->work. */
static void offline_poll(struct cp_bridge *b, const struct cp_tenant *t,
                         struct offline *o)
{
    char path[256], why[CP_MAP_REASON_MAX];
    const char *process;
    json_t *root = NULL, *res, *records, *rec;
    struct cp_buf body;
    unsigned status = 200;
    size_t i;

    if (!o->loaded) {
        if (offline_process(b, t, o, 'G'))
            return;
        o->loaded = true;
    }
    snprintf(path, sizeof(path), "/event.offline.get.json?clear=0&limit=%d%s%s",
             OFFLINE_LIMIT, o->process[0] ? "&process_id=" : "", o->process);
    cp_buf_init(&body, (size_t)16 << 20);
    if (b->rest_fetch.get(b->rest_fetch.opaque, t, path, &body, why,
                          sizeof(why))) {
        cp_log(CP_LOG_WARNING, "BRIDGE",
               "tenant %s: event.offline.get: %s (asked again in %lld s)",
               t->name, why, (long long)(t->offline_poll_ms / 1000));
        goto out;
    }
    root = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
    res = json_object_get(root, "result");
    records = json_object_get(res, "events");
    process = json_string_value(json_object_get(res, "process_id"));
    if (!json_is_array(records)) {
        cp_log(CP_LOG_WARNING, "BRIDGE",
               "tenant %s: event.offline.get answered without "
               "result.events (asked again in %lld s)",
               t->name, (long long)(t->offline_poll_ms / 1000));
        goto out;
    }
    if (!json_array_size(records))
        goto out;
    if (!process || !process[0] || strlen(process) >= sizeof(o->process)) {
        cp_log(CP_LOG_WARNING, "BRIDGE",
               "tenant %s: event.offline.get gave records without a "
               "process_id; they are left in the queue",
               t->name);
        goto out;
    }
    if (strcmp(process, o->process) != 0) {
        strcpy(o->process, process);
        if (offline_process(b, t, o, 'S'))
            goto out; /* asked again under the same id next time */
    }
    json_array_foreach(records, i, rec)
    {
        status = offline_record(b, t, rec);
        if (status != 200)
            break;
    }
    if (status != 200) {
        cp_log(CP_LOG_WARNING, "BRIDGE",
               "tenant %s: offline record not delivered (%u); the queue's "
               "records are asked again in %lld s",
               t->name, status, (long long)(t->offline_poll_ms / 1000));
        goto out;
    }
    snprintf(path, sizeof(path), "/event.offline.clear.json?process_id=%s",
             o->process);
    cp_buf_reset(&body);
    if (b->rest_fetch.get(b->rest_fetch.opaque, t, path, &body, why,
                          sizeof(why))) {
        /* Delivered but still queued: the next poll reads them again and
         * the ids already delivered make them duplicates, not events. */
        cp_log(CP_LOG_WARNING, "BRIDGE", "tenant %s: event.offline.clear: %s",
               t->name, why);
        goto out;
    }
    cp_log(CP_LOG_INFO, "BRIDGE", "tenant %s: %zu offline records delivered",
           t->name, json_array_size(records));
    o->process[0] = '\0';
    offline_process(b, t, o, 'D');
out:
    json_decref(root);
    cp_buf_cleanup(&body);
}

static void offline_tick(struct cp_bridge *b)
{
    int64_t now = cp_mono_ms();

    for (size_t i = 0; i < cp_tenants_count(b->tenants); i++) {
        const struct cp_tenant *t = cp_tenants_get(b->tenants, i);
        struct offline *o = &b->offline[i];

        if (!t->offline_poll_ms || now < o->due_ms)
            continue;
        pthread_mutex_lock(&b->work);
        offline_poll(b, t, o);
        pthread_mutex_unlock(&b->work);
        o->due_ms = cp_mono_ms() + t->offline_poll_ms;
    }
}

cp_rc cp_bridge_run(struct cp_bridge *b, volatile sig_atomic_t *stop)
{
    while (!*stop) {
        offline_tick(b);
        cp_sleep_ms(100);
    }
    cp_log(CP_LOG_NOTICE, "BRIDGE", "stopping: no new requests");
    /* MHD_stop_daemon waits for the request being served: its events are
     * acknowledged or its 503 sent before the process exits. */
    MHD_stop_daemon(b->daemon);
    b->daemon = NULL;
    return CP_OK;
}

void cp_bridge_destroy(struct cp_bridge *b)
{
    if (!b)
        return;
    if (b->daemon)
        MHD_stop_daemon(b->daemon);
    cp_rest_destroy(b->rest);
    cp_codec_destroy(b->codec);
    cp_producer_destroy(b->prod);
    cp_embedded_destroy(b->emb);
    cp_rconn_destroy(b->redis);
    cp_redis_url_cleanup(&b->rurl);
    cp_tenants_destroy(b->tenants);
    free(b->buckets);
    free(b->offline);
    pthread_mutex_destroy(&b->work);
    cp_map_out_cleanup(&b->out);
    cp_cmds_cleanup(&b->cmds);
    cp_buf_cleanup(&b->val);
    free(b->dl_ids);
    free(b);
}
