/* SPDX-License-Identifier: Apache-2.0 */
/* Reads a whole alert topic (crm.alerts) from the beginning and writes each
 * crm.v1.Alert as one JSON line (the object of crm:{T}:alerts:recent), for
 * the churn quality benchmark (bench_churn_quality.sh) to score offline.
 * An undecodable message is reported with its offset and makes the exit
 * status 1: an alert is never dropped silently. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "bench_util.h"
#include "buf.h"
#include "codec.h"

#define MAX_REASONS 64

struct dump {
    struct cp_codec *codec; /* owned by main */
    struct cp_arena arena;
    struct cp_buf json;
    FILE *out; /* borrowed */
    long long written;
    long long bad;
};

static void usage(void)
{
    fprintf(stderr,
            "Usage: bench_alerts -b HOST:PORT [-t TOPIC] [-o FILE] [--raw] "
            "[--idle-ms MS] [-X key=value ...]\n"
            "Writes every alert of TOPIC (default crm.alerts) as a JSON "
            "line to FILE\n"
            "(default: standard output); prints alerts=N undecodable=N on "
            "stderr.\n");
}

static int on_batch(void *opaque, rd_kafka_message_t **rkms, size_t cnt)
{
    struct dump *d = opaque;

    for (size_t i = 0; i < cnt; i++) {
        struct cp_alert a;
        struct cp_alert_reason reasons[MAX_REASONS];
        char reason[256];

        cp_arena_reset(&d->arena);
        cp_buf_reset(&d->json);
        if (cp_codec_decode_alert(d->codec, rkms[i]->payload, rkms[i]->len,
                                  &d->arena, &a, reasons, MAX_REASONS, reason,
                                  sizeof(reason)) ||
            cp_alert_json(&a, &d->json)) {
            fprintf(stderr,
                    "bench_alerts: partition %d offset %lld: undecodable "
                    "alert: %s\n",
                    (int)rkms[i]->partition, (long long)rkms[i]->offset,
                    reason);
            d->bad++;
            continue;
        }
        if (fwrite(d->json.data, 1, d->json.len, d->out) != d->json.len ||
            fputc('\n', d->out) == EOF)
            return -1;
        d->written++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *bootstrap = NULL, *topic = "crm.alerts", *path = NULL;
    struct bench_props props = {0};
    struct bench_consume_result res;
    struct dump d;
    enum cp_framing framing = CP_FRAMING_CONFLUENT;
    char errstr[512];
    int idle_ms = 10000, status = 1;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-b") && i + 1 < argc) {
            bootstrap = argv[++i];
        } else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            topic = argv[++i];
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            path = argv[++i];
        } else if (!strcmp(argv[i], "--raw")) {
            framing = CP_FRAMING_RAW;
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
    memset(&d, 0, sizeof(d));
    d.codec = cp_codec_new(framing, errstr, sizeof(errstr));
    if (!d.codec) {
        fprintf(stderr, "bench_alerts: create codec: %s\n", errstr);
        return 1;
    }
    cp_arena_init(&d.arena, 0);
    cp_buf_init(&d.json, 1 << 20);
    d.out = path ? fopen(path, "w") : stdout;
    if (!d.out) {
        fprintf(stderr, "bench_alerts: open %s: ", path);
        perror(NULL);
        goto out;
    }
    if (bench_consume_all(bootstrap, topic, &props, on_batch, &d, idle_ms,
                          &res, errstr, sizeof(errstr))) {
        fprintf(stderr, "bench_alerts: %s\n", errstr);
        goto out;
    }
    if (fflush(d.out)) {
        perror("bench_alerts: write");
        goto out;
    }
    fprintf(stderr, "bench_alerts: alerts=%lld undecodable=%lld\n", d.written,
            d.bad);
    status = d.bad ? 1 : 0;
out:
    if (d.out && d.out != stdout && fclose(d.out) && status == 0) {
        perror("bench_alerts: close");
        status = 1;
    }
    cp_buf_cleanup(&d.json);
    cp_arena_cleanup(&d.arena);
    cp_codec_destroy(d.codec);
    return status;
}
