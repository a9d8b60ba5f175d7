/* SPDX-License-Identifier: Apache-2.0 */
/* The validation walk (see walk.h). */
#include "walk.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define WALK_MAX_DEPTH 32 /* nesting of records/unions/arrays in a schema */

/* ---- the program ---- */

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

struct cp_walk {
    struct wprog prog; /* root is node 0 */
};

/* ---- schema compilation ---- */

avro_schema_t cp__resolve_link(avro_schema_t schema)
{
    /* Links only point at named types defined earlier; a chain of links
     * cannot loop, but stay bounded anyway. */
    for (int i = 0; i < 16 && is_avro_link(schema); i++)
        schema = avro_schema_link_target(schema);
    return schema;
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

    while (prog->edge_cap < first + cnt) {
        struct wedge *edges = cp_grow(prog->edges, &prog->edge_cap,
                                      prog->edge_cap, sizeof(*edges), 16);

        if (!edges)
            return -1;
        prog->edges = edges;
    }
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
    struct wnode *nodes;
    size_t idx;
    long first;

    schema = cp__resolve_link(schema);
    if (!schema || depth > 64) {
        snprintf(errstr, errstr_size, "schema nested too deeply");
        return -1;
    }
    if (is_avro_named_type(schema)) {
        for (size_t i = 0; i < prog->named_cnt; i++)
            if (prog->named[i] == schema)
                return prog->named_node[i];
    }
    nodes = cp_grow(prog->nodes, &prog->node_cap, prog->node_cnt,
                    sizeof(*nodes), 16);
    if (!nodes)
        goto nomem;
    prog->nodes = nodes;
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

cp_rc cp__walk_value(const struct cp_walk *walk, const uint8_t *base,
                     const uint8_t *body, size_t len, char *reason,
                     size_t reason_size)
{
    struct walker w = {
        .base = base,
        .p = body,
        .end = body + len,
        .prog = &walk->prog,
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

struct cp_walk *cp__walk_compile(avro_schema_t schema, char *errstr,
                                 size_t errstr_size)
{
    struct cp_walk *walk = calloc(1, sizeof(*walk));

    if (!walk) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (prog_compile(&walk->prog, schema, 0, errstr, errstr_size) != 0) {
        cp__walk_free(walk);
        return NULL;
    }
    return walk;
}

void cp__walk_free(struct cp_walk *walk)
{
    if (!walk)
        return;
    prog_free(&walk->prog);
    free(walk);
}
