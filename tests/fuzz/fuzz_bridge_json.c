/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the JSON webhooks: any bytes as a HubSpot body (an
 * array of events, with a fetcher whose answer is the input too, so the
 * REST reader is fuzzed as well) and as a Pipedrive v2 body. The result
 * is events, dead letters with a reason, or an ignored count: never a
 * crash or a leak. Seeds: tests/fuzz/corpus/fuzz_bridge_json. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping.h"
#include "tenants.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char tenants_text[] =
    "[tenant hs]\ncrm = hubspot\nsecret = s\nrest.url = http://x\n"
    "stage.appointmentscheduled = qualified\nticket.closed = 4\n"
    "[tenant pd]\ncrm = pipedrive\nuser = u\npassword = p\n"
    "stage.1 = qualified\nstage.2 = proposal\n";

static struct cp_tenants *ts;
static const uint8_t *cur;
static size_t cur_size;

static cp_rc fake_get(void *opaque, const struct cp_tenant *t,
                      const char *path, struct cp_buf *body, char *err,
                      size_t err_size)
{
    (void)opaque;
    (void)t;
    (void)path;
    if (cur_size && cur[0] == '!') {
        snprintf(err, err_size, "not found");
        return CP_EDECODE;
    }
    return cp_buf_append(body, cur, cur_size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct cp_fetcher fetch = {.get = fake_get};
    struct cp_map_out out;
    char why[256];

    if (!ts) {
        ts = cp_tenants_parse(tenants_text, sizeof(tenants_text) - 1, "fuzz",
                              why, sizeof(why));
        if (!ts)
            abort();
    }
    cur = data;
    cur_size = size;
    cp_map_out_init(&out);
    for (size_t i = 0; i < cp_tenants_count(ts); i++) {
        cp_rc rc = cp_map_request(cp_tenants_get(ts, i), (const char *)data,
                                  size, &fetch, &out);

        if (rc != CP_OK && rc != CP_ENOMEM)
            abort();
        for (size_t k = 0; rc == CP_OK && k < out.dead_cnt; k++)
            if (!out.dead[k][0])
                abort();
    }
    cp_map_out_cleanup(&out);
    return 0;
}
