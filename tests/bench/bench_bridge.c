/* SPDX-License-Identifier: Apache-2.0 */
/* Webhook load on a running crmpulse-bridge: C client threads, each on one
 * keep-alive connection, POST Pipedrive v2 "deal created" webhooks (each a
 * new deal, so each is one event that Kafka must acknowledge before the
 * 200) and time every request from its first byte sent to its answer read.
 * Prints webhooks/s and the latency percentiles; any answer but 200 is
 * counted and fails the run. tests/bench/bench_bridge.sh starts the bridge
 * (embedded Kafka, a scratch redis-server) and runs this.
 *   bench_bridge PORT TENANT REQUESTS THREADS */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port;
static const char *tenant;
static long per_thread;
static int64_t *lat_us; /* owned: one per request */
static long failures;
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int dial(void)
{
    struct sockaddr_in sa = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("bench_bridge: connect");
        exit(1);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* Reads one response; @returns its status, or -1 when the peer closed. */
static int read_response(int fd, char *buf, size_t cap)
{
    size_t got = 0;

    for (;;) {
        char *end;
        ssize_t r = read(fd, buf + got, cap - 1 - got);

        if (r <= 0)
            return -1;
        got += (size_t)r;
        buf[got] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end) {
            const char *cl = strcasestr(buf, "Content-Length:");
            size_t need = (size_t)(end + 4 - buf) +
                          (cl ? strtoul(cl + 15, NULL, 10) : 0);
            int status = -1;

            while (got < need) {
                r = read(fd, buf + got, cap - 1 - got);
                if (r <= 0)
                    return -1;
                got += (size_t)r;
            }
            sscanf(buf, "HTTP/1.1 %d", &status);
            return status;
        }
        if (got + 1 >= cap)
            return -1;
    }
}

static void *run(void *arg)
{
    long id = (long)(intptr_t)arg;
    char body[1024], req[2048], resp[8192];
    int fd = dial();
    time_t t0 = time(NULL);

    for (long i = 0; i < per_thread; i++) {
        long deal = id * per_thread + i + 1;
        struct tm tm;
        char iso[32];
        int blen, rlen, status;
        int64_t start;

        gmtime_r(&t0, &tm);
        strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
        blen = snprintf(body, sizeof(body),
                        "{\"meta\":{\"action\":\"create\",\"entity\":\"deal\","
                        "\"entity_id\":\"%ld\",\"version\":\"2.0\","
                        "\"timestamp\":\"%s\"},\"data\":{\"id\":%ld,"
                        "\"value\":99.5,\"status\":\"open\",\"stage_id\":1,"
                        "\"owner_id\":7,\"org_id\":%ld,\"update_time\":\"%s\"},"
                        "\"previous\":null}",
                        deal, iso, deal, deal % 5000 + 1, iso);
        rlen = snprintf(req, sizeof(req),
                        "POST /hooks/pipedrive/%s HTTP/1.1\r\n"
                        "Host: 127.0.0.1:%d\r\n"
                        "Authorization: Basic aG9vazpwZC1wYXNz\r\n"
                        "Content-Type: application/json\r\n"
                        "Content-Length: %d\r\n\r\n%s",
                        tenant, port, blen, body);
        start = now_us();
        if (write(fd, req, (size_t)rlen) != rlen) {
            close(fd);
            fd = dial();
            i--;
            continue;
        }
        status = read_response(fd, resp, sizeof(resp));
        lat_us[id * per_thread + i] = now_us() - start;
        if (status < 0) { /* the server closed the connection: reconnect */
            close(fd);
            fd = dial();
        }
        if (status != 200) {
            pthread_mutex_lock(&fail_lock);
            if (failures++ < 3)
                fprintf(stderr, "bench_bridge: answer %d: %.200s\n", status,
                        resp);
            pthread_mutex_unlock(&fail_lock);
        }
    }
    close(fd);
    return NULL;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    pthread_t th[256];
    long n, threads, total;
    int64_t t0, t1;

    if (argc != 5) {
        fprintf(stderr, "usage: bench_bridge PORT TENANT REQUESTS THREADS\n");
        return 2;
    }
    port = atoi(argv[1]);
    tenant = argv[2];
    n = atol(argv[3]);
    threads = atol(argv[4]);
    if (port <= 0 || n <= 0 || threads <= 0 || threads > 256) {
        fprintf(stderr, "bench_bridge: bad arguments\n");
        return 2;
    }
    per_thread = n / threads;
    total = per_thread * threads;
    lat_us = calloc((size_t)total, sizeof(*lat_us));
    if (!lat_us)
        return 1;
    t0 = now_us();
    for (long i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, run, (void *)(intptr_t)i);
    for (long i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    t1 = now_us();
    qsort(lat_us, (size_t)total, sizeof(*lat_us), cmp64);
    printf("webhooks %ld, threads %ld, %.1f s: %.0f webhooks/s; latency to "
           "Kafka ack p50 %.2f ms, p99 %.2f ms, max %.2f ms; non-200 %ld\n",
           total, threads, (double)(t1 - t0) / 1e6,
           (double)total * 1e6 / (double)(t1 - t0),
           (double)lat_us[total / 2] / 1000.0,
           (double)lat_us[total * 99 / 100] / 1000.0,
           (double)lat_us[total - 1] / 1000.0, failures);
    free(lat_us);
    return failures ? 1 : 0;
}
