/* SPDX-License-Identifier: Apache-2.0 */
/* The counter definitions of DESIGN.md: applies one validated event to the
 * entity state and adds its counter deltas to the batch. Two phases per
 * batch, so all state a batch needs is loaded in one round trip:
 * cp_apply_prepare() for every event, load, then cp_apply_event() in order. */
#ifndef CP_APPLY_H
#define CP_APPLY_H

#include "common.h"
#include "counters.h"
#include "event.h"
#include "state.h"

/** The state an event needs, resolved by cp_apply_prepare(). */
struct cp_event_refs {
    struct cp_entity *entity;   /* deal, conversation or ticket; borrowed */
    struct cp_entity *customer; /* for orders; borrowed */
};

struct cp_apply;

/**
 * Ownership: caller owns the result; free with cp_apply_destroy().
 *            @p state and @p ctr are borrowed and must outlive it.
 */
struct cp_apply *cp_apply_new(const char *prefix, struct cp_state *state,
                              struct cp_counters *ctr);
void cp_apply_destroy(struct cp_apply *ap);

/** @brief Resolves (and queues for loading) the state @p ev needs. */
cp_rc cp_apply_prepare(struct cp_apply *ap, const struct cp_event *ev,
                       struct cp_event_refs *refs);
/** @brief Applies @p ev; its entities must be loaded. */
cp_rc cp_apply_event(struct cp_apply *ap, const struct cp_event *ev,
                     const struct cp_event_refs *refs);

/** @brief Writes "YYYY-MM-DD" (10 chars + NUL) of the UTC day of @p ms. */
void cp_format_day(int64_t ms, char out[11]);

#endif
