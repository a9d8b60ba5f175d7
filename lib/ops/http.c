/* SPDX-License-Identifier: Apache-2.0 */
/* /metrics, /healthz and /readyz on libmicrohttpd's internal polling thread.
 * Only this file includes <microhttpd.h>. */
#include "http.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"

/* Bounds: a scrape is one short request; nothing here grows with input.
 * A slow client (a byte every few seconds) must not starve the probes: a
 * request's headers must arrive within HTTP_HEADER_DEADLINE_MS of the
 * connection (or of the previous answer on it), an answer must be taken
 * within HTTP_SEND_DEADLINE_MS, whatever trickles in meanwhile; and a new
 * connection beyond HTTP_MAX_CONNECTIONS closes the oldest one still
 * waiting for its headers, so /healthz is answered even then. */
#define HTTP_MAX_CONNECTIONS 16u /* Prometheus, a probe, an operator */
/* MHD's own bound: room beside those for connections being closed. */
#define HTTP_HARD_CONNECTIONS   (2 * HTTP_MAX_CONNECTIONS)
#define HTTP_TIMEOUT_S          10u /* idle or slow clients are dropped */
#define HTTP_HEADER_DEADLINE_MS 2000
#define HTTP_SEND_DEADLINE_MS   10000
#define HTTP_REAP_EVERY_MS      100
#define HTTP_CONN_MEMORY        ((size_t)32 * 1024) /* request line + headers */
#define HTTP_BACKLOG            16u
#define HTTP_METRICS_MAX        ((size_t)16 << 20) /* a rendering bug, not data */
#define HTTP_LOG_EVERY_MS       10000 /* libmicrohttpd's own messages */

#define CT_TEXT    "text/plain; charset=utf-8"
#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"

#define FIX_OFF "set http.listen= to turn it off"

/* One connection MHD holds, as the deadline keeper sees it. */
struct slot {
    bool used;
    bool in_request;  /* headers in, answer not yet taken */
    bool cut;         /* shut down by us; MHD closes it next */
    int fd;           /* MHD's; shut down (never closed) by us */
    int64_t since_ms; /* start of what the deadline counts */
};

struct cp_http {
    struct MHD_Daemon *daemon; /* owned; NULL when the endpoint is off */
    /* Deadlines: MHD's thread fills the slots (notify callbacks), ours
     * shuts down the sockets that overstay. A slot is freed (under the
     * lock) when MHD reports the connection closed, before MHD closes the
     * socket, so a descriptor we shut down is always still MHD's. */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t reaper;
    bool reaper_started;
    bool stopping; /* under lock */
    struct slot slots[HTTP_HARD_CONNECTIONS];
    uint64_t cut_cnt;     /* connections cut by a deadline or eviction */
    struct cp_metrics *m; /* borrowed from the caller */
    int port;             /* bound port; 0 when off */
    _Atomic bool started; /* MHD's messages go to the log from now on */
    char start_err[256];  /* MHD's last message while starting */
    int64_t log_ms;       /* when the last MHD message was logged */
    uint64_t log_dropped; /* MHD messages dropped since then */
};

/* ---- deadlines ---- */

/* Under lock: shuts @p sl's socket down; MHD sees EOF and closes it. */
static void cut(struct cp_http *http, struct slot *sl)
{
    if (sl->cut)
        return;
    shutdown(sl->fd, SHUT_RDWR);
    sl->cut = true;
    http->cut_cnt++;
}

static void on_connection(void *cls, struct MHD_Connection *conn,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct cp_http *http = cls;
    struct slot *sl = *socket_context, *oldest = NULL;
    const union MHD_ConnectionInfo *info;
    unsigned live = 0;

    pthread_mutex_lock(&http->lock);
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (sl)
            memset(sl, 0, sizeof(*sl));
        pthread_mutex_unlock(&http->lock);
        return;
    }
    info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    for (size_t i = 0; i < HTTP_HARD_CONNECTIONS; i++) {
        struct slot *s = &http->slots[i];

        if (!s->used) {
            if (!sl)
                sl = s;
            continue;
        }
        if (!s->cut) {
            live++;
            if (!s->in_request && (!oldest || s->since_ms < oldest->since_ms))
                oldest = s;
        }
    }
    if (sl && info) {
        sl->used = true;
        sl->fd = info->connect_fd;
        sl->since_ms = cp_mono_ms();
        *socket_context = sl;
    }
    /* Full: the newcomer may be the probe; the oldest connection still
     * waiting for its headers makes room. */
    if (live >= HTTP_MAX_CONNECTIONS && oldest)
        cut(http, oldest);
    pthread_mutex_unlock(&http->lock);
}

/* The request's headers are in (the handler runs): the answer's deadline
 * starts. */
static void request_started(struct cp_http *http, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct slot *sl = info ? info->socket_context : NULL;

    if (!sl)
        return;
    pthread_mutex_lock(&http->lock);
    sl->in_request = true;
    sl->since_ms = cp_mono_ms();
    pthread_mutex_unlock(&http->lock);
}

/* Answered (or given up): on keep-alive the next request's headers have
 * the header deadline again. */
static void request_done(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct cp_http *http = cls;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct slot *sl = info ? info->socket_context : NULL;

    (void)req_cls;
    (void)toe;
    if (!sl)
        return;
    pthread_mutex_lock(&http->lock);
    sl->in_request = false;
    sl->since_ms = cp_mono_ms();
    pthread_mutex_unlock(&http->lock);
}

static void *reap(void *arg)
{
    struct cp_http *http = arg;

    pthread_mutex_lock(&http->lock);
    while (!http->stopping) {
        struct timespec until;
        int64_t now = cp_mono_ms();

        for (size_t i = 0; i < HTTP_HARD_CONNECTIONS; i++) {
            struct slot *sl = &http->slots[i];
            int64_t limit = sl->in_request ? HTTP_SEND_DEADLINE_MS
                                           : HTTP_HEADER_DEADLINE_MS;

            if (sl->used && now - sl->since_ms > limit)
                cut(http, sl);
        }
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += HTTP_REAP_EVERY_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&http->wake, &http->lock, &until);
    }
    pthread_mutex_unlock(&http->lock);
    return NULL;
}

/* ---- libmicrohttpd glue ---- */

/* MHD reports through this hook. While starting, keep the message for the
 * error returned to the caller; afterwards it comes from the polling thread
 * (the only one, so log_ms needs no lock) and goes to the log, at most one
 * line per HTTP_LOG_EVERY_MS so a misbehaving client cannot flood it. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct cp_http *http = cls;
    char msg[256];
    int64_t now;
    size_t n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    if (!atomic_load(&http->started)) {
        snprintf(http->start_err, sizeof(http->start_err), "%s", msg);
        return;
    }
    now = cp_mono_ms();
    if (http->log_ms && now - http->log_ms < HTTP_LOG_EVERY_MS) {
        http->log_dropped++;
        return;
    }
    if (http->log_dropped)
        cp_log(CP_LOG_WARNING, "HTTP", "%s (and %llu messages dropped)", msg,
               (unsigned long long)http->log_dropped);
    else
        cp_log(CP_LOG_WARNING, "HTTP", "%s", msg);
    http->log_ms = now;
    http->log_dropped = 0;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const char *ctype, char *body, size_t len,
                             enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(len, body, mode);
    if (!resp) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO; /* MHD closes the connection */
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp); /* the queue holds its own reference */
    return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status,
                                  const char *text)
{
    /* MUST_COPY: @p text may be a stack buffer. */
    return reply(conn, status, CT_TEXT, (char *)text, strlen(text),
                 MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result serve_metrics(struct cp_http *http,
                                     struct MHD_Connection *conn)
{
    struct cp_buf buf;
    cp_rc rc;

    /* A fresh buffer per scrape: MHD frees it once the response is sent,
     * which may be after the next scrape has started. */
    cp_buf_init(&buf, HTTP_METRICS_MAX);
    rc = cp_buf_reserve(&buf, 8192);
    if (!rc)
        rc = cp_metrics_render(http->m, &buf);
    if (rc) {
        cp_buf_cleanup(&buf);
        cp_log(CP_LOG_ERR, "HTTP", "render /metrics: %s", cp_rc_name(rc));
        return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          "render metrics: out of memory\n");
    }
    /* buf.data now belongs to the response (MHD free()s it). */
    return reply(conn, MHD_HTTP_OK, CT_METRICS, buf.data, buf.len,
                 MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result serve_ready(struct cp_http *http,
                                   struct MHD_Connection *conn)
{
    char reason[CP_METRICS_REASON_MAX + 1];
    char body[sizeof(reason) + 16];

    if (cp_metrics_ready(http->m, reason, sizeof(reason)))
        return reply_text(conn, MHD_HTTP_OK, "ready\n");
    snprintf(body, sizeof(body), "not ready: %s\n", reason);
    return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    struct cp_http *http = cls;

    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    request_started(http, conn);
    /* Answering on the first call is fine for every method: a request body,
     * if any, is never read and MHD closes such a connection afterwards. */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                          "method not allowed: use GET or HEAD\n");
    /* MHD has already cut the query string off @p url. */
    if (strcmp(url, "/metrics") == 0)
        return serve_metrics(http, conn);
    if (strcmp(url, "/healthz") == 0)
        return reply_text(conn, MHD_HTTP_OK, "ok\n");
    if (strcmp(url, "/readyz") == 0)
        return serve_ready(http, conn);
    return reply_text(conn, MHD_HTTP_NOT_FOUND,
                      "not found: try /metrics, /healthz or /readyz\n");
}

/* ---- listen address ---- */

/* Splits "host:port" or "[v6]:port" into @p host and @p port (0..65535). */
static bool parse_listen(const char *listen, char *host, size_t host_size,
                         char *port, size_t port_size)
{
    const char *h = listen, *hend, *p;
    size_t hlen, plen;

    if (*listen == '[') {
        h = listen + 1;
        hend = strchr(h, ']');
        if (!hend || hend[1] != ':')
            return false;
        p = hend + 2;
    } else {
        hend = strrchr(listen, ':');
        if (!hend || memchr(listen, ':', (size_t)(hend - listen)))
            return false; /* no port, or a bare IPv6 address */
        p = hend + 1;
    }
    hlen = (size_t)(hend - h);
    plen = strlen(p);
    if (hlen == 0 || hlen >= host_size || plen == 0 || plen > 5 ||
        plen >= port_size)
        return false;
    if (strspn(p, "0123456789") != plen || atoi(p) > 65535)
        return false;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, p, plen + 1);
    return true;
}

/* After MHD failed to start: bind the address ourselves, the way MHD does,
 * to learn why in errno terms. @returns the errno, or 0 if it binds. */
static int probe_bind(const struct sockaddr *sa, socklen_t salen)
{
    int fd = socket(sa->sa_family, SOCK_STREAM, 0);
    int one = 1;
    int err = 0;

    if (fd < 0)
        return errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, sa, salen) != 0)
        err = errno;
    close(fd);
    return err;
}

static void start_error(struct cp_http *http, const char *listen,
                        const struct sockaddr *sa, socklen_t salen,
                        char *errstr, size_t errstr_size)
{
    int err = probe_bind(sa, salen);

    switch (err) {
    case 0:
        snprintf(errstr, errstr_size, "http.listen=%s: cannot start: %s",
                 listen,
                 http->start_err[0] ? http->start_err
                                    : "libmicrohttpd failed to start");
        break;
    case EADDRINUSE:
        snprintf(errstr, errstr_size,
                 "http.listen=%s: address in use (fix: choose another port "
                 "or " FIX_OFF ")",
                 listen);
        break;
    case EADDRNOTAVAIL:
        snprintf(errstr, errstr_size,
                 "http.listen=%s: not an address of this host (fix: use a "
                 "local address such as 127.0.0.1, or " FIX_OFF ")",
                 listen);
        break;
    case EACCES:
        snprintf(errstr, errstr_size,
                 "http.listen=%s: permission denied (fix: ports below 1024 "
                 "need privileges; choose a higher port, or " FIX_OFF ")",
                 listen);
        break;
    default:
        snprintf(errstr, errstr_size, "http.listen=%s: %s (" FIX_OFF ")",
                 listen, strerror(err));
        break;
    }
}

/* ---- public API ---- */

struct cp_http *cp_http_start(const char *listen, struct cp_metrics *m,
                              char *errstr, size_t errstr_size)
{
    struct addrinfo hints = {0}, *ai = NULL;
    const union MHD_DaemonInfo *info;
    char host[256], port[8];
    struct cp_http *http;
    unsigned flags;
    int err;

    if (!listen)
        listen = CP_HTTP_DEFAULT_LISTEN;
    http = calloc(1, sizeof(*http));
    if (!http) {
        snprintf(errstr, errstr_size, "http.listen=%s: out of memory", listen);
        return NULL;
    }
    http->m = m;
    atomic_init(&http->started, false);
    pthread_mutex_init(&http->lock, NULL);
    pthread_cond_init(&http->wake, NULL);
    if (!*listen) {
        cp_log(CP_LOG_NOTICE, "HTTP",
               "http.listen is empty: /metrics, /healthz and /readyz are "
               "off");
        return http;
    }
    if (!parse_listen(listen, host, sizeof(host), port, sizeof(port))) {
        snprintf(errstr, errstr_size,
                 "http.listen=%s: expected host:port, e.g. 127.0.0.1:9464 "
                 "or [::1]:9464 (port 0 = any free port; empty = off)",
                 listen);
        goto fail;
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    err = getaddrinfo(host, port, &hints, &ai);
    if (err) {
        snprintf(errstr, errstr_size,
                 "http.listen=%s: cannot resolve %s: %s (fix: use an IP "
                 "address such as 127.0.0.1)",
                 listen, host, gai_strerror(err));
        goto fail;
    }

    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6; /* IPv6 only: MHD sets IPV6_V6ONLY */
    /* The logger goes first so start-up messages are caught too. */
    http->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, http, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
        http, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
        HTTP_HARD_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, HTTP_TIMEOUT_S,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, http,
        MHD_OPTION_NOTIFY_COMPLETED, request_done, http,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONN_MEMORY,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, HTTP_BACKLOG, MHD_OPTION_END);
    if (!http->daemon) {
        start_error(http, listen, ai->ai_addr, ai->ai_addrlen, errstr,
                    errstr_size);
        goto fail;
    }
    atomic_store(&http->started, true);
    if (pthread_create(&http->reaper, NULL, reap, http)) {
        snprintf(errstr, errstr_size, "http.listen=%s: cannot start a thread",
                 listen);
        goto fail;
    }
    http->reaper_started = true;
    info = MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_BIND_PORT);
    http->port = info ? info->port : 0;
    if (http->port == 0) {
        snprintf(errstr, errstr_size,
                 "http.listen=%s: cannot read the bound port", listen);
        goto fail;
    }
    cp_log(CP_LOG_NOTICE, "HTTP",
           "serving /metrics /healthz /readyz on http://%s%s%s:%d/",
           ai->ai_family == AF_INET6 ? "[" : "", host,
           ai->ai_family == AF_INET6 ? "]" : "", http->port);
    freeaddrinfo(ai);
    return http;

fail:
    if (ai)
        freeaddrinfo(ai);
    cp_http_stop(http);
    return NULL;
}

int cp_http_port(const struct cp_http *http)
{
    return http ? http->port : 0;
}

void cp_http_stop(struct cp_http *http)
{
    if (!http)
        return;
    if (http->reaper_started) {
        pthread_mutex_lock(&http->lock);
        http->stopping = true;
        pthread_cond_signal(&http->wake);
        pthread_mutex_unlock(&http->lock);
        pthread_join(http->reaper, NULL);
    }
    if (http->daemon)
        MHD_stop_daemon(http->daemon); /* joins the polling thread */
    pthread_cond_destroy(&http->wake);
    pthread_mutex_destroy(&http->lock);
    free(http);
}
