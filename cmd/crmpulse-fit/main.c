/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-fit: fits the churn model's parameters from a labelled history
 * and writes a model file (fit.h does the work). argv -> options ->
 * cp_fit_run() -> exit code: 0 done, 1 failed, 2 bad usage. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "fit.h"

#define PROG "crmpulse-fit"

static int bad_value(const char *what, const char *arg)
{
    fprintf(stderr, PROG ": %s, got '%s'\n", what, arg);
    return 1;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"events", required_argument, NULL, 'e'},
        {"labels", required_argument, NULL, 'l'},
        {"cutoff", required_argument, NULL, 'c'},
        {"base", required_argument, NULL, 'b'},
        {"out", required_argument, NULL, 'o'},
        {"version", required_argument, NULL, 'V'},
        {"holdout", required_argument, NULL, 'H'},
        {"l2", required_argument, NULL, 'L'},
        {"orders-only", no_argument, NULL, 'O'},
        {"keep-bgnbd", no_argument, NULL, 'K'},
        {"evaluate", required_argument, NULL, 'E'},
        {"note", required_argument, NULL, 'N'},
        {"precision-high", required_argument, NULL, 'P'},
        {"precision-critical", required_argument, NULL, 'C'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cp_fit_opts o;
    char errstr[1024];
    int opt;

    cp_fit_opts_init(&o);
    while ((opt = getopt_long(argc, argv, "e:l:c:b:o:qh", longopts, NULL)) !=
           -1) {
        switch (opt) {
        case 'e':
            o.events = optarg;
            break;
        case 'l':
            o.labels = optarg;
            break;
        case 'c':
            if (cp_fit_parse_ms(optarg, &o.cutoff))
                return bad_value("--cutoff: expected ms since the epoch",
                                 optarg);
            break;
        case 'b':
            o.base = optarg;
            break;
        case 'o':
            o.out = optarg;
            break;
        case 'V':
            o.version = optarg;
            break;
        case 'H':
            o.holdout = atof(optarg);
            if (!(o.holdout > 0 && o.holdout < 1))
                return bad_value("--holdout: expected a fraction in (0, 1)",
                                 optarg);
            break;
        case 'L':
            o.l2 = atof(optarg);
            if (!(o.l2 >= 0))
                return bad_value("--l2: expected a number >= 0", optarg);
            break;
        case 'O':
            o.orders_only = 1;
            break;
        case 'K':
            o.keep_bgnbd = 1;
            break;
        case 'E':
            o.evaluate = optarg;
            break;
        case 'N':
            o.note = optarg;
            break;
        case 'P':
        case 'C':
            if (opt == 'P')
                o.prec_high = atof(optarg);
            else
                o.prec_crit = atof(optarg);
            if (!(atof(optarg) >= 0 && atof(optarg) < 1))
                return bad_value("--precision-*: expected a fraction in [0, 1)",
                                 optarg);
            break;
        case 'q':
            o.quiet = 1;
            break;
        case 'h':
            cp_fit_usage(stdout);
            return 0;
        default:
            cp_fit_usage(stderr);
            return 2;
        }
    }
    if (!o.events || !o.labels || (!o.out && !o.evaluate) ||
        o.cutoff == INT64_MIN) {
        cp_fit_usage(stderr);
        return 2;
    }
    if (cp_fit_run(&o, stdout, errstr, sizeof(errstr))) {
        fprintf(stderr, PROG ": %s\n", errstr);
        return 1;
    }
    return 0;
}
