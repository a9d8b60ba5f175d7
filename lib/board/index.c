/* SPDX-License-Identifier: Apache-2.0 */
/* The wallboard's tenant index (board_int.h): the key contract has no list
 * of tenants, nor of the manager and source names of a day, and KEYS would
 * block Redis, so a background thread SCANs `P:{*}:d:*` on its own
 * connection, pausing 20x as long as a scan took, and swaps in each
 * complete result. Requests read the last complete index and never wait
 * for a scan, except for the very first (INDEX_WAIT_MS at most). */
#include "board_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "civil.h"
#include "conn.h"
#include "ids.h"
#include "keys.h"
#include "map.h"

#define INDEX_MIN_MS    5000   /* rescan pause: 20x the last scan's time, */
#define INDEX_MAX_MS    60000  /* ... within these bounds */
#define INDEX_WAIT_MS   2000   /* a request waits this long for the 1st */
#define INDEX_DAYS      35     /* days back whose names are indexed */
#define INDEX_MAX       200000 /* names kept, a hard cap */
#define SCAN_MAX_ROUNDS 100000 /* SCAN calls per rescan, a hard cap */
#define REDIS_TIMEOUT   2000   /* ms per Redis read or write */
#define RETRY_MS        1000   /* reconnect at most this often */

/* A manager or source name seen in a day hash key of a recent day. */
struct idx_entry {
    char *tenant; /* owned */
    char day[11]; /* YYYY-MM-DD */
    char kind;    /* 'm' manager, 's' source */
    char *name;   /* owned */
};

/* What one full SCAN found. */
struct index {
    char **tenants; /* owned, sorted */
    size_t tcnt, tcap;
    struct cp_map seen;  /* tenants added, while scanning: a SCAN returns
                            each tenant once per key, so a list search per
                            key made a rescan O(tenants^2) */
    struct idx_entry *e; /* owned */
    size_t cnt, cap;
};

struct cp__index {
    const struct cp_redis_url *url; /* borrowed from the API, outlives us */
    char *prefix;                   /* owned */

    pthread_mutex_t mu;  /* guards everything below */
    pthread_cond_t cond; /* index ready, or the indexer must stop */
    struct index ix;     /* the last complete scan */
    int tried;           /* the first scan finished or failed */
    int started;         /* the indexer thread runs */
    int stop;
    pthread_t thread;
    uint64_t scan_commands;
};

static void index_free(struct index *ix)
{
    cp_map_cleanup(&ix->seen);
    for (size_t i = 0; i < ix->tcnt; i++)
        free(ix->tenants[i]);
    free(ix->tenants);
    for (size_t i = 0; i < ix->cnt; i++) {
        free(ix->e[i].tenant);
        free(ix->e[i].name);
    }
    free(ix->e);
    memset(ix, 0, sizeof(*ix));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_tenant(struct index *ix, const char *t, size_t len)
{
    struct cp_map_entry *e =
        cp_map_upsert(&ix->seen, t, len, cp_map_hash(t, len));
    char **grown;

    if (!e)
        return -1;
    if (e->value)
        return 0;
    e->value = ix; /* any non-NULL: seen */
    grown = cp_grow(ix->tenants, &ix->tcap, ix->tcnt, sizeof(*grown), 16);
    if (!grown)
        return -1;
    ix->tenants = grown;
    ix->tenants[ix->tcnt] = strndup(t, len);
    if (!ix->tenants[ix->tcnt])
        return -1;
    ix->tcnt++;
    return 0;
}

/* One key of `P:{T}:d:D[:manager:M|:source:S|...]`: records T, and M or S
 * when D is a recent day. Returns -1 when out of memory. */
static int index_key(const char *prefix, struct index *ix, const char *key,
                     size_t len, int64_t oldest_day)
{
    size_t plen = strlen(prefix);
    const char *t, *close, *rest, *end = key + len;
    struct idx_entry *e, *grown;
    int64_t day;
    char date[11];
    size_t tlen;

    if (len < plen + 2 || memcmp(key, prefix, plen) || key[plen] != ':' ||
        key[plen + 1] != '{')
        return 0;
    t = key + plen + 2;
    close = memchr(t, '}', (size_t)(end - t));
    if (!close || !cp_id_valid(t, (size_t)(close - t)))
        return 0;
    tlen = (size_t)(close - t);
    rest = close + 1;
    if (end - rest < 13 || rest[0] != ':' ||
        memcmp(rest + 1, CP_KSEG_DAY, sizeof(CP_KSEG_DAY) - 1))
        return 0;
    memcpy(date, rest + sizeof(CP_KSEG_DAY), 10);
    date[10] = '\0';
    if (cp_parse_day(date, &day))
        return 0;
    if (add_tenant(ix, t, tlen))
        return -1;
    rest += 13;
    if (day < oldest_day || rest == end || ix->cnt >= INDEX_MAX)
        return 0;
    if ((size_t)(end - rest) > 9 && !memcmp(rest, ":manager:", 9))
        rest += 9;
    else if ((size_t)(end - rest) > 8 && !memcmp(rest, ":source:", 8))
        rest += 8;
    else
        return 0;
    grown = cp_grow(ix->e, &ix->cap, ix->cnt, sizeof(*grown), 64);
    if (!grown)
        return -1;
    ix->e = grown;
    e = &ix->e[ix->cnt];
    e->kind = rest[-2] == 'r' ? 'm' : 's'; /* ":manager:" vs ":source:" */
    memcpy(e->day, date, sizeof(e->day));
    e->tenant = strndup(t, tlen);
    e->name = strndup(rest, (size_t)(end - rest));
    if (!e->tenant || !e->name) {
        free(e->tenant);
        free(e->name);
        return -1;
    }
    ix->cnt++;
    return 0;
}

static int stopping(struct cp__index *idx)
{
    int stop;

    pthread_mutex_lock(&idx->mu);
    stop = idx->stop;
    pthread_mutex_unlock(&idx->mu);
    return stop;
}

/* Sends one SCAN round from @p cursor and reads its reply (owned by the
 * caller). Returns -1 on a Redis error. */
static int scan_round(struct cp__index *idx, struct cp_rconn *conn,
                      size_t master, struct cp_cmds *cmds, const char *cursor,
                      const char *match, struct cp_rconn_reply **reply)
{
    cp_cmds_reset(cmds);
    cp_cmd_begin(cmds, 6);
    cp_cmd_str(cmds, "SCAN");
    cp_cmd_str(cmds, cursor);
    cp_cmd_str(cmds, "MATCH");
    cp_cmd_str(cmds, match);
    cp_cmd_str(cmds, "COUNT");
    cp_cmd_str(cmds, "1000");
    pthread_mutex_lock(&idx->mu);
    idx->scan_commands++;
    pthread_mutex_unlock(&idx->mu);
    return cp_rconn_send_on(conn, master, cmds) ||
                   cp_rconn_read(conn, -1, reply)
               ? -1
               : 0;
}

/* One full SCAN of `P:{*}:d:*` on master @p master (a cluster's keys are
 * split over its masters) into @p ix. Returns -1 on a Redis error. */
static int scan_master(struct cp__index *idx, struct cp_rconn *conn,
                       size_t master, struct cp_cmds *cmds, struct index *ix)
{
    int64_t oldest = cp_day_of_ms(cp_now_ms()) - INDEX_DAYS;
    char cursor[32] = "0", match[300];
    int rounds = 0;

    snprintf(match, sizeof(match), "%s:{*}:" CP_KSEG_DAY "*", idx->prefix);
    do {
        struct cp_rconn_reply *reply = NULL;
        struct cp_reply r, cur, keys;
        int bad = 0;

        if (scan_round(idx, conn, master, cmds, cursor, match, &reply))
            return -1;
        cp_rconn_reply_view(reply, &r);
        cp_reply_element(&r, 0, &cur);
        if (r.type != CP_REPLY_ARRAY || r.elements != 2 ||
            cur.type != CP_REPLY_STRING || cur.len >= sizeof(cursor)) {
            cp_rconn_reply_free(reply);
            return -1;
        }
        memcpy(cursor, cur.str, cur.len);
        cursor[cur.len] = '\0';
        cp_reply_element(&r, 1, &keys);
        for (size_t i = 0;
             !bad && keys.type == CP_REPLY_ARRAY && i < keys.elements; i++) {
            struct cp_reply k;

            cp_reply_element(&keys, i, &k);
            bad = k.type == CP_REPLY_STRING &&
                  index_key(idx->prefix, ix, k.str, k.len, oldest);
        }
        cp_rconn_reply_free(reply);
        if (bad)
            return -1;
    } while (strcmp(cursor, "0") && ++rounds < SCAN_MAX_ROUNDS &&
             !stopping(idx));
    return 0;
}

/* One full SCAN of every master into @p ix. Returns -1 on a Redis error. */
static int scan_all(struct cp__index *idx, struct cp_rconn *conn,
                    struct cp_cmds *cmds, struct index *ix)
{
    for (size_t m = 0; m < cp_rconn_masters(conn); m++)
        if (scan_master(idx, conn, m, cmds, ix))
            return -1;
    if (ix->tcnt)
        qsort(ix->tenants, ix->tcnt, sizeof(*ix->tenants), cmp_str);
    cp_map_cleanup(&ix->seen); /* only needed while scanning */
    return 0;
}

/* Waits until @p pause_ms passed or the index is stopping. */
static void pause_for(struct cp__index *idx, int64_t pause_ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += pause_ms / 1000;
    ts.tv_nsec += (long)(pause_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&idx->mu);
    while (!idx->stop &&
           pthread_cond_timedwait(&idx->cond, &idx->mu, &ts) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&idx->mu);
}

/* Rescans until the index is destroyed, on its own connection; pauses 20x
 * as long as a scan took, so SCAN keeps Redis busy at most ~5% of the time
 * however large the keyspace. A failed scan keeps the previous index. */
static void *indexer(void *arg)
{
    struct cp__index *idx = arg;
    struct cp_rconn *conn = NULL;
    struct cp_cmds cmds;
    char errstr[512];

    cp_cmds_init(&cmds);
    while (!stopping(idx)) {
        struct index ix = {0}, old;
        int64_t t0 = cp_mono_ms(), pause = RETRY_MS;

        cp_map_init(&ix.seen);
        if (!conn)
            conn =
                cp_rconn_new(idx->url, REDIS_TIMEOUT, errstr, sizeof(errstr));
        if (conn && scan_all(idx, conn, &cmds, &ix) == 0) {
            pthread_mutex_lock(&idx->mu);
            old = idx->ix;
            idx->ix = ix;
            pthread_mutex_unlock(&idx->mu);
            index_free(&old);
            pause = (cp_mono_ms() - t0) * 20;
            pause = pause < INDEX_MIN_MS   ? INDEX_MIN_MS
                    : pause > INDEX_MAX_MS ? INDEX_MAX_MS
                                           : pause;
        } else {
            index_free(&ix);
            cp_rconn_destroy(conn); /* a failed connection is dead */
            conn = NULL;
        }
        /* Requests waiting for the first scan go on, whatever came of it
         * (while Redis is down they answer 503 at once). */
        pthread_mutex_lock(&idx->mu);
        idx->tried = 1;
        pthread_cond_broadcast(&idx->cond);
        pthread_mutex_unlock(&idx->mu);
        pause_for(idx, pause);
    }
    cp_rconn_destroy(conn);
    cp_cmds_cleanup(&cmds);
    return NULL;
}

struct cp__index *cp__index_new(const struct cp_redis_url *url,
                                const char *prefix)
{
    struct cp__index *idx = calloc(1, sizeof(*idx));
    pthread_condattr_t attr;

    if (!idx)
        return NULL;
    idx->prefix = strdup(prefix);
    if (!idx->prefix) {
        free(idx);
        return NULL;
    }
    idx->url = url;
    pthread_mutex_init(&idx->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&idx->cond, &attr);
    pthread_condattr_destroy(&attr);
    return idx;
}

void cp__index_destroy(struct cp__index *idx)
{
    if (!idx)
        return;
    pthread_mutex_lock(&idx->mu);
    idx->stop = 1;
    pthread_cond_broadcast(&idx->cond);
    pthread_mutex_unlock(&idx->mu);
    if (idx->started)
        pthread_join(idx->thread, NULL);
    index_free(&idx->ix);
    pthread_mutex_destroy(&idx->mu);
    pthread_cond_destroy(&idx->cond);
    free(idx->prefix);
    free(idx);
}

void cp__index_ensure(struct cp__index *idx)
{
    struct timespec ts;

    pthread_mutex_lock(&idx->mu);
    if (!idx->started && !idx->stop &&
        !pthread_create(&idx->thread, NULL, indexer, idx))
        idx->started = 1;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += INDEX_WAIT_MS / 1000;
    while (idx->started && !idx->tried &&
           pthread_cond_timedwait(&idx->cond, &idx->mu, &ts) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&idx->mu);
}

size_t cp__index_names(struct cp__index *idx, const char *tenant,
                       const char *date, char *kinds, char **names, size_t cap)
{
    size_t n = 0;

    pthread_mutex_lock(&idx->mu);
    for (size_t i = 0; i < idx->ix.cnt && n < cap; i++) {
        const struct idx_entry *e = &idx->ix.e[i];

        if (strcmp(e->tenant, tenant) || strcmp(e->day, date))
            continue;
        names[n] = strdup(e->name);
        if (!names[n])
            break;
        kinds[n++] = e->kind;
    }
    pthread_mutex_unlock(&idx->mu);
    return n;
}

size_t cp__index_name_count(struct cp__index *idx, const char *tenant,
                            const char *date)
{
    size_t n = 0;

    pthread_mutex_lock(&idx->mu);
    for (size_t i = 0; i < idx->ix.cnt; i++)
        n += !strcmp(idx->ix.e[i].tenant, tenant) &&
             !strcmp(idx->ix.e[i].day, date);
    pthread_mutex_unlock(&idx->mu);
    return n;
}

void cp__index_each_tenant(struct cp__index *idx,
                           void (*fn)(void *ctx, const char *tenant), void *ctx)
{
    pthread_mutex_lock(&idx->mu);
    for (size_t i = 0; i < idx->ix.tcnt; i++)
        fn(ctx, idx->ix.tenants[i]);
    pthread_mutex_unlock(&idx->mu);
}

uint64_t cp__index_scan_commands(struct cp__index *idx)
{
    uint64_t n;

    pthread_mutex_lock(&idx->mu);
    n = idx->scan_commands;
    pthread_mutex_unlock(&idx->mu);
    return n;
}
