/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-fit: fits the churn model's parameters from a labelled history
 * and writes a model file (fit.h does the work). Command line (the shared
 * settings, --help, --version, then cp_fit_arg()) -> cp_fit_run() -> exit
 * code: 0 done, 1 failed, 2 bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "fit.h"

#define PROG "crmpulse-fit"

/* The program's own arguments; the first bad value is kept for main. */
struct args {
    struct cp_fit_opts o;
    int bad;
    char errstr[512];
};

static int take_arg(void *opaque, const char **rest, int cnt)
{
    struct args *a = opaque;
    char why[512];
    int took = cp_fit_arg(&a->o, rest, cnt, why, sizeof(why));

    if (took >= 0)
        return took;
    if (!a->bad) {
        a->bad = 1;
        snprintf(a->errstr, sizeof(a->errstr), "%s", why);
    }
    return cnt >= 2 ? 2 : 1;
}

int main(int argc, char **argv)
{
    struct args args;
    const struct cp_cli cli = {.prog = PROG,
                               .version = CP_VERSION,
                               .usage = cp_fit_usage,
                               .arg = take_arg,
                               .opaque = &args,
                               .unknown_what =
                                   "unknown or incomplete argument"};
    struct cp_config *cfg;
    char errstr[1024];
    int status = 2;
    struct cp_fit_opts *o = &args.o;

    memset(&args, 0, sizeof(args));
    cp_fit_opts_init(o);
    cfg = cp_cli_load(&cli, argc, argv, &status);
    if (!cfg)
        return status;
    status = 2;
    if (args.bad) {
        fprintf(stderr, PROG ": %s\n", args.errstr);
        goto out;
    }
    if (!o->events || !o->labels || (!o->out && !o->evaluate) ||
        (o->cutoff == INT64_MIN && !(o->ev_horizon > 0))) {
        fprintf(stderr, PROG ": --events, --labels, --cutoff (or "
                             "--evidence-horizon) and -o (or --evaluate) "
                             "are required (see --help)\n");
        goto out;
    }
    /* The model the workers run is the natural base of a re-fit. */
    if (!o->base && !o->evaluate && cfg->model_file && cfg->model_file[0])
        o->base = cfg->model_file;
    status = 1;
    if (cp_fit_run(o, stdout, errstr, sizeof(errstr))) {
        fprintf(stderr, PROG ": %s\n", errstr);
        goto out;
    }
    status = 0;
out:
    cp_config_destroy(cfg);
    return status;
}
