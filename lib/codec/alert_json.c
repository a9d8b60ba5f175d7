/* SPDX-License-Identifier: Apache-2.0 */
/* crm.v1.Alert as JSON for the Redis alert list and channel, which
 * wallboards parse with strict JSON parsers: whatever the strings hold, the
 * output must parse, so bad UTF-8 and control characters are escaped here
 * rather than trusted to upstream. */
#include "alert.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *const kind_symbols[CP_ALERT_KIND_CNT] = {
    "CHURN_RISK",
    "RESPONSE_SLA_BREACH",
};

static const char *const level_symbols[CP_ALERT_LEVEL_CNT] = {
    "HIGH",
    "CRITICAL",
};

const char *cp_alert_kind_symbol(enum cp_alert_kind kind)
{
    if ((int)kind < 0 || (int)kind >= CP_ALERT_KIND_CNT)
        return NULL;
    return kind_symbols[kind];
}

const char *cp_alert_level_symbol(enum cp_alert_level level)
{
    if ((int)level < 0 || (int)level >= CP_ALERT_LEVEL_CNT)
        return NULL;
    return level_symbols[level];
}

/* Length of the valid UTF-8 sequence at s[0..len), or 0 if it is not one
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* bounds of the second byte */

    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* past U+10FFFF */
    } else
        return 0;
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

/* Appends "s" escaped; NULL is written as "". Runs of bytes that need no
 * escape are copied in one append. */
static cp_rc put_string(struct cp_buf *out, const char *str)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    size_t len = strlen((const char *)s);
    size_t run = 0; /* start of the pending run */
    size_t i = 0;

    if (cp_buf_reserve(out, len + 2))
        return CP_ENOMEM;
    out->data[out->len++] = '"';
    while (i < len) {
        char esc[6];
        size_t esc_len = 0, n = 1;
        unsigned char c = s[i];

        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            esc_len = 2;
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xf];
            esc_len = 6;
        } else if (c >= 0x80) {
            n = utf8_seq(s + i, len - i);
            if (n == 0) {
                memcpy(esc, "\\ufffd", 6);
                esc_len = 6;
                n = 1;
            }
        }
        if (esc_len) {
            if (cp_buf_append(out, s + run, i - run) ||
                cp_buf_append(out, esc, esc_len))
                return CP_ENOMEM;
            run = i + n;
        }
        i += n;
    }
    if (cp_buf_append(out, s + run, len - run) || cp_buf_append(out, "\"", 1))
        return CP_ENOMEM;
    return CP_OK;
}

/* %.10g: enough for scores, and short. JSON has no NaN or inf: null. */
static cp_rc put_double(struct cp_buf *out, double d)
{
    char num[40];
    int n;

    if (!isfinite(d))
        return cp_buf_append(out, "null", 4);
    n = snprintf(num, sizeof(num), "%.10g", d);
    if (n < 0 || (size_t)n >= sizeof(num))
        return CP_ENOMEM;
    /* A program that set LC_NUMERIC would get a decimal comma. */
    for (int i = 0; i < n; i++)
        if (num[i] == ',')
            num[i] = '.';
    return cp_buf_append(out, num, (size_t)n);
}

static cp_rc put_long(struct cp_buf *out, int64_t x)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%" PRId64, x);

    return cp_buf_append(out, num, (size_t)n);
}

static cp_rc put_lit(struct cp_buf *out, const char *lit)
{
    return cp_buf_append(out, lit, strlen(lit));
}

/* Appends ,"key": (no comma before the first key). */
static cp_rc put_key(struct cp_buf *out, const char *key, bool first)
{
    cp_rc rc = first ? CP_OK : put_lit(out, ",");

    if (!rc)
        rc = put_string(out, key);
    if (!rc)
        rc = put_lit(out, ":");
    return rc;
}

static cp_rc put_nullable(struct cp_buf *out, const char *str)
{
    return str ? put_string(out, str) : put_lit(out, "null");
}

static cp_rc put_reasons(struct cp_buf *out, const struct cp_alert *a)
{
    cp_rc rc = put_lit(out, "[");

    for (size_t i = 0; !rc && i < a->reason_cnt; i++) {
        const struct cp_alert_reason *r = &a->reasons[i];

        rc = put_lit(out, i ? ",{" : "{");
        if (!rc)
            rc = put_key(out, "factor", true);
        if (!rc)
            rc = put_string(out, r->factor);
        if (!rc)
            rc = put_key(out, "contribution", false);
        if (!rc)
            rc = put_double(out, r->contribution);
        if (!rc)
            rc = put_key(out, "detail", false);
        if (!rc)
            rc = put_string(out, r->detail);
        if (!rc)
            rc = put_lit(out, "}");
    }
    if (!rc)
        rc = put_lit(out, "]");
    return rc;
}

cp_rc cp_alert_json(const struct cp_alert *a, struct cp_buf *out)
{
    const char *kind = cp_alert_kind_symbol(a->kind);
    const char *level = cp_alert_level_symbol(a->level);
    size_t start = out->len;
    cp_rc rc;

    if (!kind || !level || (a->reason_cnt && !a->reasons))
        return CP_EDECODE;
    rc = put_lit(out, "{");
    if (!rc)
        rc = put_key(out, "alert_id", true);
    if (!rc)
        rc = put_string(out, a->alert_id);
    if (!rc)
        rc = put_key(out, "kind", false);
    if (!rc)
        rc = put_string(out, kind);
    if (!rc)
        rc = put_key(out, "tenant_id", false);
    if (!rc)
        rc = put_string(out, a->tenant_id);
    if (!rc)
        rc = put_key(out, "customer_id", false);
    if (!rc)
        rc = put_string(out, a->customer_id);
    if (!rc)
        rc = put_key(out, "manager_id", false);
    if (!rc)
        rc = put_nullable(out, a->manager_id);
    if (!rc)
        rc = put_key(out, "level", false);
    if (!rc)
        rc = put_string(out, level);
    if (!rc)
        rc = put_key(out, "risk_score", false);
    if (!rc)
        rc = put_double(out, a->risk_score);
    if (!rc)
        rc = put_key(out, "previous_score", false);
    if (!rc)
        rc = put_double(out, a->previous_score);
    if (!rc)
        rc = put_key(out, "reasons", false);
    if (!rc)
        rc = put_reasons(out, a);
    if (!rc)
        rc = put_key(out, "triggered_by", false);
    if (!rc)
        rc = put_nullable(out, a->triggered_by);
    if (!rc)
        rc = put_key(out, "event_time", false);
    if (!rc)
        rc = put_long(out, a->event_time);
    if (!rc)
        rc = put_key(out, "emitted_at", false);
    if (!rc)
        rc = put_long(out, a->emitted_at);
    if (!rc)
        rc = put_key(out, "model_version", false);
    if (!rc)
        rc = put_string(out, a->model_version);
    if (!rc)
        rc = put_key(out, "action", false);
    if (!rc)
        rc = put_string(out, a->action);
    if (!rc)
        rc = put_key(out, "value_minor", false);
    if (!rc)
        rc = put_long(out, a->value_minor);
    if (!rc)
        rc = put_key(out, "value_at_risk_minor", false);
    if (!rc)
        rc = put_long(out, a->value_at_risk_minor);
    if (!rc)
        rc = put_lit(out, "}");
    if (rc)
        out->len = start; /* no half object */
    return rc;
}
