/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-board: the live wallboard. argv -> config -> signals ->
 * cp_board_run() -> exit code. */
#include <stdio.h>

#include "board.h"
#include "cli.h"
#include "log.h"

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
            "\n" CP_CLI_SETTINGS_HELP "\n"
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
    /* What the board reads (its usage says so too). */
    static const char *const settings[] = {"board.", "redis.", "log.", NULL};
    const struct cp_cli cli = {.prog = "crmpulse-board",
                               .version = CP_VERSION,
                               .print_config = 1,
                               .usage = usage,
                               .settings = settings};
    volatile sig_atomic_t *stop;
    struct cp_config *cfg;
    struct cp_board *b;
    char errstr[1024];
    int status;
    cp_rc rc;

    cfg = cp_cli_load(&cli, argc, argv, &status);
    if (!cfg)
        return status;
    /* A browser that goes away mid-write must not kill the server. */
    stop = cp_cli_stop_signals(1);
    b = cp_board_new(cfg, NULL, errstr, sizeof(errstr));
    if (!b) {
        cp_log(CP_LOG_ERR, "MAIN", "%s", errstr);
        cp_config_destroy(cfg);
        return 1;
    }
    cp_log(CP_LOG_NOTICE, "MAIN",
           "wallboard on http://%s/ (port %d), reading %s keys",
           cfg->board_listen, cp_board_port(b), cfg->redis_prefix);
    rc = cp_board_run(b, stop);
    cp_board_destroy(b);
    cp_config_destroy(cfg);
    return rc ? 1 : 0;
}
