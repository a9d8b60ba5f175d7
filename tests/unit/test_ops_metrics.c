/* SPDX-License-Identifier: Apache-2.0 */
/* Metrics registry: the exact exposition for a known set of updates, the
 * dead-letter reason classes, partition gauges set and cleared, exact
 * totals while two threads update and a third renders, and the exposition
 * passing `promtool check metrics`. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "metrics.h"

/* The new assert API wants a 0/1 int and expands macros in its argument,
 * so plain conditions go through this function. */
static int truthy(int cond)
{
    return cond != 0;
}

static void assert_str_eq(const char *got, const char *want)
{
    cr_assert(eq(str, (char *)got, (char *)want));
}

static struct cp_metrics *new_metrics(void)
{
    char errstr[256] = "";
    struct cp_metrics *m = cp_metrics_new("0.1.0", errstr, sizeof(errstr));

    cr_assert(truthy(m != NULL), "cp_metrics_new: %s", errstr);
    return m;
}

/* Renders @p m into a NUL-terminated malloc'd string. */
static char *render(struct cp_metrics *m)
{
    struct cp_buf buf;
    char *text;

    cp_buf_init(&buf, 0);
    cr_assert(eq(int, cp_metrics_render(m, &buf), CP_OK));
    text = malloc(buf.len + 1);
    cr_assert(truthy(text != NULL));
    memcpy(text, buf.data, buf.len);
    text[buf.len] = '\0';
    cp_buf_cleanup(&buf);
    return text;
}

/* Value of the sample named exactly @p series ("name{labels}"), or -1. */
static double value_of(const char *text, const char *series)
{
    size_t n = strlen(series);

    for (const char *line = text; line && *line;) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return -1;
}

static bool has_line(const char *text, const char *want)
{
    size_t n = strlen(want);

    for (const char *line = text; line && *line;) {
        if (strncmp(line, want, n) == 0 && (line[n] == '\n' || !line[n]))
            return true;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return false;
}

TestSuite(ops_metrics, .timeout = 60);

/* ---- exact exposition ---- */

static const char expected_exposition[] =
    "# HELP crmpulse_events_total Events consumed, by result: applied to "
    "state, or sent to the dead-letter topic.\n"
    "# TYPE crmpulse_events_total counter\n"
    "crmpulse_events_total{result=\"applied\"} 7\n"
    "crmpulse_events_total{result=\"dead_letter\"} 5\n"
    "# HELP crmpulse_dead_letters_total Dead letters, by reason class.\n"
    "# TYPE crmpulse_dead_letters_total counter\n"
    "crmpulse_dead_letters_total{reason=\"framing\"} 1\n"
    "crmpulse_dead_letters_total{reason=\"schema\"} 1\n"
    "crmpulse_dead_letters_total{reason=\"decode\"} 1\n"
    "crmpulse_dead_letters_total{reason=\"validation\"} 1\n"
    "crmpulse_dead_letters_total{reason=\"other\"} 1\n"
    "# HELP crmpulse_alerts_total Alerts emitted, by kind and level.\n"
    "# TYPE crmpulse_alerts_total counter\n"
    "crmpulse_alerts_total{kind=\"churn_risk\",level=\"high\"} 2\n"
    "crmpulse_alerts_total{kind=\"churn_risk\",level=\"critical\"} 0\n"
    "crmpulse_alerts_total{kind=\"response_sla_breach\",level=\"high\"} 0\n"
    "crmpulse_alerts_total{kind=\"response_sla_breach\",level=\"critical\"} "
    "1\n"
    "# HELP crmpulse_batch_size Messages per consumed batch.\n"
    "# TYPE crmpulse_batch_size histogram\n"
    "crmpulse_batch_size_bucket{le=\"1\"} 1\n"
    "crmpulse_batch_size_bucket{le=\"2\"} 1\n"
    "crmpulse_batch_size_bucket{le=\"5\"} 2\n"
    "crmpulse_batch_size_bucket{le=\"10\"} 2\n"
    "crmpulse_batch_size_bucket{le=\"20\"} 2\n"
    "crmpulse_batch_size_bucket{le=\"50\"} 2\n"
    "crmpulse_batch_size_bucket{le=\"100\"} 2\n"
    "crmpulse_batch_size_bucket{le=\"200\"} 2\n"
    "crmpulse_batch_size_bucket{le=\"500\"} 3\n"
    "crmpulse_batch_size_bucket{le=\"1000\"} 3\n"
    "crmpulse_batch_size_bucket{le=\"2000\"} 3\n"
    "crmpulse_batch_size_bucket{le=\"5000\"} 3\n"
    "crmpulse_batch_size_bucket{le=\"10000\"} 3\n"
    "crmpulse_batch_size_bucket{le=\"20000\"} 3\n"
    "crmpulse_batch_size_bucket{le=\"50000\"} 4\n"
    "crmpulse_batch_size_bucket{le=\"+Inf\"} 5\n"
    "crmpulse_batch_size_sum 150505\n"
    "crmpulse_batch_size_count 5\n"
    "# HELP crmpulse_batch_duration_seconds Time to process and commit one "
    "batch.\n"
    "# TYPE crmpulse_batch_duration_seconds histogram\n"
    "crmpulse_batch_duration_seconds_bucket{le=\"0.0005\"} 2\n"
    "crmpulse_batch_duration_seconds_bucket{le=\"0.001\"} 2\n"
    "crmpulse_batch_duration_seconds_bucket{le=\"0.0025\"} 2\n"
    "crmpulse_batch_duration_seconds_bucket{le=\"0.005\"} 2\n"
    "crmpulse_batch_duration_seconds_bucket{le=\"0.01\"} 2\n"
    "crmpulse_batch_duration_seconds_bucket{le=\"0.025\"} 2\n"
    "crmpulse_batch_duration_seconds_bucket{le=\"0.05\"} 2\n"
    "crmpulse_batch_duration_seconds_bucket{le=\"0.1\"} 2\n"
    "crmpulse_batch_duration_seconds_bucket{le=\"0.25\"} 3\n"
    "crmpulse_batch_duration_seconds_bucket{le=\"0.5\"} 3\n"
    "crmpulse_batch_duration_seconds_bucket{le=\"1\"} 4\n"
    "crmpulse_batch_duration_seconds_bucket{le=\"2.5\"} 4\n"
    "crmpulse_batch_duration_seconds_bucket{le=\"5\"} 4\n"
    "crmpulse_batch_duration_seconds_bucket{le=\"10\"} 4\n"
    "crmpulse_batch_duration_seconds_bucket{le=\"+Inf\"} 5\n"
    "crmpulse_batch_duration_seconds_sum 13.7006\n"
    "crmpulse_batch_duration_seconds_count 5\n"
    "# HELP crmpulse_redis_roundtrip_seconds Round-trip time of one Redis "
    "request or pipeline.\n"
    "# TYPE crmpulse_redis_roundtrip_seconds histogram\n"
    "crmpulse_redis_roundtrip_seconds_bucket{le=\"0.0005\"} 2\n"
    "crmpulse_redis_roundtrip_seconds_bucket{le=\"0.001\"} 3\n"
    "crmpulse_redis_roundtrip_seconds_bucket{le=\"0.0025\"} 3\n"
    "crmpulse_redis_roundtrip_seconds_bucket{le=\"0.005\"} 3\n"
    "crmpulse_redis_roundtrip_seconds_bucket{le=\"0.01\"} 3\n"
    "crmpulse_redis_roundtrip_seconds_bucket{le=\"0.025\"} 3\n"
    "crmpulse_redis_roundtrip_seconds_bucket{le=\"0.05\"} 3\n"
    "crmpulse_redis_roundtrip_seconds_bucket{le=\"0.1\"} 3\n"
    "crmpulse_redis_roundtrip_seconds_bucket{le=\"0.25\"} 3\n"
    "crmpulse_redis_roundtrip_seconds_bucket{le=\"0.5\"} 3\n"
    "crmpulse_redis_roundtrip_seconds_bucket{le=\"1\"} 3\n"
    "crmpulse_redis_roundtrip_seconds_bucket{le=\"2.5\"} 3\n"
    "crmpulse_redis_roundtrip_seconds_bucket{le=\"5\"} 3\n"
    "crmpulse_redis_roundtrip_seconds_bucket{le=\"10\"} 4\n"
    "crmpulse_redis_roundtrip_seconds_bucket{le=\"+Inf\"} 4\n"
    "crmpulse_redis_roundtrip_seconds_sum 10.0013\n"
    "crmpulse_redis_roundtrip_seconds_count 4\n"
    "# HELP crmpulse_retries_total Retries, by cause: Redis or Kafka "
    "failures, a fenced partition, or a schema registry that gave no "
    "answer.\n"
    "# TYPE crmpulse_retries_total counter\n"
    "crmpulse_retries_total{cause=\"redis\"} 3\n"
    "crmpulse_retries_total{cause=\"kafka\"} 1\n"
    "crmpulse_retries_total{cause=\"fenced\"} 0\n"
    "crmpulse_retries_total{cause=\"registry\"} 0\n"
    "# HELP crmpulse_messages_skipped_total Input messages never applied: "
    "Kafka no longer had them (retention) or the stored offset was beyond "
    "the log, and offsets.out_of_range moved past them.\n"
    "# TYPE crmpulse_messages_skipped_total counter\n"
    "crmpulse_messages_skipped_total 1500\n"
    "# HELP crmpulse_consumer_lag_messages Messages behind the high "
    "watermark, per assigned partition.\n"
    "# TYPE crmpulse_consumer_lag_messages gauge\n"
    "crmpulse_consumer_lag_messages{topic=\"crm.events\",partition=\"0\"} "
    "12\n"
    "crmpulse_consumer_lag_messages{topic=\"crm.events\",partition=\"1023\"}"
    " 0\n"
    "crmpulse_consumer_lag_messages{topic=\"crm.other\",partition=\"5\"} "
    "9\n"
    "# HELP crmpulse_watermark_seconds Event-time watermark of an assigned "
    "partition, unix seconds.\n"
    "# TYPE crmpulse_watermark_seconds gauge\n"
    "crmpulse_watermark_seconds{topic=\"crm.events\",partition=\"0\"} "
    "1764380000.12\n"
    "crmpulse_watermark_seconds{topic=\"crm.events\",partition=\"1023\"} "
    "1764380001\n"
    "# HELP crmpulse_state_cache_entries Entries in the in-memory state "
    "cache.\n"
    "# TYPE crmpulse_state_cache_entries gauge\n"
    "crmpulse_state_cache_entries 4242\n"
    "# HELP crmpulse_schema_registry_requests_total HTTP requests to the "
    "schema registry (each URL tried counts).\n"
    "# TYPE crmpulse_schema_registry_requests_total counter\n"
    "crmpulse_schema_registry_requests_total 12\n"
    "# HELP crmpulse_schema_registry_errors_total Schema registry requests "
    "without a usable answer (down, timeout, 5xx, garbage, refused).\n"
    "# TYPE crmpulse_schema_registry_errors_total counter\n"
    "crmpulse_schema_registry_errors_total 5\n"
    "# HELP crmpulse_schema_registry_cached_schemas Writer schema ids held "
    "(found or definitely not found).\n"
    "# TYPE crmpulse_schema_registry_cached_schemas gauge\n"
    "crmpulse_schema_registry_cached_schemas 3\n"
    "# HELP crmpulse_state_dropped_total What the state kept out: stages, "
    "open tickets and waiting conversations past their bounds, values read "
    "back from Redis that were not crmpulse's (set aside).\n"
    "# TYPE crmpulse_state_dropped_total counter\n"
    "crmpulse_state_dropped_total{reason=\"stage_limit\"} 0\n"
    "crmpulse_state_dropped_total{reason=\"ticket_limit\"} 0\n"
    "crmpulse_state_dropped_total{reason=\"waiting_limit\"} 0\n"
    "crmpulse_state_dropped_total{reason=\"unreadable\"} 7\n"
    "# HELP crmpulse_up Whether a dependency is reachable (1) or not (0).\n"
    "# TYPE crmpulse_up gauge\n"
    "crmpulse_up{dependency=\"redis\"} 1\n"
    "crmpulse_up{dependency=\"kafka\"} 0\n"
    "# HELP crmpulse_ready 1 when the worker is ready (/readyz answers 200), "
    "else 0.\n"
    "# TYPE crmpulse_ready gauge\n"
    "crmpulse_ready 0\n"
    "# HELP crmpulse_build_info Build information; the value is always 1.\n"
    "# TYPE crmpulse_build_info gauge\n"
    "crmpulse_build_info{version=\"0.1.0\"} 1\n"
    "# HELP crmpulse_process_start_time_seconds Start time of the process, "
    "unix seconds.\n"
    "# TYPE crmpulse_process_start_time_seconds gauge\n";

/* A known set of updates, each series touched on purpose, bucket edges
 * included (an observation equal to a bound falls into that bucket). */
static void known_updates(struct cp_metrics *m)
{
    cp_metrics_event(m, CP_METRICS_APPLIED, 4);
    cp_metrics_event(m, CP_METRICS_APPLIED, 3);
    cp_metrics_event(m, CP_METRICS_DEAD_LETTER, 5);
    cp_metrics_dead_letter(m, "bad framing: magic byte 0x01, expected 0x00");
    cp_metrics_dead_letter(m, "unknown schema id 42");
    cp_metrics_dead_letter(m, "avro: truncated varint (payload)");
    cp_metrics_dead_letter(m, "customer_id: empty");
    cp_metrics_dead_letter(m, "something nobody foresaw");
    cp_metrics_alert(m, CP_METRICS_ALERT_CHURN_RISK, CP_METRICS_LEVEL_HIGH);
    cp_metrics_alert(m, CP_METRICS_ALERT_CHURN_RISK, CP_METRICS_LEVEL_HIGH);
    cp_metrics_alert(m, CP_METRICS_ALERT_RESPONSE_SLA_BREACH,
                     CP_METRICS_LEVEL_CRITICAL);
    /* sizes 1, 3, 500, 50000, 1 beyond: sum 150505 */
    cp_metrics_observe_batch(m, 1, 0.0005);    /* both on a bound */
    cp_metrics_observe_batch(m, 3, 0.0001);    /* first bucket */
    cp_metrics_observe_batch(m, 500, 0.2);     /* 0.25 */
    cp_metrics_observe_batch(m, 50000, 1.0);   /* on the bound 1 */
    cp_metrics_observe_batch(m, 100001, 12.5); /* +Inf for both */
    cp_metrics_observe_redis_rtt(m, 0.0003);
    cp_metrics_observe_redis_rtt(m, 0.001);
    cp_metrics_observe_redis_rtt(m, 10.0);
    cp_metrics_observe_redis_rtt(m, -1.0); /* nonsense: counted as 0 s */
    cp_metrics_retry(m, CP_METRICS_RETRY_REDIS);
    cp_metrics_retry(m, CP_METRICS_RETRY_REDIS);
    cp_metrics_retry(m, CP_METRICS_RETRY_REDIS);
    cp_metrics_retry(m, CP_METRICS_RETRY_KAFKA);
    cp_metrics_set_registry(m, 12, 5, 3);
    cp_metrics_skipped(m, 1000);
    cp_metrics_skipped(m, 500);
    cr_assert(
        eq(int, cp_metrics_partition_set(m, "crm.events", 0, 12, 1764380000120),
           CP_OK));
    cr_assert(eq(
        int, cp_metrics_partition_set(m, "crm.events", 1023, 0, 1764380001000),
        CP_OK));
    /* lag only: no watermark line for it */
    cr_assert(
        eq(int, cp_metrics_partition_set(m, "crm.other", 5, 9, -1), CP_OK));
    /* assigned then revoked: gone */
    cr_assert(
        eq(int, cp_metrics_partition_set(m, "crm.events", 7, 1, 1), CP_OK));
    cp_metrics_partition_clear(m, "crm.events", 7);
    cp_metrics_set_cache(m, 4242);
    cp_metrics_set_dropped(m, CP_METRICS_DROP_UNREADABLE, 7);
    cp_metrics_set_up(m, CP_METRICS_DEP_REDIS, true);
    cp_metrics_set_up(m, CP_METRICS_DEP_KAFKA, true);
    cp_metrics_set_up(m, CP_METRICS_DEP_KAFKA, false);
}

Test(ops_metrics, renders_the_exact_exposition_of_known_updates)
{
    int64_t before = cp_now_ms();
    struct cp_metrics *m = new_metrics();
    int64_t after = cp_now_ms();
    const char *last_name = "crmpulse_process_start_time_seconds ";
    size_t head = sizeof(expected_exposition) - 1;
    char *text, *tail;
    double started;

    known_updates(m);
    text = render(m);
    cr_assert(truthy(strlen(text) > head), "%s", text);
    tail = text + head;
    cr_assert(truthy(strncmp(tail, last_name, strlen(last_name)) == 0),
              "tail: %s", tail);
    started = strtod(tail + strlen(last_name), NULL);
    cr_assert(truthy(started * 1000 >= (double)before - 1 &&
                     started * 1000 <= (double)after + 1),
              "start time %f not in [%" PRId64 ", %" PRId64 "] ms", started,
              before, after);
    cr_assert(truthy(strchr(tail, '\n') == tail + strlen(tail) - 1),
              "one last line: %s", tail);
    *tail = '\0';
    assert_str_eq(text, expected_exposition);
    free(text);
    cp_metrics_destroy(m);
}

Test(ops_metrics, a_fresh_registry_exports_zeroes_and_not_ready)
{
    struct cp_metrics *m = new_metrics();
    char reason[64];
    char *text = render(m);

    cr_assert(
        truthy(has_line(text, "crmpulse_events_total{result=\"applied\"} 0")));
    cr_assert(truthy(has_line(text, "crmpulse_ready 0")));
    cr_assert(truthy(has_line(text, "crmpulse_up{dependency=\"redis\"} 0")));
    cr_assert(truthy(has_line(text, "crmpulse_batch_size_count 0")));
    cr_assert(truthy(has_line(text, "crmpulse_batch_size_sum 0")));
    /* no partition assigned: the families are there, without samples */
    cr_assert(
        truthy(has_line(text, "# TYPE crmpulse_consumer_lag_messages gauge")));
    cr_assert(truthy(strstr(text, "crmpulse_consumer_lag_messages{") == NULL));
    cr_assert(truthy(!cp_metrics_ready(m, reason, sizeof(reason))));
    assert_str_eq(reason, "starting");
    free(text);
    cp_metrics_destroy(m);
}

Test(ops_metrics, readiness_keeps_the_reason_and_truncates_it)
{
    struct cp_metrics *m = new_metrics();
    char reason[CP_METRICS_REASON_MAX + 1];
    char longer[400];
    char *text;

    cp_metrics_set_ready(m, true, "ignored when ready");
    cr_assert(truthy(cp_metrics_ready(m, reason, sizeof(reason))));
    assert_str_eq(reason, "");
    text = render(m);
    cr_assert(truthy(has_line(text, "crmpulse_ready 1")));
    free(text);

    cp_metrics_set_ready(m, false, "redis unreachable");
    cr_assert(truthy(!cp_metrics_ready(m, reason, sizeof(reason))));
    assert_str_eq(reason, "redis unreachable");

    cp_metrics_set_ready(m, false, NULL);
    cr_assert(truthy(!cp_metrics_ready(m, reason, sizeof(reason))));
    assert_str_eq(reason, "not ready");

    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    cp_metrics_set_ready(m, false, longer);
    cr_assert(truthy(!cp_metrics_ready(m, reason, sizeof(reason))));
    cr_assert(eq(sz, strlen(reason), (size_t)CP_METRICS_REASON_MAX));
    cp_metrics_destroy(m);
}

/* ---- dead-letter classes ---- */

Test(ops_metrics, dead_letter_reasons_map_to_their_class)
{
    static const struct {
        const char *reason;
        enum cp_metrics_dl_class cls;
    } cases[] = {
        {"empty message (tombstone)", CP_METRICS_DL_FRAMING},
        {"bad framing: 3 bytes, shorter than the 5-byte Confluent header",
         CP_METRICS_DL_FRAMING},
        {"bad framing: magic byte 0x07, expected 0x00", CP_METRICS_DL_FRAMING},
        {"unknown schema id 9999", CP_METRICS_DL_SCHEMA},
        {"schema id 3 is crm.v1.DeadLetter, not a CrmEvent",
         CP_METRICS_DL_SCHEMA},
        {"avro: varint runs past the end (occurred_at)", CP_METRICS_DL_DECODE},
        {"avro: read failed (error 22)", CP_METRICS_DL_DECODE},
        {"payload: unknown record crm.v1.Future", CP_METRICS_DL_DECODE},
        {"occurred_at: cannot read", CP_METRICS_DL_DECODE},
        {"channel: unknown symbol FAX", CP_METRICS_DL_DECODE},
        {"tenant_id: empty", CP_METRICS_DL_VALIDATION},
        {"customer_id: 300 bytes, longer than 128", CP_METRICS_DL_VALIDATION},
        {"tenant_id: byte 0x7b at 0 not in [A-Za-z0-9._-]",
         CP_METRICS_DL_VALIDATION},
        {"event_id: invalid UTF-8 lead byte 0xff at 3",
         CP_METRICS_DL_VALIDATION},
        {"event_id: control character U+0007 at 2", CP_METRICS_DL_VALIDATION},
        {"amount_cents -5 negative", CP_METRICS_DL_VALIDATION},
        {"survey NPS score 11 out of range 0-10", CP_METRICS_DL_VALIDATION},
        {"occurred_at 1970-01-01T00:00:00Z before 2000-01-01",
         CP_METRICS_DL_VALIDATION},
        {"occurred_at 2099-01-01T00:00:00Z more than 24 h after now "
         "2026-11-29T00:00:00Z",
         CP_METRICS_DL_VALIDATION},
        {"subscription action: unknown value 9", CP_METRICS_DL_VALIDATION},
        {"message of 2000000 bytes is too large", CP_METRICS_DL_OTHER},
        {"", CP_METRICS_DL_OTHER},
        {NULL, CP_METRICS_DL_OTHER},
    };

    for (size_t i = 0; i < CP_ARRAY_SIZE(cases); i++)
        cr_expect(eq(int, (int)cp_metrics_dl_classify(cases[i].reason),
                     (int)cases[i].cls),
                  "reason \"%s\"", cases[i].reason ? cases[i].reason : "NULL");
    assert_str_eq(cp_metrics_dl_class_name(CP_METRICS_DL_VALIDATION),
                  "validation");
    assert_str_eq(cp_metrics_dl_class_name((enum cp_metrics_dl_class)99),
                  "other");
}

/* ---- partitions ---- */

Test(ops_metrics, partition_gauges_are_set_updated_and_cleared)
{
    struct cp_metrics *m = new_metrics();
    char name[CP_METRICS_TOPIC_MAX + 2];
    char *text;

    cr_assert(eq(int, cp_metrics_partition_set(m, "t", 2, 100, 5000), CP_OK));
    /* lag from one call site, watermark from another */
    cr_assert(eq(int, cp_metrics_partition_set(m, "t", 2, 40, -1), CP_OK));
    cr_assert(eq(int, cp_metrics_partition_set(m, "t", 2, -1, 7500), CP_OK));
    text = render(m);
    cr_assert(eq(dbl,
                 value_of(text, "crmpulse_consumer_lag_messages{topic=\"t\","
                                "partition=\"2\"}"),
                 40.0));
    cr_assert(eq(dbl,
                 value_of(text, "crmpulse_watermark_seconds{topic=\"t\","
                                "partition=\"2\"}"),
                 7.5));
    free(text);

    /* revoked, then assigned again: the old values do not come back */
    cp_metrics_partition_clear(m, "t", 2);
    cp_metrics_partition_clear(m, "never-seen", 2); /* ignored */
    cr_assert(eq(int, cp_metrics_partition_set(m, "t", 2, 3, -1), CP_OK));
    text = render(m);
    cr_assert(eq(dbl,
                 value_of(text, "crmpulse_consumer_lag_messages{topic=\"t\","
                                "partition=\"2\"}"),
                 3.0));
    cr_assert(truthy(strstr(text, "crmpulse_watermark_seconds{") == NULL), "%s",
              text);
    free(text);

    /* out of range: refused, nothing exported */
    cr_assert(eq(int, cp_metrics_partition_set(m, "t", -1, 1, 1), CP_ECONFIG));
    cr_assert(eq(
        int, cp_metrics_partition_set(m, "t", CP_METRICS_MAX_PARTITIONS, 1, 1),
        CP_ECONFIG));
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    cr_assert(eq(int, cp_metrics_partition_set(m, name, 0, 1, 1), CP_ECONFIG));
    /* "t" is one topic; three more fit, the fifth does not */
    cr_assert(eq(int, cp_metrics_partition_set(m, "a", 0, 1, 1), CP_OK));
    cr_assert(eq(int, cp_metrics_partition_set(m, "b", 0, 1, 1), CP_OK));
    cr_assert(eq(int, cp_metrics_partition_set(m, "c", 0, 1, 1), CP_OK));
    cr_assert(eq(int, cp_metrics_partition_set(m, "d", 0, 1, 1), CP_ECONFIG));
    text = render(m);
    cr_assert(truthy(strstr(text, "partition=\"-1\"") == NULL));
    cr_assert(truthy(strstr(text, "topic=\"d\"") == NULL));
    cr_assert(truthy(strstr(text, "topic=\"nnn") == NULL));
    free(text);
    cp_metrics_destroy(m);
}

Test(ops_metrics, label_values_are_escaped)
{
    char errstr[256];
    struct cp_metrics *m = cp_metrics_new("1.0 \"quoted\" back\\slash\nnewline",
                                          errstr, sizeof(errstr));
    char *text;

    cr_assert(truthy(m != NULL));
    text = render(m);
    cr_assert(truthy(has_line(text, "crmpulse_build_info{version=\"1.0 "
                                    "\\\"quoted\\\" back\\\\slash\\nnewline\"}"
                                    " 1")),
              "%s", text);
    free(text);
    cp_metrics_destroy(m);
}

Test(ops_metrics, render_reports_a_full_buffer)
{
    struct cp_metrics *m = new_metrics();
    struct cp_buf buf;

    cp_buf_init(&buf, 512); /* far less than one exposition */
    cr_assert(eq(int, cp_metrics_render(m, &buf), CP_ENOMEM));
    cr_assert(truthy(buf.len <= 512));
    cp_buf_cleanup(&buf);
    cp_metrics_destroy(m);
}

/* ---- concurrency ---- */

#define HAMMER_ROUNDS 100000

struct hammer {
    struct cp_metrics *m;
    int id;
};

static atomic_int writers_left;
static atomic_int renders_done;

static void *hammer(void *arg)
{
    struct hammer *h = arg;

    for (int i = 0; i < HAMMER_ROUNDS; i++) {
        /* Halfway, wait for a render, so at least one surely overlaps. */
        while (i == HAMMER_ROUNDS / 2 && atomic_load(&renders_done) == 0)
            cp_sleep_ms(1);
        cp_metrics_event(h->m, CP_METRICS_APPLIED, 2);
        cp_metrics_event(h->m, CP_METRICS_DEAD_LETTER, 1);
        cp_metrics_dead_letter(h->m, i % 2 ? "customer_id: empty"
                                           : "unknown schema id 7");
        cp_metrics_alert(h->m, CP_METRICS_ALERT_CHURN_RISK,
                         CP_METRICS_LEVEL_CRITICAL);
        cp_metrics_observe_batch(h->m, (uint64_t)(i % 100), 0.001);
        cp_metrics_observe_redis_rtt(h->m, 0.002);
        cp_metrics_retry(h->m, CP_METRICS_RETRY_KAFKA);
        cp_metrics_partition_set(h->m, "crm.events", h->id, i, i);
        if (i % 1000 == 0)
            cp_metrics_set_ready(h->m, i % 2000 == 0, "flapping");
    }
    atomic_fetch_sub(&writers_left, 1);
    return NULL;
}

/* Each render must be internally sane even while writers run: counters
 * never go backwards between renders, cumulative buckets never decrease
 * and a histogram's _count equals its +Inf bucket. */
static void check_render(const char *text, double *last_applied)
{
    double applied =
        value_of(text, "crmpulse_events_total{result=\"applied\"}");
    double prev = -1;
    const char *p = text;

    cr_assert(truthy(applied >= *last_applied), "%f < %f", applied,
              *last_applied);
    *last_applied = applied;
    while ((p = strstr(p, "crmpulse_batch_size_bucket{le=\""))) {
        const char *sp = strchr(p, ' ');
        double v = strtod(sp + 1, NULL);

        cr_assert(truthy(v >= prev), "buckets decrease at %.60s", p);
        prev = v;
        p = sp;
    }
    cr_assert(eq(dbl, value_of(text, "crmpulse_batch_size_count"), prev));
}

Test(ops_metrics, totals_are_exact_while_two_threads_update_and_one_renders)
{
    struct cp_metrics *m = new_metrics();
    struct hammer h[2] = {{m, 0}, {m, 1}};
    pthread_t tid[2];
    double last_applied = 0;
    char *text;

    atomic_store(&writers_left, 2);
    atomic_store(&renders_done, 0);
    for (int i = 0; i < 2; i++)
        cr_assert(eq(int, pthread_create(&tid[i], NULL, hammer, &h[i]), 0));
    while (atomic_load(&writers_left) > 0) {
        text = render(m);
        check_render(text, &last_applied);
        free(text);
        atomic_fetch_add(&renders_done, 1);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(tid[i], NULL);

    text = render(m);
    check_render(text, &last_applied);
    cr_assert(eq(dbl,
                 value_of(text, "crmpulse_events_total{result=\"applied\"}"),
                 4.0 * HAMMER_ROUNDS));
    cr_assert(
        eq(dbl, value_of(text, "crmpulse_events_total{result=\"dead_letter\"}"),
           2.0 * HAMMER_ROUNDS));
    cr_assert(eq(
        dbl, value_of(text, "crmpulse_dead_letters_total{reason=\"schema\"}"),
        1.0 * HAMMER_ROUNDS));
    cr_assert(
        eq(dbl,
           value_of(text, "crmpulse_dead_letters_total{reason=\"validation\"}"),
           1.0 * HAMMER_ROUNDS));
    cr_assert(eq(dbl,
                 value_of(text, "crmpulse_alerts_total{kind=\"churn_risk\","
                                "level=\"critical\"}"),
                 2.0 * HAMMER_ROUNDS));
    cr_assert(eq(dbl, value_of(text, "crmpulse_batch_size_count"),
                 2.0 * HAMMER_ROUNDS));
    /* sizes 0..99 repeated: each thread sums 4950 per 100 rounds */
    cr_assert(eq(dbl, value_of(text, "crmpulse_batch_size_sum"),
                 2.0 * 4950 * (HAMMER_ROUNDS / 100)));
    cr_assert(eq(dbl, value_of(text, "crmpulse_batch_size_bucket{le=\"1\"}"),
                 2.0 * 2 * (HAMMER_ROUNDS / 100)));
    cr_assert(eq(dbl,
                 value_of(text, "crmpulse_batch_duration_seconds_bucket{le="
                                "\"0.001\"}"),
                 2.0 * HAMMER_ROUNDS));
    cr_assert(eq(dbl,
                 value_of(text, "crmpulse_batch_duration_seconds_bucket{le="
                                "\"0.0005\"}"),
                 0.0));
    cr_assert(eq(dbl, value_of(text, "crmpulse_batch_duration_seconds_sum"),
                 2.0 * HAMMER_ROUNDS * 0.001));
    cr_assert(eq(dbl, value_of(text, "crmpulse_redis_roundtrip_seconds_count"),
                 2.0 * HAMMER_ROUNDS));
    cr_assert(eq(dbl, value_of(text, "crmpulse_retries_total{cause=\"kafka\"}"),
                 2.0 * HAMMER_ROUNDS));
    cr_assert(eq(dbl,
                 value_of(text, "crmpulse_consumer_lag_messages{topic=\"crm."
                                "events\",partition=\"1\"}"),
                 HAMMER_ROUNDS - 1.0));
    cr_log_info("%d renders during the updates", atomic_load(&renders_done));
    free(text);
    cp_metrics_destroy(m);
}

/* ---- promtool ---- */

/* Runs `promtool check metrics` on @p text; its output goes to @p report.
 * @returns its exit status, or -1 if it could not run. */
static int promtool_check(const char *text, char *report, size_t report_size)
{
    char in_path[] = "/tmp/crmpulse-expo-XXXXXX";
    char cmd[256];
    int fd = mkstemp(in_path);
    FILE *p;
    size_t n = 0;
    int status;

    cr_assert(truthy(fd >= 0));
    cr_assert(eq(sz, (size_t)write(fd, text, strlen(text)), strlen(text)));
    close(fd);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", in_path);
    p = popen(cmd, "r");
    cr_assert(truthy(p != NULL));
    while (n + 1 < report_size && fgets(report + n, (int)(report_size - n), p))
        n += strlen(report + n);
    report[n] = '\0';
    status = pclose(p);
    unlink(in_path);
    if (status == -1 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

Test(ops_metrics, exposition_passes_promtool_check_metrics)
{
    struct cp_metrics *m;
    char report[4096];
    char *text;
    int rc;

    /* Absent promtool is a failure, not a skip: CI must have it. */
    cr_assert(truthy(access("/usr/bin/promtool", X_OK) == 0 ||
                     system("command -v promtool >/dev/null 2>&1") == 0),
              "promtool not found: apt-get install prometheus (Debian "
              "package that ships /usr/bin/promtool)");
    /* The check itself must be able to fail: a counter without _total. */
    rc = promtool_check("# HELP bad_count x\n# TYPE bad_count counter\n"
                        "bad_count 1\n",
                        report, sizeof(report));
    cr_assert(truthy(rc != 0), "promtool accepted a bad counter name");

    m = new_metrics();
    known_updates(m);
    cp_metrics_set_ready(m, true, NULL);
    text = render(m);
    rc = promtool_check(text, report, sizeof(report));
    cr_assert(eq(int, rc, 0), "promtool check metrics: exit %d:\n%s", rc,
              report);
    cr_assert(eq(sz, strlen(report), (size_t)0), "promtool: %s", report);
    free(text);
    cp_metrics_destroy(m);
}

/* One limit: every partition a worker can own (the checkpoint and the
 * scorer accept 0 .. CP_PARTITIONS_MAX-1) is exported, none dropped. */
Test(ops_metrics, every_partition_a_worker_can_own_is_exported)
{
    struct cp_metrics *m = new_metrics();
    char *text;

    cr_assert(eq(int,
                 cp_metrics_partition_set(m, "t", CP_PARTITIONS_MAX - 1, 7, -1),
                 CP_OK));
    cr_assert(eq(int,
                 cp_metrics_partition_set(m, "t", CP_PARTITIONS_MAX, 7, -1),
                 CP_ECONFIG));
    text = render(m);
    cr_assert(eq(dbl,
                 value_of(text, "crmpulse_consumer_lag_messages{topic=\"t\","
                                "partition=\"4095\"}"),
                 7.0),
              "%s", text);
    free(text);
    cp_metrics_destroy(m);
}
