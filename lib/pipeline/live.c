/* SPDX-License-Identifier: Apache-2.0 */
/* Deltas per (tenant, day): staged at commit time, accumulated once the
 * transaction landed, published per tenant at most once a second. */
#include "live.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "event.h"
#include "keys.h"
#include "map.h"

#define LIVE_INTERVAL_MS 1000

/* One (tenant, day) with deltas; tenant and day as in the day key. */
struct slot {
    char tenant[CP_NAME_MAX + 1];
    char day[11];
    uint64_t touched; /* bit per enum cp_field */
    int64_t staged[CP_F_CNT];
    int64_t ready[CP_F_CNT];
    uint64_t ready_touched;
    size_t clock; /* its tenant's clock (live->clocks; they never move) */
};

/* Per tenant: when its last message went out. */
struct tenant_clock {
    int64_t last_ms;
    uint64_t decided_in; /* the publish call that decided `due` */
    uint8_t due;         /* its days go out in that call */
};

struct cp_live {
    char *prefix; /* owned */
    size_t prefix_len;
    struct slot *slots; /* owned; tenants x days in flight: a backfill of
                           100 tenants over 21 days has 2,100 */
    size_t cnt, cap;
    struct cp_map index; /* "tenant\0day" -> slot number + 1, as a pointer */
    struct tenant_clock *clocks; /* owned */
    size_t clock_cnt, clock_cap;
    struct cp_map clock_index; /* tenant -> clock number + 1, as a pointer */
    uint64_t publish_calls;
    struct cp_buf json;
    cp_rc failed;
};

struct cp_live *cp_live_new(const char *prefix)
{
    struct cp_live *live = calloc(1, sizeof(*live));

    if (!live)
        return NULL;
    live->prefix = strdup(prefix);
    if (!live->prefix) {
        free(live);
        return NULL;
    }
    live->prefix_len = strlen(prefix);
    cp_buf_init(&live->json, 0);
    cp_map_init(&live->index);
    cp_map_init(&live->clock_index);
    return live;
}

void cp_live_destroy(struct cp_live *live)
{
    if (!live)
        return;
    free(live->prefix);
    free(live->slots);
    free(live->clocks);
    cp_buf_cleanup(&live->json);
    cp_map_cleanup(&live->index);
    cp_map_cleanup(&live->clock_index);
    free(live);
}

/* The index key of (tenant, day): "tenant\0YYYY-MM-DD"; @returns its
 * length. */
static size_t index_key(char *out, const char *tenant, size_t tenant_len,
                        const char *day)
{
    memcpy(out, tenant, tenant_len);
    out[tenant_len] = '\0';
    memcpy(out + tenant_len + 1, day, 10);
    return tenant_len + 11;
}

/* Indexes slot @p i; @returns nonzero on ENOMEM. */
static int index_slot(struct cp_live *live, size_t i)
{
    char key[CP_NAME_MAX + 11];
    const struct slot *s = &live->slots[i];
    size_t len = index_key(key, s->tenant, strlen(s->tenant), s->day);
    struct cp_map_entry *e =
        cp_map_upsert(&live->index, key, len, cp_map_hash(key, len));

    if (!e)
        return -1;
    e->value = (void *)(uintptr_t)(i + 1);
    return 0;
}

/* The number of @p tenant's clock, made on first use; -1 on ENOMEM. */
static ptrdiff_t clock_of(struct cp_live *live, const char *tenant,
                          size_t tenant_len)
{
    struct tenant_clock *clocks;
    struct cp_map_entry *e =
        cp_map_upsert(&live->clock_index, tenant, tenant_len,
                      cp_map_hash(tenant, tenant_len));

    if (!e)
        return -1;
    if (e->value)
        return (ptrdiff_t)((uintptr_t)e->value - 1);
    clocks = cp_grow(live->clocks, &live->clock_cap, live->clock_cnt,
                     sizeof(*clocks), 16);
    if (!clocks)
        return -1;
    live->clocks = clocks;
    memset(&live->clocks[live->clock_cnt], 0, sizeof(*live->clocks));
    e->value = (void *)(uintptr_t)(live->clock_cnt + 1);
    return (ptrdiff_t)live->clock_cnt++;
}

static struct slot *slot_of(struct cp_live *live, const char *tenant,
                            size_t tenant_len, const char *day)
{
    char key[CP_NAME_MAX + 11];
    size_t len = index_key(key, tenant, tenant_len, day);
    const struct cp_map_entry *e =
        cp_map_find(&live->index, key, len, cp_map_hash(key, len));
    struct slot *s, *slots;
    ptrdiff_t clock;

    if (e)
        return &live->slots[(uintptr_t)e->value - 1];
    clock = clock_of(live, tenant, tenant_len);
    if (clock < 0)
        return NULL;
    slots = cp_grow(live->slots, &live->cap, live->cnt, sizeof(*slots), 16);
    if (!slots)
        return NULL;
    live->slots = slots;
    s = &live->slots[live->cnt];
    memset(s, 0, sizeof(*s));
    memcpy(s->tenant, tenant, tenant_len);
    memcpy(s->day, day, 10);
    s->clock = (size_t)clock;
    if (index_slot(live, live->cnt))
        return NULL;
    live->cnt++;
    return s;
}

/* Keeps only P:{T}:d:YYYY-MM-DD, the tenant's day hash. */
static void stage_field(void *opaque, const char *key, size_t key_len,
                        int field, int64_t delta)
{
    struct cp_live *live = opaque;
    const char *t, *close;
    struct slot *s;

    if (key_len < live->prefix_len + 2 ||
        memcmp(key, live->prefix, live->prefix_len) ||
        key[live->prefix_len] != ':' || key[live->prefix_len + 1] != '{')
        return;
    t = key + live->prefix_len + 2;
    close = memchr(t, '}', key_len - (size_t)(t - key));
    if (!close || (size_t)(close - t) > CP_NAME_MAX ||
        key + key_len - close != 2 + 1 + 1 + 10 || memcmp(close, "}:d:", 4))
        return;
    s = slot_of(live, t, (size_t)(close - t), close + 4);
    if (!s) {
        live->failed = CP_ENOMEM;
        return;
    }
    s->staged[field] += delta;
    s->touched |= (uint64_t)1 << field;
}

cp_rc cp_live_stage(struct cp_live *live, const struct cp_counters *ctr)
{
    cp_live_discard(live);
    live->failed = CP_OK;
    cp_counters_visit_fields(ctr, CP_HASH_COUNTERS, stage_field, live);
    return live->failed;
}

void cp_live_commit(struct cp_live *live)
{
    for (size_t i = 0; i < live->cnt; i++) {
        struct slot *s = &live->slots[i];

        for (int f = 0; f < CP_F_CNT; f++) {
            s->ready[f] += s->staged[f];
            s->staged[f] = 0;
        }
        s->ready_touched |= s->touched;
        s->touched = 0;
    }
}

void cp_live_discard(struct cp_live *live)
{
    for (size_t i = 0; i < live->cnt; i++) {
        memset(live->slots[i].staged, 0, sizeof(live->slots[i].staged));
        live->slots[i].touched = 0;
    }
}

static void publish_slot(struct cp_live *live, struct slot *s, int64_t now_ms,
                         struct cp_cmds *cmds)
{
    struct cp_buf *j = &live->json;
    char channel[512];
    int n, first = 1;

    cp_buf_reset(j);
    cp_buf_printf(j,
                  "{\"tenant\":\"%s\",\"day\":\"%s\",\"at\":%lld,"
                  "\"deltas\":{",
                  s->tenant, s->day, (long long)now_ms);
    for (int f = 0; f < CP_F_CNT; f++) {
        if (!(s->ready_touched & ((uint64_t)1 << f)))
            continue;
        cp_buf_printf(j, "%s\"%s\":%lld", first ? "" : ",",
                      cp_field_name((enum cp_field)f), (long long)s->ready[f]);
        first = 0;
    }
    cp_buf_printf(j, "}}");
    n = cp_key_tenant(channel, sizeof(channel), live->prefix, s->tenant,
                      strlen(s->tenant), CP_KSEG_LIVE_CHANNEL);
    cp_cmd_begin(cmds, 3);
    cp_cmd_arg(cmds, "PUBLISH", 7);
    cp_cmd_arg(cmds, channel, (size_t)n);
    cp_cmd_arg(cmds, j->data, j->len);
    memset(s->ready, 0, sizeof(s->ready));
    s->ready_touched = 0;
}

size_t cp_live_publish_cmds(struct cp_live *live, int64_t now_ms,
                            struct cp_cmds *cmds)
{
    size_t before = cmds->cnt, keep = 0;
    uint64_t call = ++live->publish_calls;

    /* A tenant whose last message is a second old sends every day it has
     * now, in one go; decided once per tenant and call. */
    for (size_t i = 0; i < live->cnt; i++) {
        struct slot *s = &live->slots[i];
        struct tenant_clock *clk = &live->clocks[s->clock];

        if (!s->ready_touched)
            continue;
        if (clk->decided_in != call) {
            clk->decided_in = call;
            clk->due = now_ms - clk->last_ms >= LIVE_INTERVAL_MS;
            if (clk->due)
                clk->last_ms = now_ms;
        }
        if (clk->due)
            publish_slot(live, s, now_ms, cmds);
    }
    /* Drop slots with nothing pending so days do not pile up; the slots
     * moved, so the index is made anew (once a batch, not once a field). */
    for (size_t i = 0; i < live->cnt; i++)
        if (live->slots[i].ready_touched || live->slots[i].touched)
            live->slots[keep++] = live->slots[i];
    live->cnt = keep;
    cp_map_reset(&live->index);
    for (size_t i = 0; i < live->cnt; i++)
        if (index_slot(live, i)) {
            /* Out of memory: forget these deltas (the feed is a hint;
             * the hashes are the truth) rather than lose track of slots. */
            live->cnt = 0;
            cp_map_reset(&live->index);
            break;
        }
    return cmds->cnt - before;
}
