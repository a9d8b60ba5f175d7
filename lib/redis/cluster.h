/* SPDX-License-Identifier: Apache-2.0 */
/* The Redis Cluster slot router (redis.cluster.nodes): the hash slot of a
 * key (CRC16 of its hash tag), the slot map read with CLUSTER SLOTS, one
 * connection per master, and a batch of commands split by slot into one
 * pipeline per master, with MOVED and ASK redirections followed. The store
 * (store.c) and the readers' connection (conn.c) use it when the setting is
 * on; with it off they talk to one Redis, which owns every slot. */
#ifndef CP_CLUSTER_H
#define CP_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "resp.h"
#include "url.h"

#define CP_CLUSTER_SLOTS 16384

/**
 * @brief CRC16 of the Redis Cluster specification (XMODEM: polynomial
 *        0x1021, initial value 0, no reflection): "123456789" -> 0x31C3.
 */
uint16_t cp_cluster_crc16(const void *buf, size_t len);

/**
 * @brief The hash slot (0 .. 16383) of @p key: CRC16 mod 16384 of the
 *        part between the first '{' and the next '}' when that part is not
 *        empty, of the whole key otherwise (the specification's hash tags).
 *        Every key of a tenant carries "{T}", so a tenant is one slot.
 */
unsigned cp_cluster_keyslot(const void *key, size_t len);

/**
 * @brief Checks a redis.cluster.nodes value: "host:port[,host:port...]".
 * @returns 0, or -1 with the reason in @p errstr.
 */
int cp_cluster_nodes_check(const char *nodes, char *errstr, size_t errstr_size);

struct cp_cluster; /* the router; one thread at a time */

/** Called once per command of a batch, in the batch's order. A non-OK
 *  return is remembered and returned; the other replies are still read. */
typedef cp_rc (*cp_cluster_reply_fn)(void *opaque, size_t i,
                                     const struct cp_reply *reply);

/**
 * @brief Makes a router for the cluster reached through the seed nodes
 *        @p nodes ("host:port,..."). Connections authenticate with the
 *        user and password of @p auth (redis.url; its host, port and
 *        database are not used: a cluster has database 0 only).
 *        Connects to nothing yet: the first batch (or
 *        cp_cluster_ensure_map()) reads the slot map, so the cluster may
 *        come up later.
 * @param timeout_ms  bound of every connect, write and read
 * @returns the router, or NULL with "redis.cluster.nodes: ..." in @p errstr.
 * Ownership: caller owns the result; free with cp_cluster_destroy().
 *            @p nodes and @p auth are copied.
 */
struct cp_cluster *cp_cluster_new(const char *nodes,
                                  const struct cp_redis_url *auth,
                                  int timeout_ms, char *errstr,
                                  size_t errstr_size);

/**
 * @brief Reads the slot map if there is none (or it was marked stale by a
 *        MOVED or a lost connection): CLUSTER SLOTS from a known master,
 *        else from each seed in turn.
 * @returns CP_OK, CP_EREDIS if no node answered or the map leaves a slot
 *          uncovered, CP_ECONFIG if a node refused our credentials.
 */
cp_rc cp_cluster_ensure_map(struct cp_cluster *cl);

/**
 * @brief Runs @p cmds: each command goes to the master of its key's slot
 *        (the first argument; commands without a key, such as PING, to the
 *        first master), one pipeline per master, written to every master
 *        before any reply is read. A MULTI ... EXEC block (with the WATCHes
 *        right before it) is one unit and must stay in one slot; a WATCH
 *        sent in an earlier batch must be in the same slot as the
 *        transaction and end with its EXEC (UNWATCH, having no key, goes
 *        to the first master). A single command that gets MOVED is sent
 *        again to the new owner (the map is re-read); one that gets ASK is
 *        sent again after ASKING to the importing node; TRYAGAIN waits and
 *        retries, each up to 5 times. A redirected transaction is not
 *        retried (the caller's WATCHes were on the old owner): its EXEC
 *        fails with the redirection as the error and the map is re-read.
 * @returns CP_OK, CP_EREDIS on an I/O error (that master's connection is
 *          dropped and the map marked stale), on a transaction spanning
 *          slots (nothing is sent), on an error reply when @p fn is NULL,
 *          CP_ENOMEM, or what @p fn returned.
 */
cp_rc cp_cluster_run(struct cp_cluster *cl, const struct cp_cmds *cmds,
                     cp_cluster_reply_fn fn, void *opaque);

/** @brief Masters in the current slot map (0 before it was read). */
size_t cp_cluster_masters(const struct cp_cluster *cl);

/**
 * @brief Runs @p cmds on master @p master (0 .. cp_cluster_masters()-1) of
 *        the current map, without routing or redirection: for commands that
 *        concern one node, such as SCAN, INFO, DBSIZE.
 * @returns as cp_cluster_run().
 */
cp_rc cp_cluster_run_on(struct cp_cluster *cl, size_t master,
                        const struct cp_cmds *cmds, cp_cluster_reply_fn fn,
                        void *opaque);

/** @brief "host:port" of master @p master of the current map ("" if none).
 *         Borrowed; valid until the map is re-read. */
const char *cp_cluster_master_address(const struct cp_cluster *cl,
                                      size_t master);

/** @brief Changes whenever a connection was made or the map re-read:
 *         WATCHes made before may be gone. */
uint64_t cp_cluster_generation(const struct cp_cluster *cl);

/** @brief Redirections followed so far (MOVED, ASK), for tests and metrics. */
void cp_cluster_redirects(const struct cp_cluster *cl, uint64_t *moved,
                          uint64_t *ask);

/** @brief The seed list, for messages. Borrowed. */
const char *cp_cluster_address(const struct cp_cluster *cl);

/** @brief The last error ("" if none). Borrowed; valid until the next call
 *         on @p cl. */
const char *cp_cluster_errstr(const struct cp_cluster *cl);

/** @brief Closes every connection and frees @p cl; accepts NULL. */
void cp_cluster_destroy(struct cp_cluster *cl);

#endif
