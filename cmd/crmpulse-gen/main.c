/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-gen: produces synthetic CRM events as Avro to Kafka, optionally
 * interleaved with malformed messages, for load tests, demos and
 * end-to-end checks; or, with --churn-cohort, a labelled history of
 * customers who stay or churn, with their labels and the churn model's
 * observations as CSV (produce.h does the work). argv -> options ->
 * settings -> run -> exit code: 0 only if every message was acknowledged
 * (or written, with --dry-run), 1 otherwise, 2 for bad usage. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "produce.h"

#define PROG "crmpulse-gen"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

int main(int argc, char **argv)
{
    struct cp_gen_opts o;
    struct cp_config *cfg = NULL;
    struct cp_gen_run *rn = NULL;
    struct sigaction sa;
    char errstr[1024];
    int r, status = 2;

    cp_gen_opts_init(&o);
    r = cp_gen_opts_parse(&o, argc, argv, errstr, sizeof(errstr));
    if (r) {
        if (r > 0)
            cp_gen_usage(stdout);
        else
            fprintf(stderr, PROG ": %s\n", errstr);
        status = r > 0 ? 0 : 2;
        goto out;
    }
    cfg = cp_gen_config_load(&o, argv[0], errstr, sizeof(errstr));
    if (!cfg) {
        fprintf(stderr, PROG ": %s\n", errstr);
        goto out;
    }
    rn = cp_gen_run_new(&o, cfg, stderr, &status);
    if (!rn)
        goto out;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    status = cp_gen_run_produce(rn, &stop_requested);

out:
    cp_gen_run_destroy(rn);
    cp_config_destroy(cfg);
    cp_gen_opts_cleanup(&o);
    return status;
}
