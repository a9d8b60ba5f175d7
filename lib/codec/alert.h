/* SPDX-License-Identifier: Apache-2.0 */
/* crm.v1.Alert as a passive struct, and its JSON form: the object pushed to
 * crm:{T}:alerts:recent and published on the crm:{T}:alerts channel, with
 * the Avro record's field names and order. The Avro encoding (topic
 * crm.alerts) is in codec.h. No avro-c here. */
#ifndef CP_ALERT_H
#define CP_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "common.h"

/* Values follow the Avro symbol order of crm.v1.AlertKind; the codec maps
 * them by symbol name all the same. */
enum cp_alert_kind {
    CP_ALERT_CHURN_RISK = 0,
    CP_ALERT_RESPONSE_SLA_BREACH = 1,
};
#define CP_ALERT_KIND_CNT 2

/* Avro symbol order of crm.v1.AlertLevel. */
enum cp_alert_level {
    CP_ALERT_HIGH = 0,
    CP_ALERT_CRITICAL = 1,
};
#define CP_ALERT_LEVEL_CNT 2

/** Passive: one factor behind a score. */
struct cp_alert_reason {
    const char *factor;  /* borrowed, NUL-terminated, e.g. "overdue_purchase" */
    double contribution; /* its share of the score */
    const char *detail;  /* borrowed, NUL-terminated, human-readable */
};

/** Passive: one alert. A NULL required string is written as "". */
struct cp_alert {
    const char *alert_id;      /* borrowed; deterministic (cp_churn_alert_id) */
    enum cp_alert_kind kind;   /* churn risk or a response SLA breach */
    const char *tenant_id;     /* borrowed */
    const char *customer_id;   /* borrowed */
    const char *manager_id;    /* borrowed; NULL: null */
    enum cp_alert_level level; /* the level reached */
    double risk_score;         /* 0..1 */
    double previous_score;     /* the score before this alert */
    const struct cp_alert_reason *reasons; /* borrowed array of reason_cnt */
    size_t reason_cnt;                     /* entries in reasons */
    const char *triggered_by;  /* borrowed event_id; NULL: null (a timer) */
    int64_t event_time;        /* ms since epoch */
    int64_t emitted_at;        /* ms since epoch */
    const char *model_version; /* borrowed */
    /* Version 2 (schema id 4); decoding version 1 gives the defaults. */
    const char *action;          /* borrowed; NULL or "": no action */
    int64_t value_minor;         /* recent monthly spend, minor units */
    int64_t value_at_risk_minor; /* risk_score x value_minor */
};

/**
 * @brief The Avro symbol of @p kind ("CHURN_RISK"), or NULL if out of range.
 * Ownership: a static string.
 */
const char *cp_alert_kind_symbol(enum cp_alert_kind kind);

/**
 * @brief The Avro symbol of @p level ("HIGH"), or NULL if out of range.
 * Ownership: a static string.
 */
const char *cp_alert_level_symbol(enum cp_alert_level level);

/**
 * @brief Appends @p a as one JSON object (no NUL, no newline) to @p out:
 *        the Avro record's fields in its order, kind and level as their
 *        symbols, null as null, reasons as
 *        [{"factor":..,"contribution":..,"detail":..}], times as integer
 *        ms, doubles with up to 10 significant digits (a non-finite double
 *        is written as null: JSON has no NaN or inf). Strings are escaped:
 *        '"' and '\\' with a backslash, control characters as \u00XX,
 *        valid UTF-8 passes through, and each byte of an invalid UTF-8
 *        sequence becomes \ufffd, so the result is always valid JSON.
 * @returns CP_OK; CP_ENOMEM (past the buffer's cap) or CP_EDECODE (kind or
 *          level out of range, reasons NULL with a count) with @p out left
 *          as it was.
 * Ownership: borrows @p a; @p out is the caller's.
 */
cp_rc cp_alert_json(const struct cp_alert *a, struct cp_buf *out);

#endif
