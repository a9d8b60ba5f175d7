/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the scorer's files: scorer.c (scoring, alerts, the
 * prefetch and the commit) and timers.c (the silence and SLA timers, their
 * members and the per-partition heaps). Not part of the public API. */
#ifndef CP_SCORER_INT_H
#define CP_SCORER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "map.h"
#include "scorer.h"

#define FIRE_LIMIT 10000
/* alerts:recent keeps this many, newest first. */
#define RECENT_MAX 100

enum timer_kind { TIMER_SILENCE = 'c', TIMER_SLA = 's' };

/* One timer touched in this batch: read from Redis as due, or set, moved or
 * cleared by this batch. Its member names it: "c\tT\tC" (silence) or
 * "s\tT\tC\t<wait start>\t<conversation>" (SLA); tenant and customer ids
 * have no TAB, and ids have no control characters. */
struct timer_op {
    int32_t p;
    char kind;          /* enum timer_kind */
    uint8_t dirty;      /* differs from Redis: written at commit */
    const char *member; /* batch arena */
    size_t member_len;
    int64_t due;            /* event time; CP_NO_TIMER: no timer */
    struct cp_entity *cust; /* borrowed from the state cache */
    struct cp_entity *conv; /* SLA only */
    int64_t wait_start;     /* SLA only */
};

struct heap_item {
    int64_t due;
    uint32_t op; /* index into ops */
};

/* Timers of one partition by due time (then member), lazily deleted: an
 * item whose op no longer has that due time is skipped. */
struct heap {
    struct heap_item *items; /* owned */
    size_t cnt, cap;
};

struct part {
    uint8_t owned;
    uint8_t known;    /* stored watermark and earliest timer were read */
    uint8_t fetched;  /* due timers were read for this batch */
    uint8_t wm_dirty; /* watermark moved in this batch */
    int64_t wm;       /* effective watermark; INT64_MIN: none yet */
    int64_t wm_committed;
    int64_t min_due; /* lower bound of the earliest timer stored in Redis */
    int64_t min_due_committed;
    int64_t min_due_pending; /* min_due once the batch in flight lands */
    int64_t next_after;      /* earliest stored timer past the fetch */
    int64_t batch_max;       /* largest occurred_at in this batch */
    int64_t last_msg_wall;   /* worker clock of its last message */
    struct heap heap;
};

/* A prefetch command: what its reply tells. */
enum fetch_what { FETCH_WM, FETCH_MIN, FETCH_DUE, FETCH_NEXT };

struct fetch {
    int32_t p;
    uint8_t what;
    int64_t upto; /* FETCH_DUE: the watermark the batch will reach */
};

struct pending_alert {
    struct cp_alert alert; /* strings in the batch arena */
    struct cp_alert_reason reasons[3];
    const char *key; /* "tenant:customer" */
};

struct cp_scorer {
    char *prefix, *topic; /* owned */
    char wm_key[300];     /* crmpulse:watermarks:<group> */
    char timers_key[300]; /* crmpulse:timers:<group>:<topic>: + partition */
    int64_t lateness_ms, idle_advance_ms, max_skew_ms;
    int counters_only;                  /* churn.enabled = false */
    const struct cp_churn_model *model; /* borrowed */
    struct cp_state *state;             /* borrowed */
    struct cp_apply *ap;                /* borrowed */

    struct part *parts; /* owned, CP_SCORER_MAX_PARTITIONS */
    int64_t wall_now;
    struct cp_arena arena;   /* per batch: members, alert strings */
    struct cp_map timer_map; /* partition + member -> op index + 1 */
    struct timer_op *ops;    /* owned */
    size_t op_cnt, op_cap;
    struct fetch *fetches; /* owned: the commands of the last prefetch */
    size_t fetch_cnt, fetch_cap;
    struct cp_entity **scored; /* owned array of borrowed customers */
    size_t scored_cnt, scored_cap;
    struct pending_alert *alerts; /* owned */
    size_t alert_cnt, alert_cap;
    int has_writes;
    uint64_t bad_batch;     /* values read back and dropped in this batch */
    uint64_t bad_sent;      /* ... in the transaction in flight */
    uint64_t bad_committed; /* ... in committed batches */
    struct cp_buf buf;      /* scratch: keys, JSON */
    struct cp_buf buf2;     /* scratch: members */
};

void cp__sc_heap_pop(struct cp_scorer *sc, struct heap *h);
cp_rc cp__sc_op_set(struct cp_scorer *sc, struct timer_op *op, int64_t due);
cp_rc cp__sc_set_silence_timer(struct cp_scorer *sc, struct cp_entity *cust,
                               int32_t p, int64_t due);
cp_rc cp__sc_set_sla_timer(struct cp_scorer *sc, struct cp_entity *cust,
                           struct cp_entity *conv, int32_t p,
                           int64_t wait_start, int64_t due);
struct part *cp__sc_part_of(struct cp_scorer *sc, int32_t p);
int cp__sc_parse_i64(const char *s, size_t len, int64_t *out);

#endif
