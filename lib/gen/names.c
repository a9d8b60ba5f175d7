/* SPDX-License-Identifier: Apache-2.0 */
/* The generator's vocabulary and names: tenants, managers, lead sources,
 * funnel stages and entity ids, shared by the normal stream, the malformed
 * messages and the labelled churn cohort (gen_int.h). */
#include "gen_int.h"

static const char *const tenant_names[] = {
    "acme",      "globex",    "initech", "umbrella.corp", "hooli",
    "stark_ind", "wayne-ent", "tyrell",  "soylent",       "cyberdyne",
};

const char *const cp__gen_lead_sources[GEN_LEAD_SOURCE_CNT] = {
    "google_ads", "facebook", "referral", "organic",
    "cold_call",  "partner",  "webinar",
};

const char *const cp__gen_stage_names[GEN_STAGE_LAST + 1] = {
    "lead", "qualified", "meeting", "proposal", "negotiation", "contract",
};

void cp__gen_tenant_id_fmt(struct gen_tenant *tn, int t, int tenants)
{
    size_t nn = CP_ARRAY_SIZE(tenant_names);
    size_t n;

    if (tenants <= 3 * (int)nn) {
        n = fmt_str(tn->id, tenant_names[(size_t)t % nn]);
        tn->id[n++] = '-';
        n += fmt_u64(tn->id + n, (uint64_t)t / nn + 1, 1);
    } else {
        tn->id[0] = 't';
        n = 1 + fmt_u64(tn->id + 1, (uint64_t)t + 1, 3);
    }
    tn->id[n] = '\0';
    tn->id_len = (uint8_t)n;
}

/* "mgr-01" .. "mgr-20". */
void cp__gen_manager_names_fmt(char (*managers)[8])
{
    for (int m = 0; m < GEN_MANAGERS_MAX; m++) {
        size_t n = fmt_str(managers[m], "mgr-");

        n += fmt_u64(managers[m] + n, (uint64_t)m + 1, 2);
        managers[m][n] = '\0';
    }
}

void cp__gen_set_entity(struct gen_strs *s, struct cp_event *ev,
                        const char *prefix, uint64_t n)
{
    size_t len = fmt_str(s->entity, prefix);

    len += fmt_str(s->entity + len, "-");
    memcpy(s->entity + len, ev->customer_id.ptr, ev->customer_id.len);
    len += ev->customer_id.len;
    s->entity[len++] = '-';
    len += fmt_u64(s->entity + len, n, 1);
    ev->entity_id = mkstr(s->entity, len);
}

/* The entity id of @p ev by its kind: "<prefix>-<customer>-<seq>". */
void cp__gen_set_entity_of(struct gen_strs *s, struct cp_event *ev,
                           const struct entity_seqs *q)
{
    switch (ev->kind) {
    case CP_LEAD_CREATED:
    case CP_STAGE_CHANGED:
    case CP_DEAL_CLOSED:
        cp__gen_set_entity(s, ev, "d", q->deal);
        break;
    case CP_ORDER_PLACED:
        cp__gen_set_entity(s, ev, "o", q->order);
        break;
    case CP_MESSAGE_RECEIVED:
    case CP_MESSAGE_SENT:
        cp__gen_set_entity(s, ev, "conv", q->conv);
        break;
    case CP_CALL_LOGGED:
        cp__gen_set_entity(s, ev, "call", q->call);
        break;
    case CP_TICKET_OPENED:
    case CP_TICKET_RESOLVED:
        cp__gen_set_entity(s, ev, "t", q->ticket);
        break;
    case CP_SUBSCRIPTION_CHANGED:
        cp__gen_set_entity(s, ev, "sub", q->sub);
        break;
    case CP_WEB_VISIT:
        cp__gen_set_entity(s, ev, "s", q->visit);
        break;
    default:
        break;
    }
}
