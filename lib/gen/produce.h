/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-gen as a library: its command-line options and a run that
 * produces the generator's stream (gen.h) to Kafka and/or a dump file, a
 * labelled churn cohort with its CSV files, or a user's JSON-lines history
 * (--replay, replay.h). The formats of --out, --labels
 * and --events-csv are described at the top of produce.c and in --help. */
#ifndef CP_PRODUCE_H
#define CP_PRODUCE_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "gen.h"

/** The options of crmpulse-gen. Plain data: cp_gen_opts_init(), then
 *  cp_gen_opts_parse(); free with cp_gen_opts_cleanup(). */
struct cp_gen_opts {
    const char *bootstrap; /* borrowed from argv; NULL: from settings */
    const char *topic;     /* borrowed from argv; NULL: from settings */
    const char *out_path;  /* borrowed from argv; --out dump file */
    const char *registry;  /* borrowed from argv; --schema-registry URL */
    uint64_t events;       /* valid events (cohort: a cap if events_set) */
    uint64_t customers;    /* over all tenants */
    int tenants;           /* 3, or 1 with --churn-cohort */
    uint64_t seed;         /* same seed, same events */
    int64_t rate;          /* events/s, 0: as fast as possible */
    int64_t invalid_pm;    /* malformed messages per 1000 valid events */
    int64_t start_ms;      /* event time of the first event */
    int start_set;         /* start_ms given */
    int64_t step_ms;       /* event-time advance per event */
    int step_set;          /* step_ms given */
    int raw;               /* raw Avro framing */
    int dry_run;           /* no Kafka: files only */
    int quiet;             /* no progress lines */
    int events_set;        /* -n given */
    int tenants_set;       /* --tenants given */
    /* --churn-cohort */
    int cohort;                          /* a labelled cohort history */
    int64_t days;                        /* its length; 0: 365 */
    int64_t end_ms;                      /* its end */
    int end_set;                         /* end_ms given; else now */
    const char *labels_path;             /* borrowed from argv */
    const char *csv_path;                /* borrowed from argv */
    const char *mix;                     /* borrowed from argv */
    unsigned mix_shares[CP_PROFILE_CNT]; /* --mix parsed; all 0: default */
    const char *noise;                   /* borrowed from argv; "on"/"off" */
    /* --replay */
    const char *replay_path; /* borrowed from argv; a JSON-lines history */
    /* settings */
    const char **xargv; /* owned array of borrowed -X arguments */
    int xargc;
};

/** @brief The defaults of --help (100000 events, 10000 customers, 3
 *         tenants, seed 1). */
void cp_gen_opts_init(struct cp_gen_opts *o);
/** @brief Frees what @p o owns. */
void cp_gen_opts_cleanup(struct cp_gen_opts *o);
/**
 * @brief Parses argv[1..argc) into @p o and checks that the options of one
 *        mode are not given in the other; -X arguments are kept for
 *        cp_gen_config_load().
 * @returns 0, 1 for --help, or -1 with the reason in @p errstr.
 * Ownership: @p o borrows from @p argv.
 */
int cp_gen_opts_parse(struct cp_gen_opts *o, int argc, char **argv,
                      char *errstr, size_t errstr_size);
/**
 * @brief The settings: CRMPULSE_* variables, then -b/-t/--raw as settings,
 *        then the -X arguments (an explicit -X wins).
 * @returns the settings, or NULL with errstr.
 * Ownership: caller owns the result; free with cp_config_destroy().
 */
struct cp_config *cp_gen_config_load(const struct cp_gen_opts *o,
                                     const char *argv0, char *errstr,
                                     size_t errstr_size);
/** @brief --help. */
void cp_gen_usage(FILE *out);

/**
 * @brief Appends one record of the --out dump format (top of produce.c):
 *        @p invalid 1 for a deliberately malformed message, @p key NULL
 *        for a null key. For every writer of such dumps (e.g. scripted
 *        streams in tests).
 * @returns 0, or -1 on a write error (errno set).
 */
int cp_gen_dump_write(FILE *f, int invalid, const void *key, size_t key_len,
                      const void *value, size_t value_len);

struct cp_gen_run;

/**
 * @brief Checks the outputs, builds the generator or cohort (writing the
 *        labels file), opens the dump file and the producer. Messages go
 *        to @p msgs, prefixed "crmpulse-gen: ".
 * @returns the run, or NULL with *status 1 (failure) or 2 (bad usage).
 * Ownership: caller frees with cp_gen_run_destroy(); @p o, @p cfg and
 *            @p msgs are borrowed and must outlive the run.
 */
struct cp_gen_run *cp_gen_run_new(struct cp_gen_opts *o,
                                  const struct cp_config *cfg, FILE *msgs,
                                  int *status);
/**
 * @brief Produces everything (paced by --rate), closes the files and waits
 *        until Kafka acknowledged every message; stops early once *@p stop
 *        is set.
 * @returns 0 when everything was written and acknowledged, 1 otherwise
 *          (interrupted included).
 */
int cp_gen_run_produce(struct cp_gen_run *rn, volatile sig_atomic_t *stop);
/** @brief Frees @p rn; accepts NULL. */
void cp_gen_run_destroy(struct cp_gen_run *rn);

#endif
