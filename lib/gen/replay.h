/* SPDX-License-Identifier: Apache-2.0 */
/* A JSON-lines history as crm.v1.CrmEvent, for crmpulse-gen --replay: users
 * backfill their own history through Kafka like any other producer. One
 * object per line:
 *   {"event_id": "...", "tenant_id": "...", "customer_id": "...",
 *    "occurred_at": <epoch ms>, "manager_id": "..." | null (optional),
 *    "channel": "PHONE" | "phone" | ... | null (optional),
 *    "payload": {"type": "<record name, e.g. OrderPlaced>", <its fields>}}
 * with the payload fields of schemas/crm_event.avsc under their Avro names
 * (order_id, amount_minor, kind "NPS", action "CANCELLED", ...). Other
 * members are ignored. Each event is then checked against the input
 * contract (cp_event_validate). */
#ifndef CP_REPLAY_H
#define CP_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "event.h"

struct cp_replay;

/** Ownership: caller owns the result (NULL: out of memory); free with
 *  cp_replay_destroy(). */
struct cp_replay *cp_replay_new(void);
/** @brief Frees @p rp; NULL is a no-op. */
void cp_replay_destroy(struct cp_replay *rp);

/**
 * @brief Parses one line (without its newline) into @p ev and checks it
 *        against the input contract as of @p now_ms.
 * @returns CP_OK; CP_EDECODE with a one-line reason naming the member,
 *          e.g. "payload.amount_minor: expected an integer"; CP_ENOMEM.
 * Ownership: the strings of @p ev are borrowed from @p rp, valid until the
 *            next cp_replay_parse() or cp_replay_destroy().
 */
cp_rc cp_replay_parse(struct cp_replay *rp, const char *line, size_t len,
                      int64_t now_ms, struct cp_event *ev, char *reason,
                      size_t reason_size);

#endif
