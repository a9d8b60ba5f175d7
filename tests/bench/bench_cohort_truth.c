/* SPDX-License-Identifier: Apache-2.0 */
/* The generator's own story of a churn cohort, which a user never sees:
 * every customer's first event and usual time between orders (before any
 * decline), for churn_observable.py to tell which churners show a change
 * before the history ends.
 *
 *   bench_cohort_truth SEED CUSTOMERS TENANTS DAYS END_MS [off]
 *
 * The arguments are crmpulse-gen --churn-cohort's -s, -c, --tenants,
 * --days and --end (and --noise off); the same ones give the same cohort.
 * Writes CSV to stdout: customer_id,profile,churned,churn_start_ms,
 * first_ms,interval_ms (churn_start_ms empty: no churn). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

int main(int argc, char **argv)
{
    struct cp_cohort_config cc;
    struct cp_cohort *co;
    char err[256];

    if (argc < 6 || argc > 7 || (argc == 7 && strcmp(argv[6], "off"))) {
        fprintf(stderr, "usage: bench_cohort_truth SEED CUSTOMERS TENANTS "
                        "DAYS END_MS [off]\n");
        return 2;
    }
    memset(&cc, 0, sizeof(cc));
    cc.seed = strtoull(argv[1], NULL, 10);
    cc.customers = strtoull(argv[2], NULL, 10);
    cc.tenants = atoi(argv[3]);
    cc.days = atoi(argv[4]);
    cc.end_ms = strtoll(argv[5], NULL, 10);
    cc.no_noise = argc == 7;
    co = cp_cohort_new(&cc, err, sizeof(err));
    if (!co) {
        fprintf(stderr,
                "bench_cohort_truth: %s (fix: the arguments of "
                "crmpulse-gen --churn-cohort)\n",
                err);
        return 2;
    }
    printf("customer_id,profile,churned,churn_start_ms,first_ms,interval_ms\n");
    for (uint64_t i = 0; i < cp_cohort_customers(co); i++) {
        struct cp_cohort_label lb;

        cp_cohort_label(co, i, &lb);
        printf("%s,%s,%d,", lb.customer_id, cp_cohort_profile_name(lb.profile),
               lb.churned);
        if (lb.churn_start_ms != INT64_MAX)
            printf("%lld", (long long)lb.churn_start_ms);
        printf(",%lld,%lld\n", (long long)lb.first_ms,
               (long long)lb.interval_ms);
    }
    cp_cohort_destroy(co);
    return ferror(stdout) ? 1 : 0;
}
