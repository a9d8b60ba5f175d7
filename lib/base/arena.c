/* SPDX-License-Identifier: Apache-2.0 */
/* Bump allocator with chunk reuse. */
#include "arena.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"

struct cp_arena_chunk {
    struct cp_arena_chunk *next;
    size_t size; /* usable bytes in mem[] */
    size_t used;
    _Alignas(8) unsigned char mem[];
};

void cp_arena_init(struct cp_arena *arena, size_t chunk_size)
{
    arena->head = arena->cur = NULL;
    arena->chunk_size = chunk_size ? chunk_size : 64 * 1024;
}

static struct cp_arena_chunk *chunk_new(size_t size)
{
    struct cp_arena_chunk *chunk =
        cp__alloc_fails() ? NULL : malloc(sizeof(*chunk) + size);

    if (!chunk)
        return NULL;
    chunk->next = NULL;
    chunk->size = size;
    chunk->used = 0;
    return chunk;
}

void *cp_arena_alloc(struct cp_arena *arena, size_t size)
{
    struct cp_arena_chunk *chunk = arena->cur;
    size_t need = (size + 7) & ~(size_t)7;

    /* Walk on to a recycled chunk with room, else append a new one. */
    while (chunk && chunk->size - chunk->used < need)
        chunk = chunk->next;
    if (!chunk) {
        struct cp_arena_chunk *last = arena->head;

        chunk = chunk_new(need > arena->chunk_size ? need : arena->chunk_size);
        if (!chunk)
            return NULL;
        while (last && last->next)
            last = last->next;
        if (last)
            last->next = chunk;
        else
            arena->head = chunk;
    }
    arena->cur = chunk;
    chunk->used += need;
    return chunk->mem + chunk->used - need;
}

char *cp_arena_strndup(struct cp_arena *arena, const char *s, size_t len)
{
    char *copy = cp_arena_alloc(arena, len + 1);

    if (!copy)
        return NULL;
    if (len)
        memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

size_t cp_arena_bytes(const struct cp_arena *arena)
{
    size_t bytes = 0;

    for (const struct cp_arena_chunk *c = arena->head; c; c = c->next)
        bytes += sizeof(*c) + c->size;
    return bytes;
}

size_t cp_arena_used(const struct cp_arena *arena)
{
    size_t used = 0;

    for (const struct cp_arena_chunk *c = arena->head; c; c = c->next)
        used += c->used;
    return used;
}

void cp_arena_reset(struct cp_arena *arena)
{
    for (struct cp_arena_chunk *c = arena->head; c; c = c->next)
        c->used = 0;
    arena->cur = arena->head;
}

void cp_arena_cleanup(struct cp_arena *arena)
{
    struct cp_arena_chunk *c = arena->head;

    while (c) {
        struct cp_arena_chunk *next = c->next;

        free(c);
        c = next;
    }
    arena->head = arena->cur = NULL;
}
