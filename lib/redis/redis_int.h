/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the files of the redis layer only (store.c, conn.c): the one
 * translation of a hiredis reply into the cp_reply view of resp.h. */
#ifndef CP_REDIS_INT_H
#define CP_REDIS_INT_H

#include <hiredis/hiredis.h>

#include "resp.h"

/**
 * @brief Makes @p out a view of @p reply. An array holding an error reply
 *        (a transaction's results) is surfaced as that ERROR.
 * Ownership: @p out borrows from @p reply.
 */
void cp__redis_reply_view(const redisReply *reply, struct cp_reply *out);

#endif
