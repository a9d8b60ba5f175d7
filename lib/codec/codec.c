/* SPDX-License-Identifier: Apache-2.0 */
/* Kafka message values <-> struct cp_event / struct cp_dead_letter /
 * struct cp_alert with avro-c. Decoding is the first step after the
 * consumer: framing, a schema-driven walk over the raw bytes that proves
 * them well-formed without allocating (avro-c leaks or mallocs huge sizes on
 * hostile input), then avro_value_read with the writer schema, projection by
 * field and symbol name, and cp_event_validate(). Encoding serves the
 * generator, tests, the dead-letter path and alerts. avro-c allocates
 * through our size-class free lists (avro_alloc.h), so steady-state decoding
 * never calls malloc. */
#include "codec.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>

#include "avro_alloc.h"
#include "codec_int.h"
#include "schemas.h"

#define CONFLUENT_HDR  5
#define WALK_MAX_DEPTH 32 /* nesting of records/unions/arrays in a schema */
#define MAX_SYMBOLS    64 /* enum symbols / union branches we can map */

/* ---- validation walk program ---- */

/* The writer schema compiled into a flat graph: nodes index into a shared
 * edge array, so the walk needs neither avro-c nor allocation. */
enum wop {
    W_NULL,
    W_BOOLEAN,
    W_INT,
    W_LONG,
    W_FLOAT,
    W_DOUBLE,
    W_BYTES, /* string (cnt 0) or bytes (cnt 1) */
    W_FIXED,
    W_ENUM,
    W_RECORD,
    W_UNION,
    W_ARRAY,
    W_MAP,
};

struct wnode {
    enum wop op;
    uint32_t cnt; /* record fields, union branches, enum symbols, fixed size */
    uint32_t edges; /* first edge (record, union, array, map) */
};

struct wedge {
    uint32_t node;    /* target node */
    const char *name; /* field name, for reasons; borrowed from the schema */
};

struct wprog {
    struct wnode *nodes; /* owned */
    size_t node_cnt, node_cap;
    struct wedge *edges; /* owned */
    size_t edge_cnt, edge_cap;
    /* named schemas already compiled, for links and shared types */
    avro_schema_t *named; /* owned array, borrowed schemas */
    uint32_t *named_node; /* owned */
    size_t named_cnt, named_cap;
};

/* ---- projection tables (by name, resolved once) ---- */

/* An optional field: T or union{null, T} in either order. */
struct opt_field {
    int index;       /* field index in the record */
    int null_branch; /* -1: the field is not a union */
    int val_branch;
};

/* A writer enum mapped by symbol name onto one of our enums. */
struct enum_map {
    int cnt;                       /* writer symbols */
    int8_t ours[MAX_SYMBOLS];      /* writer index -> our value, -1 unknown */
    int8_t theirs[MAX_SYMBOLS];    /* our value -> writer index, -1 missing */
    const char *syms[MAX_SYMBOLS]; /* borrowed from the schema */
};

enum role {
    R_ENTITY,
    R_LABEL,
    R_STAGE_ORDER,
    R_WON,
    R_AMOUNT,
    R_INBOUND,
    R_ANSWERED,
    R_SURVEY_KIND,
    R_SCORE,
    R_ACTION,
};

/* Every payload field we read, by kind; the entity id field comes from
 * cp_payload_entity_field(). */
static const struct payload_field {
    enum cp_payload_kind kind;
    enum role role;
    const char *name;
    avro_type_t type;
} payload_fields[] = {
    {CP_LEAD_CREATED, R_LABEL, "source", AVRO_STRING},
    {CP_STAGE_CHANGED, R_LABEL, "stage", AVRO_STRING},
    {CP_STAGE_CHANGED, R_STAGE_ORDER, "stage_order", AVRO_INT32},
    {CP_DEAL_CLOSED, R_WON, "won", AVRO_BOOLEAN},
    {CP_DEAL_CLOSED, R_AMOUNT, "amount_minor", AVRO_INT64},
    {CP_ORDER_PLACED, R_AMOUNT, "amount_minor", AVRO_INT64},
    {CP_CALL_LOGGED, R_INBOUND, "inbound", AVRO_BOOLEAN},
    {CP_CALL_LOGGED, R_ANSWERED, "answered", AVRO_BOOLEAN},
    {CP_CALL_LOGGED, R_AMOUNT, "duration_ms", AVRO_INT64},
    {CP_SURVEY_ANSWERED, R_SURVEY_KIND, "kind", AVRO_ENUM},
    {CP_SURVEY_ANSWERED, R_SCORE, "score", AVRO_INT32},
    {CP_SUBSCRIPTION_CHANGED, R_ACTION, "action", AVRO_ENUM},
    {CP_SUBSCRIPTION_CHANGED, R_AMOUNT, "mrr_minor", AVRO_INT64},
};

static const char *const survey_symbols[] = {"NPS", "CSAT", "CES"};
static const char *const action_symbols[] = {"STARTED", "RENEWED", "CANCELLED"};

#define KIND_MAX_FIELDS 4

struct kind_proj {
    int branch; /* payload union branch of this kind; -1: not in the schema */
    int field_cnt;
    struct {
        enum role role;
        int index;            /* field index in the branch record */
        struct enum_map *map; /* owned by the event_proj, or NULL */
    } fields[KIND_MAX_FIELDS];
};

struct event_proj {
    int f_event_id, f_tenant_id, f_customer_id, f_occurred_at, f_payload;
    struct opt_field manager_id;
    struct opt_field channel;
    struct enum_map channels;
    struct enum_map survey_kinds;
    struct enum_map sub_actions;
    int payload_branches;
    int8_t branch_kind[MAX_SYMBOLS];      /* branch -> kind, -1 unknown */
    const char *branch_name[MAX_SYMBOLS]; /* borrowed, for reasons */
    struct kind_proj kinds[CP_PAYLOAD_KIND_CNT];
};

struct dl_proj {
    int f_topic, f_partition, f_offset, f_value, f_reason, f_failed_at;
    struct opt_field key;
};

struct alert_proj {
    int f_alert_id, f_kind, f_tenant_id, f_customer_id, f_level;
    int f_risk_score, f_previous_score, f_reasons, f_event_time;
    int f_emitted_at, f_model_version;
    int r_factor, r_contribution, r_detail; /* in the Reason record */
    struct opt_field manager_id;
    struct opt_field triggered_by;
    struct enum_map kinds;
    struct enum_map levels;
};

/* One compiled-in schema id. */
struct slot {
    int id;
    char fullname[128];        /* "crm.v1.CrmEvent" */
    avro_schema_t schema;      /* owned */
    avro_value_iface_t *iface; /* owned */
    avro_value_t value;        /* owned when iface && value.self */
    struct wprog prog;         /* root is node 0 */
    struct event_proj *ev;     /* owned; NULL: not a CrmEvent */
    struct dl_proj *dl;        /* owned; NULL: not a DeadLetter */
    struct alert_proj *al;     /* owned; NULL: not an Alert */
};

struct cp_codec {
    enum cp_framing framing;
    struct slot *slots; /* owned */
    size_t slot_cnt;
    struct slot *event_slot;       /* borrowed from slots: schema id 1 */
    struct slot *dead_letter_slot; /* borrowed from slots: schema id 3 */
    struct slot *alert_slot;       /* borrowed from slots: schema id 2 */
    avro_reader_t reader;          /* owned, re-pointed per message */
    avro_writer_t writer;          /* owned, re-pointed per message */
};

static const char empty_bytes[1] = "";

/* ---- reasons ---- */

/* ---- schema compilation ---- */

static avro_schema_t resolve_link(avro_schema_t schema)
{
    /* Links only point at named types defined earlier; a chain of links
     * cannot loop, but stay bounded anyway. */
    for (int i = 0; i < 16 && is_avro_link(schema); i++)
        schema = avro_schema_link_target(schema);
    return schema;
}

static int prog_grow(void **arr, size_t *cap, size_t cnt, size_t elem)
{
    size_t ncap;
    void *n;

    if (cnt < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 16;
    n = realloc(*arr, ncap * elem);
    if (!n)
        return -1;
    *arr = n;
    *cap = ncap;
    return 0;
}

static void prog_free(struct wprog *prog)
{
    free(prog->nodes);
    free(prog->edges);
    free(prog->named);
    free(prog->named_node);
    memset(prog, 0, sizeof(*prog));
}

/* Appends @p cnt edges and returns the index of the first, or -1. */
static long prog_edges(struct wprog *prog, size_t cnt)
{
    size_t first = prog->edge_cnt;

    while (prog->edge_cap < first + cnt)
        if (prog_grow((void **)&prog->edges, &prog->edge_cap, prog->edge_cap,
                      sizeof(*prog->edges)))
            return -1;
    for (size_t i = 0; i < cnt; i++)
        prog->edges[first + i] = (struct wedge){0, NULL};
    prog->edge_cnt += cnt;
    return (long)first;
}

static long prog_compile(struct wprog *prog, avro_schema_t schema, int depth,
                         char *errstr, size_t errstr_size);

/* Compiles a child into edge @p edge (edges may move while compiling). */
static int compile_edge(struct wprog *prog, size_t edge, avro_schema_t child,
                        const char *name, int depth, char *errstr,
                        size_t errstr_size)
{
    long node = prog_compile(prog, child, depth + 1, errstr, errstr_size);

    if (node < 0)
        return -1;
    prog->edges[edge].node = (uint32_t)node;
    prog->edges[edge].name = name;
    return 0;
}

static long prog_compile(struct wprog *prog, avro_schema_t schema, int depth,
                         char *errstr, size_t errstr_size)
{
    struct wnode node = {W_NULL, 0, 0};
    size_t idx;
    long first;

    schema = resolve_link(schema);
    if (!schema || depth > 64) {
        snprintf(errstr, errstr_size, "schema nested too deeply");
        return -1;
    }
    if (is_avro_named_type(schema)) {
        for (size_t i = 0; i < prog->named_cnt; i++)
            if (prog->named[i] == schema)
                return prog->named_node[i];
    }
    if (prog_grow((void **)&prog->nodes, &prog->node_cap, prog->node_cnt,
                  sizeof(*prog->nodes)))
        goto nomem;
    idx = prog->node_cnt++;
    if (is_avro_named_type(schema)) {
        /* Registered before the children so recursive types terminate. */
        if (prog->named_cnt == prog->named_cap) {
            size_t ncap = prog->named_cap ? prog->named_cap * 2 : 8;
            avro_schema_t *named = realloc(prog->named, ncap * sizeof(*named));
            uint32_t *nn;

            if (!named)
                goto nomem;
            prog->named = named;
            nn = realloc(prog->named_node, ncap * sizeof(*nn));
            if (!nn)
                goto nomem;
            prog->named_node = nn;
            prog->named_cap = ncap;
        }
        prog->named[prog->named_cnt] = schema;
        prog->named_node[prog->named_cnt] = (uint32_t)idx;
        prog->named_cnt++;
    }

    switch (avro_typeof(schema)) {
    case AVRO_NULL:
        node.op = W_NULL;
        break;
    case AVRO_BOOLEAN:
        node.op = W_BOOLEAN;
        break;
    case AVRO_INT32:
        node.op = W_INT;
        break;
    case AVRO_INT64:
        node.op = W_LONG;
        break;
    case AVRO_FLOAT:
        node.op = W_FLOAT;
        break;
    case AVRO_DOUBLE:
        node.op = W_DOUBLE;
        break;
    case AVRO_STRING:
    case AVRO_BYTES:
        node.op = W_BYTES;
        node.cnt = avro_typeof(schema) == AVRO_BYTES; /* for reasons */
        break;
    case AVRO_FIXED:
        node.op = W_FIXED;
        node.cnt = (uint32_t)avro_schema_fixed_size(schema);
        break;
    case AVRO_ENUM:
        node.op = W_ENUM;
        node.cnt = (uint32_t)avro_schema_enum_number_of_symbols(schema);
        break;
    case AVRO_RECORD: {
        size_t n = avro_schema_record_size(schema);

        node.op = W_RECORD;
        node.cnt = (uint32_t)n;
        first = prog_edges(prog, n);
        if (first < 0)
            goto nomem;
        node.edges = (uint32_t)first;
        prog->nodes[idx] = node;
        for (size_t i = 0; i < n; i++)
            if (compile_edge(
                    prog, (size_t)first + i,
                    avro_schema_record_field_get_by_index(schema, (int)i),
                    avro_schema_record_field_name(schema, (int)i), depth,
                    errstr, errstr_size))
                return -1;
        return (long)idx;
    }
    case AVRO_UNION: {
        size_t n = avro_schema_union_size(schema);

        node.op = W_UNION;
        node.cnt = (uint32_t)n;
        first = prog_edges(prog, n);
        if (first < 0)
            goto nomem;
        node.edges = (uint32_t)first;
        prog->nodes[idx] = node;
        for (size_t i = 0; i < n; i++)
            if (compile_edge(prog, (size_t)first + i,
                             avro_schema_union_branch(schema, (int)i), NULL,
                             depth, errstr, errstr_size))
                return -1;
        return (long)idx;
    }
    case AVRO_ARRAY:
    case AVRO_MAP:
        node.op = avro_typeof(schema) == AVRO_ARRAY ? W_ARRAY : W_MAP;
        node.cnt = 1;
        first = prog_edges(prog, 1);
        if (first < 0)
            goto nomem;
        node.edges = (uint32_t)first;
        prog->nodes[idx] = node;
        if (compile_edge(prog, (size_t)first,
                         node.op == W_ARRAY ? avro_schema_array_items(schema)
                                            : avro_schema_map_values(schema),
                         NULL, depth, errstr, errstr_size))
            return -1;
        return (long)idx;
    case AVRO_LINK:
        snprintf(errstr, errstr_size, "unresolved schema link");
        return -1;
    }
    prog->nodes[idx] = node;
    return (long)idx;

nomem:
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
}

/* ---- validation walk ---- */

struct walker {
    const uint8_t *base; /* start of the message value, for offsets */
    const uint8_t *p;
    const uint8_t *end;
    const struct wprog *prog;
    const char *field; /* innermost field being walked, or NULL */
    size_t items;      /* array/map items left in the budget */
    char *reason;
    size_t reason_size;
};

static const char *wfield(const struct walker *w)
{
    return w->field ? w->field : "record";
}

static int walk_fail(struct walker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int walk_fail(struct walker *w, const char *fmt, ...)
{
    char what[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    cp_decode_fail(w->reason, w->reason_size, "avro: %s (%s)", what, wfield(w));
    return -1;
}

/* Zigzag varint of at most @p max_bytes, canonical (no redundant 0x80
 * groups: anything we accept re-encodes to the same bytes). */
static int walk_varint(struct walker *w, int max_bytes, int64_t *out)
{
    const uint8_t *start = w->p;
    uint64_t u = 0;

    /* Most varints (lengths, indexes, small ints) are one byte. */
    if (w->p < w->end && *w->p < 0x80) {
        u = *w->p++;
        *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
        return 0;
    }
    for (int i = 0; i < max_bytes; i++) {
        uint8_t b;

        if (w->p >= w->end)
            return walk_fail(w, "truncated at byte %td", w->p - w->base);
        b = *w->p++;
        u |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b & 0x80)
            continue;
        if (b == 0 && i > 0)
            return walk_fail(w, "non-canonical varint at byte %td",
                             start - w->base);
        if ((max_bytes == 5 && u > UINT32_MAX) ||
            (max_bytes == 10 && i == 9 && b > 1))
            return walk_fail(w, "varint at byte %td out of %d-bit range",
                             start - w->base, max_bytes == 5 ? 32 : 64);
        *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
        return 0;
    }
    return walk_fail(w, "varint at byte %td longer than %d bytes",
                     start - w->base, max_bytes);
}

static int walk_long(struct walker *w, int64_t *out)
{
    return walk_varint(w, 10, out);
}

static int walk_len(struct walker *w, const char *what)
{
    const uint8_t *start = w->p;
    int64_t len = 0;

    if (walk_long(w, &len))
        return -1;
    if (len < 0)
        return walk_fail(w, "negative %s length %" PRId64 " at byte %td", what,
                         len, start - w->base);
    if ((uint64_t)len > (uint64_t)(w->end - w->p))
        return walk_fail(
            w, "%s length %" PRId64 " at byte %td exceeds the %td bytes left",
            what, len, start - w->base, w->end - w->p);
    w->p += len;
    return 0;
}

static int walk_node(struct walker *w, uint32_t ni, int depth);

static int walk_blocks(struct walker *w, const struct wnode *node, int depth)
{
    uint32_t item = w->prog->edges[node->edges].node;

    for (;;) {
        const uint8_t *start = w->p;
        const uint8_t *body;
        int64_t cnt = 0, size = -1;

        if (walk_long(w, &cnt))
            return -1;
        if (cnt == 0)
            return 0;
        if (cnt < 0) {
            if (cnt == INT64_MIN)
                return walk_fail(w, "bad block count at byte %td",
                                 start - w->base);
            cnt = -cnt;
            if (walk_long(w, &size))
                return -1;
            if (size < 0 || size > w->end - w->p)
                return walk_fail(w, "bad block size %" PRId64 " at byte %td",
                                 size, start - w->base);
        }
        /* Items of null or empty records take no bytes: a budget keeps a
         * hostile count from spinning (or avro-c from allocating). */
        if ((uint64_t)cnt > w->items)
            return walk_fail(w, "block count %" PRId64 " at byte %td too large",
                             cnt, start - w->base);
        w->items -= (size_t)cnt;
        body = w->p;
        for (int64_t i = 0; i < cnt; i++) {
            if (node->op == W_MAP && walk_len(w, "map key"))
                return -1;
            if (walk_node(w, item, depth + 1))
                return -1;
        }
        if (size >= 0 && w->p - body != size)
            return walk_fail(w,
                             "block at byte %td: size %" PRId64
                             " but items take %td bytes",
                             start - w->base, size, w->p - body);
    }
}

static int walk_node(struct walker *w, uint32_t ni, int depth)
{
    const struct wnode *node = &w->prog->nodes[ni];
    const uint8_t *start = w->p;
    int64_t v = 0;

    if (depth > WALK_MAX_DEPTH)
        return walk_fail(w, "nested deeper than %d", WALK_MAX_DEPTH);
    switch (node->op) {
    case W_NULL:
        return 0;
    case W_BOOLEAN:
        if (w->p >= w->end)
            return walk_fail(w, "truncated at byte %td", w->p - w->base);
        if (*w->p > 1)
            return walk_fail(w, "boolean byte 0x%02x at byte %td", *w->p,
                             w->p - w->base);
        w->p++;
        return 0;
    case W_INT:
        return walk_varint(w, 5, &v);
    case W_LONG:
        return walk_long(w, &v);
    case W_FLOAT:
    case W_DOUBLE:
    case W_FIXED: {
        size_t n = node->op == W_FLOAT    ? 4
                   : node->op == W_DOUBLE ? 8
                                          : node->cnt;

        if ((size_t)(w->end - w->p) < n)
            return walk_fail(w, "truncated at byte %td", w->p - w->base);
        w->p += n;
        return 0;
    }
    case W_BYTES:
        return walk_len(w, node->cnt ? "bytes" : "string");
    case W_ENUM:
        if (walk_long(w, &v))
            return -1;
        if (v < 0 || v >= node->cnt)
            return walk_fail(
                w, "enum index %" PRId64 " at byte %td out of range 0-%" PRIu32,
                v, start - w->base, node->cnt - 1);
        return 0;
    case W_UNION:
        if (walk_long(w, &v))
            return -1;
        if (v < 0 || v >= node->cnt)
            return walk_fail(w,
                             "union index %" PRId64
                             " at byte %td out of range 0-%" PRIu32,
                             v, start - w->base, node->cnt - 1);
        return walk_node(w, w->prog->edges[node->edges + v].node, depth + 1);
    case W_RECORD:
        for (uint32_t i = 0; i < node->cnt; i++) {
            const struct wedge *e = &w->prog->edges[node->edges + i];
            const char *outer = w->field;

            w->field = e->name;
            if (walk_node(w, e->node, depth + 1))
                return -1;
            w->field = outer;
        }
        return 0;
    case W_ARRAY:
    case W_MAP:
        return walk_blocks(w, node, depth);
    }
    return walk_fail(w, "bad program node %" PRIu32, ni);
}

/* Proves that [body, body + len) is exactly one value of the slot's schema.
 * @p base is the start of the message, for byte offsets in reasons. */
static cp_rc walk_value(const struct slot *slot, const uint8_t *base,
                        const uint8_t *body, size_t len, char *reason,
                        size_t reason_size)
{
    struct walker w = {
        .base = base,
        .p = body,
        .end = body + len,
        .prog = &slot->prog,
        .field = NULL,
        .items = len,
        .reason = reason,
        .reason_size = reason_size,
    };

    if (walk_node(&w, 0, 0))
        return CP_EDECODE;
    if (w.p != w.end)
        return cp_decode_fail(
            reason, reason_size,
            "avro: %td trailing bytes after the record at byte %td",
            w.end - w.p, w.p - w.base);
    return CP_OK;
}

/* ---- projection set-up ---- */

static const char *type_name(avro_type_t type)
{
    switch (type) {
    case AVRO_STRING:
        return "string";
    case AVRO_BYTES:
        return "bytes";
    case AVRO_ENUM:
        return "an enum";
    default:
        return "the expected type";
    }
}

static int record_field(avro_schema_t rec, const char *name, avro_type_t type,
                        avro_schema_t *fs, char *errstr, size_t errstr_size)
{
    int idx = avro_schema_record_field_get_index(rec, name);
    avro_schema_t s;

    if (idx < 0) {
        snprintf(errstr, errstr_size, "%s: no field %s", avro_schema_name(rec),
                 name);
        return -1;
    }
    s = resolve_link(avro_schema_record_field_get_by_index(rec, idx));
    if (!s || avro_typeof(s) != type) {
        snprintf(errstr, errstr_size, "%s.%s: unexpected type %s",
                 avro_schema_name(rec), name,
                 s ? avro_schema_type_name(s) : "?");
        return -1;
    }
    if (fs)
        *fs = s;
    return idx;
}

static int optional_field(avro_schema_t rec, const char *name, avro_type_t type,
                          struct opt_field *of, avro_schema_t *fs, char *errstr,
                          size_t errstr_size)
{
    int idx = avro_schema_record_field_get_index(rec, name);
    avro_schema_t s;

    if (idx < 0) {
        snprintf(errstr, errstr_size, "%s: no field %s", avro_schema_name(rec),
                 name);
        return -1;
    }
    of->index = idx;
    of->null_branch = of->val_branch = -1;
    s = resolve_link(avro_schema_record_field_get_by_index(rec, idx));
    if (s && avro_typeof(s) == type) {
        of->val_branch = 0;
        *fs = s;
        return 0;
    }
    if (s && is_avro_union(s) && avro_schema_union_size(s) == 2) {
        for (int i = 0; i < 2; i++) {
            avro_schema_t b = resolve_link(avro_schema_union_branch(s, i));

            if (b && is_avro_null(b))
                of->null_branch = i;
            else if (b && avro_typeof(b) == type) {
                of->val_branch = i;
                *fs = b;
            }
        }
        if (of->null_branch >= 0 && of->val_branch >= 0)
            return 0;
    }
    snprintf(errstr, errstr_size, "%s.%s: neither %s nor [null, %s]",
             avro_schema_name(rec), name, type_name(type), type_name(type));
    return -1;
}

static int map_enum(avro_schema_t es, const char *const *ours, int our_cnt,
                    struct enum_map *map, char *errstr, size_t errstr_size)
{
    int n = avro_schema_enum_number_of_symbols(es);

    if (n <= 0 || n > MAX_SYMBOLS) {
        snprintf(errstr, errstr_size, "enum %s: %d symbols",
                 avro_schema_name(es), n);
        return -1;
    }
    map->cnt = n;
    for (int i = 0; i < MAX_SYMBOLS; i++) {
        map->ours[i] = map->theirs[i] = -1;
        map->syms[i] = NULL;
    }
    for (int i = 0; i < n; i++) {
        map->syms[i] = avro_schema_enum_get(es, i);
        for (int k = 0; k < our_cnt; k++)
            if (map->syms[i] && strcmp(map->syms[i], ours[k]) == 0) {
                map->ours[i] = (int8_t)k;
                map->theirs[k] = (int8_t)i;
            }
    }
    return 0;
}

static struct event_proj *event_proj_new(avro_schema_t rec, char *errstr,
                                         size_t errstr_size)
{
    struct event_proj *ep = calloc(1, sizeof(*ep));
    const char *channel_syms[CP_CHANNEL_CNT];
    avro_schema_t s, payload;

    if (!ep) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    for (int i = 0; i < CP_CHANNEL_CNT; i++)
        channel_syms[i] = cp_channel_symbol((enum cp_channel)i);
    ep->f_event_id =
        record_field(rec, "event_id", AVRO_STRING, NULL, errstr, errstr_size);
    if (ep->f_event_id < 0)
        goto fail;
    ep->f_tenant_id =
        record_field(rec, "tenant_id", AVRO_STRING, NULL, errstr, errstr_size);
    if (ep->f_tenant_id < 0)
        goto fail;
    ep->f_customer_id = record_field(rec, "customer_id", AVRO_STRING, NULL,
                                     errstr, errstr_size);
    if (ep->f_customer_id < 0)
        goto fail;
    ep->f_occurred_at =
        record_field(rec, "occurred_at", AVRO_INT64, NULL, errstr, errstr_size);
    if (ep->f_occurred_at < 0)
        goto fail;
    if (optional_field(rec, "manager_id", AVRO_STRING, &ep->manager_id, &s,
                       errstr, errstr_size))
        goto fail;
    if (optional_field(rec, "channel", AVRO_ENUM, &ep->channel, &s, errstr,
                       errstr_size))
        goto fail;
    if (map_enum(s, channel_syms, CP_CHANNEL_CNT, &ep->channels, errstr,
                 errstr_size))
        goto fail;
    ep->f_payload =
        record_field(rec, "payload", AVRO_UNION, &payload, errstr, errstr_size);
    if (ep->f_payload < 0)
        goto fail;

    for (int k = 0; k < CP_PAYLOAD_KIND_CNT; k++)
        ep->kinds[k].branch = -1;
    ep->payload_branches = (int)avro_schema_union_size(payload);
    if (ep->payload_branches > MAX_SYMBOLS) {
        snprintf(errstr, errstr_size, "payload: too many branches");
        goto fail;
    }
    for (int b = 0; b < ep->payload_branches; b++) {
        avro_schema_t br = resolve_link(avro_schema_union_branch(payload, b));
        struct kind_proj *kp = NULL;
        const char *entity;
        int kind = -1;

        ep->branch_kind[b] = -1;
        ep->branch_name[b] = br ? avro_schema_type_name(br) : "?";
        if (!br || !is_avro_record(br))
            continue; /* not ours: decoding it fails with a reason */
        for (int k = 0; k < CP_PAYLOAD_KIND_CNT; k++)
            if (strcmp(avro_schema_name(br),
                       cp_payload_kind_name((enum cp_payload_kind)k)) == 0)
                kind = k;
        if (kind < 0 || ep->kinds[kind].branch >= 0)
            continue;
        kp = &ep->kinds[kind];
        ep->branch_kind[b] = (int8_t)kind;
        kp->branch = b;
        entity = cp_payload_entity_field((enum cp_payload_kind)kind);
        if (entity) {
            kp->fields[kp->field_cnt].role = R_ENTITY;
            kp->fields[kp->field_cnt].index = record_field(
                br, entity, AVRO_STRING, NULL, errstr, errstr_size);
            if (kp->fields[kp->field_cnt++].index < 0)
                goto fail;
        }
        for (size_t i = 0; i < CP_ARRAY_SIZE(payload_fields); i++) {
            const struct payload_field *pf = &payload_fields[i];
            int f = kp->field_cnt;

            if ((int)pf->kind != kind)
                continue;
            kp->fields[f].role = pf->role;
            kp->fields[f].map = NULL;
            kp->fields[f].index =
                record_field(br, pf->name, pf->type, &s, errstr, errstr_size);
            if (kp->fields[f].index < 0)
                goto fail;
            if (pf->role == R_SURVEY_KIND) {
                if (map_enum(s, survey_symbols, 3, &ep->survey_kinds, errstr,
                             errstr_size))
                    goto fail;
                kp->fields[f].map = &ep->survey_kinds;
            } else if (pf->role == R_ACTION) {
                if (map_enum(s, action_symbols, 3, &ep->sub_actions, errstr,
                             errstr_size))
                    goto fail;
                kp->fields[f].map = &ep->sub_actions;
            }
            kp->field_cnt++;
        }
    }
    return ep;

fail:
    free(ep);
    return NULL;
}

static struct dl_proj *dl_proj_new(avro_schema_t rec, char *errstr,
                                   size_t errstr_size)
{
    struct dl_proj *dp = calloc(1, sizeof(*dp));
    avro_schema_t s;

    if (!dp) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    {
        const struct {
            int *index;
            const char *name;
            avro_type_t type;
        } fields[] = {
            {&dp->f_topic, "topic", AVRO_STRING},
            {&dp->f_partition, "partition", AVRO_INT32},
            {&dp->f_offset, "offset", AVRO_INT64},
            {&dp->f_value, "value", AVRO_BYTES},
            {&dp->f_reason, "reason", AVRO_STRING},
            {&dp->f_failed_at, "failed_at", AVRO_INT64},
        };

        for (size_t i = 0; i < CP_ARRAY_SIZE(fields); i++) {
            *fields[i].index = record_field(rec, fields[i].name, fields[i].type,
                                            NULL, errstr, errstr_size);
            if (*fields[i].index < 0)
                goto fail;
        }
    }
    if (optional_field(rec, "key", AVRO_BYTES, &dp->key, &s, errstr,
                       errstr_size))
        goto fail;
    return dp;

fail:
    free(dp);
    return NULL;
}

static struct alert_proj *alert_proj_new(avro_schema_t rec, char *errstr,
                                         size_t errstr_size)
{
    struct alert_proj *ap = calloc(1, sizeof(*ap));
    const char *kind_syms[CP_ALERT_KIND_CNT];
    const char *level_syms[CP_ALERT_LEVEL_CNT];
    avro_schema_t s, items;

    if (!ap) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    for (int i = 0; i < CP_ALERT_KIND_CNT; i++)
        kind_syms[i] = cp_alert_kind_symbol((enum cp_alert_kind)i);
    for (int i = 0; i < CP_ALERT_LEVEL_CNT; i++)
        level_syms[i] = cp_alert_level_symbol((enum cp_alert_level)i);
    {
        const struct {
            int *index;
            const char *name;
            avro_type_t type;
        } fields[] = {
            {&ap->f_alert_id, "alert_id", AVRO_STRING},
            {&ap->f_tenant_id, "tenant_id", AVRO_STRING},
            {&ap->f_customer_id, "customer_id", AVRO_STRING},
            {&ap->f_risk_score, "risk_score", AVRO_DOUBLE},
            {&ap->f_previous_score, "previous_score", AVRO_DOUBLE},
            {&ap->f_event_time, "event_time", AVRO_INT64},
            {&ap->f_emitted_at, "emitted_at", AVRO_INT64},
            {&ap->f_model_version, "model_version", AVRO_STRING},
        };

        for (size_t i = 0; i < CP_ARRAY_SIZE(fields); i++) {
            *fields[i].index = record_field(rec, fields[i].name, fields[i].type,
                                            NULL, errstr, errstr_size);
            if (*fields[i].index < 0)
                goto fail;
        }
    }
    ap->f_kind = record_field(rec, "kind", AVRO_ENUM, &s, errstr, errstr_size);
    if (ap->f_kind < 0 || map_enum(s, kind_syms, CP_ALERT_KIND_CNT, &ap->kinds,
                                   errstr, errstr_size))
        goto fail;
    ap->f_level =
        record_field(rec, "level", AVRO_ENUM, &s, errstr, errstr_size);
    if (ap->f_level < 0 || map_enum(s, level_syms, CP_ALERT_LEVEL_CNT,
                                    &ap->levels, errstr, errstr_size))
        goto fail;
    if (optional_field(rec, "manager_id", AVRO_STRING, &ap->manager_id, &s,
                       errstr, errstr_size) ||
        optional_field(rec, "triggered_by", AVRO_STRING, &ap->triggered_by, &s,
                       errstr, errstr_size))
        goto fail;
    ap->f_reasons =
        record_field(rec, "reasons", AVRO_ARRAY, &s, errstr, errstr_size);
    if (ap->f_reasons < 0)
        goto fail;
    items = resolve_link(avro_schema_array_items(s));
    if (!items || !is_avro_record(items)) {
        snprintf(errstr, errstr_size, "%s.reasons: items are not a record",
                 avro_schema_name(rec));
        goto fail;
    }
    ap->r_factor =
        record_field(items, "factor", AVRO_STRING, NULL, errstr, errstr_size);
    ap->r_contribution = ap->r_factor < 0
                             ? -1
                             : record_field(items, "contribution", AVRO_DOUBLE,
                                            NULL, errstr, errstr_size);
    ap->r_detail = ap->r_contribution < 0
                       ? -1
                       : record_field(items, "detail", AVRO_STRING, NULL,
                                      errstr, errstr_size);
    if (ap->r_detail < 0)
        goto fail;
    return ap;

fail:
    free(ap);
    return NULL;
}

/* ---- avro-c allocator ---- */

#if defined(__SANITIZE_ADDRESS__)
#define CP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CP_ASAN 1
#endif
#endif

/* avro-c allocates and frees two small blocks per string it reads (the
 * string and its wrapper): per-thread free lists of power-of-two classes
 * turn those into list pops and pushes, so decoding calls malloc for
 * nothing in steady state. Blocks above the largest class go straight to
 * malloc. */
#define CLASS_MIN_SHIFT  4 /* smallest class: 16 bytes */
#define CLASS_CNT        9 /* 16, 32, ... 4096 bytes */
#define CLASS_LARGE      UINT32_MAX
#define CACHE_BYTES      (64 * 1024) /* per class and thread, at most */
#define CACHE_MIN_BLOCKS 32

/* In front of every block: its class, and its size when it is large. */
struct blk_hdr {
    uint32_t cls;
    size_t size; /* requested size of a large block; 0 otherwise */
};

/* Keeps the payload aligned like malloc's own blocks. */
#define HDR_SIZE                                                               \
    ((sizeof(struct blk_hdr) + _Alignof(max_align_t) - 1) /                    \
     _Alignof(max_align_t) * _Alignof(max_align_t))

struct free_blk {
    struct free_blk *next;
};

struct cache {
    struct free_blk *head[CLASS_CNT];
    uint32_t cnt[CLASS_CNT];
    bool registered; /* the exit destructor knows this thread's cache */
};

static _Thread_local struct cache tcache;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t cache_key;
static bool key_ok;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static bool installed;

static size_t class_size(uint32_t cls)
{
    return (size_t)1 << (cls + CLASS_MIN_SHIFT);
}

static uint32_t class_cap(uint32_t cls)
{
    size_t n = CACHE_BYTES / class_size(cls);

    return n < CACHE_MIN_BLOCKS ? CACHE_MIN_BLOCKS : (uint32_t)n;
}

static uint32_t class_of(size_t size)
{
    uint32_t width;

    if (size <= class_size(0))
        return 0;
    /* bit width of size - 1: the smallest power of two >= size */
    width = (uint32_t)(64 - __builtin_clzll((unsigned long long)size - 1));
    if (width - CLASS_MIN_SHIFT >= CLASS_CNT)
        return CLASS_LARGE;
    return width - CLASS_MIN_SHIFT;
}

static struct blk_hdr *hdr_of(void *ptr)
{
    return (struct blk_hdr *)(void *)((char *)ptr - HDR_SIZE);
}

static void *payload_of(struct blk_hdr *h)
{
    return (char *)h + HDR_SIZE;
}

/* Thread exit: give the thread's cached blocks back to malloc. */
static void cache_release(void *arg)
{
    struct cache *c = arg;

    for (uint32_t cls = 0; cls < CLASS_CNT; cls++) {
        while (c->head[cls]) {
            struct free_blk *b = c->head[cls];

            c->head[cls] = b->next;
            free(hdr_of(b));
        }
        c->cnt[cls] = 0;
    }
    c->registered = false;
}

static void make_key(void)
{
    key_ok = pthread_key_create(&cache_key, cache_release) == 0;
}

/* A thread caches blocks only once its exit destructor is registered, so
 * no thread takes cached blocks with it. */
static bool cache_ready(struct cache *c)
{
    if (c->registered)
        return true;
    pthread_once(&key_once, make_key);
    if (!key_ok || pthread_setspecific(cache_key, c) != 0)
        return false;
    c->registered = true;
    return true;
}

static void *blk_alloc(size_t size)
{
    uint32_t cls = class_of(size);
    struct cache *c = &tcache;
    struct blk_hdr *h;

    if (cls == CLASS_LARGE) {
        if (size > SIZE_MAX - HDR_SIZE)
            return NULL;
        h = malloc(HDR_SIZE + size);
        if (!h)
            return NULL;
        h->cls = CLASS_LARGE;
        h->size = size;
        return payload_of(h);
    }
    if (c->head[cls]) {
        struct free_blk *b = c->head[cls];

        c->head[cls] = b->next;
        c->cnt[cls]--;
        return b;
    }
    h = malloc(HDR_SIZE + class_size(cls));
    if (!h)
        return NULL;
    h->cls = cls;
    h->size = 0;
    return payload_of(h);
}

static void blk_free(void *ptr)
{
    struct blk_hdr *h = hdr_of(ptr);
    uint32_t cls = h->cls;
    struct cache *c = &tcache;
    struct free_blk *b = ptr;

    if (cls == CLASS_LARGE || c->cnt[cls] >= class_cap(cls) ||
        !cache_ready(c)) {
        free(h);
        return;
    }
    b->next = c->head[cls];
    c->head[cls] = b;
    c->cnt[cls]++;
}

static void *blk_realloc(void *ptr, size_t nsize)
{
    struct blk_hdr *h = hdr_of(ptr);
    uint32_t ncls = class_of(nsize);
    size_t old;
    void *n;

    if (h->cls != CLASS_LARGE && ncls != CLASS_LARGE && ncls <= h->cls &&
        ncls + 1 >= h->cls)
        return ptr; /* fits, and wastes at most half of the block */
    if (h->cls == CLASS_LARGE && ncls == CLASS_LARGE) {
        struct blk_hdr *nh;

        if (nsize > SIZE_MAX - HDR_SIZE)
            return NULL;
        nh = realloc(h, HDR_SIZE + nsize);
        if (!nh)
            return NULL;
        nh->size = nsize;
        return payload_of(nh);
    }
    old = h->cls == CLASS_LARGE ? h->size : class_size(h->cls);
    n = blk_alloc(nsize);
    if (!n)
        return NULL;
    memcpy(n, ptr, old < nsize ? old : nsize);
    blk_free(ptr);
    return n;
}

void *cp__avro_alloc(void *user_data, void *ptr, size_t osize, size_t nsize)
{
    (void)user_data;
    (void)osize; /* not relied on: each block records its own class */
    if (nsize == 0) {
        if (ptr)
            blk_free(ptr);
        return NULL;
    }
    if (!ptr)
        return blk_alloc(nsize);
    return blk_realloc(ptr, nsize);
}

static void install(void)
{
#ifndef CP_ASAN
    const char *env = getenv("CP_AVRO_ALLOC");

    if (env && strcmp(env, "system") == 0)
        return;
    avro_set_allocator(cp__avro_alloc, NULL);
    installed = true;
#endif
}

void cp__avro_alloc_install(void)
{
    pthread_once(&install_once, install);
}

bool cp__avro_alloc_installed(void)
{
    cp__avro_alloc_install();
    return installed;
}

/* Before main(): blocks avro-c allocated with malloc before the switch
 * would reach cp__avro_alloc() without a header. */
__attribute__((constructor)) static void install_at_start(void)
{
    cp__avro_alloc_install();
}

/* The exiting thread's cached blocks go back to malloc too, so leak
 * checkers see no interior pointers into free blocks at exit. */
__attribute__((destructor)) static void release_at_exit(void)
{
    cache_release(&tcache);
}

/* ---- life cycle ---- */

static int slot_init(struct slot *slot, const struct cp_schema_entry *entry,
                     char *errstr, size_t errstr_size)
{
    const char *ns, *name;
    char why[200];

    slot->id = entry->id;
    if (avro_schema_from_json_length(entry->json, strlen(entry->json),
                                     &slot->schema)) {
        slot->schema = NULL;
        snprintf(errstr, errstr_size, "parse schema %d (%s): %s", entry->id,
                 entry->file, avro_strerror());
        return -1;
    }
    name = avro_schema_type_name(slot->schema);
    ns = is_avro_named_type(slot->schema) ? avro_schema_namespace(slot->schema)
                                          : NULL;
    snprintf(slot->fullname, sizeof(slot->fullname), "%s%s%s", ns ? ns : "",
             ns && *ns ? "." : "", name ? name : "?");
    slot->iface = avro_generic_class_from_schema(slot->schema);
    if (!slot->iface) {
        snprintf(errstr, errstr_size, "schema %d (%s): %s", entry->id,
                 entry->file, avro_strerror());
        return -1;
    }
    if (avro_generic_value_new(slot->iface, &slot->value)) {
        slot->value.self = NULL;
        snprintf(errstr, errstr_size, "schema %d (%s): %s", entry->id,
                 entry->file, avro_strerror());
        return -1;
    }
    if (prog_compile(&slot->prog, slot->schema, 0, why, sizeof(why)) != 0) {
        snprintf(errstr, errstr_size, "compile schema %d (%s): %s", entry->id,
                 entry->file, why);
        return -1;
    }
    if (strcmp(slot->fullname, "crm.v1.CrmEvent") == 0) {
        slot->ev = event_proj_new(slot->schema, why, sizeof(why));
        if (!slot->ev)
            goto bad_proj;
    } else if (strcmp(slot->fullname, "crm.v1.DeadLetter") == 0) {
        slot->dl = dl_proj_new(slot->schema, why, sizeof(why));
        if (!slot->dl)
            goto bad_proj;
    } else if (strcmp(slot->fullname, "crm.v1.Alert") == 0) {
        slot->al = alert_proj_new(slot->schema, why, sizeof(why));
        if (!slot->al)
            goto bad_proj;
    }
    return 0;

bad_proj:
    snprintf(errstr, errstr_size, "schema %d (%s): %s", entry->id, entry->file,
             why);
    return -1;
}

static void slot_cleanup(struct slot *slot)
{
    if (slot->iface && slot->value.self)
        avro_value_decref(&slot->value);
    if (slot->iface)
        avro_value_iface_decref(slot->iface);
    if (slot->schema)
        avro_schema_decref(slot->schema);
    prog_free(&slot->prog);
    free(slot->ev);
    free(slot->dl);
    free(slot->al);
    memset(slot, 0, sizeof(*slot));
}

struct cp_codec *cp_codec_new(enum cp_framing framing, char *errstr,
                              size_t errstr_size)
{
    struct cp_codec *codec;
    size_t n = 0;

    /* Normally already done before main(); a no-op then. */
    cp__avro_alloc_install();
    codec = calloc(1, sizeof(*codec));
    if (!codec) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    codec->framing = framing;
    while (cp_schema_registry[n].id)
        n++;
    codec->slots = calloc(n ? n : 1, sizeof(*codec->slots));
    if (!codec->slots) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        codec->slot_cnt++;
        if (slot_init(&codec->slots[i], &cp_schema_registry[i], errstr,
                      errstr_size))
            goto fail;
        if (codec->slots[i].id == CP_SCHEMA_ID_CRM_EVENT)
            codec->event_slot = &codec->slots[i];
        if (codec->slots[i].id == CP_SCHEMA_ID_DEAD_LETTER)
            codec->dead_letter_slot = &codec->slots[i];
        if (codec->slots[i].id == CP_SCHEMA_ID_ALERT)
            codec->alert_slot = &codec->slots[i];
    }
    if (!codec->event_slot || !codec->event_slot->ev) {
        snprintf(errstr, errstr_size, "schema id %d is not a crm.v1.CrmEvent",
                 CP_SCHEMA_ID_CRM_EVENT);
        goto fail;
    }
    if (!codec->dead_letter_slot || !codec->dead_letter_slot->dl) {
        snprintf(errstr, errstr_size, "schema id %d is not a crm.v1.DeadLetter",
                 CP_SCHEMA_ID_DEAD_LETTER);
        goto fail;
    }
    if (!codec->alert_slot || !codec->alert_slot->al) {
        snprintf(errstr, errstr_size, "schema id %d is not a crm.v1.Alert",
                 CP_SCHEMA_ID_ALERT);
        goto fail;
    }
    codec->reader = avro_reader_memory(empty_bytes, 0);
    codec->writer = avro_writer_memory(empty_bytes, 0);
    if (!codec->reader || !codec->writer) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    return codec;

fail:
    cp_codec_destroy(codec);
    return NULL;
}

void cp_codec_destroy(struct cp_codec *codec)
{
    if (!codec)
        return;
    for (size_t i = 0; i < codec->slot_cnt; i++)
        slot_cleanup(&codec->slots[i]);
    free(codec->slots);
    if (codec->reader)
        avro_reader_free(codec->reader);
    if (codec->writer)
        avro_writer_free(codec->writer);
    free(codec);
}

/* ---- decoding ---- */

static struct slot *slot_by_id(struct cp_codec *codec, uint32_t id)
{
    for (size_t i = 0; i < codec->slot_cnt; i++)
        if ((uint32_t)codec->slots[i].id == id)
            return &codec->slots[i];
    return NULL;
}

/* The record a decoder expects; several schema ids may carry one. */
enum want {
    WANT_EVENT,
    WANT_DEAD_LETTER,
    WANT_ALERT,
};

static bool slot_is(const struct slot *s, enum want want)
{
    switch (want) {
    case WANT_EVENT:
        return s->ev != NULL;
    case WANT_DEAD_LETTER:
        return s->dl != NULL;
    case WANT_ALERT:
        return s->al != NULL;
    }
    return false;
}

static const char *want_name(enum want want)
{
    return want == WANT_EVENT         ? "CrmEvent"
           : want == WANT_DEAD_LETTER ? "DeadLetter"
                                      : "Alert";
}

/* Picks the writer schema from the framing: @p raw_slot for raw framing,
 * else the Confluent id, which must name a record of kind @p want. */
static cp_rc unframe(struct cp_codec *codec, const void *value, size_t len,
                     struct slot *raw_slot, enum want want, struct slot **slot,
                     const uint8_t **body, size_t *body_len, char *reason,
                     size_t reason_size)
{
    const uint8_t *p = value;
    uint32_t id;
    struct slot *s;

    if (!value || len == 0)
        return cp_decode_fail(reason, reason_size, "empty message (tombstone)");
    if (codec->framing == CP_FRAMING_RAW) {
        *slot = raw_slot;
        *body = p;
        *body_len = len;
        return CP_OK;
    }
    if (len < CONFLUENT_HDR)
        return cp_decode_fail(reason, reason_size,
                              "bad framing: %zu bytes, shorter than the 5-byte "
                              "Confluent header",
                              len);
    if (p[0] != 0)
        return cp_decode_fail(reason, reason_size,
                              "bad framing: magic byte 0x%02x, expected 0x00",
                              p[0]);
    id = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 |
         (uint32_t)p[4];
    s = slot_by_id(codec, id);
    if (!s)
        return cp_decode_fail(reason, reason_size, "unknown schema id %" PRIu32,
                              id);
    if (!slot_is(s, want))
        return cp_decode_fail(
            reason, reason_size, "schema id %" PRIu32 " is %s, not a%s %s", id,
            s->fullname, want == WANT_ALERT ? "n" : "", want_name(want));
    *slot = s;
    *body = p + CONFLUENT_HDR;
    *body_len = len - CONFLUENT_HDR;
    return CP_OK;
}

/* Walk, then let avro-c read bytes we know to be well-formed. */
static cp_rc read_value(struct cp_codec *codec, struct slot *slot,
                        const void *value, const uint8_t *body, size_t body_len,
                        char *reason, size_t reason_size)
{
    cp_rc rc = walk_value(slot, value, body, body_len, reason, reason_size);
    int err;

    if (rc)
        return rc;
    avro_reader_memory_set_source(codec->reader, (const char *)body,
                                  (int64_t)body_len);
    err = avro_value_read(codec->reader, &slot->value);
    if (err)
        avro_value_reset(&slot->value); /* drop a partial read */
    if (err == ENOMEM)
        return CP_ENOMEM;
    if (err)
        /* avro_strerror() is a process-wide buffer: not used here. */
        return cp_decode_fail(reason, reason_size,
                              "avro: read failed (error %d)", err);
    return CP_OK;
}

cp_rc cp__codec_check(struct cp_codec *codec, int schema_id, const void *body,
                      size_t len, char *reason, size_t reason_size)
{
    struct slot *slot = slot_by_id(codec, (uint32_t)schema_id);
    cp_rc rc;

    if (!slot)
        return cp_decode_fail(reason, reason_size, "unknown schema id %d",
                              schema_id);
    if (!body)
        body = empty_bytes; /* an empty body is still walked */
    rc = read_value(codec, slot, body, body, len, reason, reason_size);
    if (!rc)
        avro_value_reset(&slot->value);
    return rc;
}

static cp_rc copy_string(avro_value_t *v, struct cp_arena *arena,
                         struct cp_str *out)
{
    const char *p = NULL;
    size_t size = 0;
    char *copy;

    if (avro_value_get_string(v, &p, &size) || !p || size == 0)
        return CP_EDECODE;
    /* size counts avro-c's NUL; embedded NULs are kept by length. */
    copy = cp_arena_strndup(arena, p, size - 1);
    if (!copy)
        return CP_ENOMEM;
    out->ptr = copy;
    out->len = size - 1;
    return CP_OK;
}

static cp_rc copy_bytes(avro_value_t *v, struct cp_arena *arena,
                        const void **out, size_t *out_len)
{
    const void *p = NULL;
    size_t size = 0;
    char *copy;

    if (avro_value_get_bytes(v, &p, &size))
        return CP_EDECODE;
    copy = cp_arena_strndup(arena, p ? p : empty_bytes, p ? size : 0);
    if (!copy)
        return CP_ENOMEM;
    *out = copy;
    *out_len = p ? size : 0;
    return CP_OK;
}

/* Selects the value of an optional field; *is_null tells a null apart. */
static int get_optional(avro_value_t *rec, const struct opt_field *of,
                        avro_value_t *out, bool *is_null)
{
    avro_value_t field;
    int disc;

    if (avro_value_get_by_index(rec, (size_t)of->index, &field, NULL))
        return -1;
    *is_null = false;
    if (of->null_branch < 0) {
        *out = field;
        return 0;
    }
    if (avro_value_get_discriminant(&field, &disc))
        return -1;
    if (disc == of->null_branch) {
        *is_null = true;
        return 0;
    }
    return avro_value_get_current_branch(&field, out);
}

static cp_rc project_payload(const struct event_proj *ep, avro_value_t *root,
                             struct cp_arena *arena, struct cp_event *ev,
                             char *reason, size_t reason_size)
{
    const struct kind_proj *kp;
    avro_value_t field, rec;
    int disc;

    if (avro_value_get_by_index(root, (size_t)ep->f_payload, &field, NULL) ||
        avro_value_get_discriminant(&field, &disc) ||
        avro_value_get_current_branch(&field, &rec))
        return cp_decode_fail(reason, reason_size,
                              "payload: cannot read the union");
    if (disc < 0 || disc >= ep->payload_branches || ep->branch_kind[disc] < 0)
        return cp_decode_fail(reason, reason_size, "payload: unknown record %s",
                              disc >= 0 && disc < ep->payload_branches
                                  ? ep->branch_name[disc]
                                  : "?");
    ev->kind = (enum cp_payload_kind)ep->branch_kind[disc];
    kp = &ep->kinds[ev->kind];
    for (int i = 0; i < kp->field_cnt; i++) {
        avro_value_t v;
        int32_t i32 = 0;
        int b = 0, sym = 0;
        cp_rc rc = CP_OK;

        if (avro_value_get_by_index(&rec, (size_t)kp->fields[i].index, &v,
                                    NULL))
            return cp_decode_fail(reason, reason_size,
                                  "payload: cannot read field");
        switch (kp->fields[i].role) {
        case R_ENTITY:
            rc = copy_string(&v, arena, &ev->entity_id);
            break;
        case R_LABEL:
            rc = copy_string(&v, arena, &ev->label);
            break;
        case R_STAGE_ORDER:
            rc = avro_value_get_int(&v, &i32) ? CP_EDECODE : CP_OK;
            ev->stage_order = i32;
            break;
        case R_SCORE:
            rc = avro_value_get_int(&v, &i32) ? CP_EDECODE : CP_OK;
            ev->score = i32;
            break;
        case R_AMOUNT:
            rc = avro_value_get_long(&v, &ev->amount) ? CP_EDECODE : CP_OK;
            break;
        case R_WON:
        case R_INBOUND:
        case R_ANSWERED:
            rc = avro_value_get_boolean(&v, &b) ? CP_EDECODE : CP_OK;
            if (kp->fields[i].role == R_WON)
                ev->won = b != 0;
            else if (kp->fields[i].role == R_INBOUND)
                ev->inbound = b != 0;
            else
                ev->answered = b != 0;
            break;
        case R_SURVEY_KIND:
        case R_ACTION: {
            const struct enum_map *map = kp->fields[i].map;

            if (avro_value_get_enum(&v, &sym))
                return cp_decode_fail(reason, reason_size,
                                      "payload: cannot read enum");
            if (sym < 0 || sym >= map->cnt || map->ours[sym] < 0)
                return cp_decode_fail(
                    reason, reason_size, "%s: unknown symbol %s",
                    kp->fields[i].role == R_ACTION ? "action" : "kind",
                    sym >= 0 && sym < map->cnt ? map->syms[sym] : "?");
            if (kp->fields[i].role == R_ACTION)
                ev->sub_action = (enum cp_sub_action)map->ours[sym];
            else
                ev->survey_kind = (enum cp_survey_kind)map->ours[sym];
            break;
        }
        }
        if (rc == CP_ENOMEM)
            return rc;
        if (rc)
            return cp_decode_fail(reason, reason_size,
                                  "payload: cannot read field");
    }
    return CP_OK;
}

static cp_rc project_event(const struct event_proj *ep, avro_value_t *root,
                           struct cp_arena *arena, struct cp_event *ev,
                           char *reason, size_t reason_size)
{
    const struct {
        int index;
        struct cp_str *out;
    } strs[] = {
        {ep->f_event_id, &ev->event_id},
        {ep->f_tenant_id, &ev->tenant_id},
        {ep->f_customer_id, &ev->customer_id},
    };
    avro_value_t v;
    bool is_null;
    cp_rc rc;
    int sym;

    memset(ev, 0, sizeof(*ev));
    ev->channel = CP_CHANNEL_NONE;
    for (size_t i = 0; i < CP_ARRAY_SIZE(strs); i++) {
        if (avro_value_get_by_index(root, (size_t)strs[i].index, &v, NULL))
            return cp_decode_fail(reason, reason_size,
                                  "cannot read a string field");
        rc = copy_string(&v, arena, strs[i].out);
        if (rc == CP_ENOMEM)
            return rc;
        if (rc)
            return cp_decode_fail(reason, reason_size,
                                  "cannot read a string field");
    }
    if (avro_value_get_by_index(root, (size_t)ep->f_occurred_at, &v, NULL) ||
        avro_value_get_long(&v, &ev->occurred_at))
        return cp_decode_fail(reason, reason_size, "occurred_at: cannot read");
    if (get_optional(root, &ep->manager_id, &v, &is_null))
        return cp_decode_fail(reason, reason_size, "manager_id: cannot read");
    if (!is_null) {
        rc = copy_string(&v, arena, &ev->manager_id);
        if (rc == CP_ENOMEM)
            return rc;
        if (rc)
            return cp_decode_fail(reason, reason_size,
                                  "manager_id: cannot read");
    }
    if (get_optional(root, &ep->channel, &v, &is_null))
        return cp_decode_fail(reason, reason_size, "channel: cannot read");
    if (!is_null) {
        if (avro_value_get_enum(&v, &sym))
            return cp_decode_fail(reason, reason_size, "channel: cannot read");
        if (sym < 0 || sym >= ep->channels.cnt || ep->channels.ours[sym] < 0)
            return cp_decode_fail(
                reason, reason_size, "channel: unknown symbol %s",
                sym >= 0 && sym < ep->channels.cnt ? ep->channels.syms[sym]
                                                   : "?");
        ev->channel = (enum cp_channel)ep->channels.ours[sym];
    }
    return project_payload(ep, root, arena, ev, reason, reason_size);
}

cp_rc cp_codec_decode_event(struct cp_codec *codec, const void *value,
                            size_t len, int64_t now_ms, struct cp_arena *arena,
                            struct cp_event *ev, char *reason,
                            size_t reason_size)
{
    struct slot *slot = NULL;
    const uint8_t *body = NULL;
    size_t body_len = 0;
    cp_rc rc;

    rc = unframe(codec, value, len, codec->event_slot, WANT_EVENT, &slot, &body,
                 &body_len, reason, reason_size);
    if (rc)
        return rc;
    rc = read_value(codec, slot, value, body, body_len, reason, reason_size);
    if (rc)
        return rc;
    rc = project_event(slot->ev, &slot->value, arena, ev, reason, reason_size);
    /* Our copies are in the arena: free avro-c's now rather than at the
     * next read, so an idle codec holds no message data. */
    avro_value_reset(&slot->value);
    if (rc)
        return rc;
    return cp_event_validate(ev, now_ms, reason, reason_size);
}

static cp_rc project_dead_letter(const struct dl_proj *dp, avro_value_t *root,
                                 struct cp_arena *arena,
                                 struct cp_dead_letter *dl, char *reason,
                                 size_t reason_size)
{
    struct cp_str s;
    avro_value_t v;
    bool is_null;
    cp_rc rc;

    memset(dl, 0, sizeof(*dl));
    if (avro_value_get_by_index(root, (size_t)dp->f_topic, &v, NULL))
        goto bad;
    rc = copy_string(&v, arena, &s);
    if (rc)
        goto out;
    /* topic and reason are C strings in struct cp_dead_letter */
    if (memchr(s.ptr, '\0', s.len))
        return cp_decode_fail(reason, reason_size,
                              "dead letter: NUL byte in topic");
    dl->topic = s.ptr;
    if (avro_value_get_by_index(root, (size_t)dp->f_partition, &v, NULL) ||
        avro_value_get_int(&v, &dl->partition))
        goto bad;
    if (avro_value_get_by_index(root, (size_t)dp->f_offset, &v, NULL) ||
        avro_value_get_long(&v, &dl->offset))
        goto bad;
    if (get_optional(root, &dp->key, &v, &is_null))
        goto bad;
    if (!is_null) {
        rc = copy_bytes(&v, arena, &dl->key, &dl->key_len);
        if (rc)
            goto out;
    }
    if (avro_value_get_by_index(root, (size_t)dp->f_value, &v, NULL))
        goto bad;
    rc = copy_bytes(&v, arena, &dl->value, &dl->value_len);
    if (rc)
        goto out;
    if (avro_value_get_by_index(root, (size_t)dp->f_reason, &v, NULL))
        goto bad;
    rc = copy_string(&v, arena, &s);
    if (rc)
        goto out;
    if (memchr(s.ptr, '\0', s.len))
        return cp_decode_fail(reason, reason_size,
                              "dead letter: NUL byte in reason");
    dl->reason = s.ptr;
    if (avro_value_get_by_index(root, (size_t)dp->f_failed_at, &v, NULL) ||
        avro_value_get_long(&v, &dl->failed_at))
        goto bad;
    return CP_OK;

bad:
    rc = CP_EDECODE;
out:
    if (rc == CP_EDECODE)
        cp_decode_fail(reason, reason_size, "dead letter: cannot read a field");
    return rc;
}

cp_rc cp_codec_decode_dead_letter(struct cp_codec *codec, const void *value,
                                  size_t len, struct cp_arena *arena,
                                  struct cp_dead_letter *dl, char *reason,
                                  size_t reason_size)
{
    struct slot *slot = NULL;
    const uint8_t *body = NULL;
    size_t body_len = 0;
    cp_rc rc;

    rc = unframe(codec, value, len, codec->dead_letter_slot, WANT_DEAD_LETTER,
                 &slot, &body, &body_len, reason, reason_size);
    if (rc)
        return rc;
    rc = read_value(codec, slot, value, body, body_len, reason, reason_size);
    if (rc)
        return rc;
    rc = project_dead_letter(slot->dl, &slot->value, arena, dl, reason,
                             reason_size);
    avro_value_reset(&slot->value); /* free avro-c's copies now */
    return rc;
}

/* Copies string field @p index of @p rec into @p arena as a C string. */
static cp_rc alert_cstring(avro_value_t *rec, int index, const char *name,
                           struct cp_arena *arena, const char **out,
                           char *reason, size_t reason_size)
{
    struct cp_str s;
    avro_value_t v;
    cp_rc rc;

    if (avro_value_get_by_index(rec, (size_t)index, &v, NULL))
        return cp_decode_fail(reason, reason_size, "alert: cannot read %s",
                              name);
    rc = copy_string(&v, arena, &s);
    if (rc == CP_ENOMEM)
        return rc;
    if (rc)
        return cp_decode_fail(reason, reason_size, "alert: cannot read %s",
                              name);
    if (memchr(s.ptr, '\0', s.len))
        return cp_decode_fail(reason, reason_size, "alert: NUL byte in %s",
                              name);
    *out = s.ptr;
    return CP_OK;
}

static cp_rc alert_optional(avro_value_t *rec, const struct opt_field *of,
                            const char *name, struct cp_arena *arena,
                            const char **out, char *reason, size_t reason_size)
{
    avro_value_t v;
    bool is_null;
    cp_rc rc;
    struct cp_str s;

    *out = NULL;
    if (get_optional(rec, of, &v, &is_null))
        return cp_decode_fail(reason, reason_size, "alert: cannot read %s",
                              name);
    if (is_null)
        return CP_OK;
    rc = copy_string(&v, arena, &s);
    if (rc == CP_ENOMEM)
        return rc;
    if (rc)
        return cp_decode_fail(reason, reason_size, "alert: cannot read %s",
                              name);
    if (memchr(s.ptr, '\0', s.len))
        return cp_decode_fail(reason, reason_size, "alert: NUL byte in %s",
                              name);
    *out = s.ptr;
    return CP_OK;
}

/* Reads enum field @p index and maps its symbol through @p map. */
static cp_rc alert_enum(avro_value_t *rec, int index, const char *name,
                        const struct enum_map *map, int *out, char *reason,
                        size_t reason_size)
{
    avro_value_t v;
    int sym;

    if (avro_value_get_by_index(rec, (size_t)index, &v, NULL) ||
        avro_value_get_enum(&v, &sym))
        return cp_decode_fail(reason, reason_size, "alert: cannot read %s",
                              name);
    if (sym < 0 || sym >= map->cnt || map->ours[sym] < 0)
        return cp_decode_fail(
            reason, reason_size, "alert: %s: unknown symbol %s", name,
            sym >= 0 && sym < map->cnt ? map->syms[sym] : "?");
    *out = map->ours[sym];
    return CP_OK;
}

static cp_rc alert_double(avro_value_t *rec, int index, const char *name,
                          double *out, char *reason, size_t reason_size)
{
    avro_value_t v;

    if (avro_value_get_by_index(rec, (size_t)index, &v, NULL) ||
        avro_value_get_double(&v, out))
        return cp_decode_fail(reason, reason_size, "alert: cannot read %s",
                              name);
    return CP_OK;
}

static cp_rc alert_long(avro_value_t *rec, int index, const char *name,
                        int64_t *out, char *reason, size_t reason_size)
{
    avro_value_t v;

    if (avro_value_get_by_index(rec, (size_t)index, &v, NULL) ||
        avro_value_get_long(&v, out))
        return cp_decode_fail(reason, reason_size, "alert: cannot read %s",
                              name);
    return CP_OK;
}

static cp_rc project_reasons(const struct alert_proj *ap, avro_value_t *root,
                             struct cp_arena *arena, struct cp_alert *a,
                             struct cp_alert_reason *reasons,
                             size_t reasons_cap, char *reason,
                             size_t reason_size)
{
    avro_value_t arr;
    size_t n = 0;
    cp_rc rc;

    if (avro_value_get_by_index(root, (size_t)ap->f_reasons, &arr, NULL) ||
        avro_value_get_size(&arr, &n))
        return cp_decode_fail(reason, reason_size,
                              "alert: cannot read reasons");
    if (n > reasons_cap || (n && !reasons))
        return cp_decode_fail(reason, reason_size,
                              "alert: %zu reasons, room for %zu", n,
                              reasons_cap);
    for (size_t i = 0; i < n; i++) {
        struct cp_alert_reason *r = &reasons[i];
        avro_value_t item;

        if (avro_value_get_by_index(&arr, i, &item, NULL))
            return cp_decode_fail(reason, reason_size,
                                  "alert: cannot read reasons");
        rc = alert_cstring(&item, ap->r_factor, "reasons.factor", arena,
                           &r->factor, reason, reason_size);
        if (!rc)
            rc = alert_double(&item, ap->r_contribution, "reasons.contribution",
                              &r->contribution, reason, reason_size);
        if (!rc)
            rc = alert_cstring(&item, ap->r_detail, "reasons.detail", arena,
                               &r->detail, reason, reason_size);
        if (rc)
            return rc;
    }
    a->reasons = reasons;
    a->reason_cnt = n;
    return CP_OK;
}

static cp_rc project_alert(const struct alert_proj *ap, avro_value_t *root,
                           struct cp_arena *arena, struct cp_alert *a,
                           struct cp_alert_reason *reasons, size_t reasons_cap,
                           char *reason, size_t reason_size)
{
    int kind = 0, level = 0;
    cp_rc rc;

    memset(a, 0, sizeof(*a));
    rc = alert_cstring(root, ap->f_alert_id, "alert_id", arena, &a->alert_id,
                       reason, reason_size);
    if (!rc)
        rc = alert_enum(root, ap->f_kind, "kind", &ap->kinds, &kind, reason,
                        reason_size);
    if (!rc)
        rc = alert_cstring(root, ap->f_tenant_id, "tenant_id", arena,
                           &a->tenant_id, reason, reason_size);
    if (!rc)
        rc = alert_cstring(root, ap->f_customer_id, "customer_id", arena,
                           &a->customer_id, reason, reason_size);
    if (!rc)
        rc = alert_optional(root, &ap->manager_id, "manager_id", arena,
                            &a->manager_id, reason, reason_size);
    if (!rc)
        rc = alert_enum(root, ap->f_level, "level", &ap->levels, &level, reason,
                        reason_size);
    if (!rc)
        rc = alert_double(root, ap->f_risk_score, "risk_score", &a->risk_score,
                          reason, reason_size);
    if (!rc)
        rc = alert_double(root, ap->f_previous_score, "previous_score",
                          &a->previous_score, reason, reason_size);
    if (!rc)
        rc = project_reasons(ap, root, arena, a, reasons, reasons_cap, reason,
                             reason_size);
    if (!rc)
        rc = alert_optional(root, &ap->triggered_by, "triggered_by", arena,
                            &a->triggered_by, reason, reason_size);
    if (!rc)
        rc = alert_long(root, ap->f_event_time, "event_time", &a->event_time,
                        reason, reason_size);
    if (!rc)
        rc = alert_long(root, ap->f_emitted_at, "emitted_at", &a->emitted_at,
                        reason, reason_size);
    if (!rc)
        rc = alert_cstring(root, ap->f_model_version, "model_version", arena,
                           &a->model_version, reason, reason_size);
    a->kind = (enum cp_alert_kind)kind;
    a->level = (enum cp_alert_level)level;
    return rc;
}

cp_rc cp_codec_decode_alert(struct cp_codec *codec, const void *value,
                            size_t len, struct cp_arena *arena,
                            struct cp_alert *a, struct cp_alert_reason *reasons,
                            size_t reasons_cap, char *reason,
                            size_t reason_size)
{
    struct slot *slot = NULL;
    const uint8_t *body = NULL;
    size_t body_len = 0;
    cp_rc rc;

    rc = unframe(codec, value, len, codec->alert_slot, WANT_ALERT, &slot, &body,
                 &body_len, reason, reason_size);
    if (rc)
        return rc;
    rc = read_value(codec, slot, value, body, body_len, reason, reason_size);
    if (rc)
        return rc;
    rc = project_alert(slot->al, &slot->value, arena, a, reasons, reasons_cap,
                       reason, reason_size);
    avro_value_reset(&slot->value); /* free avro-c's copies now */
    return rc;
}

/* ---- encoding ---- */

/* Lends [ptr, ptr + len) to a string or bytes value without a copy. avro-c
 * only reads size - 1 bytes of a string (the NUL it counts is never
 * touched) and never frees a buffer without a free function. Ownership:
 * borrowed until the value is reset, which every encode does on its way
 * out. */
static int give(avro_value_t *v, bool is_string, const char *ptr, size_t len)
{
    avro_wrapped_buffer_t wb;

    if (!ptr)
        len = 0;
    wb.buf = len ? ptr : empty_bytes;
    wb.size = is_string ? len + 1 : len;
    wb.user_data = NULL;
    wb.free = NULL; /* borrowed: nothing to free */
    wb.copy = NULL;
    wb.slice = NULL;
    return is_string ? avro_value_give_string_len(v, &wb)
                     : avro_value_give_bytes(v, &wb);
}

static int give_string(avro_value_t *v, const char *ptr, size_t len)
{
    return give(v, true, ptr, len);
}

static int give_string_at(avro_value_t *rec, int index, const char *ptr,
                          size_t len)
{
    avro_value_t v;

    if (avro_value_get_by_index(rec, (size_t)index, &v, NULL))
        return EINVAL;
    return give_string(&v, ptr, len);
}

static int set_long_at(avro_value_t *rec, int index, int64_t x)
{
    avro_value_t v;

    if (avro_value_get_by_index(rec, (size_t)index, &v, NULL))
        return EINVAL;
    return avro_value_set_long(&v, x);
}

static int give_bytes_at(avro_value_t *rec, int index, const void *ptr,
                         size_t len)
{
    avro_value_t v;

    if (avro_value_get_by_index(rec, (size_t)index, &v, NULL))
        return EINVAL;
    return give(&v, false, ptr, len);
}

/* Returns the value to fill for an optional field, or sets it to null. */
static int set_optional(avro_value_t *rec, const struct opt_field *of,
                        bool null, avro_value_t *out)
{
    avro_value_t field, branch;

    if (avro_value_get_by_index(rec, (size_t)of->index, &field, NULL))
        return EINVAL;
    if (of->null_branch < 0) {
        if (null)
            return EINVAL; /* the writer schema has no null here */
        *out = field;
        return 0;
    }
    if (null) {
        if (avro_value_set_branch(&field, of->null_branch, &branch))
            return EINVAL;
        return avro_value_set_null(&branch);
    }
    return avro_value_set_branch(&field, of->val_branch, out);
}

/* Appends the header and the encoding of slot->value to @p out. */
static cp_rc write_framed(struct cp_codec *codec, struct slot *slot,
                          struct cp_buf *out)
{
    size_t hdr = codec->framing == CP_FRAMING_CONFLUENT ? CONFLUENT_HDR : 0;
    size_t size = 0;
    uint8_t *dst;

    if (avro_value_sizeof(&slot->value, &size))
        return CP_EDECODE;
    if (cp_buf_reserve(out, hdr + size))
        return CP_ENOMEM;
    dst = (uint8_t *)out->data + out->len;
    if (hdr) {
        dst[0] = 0;
        dst[1] = (uint8_t)((uint32_t)slot->id >> 24);
        dst[2] = (uint8_t)((uint32_t)slot->id >> 16);
        dst[3] = (uint8_t)((uint32_t)slot->id >> 8);
        dst[4] = (uint8_t)slot->id;
    }
    avro_writer_memory_set_dest(codec->writer, (const char *)dst + hdr,
                                (int64_t)size);
    if (avro_value_write(codec->writer, &slot->value) ||
        avro_writer_tell(codec->writer) != (int64_t)size)
        return CP_EDECODE;
    out->len += hdr + size;
    return CP_OK;
}

static int fill_payload(const struct event_proj *ep, avro_value_t *root,
                        const struct cp_event *ev)
{
    const struct kind_proj *kp;
    avro_value_t field, rec;

    if ((int)ev->kind < 0 || ev->kind >= CP_PAYLOAD_KIND_CNT)
        return EINVAL;
    kp = &ep->kinds[ev->kind];
    if (kp->branch < 0 ||
        avro_value_get_by_index(root, (size_t)ep->f_payload, &field, NULL) ||
        avro_value_set_branch(&field, kp->branch, &rec))
        return EINVAL;
    for (int i = 0; i < kp->field_cnt; i++) {
        const struct enum_map *map = kp->fields[i].map;
        avro_value_t v;
        int err = 0, ours;

        if (avro_value_get_by_index(&rec, (size_t)kp->fields[i].index, &v,
                                    NULL))
            return EINVAL;
        switch (kp->fields[i].role) {
        case R_ENTITY:
            err = give_string(&v, ev->entity_id.ptr,
                              ev->entity_id.ptr ? ev->entity_id.len : 0);
            break;
        case R_LABEL:
            err = give_string(&v, ev->label.ptr,
                              ev->label.ptr ? ev->label.len : 0);
            break;
        case R_STAGE_ORDER:
            err = avro_value_set_int(&v, ev->stage_order);
            break;
        case R_SCORE:
            err = avro_value_set_int(&v, ev->score);
            break;
        case R_AMOUNT:
            err = avro_value_set_long(&v, ev->amount);
            break;
        case R_WON:
            err = avro_value_set_boolean(&v, ev->won);
            break;
        case R_INBOUND:
            err = avro_value_set_boolean(&v, ev->inbound);
            break;
        case R_ANSWERED:
            err = avro_value_set_boolean(&v, ev->answered);
            break;
        case R_SURVEY_KIND:
        case R_ACTION:
            ours = kp->fields[i].role == R_ACTION ? (int)ev->sub_action
                                                  : (int)ev->survey_kind;
            if (ours < 0 || ours >= 3 || map->theirs[ours] < 0)
                return EINVAL;
            err = avro_value_set_enum(&v, map->theirs[ours]);
            break;
        }
        if (err)
            return err;
    }
    return 0;
}

cp_rc cp_codec_encode_event(struct cp_codec *codec, const struct cp_event *ev,
                            struct cp_buf *out)
{
    struct slot *slot = codec->event_slot;
    const struct event_proj *ep = slot->ev;
    avro_value_t *root = &slot->value;
    bool no_channel = ev->channel == CP_CHANNEL_NONE;
    avro_value_t v;
    int err;
    cp_rc rc;

    if (!no_channel && ((int)ev->channel < 0 || ev->channel >= CP_CHANNEL_CNT ||
                        ep->channels.theirs[ev->channel] < 0))
        return CP_EDECODE;
    err = avro_value_reset(root);
    if (!err)
        err = give_string_at(root, ep->f_event_id, ev->event_id.ptr,
                             ev->event_id.len);
    if (!err)
        err = give_string_at(root, ep->f_tenant_id, ev->tenant_id.ptr,
                             ev->tenant_id.len);
    if (!err)
        err = give_string_at(root, ep->f_customer_id, ev->customer_id.ptr,
                             ev->customer_id.len);
    if (!err)
        err = set_long_at(root, ep->f_occurred_at, ev->occurred_at);
    if (!err)
        err = set_optional(root, &ep->manager_id, !ev->manager_id.ptr, &v);
    if (!err && ev->manager_id.ptr)
        err = give_string(&v, ev->manager_id.ptr, ev->manager_id.len);
    if (!err)
        err = set_optional(root, &ep->channel, no_channel, &v);
    if (!err && !no_channel)
        err = avro_value_set_enum(&v, ep->channels.theirs[ev->channel]);
    if (!err)
        err = fill_payload(ep, root, ev);
    rc = err ? (err == ENOMEM ? CP_ENOMEM : CP_EDECODE)
             : write_framed(codec, slot, out);
    avro_value_reset(root); /* drop the borrowed buffers */
    return rc;
}

cp_rc cp_codec_encode_dead_letter(struct cp_codec *codec,
                                  const struct cp_dead_letter *dl,
                                  struct cp_buf *out)
{
    struct slot *slot = codec->dead_letter_slot;
    const struct dl_proj *dp = slot->dl;
    avro_value_t *root = &slot->value;
    const char *topic = dl->topic ? dl->topic : "";
    const char *why = dl->reason ? dl->reason : "";
    avro_value_t v;
    int err;
    cp_rc rc;

    err = avro_value_reset(root);
    if (!err)
        err = give_string_at(root, dp->f_topic, topic, strlen(topic));
    if (!err)
        err = avro_value_get_by_index(root, (size_t)dp->f_partition, &v, NULL);
    if (!err)
        err = avro_value_set_int(&v, dl->partition);
    if (!err)
        err = set_long_at(root, dp->f_offset, dl->offset);
    if (!err)
        err = set_optional(root, &dp->key, !dl->key, &v);
    if (!err && dl->key)
        err = give(&v, false, dl->key, dl->key_len);
    if (!err)
        err = give_bytes_at(root, dp->f_value, dl->value, dl->value_len);
    if (!err)
        err = give_string_at(root, dp->f_reason, why, strlen(why));
    if (!err)
        err = set_long_at(root, dp->f_failed_at, dl->failed_at);
    rc = err ? (err == ENOMEM ? CP_ENOMEM : CP_EDECODE)
             : write_framed(codec, slot, out);
    avro_value_reset(root); /* drop the borrowed buffers */
    return rc;
}

static int set_double_at(avro_value_t *rec, int index, double x)
{
    avro_value_t v;

    if (avro_value_get_by_index(rec, (size_t)index, &v, NULL))
        return EINVAL;
    return avro_value_set_double(&v, x);
}

static int set_enum_at(avro_value_t *rec, int index, const struct enum_map *map,
                       int ours)
{
    avro_value_t v;

    if (avro_value_get_by_index(rec, (size_t)index, &v, NULL))
        return EINVAL;
    return avro_value_set_enum(&v, map->theirs[ours]);
}

/* A required string; NULL is written as "", like the dead letter's. */
static int give_cstring_at(avro_value_t *rec, int index, const char *s)
{
    if (!s)
        s = "";
    return give_string_at(rec, index, s, strlen(s));
}

static int set_nullable_string(avro_value_t *rec, const struct opt_field *of,
                               const char *s)
{
    avro_value_t v;
    int err = set_optional(rec, of, !s, &v);

    if (!err && s)
        err = give_string(&v, s, strlen(s));
    return err;
}

static int fill_reasons(const struct alert_proj *ap, avro_value_t *root,
                        const struct cp_alert *a)
{
    avro_value_t arr;
    int err;

    err = avro_value_get_by_index(root, (size_t)ap->f_reasons, &arr, NULL);
    for (size_t i = 0; !err && i < a->reason_cnt; i++) {
        const struct cp_alert_reason *r = &a->reasons[i];
        avro_value_t item;

        err = avro_value_append(&arr, &item, NULL);
        if (!err)
            err = give_cstring_at(&item, ap->r_factor, r->factor);
        if (!err)
            err = set_double_at(&item, ap->r_contribution, r->contribution);
        if (!err)
            err = give_cstring_at(&item, ap->r_detail, r->detail);
    }
    return err;
}

cp_rc cp_codec_encode_alert(struct cp_codec *codec, const struct cp_alert *a,
                            struct cp_buf *out)
{
    struct slot *slot = codec->alert_slot;
    const struct alert_proj *ap = slot->al;
    avro_value_t *root = &slot->value;
    int kind = (int)a->kind, level = (int)a->level;
    int err;
    cp_rc rc;

    if (kind < 0 || kind >= CP_ALERT_KIND_CNT || ap->kinds.theirs[kind] < 0 ||
        level < 0 || level >= CP_ALERT_LEVEL_CNT ||
        ap->levels.theirs[level] < 0 || (a->reason_cnt && !a->reasons))
        return CP_EDECODE;
    err = avro_value_reset(root);
    if (!err)
        err = give_cstring_at(root, ap->f_alert_id, a->alert_id);
    if (!err)
        err = set_enum_at(root, ap->f_kind, &ap->kinds, kind);
    if (!err)
        err = give_cstring_at(root, ap->f_tenant_id, a->tenant_id);
    if (!err)
        err = give_cstring_at(root, ap->f_customer_id, a->customer_id);
    if (!err)
        err = set_nullable_string(root, &ap->manager_id, a->manager_id);
    if (!err)
        err = set_enum_at(root, ap->f_level, &ap->levels, level);
    if (!err)
        err = set_double_at(root, ap->f_risk_score, a->risk_score);
    if (!err)
        err = set_double_at(root, ap->f_previous_score, a->previous_score);
    if (!err)
        err = fill_reasons(ap, root, a);
    if (!err)
        err = set_nullable_string(root, &ap->triggered_by, a->triggered_by);
    if (!err)
        err = set_long_at(root, ap->f_event_time, a->event_time);
    if (!err)
        err = set_long_at(root, ap->f_emitted_at, a->emitted_at);
    if (!err)
        err = give_cstring_at(root, ap->f_model_version, a->model_version);
    rc = err ? (err == ENOMEM ? CP_ENOMEM : CP_EDECODE)
             : write_framed(codec, slot, out);
    avro_value_reset(root); /* drop the borrowed buffers */
    return rc;
}
