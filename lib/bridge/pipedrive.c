/* SPDX-License-Identifier: Apache-2.0 */
/* Pipedrive webhooks v2: JSON {meta, data, previous}. meta names the
 * action (create / change / delete) and the entity; data is the record
 * now and previous the fields that changed. Deals: create -> LeadCreated,
 * a status change to won/lost -> DealClosed with the value, a stage_id
 * change -> StageChanged; a call activity marked done -> CallLogged. The
 * organization, else the person, else the deal stands for the customer
 * (customer = ...). */
#include "mapping_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "civil.h"

/* A JSON scalar as text ("" when absent or null). */
static void scalar(json_t *v, char *dst, size_t size)
{
    dst[0] = '\0';
    if (json_is_string(v) && strlen(json_string_value(v)) < size)
        strcpy(dst, json_string_value(v));
    else if (json_is_integer(v))
        snprintf(dst, size, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(dst, size, "%.6f", json_real_value(v));
}

/* "2024-09-27T14:25:28Z" or unix seconds; @returns 0 or -1. */
static int parse_when(json_t *v, int64_t *ms)
{
    char text[64];

    if (json_is_integer(v)) {
        *ms = json_integer_value(v) * 1000;
        return json_integer_value(v) > 0 ? 0 : -1;
    }
    scalar(v, text, sizeof(text));
    if (!text[0])
        return -1;
    return cp_parse_utc_time(text, ms);
}

/* Trailing zeros of a "%.6f" value go, so cp__map_amount sees "12.5". */
static void trim_decimal(char *s)
{
    char *dot = strchr(s, '.');
    size_t n;

    if (!dot)
        return;
    n = strlen(s);
    while (n > 0 && s[n - 1] == '0')
        s[--n] = '\0';
    if (n > 0 && s[n - 1] == '.')
        s[n - 1] = '\0';
}

/* "HH:MM" or "HH:MM:SS" (an activity's duration) in ms; 0 when absent or
 * not such a value. */
static int64_t duration_ms(json_t *v)
{
    const char *s = json_string_value(v);
    int h, m, sec = 0, n = 0;

    if (!s || (sscanf(s, "%3d:%2d%n", &h, &m, &n) != 2))
        return 0;
    if (s[n] == ':' && sscanf(s + n + 1, "%2d", &sec) != 1)
        return 0;
    if (h < 0 || m < 0 || m > 59 || sec < 0 || sec > 59)
        return 0;
    return ((int64_t)h * 3600 + m * 60 + sec) * 1000;
}

static bool is_true(json_t *v)
{
    return json_is_true(v) || (json_is_integer(v) && json_integer_value(v));
}

/* An activity of type "call" marked done (created done, or changed to
 * done) -> CallLogged: a call the salesperson made and logged, so
 * outbound; answered when it has a duration. Other activities, and edits
 * of a call already done, are ignored. */
static cp_rc map_call(const struct cp_tenant *t, const char *action,
                      json_t *meta, json_t *data, json_t *prev,
                      struct cp_map_out *out)
{
    char id[32], org[32], person[32], deal[32], owner[32];
    const char *type = json_string_value(json_object_get(data, "type"));
    struct cp_bridge_ev *ev;
    int64_t at;
    bool done_now = is_true(json_object_get(data, "done"));
    bool was_done = is_true(json_object_get(prev, "done"));

    if (!type || strcmp(type, "call") != 0 || !done_now ||
        !(!strcmp(action, "create") ||
          (!strcmp(action, "change") && json_object_get(prev, "done") &&
           !was_done))) {
        out->ignored++;
        return CP_OK;
    }
    scalar(json_object_get(data, "id"), id, sizeof(id));
    scalar(json_object_get(data, "org_id"), org, sizeof(org));
    scalar(json_object_get(data, "person_id"), person, sizeof(person));
    scalar(json_object_get(data, "deal_id"), deal, sizeof(deal));
    scalar(json_object_get(data, "owner_id"), owner, sizeof(owner));
    if (!cp__map_id_ok(id, 32) ||
        (parse_when(json_object_get(data, "marked_as_done_time"), &at) &&
         parse_when(json_object_get(data, "update_time"), &at) &&
         parse_when(json_object_get(meta, "timestamp"), &at)))
        return cp__map_dead(out, "pipedrive activity: data.id and "
                                 "data.marked_as_done_time (or update_time, "
                                 "meta.timestamp) are required");
    ev = cp__map_add(out);
    if (!ev)
        return CP_ENOMEM;
    ev->kind = CP_CALL_LOGGED;
    ev->occurred_at = at;
    cp__map_setf(ev->event_id, sizeof(ev->event_id),
                 "pipedrive-activity-%s-done-%lld", id, (long long)at);
    strcpy(ev->entity, id);
    if (cp__map_id_ok(owner, CP_NAME_MAX))
        strcpy(ev->manager, owner);
    ev->inbound = false;
    ev->amount = duration_ms(json_object_get(data, "duration"));
    ev->answered = ev->amount > 0;
    if (!cp__map_customer(t, ev, org, person, deal)) {
        cp__map_drop(out);
        return cp__map_dead(out,
                            "pipedrive activity %s: no organization, person "
                            "or deal (tenant %s, customer = ...)",
                            id, t->name);
    }
    return CP_OK;
}

cp_rc cp__map_pipedrive(const struct cp_tenant *t, const char *body, size_t len,
                        struct cp_map_out *out)
{
    char id[32], org[32], person[32], owner[32], value[48], stage_id[32],
        prev_stage[32], status[16], prev_status[16], stamp[64];
    const struct cp_stage_map *stage = NULL;
    json_t *root, *meta, *data, *prev;
    const char *action, *entity;
    struct cp_bridge_ev *ev;
    json_error_t jerr;
    int64_t at;
    enum cp_payload_kind kind;
    cp_rc rc = CP_OK;

    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return cp__map_dead(out, "pipedrive: body is not JSON: %s (byte %d)",
                            jerr.text, jerr.position);
    meta = json_object_get(root, "meta");
    data = json_object_get(root, "data");
    prev = json_object_get(root, "previous");
    action = json_string_value(json_object_get(meta, "action"));
    entity = json_string_value(json_object_get(meta, "entity"));
    if (!json_is_object(meta) || !action || !entity) {
        rc = cp__map_dead(out, "pipedrive: meta.action and meta.entity are "
                               "required (webhooks v2)");
        goto out;
    }
    if (!strcmp(entity, "activity") && strcmp(action, "delete") != 0 &&
        json_is_object(data)) {
        rc = map_call(t, action, meta, data, prev, out);
        goto out;
    }
    if (strcmp(entity, "deal") != 0 || !strcmp(action, "delete") ||
        !json_is_object(data)) {
        out->ignored++; /* persons, organizations, deletes */
        goto out;
    }
    scalar(json_object_get(data, "id"), id, sizeof(id));
    scalar(json_object_get(data, "org_id"), org, sizeof(org));
    scalar(json_object_get(data, "person_id"), person, sizeof(person));
    scalar(json_object_get(data, "owner_id"), owner, sizeof(owner));
    scalar(json_object_get(data, "value"), value, sizeof(value));
    scalar(json_object_get(data, "stage_id"), stage_id, sizeof(stage_id));
    scalar(json_object_get(data, "status"), status, sizeof(status));
    scalar(json_object_get(prev, "stage_id"), prev_stage, sizeof(prev_stage));
    scalar(json_object_get(prev, "status"), prev_status, sizeof(prev_status));
    scalar(json_object_get(meta, "timestamp"), stamp, sizeof(stamp));
    trim_decimal(value);
    if (!cp__map_id_ok(id, 32) ||
        (parse_when(json_object_get(data, "update_time"), &at) &&
         parse_when(json_object_get(meta, "timestamp"), &at))) {
        rc = cp__map_dead(out, "pipedrive deal: data.id and data.update_time "
                               "(or meta.timestamp) are required");
        goto out;
    }
    if (!strcmp(action, "create")) {
        kind = CP_LEAD_CREATED;
    } else if (!strcmp(action, "change") && prev_status[0] &&
               strcmp(prev_status, status) != 0 &&
               (cp_tenant_is_won(t, status) || cp_tenant_is_lost(t, status))) {
        kind = CP_DEAL_CLOSED;
    } else if (!strcmp(action, "change") && prev_stage[0] &&
               strcmp(prev_stage, stage_id) != 0) {
        stage = cp_tenant_stage(t, stage_id);
        if (!stage) {
            rc = cp__map_dead(out,
                              "pipedrive deal %s: stage_id %s is not in the "
                              "mapping of tenant %s (fix: add stage.%s = "
                              "<name>)",
                              id, stage_id, t->name, stage_id);
            goto out;
        }
        kind = CP_STAGE_CHANGED;
    } else {
        out->ignored++; /* other field edits */
        goto out;
    }
    ev = cp__map_add(out);
    if (!ev) {
        rc = CP_ENOMEM;
        goto out;
    }
    ev->kind = kind;
    ev->occurred_at = at;
    /* Pipedrive v2 sends each change once per attempt with the same meta
     * and data: the change's own time makes the id of a redelivery equal. */
    cp__map_setf(ev->event_id, sizeof(ev->event_id),
                 "pipedrive-deal-%s-%s-%lld", id, action, (long long)at);
    strcpy(ev->entity, id);
    if (cp__map_id_ok(owner, CP_NAME_MAX))
        strcpy(ev->manager, owner);
    if (!cp__map_customer(t, ev, org, person, id)) {
        cp__map_drop(out);
        rc = cp__map_dead(out,
                          "pipedrive deal %s: no organization or person "
                          "(tenant %s, customer = ...)",
                          id, t->name);
        goto out;
    }
    if (kind == CP_LEAD_CREATED) {
        strcpy(ev->label, t->source);
    } else if (kind == CP_STAGE_CHANGED) {
        strcpy(ev->label, stage->name);
        ev->stage_order = stage->order;
    } else {
        ev->won = cp_tenant_is_won(t, status);
        if (value[0] && cp__map_amount(value, t->amount_scale, &ev->amount)) {
            cp__map_drop(out);
            rc = cp__map_dead(out,
                              "pipedrive deal %s: value \"%s\" is not a "
                              "non-negative decimal",
                              id, value);
        }
    }
out:
    json_decref(root);
    return rc;
}
