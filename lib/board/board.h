/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-board's server: serves the embedded wallboard page, the JSON API
 * (board_api.h) and a Server-Sent-Events stream relaying the `live` and
 * `alerts` pub/sub channels, over libmicrohttpd with a thread per
 * connection. Read-only: it never writes Redis and needs no Kafka. */
#ifndef CP_BOARD_H
#define CP_BOARD_H

#include <signal.h>
#include <stddef.h>

#include "common.h"
#include "config.h"

/** Bounds of the server; cp_board_limits_default() fills sane values. */
struct cp_board_limits {
    int max_connections;    /* HTTP connections at once; more are refused */
    int max_sse;            /* SSE streams at once; more get 503 */
    size_t sse_queue_bytes; /* per SSE stream; a full queue drops it */
    int cache_ms;           /* how long an API answer is reused */
    int heartbeat_ms;       /* an SSE comment after this long idle */
    int timeout_s;          /* an idle HTTP connection is closed after */
};

/** @brief 1024 connections, 256 SSE streams of 64 KB, 1 s cache, 15 s
 *         heartbeat, 60 s idle timeout. */
void cp_board_limits_default(struct cp_board_limits *lim);

struct cp_board;

/**
 * @brief Binds `board.listen` (host:port, [v6]:port; port 0 = any free
 *        one) and starts serving; Redis is connected in the background,
 *        so the board starts (and says so) while Redis is down.
 * @param lim  NULL = cp_board_limits_default()
 * @returns the running board, or NULL with errstr (bad address, port in
 *          use, bad redis.url).
 * Ownership: borrows @p cfg for the board's lifetime; caller frees the
 *            board with cp_board_destroy().
 * The process must ignore SIGPIPE (a browser or Redis may close a socket
 * under a write).
 */
struct cp_board *cp_board_new(const struct cp_config *cfg,
                              const struct cp_board_limits *lim, char *errstr,
                              size_t errstr_size);

/** @brief The TCP port actually bound (useful with port 0). */
int cp_board_port(const struct cp_board *b);

/**
 * @brief Serves until *stop becomes non-zero, logging a status line every
 *        minute. The server runs on its own threads; this only waits.
 * @returns CP_OK.
 */
cp_rc cp_board_run(struct cp_board *b, volatile sig_atomic_t *stop);

/** @brief Ends SSE streams, stops HTTP and the subscription, frees the
 *         board. Accepts NULL. */
void cp_board_destroy(struct cp_board *b);

#endif
