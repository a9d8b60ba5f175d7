/* SPDX-License-Identifier: Apache-2.0 */
/* The only module that speaks librdkafka (kafka.h): this file holds what
 * its parts share: settings checked and built, logs, whether the cluster
 * answers. The parts: embedded.c (the mock cluster), faults.c (its fault
 * injection, for tests), producer.c, consumer.c. */
#include "kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka_int.h"
#include "log.h"

/* ---- shared helpers ---- */

void cp__reach_down(struct cp__reach *r, const char *reason)
{
    if (r->down_since_ms)
        return;
    r->down_since_ms = cp_mono_ms();
    cp_log(CP_LOG_ERR, "KAFKA",
           "kafka unreachable: all brokers are down (%s: %s); retrying", r->who,
           reason);
}

/* Called when the cluster answered something. */
void cp__reach_up(struct cp__reach *r)
{
    if (!r->down_since_ms)
        return;
    cp_log(CP_LOG_NOTICE, "KAFKA", "kafka reachable again after %.1f s (%s)",
           (double)(cp_mono_ms() - r->down_since_ms) / 1000.0, r->who);
    r->down_since_ms = 0;
}

void cp__kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
    (void)rk;
    /* librdkafka uses syslog levels too; keep its chatter below ours. */
    cp_log(level < CP_LOG_ERR ? CP_LOG_ERR : level, "KAFKA", "%s: %s", fac,
           buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && opaque)
        cp__reach_down(opaque, reason);
    cp_log(err == RD_KAFKA_RESP_ERR__FATAL ? CP_LOG_ERR : CP_LOG_WARNING,
           "KAFKA", "%s: %s", rd_kafka_err2name(err), reason);
}

/* librdkafka's message about kafka.<key> = @p value, with the value
 * replaced by *** where the setting may hold a secret (librdkafka quotes
 * invalid values). */
static void redact(const char *key, const char *value, const char *why,
                   char *out, size_t out_size)
{
    size_t vlen = strlen(value), len = 0;

    if (!cp_config_kafka_key_is_secret(key) || vlen == 0) {
        snprintf(out, out_size, "%s", why);
        return;
    }
    out[0] = '\0';
    while (*why && len + 4 < out_size) {
        if (!strncmp(why, value, vlen)) {
            memcpy(out + len, "***", 3);
            len += 3;
            why += vlen;
        } else {
            out[len++] = *why++;
        }
    }
    out[len] = '\0';
}

int cp__kafka_conf_set(rd_kafka_conf_t *conf, const char *key,
                       const char *value, char *errstr, size_t errstr_size)
{
    char why[256], shown[256];

    if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) ==
        RD_KAFKA_CONF_OK)
        return 0;
    redact(key, value, why, shown, sizeof(shown));
    snprintf(errstr, errstr_size, "kafka setting kafka.%s: %s", key, shown);
    return -1;
}

/* The librdkafka property closest to @p key (within a third of its
 * length), from librdkafka's own table; NULL if none. Ownership: caller
 * frees the result. */
static char *closest_property(const char *key)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char *table = NULL, *best = NULL, *line, *save = NULL;
    size_t table_len = 0, best_d = strlen(key) / 3 + 1;
    FILE *fp = open_memstream(&table, &table_len);

    if (!fp) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_properties_show(fp);
    fclose(fp);
    rd_kafka_conf_destroy(conf);
    /* A markdown table: "name | C/P | range | default | ..." rows. */
    for (line = strtok_r(table, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        size_t n = strspn(line, "abcdefghijklmnopqrstuvwxyz0123456789._");
        size_t d;

        if (n == 0 || line[n] != ' ')
            continue;
        line[n] = '\0';
        d = cp_config_edit_distance(key, line);
        if (d < best_d) {
            free(best);
            best = strdup(line);
            best_d = d;
        }
    }
    free(table);
    return best;
}

cp_rc cp_kafka_check_props(const struct cp_kv *props, size_t prop_cnt,
                           char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    cp_rc rc = CP_OK;

    for (size_t i = 0; i < prop_cnt && !rc; i++) {
        const char *key = props[i].key;
        char why[256];
        char *hint;

        switch (
            rd_kafka_conf_set(conf, key, props[i].value, why, sizeof(why))) {
        case RD_KAFKA_CONF_OK:
            break;
        case RD_KAFKA_CONF_UNKNOWN:
            hint = closest_property(key);
            if (hint)
                snprintf(errstr, errstr_size,
                         "unknown setting 'kafka.%s'; did you mean "
                         "'kafka.%s'?",
                         key, hint);
            else
                snprintf(errstr, errstr_size,
                         "unknown setting 'kafka.%s': not a librdkafka "
                         "property (see librdkafka's CONFIGURATION.md)",
                         key);
            free(hint);
            rc = CP_ECONFIG;
            break;
        default: {
            char shown[256];

            redact(key, props[i].value, why, shown, sizeof(shown));
            snprintf(errstr, errstr_size, "kafka.%s: %s", key, shown);
            rc = CP_ECONFIG;
            break;
        }
        }
    }
    rd_kafka_conf_destroy(conf);
    return rc;
}

/* Our defaults, then the user's kafka.* settings (which win). */
rd_kafka_conf_t *cp__kafka_conf_build(const char *bootstrap,
                                      const char *const defaults[][2],
                                      const struct cp_kv *props,
                                      size_t prop_cnt, char *errstr,
                                      size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    rd_kafka_conf_set_log_cb(conf, cp__kafka_log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    if (cp__kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr,
                           errstr_size))
        goto fail;
    for (size_t i = 0; defaults[i][0]; i++)
        if (cp__kafka_conf_set(conf, defaults[i][0], defaults[i][1], errstr,
                               errstr_size))
            goto fail;
    for (size_t i = 0; i < prop_cnt; i++)
        if (cp__kafka_conf_set(conf, props[i].key, props[i].value, errstr,
                               errstr_size))
            goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}
