/* SPDX-License-Identifier: Apache-2.0 */
/* The scorer's timers (scorer_int.h): a customer's silence timer and a
 * conversation's SLA deadline, as members of the partition's timers zset,
 * the ops a batch makes on them, and each partition's heap of due timers.
 * Members read back from Redis are untrusted: checked with the id rules. */
#include "scorer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "keys.h"
#include "log.h"
#include "scorer_int.h"

/* ---- timers ---- */

static int heap_less(const struct cp_scorer *sc, const struct heap_item *a,
                     const struct heap_item *b)
{
    const struct timer_op *oa = &sc->ops[a->op], *ob = &sc->ops[b->op];
    size_t n;
    int c;

    if (a->due != b->due)
        return a->due < b->due;
    n = oa->member_len < ob->member_len ? oa->member_len : ob->member_len;
    c = memcmp(oa->member, ob->member, n);
    return c ? c < 0 : oa->member_len < ob->member_len;
}

static int heap_push(struct cp_scorer *sc, struct heap *h, int64_t due,
                     uint32_t op)
{
    struct heap_item *items;
    size_t i;

    items = cp_grow(h->items, &h->cap, h->cnt, sizeof(*items), 256);
    if (!items)
        return -1;
    h->items = items;
    i = h->cnt++;
    h->items[i].due = due;
    h->items[i].op = op;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        struct heap_item tmp;

        if (!heap_less(sc, &h->items[i], &h->items[parent]))
            break;
        tmp = h->items[i];
        h->items[i] = h->items[parent];
        h->items[parent] = tmp;
        i = parent;
    }
    return 0;
}

void cp__sc_heap_pop(struct cp_scorer *sc, struct heap *h)
{
    size_t i = 0;

    h->items[0] = h->items[--h->cnt];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        struct heap_item tmp;

        if (l < h->cnt && heap_less(sc, &h->items[l], &h->items[m]))
            m = l;
        if (r < h->cnt && heap_less(sc, &h->items[r], &h->items[m]))
            m = r;
        if (m == i)
            break;
        tmp = h->items[i];
        h->items[i] = h->items[m];
        h->items[m] = tmp;
        i = m;
    }
}

/* The op of (p, member), created with due CP_NO_TIMER when new. */
static struct timer_op *op_get(struct cp_scorer *sc, int32_t p,
                               const char *member, size_t len)
{
    char stack_key[4 + 512];
    /* Ours are < 300 bytes; one written by someone else may be longer and
     * still has to be found to be removed. */
    char *key = len + 4 <= sizeof(stack_key) ? stack_key : malloc(len + 4);
    struct cp_map_entry *e;
    struct timer_op *op, *ops;

    if (!key || !len)
        return NULL;
    memcpy(key, &p, 4);
    memcpy(key + 4, member, len);
    e = cp_map_upsert(&sc->timer_map, key, len + 4, cp_map_hash(key, len + 4));
    if (key != stack_key)
        free(key);
    if (!e)
        return NULL;
    if (e->value)
        return &sc->ops[(uintptr_t)e->value - 1];
    ops = cp_grow(sc->ops, &sc->op_cap, sc->op_cnt, sizeof(*ops), 256);
    if (!ops)
        return NULL;
    sc->ops = ops;
    op = &sc->ops[sc->op_cnt];
    memset(op, 0, sizeof(*op));
    op->p = p;
    op->kind = member[0];
    op->member = cp_arena_strndup(&sc->arena, member, len);
    op->member_len = len;
    op->due = CP_NO_TIMER;
    if (!op->member)
        return NULL;
    e->value = (void *)(uintptr_t)(++sc->op_cnt);
    return op;
}

/* Sets (or with CP_NO_TIMER clears) a timer; it is written at commit. */
cp_rc cp__sc_op_set(struct cp_scorer *sc, struct timer_op *op, int64_t due)
{
    struct part *pt = cp__sc_part_of(sc, op->p);

    if (op->due == due && op->dirty)
        return CP_OK;
    op->due = due;
    op->dirty = 1;
    sc->has_writes = 1;
    if (due != CP_NO_TIMER && pt &&
        heap_push(sc, &pt->heap, due, (uint32_t)(op - sc->ops)))
        return CP_ENOMEM;
    return CP_OK;
}

/* A timer's member in its ZSET: "kind\ttenant\tcustomer", and for an SLA
 * timer "\twait_start\tconversation" after it. Built piece by piece:
 * every event of a customer sets its silence timer. */
static const char *member_of(struct cp_scorer *sc, char kind,
                             const struct cp_entity *cust, int64_t wait_start,
                             const struct cp_entity *conv, size_t *len)
{
    struct cp_buf *b = &sc->buf2;
    char num[CP_I64_STR_MAX];
    cp_rc rc;

    cp_buf_reset(b);
    rc = cp_buf_append(b, &kind, 1);
    rc = rc ? rc : cp_buf_append(b, "\t", 1);
    rc = rc ? rc : cp_buf_append(b, cp_entity_tenant(cust), cust->tenant_len);
    rc = rc ? rc : cp_buf_append(b, "\t", 1);
    rc = rc ? rc : cp_buf_append(b, cp_entity_id(cust), cust->id_len);
    if (kind == TIMER_SLA) {
        rc = rc ? rc : cp_buf_append(b, "\t", 1);
        rc = rc ? rc : cp_buf_append(b, num, cp_i64_str(num, wait_start));
        rc = rc ? rc : cp_buf_append(b, "\t", 1);
        rc = rc ? rc : cp_buf_append(b, cp_entity_id(conv), conv->id_len);
    }
    if (rc)
        return NULL;
    *len = b->len;
    return b->data;
}

cp_rc cp__sc_set_silence_timer(struct cp_scorer *sc, struct cp_entity *cust,
                               int32_t p, int64_t due)
{
    struct cp_customer *c = cust->u.customer;
    struct timer_op *op;
    const char *member;
    size_t len;
    cp_rc rc;

    member = member_of(sc, TIMER_SILENCE, cust, 0, NULL, &len);
    if (!member)
        return CP_ENOMEM;
    /* A customer whose events moved to another partition (a changed Kafka
     * key) takes the timer along: clear it where it was. */
    if (c->partition >= 0 && c->partition != p) {
        op = op_get(sc, c->partition, member, len);
        if (!op)
            return CP_ENOMEM;
        op->cust = cust;
        rc = cp__sc_op_set(sc, op, CP_NO_TIMER);
        if (rc)
            return rc;
        member = member_of(sc, TIMER_SILENCE, cust, 0, NULL, &len);
        if (!member)
            return CP_ENOMEM;
    }
    c->partition = p;
    if (c->timer_due == due && due == CP_NO_TIMER)
        return CP_OK;
    op = op_get(sc, p, member, len);
    if (!op)
        return CP_ENOMEM;
    op->cust = cust;
    c->timer_due = due;
    return cp__sc_op_set(sc, op, due);
}

cp_rc cp__sc_set_sla_timer(struct cp_scorer *sc, struct cp_entity *cust,
                           struct cp_entity *conv, int32_t p,
                           int64_t wait_start, int64_t due)
{
    size_t len;
    const char *member = member_of(sc, TIMER_SLA, cust, wait_start, conv, &len);
    struct timer_op *op;

    if (!member)
        return CP_ENOMEM;
    op = op_get(sc, p, member, len);
    if (!op)
        return CP_ENOMEM;
    op->cust = cust;
    op->conv = conv;
    op->wait_start = wait_start;
    return cp__sc_op_set(sc, op, due);
}

/* Splits a stored member; -1 if it is not one of ours. */
static int parse_member(const char *m, size_t len, char *kind,
                        struct cp_str *tenant, struct cp_str *customer,
                        int64_t *wait_start, struct cp_str *conv)
{
    const char *end = m + len, *f[5] = {NULL};
    size_t fl[5] = {0};
    int n = 0;

    if (len < 5 || (m[0] != TIMER_SILENCE && m[0] != TIMER_SLA) || m[1] != '\t')
        return -1;
    *kind = m[0];
    for (const char *p = m + 2; n < 5;) {
        const char *tab = n < 4 ? memchr(p, '\t', (size_t)(end - p)) : NULL;

        f[n] = p;
        fl[n] = (size_t)((tab ? tab : end) - p);
        n++;
        if (!tab)
            break;
        p = tab + 1;
    }
    if (n < 2)
        return -1;
    tenant->ptr = f[0];
    tenant->len = fl[0];
    customer->ptr = f[1];
    customer->len = fl[1];
    /* The ids become key names (P:{T}:customer:C): the rules of events,
     * or a member like "c\tev}il{\tx" writes under another hash tag. */
    if (!cp_id_valid(tenant->ptr, tenant->len) ||
        !cp_id_valid(customer->ptr, customer->len))
        return -1;
    if (*kind == TIMER_SILENCE)
        return n == 2 ? 0 : -1;
    if (n != 4 || cp__sc_parse_i64(f[2], fl[2], wait_start))
        return -1;
    conv->ptr = f[3];
    conv->len = fl[3];
    return cp_event_check_id("conversation_id", *conv, NULL, 0) ? -1 : 0;
}

/* A member of a timer set that crmpulse did not write (or with a score
 * that is no time): removed at commit, counted, logged. Firing it could
 * write keys under another tenant's hash tag; keeping it would read it
 * again every batch. */
static cp_rc drop_stored_timer(struct cp_scorer *sc, int32_t p,
                               const struct cp_reply *member,
                               const struct cp_reply *score, const char *why)
{
    struct timer_op *op;

    if (member->type != CP_REPLY_STRING || !member->len)
        return CP_EREDIS; /* not a ZSET reply at all */
    op = op_get(sc, p, member->str, member->len);
    if (!op)
        return CP_ENOMEM;
    if (op->dirty && op->due == CP_NO_TIMER && !op->cust)
        return CP_OK; /* read twice in this batch: dropped already */
    op->cust = NULL;
    op->conv = NULL;
    op->due = CP_NO_TIMER;
    op->dirty = 1; /* ZREM at commit */
    sc->has_writes = 1;
    sc->bad_batch++;
    cp_log(CP_LOG_ERR, "SCORER",
           "timer set %s%d: removing member \"%.*s\" (score \"%.*s\"): %s; "
           "crmpulse did not write it (fix: nothing, unless another program "
           "shares the key prefix: give it its own redis.prefix)",
           sc->timers_key, (int)p, (int)(member->len > 80 ? 80 : member->len),
           member->str,
           (int)(score->type == CP_REPLY_STRING && score->len < 40 ? score->len
                                                                   : 0),
           score->type == CP_REPLY_STRING ? score->str : "", why);
    return CP_OK;
}

/* A due timer read from Redis: an op at its stored time. */
static cp_rc add_stored_timer(struct cp_scorer *sc, int32_t p,
                              const struct cp_reply *member,
                              const struct cp_reply *score)
{
    struct cp_str tenant, customer, conv = {NULL, 0};
    struct timer_op *op;
    int64_t due, wait_start = 0;
    char kind;

    if (member->type != CP_REPLY_STRING || score->type != CP_REPLY_STRING)
        return CP_EREDIS;
    if (cp__sc_parse_i64(score->str, score->len, &due))
        return drop_stored_timer(sc, p, member, score,
                                 "the score is not a time in ms");
    if (parse_member(member->str, member->len, &kind, &tenant, &customer,
                     &wait_start, &conv))
        return drop_stored_timer(sc, p, member, score,
                                 "not a timer member of ours");
    op = op_get(sc, p, member->str, member->len);
    if (!op)
        return CP_ENOMEM;
    if (op->dirty)
        return CP_OK; /* set or dropped by this batch already */
    op->cust = cp_state_get(sc->state, CP_ENT_CUSTOMER, tenant, customer);
    if (!op->cust)
        return CP_ENOMEM;
    if (kind == TIMER_SLA) {
        op->conv = cp_state_get(sc->state, CP_ENT_CONV, tenant, conv);
        if (!op->conv)
            return CP_ENOMEM;
        op->wait_start = wait_start;
    }
    op->due = due;
    if (heap_push(sc, &sc->parts[p].heap, due, (uint32_t)(op - sc->ops)))
        return CP_ENOMEM;
    return CP_OK;
}

cp_rc cp_scorer_prefetch_reply(struct cp_scorer *sc, size_t i,
                               const struct cp_reply *reply)
{
    const struct fetch *f = &sc->fetches[i];
    struct part *pt = &sc->parts[f->p];
    int64_t v;
    cp_rc rc;

    if (reply->type == CP_REPLY_ERROR) {
        cp_log(CP_LOG_ERR, "SCORER", "partition %d: read %s%s: %.*s", (int)f->p,
               f->what == FETCH_WM ? sc->wm_key : sc->timers_key,
               f->what == FETCH_WM ? "" : "<partition>", (int)reply->len,
               reply->str);
        return CP_EREDIS;
    }
    switch (f->what) {
    case FETCH_WM:
        if (reply->type == CP_REPLY_STRING) {
            if (cp__sc_parse_i64(reply->str, reply->len, &v)) {
                /* Refusing it would stall the partition for good; the next
                 * event (or idle tick) writes a good one over it. */
                cp_log(CP_LOG_ERR, "SCORER",
                       "watermark %s field %s:%d is \"%.*s\", not a time in "
                       "ms: ignored, the partition's event time restarts "
                       "from its next events (fix: nothing; find what else "
                       "writes to this key)",
                       sc->wm_key, sc->topic, (int)f->p,
                       (int)(reply->len > 40 ? 40 : reply->len), reply->str);
                sc->bad_batch++;
                return CP_OK;
            }
            pt->wm = cp_max64(pt->wm, v);
            pt->wm_committed = pt->wm;
        }
        return CP_OK;
    case FETCH_MIN:
    case FETCH_NEXT:
        v = CP_NO_TIMER;
        if (reply->type == CP_REPLY_ARRAY && reply->elements >= 2) {
            struct cp_reply member, score;

            cp_reply_element(reply, 0, &member);
            cp_reply_element(reply, 1, &score);
            if (score.type != CP_REPLY_STRING ||
                cp__sc_parse_i64(score.str, score.len, &v)) {
                rc = drop_stored_timer(sc, f->p, &member, &score,
                                       "the score is not a time in ms");
                if (rc)
                    return rc;
                /* What lies behind it is unknown: look again soon. */
                v = f->what == FETCH_MIN ? 0 : f->upto + 1;
            }
        }
        if (f->what == FETCH_MIN) {
            pt->min_due = pt->min_due_committed = v;
            pt->known = 1;
        } else if (pt->next_after == CP_NO_TIMER) {
            pt->next_after = v;
        }
        return CP_OK;
    case FETCH_DUE:
        if (reply->type != CP_REPLY_ARRAY)
            return CP_EREDIS;
        for (size_t j = 0; j + 1 < reply->elements; j += 2) {
            struct cp_reply member, score;

            cp_reply_element(reply, j, &member);
            cp_reply_element(reply, j + 1, &score);
            rc = add_stored_timer(sc, f->p, &member, &score);
            if (rc)
                return rc;
            v = 0;
            cp__sc_parse_i64(score.str, score.len, &v);
            /* More due than one batch takes: the rest stay due. */
            if (reply->elements / 2 == FIRE_LIMIT)
                pt->next_after = cp_min64(pt->next_after, v);
        }
        return CP_OK;
    }
    return CP_OK;
}
