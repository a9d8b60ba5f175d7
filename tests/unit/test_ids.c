/* SPDX-License-Identifier: Apache-2.0 */
/* The contract's name rules (ids.h), shared by the codec, the board and
 * what reads names back from Redis. */
#include <criterion/criterion.h>
#include <string.h>

#include "ids.h"

Test(ids, tenant_customer_manager_ids)
{
    char long_id[66];

    cr_assert(cp_id_valid("acme-1.eu_2", 11));
    cr_assert(!cp_id_valid("", 0));
    cr_assert(!cp_id_valid("a b", 3));
    cr_assert(!cp_id_valid("ev}il{", 6), "hash-tag braces");
    cr_assert(!cp_id_valid("c\tx", 3));
    cr_assert(!cp_id_valid("\xc3\xa9", 2), "ASCII only");
    memset(long_id, 'a', sizeof(long_id));
    cr_assert(cp_id_valid(long_id, 64));
    cr_assert(!cp_id_valid(long_id, 65));
}

Test(ids, stage_names_have_no_dot)
{
    cr_assert_eq(cp_name_bad_byte("won_2-b", 7, false), 7);
    cr_assert_eq(cp_name_bad_byte("a.b", 3, false), 1);
    cr_assert_eq(cp_name_bad_byte("a.b", 3, true), 3);
}

Test(ids, channel_names_of_the_key_contract)
{
    cr_assert_str_eq(cp_key_channel_name(0), "phone");
    cr_assert_str_eq(cp_key_channel_name(6), "in_person");
    cr_assert_null(cp_key_channel_name(7));
    cr_assert_null(cp_key_channel_name(-1));
}
