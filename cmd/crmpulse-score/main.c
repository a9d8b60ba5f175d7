/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-score: a tenant's churn scores as of an instant, as CSV, from
 * the state the workers stored in Redis (backtests, audits). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn.h"
#include "civil.h"
#include "cli.h"
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
        "(redis.url or redis.cluster.nodes, redis.prefix, model.file).\n"
        "\n"
        "  --tenant T      tenant id\n"
        "  --as-of TIME    ms since the epoch, or YYYY-MM-DD[THH:MM[:SS]] "
        "(UTC)\n"
        "  -o FILE         write the CSV here (default: standard output)\n"
        "  -c FILE, -X key=value   settings, as for crmpulse\n"
        "  -h, --help      this help\n"
        "  --version       print the version\n"
        "\nExample:\n"
        "  crmpulse-score -X redis.url=redis://127.0.0.1:6379 --tenant acme "
        "--as-of 2026-11-01 > scores.csv\n");
}

/* The arguments of this program, after the settings. */
struct args {
    const char *tenant, *as_of, *out_path; /* borrowed from argv */
};

static int take_arg(void *opaque, const char **rest, int cnt)
{
    struct args *a = opaque;
    const char **slot = !strcmp(rest[0], "--tenant")  ? &a->tenant
                        : !strcmp(rest[0], "--as-of") ? &a->as_of
                        : !strcmp(rest[0], "-o")      ? &a->out_path
                                                      : NULL;

    if (!slot || cnt < 2)
        return 0;
    *slot = rest[1];
    return 2;
}

int main(int argc, char **argv)
{
    static const char *const settings[] = {"redis.", "model.", "log.", NULL};
    struct args args = {0};
    const struct cp_cli cli = {.prog = "crmpulse-score",
                               .version = CP_VERSION,
                               .settings = settings,
                               .usage = usage,
                               .arg = take_arg,
                               .opaque = &args,
                               .unknown_what =
                                   "unknown or incomplete argument"};
    struct cp_config *cfg;
    struct cp_churn_model *model = NULL;
    struct cp_export_stats stats;
    int status = 2;
    int64_t as_of_ms = 0;
    char errstr[1024];
    FILE *out = stdout;

    cfg = cp_cli_load(&cli, argc, argv, &status);
    if (!cfg)
        return status;
    status = 2;
    if (!args.tenant || !args.as_of) {
        fprintf(stderr, "crmpulse-score: --tenant and --as-of are required "
                        "(see --help)\n");
        goto out;
    }
    if (cp_parse_utc_time(args.as_of, &as_of_ms)) {
        fprintf(stderr,
                "crmpulse-score: --as-of %s: expected ms since the epoch or "
                "YYYY-MM-DD[THH:MM[:SS]] (UTC)\n",
                args.as_of);
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
    if (args.out_path && !(out = fopen(args.out_path, "w"))) {
        fprintf(stderr, "crmpulse-score: %s: %s\n", args.out_path,
                strerror(errno));
        out = stdout;
        goto out;
    }
    status = 1;
    if (cp_export_scores(cfg->redis_url, cfg->redis_cluster_nodes,
                         cfg->redis_prefix, args.tenant, as_of_ms, model, out,
                         &stats, errstr, sizeof(errstr))) {
        fprintf(stderr, "crmpulse-score: %s\n", errstr);
        goto out;
    }
    fprintf(stderr, "crmpulse-score: %lld customers of %s scored as of %lld",
            (long long)stats.customers, args.tenant, (long long)as_of_ms);
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
                args.tenant, cfg->redis_prefix);
out:
    if (out != stdout)
        fclose(out);
    cp_churn_model_destroy(model);
    cp_config_destroy(cfg);
    return status;
}
