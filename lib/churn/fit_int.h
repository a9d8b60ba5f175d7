/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by crmpulse-fit's files: fit.c (the score's fit, the
 * options, the run) and fit_evidence.c (the alert's evidence weights from
 * labelled episodes). Not part of the public API. */
#ifndef CP_FIT_INT_H
#define CP_FIT_INT_H

#include <stdint.h>
#include <stdio.h>

#include "churn_int.h"
#include "fit.h"
#include "map.h"

#define MS_PER_DAY 86400000.0
#define NF         CP_CF_CNT

struct cust {
    char *id;
    struct cp_churn_state st;
    int label;     /* 1 churned, 0 stayed, -1 unlabelled */
    int holdout;   /* in the held-out split */
    int64_t start; /* evidence fit: churn start (ms), INT64_MAX: none */
};

struct data {
    struct cust *c;
    size_t cnt, cap;
    struct cp_map idx; /* tenant US customer -> index + 1 */
    char *tenant;      /* the first tenant of the events (owned) */
    int tenants;       /* 0, 1 or 2 (= more than one) */
};

/* Customers are keyed by tenant and id: the same id in two tenants is two
 * customers. The separator is a byte no id contains. */
#define KEY_SEP '\x1f'
#define KEY_MAX 1024

cp_rc cp__fit_nomem(char *errstr, size_t errstr_size);
struct cust *cp__fit_cust_get(struct data *d, const char *tenant,
                              const char *customer);
int cp__fit_split(char *line, char **f, int max);
/* A reader of the events CSV (tenant_id, customer_id, occurred_at_ms,
 * observation, value), for both fits. */
struct cp__fit_events {
    FILE *fp;
    const char *path; /* borrowed */
    long lineno;
    cp_rc err; /* why the last cp__fit_events_next() returned -1 */
    char line[4096];
};
/** @brief Opens @p path; CP_EIO with the file and the reason in errstr. */
cp_rc cp__fit_events_open(struct cp__fit_events *ev, const char *path,
                          char *errstr, size_t errstr_size);
/**
 * @brief The next row into @p f, @p at, @p obs and @p value; the header and
 *        empty lines are skipped.
 * @returns 1, 0 at the end, or -1 with ev->err CP_EDECODE (a bad row, file
 *          and line in errstr) or CP_EIO (a read error).
 */
int cp__fit_events_next(struct cp__fit_events *ev, char *f[6], int64_t *at,
                        int *obs, int64_t *value, char *errstr,
                        size_t errstr_size);
void cp__fit_events_close(struct cp__fit_events *ev);
int cp__fit_solve(double *A, double *b, int n);
cp_rc cp__fit_write_model(const struct cp_churn_model *m,
                          const struct cp_fit_opts *o, size_t n, char *errstr,
                          size_t errstr_size);
cp_rc cp__fit_ev_run(struct cp_churn_model *m, const struct cp_fit_opts *o,
                     FILE *rep, char *errstr, size_t errstr_size);

#endif
