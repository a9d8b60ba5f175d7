/* SPDX-License-Identifier: Apache-2.0 */
/* What crmpulse-gen does, as a library: its options, then a run that
 * produces the generator's stream (gen.h) as Avro to Kafka, optionally
 * interleaved with malformed messages, or, with --churn-cohort, a labelled
 * history with its labels and observations as CSV. Messages and progress
 * go to the stream the caller gives, prefixed "crmpulse-gen: ".
 *
 * Dump format of --out FILE: one record per produced message, in production
 * order, nothing else in the file:
 *   u8      flag       0 = valid event, 1 = deliberately invalid message
 *   u32 BE  key_len    0xFFFFFFFF = null key (then no key bytes)
 *   key_len bytes      the Kafka key
 *   u32 BE  value_len
 *   value_len bytes    the Kafka value (framed Avro, or the damaged bytes)
 *
 * --labels FILE (cohort): header, then one row per customer:
 *   tenant_id,customer_id,profile,churned,churn_start_ms,population,
 *   business,manager_id
 * --events-csv FILE (cohort): header, then one row per event, in order:
 *   tenant_id,customer_id,occurred_at_ms,obs,value
 */
#include "produce.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "codec.h"
#include "common.h"
#include "kafka.h"
#include "registry.h"
#include "replay.h"
#include "schemas.h"

#define PROG             "crmpulse-gen"
#define WEEK_MS          (7LL * 86400 * 1000)
#define FLUSH_MS         90000 /* > the producer's message.timeout.ms (30 s) */
#define NO_ACK_MS        15000 /* nothing acknowledged this long: give up */
#define NULL_KEY_LEN     0xffffffffu
#define DAY_MS           (86400LL * 1000)
#define REPLAY_LINE_MAX  (1 << 20) /* bytes in one line of --replay */
#define REPLAY_SHOWN_MAX 20        /* bad lines printed, then a count */

void cp_gen_usage(FILE *out)
{
    fprintf(
        out,
        "Usage: " PROG " [options]\n"
        "Produces synthetic CRM events (crm.v1.CrmEvent, Avro) to Kafka.\n"
        "\n"
        "  -b, --bootstrap HOSTS  Kafka bootstrap servers (or -X "
        "kafka.bootstrap.servers=...)\n"
        "                         required unless --dry-run\n"
        "  -t, --topic NAME       topic (default crm.events)\n"
        "  -n, --events N         valid events to produce (default 100000)\n"
        "  -c, --customers N      customers over all tenants (default 10000)\n"
        "      --tenants N        tenants (default 3)\n"
        "  -s, --seed N           same seed, same events (default 1)\n"
        "  -r, --rate N           events/s, 0 = as fast as possible "
        "(default 0)\n"
        "      --invalid N        malformed messages per 1000 valid events "
        "(default 0),\n"
        "                         interleaved deterministically\n"
        "      --start-ms MS      event time of the first event (default: "
        "now - 7 days\n"
        "                         when --rate is 0, else now)\n"
        "      --step-ms MS       event-time advance per event (default: the "
        "events\n"
        "                         spread up to now when --rate is 0; 1000/rate "
        "otherwise)\n"
        "      --raw              raw Avro framing instead of Confluent "
        "(0x00, schema id)\n"
        "      --schema-registry URL  register crm_event.avsc under "
        "<topic>-value\n"
        "                         in this schema registry and frame with "
        "its id\n"
        "                         (or -X schema.registry.url=URL; "
        "-X schema.registry.*)\n"
        "  -o, --out FILE         also write every produced message to FILE "
        "(format below)\n"
        "      --dry-run          write the files only, no Kafka\n"
        "  -X kafka.KEY=VALUE     librdkafka property (security.protocol, "
        "sasl.*, ...);\n"
        "                         CRMPULSE_KAFKA_* environment variables work "
        "too\n"
        "  -q, --quiet            no progress lines\n"
        "  -h, --help             this help\n"
        "\n"
        "Labelled churn cohort (instead of the default stream):\n"
        "      --churn-cohort     a history of --customers customers of known "
        "profiles:\n"
        "                         healthy (steady orders at their own "
        "interval, good NPS),\n"
        "                         casual (rare but steady), fading (orders "
        "thin out and\n"
        "                         shrink, then stop), complaining (open "
        "tickets, bad\n"
        "                         NPS/CSAT, slow replies, missed calls, then "
        "stop),\n"
        "                         cancelling (subscription cancelled, bad "
        "NPS, stop),\n"
        "                         silent (regular buyers who stop: no event "
        "at all),\n"
        "                         prospect (visits, messages, a deal; never "
        "an order).\n"
        "                         Tenant t is a retail, subscription software "
        "(saas), b2b\n"
        "                         or services business (t %% 4), which "
        "shapes the rhythms.\n"
        "                         Each churner's decline begins at its churn "
        "start.\n"
        "                         Events in event-time order; -n caps them "
        "(default:\n"
        "                         the whole history); --tenants defaults to "
        "1\n"
        "      --days N           history length in days (default 365, "
        "21..3650)\n"
        "      --end MS           event time the history ends at (default "
        "now)\n"
        "      --mix H,C,F,X,N,S[,P] relative shares of healthy, casual, "
        "fading,\n"
        "                         complaining, cancelling, silent, prospect "
        "(default\n"
        "                         36,16,12,10,8,12,6; without P: no "
        "prospects)\n"
        "      --noise on|off     off: healthy and casual customers without "
        "bad spells,\n"
        "                         holiday pauses, plan changes, slow tickets "
        "or bad\n"
        "                         scores (default on)\n"
        "      --labels FILE      write one row per customer:\n"
        "                         tenant_id,customer_id,profile,churned,"
        "churn_start_ms,\n"
        "                         population,business,manager_id\n"
        "                         churned = 1 for a churner whose churn start "
        "is <= --end;\n"
        "                         churn_start_ms is empty for healthy, casual "
        "and prospects,\n"
        "                         and may lie after --end (churned 0: not "
        "yet). "
        "crmpulse-fit's\n"
        "                         customer_id,churned: cut -d, -f2,4 FILE\n"
        "      --events-csv FILE  write every event as the churn model's "
        "observation:\n"
        "                         tenant_id,customer_id,occurred_at_ms,obs,"
        "value\n"
        "                         (obs: order amount_minor, nps/csat/ces "
        "score,\n"
        "                         ticket_opened, ticket_resolved opened_at_ms, "
        "response\n"
        "                         wait ms, call_missed, deal_won, deal_lost, "
        "sub_started,\n"
        "                         sub_renewed, sub_cancelled mrr_minor, "
        "web_visit,\n"
        "                         message_in; activity for any other event). "
        "Waits and\n"
        "                         ticket ages are known by construction here; "
        "the worker\n"
        "                         pairs the messages and tickets itself.\n"
        "  With --dry-run, --out, --labels or --events-csv is enough.\n"
        "\n"
        "Backfill of your own history (instead of the default stream):\n"
        "      --replay FILE      produce every line of FILE, a JSON object "
        "per line, in\n"
        "                         file order: event_id, tenant_id, "
        "customer_id, occurred_at\n"
        "                         (epoch ms), optional manager_id and channel "
        "(PHONE,\n"
        "                         EMAIL, ...), payload {\"type\": "
        "\"OrderPlaced\", \"order_id\": ..,\n"
        "                         \"amount_minor\": ..} with the fields of "
        "schemas/crm_event.avsc.\n"
        "                         Every line is checked first; if any is bad, "
        "each is named\n"
        "                         (FILE:LINE: reason), counted, and nothing "
        "is produced.\n"
        "\n"
        "Kafka key: tenant_id:customer_id. Malformed messages carry the key "
        "of a generated\n"
        "customer, every fifth one a null key.\n"
        "\n"
        "--out FILE format: per message, in production order:\n"
        "  1 byte flag (0 = valid event, 1 = deliberately invalid),\n"
        "  u32 big-endian key length (0xFFFFFFFF = null key) + key bytes,\n"
        "  u32 big-endian value length + value bytes.\n"
        "\n"
        "Exit status: 0 when every message was acknowledged by Kafka (or "
        "written, with\n"
        "--dry-run), 1 otherwise, 2 for bad usage.\n");
}

/* ---- argument parsing ---- */

static int parse_i64(const char *opt, const char *s, int64_t min, int64_t max,
                     int64_t *out, char *errstr, size_t errstr_size)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        snprintf(errstr, errstr_size,
                 "%s \"%s\": expected a whole number in [%lld, %lld]", opt, s,
                 (long long)min, (long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

/* Matches "-x VALUE", "--long VALUE" and "--long=VALUE"; moves *i past the
 * value. @returns 1 and sets *val when argv[*i] is this option, 0 when it is
 * another one, -1 when the value is missing. */
static int opt_value(int argc, char **argv, int *i, const char *shrt,
                     const char *lng, const char **val, char *errstr,
                     size_t errstr_size)
{
    const char *a = argv[*i];
    size_t n = strlen(lng);

    if (!strncmp(a, lng, n) && a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (strcmp(a, lng) != 0 && (!shrt || strcmp(a, shrt) != 0))
        return 0;
    if (*i + 1 >= argc) {
        snprintf(errstr, errstr_size, "%s needs a value (see --help)", a);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

/* Parses a number option's value into @p out. @returns 1 when argv[*i] is
 * this option, 0 when not, -1 on a missing or bad value. */
static int opt_num(int argc, char **argv, int *i, const char *shrt,
                   const char *lng, int64_t min, int64_t max, int64_t *out,
                   char *errstr, size_t errstr_size)
{
    const char *val;
    int r = opt_value(argc, argv, i, shrt, lng, &val, errstr, errstr_size);

    if (r == 1 && parse_i64(lng, val, min, max, out, errstr, errstr_size))
        return -1;
    return r;
}

/* Parses our options; -X arguments are collected in @p xargv (for
 * cp_config_load()). @returns 0, 1 for --help, -1 on bad usage (message
 * printed). */
static int parse_args(int argc, char **argv, struct cp_gen_opts *o,
                      const char **xargv, int *xargc, char *errstr,
                      size_t errstr_size)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int64_t v = 0;
        int r;

        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return 1;
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o->quiet = 1;
            continue;
        }
        if (!strcmp(a, "--raw")) {
            o->raw = 1;
            continue;
        }
        if (!strcmp(a, "--dry-run")) {
            o->dry_run = 1;
            continue;
        }
        if (!strcmp(a, "--churn-cohort")) {
            o->cohort = 1;
            continue;
        }
        if (!strncmp(a, "-X", 2)) {
            xargv[(*xargc)++] = a;
            if (a[2])
                continue; /* -Xkey=value */
            if (i + 1 >= argc) {
                snprintf(errstr, errstr_size,
                         "-X needs key=value (see --help)");
                return -1;
            }
            xargv[(*xargc)++] = argv[++i];
            continue;
        }
        if ((r = opt_value(argc, argv, &i, "-b", "--bootstrap", &o->bootstrap,
                           errstr, errstr_size)) != 0 ||
            (r = opt_value(argc, argv, &i, "-t", "--topic", &o->topic, errstr,
                           errstr_size)) != 0 ||
            (r = opt_value(argc, argv, &i, "-o", "--out", &o->out_path, errstr,
                           errstr_size)) != 0 ||
            (r = opt_value(argc, argv, &i, NULL, "--schema-registry",
                           &o->registry, errstr, errstr_size)) != 0 ||
            (r = opt_value(argc, argv, &i, NULL, "--labels", &o->labels_path,
                           errstr, errstr_size)) != 0 ||
            (r = opt_value(argc, argv, &i, NULL, "--events-csv", &o->csv_path,
                           errstr, errstr_size)) != 0 ||
            (r = opt_value(argc, argv, &i, NULL, "--mix", &o->mix, errstr,
                           errstr_size)) != 0 ||
            (r = opt_value(argc, argv, &i, NULL, "--noise", &o->noise, errstr,
                           errstr_size)) != 0 ||
            (r = opt_value(argc, argv, &i, NULL, "--replay", &o->replay_path,
                           errstr, errstr_size)) != 0) {
            if (r < 0)
                return -1;
            continue;
        }
        if ((r = opt_num(argc, argv, &i, "-n", "--events", 0, INT64_MAX, &v,
                         errstr, errstr_size)) != 0) {
            o->events = (uint64_t)v;
            o->events_set = 1;
        } else if ((r = opt_num(argc, argv, &i, "-c", "--customers", 1,
                                UINT32_MAX, &v, errstr, errstr_size)) != 0) {
            o->customers = (uint64_t)v;
        } else if ((r = opt_num(argc, argv, &i, NULL, "--tenants", 1, 100000,
                                &v, errstr, errstr_size)) != 0) {
            o->tenants = (int)v;
            o->tenants_set = 1;
        } else if ((r = opt_num(argc, argv, &i, "-s", "--seed", 0, INT64_MAX,
                                &v, errstr, errstr_size)) != 0) {
            o->seed = (uint64_t)v;
        } else if ((r = opt_num(argc, argv, &i, "-r", "--rate", 0, 100000000,
                                &v, errstr, errstr_size)) != 0) {
            o->rate = v;
        } else if ((r = opt_num(argc, argv, &i, NULL, "--invalid", 0, 1000000,
                                &v, errstr, errstr_size)) != 0) {
            o->invalid_pm = v;
        } else if ((r = opt_num(argc, argv, &i, NULL, "--start-ms",
                                CP_MIN_OCCURRED_AT_MS, 253402300799999LL, &v,
                                errstr, errstr_size)) != 0) {
            o->start_ms = v;
            o->start_set = 1;
        } else if ((r = opt_num(argc, argv, &i, NULL, "--step-ms", 0,
                                365LL * 86400000, &v, errstr, errstr_size)) !=
                   0) {
            o->step_ms = v;
            o->step_set = 1;
        } else if ((r = opt_num(argc, argv, &i, NULL, "--days",
                                CP_COHORT_DAYS_MIN, CP_COHORT_DAYS_MAX, &v,
                                errstr, errstr_size)) != 0) {
            o->days = v;
        } else if ((r = opt_num(argc, argv, &i, NULL, "--end",
                                CP_MIN_OCCURRED_AT_MS, 253402300799999LL, &v,
                                errstr, errstr_size)) != 0) {
            o->end_ms = v;
            o->end_set = 1;
        } else {
            snprintf(errstr, errstr_size,
                     "unknown argument \"%s\" (see --help)", a);
            return -1;
        }
        if (r < 0)
            return -1;
    }
    return 0;
}

/* Parses --mix "H,C,F,X,N,S[,P]" into @p mix (without P: no prospects,
 * the mix of older versions). @returns 0, or -1 (printed). */
static int parse_mix(const char *s, unsigned mix[CP_PROFILE_CNT], char *errstr,
                     size_t errstr_size)
{
    const char *p = s;
    unsigned total = 0;

    memset(mix, 0, CP_PROFILE_CNT * sizeof(*mix));
    for (int i = 0; i < CP_PROFILE_CNT; i++) {
        char *end;
        unsigned long v;
        int last = i + 1 == CP_PROFILE_CNT ||
                   (i + 2 == CP_PROFILE_CNT && *p && !strchr(p, ','));

        errno = 0;
        v = strtoul(p, &end, 10);
        if (errno || end == p || *p == '-' || v > 1000000 ||
            (last ? *end != '\0' : *end != ',')) {
            snprintf(errstr, errstr_size,
                     "--mix \"%s\": expected %d or %d whole numbers "
                     "0..1000000 separated by commas (healthy, casual, "
                     "fading, complaining, cancelling, silent[, prospect])",
                     s, CP_PROFILE_CNT - 1, CP_PROFILE_CNT);
            return -1;
        }
        mix[i] = (unsigned)v;
        total += mix[i];
        if (last)
            break;
        p = end + 1;
    }
    if (total == 0) {
        snprintf(errstr, errstr_size,
                 "--mix \"%s\": at least one share must be above 0", s);
        return -1;
    }
    return 0;
}

/* Options of one mode given in the other. @returns 0, or -1 (printed). */
static int check_mode(const struct cp_gen_opts *o, char *errstr,
                      size_t errstr_size)
{
    const char *bad = NULL;

    if (o->replay_path) {
        if (o->cohort)
            bad = "--churn-cohort";
        else if (o->events_set)
            bad = "--events";
        else if (o->invalid_pm)
            bad = "--invalid";
        else if (o->start_set)
            bad = "--start-ms";
        else if (o->step_set)
            bad = "--step-ms";
        else if (o->tenants_set)
            bad = "--tenants";
        if (bad) {
            snprintf(errstr, errstr_size,
                     "%s does not apply to --replay (its events are the "
                     "file's)",
                     bad);
            return -1;
        }
    }

    if (o->cohort) {
        if (o->invalid_pm)
            bad = "--invalid";
        else if (o->start_set)
            bad = "--start-ms";
        else if (o->step_set)
            bad = "--step-ms";
        if (bad) {
            snprintf(errstr, errstr_size,
                     "%s does not apply to --churn-cohort (its history ends "
                     "at --end and spans --days)",
                     bad);
            return -1;
        }
        return 0;
    }
    if (o->days)
        bad = "--days";
    else if (o->end_set)
        bad = "--end";
    else if (o->labels_path)
        bad = "--labels";
    else if (o->csv_path)
        bad = "--events-csv";
    else if (o->mix)
        bad = "--mix";
    else if (o->noise)
        bad = "--noise";
    if (bad) {
        snprintf(errstr, errstr_size, "%s needs --churn-cohort", bad);
        return -1;
    }
    return 0;
}

/* ---- output ---- */

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

int cp_gen_dump_write(FILE *f, int invalid, const void *key, size_t key_len,
                      const void *value, size_t value_len)
{
    unsigned char hdr[5];

    hdr[0] = invalid ? 1 : 0;
    put_be32(hdr + 1, key ? (uint32_t)key_len : NULL_KEY_LEN);
    if (fwrite(hdr, 1, 5, f) != 5 ||
        (key && key_len && fwrite(key, 1, key_len, f) != key_len))
        return -1;
    put_be32(hdr, (uint32_t)value_len);
    if (fwrite(hdr, 1, 4, f) != 4 ||
        (value_len && fwrite(value, 1, value_len, f) != value_len))
        return -1;
    return 0;
}

struct cp_gen_run {
    struct cp_gen_opts *o;       /* borrowed from the caller */
    FILE *msgs;                  /* borrowed; messages, progress */
    volatile sig_atomic_t *stop; /* borrowed; set: stop early */
    const char *topic;           /* borrowed from the settings */
    const char *bootstrap;       /* borrowed from the settings */
    struct cp_gen *gen;          /* owned; NULL with --churn-cohort */
    struct cp_cohort *cohort;    /* owned; NULL without --churn-cohort */
    struct cp_replay *replay;    /* owned; NULL without --replay */
    FILE *replay_f;              /* owned; NULL without --replay */
    char *line;                  /* owned getline() buffer of --replay */
    size_t line_cap;
    int64_t replay_now;       /* the clock lines are checked against */
    FILE *csv;                /* owned; NULL without --events-csv */
    struct cp_codec *codec;   /* owned */
    struct cp_producer *prod; /* owned; NULL with --dry-run */
    FILE *out;                /* owned; NULL without --out */
    struct cp_buf key;
    struct cp_buf value;
    uint64_t valid;   /* valid events produced */
    uint64_t invalid; /* malformed messages produced */
    int64_t first_send_mono;
};

/* Hands one message to Kafka and to the dump. */
static int emit(struct cp_gen_run *rn, int invalid, const void *key,
                size_t key_len)
{
    if (rn->prod && cp_producer_send(rn->prod, rn->topic, -1, key, key_len,
                                     rn->value.data, rn->value.len)) {
        fprintf(rn->msgs, PROG ": %s\n", cp_producer_errstr(rn->prod));
        return -1;
    }
    if (rn->out && cp_gen_dump_write(rn->out, invalid, key, key_len,
                                     rn->value.data, rn->value.len)) {
        fprintf(rn->msgs, PROG ": write %s: %s\n", rn->o->out_path,
                strerror(errno));
        return -1;
    }
    if (invalid)
        rn->invalid++;
    else
        rn->valid++;
    return 0;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
                          .tv_nsec = (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void progress(const struct cp_gen_run *rn, uint64_t interval_events,
                     int64_t interval_ms)
{
    uint64_t n = rn->o->events;

    if (rn->cohort || rn->replay) {
        fprintf(rn->msgs, PROG ": %llu events %llu ev/s\n",
                (unsigned long long)rn->valid,
                (unsigned long long)(interval_ms > 0 ? interval_events * 1000 /
                                                           (uint64_t)interval_ms
                                                     : 0));
        return;
    }
    fprintf(rn->msgs,
            PROG ": %llu/%llu events (%llu%%) %llu ev/s, %llu invalid\n",
            (unsigned long long)rn->valid, (unsigned long long)n,
            (unsigned long long)(n ? rn->valid * 100 / n : 100),
            (unsigned long long)(interval_ms > 0 ? interval_events * 1000 /
                                                       (uint64_t)interval_ms
                                                 : 0),
            (unsigned long long)rn->invalid);
}

static void summary(const struct cp_gen_run *rn, int64_t ms)
{
    unsigned long long rate =
        (unsigned long long)(ms > 0 ? rn->valid * 1000 / (uint64_t)ms
                                    : rn->valid);

    if (!rn->prod)
        fprintf(rn->msgs,
                PROG ": %s %llu events + %llu invalid written to %s in "
                     "%.1f s (%llu ev/s)\n",
                *rn->stop ? "interrupted:" : "done:",
                (unsigned long long)rn->valid, (unsigned long long)rn->invalid,
                rn->o->out_path      ? rn->o->out_path
                : rn->o->csv_path    ? rn->o->csv_path
                : rn->o->labels_path ? rn->o->labels_path
                                     : "-",
                (double)ms / 1000, rate);
    else
        fprintf(rn->msgs,
                PROG ": %s %llu events + %llu invalid produced to %s, all "
                     "acknowledged, in %.1f s (%llu ev/s)\n",
                *rn->stop ? "interrupted:" : "done:",
                (unsigned long long)rn->valid, (unsigned long long)rn->invalid,
                rn->topic, (double)ms / 1000, rate);
}

static void no_ack_hint(const struct cp_gen_run *rn, const char *why)
{
    fprintf(rn->msgs,
            PROG ": no message acknowledged by Kafka within %d s (%s): is "
                 "Kafka reachable at %s? check --bootstrap and -X kafka.*\n",
            NO_ACK_MS / 1000, why, rn->bootstrap);
}

/* Paces by the wall clock: event @p i is due at t0 + i / rate.
 * @returns non-zero when a stop was requested while waiting. */
static int pace(const struct cp_gen_run *rn, int64_t t0, uint64_t i)
{
    int64_t due, now;

    if (rn->o->rate <= 0)
        return 0;
    due = t0 + (int64_t)(i * 1000 / (uint64_t)rn->o->rate);
    while (!*rn->stop && (now = cp_mono_ms()) < due)
        sleep_ms(due - now < 20 ? due - now : 20);
    return *rn->stop;
}

/* Encodes event @p i and hands it over. @returns 0, or -1 (printed). */
static int emit_event(struct cp_gen_run *rn, const struct cp_event *ev,
                      uint64_t i)
{
    if (cp_gen_key(ev, &rn->key)) {
        fprintf(rn->msgs, PROG ": out of memory\n");
        return -1;
    }
    cp_buf_reset(&rn->value);
    if (cp_codec_encode_event(rn->codec, ev, &rn->value)) {
        fprintf(rn->msgs, PROG ": encode event %llu: failed\n",
                (unsigned long long)i);
        return -1;
    }
    return emit(rn, 0, rn->key.data, rn->key.len);
}

/* Progress of the produce loops. */
struct pulse {
    int64_t last_report; /* monotonic ms of the last progress line */
    uint64_t last_valid; /* valid events then */
};

/* After event @p i: gives up when Kafka acknowledged nothing for too
 * long, prints progress once a second. @returns 0, or -1 (printed). */
static int check_in(struct cp_gen_run *rn, uint64_t i, struct pulse *p)
{
    int64_t now;

    if (rn->prod && rn->first_send_mono == 0)
        rn->first_send_mono = cp_mono_ms();
    if ((i & 1023) != 0 && rn->o->rate <= 0)
        return 0;
    now = cp_mono_ms();
    if (rn->prod && cp_producer_acked_cnt(rn->prod) == 0 &&
        now - rn->first_send_mono > NO_ACK_MS) {
        const char *err = cp_producer_errstr(rn->prod);

        no_ack_hint(rn, err[0] ? err : "no reply");
        return -1;
    }
    if (!rn->o->quiet && now - p->last_report >= 1000) {
        progress(rn, rn->valid - p->last_valid, now - p->last_report);
        p->last_report = now;
        p->last_valid = rn->valid;
    }
    return 0;
}

/* The produce loop. @returns 0, or -1 with a message printed. */
static int produce(struct cp_gen_run *rn)
{
    struct cp_gen_opts *o = rn->o;
    int64_t t0 = cp_mono_ms();
    struct pulse pulse = {t0, 0};
    struct cp_event ev;

    for (uint64_t i = 0; i < o->events && !*rn->stop; i++) {
        uint64_t inv_due;

        if (pace(rn, t0, i))
            break;
        cp_gen_next(rn->gen, &ev);
        if (emit_event(rn, &ev, i))
            return -1;

        /* Malformed messages: after the (i+1)-th valid event, as many as
         * bring the total to floor((i+1) * N / 1000). */
        inv_due = (i + 1) * (uint64_t)o->invalid_pm / 1000;
        while (rn->invalid < inv_due) {
            int null_key = rn->invalid % 5 == 4;

            cp_buf_reset(&rn->value);
            (void)cp_gen_invalid(rn->gen, rn->codec, &rn->value);
            if (emit(rn, 1, null_key ? NULL : rn->key.data,
                     null_key ? 0 : rn->key.len))
                return -1;
        }
        if (check_in(rn, i, &pulse))
            return -1;
    }
    return 0;
}

/* Writes the labels file. @returns 0, or -1 with a message printed. */
static int write_labels(const struct cp_gen_run *rn)
{
    const char *path = rn->o->labels_path;
    FILE *f = fopen(path, "w");
    uint64_t n = cp_cohort_customers(rn->cohort);
    struct cp_cohort_label lb;

    if (!f) {
        fprintf(rn->msgs, PROG ": open %s: %s\n", path, strerror(errno));
        return -1;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    fprintf(f, "tenant_id,customer_id,profile,churned,churn_start_ms,"
               "population,business,manager_id\n");
    for (uint64_t i = 0; i < n; i++) {
        cp_cohort_label(rn->cohort, i, &lb);
        fprintf(f, "%s,%s,%s,%d,", lb.tenant_id, lb.customer_id,
                cp_cohort_profile_name(lb.profile), lb.churned);
        if (lb.churn_start_ms != INT64_MAX)
            fprintf(f, "%lld", (long long)lb.churn_start_ms);
        fprintf(f, ",%s,%s,%s\n", cp_cohort_population_name(lb.profile),
                cp_cohort_business_name(lb.business), lb.manager_id);
    }
    if (ferror(f) | fclose(f)) { /* both, always */
        fprintf(rn->msgs, PROG ": write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The produce loop of --churn-cohort: the whole history (or -n events), in
 * event-time order, paced like the default stream, each event also as an
 * observation row. @returns 0, or -1 with a message printed. */
static int produce_cohort(struct cp_gen_run *rn)
{
    struct cp_gen_opts *o = rn->o;
    int64_t t0 = cp_mono_ms();
    struct pulse pulse = {t0, 0};
    struct cp_event ev;
    struct cp_cohort_obs obs;

    if (rn->csv)
        fprintf(rn->csv, "tenant_id,customer_id,occurred_at_ms,obs,value\n");
    for (uint64_t i = 0; (!o->events_set || i < o->events) && !*rn->stop; i++) {
        if (pace(rn, t0, i))
            break;
        if (!cp_cohort_next(rn->cohort, &ev, &obs))
            break;
        if (emit_event(rn, &ev, i))
            return -1;
        if (rn->csv &&
            fprintf(rn->csv, "%.*s,%.*s,%lld,%s,%lld\n", (int)ev.tenant_id.len,
                    ev.tenant_id.ptr, (int)ev.customer_id.len,
                    ev.customer_id.ptr, (long long)ev.occurred_at, obs.name,
                    (long long)obs.value) < 0) {
            fprintf(rn->msgs, PROG ": write %s: %s\n", o->csv_path,
                    strerror(errno));
            return -1;
        }
        if (check_in(rn, i, &pulse))
            return -1;
    }
    return 0;
}

/* Reads the next line of --replay into rn->line without its line end.
 * @returns its length, -1 at the end, -2 on a read error (printed). */
static ssize_t replay_line(struct cp_gen_run *rn)
{
    ssize_t n = getline(&rn->line, &rn->line_cap, rn->replay_f);

    if (n < 0) {
        if (ferror(rn->replay_f)) {
            fprintf(rn->msgs, PROG ": read %s: %s\n", rn->o->replay_path,
                    strerror(errno));
            return -2;
        }
        return -1;
    }
    while (n > 0 && (rn->line[n - 1] == '\n' || rn->line[n - 1] == '\r'))
        n--;
    return n;
}

/* Parses line @p lineno of --replay. @returns 0, or -1 with @p reason. */
static int replay_parse(struct cp_gen_run *rn, ssize_t n, struct cp_event *ev,
                        char *reason, size_t reason_size)
{
    if (n > REPLAY_LINE_MAX) {
        snprintf(reason, reason_size, "longer than %d bytes", REPLAY_LINE_MAX);
        return -1;
    }
    if (n == 0) {
        snprintf(reason, reason_size, "empty line (one JSON object a line)");
        return -1;
    }
    return cp_replay_parse(rn->replay, rn->line, (size_t)n, rn->replay_now, ev,
                           reason, reason_size)
               ? -1
               : 0;
}

/* --replay: checks every line before anything is produced, so that a bad
 * file never half-arrives. @returns 0, 1 (bad lines or a read error) or 2
 * (the file cannot be opened), with messages printed. */
static int setup_replay(struct cp_gen_run *rn, int64_t now)
{
    const char *path = rn->o->replay_path;
    uint64_t lineno = 0, bad = 0;
    struct cp_event ev;
    char reason[512];
    ssize_t n;

    rn->replay_now = now;
    rn->replay = cp_replay_new();
    if (!rn->replay) {
        fprintf(rn->msgs, PROG ": out of memory\n");
        return 1;
    }
    rn->replay_f = fopen(path, "r");
    if (!rn->replay_f) {
        fprintf(rn->msgs, PROG ": open %s: %s (check --replay)\n", path,
                strerror(errno));
        return 2;
    }
    while ((n = replay_line(rn)) >= 0) {
        lineno++;
        if (replay_parse(rn, n, &ev, reason, sizeof(reason)) == 0)
            continue;
        if (++bad <= REPLAY_SHOWN_MAX)
            fprintf(rn->msgs, PROG ": %s:%llu: %s\n", path,
                    (unsigned long long)lineno, reason);
    }
    if (n == -2)
        return 1;
    if (bad) {
        if (bad > REPLAY_SHOWN_MAX)
            fprintf(rn->msgs, PROG ": ... and %llu more bad lines\n",
                    (unsigned long long)(bad - REPLAY_SHOWN_MAX));
        fprintf(rn->msgs,
                PROG ": %s: %llu of %llu lines are bad; nothing was "
                     "produced (fix or remove them and run again)\n",
                path, (unsigned long long)bad, (unsigned long long)lineno);
        return 1;
    }
    if (lineno == 0) {
        fprintf(rn->msgs, PROG ": %s: no events in the file\n", path);
        return 1;
    }
    rewind(rn->replay_f);
    if (!rn->o->quiet)
        fprintf(rn->msgs, PROG ": %s: %llu events checked\n", path,
                (unsigned long long)lineno);
    return 0;
}

/* The produce loop of --replay: every line in file order, paced like the
 * default stream. @returns 0, or -1 with a message printed. */
static int produce_replay(struct cp_gen_run *rn)
{
    int64_t t0 = cp_mono_ms();
    struct pulse pulse = {t0, 0};
    struct cp_event ev;
    char reason[512];
    ssize_t n;

    for (uint64_t i = 0; !*rn->stop; i++) {
        if (pace(rn, t0, i))
            break;
        n = replay_line(rn);
        if (n == -1)
            break;
        if (n == -2)
            return -1;
        if (replay_parse(rn, n, &ev, reason, sizeof(reason))) {
            /* checked before: the file changed under us */
            fprintf(rn->msgs,
                    PROG ": %s:%llu: %s (the file changed while "
                         "it was produced)\n",
                    rn->o->replay_path, (unsigned long long)i + 1, reason);
            return -1;
        }
        if (emit_event(rn, &ev, i) || check_in(rn, i, &pulse))
            return -1;
    }
    return 0;
}

/* Waits until Kafka acknowledged every message. Short flushes in a loop so
 * that a dead cluster is reported early and progress stays visible.
 * @returns 0 when all were acknowledged, else -1 with a message printed. */
static int flush_all(struct cp_gen_run *rn)
{
    int64_t sent = (int64_t)(rn->valid + rn->invalid);
    int64_t deadline = cp_mono_ms() + FLUSH_MS;
    char failure[512] = "";

    for (;;) {
        cp_rc rc = cp_producer_flush(rn->prod, 1000);
        const char *err = cp_producer_errstr(rn->prod);
        int64_t acked = cp_producer_acked_cnt(rn->prod);
        int64_t now = cp_mono_ms();

        /* Keep the first delivery failure; timeouts of our own short
         * flushes say less. */
        if (rc && !failure[0] && strncmp(err, "flush:", 6) != 0)
            snprintf(failure, sizeof(failure), "%s", err);
        if (rc == CP_OK && acked == sent)
            return 0;
        if (rc == CP_OK || now >= deadline) {
            fprintf(rn->msgs,
                    PROG ": %lld of %lld messages acknowledged: %s (is Kafka "
                         "reachable at %s? check --bootstrap)\n",
                    (long long)acked, (long long)sent,
                    failure[0] ? failure : err, rn->bootstrap);
            return -1;
        }
        if (acked == 0 && now - rn->first_send_mono > NO_ACK_MS) {
            no_ack_hint(rn, failure[0] ? failure : "no reply");
            return -1;
        }
        if (!rn->o->quiet)
            fprintf(rn->msgs,
                    PROG ": waiting for Kafka: %lld/%lld "
                         "acknowledged\n",
                    (long long)acked, (long long)sent);
    }
}

/* The default stream's generator. @returns 0, or 1 (printed). */
static int setup_stream(struct cp_gen_run *rn, int64_t now)
{
    struct cp_gen_opts *o = rn->o;
    struct cp_gen_config gc;

    if (!o->start_set)
        o->start_ms = o->rate > 0 ? now : now - WEEK_MS;
    memset(&gc, 0, sizeof(gc));
    gc.seed = o->seed;
    gc.customers = o->customers;
    gc.tenants = o->tenants;
    gc.start_ms = o->start_ms;
    if (o->step_set)
        gc.step_ms = o->step_ms;
    else if (o->rate > 0)
        gc.step_us = 1000000 / o->rate > 0 ? 1000000 / o->rate : 1;
    else if (o->events > 0 && o->start_ms < now)
        gc.step_us =
            (int64_t)((uint64_t)(now - o->start_ms) * 1000 / o->events);
    rn->gen = cp_gen_new(&gc);
    if (!rn->gen) {
        fprintf(rn->msgs, PROG ": create generator: out of memory or bad "
                               "--customers/--tenants\n");
        return 1;
    }
    return 0;
}

/* --churn-cohort: the cohort, its labels file, the observations file.
 * @returns 0, 1 (failure) or 2 (bad usage), with a message printed. */
static int setup_cohort(struct cp_gen_run *rn, int64_t now)
{
    struct cp_gen_opts *o = rn->o;
    struct cp_cohort_config cc;
    char errstr[512];

    memset(&cc, 0, sizeof(cc));
    cc.seed = o->seed;
    cc.customers = o->customers;
    cc.tenants = o->tenants;
    cc.days = o->days ? (int)o->days : 365;
    cc.end_ms = o->end_set ? o->end_ms : now;
    memcpy(cc.mix, rn->o->mix_shares, sizeof(cc.mix));
    cc.no_noise = o->noise && !strcmp(o->noise, "off");
    if (!o->dry_run && cc.end_ms > now + DAY_MS) {
        /* the worker sends events dated more than a day ahead to the DLQ */
        fprintf(rn->msgs, PROG ": --end is more than a day ahead of now: the "
                               "worker would reject those events (use "
                               "--dry-run for files only)\n");
        return 2;
    }
    rn->cohort = cp_cohort_new(&cc, errstr, sizeof(errstr));
    if (!rn->cohort) {
        fprintf(rn->msgs, PROG ": churn cohort: %s\n", errstr);
        return 2;
    }
    if (!o->quiet) {
        fprintf(rn->msgs,
                PROG ": churn cohort of %llu customers over %d days up to "
                     "%lld:",
                (unsigned long long)cc.customers, cc.days,
                (long long)cc.end_ms);
        for (int p = 0; p < CP_PROFILE_CNT; p++)
            fprintf(rn->msgs, " %s %llu",
                    cp_cohort_profile_name((enum cp_cohort_profile)p),
                    (unsigned long long)cp_cohort_profile_count(
                        rn->cohort, (enum cp_cohort_profile)p));
        fprintf(rn->msgs, "\n");
    }
    if (o->labels_path && write_labels(rn))
        return 1;
    if (o->csv_path) {
        rn->csv = fopen(o->csv_path, "w");
        if (!rn->csv) {
            fprintf(rn->msgs, PROG ": open %s: %s\n", o->csv_path,
                    strerror(errno));
            return 1;
        }
        setvbuf(rn->csv, NULL, _IOFBF, 1 << 20);
    }
    return 0;
}

/* ---- the public API ---- */

void cp_gen_opts_init(struct cp_gen_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->events = 100000;
    o->customers = 10000;
    o->tenants = 3;
    o->seed = 1;
}

void cp_gen_opts_cleanup(struct cp_gen_opts *o)
{
    free(o->xargv);
    o->xargv = NULL;
    o->xargc = 0;
}

int cp_gen_opts_parse(struct cp_gen_opts *o, int argc, char **argv,
                      char *errstr, size_t errstr_size)
{
    int r;

    free(o->xargv);
    o->xargc = 0;
    o->xargv = calloc((size_t)argc + 1, sizeof(*o->xargv));
    if (!o->xargv) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    r = parse_args(argc, argv, o, o->xargv, &o->xargc, errstr, errstr_size);
    if (r)
        return r;
    if (check_mode(o, errstr, errstr_size) ||
        (o->mix && parse_mix(o->mix, o->mix_shares, errstr, errstr_size)))
        return -1;
    if (o->noise && strcmp(o->noise, "on") != 0 &&
        strcmp(o->noise, "off") != 0) {
        snprintf(errstr, errstr_size, "--noise \"%s\": expected on or off",
                 o->noise);
        return -1;
    }
    if (o->cohort && !o->tenants_set)
        o->tenants = 1;
    return 0;
}

struct cp_config *cp_gen_config_load(const struct cp_gen_opts *o,
                                     const char *argv0, char *errstr,
                                     size_t errstr_size)
{
    const char **xargv = calloc((size_t)o->xargc + 8, sizeof(*xargv));
    struct cp_config *cfg;
    char xb[4200], xt[300], xr[4200];
    int xargc = 0;

    if (!xargv) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    /* -b, -t and --raw are shorthands for settings; they go first so that
     * an explicit -X wins. The settings layer adds CRMPULSE_* variables and
     * validates everything. */
    xargv[xargc++] = argv0;
    if (o->bootstrap) {
        snprintf(xb, sizeof(xb), "kafka.bootstrap.servers=%s", o->bootstrap);
        xargv[xargc++] = "-X";
        xargv[xargc++] = xb;
    }
    if (o->topic) {
        snprintf(xt, sizeof(xt), "topic.events=%s", o->topic);
        xargv[xargc++] = "-X";
        xargv[xargc++] = xt;
    }
    if (o->raw) {
        xargv[xargc++] = "-X";
        xargv[xargc++] = "codec.framing=raw";
    }
    if (o->registry) {
        snprintf(xr, sizeof(xr), "schema.registry.url=%s", o->registry);
        xargv[xargc++] = "-X";
        xargv[xargc++] = xr;
    }
    for (int i = 0; i < o->xargc; i++)
        xargv[xargc++] = o->xargv[i];
    cfg =
        cp_config_load(xargc, (char **)xargv, NULL, NULL, errstr, errstr_size);
    free(xargv);
    return cfg;
}

/* The --dry-run and --bootstrap rules. @returns 0, or 2 (printed). */
static int check_outputs(const struct cp_gen_run *rn,
                         const struct cp_config *cfg)
{
    const struct cp_gen_opts *o = rn->o;

    if (o->dry_run && !o->out_path && !o->labels_path && !o->csv_path) {
        if (o->replay_path) {
            fprintf(rn->msgs, PROG ": --dry-run writes only --out FILE: give "
                                   "one (or leave --dry-run out to produce "
                                   "to Kafka)\n");
            return 2;
        }
        fprintf(rn->msgs, PROG ": --dry-run writes only --out FILE (or, with "
                               "--churn-cohort, --labels/--events-csv): give "
                               "one\n");
        return 2;
    }
    if (!o->dry_run && !strcmp(cfg->kafka_bootstrap, "embedded")) {
        fprintf(rn->msgs, PROG ": --bootstrap HOSTS is required (or "
                               "-X kafka.bootstrap.servers=HOSTS, or "
                               "--dry-run with --out FILE)\n");
        return 2;
    }
    return 0;
}

/* With a schema registry: the id of crm_event.avsc under <topic>-value
 * (registered unless schema.registry.auto.register=false), which events
 * are then framed with. @returns 0, or 1 (printed). */
static int registry_id(struct cp_gen_run *rn, const struct cp_config *cfg)
{
    char errstr[1024], subject[300];
    struct cp_registry *reg;
    uint32_t id = 0;
    cp_rc rc;

    if (cfg->codec_raw) {
        fprintf(rn->msgs, PROG ": --schema-registry needs Confluent framing "
                               "(leave --raw out)\n");
        return 1;
    }
    reg = cp_registry_from_config(cfg, errstr, sizeof(errstr));
    if (!reg) {
        fprintf(rn->msgs, PROG ": %s\n", errstr);
        return 1;
    }
    snprintf(subject, sizeof(subject), "%s-value", cfg->topic_events);
    rc = cp_registry_id_for(
        reg, subject, cp_schema_json(CP_SCHEMA_ID_CRM_EVENT),
        cfg->registry_auto_register != 0, &id, errstr, sizeof(errstr));
    cp_registry_destroy(reg);
    if (rc) {
        fprintf(rn->msgs, PROG ": %s\n", errstr);
        return 1;
    }
    cp_codec_set_output_ids(rn->codec, id, 0, 0);
    if (!rn->o->quiet)
        fprintf(rn->msgs, PROG ": schema registry: %s id %" PRIu32 "\n",
                subject, id);
    return 0;
}

/* Codec, dump file and producer. @returns 0, or 1 (printed). */
static int open_outputs(struct cp_gen_run *rn, const struct cp_config *cfg)
{
    const struct cp_gen_opts *o = rn->o;
    char errstr[1024];

    rn->codec =
        cp_codec_new(cfg->codec_raw ? CP_FRAMING_RAW : CP_FRAMING_CONFLUENT,
                     errstr, sizeof(errstr));
    if (!rn->codec) {
        fprintf(rn->msgs, PROG ": create codec: %s\n", errstr);
        return 1;
    }
    if (cfg->registry_url[0] && registry_id(rn, cfg))
        return 1;
    if (o->out_path) {
        rn->out = fopen(o->out_path, "wb");
        if (!rn->out) {
            fprintf(rn->msgs, PROG ": open %s: %s\n", o->out_path,
                    strerror(errno));
            return 1;
        }
        setvbuf(rn->out, NULL, _IOFBF, 1 << 20);
    }
    if (!o->dry_run) {
        rn->prod = cp_producer_new(cfg->kafka_bootstrap, cfg->kafka_props,
                                   cfg->kafka_prop_cnt, errstr, sizeof(errstr));
        if (!rn->prod) {
            fprintf(rn->msgs, PROG ": %s (check --bootstrap and -X kafka.*)\n",
                    errstr);
            return 1;
        }
    }
    return 0;
}

struct cp_gen_run *cp_gen_run_new(struct cp_gen_opts *o,
                                  const struct cp_config *cfg, FILE *msgs,
                                  int *status)
{
    struct cp_gen_run *rn = calloc(1, sizeof(*rn));
    int64_t now;

    *status = 1;
    if (!rn) {
        fprintf(msgs, PROG ": out of memory\n");
        return NULL;
    }
    rn->o = o;
    rn->msgs = msgs;
    rn->topic = cfg->topic_events;
    rn->bootstrap = cfg->kafka_bootstrap;
    cp_buf_init(&rn->key, 1 << 16);
    cp_buf_init(&rn->value, 1 << 20);
    *status = check_outputs(rn, cfg);
    if (*status)
        goto fail;
    now = cp_now_ms();
    *status = o->replay_path ? setup_replay(rn, now)
              : o->cohort    ? setup_cohort(rn, now)
                             : setup_stream(rn, now);
    if (*status)
        goto fail;
    *status = open_outputs(rn, cfg);
    if (*status)
        goto fail;
    return rn;

fail:
    cp_gen_run_destroy(rn);
    return NULL;
}

/* Closes a finished output file. @returns 0, or -1 (printed). */
static int close_output(struct cp_gen_run *rn, FILE **fp, const char *path,
                        int check_error)
{
    FILE *f = *fp;
    int bad;

    *fp = NULL;
    bad = check_error ? ferror(f) | fclose(f) : fclose(f); /* both, always */
    if (bad) {
        fprintf(rn->msgs, PROG ": write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int cp_gen_run_produce(struct cp_gen_run *rn, volatile sig_atomic_t *stop)
{
    int64_t t0 = cp_mono_ms();

    rn->stop = stop;
    if (rn->replay   ? produce_replay(rn)
        : rn->cohort ? produce_cohort(rn)
                     : produce(rn))
        return 1;
    if (rn->csv && close_output(rn, &rn->csv, rn->o->csv_path, 1))
        return 1;
    if (rn->out && close_output(rn, &rn->out, rn->o->out_path, 0))
        return 1;
    if (rn->prod && flush_all(rn))
        return 1;
    if (!rn->o->quiet || *stop)
        summary(rn, cp_mono_ms() - t0);
    return *stop ? 1 : 0;
}

void cp_gen_run_destroy(struct cp_gen_run *rn)
{
    if (!rn)
        return;
    if (rn->out)
        fclose(rn->out);
    if (rn->csv)
        fclose(rn->csv);
    cp_producer_destroy(rn->prod);
    cp_codec_destroy(rn->codec);
    cp_gen_destroy(rn->gen);
    cp_cohort_destroy(rn->cohort);
    cp_replay_destroy(rn->replay);
    if (rn->replay_f)
        fclose(rn->replay_f);
    free(rn->line);
    cp_buf_cleanup(&rn->key);
    cp_buf_cleanup(&rn->value);
    free(rn);
}
