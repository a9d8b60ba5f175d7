/* SPDX-License-Identifier: Apache-2.0 */
/* The live feed: pub/sub channel P:{T}:live carries the tenant day-hash
 * counter deltas committed since its last message, at most once a second
 * per tenant, published after EXEC (schemas/redis-keys.md). A hint for
 * wallboards: the hashes are the truth. */
#ifndef CP_LIVE_H
#define CP_LIVE_H

#include <stdint.h>

#include "common.h"
#include "counters.h"
#include "resp.h"

struct cp_live;

/** Ownership: caller owns the result; free with cp_live_destroy(). */
struct cp_live *cp_live_new(const char *prefix);
void cp_live_destroy(struct cp_live *live);

/** @brief Notes the day-hash deltas of the batch being committed. */
cp_rc cp_live_stage(struct cp_live *live, const struct cp_counters *ctr);
/** @brief The staged batch committed: its deltas are now publishable. */
void cp_live_commit(struct cp_live *live);
/** @brief The staged batch failed: forget its deltas. */
void cp_live_discard(struct cp_live *live);
/**
 * @brief Appends one PUBLISH per (tenant, day) with deltas for every tenant
 *        whose last message is at least a second old, and forgets those.
 * @returns the number of commands appended.
 */
size_t cp_live_publish_cmds(struct cp_live *live, int64_t now_ms,
                            struct cp_cmds *cmds);

#endif
