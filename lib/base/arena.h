/* SPDX-License-Identifier: Apache-2.0 */
/* A bump allocator for one batch: decoded strings live here until the batch
 * is committed, then cp_arena_reset() recycles the chunks (no free per event).
 */
#ifndef CP_ARENA_H
#define CP_ARENA_H

#include <stddef.h>

struct cp_arena_chunk;

struct cp_arena {
    struct cp_arena_chunk *head; /* owned list of chunks */
    struct cp_arena_chunk *cur;  /* chunk being filled */
    size_t chunk_size;           /* default size of a new chunk */
};

void cp_arena_init(struct cp_arena *arena, size_t chunk_size);
/** @returns 8-byte aligned memory valid until reset/cleanup, or NULL. */
void *cp_arena_alloc(struct cp_arena *arena, size_t size);
/** @returns a NUL-terminated copy of s[0..len), or NULL. */
char *cp_arena_strndup(struct cp_arena *arena, const char *s, size_t len);
/** @brief Bytes of all chunks (held memory, used or not). */
size_t cp_arena_bytes(const struct cp_arena *arena);
/** @brief Bytes allocated since the last reset (a lower bound of held). */
size_t cp_arena_used(const struct cp_arena *arena);
/** @brief Forgets every allocation but keeps the chunks for reuse. */
void cp_arena_reset(struct cp_arena *arena);
void cp_arena_cleanup(struct cp_arena *arena);

#endif
