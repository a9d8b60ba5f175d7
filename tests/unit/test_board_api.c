/* SPDX-License-Identifier: Apache-2.0 */
/* The board's JSON API against a real redis-server: every number it serves
 * equals the Redis field it came from (day, channel, manager, source,
 * funnel and histogram hashes, the week-ago day, waiting, risk, customer
 * hashes, recent alerts), tenants are found by SCAN, bad input is refused,
 * answers are cached, and a dead Redis gives 503. */
#include <stdarg.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>

#include "board_api.h"
#include "civil.h"
#include "counters.h"
#include "test_board_util.h"

static int truthy(int cond)
{
    return cond != 0;
}

static void assert_str(const char *got, const char *want)
{
    cr_assert(eq(str, (char *)got, (char *)want));
}

static struct test_redis rd;
static struct cp_board_api *api;
static char errstr[512];
static char today[11], week_ago[11];

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN); /* as crmpulse-board's main does */
    cr_assert(eq(int, test_redis_start(&rd), 0), "start redis-server");
    test_date(today, 0);
    test_date(week_ago, 7);
    api = cp_board_api_new(rd.url, "crm", 0, errstr, sizeof(errstr));
    cr_assert(truthy(api != NULL), "%s", errstr);
}

static void teardown(void)
{
    cp_board_api_destroy(api);
    test_redis_stop(&rd);
}

TestSuite(board_api, .init = setup, .fini = teardown, .timeout = 20);

/* GETs @p path and parses the answer; asserts the status. */
static json_t *get(const char *path, const char *date, int want_status)
{
    char *body = NULL;
    int status = cp_board_api_get(api, path, date, &body);
    json_t *j;

    cr_assert(truthy(body != NULL), "%s: no body", path);
    cr_assert(eq(int, status, want_status), "%s: %s", path, body);
    j = json_loads(body, 0, NULL);
    cr_assert(truthy(j != NULL), "%s: not JSON: %s", path, body);
    free(body);
    return j;
}

/* Writes every counter field the worker keeps (counters.h) with distinct
 * values, the way its HINCRBY leaves them (decimal integers). */
static void write_counters(const char *key, long long seed)
{
    for (int i = 0; i < CP_F_CNT; i++)
        cr_assert(eq(int,
                     test_redis_cmd(&rd, "HSET %s %s %lld", key,
                                    cp_field_name((enum cp_field)i),
                                    seed * 1000 + (long long)i * 7 + 1),
                     0));
}

/* Every field of the Redis hash @p key is in @p obj with the same integer
 * value, and @p obj has no field the hash lacks. */
static void assert_hash_equals(const char *key, json_t *obj)
{
    redisReply *reply = redisCommand(rd.ctx, "HGETALL %s", key);

    cr_assert(truthy(reply && reply->type == REDIS_REPLY_ARRAY), "%s", key);
    cr_assert(truthy(json_is_object(obj)), "%s: not an object", key);
    cr_assert(eq(sz, json_object_size(obj), reply->elements / 2), "%s", key);
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const char *f = reply->element[i]->str;
        json_t *v = json_object_get(obj, f);

        cr_assert(truthy(json_is_integer(v)), "%s %s missing or not integer",
                  key, f);
        cr_assert(eq(i64, (int64_t)json_integer_value(v),
                     (int64_t)strtoll(reply->element[i + 1]->str, NULL, 10)),
                  "%s %s", key, f);
    }
    freeReplyObject(reply);
}

Test(board_api, day_numbers_equal_every_redis_hash)
{
    static const char *const chans[] = {"phone", "chat"};
    static const char *const mgrs[] = {"anna.k", "boris-2"};
    static const char *const srcs[] = {"google_ads", "unknown"};
    char key[256];
    json_t *j, *part;

    snprintf(key, sizeof(key), "crm:{acme}:d:%s", today);
    write_counters(key, 1);
    for (size_t i = 0; i < 2; i++) {
        snprintf(key, sizeof(key), "crm:{acme}:d:%s:channel:%s", today,
                 chans[i]);
        write_counters(key, 10 + (long long)i);
        snprintf(key, sizeof(key), "crm:{acme}:d:%s:manager:%s", today,
                 mgrs[i]);
        write_counters(key, 20 + (long long)i);
        snprintf(key, sizeof(key), "crm:{acme}:d:%s:source:%s", today, srcs[i]);
        test_redis_cmd(&rd,
                       "HSET %s leads %d deals_won %d deals_lost %d "
                       "won_amount_minor %d",
                       key, 40 + (int)i, 9, 3 + (int)i, 123456 + (int)i);
    }
    snprintf(key, sizeof(key), "crm:{acme}:d:%s:funnel", today);
    test_redis_cmd(&rd,
                   "HSET %s lead 140 stage:qualified 81 stage:proposal "
                   "58 won 29 lost 28",
                   key);
    snprintf(key, sizeof(key), "crm:{acme}:d:%s:rt", today);
    test_redis_cmd(&rd, "HSET %s b15 39 b30 36 b60 0 b3600 7 binf 2", key);
    /* Another tenant and another day must not leak in. */
    snprintf(key, sizeof(key), "crm:{other}:d:%s", today);
    write_counters(key, 99);
    snprintf(key, sizeof(key), "crm:{acme}:d:%s:manager:zoe", week_ago);
    write_counters(key, 98);

    j = get("/api/tenants/acme/day", today, 200);
    assert_str(json_string_value(json_object_get(j, "day")), today);
    snprintf(key, sizeof(key), "crm:{acme}:d:%s", today);
    assert_hash_equals(key, json_object_get(j, "counters"));
    snprintf(key, sizeof(key), "crm:{acme}:d:%s:funnel", today);
    assert_hash_equals(key, json_object_get(j, "funnel"));
    snprintf(key, sizeof(key), "crm:{acme}:d:%s:rt", today);
    assert_hash_equals(key, json_object_get(j, "rt"));
    part = json_object_get(j, "channels");
    cr_assert(eq(sz, json_object_size(part), 2)); /* absent ones left out */
    part = json_object_get(j, "managers");
    cr_assert(eq(sz, json_object_size(part), 2));
    part = json_object_get(j, "sources");
    cr_assert(eq(sz, json_object_size(part), 2));
    for (size_t i = 0; i < 2; i++) {
        snprintf(key, sizeof(key), "crm:{acme}:d:%s:channel:%s", today,
                 chans[i]);
        assert_hash_equals(
            key, json_object_get(json_object_get(j, "channels"), chans[i]));
        snprintf(key, sizeof(key), "crm:{acme}:d:%s:manager:%s", today,
                 mgrs[i]);
        assert_hash_equals(
            key, json_object_get(json_object_get(j, "managers"), mgrs[i]));
        snprintf(key, sizeof(key), "crm:{acme}:d:%s:source:%s", today, srcs[i]);
        assert_hash_equals(
            key, json_object_get(json_object_get(j, "sources"), srcs[i]));
    }
    json_decref(j);

    /* The sub-answers are the same numbers. */
    j = get("/api/tenants/acme/funnel", NULL, 200);
    snprintf(key, sizeof(key), "crm:{acme}:d:%s:funnel", today);
    assert_hash_equals(key, json_object_get(j, "funnel"));
    json_decref(j);
    j = get("/api/tenants/acme/managers", NULL, 200);
    snprintf(key, sizeof(key), "crm:{acme}:d:%s:manager:anna.k", today);
    assert_hash_equals(
        key, json_object_get(json_object_get(j, "managers"), "anna.k"));
    json_decref(j);
}

Test(board_api, compare_reads_the_same_weekday_a_week_before)
{
    char key[256], before[11];
    json_t *j, *wk;

    snprintf(key, sizeof(key), "crm:{acme}:d:%s", today);
    write_counters(key, 3);
    snprintf(key, sizeof(key), "crm:{acme}:d:%s", week_ago);
    write_counters(key, 4);
    snprintf(key, sizeof(key), "crm:{acme}:d:%s:funnel", week_ago);
    test_redis_cmd(&rd, "HSET %s lead 12 won 3", key);

    j = get("/api/tenants/acme/compare", NULL, 200);
    snprintf(key, sizeof(key), "crm:{acme}:d:%s", today);
    assert_hash_equals(key, json_object_get(j, "counters"));
    wk = json_object_get(j, "week_ago");
    assert_str(json_string_value(json_object_get(wk, "day")), week_ago);
    snprintf(key, sizeof(key), "crm:{acme}:d:%s", week_ago);
    assert_hash_equals(key, json_object_get(wk, "counters"));
    snprintf(key, sizeof(key), "crm:{acme}:d:%s:funnel", week_ago);
    assert_hash_equals(key, json_object_get(wk, "funnel"));
    json_decref(j);

    /* An explicit date: 2024-03-01 is compared with 2024-02-23 (leap). */
    test_redis_cmd(&rd, "HSET crm:{acme}:d:2024-02-23 events 5");
    j = get("/api/tenants/acme/compare", "2024-03-01", 200);
    wk = json_object_get(j, "week_ago");
    snprintf(before, sizeof(before), "%s",
             json_string_value(json_object_get(wk, "day")));
    assert_str(before, "2024-02-23");
    cr_assert(eq(i64,
                 (int64_t)json_integer_value(json_object_get(
                     json_object_get(wk, "counters"), "events")),
                 5));
    json_decref(j);
}

Test(board_api, waiting_risk_and_alerts_equal_redis)
{
    json_t *j, *list;
    redisReply *reply;

    for (int i = 0; i < 12; i++)
        test_redis_cmd(&rd, "ZADD crm:{acme}:waiting %lld conv-%d",
                       1795000000000LL + (long long)(12 - i) * 1000, i);
    j = get("/api/tenants/acme/waiting", NULL, 200);
    cr_assert(
        eq(i64, (int64_t)json_integer_value(json_object_get(j, "count")), 12));
    list = json_object_get(j, "oldest");
    cr_assert(eq(sz, json_array_size(list), 10));
    /* Oldest first: conv-11 waits since the smallest score. */
    assert_str(json_string_value(
                   json_object_get(json_array_get(list, 0), "conversation")),
               "conv-11");
    cr_assert(eq(i64,
                 (int64_t)json_integer_value(
                     json_object_get(json_array_get(list, 0), "since_ms")),
                 1795000001000LL));
    json_decref(j);

    for (int i = 0; i < 15; i++) {
        test_redis_cmd(&rd, "ZADD crm:{acme}:risk %f C%d", 0.05 * i + 0.01, i);
        test_redis_cmd(
            &rd,
            "HSET crm:{acme}:customer:C%d score %f level %s manager m%d "
            "orders %d last_order_at %lld open_tickets %d last_nps %d "
            "scored_at %lld reasons %s",
            i, 0.05 * i + 0.01,
            i > 12  ? "critical"
            : i > 9 ? "high"
                    : "none",
            i % 3, 10 + i, 1790000000000LL + i, i % 4, i % 11,
            1795000000000LL + i,
            "[{\"factor\":\"order_silence\",\"contribution\":1.25,"
            "\"detail\":\"no order for 48 days; usually every 12 days\"},"
            "{\"factor\":\"nps\",\"contribution\":0.5,\"detail\":\"NPS 3 on "
            "2026-11-20\"}]");
    }
    j = get("/api/tenants/acme/risk", NULL, 200);
    list = json_object_get(j, "customers");
    cr_assert(eq(sz, json_array_size(list), 10));
    reply = redisCommand(rd.ctx, "ZREVRANGE crm:{acme}:risk 0 9 WITHSCORES");
    for (size_t i = 0; i < 10; i++) {
        json_t *c = json_array_get(list, i), *reasons;
        redisReply *h;

        assert_str(json_string_value(json_object_get(c, "customer")),
                   reply->element[2 * i]->str);
        cr_assert(eq(dbl, json_real_value(json_object_get(c, "risk")),
                     strtod(reply->element[2 * i + 1]->str, NULL)));
        h = redisCommand(rd.ctx, "HGETALL crm:{acme}:customer:%s",
                         reply->element[2 * i]->str);
        for (size_t k = 0; k + 1 < h->elements; k += 2) {
            const char *f = h->element[k]->str, *v = h->element[k + 1]->str;
            json_t *got = json_object_get(c, f);

            cr_assert(truthy(got != NULL), "customer field %s missing", f);
            if (!strcmp(f, "score"))
                cr_assert(eq(dbl, json_real_value(got), strtod(v, NULL)));
            else if (!strcmp(f, "level") || !strcmp(f, "manager"))
                assert_str(json_string_value(got), (char *)v);
            else if (strcmp(f, "reasons"))
                cr_assert(eq(i64, (int64_t)json_integer_value(got),
                             (int64_t)strtoll(v, NULL, 10)),
                          "%s", f);
        }
        reasons = json_object_get(c, "reasons");
        cr_assert(eq(sz, json_array_size(reasons), 2));
        cr_assert(eq(dbl,
                     json_real_value(json_object_get(json_array_get(reasons, 0),
                                                     "contribution")),
                     1.25));
        freeReplyObject(h);
    }
    freeReplyObject(reply);
    json_decref(j);

    for (int i = 0; i < 35; i++)
        test_redis_cmd(&rd,
                       "LPUSH crm:{acme}:alerts:recent "
                       "{\"alert_id\":\"a%d\",\"kind\":\"CHURN_RISK\","
                       "\"tenant_id\":\"acme\",\"customer_id\":\"C%d\","
                       "\"level\":\"HIGH\",\"risk_score\":0.7,\"reasons\":[]}",
                       i, i);
    j = get("/api/tenants/acme/alerts", NULL, 200);
    list = json_object_get(j, "alerts");
    cr_assert(eq(sz, json_array_size(list), 30)); /* the ticker's share */
    assert_str(
        json_string_value(json_object_get(json_array_get(list, 0), "alert_id")),
        "a34"); /* newest first, as LPUSHed */
    cr_assert(eq(
        dbl,
        json_real_value(json_object_get(json_array_get(list, 0), "risk_score")),
        0.7));
    json_decref(j);
}

Test(board_api, board_answer_holds_every_part)
{
    char key[256];
    json_t *j;

    snprintf(key, sizeof(key), "crm:{acme}:d:%s", today);
    write_counters(key, 5);
    j = get("/api/tenants/acme/board", NULL, 200);
    assert_hash_equals(
        key, json_object_get(json_object_get(j, "today"), "counters"));
    cr_assert(truthy(json_is_object(json_object_get(j, "compare"))));
    cr_assert(truthy(json_is_object(json_object_get(j, "waiting"))));
    cr_assert(truthy(json_is_array(
        json_object_get(json_object_get(j, "risk"), "customers"))));
    cr_assert(truthy(json_is_array(
        json_object_get(json_object_get(j, "alerts"), "alerts"))));
    json_decref(j);
}

Test(board_api, tenants_are_found_by_scan)
{
    json_t *j, *list;

    test_redis_cmd(&rd, "HSET crm:{zeta}:d:2026-01-02 events 1");
    test_redis_cmd(&rd, "HSET crm:{acme}:d:2026-01-02:manager:m1 events 1");
    test_redis_cmd(&rd, "HSET crm:{beta.co}:d:2025-12-31:funnel lead 1");
    test_redis_cmd(&rd, "HSET crm:{notatenant}:customer:C1 score 0.5");
    test_redis_cmd(&rd, "HSET other:{x}:d:2026-01-02 events 1");
    for (int i = 0; i < 3000; i++) /* several SCAN rounds */
        test_redis_cmd(&rd, "SET noise:%d x", i);
    j = get("/api/tenants", NULL, 200);
    list = json_object_get(j, "tenants");
    cr_assert(eq(sz, json_array_size(list), 3));
    assert_str(json_string_value(json_array_get(list, 0)), "acme");
    assert_str(json_string_value(json_array_get(list, 1)), "beta.co");
    assert_str(json_string_value(json_array_get(list, 2)), "zeta");
    json_decref(j);
}

Test(board_api, bad_requests_are_refused)
{
    json_t *j;

    j = get("/api/tenants/ac%20me/today", NULL, 400);
    cr_assert(truthy(json_is_string(json_object_get(j, "error"))));
    json_decref(j);
    json_decref(get("/api/tenants/acme/today/extra", NULL, 404));
    json_decref(get("/api/tenants/acme/nothing", NULL, 404));
    json_decref(get("/api/tenants/acme", NULL, 404));
    json_decref(get("/api/elsewhere", NULL, 404));
    json_decref(get("/api/tenants/acme/day", "2026-02-29", 400));
    json_decref(get("/api/tenants/acme/day", "2026-13-01", 400));
    json_decref(get("/api/tenants/acme/day", "26-01-01", 400));
    json_decref(get("/api/tenants/acme/day", "2024-02-29", 200));
}

Test(board_api, answers_are_cached_for_cache_ms)
{
    struct cp_board_api *cached =
        cp_board_api_new(rd.url, "crm", 60000, errstr, sizeof(errstr));
    char key[256], *body = NULL;
    uint64_t cmds;
    json_t *j;

    cr_assert(truthy(cached != NULL));
    snprintf(key, sizeof(key), "crm:{acme}:d:%s", today);
    test_redis_cmd(&rd, "HSET %s events 10", key);
    cr_assert(eq(
        int, cp_board_api_get(cached, "/api/tenants/acme/today", NULL, &body),
        200));
    free(body);
    cmds = cp_board_api_redis_commands(cached);
    cr_assert(truthy(cmds > 0));
    test_redis_cmd(&rd, "HSET %s events 11", key);
    for (int i = 0; i < 100; i++) {
        cr_assert(
            eq(int,
               cp_board_api_get(cached, "/api/tenants/acme/today", NULL, &body),
               200));
        j = json_loads(body, 0, NULL);
        free(body);
        cr_assert(eq(i64,
                     (int64_t)json_integer_value(json_object_get(
                         json_object_get(j, "counters"), "events")),
                     10)); /* still the cached answer */
        json_decref(j);
    }
    /* 100 answers, not one Redis command. */
    cr_assert(eq(u64, cp_board_api_redis_commands(cached), cmds));
    cp_board_api_destroy(cached);

    /* Uncached (cache_ms 0): the new value at once. */
    j = get("/api/tenants/acme/today", NULL, 200);
    cr_assert(eq(i64,
                 (int64_t)json_integer_value(
                     json_object_get(json_object_get(j, "counters"), "events")),
                 11));
    json_decref(j);
}

Test(board_api, prefix_is_configurable)
{
    struct cp_board_api *other =
        cp_board_api_new(rd.url, "shop", 0, errstr, sizeof(errstr));
    char key[256], *body = NULL;
    json_t *j;

    snprintf(key, sizeof(key), "shop:{acme}:d:%s", today);
    test_redis_cmd(&rd, "HSET %s events 77", key);
    cr_assert(
        eq(int, cp_board_api_get(other, "/api/tenants/acme/today", NULL, &body),
           200));
    j = json_loads(body, 0, NULL);
    free(body);
    cr_assert(eq(i64,
                 (int64_t)json_integer_value(
                     json_object_get(json_object_get(j, "counters"), "events")),
                 77));
    json_decref(j);
    cp_board_api_destroy(other);
}

Test(board_api, redis_down_gives_503_then_recovers)
{
    char key[256];
    json_t *j;

    json_decref(get("/api/tenants/acme/today", NULL, 200)); /* connected */
    test_redis_stop(&rd);
    j = get("/api/tenants/acme/today", NULL, 503);
    assert_str(json_string_value(json_object_get(j, "error")),
               "redis unavailable");
    json_decref(j);

    cr_assert(eq(int, test_redis_start(&rd), 0));
    cp_board_api_destroy(api); /* the new server has a new socket path */
    api = cp_board_api_new(rd.url, "crm", 0, errstr, sizeof(errstr));
    snprintf(key, sizeof(key), "crm:{acme}:d:%s", today);
    test_redis_cmd(&rd, "HSET %s events 3", key);
    j = get("/api/tenants/acme/today", NULL, 200);
    assert_hash_equals(key, json_object_get(j, "counters"));
    json_decref(j);
}

Test(board_api, bad_url_is_a_constructor_error)
{
    struct cp_board_api *bad =
        cp_board_api_new("http://x", "crm", 0, errstr, sizeof(errstr));

    cr_assert(truthy(bad == NULL));
    cr_assert(truthy(strstr(errstr, "redis.url") != NULL), "%s", errstr);
}

/* With more managers than the answer shows, the answer holds the top ones
 * by the page's order over all of them (a sample of the first 1,024 SCAN
 * found missed the top one), and says how many there are. */
Test(board_api, managers_are_ranked_over_all_of_them)
{
    redisReply *reply;
    json_t *j, *m;

    /* One pipeline: 2,000 managers, m1999 the top by won amount. */
    for (int i = 0; i < 2000; i++)
        redisAppendCommand(rd.ctx,
                           "HSET crm:{acme}:d:%s:manager:m%d won_amount_minor "
                           "%d events 1",
                           today, i, i * 10);
    for (int i = 0; i < 2000; i++) {
        cr_assert(eq(int, redisGetReply(rd.ctx, (void **)&reply), REDIS_OK));
        freeReplyObject(reply);
    }
    j = get("/api/tenants/acme/managers", NULL, 200);
    m = json_object_get(j, "managers");
    cr_assert(eq(sz, json_object_size(m), 50));
    for (int i = 1950; i < 2000; i++) {
        char name[16];

        snprintf(name, sizeof(name), "m%d", i);
        cr_assert(truthy(json_object_get(m, name) != NULL), "%s missing", name);
    }
    json_decref(j);
    j = get("/api/tenants/acme/today", NULL, 200);
    cr_assert(eq(
        i64, (int64_t)json_integer_value(json_object_get(j, "managers_total")),
        2000));
    json_decref(j);
}

/* Breaches must not drown churn alerts: the churn lane holds the churn
 * alerts among the newest 100 however many breaches came after them, and
 * the breaches of the last hour are a count (from the minute hashes). */
Test(board_api, churn_alerts_and_sla_breaches_in_separate_lanes)
{
    char day[11], hhmm[16];
    int64_t now = cp_now_ms();
    int64_t mins = (now % 86400000) / 60000;
    json_t *j, *churn;

    test_redis_cmd(&rd, "LPUSH crm:{acme}:alerts:recent "
                        "{\"alert_id\":\"c1\",\"kind\":\"CHURN_RISK\"}");
    for (int i = 0; i < 80; i++)
        test_redis_cmd(
            &rd,
            "LPUSH crm:{acme}:alerts:recent "
            "{\"alert_id\":\"s%d\",\"kind\":\"RESPONSE_SLA_BREACH\"}",
            i);
    cp_format_day(now, day);
    snprintf(hhmm, sizeof(hhmm), "%02d%02d", (int)(mins / 60),
             (int)(mins % 60));
    test_redis_cmd(&rd, "HSET crm:{acme}:m:%s:%s sla_breaches 7", day, hhmm);
    cp_format_day(now - 2 * 3600000, day);
    mins = ((now - 2 * 3600000) % 86400000) / 60000;
    snprintf(hhmm, sizeof(hhmm), "%02d%02d", (int)(mins / 60),
             (int)(mins % 60));
    test_redis_cmd(&rd, "HSET crm:{acme}:m:%s:%s sla_breaches 100", day, hhmm);

    j = get("/api/tenants/acme/alerts", NULL, 200);
    churn = json_object_get(j, "churn");
    cr_assert(eq(sz, json_array_size(churn), 1));
    assert_str(json_string_value(
                   json_object_get(json_array_get(churn, 0), "alert_id")),
               "c1");
    cr_assert(eq(sz, json_array_size(json_object_get(j, "alerts")), 30),
              "the mixed list stays as it was");
    cr_assert(eq(i64,
                 (int64_t)json_integer_value(
                     json_object_get(json_object_get(j, "sla"), "last_hour")),
                 7),
              "two hours ago is not the last hour");
    cr_assert(eq(i64,
                 (int64_t)json_integer_value(
                     json_object_get(json_object_get(j, "sla"), "in_recent")),
                 80));
    json_decref(j);
}
