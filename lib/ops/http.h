/* SPDX-License-Identifier: Apache-2.0 */
/* The worker's operations endpoint on libmicrohttpd: /metrics (Prometheus
 * text format from a struct cp_metrics), /healthz and /readyz, served by
 * libmicrohttpd's own polling thread beside the worker. GET and HEAD only;
 * connections, their lifetime and request memory are bounded. */
#ifndef CP_HTTP_H
#define CP_HTTP_H

#include <stddef.h>

#include "metrics.h"

/** Listen address when none is configured: loopback only. */
#define CP_HTTP_DEFAULT_LISTEN "127.0.0.1:9464"

struct cp_http;

/**
 * @brief Starts serving on @p listen.
 * @param listen "host:port" ("127.0.0.1:9464", "0.0.0.0:9464",
 *        "localhost:9464") or "[v6addr]:port" ("[::1]:9464"); port 0 picks a
 *        free port (see cp_http_port()). NULL means CP_HTTP_DEFAULT_LISTEN;
 *        "" turns the endpoint off: a no-op server is returned.
 * @param m the registry served; must outlive the server.
 * @returns the server, or NULL with a message in @p errstr naming the
 *          setting, e.g. "http.listen=127.0.0.1:9464: address in use (fix:
 *          choose another port or set http.listen= to turn it off)".
 * Ownership: caller owns the result; free with cp_http_stop(). @p m is
 * borrowed.
 */
struct cp_http *cp_http_start(const char *listen, struct cp_metrics *m,
                              char *errstr, size_t errstr_size);

/** @returns the bound TCP port, or 0 when the endpoint is off. */
int cp_http_port(const struct cp_http *http);

/** @brief Stops serving (waits for the polling thread) and frees @p http;
 * NULL is fine. */
void cp_http_stop(struct cp_http *http);

#endif
