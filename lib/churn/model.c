/* SPDX-License-Identifier: Apache-2.0 */
/* The churn model file (schemas/churn-model.md): parsing and validation
 * with errors that name the line and the fix, the built-in default, the
 * accessors, and writing a model back (crmpulse-fit). */
#include "churn.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn_int.h"
#include "ids.h"

/* The SLA keys' channel part: "none" (no channel), then the key contract's
 * channel names. */
static const char *sla_name(int c)
{
    return c == 0 ? "none" : cp_key_channel_name(c - 1);
}

/* ------------------------------------------------------------------ */
/* Model file                                                          */

enum key_kind { K_NUM, K_STR, K_TRANSFORM, K_CLIP };

struct keydef {
    const char *name;
    enum key_kind kind;
    size_t off; /* of the double (or char[64]) in struct cp_churn_model */
    double lo, hi;
    const char *fix; /* what a valid value looks like */
};

#define MOFF(field) offsetof(struct cp_churn_model, field)

static const struct keydef scalar_keys[] = {
    {"version", K_STR, MOFF(version), 0, 0,
     "1 to 63 characters of A-Z a-z 0-9 . _ -"},
    {"halflife.short_days", K_NUM, MOFF(hl_short_days), 1, 3650,
     "days, 1..3650, e.g. 30"},
    {"halflife.long_days", K_NUM, MOFF(hl_long_days), 1, 3650,
     "days, 1..3650, e.g. 180"},
    {"halflife.signal_days", K_NUM, MOFF(hl_signal_days), 1, 3650,
     "days, 1..3650, e.g. 30"},
    {"interval.prior_days", K_NUM, MOFF(prior_interval_days), 1, 3650,
     "days, 1..3650, the usual interval of a new customer"},
    {"interval.prior_weight", K_NUM, MOFF(prior_weight), 0, 1000,
     "0..1000 pseudo-intervals"},
    {"bgnbd.r", K_NUM, MOFF(r), 1e-4, 1e4, "a positive number, 1e-4..1e4"},
    {"bgnbd.alpha_days", K_NUM, MOFF(alpha_days), 1e-4, 1e6,
     "a positive number of days, 1e-4..1e6"},
    {"bgnbd.a", K_NUM, MOFF(a), 1e-4, 1e4, "a positive number, 1e-4..1e4"},
    {"bgnbd.b", K_NUM, MOFF(b), 1e-4, 1e4, "a positive number, 1e-4..1e4"},
    {"horizon_days", K_NUM, MOFF(horizon_days), 1, 3650,
     "days, 1..3650, e.g. 90"},
    {"bias", K_NUM, MOFF(bias), -100, 100, "a number, -100..100"},
    {"evidence.bias", K_NUM, MOFF(ev_bias), -100, 100,
     "log-odds, -100..100, e.g. -4"},
    {"evidence.silence_start", K_NUM, MOFF(silence_start), 0, 100,
     "usual intervals, 0..100, e.g. 1"},
    {"evidence.ticket_usual_days", K_NUM, MOFF(ticket_usual_days), 0.01, 3650,
     "days, 0.01..3650, e.g. 3"},
    {"evidence.cancel_grace_days", K_NUM, MOFF(cancel_grace_days), 0, 365,
     "days, 0..365, e.g. 2"},
    {"level.high", K_NUM, MOFF(thr_high), 0.001, 0.999,
     "an evidence probability 0.001..0.999 below level.critical"},
    {"level.critical", K_NUM, MOFF(thr_critical), 0.001, 0.999,
     "an evidence probability 0.001..0.999 above level.high"},
    {"level.hysteresis", K_NUM, MOFF(hysteresis), 0, 0.5,
     "0..0.5, below level.high"},
    {"alert.cooldown_days", K_NUM, MOFF(cooldown_days), 0, 3650,
     "days, 0..3650"},
};

#define SCALAR_CNT   CP_ARRAY_SIZE(scalar_keys)
#define FACTOR_KEYS  4 /* weight, ref, transform, clip */
#define SLA_KEY_BASE (SCALAR_CNT + CP_CF_CNT * FACTOR_KEYS)
#define EV_KEYS      3 /* evidence.weight, evidence.clip, action */
#define EV_KEY_BASE  (SLA_KEY_BASE + 8)
#define KEY_CNT      (EV_KEY_BASE + CP_E_CNT * EV_KEYS)

static const char *const ev_key_prefix[EV_KEYS] = {"evidence.weight.",
                                                   "evidence.clip.", "action."};

static const char *const factor_key_prefix[FACTOR_KEYS] = {
    "weight.", "ref.", "transform.", "clip."};

static const char *const factor_key_fix[FACTOR_KEYS] = {
    "a number, -100..100", "a number, -1e6..1e6", "none, log1p or logit",
    "two numbers LO HI with LO < HI, within -1e6..1e6"};

struct parser {
    const char *name;
    int line;
    char *errstr;
    size_t errstr_size;
};

static void perr(struct parser *p, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void perr(struct parser *p, const char *key, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!p->errstr || !p->errstr_size)
        return;
    if (key)
        snprintf(p->errstr, p->errstr_size, "%s:%d: %s: %s", p->name, p->line,
                 key, msg);
    else if (p->line)
        snprintf(p->errstr, p->errstr_size, "%s:%d: %s", p->name, p->line, msg);
    else
        snprintf(p->errstr, p->errstr_size, "%s: %s", p->name, msg);
}

/* Parses a whole token as a finite double. */
static int parse_num(const char *s, double *out)
{
    char *end;

    if (!*s)
        return -1;
    errno = 0;
    *out = strtod(s, &end);
    if (*end || errno == ERANGE || !isfinite(*out))
        return -1;
    return 0;
}

static int key_index(const char *key)
{
    for (size_t i = 0; i < SCALAR_CNT; i++)
        if (!strcmp(key, scalar_keys[i].name))
            return (int)i;
    for (int k = 0; k < FACTOR_KEYS; k++) {
        size_t pl = strlen(factor_key_prefix[k]);

        if (strncmp(key, factor_key_prefix[k], pl))
            continue;
        for (int f = 0; f < CP_CF_CNT; f++)
            if (!strcmp(key + pl, cp__churn_factor_names[f]))
                return (int)(SCALAR_CNT + (size_t)f * FACTOR_KEYS + (size_t)k);
    }
    for (int k = 0; k < EV_KEYS; k++) {
        size_t pl = strlen(ev_key_prefix[k]);

        if (strncmp(key, ev_key_prefix[k], pl))
            continue;
        for (int e = 0; e < CP_E_CNT; e++)
            if (!strcmp(key + pl, cp__churn_evidence_names[e]))
                return (int)(EV_KEY_BASE + (size_t)e * EV_KEYS + (size_t)k);
    }
    if (!strncmp(key, "sla.", 4)) {
        for (int c = 0; c < 8; c++) {
            size_t nl = strlen(sla_name(c));

            if (!strncmp(key + 4, sla_name(c), nl) &&
                !strcmp(key + 4 + nl, "_minutes"))
                return (int)(SLA_KEY_BASE + (size_t)c);
        }
    }
    return -1;
}

/* Keys a model file may leave out (they default as set in the parser):
 * those of factors added after the format, so older files still load. */
static int optional_key(size_t idx)
{
    size_t lo = SCALAR_CNT + (size_t)CP_CF_SILENCE_X_ORDERS * FACTOR_KEYS;
    size_t ev = EV_KEY_BASE + (size_t)CP_E_COMPLAINT_SIGNS * EV_KEYS;

    return (idx >= lo && idx < lo + FACTOR_KEYS) ||
           (idx >= ev && idx < ev + EV_KEYS);
}

/* Key name of index @p idx into @p buf (for "missing key" messages). */
static const char *key_name(size_t idx, char *buf, size_t cap)
{
    if (idx < SCALAR_CNT)
        return scalar_keys[idx].name;
    if (idx < SLA_KEY_BASE) {
        size_t f = (idx - SCALAR_CNT) / FACTOR_KEYS;
        size_t k = (idx - SCALAR_CNT) % FACTOR_KEYS;

        snprintf(buf, cap, "%s%s", factor_key_prefix[k],
                 cp__churn_factor_names[f]);
        return buf;
    }
    if (idx < EV_KEY_BASE) {
        snprintf(buf, cap, "sla.%s_minutes",
                 sla_name((int)(idx - SLA_KEY_BASE)));
        return buf;
    }
    snprintf(buf, cap, "%s%s", ev_key_prefix[(idx - EV_KEY_BASE) % EV_KEYS],
             cp__churn_evidence_names[(idx - EV_KEY_BASE) / EV_KEYS]);
    return buf;
}

/* An evidence key's value: weight 0..100, clip (0, 1e6], action text. */
static int set_evidence(struct parser *p, struct cp_churn_model *m, size_t idx,
                        const char *key, const char *val)
{
    size_t e = (idx - EV_KEY_BASE) / EV_KEYS;
    size_t k = (idx - EV_KEY_BASE) % EV_KEYS;
    double d;

    if (k == 2) {
        size_t n = strlen(val);

        for (size_t i = 0; i < n; i++)
            if ((unsigned char)val[i] < 0x20 || val[i] == 0x7f)
                n = 0;
        if (n == 0 || n >= CP_CHURN_ACTION_MAX) {
            perr(p, key,
                 "expected 1 to %d bytes of text without control "
                 "characters (fix: e.g. 'call today')",
                 CP_CHURN_ACTION_MAX - 1);
            return -1;
        }
        memcpy(m->action[e], val, n + 1);
        return 0;
    }
    if (parse_num(val, &d) ||
        (k == 0 ? d < 0 || d > 100 : !(d > 0) || d > 1e6)) {
        perr(p, key, "expected a number %s, got '%s'",
             k == 0 ? "0..100 (a log-likelihood ratio per unit; 0 = off)"
                    : "above 0, at most 1e6",
             val);
        return -1;
    }
    if (k == 0)
        m->ev_weight[e] = d;
    else
        m->ev_clip[e] = d;
    return 0;
}

static int set_value(struct parser *p, struct cp_churn_model *m, size_t idx,
                     const char *key, char *val)
{
    double d;

    if (idx < SCALAR_CNT) {
        const struct keydef *kd = &scalar_keys[idx];

        if (kd->kind == K_STR) {
            size_t n = strlen(val);

            if (n == 0 || n >= sizeof(m->version))
                goto bad_str;
            for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)val[i]) && val[i] != '.' &&
                    val[i] != '_' && val[i] != '-')
                    goto bad_str;
            memcpy(m->version, val, n + 1);
            return 0;
        bad_str:
            perr(p, key, "invalid value '%s' (fix: %s)", val, kd->fix);
            return -1;
        }
        if (parse_num(val, &d)) {
            perr(p, key, "expected a number, got '%s' (fix: %s)", val, kd->fix);
            return -1;
        }
        if (d < kd->lo || d > kd->hi) {
            perr(p, key, "%s is out of range (fix: %s)", val, kd->fix);
            return -1;
        }
        *(double *)(void *)((char *)m + kd->off) = d;
        return 0;
    }
    if (idx < SLA_KEY_BASE) {
        size_t f = (idx - SCALAR_CNT) / FACTOR_KEYS;
        size_t k = (idx - SCALAR_CNT) % FACTOR_KEYS;
        struct cp_churn_factor_param *fp = &m->f[f];

        switch (k) {
        case 0:
        case 1:
            if (parse_num(val, &d)) {
                perr(p, key, "expected a number, got '%s' (fix: %s)", val,
                     factor_key_fix[k]);
                return -1;
            }
            if (fabs(d) > (k == 0 ? 100 : 1e6)) {
                perr(p, key, "%s is out of range (fix: %s)", val,
                     factor_key_fix[k]);
                return -1;
            }
            if (k == 0)
                fp->weight = d;
            else
                fp->ref = d;
            return 0;
        case 2:
            if (!strcmp(val, "none"))
                fp->transform = CP_TR_NONE;
            else if (!strcmp(val, "log1p"))
                fp->transform = CP_TR_LOG1P;
            else if (!strcmp(val, "logit"))
                fp->transform = CP_TR_LOGIT;
            else {
                perr(p, key, "unknown transform '%s' (fix: %s)", val,
                     factor_key_fix[k]);
                return -1;
            }
            return 0;
        default: {
            char *sp = val + strcspn(val, " \t");
            double lo, hi;

            if (!*sp)
                goto bad_clip;
            *sp++ = '\0';
            sp += strspn(sp, " \t");
            if (parse_num(val, &lo) || parse_num(sp, &hi) || !(lo < hi) ||
                fabs(lo) > 1e6 || fabs(hi) > 1e6)
                goto bad_clip;
            fp->lo = lo;
            fp->hi = hi;
            return 0;
        bad_clip:
            perr(p, key, "expected 'LO HI', got '%s%s%s' (fix: %s)", val,
                 *sp ? " " : "", sp, factor_key_fix[k]);
            return -1;
        }
        }
    }
    if (idx >= EV_KEY_BASE)
        return set_evidence(p, m, idx, key, val);
    if (parse_num(val, &d) || d < 0 || d > 525600) {
        perr(p, key,
             "expected minutes 0..525600, got '%s' (fix: 0 means "
             "no SLA, e.g. 60)",
             val);
        return -1;
    }
    m->sla_ms[idx - SLA_KEY_BASE] = (int64_t)llround(d * MS_PER_MIN);
    return 0;
}

static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

struct cp_churn_model *cp_churn_model_parse(const char *text, size_t len,
                                            const char *name, char *errstr,
                                            size_t errstr_size)
{
    struct parser p = {name ? name : "model", 0, errstr, errstr_size};
    struct cp_churn_model *m = calloc(1, sizeof(*m));
    unsigned char seen[KEY_CNT] = {0};
    char line[1024];
    size_t pos = 0;

    if (!m) {
        perr(&p, NULL, "out of memory");
        return NULL;
    }
    /* silence_x_orders came after the format: a model file without its
     * keys scores as before (weight 0). */
    m->f[CP_CF_SILENCE_X_ORDERS] =
        (struct cp_churn_factor_param){0, 0, CP_TR_NONE, 0, 40};
    /* So did complaint_signs: without its keys it weighs nothing. */
    m->ev_weight[CP_E_COMPLAINT_SIGNS] = 0;
    m->ev_clip[CP_E_COMPLAINT_SIGNS] = 3;
    snprintf(m->action[CP_E_COMPLAINT_SIGNS], CP_CHURN_ACTION_MAX,
             "call today and settle every open complaint");
    while (pos < len) {
        size_t end = pos, n;
        char *s, *eq, *key, *val;
        int idx;

        while (end < len && text[end] != '\n')
            end++;
        n = end - pos;
        p.line++;
        if (n >= sizeof(line)) {
            perr(&p, NULL, "line longer than %zu bytes (fix: shorten it)",
                 sizeof(line) - 1);
            goto fail;
        }
        memcpy(line, text + pos, n);
        line[n] = '\0';
        pos = end + 1;
        if (memchr(line, '\0', n)) {
            perr(&p, NULL,
                 "NUL byte in line (fix: the model is a text "
                 "file)");
            goto fail;
        }
        s = trim(line);
        if (!*s || *s == '#')
            continue;
        eq = strchr(s, '=');
        if (!eq) {
            perr(&p, NULL,
                 "expected 'key = value', got '%.60s' (fix: add "
                 "'=' or comment the line with '#')",
                 s);
            goto fail;
        }
        *eq = '\0';
        key = trim(s);
        val = trim(eq + 1);
        idx = key_index(key);
        if (idx < 0) {
            perr(&p, key,
                 "unknown key (fix: see schemas/churn-model.md "
                 "for the keys)");
            goto fail;
        }
        if (seen[idx]) {
            perr(&p, key, "given twice (fix: keep one line)");
            goto fail;
        }
        seen[idx] = 1;
        if (set_value(&p, m, (size_t)idx, key, val))
            goto fail;
    }
    p.line = 0;
    for (size_t i = 0; i < KEY_CNT; i++) {
        char buf[64];

        if (!seen[i] && optional_key(i))
            continue;
        if (!seen[i]) {
            perr(&p, NULL, "missing key '%s' (fix: add a line '%s = ...')",
                 key_name(i, buf, sizeof(buf)), key_name(i, buf, sizeof(buf)));
            goto fail;
        }
    }
    if (!(m->thr_high < m->thr_critical)) {
        perr(&p, NULL,
             "level.high %g must be below level.critical %g (fix: "
             "swap or lower level.high)",
             m->thr_high, m->thr_critical);
        goto fail;
    }
    if (!(m->hysteresis < m->thr_high)) {
        perr(&p, NULL,
             "level.hysteresis %g must be below level.high %g "
             "(fix: lower it, e.g. 0.05)",
             m->hysteresis, m->thr_high);
        goto fail;
    }
    return m;
fail:
    free(m);
    return NULL;
}

struct cp_churn_model *cp_churn_model_load(const char *path, char *errstr,
                                           size_t errstr_size)
{
    struct cp_churn_model *m = NULL;
    FILE *fp = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0;
    const char *base = strrchr(path, '/');

    base = base ? base + 1 : path;
    if (!fp) {
        snprintf(errstr, errstr_size,
                 "open model %s: %s (fix: set "
                 "model.file to a readable file)",
                 path, strerror(errno));
        return NULL;
    }
    for (;;) {
        size_t got;

        if (cap - len < 4096) {
            char *nt;

            if (cap >= (1u << 20)) {
                snprintf(errstr, errstr_size,
                         "read model %s: larger than "
                         "1 MiB (fix: is this a model file?)",
                         path);
                goto out;
            }
            nt = realloc(text, cap + 8192);
            if (!nt) {
                snprintf(errstr, errstr_size, "read model %s: out of memory",
                         path);
                goto out;
            }
            text = nt;
            cap += 8192;
        }
        got = fread(text + len, 1, cap - len, fp);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(fp)) {
        snprintf(errstr, errstr_size, "read model %s: %s", path,
                 strerror(errno));
        goto out;
    }
    m = cp_churn_model_parse(text ? text : "", len, base, errstr, errstr_size);
out:
    free(text);
    fclose(fp);
    return m;
}

struct cp_churn_model *cp_churn_model_default(void)
{
    return cp_churn_model_parse(cp__churn_default_model,
                                cp__churn_default_model_len,
                                "model.conf (built in)", NULL, 0);
}

void cp_churn_model_destroy(struct cp_churn_model *m)
{
    free(m);
}

struct cp_churn_model *cp__churn_model_dup(const struct cp_churn_model *m)
{
    struct cp_churn_model *c = malloc(sizeof(*c));

    if (c)
        memcpy(c, m, sizeof(*c));
    return c;
}

const char *cp_churn_model_version(const struct cp_churn_model *m)
{
    return m->version;
}

int64_t cp_churn_model_sla_ms(const struct cp_churn_model *m, int channel)
{
    if (channel < -1 || channel > 6)
        return 0;
    return m->sla_ms[channel + 1];
}

double cp_churn_model_threshold(const struct cp_churn_model *m, int level)
{
    return level >= CP_LEVEL_CRITICAL ? m->thr_critical : m->thr_high;
}

/* Comments the writer puts before a group of keys. */
static const char *scalar_comment(const char *key)
{
    static const struct {
        const char *key, *text;
    } c[] = {
        {"halflife.short_days", "Half-lives in days: recent orders; "
                                "long-run orders, amounts,\n# renewals and "
                                "engagement; support, service, sales, "
                                "subscriptions, surveys."},
        {"interval.prior_days", "Usual inter-order interval of a new "
                                "customer (days) and how many\n# intervals "
                                "that prior weighs against the customer's "
                                "own."},
        {"bgnbd.r", "BG/NBD population parameters (alpha in days) and the "
                    "horizon of\n# horizon_silence = P(no order in the next "
                    "horizon_days)."},
        {"bias", "Intercept of the logistic score (the calibrated "
                 "probability of churn)."},
        {"evidence.bias", "The alert weighs evidence of change: "
                          "P(episode) = sigma(evidence.bias + sum\n# "
                          "evidence.weight.E * min(x_E, evidence.clip.E)); "
                          "silence counts from\n# evidence.silence_start "
                          "usual intervals, a ticket from its usual "
                          "resolution,\n# a cancellation once "
                          "evidence.cancel_grace_days old with no "
                          "subscription\n# started since (a plan change "
                          "or a win-back retracts it)."},
        {"level.high", "Levels of the evidence probability; a latched level "
                       "re-arms below its\n# threshold minus the hysteresis; "
                       "a repeat alert waits out the cooldown\n# (days, "
                       "event time)."},
    };

    for (size_t i = 0; i < CP_ARRAY_SIZE(c); i++)
        if (!strcmp(c[i].key, key))
            return c[i].text;
    return NULL;
}

static const char *const factor_comment[CP_CF_CNT] = {
    [CP_CF_HORIZON_SILENCE] = "BG/NBD P(no order within horizon_days)",
    [CP_CF_ORDER_SILENCE] = "days since the last order / usual interval",
    [CP_CF_ORDERS_RECENT] = "orders, decayed with halflife.short_days",
    [CP_CF_ORDERS_LONG] = "orders, decayed with halflife.long_days",
    [CP_CF_ORDER_DROP] = "ln(long-run order rate / recent order rate)",
    [CP_CF_FREQUENCY] = "orders, all time",
    [CP_CF_MONETARY] = "average check, major units",
    [CP_CF_NO_ORDERS] = "1 when the customer never ordered",
    [CP_CF_TENURE] = "days since first seen",
    [CP_CF_SILENCE_X_ORDERS] = "ln(1 + order_silence) * ln(1 + orders_long)",
    [CP_CF_OPEN_TICKETS] = "tickets open now",
    [CP_CF_TICKET_AGE] = "mean age of the open tickets, days",
    [CP_CF_TICKETS_RECENT] = "tickets opened, decayed (signal half-life)",
    [CP_CF_NPS_LOW] = "(10 - last NPS) / 10, fading with its age",
    [CP_CF_CSAT_LOW] = "(5 - last CSAT) / 4, fading with its age",
    [CP_CF_CES_HIGH] = "(last CES - 1) / 6, fading with its age",
    [CP_CF_RESPONSE_WAIT] = "hours waited for first replies, decayed",
    [CP_CF_MISSED_CALLS] = "missed inbound calls, decayed",
    [CP_CF_DEALS_LOST] = "lost deals, decayed",
    [CP_CF_DEALS_WON] = "won deals, decayed",
    [CP_CF_CANCELLATIONS] = "subscription cancellations, decayed",
    [CP_CF_MRR_LOST] = "MRR cancelled (major units), decayed",
    [CP_CF_RENEWALS] = "subscription starts and renewals, long half-life",
    [CP_CF_ENGAGEMENT_DROP] = "ln(long-run / recent web visits + messages)",
};

cp_rc cp__churn_model_write(const struct cp_churn_model *m, const char *header,
                            FILE *out)
{
    if (header) {
        const char *s = header;

        while (*s) {
            size_t n = strcspn(s, "\n");

            fprintf(out, "# %.*s\n", (int)n, s);
            s += n;
            if (*s)
                s++;
        }
        fputc('\n', out);
    }
    fprintf(out,
            "# Every key is required; formulas and ranges: "
            "schemas/churn-model.md.\n"
            "# Model version, copied into every alert.\n"
            "version = %s\n",
            m->version);
    for (size_t i = 1; i < SCALAR_CNT; i++) {
        const char *c = scalar_comment(scalar_keys[i].name);

        if (c)
            fprintf(out, "\n# %s\n", c);
        fprintf(out, "%s = %.10g\n", scalar_keys[i].name,
                *(const double *)(const void *)((const char *)m +
                                                scalar_keys[i].off));
    }
    fprintf(out, "\n# Factors: score = sigma(bias + sum weight * x), x = "
                 "clip(transform(raw));\n# reasons = top 3 of weight * "
                 "(x - ref) > 0.\n");
    for (int f = 0; f < CP_CF_CNT; f++) {
        const struct cp_churn_factor_param *fp = &m->f[f];
        const char *n = cp__churn_factor_names[f];

        fprintf(out, "\n# %s: %s\n", n, factor_comment[f]);
        fprintf(out, "weight.%s = %.10g\n", n, fp->weight);
        fprintf(out, "ref.%s = %.10g\n", n, fp->ref);
        fprintf(out, "transform.%s = %s\n", n,
                fp->transform == CP_TR_LOG1P   ? "log1p"
                : fp->transform == CP_TR_LOGIT ? "logit"
                                               : "none");
        fprintf(out, "clip.%s = %.10g %.10g\n", n, fp->lo, fp->hi);
    }
    fprintf(out, "\n# Evidence of change: weight (log-likelihood ratio per "
                 "unit), the largest\n# value counted, and the action a "
                 "manager is told (the reason's detail follows).\n");
    for (int e = 0; e < CP_E_CNT; e++) {
        const char *n = cp__churn_evidence_names[e];

        fprintf(out, "evidence.weight.%s = %.10g\n", n, m->ev_weight[e]);
        fprintf(out, "evidence.clip.%s = %.10g\n", n, m->ev_clip[e]);
        fprintf(out, "action.%s = %s\n", n, m->action[e]);
    }
    fprintf(out, "\n# First-response SLA per channel in minutes (none = no "
                 "channel); 0 = no SLA.\n");
    for (int c = 0; c < 8; c++)
        fprintf(out, "sla.%s_minutes = %.10g\n", sla_name(c),
                (double)m->sla_ms[c] / MS_PER_MIN);
    return ferror(out) ? CP_EIO : CP_OK;
}
