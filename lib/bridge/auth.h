/* SPDX-License-Identifier: Apache-2.0 */
/* Webhook authentication as each CRM documents it: HubSpot's signature v3
 * (HMAC-SHA256 over method + URI + body + timestamp, base64), HTTP Basic
 * (Pipedrive) and plain shared tokens (Bitrix24's application_token,
 * amoCRM's secret path segment), all compared in constant time. */
#ifndef CP_AUTH_H
#define CP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** HubSpot rejects signatures older than this; so do we (and as far ahead,
 *  for clock skew). */
#define CP_AUTH_HUBSPOT_MAX_AGE_MS (5 * 60 * 1000)

/** @brief Whether @p a and @p b (NUL-terminated) are equal, in time that
 *         depends on their lengths only. NULL equals nothing. */
bool cp_auth_equal(const char *a, const char *b);

/**
 * @brief base64(HMAC-SHA256(@p key, @p msg)) into @p out (at least 45
 *        bytes), NUL-terminated.
 */
void cp_auth_hmac_sha256_b64(const char *key, const void *msg, size_t msg_len,
                             char out[45]);

/** @brief Lower-case hex SHA-256 of @p data into @p out (65 bytes). */
void cp_auth_sha256_hex(const void *data, size_t len, char out[65]);

/**
 * @brief Checks HubSpot's X-HubSpot-Signature-v3 for one request.
 * @param uri the full URI HubSpot called ("https://host/hooks/...?..."),
 *        as the tenant configured it in HubSpot.
 * @param timestamp the X-HubSpot-Request-Timestamp header (ms), or NULL.
 * @param signature the X-HubSpot-Signature-v3 header, or NULL.
 * @returns true when valid and not older than 5 minutes by @p now_ms;
 *          else false with why in @p reason ("stale timestamp", ...).
 */
bool cp_auth_hubspot_v3(const char *secret, const char *method, const char *uri,
                        const void *body, size_t body_len,
                        const char *timestamp, const char *signature,
                        int64_t now_ms, char *reason, size_t reason_size);

/**
 * @brief Checks an Authorization header of the Basic scheme against
 *        @p user and @p password.
 */
bool cp_auth_basic(const char *header, const char *user, const char *password);

#endif
