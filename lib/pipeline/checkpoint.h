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
 *        @p topic, talking through @p store (borrowed; must outlive it);
 *        @p prefix is redis.prefix (the tenants' applied offsets).
 * @returns NULL on ENOMEM. Ownership: free with cp_checkpoint_destroy().
 */
struct cp_checkpoint *cp_checkpoint_new(struct cp_store *store,
                                        const char *prefix, const char *group,
                                        const char *topic);
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

/*
 * Per-tenant applied offsets, P:{T}:applied:<group> (schemas/redis-keys.md):
 * for each partition that had events of tenant T in a committed batch, the
 * partition's next offset at the end of that batch, written in the same
 * transaction as T's counters and state. An event of T at offset o of
 * partition p applies only if o >= that value: a batch replayed from the
 * group's offsets (a low watermark, which may lag what a tenant committed)
 * never counts a tenant's events twice.
 *
 * Per batch: cp_checkpoint_tenant_seen() for each event's tenant, then
 * cp_checkpoint_applied_load_cmds() / _load_reply() in the round trip of the
 * state load, then cp_checkpoint_applies() for each event in order, then
 * cp_checkpoint_append_applied() into the transaction. The values read are
 * kept (a lower bound: our own later commits only raise them) until
 * cp_checkpoint_applied_forget(), which every rewind, rebalance and cache
 * drop calls.
 */
/** @brief Notes that the batch has events of @p tenant; queues the read of
 *         its applied offsets unless they are known. CP_ENOMEM. */
cp_rc cp_checkpoint_tenant_seen(struct cp_checkpoint *cp, const char *tenant,
                                size_t tenant_len);
/** @brief Appends an HGETALL per tenant queued by cp_checkpoint_tenant_seen()
 *         to @p cmds; @returns how many. */
size_t cp_checkpoint_applied_load_cmds(struct cp_checkpoint *cp,
                                       struct cp_cmds *cmds);
/** @brief The reply to command @p i of cp_checkpoint_applied_load_cmds().
 *         A field of our topic that is not an offset is CP_ECONFIG (logged,
 *         naming the key, the field and the fix). */
cp_rc cp_checkpoint_applied_load_reply(struct cp_checkpoint *cp, size_t i,
                                       const struct cp_reply *reply);
/** @brief After every reply was read (or the round trip failed). */
void cp_checkpoint_applied_load_done(struct cp_checkpoint *cp);
/**
 * @brief Whether the event of @p tenant at @p offset of @p partition is
 *        still to apply (*@p apply): false when the tenant's applied offset
 *        for the partition is above it. An event to apply is remembered for
 *        cp_checkpoint_append_applied(). A tenant whose offsets were not
 *        read (no cp_checkpoint_tenant_seen() and load before) is never
 *        guessed: CP_EREDIS, so the batch is read again after a rewind.
 * @returns CP_OK, CP_ENOMEM or CP_EREDIS.
 */
cp_rc cp_checkpoint_applies(struct cp_checkpoint *cp, const char *tenant,
                            size_t tenant_len, int32_t partition,
                            int64_t offset, bool *apply);
/** @brief Appends to a transaction being built in @p cmds one HSET of
 *         P:{T}:applied:<group> per tenant with events applied since the
 *         last call, and forgets them. */
void cp_checkpoint_append_applied(struct cp_checkpoint *cp,
                                  struct cp_cmds *cmds);
/**
 * @brief Before the offset of @p partition moves back to @p next_offset
 *        (offsets.out_of_range: Kafka's log is not the one the offsets
 *        came from): removes the partition's field from every tenant's
 *        applied offsets where it is above @p next_offset, so the new log's
 *        events are not passed over, and forgets the cached ones. SCANs
 *        the keyspace (a rare operator event); idempotent, so a crash
 *        before the offset moved repeats it.
 * @returns CP_OK, CP_EREDIS, CP_ENOMEM.
 */
cp_rc cp_checkpoint_reset_applied(struct cp_checkpoint *cp, int32_t partition,
                                  int64_t next_offset);
/** @brief Forgets every tenant's applied offsets (read again when next
 *         needed) and the events remembered for the next commit. */
void cp_checkpoint_applied_forget(struct cp_checkpoint *cp);
#endif
