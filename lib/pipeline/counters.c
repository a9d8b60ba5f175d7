/* SPDX-License-Identifier: Apache-2.0 */
/* Per-batch counter coalescing. */
#include "counters.h"

#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "map.h"

#define CP_F_NAME_(id, name) name,
static const char *const field_names[CP_F_CNT] = {
    CP_COUNTER_FIELDS(CP_F_NAME_)};
#undef CP_F_NAME_

const int64_t cp_rt_bounds_s[CP_RT_BUCKET_CNT - 1] = {
    15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400,
};

static const char *const rt_names[CP_RT_BUCKET_CNT] = {
    "b15",   "b30",   "b60",   "b120",   "b300",   "b600",   "b900",
    "b1800", "b3600", "b7200", "b14400", "b28800", "b86400", "binf",
};

struct named_delta {
    struct named_delta *next;
    const char *field; /* in the batch arena */
    size_t field_len;
    int64_t delta;
};

struct cp_hash_delta {
    const char *key; /* borrowed from the map's arena */
    size_t key_len;
    enum cp_hash_kind kind;
    uint64_t touched;          /* bit per fixed field */
    int64_t deltas[CP_F_CNT];  /* fixed fields (counters or buckets) */
    struct named_delta *named; /* CP_HASH_NAMED fields, in the arena */
    int64_t expire_at_s; /* CP_HASH_MINUTE: EXPIREAT time (unix seconds) */
};

struct cp_counters {
    struct cp_map map;            /* key -> struct cp_hash_delta * */
    struct cp_arena arena;        /* hash deltas and named fields */
    struct cp_hash_delta **order; /* owned array: hashes in first-touch order */
    size_t cnt;
    size_t cap;
};

_Static_assert(CP_F_CNT <= 64, "touched mask holds one bit per field");

const char *cp_field_name(enum cp_field field)
{
    return field_names[field];
}

int cp_rt_bucket(int64_t response_ms)
{
    /* Exact: the smallest b with response_ms <= b * 1000. */
    for (int i = 0; i < CP_RT_BUCKET_CNT - 1; i++)
        if (response_ms <= cp_rt_bounds_s[i] * 1000)
            return i;
    return CP_RT_BUCKET_CNT - 1;
}

const char *cp_rt_field_name(int bucket)
{
    return rt_names[bucket];
}

struct cp_counters *cp_counters_new(void)
{
    struct cp_counters *ctr = calloc(1, sizeof(*ctr));

    if (!ctr)
        return NULL;
    cp_map_init(&ctr->map);
    cp_arena_init(&ctr->arena, 256 * 1024);
    return ctr;
}

void cp_counters_destroy(struct cp_counters *ctr)
{
    if (!ctr)
        return;
    cp_map_cleanup(&ctr->map);
    cp_arena_cleanup(&ctr->arena);
    free(ctr->order);
    free(ctr);
}

struct cp_hash_delta *cp_counters_hash(struct cp_counters *ctr, const char *key,
                                       size_t key_len, enum cp_hash_kind kind)
{
    uint64_t hash = cp_map_hash(key, key_len);
    struct cp_map_entry *e = cp_map_upsert(&ctr->map, key, key_len, hash);
    struct cp_hash_delta *hd, **order;

    if (!e)
        return NULL;
    if (e->value)
        return e->value;
    order = cp_grow(ctr->order, &ctr->cap, ctr->cnt, sizeof(*order), 1024);
    if (!order)
        return NULL;
    ctr->order = order;
    hd = cp_arena_alloc(&ctr->arena, sizeof(*hd));
    if (!hd)
        return NULL;
    memset(hd, 0, sizeof(*hd));
    hd->key = e->key;
    hd->key_len = key_len;
    hd->kind = kind;
    e->value = hd;
    ctr->order[ctr->cnt++] = hd;
    return hd;
}

void cp_hash_add(struct cp_hash_delta *hd, int field, int64_t delta)
{
    hd->touched |= (uint64_t)1 << field;
    hd->deltas[field] += delta;
}

cp_rc cp_hash_add_named(struct cp_counters *ctr, struct cp_hash_delta *hd,
                        const char *field, size_t field_len, int64_t delta)
{
    struct named_delta *nd;

    for (nd = hd->named; nd; nd = nd->next)
        if (nd->field_len == field_len && !memcmp(nd->field, field, field_len))
            break;
    if (!nd) {
        nd = cp_arena_alloc(&ctr->arena, sizeof(*nd));
        if (!nd)
            return CP_ENOMEM;
        nd->field = cp_arena_strndup(&ctr->arena, field, field_len);
        if (!nd->field)
            return CP_ENOMEM;
        nd->field_len = field_len;
        nd->delta = 0;
        nd->next = hd->named;
        hd->named = nd;
    }
    nd->delta += delta;
    return CP_OK;
}

static void write_hincrby(struct cp_cmds *cmds, const struct cp_hash_delta *hd,
                          const char *field, size_t field_len, int64_t delta)
{
    cp_cmd_begin(cmds, 4);
    cp_cmd_arg(cmds, "HINCRBY", 7);
    cp_cmd_arg(cmds, hd->key, hd->key_len);
    cp_cmd_arg(cmds, field, field_len);
    cp_cmd_int(cmds, delta);
}

void cp_counters_write(const struct cp_counters *ctr, struct cp_cmds *cmds)
{
    for (size_t i = 0; i < ctr->cnt; i++) {
        const struct cp_hash_delta *hd = ctr->order[i];

        for (int f = 0; f < CP_F_CNT; f++) {
            const char *name;

            if (!(hd->touched & ((uint64_t)1 << f)))
                continue;
            name = hd->kind == CP_HASH_RT ? rt_names[f] : field_names[f];
            write_hincrby(cmds, hd, name, strlen(name), hd->deltas[f]);
        }
        for (const struct named_delta *nd = hd->named; nd; nd = nd->next)
            write_hincrby(cmds, hd, nd->field, nd->field_len, nd->delta);
        if (hd->kind == CP_HASH_MINUTE) {
            /* A minute key's life is fixed by its minute, not by when it
             * was written: once per key and batch, the same time always. */
            cp_cmd_begin(cmds, 3);
            cp_cmd_arg(cmds, "EXPIREAT", 8);
            cp_cmd_arg(cmds, hd->key, hd->key_len);
            cp_cmd_int(cmds, hd->expire_at_s);
        }
    }
}

int64_t cp_counters_get(const struct cp_counters *ctr, const char *key,
                        const char *field, int *touched)
{
    size_t len = strlen(key);
    const struct cp_map_entry *e =
        cp_map_find(&ctr->map, key, len, cp_map_hash(key, len));
    const struct cp_hash_delta *hd = e ? e->value : NULL;

    *touched = 0;
    if (!hd)
        return 0;
    for (int f = 0; f < CP_F_CNT; f++) {
        const char *name = hd->kind == CP_HASH_RT
                               ? (f < CP_RT_BUCKET_CNT ? rt_names[f] : "")
                               : field_names[f];

        if ((hd->touched & ((uint64_t)1 << f)) && !strcmp(name, field)) {
            *touched = 1;
            return hd->deltas[f];
        }
    }
    for (const struct named_delta *nd = hd->named; nd; nd = nd->next) {
        if (nd->field_len == strlen(field) &&
            !memcmp(nd->field, field, nd->field_len)) {
            *touched = 1;
            return nd->delta;
        }
    }
    return 0;
}

void cp_hash_set_expire_at(struct cp_hash_delta *hd, int64_t unix_s)
{
    hd->expire_at_s = unix_s;
}

void cp_counters_visit_fields(const struct cp_counters *ctr,
                              enum cp_hash_kind kind, cp_field_visit_fn fn,
                              void *opaque)
{
    for (size_t i = 0; i < ctr->cnt; i++) {
        const struct cp_hash_delta *hd = ctr->order[i];

        if (hd->kind != kind || kind == CP_HASH_NAMED)
            continue;
        for (int f = 0; f < CP_F_CNT; f++)
            if (hd->touched & ((uint64_t)1 << f))
                fn(opaque, hd->key, hd->key_len, f, hd->deltas[f]);
    }
}

size_t cp_counters_hash_cnt(const struct cp_counters *ctr)
{
    return ctr->cnt;
}

void cp_counters_reset(struct cp_counters *ctr)
{
    cp_map_reset(&ctr->map);
    cp_arena_reset(&ctr->arena);
    ctr->cnt = 0;
}
