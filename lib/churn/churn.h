/* SPDX-License-Identifier: Apache-2.0 */
/* Churn-risk model: per-customer features in event time, a logistic score
 * with its top reasons, alert levels with hysteresis and cooldown, and the
 * silence timer. Pure computation: no I/O except reading the model file, and
 * no knowledge of events (the caller maps events to observations). The
 * model, every factor and the file format are specified in
 * schemas/churn-model.md. */
#ifndef CP_CHURN_H
#define CP_CHURN_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

/** A loaded model: opaque, immutable after load, shareable by threads. */
struct cp_churn_model;

/**
 * @brief Reads and validates a model file.
 * @returns a model the caller owns (cp_churn_model_destroy()), or NULL with
 *          a message in @p errstr naming the file and line ("model.conf:12:
 *          weight.order_silence: expected a number, got 'abc' (fix: ...)").
 */
struct cp_churn_model *cp_churn_model_load(const char *path, char *errstr,
                                           size_t errstr_size);

/**
 * @brief Parses model text (@p len bytes, need not be NUL-terminated).
 *        @p name is used in error messages only. Unknown, duplicate, missing
 *        and out-of-range keys are rejected.
 * @returns a model the caller owns, or NULL with a message in @p errstr.
 */
struct cp_churn_model *cp_churn_model_parse(const char *text, size_t len,
                                            const char *name, char *errstr,
                                            size_t errstr_size);

/**
 * @brief The shipped default model (deploy/model.conf, compiled in).
 * @returns a model the caller owns, or NULL when out of memory.
 */
struct cp_churn_model *cp_churn_model_default(void);

/** @brief Frees @p m; NULL is a no-op. */
void cp_churn_model_destroy(struct cp_churn_model *m);

/** @brief The model's `version` string (owned by @p m). */
const char *cp_churn_model_version(const struct cp_churn_model *m);

/**
 * @brief First-response SLA of a channel in ms: @p channel 0..6 = PHONE
 *        EMAIL CHAT MESSENGER WEB SOCIAL IN_PERSON, -1 = no channel.
 * @returns the SLA, or 0 when the channel has no SLA (or is out of range).
 */
int64_t cp_churn_model_sla_ms(const struct cp_churn_model *m, int channel);

/** @brief Level thresholds of the model (score >= threshold). */
double cp_churn_model_threshold(const struct cp_churn_model *m, int level);

/*
 * Per-customer state: a fixed-size POD the caller embeds in its own cache
 * entries and persists with cp_churn_state_pack(). Only churn.c writes it;
 * callers may read the fields. Decayed sums are forward-decayed: each stores
 * sum_i 2^((t_i - landmark_ms) / halflife) for its half-life, so the value
 * at time t is the stored sum times 2^(-(t - landmark_ms) / halflife),
 * whatever the order the observations arrived in. Times are event-time ms
 * since the epoch; INT64_MIN means "never".
 */
struct cp_churn_state {
    int64_t landmark_ms;    /* forward-decay landmark; INT64_MIN: no sums */
    int64_t first_seen_ms;  /* earliest observation of any kind */
    int64_t last_seen_ms;   /* latest observation of any kind */
    int64_t first_order_ms; /* earliest order */
    int64_t last_order_ms;  /* latest order */
    int64_t open_sum_ms;    /* sum of opened_at of the open tickets */
    int64_t last_alert_ms;  /* time of the last alert (cooldown) */
    int64_t last_cancel_ms; /* latest subscription cancellation */
    int64_t last_start_ms;  /* latest subscription started (not a renewal);
                               packed from version 2 */
    int64_t wait_since_ms;  /* oldest inbound message not answered yet
                               (INT64_MIN: none); packed from version 2 */
    uint32_t orders;        /* orders seen, all time */
    uint32_t order_days;    /* purchase occasions: orders on a UTC day other
                               than the latest order's (BG/NBD, intervals) */
    uint32_t nps_at_s;      /* last NPS answer, s since the epoch; 0: none */
    uint32_t csat_at_s;     /* last CSAT answer, s since the epoch; 0: none */
    uint32_t ces_at_s;      /* last CES answer, s since the epoch; 0: none */
    float ord_short;        /* orders, short half-life */
    float ord_long;         /* orders, long half-life */
    float amt_long;         /* order amount (major units), long half-life */
    float tickets;          /* tickets opened, signal half-life */
    float wait_h;           /* first-response waits in hours, signal hl. */
    float waits;            /* first-response waits counted, signal hl. */
    float missed;           /* missed inbound calls, signal half-life */
    float lost;             /* deals lost, signal half-life */
    float won;              /* deals won, signal half-life */
    float cancels;          /* subscriptions cancelled, signal half-life */
    float mrr_lost;         /* MRR cancelled (major units), signal hl. */
    float renewals;         /* subscriptions started/renewed, long hl. */
    float eng_short;        /* web visits + messages in, signal half-life */
    float eng_long;         /* web visits + messages in, long half-life */
    float last_score;       /* score seen by the last cp_churn_decide() */
    uint16_t open_tickets;  /* tickets open now */
    int8_t last_nps;        /* 0..10, -1: none */
    int8_t last_csat;       /* 1..5, -1: none */
    int8_t last_ces;        /* 1..7 (7 = most effort), -1: none */
    uint8_t alert_level;    /* enum cp_churn_level latched by alerts */
    uint8_t last_alert_lvl; /* level of the last alert (cooldown) */
    uint8_t reserved;       /* zero */
};

/** @brief Empty state: no observations, nothing alerted. */
void cp_churn_state_init(struct cp_churn_state *st);

/** Bytes cp_churn_state_pack() writes (format version 2; version 1, still
 *  read, is CP_CHURN_PACKED_V1 bytes). */
#define CP_CHURN_PACKED_MAX 168
#define CP_CHURN_PACKED_V1  152

/**
 * @brief Writes @p st as versioned little-endian bytes (a version byte
 *        first), independent of the host's struct layout.
 * @returns bytes written, or 0 when @p cap < CP_CHURN_PACKED_MAX.
 */
size_t cp_churn_state_pack(const struct cp_churn_state *st, uint8_t *buf,
                           size_t cap);

/**
 * @brief Reads bytes written by cp_churn_state_pack().
 * @returns CP_OK, or CP_EDECODE (and @p st initialised empty) for a wrong
 *          version or length or an implausible value.
 */
cp_rc cp_churn_state_unpack(struct cp_churn_state *st, const uint8_t *buf,
                            size_t len);

/** What happened to the customer, in event time. */
enum cp_churn_obs {
    CP_OBS_ACTIVITY,        /* any valid event of the customer (last seen) */
    CP_OBS_ORDER,           /* value = amount_minor */
    CP_OBS_TICKET_OPENED,   /* a ticket that was not open opened */
    CP_OBS_TICKET_RESOLVED, /* value = opened_at ms of the ticket closed */
    CP_OBS_NPS,             /* value = score 0..10 */
    CP_OBS_CSAT,            /* value = score 1..5 */
    CP_OBS_CES,             /* value = score 1..7 */
    CP_OBS_RESPONSE,        /* the customer waited value ms for a reply */
    CP_OBS_CALL_MISSED,     /* inbound call not answered */
    CP_OBS_DEAL_WON,
    CP_OBS_DEAL_LOST,
    CP_OBS_SUB_STARTED,
    CP_OBS_SUB_RENEWED,
    CP_OBS_SUB_CANCELLED, /* value = mrr_minor */
    CP_OBS_WEB_VISIT,
    CP_OBS_MESSAGE_IN,
    CP_OBS_CNT
};

/** @brief Lower-case name of an observation ("ticket_opened"), or NULL. */
const char *cp_churn_obs_name(enum cp_churn_obs obs);
/** @brief Observation from its name; -1 when unknown. */
int cp_churn_obs_parse(const char *name);

/**
 * @brief Folds one observation into @p st. Observations may arrive out of
 *        event-time order: decayed sums give the same result in any order
 *        and "last X" fields keep the latest event time. Any input is safe
 *        (values are clamped; nothing becomes NaN or infinite).
 */
void cp_churn_observe(struct cp_churn_state *st, const struct cp_churn_model *m,
                      enum cp_churn_obs obs, int64_t at_ms, int64_t value);

/** One explained contribution to a score. */
struct cp_churn_reason {
    char factor[32];     /* factor name, e.g. "order_silence" */
    double contribution; /* w_i * (x_i - ref_i), > 0 */
    char detail[160];    /* a sentence for a manager */
};

enum cp_churn_level {
    CP_LEVEL_NONE = 0,
    CP_LEVEL_HIGH = 1,
    CP_LEVEL_CRITICAL = 2
};

/** @brief "none", "high" or "critical". */
const char *cp_churn_level_name(enum cp_churn_level level);

/* Bounds of the probability shown and stored: a model never knows a
 * customer will (or will not) churn for certain. */
#define CP_CHURN_P_MIN 0.01
#define CP_CHURN_P_MAX 0.99

struct cp_churn_score {
    double score;              /* P(churn within the horizon), calibrated,
                                  clamped to [CP_CHURN_P_MIN, _MAX] */
    double evidence;           /* P(a churn episode | evidence of change):
                                  sigma(ev_bias + sum w_e x_e), 0..1 */
    enum cp_churn_level level; /* of evidence, by thresholds only (no
                                  hysteresis): what the alert rule uses */
    int reason_cnt;            /* 0..3 */
    struct cp_churn_reason reasons[3]; /* evidence of change first, then
                                          factors of the score; descending */
    char action[160];    /* what to do about the first evidence, e.g. "call
                            today: NPS 3 on 2026-11-20"; "" without evidence */
    int64_t value_minor; /* recent monthly spend, minor units */
    int64_t value_at_risk_minor; /* score x value_minor, rounded */
};

/**
 * @brief Scores @p st as of event time @p now_ms (decayed to that instant).
 *        Pure and deterministic. Exact for @p now_ms at or after the
 *        customer's latest observation; for earlier instants the later
 *        observations are not subtracted.
 */
void cp_churn_evaluate(const struct cp_churn_model *m,
                       const struct cp_churn_state *st, int64_t now_ms,
                       struct cp_churn_score *out);

/**
 * @brief cp_churn_evaluate()'s score and level alone, without the reasons
 *        (whose sentences cost more than the score): the same arithmetic,
 *        so the same bits. For callers that only decide.
 */
void cp_churn_score_at(const struct cp_churn_model *m,
                       const struct cp_churn_state *st, int64_t now_ms,
                       struct cp_churn_score *out);

/**
 * @brief The alert rule, on the evidence of change (sc->evidence), never
 *        on the probability: returns the level to alert when the level rises
 *        above the latched one (none->HIGH, none->CRITICAL, HIGH->CRITICAL),
 *        else CP_LEVEL_NONE. A latched level is released once the score
 *        falls below its threshold minus the hysteresis; a level not above
 *        the last alert's level alerts again only after the cooldown (event
 *        time) since that alert. Records the latch, the last alert and the
 *        score in @p st: read st->last_score before the call for an alert's
 *        previous score.
 */
enum cp_churn_level cp_churn_decide(const struct cp_churn_model *m,
                                    struct cp_churn_state *st,
                                    const struct cp_churn_score *sc,
                                    int64_t now_ms);

/**
 * @brief The event time (> @p now_ms) at which, with no new observation,
 *        cp_churn_decide() would next alert or release a latch (end an
 *        episode; a latch moving up within one is not a due time), to one
 *        minute; INT64_MAX when silence changes nothing within three years.
 *        Assumes cp_churn_decide() ran at @p now_ms. Deterministic.
 */
int64_t cp_churn_next_due(const struct cp_churn_model *m,
                          const struct cp_churn_state *st, int64_t now_ms);

/**
 * @brief cp_churn_next_due() when it is at most @p limit_ms (the same
 *        value, bit for bit), else INT64_MAX; searches only as far as that
 *        takes, so a check before a customer's next event costs little.
 *        The evidence is not monotone along a silence (a cancellation
 *        counts from the end of its grace, a waiting message's weight rises
 *        and fades): whether something is due by a time cannot be read
 *        from the evidence at that time alone.
 */
int64_t cp_churn_next_due_by(const struct cp_churn_model *m,
                             const struct cp_churn_state *st, int64_t now_ms,
                             int64_t limit_ms);

/** Buffer size that always holds cp_churn_reasons_json()'s output. */
#define CP_CHURN_REASONS_JSON_MAX 4096

/**
 * @brief Writes the reasons as a JSON array
 *        [{"factor":"...","contribution":0.4200,"detail":"..."}], escaped,
 *        NUL-terminated.
 * @returns the length of the full JSON (like snprintf): a value >= @p cap
 *          means it did not fit and @p buf holds "[]" (when cap >= 3).
 */
size_t cp_churn_reasons_json(const struct cp_churn_score *sc, char *buf,
                             size_t cap);

/**
 * @brief Deterministic alert id: 32 lower-case hex chars + NUL in @p out
 *        (two independent 64-bit FNV-1a lanes over the length-prefixed
 *        fields). @p kind e.g. "CHURN_RISK"; @p trigger the event_id, or
 *        the timer's due time or conversation + wait start as text.
 */
void cp_churn_alert_id(const char *tenant, const char *customer,
                       const char *kind, enum cp_churn_level level,
                       const char *trigger, char out[33]);

#endif
