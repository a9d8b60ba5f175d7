/* SPDX-License-Identifier: Apache-2.0 */
/* The physical-limit baseline: reads a whole topic from the beginning with
 * batch consumes and large fetches, only counting messages and bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

static void usage(void)
{
    fprintf(stderr, "Usage: bench_raw_consume -b HOST:PORT [-t TOPIC] "
                    "[--idle-ms MS] [-X key=value ...]\n"
                    "Prints: raw_consume msgs= bytes= seconds= rate=\n");
}

int main(int argc, char **argv)
{
    const char *bootstrap = NULL, *topic = "crm.events";
    struct bench_props props = {0};
    struct bench_consume_result res;
    char errstr[512];
    int idle_ms = 10000;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-b") && i + 1 < argc) {
            bootstrap = argv[++i];
        } else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            topic = argv[++i];
        } else if (!strcmp(argv[i], "--idle-ms") && i + 1 < argc) {
            idle_ms = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "-X") && i + 1 < argc) {
            if (bench_props_add(&props, argv[++i])) {
                usage();
                return 2;
            }
        } else {
            usage();
            return 2;
        }
    }
    if (!bootstrap) {
        usage();
        return 2;
    }
    if (bench_consume_all(bootstrap, topic, &props, NULL, NULL, idle_ms, &res,
                          errstr, sizeof(errstr))) {
        fprintf(stderr, "bench_raw_consume: %s\n", errstr);
        return 1;
    }
    printf("raw_consume msgs=%lld bytes=%lld seconds=%.3f rate=%.0f\n",
           (long long)res.msgs, (long long)res.bytes, res.seconds,
           res.seconds > 0 ? (double)res.msgs / res.seconds : 0.0);
    return 0;
}
