/* SPDX-License-Identifier: Apache-2.0 */
/* Synthetic CRM event streams: tenants, managers, channels, lead sources,
 * deal funnels, orders, conversations, calls, tickets, surveys,
 * subscriptions and web visits, deterministic for a seed. Also malformed
 * messages, for DLQ tests. */
#ifndef CP_GEN_H
#define CP_GEN_H

#include <stdint.h>

#include "buf.h"
#include "codec.h"
#include "common.h"
#include "event.h"

struct cp_gen_config {
    uint64_t seed;      /* same seed, same stream */
    uint64_t customers; /* distinct customers over all tenants (>= 1) */
    int tenants;        /* >= 1 */
    int64_t start_ms;   /* event time of the first event */
    int64_t
        step_ms; /* mean event-time advance per event (0: all at start_ms) */
    int64_t step_us; /* if > 0: the advance in microseconds, instead of
                        step_ms (for more than 1000 events/s) */
};

struct cp_gen;

/** Ownership: caller owns the result; free with cp_gen_destroy(). */
struct cp_gen *cp_gen_new(const struct cp_gen_config *gcfg);
void cp_gen_destroy(struct cp_gen *gen);

/**
 * @brief The next event of the stream; every event is valid per the input
 *        contract when judged at a clock >= its occurred_at.
 * Ownership: strings in @p ev are borrowed from @p gen, valid until the
 *            next cp_gen_next() call.
 */
void cp_gen_next(struct cp_gen *gen, struct cp_event *ev);

/**
 * @brief Appends one malformed message value (bad framing, unknown schema id,
 *        truncated/trailing bytes, out-of-range enum or value, bad id charset,
 *        timestamp out of range, empty, ...) to @p out, chosen by the stream.
 * @returns a short label of the kind of damage (static string).
 */
const char *cp_gen_invalid(struct cp_gen *gen, struct cp_codec *codec,
                           struct cp_buf *out);

/** @brief Bytes the generator holds (customer state, follow-up queue,
 *         scratch buffers); constant after cp_gen_new() but for scratch. */
size_t cp_gen_mem_bytes(const struct cp_gen *gen);

/** @brief Writes the Kafka key "tenant:customer" of @p ev into @p out (reset
 * first). */
cp_rc cp_gen_key(const struct cp_event *ev, struct cp_buf *out);

#endif
