/* SPDX-License-Identifier: Apache-2.0 */
/* amoCRM / Kommo: form-encoded webhooks listing changed records by entity
 * and action, "leads[add][0][id]", "leads[status][0][status_id]", with the
 * account in "account[id]" / "account[subdomain]". A lead is a deal here:
 * added -> LeadCreated, a status change -> StageChanged or, for the won /
 * lost statuses (142 / 143 unless mapped otherwise), DealClosed with the
 * lead's price. The payload names no contact or company of the lead, so
 * the lead stands for the customer unless the tenant says otherwise. */
#include "mapping_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"

/* One lead of leads[<action>][i]; @returns CP_OK or CP_ENOMEM. */
static cp_rc map_lead(const struct cp_tenant *t, const struct cp_form *f,
                      const char *action, size_t i, struct cp_map_out *out)
{
    const char *id = cp_form_getf(f, "leads[%s][%zu][id]", action, i);
    const char *status =
        cp_form_getf(f, "leads[%s][%zu][status_id]", action, i);
    const char *price = cp_form_getf(f, "leads[%s][%zu][price]", action, i);
    const char *owner =
        cp_form_getf(f, "leads[%s][%zu][responsible_user_id]", action, i);
    const char *modified =
        cp_form_getf(f, "leads[%s][%zu][last_modified]", action, i);
    const char *created =
        cp_form_getf(f, "leads[%s][%zu][created_at]", action, i);
    const char *when = !strcmp(action, "add") && created ? created : modified;
    const struct cp_stage_map *stage = NULL;
    struct cp_bridge_ev *ev;
    int64_t at;

    if (!when)
        when = cp_form_getf(f, "leads[%s][%zu][date_create]", action, i);
    if (!cp__map_id_ok(id, 32) || !when || cp__map_amount(when, 1000, &at))
        return cp__map_dead(out,
                            "amocrm leads[%s][%zu]: id and last_modified "
                            "(unix seconds) are required",
                            action, i);
    if (!strcmp(action, "status")) {
        if (!status)
            return cp__map_dead(out,
                                "amocrm leads[status][%zu]: status_id "
                                "missing",
                                i);
        if (!cp_tenant_is_won(t, status) && !cp_tenant_is_lost(t, status)) {
            stage = cp_tenant_stage(t, status);
            if (!stage)
                return cp__map_dead(
                    out,
                    "amocrm lead %s: status %s is not in the mapping of "
                    "tenant %s (fix: add stage.%s = <name>)",
                    id, status, t->name, status);
        }
    }
    ev = cp__map_add(out);
    if (!ev)
        return CP_ENOMEM;
    ev->occurred_at = at;
    /* A status change is told once per (lead, status, time): a resend of
     * the same hook has the same id, a later move back and forth not. */
    cp__map_setf(ev->event_id, sizeof(ev->event_id), "amocrm-%s-%s-%s-%s-%s",
                 t->account, action, id, status ? status : "-", when);
    strcpy(ev->entity, id);
    if (cp__map_id_ok(owner, CP_NAME_MAX))
        strcpy(ev->manager, owner);
    if (!cp__map_customer(t, ev, NULL, NULL, id)) {
        cp__map_drop(out);
        return cp__map_dead(out,
                            "amocrm lead %s: the webhook names no company "
                            "or contact (fix: customer = deal for "
                            "tenant %s)",
                            id, t->name);
    }
    if (!strcmp(action, "add")) {
        ev->kind = CP_LEAD_CREATED;
        strcpy(ev->label, t->source);
        return CP_OK;
    }
    if (stage) {
        ev->kind = CP_STAGE_CHANGED;
        strcpy(ev->label, stage->name);
        ev->stage_order = stage->order;
        return CP_OK;
    }
    ev->kind = CP_DEAL_CLOSED;
    ev->won = cp_tenant_is_won(t, status);
    if (price && *price &&
        cp__map_amount(price, t->amount_scale, &ev->amount)) {
        cp__map_drop(out);
        return cp__map_dead(out,
                            "amocrm lead %s: price \"%s\" is not a "
                            "non-negative decimal",
                            id, price);
    }
    return CP_OK;
}

cp_rc cp__map_amocrm(const struct cp_tenant *t, const char *body, size_t len,
                     struct cp_map_out *out)
{
    static const char *const actions[] = {"add", "status"};
    char why[CP_MAP_REASON_MAX];
    struct cp_form form;
    size_t mapped = 0;
    cp_rc rc;

    rc = cp_form_parse(body, len, &form, why, sizeof(why));
    if (rc == CP_EDECODE)
        return cp__map_dead(out, "amocrm: %s", why);
    if (rc)
        return rc;
    for (size_t a = 0; a < CP_ARRAY_SIZE(actions) && !rc; a++) {
        for (size_t i = 0; !rc; i++) {
            if (!cp_form_getf(&form, "leads[%s][%zu][id]", actions[a], i))
                break;
            rc = map_lead(t, &form, actions[a], i, out);
            mapped++;
        }
    }
    /* Everything else (contacts, companies, notes, tasks, other lead
     * actions) is authentic but has no event of ours. */
    if (!rc && !mapped)
        out->ignored++;
    cp_form_cleanup(&form);
    return rc;
}
