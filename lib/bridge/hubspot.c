/* SPDX-License-Identifier: Apache-2.0 */
/* HubSpot: the webhook body is a JSON array of events (eventId,
 * subscriptionType, objectId, occurredAt, propertyName/propertyValue),
 * each naming a record by id only. Deals and tickets are read back through
 * the CRM API (v3 objects with their company/contact associations) for the
 * customer, the amount and the owner. */
#include "mapping_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* What the REST read of a deal or ticket tells. */
struct hs_record {
    char company[32], contact[32], owner[32], amount[32];
};

/* The last record read in this request: a batch usually tells several
 * changes of one deal, and each read costs the tenant's API quota. */
struct hs_cache {
    char type[16], id[32];
    struct hs_record rec;
    cp_rc rc; /* CP_OK or CP_EDECODE (with why) */
    char why[CP_MAP_REASON_MAX];
    int valid;
};

static void copy_str(char *dst, size_t size, json_t *v)
{
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;

    dst[0] = '\0';
    if (s && strlen(s) < size)
        strcpy(dst, s);
}

static void first_assoc(json_t *rec, const char *kind, char *dst, size_t size)
{
    json_t *res = json_object_get(
        json_object_get(json_object_get(rec, "associations"), kind), "results");

    copy_str(dst, size, json_object_get(json_array_get(res, 0), "id"));
}

/* @returns CP_OK, CP_EDECODE (dead: reason in @p why), CP_EIO, CP_ENOMEM. */
static cp_rc fetch_record(const struct cp_tenant *t,
                          const struct cp_fetcher *fetch, const char *type,
                          const char *id, struct hs_record *r, char *why,
                          size_t why_size)
{
    struct cp_buf body;
    char path[256];
    json_t *rec, *props;
    cp_rc rc;

    memset(r, 0, sizeof(*r));
    if (!fetch) {
        snprintf(why, why_size,
                 "%s %s: needs the CRM API to find its customer (fix: set "
                 "rest.url and rest.token for tenant %s)",
                 type, id, t->name);
        return CP_EDECODE;
    }
    snprintf(path, sizeof(path),
             "/crm/v3/objects/%s/%s?properties=amount,hubspot_owner_id&"
             "associations=companies,contacts",
             type, id);
    cp_buf_init(&body, 1u << 20);
    rc = fetch->get(fetch->opaque, t, path, &body, why, why_size);
    if (rc) {
        cp_buf_cleanup(&body);
        return rc;
    }
    rec = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
    cp_buf_cleanup(&body);
    if (!json_is_object(rec)) {
        json_decref(rec);
        snprintf(why, why_size, "%s %s: the CRM API answered no JSON object",
                 type, id);
        return CP_EDECODE;
    }
    props = json_object_get(rec, "properties");
    copy_str(r->amount, sizeof(r->amount), json_object_get(props, "amount"));
    copy_str(r->owner, sizeof(r->owner),
             json_object_get(props, "hubspot_owner_id"));
    first_assoc(rec, "companies", r->company, sizeof(r->company));
    first_assoc(rec, "contacts", r->contact, sizeof(r->contact));
    json_decref(rec);
    return CP_OK;
}

/* One event of the array; dead ones add a reason and no event. */
static cp_rc fetch_cached(const struct cp_tenant *t,
                          const struct cp_fetcher *fetch, const char *type,
                          const char *id, struct hs_cache *c, char *why,
                          size_t why_size)
{
    cp_rc rc;

    if (!c->valid || strcmp(c->type, type) != 0 || strcmp(c->id, id) != 0) {
        rc = fetch_record(t, fetch, type, id, &c->rec, c->why, sizeof(c->why));
        if (rc != CP_OK && rc != CP_EDECODE) {
            snprintf(why, why_size, "%s", c->why);
            c->valid = 0;
            return rc; /* not cached: the next event may retry */
        }
        snprintf(c->type, sizeof(c->type), "%s", type);
        snprintf(c->id, sizeof(c->id), "%s", id);
        c->rc = rc;
        c->valid = 1;
    }
    snprintf(why, why_size, "%s", c->why);
    return c->rc;
}

static cp_rc map_one(const struct cp_tenant *t, json_t *e, size_t idx,
                     const struct cp_fetcher *fetch, struct hs_cache *cache,
                     struct cp_map_out *out)
{
    json_t *jid = json_object_get(e, "eventId");
    json_t *jobj = json_object_get(e, "objectId");
    json_t *jat = json_object_get(e, "occurredAt");
    const char *type =
        json_string_value(json_object_get(e, "subscriptionType"));
    const char *prop = json_string_value(json_object_get(e, "propertyName"));
    const char *value = json_string_value(json_object_get(e, "propertyValue"));
    const struct cp_stage_map *stage = NULL;
    enum cp_payload_kind kind;
    const char *rtype;
    struct hs_record rec;
    struct cp_bridge_ev *ev;
    char why[CP_MAP_REASON_MAX];
    char obj[32], event_id[48];
    cp_rc rc;

    if (!json_is_integer(jid) || !json_is_integer(jobj) ||
        !json_is_integer(jat) || !type)
        return cp__map_dead(out,
                            "hubspot event %zu: eventId, objectId, occurredAt "
                            "(integers) and subscriptionType are required",
                            idx);
    snprintf(obj, sizeof(obj), "%lld", (long long)json_integer_value(jobj));
    if (!strcmp(type, "deal.creation")) {
        kind = CP_LEAD_CREATED;
        rtype = "deals";
    } else if (!strcmp(type, "deal.propertyChange") && prop &&
               !strcmp(prop, "dealstage")) {
        if (!value)
            return cp__map_dead(out,
                                "hubspot event %zu: dealstage change "
                                "without propertyValue",
                                idx);
        if (cp_tenant_is_won(t, value) || cp_tenant_is_lost(t, value)) {
            kind = CP_DEAL_CLOSED;
        } else {
            stage = cp_tenant_stage(t, value);
            if (!stage)
                return cp__map_dead(
                    out,
                    "hubspot event %zu: deal stage \"%s\" is not in the "
                    "mapping of tenant %s (fix: add stage.%s = <name>)",
                    idx, value, t->name, value);
            kind = CP_STAGE_CHANGED;
        }
        rtype = "deals";
    } else if (!strcmp(type, "ticket.creation")) {
        kind = CP_TICKET_OPENED;
        rtype = "tickets";
    } else if (!strcmp(type, "ticket.propertyChange") && prop &&
               !strcmp(prop, "hs_pipeline_stage") && value &&
               cp_tenant_is_closed(t, value)) {
        kind = CP_TICKET_RESOLVED;
        rtype = "tickets";
    } else {
        out->ignored++; /* contacts, companies, other properties */
        return CP_OK;
    }

    snprintf(event_id, sizeof(event_id), "hubspot-%lld",
             (long long)json_integer_value(jid));
    if (fetch && fetch->delivered &&
        fetch->delivered(fetch->opaque, t, event_id)) {
        out->skipped++;
        return CP_OK;
    }
    rc = fetch_cached(t, fetch, rtype, obj, cache, why, sizeof(why));
    rec = cache->rec;
    if (rc == CP_EDECODE) {
        /* Without the API a deal can still stand for its customer. */
        if (fetch || !strcmp(rtype, "tickets"))
            return cp__map_dead(out, "hubspot event %zu: %s", idx, why);
        memset(&rec, 0, sizeof(rec));
    } else if (rc) {
        return rc;
    }
    ev = cp__map_add(out);
    if (!ev)
        return cp__map_dead(out,
                            "hubspot event %zu: over %d events in one "
                            "request",
                            idx, CP_MAP_MAX_EVENTS);
    ev->kind = kind;
    ev->occurred_at = json_integer_value(jat);
    strcpy(ev->event_id, event_id);
    cp__map_setf(ev->entity, sizeof(ev->entity), "%s", obj);
    if (cp__map_id_ok(rec.owner, CP_NAME_MAX))
        strcpy(ev->manager, rec.owner);
    if (!cp__map_customer(t, ev, rec.company, rec.contact,
                          !strcmp(rtype, "deals") ? obj : NULL)) {
        cp__map_drop(out);
        return cp__map_dead(out,
                            "hubspot event %zu: %s %s has no %s to stand for "
                            "the customer (tenant %s, customer = ...)",
                            idx, rtype, obj,
                            fetch ? "company or contact" : "associated record",
                            t->name);
    }
    switch (kind) {
    case CP_LEAD_CREATED:
        strcpy(ev->label, t->source);
        break;
    case CP_STAGE_CHANGED:
        strcpy(ev->label, stage->name);
        ev->stage_order = stage->order;
        break;
    case CP_DEAL_CLOSED:
        ev->won = cp_tenant_is_won(t, value);
        if (rec.amount[0] &&
            cp__map_amount(rec.amount, t->amount_scale, &ev->amount)) {
            cp__map_drop(out);
            return cp__map_dead(out,
                                "hubspot event %zu: deal %s amount "
                                "\"%s\" is not a non-negative decimal",
                                idx, obj, rec.amount);
        }
        break;
    default:
        break;
    }
    return CP_OK;
}

cp_rc cp__map_hubspot(const struct cp_tenant *t, const char *body, size_t len,
                      const struct cp_fetcher *fetch, struct cp_map_out *out)
{
    json_error_t jerr;
    json_t *arr = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    struct hs_cache cache = {0};
    cp_rc rc = CP_OK;

    if (!arr)
        return cp__map_dead(out, "hubspot: body is not JSON: %s (byte %d)",
                            jerr.text, jerr.position);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return cp__map_dead(out, "hubspot: body is not a JSON array of "
                                 "events");
    }
    for (size_t i = 0; i < json_array_size(arr) && !rc; i++) {
        json_t *e = json_array_get(arr, i);

        rc = json_is_object(e)
                 ? map_one(t, e, i, fetch, &cache, out)
                 : cp__map_dead(out, "hubspot event %zu: not an object", i);
    }
    json_decref(arr);
    return rc;
}
