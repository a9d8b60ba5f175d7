/* SPDX-License-Identifier: Apache-2.0 */
/* Webhook authentication on OpenSSL's libcrypto (HMAC, base64, constant-
 * time compare); see auth.h. */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

bool cp_auth_equal(const char *a, const char *b)
{
    size_t la, lb;

    if (!a || !b)
        return false;
    la = strlen(a);
    lb = strlen(b);
    if (la != lb)
        return false;
    return CRYPTO_memcmp(a, b, la) == 0;
}

void cp_auth_hmac_sha256_b64(const char *key, const void *msg, size_t msg_len,
                             char out[45])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;

    if (!HMAC(EVP_sha256(), key, (int)strlen(key), msg, msg_len, mac,
              &mac_len)) {
        out[0] = '\0'; /* matches no signature */
        return;
    }
    EVP_EncodeBlock((unsigned char *)out, mac, (int)mac_len);
}

void cp_auth_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;

    out[0] = '\0';
    if (!EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL))
        return;
    for (unsigned i = 0; i < md_len && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Strict decimal milliseconds; @returns 0 or -1. */
static int parse_ms(const char *s, int64_t *out)
{
    int64_t v = 0;

    if (!s || !*s || strlen(s) > 15)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 0;
}

bool cp_auth_hubspot_v3(const char *secret, const char *method, const char *uri,
                        const void *body, size_t body_len,
                        const char *timestamp, const char *signature,
                        int64_t now_ms, char *reason, size_t reason_size)
{
    size_t ml = strlen(method), ul = strlen(uri), tl;
    char want[45];
    int64_t ts;
    char *msg;

    if (!signature || !timestamp) {
        snprintf(reason, reason_size,
                 "missing X-HubSpot-Signature-v3 or "
                 "X-HubSpot-Request-Timestamp");
        return false;
    }
    if (parse_ms(timestamp, &ts)) {
        snprintf(reason, reason_size,
                 "X-HubSpot-Request-Timestamp is not milliseconds");
        return false;
    }
    if (now_ms - ts > CP_AUTH_HUBSPOT_MAX_AGE_MS ||
        ts - now_ms > CP_AUTH_HUBSPOT_MAX_AGE_MS) {
        snprintf(reason, reason_size,
                 "stale timestamp: %lld ms from now (more than 5 minutes)",
                 (long long)(now_ms - ts));
        return false;
    }
    tl = strlen(timestamp);
    msg = malloc(ml + ul + body_len + tl + 1);
    if (!msg) {
        snprintf(reason, reason_size, "out of memory");
        return false;
    }
    memcpy(msg, method, ml);
    memcpy(msg + ml, uri, ul);
    if (body_len)
        memcpy(msg + ml + ul, body, body_len);
    memcpy(msg + ml + ul + body_len, timestamp, tl);
    cp_auth_hmac_sha256_b64(secret, msg, ml + ul + body_len + tl, want);
    free(msg);
    if (!want[0] || !cp_auth_equal(want, signature)) {
        snprintf(reason, reason_size, "wrong signature");
        return false;
    }
    return true;
}

bool cp_auth_basic(const char *header, const char *user, const char *password)
{
    unsigned char dec[512];
    char want[512];
    size_t hl;
    int n, pad = 0;

    if (!header || strncmp(header, "Basic ", 6) != 0)
        return false;
    header += 6;
    while (*header == ' ')
        header++;
    hl = strlen(header);
    if (hl == 0 || hl % 4 || hl / 4 * 3 >= sizeof(dec))
        return false;
    n = EVP_DecodeBlock(dec, (const unsigned char *)header, (int)hl);
    if (n < 0)
        return false;
    if (header[hl - 1] == '=')
        pad++;
    if (header[hl - 2] == '=')
        pad++;
    n -= pad; /* EVP_DecodeBlock counts the padding as zero bytes */
    dec[n] = '\0';
    if (memchr(dec, '\0', (size_t)n))
        return false;
    if (snprintf(want, sizeof(want), "%s:%s", user, password) >=
        (int)sizeof(want))
        return false;
    return cp_auth_equal((const char *)dec, want);
}
