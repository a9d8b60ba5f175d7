/* SPDX-License-Identifier: Apache-2.0 */
/* The one parser of redis.url: the store connects with what it returns and
 * the settings check accepts exactly what it accepts. Also the one place
 * that knows how to print such a URL without its secret. */
#ifndef CP_URL_H
#define CP_URL_H

#include <stddef.h>

#include "common.h"

/** The forms redis.url accepts, for messages and --help. */
#define CP_REDIS_URL_FORMS                                                     \
    "redis://[user[:pass]@]host[:port][/db] or unix:///path[?db=N]"

/** A parsed redis.url. Plain data: fill with cp_redis_url_parse(). */
struct cp_redis_url {
    char *host;          /* owned; NULL for a unix socket */
    int port;            /* TCP port, 6379 unless given */
    char *socket_path;   /* owned; NULL for TCP */
    char *user;          /* owned; NULL: AUTH with the password alone */
    char *password;      /* owned; NULL: no AUTH; never printed */
    int db;              /* SELECTed after connecting when not 0 */
    char *cluster_nodes; /* owned; NULL: one Redis. Not part of redis.url:
                            redis.cluster.nodes, set with
                            cp_redis_url_set_cluster(); then only user and
                            password above are used */
};

/**
 * @brief Parses @p url into @p out. The scheme is case-insensitive; the
 *        host is a name ([A-Za-z0-9_-] labels) or a dotted IPv4 address,
 *        the port 1..65535, the database 0..INT_MAX. The
 *        secret part (up to the last '@') may hold any character.
 * @returns CP_OK, CP_ECONFIG with "<reason> (use <forms>)" in @p errstr
 *          (never any part of @p url, which may hold a password), or
 *          CP_ENOMEM.
 * Ownership: on CP_OK the caller frees @p out with cp_redis_url_cleanup();
 *            on failure @p out holds nothing to free.
 */
cp_rc cp_redis_url_parse(const char *url, struct cp_redis_url *out,
                         char *errstr, size_t errstr_size);

/**
 * @brief Makes @p url name the Redis Cluster of seed nodes @p nodes
 *        (redis.cluster.nodes, "host:port,..."); NULL or "" = one Redis.
 *        A cluster has database 0 only and is reached over TCP, so a URL
 *        with a database or a unix socket is refused.
 * @returns CP_OK, CP_ECONFIG with the reason in @p errstr, CP_ENOMEM.
 * Ownership: copies @p nodes; freed by cp_redis_url_cleanup().
 */
cp_rc cp_redis_url_set_cluster(struct cp_redis_url *url, const char *nodes,
                               char *errstr, size_t errstr_size);

/** @brief Frees what @p url owns (wiping the password) and zeroes it. */
void cp_redis_url_cleanup(struct cp_redis_url *url);

/**
 * @brief Writes @p url to @p out with its secret replaced by "***", for
 *        any text a user may have meant as a Redis URL, valid or not
 *        (rediss://, REDIS://, "redis//u:p@h"): everything before the last
 *        '@' after the scheme is the user info; a user name before ':' is
 *        kept for diagnosis, the rest is hidden. After it (or after the
 *        scheme when there is no '@') only what has the shape of a host,
 *        a port of up to 5 digits after a host, a database number, a unix path
 *        or ?db=N is shown; anything else ("redis://u:PASS",
 *        "redis://:PASS/0", "?password=PASS") is "***" to the end.
 */
void cp_redis_url_mask(const char *url, char *out, size_t out_size);

#endif
