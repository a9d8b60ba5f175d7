/* SPDX-License-Identifier: Apache-2.0 */
/* The wallboard's read-only JSON API over the public Redis keys (day,
 * manager, channel, source, funnel and histogram hashes, waiting, risk,
 * customers, recent alerts). Answers are cached for a short time, so the
 * Redis load stays constant however many screens ask. Every number is the
 * value of the Redis field it came from; derived figures are the page's. */
#ifndef CP_BOARD_API_H
#define CP_BOARD_API_H

#include <stdint.h>

#include "common.h"

struct cp_board_api;

/**
 * @brief Prepares the API; connects to Redis lazily (on the first request
 *        and again after a failure, at most once a second), so the board
 *        starts while Redis is down.
 * @param redis_url  redis.url (redis://... or unix://...)
 * @param prefix     redis.prefix, e.g. "crm"
 * @param cache_ms   how long an answer is reused (0 = never); while
 *                   another request is reading Redis, an answer up to 5 s
 *                   old is served instead of waiting (the board answer's
 *                   "now_ms" says when it was read)
 * @returns the API or NULL with errstr (bad URL, out of memory).
 * Ownership: copies its arguments; caller frees the result with
 *            cp_board_api_destroy().
 * The process must ignore SIGPIPE (Redis may close the socket under a
 * write), as every crmpulse executable does.
 */
struct cp_board_api *cp_board_api_new(const char *redis_url, const char *prefix,
                                      int cache_ms, char *errstr,
                                      size_t errstr_size);
/**
 * @brief cp_board_api_new() reading from the Redis Cluster of seed nodes
 *        @p cluster_nodes (redis.cluster.nodes) when that is not NULL or
 *        "": a tenant's keys are routed to the master of its slot, the
 *        tenant index scans every master.
 */
struct cp_board_api *cp_board_api_new_cluster(const char *redis_url,
                                              const char *cluster_nodes,
                                              const char *prefix, int cache_ms,
                                              char *errstr, size_t errstr_size);

/**
 * @brief Answers one GET of the API:
 *        `/api/tenants`, and `/api/tenants/T/W` with W one of `board`
 *        (everything the page shows), `today`, `day`, `compare` (day and
 *        the same weekday a week before), `funnel`, `rt`, `channels`,
 *        `managers`, `sources`, `waiting`, `risk`, `alerts`.
 * @param date  `YYYY-MM-DD` (UTC) for the day-based answers; NULL or ""
 *              = today
 * @returns the HTTP status (200, 400 bad tenant or date, 404 unknown path,
 *          503 Redis unreachable, 500 out of memory); *body is JSON
 *          (an object with "error" when the status is not 200), or NULL
 *          if out of memory.
 * Ownership: caller frees *body with free().
 * Thread: any; requests share one Redis connection and the cache.
 */
int cp_board_api_get(struct cp_board_api *api, const char *path,
                     const char *date, char **body);

/** @brief Redis commands sent so far (SCAN included), for /api/stats. */
uint64_t cp_board_api_redis_commands(struct cp_board_api *api);

/** @brief Accepts NULL. */
void cp_board_api_destroy(struct cp_board_api *api);

#endif
