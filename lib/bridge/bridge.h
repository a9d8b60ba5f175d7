/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-bridge: an HTTP server (libmicrohttpd) that takes the webhooks
 * of the tenants' CRMs at POST /hooks/<crm>/<tenant>, authenticates them
 * as each vendor documents, maps them to crm.v1.CrmEvent and answers 2xx
 * only once Kafka acknowledged every event of the request. Redelivered
 * webhooks are recognised by the CRM's event id in Redis; authentic but
 * unmappable payloads go to the dead-letter topic. Also /healthz, /readyz
 * and /metrics on the same port. */
#ifndef CP_BRIDGE_H
#define CP_BRIDGE_H

#include <signal.h>
#include <stddef.h>

#include "common.h"
#include "config.h"

struct cp_bridge;

/**
 * @brief Loads the tenants file (bridge.tenants), connects the producer
 *        (or starts the embedded cluster), the codec and the REST client,
 *        and starts listening on bridge.listen.
 * @returns the bridge, or NULL with a message naming the setting and fix.
 * Ownership: caller owns the result; free with cp_bridge_destroy().
 *            @p cfg is borrowed and must outlive the bridge.
 */
struct cp_bridge *cp_bridge_new(const struct cp_config *cfg, char *errstr,
                                size_t errstr_size);

/** @returns the bound port of the webhook listener. */
int cp_bridge_port(const struct cp_bridge *b);

/**
 * @brief Serves until *@p stop is set; then stops taking requests and
 *        waits for the ones in progress.
 * @returns CP_OK.
 */
cp_rc cp_bridge_run(struct cp_bridge *b, volatile sig_atomic_t *stop);

void cp_bridge_destroy(struct cp_bridge *b);

#endif
