/* SPDX-License-Identifier: Apache-2.0 */
/* The mapping's common part: the output lists, amounts, customer choice,
 * and the dispatch to the CRM's own mapper. */
#include "mapping.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "mapping_int.h"

void cp_bridge_ev_view(const struct cp_bridge_ev *bev, const char *tenant,
                       struct cp_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->event_id = (struct cp_str){bev->event_id, strlen(bev->event_id)};
    ev->tenant_id = (struct cp_str){tenant, strlen(tenant)};
    ev->customer_id = (struct cp_str){bev->customer, strlen(bev->customer)};
    if (bev->manager[0])
        ev->manager_id = (struct cp_str){bev->manager, strlen(bev->manager)};
    ev->occurred_at = bev->occurred_at;
    ev->channel = CP_CHANNEL_NONE;
    ev->kind = bev->kind;
    ev->entity_id = (struct cp_str){bev->entity, strlen(bev->entity)};
    if (bev->label[0])
        ev->label = (struct cp_str){bev->label, strlen(bev->label)};
    ev->stage_order = bev->stage_order;
    ev->amount = bev->amount;
    ev->won = bev->won;
    ev->inbound = bev->inbound;
    ev->answered = bev->answered;
    if (bev->kind == CP_CALL_LOGGED)
        ev->channel = CP_CHANNEL_PHONE;
    /* The CRMs' messages we map are e-mails (Bitrix24 activities). */
    if (bev->kind == CP_MESSAGE_RECEIVED || bev->kind == CP_MESSAGE_SENT)
        ev->channel = CP_CHANNEL_EMAIL;
}

void cp_map_out_init(struct cp_map_out *out)
{
    memset(out, 0, sizeof(*out));
}

void cp_map_out_reset(struct cp_map_out *out)
{
    out->cnt = 0;
    out->dead_cnt = 0;
    out->ignored = 0;
    out->skipped = 0;
}

void cp_map_out_cleanup(struct cp_map_out *out)
{
    free(out->evs);
    free(out->dead);
    memset(out, 0, sizeof(*out));
}

struct cp_bridge_ev *cp__map_add(struct cp_map_out *out)
{
    struct cp_bridge_ev *evs;

    if (out->cnt >= CP_MAP_MAX_EVENTS)
        return NULL;
    evs = cp_grow(out->evs, &out->cap, out->cnt, sizeof(*evs), 4);
    if (!evs)
        return NULL;
    out->evs = evs;
    memset(&evs[out->cnt], 0, sizeof(*evs));
    return &evs[out->cnt++];
}

void cp__map_drop(struct cp_map_out *out)
{
    if (out->cnt)
        out->cnt--;
}

cp_rc cp__map_dead(struct cp_map_out *out, const char *fmt, ...)
{
    char(*dead)[CP_MAP_REASON_MAX];
    va_list ap;

    dead = cp_grow(out->dead, &out->dead_cap, out->dead_cnt, sizeof(*dead), 2);
    if (!dead)
        return CP_ENOMEM;
    out->dead = dead;
    va_start(ap, fmt);
    vsnprintf(dead[out->dead_cnt], CP_MAP_REASON_MAX, fmt, ap);
    va_end(ap);
    out->dead_cnt++;
    return CP_OK;
}

cp_rc cp_map_out_dead(struct cp_map_out *out, const char *reason)
{
    return cp__map_dead(out, "%s", reason);
}

bool cp__map_setf(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(dst, size, fmt, ap);
    va_end(ap);
    if (n <= 0 || (size_t)n >= size) {
        dst[0] = '\0';
        return false;
    }
    return true;
}

bool cp__map_id_ok(const char *s, size_t max)
{
    size_t len = s ? strlen(s) : 0;

    return len > 0 && len <= max && cp_name_bad_byte(s, len, true) == len;
}

int cp__map_amount(const char *s, int64_t scale, int64_t *out)
{
    int64_t whole = 0, frac = 0, unit = scale;
    const char *p = s;

    if (!s || !*s)
        return -1;
    if (*p == '-') {
        /* "-0" and "-0.00" are zero; anything else negative is not an
         * amount of ours. */
        p++;
    }
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (whole >= 100000000000000LL) /* 1e14 major units: not a CRM amount */
            return -1;
        whole = whole * 10 + (*p - '0');
    }
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        for (; *p >= '0' && *p <= '9'; p++) {
            unit /= 10;
            if (unit == 0) {
                if (*p != '0')
                    return -1; /* a fraction of a minor unit */
                continue;
            }
            frac += (*p - '0') * unit;
        }
    }
    if (*p)
        return -1;
    if (s[0] == '-' && (whole || frac))
        return -1;
    *out = whole * scale + frac;
    return 0;
}

static bool present(const char *id)
{
    return id && *id && strcmp(id, "0") != 0;
}

bool cp__map_customer(const struct cp_tenant *t, struct cp_bridge_ev *ev,
                      const char *company, const char *contact,
                      const char *deal)
{
    for (size_t i = 0; i < t->customer_cnt; i++) {
        const char *id = NULL, *prefix = NULL;

        switch (t->customer[i]) {
        case CP_CUSTOMER_COMPANY:
            id = company;
            prefix = "co-";
            break;
        case CP_CUSTOMER_CONTACT:
            id = contact;
            prefix = "ct-";
            break;
        case CP_CUSTOMER_DEAL:
            id = deal;
            prefix = "deal-";
            break;
        }
        if (!present(id))
            continue;
        if (cp__map_setf(ev->customer, sizeof(ev->customer), "%s%s", prefix,
                         id) &&
            cp__map_id_ok(ev->customer, CP_NAME_MAX))
            return true;
    }
    ev->customer[0] = '\0';
    return false;
}

cp_rc cp_map_request(const struct cp_tenant *t, const char *body, size_t len,
                     const struct cp_fetcher *fetch, struct cp_map_out *out)
{
    cp_map_out_reset(out);
    if (fetch && !t->rest_url)
        fetch = NULL;
    switch (t->crm) {
    case CP_CRM_HUBSPOT:
        return cp__map_hubspot(t, body, len, fetch, out);
    case CP_CRM_BITRIX24:
        return cp__map_bitrix24(t, body, len, fetch, out);
    case CP_CRM_AMOCRM:
        return cp__map_amocrm(t, body, len, out);
    case CP_CRM_PIPEDRIVE:
        return cp__map_pipedrive(t, body, len, out);
    case CP_CRM_CNT:
        break;
    }
    return cp__map_dead(out, "tenant %s has no CRM", t->name);
}
