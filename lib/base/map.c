/* SPDX-License-Identifier: Apache-2.0 */
/* Linear-probing hash map with keys in an arena. */
#include "map.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"

void cp_map_init(struct cp_map *map)
{
    map->slots = NULL;
    map->cap = 0;
    map->cnt = 0;
    cp_arena_init(&map->keys, 256 * 1024);
}

/* FNV-1a over 8-byte words then a final mix: cheap for our ~20-60 byte keys. */
uint64_t cp_map_hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 0xcbf29ce484222325ULL ^ len;

    while (len >= 8) {
        uint64_t w;

        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    while (len--)
        h = (h ^ *p++) * 0x100000001b3ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

struct cp_map_entry *cp_map_find(const struct cp_map *map, const void *key,
                                 size_t len, uint64_t hash)
{
    size_t mask = map->cap - 1;

    if (!map->cap)
        return NULL;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct cp_map_entry *e = &map->slots[i];

        if (!e->key)
            return NULL;
        if (e->hash == (uint32_t)hash && e->key_len == len &&
            !memcmp(e->key, key, len))
            return e;
    }
}

static int grow(struct cp_map *map)
{
    size_t cap = map->cap ? map->cap * 2 : 1024;
    struct cp_map_entry *slots =
        cp__alloc_fails() ? NULL : calloc(cap, sizeof(*slots));

    if (!slots)
        return -1;
    for (size_t i = 0; i < map->cap; i++) {
        struct cp_map_entry *e = &map->slots[i];
        size_t j;

        if (!e->key)
            continue;
        for (j = e->hash & (cap - 1); slots[j].key; j = (j + 1) & (cap - 1))
            ;
        slots[j] = *e;
    }
    free(map->slots);
    map->slots = slots;
    map->cap = cap;
    return 0;
}

struct cp_map_entry *cp_map_upsert(struct cp_map *map, const void *key,
                                   size_t len, uint64_t hash)
{
    struct cp_map_entry *e = cp_map_find(map, key, len, hash);
    size_t mask;
    size_t i;

    if (e)
        return e;
    if (len > UINT32_MAX)
        return NULL;
    /* Keep the load factor under 3/4: probes stay short and the table
     * costs 32-64 bytes per entry. */
    if ((map->cnt + 1) * 4 > map->cap * 3 && grow(map))
        return NULL;
    mask = map->cap - 1;
    for (i = hash & mask; map->slots[i].key; i = (i + 1) & mask)
        ;
    e = &map->slots[i];
    e->key = cp_arena_strndup(&map->keys, key, len);
    if (!e->key)
        return NULL;
    e->hash = (uint32_t)hash;
    e->key_len = (uint32_t)len;
    e->value = NULL;
    map->cnt++;
    return e;
}

void cp_map_reset(struct cp_map *map)
{
    if (map->cnt)
        memset(map->slots, 0, map->cap * sizeof(*map->slots));
    map->cnt = 0;
    cp_arena_reset(&map->keys);
}

void cp_map_cleanup(struct cp_map *map)
{
    free(map->slots);
    map->slots = NULL;
    map->cap = map->cnt = 0;
    cp_arena_cleanup(&map->keys);
}
