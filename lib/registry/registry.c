/* SPDX-License-Identifier: Apache-2.0 */
/* The schema registry client: libcurl for HTTP (one easy handle, kept
 * alive), jansson for the replies, a cache of schema ids (ids never change
 * their schema, so an answer, found or not, is kept for the process life).
 * Failover walks the URLs in order from the one that answered last. */
#include "registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#define BODY_MAX  (1u << 20) /* a reply (and so a schema) at most 1 MiB */
#define URLS_MAX  8          /* failover URLs */
#define CACHE_MAX 65536      /* schema ids held */

struct cached {
    uint32_t id;
    char *json;   /* owned; NULL: definitely no usable schema */
    char *reason; /* owned; why json is NULL */
};

struct body {
    char *data; /* owned, NUL-terminated */
    size_t len;
    bool too_big;
};

struct cp_registry {
    CURL *curl;              /* owned */
    struct curl_slist *hdrs; /* owned */
    char *urls[URLS_MAX];    /* owned, without a trailing '/' */
    int url_cnt;
    int cur;                     /* the URL that answered last */
    volatile sig_atomic_t *stop; /* borrowed, or NULL */
    struct cached *cache;        /* owned */
    size_t cache_cnt, cache_cap;
    struct body body; /* the last reply */
    struct cp_registry_stats st;
};

/* ---- life cycle ---- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct body *b = userdata;
    size_t n = size * nmemb;
    char *grown;

    if (b->len + n > BODY_MAX) {
        b->too_big = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    grown = realloc(b->data, b->len + n + 1);
    if (!grown)
        return 0;
    b->data = grown;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    const struct cp_registry *reg = userdata;

    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return reg->stop && *reg->stop; /* non-zero aborts the transfer */
}

struct cp_registry *cp_registry_new(const struct cp_registry_opts *opts,
                                    char *errstr, size_t errstr_size)
{
    struct cp_registry *reg = calloc(1, sizeof(*reg));
    const char *p = opts->urls ? opts->urls : "";

    if (!reg) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    while (*p) {
        size_t n = strcspn(p, ",");

        while (n && p[n - 1] == '/')
            n--;
        if (strncmp(p, "http://", 7) && strncmp(p, "https://", 8)) {
            snprintf(errstr, errstr_size,
                     "schema.registry.url: %.*s is not http[s]://host:port "
                     "(fix the setting)",
                     (int)(n > 200 ? 200 : n), p);
            goto fail;
        }
        if (reg->url_cnt == URLS_MAX) {
            snprintf(errstr, errstr_size,
                     "schema.registry.url: more than %d URLs", URLS_MAX);
            goto fail;
        }
        if (!(reg->urls[reg->url_cnt++] = strndup(p, n))) {
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
        p += strcspn(p, ",");
        if (*p == ',')
            p++;
    }
    if (!reg->url_cnt) {
        snprintf(errstr, errstr_size,
                 "schema.registry.url is empty: set http://host:port");
        goto fail;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) ||
        !(reg->curl = curl_easy_init())) {
        snprintf(errstr, errstr_size, "schema registry: libcurl init failed");
        goto fail;
    }
    reg->hdrs = curl_slist_append(
        NULL, "Accept: application/vnd.schemaregistry.v1+json, "
              "application/json");
    if (reg->hdrs)
        reg->hdrs = curl_slist_append(
            reg->hdrs, "Content-Type: application/vnd.schemaregistry.v1+json");
    if (!reg->hdrs) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    curl_easy_setopt(reg->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(reg->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(reg->curl, CURLOPT_TIMEOUT_MS, (long)opts->timeout_ms);
    curl_easy_setopt(reg->curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)opts->timeout_ms);
    curl_easy_setopt(reg->curl, CURLOPT_HTTPHEADER, reg->hdrs);
    curl_easy_setopt(reg->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(reg->curl, CURLOPT_WRITEDATA, &reg->body);
    curl_easy_setopt(reg->curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(reg->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(reg->curl, CURLOPT_XFERINFODATA, reg);
    curl_easy_setopt(reg->curl, CURLOPT_SSL_VERIFYPEER, opts->verify ? 1L : 0L);
    curl_easy_setopt(reg->curl, CURLOPT_SSL_VERIFYHOST, opts->verify ? 2L : 0L);
    if (opts->ca_file && *opts->ca_file)
        curl_easy_setopt(reg->curl, CURLOPT_CAINFO, opts->ca_file);
    if (opts->user_info && *opts->user_info) {
        curl_easy_setopt(reg->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(reg->curl, CURLOPT_USERPWD, opts->user_info);
    }
    return reg;

fail:
    cp_registry_destroy(reg);
    return NULL;
}

void cp_registry_destroy(struct cp_registry *reg)
{
    if (!reg)
        return;
    if (reg->curl)
        curl_easy_cleanup(reg->curl);
    curl_slist_free_all(reg->hdrs);
    for (int i = 0; i < reg->url_cnt; i++)
        free(reg->urls[i]);
    for (size_t i = 0; i < reg->cache_cnt; i++) {
        free(reg->cache[i].json);
        free(reg->cache[i].reason);
    }
    free(reg->cache);
    free(reg->body.data);
    free(reg);
}

void cp_registry_set_stop(struct cp_registry *reg, volatile sig_atomic_t *stop)
{
    reg->stop = stop;
}

void cp_registry_stats(const struct cp_registry *reg,
                       struct cp_registry_stats *st)
{
    *st = reg->st;
    st->cached = reg->cache_cnt;
}

/* ---- requests ---- */

/* The outcome of one request across the failover URLs. */
enum outcome {
    ANSWERED,  /* an HTTP status below 500: *status, body in reg->body */
    NO_ANSWER, /* every URL failed: reason set */
    TOO_BIG,   /* a reply over BODY_MAX */
    NO_MEMORY,
};

/* GET (post == NULL) or POST @p post to <url><path>, on each URL in turn
 * from the last that answered. */
static enum outcome request(struct cp_registry *reg, const char *path,
                            const char *post, long *status, char *reason,
                            size_t reason_size)
{
    char url[4352];

    snprintf(reason, reason_size, "no schema registry URL");
    for (int k = 0; k < reg->url_cnt; k++) {
        int u = (reg->cur + k) % reg->url_cnt;
        CURLcode cc;

        if (reg->stop && *reg->stop) {
            snprintf(reason, reason_size, "stopping");
            return NO_ANSWER;
        }
        free(reg->body.data);
        memset(&reg->body, 0, sizeof(reg->body));
        snprintf(url, sizeof(url), "%s%s", reg->urls[u], path);
        curl_easy_setopt(reg->curl, CURLOPT_URL, url);
        if (post) {
            curl_easy_setopt(reg->curl, CURLOPT_POSTFIELDS, post);
            curl_easy_setopt(reg->curl, CURLOPT_POSTFIELDSIZE,
                             (long)strlen(post));
        } else {
            curl_easy_setopt(reg->curl, CURLOPT_HTTPGET, 1L);
        }
        reg->st.requests++;
        cc = curl_easy_perform(reg->curl);
        if (cc == CURLE_WRITE_ERROR && reg->body.too_big)
            return TOO_BIG;
        if (cc == CURLE_WRITE_ERROR)
            return NO_MEMORY;
        if (cc != CURLE_OK) {
            reg->st.errors++;
            snprintf(reason, reason_size, "schema registry %s: %s",
                     reg->urls[u], curl_easy_strerror(cc));
            continue;
        }
        curl_easy_getinfo(reg->curl, CURLINFO_RESPONSE_CODE, status);
        if (*status >= 500 || *status < 200) {
            reg->st.errors++;
            snprintf(reason, reason_size, "schema registry %s: HTTP %ld",
                     reg->urls[u], *status);
            continue;
        }
        reg->cur = u;
        return ANSWERED;
    }
    return NO_ANSWER;
}

/* The reply's Confluent error code and message, for reasons. */
static int error_code(const struct body *b, char *msg, size_t msg_size)
{
    json_t *root = b->data ? json_loadb(b->data, b->len, 0, NULL) : NULL;
    json_t *code = json_object_get(root, "error_code");
    const char *m = json_string_value(json_object_get(root, "message"));
    int rc = json_is_integer(code) ? (int)json_integer_value(code) : 0;

    snprintf(msg, msg_size, "%.200s", m ? m : "");
    json_decref(root);
    return rc;
}

static cp_rc cache_add(struct cp_registry *reg, uint32_t id, char *json,
                       char *why)
{
    if (reg->cache_cnt == reg->cache_cap) {
        size_t cap = reg->cache_cap ? reg->cache_cap * 2 : 16;
        struct cached *grown;

        if (cap > CACHE_MAX)
            cap = CACHE_MAX;
        if (reg->cache_cnt == cap)
            goto nomem;
        grown = realloc(reg->cache, cap * sizeof(*grown));
        if (!grown)
            goto nomem;
        reg->cache = grown;
        reg->cache_cap = cap;
    }
    reg->cache[reg->cache_cnt++] = (struct cached){id, json, why};
    return CP_OK;

nomem:
    free(json);
    free(why);
    return CP_ENOMEM;
}

/* Remembers a definite "no usable schema" and says it in @p reason. */
static cp_rc definite_no(struct cp_registry *reg, uint32_t id,
                         const char *reason)
{
    char *why = strdup(reason);
    cp_rc rc;

    if (!why)
        return CP_ENOMEM;
    rc = cache_add(reg, id, NULL, why);
    return rc ? rc : CP_EDECODE;
}

cp_rc cp_registry_schema(struct cp_registry *reg, uint32_t id,
                         const char **json, char *reason, size_t reason_size)
{
    char path[64], msg[256];
    long status = 0;
    json_t *root;
    const char *schema, *type;
    char *copy;

    for (size_t i = 0; i < reg->cache_cnt; i++)
        if (reg->cache[i].id == id) {
            if (reg->cache[i].json) {
                *json = reg->cache[i].json;
                return CP_OK;
            }
            snprintf(reason, reason_size, "%s", reg->cache[i].reason);
            return CP_EDECODE;
        }
    snprintf(path, sizeof(path), "/schemas/ids/%" PRIu32, id);
    switch (request(reg, path, NULL, &status, reason, reason_size)) {
    case NO_ANSWER:
        return CP_EIO;
    case NO_MEMORY:
        return CP_ENOMEM;
    case TOO_BIG:
        snprintf(reason, reason_size,
                 "schema id %" PRIu32 ": the registry's schema is over %u "
                 "bytes",
                 id, BODY_MAX);
        return definite_no(reg, id, reason);
    case ANSWERED:
        break;
    }
    if (status == 404) {
        int code = error_code(&reg->body, msg, sizeof(msg));

        snprintf(reason, reason_size,
                 "schema id %" PRIu32 " not found in the schema registry "
                 "(%d)",
                 id, code ? code : 404);
        return definite_no(reg, id, reason);
    }
    if (status != 200) {
        /* 401/403 and other refusals are the deployment's to fix, not the
         * message's fault: wait, like for a registry that is down. */
        int code = error_code(&reg->body, msg, sizeof(msg));

        reg->st.errors++;
        snprintf(reason, reason_size,
                 "schema registry: GET %s answered HTTP %ld (%d %s)%s", path,
                 status, code, msg,
                 status == 401 || status == 403
                     ? ": check schema.registry.basic.auth.user.info"
                     : "");
        return CP_EIO;
    }
    root = json_loadb(reg->body.data ? reg->body.data : "", reg->body.len, 0,
                      NULL);
    schema = json_string_value(json_object_get(root, "schema"));
    type = json_string_value(json_object_get(root, "schemaType"));
    if (!schema) {
        json_decref(root);
        reg->st.errors++;
        snprintf(reason, reason_size,
                 "schema registry: GET %s: the reply is not "
                 "{\"schema\": \"...\"}",
                 path);
        return CP_EIO;
    }
    if (type && strcmp(type, "AVRO")) {
        snprintf(reason, reason_size,
                 "schema id %" PRIu32 " is a %.32s schema, not AVRO", id, type);
        json_decref(root);
        return definite_no(reg, id, reason);
    }
    copy = strdup(schema);
    json_decref(root);
    if (!copy || cache_add(reg, id, copy, NULL))
        return CP_ENOMEM;
    *json = copy;
    return CP_OK;
}

cp_rc cp_registry_id_for(struct cp_registry *reg, const char *subject,
                         const char *schema_json, bool auto_register,
                         uint32_t *id, char *reason, size_t reason_size)
{
    char *esc = curl_easy_escape(reg->curl, subject, 0);
    json_t *req = json_pack("{ss}", "schema", schema_json);
    char *post = req ? json_dumps(req, JSON_COMPACT) : NULL;
    char path[1024], msg[256];
    long status = 0;
    cp_rc rc = CP_ENOMEM;
    json_t *root = NULL, *jid;

    json_decref(req);
    if (!esc || !post)
        goto out;
    snprintf(path, sizeof(path), "/subjects/%s%s", esc,
             auto_register ? "/versions" : "");
    switch (request(reg, path, post, &status, reason, reason_size)) {
    case NO_ANSWER:
        rc = CP_EIO;
        goto out;
    case NO_MEMORY:
        goto out;
    case TOO_BIG:
        rc = CP_EIO;
        snprintf(reason, reason_size,
                 "schema registry: POST %s: reply too "
                 "big",
                 path);
        goto out;
    case ANSWERED:
        break;
    }
    if (status != 200) {
        int code = error_code(&reg->body, msg, sizeof(msg));

        rc = CP_ECONFIG;
        snprintf(reason, reason_size,
                 "schema registry: %s %s under subject %s: HTTP %ld (%d %s)%s",
                 auto_register ? "register" : "look up", "schema", subject,
                 status, code, msg,
                 code == 40401 || code == 40403
                     ? ": register it, or set schema.registry.auto.register="
                       "true"
                 : status == 401 || status == 403
                     ? ": check schema.registry.basic.auth.user.info"
                 : status == 409 ? ": the schema is not compatible with the "
                                   "subject's versions"
                                 : "");
        goto out;
    }
    root = json_loadb(reg->body.data ? reg->body.data : "", reg->body.len, 0,
                      NULL);
    jid = json_object_get(root, "id");
    if (!json_is_integer(jid) || json_integer_value(jid) < 0 ||
        json_integer_value(jid) > INT32_MAX) {
        rc = CP_EIO;
        snprintf(reason, reason_size,
                 "schema registry: POST %s: the reply has no id", path);
        goto out;
    }
    *id = (uint32_t)json_integer_value(jid);
    rc = CP_OK;
out:
    json_decref(root);
    free(post);
    curl_free(esc);
    return rc;
}
