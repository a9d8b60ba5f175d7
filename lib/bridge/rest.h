/* SPDX-License-Identifier: Apache-2.0 */
/* The vendors' REST APIs over libcurl, for payloads that carry only an id
 * (HubSpot, Bitrix24): GET <tenant rest.url><path> with the tenant's
 * Bearer token, a timeout per attempt, and backoff on the vendor's
 * rate-limit and server errors (429 honours Retry-After, capped). */
#ifndef CP_REST_H
#define CP_REST_H

#include <stddef.h>
#include <stdint.h>

#include "mapping.h"

/** Limits of the REST client. */
struct cp_rest_opts {
    int timeout_ms; /* per attempt, connect included */
    int attempts;   /* tries per fetch, >= 1 */
    int backoff_ms; /* first wait between tries; doubles, capped at 5 s */
};

/** Counters of the REST client (for /metrics). */
struct cp_rest_stats {
    uint64_t fetches;  /* fetches started */
    uint64_t retries;  /* attempts after a 429, a 5xx or a network error */
    uint64_t failures; /* fetches that gave up (the request got 503) */
};

struct cp_rest;

/**
 * @brief A REST client. One fetch at a time (the bridge's request thread
 *        calls it), so a tenant's burst never opens more than one
 *        connection to the vendor per bridge process.
 * Ownership: caller owns the result; free with cp_rest_destroy().
 */
struct cp_rest *cp_rest_new(const struct cp_rest_opts *opts, char *errstr,
                            size_t errstr_size);
void cp_rest_destroy(struct cp_rest *rest);

/** @brief The client as the mappers' fetcher (mapping.h).
 *  Ownership: @p f borrows @p rest. */
void cp_rest_fetcher(struct cp_rest *rest, struct cp_fetcher *f);

void cp_rest_stats(const struct cp_rest *rest, struct cp_rest_stats *out);

#endif
