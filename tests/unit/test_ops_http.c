/* SPDX-License-Identifier: Apache-2.0 */
/* Operations endpoint on an ephemeral loopback port, spoken to by a plain
 * socket client: /metrics, /healthz, /readyz flipping between 200 and 503,
 * 404, 405, HEAD, IPv6, the connection bound, and the listen-address
 * errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <signal.h>
#include <criterion/new/assert.h>

#include "http.h"
#include "metrics.h"

static int truthy(int cond)
{
    return cond != 0;
}

static void assert_str_eq(const char *got, const char *want)
{
    cr_assert(eq(str, (char *)got, (char *)want));
}

static struct cp_metrics *m;
static struct cp_http *http;

static void setup(void)
{
    char errstr[256] = "";

    m = cp_metrics_new("9.9.9", errstr, sizeof(errstr));
    cr_assert(truthy(m != NULL), "%s", errstr);
    http = cp_http_start("127.0.0.1:0", m, errstr, sizeof(errstr));
    cr_assert(truthy(http != NULL), "cp_http_start: %s", errstr);
    cr_assert(truthy(cp_http_port(http) > 0));
}

static void teardown(void)
{
    cp_http_stop(http);
    cp_metrics_destroy(m);
}

TestSuite(ops_http, .init = setup, .fini = teardown, .timeout = 30);

/* ---- a plain HTTP/1.1 client ---- */

struct resp {
    int status;      /* 0 when no status line came */
    char head[2048]; /* status line and headers */
    char *body;      /* malloc'd, NUL-terminated */
    size_t body_len;
};

static int connect_to(int family, int port)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    struct timeval tv = {.tv_sec = 5};
    int fd = socket(family, SOCK_STREAM, 0);

    cr_assert(truthy(fd >= 0));
    if (family == AF_INET6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        a6->sin6_addr = in6addr_loopback;
        len = sizeof(*a6);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;

        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*a4);
    }
    cr_assert(eq(int, connect(fd, (struct sockaddr *)&ss, len), 0),
              "connect: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void send_request(int fd, const char *method, const char *path)
{
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: localhost\r\n"
                     "Connection: close\r\n\r\n",
                     method, path);

    cr_assert(eq(sz, (size_t)write(fd, req, (size_t)n), (size_t)n));
}

/* Reads until the server closes (Connection: close) and splits the reply. */
static void read_response(int fd, struct resp *r)
{
    size_t cap = 1 << 16, len = 0;
    char *raw = malloc(cap);
    char *sep;
    ssize_t n;

    cr_assert(truthy(raw != NULL));
    for (;;) {
        if (len + 1 == cap) {
            cap *= 2;
            raw = realloc(raw, cap);
            cr_assert(truthy(raw != NULL));
        }
        n = read(fd, raw + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    raw[len] = '\0';
    memset(r, 0, sizeof(*r));
    sep = strstr(raw, "\r\n\r\n");
    if (sep) {
        size_t hlen = (size_t)(sep - raw);

        if (hlen >= sizeof(r->head))
            hlen = sizeof(r->head) - 1;
        memcpy(r->head, raw, hlen);
        sscanf(raw, "HTTP/1.%*d %d", &r->status);
        r->body_len = len - (size_t)(sep + 4 - raw);
        r->body = malloc(r->body_len + 1);
        memcpy(r->body, sep + 4, r->body_len + 1);
    } else {
        r->body = calloc(1, 1);
    }
    free(raw);
}

static void request_on(int family, int port, const char *method,
                       const char *path, struct resp *r)
{
    int fd = connect_to(family, port);

    send_request(fd, method, path);
    read_response(fd, r);
    close(fd);
}

static void request(const char *method, const char *path, struct resp *r)
{
    request_on(AF_INET, cp_http_port(http), method, path, r);
}

static bool header_has(const struct resp *r, const char *name,
                       const char *value)
{
    char want[256];

    snprintf(want, sizeof(want), "\r\n%s: %s", name, value);
    return strstr(r->head, want) != NULL;
}

/* ---- endpoints ---- */

Test(ops_http, metrics_answers_200_with_the_exposition)
{
    struct resp r;

    cp_metrics_event(m, CP_METRICS_APPLIED, 7);
    cp_metrics_partition_set(m, "crm.events", 3, 11, -1);
    request("GET", "/metrics", &r);
    cr_assert(eq(int, r.status, 200), "%s", r.head);
    cr_assert(truthy(header_has(&r, "Content-Type",
                                "text/plain; version=0.0.4; charset=utf-8")),
              "%s", r.head);
    cr_assert(truthy(strstr(r.body, "\ncrmpulse_events_total{result=\""
                                    "applied\"} 7\n") != NULL),
              "%s", r.body);
    cr_assert(
        truthy(strstr(r.body, "crmpulse_consumer_lag_messages{topic="
                              "\"crm.events\",partition=\"3\"} 11\n") != NULL));
    cr_assert(truthy(strstr(r.body, "crmpulse_build_info{version=\"9.9.9\"}"
                                    " 1\n") != NULL));
    free(r.body);
}

Test(ops_http, healthz_answers_ok)
{
    struct resp r;

    request("GET", "/healthz", &r);
    cr_assert(eq(int, r.status, 200), "%s", r.head);
    assert_str_eq(r.body, "ok\n");
    free(r.body);
}

Test(ops_http, readyz_flips_between_503_and_200)
{
    struct resp r;

    request("GET", "/readyz", &r);
    cr_assert(eq(int, r.status, 503), "%s", r.head);
    assert_str_eq(r.body, "not ready: starting\n");
    free(r.body);

    cp_metrics_set_ready(m, true, NULL);
    request("GET", "/readyz", &r);
    cr_assert(eq(int, r.status, 200), "%s", r.head);
    assert_str_eq(r.body, "ready\n");
    free(r.body);

    cp_metrics_set_ready(m, false, "redis unreachable");
    request("GET", "/readyz", &r);
    cr_assert(eq(int, r.status, 503), "%s", r.head);
    assert_str_eq(r.body, "not ready: redis unreachable\n");
    free(r.body);

    request("GET", "/metrics", &r);
    cr_assert(truthy(strstr(r.body, "\ncrmpulse_ready 0\n") != NULL));
    free(r.body);
}

Test(ops_http, unknown_paths_answer_404)
{
    struct resp r;

    request("GET", "/nope", &r);
    cr_assert(eq(int, r.status, 404), "%s", r.head);
    free(r.body);
    request("GET", "/metrics/extra", &r);
    cr_assert(eq(int, r.status, 404), "%s", r.head);
    free(r.body);
    /* a query string does not change the path */
    request("GET", "/healthz?verbose=1", &r);
    cr_assert(eq(int, r.status, 200), "%s", r.head);
    free(r.body);
}

Test(ops_http, other_methods_answer_405_with_allow)
{
    static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH"};
    struct resp r;

    for (size_t i = 0; i < CP_ARRAY_SIZE(methods); i++) {
        request(methods[i], "/metrics", &r);
        cr_assert(eq(int, r.status, 405), "%s: %s", methods[i], r.head);
        cr_assert(truthy(header_has(&r, "Allow", "GET, HEAD")), "%s", r.head);
        free(r.body);
    }
}

Test(ops_http, head_answers_headers_without_a_body)
{
    struct resp r;

    request("HEAD", "/metrics", &r);
    cr_assert(eq(int, r.status, 200), "%s", r.head);
    cr_assert(eq(sz, r.body_len, (size_t)0));
    free(r.body);
}

Test(ops_http, serves_on_ipv6_loopback)
{
    char errstr[256] = "";
    struct cp_http *h6 = cp_http_start("[::1]:0", m, errstr, sizeof(errstr));
    struct resp r;

    cr_assert(truthy(h6 != NULL), "%s", errstr);
    request_on(AF_INET6, cp_http_port(h6), "GET", "/healthz", &r);
    cr_assert(eq(int, r.status, 200), "%s", r.head);
    assert_str_eq(r.body, "ok\n");
    free(r.body);
    cp_http_stop(h6);
}

/* With every connection slot taken by idle clients, a new client gets no
 * answer; once they go, it is served. */
/* 16 connections that never send a request fill the bound; the next one
 * (a probe) is still answered: the oldest silent connection makes room,
 * and every connection the server holds stays within the bound. */
Test(ops_http, a_full_server_still_answers_a_probe)
{
    enum { LIMIT = 16 }; /* HTTP_MAX_CONNECTIONS in http.c */
    int idle[LIMIT], closed = 0;
    struct resp r;

    for (int i = 0; i < LIMIT; i++)
        idle[i] = connect_to(AF_INET, cp_http_port(http));
    cp_sleep_ms(300); /* all accepted */
    request("GET", "/healthz", &r);
    cr_assert(eq(int, r.status, 200), "%s", r.head);
    free(r.body);
    for (int i = 0; i < LIMIT; i++) {
        struct pollfd pfd = {.fd = idle[i], .events = POLLIN};
        char c;

        if (poll(&pfd, 1, 0) == 1 && read(idle[i], &c, 1) <= 0)
            closed++;
        close(idle[i]);
    }
    cr_assert(truthy(closed >= 1), "the oldest silent one made room");
}

/* A client that connects and says nothing is dropped once the header
 * deadline passes (2 s, HTTP_HEADER_DEADLINE_MS in http.c). */
Test(ops_http, silent_connections_are_closed_after_the_header_deadline)
{
    int fd = connect_to(AF_INET, cp_http_port(http));
    struct timeval tv = {.tv_sec = 20};
    int64_t t0 = cp_mono_ms(), waited;
    char c;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cr_assert(truthy(read(fd, &c, 1) <= 0), "no EOF: %s", strerror(errno));
    waited = cp_mono_ms() - t0;
    cr_assert(truthy(waited >= 1900 && waited < 5000), "closed after %lld ms",
              (long long)waited);
    close(fd);
}

/* 20 clients trickle a request a byte at a time (a byte a second, each
 * resetting an idle timeout): /healthz and /readyz still answer before
 * any deadline could have freed a slot, all along, and the trickling
 * connections are cut by the header deadline however often they send. */
Test(ops_http, slow_clients_do_not_starve_the_probes)
{
    enum { SLOW = 20 };
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
    int slow[SLOW], cut = 0;
    size_t sent = 0;
    int64_t t0 = cp_mono_ms();

    for (int i = 0; i < SLOW; i++) {
        slow[i] = connect_to(AF_INET, cp_http_port(http));
        cr_assert(eq(int, (int)write(slow[i], req, 1), 1));
    }
    sent = 1;
    while (cp_mono_ms() - t0 < 4500) {
        struct resp r;
        int64_t t = cp_mono_ms();

        request("GET", "/healthz", &r);
        cr_assert(eq(int, r.status, 200), "%s", r.head);
        free(r.body);
        request("GET", "/readyz", &r);
        cr_assert(truthy(r.status == 200 || r.status == 503), "%s", r.head);
        free(r.body);
        /* Starved probes wait for a deadline (2 s) or MHD's timeout
         * (10 s); a loaded machine under ASan may add a few hundred ms
         * to a served one. */
        cr_assert(truthy(cp_mono_ms() - t < 1900), "probes took %lld ms",
                  (long long)(cp_mono_ms() - t));
        /* one more byte on every slow connection (ignoring those cut) */
        signal(SIGPIPE, SIG_IGN);
        for (int i = 0; i < SLOW; i++)
            if (write(slow[i], req + sent % (sizeof(req) - 1), 1) != 1)
                continue;
        sent++;
        cp_sleep_ms(1000);
    }
    for (int i = 0; i < SLOW; i++) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
        char c;
        ssize_t n;

        setsockopt(slow[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        errno = 0;
        n = read(slow[i], &c, 1);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            cut++;
        close(slow[i]);
    }
    cr_assert(eq(int, cut, SLOW), "%d of %d trickling connections cut", cut,
              SLOW);
}

/* ---- start errors ---- */

Test(ops_http, a_port_in_use_is_a_clear_error)
{
    char listen[64], errstr[256] = "", want[256];
    struct cp_http *second;

    snprintf(listen, sizeof(listen), "127.0.0.1:%d", cp_http_port(http));
    second = cp_http_start(listen, m, errstr, sizeof(errstr));
    cr_assert(truthy(second == NULL));
    snprintf(want, sizeof(want),
             "http.listen=%s: address in use (fix: choose another port or "
             "set http.listen= to turn it off)",
             listen);
    assert_str_eq(errstr, want);
}

Test(ops_http, bad_listen_values_are_refused)
{
    static const char *const bad[] = {
        "nonsense",     "127.0.0.1",    ":9464",   "127.0.0.1:",
        "::1:9464",     "[::1]9464",    "[::1]:",  "127.0.0.1:65536",
        "127.0.0.1:9x", "127.0.0.1:-1", "[]:9464",
    };
    char errstr[256];

    for (size_t i = 0; i < CP_ARRAY_SIZE(bad); i++) {
        errstr[0] = '\0';
        cr_expect(
            truthy(cp_http_start(bad[i], m, errstr, sizeof(errstr)) == NULL),
            "accepted %s", bad[i]);
        cr_expect(truthy(strstr(errstr, "expected host:port") != NULL),
                  "%s: %s", bad[i], errstr);
        cr_expect(truthy(strncmp(errstr, "http.listen=", 12) == 0), "%s",
                  errstr);
    }
}

Test(ops_http, an_address_of_another_host_is_a_clear_error)
{
    char errstr[256] = "";

    /* TEST-NET-1: never configured on a test machine */
    cr_assert(truthy(cp_http_start("192.0.2.1:0", m, errstr, sizeof(errstr)) ==
                     NULL));
    cr_assert(truthy(strstr(errstr, "http.listen=192.0.2.1:0: not an "
                                    "address of this host") != NULL),
              "%s", errstr);
}

Test(ops_http, an_empty_listen_turns_the_endpoint_off)
{
    char errstr[256] = "";
    struct cp_http *off = cp_http_start("", m, errstr, sizeof(errstr));

    cr_assert(truthy(off != NULL), "%s", errstr);
    cr_assert(eq(int, cp_http_port(off), 0));
    cp_http_stop(off);
    cp_http_stop(NULL);
    cr_assert(eq(int, cp_http_port(NULL), 0));
}
