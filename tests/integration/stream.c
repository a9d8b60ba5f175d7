/* SPDX-License-Identifier: Apache-2.0 */
#include "stream.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "codec.h"
#include "common.h"
#include "kafka.h"

#define IDLE_EXIT "worker.exit.idle.ms=8000"

static int64_t produced_at_ms;

int64_t h_produced_at_ms(void)
{
    return produced_at_ms;
}

/* The crmpulse-gen command line of a stream (@p rate 0: unpaced); the
 * strings it points to live in @p a. */
struct gen_args {
    char n[32], start[32], rate[32];
    const char *argv[32];
};

static const char *const *gen_argv(struct gen_args *a, const char *bootstrap,
                                   const char *dump, const char *seed, long n,
                                   int64_t start_ms,
                                   const char *invalid_per_mille, long rate)
{
    const char *argv[] = {h_bin("crmpulse-gen"),
                          "-b",
                          bootstrap,
                          "-n",
                          a->n,
                          "-c",
                          "5000",
                          "--tenants",
                          "3",
                          "-s",
                          seed,
                          "--invalid",
                          invalid_per_mille,
                          "--start-ms",
                          a->start,
                          "--step-ms",
                          "5",
                          "--rate",
                          a->rate,
                          "-o",
                          dump,
                          "-q",
                          NULL};

    snprintf(a->n, sizeof(a->n), "%ld", n);
    snprintf(a->start, sizeof(a->start), "%lld", (long long)start_ms);
    snprintf(a->rate, sizeof(a->rate), "%ld", rate);
    memcpy(a->argv, argv, sizeof(argv));
    if (!produced_at_ms)
        produced_at_ms = cp_now_ms();
    return a->argv;
}

void h_produce(const char *bootstrap, const char *dump, const char *seed,
               long n, int64_t start_ms, const char *invalid_per_mille)
{
    const char *log = h_scratch_file("gen.log");
    struct gen_args a;
    int rc = h_run(
        gen_argv(&a, bootstrap, dump, seed, n, start_ms, invalid_per_mille, 0),
        log, 600);

    if (rc)
        h_tail(log, 30);
    cr_assert_eq(rc, 0, "crmpulse-gen exited %d", rc);
}

pid_t h_produce_paced(const char *bootstrap, const char *dump, const char *seed,
                      long n, int64_t start_ms, const char *invalid_per_mille,
                      long rate)
{
    struct gen_args a;

    return h_spawn(gen_argv(&a, bootstrap, dump, seed, n, start_ms,
                            invalid_per_mille, rate),
                   h_scratch_file("gen.log"));
}

void h_produce_wait(pid_t pid, int timeout_s)
{
    int rc = h_wait(pid, timeout_s);

    if (rc)
        h_tail(h_scratch_file("gen.log"), 30);
    cr_assert_eq(rc, 0, "crmpulse-gen exited %d (-1: still running)", rc);
}

int64_t h_dump_count(const char *dump, int64_t *invalid)
{
    FILE *f = fopen(dump, "rb");
    int64_t cnt = 0;
    int flag;

    cr_assert_not_null(f, "%s", dump);
    while ((flag = fgetc(f)) != EOF) {
        for (int part = 0; part < 2; part++) {
            unsigned char b[4];
            uint32_t len;

            cr_assert_eq(fread(b, 1, 4, f), 4);
            len = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
                  (uint32_t)b[2] << 8 | b[3];
            if (len != 0xFFFFFFFFu)
                cr_assert_eq(fseek(f, len, SEEK_CUR), 0);
        }
        *invalid += flag == 1;
        cnt++;
    }
    fclose(f);
    return cnt;
}

pid_t h_worker_spawn(const char *bootstrap, const struct h_redis *r,
                     const char *group, const char *log,
                     const char *const *extras)
{
    char x_boot[300], x_redis[128], x_group[128];
    /* No endpoint: tests run side by side, the default port is shared.
     * Event time only: replays give the same alerts. */
    const char *argv[64] = {h_bin("crmpulse"),
                            "-X",
                            x_boot,
                            "-X",
                            x_redis,
                            "-X",
                            x_group,
                            "-X",
                            IDLE_EXIT,
                            "-X",
                            "http.listen=",
                            "-X",
                            "time.idle_advance=0"};
    size_t argc = 13;

    for (size_t i = 0; extras && extras[i]; i++) {
        cr_assert_lt(argc + 3, sizeof(argv) / sizeof(argv[0]));
        argv[argc++] = "-X";
        argv[argc++] = extras[i];
    }
    argv[argc] = NULL;
    snprintf(x_boot, sizeof(x_boot), "kafka.bootstrap.servers=%s", bootstrap);
    snprintf(x_redis, sizeof(x_redis), "redis.url=%s", r->url);
    snprintf(x_group, sizeof(x_group), "kafka.group.id=%s", group);
    return h_spawn(argv, log);
}

void h_worker_wait_done(pid_t pid, const char *log, int timeout_s)
{
    int rc = h_wait(pid, timeout_s);

    if (rc)
        h_tail(log, 40);
    cr_assert_eq(rc, 0, "crmpulse exited %d (-1: still running after %d s)", rc,
                 timeout_s);
}

int64_t h_offsets_sum(const struct h_redis *r, const char *group)
{
    char key[128];

    snprintf(key, sizeof(key), "crmpulse:offsets:%s", group);
    return h_redis_hash_sum(r, key);
}

int64_t h_wait_for_commits(const struct h_redis *r, const char *group,
                           int64_t target)
{
    int64_t done = 0;

    for (int waited = 0; waited < 120000; waited += 20) {
        done = h_offsets_sum(r, group);
        if (done >= target)
            break;
        h_sleep_ms(20);
    }
    return done;
}

void h_oracle_check(const char *bootstrap, const struct h_redis *r,
                    const char *const *dumps, size_t dump_cnt, int64_t dlq_cnt)
{
    const char *log = h_scratch_file("oracle.log");
    const char *alerts = h_scratch_file("alerts.jsonl");
    char dlq[32], from[32];
    const char *argv[64];
    size_t argc = 0;
    int rc;

    cr_assert_lt(dump_cnt, 20);
    snprintf(dlq, sizeof(dlq), "%lld", (long long)dlq_cnt);
    snprintf(from, sizeof(from), "%lld", (long long)produced_at_ms);
    argv[argc++] = "/usr/bin/python3";
    argv[argc++] = h_src("tests/integration/oracle.py");
    for (size_t i = 0; i < dump_cnt; i++) {
        argv[argc++] = "--dump";
        argv[argc++] = dumps[i];
    }
    argv[argc++] = "--schema-dir";
    argv[argc++] = h_src("schemas");
    argv[argc++] = "--redis-url";
    argv[argc++] = r->url;
    argv[argc++] = "--dlq-count";
    argv[argc++] = dlq;
    argv[argc++] = "--processed-from";
    argv[argc++] = from;
    argv[argc++] = "--alerts";
    argv[argc++] = alerts;
    argv[argc] = NULL;
    fprintf(stderr, "%lld alert records on crm.alerts\n",
            (long long)h_dump_alerts(bootstrap, alerts));
    rc = h_run(argv, log, 600);
    h_tail(log, rc ? 30 : 1);
    cr_assert_eq(rc, 0, "oracle found mismatches (exit %d)", rc);
}

double h_elapsed_s(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) +
           (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

struct cp_embedded *h_kafka_start(int partitions, const char **bootstrap)
{
    const char *topics[] = {"crm.events", "crm.alerts", "crm.events.dlq"};
    char errstr[512];
    struct cp_embedded *emb =
        cp_embedded_new(partitions, topics, 3, errstr, sizeof(errstr));

    cr_assert_not_null(emb, "embedded kafka: %s", errstr);
    *bootstrap = cp_embedded_bootstrap(emb);
    return emb;
}

void h_kafka_stop(struct cp_embedded **emb)
{
    cp_embedded_destroy(*emb);
    *emb = NULL;
}

/* Offsets per partition a test stream stays below. */
#define DLQ_MAX_OFFSET (1 << 20)

void h_read_dlq(const char *bootstrap, const char *group_hint, int partitions,
                int64_t expected, struct h_dlq_seen *seen,
                void (*on_letter)(const struct cp_dead_letter *dl,
                                  void *opaque),
                void *opaque)
{
    struct cp_consumer_callbacks cbs = {NULL, NULL, NULL};
    char errstr[512], reason[256], group[64];
    struct cp_codec *codec =
        cp_codec_new(CP_FRAMING_CONFLUENT, errstr, sizeof(errstr));
    struct cp_msg msgs[500];
    struct cp_arena arena;
    struct cp_consumer *cons;
    char *marks = calloc((size_t)partitions, DLQ_MAX_OFFSET); /* owned */
    int quiet_ms = 0;

    memset(seen, 0, sizeof(*seen));
    cr_assert_not_null(codec, "%s", errstr);
    h_codec_output_ids(codec);
    cr_assert_not_null(marks);
    snprintf(group, sizeof(group), "dlq-%s-%d", group_hint, (int)getpid());
    cons = cp_consumer_new(bootstrap, group, "crm.events.dlq", NULL, 0, &cbs,
                           errstr, sizeof(errstr));
    cr_assert_not_null(cons, "%s", errstr);
    cp_arena_init(&arena, 0);
    while (quiet_ms < (seen->distinct >= expected ? 3000 : 30000)) {
        size_t n = cp_consumer_poll(cons, msgs, 500, 100);

        quiet_ms = n ? 0 : quiet_ms + 100;
        for (size_t i = 0; i < n; i++) {
            struct cp_dead_letter dl;
            char *mark;

            cr_assert_eq(cp_codec_decode_dead_letter(
                             codec, msgs[i].value, msgs[i].value_len, &arena,
                             &dl, reason, sizeof(reason)),
                         CP_OK, "undecodable dead letter: %s", reason);
            cr_assert(dl.partition >= 0 && dl.partition < partitions &&
                      dl.offset >= 0 && dl.offset < DLQ_MAX_OFFSET);
            mark = &marks[(size_t)dl.partition * DLQ_MAX_OFFSET +
                          (size_t)dl.offset];
            if (!*mark) {
                *mark = 1;
                seen->distinct++;
            }
            seen->records++;
            if (on_letter)
                on_letter(&dl, opaque);
        }
        cp_arena_reset(&arena);
    }
    cp_consumer_destroy(cons);
    cp_arena_cleanup(&arena);
    cp_codec_destroy(codec);
    free(marks);
}
