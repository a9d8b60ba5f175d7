/* SPDX-License-Identifier: Apache-2.0 */
/* Open-addressing hash map from byte strings to a pointer. Keys are copied
 * into the map's own arena; cp_map_reset() forgets everything but keeps the
 * memory, so a map reused batch after batch stops allocating. */
#ifndef CP_MAP_H
#define CP_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

/* 24 bytes: the state cache holds one per entity, so its size is part of
 * the per-customer budget (see README, performance). */
struct cp_map_entry {
    uint32_t hash;    /* low bits of cp_map_hash(): all a slot index uses */
    uint32_t key_len; /* keys are short names and ids, far below 4 GiB */
    const char *key;  /* owned by the map's arena; NUL-terminated copy */
    void *value;      /* the caller's; NULL until set */
};

struct cp_map {
    struct cp_map_entry *slots; /* owned; cap entries, key == NULL: empty */
    size_t cap;                 /* power of two */
    size_t cnt;
    struct cp_arena keys; /* owned key copies */
};

void cp_map_init(struct cp_map *map);
uint64_t cp_map_hash(const void *key, size_t len);
/** @returns the entry for @p key or NULL. */
struct cp_map_entry *cp_map_find(const struct cp_map *map, const void *key,
                                 size_t len, uint64_t hash);
/**
 * @brief Finds or inserts @p key (value NULL when new).
 * @returns the entry (valid until the next insert or reset), or NULL on ENOMEM.
 */
struct cp_map_entry *cp_map_upsert(struct cp_map *map, const void *key,
                                   size_t len, uint64_t hash);
void cp_map_reset(struct cp_map *map);
void cp_map_cleanup(struct cp_map *map);

#endif
