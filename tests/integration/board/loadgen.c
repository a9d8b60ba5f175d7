/* SPDX-License-Identifier: Apache-2.0 */
/* Load driver for crmpulse-board (used by load_test.py): N SSE browsers
 * and a paced stream of API requests over keep-alive connections, in one
 * epoll thread so the driver costs far less CPU than the server it loads.
 *
 *   board_loadgen PORT SSE RPS SECONDS CONNS TENANT[,TENANT...]
 *
 * Connects the SSE clients, prints "READY" once each got its hello, sends
 * RPS requests/s for SECONDS, waits 1.5 s for the last SSE messages and
 * prints one JSON line: API count, errors, latency percentiles, and per SSE
 * client its tenant and the `live` messages it received. Loopback only. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 262144

enum kind { API, SSE };

struct conn {
    enum kind kind;
    int fd;
    const char *tenant; /* SSE: its filter */
    char *buf;          /* owned; bytes read, not yet consumed */
    size_t len;
    int busy;        /* API: a request is in flight */
    int64_t sent_us; /* API: when it was sent */
    /* SSE */
    int headers_done, hello;
    long chunk_left; /* bytes left in the current chunk; -1 = size line */
    char *events;    /* owned; de-chunked SSE text */
    size_t events_len;
    long msgs;
};

static int port;
static char **paths;
static size_t path_cnt, next_path;
static double *lat_ms, *sse_lat_ms;
static size_t lat_cnt, lat_cap, sse_lat_cnt, sse_lat_cap;
static long api_errors;

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int open_conn(int ep, struct conn *c)
{
    struct sockaddr_in sa;
    struct epoll_event ev;
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Blocking connect on loopback is immediate; then non-blocking. */
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)))
        return -1;
    fcntl(c->fd, F_SETFL, O_NONBLOCK);
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    c->len = 0;
    c->busy = 0;
    return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void send_all(struct conn *c, const char *req)
{
    size_t len = strlen(req), off = 0;

    while (off < len) {
        ssize_t n = write(c->fd, req + off, len - off);

        if (n < 0 && errno == EAGAIN)
            continue; /* a request is tiny: the buffer frees at once */
        if (n <= 0)
            return;
        off += (size_t)n;
    }
}

static void push(double **arr, size_t *cnt, size_t *cap, double v)
{
    if (*cnt == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4096;
        double *n = realloc(*arr, ncap * sizeof(*n));

        if (!n)
            return;
        *arr = n;
        *cap = ncap;
    }
    (*arr)[(*cnt)++] = v;
}

static void send_api(struct conn *c)
{
    char req[512];

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: load\r\n\r\n",
             paths[next_path++ % path_cnt]);
    c->busy = 1;
    c->sent_us = now_us();
    send_all(c, req);
}

/* Consumes whole responses from c->buf. Returns 1 if the server closes. */
static int api_parse(struct conn *c)
{
    for (;;) {
        char *end, *cl;
        size_t head, body = 0;
        int close_after;

        c->buf[c->len] = '\0';
        end = strstr(c->buf, "\r\n\r\n");
        if (!end)
            return 0;
        head = (size_t)(end - c->buf) + 4;
        *end = '\0';
        cl = strstr(c->buf, "\r\nContent-Length:");
        if (cl)
            body = strtoul(cl + 17, NULL, 10);
        close_after = strstr(c->buf, "\r\nConnection: close") != NULL;
        *end = '\r';
        if (c->len < head + body)
            return 0;
        push(&lat_ms, &lat_cnt, &lat_cap,
             (double)(now_us() - c->sent_us) / 1000.0);
        if (strncmp(c->buf, "HTTP/1.1 200", 12))
            api_errors++;
        memmove(c->buf, c->buf + head + body, c->len - head - body);
        c->len -= head + body;
        c->busy = 0;
        if (close_after)
            return 1;
    }
}

/* SSE text -> frames; counts `live` messages and their delivery latency
 * (the publisher puts its wall clock in "at"). */
static void sse_frames(struct conn *c)
{
    char *start = c->events, *sep;

    c->events[c->events_len] = '\0';
    while ((sep = strstr(start, "\n\n"))) {
        *sep = '\0';
        if (strstr(start, "event: hello\n")) /* after "retry:" */
            c->hello = 1;
        if (!strncmp(start, "event: live\ndata: ", 18)) {
            char *at = strstr(start, "\"at\": ");

            c->msgs++;
            if (at)
                push(&sse_lat_ms, &sse_lat_cnt, &sse_lat_cap,
                     wall_ms() - strtod(at + 6, NULL));
        }
        start = sep + 2;
    }
    c->events_len -= (size_t)(start - c->events);
    memmove(c->events, start, c->events_len);
}

/* Headers, then chunked transfer decoding into c->events. */
static void sse_parse(struct conn *c)
{
    size_t pos = 0;

    c->buf[c->len] = '\0';
    if (!c->headers_done) {
        char *end = strstr(c->buf, "\r\n\r\n");

        if (!end)
            return;
        if (strncmp(c->buf, "HTTP/1.1 200", 12)) {
            c->headers_done = -1; /* refused */
            return;
        }
        c->headers_done = 1;
        c->chunk_left = -1;
        pos = (size_t)(end - c->buf) + 4;
    }
    while (pos < c->len) {
        if (c->chunk_left < 0) {
            char *eol = strstr(c->buf + pos, "\r\n");

            if (!eol)
                break;
            c->chunk_left = strtol(c->buf + pos, NULL, 16) + 2; /* + CRLF */
            pos = (size_t)(eol - c->buf) + 2;
        } else {
            size_t n = c->len - pos < (size_t)c->chunk_left
                           ? c->len - pos
                           : (size_t)c->chunk_left;
            size_t data = n;

            /* The chunk's trailing CRLF is not SSE text. */
            if ((long)n > c->chunk_left - 2)
                data = c->chunk_left - 2 > 0 ? (size_t)(c->chunk_left - 2) : 0;
            if (data > BUF_SIZE - 1 - c->events_len)
                data = BUF_SIZE - 1 - c->events_len;
            memcpy(c->events + c->events_len, c->buf + pos, data);
            c->events_len += data;
            pos += n;
            c->chunk_left -= (long)n;
            if (c->chunk_left == 0)
                c->chunk_left = -1;
        }
    }
    memmove(c->buf, c->buf + pos, c->len - pos);
    c->len -= pos;
    sse_frames(c);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    size_t i;

    if (!n)
        return 0;
    i = (size_t)((double)n * p / 100.0);
    return v[i < n ? i : n - 1];
}

static void on_readable(int ep, struct conn *c)
{
    for (;;) {
        ssize_t n = read(c->fd, c->buf + c->len, BUF_SIZE - 1 - c->len);

        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->fd = -1;
            if (c->kind == API && open_conn(ep, c) == 0) {
                if (c->busy)
                    api_errors++; /* the request died with the connection */
                c->busy = 0;
            }
            return;
        }
        c->len += (size_t)n;
        if (c->kind == SSE) {
            sse_parse(c);
        } else if (api_parse(c)) {
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            open_conn(ep, c);
            return;
        }
        if (c->len >= BUF_SIZE - 1)
            c->len = 0; /* cannot happen with the board's answers */
    }
}

int main(int argc, char **argv)
{
    int sse, rps, seconds, nconn, ep, ready = 0;
    struct conn *conns;
    char *tenants[64], *list;
    size_t tcnt = 0;
    int64_t start, stop, sent = 0;
    struct epoll_event evs[256];

    if (argc != 7) {
        fprintf(stderr, "usage: %s PORT SSE RPS SECONDS CONNS TENANTS\n",
                argv[0]);
        return 2;
    }
    port = atoi(argv[1]);
    sse = atoi(argv[2]);
    rps = atoi(argv[3]);
    seconds = atoi(argv[4]);
    nconn = atoi(argv[5]);
    list = strdup(argv[6]);
    for (char *t = strtok(list, ","); t && tcnt < 64; t = strtok(NULL, ","))
        tenants[tcnt++] = t;
    paths = calloc(tcnt * 5 + 1, sizeof(*paths));
    for (size_t i = 0; i < tcnt; i++) {
        static const char *const what[] = {"board", "today", "risk", "alerts",
                                           "waiting"};

        for (size_t w = 0; w < 5; w++) {
            paths[path_cnt] = malloc(160);
            snprintf(paths[path_cnt++], 160, "/api/tenants/%s/%s", tenants[i],
                     what[w]);
        }
    }
    paths[path_cnt++] = strdup("/api/tenants");

    ep = epoll_create1(0);
    conns = calloc((size_t)(sse + nconn), sizeof(*conns));
    for (int i = 0; i < sse + nconn; i++) {
        struct conn *c = &conns[i];
        char req[256];

        c->kind = i < sse ? SSE : API;
        c->buf = malloc(BUF_SIZE);
        c->events = c->kind == SSE ? malloc(BUF_SIZE) : NULL;
        c->tenant = tenants[(size_t)i % tcnt];
        if (open_conn(ep, c)) {
            fprintf(stderr, "connect to 127.0.0.1:%d: %s\n", port,
                    strerror(errno));
            return 1;
        }
        if (c->kind == SSE) {
            snprintf(req, sizeof(req),
                     "GET /api/events?tenant=%s HTTP/1.1\r\nHost: load\r\n\r\n",
                     c->tenant);
            send_all(c, req);
        }
    }
    /* Every browser connected and greeted (or refused) before the clock
     * starts. */
    start = now_us();
    while (now_us() - start < 20000000) {
        int n = epoll_wait(ep, evs, 256, 50), done = 0;

        for (int i = 0; i < n; i++)
            on_readable(ep, evs[i].data.ptr);
        for (int i = 0; i < sse; i++)
            done += conns[i].hello || conns[i].headers_done < 0;
        if (done == sse)
            break;
    }
    for (int i = 0; i < sse; i++)
        ready += conns[i].hello;
    printf("READY %d\n", ready);
    fflush(stdout);

    start = now_us();
    stop = start + (int64_t)seconds * 1000000;
    while (now_us() < stop + 1500000) {
        int64_t now = now_us();
        int n;

        if (now < stop) {
            /* Open loop: requests due by now go to idle connections. */
            int64_t due = (now - start) * rps / 1000000;

            for (int i = sse; i < sse + nconn && sent < due; i++) {
                if (!conns[i].busy && conns[i].fd >= 0) {
                    send_api(&conns[i]);
                    sent++;
                }
            }
        }
        n = epoll_wait(ep, evs, 256, 1);
        for (int i = 0; i < n; i++)
            on_readable(ep, evs[i].data.ptr);
    }

    qsort(lat_ms, lat_cnt, sizeof(*lat_ms), cmp_double);
    qsort(sse_lat_ms, sse_lat_cnt, sizeof(*sse_lat_ms), cmp_double);
    printf("{\"api_requests\": %zu, \"api_rps\": %.1f, \"api_errors\": %ld, "
           "\"api_p50_ms\": %.3f, \"api_p99_ms\": %.3f, \"api_max_ms\": %.3f, "
           "\"sse_connected\": %d, \"sse_p50_ms\": %.3f, \"sse_p99_ms\": %.3f, "
           "\"sse\": [",
           lat_cnt, (double)lat_cnt / seconds, api_errors,
           pct(lat_ms, lat_cnt, 50), pct(lat_ms, lat_cnt, 99),
           lat_cnt ? lat_ms[lat_cnt - 1] : 0.0, ready,
           pct(sse_lat_ms, sse_lat_cnt, 50), pct(sse_lat_ms, sse_lat_cnt, 99));
    for (int i = 0; i < sse; i++)
        printf("%s[\"%s\", %ld]", i ? ", " : "", conns[i].tenant,
               conns[i].msgs);
    printf("]}\n");
    for (int i = 0; i < sse + nconn; i++) {
        if (conns[i].fd >= 0)
            close(conns[i].fd);
        free(conns[i].buf);
        free(conns[i].events);
    }
    for (size_t i = 0; i < path_cnt; i++)
        free(paths[i]);
    free(paths);
    free(conns);
    free(lat_ms);
    free(sse_lat_ms);
    free(list);
    close(ep);
    return 0;
}
