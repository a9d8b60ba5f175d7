/* SPDX-License-Identifier: Apache-2.0 */
/* Fitting the churn model from a labelled history: BG/NBD population
 * parameters by maximum likelihood, logistic weights by L2-regularised
 * regression, level thresholds from precision targets; or judging a model
 * by its ROC AUC. crmpulse-fit is a thin command line around this. */
#ifndef CP_FIT_H
#define CP_FIT_H

#include <stdint.h>
#include <stdio.h>

#include "churn.h"
#include "common.h"

/** What to fit and how. Plain data: start with cp_fit_opts_init(). */
struct cp_fit_opts {
    const char *events;   /* borrowed; CSV tenant_id,customer_id,
                             occurred_at_ms,obs,value (header optional) */
    const char *labels;   /* borrowed; CSV [tenant_id,]customer_id,churned */
    const char *base;     /* borrowed; model to start from, NULL: built-in */
    const char *out;      /* borrowed; model file to write, "-": stdout;
                             unused with evaluate */
    const char *version;  /* borrowed; NULL: fit-<cutoff> */
    const char *evaluate; /* borrowed; fit nothing, report the AUC of it */
    const char *note;     /* borrowed; a line for the model's header */
    int64_t cutoff;       /* features use events before this (ms) */
    double holdout;       /* fraction held out for the AUC report (0, 1) */
    double l2;            /* L2 penalty on standardised weights, >= 0 */
    double prec_high;     /* precision target of level.high; 0: keep */
    double prec_crit;     /* the same for level.critical */
    int orders_only;      /* use order observations only */
    int keep_bgnbd;       /* keep the base model's BG/NBD parameters */
    int quiet;            /* no report (an evaluation is still printed) */
    double ev_horizon;    /* > 0: fit the evidence weights of the alert
                             instead, labels with churn_start_ms: a sample
                             is positive within this many days of the
                             churn start (days) */
    double ev_step;       /* days between evidence samples (> 0) */
    double ev_precision;  /* target precision of the alerts on the
                             training history, for level.high */
};

/**
 * @brief Parses a whole number of milliseconds as the input files write
 *        them (strtoll, nothing after the digits).
 * @returns 0, or -1 when @p s is empty, not a number or out of range.
 */
int cp_fit_parse_ms(const char *s, int64_t *out);

/** @brief crmpulse-fit's --help. */
void cp_fit_usage(FILE *out);

/**
 * @brief One of crmpulse-fit's own arguments at @p rest[0] (of @p cnt left):
 *        the settings (-c, -X), --help and --version are the shared command
 *        line's. --cutoff takes the forms of crmpulse-score --as-of.
 * @returns how many arguments it took (1 or 2); 0 when rest[0] is not one
 *          of them or its value is missing; -1 when the value is bad (the
 *          message, naming the option, in @p errstr).
 */
int cp_fit_arg(struct cp_fit_opts *o, const char **rest, int cnt, char *errstr,
               size_t errstr_size);

/** @brief The defaults: holdout 0.3, l2 1, precisions 0 (keep), no
 *         cutoff (INT64_MIN), every pointer NULL. */
void cp_fit_opts_init(struct cp_fit_opts *o);

/**
 * @brief Reads the history, fits (or evaluates) and writes the model,
 *        reporting progress and held-out AUCs to @p report.
 * @returns CP_OK; CP_EIO (a file cannot be read or written), CP_EDECODE (a
 *          bad input row, "<file>:<line>: ..."), CP_ECONFIG (a bad base
 *          model or version, too few labelled customers) or CP_ENOMEM,
 *          each with @p errstr.
 * Ownership: @p o and its strings are only read during the call.
 */
cp_rc cp_fit_run(const struct cp_fit_opts *o, FILE *report, char *errstr,
                 size_t errstr_size);

#endif
