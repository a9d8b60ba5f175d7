/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the churn model parser and the packed customer state.
 * First byte even: the rest is model text; parsed models must be usable
 * and survive a write/parse round trip. Odd: the rest is a packed state;
 * an accepted state must score finitely and pack back to the same bytes
 * (a version 1 state: to version 2 with the same fields).
 * Seeds: deploy/model.conf, and any packed state. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn.h"
#include "churn_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_score(const struct cp_churn_model *m,
                        const struct cp_churn_state *st, int64_t now)
{
    struct cp_churn_score sc;
    char json[CP_CHURN_REASONS_JSON_MAX];

    cp_churn_evaluate(m, st, now, &sc);
    if (!isfinite(sc.score) || sc.score < 0 || sc.score > 1)
        abort();
    if (cp_churn_reasons_json(&sc, json, sizeof(json)) >= sizeof(json))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];

    if (size < 1)
        return 0;
    if (!(data[0] & 1)) {
        struct cp_churn_model *m = cp_churn_model_parse(
            (const char *)data + 1, size - 1, "fuzz", err, sizeof(err));
        struct cp_churn_state st;

        if (!m)
            return 0;
        cp_churn_state_init(&st);
        cp_churn_observe(&st, m, CP_OBS_ORDER, 1767225600000LL, 100);
        cp_churn_observe(&st, m, CP_OBS_ORDER, 1768225600000LL, 100);
        check_score(m, &st, 1769225600000LL);
        {
            char *text = NULL;
            size_t len = 0;
            FILE *mem = open_memstream(&text, &len);
            struct cp_churn_model *back;

            if (!mem)
                abort();
            cp__churn_model_write(m, NULL, mem);
            fclose(mem);
            back =
                cp_churn_model_parse(text, len, "rewritten", err, sizeof(err));
            if (!back)
                abort(); /* what we write, we must read */
            cp_churn_model_destroy(back);
            free(text);
        }
        cp_churn_model_destroy(m);
    } else {
        struct cp_churn_state st;
        uint8_t again[CP_CHURN_PACKED_MAX];
        static struct cp_churn_model *m;

        if (!m)
            m = cp_churn_model_default();
        if (cp_churn_state_unpack(&st, data + 1, size - 1) != CP_OK)
            return 0;
        check_score(m, &st, 1769225600000LL);
        cp_churn_next_due(m, &st, 1769225600000LL);
        /* Packing writes the current version: a version 2 state packs
         * back to the same bytes; a version 1 state to version 2 with its
         * bytes unchanged and the new fields empty. */
        if (cp_churn_state_pack(&st, again, sizeof(again)) !=
            CP_CHURN_PACKED_MAX)
            abort();
        if (data[1] == 1) {
            if (size - 1 != CP_CHURN_PACKED_V1 || again[0] != 2 ||
                memcmp(again + 1, data + 2, CP_CHURN_PACKED_V1 - 1) ||
                st.last_start_ms != INT64_MIN || st.wait_since_ms != INT64_MIN)
                abort();
        } else if (size - 1 != CP_CHURN_PACKED_MAX ||
                   memcmp(again, data + 1, size - 1)) {
            abort();
        }
    }
    return 0;
}
