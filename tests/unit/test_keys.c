/* SPDX-License-Identifier: Apache-2.0 */
/* keys.c spells every key as schemas/redis-keys.md does. */
#include <criterion/criterion.h>
#include <string.h>

#include "buf.h"
#include "keys.h"

Test(keys, tenant_keys_keep_the_tenant_in_braces)
{
    char key[128];

    cr_assert_eq(cp_key_tenant(key, sizeof(key), "crm", "acme", 4,
                               CP_KSEG_ALERTS_RECENT),
                 (int)strlen("crm:{acme}:alerts:recent"));
    cr_assert_str_eq(key, "crm:{acme}:alerts:recent");
    cp_key_tenant(key, sizeof(key), "crm", "acme-and-more", 4, CP_KSEG_RISK);
    cr_assert_str_eq(key, "crm:{acme}:risk", "only tenant_len bytes count");
    cp_key_tenant(key, sizeof(key), "p", "t", 1, CP_KSEG_STATE_CUSTOMERS);
    cr_assert_str_eq(key, "p:{t}:state:customers");
    cp_key_tenant(key, sizeof(key), "p", "t", 1, CP_KSEG_LIVE_CHANNEL);
    cr_assert_str_eq(key, "p:{t}:live");
}

Test(keys, a_key_that_does_not_fit_is_refused)
{
    char key[12];

    cr_assert_eq(cp_key_tenant(key, sizeof(key), "crm", "acme", 4,
                               CP_KSEG_ALERTS_RECENT),
                 -1);
    cr_assert_eq(cp_key_offsets(key, sizeof(key), "a-long-group"), -1);
}

Test(keys, head_and_buffer_forms_agree)
{
    char head[64];
    struct cp_buf b;
    size_t n = cp_key_tenant_head(head, "crm", 3, "t1", 2);

    cr_assert_eq(n, 9);
    cr_assert_eq(memcmp(head, "crm:{t1}:", n), 0);
    cp_buf_init(&b, 0);
    cr_assert_eq(cp_key_tenant_buf(&b, "crm", "t1", 2, CP_KSEG_CUSTOMER, "c9"),
                 0);
    cr_assert_str_eq(b.data, "crm:{t1}:customer:c9");
    cp_buf_cleanup(&b);
}

Test(keys, group_keys)
{
    char key[128];

    cp_key_offsets(key, sizeof(key), "g");
    cr_assert_str_eq(key, "crmpulse:offsets:g");
    cp_key_fence(key, sizeof(key), "g", "crm.events", 7);
    cr_assert_str_eq(key, "crmpulse:fence:g:crm.events:7");
    cp_key_watermarks(key, sizeof(key), "g");
    cr_assert_str_eq(key, "crmpulse:watermarks:g");
    cp_key_timers_prefix(key, sizeof(key), "g", "crm.events");
    cr_assert_str_eq(key, "crmpulse:timers:g:crm.events:");
}
