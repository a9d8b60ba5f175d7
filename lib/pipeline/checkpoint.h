/* SPDX-License-Identifier: Apache-2.0 */
/* Where a consumer group stands, kept in Redis beside the state it
 * describes: the next offset of every partition (committed inside each
 * batch's MULTI/EXEC, so a crash replays or skips a batch as a whole) and
 * one fence per partition that tells the current owner from a worker that
 * lost the partition without noticing (schemas/redis-keys.md, internal
 * keys).
 *
 * Fencing: every worker assigned a partition bumps (INCR) its fence and
 * keeps the value it got, its epoch. Before its transactions it WATCHes
 * the fences of all its partitions and reads them back: a value that is
 * not ours means another worker owns the partition now, and a bump after
 * the WATCH aborts our next EXEC. So a worker that lost a partition
 * (paused past its session, cut off) never overwrites the new owner. */
#ifndef CP_CHECKPOINT_H
#define CP_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "kafka.h"
#include "resp.h"
#include "store.h"

#define CP_CHECKPOINT_MAX_PARTITIONS CP_PARTITIONS_MAX /* common.h */

/* Redis failures are returned (and logged at debug level): the caller says
 * "redis down" once for all its round trips. A fenced partition is logged
 * here, once, as a warning. */

struct cp_checkpoint;

/**
 * @brief The checkpoint of consumer group @p group on input topic
 *        @p topic, talking through @p store (borrowed; must outlive it).
 * @returns NULL on ENOMEM. Ownership: free with cp_checkpoint_destroy().
 */
struct cp_checkpoint *cp_checkpoint_new(struct cp_store *store,
                                        const char *group, const char *topic);
void cp_checkpoint_destroy(struct cp_checkpoint *cp);

/**
 * @brief Takes @p parts over: bumps their fences and keeps the epochs. The
 *        partitions count as ours only after cp_checkpoint_own().
 *        Partition numbers must be below CP_CHECKPOINT_MAX_PARTITIONS.
 */
cp_rc cp_checkpoint_claim(struct cp_checkpoint *cp,
                          const struct cp_partition *parts, size_t cnt);
/** @brief Marks a claimed partition ours (true) or gone (false). */
void cp_checkpoint_own(struct cp_checkpoint *cp, int32_t partition, bool own);
/** @brief Whether @p partition is ours (claimed and not fenced off). */
bool cp_checkpoint_owns(const struct cp_checkpoint *cp, int32_t partition);

/**
 * @brief Fills parts[].offset with the committed next offsets, or
 *        CP_OFFSET_STORED where Redis has none. One round trip.
 */
cp_rc cp_checkpoint_read_offsets(struct cp_checkpoint *cp,
                                 struct cp_partition *parts, size_t cnt);

/**
 * @brief WATCHes the fences of every partition we own (only those) and
 *        checks they still hold our epochs; a partition whose fence moved
 *        is logged and no longer ours. One round trip; afterwards the
 *        store's current connection is armed.
 */
cp_rc cp_checkpoint_arm(struct cp_checkpoint *cp);
/** @brief Whether the store's current connection carries our WATCH (a new
 *         connection, or an aborted EXEC, has none). */
bool cp_checkpoint_armed(const struct cp_checkpoint *cp);
/** @brief Forgets the WATCH (after an aborted EXEC). */
void cp_checkpoint_disarm(struct cp_checkpoint *cp);
/**
 * @brief Appends to @p cmds (if not NULL) the key of a fence the last
 *        cp_checkpoint_arm() WATCHes: writing it aborts our next EXEC.
 * @returns false when no fence is watched (nothing appended).
 */
bool cp_checkpoint_watched_fence(struct cp_checkpoint *cp,
                                 struct cp_cmds *cmds);

/**
 * @brief Before re-reading the offsets after a failure: bumps the fence of
 *        every partition in @p parts that is still ours (it holds our
 *        epoch) or that Redis lost (restarted empty), and adopts the new
 *        epoch. A transaction of ours still in Redis's input buffer from a
 *        connection we gave up on (Redis stalled past the I/O timeout)
 *        WATCHed the old value, so it aborts if Redis runs it after this;
 *        if Redis ran it before, the offsets read next include it. Either
 *        way no batch is applied twice. A fence holding another owner's
 *        epoch is left alone, so cp_checkpoint_arm() still tells a
 *        takeover from a data loss. One round trip (a script per
 *        partition, atomic in Redis).
 */
cp_rc cp_checkpoint_reclaim(struct cp_checkpoint *cp,
                            const struct cp_partition *parts, size_t cnt);

/**
 * @brief Commits @p next_offset for @p partition at once, outside any
 *        batch (after moving past offsets Kafka no longer has), if the
 *        partition's fence still holds our epoch. One round trip.
 * @returns CP_OK, CP_EFENCED if another worker owns it, or CP_EREDIS.
 */
cp_rc cp_checkpoint_move_offset(struct cp_checkpoint *cp, int32_t partition,
                                int64_t next_offset);

/** @brief Appends the HSET that commits @p next_offset for @p partition
 *         to a transaction being built in @p cmds. */
void cp_checkpoint_append_commit(const struct cp_checkpoint *cp,
                                 struct cp_cmds *cmds, int32_t partition,
                                 int64_t next_offset);

#endif
