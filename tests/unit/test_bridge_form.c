/* SPDX-License-Identifier: Apache-2.0 */
/* Form bodies (lib/bridge/form.h): the Bitrix24 and amoCRM webhook
 * encoding. */
#include <criterion/criterion.h>
#include <string.h>

#include "fixtures_bridge.h"
#include "form.h"

Test(bridge_form, decodes_brackets_plus_and_percent)
{
    struct cp_form f;
    char why[128];

    cr_assert_eq(cp_form_parse(FX_B24_DEAL_UPDATE, strlen(FX_B24_DEAL_UPDATE),
                               &f, why, sizeof(why)),
                 CP_OK, "%s", why);
    cr_assert_str_eq(cp_form_get(&f, "event"), "ONCRMDEALUPDATE");
    cr_assert_str_eq(cp_form_get(&f, "data[FIELDS][ID]"), "456");
    cr_assert_str_eq(cp_form_get(&f, "auth[client_endpoint]"),
                     "https://acme.bitrix24.com/rest/");
    cr_assert_str_eq(cp_form_getf(&f, "auth[%s]", "application_token"),
                     "b24-token");
    cr_assert_null(cp_form_get(&f, "nope"));
    cp_form_cleanup(&f);

    cr_assert_eq(cp_form_parse("a=x+y%21&&b&=v&c=", 17, &f, why, sizeof(why)),
                 CP_OK);
    cr_assert_eq(f.cnt, 4);
    cr_assert_str_eq(cp_form_get(&f, "a"), "x y!");
    cr_assert_str_eq(cp_form_get(&f, "b"), "");
    cr_assert_str_eq(cp_form_get(&f, ""), "v");
    cr_assert_str_eq(cp_form_get(&f, "c"), "");
    cp_form_cleanup(&f);
}

Test(bridge_form, bad_escapes_and_nul_are_rejected_with_the_byte)
{
    const char *bad[] = {"a=%", "a=%4", "a=%zz", "%GG=1", "a=%00"};
    struct cp_form f;
    char why[128];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(cp_form_parse(bad[i], strlen(bad[i]), &f, why,
                                   sizeof(why)),
                     CP_EDECODE, "%s", bad[i]);
        cr_assert(strstr(why, "byte"), "%s", why);
        cr_assert_null(f.pairs);
    }
    cr_assert_eq(cp_form_parse("a=b\0c", 5, &f, why, sizeof(why)),
                 CP_EDECODE);
}

Test(bridge_form, pair_count_is_bounded)
{
    size_t n = (CP_FORM_MAX_PAIRS + 1) * 2;
    char *body = malloc(n);
    struct cp_form f;
    char why[128];

    for (size_t i = 0; i < n; i += 2) {
        body[i] = 'a';
        body[i + 1] = '&';
    }
    cr_assert_eq(cp_form_parse(body, n, &f, why, sizeof(why)), CP_EDECODE);
    cr_assert(strstr(why, "more than"), "%s", why);
    cr_assert_eq(cp_form_parse(body, n - 2, &f, why, sizeof(why)), CP_OK);
    cr_assert_eq(f.cnt, CP_FORM_MAX_PAIRS);
    cp_form_cleanup(&f);
    free(body);
}

Test(bridge_form, empty_body)
{
    struct cp_form f;
    char why[64];

    cr_assert_eq(cp_form_parse("", 0, &f, why, sizeof(why)), CP_OK);
    cr_assert_eq(f.cnt, 0);
    cp_form_cleanup(&f);
}
