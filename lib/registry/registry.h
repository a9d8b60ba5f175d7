/* SPDX-License-Identifier: Apache-2.0 */
/* A client of a Confluent-compatible schema registry: the writer schema of
 * a schema id (fetched once, cached for the life of the process: ids are
 * immutable), and the id of a schema under a subject (registered or looked
 * up). The worker calls it before decoding a batch; the generator before
 * producing. Failures come in two kinds: a definite answer ("not found",
 * "not an Avro schema": bad input, dead-lettered) and the registry being
 * unusable (down, 5xx, timeout, garbage: the caller waits and retries). */
#ifndef CP_REGISTRY_H
#define CP_REGISTRY_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

/** Passive: how to reach the registry. Every string is borrowed only for
 *  cp_registry_new(). */
struct cp_registry_opts {
    const char *urls;      /* "http[s]://host:port[/path][,...]": failover */
    const char *user_info; /* "user:password" for Basic auth; NULL/"" none */
    const char *ca_file;   /* PEM CA file; NULL/"" = the system's CAs */
    bool verify;           /* verify the TLS peer and host name */
    int timeout_ms;        /* per request, connecting included */
};

/** Passive: counters for /metrics and tests. */
struct cp_registry_stats {
    uint64_t requests; /* HTTP requests sent (every URL tried counts) */
    uint64_t errors;   /* of those: no answer, 5xx, garbage */
    uint64_t cached;   /* schema ids held, found or definitely not found */
};

struct cp_registry;

/**
 * @brief Checks @p opts and prepares a client (no request yet).
 * @returns the client, or NULL with @p errstr naming the setting to fix.
 * Ownership: caller owns the result; free with cp_registry_destroy().
 * Thread: one client per thread.
 */
struct cp_registry *cp_registry_new(const struct cp_registry_opts *opts,
                                    char *errstr, size_t errstr_size);
void cp_registry_destroy(struct cp_registry *reg);

/** @brief A request in progress gives up soon after *@p stop turns
 *         non-zero (SIGTERM during a slow registry). Borrowed; NULL = none.
 */
void cp_registry_set_stop(struct cp_registry *reg, volatile sig_atomic_t *stop);

/**
 * @brief The schema JSON of @p id: from the cache, else GET
 *        /schemas/ids/{id} (each URL in turn until one answers).
 * @returns CP_OK with *@p json set; CP_EDECODE for a definite answer that
 *          the id has no usable schema (HTTP 404 / 40403, not AVRO, the
 *          schema too big), with the id in @p reason; CP_EIO when no
 *          registry gave an answer (down, timeout, 5xx, unparsable reply),
 *          the cause in @p reason; CP_ENOMEM.
 * Ownership: *@p json is owned by @p reg and lives as long as it.
 */
cp_rc cp_registry_schema(struct cp_registry *reg, uint32_t id,
                         const char **json, char *reason, size_t reason_size);

/**
 * @brief The id of @p schema_json under @p subject: registers it (POST
 *        /subjects/{subject}/versions) when @p auto_register, else looks
 *        it up (POST /subjects/{subject}).
 * @returns CP_OK with *@p id; CP_ECONFIG when the registry refuses
 *          (subject or schema not found with auto_register off, 42201
 *          invalid schema, 409 incompatible, 401/403), naming the fix;
 *          CP_EIO when no registry answered; CP_ENOMEM.
 */
cp_rc cp_registry_id_for(struct cp_registry *reg, const char *subject,
                         const char *schema_json, bool auto_register,
                         uint32_t *id, char *reason, size_t reason_size);

struct cp_config;
/**
 * @brief cp_registry_new() with the schema.registry.* settings of @p cfg
 *        (url, basic.auth.user.info, ssl.ca.location, ssl.verify,
 *        request.timeout.ms).
 * Ownership: as cp_registry_new(); @p cfg is read during the call only.
 */
struct cp_registry *cp_registry_from_config(const struct cp_config *cfg,
                                            char *errstr, size_t errstr_size);

/** @brief Copies the counters into @p st. */
void cp_registry_stats(const struct cp_registry *reg,
                       struct cp_registry_stats *st);

#endif
