/* SPDX-License-Identifier: Apache-2.0 */
/* The only module that speaks hiredis: connects by URL, sends a batch of
 * RESP commands in one write and reads their replies in one pass. A
 * connection that failed is dropped and re-made on the next call. */
#ifndef CP_STORE_H
#define CP_STORE_H

#include <signal.h>
#include <stdint.h>

#include "common.h"
#include "resp.h"

struct cp_store;

/** Called once per command, in order. A non-OK return stops the batch. */
typedef cp_rc (*cp_reply_fn)(void *opaque, size_t i,
                             const struct cp_reply *reply);

/**
 * @brief Parses @p url with cp_redis_url_parse() (url.h) and connects.
 *        A Redis that refuses us (NOAUTH, WRONGPASS) fails here, with the
 *        fix to redis.url in the message.
 * @returns the store, or NULL with errstr (the password is never printed).
 * Ownership: caller owns the result; free with cp_store_destroy().
 */
struct cp_store *cp_store_new(const char *url, char *errstr,
                              size_t errstr_size);
/**
 * @brief Like cp_store_new() without connecting: the first command (or
 *        cp_store_ensure_connected()) does, so Redis may come up later.
 * @returns the store, or NULL with errstr if @p url is invalid.
 */
struct cp_store *cp_store_open(const char *url, char *errstr,
                               size_t errstr_size);
/**
 * @brief cp_store_open() for a Redis Cluster when @p cluster_nodes is not
 *        empty (redis.cluster.nodes; NULL or "" = cp_store_open(@p url)):
 *        commands are routed by key slot (cluster.h), @p url gives only the
 *        user and password and must name database 0. Replies come back in
 *        the batch's order as with one Redis; a transaction must keep to
 *        one hash slot. The stop flag is not watched in cluster mode: a
 *        wait ends after the I/O timeout.
 * @returns the store, or NULL with errstr.
 * Ownership: caller owns the result; free with cp_store_destroy().
 */
struct cp_store *cp_store_open_cluster(const char *url,
                                       const char *cluster_nodes, char *errstr,
                                       size_t errstr_size);
/** @brief cp_store_open_cluster() and connect (as cp_store_new()). */
struct cp_store *cp_store_new_cluster(const char *url,
                                      const char *cluster_nodes, char *errstr,
                                      size_t errstr_size);
/**
 * @brief Every wait for Redis (reply, write, connect) watches @p stop
 *        (borrowed, may be NULL): once it has been set for a second, waits
 *        end at once with CP_EREDIS, so a stalled Redis cannot hold up a
 *        shutdown. What was sent and not acknowledged is abandoned.
 */
void cp_store_set_stop(struct cp_store *st, volatile sig_atomic_t *stop);
/**
 * @brief Sends every command of @p cmds, then reads all replies.
 *        An array reply (EXEC) is passed as ERROR if any element is an
 *        error, as NIL if the transaction was aborted.
 * @returns CP_OK, CP_EREDIS on I/O error (connection dropped) or an error
 *          reply, or what @p fn returned.
 */
cp_rc cp_store_roundtrip(struct cp_store *st, const struct cp_cmds *cmds,
                         cp_reply_fn fn, void *opaque);
/**
 * @brief Sends every command of @p cmds without waiting for the replies,
 *        so the caller can work while Redis executes them.
 *        cp_store_finish() must read them before the next send/roundtrip.
 */
cp_rc cp_store_send(struct cp_store *st, const struct cp_cmds *cmds);
/** @brief Reads the replies of the last cp_store_send(), as roundtrip does. */
cp_rc cp_store_finish(struct cp_store *st, cp_reply_fn fn, void *opaque);
/** What a transaction's replies amounted to (see cp_store_finish_tx). */
struct cp_tx_result {
    int aborted;        /* EXEC replied nil (a WATCHed key changed) */
    size_t errors;      /* error replies, queued or inside EXEC's result */
    size_t exec_errors; /* those inside EXEC's result: the transaction ran
                           and its other commands DID apply (Redis has no
                           rollback) */
    char error[256];    /* the first of them */
    size_t error_cmd;   /* index in the sent batch of the command that
                           failed first (see cp_cmds_arg() to name its key) */
    /* reader bookkeeping */
    size_t replies_;    /* top-level replies read before the current one */
    size_t exec_elems_; /* elements of the last top-level array */
};

/**
 * @brief Reads the replies of a sent MULTI ... EXEC without building reply
 *        objects: only errors and the EXEC outcome are kept, so a large
 *        transaction costs no allocation per command.
 * @returns CP_OK (inspect @p res), or CP_EREDIS on I/O error.
 */
cp_rc cp_store_finish_tx(struct cp_store *st, struct cp_tx_result *res);
/** @brief Changes whenever a new connection was made (WATCHes are gone). */
uint64_t cp_store_connection_id(const struct cp_store *st);
/** @brief After cp_store_finish()/cp_store_roundtrip() failed on an error
 *         reply: the index (in the batch) of the command that got the
 *         error cp_store_errstr() quotes; SIZE_MAX otherwise. */
size_t cp_store_error_cmd(const struct cp_store *st);
/** @brief Replies still to read from a cp_store_send(). */
size_t cp_store_pending(const struct cp_store *st);
/** @brief Same as cp_reply_element() (resp.h), which readers of replies
 *         should call: it needs no store. */
void cp_store_reply_element(const struct cp_reply *reply, size_t i,
                            struct cp_reply *out);
/** @brief Connects if needed; CP_EREDIS if Redis is unreachable,
 *         CP_ECONFIG if it refused our credentials (see cp_store_new). */
cp_rc cp_store_ensure_connected(struct cp_store *st);
/** @brief Server-side address for logs ("127.0.0.1:6379"), no secrets. */
const char *cp_store_address(const struct cp_store *st);
const char *cp_store_errstr(const struct cp_store *st);
void cp_store_destroy(struct cp_store *st);

#endif
