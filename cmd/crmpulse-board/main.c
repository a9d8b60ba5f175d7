/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-board: the live wallboard. argv -> config -> signals ->
 * cp_board_run() -> exit code. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "config.h"
#include "log.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: crmpulse-board [-c FILE] [-X key=value ...] "
            "[--print-config]\n"
            "\n"
            "Serves the live wallboard: a web page for an office TV or a "
            "laptop,\n"
            "a read-only JSON API over the crmpulse Redis keys and a "
            "Server-Sent-\n"
            "Events stream of the live and alerts channels. It never writes "
            "Redis\n"
            "and needs no Kafka. Uses board.listen, redis.url and "
            "redis.prefix.\n"
            "\n"
            "  -c, --config FILE   settings file (key = value lines)\n"
            "  -X key=value        set one setting (wins over file and "
            "environment)\n"
            "  --print-config      print the effective settings and exit\n"
            "  -h, --help          this help\n"
            "  --version           print the version\n"
            "\n"
            "HTTP: /  the page (?tenant=T to pin a tenant, else it rotates)\n"
            "      /api/tenants, /api/tenants/T/{board,today,day,compare,"
            "funnel,rt,\n"
            "      channels,managers,sources,waiting,risk,alerts}"
            "[?date=YYYY-MM-DD]\n"
            "      /api/events[?tenant=T]  SSE: live, alert, resync\n"
            "      /api/stats, /healthz\n"
            "\n"
            "Environment: CRMPULSE_<KEY> with dots as underscores, e.g.\n"
            "CRMPULSE_BOARD_LISTEN=0.0.0.0:8080. The board reads only\n"
            "board.*, redis.* and log.* of the settings below.\n\n");
    cp_config_print_help(out);
}

int main(int argc, char **argv)
{
    const char **rest = calloc((size_t)argc + 1, sizeof(*rest));
    int rest_cnt = 0, print_config = 0;
    struct cp_config *cfg;
    struct cp_board *b;
    struct sigaction sa;
    char errstr[1024];
    cp_rc rc;

    if (!rest) {
        fprintf(stderr, "crmpulse-board: out of memory\n");
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
            printf("crmpulse-board 0.1.0\n");
            cp_config_destroy(cfg);
            free(rest);
            return 0;
        }
        if (!strcmp(rest[i], "--print-config")) {
            print_config = 1;
            continue;
        }
        fprintf(stderr,
                "crmpulse-board: unknown argument \"%s\" (see --help)\n",
                rest[i]);
        cp_config_destroy(cfg);
        free(rest);
        return 2;
    }
    free(rest);
    if (!cfg) {
        fprintf(stderr, "crmpulse-board: %s\n", errstr);
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
    /* A browser that goes away mid-write must not kill the server. */
    signal(SIGPIPE, SIG_IGN);

    b = cp_board_new(cfg, NULL, errstr, sizeof(errstr));
    if (!b) {
        cp_log(CP_LOG_ERR, "MAIN", "%s", errstr);
        cp_config_destroy(cfg);
        return 1;
    }
    cp_log(CP_LOG_NOTICE, "MAIN",
           "wallboard on http://%s/ (port %d), reading %s keys",
           cfg->board_listen, cp_board_port(b), cfg->redis_prefix);
    rc = cp_board_run(b, &stop_requested);
    cp_board_destroy(b);
    cp_config_destroy(cfg);
    return rc ? 1 : 0;
}
