/* SPDX-License-Identifier: Apache-2.0 */
/* Per-tenant entity state the counter definitions need (deals, waiting
 * conversations, open tickets, customers' order counts): a write-back cache
 * over Redis. Missing entries are loaded in one pipelined round trip per
 * batch; dirty entries are written in the batch's transaction. After a
 * failed commit or a rebalance the cache is dropped and reloads lazily. */
#ifndef CP_STATE_H
#define CP_STATE_H

#include <stdint.h>

#include "churn.h"
#include "common.h"
#include "event.h"
#include "resp.h"

enum cp_entity_kind {
    CP_ENT_DEAL = 0, /* hash P:{T}:state:deals, field deal id */
    CP_ENT_CONV,     /* zset P:{T}:waiting, member conversation id */
    CP_ENT_TICKET,   /* hash P:{T}:state:tickets, field ticket id (open ones) */
    CP_ENT_CUSTOMER, /* hash P:{T}:state:customers, field customer id */
    CP_ENT_KIND_CNT
};

/** One entity's state; apply.c reads and changes it, then marks it dirty. */
struct cp_entity {
    uint8_t kind;       /* enum cp_entity_kind */
    uint8_t loaded;     /* 1 once its stored state (or absence) is known */
    uint8_t dirty;      /* changed in this batch: written at commit */
    uint8_t tenant_len; /* <= CP_NAME_MAX */
    uint8_t id_len;     /* <= CP_ID_MAX */
    /* A deal's flags live here, in what would be padding: 40 bytes an
     * entity instead of 48 (the cache's size is per customer budget). */
    uint8_t deal_known;       /* its LeadCreated was processed */
    uint8_t deal_closed;      /* a DealClosed was processed */
    uint8_t deal_has_created; /* u.deal.created_at is set */
    const char *key; /* borrowed from the cache: kind, tenant, NUL, id, NUL */
    union {
        struct {
            int64_t created_at; /* LeadCreated occurred_at */
            const char *source; /* lead source, NULL if unknown; cache-owned */
            const char *stages; /* "a,b,c": stages entered; cache-owned */
        } deal;
        struct {
            uint8_t waiting;    /* a customer message awaits a reply */
            int64_t wait_start; /* ms */
        } conv;
        struct {
            uint8_t open;
            int64_t opened_at; /* ms */
        } ticket;
        struct cp_customer *customer; /* cache-owned, never NULL */
    } u;
};

/* No timer pending (cp_customer.timer_due). */
#define CP_NO_TIMER INT64_MAX

/** What crmpulse keeps per customer: the churn features, the alert latch,
 * the silence timer and what the public customer hash last showed. */
struct cp_customer {
    struct cp_churn_state churn; /* features, latch, cooldown (churn.h) */
    int64_t timer_due;           /* silence timer, event time; CP_NO_TIMER */
    int64_t scored_at;           /* event time of the last evaluation; 0 */
    int64_t shown_since;   /* event time the shown fields took their values */
    uint64_t shown;        /* hash of the public fields last written; 0: none */
    uint64_t fingerprint;  /* hash of the public fields now (scorer.c) */
    int32_t partition;     /* input partition whose timer set holds the timer */
    uint8_t orders_seen : 1;   /* an order of this customer was counted */
    uint8_t in_batch : 1;      /* scored in the current batch (scorer.c) */
    uint8_t timer_stale : 1;   /* silence timer not searched since scored_at */
    uint8_t shown_changed : 1; /* the shown fields changed in this batch */
    uint16_t waiting; /* its conversations awaiting a reply (tracked ones) */
    const char *manager;   /* current manager, NULL: none; cache-owned */
};

/** @brief The entity's tenant (NUL-terminated, borrowed from the cache). */
static inline const char *cp_entity_tenant(const struct cp_entity *ent)
{
    return ent->key + 1;
}

/** @brief The entity's id (NUL-terminated, borrowed from the cache). */
static inline const char *cp_entity_id(const struct cp_entity *ent)
{
    return ent->key + 2 + ent->tenant_len;
}

struct cp_state;

/** Ownership: caller owns the result; free with cp_state_destroy(). */
struct cp_state *cp_state_new(const char *prefix);
void cp_state_destroy(struct cp_state *state);

/**
 * @brief The cached entity, created (not yet loaded) on first use and queued
 *        for loading.
 * @returns NULL on ENOMEM. Valid until cp_state_clear().
 */
struct cp_entity *cp_state_get(struct cp_state *state, enum cp_entity_kind kind,
                               struct cp_str tenant, struct cp_str id);

/** @brief Appends the read commands for the queued entities (one per
 *         tenant and kind; one per customer); returns their count. */
size_t cp_state_load_cmds(struct cp_state *state, struct cp_cmds *cmds);
/** @brief Feeds the reply of load command @p i (0-based, in order). */
cp_rc cp_state_load_reply(struct cp_state *state, size_t i,
                          const struct cp_reply *reply);
/** @brief Forgets the load queue (after all replies were fed). */
void cp_state_load_done(struct cp_state *state);

/** @brief Marks @p ent to be written at commit. */
void cp_state_touch(struct cp_state *state, struct cp_entity *ent);
/** @brief Appends the write commands of every dirty entity, one per
 *         tenant, kind and operation (one per customer). */
void cp_state_write_dirty(struct cp_state *state, struct cp_cmds *cmds);
/** @brief The transaction committed: dirty entities are clean now. */
void cp_state_commit_done(struct cp_state *state);

/* Stages one deal remembers (stage_order is 0-63, so a real pipeline has at
 * most 64): a producer that invents stage names cannot grow one entity
 * without bound. */
#define CP_DEAL_STAGES_MAX 64
/* Open tickets and waiting conversations tracked per customer: past these
 * a producer's flood (100,000 open conversations: 70,000 SLA alerts) is
 * counted as dropped instead of tracked. The events still count. */
#define CP_CUSTOMER_TICKETS_MAX 1000
#define CP_CUSTOMER_WAITING_MAX 1000

/** What a bound on one entity kept out of the state (metrics). */
enum cp_state_drop {
    CP_DROP_STAGE = 0,  /* a stage past CP_DEAL_STAGES_MAX of a deal */
    CP_DROP_TICKET,     /* a ticket opened past CP_CUSTOMER_TICKETS_MAX */
    CP_DROP_WAITING,    /* a wait begun past CP_CUSTOMER_WAITING_MAX */
    CP_DROP_UNREADABLE, /* a stored value that did not parse, set aside */
    CP_DROP_KIND_CNT
};

/** @brief Adds @p stage to a deal's stage list (see
 *         cp_state_deal_full() first). */
cp_rc cp_state_deal_add_stage(struct cp_state *state, struct cp_entity *deal,
                              struct cp_str stage);
/** @returns 1 if the deal remembers CP_DEAL_STAGES_MAX stages already. */
int cp_state_deal_full(const struct cp_entity *deal);
/** @brief Counts one entry a bound kept out (reported after commit). */
void cp_state_count_drop(struct cp_state *state, enum cp_state_drop why);
/** @brief What the bounds kept out in committed batches, by kind. */
uint64_t cp_state_drop_cnt(const struct cp_state *state,
                           enum cp_state_drop why);
/** @brief Sets a deal's source (copied). */
cp_rc cp_state_deal_set_source(struct cp_state *state, struct cp_entity *deal,
                               struct cp_str source);
/**
 * @brief Decodes one stored customer (a value of P:{T}:state:customers),
 *        for tools that read the state without the worker.
 * @returns CP_OK, CP_EDECODE for bytes crmpulse did not write, CP_ENOMEM.
 * Ownership: the manager string lives in @p state's cache until
 *            cp_state_clear().
 */
cp_rc cp_state_customer_decode(struct cp_state *state, struct cp_customer *cust,
                               const void *bytes, size_t len);

/** @brief Sets a customer's current manager (copied). */
cp_rc cp_state_customer_set_manager(struct cp_state *state,
                                    struct cp_entity *cust, struct cp_str mgr);

/** @returns 1 if the deal has entered @p stage before. */
int cp_state_deal_has_stage(const struct cp_entity *deal, struct cp_str stage);

size_t cp_state_entity_cnt(const struct cp_state *state);
/** @brief Bytes the entities in the cache use (worker.cache.max.bytes);
 *         what the cache holds for reuse may be more. */
size_t cp_state_used_bytes(const struct cp_state *state);
/** @brief Bytes the cache holds (table, keys, entities), for metrics. */
size_t cp_state_mem_bytes(const struct cp_state *state);
/** @brief Drops every cached entity (they reload from Redis on demand). */
void cp_state_clear(struct cp_state *state);

#endif
