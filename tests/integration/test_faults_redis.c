/* SPDX-License-Identifier: Apache-2.0 */
/* Redis failing under a running worker, one kind of failure per case: a
 * SIGKILL with the data back from the append-only file, a 15 s SIGSTOP,
 * CLIENT PAUSE (all commands for 10 s, then short write pauses in a row
 * while traffic flows), a minute unreachable while the producer keeps
 * producing, and no Redis at all when the worker starts. Every case ends
 * with exact counters (the oracle, tests/integration/oracle.py, finds no
 * mismatch; the offsets cover every message), and SIGTERM in the failure
 * state exits 0 within 5 s (the time is printed): the worker that lived
 * through the first failure is stopped during a second one, and where
 * input is left a new worker finishes it. The real crmpulse binary, a
 * real redis-server, the embedded Kafka.
 *
 * Environment: CP_IT_EVENTS (default 20000, the CI size; set it higher
 * for a bigger run) valid events in the main stream; CP_IT_OUTAGE_S (default
 * 60, the requirement) how long Redis is unreachable in
 * redis_unreachable_for_a_minute (shorten it for a quick local run only). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "harness.h"
#include "kafka.h"
#include "stream.h"

#define PARTITIONS 8
/* Bound on how much the worker may grow while Redis is away: librdkafka's
 * prefetch is capped at 32 MiB (queued.max.messages.kbytes in kafka.c),
 * the batch buffers are sized once at start, and nothing else should hold
 * input while no batch commits. 256 MiB leaves room for the allocator and
 * ASan's quarantine, and still catches a worker that buffers the backlog. */
#define RSS_GROWTH_MAX_KIB (256 * 1024)

static struct cp_embedded *emb;
static const char *bootstrap;
static long events_n; /* valid events in a case's main stream */
static int64_t t0_ms; /* event time of the first stream */

static void start_kafka(void)
{
    events_n = h_env_long("CP_IT_EVENTS", 20000);
    t0_ms = cp_now_ms() - 3600 * 1000;
    emb = h_kafka_start(PARTITIONS, &bootstrap);
}

static void stop_kafka(void)
{
    h_kafka_stop(&emb);
}

TestSuite(faults_redis, .init = start_kafka, .fini = stop_kafka,
          .timeout = 900);

/* Event time of the i-th stream of a case: after the previous one. */
static int64_t stream_start(int i)
{
    return t0_ms + (int64_t)i * (events_n * 5 + 60000);
}

/* The streams of one case: dumps, their message counts, the invalid ones. */
struct streams {
    const char *dumps[4];
    char paths[4][700];
    size_t cnt;
    int64_t total, invalid;
};

static const char *stream_dump(struct streams *s, const char *group)
{
    char name[64];

    cr_assert_lt(s->cnt, 4);
    snprintf(name, sizeof(name), "%s-%zu.dump", group, s->cnt);
    snprintf(s->paths[s->cnt], sizeof(s->paths[0]), "%s", h_scratch_file(name));
    s->dumps[s->cnt] = s->paths[s->cnt];
    return s->paths[s->cnt++];
}

/* Produces stream number s->cnt (seed 42, 43 ...) of @p n events at once. */
static void produce(struct streams *s, const char *group, long n)
{
    char seed[16];
    int i = (int)s->cnt;
    const char *dump = stream_dump(s, group);

    snprintf(seed, sizeof(seed), "%d", 42 + i);
    h_produce(bootstrap, dump, seed, n, stream_start(i), "5");
    s->total += h_dump_count(dump, &s->invalid);
}

/* The same, paced at @p rate events/s; stream_count() once it ended. */
static pid_t produce_paced(struct streams *s, const char *group, long n,
                           long rate)
{
    char seed[16];
    int i = (int)s->cnt;
    const char *dump = stream_dump(s, group);

    snprintf(seed, sizeof(seed), "%d", 42 + i);
    return h_produce_paced(bootstrap, dump, seed, n, stream_start(i), "5",
                           rate);
}

static void stream_count(struct streams *s)
{
    s->total += h_dump_count(s->dumps[s->cnt - 1], &s->invalid);
}

static pid_t spawn_worker(const struct h_redis *r, const char *group,
                          const char *log, const char *extra1,
                          const char *extra2)
{
    const char *extras[] = {extra1, extra2, NULL};

    return h_worker_spawn(bootstrap, r, group, log, extras);
}

/* The first worker of a case outlives an idle spell around the failures;
 * the test stops it with SIGTERM. The one that finishes the stream is
 * the group's only member: it may leave soon after the input ends. */
#define LONG_IDLE  "worker.exit.idle.ms=300000"
#define SHORT_IDLE "worker.exit.idle.ms=3000"

/* Whether @p pid still runs; an exited child is left to h_wait() to reap. */
static int alive(pid_t pid)
{
    siginfo_t info;

    memset(&info, 0, sizeof(info));
    return waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == 0;
}

/* SIGTERM: exit 0 within 5 s; returns the seconds it took. */
static double sigterm_exits_fast(pid_t pid, const char *log, const char *when)
{
    struct timespec t0;
    double took;
    int rc;

    cr_assert(alive(pid), "the worker exited before the SIGTERM (%s)", when);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill(pid, SIGTERM);
    rc = h_wait(pid, 90);
    took = h_elapsed_s(&t0);
    fprintf(stderr, "SIGTERM %s: exit %d in %.2f s\n", when, rc, took);
    if (rc || took >= 5.0)
        h_tail(log, 30);
    cr_assert_eq(rc, 0, "SIGTERM %s must exit 0, got %d", when, rc);
    cr_assert_lt(took, 5.0, "SIGTERM %s took %.1f s", when, took);
    return took;
}

/* Seconds until @p group's offsets cover @p total messages (asserts it
 * happens within @p timeout_s). */
static double wait_caught_up(const struct h_redis *r, const char *group,
                             int64_t total, int timeout_s)
{
    struct timespec t0;
    int64_t done = 0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (h_elapsed_s(&t0) < timeout_s) {
        done = h_offsets_sum(r, group);
        if (done >= total)
            return h_elapsed_s(&t0);
        h_sleep_ms(50);
    }
    cr_assert_fail("%s: %lld of %lld messages committed after %d s", group,
                   (long long)done, (long long)total, timeout_s);
    return -1;
}

/* Waits until a quarter of @p total is committed; the stream must still be
 * running, or the failure would not hit it mid-stream. */
static void wait_mid_stream(const struct h_redis *r, const char *group,
                            int64_t total)
{
    int64_t done = h_wait_for_commits(r, group, total / 4);

    cr_assert_geq(done, total / 4, "the worker made no progress");
    cr_assert_lt(done, total, "finished before the failure: test too slow");
}

/* The end of every case: offsets cover every message, the oracle agrees. */
static void check_exact(const struct h_redis *r, const char *group,
                        const struct streams *s)
{
    cr_assert_eq(h_offsets_sum(r, group), s->total,
                 "offsets must cover every message");
    h_oracle_check(bootstrap, r, s->dumps, s->cnt, s->invalid);
}

/* ---- 1. SIGKILL, back from the append-only file ---- */

Test(faults_redis, sigkill_and_restart_from_aof)
{
    const char *log = h_scratch_file("aof.log");
    const char *log2 = h_scratch_file("aof2.log");
    struct streams s = {0};
    int64_t before, after;
    struct timespec back;
    struct h_redis r;
    struct stat st;
    char info[4096];
    pid_t pid;

    h_redis_start_aof(&r);
    produce(&s, "aof", events_n);
    pid = spawn_worker(&r, "aof", log, "worker.batch.max=500", LONG_IDLE);
    wait_mid_stream(&r, "aof", s.total);
    before = h_offsets_sum(&r, "aof");
    h_redis_crash(&r);
    h_sleep_ms(3000);
    cr_assert(alive(pid), "the worker must wait for Redis, not exit");
    h_redis_restart(&r);
    clock_gettime(CLOCK_MONOTONIC, &back);
    /* Back from the AOF: no snapshot exists, the commits are there. */
    after = h_offsets_sum(&r, "aof");
    cr_assert_geq(after, before, "AOF lost commits: %lld before, %lld after",
                  (long long)before, (long long)after);
    {
        char rdb[64];

        snprintf(rdb, sizeof(rdb), "dump-%d.rdb", r.port);
        cr_assert_neq(stat(h_scratch_file(rdb), &st), 0,
                      "an RDB snapshot exists: the data must come from AOF");
    }
    h_redis_str(&r, info, sizeof(info), "INFO persistence");
    cr_assert(strstr(info, "aof_enabled:1"), "%s", info);
    wait_caught_up(&r, "aof", s.total, 120);
    fprintf(stderr,
            "aof: killed at %lld of %lld committed, %lld back from the AOF; "
            "caught up %.2f s after the restart\n",
            (long long)before, (long long)s.total, (long long)after,
            h_elapsed_s(&back));

    /* Killed again with input waiting: SIGTERM, then a new worker. */
    h_redis_crash(&r);
    produce(&s, "aof", events_n / 4);
    h_sleep_ms(2000);
    sigterm_exits_fast(pid, log, "with Redis killed");
    h_redis_restart(&r);
    h_worker_wait_done(spawn_worker(&r, "aof", log2, SHORT_IDLE, NULL), log2,
                       300);
    check_exact(&r, "aof", &s);
    h_redis_stop(&r);
}

/* ---- 2. SIGSTOP ---- */

Test(faults_redis, sigstop_for_15_seconds)
{
    const char *log = h_scratch_file("stop.log");
    const char *log2 = h_scratch_file("stop2.log");
    struct streams s = {0};
    struct timespec back;
    struct h_redis r;
    pid_t pid;

    h_redis_start(&r);
    produce(&s, "stop", events_n);
    pid = spawn_worker(&r, "stop", log, "worker.batch.max=500", LONG_IDLE);
    wait_mid_stream(&r, "stop", s.total);
    h_redis_freeze(&r);
    h_sleep_ms(15000);
    cr_assert(alive(pid), "the worker must wait for Redis, not exit");
    h_redis_thaw(&r);
    clock_gettime(CLOCK_MONOTONIC, &back);
    wait_caught_up(&r, "stop", s.total, 120);
    fprintf(stderr, "sigstop: caught up %.2f s after SIGCONT\n",
            h_elapsed_s(&back));

    /* Frozen again, a batch waiting on it: SIGTERM, then a new worker. */
    h_redis_freeze(&r);
    produce(&s, "stop", events_n / 4);
    h_sleep_ms(2000);
    sigterm_exits_fast(pid, log, "with Redis stopped");
    h_redis_thaw(&r);
    h_worker_wait_done(spawn_worker(&r, "stop", log2, SHORT_IDLE, NULL), log2,
                       300);
    check_exact(&r, "stop", &s);
    h_redis_stop(&r);
}

/* ---- 3. CLIENT PAUSE ---- */

static void client_pause(const struct h_redis *r, int ms, const char *mode)
{
    char reply[64];

    h_redis_str(r, reply, sizeof(reply), "CLIENT PAUSE %d %s", ms, mode);
    cr_assert_str_eq(reply, "OK", "CLIENT PAUSE %d %s", ms, mode);
}

Test(faults_redis, client_pause_all_then_slow_writes)
{
    const char *log = h_scratch_file("pause.log");
    const char *log2 = h_scratch_file("pause2.log");
    struct streams s = {0};
    struct timespec back, t0;
    struct h_redis r;
    int pulses = 0;
    pid_t pid, gen;

    h_redis_start(&r);
    produce(&s, "pause", events_n);
    pid = spawn_worker(&r, "pause", log, "worker.batch.max=500", LONG_IDLE);
    wait_mid_stream(&r, "pause", s.total);
    /* Every command waits 10 s (ours too: no look at Redis meanwhile). */
    client_pause(&r, 10000, "ALL");
    h_sleep_ms(10000);
    clock_gettime(CLOCK_MONOTONIC, &back);
    wait_caught_up(&r, "pause", s.total, 120);
    fprintf(stderr, "pause all: caught up %.2f s after the pause ended\n",
            h_elapsed_s(&back));

    /* Slow Redis: writes held 200 ms out of every 300 for ~10 s while
     * 10,000 events arrive at 1,000/s. */
    gen = produce_paced(&s, "pause", 10000, 1000);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (h_elapsed_s(&t0) < 10.0 || alive(gen)) {
        if (h_elapsed_s(&t0) < 10.0) {
            client_pause(&r, 200, "WRITE");
            pulses++;
        }
        h_sleep_ms(300);
        cr_assert_lt(h_elapsed_s(&t0), 120.0, "paced producer too slow");
    }
    h_produce_wait(gen, 10);
    stream_count(&s);
    clock_gettime(CLOCK_MONOTONIC, &back);
    wait_caught_up(&r, "pause", s.total, 120);
    fprintf(stderr,
            "slow writes: %d pauses of 200 ms; caught up %.2f s after the "
            "producer ended\n",
            pulses, h_elapsed_s(&back));

    /* Paused again with input waiting: SIGTERM, then a new worker. */
    client_pause(&r, 8000, "ALL");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    produce(&s, "pause", events_n / 4);
    h_sleep_ms(1000);
    sigterm_exits_fast(pid, log, "during CLIENT PAUSE ALL");
    cr_assert_lt(h_elapsed_s(&t0), 8.0, "the SIGTERM came after the pause");
    while (h_elapsed_s(&t0) < 8.5)
        h_sleep_ms(100);
    h_worker_wait_done(spawn_worker(&r, "pause", log2, SHORT_IDLE, NULL), log2,
                       300);
    check_exact(&r, "pause", &s);
    h_redis_stop(&r);
}

/* ---- 4. a minute unreachable ---- */

/* HTTP status of GET @p path on 127.0.0.1:@p port; -1 if no answer. */
static int http_status(int port, const char *path)
{
    struct sockaddr_in addr;
    struct timeval tv = {2, 0};
    char req[256], resp[512];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int status = -1;
    size_t got = 0;

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
        int n = snprintf(req, sizeof(req),
                         "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
        ssize_t r;

        if (write(fd, req, (size_t)n) == n)
            while (got < sizeof(resp) - 1 &&
                   (r = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
                got += (size_t)r;
        resp[got] = '\0';
        if (!strncmp(resp, "HTTP/1.", 7) && strlen(resp) > 12)
            status = atoi(resp + 9);
    }
    close(fd);
    return status;
}

/* VmRSS of @p pid in KiB; -1 if gone. */
static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

/* Polls /readyz until it answers @p want; returns the seconds it took
 * (asserts within @p timeout_s). */
static double wait_readyz(int port, int want, int timeout_s)
{
    struct timespec t0;
    int got = -1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (h_elapsed_s(&t0) < timeout_s) {
        got = http_status(port, "/readyz");
        if (got == want)
            return h_elapsed_s(&t0);
        h_sleep_ms(200);
    }
    cr_assert_fail("/readyz answered %d, not %d, for %d s", got, want,
                   timeout_s);
    return -1;
}

static const char *http_listen(int port)
{
    static char setting[64];

    snprintf(setting, sizeof(setting), "http.listen=127.0.0.1:%d", port);
    return setting;
}

Test(faults_redis, redis_unreachable_for_a_minute)
{
    const char *log = h_scratch_file("outage.log");
    long outage_s = h_env_long("CP_IT_OUTAGE_S", 60);
    /* Paced so the producer ends a little before Redis is back. */
    long rate = 300, paced_n = rate * (outage_s > 15 ? outage_s - 10 : 5);
    long baseline = 0, peak = 0, after_peak = 0;
    int port = h_free_port(), not_ready = 0, samples = 0;
    struct streams s = {0};
    struct timespec down, back;
    double ready_s, caught_s;
    struct h_redis r;
    pid_t pid, gen;

    h_redis_start_aof(&r);
    produce(&s, "outage", events_n / 2);
    pid = spawn_worker(&r, "outage", log, http_listen(port), LONG_IDLE);
    wait_caught_up(&r, "outage", s.total, 180);
    wait_readyz(port, 200, 30);
    for (int i = 0; i < 6; i++) {
        long kib = rss_kib(pid);

        baseline = kib > baseline ? kib : baseline;
        h_sleep_ms(500);
    }

    h_redis_crash(&r);
    clock_gettime(CLOCK_MONOTONIC, &down);
    gen = produce_paced(&s, "outage", paced_n, rate);
    while (h_elapsed_s(&down) < (double)outage_s) {
        long kib = rss_kib(pid);
        int status;

        cr_assert(kib > 0, "the worker exited during the outage");
        peak = kib > peak ? kib : peak;
        status = http_status(port, "/readyz");
        /* It notices within a batch or an idle health check (1 s). */
        if (h_elapsed_s(&down) > 3.0) {
            samples++;
            cr_assert_eq(status, 503, "/readyz %d %.1f s into the outage",
                         status, h_elapsed_s(&down));
            not_ready++;
        }
        h_sleep_ms(500);
    }
    cr_assert_gt(not_ready, 0);
    h_produce_wait(gen, 60);
    stream_count(&s);
    h_redis_restart(&r);
    clock_gettime(CLOCK_MONOTONIC, &back);
    /* Ready again and caught up; RSS sampled on the way. */
    for (ready_s = caught_s = -1; ready_s < 0 || caught_s < 0;) {
        long kib = rss_kib(pid);

        cr_assert(kib > 0, "the worker exited after the outage");
        after_peak = kib > after_peak ? kib : after_peak;
        if (ready_s < 0 && http_status(port, "/readyz") == 200)
            ready_s = h_elapsed_s(&back);
        if (caught_s < 0 && h_offsets_sum(&r, "outage") >= s.total)
            caught_s = h_elapsed_s(&back);
        cr_assert_lt(h_elapsed_s(&back), 180.0,
                     "not ready or not caught up 180 s after the outage");
        h_sleep_ms(250);
    }
    fprintf(stderr,
            "outage %ld s, %lld events produced meanwhile; /readyz 503 in %d "
            "of %d samples; ready %.2f s and caught up %.2f s after Redis "
            "came back; VmRSS baseline %ld KiB, peak during the outage %ld "
            "KiB (+%ld), peak while catching up %ld KiB\n",
            outage_s, (long long)paced_n, not_ready, samples, ready_s, caught_s,
            baseline, peak, peak - baseline, after_peak);
    cr_assert_lt(peak, baseline + RSS_GROWTH_MAX_KIB,
                 "VmRSS grew from %ld to %ld KiB while Redis was away",
                 baseline, peak);

    /* Unreachable again: SIGTERM. */
    h_redis_crash(&r);
    wait_readyz(port, 503, 30);
    sigterm_exits_fast(pid, log, "with Redis unreachable");
    h_redis_restart(&r);
    check_exact(&r, "outage", &s);
    h_redis_stop(&r);
}

/* ---- 5. no Redis at start ---- */

Test(faults_redis, redis_absent_at_start)
{
    const char *log0 = h_scratch_file("absent0.log");
    const char *log = h_scratch_file("absent.log");
    int port0 = h_free_port(), port = h_free_port();
    struct streams s = {0};
    struct timespec t0, back;
    struct h_redis r;
    pid_t pid;

    h_redis_reserve(&r, 0);
    produce(&s, "absent", events_n);

    /* A worker that never sees Redis: waits, not ready, stops on SIGTERM. */
    pid = spawn_worker(&r, "absent", log0, http_listen(port0), NULL);
    h_sleep_ms(2000);
    cr_assert(alive(pid), "the worker must wait for Redis, not exit");
    wait_readyz(port0, 503, 10);
    sigterm_exits_fast(pid, log0, "before Redis ever answered");

    /* Redis appears ~5 s after the worker started: everything, once. */
    pid = spawn_worker(&r, "absent", log, http_listen(port), LONG_IDLE);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (h_elapsed_s(&t0) < 5.0) {
        int status = http_status(port, "/readyz");

        cr_assert(alive(pid), "the worker must wait for Redis, not exit");
        cr_assert(status == 503 || status == -1, "/readyz %d without Redis",
                  status);
        h_sleep_ms(500);
    }
    cr_assert_eq(wait_readyz(port, 503, 10) >= 0, 1);
    h_redis_restart(&r);
    clock_gettime(CLOCK_MONOTONIC, &back);
    wait_caught_up(&r, "absent", s.total, 180);
    fprintf(stderr, "absent: caught up %.2f s after Redis appeared\n",
            h_elapsed_s(&back));
    wait_readyz(port, 200, 30);
    sigterm_exits_fast(pid, log, "after catching up");
    check_exact(&r, "absent", &s);
    h_redis_stop(&r);
}
