/* SPDX-License-Identifier: Apache-2.0 */
/* Bitrix24: form-encoded outbound events (event=ONCRMDEALADD,
 * data[FIELDS][ID], ts, auth[...]) that name the record by id only; the
 * deal is read back with crm.deal.get for its stage, company, contact,
 * amount and responsible user, an activity (calls, e-mails) with
 * crm.activity.get. Stage ids may carry a pipeline prefix
 * ("C1:WON"); won/lost lists and stage.* keys match with or without it. */
#include "mapping_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "civil.h"
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

/* Reads record @p id back with REST @p method ("crm.deal.get"): *@p root
 * (owned by the caller: json_decref) holds its "result" object *@p res. */
static cp_rc fetch_record(const struct cp_tenant *t,
                          const struct cp_fetcher *fetch, const char *method,
                          const char *id, json_t **root, json_t **res,
                          char *why, size_t why_size)
{
    struct cp_buf body;
    char path[128];
    cp_rc rc;

    snprintf(path, sizeof(path), "/%s.json?id=%s", method, id);
    cp_buf_init(&body, 1u << 20);
    rc = fetch->get(fetch->opaque, t, path, &body, why, why_size);
    if (rc) {
        cp_buf_cleanup(&body);
        return rc;
    }
    *root = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
    cp_buf_cleanup(&body);
    *res = json_object_get(*root, "result");
    if (!json_is_object(*res)) {
        json_decref(*root);
        *root = NULL;
        snprintf(why, why_size, "%s %s: no \"result\" object", method, id);
        return CP_EDECODE;
    }
    return CP_OK;
}

static cp_rc fetch_deal(const struct cp_tenant *t,
                        const struct cp_fetcher *fetch, const char *id,
                        struct b24_deal *d, char *why, size_t why_size)
{
    json_t *root, *res;
    cp_rc rc;

    memset(d, 0, sizeof(*d));
    rc = fetch_record(t, fetch, "crm.deal.get", id, &root, &res, why, why_size);
    if (rc)
        return rc;
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

/* An activity's owner record as our customer: a company or contact owns
 * it directly; a deal's company or contact is read back; a lead's activity
 * is no customer's yet (ignored). @returns CP_OK with @p *ignored set when
 * it is a lead's, CP_EDECODE with @p why for a dead letter, or the fetch's
 * error. */
static cp_rc activity_customer(const struct cp_tenant *t,
                               const struct cp_fetcher *fetch,
                               const char *owner_type, const char *owner_id,
                               struct cp_bridge_ev *ev, bool *ignored,
                               char *why, size_t why_size)
{
    struct b24_deal deal;
    const char *company = NULL, *contact = NULL, *deal_id = NULL;
    cp_rc rc;

    *ignored = false;
    if (!strcmp(owner_type, "1")) {
        *ignored = true;
        return CP_OK;
    }
    if (!strcmp(owner_type, "2")) {
        rc = fetch_deal(t, fetch, owner_id, &deal, why, why_size);
        if (rc)
            return rc;
        company = deal.company;
        contact = deal.contact;
        deal_id = owner_id;
    } else if (!strcmp(owner_type, "3")) {
        contact = owner_id;
    } else if (!strcmp(owner_type, "4")) {
        company = owner_id;
    }
    if (!cp__map_customer(t, ev, company, contact, deal_id)) {
        snprintf(why, why_size,
                 "its owner (OWNER_TYPE_ID \"%s\", OWNER_ID \"%s\") gives "
                 "no customer of tenant %s (customer = ...)",
                 owner_type, owner_id, t->name);
        return CP_EDECODE;
    }
    return CP_OK;
}

/* ONCRMACTIVITYADD: the activity is read back with crm.activity.get. Calls
 * (TYPE_ID 2) -> CallLogged: DIRECTION 1 inbound, 2 outbound; duration =
 * END_TIME - START_TIME, answered when it lasted. E-mails (TYPE_ID 4) ->
 * MessageReceived (DIRECTION 1) / MessageSent (2), the conversation being
 * the owner record ("b24-<OWNER_TYPE_ID>-<OWNER_ID>"), so a reply closes
 * the wait its e-mail opened. Meetings, tasks and to-dos are ignored. */
static cp_rc map_activity(const struct cp_tenant *t,
                          const struct cp_fetcher *fetch, const char *id,
                          int64_t ts_ms, const char *event_id,
                          struct cp_map_out *out)
{
    char type[8], dir[8], owner_type[8], owner_id[32], resp[32], start[40],
        end[40], why[CP_MAP_REASON_MAX];
    struct cp_bridge_ev *ev;
    json_t *root, *res;
    int64_t t0, t1;
    bool ignored;
    cp_rc rc;

    if (!fetch)
        return cp__map_dead(out,
                            "bitrix24 ONCRMACTIVITYADD: activity %s needs "
                            "crm.activity.get (fix: set rest.url for tenant "
                            "%s to its inbound webhook URL)",
                            id, t->name);
    rc = fetch_record(t, fetch, "crm.activity.get", id, &root, &res, why,
                      sizeof(why));
    if (rc == CP_EDECODE)
        return cp__map_dead(out, "bitrix24 ONCRMACTIVITYADD: %s", why);
    if (rc)
        return rc;
    copy_field(type, sizeof(type), json_object_get(res, "TYPE_ID"));
    copy_field(dir, sizeof(dir), json_object_get(res, "DIRECTION"));
    copy_field(owner_type, sizeof(owner_type),
               json_object_get(res, "OWNER_TYPE_ID"));
    copy_field(owner_id, sizeof(owner_id), json_object_get(res, "OWNER_ID"));
    copy_field(resp, sizeof(resp), json_object_get(res, "RESPONSIBLE_ID"));
    copy_field(start, sizeof(start), json_object_get(res, "START_TIME"));
    copy_field(end, sizeof(end), json_object_get(res, "END_TIME"));
    json_decref(root);
    if (strcmp(type, "2") != 0 && strcmp(type, "4") != 0) {
        out->ignored++; /* meetings, tasks, to-dos */
        return CP_OK;
    }
    if ((strcmp(dir, "1") != 0 && strcmp(dir, "2") != 0) ||
        !cp__map_id_ok(owner_id, 32))
        return cp__map_dead(out,
                            "bitrix24 activity %s: DIRECTION \"%s\" must be "
                            "1 (incoming) or 2 (outgoing) and OWNER_ID "
                            "\"%s\" an id",
                            id, dir, owner_id);
    ev = cp__map_add(out);
    if (!ev)
        return CP_ENOMEM;
    rc = activity_customer(t, fetch, owner_type, owner_id, ev, &ignored, why,
                           sizeof(why));
    if (rc || ignored) {
        cp__map_drop(out);
        if (ignored)
            out->ignored++; /* a lead's: not a customer yet */
        if (rc == CP_EDECODE)
            return cp__map_dead(out, "bitrix24 activity %s: %s", id, why);
        return rc;
    }
    ev->occurred_at = ts_ms;
    strcpy(ev->event_id, event_id);
    if (cp__map_id_ok(resp, CP_NAME_MAX))
        strcpy(ev->manager, resp);
    if (!strcmp(type, "2")) {
        ev->kind = CP_CALL_LOGGED;
        strcpy(ev->entity, id);
        ev->inbound = !strcmp(dir, "1");
        if (!cp_parse_utc_time(start, &t0) && !cp_parse_utc_time(end, &t1) &&
            t1 > t0)
            ev->amount = t1 - t0; /* CallLogged.duration_ms */
        ev->answered = ev->amount > 0;
    } else {
        ev->kind = !strcmp(dir, "1") ? CP_MESSAGE_RECEIVED : CP_MESSAGE_SENT;
        cp__map_setf(ev->entity, sizeof(ev->entity), "b24-%s-%s", owner_type,
                     owner_id);
    }
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
    bool add, activity;
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
    activity = !strcmp(event, "ONCRMACTIVITYADD");
    if (!add && !activity && strcmp(event, "ONCRMDEALUPDATE") != 0) {
        out->ignored++; /* leads, contacts, companies, other changes */
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
    if (activity) {
        rc = map_activity(t, fetch, id, ts_ms, event_id, out);
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
