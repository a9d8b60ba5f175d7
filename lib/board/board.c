/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-board's HTTP side on libmicrohttpd: one thread per connection,
 * so a slow SSE browser only ever blocks its own thread; request sizes,
 * connections and SSE streams are bounded. Routes: the embedded page,
 * /api/... (board_api.c), /api/events (hub.c), /api/stats, /healthz. */
#include "board.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <jansson.h>
#include <microhttpd.h>

#include "board_api.h"
#include "board_int.h"
#include "ids.h"
#include "log.h"

#define REQUEST_MEMORY  (32 * 1024)  /* headers + URL of one request */
#define THREAD_STACK    (512 * 1024) /* per connection thread */
#define SSE_BLOCK       4096         /* bytes handed to MHD per read */
#define STATUS_EVERY_MS 60000

struct cp_board {
    const struct cp_config *cfg; /* borrowed */
    struct cp_board_limits lim;
    struct cp_board_api *api; /* owned */
    struct cp__hub *hub;      /* owned */
    struct MHD_Daemon *mhd;   /* owned */
    int port;
    int64_t started_ms;
};

/* One SSE stream: what the content reader and its free callback get. */
struct sse_stream {
    struct cp_board *b;        /* borrowed */
    struct cp__sse_client *cl; /* registered with b->hub */
    int fd;                    /* the connection's socket (MHD's), or -1 */
};

void cp_board_limits_default(struct cp_board_limits *lim)
{
    lim->max_connections = 1024;
    lim->max_sse = 256;
    lim->sse_queue_bytes = 64 * 1024;
    lim->cache_ms = 1000;
    lim->heartbeat_ms = 15000;
    lim->timeout_s = 60;
}

/* ---- responses ---- */

static enum MHD_Result send_response(struct MHD_Connection *conn,
                                     unsigned status, struct MHD_Response *r,
                                     const char *type)
{
    enum MHD_Result ret;

    if (!r)
        return MHD_NO; /* out of memory: MHD closes the connection */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* @p body is malloc'ed JSON (or NULL when out of memory); taken. */
static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status,
                                 char *body)
{
    struct MHD_Response *r;

    if (!body)
        return MHD_NO;
    r = MHD_create_response_from_buffer(strlen(body), body,
                                        MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    /* Numbers move every second: never cache; any page may read them. */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "2");
    return send_response(conn, status, r, "application/json; charset=utf-8");
}

static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status,
                                  const char *msg)
{
    json_t *j = json_pack("{s:s}", "error", msg);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    return send_json(conn, status, body);
}

static enum MHD_Result send_asset(struct MHD_Connection *conn,
                                  const struct cp__board_asset *a)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        a->len, (void *)(uintptr_t)a->data, MHD_RESPMEM_PERSISTENT);

    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    /* Everything the page needs is served here: no CDN, nothing inline but
     * style attributes of the SVG charts. */
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; "
                            "style-src 'self' 'unsafe-inline'");
    return send_response(conn, MHD_HTTP_OK, r, a->content_type);
}

/* ---- SSE ---- */

/* A browser that went away is noticed within a second, not at the next
 * heartbeat, so its place among max_sse frees at once. Peeking does not
 * disturb MHD: in thread-per-connection mode only this thread reads. */
static int peer_closed(int fd)
{
    char c;

    return fd >= 0 && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    static const char ping[] = ": ping\n\n";
    struct sse_stream *s = cls;
    int waited = 0, hb = s->b->lim.heartbeat_ms;
    long n = 0;

    (void)pos;
    while (waited < hb) {
        int slice = hb - waited < 1000 ? hb - waited : 1000;

        n = cp__hub_read(s->b->hub, s->cl, buf, max, slice);
        if (n)
            break;
        waited += slice;
        if (peer_closed(s->fd))
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (n == -1)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR; /* dropped: too slow */
    if (n == 0) {
        /* Idle: a comment keeps proxies and the idle timeout from closing
         * the stream, and finds dead peers. */
        n = (long)(max < sizeof(ping) - 1 ? max : sizeof(ping) - 1);
        memcpy(buf, ping, (size_t)n);
    }
    return (ssize_t)n;
}

static void sse_free(void *cls)
{
    struct sse_stream *s = cls;

    cp__hub_leave(s->b->hub, s->cl);
    free(s);
}

static enum MHD_Result serve_events(struct cp_board *b,
                                    struct MHD_Connection *conn)
{
    const char *tenant =
        MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "tenant");
    struct MHD_Response *r;
    struct sse_stream *s;

    if (!tenant)
        tenant = "";
    /* "" streams every tenant. */
    if (*tenant && !cp_id_valid(tenant, strlen(tenant)))
        return send_error(conn, MHD_HTTP_BAD_REQUEST,
                          "tenant: expected 1-64 of [A-Za-z0-9._-]");
    s = calloc(1, sizeof(*s));
    if (!s)
        return MHD_NO;
    s->b = b;
    s->fd = -1;
    {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

        if (ci)
            s->fd = ci->connect_fd;
    }
    s->cl = cp__hub_join(b->hub, tenant);
    if (!s->cl) {
        free(s);
        return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                          "too many live streams; retry later");
    }
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK, sse_read,
                                          s, sse_free);
    if (!r) {
        sse_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    return send_response(conn, MHD_HTTP_OK, r, "text/event-stream");
}

static enum MHD_Result serve_stats(struct cp_board *b,
                                   struct MHD_Connection *conn)
{
    struct cp__hub_stats st;
    json_t *j;
    char *body;

    cp__hub_get_stats(b->hub, &st);
    j = json_pack("{s:i, s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "sse_clients",
                  st.clients, "redis_subscribed", st.connected,
                  "pubsub_messages", (json_int_t)st.messages, "sse_dropped",
                  (json_int_t)st.dropped, "sse_rejected",
                  (json_int_t)st.rejected, "subscription_connects",
                  (json_int_t)st.reconnects, "redis_commands",
                  (json_int_t)cp_board_api_redis_commands(b->api), "uptime_ms",
                  (json_int_t)(cp_mono_ms() - b->started_ms));
    body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return send_json(conn, MHD_HTTP_OK, body);
}

/* ---- routing ---- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    struct cp_board *b = cls;
    const char *path = url;

    (void)version;
    (void)upload;
    (void)req_cls;
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                          "read-only: GET or HEAD");
    if (*upload_size) /* a GET with a body: nothing here takes one */
        return send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                          "request body not accepted");
    if (!strcmp(path, "/"))
        path = "/index.html";
    for (const struct cp__board_asset *a = cp__board_assets; a->path; a++)
        if (!strcmp(path, a->path))
            return send_asset(conn, a);
    if (!strcmp(path, "/api/events"))
        return serve_events(b, conn);
    if (!strcmp(path, "/api/stats"))
        return serve_stats(b, conn);
    if (!strcmp(path, "/healthz"))
        return send_json(conn, MHD_HTTP_OK, strdup("{\"ok\":true}"));
    if (!strcmp(path, "/favicon.ico"))
        return send_response(
            conn, MHD_HTTP_NO_CONTENT,
            MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT),
            "image/x-icon");
    if (!strncmp(path, "/api/", 5)) {
        const char *date =
            MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "date");
        char *body = NULL;
        int status = cp_board_api_get(b->api, path, date, &body);

        return send_json(conn, (unsigned)status, body);
    }
    return send_error(conn, MHD_HTTP_NOT_FOUND, "not found");
}

__attribute__((format(printf, 2, 0))) static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t len;

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    len = strlen(msg);
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = '\0';
    /* Every stream we end on purpose (browser gone, or too slow) reports
     * an "application error": routine, so only at debug level. */
    if (strstr(msg, "application error"))
        cp_log(CP_LOG_DEBUG, "HTTP", "%s", msg);
    else
        cp_log(CP_LOG_NOTICE, "HTTP", "%s", msg);
}

/* host:port or [v6]:port -> a socket address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss,
                        int *is_v6, char *errstr, size_t errstr_size)
{
    char host[256];
    const char *port, *h = listen;
    size_t hlen;
    struct addrinfo hints, *res = NULL;
    int rc;

    if (*h == '[') {
        const char *close = strchr(h, ']');

        if (!close || close[1] != ':')
            goto bad;
        h++;
        hlen = (size_t)(close - h);
        port = close + 2;
    } else {
        const char *colon = strrchr(h, ':');

        if (!colon)
            goto bad;
        hlen = (size_t)(colon - h);
        port = colon + 1;
    }
    if (hlen == 0 || hlen >= sizeof(host) || !*port)
        goto bad;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc || !res) {
        snprintf(errstr, errstr_size, "board.listen \"%s\": %s", listen,
                 rc ? gai_strerror(rc) : "no address");
        if (res)
            freeaddrinfo(res);
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *is_v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return 0;
bad:
    snprintf(errstr, errstr_size,
             "board.listen \"%s\": expected host:port or [v6addr]:port, "
             "e.g. 127.0.0.1:8080",
             listen);
    return -1;
}

struct cp_board *cp_board_new(const struct cp_config *cfg,
                              const struct cp_board_limits *lim, char *errstr,
                              size_t errstr_size)
{
    struct cp_board *b = calloc(1, sizeof(*b));
    struct sockaddr_storage ss;
    const union MHD_DaemonInfo *info;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                     MHD_USE_ERROR_LOG;
    int is_v6 = 0;

    if (!b) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    b->cfg = cfg;
    b->started_ms = cp_mono_ms();
    if (lim)
        b->lim = *lim;
    else
        cp_board_limits_default(&b->lim);
    memset(&ss, 0, sizeof(ss));
    if (parse_listen(cfg->board_listen, &ss, &is_v6, errstr, errstr_size))
        goto fail;
    b->api = cp_board_api_new(cfg->redis_url, cfg->redis_prefix,
                              b->lim.cache_ms, errstr, errstr_size);
    if (!b->api)
        goto fail;
    b->hub = cp__hub_new(cfg->redis_url, cfg->redis_prefix, b->lim.max_sse,
                         b->lim.sse_queue_bytes, errstr, errstr_size);
    if (!b->hub)
        goto fail;
    if (is_v6)
        flags |= MHD_USE_IPv6;
    b->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, b,
        /* The logger first, so no message goes to MHD's own stderr. */
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, (void *)NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)b->lim.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)b->lim.timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)REQUEST_MEMORY, MHD_OPTION_THREAD_STACK_SIZE,
        (size_t)THREAD_STACK, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
        MHD_OPTION_END);
    if (!b->mhd) {
        snprintf(errstr, errstr_size,
                 "listen on %s: cannot bind (port in use? set board.listen)",
                 cfg->board_listen);
        goto fail;
    }
    info = MHD_get_daemon_info(b->mhd, MHD_DAEMON_INFO_BIND_PORT);
    b->port = info ? (int)info->port : 0;
    return b;

fail:
    cp_board_destroy(b);
    return NULL;
}

int cp_board_port(const struct cp_board *b)
{
    return b->port;
}

cp_rc cp_board_run(struct cp_board *b, volatile sig_atomic_t *stop)
{
    int64_t next = cp_mono_ms() + STATUS_EVERY_MS;

    while (!*stop) {
        cp_sleep_ms(200);
        if (cp_mono_ms() >= next) {
            struct cp__hub_stats st;

            cp__hub_get_stats(b->hub, &st);
            cp_log(CP_LOG_INFO, "BOARD",
                   "status: %d live streams, subscription %s, %llu messages "
                   "relayed, %llu streams dropped as too slow, %llu refused, "
                   "%llu redis commands",
                   st.clients, st.connected ? "up" : "DOWN",
                   (unsigned long long)st.messages,
                   (unsigned long long)st.dropped,
                   (unsigned long long)st.rejected,
                   (unsigned long long)cp_board_api_redis_commands(b->api));
            next += STATUS_EVERY_MS;
        }
    }
    return CP_OK;
}

void cp_board_destroy(struct cp_board *b)
{
    if (!b)
        return;
    /* Streams first: MHD_stop_daemon joins connection threads, and an SSE
     * thread only returns once its stream has ended. */
    if (b->hub)
        cp__hub_shutdown(b->hub);
    if (b->mhd)
        MHD_stop_daemon(b->mhd);
    cp__hub_destroy(b->hub);
    cp_board_api_destroy(b->api);
    free(b);
}
