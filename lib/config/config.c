/* SPDX-License-Identifier: Apache-2.0 */
/* Settings: one static table (settings[]) drives parsing, validation,
 * --help and the masked startup dump. cp_config_load() layers defaults, the
 * -c file, CRMPULSE_* environment variables and -X options, in that order;
 * kafka.* keys the table does not know pass through to librdkafka. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "log.h"
#include "cluster.h"
#include "url.h"

extern char **environ; /* POSIX; no header declares it without _GNU_SOURCE */

/* ---- the settings table ---- */

enum setting_type {
    SET_STRING, /* char *, owned */
    SET_INT,    /* int in [min, max] */
    SET_INT64,  /* int64_t in [min, max] */
    SET_ENUM,   /* int: index of the value in choices */
    SET_LEVEL,  /* int syslog level, via cp_log_level_parse() */
};

#define SET_SENSITIVE 0x1 /* value holds a secret: masked in dumps */

struct setting {
    const char *name;
    enum setting_type type;
    size_t offset;              /* into struct cp_config */
    int64_t min, max;           /* numbers: range; strings: length */
    const char *def;            /* default, parsed like any other value */
    int flags;                  /* SET_* flags */
    const char *const *choices; /* SET_ENUM: NULL-terminated names */
    /* SET_STRING: form check writing "<reason>" into errstr, or NULL */
    bool (*check)(const char *value, char *errstr, size_t errstr_size);
    /* SET_SENSITIVE: writes the value with its secret part hidden; NULL
     * hides the whole value */
    void (*mask)(const char *value, char *out, size_t out_size);
    const char *doc;
};

static bool check_redis_url(const char *url, char *errstr, size_t size);
static void mask_redis_url(const char *url, char *out, size_t size);
static bool check_prefix(const char *prefix, char *errstr, size_t size);
static bool check_cluster_nodes(const char *nodes, char *errstr, size_t size);
static bool check_board_tokens(const char *list, char *errstr, size_t size);
static bool check_board_thresholds(const char *list, char *errstr, size_t size);
static bool check_board_currency(const char *list, char *errstr, size_t size);
static bool check_registry_urls(const char *list, char *errstr, size_t size);
static bool check_user_info(const char *value, char *errstr, size_t size);

static const char *const framing_choices[] = {"confluent", "raw", NULL};
static const char *const log_format_choices[] = {"text", "json", NULL};
static const char *const board_lang_choices[] = {"en", "ru", "uk", "it", NULL};
static const char *const bool_choices[] = {"false", "true", NULL};
static const char *const out_of_range_choices[] = {"fail", "earliest", "latest",
                                                   NULL};

#define OFF(field) offsetof(struct cp_config, field)

static const struct setting settings[] = {
    {.name = "kafka.bootstrap.servers",
     .type = SET_STRING,
     .offset = OFF(kafka_bootstrap),
     .min = 1,
     .max = 4096,
     .def = "embedded",
     .doc = "Kafka brokers host:port[,...]; 'embedded' starts an in-process "
            "mock cluster (not durable)"},
    {.name = "kafka.group.id",
     .type = SET_STRING,
     .offset = OFF(kafka_group_id),
     .min = 1,
     .max = 255,
     .def = "crmpulse",
     .doc = "consumer group of the workers"},
    {.name = "topic.events",
     .type = SET_STRING,
     .offset = OFF(topic_events),
     .min = 1,
     .max = 249,
     .def = "crm.events",
     .doc = "input topic of CRM events"},
    {.name = "topic.alerts",
     .type = SET_STRING,
     .offset = OFF(topic_alerts),
     .min = 1,
     .max = 249,
     .def = "crm.alerts",
     .doc = "output topic of churn-risk alerts"},
    {.name = "topic.dlq",
     .type = SET_STRING,
     .offset = OFF(topic_dlq),
     .min = 1,
     .max = 249,
     .def = "crm.events.dlq",
     .doc = "dead-letter topic for invalid input"},
    {.name = "redis.url",
     .type = SET_STRING,
     .offset = OFF(redis_url),
     .min = 1,
     .max = 4096,
     .def = "redis://127.0.0.1:6379",
     .flags = SET_SENSITIVE,
     .check = check_redis_url,
     .mask = mask_redis_url,
     .doc = CP_REDIS_URL_FORMS},
    {.name = "redis.prefix",
     .type = SET_STRING,
     .offset = OFF(redis_prefix),
     .min = 1,
     .max = 32,
     .def = "crm",
     .check = check_prefix,
     .doc = "first part of every Redis key: 1-32 of [A-Za-z0-9_.-]"},
    {.name = "redis.cluster.nodes",
     .type = SET_STRING,
     .offset = OFF(redis_cluster_nodes),
     .min = 0,
     .max = 4096,
     .def = "",
     .check = check_cluster_nodes,
     .doc = "Redis Cluster seed nodes host:port[,...]; empty = one Redis at "
            "redis.url (whose user and password the cluster uses too)"},
    {.name = "codec.framing",
     .type = SET_ENUM,
     .offset = OFF(codec_raw),
     .def = "confluent",
     .choices = framing_choices,
     .doc = "confluent: magic byte and schema id before the Avro body; "
            "raw: the Avro body only"},
    {.name = "schema.registry.url",
     .type = SET_STRING,
     .offset = OFF(registry_url),
     .min = 0,
     .max = 4096,
     .def = "",
     .check = check_registry_urls,
     .doc = "Confluent-compatible schema registry, http[s]://host:port[/path]"
            "[,...] tried in order (failover); empty = the fixed schema ids "
            "of schemas/registry.txt"},
    {.name = "schema.registry.basic.auth.user.info",
     .type = SET_STRING,
     .offset = OFF(registry_user_info),
     .min = 0,
     .max = 1024,
     .def = "",
     .flags = SET_SENSITIVE,
     .check = check_user_info,
     .doc = "user:password for the schema registry's Basic auth; empty = "
            "none"},
    {.name = "schema.registry.ssl.ca.location",
     .type = SET_STRING,
     .offset = OFF(registry_ca_file),
     .min = 0,
     .max = 4096,
     .def = "",
     .doc = "PEM file of the CAs that sign the registry's certificate; "
            "empty = the system's CAs"},
    {.name = "schema.registry.ssl.verify",
     .type = SET_ENUM,
     .offset = OFF(registry_verify),
     .def = "true",
     .choices = bool_choices,
     .doc = "verify the registry's certificate and host name (false only "
            "for tests)"},
    {.name = "schema.registry.request.timeout.ms",
     .type = SET_INT,
     .offset = OFF(registry_timeout_ms),
     .min = 100,
     .max = 120000,
     .def = "5000",
     .doc = "longest wait for one registry request, connecting included"},
    {.name = "schema.registry.auto.register",
     .type = SET_ENUM,
     .offset = OFF(registry_auto_register),
     .def = "true",
     .choices = bool_choices,
     .doc = "register the alert and dead-letter schemas under "
            "<topic>-value; false = only look them up (the worker refuses "
            "to start if they are missing)"},
    {.name = "offsets.out_of_range",
     .type = SET_ENUM,
     .offset = OFF(offsets_out_of_range),
     .def = "fail",
     .choices = out_of_range_choices,
     .doc = "a committed offset Kafka no longer has (retention deleted "
            "unread messages) or never had (a new cluster or topic): fail "
            "stops the worker naming the partition; earliest continues from "
            "the log start, latest from the log end, counting the messages "
            "skipped"},
    {.name = "worker.batch.max",
     .type = SET_INT,
     .offset = OFF(batch_max),
     .min = 1,
     .max = 1000000,
     .def = "20000",
     .doc = "messages per batch"},
    {.name = "worker.batch.wait.ms",
     .type = SET_INT,
     .offset = OFF(batch_wait_ms),
     .min = 0,
     .max = 10000,
     .def = "5",
     .doc = "longest wait to fill a batch"},
    {.name = "worker.exit.idle.ms",
     .type = SET_INT,
     .offset = OFF(exit_idle_ms),
     .min = 0,
     .max = 86400000,
     .def = "0",
     .doc = "exit 0 after this long without input; 0 = run until SIGTERM"},
    {.name = "worker.cache.max",
     .type = SET_INT64,
     .offset = OFF(cache_max),
     .min = 1000,
     .max = 1000000000,
     .def = "2000000",
     .doc = "entity states kept in memory"},
    {.name = "worker.cache.max.bytes",
     .type = SET_INT64,
     .offset = OFF(cache_max_bytes),
     .min = 1048576,
     .max = 1LL << 40,
     .def = "4294967296",
     .doc = "bytes of entity state kept in memory; the cache is dropped "
            "(and reloads from Redis) when either bound is passed"},
    {.name = "embedded.partitions",
     .type = SET_INT,
     .offset = OFF(embedded_partitions),
     .min = 1,
     .max = 1024,
     .def = "16",
     .doc = "partitions per topic of the embedded mock cluster"},
    {.name = "embedded.bootstrap.file",
     .type = SET_STRING,
     .offset = OFF(embedded_bootstrap_file),
     .min = 0,
     .max = 4096,
     .def = "",
     .doc = "write the embedded cluster's bootstrap address to this file; "
            "empty = none"},
    {.name = "minute.retention",
     .type = SET_INT64,
     .offset = OFF(minute_retention_ms),
     .min = 60000,
     .max = 366LL * 86400000,
     .def = "172800000",
     .doc = "ms a minute key lives after its minute's start (EXPIREAT); "
            "events of older minutes write no minute key"},
    {.name = "time.allowed_lateness",
     .type = SET_INT64,
     .offset = OFF(allowed_lateness_ms),
     .min = 0,
     .max = 30LL * 86400000,
     .def = "300000",
     .doc =
         "ms: a partition's watermark is its largest occurred_at minus this"},
    {.name = "time.idle_advance",
     .type = SET_INT64,
     .offset = OFF(idle_advance_ms),
     .min = 0,
     .max = 86400000,
     .def = "30000",
     .doc = "ms: a caught-up, idle partition's watermark follows the wall "
            "clock after this long; 0 = off (replays of history)"},
    {.name = "time.max_skew",
     .type = SET_INT64,
     .offset = OFF(max_skew_ms),
     .min = 0,
     .max = 86400000,
     .def = "300000",
     .doc = "ms: an event stamped later than the worker's clock plus this "
            "still counts, but moves its partition's watermark only that "
            "far"},
    {.name = "churn.enabled",
     .type = SET_ENUM,
     .offset = OFF(churn_enabled),
     .def = "true",
     .choices = bool_choices,
     .doc = "keep churn features, scores, customer hashes and CHURN_RISK "
            "alerts; false = counters, entity state and SLA breaches only "
            "(no customer hashes, risk list or churn alerts)"},
    {.name = "model.file",
     .type = SET_STRING,
     .offset = OFF(model_file),
     .min = 0,
     .max = 4096,
     .def = "",
     .doc = "churn model file (see deploy/model.conf); empty = the built-in "
            "default model"},
    {.name = "http.listen",
     .type = SET_STRING,
     .offset = OFF(http_listen),
     .min = 0,
     .max = 255,
     .def = "127.0.0.1:9464",
     .doc = "worker's /metrics /healthz /readyz as host:port; empty = off"},
    {.name = "board.listen",
     .type = SET_STRING,
     .offset = OFF(board_listen),
     .min = 0,
     .max = 255,
     .def = "127.0.0.1:8080",
     .doc = "crmpulse-board's web page and API as host:port"},
    {.name = "board.token",
     .type = SET_STRING,
     .offset = OFF(board_token),
     .min = 0,
     .max = 4096,
     .def = "",
     .flags = SET_SENSITIVE,
     .check = check_board_tokens,
     .doc = "crmpulse-board's access tokens, comma-separated: TOKEN (every "
            "tenant) or TOKEN@TENANT (that tenant only), 16+ of "
            "[A-Za-z0-9._~-]; required when board.listen is not loopback; "
            "a TV opens /?token=TOKEN once and keeps it in a cookie"},
    {.name = "board.lang",
     .type = SET_ENUM,
     .offset = OFF(board_lang),
     .def = "en",
     .choices = board_lang_choices,
     .doc = "the wallboard's language (labels, numbers, dates): en, ru, uk "
            "or it; a screen's ?lang= wins"},
    {.name = "board.currency",
     .type = SET_STRING,
     .offset = OFF(board_currency),
     .min = 0,
     .max = 4096,
     .def = "",
     .check = check_board_currency,
     .doc = "currency of each tenant's amounts, TENANT:CODE comma-separated "
            "(ISO 4217, e.g. acme:EUR, globex:RUB; *:CODE for the rest); "
            "amounts are shown as money in board.lang's format"},
    {.name = "board.thresholds",
     .type = SET_STRING,
     .offset = OFF(board_thresholds),
     .min = 0,
     .max = 1024,
     .def = "",
     .check = check_board_thresholds,
     .doc = "traffic lights of the wallboard's tiles, comma-separated "
            "KPI>NUMBER or KPI<NUMBER, red while it holds (KPI: events, "
            "leads, orders, revenue, avg_check, repeat, deals_won, missed, "
            "rt_avg_s), e.g. rt_avg_s>3600, missed>10, repeat<0.2"},
    {.name = "board.cors.origin",
     .type = SET_STRING,
     .offset = OFF(board_cors_origin),
     .min = 0,
     .max = 255,
     .def = "",
     .doc = "the one web origin allowed to read crmpulse-board's API from "
            "another page (Access-Control-Allow-Origin), e.g. "
            "https://intranet.example; empty = none"},
    {.name = "log.level",
     .type = SET_LEVEL,
     .offset = OFF(log_level),
     .min = CP_LOG_ERR,
     .max = CP_LOG_DEBUG,
     .def = "info",
     .doc = "least important messages logged"},
    {.name = "log.format",
     .type = SET_ENUM,
     .offset = OFF(log_format),
     .def = "text",
     .choices = log_format_choices,
     .doc = "text: \"<time> LEVEL [COMPONENT] message\" lines; json: one "
            "JSON object per line (time, level, component, message, fields)"},
    {.name = "log.progress.interval",
     .type = SET_INT,
     .offset = OFF(progress_interval_s),
     .min = 0,
     .max = 86400,
     .def = "10",
     .doc = "seconds between progress lines (events/s, committed, consumer "
            "lag); 0 = none"},
    {.name = "log.alerts.per_s",
     .type = SET_INT,
     .offset = OFF(log_alerts_per_s),
     .min = 0,
     .max = 1000000,
     .def = "20",
     .doc = "[ALERT] lines a second at most; beyond, one line counts the "
            "alerts not logged (all are on the alerts topic and in Redis); "
            "0 = only that count"},
    /* ---- crmpulse-bridge ---- */
    {.name = "bridge.listen",
     .type = SET_STRING,
     .offset = OFF(bridge_listen),
     .min = 1,
     .max = 255,
     .def = "127.0.0.1:8088",
     .doc = "crmpulse-bridge: webhooks (POST /hooks/<crm>/<tenant>) and "
            "/healthz /readyz /metrics as host:port"},
    {.name = "bridge.tenants",
     .type = SET_STRING,
     .offset = OFF(bridge_tenants),
     .min = 0,
     .max = 4096,
     .def = "",
     .doc = "crmpulse-bridge: the tenants file (CRM, secrets, mapping; see "
            "deploy/bridge.conf); required by the bridge"},
    {.name = "bridge.body.max",
     .type = SET_INT,
     .offset = OFF(bridge_body_max),
     .min = 1024,
     .max = 64 << 20,
     .def = "1048576",
     .doc = "crmpulse-bridge: largest webhook body in bytes; larger gets 413"},
    {.name = "bridge.rate",
     .type = SET_INT,
     .offset = OFF(bridge_rate),
     .min = 1,
     .max = 1000000,
     .def = "100",
     .doc = "crmpulse-bridge: webhook requests a second per tenant (bursts "
            "of twice that); beyond, 429 with Retry-After"},
    {.name = "bridge.timeout",
     .type = SET_INT,
     .offset = OFF(bridge_timeout_s),
     .min = 1,
     .max = 3600,
     .def = "10",
     .doc = "crmpulse-bridge: seconds a connection may sit idle (slow "
            "clients are closed)"},
    {.name = "bridge.connections",
     .type = SET_INT,
     .offset = OFF(bridge_connections),
     .min = 1,
     .max = 10000,
     .def = "64",
     .doc = "crmpulse-bridge: open connections at most (the bounded queue "
            "of requests waiting for their turn)"},
    {.name = "bridge.ack.timeout.ms",
     .type = SET_INT,
     .offset = OFF(bridge_ack_timeout_ms),
     .min = 100,
     .max = 120000,
     .def = "5000",
     .doc = "crmpulse-bridge: how long a request waits for Kafka to "
            "acknowledge its events before it gets 503"},
    {.name = "bridge.dedup.ttl",
     .type = SET_INT64,
     .offset = OFF(bridge_dedup_ttl_s),
     .min = 259200,
     .max = 366LL * 86400,
     .def = "259200",
     .doc = "crmpulse-bridge: seconds a delivered CRM event id is "
            "remembered in Redis (at least 72 h)"},
    {.name = "bridge.rest.timeout.ms",
     .type = SET_INT,
     .offset = OFF(bridge_rest_timeout_ms),
     .min = 100,
     .max = 60000,
     .def = "3000",
     .doc = "crmpulse-bridge: timeout of one vendor REST call"},
    {.name = "bridge.rest.attempts",
     .type = SET_INT,
     .offset = OFF(bridge_rest_attempts),
     .min = 1,
     .max = 10,
     .def = "3",
     .doc = "crmpulse-bridge: tries of a vendor REST call (429, 5xx and "
            "network errors are retried)"},
    {.name = "bridge.rest.backoff.ms",
     .type = SET_INT,
     .offset = OFF(bridge_rest_backoff_ms),
     .min = 0,
     .max = 5000,
     .def = "200",
     .doc = "crmpulse-bridge: first wait between REST tries, doubling (a "
            "429's Retry-After wins, capped at 5 s)"},
};

static const char *const level_names[] = {"err", "warning", "notice", "info",
                                          "debug"};

/* kafka.* passthrough keys containing one of these are masked in dumps. */
static const char *const kafka_secret_words[] = {
    "password", "secret", "sasl.oauthbearer.config", "ssl.key"};

#define KAFKA_PREFIX "kafka."
#define ENV_PREFIX   "CRMPULSE_"
#define MASK         "***"

/* ---- small helpers ---- */

/* Setting names compare with '_' and '.' as equals, so the environment
 * form (CRMPULSE_TIME_ALLOWED_LATENESS -> time.allowed.lateness) finds
 * time.allowed_lateness. */
static bool same_name(const char *table_name, const char *name)
{
    for (; *table_name && *name; table_name++, name++) {
        bool sep_a = *table_name == '_' || *table_name == '.';
        bool sep_b = *name == '_' || *name == '.';

        if (sep_a != sep_b || (!sep_a && *table_name != *name))
            return false;
    }
    return *table_name == *name;
}

static const struct setting *find_setting(const char *name)
{
    for (size_t i = 0; i < CP_ARRAY_SIZE(settings); i++)
        if (same_name(settings[i].name, name))
            return &settings[i];
    return NULL;
}

static void *field_of(struct cp_config *cfg, const struct setting *set)
{
    return (char *)cfg + set->offset;
}

static const void *cfield_of(const struct cp_config *cfg,
                             const struct setting *set)
{
    return (const char *)cfg + set->offset;
}

size_t cp_config_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[64];

    if (la > 63 || lb > 63)
        return 255;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];

        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);

            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* @returns the closest known name, or NULL when nothing is close. */
static const char *suggest(const char *name)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    size_t limit = strlen(name) / 3;

    if (limit < 2)
        limit = 2;
    for (size_t i = 0; i < CP_ARRAY_SIZE(settings); i++) {
        size_t d = cp_config_edit_distance(name, settings[i].name);

        if (d < best_d) {
            best_d = d;
            best = settings[i].name;
        }
    }
    return best_d <= limit ? best : NULL;
}

static bool kafka_key_is_secret(const char *key)
{
    for (size_t i = 0; i < CP_ARRAY_SIZE(kafka_secret_words); i++) {
        if (strstr(key, kafka_secret_words[i]))
            return true;
    }
    return false;
}

bool cp_config_kafka_key_is_secret(const char *key)
{
    return kafka_key_is_secret(key);
}

/* Strict decimal integer: optional sign, digits, nothing else.
 * @returns 0, or ERANGE / EINVAL. */
static int parse_int64(const char *s, int64_t *out)
{
    const char *p = s;
    char *end;
    long long v;

    if (*p == '+' || *p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0')
        return EINVAL;
    if (errno == ERANGE)
        return ERANGE;
    *out = (int64_t)v;
    return 0;
}

/* ---- redis.url and redis.prefix ---- */

/* board.token: TOKEN[@TENANT] entries, comma-separated, blanks around
 * them allowed. A token is a secret a person types once into a TV's URL:
 * URL-safe characters, long enough not to be guessed. */
static bool check_board_tokens(const char *list, char *errstr, size_t size)
{
    const char *p = list, *e;
    size_t len;

    while (cp_list_next(&p, &e, &len)) {
        const char *at = memchr(e, '@', len);
        size_t tlen = at ? (size_t)(at - e) : len;

        if (tlen < 16) {
            snprintf(errstr, size,
                     "entry %zu characters long before any '@': a token has "
                     "16 or more (e.g. from `openssl rand -hex 16`)",
                     tlen);
            return false;
        }
        for (size_t i = 0; i < tlen; i++)
            if (!isalnum((unsigned char)e[i]) && !strchr("._~-", e[i])) {
                snprintf(errstr, size,
                         "a token holds a character outside [A-Za-z0-9._~-] "
                         "(it must survive a URL as typed)");
                return false;
            }
        if (at && !cp_id_valid(at + 1, len - tlen - 1)) {
            snprintf(errstr, size,
                     "after '@': expected a tenant id (1-64 of "
                     "[A-Za-z0-9._-])");
            return false;
        }
    }
    return true;
}

/* board.thresholds: KPI>NUMBER or KPI<NUMBER, comma-separated. */
static bool check_board_thresholds(const char *list, char *errstr, size_t size)
{
    static const char *const kpis[] = {"events",    "leads",     "orders",
                                       "revenue",   "avg_check", "repeat",
                                       "deals_won", "missed",    "rt_avg_s"};
    const char *p = list, *e;
    size_t len;

    while (cp_list_next(&p, &e, &len)) {
        size_t op = strcspn(e, "<>");
        char num[64], *end;
        bool known = false;

        for (size_t i = 0; i < CP_ARRAY_SIZE(kpis); i++)
            known |= op == strlen(kpis[i]) && !strncmp(e, kpis[i], op);
        if (op >= len || !known || len - op - 1 >= sizeof(num) ||
            len - op - 1 == 0) {
            snprintf(errstr, size,
                     "expected KPI>NUMBER or KPI<NUMBER with KPI one of "
                     "events, leads, orders, revenue, avg_check, repeat, "
                     "deals_won, missed, rt_avg_s (e.g. rt_avg_s>3600)");
            return false;
        }
        memcpy(num, e + op + 1, len - op - 1);
        num[len - op - 1] = '\0';
        errno = 0;
        (void)strtod(num, &end);
        if (errno || *end || end == num) {
            snprintf(errstr, size, "'%s' is not a number", num);
            return false;
        }
    }
    return true;
}

/* board.currency: TENANT:CODE entries (TENANT may be *), comma-separated. */
static bool check_board_currency(const char *list, char *errstr, size_t size)
{
    const char *p = list, *e;
    size_t len;

    while (cp_list_next(&p, &e, &len)) {
        const char *colon = memchr(e, ':', len);
        int tenant_ok = colon && ((colon - e == 1 && *e == '*') ||
                                  cp_id_valid(e, (size_t)(colon - e)));

        if (!tenant_ok || (size_t)(e + len - colon - 1) != 3 ||
            !isupper((unsigned char)colon[1]) ||
            !isupper((unsigned char)colon[2]) ||
            !isupper((unsigned char)colon[3])) {
            snprintf(errstr, size,
                     "expected TENANT:CODE entries with a 3-letter ISO 4217 "
                     "code, e.g. acme:EUR, *:USD");
            return false;
        }
    }
    return true;
}

/* Each entry http[s]://host..., no credentials: those go in
 * schema.registry.basic.auth.user.info, which is masked. */
static bool check_registry_urls(const char *list, char *errstr, size_t size)
{
    const char *p = list;

    while (*p) {
        size_t n = strcspn(p, ",");
        size_t scheme = strncmp(p, "http://", 7) == 0    ? 7
                        : strncmp(p, "https://", 8) == 0 ? 8
                                                         : 0;
        const char *at = memchr(p, '@', n);

        if (!scheme || n == scheme) {
            snprintf(errstr, size,
                     "expected http[s]://host:port[/path][,...], e.g. "
                     "http://127.0.0.1:8081");
            return false;
        }
        if (at) {
            snprintf(errstr, size,
                     "credentials in the URL are not accepted: set "
                     "schema.registry.basic.auth.user.info=user:password");
            return false;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return true;
}

static bool check_user_info(const char *value, char *errstr, size_t size)
{
    if (*value && !strchr(value, ':')) {
        snprintf(errstr, size, "expected user:password");
        return false;
    }
    return true;
}

/* The redis layer's own parser and masking: what this check accepts is
 * exactly what the store can connect to, and no form of URL, valid or not,
 * is ever shown with its password. */
static void mask_redis_url(const char *url, char *out, size_t size)
{
    cp_redis_url_mask(url, out, size);
}

static bool check_redis_url(const char *url, char *errstr, size_t size)
{
    struct cp_redis_url parsed;

    if (cp_redis_url_parse(url, &parsed, errstr, size))
        return false;
    cp_redis_url_cleanup(&parsed);
    return true;
}

/* The redis layer's own check: what it accepts is what the router can use. */
static bool check_cluster_nodes(const char *nodes, char *errstr, size_t size)
{
    return !nodes[0] || !cp_cluster_nodes_check(nodes, errstr, size);
}

static bool check_prefix(const char *prefix, char *errstr, size_t size)
{
    for (const char *p = prefix; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' &&
            *p != '-') {
            snprintf(errstr, size, "may only hold A-Z a-z 0-9 _ . -");
            return false;
        }
    }
    return true;
}

/* ---- setting values ---- */

/* The value as it may appear in messages and dumps. */
static void show_value(const struct setting *set, const char *value, char *out,
                       size_t size)
{
    if (!(set->flags & SET_SENSITIVE))
        snprintf(out, size, "%s", value);
    else if (set->mask)
        set->mask(value, out, size);
    else
        snprintf(out, size, MASK);
}

static void format_choices(const struct setting *set, char *out, size_t size)
{
    size_t len = 0;

    out[0] = '\0';
    for (size_t i = 0; set->choices[i] && len < size; i++) {
        int n = snprintf(out + len, size - len, "%s%s", i ? "|" : "",
                         set->choices[i]);

        if (n < 0)
            break;
        len += (size_t)n;
    }
}

static cp_rc set_value(struct cp_config *cfg, const struct setting *set,
                       const char *value, char *errstr, size_t errstr_size)
{
    void *field = field_of(cfg, set);
    char reason[256];
    int64_t num;
    int err, v;

    switch (set->type) {
    case SET_STRING: {
        size_t len = strlen(value);
        char *copy;

        if ((int64_t)len < set->min || (int64_t)len > set->max) {
            char shown[512];

            show_value(set, value, shown, sizeof(shown));
            snprintf(errstr, errstr_size,
                     "%s: \"%s\" must be %lld..%lld characters long", set->name,
                     shown, (long long)set->min, (long long)set->max);
            return CP_ECONFIG;
        }
        if (set->check && !set->check(value, reason, sizeof(reason))) {
            char shown[512];

            show_value(set, value, shown, sizeof(shown));
            snprintf(errstr, errstr_size, "%s: \"%s\" %s", set->name, shown,
                     reason);
            return CP_ECONFIG;
        }
        copy = strdup(value);
        if (!copy) {
            snprintf(errstr, errstr_size, "%s: out of memory", set->name);
            return CP_ENOMEM;
        }
        free(*(char **)field);
        *(char **)field = copy;
        return CP_OK;
    }
    case SET_INT:
    case SET_INT64:
        err = parse_int64(value, &num);
        if (err == EINVAL) {
            snprintf(errstr, errstr_size,
                     "%s: \"%s\" is not an integer (%lld..%lld)", set->name,
                     value, (long long)set->min, (long long)set->max);
            return CP_ECONFIG;
        }
        if (err == ERANGE || num < set->min || num > set->max) {
            snprintf(errstr, errstr_size,
                     "%s: \"%s\" is out of range (%lld..%lld)", set->name,
                     value, (long long)set->min, (long long)set->max);
            return CP_ECONFIG;
        }
        if (set->type == SET_INT)
            *(int *)field = (int)num;
        else
            *(int64_t *)field = num;
        return CP_OK;
    case SET_ENUM:
        for (int i = 0; set->choices[i]; i++) {
            if (!strcmp(value, set->choices[i])) {
                *(int *)field = i;
                return CP_OK;
            }
        }
        format_choices(set, reason, sizeof(reason));
        snprintf(errstr, errstr_size, "%s: \"%s\" is not one of %s", set->name,
                 value, reason);
        return CP_ECONFIG;
    case SET_LEVEL:
        v = cp_log_level_parse(value);
        if (v < 0) {
            snprintf(errstr, errstr_size,
                     "%s: \"%s\" is not a log level "
                     "(err|warning|notice|info|debug or 3..7)",
                     set->name, value);
            return CP_ECONFIG;
        }
        *(int *)field = v;
        return CP_OK;
    }
    snprintf(errstr, errstr_size, "%s: unsupported setting type", set->name);
    return CP_ECONFIG;
}

/* Adds or replaces kafka_props[key]. */
static cp_rc set_kafka_prop(struct cp_config *cfg, const char *key,
                            const char *value, char *errstr, size_t errstr_size)
{
    struct cp_kv *props;
    char *v = strdup(value);
    char *k = NULL;

    if (!v)
        goto nomem;
    for (size_t i = 0; i < cfg->kafka_prop_cnt; i++) {
        if (!strcmp(cfg->kafka_props[i].key, key)) {
            free(cfg->kafka_props[i].value);
            cfg->kafka_props[i].value = v;
            return CP_OK;
        }
    }
    k = strdup(key);
    if (!k)
        goto nomem;
    props = realloc(cfg->kafka_props,
                    (cfg->kafka_prop_cnt + 1) * sizeof(*cfg->kafka_props));
    if (!props)
        goto nomem;
    props[cfg->kafka_prop_cnt].key = k;
    props[cfg->kafka_prop_cnt].value = v;
    cfg->kafka_props = props;
    cfg->kafka_prop_cnt++;
    return CP_OK;

nomem:
    free(k);
    free(v);
    snprintf(errstr, errstr_size, "kafka.%s: out of memory", key);
    return CP_ENOMEM;
}

cp_rc cp_config_set(struct cp_config *cfg, const char *name, const char *value,
                    char *errstr, size_t errstr_size)
{
    const struct setting *set = find_setting(name);
    const char *hint;

    if (set)
        return set_value(cfg, set, value, errstr, errstr_size);

    if (!strncmp(name, KAFKA_PREFIX, strlen(KAFKA_PREFIX))) {
        const char *key = name + strlen(KAFKA_PREFIX);

        /* A near miss of one of our own kafka.* settings would otherwise
         * pass through to librdkafka, and kafka.bootstrap.server would
         * quietly start the embedded cluster. */
        hint = suggest(name);
        if (hint && !strncmp(hint, KAFKA_PREFIX, strlen(KAFKA_PREFIX)) &&
            cp_config_edit_distance(name, hint) <= 2) {
            snprintf(errstr, errstr_size,
                     "unknown setting '%s'; did you mean '%s'?", name, hint);
            return CP_ECONFIG;
        }

        if (*key == '\0') {
            snprintf(errstr, errstr_size,
                     "setting \"%s\" needs a librdkafka property name after "
                     "\"kafka.\"",
                     name);
            return CP_ECONFIG;
        }
        return set_kafka_prop(cfg, key, value, errstr, errstr_size);
    }

    hint = suggest(name);
    if (hint)
        snprintf(errstr, errstr_size,
                 "unknown setting '%s'; did you mean '%s'?", name, hint);
    else
        snprintf(errstr, errstr_size, "unknown setting '%s' (see --help)",
                 name);
    return CP_ECONFIG;
}

/* ---- sources: file, environment, -X ---- */

/* Applies one "key = value" line (already trimmed, not a comment). */
static cp_rc apply_line(struct cp_config *cfg, char *line, char *errstr,
                        size_t errstr_size)
{
    char *eq = strchr(line, '=');
    char *key, *value;
    size_t len;

    if (!eq) {
        snprintf(errstr, errstr_size, "expected \"key = value\"");
        return CP_ECONFIG;
    }
    *eq = '\0';
    key = cp_trim(line);
    value = cp_trim(eq + 1);
    if (*key == '\0') {
        snprintf(errstr, errstr_size, "missing setting name before '='");
        return CP_ECONFIG;
    }
    len = strlen(value);
    if (len > 0 && (value[0] == '"' || value[0] == '\'')) {
        if (len < 2 || value[len - 1] != value[0]) {
            snprintf(errstr, errstr_size, "%s: unterminated quote", key);
            return CP_ECONFIG;
        }
        value[len - 1] = '\0';
        value++;
    }
    return cp_config_set(cfg, key, value, errstr, errstr_size);
}

static cp_rc load_file(struct cp_config *cfg, const char *path, char *errstr,
                       size_t errstr_size)
{
    FILE *fp = fopen(path, "r");
    char *line = NULL;
    size_t line_cap = 0;
    char why[512];
    unsigned lineno = 0;
    cp_rc rc = CP_OK;

    if (!fp) {
        snprintf(errstr, errstr_size, "open config file %s: %s", path,
                 strerror(errno));
        return CP_EIO;
    }
    while (getline(&line, &line_cap, fp) >= 0) {
        char *s = cp_trim(line);

        lineno++;
        /* Only whole-line comments: '#' may appear inside passwords. */
        if (*s == '\0' || *s == '#')
            continue;
        rc = apply_line(cfg, s, why, sizeof(why));
        if (rc) {
            snprintf(errstr, errstr_size, "%s:%u: %s", path, lineno, why);
            goto out;
        }
    }
    if (ferror(fp)) {
        snprintf(errstr, errstr_size, "read config file %s: %s", path,
                 strerror(errno));
        rc = CP_EIO;
    }
out:
    free(line);
    fclose(fp);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* CRMPULSE_REDIS_URL=x -> redis.url = x. Variables are applied in name
 * order so that the result does not depend on the order of environ. */
static cp_rc load_env(struct cp_config *cfg, char *errstr, size_t errstr_size)
{
    size_t plen = strlen(ENV_PREFIX), cnt = 0, n = 0;
    const char **vars;
    char why[512];
    cp_rc rc = CP_OK;

    for (char **e = environ; e && *e; e++)
        cnt++;
    if (cnt == 0)
        return CP_OK;
    vars = malloc(cnt * sizeof(*vars));
    if (!vars) {
        snprintf(errstr, errstr_size, "out of memory");
        return CP_ENOMEM;
    }
    for (char **e = environ; *e; e++) {
        if (!strncmp(*e, ENV_PREFIX, plen))
            vars[n++] = *e;
    }
    qsort(vars, n, sizeof(*vars), cmp_str);

    for (size_t i = 0; i < n && !rc; i++) {
        const char *eq = strchr(vars[i], '=');
        size_t klen;
        char *name;

        if (!eq)
            continue;
        klen = (size_t)(eq - vars[i]) - plen;
        name = malloc(klen + 1);
        if (!name) {
            snprintf(errstr, errstr_size, "out of memory");
            rc = CP_ENOMEM;
            break;
        }
        for (size_t j = 0; j < klen; j++) {
            char c = vars[i][plen + j];

            name[j] = c == '_' ? '.' : (char)tolower((unsigned char)c);
        }
        name[klen] = '\0';
        rc = cp_config_set(cfg, name, eq + 1, why, sizeof(why));
        if (rc)
            snprintf(errstr, errstr_size, "environment %.*s: %s",
                     (int)(eq - vars[i]), vars[i], why);
        free(name);
    }
    free(vars);
    return rc;
}

/* Applies "key=value" of one -X option. */
static cp_rc apply_x(struct cp_config *cfg, const char *kv, char *errstr,
                     size_t errstr_size)
{
    const char *eq = strchr(kv, '=');
    char why[512];
    char *name;
    cp_rc rc;

    if (!eq || eq == kv) {
        /* Echo only the setting name: what follows a mistyped separator
         * ("-X redis.url:redis://u:secret@h") may be a password. */
        size_t name_len = strspn(kv, "abcdefghijklmnopqrstuvwxyz"
                                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

        snprintf(errstr, errstr_size,
                 "-X \"%.*s%s\": expected -X key=value (see --help)",
                 (int)name_len, kv, kv[name_len] ? "..." : "");
        return CP_ECONFIG;
    }
    name = strndup(kv, (size_t)(eq - kv));
    if (!name) {
        snprintf(errstr, errstr_size, "out of memory");
        return CP_ENOMEM;
    }
    rc = cp_config_set(cfg, name, eq + 1, why, sizeof(why));
    if (rc)
        snprintf(errstr, errstr_size, "-X: %s", why);
    free(name);
    return rc;
}

/* ---- public API ---- */

struct cp_config *cp_config_load(int argc, char **argv, const char **rest,
                                 int *rest_cnt, char *errstr,
                                 size_t errstr_size)
{
    struct cp_config *cfg = calloc(1, sizeof(*cfg));
    int nrest = 0;
    bool verbatim = false;

    if (rest_cnt)
        *rest_cnt = 0;
    if (!cfg) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < CP_ARRAY_SIZE(settings); i++) {
        /* A default that fails its own validation is a bug in the table. */
        if (set_value(cfg, &settings[i], settings[i].def, errstr, errstr_size))
            goto fail;
    }

    /* Pass 1: config files, in argv order; also collects the rest. */
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *path = NULL;

        if (verbatim) {
            if (rest)
                rest[nrest] = arg;
            nrest++;
            continue;
        }
        if (!strcmp(arg, "-c") || !strcmp(arg, "--config")) {
            if (i + 1 >= argc) {
                snprintf(errstr, errstr_size, "%s needs a file name", arg);
                goto fail;
            }
            path = argv[++i];
        } else if (!strncmp(arg, "--config=", 9)) {
            path = arg + 9;
        } else if (!strcmp(arg, "-X")) {
            if (i + 1 >= argc) {
                snprintf(errstr, errstr_size,
                         "-X needs key=value (see --help)");
                goto fail;
            }
            i++; /* applied in pass 2 */
        } else if (!strncmp(arg, "-X", 2)) {
            /* -Xkey=value: applied in pass 2 */
        } else {
            /* Everything after "--" is the caller's, uninterpreted. */
            if (!strcmp(arg, "--"))
                verbatim = true;
            if (rest)
                rest[nrest] = arg;
            nrest++;
        }
        if (path && load_file(cfg, path, errstr, errstr_size))
            goto fail;
    }

    if (load_env(cfg, errstr, errstr_size))
        goto fail;

    /* Pass 2: -X options override everything, later ones win. */
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (!strcmp(arg, "--"))
            break;
        if (!strcmp(arg, "-c") || !strcmp(arg, "--config")) {
            i++;
        } else if (!strcmp(arg, "-X")) {
            if (apply_x(cfg, argv[++i], errstr, errstr_size))
                goto fail;
        } else if (!strncmp(arg, "-X", 2)) {
            if (apply_x(cfg, arg + 2, errstr, errstr_size))
                goto fail;
        }
    }

    if (rest_cnt)
        *rest_cnt = nrest;
    cp_log_level = cfg->log_level;
    cp_log_format = cfg->log_format ? CP_LOG_JSON : CP_LOG_TEXT;
    return cfg;

fail:
    if (rest_cnt)
        *rest_cnt = 0;
    cp_config_destroy(cfg);
    return NULL;
}

static void format_default(const struct setting *set, char *out, size_t size)
{
    if (set->type == SET_STRING && set->def[0] == '\0')
        snprintf(out, size, "\"\"");
    else
        snprintf(out, size, "%s", set->def);
}

static void format_range(const struct setting *set, char *out, size_t size)
{
    switch (set->type) {
    case SET_INT:
    case SET_INT64:
        snprintf(out, size, "%lld..%lld", (long long)set->min,
                 (long long)set->max);
        return;
    case SET_ENUM:
        format_choices(set, out, size);
        return;
    case SET_LEVEL:
        snprintf(out, size, "err|warning|notice|info|debug or 3..7");
        return;
    case SET_STRING:
        break;
    }
    out[0] = '\0';
}

void cp_config_print_help(FILE *out)
{
    size_t width = 0;
    char def[64], range[64];
    const char *group = NULL;
    size_t group_len = 0;

    for (size_t i = 0; i < CP_ARRAY_SIZE(settings); i++) {
        if (strlen(settings[i].name) > width)
            width = strlen(settings[i].name);
    }
    fprintf(out,
            "Settings: defaults < -c FILE (key = value lines) < environment "
            "CRMPULSE_<NAME>\n"
            "(upper case, '.' -> '_') < -X key=value.\n");
    for (size_t i = 0; i < CP_ARRAY_SIZE(settings); i++) {
        const struct setting *set = &settings[i];
        const char *dot = strchr(set->name, '.');
        size_t glen = dot ? (size_t)(dot - set->name) : strlen(set->name);

        if (!group || glen != group_len || strncmp(group, set->name, glen)) {
            /* Passthrough keys are listed at the end of the kafka group. */
            if (group && !strncmp(group, "kafka", group_len))
                fprintf(out, "  %-*s  any other librdkafka property\n",
                        (int)width, "kafka.<property>");
            group = set->name;
            group_len = glen;
            fprintf(out, "\n%.*s:\n", (int)glen, set->name);
        }
        format_default(set, def, sizeof(def));
        format_range(set, range, sizeof(range));
        fprintf(out, "  %-*s  = %s%s%s%s\n      %s\n", (int)width, set->name,
                def, range[0] ? "  (" : "", range, range[0] ? ")" : "",
                set->doc);
    }
}

void cp_config_dump(const struct cp_config *cfg, FILE *out)
{
    for (size_t i = 0; i < CP_ARRAY_SIZE(settings); i++) {
        const struct setting *set = &settings[i];
        const void *field = cfield_of(cfg, set);

        fprintf(out, "%s = ", set->name);
        switch (set->type) {
        case SET_STRING: {
            const char *s = *(char *const *)field;
            char masked[512];

            if (!s || !*s) {
                fprintf(out, "\"\"\n");
            } else if (set->flags & SET_SENSITIVE) {
                show_value(set, s, masked, sizeof(masked));
                fprintf(out, "%s\n", masked);
            } else {
                fprintf(out, "%s\n", s);
            }
            break;
        }
        case SET_INT:
            fprintf(out, "%d\n", *(const int *)field);
            break;
        case SET_INT64:
            fprintf(out, "%lld\n", (long long)*(const int64_t *)field);
            break;
        case SET_ENUM:
            fprintf(out, "%s\n", set->choices[*(const int *)field]);
            break;
        case SET_LEVEL: {
            int lvl = *(const int *)field;

            if (lvl >= CP_LOG_ERR && lvl <= CP_LOG_DEBUG)
                fprintf(out, "%s\n", level_names[lvl - CP_LOG_ERR]);
            else
                fprintf(out, "%d\n", lvl);
            break;
        }
        }
    }
    for (size_t i = 0; i < cfg->kafka_prop_cnt; i++) {
        const struct cp_kv *kv = &cfg->kafka_props[i];

        fprintf(out, "%s%s = %s\n", KAFKA_PREFIX, kv->key,
                kafka_key_is_secret(kv->key) ? MASK : kv->value);
    }
}

void cp_config_destroy(struct cp_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < CP_ARRAY_SIZE(settings); i++) {
        if (settings[i].type == SET_STRING)
            free(*(char **)field_of(cfg, &settings[i]));
    }
    for (size_t i = 0; i < cfg->kafka_prop_cnt; i++) {
        free(cfg->kafka_props[i].key);
        free(cfg->kafka_props[i].value);
    }
    free(cfg->kafka_props);
    free(cfg);
}

size_t cp_config_setting_count(void)
{
    return CP_ARRAY_SIZE(settings);
}

const char *cp_config_setting_name(size_t i)
{
    return i < CP_ARRAY_SIZE(settings) ? settings[i].name : NULL;
}
