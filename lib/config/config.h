/* SPDX-License-Identifier: Apache-2.0 */
/* Settings: one static table drives parsing, validation, --help and the
 * masked startup dump. Precedence: defaults < file (-c) < CRMPULSE_* env <
 * -X key=value. Other kafka.* keys pass through verbatim to librdkafka. */
#ifndef CP_CONFIG_H
#define CP_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common.h"

/** A librdkafka property passed through from a kafka.* setting. */
struct cp_kv {
    char
        *key; /* owned; without the "kafka." prefix, e.g. "security.protocol" */
    char *value; /* owned */
};

/** offsets.out_of_range: what to do with an offset Kafka does not have. */
enum {
    CP_OUT_OF_RANGE_FAIL = 0,
    CP_OUT_OF_RANGE_EARLIEST = 1,
    CP_OUT_OF_RANGE_LATEST = 2,
};

/** Validated settings; code reads them through a const pointer. */
struct cp_config {
    char *kafka_bootstrap; /* kafka.bootstrap.servers; "embedded" = mock cluster
                            */
    char *kafka_group_id;  /* kafka.group.id */
    char *topic_events;    /* topic.events */
    char *topic_alerts;    /* topic.alerts */
    char *topic_dlq;       /* topic.dlq */
    char *redis_url;       /* redis.url: redis://[user:pass@]host[:port][/db] or
                              unix:///path */
    char *redis_prefix;    /* redis.prefix */
    char *redis_cluster_nodes; /* redis.cluster.nodes: seed host:port list;
                                  "" = one Redis at redis.url */
    int codec_raw;             /* codec.framing: 0 confluent, 1 raw */
    char *registry_url; /* schema.registry.url: URL[,...]; "" = fixed ids */
    char *registry_user_info; /* schema.registry.basic.auth.user.info: secret */
    char *registry_ca_file;   /* schema.registry.ssl.ca.location; "" = system */
    int registry_verify;      /* schema.registry.ssl.verify: 0 no, 1 yes */
    int registry_timeout_ms;  /* schema.registry.request.timeout.ms */
    int registry_auto_register; /* schema.registry.auto.register: 0/1 */
    int offsets_out_of_range;   /* offsets.out_of_range: CP_OUT_OF_RANGE_* */
    int batch_max;              /* worker.batch.max: messages per batch */
    int batch_wait_ms; /* worker.batch.wait.ms: longest wait to fill a batch */
    int exit_idle_ms;  /* worker.exit.idle.ms: exit 0 after this long with no
                          input; 0 = never */
    int64_t cache_max; /* worker.cache.max: entity states held in memory */
    int64_t cache_max_bytes; /* worker.cache.max.bytes: ... and their bytes */
    int embedded_partitions; /* embedded.partitions: partitions per topic of the
                                mock cluster */
    char *embedded_bootstrap_file; /* embedded.bootstrap.file: write the mock
                                      bootstrap address here */
    int64_t minute_retention_ms;   /* minute.retention: minute keys live this
                                      long after their minute's start */
    int64_t allowed_lateness_ms;   /* time.allowed_lateness */
    int64_t idle_advance_ms;       /* time.idle_advance; 0 = off */
    int64_t max_skew_ms;           /* time.max_skew */
    int churn_enabled;             /* churn.enabled: 0 = counters-only mode */
    char *model_file;              /* model.file; "" = built-in default model */
    char *http_listen;             /* http.listen: worker endpoint; "" = off */
    char *board_listen;            /* board.listen: crmpulse-board's address */
    char *board_token;       /* board.token: TOKEN[@TENANT],...; "" = none */
    char *board_cors_origin; /* board.cors.origin; "" = no CORS header */
    int board_lang;          /* board.lang: 0 en, 1 ru, 2 uk, 3 it */
    char *board_currency;    /* board.currency: TENANT:CODE,... */
    char *board_thresholds;  /* board.thresholds: KPI>N,KPI<N,... */
    int log_level;           /* log.level (syslog number) */
    int log_format;          /* log.format: 0 text, 1 json */
    int progress_interval_s; /* log.progress.interval; 0 = off */
    int log_alerts_per_s;    /* log.alerts.per_s */
    /* crmpulse-bridge (bridge.*) */
    char *bridge_listen;        /* bridge.listen: webhooks + ops, host:port */
    char *bridge_tenants;       /* bridge.tenants: per-tenant file */
    int bridge_body_max;        /* bridge.body.max: bytes per request */
    int bridge_rate;            /* bridge.rate: requests/s per tenant */
    int bridge_timeout_s;       /* bridge.timeout: idle connection, s */
    int bridge_connections;     /* bridge.connections: open at most */
    int bridge_ack_timeout_ms;  /* bridge.ack.timeout.ms: Kafka ack wait */
    int64_t bridge_dedup_ttl_s; /* bridge.dedup.ttl: seen ids kept, s */
    int bridge_rest_timeout_ms; /* bridge.rest.timeout.ms: per attempt */
    int bridge_rest_attempts;   /* bridge.rest.attempts */
    int bridge_rest_backoff_ms; /* bridge.rest.backoff.ms: first wait */
    struct cp_kv *kafka_props;  /* owned array: the other kafka.* settings */
    size_t kafka_prop_cnt;
};

/**
 * @brief Builds settings from defaults, then -c FILE, then CRMPULSE_* env
 *        (CRMPULSE_REDIS_URL -> redis.url: lower-case, '_' -> '.'), then
 *        each -X key=value of @p argv, then validates.
 *        argv entries other than -c/-X (and their values) are left for the
 *        caller and listed in @p rest (argv order), e.g. "--help".
 * @returns the config or NULL with a message in errstr that names the
 *          setting and the fix.
 * Ownership: caller owns the result; free with cp_config_destroy().
 *            @p rest (may be NULL) receives borrowed argv pointers; it must
 *            have room for argc entries; *rest_cnt gets their count.
 */
struct cp_config *cp_config_load(int argc, char **argv, const char **rest,
                                 int *rest_cnt, char *errstr,
                                 size_t errstr_size);

/** @brief Sets one setting by name (as -X does), validating its value. */
cp_rc cp_config_set(struct cp_config *cfg, const char *name, const char *value,
                    char *errstr, size_t errstr_size);

/** @brief Prints every setting with its default and doc (for --help). */
void cp_config_print_help(FILE *out);

/** @brief Prints the effective settings, secrets masked (passwords in
 *         redis.url, kafka.*password*, kafka.*secret*, ...). */
void cp_config_dump(const struct cp_config *cfg, FILE *out);

void cp_config_destroy(struct cp_config *cfg);

/** @brief How many settings the table has (kafka.* passthrough aside). */
size_t cp_config_setting_count(void);

/** @brief The name of setting @p i (< cp_config_setting_count()), e.g.
 *         "redis.url"; static storage. */
const char *cp_config_setting_name(size_t i);

/** @brief Whether the value of kafka.<key> may hold a secret (passwords,
 *         keys): never shown in dumps or messages. */
bool cp_config_kafka_key_is_secret(const char *key);

/** @brief Levenshtein distance of @p a and @p b (255 past 63 characters):
 *         how far a mistyped setting name is from a known one. */
size_t cp_config_edit_distance(const char *a, const char *b);

#endif
