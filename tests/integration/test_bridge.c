/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-bridge end to end: the real bridge binary takes each CRM's
 * documented webhooks (tests/unit/fixtures_bridge.h gives the shapes) over
 * HTTP, a fake of the vendors' REST APIs answers on loopback
 * (bridge_fake_api.py, with a 429 and a 500 before one answer), the
 * bridge produces to the test's embedded Kafka, the real crmpulse worker
 * consumes into a real redis-server, and the counters must be exactly what
 * the payloads imply:
 *  - every CRM: leads, stages, won/lost and amounts as mapped;
 *  - wrong signature, stale timestamp, wrong token, wrong password, wrong
 *    path secret: 401 and nothing produced (events stays exact);
 *  - every good webhook delivered twice: one event each;
 *  - unmappable but authentic: 200 and one dead letter each;
 *  - Kafka down: 503; the CRM's retry after it is back lands once;
 *  - the bridge SIGKILLed while a request waits for Kafka: the CRM's retry
 *    to a restarted bridge lands once;
 *  - limits (body size, rate, slow clients), Redis down, events that
 *    break the input contract. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth.h"
#include "civil.h"
#include "codec.h"
#include "common.h"
#include "harness.h"
#include "faults.h"
#include "kafka.h"
#include "stream.h"

#define PARTITIONS 4

static struct cp_embedded *emb;
static const char *bootstrap;
static struct h_redis redis_srv;
static pid_t bridge_pid, api_pid;
static int bridge_port, api_port;
static char bridge_log[512];
static int64_t t0_ms; /* event time of the first change */
static char day[11];

/* ---- a minimal HTTP client ---- */

/* POST (or GET when @p body is NULL) on the bridge; @returns the status,
 * the response body in @p resp. */
static int http(const char *path, const char *headers, const char *body,
                char *resp, size_t resp_size)
{
    struct sockaddr_in sa = {0};
    size_t blen = body ? strlen(body) : 0, got = 0;
    char *req;
    int fd, status = -1, n;
    char *sep;

    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)bridge_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0,
                 "connect to the bridge");
    n = asprintf(&req,
                 "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                 body ? "POST" : "GET", path, bridge_port,
                 headers ? headers : "", blen);
    cr_assert_gt(n, 0);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    if (blen)
        cr_assert_eq(write(fd, body, blen), (ssize_t)blen);
    free(req);
    while (got + 1 < resp_size) {
        ssize_t r = read(fd, resp + got, resp_size - 1 - got);

        if (r <= 0)
            break;
        got += (size_t)r;
    }
    resp[got] = '\0';
    close(fd);
    sscanf(resp, "HTTP/1.1 %d", &status);
    sep = strstr(resp, "\r\n\r\n");
    if (sep)
        memmove(resp, sep + 4, strlen(sep + 4) + 1);
    return status;
}

static int post(const char *path, const char *headers, const char *body,
                char *resp, size_t resp_size)
{
    return http(path, headers, body, resp, resp_size);
}

/* ---- setup: redis, kafka, fake API, bridge ---- */

static void wait_http_ok(const char *path, int timeout_ms)
{
    char resp[4096];

    for (int i = 0; i < timeout_ms / 100; i++) {
        struct sockaddr_in sa = {0};
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int ok;

        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)bridge_port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        close(fd);
        if (ok && http(path, NULL, NULL, resp, sizeof(resp)) == 200)
            return;
        h_sleep_ms(100);
    }
    h_tail(bridge_log, 30);
    cr_assert_fail("the bridge did not answer 200 on %s", path);
}

/* More -X settings for the next start_bridge() (NULL-terminated). */
static const char *extra_args[3];
/* The next start_bridge() adds tenant b24off, polling its offline queue. */
static bool with_offline;

static void stop_bridge(void)
{
    kill(bridge_pid, SIGTERM);
    cr_assert_eq(h_wait(bridge_pid, 20), 0, "bridge exit status");
    bridge_pid = 0;
}

static void start_bridge(void)
{
    char x_boot[300], x_redis[128], x_listen[64], x_tenants[600];
    char tenants[3072];
    const char *argv[] = {h_bin("crmpulse-bridge"),
                          "-X",
                          x_boot,
                          "-X",
                          x_redis,
                          "-X",
                          x_listen,
                          "-X",
                          x_tenants,
                          "-X",
                          "bridge.ack.timeout.ms=1500",
                          "-X",
                          "bridge.rest.backoff.ms=50",
                          "-X",
                          "kafka.linger.ms=1",
                          NULL,
                          NULL,
                          NULL,
                          NULL,
                          NULL,
                          NULL,
                          NULL};
    size_t argc = 15;
    const char *path = h_scratch_file("tenants.conf");
    int n;

    n = snprintf(tenants, sizeof(tenants),
                 "[tenant hs]\ncrm = hubspot\nsecret = hs-secret\n"
                 "rest.url = http://127.0.0.1:%d\nrest.token = hs-token\n"
                 "customer = company,contact\n"
                 "stage.appointmentscheduled = qualified\n\n"
                 "[tenant b24]\ncrm = bitrix24\nsecret = b24-token\n"
                 "rest.url = http://127.0.0.1:%d/rest/1/code\n"
                 "stage.NEW = new\nstage.PREPARATION = proposal\n\n"
                 "[tenant amo]\ncrm = kommo\naccount = 1234\n"
                 "secret = amo-path-secret\ncustomer = deal\n"
                 "stage.142001 = qualified\n\n"
                 "[tenant pd]\ncrm = pipedrive\nuser = hook\n"
                 "password = pd-pass\nstage.1 = qualified\n"
                 "stage.2 = proposal\n",
                 api_port, api_port);
    if (with_offline)
        n += snprintf(tenants + n, sizeof(tenants) - (size_t)n,
                      "\n[tenant b24off]\ncrm = bitrix24\nsecret = off-token\n"
                      "rest.url = http://127.0.0.1:%d/rest/2/code\n"
                      "offline.poll = 1\nstage.PREPARATION = proposal\n",
                      api_port);
    h_write_file(path, tenants, (size_t)n);
    bridge_port = h_free_port();
    snprintf(x_boot, sizeof(x_boot), "kafka.bootstrap.servers=%s", bootstrap);
    snprintf(x_redis, sizeof(x_redis), "redis.url=%s", redis_srv.url);
    snprintf(x_listen, sizeof(x_listen), "bridge.listen=127.0.0.1:%d",
             bridge_port);
    snprintf(x_tenants, sizeof(x_tenants), "bridge.tenants=%s", path);
    for (size_t i = 0; i < CP_ARRAY_SIZE(extra_args) && extra_args[i]; i++) {
        argv[argc++] = "-X";
        argv[argc++] = extra_args[i];
    }
    snprintf(bridge_log, sizeof(bridge_log), "%s",
             h_scratch_file("bridge.log"));
    bridge_pid = h_spawn(argv, bridge_log);
    wait_http_ok("/healthz", 20000);
}

static void setup(void)
{
    const char *api[] = {"/usr/bin/python3",
                         h_src("tests/integration/bridge_fake_api.py"), NULL,
                         NULL, NULL};
    char port[16], t0_s[24];
    int64_t now = cp_now_ms();

    /* 01:00 UTC of the day two hours ago: all changes in one day, in the
     * past, and within the minute keys' 48 h. */
    t0_ms = (now - 7200000) / 86400000 * 86400000 + 3600000;
    cp_format_day(t0_ms, day);
    h_redis_start(&redis_srv);
    emb = h_kafka_start(PARTITIONS, &bootstrap);
    api_port = h_free_port();
    snprintf(port, sizeof(port), "%d", api_port);
    api[2] = port;
    snprintf(t0_s, sizeof(t0_s), "%lld", (long long)(t0_ms / 1000));
    api[3] = t0_s;
    api_pid = h_spawn(api, h_scratch_file("api.log"));
    cr_assert(h_log_wait(h_scratch_file("api.log"), "ready", 10000),
              "fake vendor API did not start");
    start_bridge();
}

static void teardown(void)
{
    if (bridge_pid > 0)
        stop_bridge();
    if (api_pid > 0) {
        kill(api_pid, SIGTERM);
        h_wait(api_pid, 10);
    }
    h_kafka_stop(&emb);
    h_redis_stop(&redis_srv);
}

TestSuite(bridge, .init = setup, .fini = teardown, .timeout = 240);

/* ---- payloads (shapes: tests/unit/fixtures_bridge.h) ---- */

static char *hubspot_body(int64_t event_id, const char *type, const char *stage,
                          int64_t at)
{
    char *s;

    cr_assert_gt(
        asprintf(&s,
                 "[{\"eventId\":%lld,\"subscriptionId\":7,\"portalId\":62515,"
                 "\"appId\":54321,\"occurredAt\":%lld,"
                 "\"subscriptionType\":\"%s\",\"attemptNumber\":0,"
                 "\"objectId\":555,\"changeSource\":\"CRM\"%s%s%s}]",
                 (long long)event_id, (long long)at, type,
                 stage ? ",\"propertyName\":\"dealstage\","
                         "\"propertyValue\":\""
                       : "",
                 stage ? stage : "", stage ? "\"" : ""),
        0);
    return s;
}

/* The v3 signature headers for @p body, signed at @p ts_ms with @p secret. */
static void hubspot_headers(const char *secret, const char *body, int64_t ts_ms,
                            char *out, size_t out_size)
{
    char uri[128], ts[32], sig[45], *msg;
    int n;

    snprintf(uri, sizeof(uri), "http://127.0.0.1:%d/hooks/hubspot/hs",
             bridge_port);
    snprintf(ts, sizeof(ts), "%lld", (long long)ts_ms);
    n = asprintf(&msg, "POST%s%s%s", uri, body, ts);
    cr_assert_gt(n, 0);
    cp_auth_hmac_sha256_b64(secret, msg, (size_t)n, sig);
    free(msg);
    snprintf(out, out_size,
             "Content-Type: application/json\r\n"
             "X-HubSpot-Request-Timestamp: %s\r\n"
             "X-HubSpot-Signature-v3: %s\r\n",
             ts, sig);
}

static char *b24_body(const char *event, const char *id, int64_t at,
                      const char *token)
{
    char *s;

    cr_assert_gt(asprintf(&s,
                          "event=%s&event_handler_id=5"
                          "&data%%5BFIELDS%%5D%%5BID%%5D=%s&ts=%lld"
                          "&auth%%5Bdomain%%5D=acme.bitrix24.com"
                          "&auth%%5Bmember_id%%5D=a223c6b3"
                          "&auth%%5Bapplication_token%%5D=%s",
                          event, id, (long long)(at / 1000), token),
                 0);
    return s;
}

static char *amo_body(const char *action, const char *status, int64_t at)
{
    char *s;

    cr_assert_gt(asprintf(&s,
                          "leads%%5B%s%%5D%%5B0%%5D%%5Bid%%5D=9001"
                          "&leads%%5B%s%%5D%%5B0%%5D%%5Bstatus_id%%5D=%s"
                          "&leads%%5B%s%%5D%%5B0%%5D%%5Bprice%%5D=2500"
                          "&leads%%5B%s%%5D%%5B0%%5D%%5Bresponsible_user_id"
                          "%%5D=77"
                          "&leads%%5B%s%%5D%%5B0%%5D%%5Blast_modified%%5D=%lld"
                          "&account%%5Bsubdomain%%5D=acme"
                          "&account%%5Bid%%5D=1234",
                          action, action, status, action, action, action,
                          (long long)(at / 1000)),
                 0);
    return s;
}

static char *pd_body(const char *action, int stage, const char *status,
                     const char *previous, int64_t at)
{
    char iso[32], *s;

    cp_format_iso_ms(at, iso);
    cr_assert_gt(
        asprintf(&s,
                 "{\"meta\":{\"action\":\"%s\",\"entity\":\"deal\","
                 "\"entity_id\":\"42\",\"version\":\"2.0\","
                 "\"company_id\":\"12882925\",\"user_id\":\"18487521\","
                 "\"timestamp\":\"%s\",\"attempt\":1},"
                 "\"data\":{\"id\":42,\"title\":\"Deal\",\"value\":120.5,"
                 "\"currency\":\"EUR\",\"status\":\"%s\",\"stage_id\":%d,"
                 "\"owner_id\":18487521,\"person_id\":3,\"org_id\":2,"
                 "\"update_time\":\"%s\"},\"previous\":%s}",
                 action, iso, status, stage, iso, previous),
        0);
    return s;
}

#define PD_AUTH_OK                                                             \
    "Authorization: Basic aG9vazpwZC1wYXNz\r\n" /* hook:pd-pass */
#define PD_AUTH_BAD "Authorization: Basic aG9vazpwZC1wYXNT\r\n"
#define FORM        "Content-Type: application/x-www-form-urlencoded\r\n"

/* ---- checks ---- */

static int64_t counter(const char *tenant, const char *suffix,
                       const char *field)
{
    char key[256];
    int64_t v;

    snprintf(key, sizeof(key), "crm:{%s}:d:%s%s", tenant, day, suffix);
    v = h_redis_int(&redis_srv, "HGET %s %s", key, field);
    return v < 0 ? 0 : v;
}

/* Runs the worker over everything produced so far. */
/* The worker's -X schema.registry.url=... when the bridge uses one. */
static char worker_registry[128];

static void run_worker(const char *group, int64_t want_offsets)
{
    const char *extras[] = {"worker.exit.idle.ms=2500",
                            worker_registry[0] ? worker_registry : NULL, NULL};
    const char *log = h_scratch_file("worker.log");
    pid_t pid = h_worker_spawn(bootstrap, &redis_srv, group, log, extras);

    h_worker_wait_done(pid, log, 120);
    cr_assert_eq(h_offsets_sum(&redis_srv, group), want_offsets,
                 "records on crm.events: exactly the accepted events");
}

/* Reads the dead-letter topic for 3 s past the last record. */
/* The schema id of the last dead letter read_dlq() saw. */
static uint32_t dlq_frame_id;

static int64_t read_dlq(char reasons[][256], size_t cap)
{
    struct cp_consumer_callbacks cbs = {0};
    struct cp_msg msgs[64];
    struct cp_codec *codec;
    struct cp_consumer *cons;
    struct cp_arena arena;
    char err[512];
    int64_t cnt = 0, quiet_since = cp_mono_ms();

    codec = cp_codec_new(CP_FRAMING_CONFLUENT, err, sizeof(err));
    cr_assert_not_null(codec, "%s", err);
    h_codec_output_ids(codec);
    cons = cp_consumer_new(bootstrap, "bridge-dlq-reader", "crm.events.dlq",
                           NULL, 0, &cbs, err, sizeof(err));
    cr_assert_not_null(cons, "%s", err);
    cp_arena_init(&arena, 4096);
    while (cp_mono_ms() - quiet_since < (cnt ? 3000 : 12000)) {
        size_t n = cp_consumer_poll(cons, msgs, 64, 100);

        for (size_t i = 0; i < n; i++) {
            struct cp_dead_letter dl;
            char why[256];

            const unsigned char *v = msgs[i].value;

            if (v && msgs[i].value_len >= 5) /* 0x00, schema id, Avro */
                dlq_frame_id = (uint32_t)v[1] << 24 | (uint32_t)v[2] << 16 |
                               (uint32_t)v[3] << 8 | (uint32_t)v[4];

            cr_assert_eq(cp_codec_decode_dead_letter(codec, msgs[i].value,
                                                     msgs[i].value_len, &arena,
                                                     &dl, why, sizeof(why)),
                         CP_OK, "%s", why);
            if ((size_t)cnt < cap)
                snprintf(reasons[cnt], 256, "%s|%s", dl.topic, dl.reason);
            cnt++;
            quiet_since = cp_mono_ms();
        }
        cp_consumer_release(cons);
    }
    cp_arena_cleanup(&arena);
    cp_consumer_destroy(cons);
    cp_codec_destroy(codec);
    return cnt;
}

static int64_t metric(const char *name)
{
    char resp[16384], line[256];
    const char *p;

    cr_assert_eq(http("/metrics", NULL, NULL, resp, sizeof(resp)), 200);
    snprintf(line, sizeof(line), "\n%s ", name); /* not the # HELP line */
    p = strstr(resp, line);
    cr_assert_not_null(p, "metric %s missing", name);
    return strtoll(p + strlen(line), NULL, 10);
}

/* ---- tests ---- */

Test(bridge, four_crms_end_to_end_exact_with_auth_failures_and_redelivery)
{
    char resp[4096], hdr[512];
    char *good[16], *bad;
    const char *gpath[16], *ghdr[16];
    char ghdr_buf[16][512];
    size_t ng = 0;
    int64_t now = cp_now_ms();
    char reasons[8][256];

    /* HubSpot: one batch with an event of 1999 (breaks the contract: a
     * dead letter), the deal created and won (deal 555 read back: company
     * 8080, amount 1500.50), in that order; then qualified; a stage nobody
     * mapped is a dead letter. */
    {
        char *bad99 = hubspot_body(100, "deal.creation", NULL, 915148800000LL);
        char *created = hubspot_body(101, "deal.creation", NULL, t0_ms);
        char *won = hubspot_body(103, "deal.propertyChange", "closedwon",
                                 t0_ms + 120000);

        /* "[a]" "[b]" "[c]" -> "[a,b,c]" */
        bad99[strlen(bad99) - 1] = '\0';
        created[strlen(created) - 1] = '\0';
        cr_assert_gt(
            asprintf(&good[ng], "%s,%s,%s", bad99, created + 1, won + 1), 0);
        free(bad99);
        free(created);
        free(won);
    }
    good[ng + 1] = hubspot_body(102, "deal.propertyChange",
                                "appointmentscheduled", t0_ms + 60000);
    good[ng + 2] =
        hubspot_body(104, "deal.propertyChange", "mystery", t0_ms + 130000);
    for (size_t i = ng; i < ng + 3; i++) {
        hubspot_headers("hs-secret", good[i], now, ghdr_buf[i],
                        sizeof(ghdr_buf[i]));
        ghdr[i] = ghdr_buf[i];
        gpath[i] = "/hooks/hubspot/hs";
    }
    ng += 3;
    /* Bitrix24: deal 456 added, then at PREPARATION (read back); deal 457
     * won (read back after a 429 and a 500). */
    good[ng] = b24_body("ONCRMDEALADD", "456", t0_ms, "b24-token");
    good[ng + 1] =
        b24_body("ONCRMDEALUPDATE", "456", t0_ms + 60000, "b24-token");
    good[ng + 2] =
        b24_body("ONCRMDEALUPDATE", "457", t0_ms + 120000, "b24-token");
    /* ... and a missed incoming call (activity 900, read back). */
    good[ng + 3] =
        b24_body("ONCRMACTIVITYADD", "900", t0_ms + 180000, "b24-token");
    for (size_t i = ng; i < ng + 4; i++) {
        ghdr[i] = FORM;
        gpath[i] = "/hooks/bitrix24/b24";
    }
    ng += 4;
    /* amoCRM: lead 9001 added, then won (142) at 2500. */
    good[ng] = amo_body("add", "142001", t0_ms);
    good[ng + 1] = amo_body("status", "142", t0_ms + 60000);
    for (size_t i = ng; i < ng + 2; i++) {
        ghdr[i] = FORM;
        gpath[i] = "/hooks/kommo/amo/amo-path-secret";
    }
    ng += 2;
    /* Pipedrive: deal 42 created, moved 1 -> 2, lost; stage 9 unmapped. */
    good[ng] = pd_body("create", 1, "open", "null", t0_ms);
    good[ng + 1] =
        pd_body("change", 2, "open", "{\"stage_id\":1}", t0_ms + 60000);
    good[ng + 2] =
        pd_body("change", 2, "lost", "{\"status\":\"open\"}", t0_ms + 120000);
    good[ng + 3] =
        pd_body("change", 9, "open", "{\"stage_id\":2}", t0_ms + 130000);
    /* ... and a call of 4:30 logged as done. */
    {
        char iso[32];

        cp_format_iso_ms(t0_ms + 140000, iso);
        cr_assert_gt(
            asprintf(&good[ng + 4],
                     "{\"meta\":{\"action\":\"create\",\"entity\":"
                     "\"activity\",\"entity_id\":\"77\",\"version\":\"2.0\","
                     "\"timestamp\":\"%s\"},\"data\":{\"id\":77,\"type\":"
                     "\"call\",\"done\":true,\"owner_id\":18487521,"
                     "\"org_id\":2,\"duration\":\"00:04:30\","
                     "\"marked_as_done_time\":\"%s\"},\"previous\":null}",
                     iso, iso),
            0);
    }
    for (size_t i = ng; i < ng + 5; i++) {
        ghdr[i] = "Content-Type: application/json\r\n" PD_AUTH_OK;
        gpath[i] = "/hooks/pipedrive/pd";
    }
    ng += 5;

    /* Each good webhook twice: the second is a redelivery. */
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < ng; i++) {
            int st = post(gpath[i], ghdr[i], good[i], resp, sizeof(resp));

            if (st != 200)
                h_tail(bridge_log, 20);
            cr_assert_eq(st, 200, "webhook %zu round %d: %d %s", i, round, st,
                         resp);
            if (round == 1)
                cr_assert(strstr(resp, "\"events\":0"), "redelivery %zu: %s", i,
                          resp);
        }
    }

    /* Authentication failures: 401, nothing produced. New event ids, so a
     * leak would show in the counters. */
    bad = hubspot_body(201, "deal.creation", NULL, t0_ms);
    hubspot_headers("not-the-secret", bad, now, hdr, sizeof(hdr));
    cr_assert_eq(post("/hooks/hubspot/hs", hdr, bad, resp, sizeof(resp)), 401,
                 "wrong HubSpot signature");
    hubspot_headers("hs-secret", bad, cp_now_ms() - 301000, hdr, sizeof(hdr));
    cr_assert_eq(post("/hooks/hubspot/hs", hdr, bad, resp, sizeof(resp)), 401,
                 "stale HubSpot timestamp");
    cr_assert_eq(post("/hooks/hubspot/hs", FORM, bad, resp, sizeof(resp)), 401,
                 "no HubSpot signature");
    free(bad);
    bad = b24_body("ONCRMDEALADD", "999", t0_ms, "b24-wrong");
    cr_assert_eq(post("/hooks/bitrix24/b24", FORM, bad, resp, sizeof(resp)),
                 401, "wrong Bitrix24 application_token");
    free(bad);
    bad = amo_body("add", "142001", t0_ms + 5000);
    cr_assert_eq(
        post("/hooks/amocrm/amo/wrong-secret", FORM, bad, resp, sizeof(resp)),
        401, "wrong amoCRM path secret");
    cr_assert_eq(post("/hooks/amocrm/amo", FORM, bad, resp, sizeof(resp)), 401,
                 "no amoCRM path secret");
    free(bad);
    bad = pd_body("create", 1, "open", "null", t0_ms + 5000);
    cr_assert_eq(
        post("/hooks/pipedrive/pd", PD_AUTH_BAD, bad, resp, sizeof(resp)), 401,
        "wrong Pipedrive password");
    cr_assert_eq(post("/hooks/pipedrive/pd", NULL, bad, resp, sizeof(resp)),
                 401, "no Pipedrive credentials");
    /* Unknown tenant or a tenant of another CRM: 404. */
    cr_assert_eq(
        post("/hooks/pipedrive/hs", PD_AUTH_OK, bad, resp, sizeof(resp)), 404);
    cr_assert_eq(
        post("/hooks/pipedrive/nobody", PD_AUTH_OK, bad, resp, sizeof(resp)),
        404);
    free(bad);
    cr_assert_eq(metric("crmpulse_bridge_auth_failures_total"), 8);
    {
        /* REST reads: HubSpot deal 555 once per request of the first
         * round (the batch's three events share one) and once for the
         * batch's dead 1999 event in the second (it was never delivered);
         * Bitrix24 456 twice, 457 three times (429, 500, 200). Delivered
         * events are not read back again. */
        char *api = h_slurp(h_scratch_file("api.log"));

        cr_assert_eq(h_count(api, "GET /crm/v3/objects/deals/555"), 3, "%s",
                     api);
        cr_assert_eq(h_count(api, "GET /rest/1/code/crm.deal.get.json"), 5,
                     "%s", api);
        free(api);
    }
    cr_assert_geq(metric("crmpulse_bridge_rest_total{result=\"retry\"}"), 2,
                  "the 429 and the 500 of the fake API were retried");

    /* hs 3 + b24 4 + amo 2 + pd 4 accepted events. */
    run_worker("bridge-e2e", 13);

    cr_assert_eq(counter("hs", "", "events"), 3);
    cr_assert_eq(counter("hs", "", "leads"), 1);
    cr_assert_eq(counter("hs", "", "deals_won"), 1);
    cr_assert_eq(counter("hs", "", "won_amount_minor"), 150050);
    cr_assert_eq(counter("hs", ":funnel", "stage:qualified"), 1);
    /* The won deal's cycle is known only if the batch kept its order
     * (created before won) after the dead event was taken out. */
    cr_assert_eq(counter("hs", "", "deal_cycle_count"), 1);
    cr_assert_eq(counter("hs", "", "deal_cycle_ms_sum"), 120000);
    cr_assert_eq(counter("hs", ":manager:9001", "deals_won"), 1);
    cr_assert_eq(h_redis_int(&redis_srv, "EXISTS crm:{hs}:customer:co-8080"), 1,
                 "the deal's company is the customer");

    cr_assert_eq(counter("b24", "", "events"), 4);
    cr_assert_eq(counter("b24", "", "calls"), 1);
    cr_assert_eq(counter("b24", "", "calls_inbound"), 1);
    cr_assert_eq(counter("b24", "", "calls_missed"), 1);
    cr_assert_eq(counter("b24", ":manager:1", "calls_missed"), 1);
    cr_assert_eq(counter("b24", "", "leads"), 1);
    cr_assert_eq(counter("b24", ":funnel", "stage:proposal"), 1);
    cr_assert_eq(counter("b24", "", "deals_won"), 1);
    cr_assert_eq(counter("b24", "", "won_amount_minor"), 99000);

    cr_assert_eq(counter("amo", "", "events"), 2);
    cr_assert_eq(counter("amo", "", "leads"), 1);
    cr_assert_eq(counter("amo", "", "deals_won"), 1);
    cr_assert_eq(counter("amo", "", "won_amount_minor"), 250000);
    cr_assert_eq(counter("amo", "", "deal_cycle_ms_sum"), 60000);

    cr_assert_eq(counter("pd", "", "events"), 4);
    cr_assert_eq(counter("pd", "", "calls"), 1);
    cr_assert_eq(counter("pd", "", "calls_missed"), 0);
    cr_assert_eq(counter("pd", "", "call_ms_sum"), 270000);
    cr_assert_eq(counter("pd", "", "leads"), 1);
    cr_assert_eq(counter("pd", ":funnel", "stage:proposal"), 1);
    cr_assert_eq(counter("pd", "", "deals_lost"), 1);
    cr_assert_eq(counter("pd", ":funnel", "lost"), 1);

    /* Three authentic, unmappable events (two unmapped stages, one of
     * 1999), each delivered twice: one dead letter each, with the raw
     * payload. */
    {
        int mapping = 0, contract = 0;
        int64_t dl = read_dlq(reasons, 8);

        cr_assert_eq(dl, 3);
        for (int i = 0; i < 3; i++) {
            cr_assert(strstr(reasons[i], "webhook/"), "%s", reasons[i]);
            mapping += strstr(reasons[i], "not in the mapping") != NULL;
            contract += strstr(reasons[i], "hubspot-100") != NULL;
        }
        cr_assert_eq(mapping, 2);
        cr_assert_eq(contract, 1);
    }
    for (size_t i = 0; i < ng; i++)
        free(good[i]);
}

Test(bridge, kafka_down_is_503_and_the_retry_lands_once)
{
    char *body = pd_body("create", 1, "open", "null", t0_ms);
    const char *hdr = "Content-Type: application/json\r\n" PD_AUTH_OK;
    char resp[4096];
    int st;

    cr_assert_eq(cp_embedded_set_up(emb, 0), CP_OK);
    st = post("/hooks/pipedrive/pd", hdr, body, resp, sizeof(resp));
    cr_assert_eq(st, 503, "Kafka down: %d %s", st, resp);
    cr_assert_eq(http("/readyz", NULL, NULL, resp, sizeof(resp)), 503);
    cr_assert_eq(cp_embedded_set_up(emb, 1), CP_OK);
    /* The CRM retries until Kafka is back. */
    for (int i = 0; i < 40; i++) {
        st = post("/hooks/pipedrive/pd", hdr, body, resp, sizeof(resp));
        if (st == 200)
            break;
        cr_assert_eq(st, 503);
        h_sleep_ms(250);
    }
    cr_assert_eq(st, 200, "%s", resp);
    cr_assert(strstr(resp, "\"events\":1"), "%s", resp);
    cr_assert_eq(post("/hooks/pipedrive/pd", hdr, body, resp, sizeof(resp)),
                 200);
    cr_assert(strstr(resp, "\"duplicates\":1"), "%s", resp);
    cr_assert_eq(http("/readyz", NULL, NULL, resp, sizeof(resp)), 200);
    free(body);

    run_worker("bridge-kafka-down", 1);
    cr_assert_eq(counter("pd", "", "events"), 1);
    cr_assert_eq(counter("pd", "", "leads"), 1);
}

Test(bridge, limits_body_size_rate_and_slow_clients)
{
    const char *hdr = "Content-Type: application/json\r\n" PD_AUTH_OK;
    char big[3000], resp[4096];
    int ok = 0, limited = 0;
    struct sockaddr_in sa = {0};
    int64_t t;
    int fd;

    stop_bridge();
    extra_args[0] = "bridge.rate=1"; /* bursts of 2 */
    extra_args[1] = "bridge.body.max=2048";
    extra_args[2] = "bridge.timeout=1";
    start_bridge();

    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[0] = '{';
    big[sizeof(big) - 2] = '}';
    cr_assert_eq(post("/hooks/pipedrive/pd", hdr, big, resp, sizeof(resp)),
                 413);
    /* Forged requests get 401 and spend none of the tenant's rate. */
    for (int i = 0; i < 5; i++) {
        char *body = pd_body("create", 1, "open", "null", t0_ms + i);

        cr_assert_eq(
            post("/hooks/pipedrive/pd", PD_AUTH_BAD, body, resp, sizeof(resp)),
            401);
        free(body);
    }
    /* A burst of twice bridge.rate passes, then tokens come back at
     * bridge.rate a second: the rest gets 429 with Retry-After. */
    t = cp_mono_ms();
    for (int i = 0; i < 8; i++) {
        char *body = pd_body("create", 1, "open", "null", t0_ms + i);
        int st = post("/hooks/pipedrive/pd", hdr, body, resp, sizeof(resp));

        free(body);
        ok += st == 200;
        limited += st == 429;
        cr_assert(st == 200 || st == 429, "%d %s", st, resp);
    }
    t = cp_mono_ms() - t;
    cr_assert_geq(ok, 2, "the burst");
    cr_assert_leq(ok, 2 + (t + 999) / 1000, "burst + 1/s over %lld ms",
                  (long long)t);
    cr_assert_eq(ok + limited, 8);
    cr_assert_geq(limited, 1);
    h_sleep_ms(1100);
    {
        char *body = pd_body("create", 1, "open", "null", t0_ms + 100);

        cr_assert_eq(post("/hooks/pipedrive/pd", hdr, body, resp, sizeof(resp)),
                     200, "tokens come back with time");
        free(body);
    }

    /* A client that connects and sends half a request is cut off. */
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)bridge_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(write(fd, "POST /hooks/pipedrive/pd HTTP/1.1\r\n", 35), 35);
    t = cp_mono_ms();
    cr_assert_leq(read(fd, resp, sizeof(resp)), 0, "closed, no answer");
    cr_assert_lt(cp_mono_ms() - t, 4000, "bridge.timeout=1 s");
    close(fd);
}

Test(bridge, redis_down_is_503_and_contract_breakers_are_dead_letters)
{
    const char *hdr = "Content-Type: application/json\r\n" PD_AUTH_OK;
    char *body = pd_body("create", 1, "open", "null", t0_ms);
    /* 1999: before the contract's first day (schemas/events.md). */
    char *old = pd_body("create", 1, "open", "null", 915148800000LL);
    char resp[4096];

    h_redis_kill(&redis_srv, 0);
    cr_assert_eq(post("/hooks/pipedrive/pd", hdr, body, resp, sizeof(resp)),
                 503, "Redis down: %s", resp);
    cr_assert_eq(http("/readyz", NULL, NULL, resp, sizeof(resp)), 503);
    h_redis_revive(&redis_srv);
    cr_assert_eq(post("/hooks/pipedrive/pd", hdr, body, resp, sizeof(resp)),
                 200, "%s", resp);
    cr_assert(strstr(resp, "\"events\":1"), "%s", resp);
    cr_assert_eq(post("/hooks/pipedrive/pd", hdr, old, resp, sizeof(resp)), 200,
                 "%s", resp);
    cr_assert(strstr(resp, "\"events\":0,\"duplicates\":0,\"dead_letters\":1"),
              "%s", resp);
    free(body);
    free(old);
}

Test(bridge, sigkill_mid_request_then_the_retry_lands_once)
{
    const char *hdr = "Content-Type: application/json\r\n" PD_AUTH_OK;
    char *body = pd_body("create", 1, "open", "null", t0_ms);
    struct sockaddr_in sa = {0};
    char *req, resp[4096];
    int fd, n, st = 0, tries = 0;

    /* Kafka down: the request claims its event id, produces and waits for
     * the ack; the bridge dies in that wait. */
    cr_assert_eq(cp_embedded_set_up(emb, 0), CP_OK);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)bridge_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    n = asprintf(&req,
                 "POST /hooks/pipedrive/pd HTTP/1.1\r\nHost: x\r\n%s"
                 "Content-Length: %zu\r\n\r\n%s",
                 hdr, strlen(body), body);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    free(req);
    h_sleep_ms(500);
    kill(bridge_pid, SIGKILL);
    cr_assert_eq(h_wait(bridge_pid, 10), 128 + SIGKILL);
    bridge_pid = 0;
    close(fd);
    cr_assert_eq(h_redis_int(&redis_srv,
                             "EXISTS crm:{pd}:bridge:seen:"
                             "pipedrive-deal-42-create-%lld",
                             (long long)t0_ms),
                 1, "the dead request's claim");

    /* The CRM retries against the restarted bridge: 503 while the dead
     * request's claim lasts, then the event, once. */
    cr_assert_eq(cp_embedded_set_up(emb, 1), CP_OK);
    start_bridge();
    while (tries++ < 60) {
        st = post("/hooks/pipedrive/pd", hdr, body, resp, sizeof(resp));
        if (st == 200)
            break;
        cr_assert_eq(st, 503, "%s", resp);
        h_sleep_ms(250);
    }
    cr_assert_eq(st, 200, "%s", resp);
    cr_assert(strstr(resp, "\"events\":1"), "%s", resp);
    cr_assert_eq(post("/hooks/pipedrive/pd", hdr, body, resp, sizeof(resp)),
                 200);
    cr_assert(strstr(resp, "\"duplicates\":1"), "%s", resp);
    free(body);

    run_worker("bridge-sigkill", 1);
    cr_assert_eq(counter("pd", "", "events"), 1);
    cr_assert_eq(counter("pd", "", "leads"), 1);
}

/* Bitrix24's offline queue (offline.poll): records are taken with clear=0,
 * delivered like webhooks and cleared only once Kafka acknowledged them. A
 * clear that fails leaves them queued: the next poll asks for them again
 * under the same process id and they come out as duplicates. A record
 * without an event name is one dead letter. */
Test(bridge, bitrix24_offline_queue_is_delivered_once_then_cleared)
{
    const char *api_log = h_scratch_file("api.log");
    char reasons[4][256];

    stop_bridge();
    with_offline = true;
    start_bridge();
    cr_assert(h_log_wait(api_log, "event.offline.clear.json?process_id=p-1 #2",
                         30000),
              "the queue was not cleared a second time");
    cr_assert(h_log_wait(api_log,
                         "event.offline.get.json?clear=0&limit=50&process_id="
                         "p-1 #1",
                         1000),
              "the records were not asked for again under our process id");
    cr_assert(h_log_wait(bridge_log, "3 offline records delivered", 5000));
    cr_assert_eq(
        h_redis_int(&redis_srv, "EXISTS crm:{b24off}:bridge:offline:process"),
        0, "the process id is forgotten once its records are gone");

    run_worker("bridge-offline", 2);
    cr_assert_eq(counter("b24off", "", "events"), 2);
    cr_assert_eq(counter("b24off", "", "leads"), 1);
    cr_assert_eq(counter("b24off", ":funnel", "stage:proposal"), 1);
    cr_assert_eq(read_dlq(reasons, 4), 1, "the nameless record, once");
    cr_assert(strstr(reasons[0], "bitrix24"), "%s", reasons[0]);
}

/* With a schema registry, the bridge registers the event and dead-letter
 * schemas under <topic>-value and frames its records with those ids (not
 * the compiled-in 1 and 3, which the registry may give other schemas): a
 * worker reading by registry id counts them, and the dead letter carries
 * the registry's id. */
Test(bridge, with_a_schema_registry_records_carry_its_ids)
{
    const char *reg_log = h_scratch_file("registry.log");
    char port[16], url[64], xurl[96], resp[4096];
    const char *reg[] = {"/usr/bin/python3",
                         h_src("tests/integration/schema_registry.py"),
                         "--first-id",
                         "100",
                         "--port",
                         port,
                         NULL};
    const char *hdr = "Content-Type: application/json\r\n" PD_AUTH_OK;
    char *body = pd_body("create", 1, "open", "null", t0_ms);
    char *unmapped =
        pd_body("change", 9, "open", "{\"stage_id\":1}", t0_ms + 60000);
    char reasons[2][256];
    pid_t reg_pid;

    snprintf(port, sizeof(port), "%d", h_free_port());
    snprintf(url, sizeof(url), "http://127.0.0.1:%s", port);
    reg_pid = h_spawn(reg, reg_log);
    cr_assert(h_log_wait(reg_log, "PORT", 10000), "test registry");
    snprintf(xurl, sizeof(xurl), "schema.registry.url=%s", url);
    stop_bridge();
    extra_args[0] = xurl;
    start_bridge();
    cr_assert(h_log_wait(bridge_log,
                         "events framed with id 100 (crm.events-value), "
                         "dead letters with id 101",
                         5000));
    cr_assert_eq(post("/hooks/pipedrive/pd", hdr, body, resp, sizeof(resp)),
                 200, "%s", resp);
    cr_assert_eq(post("/hooks/pipedrive/pd", hdr, unmapped, resp, sizeof(resp)),
                 200, "%s", resp);
    cr_assert(strstr(resp, "\"dead_letters\":1"), "%s", resp);

    snprintf(worker_registry, sizeof(worker_registry), "%s", xurl);
    run_worker("bridge-registry", 1);
    cr_assert_eq(counter("pd", "", "events"), 1);
    cr_assert_eq(counter("pd", "", "leads"), 1);
    h_set_output_ids(0, 101);
    cr_assert_eq(read_dlq(reasons, 2), 1, "the unmapped stage");
    cr_assert_eq(dlq_frame_id, 101, "framed with the registry's id");
    kill(reg_pid, SIGTERM);
    h_wait(reg_pid, 10);
    free(body);
    free(unmapped);
}
