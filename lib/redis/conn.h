/* SPDX-License-Identifier: Apache-2.0 */
/* A plain synchronous Redis connection for readers that are not the worker's
 * store: the wallboard's API, its tenant indexer and its pub/sub hub. It
 * connects by a parsed redis.url (url.h), sends RESP batches built with
 * resp.h and hands back owned replies read through struct cp_reply, so no
 * caller sees the client library. */
#ifndef CP_CONN_H
#define CP_CONN_H

#include <stddef.h>

#include "common.h"
#include "resp.h"
#include "url.h"

struct cp_rconn;       /* one connection; dead after any I/O error */
struct cp_rconn_reply; /* one reply, owned by whoever read it */

/**
 * @brief Connects to @p url, then AUTH and SELECT as the URL says; to the
 *        Redis Cluster of @p url->cluster_nodes when it is set (the slot
 *        map is read now, so an unreachable cluster fails here too). Every
 *        later read or write fails after @p timeout_ms without progress.
 *        TCP connections get keepalive, so a silently dead peer of a
 *        long-lived subscription is noticed.
 * @returns the connection, or NULL with "redis connect <address>: ..." or
 *          "redis AUTH: ..." in @p errstr (never the password).
 * Ownership: caller owns the result; free with cp_rconn_destroy().
 *            @p url is only read during the call.
 */
struct cp_rconn *cp_rconn_new(const struct cp_redis_url *url, int timeout_ms,
                              char *errstr, size_t errstr_size);

/**
 * @brief In cluster mode (@p url->cluster_nodes, see
 *        cp_redis_url_set_cluster()) a plain connection to the first seed
 *        node that answers, for pub/sub (a cluster forwards every PUBLISH to
 *        all its nodes); otherwise cp_rconn_new().
 * Ownership: as cp_rconn_new().
 */
struct cp_rconn *cp_rconn_new_node(const struct cp_redis_url *url,
                                   int timeout_ms, char *errstr,
                                   size_t errstr_size);

/**
 * @brief Writes every command of @p cmds (one write for the batch).
 *        In cluster mode each command goes to the master of its key's
 *        slot (cluster.h) and the replies are all read here, to be handed
 *        out in order by cp_rconn_read(); replies of an earlier send not
 *        read by then are dropped.
 * @returns CP_OK, CP_ENOMEM if building @p cmds ran out of memory, or
 *          CP_EREDIS on an I/O error (the connection is dead).
 */
cp_rc cp_rconn_send(struct cp_rconn *conn, const struct cp_cmds *cmds);

/**
 * @brief Like cp_rconn_send(), but every command goes to master @p master
 *        (0 .. cp_rconn_masters()-1) unrouted: for SCAN and other commands
 *        about one node's keys.
 */
cp_rc cp_rconn_send_on(struct cp_rconn *conn, size_t master,
                       const struct cp_cmds *cmds);

/** @brief Masters whose keys make the whole keyspace: 1 for one Redis, the
 *         masters of the slot map in cluster mode. */
size_t cp_rconn_masters(const struct cp_rconn *conn);

/**
 * @brief Reads the next reply. @p wait_ms < 0 blocks (up to the connection
 *        timeout); otherwise waits at most @p wait_ms and sets *out to NULL
 *        when nothing arrived (pub/sub readers poll like this).
 * @returns CP_OK, or CP_EREDIS on an I/O error, a timeout of a blocking
 *          read or a protocol error (the connection is dead).
 * Ownership: caller owns *out; free with cp_rconn_reply_free().
 */
cp_rc cp_rconn_read(struct cp_rconn *conn, int wait_ms,
                    struct cp_rconn_reply **out);

/**
 * @brief Fills @p view with @p reply (elements via cp_reply_element()).
 * Ownership: @p view borrows from @p reply and is valid until it is freed.
 */
void cp_rconn_reply_view(const struct cp_rconn_reply *reply,
                         struct cp_reply *view);

/** @brief Frees @p reply; accepts NULL. */
void cp_rconn_reply_free(struct cp_rconn_reply *reply);

/** @brief "host:port" or "unix:/path" of the connection, never a secret. */
const char *cp_rconn_address(const struct cp_rconn *conn);

/** @brief The last I/O error ("" if none). Borrowed; valid until the next
 *         call on @p conn. */
const char *cp_rconn_errstr(const struct cp_rconn *conn);

/** @brief Closes and frees @p conn; accepts NULL. */
void cp_rconn_destroy(struct cp_rconn *conn);

/**
 * @brief Writes "host:port" or "unix:/path" of @p url to @p out: the form
 *        messages use, without user or password.
 */
void cp_redis_url_address(const struct cp_redis_url *url, char *out,
                          size_t out_size);

#endif
