/* SPDX-License-Identifier: Apache-2.0 */
/* The wallboard's JSON API: reads the public Redis keys with pipelined
 * commands on one connection and renders them with jansson. Answers are
 * cached per (what, tenant, day) for cache_ms. The tenant list and the
 * manager and source names of recent days come from the index (index.c),
 * a SCAN that its own thread repeats, so no request waits for it. */
#include "board_api.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "board_int.h"
#include "civil.h"
#include "conn.h"
#include "ids.h"
#include "log.h"
#include "keys.h"

#define CACHE_SLOTS   128  /* distinct answers kept */
#define STALE_MAX_MS  5000 /* oldest answer served during a render */
#define TOP_RISK      30 /* at-risk customers read (the page shows what fits) */
#define TOP_WAITING   10 /* oldest waiting conversations listed */
#define RECENT_ALERTS 30 /* alerts in the ticker */
#define REDIS_TIMEOUT 2000      /* ms per Redis read or write */
#define RETRY_MS      1000      /* reconnect at most this often */
#define BODY_MAX      (4 << 20) /* an answer larger than this is an error */

struct cache_entry {
    char *key;     /* owned; "what|tenant|day"; NULL = free slot */
    char *body;    /* owned JSON */
    int64_t at_ms; /* monotonic time it was rendered */
};

struct cp_board_api {
    struct cp_redis_url url; /* owned */
    char address[300];       /* for messages, no secret */
    char *prefix;            /* owned */
    int cache_ms;

    pthread_mutex_t redis_mu; /* guards everything down to `commands` */
    struct cp_rconn *conn;    /* owned; NULL while disconnected */
    struct cp_cmds cmds;      /* commands not sent yet */
    int64_t retry_at_ms;      /* no reconnect attempt before this */
    int warned;               /* this outage was logged already */
    uint64_t commands;

    struct cp__index *index; /* owned: tenants, managers, sources */

    pthread_mutex_t cache_mu; /* guards cache[] */
    struct cache_entry cache[CACHE_SLOTS];
};

/* ---- dates ---- */

/* "YYYY-MM-DD" of day number @p days (since 1970-01-01). */
static void civil_from_days(int64_t days, char out[11])
{
    cp_format_day(days * 86400000, out);
}

/* ---- Redis ---- */

static void drop_connection(struct cp_board_api *api)
{
    cp_rconn_destroy(api->conn);
    api->conn = NULL;
    cp_cmds_reset(&api->cmds);
    api->retry_at_ms = cp_mono_ms() + RETRY_MS;
}

static int ensure_connected(struct cp_board_api *api)
{
    char errstr[512];

    if (api->conn)
        return 0;
    if (cp_mono_ms() < api->retry_at_ms)
        return -1;
    api->conn = cp_rconn_new(&api->url, REDIS_TIMEOUT, errstr, sizeof(errstr));
    if (!api->conn) {
        api->retry_at_ms = cp_mono_ms() + RETRY_MS;
        if (!api->warned++) /* once per outage, not once per second */
            cp_log(CP_LOG_WARNING, "BOARD", "%s; API answers 503 meanwhile",
                   errstr);
        return -1;
    }
    api->warned = 0;
    cp_log(CP_LOG_INFO, "BOARD", "redis connected to %s", api->address);
    return 0;
}

/* Begins a command of @p argc arguments: @p verb, then the key
 * printf(@p key_fmt, ...); the caller adds the rest with cp_cmd_*(). A key
 * that does not fit poisons the batch, which then fails as a whole. */
static void cmd_key(struct cp_board_api *api, int argc, const char *verb,
                    const char *key_fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void cmd_key(struct cp_board_api *api, int argc, const char *verb,
                    const char *key_fmt, ...)
{
    char key[1024];
    va_list ap;
    int n;

    va_start(ap, key_fmt);
    n = vsnprintf(key, sizeof(key), key_fmt, ap);
    va_end(ap);
    cp_cmd_begin(&api->cmds, argc);
    cp_cmd_str(&api->cmds, verb);
    if (n < 0 || (size_t)n >= sizeof(key))
        cp_cmds_poison(&api->cmds);
    else
        cp_cmd_arg(&api->cmds, key, (size_t)n);
    api->commands++;
}

/* Sends the commands begun since the last collect and reads their replies
 * into out[0..n). On an I/O error the connection is dropped and every
 * reply freed. Returns the reply count, or -1. */
static long collect(struct cp_board_api *api, struct cp_rconn_reply **out,
                    size_t cap)
{
    size_t n = api->cmds.cnt, i;
    cp_rc rc;

    if (n > cap) {
        drop_connection(api); /* a caller bug; never leave replies unread */
        return -1;
    }
    rc = cp_rconn_send(api->conn, &api->cmds);
    cp_cmds_reset(&api->cmds);
    if (rc == CP_ENOMEM) { /* nothing was sent: the connection is fine */
        cp_log(CP_LOG_WARNING, "BOARD", "redis commands: out of memory");
        return -1;
    }
    for (i = 0; !rc && i < n; i++)
        rc = cp_rconn_read(api->conn, -1, &out[i]);
    if (rc) {
        cp_log(CP_LOG_WARNING, "BOARD", "%s", cp_rconn_errstr(api->conn));
        while (i > 0)
            cp_rconn_reply_free(out[--i]);
        drop_connection(api);
        return -1;
    }
    return (long)n;
}

static void free_replies(struct cp_rconn_reply **r, long n)
{
    for (long i = 0; i < n; i++)
        cp_rconn_reply_free(r[i]);
}

/* The view of reply @p r (borrowed from it). */
static struct cp_reply view_of(const struct cp_rconn_reply *r)
{
    struct cp_reply v;

    cp_rconn_reply_view(r, &v);
    return v;
}

static struct cp_reply element_of(const struct cp_reply *r, size_t i)
{
    struct cp_reply e;

    cp_reply_element(r, i, &e);
    return e;
}

/* ---- reply -> JSON ---- */

/* A Redis value as the most specific JSON scalar: integer, real, else
 * string (a counter hash holds integers only; a customer hash mixes). */
static json_t *typed_value(const char *s, size_t len)
{
    char *end;

    if (len > 0 && len < 32) {
        long long v;
        double d;

        errno = 0;
        v = strtoll(s, &end, 10);
        if (!errno && end == s + len)
            return json_integer(v);
        errno = 0;
        d = strtod(s, &end);
        if (!errno && end == s + len && d == d)
            return json_real(d);
    }
    return json_stringn(s, len);
}

/* HGETALL reply -> object; `reasons` (a JSON array in customer hashes) is
 * embedded as JSON, not as a string. */
static json_t *hash_object(const struct cp_rconn_reply *reply)
{
    json_t *obj = json_object();
    struct cp_reply r;

    if (!obj || !reply)
        return obj;
    r = view_of(reply);
    if (r.type != CP_REPLY_ARRAY)
        return obj;
    for (size_t i = 0; i + 1 < r.elements; i += 2) {
        struct cp_reply k = element_of(&r, i), v = element_of(&r, i + 1);
        json_t *val = NULL;
        char name[256];

        if (k.type != CP_REPLY_STRING || v.type != CP_REPLY_STRING ||
            k.len >= sizeof(name))
            continue;
        memcpy(name, k.str, k.len);
        name[k.len] = '\0';
        if (!strcmp(name, "reasons"))
            val = json_loadb(v.str, v.len, JSON_DECODE_ANY, NULL);
        if (!val)
            val = typed_value(v.str, v.len);
        json_object_set_new(obj, name, val);
    }
    return obj;
}

static int reply_is_error(const struct cp_rconn_reply *r)
{
    return view_of(r).type == CP_REPLY_ERROR;
}

/* ---- answers ---- */

#define NAMES_TOP   50   /* managers, and sources, in a day's answer */
#define NAMES_CHUNK 1000 /* HGETALLs per round trip */

/* A manager's or source's day hash, with the keys it is ranked by. */
struct ranked {
    json_t *hash; /* owned until moved into the answer */
    char kind;    /* 'm' manager, 's' source */
    char *name;   /* borrowed from the names array */
    json_int_t key[3];
};

static json_int_t hash_int(json_t *hash, const char *field)
{
    return json_integer_value(json_object_get(hash, field));
}

/* The page's order: managers by won amount, deals won, events; sources by
 * leads; then by name, so equal ranks keep one order. */
static int cmp_ranked(const void *pa, const void *pb)
{
    const struct ranked *a = pa, *b = pb;

    if (a->kind != b->kind)
        return a->kind - b->kind;
    for (int i = 0; i < 3; i++)
        if (a->key[i] != b->key[i])
            return a->key[i] < b->key[i] ? 1 : -1;
    return strcmp(a->name, b->name);
}

/* HGETALL of every indexed manager and source of (@p t, @p date), in
 * rounds of NAMES_CHUNK. @returns 0, or -1 on a Redis error. */
static int fetch_ranked(struct cp_board_api *api, const char *t,
                        const char *date, struct ranked *rk, size_t cnt)
{
    struct cp_rconn_reply *r[NAMES_CHUNK];

    for (size_t done = 0; done < cnt;) {
        size_t m = cnt - done < NAMES_CHUNK ? cnt - done : NAMES_CHUNK;
        long n;

        for (size_t i = 0; i < m; i++)
            cmd_key(api, 2, "HGETALL", CP_KEY_TENANT_FMT CP_KSEG_DAY "%s:%s:%s",
                    api->prefix, t, date,
                    rk[done + i].kind == 'm' ? "manager" : "source",
                    rk[done + i].name);
        n = collect(api, r, m);
        if (n < 0)
            return -1;
        for (size_t i = 0; i < m; i++) {
            struct ranked *x = &rk[done + i];

            x->hash = reply_is_error(r[i]) ? NULL : hash_object(r[i]);
            if (!x->hash)
                break;
            if (x->kind == 'm') {
                x->key[0] = hash_int(x->hash, "won_amount_minor");
                x->key[1] = hash_int(x->hash, "deals_won");
                x->key[2] = hash_int(x->hash, "events");
            } else {
                x->key[0] = hash_int(x->hash, "leads");
            }
        }
        free_replies(r, n);
        for (size_t i = 0; i < m; i++)
            if (!rk[done + i].hash)
                return -1;
        done += m;
    }
    return 0;
}

/* Ranks every manager and source of the day (with 10,000 managers, a
 * sample of them would miss the top one) and sets the top NAMES_TOP of
 * each kind, and how many there are, on @p day. */
static int rank_names(struct cp_board_api *api, const char *t, const char *date,
                      json_t *day)
{
    size_t cnt = cp__index_name_count(api->index, t, date), got;
    char **names = malloc((cnt ? cnt : 1) * sizeof(*names));
    char *kinds = malloc(cnt ? cnt : 1);
    struct ranked *rk = calloc(cnt ? cnt : 1, sizeof(*rk));
    json_t *mgrs = json_object(), *srcs = json_object();
    size_t shown[2] = {0, 0}, total[2] = {0, 0};
    int rc = -1;

    got = names && kinds && rk
              ? cp__index_names(api->index, t, date, kinds, names, cnt)
              : 0;
    for (size_t i = 0; i < got; i++) {
        rk[i].kind = kinds[i];
        rk[i].name = names[i];
    }
    if (!names || !kinds || !rk || !mgrs || !srcs ||
        fetch_ranked(api, t, date, rk, got))
        goto out;
    qsort(rk, got, sizeof(*rk), cmp_ranked);
    for (size_t i = 0; i < got; i++) {
        int k = rk[i].kind == 's';

        total[k]++;
        if (shown[k] < NAMES_TOP) {
            shown[k]++;
            json_object_set_new(k ? srcs : mgrs, rk[i].name, rk[i].hash);
            rk[i].hash = NULL;
        }
    }
    json_object_set_new(day, "managers", mgrs);
    json_object_set_new(day, "sources", srcs);
    json_object_set_new(day, "managers_total",
                        json_integer((json_int_t)total[0]));
    json_object_set_new(day, "sources_total",
                        json_integer((json_int_t)total[1]));
    mgrs = srcs = NULL;
    rc = 0;
out:
    json_decref(mgrs);
    json_decref(srcs);
    for (size_t i = 0; rk && i < got; i++)
        json_decref(rk[i].hash);
    for (size_t i = 0; names && i < got; i++)
        free(names[i]);
    free(rk);
    free(kinds);
    free(names);
    return rc;
}

/* The day hashes of tenant @p t on @p date: counters, funnel, histogram,
 * channels, and the top managers and sources. NULL on a Redis error. */
static json_t *render_day(struct cp_board_api *api, const char *t,
                          const char *date)
{
    const char *p = api->prefix;
    struct cp_rconn_reply *r[3 + CP_KEY_CHANNEL_CNT];
    json_t *day = NULL, *chans;
    size_t nchan = CP_KEY_CHANNEL_CNT;
    long n;

    cmd_key(api, 2, "HGETALL", CP_KEY_TENANT_FMT CP_KSEG_DAY "%s", p, t, date);
    cmd_key(api, 2, "HGETALL",
            CP_KEY_TENANT_FMT CP_KSEG_DAY "%s:" CP_KSEG_FUNNEL, p, t, date);
    cmd_key(api, 2, "HGETALL", CP_KEY_TENANT_FMT CP_KSEG_DAY "%s:" CP_KSEG_RT,
            p, t, date);
    for (size_t i = 0; i < nchan; i++)
        cmd_key(api, 2, "HGETALL",
                CP_KEY_TENANT_FMT CP_KSEG_DAY "%s:" CP_KSEG_CHANNEL ":%s", p, t,
                date, cp_key_channel_name((int)i));
    n = collect(api, r, 3 + nchan);
    if (n < 0)
        return NULL;
    for (long i = 0; i < n; i++)
        if (reply_is_error(r[i]))
            goto out;
    day = json_pack("{s:s, s:s, s:o, s:o, s:o}", "tenant", t, "day", date,
                    "counters", hash_object(r[0]), "funnel", hash_object(r[1]),
                    "rt", hash_object(r[2]));
    chans = json_object();
    if (!day || !chans) {
        json_decref(chans);
        json_decref(day);
        day = NULL;
        goto out;
    }
    for (size_t i = 0; i < nchan; i++)
        if (view_of(r[3 + i]).elements) /* absent channels are left out */
            json_object_set_new(chans, cp_key_channel_name((int)i),
                                hash_object(r[3 + i]));
    json_object_set_new(day, "channels", chans);
    if (rank_names(api, t, date, day)) {
        json_decref(day);
        day = NULL;
    }
out:
    free_replies(r, n);
    return day;
}

/* Counters of @p date and of the same weekday a week before. */
static json_t *render_compare(struct cp_board_api *api, const char *t,
                              const char *date, int64_t days)
{
    char before[11];
    struct cp_rconn_reply *r[3];
    json_t *out = NULL;
    long n;

    civil_from_days(days - 7, before);
    cmd_key(api, 2, "HGETALL", CP_KEY_TENANT_FMT CP_KSEG_DAY "%s", api->prefix,
            t, date);
    cmd_key(api, 2, "HGETALL", CP_KEY_TENANT_FMT CP_KSEG_DAY "%s", api->prefix,
            t, before);
    cmd_key(api, 2, "HGETALL",
            CP_KEY_TENANT_FMT CP_KSEG_DAY "%s:" CP_KSEG_FUNNEL, api->prefix, t,
            before);
    n = collect(api, r, 3);
    if (n < 0)
        return NULL;
    if (!reply_is_error(r[0]) && !reply_is_error(r[1]) && !reply_is_error(r[2]))
        out = json_pack("{s:s, s:s, s:o, s:{s:s, s:o, s:o}}", "tenant", t,
                        "day", date, "counters", hash_object(r[0]), "week_ago",
                        "day", before, "counters", hash_object(r[1]), "funnel",
                        hash_object(r[2]));
    free_replies(r, n);
    return out;
}

/* Conversations waiting for a first reply: how many, the oldest ones. */
static json_t *render_waiting(struct cp_board_api *api, const char *t)
{
    struct cp_rconn_reply *r[2];
    struct cp_reply cnt, list;
    json_t *out = NULL, *oldest;
    long n;

    cmd_key(api, 2, "ZCARD", CP_KEY_TENANT_FMT CP_KSEG_STATE_WAITING,
            api->prefix, t);
    cmd_key(api, 5, "ZRANGE", CP_KEY_TENANT_FMT CP_KSEG_STATE_WAITING,
            api->prefix, t);
    cp_cmd_str(&api->cmds, "0");
    cp_cmd_int(&api->cmds, TOP_WAITING - 1);
    cp_cmd_str(&api->cmds, "WITHSCORES");
    n = collect(api, r, 2);
    if (n < 0)
        return NULL;
    cnt = view_of(r[0]);
    list = view_of(r[1]);
    if (cnt.type != CP_REPLY_INTEGER || list.type != CP_REPLY_ARRAY)
        goto out;
    oldest = json_array();
    for (size_t i = 0; oldest && i + 1 < list.elements; i += 2) {
        struct cp_reply m = element_of(&list, i), s = element_of(&list, i + 1);

        json_array_append_new(
            oldest, json_pack("{s:s#, s:I}", "conversation", m.str, (int)m.len,
                              "since_ms", (json_int_t)strtod(s.str, NULL)));
    }
    out = json_pack("{s:s, s:I, s:o}", "tenant", t, "count",
                    (json_int_t)cnt.integer, "oldest", oldest);
out:
    free_replies(r, n);
    return out;
}

/* The top at-risk customers: the risk zset, then each customer's hash. */
static json_t *render_risk(struct cp_board_api *api, const char *t)
{
    struct cp_rconn_reply *top[1], *r[TOP_RISK];
    struct cp_reply zs;
    json_t *out = NULL, *list;
    size_t cnt;
    long n;

    cmd_key(api, 5, "ZREVRANGE", CP_KEY_TENANT_FMT CP_KSEG_RISK, api->prefix,
            t);
    cp_cmd_str(&api->cmds, "0");
    cp_cmd_int(&api->cmds, TOP_RISK - 1);
    cp_cmd_str(&api->cmds, "WITHSCORES");
    if (collect(api, top, 1) != 1)
        return NULL;
    zs = view_of(top[0]);
    if (zs.type != CP_REPLY_ARRAY) {
        cp_rconn_reply_free(top[0]);
        return NULL;
    }
    cnt = zs.elements / 2;
    for (size_t i = 0; i < cnt; i++) {
        struct cp_reply m = element_of(&zs, 2 * i);
        char key[300];
        int len = snprintf(key, sizeof(key), CP_KEY_TENANT_FMT CP_KSEG_CUSTOMER,
                           api->prefix, t);

        /* The customer id is binary-safe: it is not printed into the key. */
        cp_cmd_begin(&api->cmds, 2);
        cp_cmd_str(&api->cmds, "HGETALL");
        if (len < 0 || (size_t)len >= sizeof(key))
            cp_cmds_poison(&api->cmds);
        else
            cp_cmd_arg2(&api->cmds, key, (size_t)len, m.str, m.len);
        api->commands++;
    }
    n = collect(api, r, TOP_RISK);
    if (n < 0) {
        cp_rconn_reply_free(top[0]);
        return NULL;
    }
    list = json_array();
    for (long i = 0; list && i < n; i++) {
        struct cp_reply m = element_of(&zs, 2 * (size_t)i);
        struct cp_reply s = element_of(&zs, 2 * (size_t)i + 1);
        json_t *c = hash_object(r[i]);

        json_object_set_new(c, "customer", json_stringn(m.str, m.len));
        json_object_set_new(c, "risk", json_real(strtod(s.str, NULL)));
        json_array_append_new(list, c);
    }
    out = json_pack("{s:s, s:o}", "tenant", t, "customers", list);
    free_replies(r, n);
    cp_rconn_reply_free(top[0]);
    return out;
}

/* The ticker: alerts:recent, newest first, each parsed back into JSON. */
/* SLA breaches of the tenant in the last 60 minutes of the wall clock,
 * from its minute hashes (the alerts list holds the newest 100 alerts
 * only, and breaches would push every churn alert out of it). Appends the
 * 60 HGETs; the caller collects them. */
static void cmd_sla_last_hour(struct cp_board_api *api, const char *t)
{
    int64_t now = cp_now_ms();

    for (int i = 0; i < 60; i++) {
        int64_t at = now - (int64_t)i * 60000;
        char day[11];
        int64_t mins = (at - cp_day_of_ms(at) * 86400000) / 60000;

        cp_format_day(at, day);
        cmd_key(api, 3, "HGET", CP_KEY_TENANT_FMT CP_KSEG_MINUTE "%s:%02d%02d",
                api->prefix, t, day, (int)(mins / 60), (int)(mins % 60));
        cp_cmd_str(&api->cmds, "sla_breaches");
    }
}

/* The newest alerts in two lanes: `alerts` (the newest RECENT_ALERTS of
 * any kind, as before), `churn` (the CHURN_RISK alerts among the newest
 * 100) and `sla` (breaches among the newest 100, and in the last hour). */
static json_t *render_alerts(struct cp_board_api *api, const char *t)
{
    struct cp_rconn_reply *r[61];
    struct cp_reply recent;
    json_t *out = NULL, *list = NULL, *churn = NULL;
    json_int_t sla_recent = 0, sla_hour = 0;
    long n;

    cmd_key(api, 4, "LRANGE", CP_KEY_TENANT_FMT CP_KSEG_ALERTS_RECENT,
            api->prefix, t);
    cp_cmd_str(&api->cmds, "0");
    cp_cmd_int(&api->cmds, 99);
    cmd_sla_last_hour(api, t);
    n = collect(api, r, 61);
    if (n != 61) {
        if (n > 0)
            free_replies(r, n);
        return NULL;
    }
    for (int i = 1; i < 61; i++) {
        struct cp_reply v = view_of(r[i]);

        if (v.type == CP_REPLY_STRING)
            sla_hour += (json_int_t)strtoll(v.str, NULL, 10);
    }
    recent = view_of(r[0]);
    list = json_array();
    churn = json_array();
    for (size_t i = 0;
         list && churn && recent.type == CP_REPLY_ARRAY && i < recent.elements;
         i++) {
        struct cp_reply a = element_of(&recent, i);
        json_t *v = a.type == CP_REPLY_STRING
                        ? json_loadb(a.str, a.len, 0, NULL)
                        : NULL;
        const char *kind = json_string_value(json_object_get(v, "kind"));

        if (!v) /* a malformed entry is skipped, not fatal */
            continue;
        if (kind && !strcmp(kind, "RESPONSE_SLA_BREACH"))
            sla_recent++;
        else if (json_array_size(churn) < RECENT_ALERTS)
            json_array_append(churn, v);
        if (i < RECENT_ALERTS)
            json_array_append(list, v);
        json_decref(v);
    }
    if (list && churn)
        out = json_pack("{s:s, s:O, s:O, s:{s:I, s:I}}", "tenant", t, "alerts",
                        list, "churn", churn, "sla", "in_recent", sla_recent,
                        "last_hour", sla_hour);
    json_decref(list);
    json_decref(churn);
    free_replies(r, n);
    return out;
}

static void append_tenant(void *list, const char *tenant)
{
    json_array_append_new(list, json_string(tenant));
}

static json_t *render_tenants(struct cp_board_api *api)
{
    json_t *list = json_array();

    if (list)
        cp__index_each_tenant(api->index, append_tenant, list);
    return json_pack("{s:o, s:I}", "tenants", list, "now_ms",
                     (json_int_t)cp_now_ms());
}

/* Moves @p key of @p from into a new answer {tenant, day, key}. */
static json_t *pick(json_t *from, const char *key)
{
    json_t *out = NULL;

    if (from)
        out = json_pack(
            "{s:O, s:O, s:O}", "tenant", json_object_get(from, "tenant"), "day",
            json_object_get(from, "day"), key, json_object_get(from, key));
    json_decref(from);
    return out;
}

/* Everything the page shows, in one answer. */
static json_t *render_board(struct cp_board_api *api, const char *t,
                            const char *date, int64_t days)
{
    json_t *out = json_object();

    if (!out)
        return NULL;
    json_object_set_new(out, "tenant", json_string(t));
    json_object_set_new(out, "day", json_string(date));
    json_object_set_new(out, "now_ms", json_integer(cp_now_ms()));
    json_object_set_new(out, "today", render_day(api, t, date));
    json_object_set_new(out, "compare", render_compare(api, t, date, days));
    json_object_set_new(out, "waiting", render_waiting(api, t));
    json_object_set_new(out, "risk", render_risk(api, t));
    json_object_set_new(out, "alerts", render_alerts(api, t));
    /* set_new of NULL fails: a missing part means a Redis error. */
    if (json_object_size(out) != 8) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---- routing and cache ---- */

static char *error_body(const char *msg)
{
    json_t *j = json_pack("{s:s}", "error", msg);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    return s;
}

/* Looks @p key up; a hit no older than @p max_age_ms is copied to *body. */
static int cache_get(struct cp_board_api *api, const char *key,
                     int64_t max_age_ms, char **body)
{
    int64_t now = cp_mono_ms();
    int hit = 0;

    if (api->cache_ms <= 0)
        return 0;
    pthread_mutex_lock(&api->cache_mu);
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        struct cache_entry *e = &api->cache[i];

        if (e->key && !strcmp(e->key, key) && now - e->at_ms < max_age_ms) {
            *body = strdup(e->body);
            hit = *body != NULL;
            break;
        }
    }
    pthread_mutex_unlock(&api->cache_mu);
    return hit;
}

/* Stores a copy of @p body under @p key, replacing the same key or the
 * oldest slot. */
static void cache_put(struct cp_board_api *api, const char *key,
                      const char *body, int64_t at_ms)
{
    struct cache_entry *slot = NULL;
    char *k, *b;

    if (api->cache_ms <= 0)
        return;
    k = strdup(key);
    b = strdup(body);
    if (!k || !b) {
        free(k);
        free(b);
        return;
    }
    pthread_mutex_lock(&api->cache_mu);
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        struct cache_entry *e = &api->cache[i];

        if (e->key && !strcmp(e->key, key)) {
            slot = e;
            break;
        }
        if (!slot || !e->key || (slot->key && e->at_ms < slot->at_ms))
            slot = e;
    }
    free(slot->key);
    free(slot->body);
    slot->key = k;
    slot->body = b;
    slot->at_ms = at_ms;
    pthread_mutex_unlock(&api->cache_mu);
}

enum what {
    W_TENANTS,
    W_BOARD,
    W_TODAY,
    W_DAY,
    W_COMPARE,
    W_FUNNEL,
    W_RT,
    W_CHANNELS,
    W_MANAGERS,
    W_SOURCES,
    W_WAITING,
    W_RISK,
    W_ALERTS,
};

static const struct {
    const char *name;
    enum what what;
} routes[] = {
    {"board", W_BOARD},       {"today", W_TODAY},       {"day", W_DAY},
    {"compare", W_COMPARE},   {"funnel", W_FUNNEL},     {"rt", W_RT},
    {"channels", W_CHANNELS}, {"managers", W_MANAGERS}, {"sources", W_SOURCES},
    {"waiting", W_WAITING},   {"risk", W_RISK},         {"alerts", W_ALERTS},
};

static json_t *render(struct cp_board_api *api, enum what what, const char *t,
                      const char *date, int64_t days)
{
    switch (what) {
    case W_TENANTS:
        return render_tenants(api);
    case W_BOARD:
        return render_board(api, t, date, days);
    case W_TODAY:
    case W_DAY:
        return render_day(api, t, date);
    case W_COMPARE:
        return render_compare(api, t, date, days);
    case W_FUNNEL:
        return pick(render_day(api, t, date), "funnel");
    case W_RT:
        return pick(render_day(api, t, date), "rt");
    case W_CHANNELS:
        return pick(render_day(api, t, date), "channels");
    case W_MANAGERS:
        return pick(render_day(api, t, date), "managers");
    case W_SOURCES:
        return pick(render_day(api, t, date), "sources");
    case W_WAITING:
        return render_waiting(api, t);
    case W_RISK:
        return render_risk(api, t);
    case W_ALERTS:
        return render_alerts(api, t);
    }
    return NULL;
}

int cp_board_api_get(struct cp_board_api *api, const char *path,
                     const char *date, char **body)
{
    static const char base[] = "/api/tenants";
    char tenant[65] = "", day[11], key[128];
    enum what what = W_TENANTS;
    int64_t days, at;
    json_t *j;
    int status = 200;

    *body = NULL;
    if (strncmp(path, base, sizeof(base) - 1))
        goto not_found;
    path += sizeof(base) - 1;
    if (*path && strcmp(path, "/")) {
        const char *slash;
        size_t i;

        if (*path++ != '/')
            goto not_found;
        slash = strchr(path, '/');
        if (!slash)
            goto not_found;
        if (!cp_id_valid(path, (size_t)(slash - path))) {
            *body = error_body("tenant: expected 1-64 of [A-Za-z0-9._-]");
            return 400;
        }
        memcpy(tenant, path, (size_t)(slash - path));
        tenant[slash - path] = '\0';
        for (i = 0; i < CP_ARRAY_SIZE(routes); i++)
            if (!strcmp(slash + 1, routes[i].name))
                break;
        if (i == CP_ARRAY_SIZE(routes))
            goto not_found;
        what = routes[i].what;
    }
    if (what == W_TODAY || !date || !*date) {
        days = cp_day_of_ms(cp_now_ms());
        civil_from_days(days, day);
    } else if (cp_parse_day(date, &days)) {
        *body = error_body("date: expected YYYY-MM-DD (UTC)");
        return 400;
    } else {
        memcpy(day, date, sizeof(day));
    }
    snprintf(key, sizeof(key), "%d|%s|%s", (int)what, tenant, day);
    if (cache_get(api, key, api->cache_ms, body))
        return 200;
    if (what == W_TENANTS || what == W_BOARD || what == W_TODAY ||
        what == W_DAY || (what >= W_FUNNEL && what <= W_SOURCES))
        cp__index_ensure(api->index);
    /* While another request is reading Redis, an expired answer is served
     * rather than queueing behind it: latency stays flat when many answers
     * expire in the same second, and Redis still sees one render per
     * answer per cache_ms. Pages check "now_ms" to ask again if needed. */
    if (pthread_mutex_trylock(&api->redis_mu)) {
        if (cache_get(api, key, STALE_MAX_MS, body))
            return 200;
        pthread_mutex_lock(&api->redis_mu);
    }
    /* Whoever held the lock may just have rendered the same answer. */
    if (cache_get(api, key, api->cache_ms, body)) {
        pthread_mutex_unlock(&api->redis_mu);
        return 200;
    }
    at = cp_mono_ms();
    j = NULL;
    if (!ensure_connected(api))
        j = render(api, what, tenant, day, days);
    if (j) {
        *body = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (*body && strlen(*body) > BODY_MAX) {
            free(*body);
            *body = NULL;
        }
        if (*body)
            cache_put(api, key, *body, at);
        else
            status = 500;
    } else {
        status = api->conn ? 500 : 503;
    }
    pthread_mutex_unlock(&api->redis_mu);
    if (status == 503)
        *body = error_body("redis unavailable");
    else if (status == 500 && !*body)
        *body = error_body("internal error");
    return status;

not_found:
    *body = error_body("not found; see /api/tenants and "
                       "/api/tenants/T/{board,today,day,compare,funnel,rt,"
                       "channels,managers,sources,waiting,risk,alerts}");
    return 404;
}

uint64_t cp_board_api_redis_commands(struct cp_board_api *api)
{
    uint64_t n;

    pthread_mutex_lock(&api->redis_mu);
    n = api->commands;
    pthread_mutex_unlock(&api->redis_mu);
    n += cp__index_scan_commands(api->index);
    return n;
}

struct cp_board_api *cp_board_api_new(const char *redis_url, const char *prefix,
                                      int cache_ms, char *errstr,
                                      size_t errstr_size)
{
    return cp_board_api_new_cluster(redis_url, NULL, prefix, cache_ms, errstr,
                                    errstr_size);
}

struct cp_board_api *cp_board_api_new_cluster(const char *redis_url,
                                              const char *cluster_nodes,
                                              const char *prefix, int cache_ms,
                                              char *errstr, size_t errstr_size)
{
    struct cp_board_api *api = calloc(1, sizeof(*api));

    if (!api) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&api->redis_mu, NULL);
    pthread_mutex_init(&api->cache_mu, NULL);
    api->cache_ms = cache_ms;
    cp_cmds_init(&api->cmds);
    api->prefix = strdup(prefix);
    if (!api->prefix) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (cp__board_redis_url(redis_url, cluster_nodes, &api->url, api->address,
                            sizeof(api->address), errstr, errstr_size))
        goto fail;
    api->index = cp__index_new(&api->url, prefix);
    if (!api->index) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    return api;

fail:
    cp_board_api_destroy(api);
    return NULL;
}

void cp_board_api_destroy(struct cp_board_api *api)
{
    if (!api)
        return;
    cp__index_destroy(api->index); /* stops its thread, which reads url */
    cp_rconn_destroy(api->conn);
    cp_cmds_cleanup(&api->cmds);
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        free(api->cache[i].key);
        free(api->cache[i].body);
    }
    cp_redis_url_cleanup(&api->url);
    free(api->prefix);
    pthread_mutex_destroy(&api->redis_mu);
    pthread_mutex_destroy(&api->cache_mu);
    free(api);
}
