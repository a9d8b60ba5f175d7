/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-board's HTTP side on libmicrohttpd: one thread per connection,
 * so a slow SSE browser only ever blocks its own thread; request sizes,
 * connections and SSE streams are bounded. Routes: the embedded page,
 * /api/... (board_api.c), /api/events (hub.c), /api/stats, /healthz. */
#include "board.h"

#include <netdb.h>
#include <pthread.h>
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
    struct cp_board_api *api;  /* owned */
    struct cp__hub *hub;       /* owned */
    struct cp__access *access; /* owned: board.token */
    struct MHD_Daemon *mhd;    /* owned */
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

#define COOKIE_NAME "crmpulse_board"

/* One request as the handlers answer it. */
struct request {
    struct cp_board *b;
    struct MHD_Connection *conn;
    const char *scope;     /* the token's only tenant (borrowed); NULL: all */
    const char *new_token; /* a good ?token= to keep in a cookie; NULL */
};

static enum MHD_Result send_response(const struct request *rq, unsigned status,
                                     struct MHD_Response *r, const char *type)
{
    const char *origin = rq->b->cfg->board_cors_origin;
    enum MHD_Result ret;

    if (!r)
        return MHD_NO; /* out of memory: MHD closes the connection */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    /* No other web page may read the board (customers' names and why they
     * may leave) unless one origin is configured. */
    if (origin && *origin) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(r, "Vary", "Origin");
    }
    if (rq->new_token) {
        char cookie[256];

        snprintf(cookie, sizeof(cookie),
                 COOKIE_NAME "=%s; Path=/; Max-Age=31536000; HttpOnly; "
                             "SameSite=Strict",
                 rq->new_token);
        MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
    }
    ret = MHD_queue_response(rq->conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* @p body is malloc'ed JSON (or NULL when out of memory); taken. */
static enum MHD_Result send_json(const struct request *rq, unsigned status,
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
    /* Numbers move every second: never cache. */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "2");
    return send_response(rq, status, r, "application/json; charset=utf-8");
}

static enum MHD_Result send_error(const struct request *rq, unsigned status,
                                  const char *msg)
{
    json_t *j = json_pack("{s:s}", "error", msg);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    return send_json(rq, status, body);
}

static enum MHD_Result send_asset(const struct request *rq,
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
    return send_response(rq, MHD_HTTP_OK, r, a->content_type);
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

static enum MHD_Result serve_events(const struct request *rq)
{
    struct cp_board *b = rq->b;
    struct MHD_Connection *conn = rq->conn;
    const char *tenant =
        MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "tenant");
    struct MHD_Response *r;
    struct sse_stream *s;

    if (!tenant)
        tenant = "";
    /* "" streams every tenant: to a token of one tenant, that tenant. */
    if (!*tenant && rq->scope)
        tenant = rq->scope;
    if (*tenant && !cp_id_valid(tenant, strlen(tenant)))
        return send_error(rq, MHD_HTTP_BAD_REQUEST,
                          "tenant: expected 1-64 of [A-Za-z0-9._-]");
    if (rq->scope && strcmp(tenant, rq->scope))
        return send_error(rq, MHD_HTTP_FORBIDDEN,
                          "this token is for another tenant");
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
        return send_error(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
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
    return send_response(rq, MHD_HTTP_OK, r, "text/event-stream");
}

static enum MHD_Result serve_stats(const struct request *rq)
{
    struct cp_board *b = rq->b;
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
    return send_json(rq, MHD_HTTP_OK, body);
}

/* What the page needs of the settings: the language and each tenant's
 * currency ({"lang":"ru","currency":{"acme":"EUR","*":"USD"}}). A token of
 * one tenant sees that tenant's currency only. */
static enum MHD_Result serve_settings(const struct request *rq)
{
    static const char *const langs[] = {"en", "ru", "uk", "it"};
    const struct cp_config *cfg = rq->b->cfg;
    json_t *cur = json_object(), *j;
    const char *p = cfg->board_currency, *e;
    char *body;
    size_t len;

    while (cur && cp_list_next(&p, &e, &len)) {
        const char *colon = memchr(e, ':', len);
        char tenant[72], code[4];

        /* Checked by the settings: TENANT (or *) ':' three letters. */
        if (colon && (size_t)(colon - e) < sizeof(tenant)) {
            memcpy(tenant, e, (size_t)(colon - e));
            tenant[colon - e] = '\0';
            memcpy(code, colon + 1, 3);
            code[3] = '\0';
            if (!rq->scope || !strcmp(tenant, rq->scope) ||
                !strcmp(tenant, "*"))
                json_object_set_new(cur, tenant, json_string(code));
        }
    }
    j = cur ? json_pack("{s:s, s:s, s:o}", "thresholds", cfg->board_thresholds,
                        "lang",
                        langs[cfg->board_lang >= 0 && cfg->board_lang < 4
                                  ? cfg->board_lang
                                  : 0],
                        "currency", cur)
            : NULL;
    body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return send_json(rq, MHD_HTTP_OK, body);
}

/* ---- access ---- */

/* The token of a request: Authorization: Bearer, the cookie, or ?token=
 * (then *@p from_query is set). NULL when it carries none. */
static const char *request_token(struct MHD_Connection *conn, int *from_query)
{
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    const char *t;

    *from_query = 0;
    if (auth && !strncmp(auth, "Bearer ", 7))
        return auth + 7;
    t = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
    if (t) {
        *from_query = 1;
        return t;
    }
    return MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, COOKIE_NAME);
}

/* Lets @p rq through (scope set), or answers 401 with no data. */
static int admit(struct request *rq, const char *path, enum MHD_Result *answer)
{
    static const char page_msg[] =
        "crmpulse-board: open this page once as /?token=<a token of "
        "board.token>; the browser keeps it in a cookie.\n";
    const struct cp__access *acc = rq->b->access;
    int from_query;
    const char *tok = request_token(rq->conn, &from_query);
    struct MHD_Response *r;

    if (!cp__access_required(acc))
        return 1;
    if (tok && !cp__access_check(acc, tok, strlen(tok), &rq->scope)) {
        if (from_query)
            rq->new_token = tok;
        return 1;
    }
    if (!strncmp(path, "/api/", 5)) {
        *answer = send_error(rq, MHD_HTTP_UNAUTHORIZED,
                             "unauthorized: send a token of board.token "
                             "(Authorization: Bearer, or open /?token= once)");
        return 0;
    }
    r = MHD_create_response_from_buffer(sizeof(page_msg) - 1,
                                        (void *)(uintptr_t)page_msg,
                                        MHD_RESPMEM_PERSISTENT);
    *answer = send_response(rq, MHD_HTTP_UNAUTHORIZED, r,
                            "text/plain; charset=utf-8");
    return 0;
}

/* /api/tenants/T/...: T is the token's tenant, when it has one. */
static int in_scope(const struct request *rq, const char *path)
{
    static const char head[] = "/api/tenants/";
    size_t n = strlen(rq->scope ? rq->scope : "");

    if (!rq->scope || strncmp(path, "/api/tenants", 12))
        return 1;
    if (!strcmp(path, "/api/tenants"))
        return 1; /* answered with the scope alone, see route() */
    return !strncmp(path, head, sizeof(head) - 1) &&
           !strncmp(path + sizeof(head) - 1, rq->scope, n) &&
           path[sizeof(head) - 1 + n] == '/';
}

/* ---- routing ---- */

static enum MHD_Result route(struct request *rq, const char *path)
{
    struct MHD_Connection *conn = rq->conn;
    enum MHD_Result answer = MHD_NO;

    if (!strcmp(path, "/healthz")) /* for orchestrators: no token */
        return send_json(rq, MHD_HTTP_OK, strdup("{\"ok\":true}"));
    if (!strcmp(path, "/favicon.ico"))
        return send_response(
            rq, MHD_HTTP_NO_CONTENT,
            MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT),
            "image/x-icon");
    if (!admit(rq, path, &answer))
        return answer;
    if (!strcmp(path, "/"))
        path = "/index.html";
    for (const struct cp__board_asset *a = cp__board_assets; a->path; a++)
        if (!strcmp(path, a->path))
            return send_asset(rq, a);
    if (!strcmp(path, "/api/events"))
        return serve_events(rq);
    if (!strcmp(path, "/api/stats"))
        return serve_stats(rq);
    if (!strcmp(path, "/api/settings"))
        return serve_settings(rq);
    if (!in_scope(rq, path))
        return send_error(rq, MHD_HTTP_FORBIDDEN,
                          "this token is for another tenant");
    if (rq->scope && !strcmp(path, "/api/tenants")) {
        json_t *j = json_pack("{s:[s], s:I}", "tenants", rq->scope, "now_ms",
                              (json_int_t)cp_now_ms());
        char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;

        json_decref(j);
        return send_json(rq, MHD_HTTP_OK, body);
    }
    if (!strncmp(path, "/api/", 5)) {
        const char *date =
            MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "date");
        char *body = NULL;
        int status = cp_board_api_get(rq->b->api, path, date, &body);

        return send_json(rq, (unsigned)status, body);
    }
    return send_error(rq, MHD_HTTP_NOT_FOUND, "not found");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    struct request rq = {.b = cls, .conn = conn};

    (void)version;
    (void)upload;
    (void)req_cls;
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return send_error(&rq, MHD_HTTP_METHOD_NOT_ALLOWED,
                          "read-only: GET or HEAD");
    if (*upload_size) /* a GET with a body: nothing here takes one */
        return send_error(&rq, MHD_HTTP_CONTENT_TOO_LARGE,
                          "request body not accepted");
    return route(&rq, url);
}

#define HTTP_LOG_WINDOW_MS  10000 /* libmicrohttpd's own messages: */
#define HTTP_LOG_PER_WINDOW 10    /* at most this many per window */

/* A connection storm (refused or aborted connections) makes libmicrohttpd
 * report every one: at most HTTP_LOG_PER_WINDOW lines per window, then one
 * line that counts the rest, so the journal (which drops lines silently
 * under its own rate limit) keeps what matters. */
static int http_log_admit(int64_t now_ms, uint64_t *suppressed)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static int64_t window_start;
    static uint64_t in_window, dropped;
    int ok;

    pthread_mutex_lock(&mu);
    *suppressed = 0;
    if (now_ms - window_start >= HTTP_LOG_WINDOW_MS) {
        *suppressed = dropped;
        window_start = now_ms;
        in_window = dropped = 0;
    }
    ok = in_window++ < HTTP_LOG_PER_WINDOW;
    if (!ok)
        dropped++;
    pthread_mutex_unlock(&mu);
    return ok;
}

__attribute__((format(printf, 2, 0))) static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t len;
    uint64_t suppressed;
    int routine;

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    len = strlen(msg);
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = '\0';
    /* Every stream we end on purpose (browser gone, or too slow) reports
     * an "application error": routine, so only at debug level. */
    routine = strstr(msg, "application error") != NULL;
    if (routine && CP_LOG_DEBUG > cp_log_level)
        return; /* not logged: must not use up the window either */
    if (!http_log_admit(cp_mono_ms(), &suppressed))
        return;
    if (suppressed)
        cp_log(CP_LOG_NOTICE, "HTTP",
               "%llu more HTTP server messages in the last %d s not logged",
               (unsigned long long)suppressed, HTTP_LOG_WINDOW_MS / 1000);
    cp_log(routine ? CP_LOG_DEBUG : CP_LOG_NOTICE, "HTTP", "%s", msg);
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

/* 127.0.0.0/8, ::1 or ::ffff:127.x: only this machine can connect. */
static int is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        const uint8_t *a = in6->sin6_addr.s6_addr;

        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && a[12] == 127;
    }
    return 0;
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
    b->access = cp__access_new(cfg->board_token);
    if (!b->access) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (!is_loopback(&ss) && !cp__access_required(b->access)) {
        snprintf(errstr, errstr_size,
                 "board.listen %s is reachable from other machines and "
                 "board.token is empty: anyone there could read customers' "
                 "names and why they may leave. Set board.token to a long "
                 "random secret (e.g. -X board.token=$(openssl rand -hex 16))"
                 " and open http://<host>:<port>/?token=<it> once on the TV, "
                 "or listen on 127.0.0.1 behind a reverse proxy",
                 cfg->board_listen);
        goto fail;
    }
    b->api = cp_board_api_new_cluster(cfg->redis_url, cfg->redis_cluster_nodes,
                                      cfg->redis_prefix, b->lim.cache_ms,
                                      errstr, errstr_size);
    if (!b->api)
        goto fail;
    b->hub = cp__hub_new(cfg->redis_url, cfg->redis_cluster_nodes,
                         cfg->redis_prefix, b->lim.max_sse,
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
    cp__access_destroy(b->access);
    free(b);
}
