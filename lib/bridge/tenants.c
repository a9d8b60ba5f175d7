/* SPDX-License-Identifier: Apache-2.0 */
/* The tenants file: "[tenant NAME]" sections of "key = value" lines. Every
 * key is checked (an unknown key is an error, a typo never silently drops
 * a mapping) and every tenant is complete for its CRM before the bridge
 * starts. */
#include "tenants.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ids.h"

struct cp_tenants {
    struct cp_tenant *items; /* owned */
    size_t cnt, cap;
};

static const char *const crm_names[CP_CRM_CNT] = {"bitrix24", "amocrm",
                                                  "hubspot", "pipedrive"};

const char *cp_crm_name(enum cp_crm crm)
{
    return (unsigned)crm < CP_CRM_CNT ? crm_names[crm] : "?";
}

int cp_crm_parse(const char *name)
{
    for (int i = 0; i < CP_CRM_CNT; i++)
        if (!strcmp(name, crm_names[i]))
            return i;
    if (!strcmp(name, "kommo"))
        return CP_CRM_AMOCRM;
    return -1;
}

/* ---- lookups ---- */

static bool in_list(char *const *list, size_t cnt, const char *id)
{
    for (size_t i = 0; i < cnt; i++)
        if (!strcmp(list[i], id))
            return true;
    return false;
}

const struct cp_stage_map *cp_tenant_stage(const struct cp_tenant *t,
                                           const char *crm_id)
{
    for (size_t i = 0; i < t->stage_cnt; i++)
        if (!strcmp(t->stages[i].crm_id, crm_id))
            return &t->stages[i];
    return NULL;
}

bool cp_tenant_is_won(const struct cp_tenant *t, const char *id)
{
    return in_list(t->won, t->won_cnt, id);
}

bool cp_tenant_is_lost(const struct cp_tenant *t, const char *id)
{
    return in_list(t->lost, t->lost_cnt, id);
}

bool cp_tenant_is_closed(const struct cp_tenant *t, const char *id)
{
    return in_list(t->closed, t->closed_cnt, id);
}

const struct cp_tenant *cp_tenants_find(const struct cp_tenants *ts,
                                        const char *name)
{
    for (size_t i = 0; i < ts->cnt; i++)
        if (!strcmp(ts->items[i].name, name))
            return &ts->items[i];
    return NULL;
}

size_t cp_tenants_count(const struct cp_tenants *ts)
{
    return ts->cnt;
}

const struct cp_tenant *cp_tenants_get(const struct cp_tenants *ts, size_t i)
{
    return &ts->items[i];
}

/* ---- parsing ---- */

static void tenant_cleanup(struct cp_tenant *t)
{
    free(t->name);
    free(t->secret);
    free(t->user);
    free(t->password);
    free(t->account);
    free(t->url);
    free(t->rest_url);
    free(t->rest_token);
    free(t->source);
    for (size_t i = 0; i < t->stage_cnt; i++) {
        free(t->stages[i].crm_id);
        free(t->stages[i].name);
    }
    for (size_t i = 0; i < t->won_cnt; i++)
        free(t->won[i]);
    for (size_t i = 0; i < t->lost_cnt; i++)
        free(t->lost[i]);
    for (size_t i = 0; i < t->closed_cnt; i++)
        free(t->closed[i]);
}

void cp_tenants_destroy(struct cp_tenants *ts)
{
    if (!ts)
        return;
    for (size_t i = 0; i < ts->cnt; i++)
        tenant_cleanup(&ts->items[i]);
    free(ts->items);
    free(ts);
}

#define FAIL(...)                                                              \
    do {                                                                       \
        snprintf(why, why_size, __VA_ARGS__);                                  \
        return CP_ECONFIG;                                                     \
    } while (0)

static cp_rc set_str(char **field, const char *value, char *why,
                     size_t why_size)
{
    char *copy = strdup(value);

    if (!copy)
        FAIL("out of memory");
    free(*field);
    *field = copy;
    return CP_OK;
}

/* "a, b,c" -> list entries (ids: no blanks inside). */
static cp_rc set_list(char **list, size_t *cnt, const char *key,
                      const char *value, char *why, size_t why_size)
{
    char buf[1024];
    char *save = NULL;

    if (strlen(value) >= sizeof(buf))
        FAIL("%s: list longer than %zu bytes", key, sizeof(buf) - 1);
    strcpy(buf, value);
    for (size_t i = 0; i < *cnt; i++)
        free(list[i]);
    *cnt = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        tok = cp_trim(tok);
        if (!*tok)
            continue;
        if (*cnt >= CP_TENANT_MAX_IDS)
            FAIL("%s: more than %d ids", key, CP_TENANT_MAX_IDS);
        list[*cnt] = strdup(tok);
        if (!list[*cnt])
            FAIL("out of memory");
        (*cnt)++;
    }
    if (*cnt == 0)
        FAIL("%s: empty list (fix: comma-separated ids)", key);
    return CP_OK;
}

static cp_rc set_customer(struct cp_tenant *t, const char *value, char *why,
                          size_t why_size)
{
    static const char *const names[] = {"company", "contact", "deal"};
    char buf[128];
    char *save = NULL;

    if (strlen(value) >= sizeof(buf))
        FAIL("customer: too long");
    strcpy(buf, value);
    t->customer_cnt = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        size_t k;

        tok = cp_trim(tok);
        for (k = 0; k < CP_ARRAY_SIZE(names); k++)
            if (!strcmp(tok, names[k]))
                break;
        if (k == CP_ARRAY_SIZE(names) || t->customer_cnt >= 3)
            FAIL("customer: \"%s\" is not a list of company, contact, deal",
                 value);
        t->customer[t->customer_cnt++] = (enum cp_customer_from)k;
    }
    if (!t->customer_cnt)
        FAIL("customer: empty (fix: e.g. customer = company,contact,deal)");
    return CP_OK;
}

static cp_rc apply(struct cp_tenant *t, const char *key, const char *value,
                   char *why, size_t why_size)
{
    if (!strcmp(key, "crm")) {
        int crm = cp_crm_parse(value);

        if (crm < 0)
            FAIL("crm: \"%s\" is not one of bitrix24, amocrm (kommo), "
                 "hubspot, pipedrive",
                 value);
        t->crm = (enum cp_crm)crm;
        return CP_OK;
    }
    if (!strcmp(key, "secret"))
        return set_str(&t->secret, value, why, why_size);
    if (!strcmp(key, "user"))
        return set_str(&t->user, value, why, why_size);
    if (!strcmp(key, "password"))
        return set_str(&t->password, value, why, why_size);
    if (!strcmp(key, "account"))
        return set_str(&t->account, value, why, why_size);
    if (!strcmp(key, "url"))
        return set_str(&t->url, value, why, why_size);
    if (!strcmp(key, "rest.url"))
        return set_str(&t->rest_url, value, why, why_size);
    if (!strcmp(key, "rest.token"))
        return set_str(&t->rest_token, value, why, why_size);
    if (!strcmp(key, "source")) {
        size_t len = strlen(value);

        if (len == 0 || len > 64 || cp_name_bad_byte(value, len, false) < len)
            FAIL("source: \"%s\" must be 1-64 of [A-Za-z0-9_-]", value);
        return set_str(&t->source, value, why, why_size);
    }
    if (!strcmp(key, "customer"))
        return set_customer(t, value, why, why_size);
    if (!strcmp(key, "won"))
        return set_list(t->won, &t->won_cnt, key, value, why, why_size);
    if (!strcmp(key, "lost"))
        return set_list(t->lost, &t->lost_cnt, key, value, why, why_size);
    if (!strcmp(key, "ticket.closed"))
        return set_list(t->closed, &t->closed_cnt, key, value, why, why_size);
    if (!strcmp(key, "amount.scale")) {
        char *end;
        long long v;

        errno = 0;
        v = strtoll(value, &end, 10);
        if (errno || *end || (v != 1 && v != 10 && v != 100 && v != 1000))
            FAIL("amount.scale: \"%s\" must be 1, 10, 100 or 1000 (minor "
                 "units per major unit)",
                 value);
        t->amount_scale = v;
        return CP_OK;
    }
    if (!strcmp(key, "offline.poll")) {
        char *end;
        long long v;

        errno = 0;
        v = strtoll(value, &end, 10);
        if (errno || *end || end == value || v < 0 || v > 3600)
            FAIL("offline.poll: \"%s\" must be seconds, 0 (off) to 3600",
                 value);
        t->offline_poll_ms = v * 1000;
        return CP_OK;
    }
    if (!strncmp(key, "stage.", 6) && key[6]) {
        size_t len = strlen(value);
        struct cp_stage_map *s;

        if (len == 0 || len > 64 || cp_name_bad_byte(value, len, false) < len)
            FAIL("%s: stage name \"%s\" must be 1-64 of [A-Za-z0-9_-]", key,
                 value);
        if (cp_tenant_stage(t, key + 6))
            FAIL("%s: stage given twice", key);
        if (t->stage_cnt >= 63)
            FAIL("%s: more than 63 stages (stage_order is 0-63)", key);
        s = &t->stages[t->stage_cnt];
        s->crm_id = strdup(key + 6);
        s->name = strdup(value);
        if (!s->crm_id || !s->name) {
            free(s->crm_id);
            free(s->name);
            FAIL("out of memory");
        }
        s->order = (int)++t->stage_cnt;
        return CP_OK;
    }
    FAIL("unknown key \"%s\" (fix: see deploy/bridge.conf for the keys)", key);
}

/* Defaults by CRM and the checks that a tenant is usable. */
static cp_rc finish(struct cp_tenant *t, char *why, size_t why_size)
{
    static const char *const won_def[CP_CRM_CNT] = {"WON", "142", "closedwon",
                                                    "won"};
    static const char *const lost_def[CP_CRM_CNT] = {"LOSE", "143",
                                                     "closedlost", "lost"};
    cp_rc rc;

    switch (t->crm) {
    case CP_CRM_HUBSPOT:
    case CP_CRM_BITRIX24:
        if (!t->secret)
            FAIL("tenant %s: secret missing (fix: secret = the %s)", t->name,
                 t->crm == CP_CRM_HUBSPOT ? "app's client secret"
                                          : "application_token");
        break;
    case CP_CRM_AMOCRM:
        if (!t->secret || !t->account)
            FAIL("tenant %s: amoCRM needs account = <account id> and secret "
                 "= <the secret path segment of the webhook URL>",
                 t->name);
        break;
    case CP_CRM_PIPEDRIVE:
        if (!t->user || !t->password)
            FAIL("tenant %s: Pipedrive needs user and password (the "
                 "webhook's HTTP Basic auth)",
                 t->name);
        break;
    case CP_CRM_CNT:
        FAIL("tenant %s: crm missing (fix: crm = bitrix24|amocrm|hubspot|"
             "pipedrive)",
             t->name);
    }
    if (t->offline_poll_ms && (t->crm != CP_CRM_BITRIX24 || !t->rest_url))
        FAIL("tenant %s: offline.poll is for Bitrix24 tenants with rest.url "
             "(the inbound webhook that reads event.offline.get)",
             t->name);
    if (!t->won_cnt) {
        rc = set_list(t->won, &t->won_cnt, "won", won_def[t->crm], why,
                      why_size);
        if (rc)
            return rc;
    }
    if (!t->lost_cnt) {
        rc = set_list(t->lost, &t->lost_cnt, "lost", lost_def[t->crm], why,
                      why_size);
        if (rc)
            return rc;
    }
    if (!t->source)
        return set_str(&t->source, cp_crm_name(t->crm), why, why_size);
    return CP_OK;
}

static cp_rc start_tenant(struct cp_tenants *ts, const char *name, char *why,
                          size_t why_size)
{
    struct cp_tenant *items, *t;
    size_t len = strlen(name);

    if (!cp_id_valid(name, len))
        FAIL("tenant name \"%s\" must be 1-64 of [A-Za-z0-9._-]", name);
    if (cp_tenants_find(ts, name))
        FAIL("tenant %s given twice", name);
    items = cp_grow(ts->items, &ts->cap, ts->cnt, sizeof(*items), 4);
    if (!items)
        FAIL("out of memory");
    ts->items = items;
    t = &items[ts->cnt];
    memset(t, 0, sizeof(*t));
    t->crm = CP_CRM_CNT;
    t->amount_scale = 100;
    t->customer[0] = CP_CUSTOMER_COMPANY;
    t->customer[1] = CP_CUSTOMER_CONTACT;
    t->customer[2] = CP_CUSTOMER_DEAL;
    t->customer_cnt = 3;
    t->name = strdup(name);
    ts->cnt++;
    if (!t->name)
        FAIL("out of memory");
    return CP_OK;
}

struct cp_tenants *cp_tenants_parse(const char *text, size_t len,
                                    const char *origin, char *errstr,
                                    size_t errstr_size)
{
    struct cp_tenants *ts = calloc(1, sizeof(*ts));
    char why[512] = "";
    size_t pos = 0;
    unsigned lineno = 0;

    if (!ts) {
        snprintf(errstr, errstr_size, "%s: out of memory", origin);
        return NULL;
    }
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        char line[2048];
        char *s, *eq;

        lineno++;
        if (end - pos >= sizeof(line)) {
            snprintf(why, sizeof(why), "line longer than %zu bytes",
                     sizeof(line) - 1);
            goto fail;
        }
        if (memchr(text + pos, '\0', end - pos)) {
            snprintf(why, sizeof(why), "NUL byte in the line");
            goto fail;
        }
        memcpy(line, text + pos, end - pos);
        line[end - pos] = '\0';
        pos = end + 1;
        s = cp_trim(line);
        if (!*s || *s == '#')
            continue;
        if (*s == '[') {
            size_t sl = strlen(s);

            if (sl < 10 || strncmp(s, "[tenant ", 8) != 0 || s[sl - 1] != ']') {
                snprintf(why, sizeof(why),
                         "expected a section \"[tenant NAME]\"");
                goto fail;
            }
            s[sl - 1] = '\0';
            if (start_tenant(ts, cp_trim(s + 8), why, sizeof(why)))
                goto fail;
            continue;
        }
        eq = strchr(s, '=');
        if (!eq) {
            snprintf(why, sizeof(why), "expected \"key = value\"");
            goto fail;
        }
        if (!ts->cnt) {
            snprintf(why, sizeof(why),
                     "setting before the first [tenant NAME] section");
            goto fail;
        }
        *eq = '\0';
        if (apply(&ts->items[ts->cnt - 1], cp_trim(s), cp_trim(eq + 1), why,
                  sizeof(why)))
            goto fail;
    }
    lineno = 0;
    for (size_t i = 0; i < ts->cnt; i++)
        if (finish(&ts->items[i], why, sizeof(why)))
            goto fail;
    if (!ts->cnt) {
        snprintf(why, sizeof(why),
                 "no tenant (fix: add a [tenant NAME] section, see "
                 "deploy/bridge.conf)");
        goto fail;
    }
    return ts;

fail:
    if (lineno)
        snprintf(errstr, errstr_size, "%s:%u: %s", origin, lineno, why);
    else
        snprintf(errstr, errstr_size, "%s: %s", origin, why);
    cp_tenants_destroy(ts);
    return NULL;
}

struct cp_tenants *cp_tenants_load(const char *path, char *errstr,
                                   size_t errstr_size)
{
    FILE *fp = fopen(path, "rb");
    struct cp_tenants *ts;
    char *text = NULL;
    size_t len = 0, cap = 0;

    if (!fp) {
        snprintf(errstr, errstr_size,
                 "open bridge.tenants file %s: %s (fix: set bridge.tenants "
                 "to the tenants file, see deploy/bridge.conf)",
                 path, strerror(errno));
        return NULL;
    }
    for (;;) {
        size_t n;

        if (len == cap) {
            char *grown;

            if (cap >= (16u << 20)) {
                snprintf(errstr, errstr_size, "%s: larger than 16 MiB", path);
                goto fail;
            }
            grown = realloc(text, cap ? cap * 2 : 8192);
            if (!grown) {
                snprintf(errstr, errstr_size, "%s: out of memory", path);
                goto fail;
            }
            text = grown;
            cap = cap ? cap * 2 : 8192;
        }
        n = fread(text + len, 1, cap - len, fp);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(fp)) {
        snprintf(errstr, errstr_size, "read %s: %s", path, strerror(errno));
        goto fail;
    }
    fclose(fp);
    ts = cp_tenants_parse(text, len, path, errstr, errstr_size);
    free(text);
    return ts;

fail:
    fclose(fp);
    free(text);
    return NULL;
}
