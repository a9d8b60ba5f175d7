/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-board's HTTP side over real sockets, with a real redis-server:
 * the page and API are served, only GET/HEAD are accepted, the SSE stream
 * relays `live` and `alerts` messages filtered by tenant, SSE clients
 * beyond the limit get 503, an idle stream gets heartbeats, and a client
 * that stops reading is dropped without slowing the shared subscription. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "board.h"
#include "config.h"
#include "test_board_util.h"

static int truthy(int cond)
{
    return cond != 0;
}

static struct test_redis rd;
static struct cp_config *cfg;
static struct cp_board *board;
static char errstr[512];

/* Loads settings: redis.url, then each of @p extra (key=value, up to 4). */
static void load_config(const char *const *extra)
{
    char url[200];
    char *argv[16] = {(char *)"test", (char *)"-X", url};
    int argc = 3;

    snprintf(url, sizeof(url), "redis.url=%s", rd.url);
    for (int i = 0; extra && extra[i] && i < 4; i++) {
        argv[argc++] = (char *)"-X";
        argv[argc++] = (char *)extra[i];
    }
    cfg = cp_config_load(argc, argv, NULL, NULL, errstr, sizeof(errstr));
    cr_assert(truthy(cfg != NULL), "%s", errstr);
}

static void start_board_with(const struct cp_board_limits *lim,
                             const char *const *extra)
{
    load_config(extra);
    board = cp_board_new(cfg, lim, errstr, sizeof(errstr));
    cr_assert(truthy(board != NULL), "%s", errstr);
    cr_assert(truthy(cp_board_port(board) > 0));
}

static void start_board(const struct cp_board_limits *lim)
{
    static const char *const loopback[] = {"board.listen=127.0.0.1:0", NULL};

    start_board_with(lim, loopback);
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    cr_assert(eq(int, test_redis_start(&rd), 0), "start redis-server");
}

static void teardown(void)
{
    cp_board_destroy(board);
    board = NULL;
    cp_config_destroy(cfg);
    cfg = NULL;
    test_redis_stop(&rd);
}

TestSuite(board_server, .init = setup, .fini = teardown, .timeout = 60);

/* ---- a tiny HTTP client ---- */

struct conn {
    int fd;
    char buf[65536];
    size_t len;
};

/* Sends a request with @p headers ("Name: value\r\n"..., or ""). */
static void http_open_h(struct conn *c, const char *method, const char *path,
                        int rcvbuf, const char *headers)
{
    struct sockaddr_in sa;
    char req[1024];
    int n;

    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(truthy(c->fd >= 0));
    if (rcvbuf) /* a slow reader: small kernel buffers fill quickly */
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cp_board_port(board));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(eq(int, connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0));
    n = snprintf(req, sizeof(req),
                 "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: "
                 "close\r\n%s\r\n",
                 method, path, headers);
    cr_assert(eq(long, (long)write(c->fd, req, (size_t)n), (long)n));
}

static void http_open(struct conn *c, const char *method, const char *path,
                      int rcvbuf)
{
    http_open_h(c, method, path, rcvbuf, "");
}

/* Reads until @p needle has arrived (1), EOF or @p timeout_ms (0). The
 * buffer keeps the latest bytes when it fills. */
static int http_wait(struct conn *c, const char *needle, int timeout_ms)
{
    int64_t deadline = cp_mono_ms() + timeout_ms;

    for (;;) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int64_t left = deadline - cp_mono_ms();
        ssize_t n;

        c->buf[c->len] = '\0';
        if (strstr(c->buf, needle))
            return 1;
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return 0;
        if (c->len > sizeof(c->buf) - 4097) {
            memmove(c->buf, c->buf + c->len / 2, c->len - c->len / 2);
            c->len -= c->len / 2;
        }
        n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
        if (n <= 0) {
            c->buf[c->len] = '\0';
            return strstr(c->buf, needle) != NULL;
        }
        c->len += (size_t)n;
    }
}

static void http_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* A whole response of a short request with @p headers. */
static void http_get_h(struct conn *c, const char *method, const char *path,
                       const char *headers)
{
    http_open_h(c, method, path, 0, headers);
    http_wait(c, "\x01never\x01", 5000); /* until EOF: Connection: close */
    http_close(c);
}

static void http_get(struct conn *c, const char *method, const char *path)
{
    http_get_h(c, method, path, "");
}

static void assert_has(const struct conn *c, const char *part)
{
    cr_assert(truthy(strstr(c->buf, part) != NULL), "\"%s\" not in:\n%.2000s",
              part, c->buf);
}

static void assert_lacks(const struct conn *c, const char *part)
{
    cr_assert(truthy(strstr(c->buf, part) == NULL), "\"%s\" in:\n%.2000s", part,
              c->buf);
}

static void wait_subscribed_with(const char *headers)
{
    struct conn c;

    for (int i = 0; i < 100; i++) {
        http_get_h(&c, "GET", "/api/stats", headers);
        if (strstr(c.buf, "\"redis_subscribed\":true"))
            return;
        cp_sleep_ms(50);
    }
    cr_assert(truthy(0), "the board never subscribed: %s", c.buf);
}

static void wait_subscribed(void)
{
    wait_subscribed_with("");
}

/* ---- tests ---- */

Test(board_server, serves_page_api_and_refuses_writes)
{
    char key[128], today[11];
    struct conn c;

    start_board(NULL);
    http_get(&c, "GET", "/");
    assert_has(&c, "HTTP/1.1 200");
    assert_has(&c, "<title>crmpulse wallboard</title>");
    assert_has(&c, "Content-Security-Policy: default-src 'self'");
    http_get(&c, "GET", "/board.js");
    assert_has(&c, "Content-Type: text/javascript");
    assert_has(&c, "EventSource");
    http_get(&c, "GET", "/board.css");
    assert_has(&c, "Content-Type: text/css");
    http_get(&c, "GET", "/nothing-here");
    assert_has(&c, "HTTP/1.1 404");
    http_get(&c, "POST", "/api/tenants");
    assert_has(&c, "HTTP/1.1 405");
    http_get(&c, "GET", "/healthz");
    assert_has(&c, "HTTP/1.1 200");

    test_date(today, 0);
    snprintf(key, sizeof(key), "crm:{acme}:d:%s", today);
    test_redis_cmd(&rd, "HSET %s events 42 leads 7", key);
    http_get(&c, "GET", "/api/tenants/acme/today");
    assert_has(&c, "HTTP/1.1 200");
    assert_has(&c, "Content-Type: application/json");
    assert_has(&c, "\"counters\":{\"events\":42,\"leads\":7}");
    http_get(&c, "GET", "/api/tenants");
    assert_has(&c, "\"tenants\":[\"acme\"]");
    http_get(&c, "GET", "/api/tenants/acme/day?date=2026-99-01");
    assert_has(&c, "HTTP/1.1 400");
}

Test(board_server, sse_relays_live_and_alerts_by_tenant)
{
    struct conn a, g, all;

    start_board(NULL);
    wait_subscribed();
    http_open(&a, "GET", "/api/events?tenant=acme", 0);
    http_open(&g, "GET", "/api/events?tenant=globex", 0);
    http_open(&all, "GET", "/api/events", 0);
    cr_assert(
        truthy(http_wait(&a, "event: hello\ndata: {\"redis\":true}", 5000)));
    cr_assert(truthy(http_wait(&g, "event: hello", 5000)));
    cr_assert(truthy(http_wait(&all, "event: hello", 5000)));
    assert_has(&a, "Content-Type: text/event-stream");

    test_redis_cmd(&rd, "PUBLISH crm:{acme}:live %s",
                   "{\"tenant\":\"acme\",\"day\":\"2026-11-29\",\"at\":1,"
                   "\"deltas\":{\"events\":3}}");
    test_redis_cmd(&rd, "PUBLISH crm:{globex}:live %s",
                   "{\"tenant\":\"globex\",\"deltas\":{\"leads\":1}}");
    test_redis_cmd(&rd, "PUBLISH crm:{acme}:alerts %s",
                   "{\"alert_id\":\"x1\",\"tenant_id\":\"acme\"}");
    /* Not ours: another prefix, another channel. */
    test_redis_cmd(&rd, "PUBLISH crm:{acme}:other %s", "{}");

    cr_assert(truthy(http_wait(
        &a,
        "event: live\ndata: {\"tenant\":\"acme\",\"day\":\"2026-11-29\","
        "\"at\":1,\"deltas\":{\"events\":3}}\n\n",
        5000)));
    cr_assert(truthy(http_wait(
        &a,
        "event: alert\ndata: {\"alert_id\":\"x1\",\"tenant_id\":\"acme\"}\n\n",
        5000)));
    cr_assert(truthy(http_wait(&g, "\"tenant\":\"globex\"", 5000)));
    cr_assert(truthy(http_wait(&all, "\"alert_id\":\"x1\"", 5000)));
    assert_has(&all, "\"tenant\":\"globex\"");
    assert_has(&all, "\"deltas\":{\"events\":3}");
    /* globex's stream saw only globex. */
    cr_assert(truthy(strstr(g.buf, "acme") == NULL), "%s", g.buf);
    cr_assert(truthy(strstr(a.buf, "globex") == NULL), "%s", a.buf);
    cr_assert(truthy(strstr(all.buf, "event: other") == NULL));
    http_close(&a);
    http_close(&g);
    http_close(&all);
}

Test(board_server, sse_clients_beyond_the_limit_get_503)
{
    struct cp_board_limits lim;
    struct conn c1, c2, c3, c4;

    cp_board_limits_default(&lim);
    lim.max_sse = 2; /* heartbeat stays 15 s: no write reveals the close */
    start_board(&lim);
    http_open(&c1, "GET", "/api/events", 0);
    http_open(&c2, "GET", "/api/events", 0);
    cr_assert(truthy(http_wait(&c1, "event: hello", 5000)));
    cr_assert(truthy(http_wait(&c2, "event: hello", 5000)));
    http_open(&c3, "GET", "/api/events", 0);
    cr_assert(truthy(http_wait(&c3, "HTTP/1.1 503", 5000)), "%s", c3.buf);
    assert_has(&c3, "Retry-After: 2");
    http_close(&c3);

    /* A closed stream frees its place within a couple of seconds. */
    http_close(&c1);
    /* Retried for 6 s, well before a heartbeat would reveal the close. */
    for (int64_t until = cp_mono_ms() + 6000;;) {
        http_open(&c4, "GET", "/api/events", 0);
        if (http_wait(&c4, "event: hello", 500) || cp_mono_ms() > until)
            break;
        http_close(&c4);
        cp_sleep_ms(200);
    }
    assert_has(&c4, "HTTP/1.1 200");
    http_close(&c2);
    http_close(&c4);
}

Test(board_server, an_idle_stream_gets_heartbeats)
{
    struct cp_board_limits lim;
    struct conn c;

    cp_board_limits_default(&lim);
    lim.heartbeat_ms = 300;
    start_board(&lim);
    http_open(&c, "GET", "/api/events", 0);
    cr_assert(truthy(http_wait(&c, "event: hello", 5000)));
    cr_assert(truthy(http_wait(&c, ": ping\n\n", 3000)), "no heartbeat");
    http_close(&c);
}

Test(board_server, a_client_that_stops_reading_is_dropped_alone)
{
    struct cp_board_limits lim;
    struct conn slow, fresh, stats;
    char payload[2048];
    redisContext *pub;
    struct timeval tv = {5, 0};
    const int msgs = 4000; /* 8 MB: more than any socket buffer holds */

    cp_board_limits_default(&lim);
    lim.sse_queue_bytes = 8192;
    start_board(&lim);
    wait_subscribed();
    http_open(&slow, "GET", "/api/events", 4096);
    cr_assert(truthy(http_wait(&slow, "event: hello", 5000)));

    memset(payload, 'x', sizeof(payload) - 1);
    payload[sizeof(payload) - 1] = '\0';
    pub = redisConnectUnixWithTimeout(rd.sock, tv);
    cr_assert(truthy(pub && !pub->err));
    for (int i = 0; i < msgs; i++)
        redisAppendCommand(pub, "PUBLISH crm:{acme}:live %s", payload);
    for (int i = 0; i < msgs; i++) {
        void *reply = NULL;

        cr_assert(eq(int, redisGetReply(pub, &reply), REDIS_OK));
        freeReplyObject(reply);
    }
    redisFree(pub);

    /* The subscriber got every message although one browser stalled... */
    for (int i = 0; i < 100; i++) {
        http_get(&stats, "GET", "/api/stats");
        if (strstr(stats.buf, "\"pubsub_messages\":4000"))
            break;
        cp_sleep_ms(100);
    }
    assert_has(&stats, "\"pubsub_messages\":4000");
    /* ...which was dropped, not waited for. */
    assert_has(&stats, "\"sse_dropped\":1");

    /* Live updates still flow to everyone else. */
    http_open(&fresh, "GET", "/api/events", 0);
    cr_assert(truthy(http_wait(&fresh, "event: hello", 5000)));
    test_redis_cmd(&rd, "PUBLISH crm:{acme}:live %s", "{\"after\":1}");
    cr_assert(truthy(http_wait(&fresh, "data: {\"after\":1}", 5000)));
    http_close(&fresh);
    http_close(&slow);
}

Test(board_server, bad_listen_address_is_a_constructor_error)
{
    char url[200];
    char *argv[] = {(char *)"test", (char *)"-X", url, (char *)"-X",
                    (char *)"board.listen=nohostport"};
    struct cp_board *b;

    snprintf(url, sizeof(url), "redis.url=%s", rd.url);
    cfg = cp_config_load(5, argv, NULL, NULL, errstr, sizeof(errstr));
    cr_assert(truthy(cfg != NULL), "%s", errstr);
    b = cp_board_new(cfg, NULL, errstr, sizeof(errstr));
    cr_assert(truthy(b == NULL));
    cr_assert(truthy(strstr(errstr, "board.listen") != NULL), "%s", errstr);
}

/* ---- access ---- */

#define TOKEN_ALL  "all-tenants-0123456789"
#define TOKEN_ACME "acme-screen-0123456789"

/* Customers' names and churn reasons are on the board: with board.token set
 * every page, API and SSE request needs a token; a TV keeps the one it was
 * opened with in an HttpOnly cookie; a tenant's token sees that tenant. */
Test(board_server, tokens_guard_every_request_and_scope_a_tenant)
{
    static const char *const settings[] = {
        "board.listen=127.0.0.1:0",
        "board.token=" TOKEN_ALL ", " TOKEN_ACME "@acme", NULL};
    char today[11];
    struct conn c, s;

    test_date(today, 0);
    test_redis_cmd(&rd, "HSET crm:{acme}:d:%s events 42", today);
    test_redis_cmd(&rd, "HSET crm:{globex}:d:%s events 7", today);
    start_board_with(NULL, settings);

    http_get(&c, "GET", "/api/tenants/acme/today");
    assert_has(&c, "HTTP/1.1 401");
    assert_lacks(&c, "\"events\"");
    http_get(&c, "GET", "/");
    assert_has(&c, "HTTP/1.1 401");
    assert_lacks(&c, "<title>");
    http_get(&c, "GET", "/api/events");
    assert_has(&c, "HTTP/1.1 401");
    http_get(&c, "GET", "/?token=wrong-token-0123456789");
    assert_has(&c, "HTTP/1.1 401");
    http_get(&c, "GET", "/healthz");
    assert_has(&c, "HTTP/1.1 200");

    /* Opened once with ?token=: the page, and a cookie for the rest. */
    http_get(&c, "GET", "/?token=" TOKEN_ALL);
    assert_has(&c, "HTTP/1.1 200");
    assert_has(&c, "Set-Cookie: crmpulse_board=" TOKEN_ALL);
    assert_has(&c, "HttpOnly");
    assert_has(&c, "SameSite=Strict");
    http_get_h(&c, "GET", "/api/tenants/globex/today",
               "Cookie: crmpulse_board=" TOKEN_ALL "\r\n");
    assert_has(&c, "HTTP/1.1 200");
    assert_has(&c, "\"events\":7");
    http_get_h(&c, "GET", "/api/tenants",
               "Authorization: Bearer " TOKEN_ALL "\r\n");
    assert_has(&c, "\"globex\"");

    /* A tenant's token: its tenant only, on every route. */
    http_get_h(&c, "GET", "/api/tenants/acme/today",
               "Cookie: crmpulse_board=" TOKEN_ACME "\r\n");
    assert_has(&c, "\"events\":42");
    http_get_h(&c, "GET", "/api/tenants/globex/today",
               "Cookie: crmpulse_board=" TOKEN_ACME "\r\n");
    assert_has(&c, "HTTP/1.1 403");
    assert_lacks(&c, "\"events\"");
    http_get_h(&c, "GET", "/api/tenants/acmex/today",
               "Cookie: crmpulse_board=" TOKEN_ACME "\r\n");
    assert_has(&c, "HTTP/1.1 403");
    http_get_h(&c, "GET", "/api/tenants",
               "Cookie: crmpulse_board=" TOKEN_ACME "\r\n");
    assert_has(&c, "\"tenants\":[\"acme\"]");
    http_get_h(&c, "GET", "/api/events?tenant=globex",
               "Cookie: crmpulse_board=" TOKEN_ACME "\r\n");
    assert_has(&c, "HTTP/1.1 403");

    /* Its stream without ?tenant= carries its tenant's messages only. */
    wait_subscribed_with("Cookie: crmpulse_board=" TOKEN_ALL "\r\n");
    http_open_h(&s, "GET", "/api/events", 0,
                "Cookie: crmpulse_board=" TOKEN_ACME "\r\n");
    cr_assert(truthy(http_wait(&s, "HTTP/1.1 200", 5000)), "%s", s.buf);
    cp_sleep_ms(300);
    test_redis_cmd(&rd, "PUBLISH crm:{globex}:alerts {\"globex-secret\":1}");
    test_redis_cmd(&rd, "PUBLISH crm:{acme}:alerts {\"acme-alert\":1}");
    cr_assert(truthy(http_wait(&s, "acme-alert", 5000)), "%s", s.buf);
    assert_lacks(&s, "globex-secret");
    http_close(&s);
}

/* Any web page opened on an office PC could read the API while every
 * answer said Access-Control-Allow-Origin: *. */
Test(board_server, no_cors_header_unless_one_origin_is_configured)
{
    static const char *const cors[] = {
        "board.listen=127.0.0.1:0",
        "board.cors.origin=https://intranet.example", NULL};
    struct conn c;

    start_board(NULL);
    http_get(&c, "GET", "/api/tenants");
    assert_has(&c, "HTTP/1.1 200");
    assert_lacks(&c, "Access-Control-Allow-Origin");
    cp_board_destroy(board);
    board = NULL;
    cp_config_destroy(cfg);
    start_board_with(NULL, cors);
    http_get(&c, "GET", "/api/tenants");
    assert_has(&c, "Access-Control-Allow-Origin: https://intranet.example");
}

Test(board_server, a_lan_address_without_a_token_refuses_to_start)
{
    static const char *const lan[] = {"board.listen=0.0.0.0:0", NULL};
    static const char *const lan_token[] = {"board.listen=0.0.0.0:0",
                                            "board.token=" TOKEN_ALL, NULL};

    load_config(lan);
    cr_assert(truthy(cp_board_new(cfg, NULL, errstr, sizeof(errstr)) == NULL));
    cr_assert(truthy(strstr(errstr, "board.token") != NULL), "%s", errstr);
    cr_assert(truthy(strstr(errstr, "openssl rand") != NULL), "%s", errstr);
    cp_config_destroy(cfg);
    start_board_with(NULL, lan_token);
}
