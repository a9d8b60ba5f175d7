/* SPDX-License-Identifier: Apache-2.0 */
/* HSCAN of P:{T}:state:customers, one page per round trip. */
#include "export.h"

#include <stdlib.h>
#include <string.h>

#include "resp.h"
#include "state.h"
#include "store.h"
#include "keys.h"

#define SCAN_COUNT "1000"

struct page {
    const struct cp_churn_model *model;
    struct cp_state *state; /* decode scratch */
    FILE *out;
    int64_t as_of_ms;
    char cursor[32];
    struct cp_export_stats *stats;
    int io_failed;
};

/* RFC 4180: a field with quotes, commas or newlines is quoted, quotes
 * doubled. */
static void csv_field(FILE *out, const char *s, size_t len)
{
    if (!memchr(s, '"', len) && !memchr(s, ',', len) && !memchr(s, '\n', len) &&
        !memchr(s, '\r', len)) {
        fwrite(s, 1, len, out);
        return;
    }
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"')
            fputc('"', out);
        fputc(s[i], out);
    }
    fputc('"', out);
}

static void write_row(struct page *pg, const struct cp_reply *id,
                      const struct cp_reply *value)
{
    struct cp_customer cust;
    struct cp_churn_score score;
    char reasons[CP_CHURN_REASONS_JSON_MAX];

    if (id->type != CP_REPLY_STRING || value->type != CP_REPLY_STRING ||
        cp_state_customer_decode(pg->state, &cust, value->str, value->len)) {
        pg->stats->unreadable++;
        return;
    }
    cp_churn_evaluate(pg->model, &cust.churn, pg->as_of_ms, &score);
    cp_churn_reasons_json(&score, reasons, sizeof(reasons));
    csv_field(pg->out, id->str, id->len);
    fprintf(pg->out, ",%.6f,%s,", score.score,
            cp_churn_level_name(score.level));
    csv_field(pg->out, reasons, strlen(reasons));
    if (fputc('\n', pg->out) == EOF)
        pg->io_failed = 1;
    pg->stats->customers++;
}

/* Reply: [cursor, [field, value, field, value, ...]]. */
static cp_rc on_page(void *opaque, size_t i, const struct cp_reply *reply)
{
    struct page *pg = opaque;
    struct cp_reply cursor, items;

    (void)i;
    if (reply->type != CP_REPLY_ARRAY || reply->elements != 2)
        return CP_EREDIS;
    cp_reply_element(reply, 0, &cursor);
    cp_reply_element(reply, 1, &items);
    if (cursor.type != CP_REPLY_STRING || cursor.len >= sizeof(pg->cursor) ||
        items.type != CP_REPLY_ARRAY)
        return CP_EREDIS;
    memcpy(pg->cursor, cursor.str, cursor.len);
    pg->cursor[cursor.len] = '\0';
    for (size_t j = 0; j + 1 < items.elements; j += 2) {
        struct cp_reply id, value;

        cp_reply_element(&items, j, &id);
        cp_reply_element(&items, j + 1, &value);
        write_row(pg, &id, &value);
    }
    cp_state_clear(pg->state); /* manager copies of this page */
    return CP_OK;
}

cp_rc cp_export_scores(const char *redis_url, const char *cluster_nodes,
                       const char *prefix, const char *tenant, int64_t as_of_ms,
                       const struct cp_churn_model *model, FILE *out,
                       struct cp_export_stats *stats, char *errstr,
                       size_t errstr_size)
{
    struct page pg = {
        .model = model, .out = out, .as_of_ms = as_of_ms, .stats = stats};
    struct cp_store *store = NULL;
    struct cp_cmds cmds;
    char key[512];
    cp_rc rc = CP_OK;

    memset(stats, 0, sizeof(*stats));
    cp_cmds_init(&cmds);
    cp_key_tenant(key, sizeof(key), prefix, tenant, strlen(tenant),
                  CP_KSEG_STATE_CUSTOMERS);
    strcpy(pg.cursor, "0");
    pg.state = cp_state_new(prefix);
    if (!pg.state) {
        snprintf(errstr, errstr_size, "out of memory");
        rc = CP_ENOMEM;
        goto out;
    }
    store = cp_store_new_cluster(redis_url, cluster_nodes, errstr, errstr_size);
    if (!store) {
        rc = CP_EREDIS;
        goto out;
    }
    fprintf(out, "customer_id,score,level,reasons\n");
    do {
        cp_cmds_reset(&cmds);
        cp_cmd_begin(&cmds, 5);
        cp_cmd_str(&cmds, "HSCAN");
        cp_cmd_str(&cmds, key);
        cp_cmd_str(&cmds, pg.cursor);
        cp_cmd_str(&cmds, "COUNT");
        cp_cmd_str(&cmds, SCAN_COUNT);
        rc = cp_store_roundtrip(store, &cmds, on_page, &pg);
        if (rc) {
            snprintf(errstr, errstr_size, "reading %s: %s", key,
                     cp_store_errstr(store));
            goto out;
        }
    } while (strcmp(pg.cursor, "0") != 0);
    if (fflush(out) || pg.io_failed) {
        snprintf(errstr, errstr_size, "writing the CSV failed");
        rc = CP_EIO;
    }
out:
    cp_store_destroy(store);
    cp_state_destroy(pg.state);
    cp_cmds_cleanup(&cmds);
    return rc;
}
