/* SPDX-License-Identifier: Apache-2.0 */
/* The SSE hub: ONE Redis connection PSUBSCRIBEd to `<prefix>:{*}:live` and
 * `<prefix>:{*}:alerts`, shared by every browser. Each message becomes an
 * SSE frame copied into the bounded queue of every browser that wants its
 * tenant; the subscriber never waits for a browser: a full queue drops that
 * browser, which reconnects and re-reads the API. */
#include "board_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "log.h"
#include "keys.h"

#define PAYLOAD_MAX   65536 /* larger pub/sub messages are skipped */
#define BACKOFF_MIN   100   /* ms, first reconnect delay */
#define BACKOFF_MAX   5000  /* ms, longest reconnect delay */
#define PING_EVERY_MS 30000 /* keeps the subscription provably alive */
#define DEAD_AFTER_MS 65000 /* nothing read for this long: reconnect */

struct cp__sse_client {
    struct cp__sse_client *prev, *next; /* hub list, under hub->mu */
    char tenant[65];                    /* "" = every tenant */
    pthread_cond_t cond;                /* signalled when bytes arrive */
    char *ring;                         /* owned; queued SSE bytes */
    size_t head, len;                   /* ring[head..head+len) mod cap */
    int dropped;                        /* queue overflowed: end the stream */
};

struct cp__hub {
    struct cp_redis_url url; /* owned */
    char address[300];       /* for messages, no secret */
    char *prefix;            /* owned */
    int max_clients;
    size_t queue_bytes; /* ring size of each client */

    pthread_mutex_t mu;  /* guards everything below */
    pthread_cond_t wake; /* interrupts the subscriber's backoff sleep */
    struct cp__sse_client *clients;
    int stopping;    /* HTTP is shutting down: streams end */
    int stop_thread; /* the subscriber must exit */
    struct cp__hub_stats stats;

    pthread_t thread;
    int thread_started;
};

static void abs_deadline(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static int cond_init_mono(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

/* ---- client queues (hub->mu held) ---- */

static void ring_push(struct cp__hub *hub, struct cp__sse_client *cl,
                      const char *data, size_t len)
{
    size_t cap = hub->queue_bytes;

    if (cl->dropped)
        return;
    if (cap - cl->len < len) {
        /* A browser this far behind would show stale numbers anyway; it
         * reconnects and re-reads the hashes. */
        cl->dropped = 1;
        hub->stats.dropped++;
        pthread_cond_signal(&cl->cond);
        return;
    }
    {
        size_t tail = (cl->head + cl->len) % cap;
        size_t first = len < cap - tail ? len : cap - tail; /* up to the end */

        memcpy(cl->ring + tail, data, first);
        memcpy(cl->ring, data + first, len - first); /* wrapped part */
    }
    cl->len += len;
    pthread_cond_signal(&cl->cond);
}

static size_t ring_pop(struct cp__hub *hub, struct cp__sse_client *cl,
                       char *buf, size_t max)
{
    size_t cap = hub->queue_bytes, n = cl->len < max ? cl->len : max;
    size_t first = n < cap - cl->head ? n : cap - cl->head; /* to the end */

    memcpy(buf, cl->ring + cl->head, first);
    memcpy(buf + first, cl->ring, n - first);
    cl->head = (cl->head + n) % cap;
    cl->len -= n;
    return n;
}

/* Queues @p frame for every client that wants tenant @p t (NULL = all). */
static void deliver(struct cp__hub *hub, const char *t, size_t tlen,
                    const char *frame, size_t len)
{
    pthread_mutex_lock(&hub->mu);
    for (struct cp__sse_client *cl = hub->clients; cl; cl = cl->next) {
        if (t && cl->tenant[0] &&
            (strlen(cl->tenant) != tlen || memcmp(cl->tenant, t, tlen)))
            continue;
        ring_push(hub, cl, frame, len);
    }
    pthread_mutex_unlock(&hub->mu);
}

/* ---- the subscription ---- */

/* Whether [close, end) is "}:" then @p segment. */
static int is_suffix(const char *close, const char *end, const char *segment)
{
    size_t n = strlen(segment);

    return (size_t)(end - close) == 2 + n && !memcmp(close, "}:", 2) &&
           !memcmp(close + 2, segment, n);
}

/* `<prefix>:{T}:live` or `<prefix>:{T}:alerts` -> T and the event name. */
static int parse_channel(const struct cp__hub *hub, const char *ch, size_t len,
                         const char **t, size_t *tlen, const char **event)
{
    size_t plen = strlen(hub->prefix);
    const char *close, *end = ch + len;

    if (len < plen + 4 || memcmp(ch, hub->prefix, plen) || ch[plen] != ':' ||
        ch[plen + 1] != '{')
        return -1;
    *t = ch + plen + 2;
    close = memchr(*t, '}', (size_t)(end - *t));
    if (!close || close == *t)
        return -1;
    *tlen = (size_t)(close - *t);
    if (is_suffix(close, end, CP_KSEG_LIVE_CHANNEL))
        *event = "live";
    else if (is_suffix(close, end, CP_KSEG_ALERTS_CHANNEL))
        *event = "alert";
    else
        return -1;
    return 0;
}

/* One pub/sub message -> `event: E\ndata: ...\n\n`. A newline inside the
 * payload starts another data line, which EventSource joins back. */
static void on_message(struct cp__hub *hub, const struct cp_reply *reply)
{
    struct cp_reply kind, ch, m;
    const struct cp_reply *msg = &m;
    const char *t, *event;
    size_t tlen, n = 0;
    char *frame;

    cp_reply_element(reply, 0, &kind);
    if (reply->type != CP_REPLY_ARRAY || reply->elements != 4 ||
        kind.type != CP_REPLY_STRING || kind.len != 8 ||
        memcmp(kind.str, "pmessage", 8))
        return; /* subscribe confirmations, PING replies */
    cp_reply_element(reply, 2, &ch);
    cp_reply_element(reply, 3, &m);
    if (ch.type != CP_REPLY_STRING || msg->type != CP_REPLY_STRING ||
        msg->len > PAYLOAD_MAX ||
        parse_channel(hub, ch.str, ch.len, &t, &tlen, &event))
        return;
    pthread_mutex_lock(&hub->mu);
    hub->stats.messages++;
    pthread_mutex_unlock(&hub->mu);
    /* Worst case every byte is a newline turning into "\ndata: ". */
    frame = malloc(32 + msg->len * 7);
    if (!frame)
        return;
    n += (size_t)sprintf(frame, "event: %s\ndata: ", event);
    for (size_t i = 0; i < msg->len; i++) {
        if (msg->str[i] == '\r')
            continue;
        if (msg->str[i] == '\n') {
            memcpy(frame + n, "\ndata: ", 7);
            n += 7;
        } else {
            frame[n++] = msg->str[i];
        }
    }
    frame[n++] = '\n';
    frame[n++] = '\n';
    deliver(hub, t, tlen, frame, n);
    free(frame);
}

static int stop_requested(struct cp__hub *hub)
{
    int stop;

    pthread_mutex_lock(&hub->mu);
    stop = hub->stop_thread;
    pthread_mutex_unlock(&hub->mu);
    return stop;
}

static void sleep_unless_stopped(struct cp__hub *hub, int ms)
{
    struct timespec ts;

    abs_deadline(&ts, ms);
    pthread_mutex_lock(&hub->mu);
    while (!hub->stop_thread &&
           pthread_cond_timedwait(&hub->wake, &hub->mu, &ts) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&hub->mu);
}

/* Sends one command of @p argc words. */
static cp_rc send_words(struct cp_rconn *conn, int argc, const char **words)
{
    struct cp_cmds cmds;
    cp_rc rc;

    cp_cmds_init(&cmds);
    cp_cmd_begin(&cmds, argc);
    for (int i = 0; i < argc; i++)
        cp_cmd_str(&cmds, words[i]);
    rc = cp_rconn_send(conn, &cmds);
    cp_cmds_cleanup(&cmds);
    return rc;
}

/* Reads messages until the connection fails or the hub stops. Reads wait
 * half a second at most so a stop request is seen soon. */
static void pump(struct cp__hub *hub, struct cp_rconn *conn)
{
    static const char *ping[] = {"PING"};
    int64_t last_rx = cp_mono_ms(), last_ping = last_rx;

    for (;;) {
        struct cp_rconn_reply *reply = NULL;
        int64_t now;

        if (stop_requested(hub))
            return;
        if (cp_rconn_read(conn, 500, &reply))
            return;
        now = cp_mono_ms();
        if (reply) {
            struct cp_reply view;

            cp_rconn_reply_view(reply, &view);
            on_message(hub, &view);
            cp_rconn_reply_free(reply);
            last_rx = now;
        } else if (now - last_rx > DEAD_AFTER_MS) {
            cp_log(CP_LOG_WARNING, "BOARD",
                   "redis subscription %s silent for %d s: reconnecting",
                   hub->address, DEAD_AFTER_MS / 1000);
            return;
        }
        if (now - last_ping >= PING_EVERY_MS) {
            last_ping = now;
            if (send_words(conn, 1, ping))
                return;
        }
    }
}

static void *subscriber(void *arg)
{
    static const char resync[] = "event: resync\ndata: {}\n\n";
    struct cp__hub *hub = arg;
    int backoff = BACKOFF_MIN, warned = 0;
    char errstr[512], live[300], alerts[300];
    const char *psubscribe[3] = {"PSUBSCRIBE", live, alerts};

    snprintf(live, sizeof(live), "%s:{*}:" CP_KSEG_LIVE_CHANNEL, hub->prefix);
    snprintf(alerts, sizeof(alerts), "%s:{*}:" CP_KSEG_ALERTS_CHANNEL,
             hub->prefix);
    while (!stop_requested(hub)) {
        struct cp_rconn *conn =
            cp_rconn_new_node(&hub->url, 2000, errstr, sizeof(errstr));

        if (conn && send_words(conn, 3, psubscribe)) {
            snprintf(errstr, sizeof(errstr), "redis psubscribe %s: %s",
                     hub->address, cp_rconn_errstr(conn));
            cp_rconn_destroy(conn);
            conn = NULL;
        }
        if (!conn) {
            if (!warned++) /* once per outage, not once per retry */
                cp_log(CP_LOG_WARNING, "BOARD", "%s; retrying", errstr);
            sleep_unless_stopped(hub, backoff);
            backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
            continue;
        }
        cp_log(CP_LOG_INFO, "BOARD",
               "subscribed to %s:{*}:live and alerts on %s", hub->prefix,
               hub->address);
        backoff = BACKOFF_MIN;
        warned = 0;
        pthread_mutex_lock(&hub->mu);
        hub->stats.connected = 1;
        hub->stats.reconnects++;
        pthread_mutex_unlock(&hub->mu);
        /* Messages published while we were away are lost: pages re-read. */
        deliver(hub, NULL, 0, resync, sizeof(resync) - 1);
        pump(hub, conn);
        cp_rconn_destroy(conn);
        pthread_mutex_lock(&hub->mu);
        hub->stats.connected = 0;
        pthread_mutex_unlock(&hub->mu);
        if (!stop_requested(hub)) {
            cp_log(CP_LOG_WARNING, "BOARD", "redis subscription %s lost",
                   hub->address);
            sleep_unless_stopped(hub, backoff);
        }
    }
    return NULL;
}

/* ---- public (board-internal) API ---- */

cp_rc cp__board_redis_url(const char *redis_url, const char *cluster_nodes,
                          struct cp_redis_url *url, char *address,
                          size_t address_size, char *errstr, size_t errstr_size)
{
    char why[512];
    cp_rc rc = cp_redis_url_parse(redis_url, url, why, sizeof(why));

    if (rc) {
        snprintf(errstr, errstr_size, "redis.url: %s", why);
        return rc;
    }
    rc = cp_redis_url_set_cluster(url, cluster_nodes, errstr, errstr_size);
    if (rc) {
        cp_redis_url_cleanup(url);
        return rc;
    }
    if (url->cluster_nodes)
        snprintf(address, address_size, "cluster %s", url->cluster_nodes);
    else
        cp_redis_url_address(url, address, address_size);
    return CP_OK;
}

struct cp__hub *cp__hub_new(const char *redis_url, const char *cluster_nodes,
                            const char *prefix, int max_clients,
                            size_t queue_bytes, char *errstr,
                            size_t errstr_size)
{
    struct cp__hub *hub = calloc(1, sizeof(*hub));

    if (!hub) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&hub->mu, NULL);
    cond_init_mono(&hub->wake);
    hub->max_clients = max_clients;
    hub->queue_bytes = queue_bytes;
    hub->prefix = strdup(prefix);
    if (!hub->prefix) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (cp__board_redis_url(redis_url, cluster_nodes, &hub->url, hub->address,
                            sizeof(hub->address), errstr, errstr_size))
        goto fail;
    if (pthread_create(&hub->thread, NULL, subscriber, hub)) {
        snprintf(errstr, errstr_size, "start the subscriber thread: %s",
                 strerror(errno));
        goto fail;
    }
    hub->thread_started = 1;
    return hub;

fail:
    cp__hub_destroy(hub);
    return NULL;
}

struct cp__sse_client *cp__hub_join(struct cp__hub *hub, const char *tenant)
{
    struct cp__sse_client *cl = calloc(1, sizeof(*cl));
    char hello[128];
    int n;

    if (!cl)
        return NULL;
    cl->ring = malloc(hub->queue_bytes);
    if (!cl->ring || cond_init_mono(&cl->cond)) {
        free(cl->ring);
        free(cl);
        return NULL;
    }
    snprintf(cl->tenant, sizeof(cl->tenant), "%s", tenant ? tenant : "");
    pthread_mutex_lock(&hub->mu);
    if (hub->stopping || hub->stats.clients >= hub->max_clients) {
        hub->stats.rejected++;
        pthread_mutex_unlock(&hub->mu);
        pthread_cond_destroy(&cl->cond);
        free(cl->ring);
        free(cl);
        return NULL;
    }
    cl->next = hub->clients;
    if (hub->clients)
        hub->clients->prev = cl;
    hub->clients = cl;
    hub->stats.clients++;
    /* retry: how soon EventSource reconnects; hello: whether live updates
     * flow right now. */
    n = snprintf(hello, sizeof(hello),
                 "retry: 2000\nevent: hello\ndata: {\"redis\":%s}\n\n",
                 hub->stats.connected ? "true" : "false");
    ring_push(hub, cl, hello, (size_t)n);
    pthread_mutex_unlock(&hub->mu);
    return cl;
}

long cp__hub_read(struct cp__hub *hub, struct cp__sse_client *cl, char *buf,
                  size_t max, int wait_ms)
{
    struct timespec ts;
    long n = 0;

    abs_deadline(&ts, wait_ms);
    pthread_mutex_lock(&hub->mu);
    while (!cl->len && !cl->dropped && !hub->stopping)
        if (pthread_cond_timedwait(&cl->cond, &hub->mu, &ts) == ETIMEDOUT)
            break;
    if (cl->dropped)
        n = -2;
    else if (cl->len)
        n = (long)ring_pop(hub, cl, buf, max);
    else if (hub->stopping)
        n = -1;
    pthread_mutex_unlock(&hub->mu);
    return n;
}

void cp__hub_leave(struct cp__hub *hub, struct cp__sse_client *cl)
{
    if (!cl)
        return;
    pthread_mutex_lock(&hub->mu);
    if (cl->prev)
        cl->prev->next = cl->next;
    else
        hub->clients = cl->next;
    if (cl->next)
        cl->next->prev = cl->prev;
    hub->stats.clients--;
    pthread_mutex_unlock(&hub->mu);
    pthread_cond_destroy(&cl->cond);
    free(cl->ring);
    free(cl);
}

void cp__hub_shutdown(struct cp__hub *hub)
{
    pthread_mutex_lock(&hub->mu);
    hub->stopping = 1;
    for (struct cp__sse_client *cl = hub->clients; cl; cl = cl->next)
        pthread_cond_signal(&cl->cond);
    pthread_mutex_unlock(&hub->mu);
}

void cp__hub_get_stats(struct cp__hub *hub, struct cp__hub_stats *out)
{
    pthread_mutex_lock(&hub->mu);
    *out = hub->stats;
    pthread_mutex_unlock(&hub->mu);
}

void cp__hub_destroy(struct cp__hub *hub)
{
    if (!hub)
        return;
    if (hub->thread_started) {
        pthread_mutex_lock(&hub->mu);
        hub->stop_thread = 1;
        pthread_cond_signal(&hub->wake);
        pthread_mutex_unlock(&hub->mu);
        pthread_join(hub->thread, NULL);
    }
    while (hub->clients) /* only if HTTP was not stopped first */
        cp__hub_leave(hub, hub->clients);
    cp_redis_url_cleanup(&hub->url);
    free(hub->prefix);
    pthread_cond_destroy(&hub->wake);
    pthread_mutex_destroy(&hub->mu);
    free(hub);
}
