/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-scenario: produces a scripted list of CRM events, one per line of
 * a small text file, so that a test can state exactly which customer did
 * what and when. Each line is validated like the worker validates input,
 * encoded with the codec (Confluent framing) and produced with the library's
 * producer, key tenant:customer; the tool exits 0 only once Kafka has
 * acknowledged every event. The format is in usage() below. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "civil.h"
#include "codec.h"
#include "common.h"
#include "event.h"
#include "kafka.h"

#define PROG         "crmpulse-scenario"
#define LINE_MAX_LEN 4096
#define MAX_TOKENS   32
#define FLUSH_MS     60000
#define NULL_KEY_LEN 0xffffffffu
#define DAY_MS       86400000LL

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: " PROG " -b BOOTSTRAP -f FILE [options]\n"
        "Produces the events of a scenario file to Kafka (crm.v1.CrmEvent, "
        "Avro,\n"
        "Confluent framing), key tenant_id:customer_id, in file order, and "
        "waits until\n"
        "Kafka acknowledged each one.\n"
        "\n"
        "  -b, --bootstrap HOSTS  Kafka bootstrap servers (required unless "
        "--dry-run)\n"
        "  -f, --file FILE        scenario file ('-' = stdin)\n"
        "  -t, --topic NAME       topic (default crm.events)\n"
        "  -p, --partition N      partition for every event (default 0, so "
        "file order\n"
        "                         is processing order and one watermark "
        "covers all)\n"
        "      --partition-by-key let the producer pick the partition from "
        "the key\n"
        "      --now MS           the instant 'now' means in times (default: "
        "the clock)\n"
        "  -o, --out FILE         also write each message in crmpulse-gen's "
        "dump format\n"
        "                         (for tests/integration/oracle.py)\n"
        "      --dry-run          check the file (and write --out) without "
        "Kafka\n"
        "  -h, --help             this help\n"
        "\n"
        "Scenario file: one event per line; blank lines and lines starting "
        "with '#'\n"
        "are skipped. Fields are separated by blanks:\n"
        "\n"
        "  EVENT_ID TENANT CUSTOMER TIME KIND [key=value ...]\n"
        "\n"
        "  EVENT_ID  the event_id; '-' = \"L<line number>\"\n"
        "  TIME      occurred_at: milliseconds since the epoch, ISO-8601 UTC\n"
        "            (2026-11-20T10:00:00Z, 2026-11-20T10:00:00.250Z), or "
        "relative to\n"
        "            now: now, now-30d, now+90s, now-1500ms (units ms s m h "
        "d w)\n"
        "  KIND      the payload record: LeadCreated StageChanged DealClosed "
        "OrderPlaced\n"
        "            MessageReceived MessageSent CallLogged TicketOpened "
        "TicketResolved\n"
        "            SurveyAnswered SubscriptionChanged WebVisit\n"
        "\n"
        "  key=value, any kind:\n"
        "    manager=M            manager_id (default null)\n"
        "    channel=CH           PHONE EMAIL CHAT MESSENGER WEB SOCIAL "
        "IN_PERSON\n"
        "                         (any case; default null)\n"
        "    id=X                 the payload's id (deal_id, order_id, "
        "conversation_id,\n"
        "                         call_id, ticket_id, subscription_id, "
        "session_id); its\n"
        "                         own name works too (order_id=X); default "
        "EVENT_ID\n"
        "  by kind:\n"
        "    LeadCreated          source=S (default \"web\")\n"
        "    StageChanged         stage=S (default \"qualified\") "
        "stage_order=N (default 1)\n"
        "    DealClosed           won=true|false (default true) amount=N "
        "(amount_minor)\n"
        "    OrderPlaced          amount=N (amount_minor, default 1000)\n"
        "    CallLogged           inbound=true|false answered=true|false "
        "duration=N (ms)\n"
        "                         (defaults true, true, 60000)\n"
        "    SurveyAnswered       kind=NPS|CSAT|CES score=N (required)\n"
        "    SubscriptionChanged  action=STARTED|RENEWED|CANCELLED "
        "(required) mrr=N\n"
        "                         (mrr_minor, default 0)\n"
        "  amount_minor=, mrr_minor= and duration_ms= are accepted as the "
        "schema names.\n"
        "\n"
        "Example:\n"
        "  # a customer who bought, then cancelled and gave NPS 2\n"
        "  o1 acme c42 now-40d OrderPlaced manager=m7 amount=25000\n"
        "  s1 acme c42 now-2d  SubscriptionChanged action=CANCELLED "
        "mrr=9900\n"
        "  n1 acme c42 now-1d  SurveyAnswered kind=NPS score=2 "
        "channel=EMAIL\n"
        "\n"
        "Every line is checked against the input contract before anything "
        "is sent;\n"
        "an error names the line.\n"
        "Exit status: 0 when every event was acknowledged (or checked, with "
        "--dry-run),\n"
        "1 when Kafka failed, 2 for bad usage or a bad scenario file.\n");
}

struct opts {
    const char *bootstrap;
    const char *file;
    const char *topic;
    const char *out;
    int32_t partition;
    int by_key;
    int dry_run;
    int64_t now_ms;
};

/* One parsed line; its strings point into the line buffer or @c ids. */
struct line_event {
    struct cp_event ev;
    char event_id[32]; /* generated "L<n>" */
};

/* ---- parsing helpers ---- */

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes")) {
        *out = true;
        return 0;
    }
    if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no")) {
        *out = false;
        return 0;
    }
    return -1;
}

/* "YYYY-MM-DDTHH:MM:SS[.mmm]Z" -> ms. @returns 0 or -1. */
static int parse_iso(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec, n = 0, ms = 0;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
               &n) != 6 ||
        n != 19)
        return -1;
    s += n;
    if (*s == '.') {
        int digits = 0;

        for (s++; isdigit((unsigned char)*s); s++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*s - '0');
        if (!digits)
            return -1;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    if (strcmp(s, "Z") != 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || sec > 60)
        return -1;
    *out = ((cp_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000LL +
           sec * 1000LL + ms;
    return 0;
}

/* "now", "now-30d", "now+90s", "now-1500ms". @returns 0 or -1. */
static int parse_relative(const char *s, int64_t now, int64_t *out)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1},      {"s", 1000},   {"m", 60000},
                 {"h", 3600000}, {"d", DAY_MS}, {"w", 7 * DAY_MS}};
    char *end;
    long long n;
    int sign;

    if (strncmp(s, "now", 3) != 0)
        return -1;
    s += 3;
    if (!*s) {
        *out = now;
        return 0;
    }
    if (*s != '+' && *s != '-')
        return -1;
    sign = *s == '-' ? -1 : 1;
    s++;
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno || n > 100LL * 365)
        n = -1;
    for (size_t i = 0; n >= 0 && i < CP_ARRAY_SIZE(units); i++)
        if (!strcmp(end, units[i].unit)) {
            *out = now + sign * (int64_t)n * units[i].ms;
            return 0;
        }
    if (n >= 0 && !*end) { /* plain number: ms */
        *out = now + sign * (int64_t)n;
        return 0;
    }
    return -1;
}

static int parse_time(const char *s, int64_t now, int64_t *out)
{
    if (isdigit((unsigned char)s[0]) && !strchr(s, '-'))
        return parse_i64(s, out);
    if (!strncmp(s, "now", 3))
        return parse_relative(s, now, out);
    return parse_iso(s, out);
}

static int parse_kind(const char *s, enum cp_payload_kind *out)
{
    for (int k = 0; k < CP_PAYLOAD_KIND_CNT; k++)
        if (!strcmp(s, cp_payload_kind_name((enum cp_payload_kind)k))) {
            *out = (enum cp_payload_kind)k;
            return 0;
        }
    return -1;
}

static int parse_channel(const char *s, enum cp_channel *out)
{
    for (int c = 0; c < CP_CHANNEL_CNT; c++)
        if (!strcasecmp(s, cp_channel_symbol((enum cp_channel)c))) {
            *out = (enum cp_channel)c;
            return 0;
        }
    return -1;
}

static struct cp_str str_of(const char *s)
{
    struct cp_str out = {s, strlen(s)};

    return out;
}

/* Splits @p line in place on blanks. @returns the token count, or -1 when
 * there are more than @p max. */
static int tokenize(char *line, char **tok, int max)
{
    int n = 0;
    char *p = line;

    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            *p++ = '\0';
        if (!*p)
            return n;
        if (n == max)
            return -1;
        tok[n++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            p++;
    }
}

/* Applies one key=value of a line to @p ev. @returns 0, or -1 with a message
 * in @p err. */
static int apply_option(struct cp_event *ev, const char *key, const char *val,
                        int *have_survey, int *have_action, char *err,
                        size_t err_size)
{
    const char *entity = cp_payload_entity_field(ev->kind);
    int64_t n;
    bool b;

    if (!strcmp(key, "manager")) {
        ev->manager_id = str_of(val);
        return 0;
    }
    if (!strcmp(key, "channel")) {
        if (parse_channel(val, &ev->channel))
            goto bad;
        return 0;
    }
    if (!strcmp(key, "id") || (entity && !strcmp(key, entity))) {
        if (!entity) {
            snprintf(err, err_size, "%s has no id",
                     cp_payload_kind_name(ev->kind));
            return -1;
        }
        ev->entity_id = str_of(val);
        return 0;
    }
    switch (ev->kind) {
    case CP_LEAD_CREATED:
        if (!strcmp(key, "source")) {
            ev->label = str_of(val);
            return 0;
        }
        break;
    case CP_STAGE_CHANGED:
        if (!strcmp(key, "stage")) {
            ev->label = str_of(val);
            return 0;
        }
        if (!strcmp(key, "stage_order")) {
            if (parse_i64(val, &n) || n < INT32_MIN || n > INT32_MAX)
                goto bad;
            ev->stage_order = (int32_t)n;
            return 0;
        }
        break;
    case CP_DEAL_CLOSED:
        if (!strcmp(key, "won")) {
            if (parse_bool(val, &b))
                goto bad;
            ev->won = b;
            return 0;
        }
        if (!strcmp(key, "amount") || !strcmp(key, "amount_minor")) {
            if (parse_i64(val, &ev->amount))
                goto bad;
            return 0;
        }
        break;
    case CP_ORDER_PLACED:
        if (!strcmp(key, "amount") || !strcmp(key, "amount_minor")) {
            if (parse_i64(val, &ev->amount))
                goto bad;
            return 0;
        }
        break;
    case CP_CALL_LOGGED:
        if (!strcmp(key, "inbound") || !strcmp(key, "answered")) {
            if (parse_bool(val, &b))
                goto bad;
            if (key[0] == 'i')
                ev->inbound = b;
            else
                ev->answered = b;
            return 0;
        }
        if (!strcmp(key, "duration") || !strcmp(key, "duration_ms")) {
            if (parse_i64(val, &ev->amount))
                goto bad;
            return 0;
        }
        break;
    case CP_SURVEY_ANSWERED:
        if (!strcmp(key, "kind")) {
            if (!strcasecmp(val, "NPS"))
                ev->survey_kind = CP_SURVEY_NPS;
            else if (!strcasecmp(val, "CSAT"))
                ev->survey_kind = CP_SURVEY_CSAT;
            else if (!strcasecmp(val, "CES"))
                ev->survey_kind = CP_SURVEY_CES;
            else
                goto bad;
            *have_survey |= 1;
            return 0;
        }
        if (!strcmp(key, "score")) {
            if (parse_i64(val, &n) || n < INT32_MIN || n > INT32_MAX)
                goto bad;
            ev->score = (int32_t)n;
            *have_survey |= 2;
            return 0;
        }
        break;
    case CP_SUBSCRIPTION_CHANGED:
        if (!strcmp(key, "action")) {
            if (!strcasecmp(val, "STARTED"))
                ev->sub_action = CP_SUB_STARTED;
            else if (!strcasecmp(val, "RENEWED"))
                ev->sub_action = CP_SUB_RENEWED;
            else if (!strcasecmp(val, "CANCELLED"))
                ev->sub_action = CP_SUB_CANCELLED;
            else
                goto bad;
            *have_action = 1;
            return 0;
        }
        if (!strcmp(key, "mrr") || !strcmp(key, "mrr_minor")) {
            if (parse_i64(val, &ev->amount))
                goto bad;
            return 0;
        }
        break;
    default:
        break;
    }
    snprintf(err, err_size, "%s has no field \"%s\" (see --help)",
             cp_payload_kind_name(ev->kind), key);
    return -1;
bad:
    snprintf(err, err_size, "%s=%s: not a valid value (see --help)", key, val);
    return -1;
}

/* Parses one non-empty line into @p le (strings borrowed from @p line).
 * @returns 0, or -1 with a message in @p err. */
static int parse_line(char *line, long lineno, int64_t now,
                      struct line_event *le, char *err, size_t err_size)
{
    char *tok[MAX_TOKENS];
    struct cp_event *ev = &le->ev;
    int have_survey = 0, have_action = 0;
    int n = tokenize(line, tok, MAX_TOKENS);

    if (n < 0) {
        snprintf(err, err_size, "more than %d fields", MAX_TOKENS);
        return -1;
    }
    if (n < 5) {
        snprintf(err, err_size,
                 "expected EVENT_ID TENANT CUSTOMER TIME KIND [key=value ...], "
                 "got %d field%s",
                 n, n == 1 ? "" : "s");
        return -1;
    }
    memset(ev, 0, sizeof(*ev));
    ev->channel = CP_CHANNEL_NONE;
    if (!strcmp(tok[0], "-")) {
        snprintf(le->event_id, sizeof(le->event_id), "L%ld", lineno);
        ev->event_id = str_of(le->event_id);
    } else {
        ev->event_id = str_of(tok[0]);
    }
    ev->tenant_id = str_of(tok[1]);
    ev->customer_id = str_of(tok[2]);
    if (parse_time(tok[3], now, &ev->occurred_at)) {
        snprintf(err, err_size,
                 "time \"%s\": expected ms, ISO-8601 UTC "
                 "(2026-11-20T10:00:00Z) or now[+-]N[ms|s|m|h|d|w]",
                 tok[3]);
        return -1;
    }
    if (parse_kind(tok[4], &ev->kind)) {
        snprintf(err, err_size, "unknown kind \"%s\" (see --help)", tok[4]);
        return -1;
    }
    /* Defaults that make a bare line a valid event. */
    ev->entity_id = ev->event_id;
    switch (ev->kind) {
    case CP_LEAD_CREATED:
        ev->label = str_of("web");
        break;
    case CP_STAGE_CHANGED:
        ev->label = str_of("qualified");
        ev->stage_order = 1;
        break;
    case CP_DEAL_CLOSED:
        ev->won = true;
        break;
    case CP_ORDER_PLACED:
        ev->amount = 1000;
        break;
    case CP_CALL_LOGGED:
        ev->inbound = true;
        ev->answered = true;
        ev->amount = 60000;
        break;
    case CP_SURVEY_ANSWERED:
        ev->entity_id.ptr = NULL;
        ev->entity_id.len = 0;
        break;
    default:
        break;
    }
    for (int i = 5; i < n; i++) {
        char *eq = strchr(tok[i], '=');

        if (!eq || eq == tok[i]) {
            snprintf(err, err_size, "\"%s\": expected key=value", tok[i]);
            return -1;
        }
        *eq = '\0';
        if (apply_option(ev, tok[i], eq + 1, &have_survey, &have_action, err,
                         err_size))
            return -1;
    }
    if (ev->kind == CP_SURVEY_ANSWERED && have_survey != 3) {
        snprintf(err, err_size, "SurveyAnswered needs kind= and score=");
        return -1;
    }
    if (ev->kind == CP_SUBSCRIPTION_CHANGED && !have_action) {
        snprintf(err, err_size, "SubscriptionChanged needs action=");
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

/* One record of crmpulse-gen's dump format (always a valid event here). */
static int dump_write(FILE *f, const void *key, size_t key_len,
                      const void *value, size_t value_len)
{
    unsigned char hdr[5];

    hdr[0] = 0;
    put_be32(hdr + 1, (uint32_t)key_len);
    if (fwrite(hdr, 1, 5, f) != 5 ||
        (key_len && fwrite(key, 1, key_len, f) != key_len))
        return -1;
    put_be32(hdr, (uint32_t)value_len);
    if (fwrite(hdr, 1, 4, f) != 4 ||
        (value_len && fwrite(value, 1, value_len, f) != value_len))
        return -1;
    return 0;
}

/* ---- main ---- */

static int parse_args(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t n;

        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return 1;
        if (!strcmp(a, "--partition-by-key")) {
            o->by_key = 1;
            continue;
        }
        if (!strcmp(a, "--dry-run")) {
            o->dry_run = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr,
                    PROG ": %s: unknown or missing its value (see "
                         "--help)\n",
                    a);
            return -1;
        }
        i++;
        if (!strcmp(a, "-b") || !strcmp(a, "--bootstrap")) {
            o->bootstrap = v;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            o->file = v;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--topic")) {
            o->topic = v;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--out")) {
            o->out = v;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--partition")) {
            if (parse_i64(v, &n) || n < 0 || n > INT32_MAX) {
                fprintf(stderr, PROG ": %s %s: expected a partition >= 0\n", a,
                        v);
                return -1;
            }
            o->partition = (int32_t)n;
        } else if (!strcmp(a, "--now")) {
            if (parse_i64(v, &o->now_ms) || o->now_ms < CP_MIN_OCCURRED_AT_MS) {
                fprintf(stderr,
                        PROG ": --now %s: expected ms since the "
                             "epoch\n",
                        v);
                return -1;
            }
        } else {
            fprintf(stderr, PROG ": unknown argument \"%s\" (see --help)\n", a);
            return -1;
        }
    }
    if (!o->file || (!o->bootstrap && !o->dry_run)) {
        fprintf(stderr, PROG ": -f FILE and -b BOOTSTRAP are required (see "
                             "--help)\n");
        return -1;
    }
    return 0;
}

/* Waits until Kafka acknowledged @p sent messages. @returns 0 or -1. */
static int flush_all(struct cp_producer *prod, int64_t sent)
{
    int64_t deadline = cp_mono_ms() + FLUSH_MS;

    for (;;) {
        cp_rc rc = cp_producer_flush(prod, 1000);
        int64_t acked = cp_producer_acked_cnt(prod);

        if (rc == CP_OK && acked == sent)
            return 0;
        if (rc == CP_OK || cp_mono_ms() >= deadline) {
            fprintf(stderr, PROG ": %lld of %lld events acknowledged: %s\n",
                    (long long)acked, (long long)sent,
                    cp_producer_errstr(prod));
            return -1;
        }
    }
}

int main(int argc, char **argv)
{
    struct opts o = {.topic = "crm.events"};
    struct cp_producer *prod = NULL;
    struct cp_codec *codec = NULL;
    struct cp_buf value, key;
    char line[LINE_MAX_LEN], err[512], reason[256];
    FILE *in = NULL, *out = NULL;
    int64_t sent = 0, wall = cp_now_ms();
    long lineno = 0;
    int rc = 2, r;

    cp_buf_init(&value, 0);
    cp_buf_init(&key, 0);
    r = parse_args(argc, argv, &o);
    if (r) {
        if (r > 0)
            usage(stdout);
        return r > 0 ? 0 : 2;
    }
    if (!o.now_ms)
        o.now_ms = wall;
    in = strcmp(o.file, "-") ? fopen(o.file, "r") : stdin;
    if (!in) {
        fprintf(stderr, PROG ": %s: %s\n", o.file, strerror(errno));
        goto done;
    }
    if (o.out && !(out = fopen(o.out, "wb"))) {
        fprintf(stderr, PROG ": %s: %s\n", o.out, strerror(errno));
        goto done;
    }
    codec = cp_codec_new(CP_FRAMING_CONFLUENT, err, sizeof(err));
    if (!codec) {
        fprintf(stderr, PROG ": codec: %s\n", err);
        goto done;
    }
    if (!o.dry_run) {
        prod = cp_producer_new(o.bootstrap, NULL, 0, err, sizeof(err));
        if (!prod) {
            fprintf(stderr, PROG ": producer: %s\n", err);
            rc = 1;
            goto done;
        }
    }
    while (fgets(line, sizeof(line), in)) {
        struct line_event le;
        const char *p = line;

        lineno++;
        if (!strchr(line, '\n') && !feof(in)) {
            fprintf(stderr, PROG ": %s:%ld: line longer than %d bytes\n",
                    o.file, lineno, LINE_MAX_LEN - 2);
            goto done;
        }
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\r' || !*p)
            continue;
        if (parse_line(line, lineno, o.now_ms, &le, err, sizeof(err))) {
            fprintf(stderr, PROG ": %s:%ld: %s\n", o.file, lineno, err);
            goto done;
        }
        /* The worker's rules, with the clock it will have. */
        if (cp_event_validate(&le.ev, wall, reason, sizeof(reason))) {
            fprintf(stderr, PROG ": %s:%ld: not a valid event: %s\n", o.file,
                    lineno, reason);
            goto done;
        }
        cp_buf_reset(&value);
        cp_buf_reset(&key);
        if (cp_codec_encode_event(codec, &le.ev, &value) ||
            cp_buf_printf(&key, "%.*s:%.*s", (int)le.ev.tenant_id.len,
                          le.ev.tenant_id.ptr, (int)le.ev.customer_id.len,
                          le.ev.customer_id.ptr)) {
            fprintf(stderr, PROG ": %s:%ld: encode failed\n", o.file, lineno);
            goto done;
        }
        if (out && dump_write(out, key.data, key.len, value.data, value.len)) {
            fprintf(stderr, PROG ": %s: %s\n", o.out, strerror(errno));
            goto done;
        }
        if (prod) {
            if (cp_producer_send(prod, o.topic, o.by_key ? -1 : o.partition,
                                 key.data, key.len, value.data, value.len)) {
                fprintf(stderr, PROG ": %s:%ld: %s\n", o.file, lineno,
                        cp_producer_errstr(prod));
                rc = 1;
                goto done;
            }
        }
        sent++;
    }
    if (ferror(in)) {
        fprintf(stderr, PROG ": %s: read error\n", o.file);
        goto done;
    }
    if (out && fflush(out)) {
        fprintf(stderr, PROG ": %s: %s\n", o.out, strerror(errno));
        goto done;
    }
    rc = prod && flush_all(prod, sent) ? 1 : 0;
    if (!rc)
        fprintf(stderr, PROG ": %lld events %s\n", (long long)sent,
                prod ? "acknowledged" : "checked");
done:
    if (in && in != stdin)
        fclose(in);
    if (out && fclose(out) && !rc) {
        fprintf(stderr, PROG ": %s: %s\n", o.out, strerror(errno));
        rc = 2;
    }
    cp_producer_destroy(prod);
    cp_codec_destroy(codec);
    cp_buf_cleanup(&value);
    cp_buf_cleanup(&key);
    return rc;
}
