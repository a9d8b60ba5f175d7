/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse: the worker. argv -> config -> signals -> cp_worker_run(). */
#include <stdio.h>

#include "cli.h"
#include "config.h"
#include "kafka.h"
#include "log.h"
#include "worker.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: crmpulse [-c FILE] [-X key=value ...] [--print-config]\n"
            "\n"
            "Consumes CRM events (Avro) from Kafka, keeps CRM counters in "
            "Redis\n"
            "effectively once, sends invalid input to the dead-letter "
            "topic.\n"
            "With no Kafka configured it starts an embedded, NOT durable "
            "Kafka.\n"
            "\n" CP_CLI_SETTINGS_HELP "\n"
            "Environment: CRMPULSE_<KEY> with dots as underscores, e.g.\n"
            "CRMPULSE_REDIS_URL=redis://127.0.0.1:6379/0. Any kafka.<prop> is\n"
            "passed to librdkafka (kafka.security.protocol, "
            "kafka.sasl.username...).\n"
            "\n");
    cp_config_print_help(out);
}

/* librdkafka's own parser checks the kafka.* passthrough: a typo must stop
 * us before the embedded cluster or anything else starts. */
static int check_kafka_props(const struct cp_config *cfg, char *errstr,
                             size_t errstr_size)
{
    return cp_kafka_check_props(cfg->kafka_props, cfg->kafka_prop_cnt, errstr,
                                errstr_size) != CP_OK;
}

int main(int argc, char **argv)
{
    /* Every setting but the board's. */
    static const char *const settings[] = {
        "kafka.",    "topic.",  "redis.",   "codec.",           "worker.",
        "embedded.", "minute.", "time.",    "model.",           "churn.",
        "http.",     "log.",    "offsets.", "schema.registry.", NULL};
    const struct cp_cli cli = {.prog = "crmpulse",
                               .version = CP_VERSION,
                               .print_config = 1,
                               .usage = usage,
                               .settings = settings,
                               .check = check_kafka_props};
    volatile sig_atomic_t *stop;
    struct cp_config *cfg;
    struct cp_worker *w;
    char errstr[1024];
    int status;
    cp_rc rc;

    cfg = cp_cli_load(&cli, argc, argv, &status);
    if (!cfg)
        return status;
    stop = cp_cli_stop_signals(1);
    w = cp_worker_new(cfg, errstr, sizeof(errstr));
    if (!w) {
        cp_log(CP_LOG_ERR, "MAIN", "%s", errstr);
        cp_config_destroy(cfg);
        return 1;
    }
    rc = cp_worker_run(w, stop);
    cp_worker_destroy(w);
    cp_config_destroy(cfg);
    return rc ? 1 : 0;
}
