/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the form-encoded webhooks: any bytes through the
 * form parser (every pair must be NUL-free and findable by its key), then
 * through the Bitrix24 and amoCRM mappers with the sample tenants and a
 * fetcher that answers a fixed deal. Whatever the bytes, the result is
 * events that pass the input contract, dead letters with a reason, or an
 * ignored count: never a crash or a leak. Seeds:
 * tests/fuzz/corpus/fuzz_bridge_form. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "mapping.h"
#include "tenants.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char tenants_text[] =
    "[tenant b24]\ncrm = bitrix24\nsecret = t\nrest.url = http://x\n"
    "stage.NEW = new\nstage.PREPARATION = proposal\n"
    "[tenant amo]\ncrm = amocrm\naccount = 1\nsecret = s\ncustomer = deal\n"
    "stage.142001 = qualified\n";

static struct cp_tenants *ts;

static cp_rc fake_get(void *opaque, const struct cp_tenant *t,
                      const char *path, struct cp_buf *body, char *err,
                      size_t err_size)
{
    static const char deal[] =
        "{\"result\":{\"ID\":\"1\",\"STAGE_ID\":\"C1:WON\",\"COMPANY_ID\":"
        "\"3\",\"OPPORTUNITY\":\"10.50\",\"ASSIGNED_BY_ID\":\"2\"}}";

    (void)opaque;
    (void)t;
    (void)path;
    (void)err;
    (void)err_size;
    return cp_buf_append(body, deal, sizeof(deal) - 1);
}

static void check(const struct cp_tenant *t, const struct cp_map_out *out)
{
    for (size_t i = 0; i < out->cnt; i++) {
        struct cp_event ev;
        char reason[256];

        cp_bridge_ev_view(&out->evs[i], t->name, &ev);
        /* Mapped events may still break the contract (times, ids): the
         * server turns those into dead letters; the check must not crash
         * and must give a reason. */
        if (cp_event_validate(&ev, 4102444800000LL, reason, sizeof(reason)) &&
            !reason[0])
            abort();
    }
    for (size_t i = 0; i < out->dead_cnt; i++)
        if (!out->dead[i][0])
            abort(); /* every dead letter says why */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct cp_fetcher fetch = {.get = fake_get};
    struct cp_map_out out;
    struct cp_form form;
    char why[256];

    if (!ts) {
        ts = cp_tenants_parse(tenants_text, sizeof(tenants_text) - 1, "fuzz",
                              why, sizeof(why));
        if (!ts)
            abort();
    }
    if (cp_form_parse((const char *)data, size, &form, why, sizeof(why)) ==
        CP_OK) {
        for (size_t i = 0; i < form.cnt; i++)
            if (!cp_form_get(&form, form.pairs[i].key))
                abort();
        cp_form_cleanup(&form);
    } else if (!why[0]) {
        abort();
    }
    cp_map_out_init(&out);
    for (size_t i = 0; i < cp_tenants_count(ts); i++) {
        const struct cp_tenant *t = cp_tenants_get(ts, i);
        cp_rc rc = cp_map_request(t, (const char *)data, size, &fetch, &out);

        if (rc != CP_OK && rc != CP_ENOMEM)
            abort();
        if (rc == CP_OK)
            check(t, &out);
    }
    cp_map_out_cleanup(&out);
    return 0;
}
