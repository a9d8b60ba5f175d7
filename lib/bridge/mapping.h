/* SPDX-License-Identifier: Apache-2.0 */
/* One webhook request of a tenant's CRM -> our events. Each CRM has its
 * own file (hubspot.c, bitrix24.c, amocrm.c, pipedrive.c) reading the
 * payload as the vendor documents it; the tenant's mapping (tenants.h)
 * turns stage ids into our stage names and won/lost. Payloads that carry
 * only an id are completed through the vendor's REST API via a fetcher the
 * caller supplies (rest.h in the server, a table in tests). */
#ifndef CP_MAPPING_H
#define CP_MAPPING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "common.h"
#include "event.h"
#include "tenants.h"

/** One mapped event, owning its strings (fixed buffers: no allocation per
 *  field). cp_bridge_ev_view() gives the codec's struct cp_event. */
struct cp_bridge_ev {
    char event_id[CP_ID_MAX + 1]; /* derived from the CRM's event id */
    char customer[CP_NAME_MAX + 1];
    char manager[CP_NAME_MAX + 1]; /* "": null */
    char entity[CP_ID_MAX + 1];    /* deal / ticket / call id */
    char label[CP_NAME_MAX + 1];   /* source or stage name */
    enum cp_payload_kind kind;
    int64_t occurred_at; /* the CRM's own time of the change, ms */
    int32_t stage_order;
    int64_t amount; /* minor units; CallLogged: duration_ms */
    bool won;
    bool inbound;
    bool answered;
};

/** @brief Fills @p ev with views of @p bev's strings (tenant @p tenant).
 *  Ownership: @p ev borrows from @p bev and @p tenant. */
void cp_bridge_ev_view(const struct cp_bridge_ev *bev, const char *tenant,
                       struct cp_event *ev);

#define CP_MAP_REASON_MAX 256
#define CP_MAP_MAX_EVENTS 1000 /* per request; more goes to a dead letter */

/** What one request maps to. Passive; cp_map_out_cleanup() frees it. */
struct cp_map_out {
    struct cp_bridge_ev *evs; /* owned */
    size_t cnt, cap;
    char (*dead)[CP_MAP_REASON_MAX]; /* owned: one reason per dead letter
                                        of the raw payload */
    size_t dead_cnt, dead_cap;
    size_t ignored; /* authentic changes we have no event for (e.g. a
                       contact's e-mail edited): counted, not dead */
    size_t skipped; /* events the fetcher's delivered() knew: not read
                       back, not mapped (duplicates) */
};

void cp_map_out_init(struct cp_map_out *out);
void cp_map_out_reset(struct cp_map_out *out);
void cp_map_out_cleanup(struct cp_map_out *out);
/** @brief Adds one dead letter with @p reason (copied, cut to
 *         CP_MAP_REASON_MAX - 1 bytes). @returns CP_OK or CP_ENOMEM. */
cp_rc cp_map_out_dead(struct cp_map_out *out, const char *reason);

/**
 * The vendor REST API, as the mappers see it: GET @p path (appended to the
 * tenant's rest.url) into @p body.
 * @returns CP_OK; CP_EDECODE when the record does not exist (404: a dead
 *          letter); CP_EIO when the vendor is unreachable or keeps
 *          answering 429/5xx (the request fails with 503 so the CRM
 *          retries); CP_ENOMEM.
 */
struct cp_fetcher {
    cp_rc (*get)(void *opaque, const struct cp_tenant *t, const char *path,
                 struct cp_buf *body, char *err, size_t err_size);
    /* Optional (NULL: never): whether the event @p event_id of @p t was
     * delivered already, asked before reading its record back, so a
     * redelivery costs no REST call. An error answers false. */
    bool (*delivered)(void *opaque, const struct cp_tenant *t,
                      const char *event_id);
    void *opaque;
};

/**
 * @brief Maps one authenticated request body of tenant @p t.
 * @param fetch the REST access; NULL or a tenant without rest.url: events
 *        that need a fetch become dead letters saying so.
 * @returns CP_OK with @p out filled (events, dead letters, ignored count;
 *          a body that does not parse is one dead letter); CP_EIO when a
 *          fetch failed for a reason worth a retry (@p out is then
 *          meaningless); CP_ENOMEM.
 * Ownership: @p body and @p fetch are borrowed for the call.
 */
cp_rc cp_map_request(const struct cp_tenant *t, const char *body, size_t len,
                     const struct cp_fetcher *fetch, struct cp_map_out *out);

#endif
