/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-score: a tenant's churn scores as of an instant, as CSV, from
 * the state the workers stored in Redis (backtests, audits). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn.h"
#include "civil.h"
#include "config.h"
#include "export.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: crmpulse-score --tenant T --as-of TIME [-o FILE] [-c FILE] "
        "[-X key=value ...]\n"
        "\n"
        "Writes customer_id,score,level,reasons for every customer of "
        "tenant T,\n"
        "scored with their stored features decayed to TIME (event time): "
        "what the\n"
        "worker would have said then. Reads Redis only; settings as for "
        "crmpulse\n"
        "(redis.url, redis.prefix, model.file).\n"
        "\n"
        "  --tenant T      tenant id\n"
        "  --as-of TIME    ms since the epoch, or YYYY-MM-DD[THH:MM[:SS]] "
        "(UTC)\n"
        "  -o FILE         write the CSV here (default: standard output)\n"
        "  -c FILE, -X key=value   settings, as for crmpulse\n"
        "  -h, --help      this help\n"
        "\nExample:\n"
        "  crmpulse-score -X redis.url=redis://127.0.0.1:6379 --tenant acme "
        "--as-of 2026-11-01 > scores.csv\n");
}

int main(int argc, char **argv)
{
    const char **rest = calloc((size_t)argc + 1, sizeof(*rest));
    const char *tenant = NULL, *as_of = NULL, *out_path = NULL;
    struct cp_config *cfg = NULL;
    struct cp_churn_model *model = NULL;
    struct cp_export_stats stats;
    int rest_cnt = 0, status = 2;
    int64_t as_of_ms = 0;
    char errstr[1024];
    FILE *out = stdout;

    if (!rest) {
        fprintf(stderr, "crmpulse-score: out of memory\n");
        return 1;
    }
    cfg = cp_config_load(argc, argv, rest, &rest_cnt, errstr, sizeof(errstr));
    for (int i = 0; i < rest_cnt; i++) {
        const char *a = rest[i];

        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            status = 0;
            goto out;
        } else if (!strcmp(a, "--tenant") && i + 1 < rest_cnt) {
            tenant = rest[++i];
        } else if (!strcmp(a, "--as-of") && i + 1 < rest_cnt) {
            as_of = rest[++i];
        } else if (!strcmp(a, "-o") && i + 1 < rest_cnt) {
            out_path = rest[++i];
        } else {
            fprintf(stderr,
                    "crmpulse-score: unknown or incomplete argument \"%s\" "
                    "(see --help)\n",
                    a);
            goto out;
        }
    }
    if (!cfg) {
        fprintf(stderr, "crmpulse-score: %s\n", errstr);
        goto out;
    }
    if (!tenant || !as_of) {
        fprintf(stderr, "crmpulse-score: --tenant and --as-of are required "
                        "(see --help)\n");
        goto out;
    }
    if (cp_parse_utc_time(as_of, &as_of_ms)) {
        fprintf(stderr,
                "crmpulse-score: --as-of %s: expected ms since the epoch or "
                "YYYY-MM-DD[THH:MM[:SS]] (UTC)\n",
                as_of);
        goto out;
    }
    model = cfg->model_file[0]
                ? cp_churn_model_load(cfg->model_file, errstr, sizeof(errstr))
                : cp_churn_model_default();
    if (!model) {
        fprintf(stderr, "crmpulse-score: %s\n",
                cfg->model_file[0] ? errstr : "out of memory");
        goto out;
    }
    if (out_path && !(out = fopen(out_path, "w"))) {
        fprintf(stderr, "crmpulse-score: %s: %s\n", out_path, strerror(errno));
        out = stdout;
        goto out;
    }
    status = 1;
    if (cp_export_scores(cfg->redis_url, cfg->redis_prefix, tenant, as_of_ms,
                         model, out, &stats, errstr, sizeof(errstr))) {
        fprintf(stderr, "crmpulse-score: %s\n", errstr);
        goto out;
    }
    fprintf(stderr, "crmpulse-score: %lld customers of %s scored as of %lld",
            (long long)stats.customers, tenant, (long long)as_of_ms);
    if (stats.unreadable)
        fprintf(stderr,
                " (%lld stored values not written by crmpulse "
                "skipped)",
                (long long)stats.unreadable);
    fputc('\n', stderr);
    status = stats.customers ? 0 : 3;
    if (!stats.customers)
        fprintf(stderr,
                "crmpulse-score: no customer state for tenant %s "
                "under prefix %s: is the tenant right?\n",
                tenant, cfg->redis_prefix);
out:
    if (out != stdout)
        fclose(out);
    cp_churn_model_destroy(model);
    cp_config_destroy(cfg);
    free(rest);
    return status;
}
