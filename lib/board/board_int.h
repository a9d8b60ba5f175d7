/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the wallboard's files (board.c, api.c, hub.c): the
 * SSE hub and the embedded page. Not part of the public API. Redis is
 * reached through the redis layer (conn.h, url.h). */
#ifndef CP_BOARD_INT_H
#define CP_BOARD_INT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "url.h"

/* ---- Redis (hub.c) ---- */

/**
 * @brief Parses redis.url (url.h), adds @p cluster_nodes
 *        (redis.cluster.nodes; NULL or "" = one Redis) and writes the
 *        address for messages.
 * @returns CP_OK, or an error with "redis.url: <reason>" or
 *          "redis.cluster.nodes: <reason>" in @p errstr.
 * Ownership: on CP_OK free @p url with cp_redis_url_cleanup().
 */
cp_rc cp__board_redis_url(const char *redis_url, const char *cluster_nodes,
                          struct cp_redis_url *url, char *address,
                          size_t address_size, char *errstr,
                          size_t errstr_size);

/* ---- access (access.c): board.token ---- */

struct cp__access;

/**
 * @brief Parses board.token (checked by the settings already):
 *        "TOKEN[@TENANT], ...".
 * @returns the tokens (maybe none), or NULL when out of memory.
 * Ownership: caller frees with cp__access_destroy().
 */
struct cp__access *cp__access_new(const char *list);
/** @brief Frees @p acc; accepts NULL. */
void cp__access_destroy(struct cp__access *acc);
/** @brief Whether any token is set (then every request needs one). */
int cp__access_required(const struct cp__access *acc);
/**
 * @brief Checks @p token (@p len bytes), in constant time per entry.
 * @returns 0 with *@p tenant the token's tenant (borrowed from @p acc; NULL
 *          for every tenant), or -1 when no entry has that token.
 */
int cp__access_check(const struct cp__access *acc, const char *token,
                     size_t len, const char **tenant);

/* ---- tenant index (index.c): a background SCAN of the day keys ---- */

struct cp__index;

/**
 * @brief Prepares the index of `<prefix>:{T}:d:D[:manager:M|:source:S]`;
 *        its thread starts on the first cp__index_ensure().
 * @returns the index, or NULL when out of memory.
 * Ownership: borrows @p url (it must outlive the index), copies
 *            @p prefix; free with cp__index_destroy().
 */
struct cp__index *cp__index_new(const struct cp_redis_url *url,
                                const char *prefix);
/** @brief Stops the thread and frees @p idx; accepts NULL. */
void cp__index_destroy(struct cp__index *idx);
/** @brief Starts the thread if it is not running and waits up to 2 s for
 *         its first scan (a board nobody asks costs Redis nothing). */
void cp__index_ensure(struct cp__index *idx);
/**
 * @brief Copies up to @p cap manager ('m') and source ('s') names of
 *        (@p tenant, @p date) into @p names and @p kinds.
 * @returns how many. Ownership: the caller frees each names[i].
 */
size_t cp__index_names(struct cp__index *idx, const char *tenant,
                       const char *date, char *kinds, char **names, size_t cap);
/** @brief How many manager and source names (@p tenant, @p date) has. */
size_t cp__index_name_count(struct cp__index *idx, const char *tenant,
                            const char *date);
/** @brief Calls @p fn for each tenant, sorted, under the index's lock. */
void cp__index_each_tenant(struct cp__index *idx,
                           void (*fn)(void *ctx, const char *tenant),
                           void *ctx);
/** @brief SCAN commands sent so far (for the board's Redis load). */
uint64_t cp__index_scan_commands(struct cp__index *idx);

/* ---- SSE hub (hub.c): one PSUBSCRIBE shared by every browser ---- */

struct cp__hub;
struct cp__sse_client;

/** Counters of the hub, for /api/stats and the logs. */
struct cp__hub_stats {
    int clients;         /* SSE clients connected now */
    int connected;       /* the subscription is up */
    uint64_t messages;   /* pub/sub messages received */
    uint64_t dropped;    /* clients dropped because their queue was full */
    uint64_t rejected;   /* clients refused: too many */
    uint64_t reconnects; /* subscription connections made */
};

/**
 * @brief Starts the subscriber thread on `<prefix>:{*}:live` and
 *        `<prefix>:{*}:alerts`; it reconnects with backoff on its own.
 *        With @p cluster_nodes it subscribes on one node of the cluster,
 *        which forwards every node's PUBLISH.
 *        @p redis_url is parsed with cp_redis_url_parse() (url.h).
 * Ownership: copies what it keeps of @p redis_url and @p prefix; caller
 *            frees the hub with cp__hub_destroy().
 */
struct cp__hub *cp__hub_new(const char *redis_url, const char *cluster_nodes,
                            const char *prefix, int max_clients,
                            size_t queue_bytes, char *errstr,
                            size_t errstr_size);
/**
 * @brief Registers a browser; @p tenant ("" = every tenant) filters what
 *        it receives.
 * @returns the client, or NULL when max_clients are connected already.
 * Ownership: the hub owns the client; release it with cp__hub_leave().
 * Thread: any.
 */
struct cp__sse_client *cp__hub_join(struct cp__hub *hub, const char *tenant);
/**
 * @brief Waits up to @p wait_ms for queued bytes of @p cl and copies up to
 *        @p max of them into @p buf.
 * @returns bytes copied (0 after a timeout), -1 when the stream must end
 *          (hub stopping), -2 when the client was dropped (queue full).
 * Thread: the client's connection thread.
 */
long cp__hub_read(struct cp__hub *hub, struct cp__sse_client *cl, char *buf,
                  size_t max, int wait_ms);
/** @brief Unregisters and frees @p cl (invalidated); accepts NULL. */
void cp__hub_leave(struct cp__hub *hub, struct cp__sse_client *cl);
/** @brief Wakes every client so their streams end (before stopping HTTP). */
void cp__hub_shutdown(struct cp__hub *hub);
/** @brief Copies the counters into @p out. Thread: any. */
void cp__hub_get_stats(struct cp__hub *hub, struct cp__hub_stats *out);
/** @brief Stops the subscriber thread and frees the hub (clients gone). */
void cp__hub_destroy(struct cp__hub *hub);

/* ---- embedded page (generated by embed_page.cmake) ---- */

/** One file of lib/board/page, compiled in. */
struct cp__board_asset {
    const char *path;          /* URL path, e.g. "/board.js" */
    const char *content_type;  /* e.g. "text/javascript; charset=utf-8" */
    const unsigned char *data; /* static */
    size_t len;
};

/* Terminated by an entry whose path is NULL. */
extern const struct cp__board_asset cp__board_assets[];

#endif
