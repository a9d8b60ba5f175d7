/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the files of the redis layer only (store.c, conn.c, cluster.c):
 * the translation of a hiredis reply into the cp_reply view of resp.h, and
 * the cluster router's reply collector for conn.c. */
#ifndef CP_REDIS_INT_H
#define CP_REDIS_INT_H

#include <hiredis/hiredis.h>

#include "buf.h"
#include "common.h"
#include "resp.h"

/**
 * @brief Makes @p out a view of @p reply. An array holding an error reply
 *        (a transaction's results) is surfaced as that ERROR.
 * Ownership: @p out borrows from @p reply.
 */
void cp__redis_reply_view(const redisReply *reply, struct cp_reply *out);

struct cp_cluster;
struct cp_cmds;

/** @brief Reads the decimal after a '*' or '$' (@p type) at *@p pos of a
 *         RESP command stream, up to its CRLF, moving *@p pos past it.
 *  @returns the value, or -1 when @p buf holds no such header there. */
long long cp__resp_read_header(const struct cp_buf *buf, size_t *pos,
                               char type);

/**
 * @brief cp_cluster_run() (cluster.h) keeping the replies: out[i] is the
 *        redisReply of command i. @p master < 0 routes by slot; otherwise
 *        every command goes to that master of the map, unredirected.
 * @returns CP_OK with every out[i] set, or an error with every out[i] NULL
 *          (cp_cluster_errstr() says why).
 * Ownership: the caller frees each out[i] with freeReplyObject().
 */
cp_rc cp__cluster_collect(struct cp_cluster *cl, const struct cp_cmds *cmds,
                          long master, void **out);

#endif
