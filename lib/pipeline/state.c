/* SPDX-License-Identifier: Apache-2.0 */
/* Entity state cache and its Redis encoding (see schemas/redis-keys.md). */
#include "state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "ids.h"
#include "log.h"
#include "map.h"
#include "keys.h"

struct ptr_vec {
    struct cp_entity **items; /* owned array of borrowed entities */
    size_t cnt;
    size_t cap;
};

/* A run of entities written or read by one Redis command. */
struct group {
    size_t start; /* index into the sorted vector */
    size_t cnt;
    uint8_t kind;
    uint8_t op; /* what to write: see write_op() */
};

/* A stored value that did not parse, set aside at the next commit. */
struct unreadable {
    struct cp_entity *ent; /* borrowed from the cache */
    const char *value;     /* arena copy of what was stored */
    size_t len;
};

struct cp_state {
    char *prefix;              /* owned, e.g. "crm" */
    struct cp_map map;         /* kind+tenant+id -> struct cp_entity * */
    struct cp_arena arena;     /* entities and their strings */
    struct ptr_vec loading;    /* queued for load, in command order */
    struct ptr_vec dirty;      /* to write at commit */
    int dirty_failed;          /* a touch ran out of memory */
    struct group *load_groups; /* owned; one per load command */
    size_t load_group_cnt;
    size_t load_group_cap;
    struct cp_buf key; /* scratch for Redis key names */
    struct unreadable *bad; /* owned; found by this batch's loads */
    size_t bad_cnt, bad_cap;
    uint64_t drops[CP_DROP_KIND_CNT];     /* kept out by this batch */
    uint64_t drops_all[CP_DROP_KIND_CNT]; /* ... by committed batches */
};

static int vec_push(struct ptr_vec *vec, struct cp_entity *ent)
{
    struct cp_entity **items =
        cp_grow(vec->items, &vec->cap, vec->cnt, sizeof(*items), 1024);

    if (!items)
        return -1;
    vec->items = items;
    vec->items[vec->cnt++] = ent;
    return 0;
}

struct cp_state *cp_state_new(const char *prefix)
{
    struct cp_state *state = calloc(1, sizeof(*state));

    if (!state)
        return NULL;
    state->prefix = strdup(prefix);
    if (!state->prefix) {
        free(state);
        return NULL;
    }
    cp_map_init(&state->map);
    cp_arena_init(&state->arena, 1024 * 1024);
    cp_buf_init(&state->key, 4096);
    return state;
}

void cp_state_destroy(struct cp_state *state)
{
    if (!state)
        return;
    cp_map_cleanup(&state->map);
    cp_arena_cleanup(&state->arena);
    cp_buf_cleanup(&state->key);
    free(state->loading.items);
    free(state->dirty.items);
    free(state->load_groups);
    free(state->bad);
    free(state->prefix);
    free(state);
}

static void customer_init(struct cp_customer *cust)
{
    memset(cust, 0, sizeof(*cust));
    cp_churn_state_init(&cust->churn);
    cust->timer_due = CP_NO_TIMER;
    cust->partition = -1;
}

struct cp_entity *cp_state_get(struct cp_state *state, enum cp_entity_kind kind,
                               struct cp_str tenant, struct cp_str id)
{
    char stack_key[1 + CP_NAME_MAX + 1 + CP_ID_MAX];
    size_t len = 1 + tenant.len + 1 + id.len;
    struct cp_map_entry *e;
    struct cp_entity *ent;
    uint64_t hash;

    if (len > sizeof(stack_key))
        return NULL; /* validated input never gets here */
    /* Map key: kind byte, tenant, NUL, id (ids never contain NUL). */
    stack_key[0] = (char)('0' + kind);
    memcpy(stack_key + 1, tenant.ptr, tenant.len);
    stack_key[1 + tenant.len] = '\0';
    memcpy(stack_key + 2 + tenant.len, id.ptr, id.len);
    hash = cp_map_hash(stack_key, len);
    e = cp_map_upsert(&state->map, stack_key, len, hash);
    if (!e)
        return NULL;
    if (e->value)
        return e->value;
    ent = cp_arena_alloc(&state->arena, sizeof(*ent));
    if (!ent)
        return NULL;
    memset(ent, 0, sizeof(*ent));
    ent->kind = (uint8_t)kind;
    ent->key = e->key;
    ent->tenant_len = (uint8_t)tenant.len;
    ent->id_len = (uint8_t)id.len;
    if (kind == CP_ENT_CUSTOMER) {
        struct cp_customer *cust = cp_arena_alloc(&state->arena, sizeof(*cust));

        if (!cust)
            return NULL;
        customer_init(cust);
        ent->u.customer = cust;
    }
    if (vec_push(&state->loading, ent))
        return NULL;
    e->value = ent;
    return ent;
}

/* P:{T}:<suffix> into the scratch buffer (NUL-terminated). */
static const char *tenant_key(struct cp_state *state,
                              const struct cp_entity *ent, const char *suffix,
                              size_t *len)
{
    struct cp_buf *key = &state->key;

    cp_buf_reset(key);
    if (cp_key_tenant_buf(key, state->prefix, cp_entity_tenant(ent),
                          ent->tenant_len, suffix, NULL))
        return NULL;
    *len = key->len;
    return key->data;
}

static const char *const kind_suffix[CP_ENT_KIND_CNT] = {
    CP_KSEG_STATE_DEALS,
    CP_KSEG_STATE_WAITING,
    CP_KSEG_STATE_TICKETS,
    CP_KSEG_STATE_CUSTOMERS,
};

/* What a dirty entity's write is: entities with the same kind, op and
 * tenant share one command. */
enum write_op { OP_SET = 0, OP_DEL = 1 };

static int write_op(const struct cp_entity *ent)
{
    if (ent->kind == CP_ENT_CONV)
        return ent->u.conv.waiting ? OP_SET : OP_DEL;
    if (ent->kind == CP_ENT_TICKET)
        return ent->u.ticket.open ? OP_SET : OP_DEL;
    return OP_SET;
}

static int cmp_tenant(const struct cp_entity *a, const struct cp_entity *b)
{
    if (a->tenant_len != b->tenant_len)
        return a->tenant_len < b->tenant_len ? -1 : 1;
    return memcmp(cp_entity_tenant(a), cp_entity_tenant(b), a->tenant_len);
}

/* Every kind has one key per tenant. */
static int same_key(const struct cp_entity *a, const struct cp_entity *b)
{
    return a->kind == b->kind && !cmp_tenant(a, b);
}

static int cmp_for_load(const void *pa, const void *pb)
{
    const struct cp_entity *a = *(struct cp_entity *const *)pa;
    const struct cp_entity *b = *(struct cp_entity *const *)pb;

    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    return cmp_tenant(a, b);
}

static int cmp_for_write(const void *pa, const void *pb)
{
    const struct cp_entity *a = *(struct cp_entity *const *)pa;
    const struct cp_entity *b = *(struct cp_entity *const *)pb;
    int oa = write_op(a), ob = write_op(b);

    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (oa != ob)
        return oa < ob ? -1 : 1;
    return cmp_tenant(a, b);
}

/* Splits a sorted vector into runs that share a key (and write op). */
static int next_group(struct cp_entity **items, size_t cnt, size_t start,
                      int by_op, struct group *g)
{
    size_t end = start + 1;

    if (start >= cnt)
        return 0;
    while (end < cnt && same_key(items[start], items[end]) &&
           (!by_op || write_op(items[start]) == write_op(items[end])))
        end++;
    g->start = start;
    g->cnt = end - start;
    g->kind = items[start]->kind;
    g->op = (uint8_t)write_op(items[start]);
    return 1;
}

static int push_load_group(struct cp_state *state, const struct group *g)
{
    struct group *items = cp_grow(state->load_groups, &state->load_group_cap,
                                  state->load_group_cnt, sizeof(*items), 256);

    if (!items)
        return -1;
    state->load_groups = items;
    state->load_groups[state->load_group_cnt++] = *g;
    return 0;
}

size_t cp_state_load_cmds(struct cp_state *state, struct cp_cmds *cmds)
{
    struct cp_entity **items = state->loading.items;
    struct group g;

    state->load_group_cnt = 0;
    if (!state->loading.cnt)
        return 0;
    qsort(items, state->loading.cnt, sizeof(*items), cmp_for_load);
    for (size_t at = 0; next_group(items, state->loading.cnt, at, 0, &g);
         at += g.cnt) {
        const struct cp_entity *first = items[g.start];
        size_t key_len = 0;
        const char *key =
            tenant_key(state, first, kind_suffix[g.kind], &key_len);

        if (!key || push_load_group(state, &g)) {
            cp_cmds_poison(cmds);
            return 0;
        }
        /* One read per tenant and kind: HMGET / ZMSCORE of all its ids. */
        cp_cmd_begin(cmds, 2 + (int)g.cnt);
        if (g.kind == CP_ENT_CONV)
            cp_cmd_arg(cmds, "ZMSCORE", 7);
        else
            cp_cmd_arg(cmds, "HMGET", 5);
        cp_cmd_arg(cmds, key, key_len);
        for (size_t j = 0; j < g.cnt; j++)
            cp_cmd_arg(cmds, cp_entity_id(items[g.start + j]),
                       items[g.start + j]->id_len);
    }
    return state->load_group_cnt;
}

/* Parses a time in ms from a stored string (HGET value or ZSET score in
 * double notation, "1700000000000" or "1.7e+12"); -1 on anything else,
 * "inf", "nan" and times outside 0 .. year 9999 included: whatever is read
 * back is untrusted (casting an out-of-range double is undefined). */
static int parse_i64(const char *s, size_t len, int64_t *out)
{
    char tmp[32];
    char *end;

    if (!len || len >= sizeof(tmp) || s[0] < '0' || s[0] > '9')
        return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    errno = 0;
    if (strpbrk(tmp, ".eE")) {
        double d = strtod(tmp, &end);

        if (*end || errno || !(d >= 0 && d <= (double)CP_MAX_OCCURRED_AT_MS))
            return -1;
        *out = (int64_t)d;
        return 0;
    }
    *out = strtoll(tmp, &end, 10);
    if (*end || errno || *out < 0 || *out > CP_MAX_OCCURRED_AT_MS)
        return -1;
    return 0;
}

/* Deal encoding: "known|closed|created|source|stages", created "-" if
 * unknown, source and stages possibly empty. @returns 0, -1 if the value
 * is not one, 1 when out of memory. */
static int parse_deal(struct cp_state *state, struct cp_entity *ent,
                      const char *s, size_t len)
{
    const char *fields[5];
    size_t lens[5];
    size_t n = 0, start = 0;

    for (size_t i = 0; i <= len && n < 5; i++) {
        if (i == len || s[i] == '|') {
            fields[n] = s + start;
            lens[n++] = i - start;
            start = i + 1;
        }
    }
    if (n != 5 || lens[0] != 1 || lens[1] != 1)
        return -1;
    ent->deal_known = fields[0][0] == '1';
    ent->deal_closed = fields[1][0] == '1';
    if (lens[2] == 1 && fields[2][0] == '-') {
        ent->deal_has_created = 0;
    } else {
        if (parse_i64(fields[2], lens[2], &ent->u.deal.created_at))
            return -1;
        ent->deal_has_created = 1;
    }
    ent->u.deal.source =
        lens[3] ? cp_arena_strndup(&state->arena, fields[3], lens[3]) : NULL;
    ent->u.deal.stages =
        lens[4] ? cp_arena_strndup(&state->arena, fields[4], lens[4]) : NULL;
    if ((lens[3] && !ent->u.deal.source) || (lens[4] && !ent->u.deal.stages))
        return 1; /* out of memory: not the value's fault */
    return 0;
}

/* Customer encoding, binary, little-endian: version 1 byte, churn state
 * length 2 bytes, the churn state (cp_churn_state_pack), timer_due 8,
 * scored_at 8, shown 8, shown_since 8, partition 4, flags 1 (bit 0: an
 * order was counted), manager length 1, manager; version 2 adds the count
 * of waiting conversations, 2 (version 1 reads as 0). */
#define CUSTOMER_VERSION 2
#define CUSTOMER_FIXED   (1 + 2 + 8 + 8 + 8 + 8 + 4 + 1 + 1)
#define CUSTOMER_MAX     (CUSTOMER_FIXED + CP_CHURN_PACKED_MAX + CP_NAME_MAX + 2)

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static size_t pack_customer(const struct cp_customer *cust, uint8_t *out)
{
    size_t n = 0, churn_len,
           mgr_len = cust->manager ? strlen(cust->manager) : 0;

    out[n++] = CUSTOMER_VERSION;
    churn_len = cp_churn_state_pack(&cust->churn, out + 3, CP_CHURN_PACKED_MAX);
    put_le(out + n, churn_len, 2);
    n += 2 + churn_len;
    put_le(out + n, (uint64_t)cust->timer_due, 8);
    put_le(out + n + 8, (uint64_t)cust->scored_at, 8);
    put_le(out + n + 16, cust->shown, 8);
    put_le(out + n + 24, (uint64_t)cust->shown_since, 8);
    put_le(out + n + 32, (uint64_t)(uint32_t)cust->partition, 4);
    n += 36;
    out[n++] = cust->orders_seen ? 1 : 0;
    out[n++] = (uint8_t)mgr_len;
    if (mgr_len)
        memcpy(out + n, cust->manager, mgr_len);
    n += mgr_len;
    put_le(out + n, cust->waiting, 2);
    return n + 2;
}

/* What unpack_customer() says when it ran out of memory. */
static const char OUT_OF_MEMORY[] = "out of memory";

static const char *unpack_customer(struct cp_state *state,
                                   struct cp_customer *cust, const uint8_t *p,
                                   size_t len);

cp_rc cp_state_customer_decode(struct cp_state *state, struct cp_customer *cust,
                               const void *bytes, size_t len)
{
    const char *why;

    customer_init(cust);
    why = unpack_customer(state, cust, bytes, len);
    if (why) {
        customer_init(cust);
        return why == OUT_OF_MEMORY ? CP_ENOMEM : CP_EDECODE;
    }
    return CP_OK;
}

static int time_ok(int64_t t)
{
    return t >= 0 && t <= CP_MAX_OCCURRED_AT_MS;
}

/* NULL, or what is wrong with the bytes (they are untrusted: a manager id
 * becomes part of key names, a partition an array index), or
 * OUT_OF_MEMORY. */
static const char *unpack_customer(struct cp_state *state,
                                   struct cp_customer *cust, const uint8_t *p,
                                   size_t len)
{
    size_t churn_len, n = 3, mgr_len;
    struct cp_str mgr;

    if (len < CUSTOMER_FIXED)
        return "shorter than the fixed fields";
    if (p[0] != 1 && p[0] != CUSTOMER_VERSION)
        return "unknown version byte";
    churn_len = (size_t)get_le(p + 1, 2);
    if (len < CUSTOMER_FIXED + churn_len)
        return "shorter than its churn features";
    if (cp_churn_state_unpack(&cust->churn, p + n, churn_len))
        return "churn features out of range";
    n += churn_len;
    cust->timer_due = (int64_t)get_le(p + n, 8);
    cust->scored_at = (int64_t)get_le(p + n + 8, 8);
    cust->shown = get_le(p + n + 16, 8);
    cust->fingerprint = cust->shown; /* written at every commit */
    cust->shown_since = (int64_t)get_le(p + n + 24, 8);
    cust->partition = (int32_t)(uint32_t)get_le(p + n + 32, 4);
    if ((cust->timer_due != CP_NO_TIMER && !time_ok(cust->timer_due)) ||
        !time_ok(cust->scored_at) || !time_ok(cust->shown_since))
        return "a time out of range";
    if (cust->partition < -1)
        return "a negative partition";
    n += 36;
    if (p[n] & ~1)
        return "unknown flags";
    cust->orders_seen = p[n++] & 1;
    mgr_len = p[n++];
    if (len != n + mgr_len + (p[0] == 1 ? 0 : 2))
        return "length does not match its manager id";
    cust->waiting = p[0] == 1 ? 0 : (uint16_t)get_le(p + n + mgr_len, 2);
    if (cust->waiting > CP_CUSTOMER_WAITING_MAX)
        return "more waiting conversations than tracked";
    cust->manager = NULL;
    if (mgr_len) {
        mgr.ptr = (const char *)p + n;
        mgr.len = mgr_len;
        if (!cp_id_valid(mgr.ptr, mgr.len))
            return "manager id breaks the id rules";
        cust->manager = cp_arena_strndup(&state->arena, mgr.ptr, mgr_len);
        if (!cust->manager)
            return OUT_OF_MEMORY;
    }
    return NULL;
}

/* A stored value that does not parse: someone else wrote it (or a bug
 * did). Refusing it would stop every tenant of the worker on one entity;
 * guessing would spread the damage. So the entity starts from empty state,
 * and the value moves to P:{T}:state:unreadable in the commit that
 * overwrites it, with one error line: nothing vanishes. */
static cp_rc set_aside(struct cp_state *state, struct cp_entity *ent,
                       const struct cp_reply *reply, const char *why)
{
    struct unreadable *bad =
        cp_grow(state->bad, &state->bad_cap, state->bad_cnt, sizeof(*bad), 16);
    char *copy;
    size_t key_len = 0;
    const char *key;

    if (!bad)
        return CP_ENOMEM;
    state->bad = bad;
    copy = cp_arena_alloc(&state->arena, reply->len ? reply->len : 1);
    if (!copy)
        return CP_ENOMEM;
    memcpy(copy, reply->str, reply->len);
    bad = &state->bad[state->bad_cnt++];
    bad->ent = ent;
    bad->value = copy;
    bad->len = reply->len;
    state->drops[CP_DROP_UNREADABLE]++;
    /* Back to the zero state a missing value has. */
    ent->deal_known = ent->deal_closed = ent->deal_has_created = 0;
    if (ent->kind == CP_ENT_CUSTOMER)
        customer_init(ent->u.customer);
    else
        memset(&ent->u, 0, sizeof(ent->u));
    cp_state_touch(state, ent);
    key = tenant_key(state, ent, kind_suffix[ent->kind], &key_len);
    cp_log(CP_LOG_ERR, "STATE",
           "stored state %s %s %.*s is unreadable (%s): it starts empty "
           "and the value moves to the %s hash of the tenant at the next "
           "commit (fix: restore the field from a backup if it matters, then "
           "delete it there)",
           key ? key : kind_suffix[ent->kind],
           ent->kind == CP_ENT_CONV ? "member" : "field", (int)ent->id_len,
           cp_entity_id(ent), why, CP_KSEG_STATE_UNREADABLE);
    return CP_OK;
}

/* Applies one stored value (or nil) to a queued entity. */
static cp_rc load_one(struct cp_state *state, struct cp_entity *ent,
                      const struct cp_reply *reply)
{
    int64_t v = 0;
    const char *why = NULL;

    if (reply->type == CP_REPLY_ERROR) {
        cp_log(CP_LOG_ERR, "STATE", "load %.*s/%.*s: %.*s",
               (int)ent->tenant_len, cp_entity_tenant(ent), (int)ent->id_len,
               cp_entity_id(ent), (int)reply->len, reply->str);
        return CP_EREDIS;
    }
    ent->loaded = 1;
    if (reply->type != CP_REPLY_STRING)
        return CP_OK; /* nil: nothing stored, the zero state is right */
    switch (ent->kind) {
    case CP_ENT_DEAL:
        switch (parse_deal(state, ent, reply->str, reply->len)) {
        case 1:
            return CP_ENOMEM;
        case -1:
            why = "not known|closed|created_ms|source|stages";
            break;
        }
        break;
    case CP_ENT_CONV:
        if (parse_i64(reply->str, reply->len, &v))
            why = "the score is not a time in ms";
        ent->u.conv.waiting = !why;
        ent->u.conv.wait_start = v;
        break;
    case CP_ENT_TICKET:
        if (parse_i64(reply->str, reply->len, &v))
            why = "not a time in ms";
        ent->u.ticket.open = !why;
        ent->u.ticket.opened_at = v;
        break;
    case CP_ENT_CUSTOMER:
        why = unpack_customer(state, ent->u.customer,
                              (const uint8_t *)reply->str, reply->len);
        if (why == OUT_OF_MEMORY)
            return CP_ENOMEM;
        break;
    }
    return why ? set_aside(state, ent, reply, why) : CP_OK;
}

cp_rc cp_state_load_reply(struct cp_state *state, size_t i,
                          const struct cp_reply *reply)
{
    const struct group *g = &state->load_groups[i];
    cp_rc rc = CP_OK;
    if (reply->type != CP_REPLY_ARRAY || reply->elements != g->cnt) {
        cp_log(CP_LOG_ERR, "STATE",
               "load: expected %zu values, got reply type %d", g->cnt,
               (int)reply->type);
        return CP_EREDIS;
    }
    for (size_t j = 0; j < g->cnt && !rc; j++) {
        struct cp_reply elem;

        cp_reply_element(reply, j, &elem);
        rc = load_one(state, state->loading.items[g->start + j], &elem);
    }
    return rc;
}

void cp_state_load_done(struct cp_state *state)
{
    state->loading.cnt = 0;
}

void cp_state_touch(struct cp_state *state, struct cp_entity *ent)
{
    if (ent->dirty)
        return;
    if (vec_push(&state->dirty, ent)) {
        state->dirty_failed = 1; /* reported by cp_state_write_dirty */
        return;
    }
    ent->dirty = 1;
}

/* Deal encoding (see parse_deal) as one argument, without joining. */
static void write_deal_value(struct cp_cmds *cmds, const struct cp_entity *ent)
{
    char head[CP_NAME_MAX + 64];
    const char *stages = ent->u.deal.stages ? ent->u.deal.stages : "";
    int n;

    n = snprintf(head, sizeof(head), "%c|%c|", ent->deal_known ? '1' : '0',
                 ent->deal_closed ? '1' : '0');
    if (ent->deal_has_created)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "%lld|",
                      (long long)ent->u.deal.created_at);
    else
        n += snprintf(head + n, sizeof(head) - (size_t)n, "-|");
    n += snprintf(head + n, sizeof(head) - (size_t)n, "%s|",
                  ent->u.deal.source ? ent->u.deal.source : "");
    /* The stage list is unbounded: send it as the value's second piece. */
    cp_cmd_arg2(cmds, head, (size_t)n, stages, strlen(stages));
}

static void write_group(struct cp_state *state, struct cp_cmds *cmds,
                        struct cp_entity *const *items, const struct group *g)
{
    size_t key_len = 0;
    const char *key =
        tenant_key(state, items[0], kind_suffix[g->kind], &key_len);
    int per_entity = g->op == OP_DEL ? 1 : 2;

    if (!key) {
        cp_cmds_poison(cmds);
        return;
    }
    cp_cmd_begin(cmds, 2 + per_entity * (int)g->cnt);
    if (g->kind == CP_ENT_CONV)
        cp_cmd_str(cmds, g->op == OP_DEL ? "ZREM" : "ZADD");
    else
        cp_cmd_str(cmds, g->op == OP_DEL ? "HDEL" : "HSET");
    cp_cmd_arg(cmds, key, key_len);
    for (size_t j = 0; j < g->cnt; j++) {
        const struct cp_entity *ent = items[j];

        if (g->kind == CP_ENT_CONV) {
            if (g->op == OP_SET)
                cp_cmd_int(cmds, ent->u.conv.wait_start);
            cp_cmd_arg(cmds, cp_entity_id(ent), ent->id_len);
            continue;
        }
        cp_cmd_arg(cmds, cp_entity_id(ent), ent->id_len);
        if (g->op == OP_DEL)
            continue;
        if (g->kind == CP_ENT_DEAL) {
            write_deal_value(cmds, ent);
        } else if (g->kind == CP_ENT_CUSTOMER) {
            uint8_t packed[CUSTOMER_MAX];

            cp_cmd_arg(cmds, (const char *)packed,
                       pack_customer(ent->u.customer, packed));
        } else {
            cp_cmd_int(cmds, ent->u.ticket.opened_at);
        }
    }
}

/* HSET P:{T}:state:unreadable "<where it was>:<id>" <the value>, e.g.
 * field "state:customers:c1". */
static void write_unreadable(struct cp_state *state, struct cp_cmds *cmds,
                             const struct unreadable *bad)
{
    const char *where = kind_suffix[bad->ent->kind];
    char field[64 + CP_ID_MAX];
    size_t key_len = 0;
    const char *key =
        tenant_key(state, bad->ent, CP_KSEG_STATE_UNREADABLE, &key_len);
    int n;

    if (!key) {
        cp_cmds_poison(cmds);
        return;
    }
    n = snprintf(field, sizeof(field), "%s:%.*s", where, (int)bad->ent->id_len,
                 cp_entity_id(bad->ent));
    cp_cmd_begin(cmds, 4);
    cp_cmd_arg(cmds, "HSET", 4);
    cp_cmd_arg(cmds, key, key_len);
    cp_cmd_arg(cmds, field, (size_t)n);
    cp_cmd_arg(cmds, bad->value, bad->len);
}

void cp_state_write_dirty(struct cp_state *state, struct cp_cmds *cmds)
{
    struct cp_entity **items = state->dirty.items;
    struct group g;

    if (state->dirty_failed) {
        cp_cmds_poison(cmds);
        return;
    }
    qsort(items, state->dirty.cnt, sizeof(*items), cmp_for_write);
    for (size_t at = 0; next_group(items, state->dirty.cnt, at, 1, &g);
         at += g.cnt)
        write_group(state, cmds, items + g.start, &g);
    for (size_t i = 0; i < state->bad_cnt; i++)
        write_unreadable(state, cmds, &state->bad[i]);
}

void cp_state_commit_done(struct cp_state *state)
{
    for (int i = 0; i < CP_DROP_KIND_CNT; i++) {
        state->drops_all[i] += state->drops[i];
        state->drops[i] = 0;
    }
    state->bad_cnt = 0;
    for (size_t i = 0; i < state->dirty.cnt; i++)
        state->dirty.items[i]->dirty = 0;
    state->dirty.cnt = 0;
    state->dirty_failed = 0;
}

int cp_state_deal_has_stage(const struct cp_entity *deal, struct cp_str stage)
{
    const char *p = deal->u.deal.stages;

    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);

        if (len == stage.len && !memcmp(p, stage.ptr, len))
            return 1;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

int cp_state_deal_full(const struct cp_entity *deal)
{
    const char *p = deal->u.deal.stages;
    int cnt = p && *p ? 1 : 0;

    while (p && (p = strchr(p, ',')) != NULL && cnt < CP_DEAL_STAGES_MAX) {
        cnt++;
        p++;
    }
    return cnt >= CP_DEAL_STAGES_MAX;
}

cp_rc cp_state_deal_add_stage(struct cp_state *state, struct cp_entity *deal,
                              struct cp_str stage)
{
    const char *old = deal->u.deal.stages;
    size_t old_len = old ? strlen(old) : 0;
    char *joined = cp_arena_alloc(&state->arena, old_len + 1 + stage.len + 1);

    if (!joined)
        return CP_ENOMEM;
    if (old_len) {
        memcpy(joined, old, old_len);
        joined[old_len++] = ',';
    }
    memcpy(joined + old_len, stage.ptr, stage.len);
    joined[old_len + stage.len] = '\0';
    deal->u.deal.stages = joined;
    return CP_OK;
}

cp_rc cp_state_customer_set_manager(struct cp_state *state,
                                    struct cp_entity *cust, struct cp_str mgr)
{
    const char *old = cust->u.customer->manager;
    char *copy;

    if (old && strlen(old) == mgr.len && !memcmp(old, mgr.ptr, mgr.len))
        return CP_OK;
    copy = cp_arena_strndup(&state->arena, mgr.ptr, mgr.len);
    if (!copy)
        return CP_ENOMEM;
    cust->u.customer->manager = copy;
    return CP_OK;
}

cp_rc cp_state_deal_set_source(struct cp_state *state, struct cp_entity *deal,
                               struct cp_str source)
{
    char *copy = cp_arena_strndup(&state->arena, source.ptr, source.len);

    if (!copy)
        return CP_ENOMEM;
    deal->u.deal.source = copy;
    return CP_OK;
}

size_t cp_state_entity_cnt(const struct cp_state *state)
{
    return state->map.cnt;
}

size_t cp_state_used_bytes(const struct cp_state *state)
{
    /* The table is at most half full: two slots an entity. */
    return 2 * state->map.cnt * sizeof(*state->map.slots) +
           cp_arena_used(&state->map.keys) + cp_arena_used(&state->arena);
}

size_t cp_state_mem_bytes(const struct cp_state *state)
{
    return state->map.cap * sizeof(*state->map.slots) +
           cp_arena_bytes(&state->map.keys) + cp_arena_bytes(&state->arena);
}

void cp_state_clear(struct cp_state *state)
{
    cp_map_reset(&state->map);
    cp_arena_reset(&state->arena);
    state->loading.cnt = 0;
    state->dirty.cnt = 0;
    state->dirty_failed = 0;
    state->bad_cnt = 0;
    memset(state->drops, 0, sizeof(state->drops));
}

void cp_state_count_drop(struct cp_state *state, enum cp_state_drop why)
{
    state->drops[why]++;
}

uint64_t cp_state_drop_cnt(const struct cp_state *state, enum cp_state_drop why)
{
    return state->drops_all[why];
}
