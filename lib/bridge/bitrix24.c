/* SPDX-License-Identifier: Apache-2.0 */
/* Bitrix24: form-encoded outbound events (event=ONCRMDEALADD,
 * data[FIELDS][ID], ts, auth[...]) that name the record by id only; the
 * deal is read back with crm.deal.get for its stage, company, contact,
 * amount and responsible user. Stage ids may carry a pipeline prefix
 * ("C1:WON"); won/lost lists and stage.* keys match with or without it. */
#include "mapping_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "form.h"

struct b24_deal {
    char stage[64], company[32], contact[32], owner[32], amount[32];
    char source[64];
};

static void copy_field(char *dst, size_t size, json_t *v)
{
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;

    dst[0] = '\0';
    if (json_is_integer(v))
        snprintf(dst, size, "%lld", (long long)json_integer_value(v));
    else if (s && strlen(s) < size)
        strcpy(dst, s);
}

static cp_rc fetch_deal(const struct cp_tenant *t,
                        const struct cp_fetcher *fetch, const char *id,
                        struct b24_deal *d, char *why, size_t why_size)
{
    struct cp_buf body;
    char path[128];
    json_t *root, *res;
    cp_rc rc;

    memset(d, 0, sizeof(*d));
    snprintf(path, sizeof(path), "/crm.deal.get.json?id=%s", id);
    cp_buf_init(&body, 1u << 20);
    rc = fetch->get(fetch->opaque, t, path, &body, why, why_size);
    if (rc) {
        cp_buf_cleanup(&body);
        return rc;
    }
    root = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
    cp_buf_cleanup(&body);
    res = json_object_get(root, "result");
    if (!json_is_object(res)) {
        json_decref(root);
        snprintf(why, why_size, "crm.deal.get %s: no \"result\" object", id);
        return CP_EDECODE;
    }
    copy_field(d->stage, sizeof(d->stage), json_object_get(res, "STAGE_ID"));
    copy_field(d->company, sizeof(d->company),
               json_object_get(res, "COMPANY_ID"));
    copy_field(d->contact, sizeof(d->contact),
               json_object_get(res, "CONTACT_ID"));
    copy_field(d->owner, sizeof(d->owner),
               json_object_get(res, "ASSIGNED_BY_ID"));
    copy_field(d->amount, sizeof(d->amount),
               json_object_get(res, "OPPORTUNITY"));
    copy_field(d->source, sizeof(d->source), json_object_get(res, "SOURCE_ID"));
    json_decref(root);
    return CP_OK;
}

/* "C1:WON" -> "WON"; ids without a pipeline prefix are returned as is. */
static const char *bare_stage(const char *stage)
{
    const char *colon = strchr(stage, ':');

    return colon ? colon + 1 : stage;
}

cp_rc cp__map_bitrix24(const struct cp_tenant *t, const char *body, size_t len,
                       const struct cp_fetcher *fetch, struct cp_map_out *out)
{
    const struct cp_stage_map *stage = NULL;
    const char *event, *id, *ts, *member;
    char why[CP_MAP_REASON_MAX], event_id[CP_ID_MAX + 1];
    struct cp_bridge_ev *ev;
    struct cp_form form;
    struct b24_deal deal;
    int64_t ts_ms;
    bool add;
    cp_rc rc;

    rc = cp_form_parse(body, len, &form, why, sizeof(why));
    if (rc == CP_EDECODE)
        return cp__map_dead(out, "bitrix24: %s", why);
    if (rc)
        return rc;
    event = cp_form_get(&form, "event");
    id = cp_form_get(&form, "data[FIELDS][ID]");
    ts = cp_form_get(&form, "ts");
    member = cp_form_get(&form, "auth[member_id]");
    if (!event || !id || !ts) {
        rc = cp__map_dead(out, "bitrix24: event, data[FIELDS][ID] and ts "
                               "are required");
        goto out;
    }
    if (cp__map_amount(ts, 1000, &ts_ms) || !cp__map_id_ok(id, 32)) {
        rc = cp__map_dead(out,
                          "bitrix24 %s: ts \"%s\" or ID \"%s\" is not a "
                          "number",
                          event, ts, id);
        goto out;
    }
    add = !strcmp(event, "ONCRMDEALADD");
    if (!add && strcmp(event, "ONCRMDEALUPDATE") != 0) {
        out->ignored++; /* leads, contacts, companies, activities */
        goto out;
    }
    cp__map_setf(event_id, sizeof(event_id), "bitrix24-%s-%s-%s-%s",
                 member && cp__map_id_ok(member, 40) ? member : "-", event, id,
                 ts);
    if (fetch && fetch->delivered &&
        fetch->delivered(fetch->opaque, t, event_id)) {
        out->skipped++;
        goto out;
    }
    if (!fetch) {
        if (add &&
            cp__map_customer(t, &(struct cp_bridge_ev){0}, NULL, NULL, id)) {
            memset(&deal, 0, sizeof(deal));
        } else {
            rc = cp__map_dead(out,
                              "bitrix24 %s: deal %s needs crm.deal.get (fix: "
                              "set rest.url for tenant %s to its inbound "
                              "webhook URL)",
                              event, id, t->name);
            goto out;
        }
    } else {
        rc = fetch_deal(t, fetch, id, &deal, why, sizeof(why));
        if (rc == CP_EDECODE) {
            rc = cp__map_dead(out, "bitrix24 %s: %s", event, why);
            goto out;
        }
        if (rc)
            goto out;
    }
    ev = cp__map_add(out);
    if (!ev) {
        rc = CP_ENOMEM;
        goto out;
    }
    ev->occurred_at = ts_ms;
    strcpy(ev->event_id, event_id);
    strcpy(ev->entity, id);
    if (cp__map_id_ok(deal.owner, CP_NAME_MAX))
        strcpy(ev->manager, deal.owner);
    if (!cp__map_customer(t, ev, deal.company, deal.contact, id)) {
        cp__map_drop(out);
        rc = cp__map_dead(out,
                          "bitrix24 %s: deal %s has no company or "
                          "contact (tenant %s, customer = ...)",
                          event, id, t->name);
        goto out;
    }
    if (add) {
        ev->kind = CP_LEAD_CREATED;
        strcpy(ev->label, t->source);
        goto out;
    }
    if (cp_tenant_is_won(t, deal.stage) ||
        cp_tenant_is_won(t, bare_stage(deal.stage)) ||
        cp_tenant_is_lost(t, deal.stage) ||
        cp_tenant_is_lost(t, bare_stage(deal.stage))) {
        ev->kind = CP_DEAL_CLOSED;
        ev->won = cp_tenant_is_won(t, deal.stage) ||
                  cp_tenant_is_won(t, bare_stage(deal.stage));
        if (deal.amount[0] &&
            cp__map_amount(deal.amount, t->amount_scale, &ev->amount)) {
            cp__map_drop(out);
            rc = cp__map_dead(out,
                              "bitrix24 deal %s: OPPORTUNITY \"%s\" is "
                              "not a non-negative decimal",
                              id, deal.amount);
        }
        goto out;
    }
    stage = cp_tenant_stage(t, deal.stage);
    if (!stage)
        stage = cp_tenant_stage(t, bare_stage(deal.stage));
    if (!stage) {
        cp__map_drop(out);
        rc = cp__map_dead(out,
                          "bitrix24 deal %s: stage \"%s\" is not in the "
                          "mapping of tenant %s (fix: add stage.%s = <name>)",
                          id, deal.stage, t->name, deal.stage);
        goto out;
    }
    ev->kind = CP_STAGE_CHANGED;
    strcpy(ev->label, stage->name);
    ev->stage_order = stage->order;
out:
    cp_form_cleanup(&form);
    return rc;
}
