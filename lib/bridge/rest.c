/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl behind the fetcher interface: one reused easy handle (its
 * connection cache keeps the vendor's TLS session), bounded body, retries
 * with backoff; see rest.h. */
#include "rest.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "log.h"

#define REST_BACKOFF_CAP_MS 5000

struct cp_rest {
    struct cp_rest_opts opts;
    CURL *curl; /* owned */
    atomic_uint_fast64_t fetches, retries, failures;
};

struct sink {
    struct cp_buf *body;
    int full;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *opaque)
{
    struct sink *s = opaque;

    if (cp_buf_append(s->body, ptr, size * nmemb)) {
        s->full = 1;
        return 0; /* makes curl fail the transfer */
    }
    return size * nmemb;
}

struct cp_rest *cp_rest_new(const struct cp_rest_opts *opts, char *errstr,
                            size_t errstr_size)
{
    struct cp_rest *rest = calloc(1, sizeof(*rest));

    if (!rest) {
        snprintf(errstr, errstr_size, "rest client: out of memory");
        return NULL;
    }
    rest->opts = *opts;
    if (rest->opts.attempts < 1)
        rest->opts.attempts = 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rest->curl = curl_easy_init();
    if (!rest->curl) {
        snprintf(errstr, errstr_size, "rest client: curl_easy_init failed");
        cp_rest_destroy(rest);
        return NULL;
    }
    return rest;
}

void cp_rest_destroy(struct cp_rest *rest)
{
    if (!rest)
        return;
    if (rest->curl)
        curl_easy_cleanup(rest->curl);
    curl_global_cleanup();
    free(rest);
}

void cp_rest_stats(const struct cp_rest *rest, struct cp_rest_stats *out)
{
    out->fetches = atomic_load(&rest->fetches);
    out->retries = atomic_load(&rest->retries);
    out->failures = atomic_load(&rest->failures);
}

static cp_rc rest_get(void *opaque, const struct cp_tenant *t, const char *path,
                      struct cp_buf *body, char *err, size_t err_size)
{
    struct cp_rest *rest = opaque;
    struct curl_slist *hdrs = NULL;
    char url[2048], auth[1024];
    int wait = rest->opts.backoff_ms;
    cp_rc rc = CP_EIO;

    atomic_fetch_add(&rest->fetches, 1);
    if (snprintf(url, sizeof(url), "%s%s", t->rest_url, path) >=
        (int)sizeof(url)) {
        snprintf(err, err_size, "REST URL longer than %zu bytes",
                 sizeof(url) - 1);
        return CP_EDECODE;
    }
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (t->rest_token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", t->rest_token);
        hdrs = curl_slist_append(hdrs, auth);
        memset(auth, 0, sizeof(auth));
    }
    for (int attempt = 1; attempt <= rest->opts.attempts; attempt++) {
        struct sink s = {body, 0};
        long status = 0;
        curl_off_t retry_after = 0;
        CURLcode cc;

        cp_buf_reset(body);
        curl_easy_reset(rest->curl);
        curl_easy_setopt(rest->curl, CURLOPT_URL, url);
        curl_easy_setopt(rest->curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(rest->curl, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(rest->curl, CURLOPT_WRITEDATA, &s);
        curl_easy_setopt(rest->curl, CURLOPT_TIMEOUT_MS,
                         (long)rest->opts.timeout_ms);
        curl_easy_setopt(rest->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(rest->curl, CURLOPT_PROTOCOLS_STR, "http,https");
        cc = curl_easy_perform(rest->curl);
        if (cc == CURLE_OK) {
            curl_easy_getinfo(rest->curl, CURLINFO_RESPONSE_CODE, &status);
            curl_easy_getinfo(rest->curl, CURLINFO_RETRY_AFTER, &retry_after);
        }
        if (cc == CURLE_OK && status >= 200 && status < 300) {
            rc = CP_OK;
            break;
        }
        if (s.full) {
            snprintf(err, err_size, "GET %s: answer larger than %zu bytes",
                     path, body->max);
            rc = CP_EDECODE;
            break;
        }
        if (cc == CURLE_OK && status == 404) {
            snprintf(err, err_size, "GET %s: 404, no such record", path);
            rc = CP_EDECODE;
            break;
        }
        if (cc == CURLE_OK && status != 429 && status < 500) {
            /* 401/403: a wrong token is ours to fix; the CRM retries. */
            snprintf(err, err_size,
                     "GET %s: HTTP %ld (fix: check rest.token of tenant %s)",
                     path, status, t->name);
            rc = CP_EIO;
            break;
        }
        if (cc != CURLE_OK)
            snprintf(err, err_size, "GET %s: %s", path, curl_easy_strerror(cc));
        else
            snprintf(err, err_size, "GET %s: HTTP %ld after %d attempts", path,
                     status, attempt);
        if (attempt == rest->opts.attempts)
            break;
        atomic_fetch_add(&rest->retries, 1);
        if (status == 429 && retry_after > 0)
            wait = (int)cp_min64(retry_after * 1000, REST_BACKOFF_CAP_MS);
        cp_sleep_ms(wait);
        wait = (int)cp_min64((int64_t)wait * 2, REST_BACKOFF_CAP_MS);
    }
    curl_slist_free_all(hdrs);
    if (rc == CP_EIO) {
        atomic_fetch_add(&rest->failures, 1);
        cp_log(CP_LOG_WARNING, "BRIDGE", "tenant %s: %s", t->name, err);
    }
    return rc;
}

void cp_rest_fetcher(struct cp_rest *rest, struct cp_fetcher *f)
{
    f->get = rest_get;
    f->opaque = rest;
}
