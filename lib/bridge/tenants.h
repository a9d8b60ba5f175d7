/* SPDX-License-Identifier: Apache-2.0 */
/* The bridge's per-tenant file (bridge.tenants, sample deploy/bridge.conf):
 * one [tenant NAME] section each, saying which CRM the tenant runs, its
 * secrets, its REST access and how its CRM's stages and records map onto
 * our events. Read once at start; errors name the line and the fix. */
#ifndef CP_TENANTS_H
#define CP_TENANTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cp_crm {
    CP_CRM_BITRIX24 = 0,
    CP_CRM_AMOCRM,
    CP_CRM_HUBSPOT,
    CP_CRM_PIPEDRIVE,
    CP_CRM_CNT
};

/** @brief URL name of a CRM ("bitrix24", "amocrm", "hubspot", "pipedrive");
 *         static. */
const char *cp_crm_name(enum cp_crm crm);
/** @brief The CRM of a URL segment ("kommo" is amoCRM); -1 if none. */
int cp_crm_parse(const char *name);

/** Which record stands for the customer, in order of preference. */
enum cp_customer_from {
    CP_CUSTOMER_COMPANY = 0, /* the deal's company / organization */
    CP_CUSTOMER_CONTACT,     /* its contact / person */
    CP_CUSTOMER_DEAL,        /* the deal itself (no link known) */
};

#define CP_TENANT_MAX_STAGES 64
#define CP_TENANT_MAX_IDS    16

/** One CRM stage id and the name it has in our funnel. */
struct cp_stage_map {
    char *crm_id; /* owned */
    char *name;   /* owned; our stage name */
    int order;    /* 1.. in file order: StageChanged.stage_order */
};

/** A tenant's settings. Passive, read-only once loaded. */
struct cp_tenant {
    char *name;       /* owned; our tenant_id and the URL's <tenant> */
    enum cp_crm crm;  /* crm = ... */
    char *secret;     /* owned: HubSpot app secret, Bitrix24 application
                         token, amoCRM path secret; NULL: unset */
    char *user;       /* owned: Pipedrive Basic-auth user */
    char *password;   /* owned: Pipedrive Basic-auth password */
    char *account;    /* owned: amoCRM account id; Bitrix24 member_id */
    char *url;        /* owned: the public URL the CRM calls (HubSpot
                         signs it); NULL: http://<Host><path> */
    char *rest_url;   /* owned: vendor REST base; NULL: no fetches */
    char *rest_token; /* owned: Bearer token for rest_url; NULL: none */
    char *source;     /* owned: LeadCreated.source; default the CRM name */
    enum cp_customer_from customer[3]; /* preference order */
    size_t customer_cnt;
    struct cp_stage_map stages[CP_TENANT_MAX_STAGES];
    size_t stage_cnt;
    char *won[CP_TENANT_MAX_IDS]; /* owned: stage/status ids that mean won */
    size_t won_cnt;
    char *lost[CP_TENANT_MAX_IDS]; /* owned: ... lost */
    size_t lost_cnt;
    char *closed[CP_TENANT_MAX_IDS]; /* owned: ticket stages that mean
                                        resolved (HubSpot) */
    size_t closed_cnt;
    int64_t amount_scale;    /* minor units per major unit (100) */
    int64_t offline_poll_ms; /* Bitrix24: poll event.offline.get this
                                often; 0: off (offline.poll = seconds) */
};

struct cp_tenants;

/**
 * @brief Reads the tenants file @p path.
 * @returns the set, or NULL with "<path>:<line>: <reason> (fix: ...)" in
 *          @p errstr (never a secret).
 * Ownership: caller owns the result; free with cp_tenants_destroy().
 */
struct cp_tenants *cp_tenants_load(const char *path, char *errstr,
                                   size_t errstr_size);

/** @brief Same as cp_tenants_load() from text in memory (tests, fuzzing);
 *         @p origin names it in messages. */
struct cp_tenants *cp_tenants_parse(const char *text, size_t len,
                                    const char *origin, char *errstr,
                                    size_t errstr_size);

/** @returns the tenant named @p name, or NULL. Ownership: borrowed. */
const struct cp_tenant *cp_tenants_find(const struct cp_tenants *ts,
                                        const char *name);
size_t cp_tenants_count(const struct cp_tenants *ts);
/** @returns tenant @p i (< count). Ownership: borrowed. */
const struct cp_tenant *cp_tenants_get(const struct cp_tenants *ts, size_t i);

/** @returns our stage for CRM stage @p crm_id, or NULL. */
const struct cp_stage_map *cp_tenant_stage(const struct cp_tenant *t,
                                           const char *crm_id);
bool cp_tenant_is_won(const struct cp_tenant *t, const char *id);
bool cp_tenant_is_lost(const struct cp_tenant *t, const char *id);
bool cp_tenant_is_closed(const struct cp_tenant *t, const char *id);

void cp_tenants_destroy(struct cp_tenants *ts);

#endif
