/* SPDX-License-Identifier: Apache-2.0 */
/* Webhook authentication (lib/bridge/auth.h): HubSpot signature v3, HTTP
 * Basic, constant-time compare. Expected values computed independently
 * (RFC 4231 case 2; Python's hmac for the HubSpot request). */
#include <criterion/criterion.h>
#include <string.h>

#include "auth.h"

#define HS_URI  "https://hooks.example.com/hooks/hubspot/hs"
#define HS_BODY "[{\"eventId\":1}]"
#define HS_TS   "1700000000000"
#define HS_SIG  "g8VIt2C6a9clrAvYwsPIujaGbTMbY2p7A5pkf91IrAU="

Test(bridge_auth, hmac_sha256_base64_matches_rfc4231)
{
    const char *msg = "what do ya want for nothing?";
    char out[45];

    cp_auth_hmac_sha256_b64("Jefe", msg, strlen(msg), out);
    cr_assert_str_eq(out, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
}

Test(bridge_auth, hubspot_v3_accepts_a_fresh_valid_signature)
{
    char why[128] = "";

    cr_assert(cp_auth_hubspot_v3("hs-secret", "POST", HS_URI, HS_BODY,
                                 strlen(HS_BODY), HS_TS, HS_SIG,
                                 1700000000000LL + 299000, why, sizeof(why)),
              "%s", why);
}

Test(bridge_auth, hubspot_v3_rejects_stale_wrong_and_missing)
{
    char why[128];
    const size_t len = strlen(HS_BODY);

    cr_assert(!cp_auth_hubspot_v3("hs-secret", "POST", HS_URI, HS_BODY, len,
                                  HS_TS, HS_SIG, 1700000000000LL + 301000,
                                  why, sizeof(why)));
    cr_assert(strstr(why, "stale"), "%s", why);
    cr_assert(!cp_auth_hubspot_v3("other", "POST", HS_URI, HS_BODY, len,
                                  HS_TS, HS_SIG, 1700000000000LL, why,
                                  sizeof(why)));
    cr_assert(strstr(why, "wrong signature"), "%s", why);
    /* One byte of the body changed. */
    cr_assert(!cp_auth_hubspot_v3("hs-secret", "POST", HS_URI,
                                  "[{\"eventId\":2}]", len, HS_TS, HS_SIG,
                                  1700000000000LL, why, sizeof(why)));
    /* The URI is signed too. */
    cr_assert(!cp_auth_hubspot_v3("hs-secret", "POST", HS_URI "x", HS_BODY,
                                  len, HS_TS, HS_SIG, 1700000000000LL, why,
                                  sizeof(why)));
    cr_assert(!cp_auth_hubspot_v3("hs-secret", "POST", HS_URI, HS_BODY, len,
                                  NULL, HS_SIG, 1700000000000LL, why,
                                  sizeof(why)));
    cr_assert(!cp_auth_hubspot_v3("hs-secret", "POST", HS_URI, HS_BODY, len,
                                  "17e11", HS_SIG, 1700000000000LL, why,
                                  sizeof(why)));
    cr_assert(!cp_auth_hubspot_v3("hs-secret", "POST", HS_URI, HS_BODY, len,
                                  HS_TS, "", 1700000000000LL, why,
                                  sizeof(why)));
}

Test(bridge_auth, basic_auth)
{
    cr_assert(cp_auth_basic("Basic aG9vazpwZC1wYXNz", "hook", "pd-pass"));
    cr_assert(!cp_auth_basic("Basic aG9vazpwZC1wYXNz", "hook", "pd-pasS"));
    cr_assert(!cp_auth_basic("Basic aG9vazpwZC1wYXNz", "hoo", "kpd-pass"));
    cr_assert(!cp_auth_basic("Bearer aG9vazpwZC1wYXNz", "hook", "pd-pass"));
    cr_assert(!cp_auth_basic(NULL, "hook", "pd-pass"));
    cr_assert(!cp_auth_basic("Basic ", "hook", "pd-pass"));
    cr_assert(!cp_auth_basic("Basic !!!!", "hook", "pd-pass"));
    cr_assert(!cp_auth_basic("Basic aG9vaw==", "hook", ""));
    cr_assert(cp_auth_basic("Basic aG9vazo=", "hook", ""));
}

Test(bridge_auth, equal_is_exact)
{
    cr_assert(cp_auth_equal("abc", "abc"));
    cr_assert(!cp_auth_equal("abc", "abd"));
    cr_assert(!cp_auth_equal("abc", "abcd"));
    cr_assert(!cp_auth_equal(NULL, "abc"));
    cr_assert(!cp_auth_equal("", NULL));
}

Test(bridge_auth, sha256_hex)
{
    char out[65];

    cp_auth_sha256_hex("abc", 3, out);
    cr_assert_str_eq(out, "ba7816bf8f01cfea414140de5dae2223"
                          "b00361a396177a9cb410ff61f20015ad");
}
