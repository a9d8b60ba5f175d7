/* SPDX-License-Identifier: Apache-2.0 */
/* The validation walk: a writer schema compiled into a flat program that
 * proves a byte string is exactly one well-formed value of that schema,
 * without avro-c and without allocating. avro-c leaks or mallocs huge
 * sizes on hostile input, so nothing reaches it before the walk accepts
 * it. Private to lib/codec. */
#ifndef CP_WALK_H
#define CP_WALK_H

#include <stddef.h>
#include <stdint.h>

#include <avro.h>

#include "common.h"

struct cp_walk;

/**
 * @brief Compiles @p schema (borrowed; links and named types resolved).
 * @returns the program (caller owns; cp__walk_free()), or NULL with
 *          @p errstr set (too deep, unsupported type, out of memory).
 */
struct cp_walk *cp__walk_compile(avro_schema_t schema, char *errstr,
                                 size_t errstr_size);
void cp__walk_free(struct cp_walk *walk);

/** @brief The named type a schema link points at (itself if no link). */
avro_schema_t cp__resolve_link(avro_schema_t schema);

/**
 * @brief Proves that [body, body + len) is exactly one value of the
 *        compiled schema. @p base is the start of the message, for byte
 *        offsets in reasons.
 * @returns CP_OK, or CP_EDECODE with the field and offset in @p reason.
 */
cp_rc cp__walk_value(const struct cp_walk *walk, const uint8_t *base,
                     const uint8_t *body, size_t len, char *reason,
                     size_t reason_size);

#endif
