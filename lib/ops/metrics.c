/* SPDX-License-Identifier: Apache-2.0 */
/* Metrics registry: relaxed atomics written by the worker, rendered in the
 * Prometheus text format by the HTTP thread. See metrics.h for the sharing
 * rules. */
#include "metrics.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Dead-letter reasons are scanned up to this many bytes. */
#define REASON_SCAN_MAX 512

#define NS_PER_S 1000000000ull

/* ---- histogram layouts ---- */

/* Bucket bounds are integers in the unit the histogram counts in (messages,
 * nanoseconds), so bucketing and _sum are exact; the le labels are the same
 * bounds written in base units. */
struct histo_def {
    const char *name;      /* family name */
    const char *help;      /* HELP text */
    const uint64_t *upper; /* upper bounds, ascending, in counting units */
    const char *const *le; /* the same bounds as label text */
    size_t cnt;            /* bounds, without +Inf */
    unsigned decimals;     /* counting unit = 10^-decimals base units */
};

#define HISTO_MAX_BUCKETS 16 /* finite buckets; +Inf comes on top */

static const uint64_t batch_upper[] = {
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000};
static const char *const batch_le[] = {
    "1",   "2",    "5",    "10",   "20",    "50",    "100",  "200",
    "500", "1000", "2000", "5000", "10000", "20000", "50000"};

/* 0.5 ms .. 10 s: a healthy Redis answers in well under a millisecond, a
 * stalled one in seconds; the I/O timeout is beyond the last bucket. */
static const uint64_t secs_upper[] = {
    500000,   1000000,    2500000,    5000000,    10000000,
    25000000, 50000000,   100000000,  250000000,  500000000,
    NS_PER_S, 2500000000, 5000000000, 10000000000};
static const char *const secs_le[] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5",     "10"};

_Static_assert(CP_ARRAY_SIZE(batch_upper) == CP_ARRAY_SIZE(batch_le),
               "batch bounds and labels");
_Static_assert(CP_ARRAY_SIZE(secs_upper) == CP_ARRAY_SIZE(secs_le),
               "seconds bounds and labels");
_Static_assert(CP_ARRAY_SIZE(batch_upper) <= HISTO_MAX_BUCKETS, "buckets");
_Static_assert(CP_ARRAY_SIZE(secs_upper) <= HISTO_MAX_BUCKETS, "buckets");

enum { H_BATCH_SIZE, H_BATCH_DURATION, H_REDIS_RTT, H_CNT };

static const struct histo_def histo_defs[H_CNT] = {
    [H_BATCH_SIZE] = {"crmpulse_batch_size", "Messages per consumed batch.",
                      batch_upper, batch_le, CP_ARRAY_SIZE(batch_upper), 0},
    [H_BATCH_DURATION] = {"crmpulse_batch_duration_seconds",
                          "Time to process and commit one batch.", secs_upper,
                          secs_le, CP_ARRAY_SIZE(secs_upper), 9},
    [H_REDIS_RTT] = {"crmpulse_redis_roundtrip_seconds",
                     "Round-trip time of one Redis request or pipeline.",
                     secs_upper, secs_le, CP_ARRAY_SIZE(secs_upper), 9},
};

/* Per-bucket (not cumulative) counts: an observation is one increment, and
 * render() sums them, so _count is derived from the buckets it prints. */
struct histo {
    _Atomic uint64_t bucket[HISTO_MAX_BUCKETS + 1]; /* last one is +Inf */
    _Atomic uint64_t sum;                           /* in counting units */
};

/* ---- label values ---- */

static const char *const result_names[CP_METRICS_RESULT_CNT] = {"applied",
                                                                "dead_letter"};
static const char *const dl_names[CP_METRICS_DL_CLASS_CNT] = {
    "framing", "schema", "decode", "validation", "other"};
static const char *const kind_names[CP_METRICS_ALERT_KIND_CNT] = {
    "churn_risk", "response_sla_breach"};
static const char *const level_names[CP_METRICS_LEVEL_CNT] = {"high",
                                                              "critical"};
static const char *const cause_names[CP_METRICS_RETRY_CAUSE_CNT] = {
    "redis", "kafka", "fenced", "registry"};
static const char *const dep_names[CP_METRICS_DEP_CNT] = {"redis", "kafka"};
static const char *const drop_names[CP_METRICS_DROP_CNT] = {
    "stage_limit", "ticket_limit", "waiting_limit", "unreadable"};

/* ---- the registry ---- */

struct part {
    _Atomic bool on;       /* assigned: exported */
    _Atomic int64_t lag;   /* messages; < 0 = not known yet */
    _Atomic int64_t wm_ms; /* ms since the epoch; < 0 = not known yet */
};

struct topic {
    char name[CP_METRICS_TOPIC_MAX + 1]; /* immutable once published */
    struct part parts[CP_METRICS_MAX_PARTITIONS];
};

struct cp_metrics {
    char *version;      /* owned */
    int64_t started_ms; /* wall clock at cp_metrics_new() */
    _Atomic uint64_t events[CP_METRICS_RESULT_CNT];
    _Atomic uint64_t dead_letters[CP_METRICS_DL_CLASS_CNT];
    _Atomic uint64_t alerts[CP_METRICS_ALERT_KIND_CNT][CP_METRICS_LEVEL_CNT];
    _Atomic uint64_t retries[CP_METRICS_RETRY_CAUSE_CNT];
    _Atomic uint64_t skipped; /* messages passed over, out of range */
    struct histo histo[H_CNT];
    _Atomic uint64_t cache_entries;
    _Atomic uint64_t registry[3]; /* requests, errors, schemas cached */
    _Atomic uint64_t dropped[CP_METRICS_DROP_CNT];
    _Atomic int up[CP_METRICS_DEP_CNT];

    /* Topics are appended under topic_lock and published by a release store
     * of topic_cnt; readers take topic_cnt with acquire and then read names
     * that never change again, without the lock. */
    pthread_mutex_t topic_lock;
    _Atomic int topic_cnt;
    struct topic *topics; /* owned; CP_METRICS_MAX_TOPICS of them */

    pthread_mutex_t ready_lock; /* guards ready and reason */
    bool ready;
    char reason[CP_METRICS_REASON_MAX + 1];
};

struct cp_metrics *cp_metrics_new(const char *version, char *errstr,
                                  size_t errstr_size)
{
    struct cp_metrics *m = calloc(1, sizeof(*m));

    if (!m) {
        snprintf(errstr, errstr_size, "create metrics: out of memory");
        return NULL;
    }
    /* calloc's zero bytes are zero atomics on every platform we build for,
     * but C11 wants atomic_init for the ones that start elsewhere. */
    m->topics = calloc(CP_METRICS_MAX_TOPICS, sizeof(*m->topics));
    m->version = strdup(version ? version : "unknown");
    if (!m->topics || !m->version) {
        snprintf(errstr, errstr_size, "create metrics: out of memory");
        free(m->topics);
        free(m->version);
        free(m);
        return NULL;
    }
    for (size_t t = 0; t < CP_METRICS_MAX_TOPICS; t++) {
        for (size_t p = 0; p < CP_METRICS_MAX_PARTITIONS; p++) {
            struct part *part = &m->topics[t].parts[p];

            atomic_init(&part->on, false);
            atomic_init(&part->lag, -1);
            atomic_init(&part->wm_ms, -1);
        }
    }
    atomic_init(&m->topic_cnt, 0);
    pthread_mutex_init(&m->topic_lock, NULL);
    pthread_mutex_init(&m->ready_lock, NULL);
    m->ready = false;
    snprintf(m->reason, sizeof(m->reason), "starting");
    m->started_ms = cp_now_ms();
    return m;
}

void cp_metrics_destroy(struct cp_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->topic_lock);
    pthread_mutex_destroy(&m->ready_lock);
    free(m->topics);
    free(m->version);
    free(m);
}

/* ---- updates ---- */

static void add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

void cp_metrics_event(struct cp_metrics *m, enum cp_metrics_result result,
                      uint64_t n)
{
    if ((unsigned)result < CP_METRICS_RESULT_CNT)
        add(&m->events[result], n);
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Bounded strstr: @p len bytes of @p s (no memmem in POSIX). */
static bool contains(const char *s, size_t len, const char *needle)
{
    size_t nlen = strlen(needle);

    for (size_t i = 0; i + nlen <= len; i++) {
        if (memcmp(s + i, needle, nlen) == 0)
            return true;
    }
    return false;
}

enum cp_metrics_dl_class cp_metrics_dl_classify(const char *reason)
{
    static const char *const decode_words[] = {"cannot read", "unknown symbol"};
    static const char *const validation_words[] = {
        "empty",   "longer than", "byte 0x",      "UTF-8",
        "UTF-16",  "U+",          "negative",     "out of range",
        "before ", "after now",   "unknown kind", "unknown value"};
    size_t len;

    if (!reason || !*reason)
        return CP_METRICS_DL_OTHER;
    len = strnlen(reason, REASON_SCAN_MAX);
    if (has_prefix(reason, "empty message") ||
        has_prefix(reason, "bad framing"))
        return CP_METRICS_DL_FRAMING;
    if (has_prefix(reason, "unknown schema id") ||
        has_prefix(reason, "schema id "))
        return CP_METRICS_DL_SCHEMA;
    if (has_prefix(reason, "avro:") || has_prefix(reason, "payload:") ||
        has_prefix(reason, "dead letter:"))
        return CP_METRICS_DL_DECODE;
    for (size_t i = 0; i < CP_ARRAY_SIZE(decode_words); i++) {
        if (contains(reason, len, decode_words[i]))
            return CP_METRICS_DL_DECODE;
    }
    for (size_t i = 0; i < CP_ARRAY_SIZE(validation_words); i++) {
        if (contains(reason, len, validation_words[i]))
            return CP_METRICS_DL_VALIDATION;
    }
    return CP_METRICS_DL_OTHER;
}

const char *cp_metrics_dl_class_name(enum cp_metrics_dl_class cls)
{
    if ((unsigned)cls < CP_METRICS_DL_CLASS_CNT)
        return dl_names[cls];
    return "other";
}

void cp_metrics_dead_letter_class(struct cp_metrics *m,
                                  enum cp_metrics_dl_class cls)
{
    if ((unsigned)cls >= CP_METRICS_DL_CLASS_CNT)
        cls = CP_METRICS_DL_OTHER;
    add(&m->dead_letters[cls], 1);
}

void cp_metrics_dead_letter(struct cp_metrics *m, const char *reason)
{
    cp_metrics_dead_letter_class(m, cp_metrics_dl_classify(reason));
}

void cp_metrics_alert(struct cp_metrics *m, enum cp_metrics_alert_kind kind,
                      enum cp_metrics_alert_level level)
{
    if ((unsigned)kind < CP_METRICS_ALERT_KIND_CNT &&
        (unsigned)level < CP_METRICS_LEVEL_CNT)
        add(&m->alerts[kind][level], 1);
}

static void observe(struct cp_metrics *m, int h, uint64_t v)
{
    const struct histo_def *def = &histo_defs[h];
    size_t i = 0;

    /* At most 15 bounds: a linear scan is as fast as a binary search. */
    while (i < def->cnt && v > def->upper[i])
        i++;
    add(&m->histo[h].bucket[i], 1);
    add(&m->histo[h].sum, v);
}

/* Seconds to whole nanoseconds, rounded; negative and NaN count as 0 and
 * anything past ~317 years is clamped so the conversion cannot overflow. */
static uint64_t seconds_to_ns(double s)
{
    if (!(s > 0))
        return 0;
    if (s >= 1e10)
        return (uint64_t)1e10 * NS_PER_S;
    return (uint64_t)(s * 1e9 + 0.5);
}

void cp_metrics_observe_batch(struct cp_metrics *m, uint64_t size,
                              double seconds)
{
    observe(m, H_BATCH_SIZE, size);
    observe(m, H_BATCH_DURATION, seconds_to_ns(seconds));
}

void cp_metrics_observe_redis_rtt(struct cp_metrics *m, double seconds)
{
    observe(m, H_REDIS_RTT, seconds_to_ns(seconds));
}

void cp_metrics_skipped(struct cp_metrics *m, uint64_t cnt)
{
    add(&m->skipped, cnt);
}

void cp_metrics_retry(struct cp_metrics *m, enum cp_metrics_retry_cause cause)
{
    if ((unsigned)cause < CP_METRICS_RETRY_CAUSE_CNT)
        add(&m->retries[cause], 1);
}

/* Index of @p topic, or -1. With @p create, a new name is appended under the
 * lock (once per topic for the life of the process). */
static int find_topic(struct cp_metrics *m, const char *topic, bool create)
{
    int cnt = atomic_load_explicit(&m->topic_cnt, memory_order_acquire);
    int idx = -1;

    for (int i = 0; i < cnt; i++) {
        if (strcmp(m->topics[i].name, topic) == 0)
            return i;
    }
    if (!create || strlen(topic) > CP_METRICS_TOPIC_MAX)
        return -1;
    pthread_mutex_lock(&m->topic_lock);
    /* Another thread may have added it since the lock-free look. */
    cnt = atomic_load_explicit(&m->topic_cnt, memory_order_relaxed);
    for (int i = 0; i < cnt && idx < 0; i++) {
        if (strcmp(m->topics[i].name, topic) == 0)
            idx = i;
    }
    if (idx < 0 && cnt < CP_METRICS_MAX_TOPICS) {
        strcpy(m->topics[cnt].name, topic); /* length checked above */
        idx = cnt;
        atomic_store_explicit(&m->topic_cnt, cnt + 1, memory_order_release);
    }
    pthread_mutex_unlock(&m->topic_lock);
    return idx;
}

cp_rc cp_metrics_partition_set(struct cp_metrics *m, const char *topic,
                               int32_t partition, int64_t lag,
                               int64_t watermark_ms)
{
    struct part *part;
    int t;

    if (!topic || partition < 0 || partition >= CP_METRICS_MAX_PARTITIONS)
        return CP_ECONFIG;
    t = find_topic(m, topic, true);
    if (t < 0)
        return CP_ECONFIG;
    part = &m->topics[t].parts[partition];
    if (lag >= 0)
        atomic_store_explicit(&part->lag, lag, memory_order_relaxed);
    if (watermark_ms >= 0)
        atomic_store_explicit(&part->wm_ms, watermark_ms, memory_order_relaxed);
    /* Release: a reader that sees the partition on sees these values. */
    atomic_store_explicit(&part->on, true, memory_order_release);
    return CP_OK;
}

void cp_metrics_partition_clear(struct cp_metrics *m, const char *topic,
                                int32_t partition)
{
    struct part *part;
    int t;

    if (!topic || partition < 0 || partition >= CP_METRICS_MAX_PARTITIONS)
        return;
    t = find_topic(m, topic, false);
    if (t < 0)
        return;
    part = &m->topics[t].parts[partition];
    atomic_store_explicit(&part->on, false, memory_order_relaxed);
    /* A later assignment starts with unknown values, not this owner's. */
    atomic_store_explicit(&part->lag, -1, memory_order_relaxed);
    atomic_store_explicit(&part->wm_ms, -1, memory_order_relaxed);
}

void cp_metrics_set_registry(struct cp_metrics *m, uint64_t requests,
                             uint64_t errors, uint64_t cached)
{
    atomic_store_explicit(&m->registry[0], requests, memory_order_relaxed);
    atomic_store_explicit(&m->registry[1], errors, memory_order_relaxed);
    atomic_store_explicit(&m->registry[2], cached, memory_order_relaxed);
}

void cp_metrics_set_cache(struct cp_metrics *m, uint64_t entries)
{
    atomic_store_explicit(&m->cache_entries, entries, memory_order_relaxed);
}

void cp_metrics_set_dropped(struct cp_metrics *m, enum cp_metrics_drop why,
                            uint64_t total)
{
    if ((unsigned)why < CP_METRICS_DROP_CNT)
        atomic_store_explicit(&m->dropped[why], total, memory_order_relaxed);
}

void cp_metrics_set_up(struct cp_metrics *m, enum cp_metrics_dep dep, bool up)
{
    if ((unsigned)dep < CP_METRICS_DEP_CNT)
        atomic_store_explicit(&m->up[dep], up ? 1 : 0, memory_order_relaxed);
}

void cp_metrics_set_ready(struct cp_metrics *m, bool ready, const char *reason)
{
    pthread_mutex_lock(&m->ready_lock);
    m->ready = ready;
    snprintf(m->reason, sizeof(m->reason), "%s",
             ready ? "" : (reason && *reason ? reason : "not ready"));
    pthread_mutex_unlock(&m->ready_lock);
}

bool cp_metrics_ready(struct cp_metrics *m, char *reason, size_t reason_size)
{
    bool ready;

    pthread_mutex_lock(&m->ready_lock);
    ready = m->ready;
    if (reason && reason_size)
        snprintf(reason, reason_size, "%s", m->reason);
    pthread_mutex_unlock(&m->ready_lock);
    return ready;
}

/* ---- rendering ---- */

/* Appends go through one context so a full buffer is reported once, at the
 * end, instead of after every line. */
struct out {
    struct cp_buf *buf;
    cp_rc rc;
};

static void emit(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void emit(struct out *o, const char *fmt, ...)
{
    va_list ap;
    char line[1024];
    int n;

    if (o->rc)
        return;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* Every line here is short (names, labels of bounded length, numbers);
     * a longer one would be a bug, not input. */
    if (n < 0 || (size_t)n >= sizeof(line))
        o->rc = CP_ENOMEM;
    else
        o->rc = cp_buf_append(o->buf, line, (size_t)n);
}

static void family(struct out *o, const char *name, const char *type,
                   const char *help)
{
    emit(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* @p units in 10^-decimals, written as a plain decimal without trailing
 * zeros ("1764380000.5"): exact, no float rounding. */
static const char *fixed(char *dst, size_t size, uint64_t units,
                         unsigned decimals)
{
    uint64_t scale = 1;
    uint64_t frac;
    int n;

    for (unsigned i = 0; i < decimals; i++)
        scale *= 10;
    frac = units % scale;
    if (frac == 0) {
        snprintf(dst, size, "%" PRIu64, units / scale);
        return dst;
    }
    n = snprintf(dst, size, "%" PRIu64 ".%0*" PRIu64, units / scale,
                 (int)decimals, frac);
    while (n > 0 && (size_t)n < size && dst[n - 1] == '0')
        dst[--n] = '\0';
    return dst;
}

/* Label values are escaped per the text format: backslash, quote, newline.
 * Topic names and the version cannot contain them today; stay safe. */
static const char *escape(char *dst, size_t size, const char *s)
{
    size_t j = 0;

    for (; *s && j + 2 < size; s++) {
        if (*s == '\\' || *s == '"') {
            dst[j++] = '\\';
            dst[j++] = *s;
        } else if (*s == '\n') {
            dst[j++] = '\\';
            dst[j++] = 'n';
        } else {
            dst[j++] = *s;
        }
    }
    dst[j] = '\0';
    return dst;
}

static uint64_t load(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void render_histo(struct out *o, struct cp_metrics *m, int h)
{
    const struct histo_def *def = &histo_defs[h];
    struct histo *hi = &m->histo[h];
    uint64_t cum = 0;
    char num[32];

    family(o, def->name, "histogram", def->help);
    for (size_t i = 0; i <= def->cnt; i++) {
        cum += load(&hi->bucket[i]);
        emit(o, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", def->name,
             i < def->cnt ? def->le[i] : "+Inf", cum);
    }
    emit(o, "%s_sum %s\n", def->name,
         fixed(num, sizeof(num), load(&hi->sum), def->decimals));
    emit(o, "%s_count %" PRIu64 "\n", def->name, cum);
}

/* Lag (@p wm false) or watermark lines of every assigned partition. */
static void render_parts(struct out *o, struct cp_metrics *m, bool wm)
{
    int cnt = atomic_load_explicit(&m->topic_cnt, memory_order_acquire);
    char topic[2 * CP_METRICS_TOPIC_MAX + 1];
    char num[32];

    if (wm)
        family(o, "crmpulse_watermark_seconds", "gauge",
               "Event-time watermark of an assigned partition, unix "
               "seconds.");
    else
        family(o, "crmpulse_consumer_lag_messages", "gauge",
               "Messages behind the high watermark, per assigned "
               "partition.");
    for (int t = 0; t < cnt; t++) {
        escape(topic, sizeof(topic), m->topics[t].name);
        for (int p = 0; p < CP_METRICS_MAX_PARTITIONS; p++) {
            struct part *part = &m->topics[t].parts[p];
            int64_t v;

            if (!atomic_load_explicit(&part->on, memory_order_acquire))
                continue;
            v = atomic_load_explicit(wm ? &part->wm_ms : &part->lag,
                                     memory_order_relaxed);
            if (v < 0) /* not known yet, or cleared meanwhile */
                continue;
            if (wm)
                emit(o,
                     "crmpulse_watermark_seconds{topic=\"%s\",partition="
                     "\"%d\"} %s\n",
                     topic, p, fixed(num, sizeof(num), (uint64_t)v, 3));
            else
                emit(o,
                     "crmpulse_consumer_lag_messages{topic=\"%s\",partition="
                     "\"%d\"} %" PRId64 "\n",
                     topic, p, v);
        }
    }
}

cp_rc cp_metrics_render(struct cp_metrics *m, struct cp_buf *out)
{
    struct out o = {.buf = out, .rc = CP_OK};
    char version[128];
    char num[32];
    bool ready;

    family(&o, "crmpulse_events_total", "counter",
           "Events consumed, by result: applied to state, or sent to the "
           "dead-letter topic.");
    for (int i = 0; i < CP_METRICS_RESULT_CNT; i++)
        emit(&o, "crmpulse_events_total{result=\"%s\"} %" PRIu64 "\n",
             result_names[i], load(&m->events[i]));

    family(&o, "crmpulse_dead_letters_total", "counter",
           "Dead letters, by reason class.");
    for (int i = 0; i < CP_METRICS_DL_CLASS_CNT; i++)
        emit(&o, "crmpulse_dead_letters_total{reason=\"%s\"} %" PRIu64 "\n",
             dl_names[i], load(&m->dead_letters[i]));

    family(&o, "crmpulse_alerts_total", "counter",
           "Alerts emitted, by kind and level.");
    for (int k = 0; k < CP_METRICS_ALERT_KIND_CNT; k++) {
        for (int l = 0; l < CP_METRICS_LEVEL_CNT; l++)
            emit(&o,
                 "crmpulse_alerts_total{kind=\"%s\",level=\"%s\"} %" PRIu64
                 "\n",
                 kind_names[k], level_names[l], load(&m->alerts[k][l]));
    }

    for (int h = 0; h < H_CNT; h++)
        render_histo(&o, m, h);

    family(&o, "crmpulse_retries_total", "counter",
           "Retries, by cause: Redis or Kafka failures, a fenced "
           "partition, or a schema registry that gave no answer.");
    for (int i = 0; i < CP_METRICS_RETRY_CAUSE_CNT; i++)
        emit(&o, "crmpulse_retries_total{cause=\"%s\"} %" PRIu64 "\n",
             cause_names[i], load(&m->retries[i]));

    family(&o, "crmpulse_messages_skipped_total", "counter",
           "Input messages never applied: Kafka no longer had them "
           "(retention) or the stored offset was beyond the log, and "
           "offsets.out_of_range moved past them.");
    emit(&o, "crmpulse_messages_skipped_total %" PRIu64 "\n",
         load(&m->skipped));

    render_parts(&o, m, false);
    render_parts(&o, m, true);

    family(&o, "crmpulse_state_cache_entries", "gauge",
           "Entries in the in-memory state cache.");
    emit(&o, "crmpulse_state_cache_entries %" PRIu64 "\n",
         load(&m->cache_entries));

    family(&o, "crmpulse_schema_registry_requests_total", "counter",
           "HTTP requests to the schema registry (each URL tried counts).");
    emit(&o, "crmpulse_schema_registry_requests_total %" PRIu64 "\n",
         load(&m->registry[0]));
    family(&o, "crmpulse_schema_registry_errors_total", "counter",
           "Schema registry requests without a usable answer (down, "
           "timeout, 5xx, garbage, refused).");
    emit(&o, "crmpulse_schema_registry_errors_total %" PRIu64 "\n",
         load(&m->registry[1]));
    family(&o, "crmpulse_schema_registry_cached_schemas", "gauge",
           "Writer schema ids held (found or definitely not found).");
    emit(&o, "crmpulse_schema_registry_cached_schemas %" PRIu64 "\n",
         load(&m->registry[2]));

    family(&o, "crmpulse_state_dropped_total", "counter",
           "What the state kept out: stages, open tickets and waiting "
           "conversations past their bounds, values read back from Redis "
           "that were not crmpulse's (set aside).");
    for (int i = 0; i < CP_METRICS_DROP_CNT; i++)
        emit(&o, "crmpulse_state_dropped_total{reason=\"%s\"} %" PRIu64 "\n",
             drop_names[i], load(&m->dropped[i]));

    family(&o, "crmpulse_up", "gauge",
           "Whether a dependency is reachable (1) or not (0).");
    for (int i = 0; i < CP_METRICS_DEP_CNT; i++)
        emit(&o, "crmpulse_up{dependency=\"%s\"} %d\n", dep_names[i],
             atomic_load_explicit(&m->up[i], memory_order_relaxed));

    ready = cp_metrics_ready(m, NULL, 0);
    family(&o, "crmpulse_ready", "gauge",
           "1 when the worker is ready (/readyz answers 200), else 0.");
    emit(&o, "crmpulse_ready %d\n", ready ? 1 : 0);

    family(&o, "crmpulse_build_info", "gauge",
           "Build information; the value is always 1.");
    emit(&o, "crmpulse_build_info{version=\"%s\"} 1\n",
         escape(version, sizeof(version), m->version));

    family(&o, "crmpulse_process_start_time_seconds", "gauge",
           "Start time of the process, unix seconds.");
    emit(&o, "crmpulse_process_start_time_seconds %s\n",
         fixed(num, sizeof(num),
               m->started_ms > 0 ? (uint64_t)m->started_ms : 0, 3));
    return o.rc;
}
