/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse: the worker. argv -> config -> signals -> cp_worker_run(). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "kafka.h"
#include "log.h"
#include "worker.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

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
            "\n"
            "  -c, --config FILE   settings file (key = value lines)\n"
            "  -X key=value        set one setting (wins over file and "
            "environment)\n"
            "  --print-config      print the effective settings and exit\n"
            "  -h, --help          this help\n"
            "  --version           print the version\n"
            "\n"
            "Environment: CRMPULSE_<KEY> with dots as underscores, e.g.\n"
            "CRMPULSE_REDIS_URL=redis://127.0.0.1:6379/0. Any kafka.<prop> is\n"
            "passed to librdkafka (kafka.security.protocol, "
            "kafka.sasl.username...).\n"
            "\n");
    cp_config_print_help(out);
}

int main(int argc, char **argv)
{
    const char **rest = calloc((size_t)argc + 1, sizeof(*rest));
    int rest_cnt = 0, print_config = 0;
    struct cp_config *cfg;
    struct cp_worker *w;
    struct sigaction sa;
    char errstr[1024];
    cp_rc rc;

    if (!rest) {
        fprintf(stderr, "crmpulse: out of memory\n");
        return 1;
    }
    cfg = cp_config_load(argc, argv, rest, &rest_cnt, errstr, sizeof(errstr));
    for (int i = 0; i < rest_cnt; i++) {
        if (!strcmp(rest[i], "-h") || !strcmp(rest[i], "--help")) {
            usage(stdout);
            cp_config_destroy(cfg);
            free(rest);
            return 0;
        }
        if (!strcmp(rest[i], "--version")) {
            printf("crmpulse 0.1.0\n");
            cp_config_destroy(cfg);
            free(rest);
            return 0;
        }
        if (!strcmp(rest[i], "--print-config")) {
            print_config = 1;
            continue;
        }
        fprintf(stderr, "crmpulse: unknown argument \"%s\" (see --help)\n",
                rest[i]);
        cp_config_destroy(cfg);
        free(rest);
        return 2;
    }
    free(rest);
    if (!cfg) {
        fprintf(stderr, "crmpulse: %s\n", errstr);
        return 2;
    }
    /* librdkafka's own parser checks the kafka.* passthrough now: a typo
     * must stop us before the embedded cluster or anything else starts. */
    if (cp_kafka_check_props(cfg->kafka_props, cfg->kafka_prop_cnt, errstr,
                             sizeof(errstr))) {
        fprintf(stderr, "crmpulse: %s\n", errstr);
        cp_config_destroy(cfg);
        return 2;
    }
    if (print_config) {
        cp_config_dump(cfg, stdout);
        cp_config_destroy(cfg);
        return 0;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    w = cp_worker_new(cfg, errstr, sizeof(errstr));
    if (!w) {
        cp_log(CP_LOG_ERR, "MAIN", "%s", errstr);
        cp_config_destroy(cfg);
        return 1;
    }
    rc = cp_worker_run(w, &stop_requested);
    cp_worker_destroy(w);
    cp_config_destroy(cfg);
    return rc ? 1 : 0;
}
