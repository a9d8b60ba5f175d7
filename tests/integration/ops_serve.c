/* SPDX-License-Identifier: Apache-2.0 */
/* Test helper: serves a metrics registry with known values over the
 * operations endpoint until SIGTERM/SIGINT, so a real Prometheus can scrape
 * it. Prints "port <n>" on stdout once listening.
 *
 * Usage: ops_serve [listen [applied_events]]
 *        (defaults: 127.0.0.1:0, 42) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "http.h"
#include "metrics.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    const char *listen = argc > 1 ? argv[1] : "127.0.0.1:0";
    unsigned long long applied = argc > 2 ? strtoull(argv[2], NULL, 10) : 42;
    struct sigaction sa;
    struct cp_metrics *m;
    struct cp_http *http;
    char errstr[512];

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    m = cp_metrics_new("ops-serve", errstr, sizeof(errstr));
    if (!m) {
        fprintf(stderr, "ops_serve: %s\n", errstr);
        return 1;
    }
    cp_metrics_event(m, CP_METRICS_APPLIED, applied);
    cp_metrics_event(m, CP_METRICS_DEAD_LETTER, 2);
    cp_metrics_dead_letter(m, "bad framing: magic byte 0x01, expected 0x00");
    cp_metrics_dead_letter(m, "customer_id: empty");
    cp_metrics_alert(m, CP_METRICS_ALERT_CHURN_RISK, CP_METRICS_LEVEL_HIGH);
    cp_metrics_observe_batch(m, 100, 0.02);
    cp_metrics_observe_redis_rtt(m, 0.0007);
    cp_metrics_partition_set(m, "crm.events", 0, 5, cp_now_ms());
    cp_metrics_set_up(m, CP_METRICS_DEP_REDIS, true);
    cp_metrics_set_up(m, CP_METRICS_DEP_KAFKA, true);
    cp_metrics_set_ready(m, true, NULL);

    http = cp_http_start(listen, m, errstr, sizeof(errstr));
    if (!http) {
        fprintf(stderr, "ops_serve: %s\n", errstr);
        cp_metrics_destroy(m);
        return 1;
    }
    printf("port %d\n", cp_http_port(http));
    fflush(stdout);
    while (!stop)
        cp_sleep_ms(100);
    cp_http_stop(http);
    cp_metrics_destroy(m);
    return 0;
}
