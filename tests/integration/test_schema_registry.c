/* SPDX-License-Identifier: Apache-2.0 */
/* Schema registry end to end: the real worker, a real redis-server, the
 * embedded Kafka and the test registry (schema_registry.py). A stream of
 * generated events re-encoded by registry_stream.py under writer schemas
 * registered in the registry: the original schema under an id that is not
 * 1, an evolution (reordered fields, a new optional field, a removed field
 * the reader defaults, a new enum symbol, bytes for a string, payload
 * records reordered, a payload field added), an incompatible writer and
 * a writer whose messages python3-avro encodes.
 * Part 1 is consumed with the registry up; then the registry is killed,
 * part 2 (new schema ids) produced, the worker must wait (not ready,
 * nothing dead-lettered for it), the registry comes back on the same port
 * and the worker finishes. Redis must equal the oracle exactly, the DLQ
 * must hold exactly the incompatible writer's and the FAX messages, each
 * with its reason. CP_IT_EVENTS sets the stream size (6000 by default),
 * CP_IT_OUTAGE_S the outage (3 s; 30 with CP_IT_FULL=1). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec.h"
#include "harness.h"
#include "kafka.h"
#include "registry.h"
#include "schemas.h"
#include "stream.h"

#define PARTITIONS 8

static struct cp_embedded *emb;
static const char *bootstrap;

static void start_kafka(void)
{
    emb = h_kafka_start(PARTITIONS, &bootstrap);
}

static pid_t registry_pid; /* the test registry, for the teardown */

static void stop_kafka(void)
{
    if (registry_pid > 0) { /* a failed assertion left it running */
        kill(registry_pid, SIGKILL);
        waitpid(registry_pid, NULL, 0);
    }
    h_kafka_stop(&emb);
}

TestSuite(registry_it, .init = start_kafka, .fini = stop_kafka, .timeout = 600);

struct reg_server {
    pid_t pid;
    int port;
    char url[64];
    char state[700];
    char log[700];
};

static void registry_start(struct reg_server *rs)
{
    char port[16];
    const char *argv[] = {"/usr/bin/python3",
                          h_src("tests/integration/schema_registry.py"),
                          "--first-id",
                          "100",
                          "--port",
                          port,
                          "--state",
                          rs->state,
                          NULL};

    snprintf(port, sizeof(port), "%d", rs->port);
    if (truncate(rs->log, 0) && errno != ENOENT)
        cr_assert_fail("truncate %s", rs->log);
    rs->pid = registry_pid = h_spawn(argv, rs->log);
    cr_assert(h_log_wait(rs->log, "PORT", 10000), "test registry did not "
                                                  "start");
}

static void registry_kill(struct reg_server *rs)
{
    kill(rs->pid, SIGKILL);
    waitpid(rs->pid, NULL, 0);
    rs->pid = registry_pid = 0;
}

/* Produces every record of a dump file to crm.events, by key. */
static int64_t produce_dump(const char *path)
{
    char errstr[512];
    struct cp_producer *prod =
        cp_producer_new(bootstrap, NULL, 0, errstr, sizeof(errstr));
    char *data;
    size_t len, pos = 0;
    int64_t cnt = 0;
    FILE *fp = fopen(path, "rb");

    cr_assert_not_null(prod, "%s", errstr);
    cr_assert_not_null(fp, "%s", path);
    fseek(fp, 0, SEEK_END);
    len = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    data = malloc(len ? len : 1);
    cr_assert(fread(data, 1, len, fp) == len);
    fclose(fp);
    while (pos < len) {
        uint32_t klen, vlen;
        const char *key = NULL, *value;

        cr_assert(pos + 5 <= len);
        memcpy(&klen, data + pos + 1, 4);
        klen = __builtin_bswap32(klen);
        pos += 5;
        if (klen != 0xFFFFFFFFu) {
            key = data + pos;
            pos += klen;
        }
        memcpy(&vlen, data + pos, 4);
        vlen = __builtin_bswap32(vlen);
        pos += 4;
        value = data + pos;
        pos += vlen;
        cr_assert(pos <= len);
        cr_assert_eq(cp_producer_send(prod, "crm.events", -1, key,
                                      key ? klen : 0, value, vlen),
                     CP_OK);
        cnt++;
    }
    cr_assert_eq(cp_producer_flush(prod, 60000), CP_OK);
    cp_producer_destroy(prod);
    free(data);
    return cnt;
}

/* The ids the worker registered for its output, looked up. */
static void learn_output_ids(const char *url)
{
    struct cp_registry_opts opts = {.urls = url, .timeout_ms = 5000};
    char errstr[512];
    struct cp_registry *reg = cp_registry_new(&opts, errstr, sizeof(errstr));
    uint32_t alert_id = 0, dl_id = 0;

    cr_assert_not_null(reg, "%s", errstr);
    cr_assert_eq(cp_registry_id_for(reg, "crm.alerts-value",
                                    cp_schema_json(CP_SCHEMA_ID_ALERT), false,
                                    &alert_id, errstr, sizeof(errstr)),
                 CP_OK, "%s", errstr);
    cr_assert_eq(cp_registry_id_for(reg, "crm.events.dlq-value",
                                    cp_schema_json(CP_SCHEMA_ID_DEAD_LETTER),
                                    false, &dl_id, errstr, sizeof(errstr)),
                 CP_OK, "%s", errstr);
    cr_assert(alert_id > 100 && dl_id > 100 && alert_id != dl_id);
    h_set_output_ids(alert_id, dl_id);
    cp_registry_destroy(reg);
}

/* The status code and body of GET @p path on the worker's endpoint, as
 * "<code> <body>". Ownership: caller frees. */
static char *http_get(int port, const char *path)
{
    char cmd[256], *out = calloc(1, 65536);
    size_t len = 0, got;
    FILE *fp;

    cr_assert_not_null(out);
    snprintf(cmd, sizeof(cmd),
             "curl -s -m 5 -w '%%{http_code} ' -o /dev/stderr "
             "http://127.0.0.1:%d%s 2>&1",
             port, path);
    fp = popen(cmd, "r");
    cr_assert_not_null(fp);
    while ((got = fread(out + len, 1, 65535 - len, fp)) > 0)
        len += got;
    pclose(fp);
    /* curl writes the body (stderr) before the code: put the code first. */
    {
        char *sp = len >= 4 ? out + len - 4 : NULL;
        char *swapped = calloc(1, len + 2);

        cr_assert(sp && sp[3] == ' ', "no HTTP answer on %s: %s", path, out);
        cr_assert_not_null(swapped);
        memcpy(swapped, sp, 4);
        memcpy(swapped + 4, out, len - 4);
        free(out);
        return swapped;
    }
}

struct letters {
    int64_t incompatible, fax, other;
};

static void see_letter(const struct cp_dead_letter *dl, void *opaque)
{
    struct letters *l = opaque;

    if (strstr(dl->reason, "schema id 102 does not resolve to "
                           "crm.v1.CrmEvent: field CrmEvent.occurred_at: "
                           "writer type string, reader type long"))
        l->incompatible++;
    else if (strstr(dl->reason, "channel: unknown symbol FAX"))
        l->fax++;
    else {
        fprintf(stderr, "unexpected dead letter: %s\n", dl->reason);
        l->other++;
    }
}

/* A JSON integer field of the stream summary line. */
static int64_t summary_int(const char *json, const char *name)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), "\"%s\": ", name);
    p = strstr(json, pat);
    cr_assert_not_null(p, "no %s in %s", name, json);
    return strtoll(p + strlen(pat), NULL, 10);
}

Test(registry_it, mixed_writers_and_an_outage_give_exact_counters)
{
    long events = h_env_long("CP_IT_EVENTS", 6000);
    long outage_s =
        h_env_long("CP_IT_OUTAGE_S", h_env_long("CP_IT_FULL", 0) ? 30 : 3);
    char gen[700], k1[700], k2[700], orc[700], sum_path[700], wlog[700];
    char n[32], split[32], x_url[128], x_http[64], *body;
    int http_port = h_free_port();
    struct reg_server rs = {0};
    struct h_redis r;
    struct h_dlq_seen seen;
    struct letters letters = {0};
    int64_t part1, part2, want_dlq;
    char *summary, *text;
    pid_t worker;

    /* Copies: h_scratch_file() reuses its buffers. */
    snprintf(gen, sizeof(gen), "%s", h_scratch_file("gen.dump"));
    snprintf(k1, sizeof(k1), "%s", h_scratch_file("kafka1.dump"));
    snprintf(k2, sizeof(k2), "%s", h_scratch_file("kafka2.dump"));
    snprintf(orc, sizeof(orc), "%s", h_scratch_file("oracle.dump"));
    snprintf(sum_path, sizeof(sum_path), "%s", h_scratch_file("stream.json"));
    snprintf(wlog, sizeof(wlog), "%s", h_scratch_file("worker.log"));
    snprintf(rs.state, sizeof(rs.state), "%s", h_scratch_file("reg.json"));
    snprintf(rs.log, sizeof(rs.log), "%s", h_scratch_file("registry.log"));
    rs.port = h_free_port();
    snprintf(rs.url, sizeof(rs.url), "http://127.0.0.1:%d", rs.port);
    registry_start(&rs);
    h_redis_start(&r);

    /* The events, then the same events under the writers' schemas. */
    snprintf(n, sizeof(n), "%ld", events);
    snprintf(split, sizeof(split), "%ld", events / 3);
    {
        const char *argv[] = {h_bin("crmpulse-gen"),
                              "--dry-run",
                              "-n",
                              n,
                              "-c",
                              "1500",
                              "--tenants",
                              "3",
                              "-s",
                              "11",
                              "-o",
                              gen,
                              "-q",
                              NULL};
        const char *sargv[] = {"/usr/bin/python3",
                               h_src("tests/integration/registry_stream.py"),
                               "--registry",
                               rs.url,
                               "--schema-dir",
                               h_src("schemas"),
                               "--in",
                               gen,
                               "--split",
                               split,
                               "--kafka1",
                               k1,
                               "--kafka2",
                               k2,
                               "--oracle",
                               orc,
                               NULL};

        cr_assert_eq(h_run(argv, h_scratch_file("gen.log"), 120), 0);
        if (h_run(sargv, sum_path, 120)) {
            h_tail(sum_path, 20);
            cr_assert_fail("registry_stream.py failed");
        }
    }
    summary = h_slurp(sum_path); /* freed at the end */
    want_dlq = summary_int(summary, "C") + summary_int(summary, "fax");
    cr_assert(summary_int(summary, "A") > 0 && summary_int(summary, "B") > 0 &&
              summary_int(summary, "fax") > 0 && want_dlq > 0);
    cr_assert(strstr(summary, "\"ids\": {\"A\": 100, \"B\": 101, \"C\": "
                              "102, \"D\": 103}"),
              "%s", summary);
    cr_assert(summary_int(summary, "D") > 0);

    /* Part 1, registry up. */
    part1 = produce_dump(k1);
    snprintf(x_url, sizeof(x_url), "schema.registry.url=%s", rs.url);
    snprintf(x_http, sizeof(x_http), "http.listen=127.0.0.1:%d", http_port);
    {
        const char *extras[] = {x_url, "schema.registry.request.timeout.ms=500",
                                x_http, NULL};

        worker = h_worker_spawn(bootstrap, &r, "reg", wlog, extras);
    }
    cr_assert_eq(h_wait_for_commits(&r, "reg", part1), part1);
    learn_output_ids(rs.url);

    /* Part 2 brings schema ids 101 and 102 while the registry is down. */
    registry_kill(&rs);
    part2 = produce_dump(k2);
    cr_assert(h_log_wait(wlog, "not ready: schema registry unreachable", 30000),
              "the worker did not report the registry down");
    body = http_get(http_port, "/readyz");
    cr_assert(strstr(body, "503 not ready: schema registry unreachable"),
              "/readyz during the outage: %s", body);
    free(body);
    h_sleep_ms((int)outage_s * 1000);
    registry_start(&rs);
    cr_assert(h_log_wait(wlog, "the schema registry answers again", 60000));
    body = http_get(http_port, "/metrics");
    cr_assert(!strstr(body, "crmpulse_retries_total{cause=\"registry\"} 0\n") &&
                  strstr(body, "crmpulse_retries_total{cause=\"registry\"} "),
              "no registry retries counted");
    cr_assert(!strstr(body, "crmpulse_schema_registry_errors_total 0\n"));
    cr_assert(strstr(body, "crmpulse_schema_registry_cached_schemas 4\n"),
              "cached schemas: %s", strstr(body, "cached_schemas"));
    free(body);
    h_worker_wait_done(worker, wlog, 300);
    cr_assert_eq(h_offsets_sum(&r, "reg"), part1 + part2);

    text = h_slurp(wlog);
    cr_assert(strstr(text, "new writer schema id 100 vs crm_event.avsc: "
                           "fields added: none; removed: none"),
              "no [SCHEMA] line for id 100");
    cr_assert(strstr(text, "new writer schema id 101 vs crm_event.avsc: "
                           "fields added: note, OrderPlaced.coupon; "
                           "removed: manager_id"),
              "no [SCHEMA] line for id 101");
    cr_assert(strstr(text, "schema id 102 does not resolve"),
              "no [SCHEMA] line for id 102");
    cr_assert(strstr(text, "new writer schema id 103 vs crm_event.avsc: "
                           "fields added: none; removed: MessageSent, "
                           "TicketResolved"),
              "no [SCHEMA] line for id 103");
    cr_assert(strstr(text, "the schema registry answers again"));
    free(text);

    h_read_dlq(bootstrap, "reg", PARTITIONS, want_dlq, &seen, see_letter,
               &letters);
    cr_assert_eq(seen.distinct, want_dlq);
    cr_assert_eq(letters.other, 0);
    cr_assert_eq(letters.incompatible, summary_int(summary, "C"));
    cr_assert_eq(letters.fax, summary_int(summary, "fax"));
    {
        const char *dumps[] = {orc};

        h_oracle_check(bootstrap, &r, dumps, 1, want_dlq);
    }
    free(summary);
    h_redis_stop(&r);
    registry_kill(&rs);
}
