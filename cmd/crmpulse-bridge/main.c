/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-bridge: argv -> config -> signals -> cp_bridge_run(). */
#include <stdio.h>

#include "bridge.h"
#include "cli.h"
#include "config.h"
#include "kafka.h"
#include "log.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: crmpulse-bridge -X bridge.tenants=FILE [-c FILE] "
            "[-X key=value ...]\n"
            "\n"
            "Takes the webhooks of Bitrix24, amoCRM/Kommo, HubSpot and "
            "Pipedrive at\n"
            "POST /hooks/<crm>/<tenant>, checks each vendor's signature or "
            "token,\n"
            "and produces crm.v1.CrmEvent records to topic.events; answers "
            "2xx once\n"
            "Kafka acknowledged them, 503 when Kafka or Redis is down (the "
            "CRM retries).\n"
            "Redelivered webhooks are recognised in Redis for "
            "bridge.dedup.ttl.\n"
            "The tenants file says which CRM each tenant runs, its secrets "
            "and the\n"
            "mapping of its stages (see deploy/bridge.conf).\n"
            "\n" CP_CLI_SETTINGS_HELP "\n"
            "Environment: CRMPULSE_<KEY> with dots as underscores, e.g.\n"
            "CRMPULSE_BRIDGE_TENANTS=/etc/crmpulse/bridge.conf.\n"
            "\n");
    cp_config_print_help(out);
}

static int check_kafka_props(const struct cp_config *cfg, char *errstr,
                             size_t errstr_size)
{
    return cp_kafka_check_props(cfg->kafka_props, cfg->kafka_prop_cnt, errstr,
                                errstr_size) != CP_OK;
}

int main(int argc, char **argv)
{
    static const char *const settings[] = {
        "kafka.",  "topic.", "redis.",           "codec.", "embedded.",
        "bridge.", "log.",   "schema.registry.", NULL};
    const struct cp_cli cli = {.prog = "crmpulse-bridge",
                               .version = CP_VERSION,
                               .print_config = 1,
                               .usage = usage,
                               .settings = settings,
                               .check = check_kafka_props};
    volatile sig_atomic_t *stop;
    struct cp_config *cfg;
    struct cp_bridge *b;
    char errstr[1024];
    int status;
    cp_rc rc;

    cfg = cp_cli_load(&cli, argc, argv, &status);
    if (!cfg)
        return status;
    stop = cp_cli_stop_signals(1);
    b = cp_bridge_new(cfg, errstr, sizeof(errstr));
    if (!b) {
        cp_log(CP_LOG_ERR, "MAIN", "%s", errstr);
        cp_config_destroy(cfg);
        return 1;
    }
    rc = cp_bridge_run(b, stop);
    cp_bridge_destroy(b);
    cp_config_destroy(cfg);
    return rc ? 1 : 0;
}
