/* SPDX-License-Identifier: Apache-2.0 */
/* What the per-CRM mappers (hubspot.c, bitrix24.c, amocrm.c, pipedrive.c)
 * share with mapping.c; not for use outside lib/bridge. */
#ifndef CP_MAPPING_INT_H
#define CP_MAPPING_INT_H

#include <stdarg.h>

#include "mapping.h"

/** @brief A new zeroed event at the end of @p out; NULL on ENOMEM or past
 *         CP_MAP_MAX_EVENTS (then a dead letter says so). */
struct cp_bridge_ev *cp__map_add(struct cp_map_out *out);
/** @brief Drops the last event added (it turned out dead). */
void cp__map_drop(struct cp_map_out *out);
/** @brief Adds a dead letter reason (printf); CP_ENOMEM or CP_OK. */
cp_rc cp__map_dead(struct cp_map_out *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/** @brief Copies printf output into @p dst of @p size; false when it does
 *         not fit or is empty. */
bool cp__map_setf(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/**
 * @brief Parses a decimal amount ("1500", "1500.5", "-0", "1e3" is not)
 *        in major units into minor units at @p scale (10^k), exactly;
 *        digits past the scale must be zeros.
 * @returns 0, or -1 when not such a number, negative or out of range.
 */
int cp__map_amount(const char *s, int64_t scale, int64_t *out);
/**
 * @brief Sets @p ev->customer from the ids the CRM gave, in the tenant's
 *        preference: company "co-<id>", contact "ct-<id>", deal
 *        "deal-<id>". Empty/NULL/"0" ids are absent.
 * @returns true, or false when none of the preferred ones is present.
 */
bool cp__map_customer(const struct cp_tenant *t, struct cp_bridge_ev *ev,
                      const char *company, const char *contact,
                      const char *deal);
/** @brief Valid id text for our contract (1..max of [A-Za-z0-9._-]). */
bool cp__map_id_ok(const char *s, size_t max);

cp_rc cp__map_hubspot(const struct cp_tenant *t, const char *body, size_t len,
                      const struct cp_fetcher *fetch, struct cp_map_out *out);
cp_rc cp__map_bitrix24(const struct cp_tenant *t, const char *body, size_t len,
                       const struct cp_fetcher *fetch, struct cp_map_out *out);
cp_rc cp__map_amocrm(const struct cp_tenant *t, const char *body, size_t len,
                     struct cp_map_out *out);
cp_rc cp__map_pipedrive(const struct cp_tenant *t, const char *body, size_t len,
                        struct cp_map_out *out);

#endif
