/* SPDX-License-Identifier: Apache-2.0 */
/* redis.url parsing and masking. Strict on what can be checked (host, port,
 * database), lenient on the password, which may hold anything: it ends at
 * the last '@' since host, port and database cannot contain one. */
#include "url.h"

#include <ctype.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cluster.h"

#define USE " (use " CP_REDIS_URL_FORMS ")"

static char *dup_range(const char *s, size_t len)
{
    char *copy = malloc(len + 1);

    if (copy) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

/* @returns the value of @p len decimal digits, or -1 if there are none,
 *          another character is among them or the value exceeds @p max. */
static long digits_value(const char *s, size_t len, long max)
{
    long v = 0;

    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
        if (v > max)
            return -1;
    }
    return v;
}

/* A host name (labels of [A-Za-z0-9_-] joined by dots; '_' because container
 * names often have one) or a dotted IPv4 address. */
static int host_ok(const char *h, size_t len)
{
    int numeric = 1;
    size_t label = 0;
    int labels = 0;

    if (len == 0 || len > 253)
        return 0;
    for (size_t i = 0; i <= len; i++) {
        char c = i < len ? h[i] : '.';

        if (c == '.') {
            if (label == 0 || h[i - 1] == '-' || h[i - label] == '-')
                return 0;
            if (numeric && digits_value(h + i - label, label, 255) < 0)
                return 0;
            label = 0;
            labels++;
        } else if (isalnum((unsigned char)c) || c == '-' || c == '_') {
            if (!isdigit((unsigned char)c))
                numeric = 0;
            label++;
        } else {
            return 0;
        }
    }
    /* Digits and dots only must be a complete IPv4 address. */
    return !numeric || labels == 4;
}

static cp_rc fail(struct cp_redis_url *out, char *errstr, size_t errstr_size,
                  const char *reason)
{
    cp_redis_url_cleanup(out);
    snprintf(errstr, errstr_size, "%s" USE, reason);
    return CP_ECONFIG;
}

static cp_rc parse_unix(const char *path, struct cp_redis_url *out,
                        char *errstr, size_t errstr_size)
{
    const char *q = strchr(path, '?');
    size_t plen = q ? (size_t)(q - path) : strlen(path);

    if (path[0] != '/' || plen < 2)
        return fail(out, errstr, errstr_size, "needs an absolute socket path");
    if (q) {
        long db = strncmp(q, "?db=", 4)
                      ? -1
                      : digits_value(q + 4, strlen(q + 4), INT_MAX);

        if (db < 0)
            return fail(out, errstr, errstr_size,
                        "the only query allowed is ?db=N");
        out->db = (int)db;
    }
    out->socket_path = dup_range(path, plen);
    if (!out->socket_path) {
        snprintf(errstr, errstr_size, "out of memory");
        return CP_ENOMEM;
    }
    return CP_OK;
}

/* user info of redis://userinfo@...: "user:pass", ":pass" or "pass" (a lone
 * word is a password, as redis-cli reads it). */
static cp_rc parse_userinfo(const char *p, size_t len, struct cp_redis_url *out,
                            char *errstr, size_t errstr_size)
{
    const char *sep = memchr(p, ':', len);

    if (len == 0)
        return fail(out, errstr, errstr_size,
                    "has an empty user:password part");
    if (sep) {
        if (sep > p && !(out->user = dup_range(p, (size_t)(sep - p))))
            goto nomem;
        if (sep + 1 == p + len)
            return fail(out, errstr, errstr_size,
                        "has a user but an empty password");
        out->password = dup_range(sep + 1, (size_t)(p + len - sep - 1));
    } else {
        out->password = dup_range(p, len);
    }
    if (!out->password)
        goto nomem;
    return CP_OK;
nomem:
    cp_redis_url_cleanup(out);
    snprintf(errstr, errstr_size, "out of memory");
    return CP_ENOMEM;
}

cp_rc cp_redis_url_parse(const char *url, struct cp_redis_url *out,
                         char *errstr, size_t errstr_size)
{
    const char *p, *at, *host;
    size_t host_len;
    cp_rc rc;

    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (!strncasecmp(url, "unix://", 7))
        return parse_unix(url + 7, out, errstr, errstr_size);
    if (!strncasecmp(url, "rediss://", 9))
        return fail(out, errstr, errstr_size,
                    "asks for TLS (rediss://), which crmpulse does not "
                    "support; reach Redis through a local TLS tunnel");
    if (strncasecmp(url, "redis://", 8))
        return fail(out, errstr, errstr_size, "is not a Redis URL");
    p = url + 8;
    at = strrchr(p, '@');
    if (at) {
        rc = parse_userinfo(p, (size_t)(at - p), out, errstr, errstr_size);
        if (rc)
            return rc;
        p = at + 1;
    }
    host = p;
    while (*p && *p != ':' && *p != '/')
        p++;
    host_len = (size_t)(p - host);
    if (!host_ok(host, host_len))
        return fail(out, errstr, errstr_size,
                    "needs a host name or IPv4 address");
    if (*p == ':') {
        const char *port = ++p;

        while (*p && *p != '/')
            p++;
        out->port = (int)digits_value(port, (size_t)(p - port), 65535);
        if (out->port < 1)
            return fail(out, errstr, errstr_size, "port must be 1..65535");
    }
    if (*p == '/') {
        long db = digits_value(p + 1, strlen(p + 1), INT_MAX);

        if (db < 0)
            return fail(out, errstr, errstr_size,
                        "database must be a number 0..2147483647");
        out->db = (int)db;
    }
    out->host = dup_range(host, host_len);
    if (!out->host) {
        cp_redis_url_cleanup(out);
        snprintf(errstr, errstr_size, "out of memory");
        return CP_ENOMEM;
    }
    return CP_OK;
}

void cp_redis_url_cleanup(struct cp_redis_url *url)
{
    if (url->password) {
        /* volatile: the wipe must not be optimised away before free(). */
        volatile char *s = url->password;

        while (*s)
            *s++ = '\0';
    }
    free(url->host);
    free(url->socket_path);
    free(url->user);
    free(url->password);
    free(url->cluster_nodes);
    memset(url, 0, sizeof(*url));
}

cp_rc cp_redis_url_set_cluster(struct cp_redis_url *url, const char *nodes,
                               char *errstr, size_t errstr_size)
{
    char why[256];

    free(url->cluster_nodes);
    url->cluster_nodes = NULL;
    if (!nodes || !nodes[0])
        return CP_OK;
    if (cp_cluster_nodes_check(nodes, why, sizeof(why))) {
        snprintf(errstr, errstr_size, "redis.cluster.nodes: %s", why);
        return CP_ECONFIG;
    }
    if (url->db || url->socket_path) {
        snprintf(errstr, errstr_size,
                 "redis.url: a Redis Cluster has database 0 only and is "
                 "reached over TCP: use redis://[user:pass@]host with "
                 "redis.cluster.nodes");
        return CP_ECONFIG;
    }
    url->cluster_nodes = strdup(nodes);
    if (!url->cluster_nodes) {
        snprintf(errstr, errstr_size, "out of memory");
        return CP_ENOMEM;
    }
    return CP_OK;
}

/* Appends @p len bytes of @p s to @p out (at *@p pos), cut to fit. */
static void put(char *out, size_t out_size, size_t *pos, const char *s,
                size_t len)
{
    if (out_size == 0)
        return;
    while (len-- && *pos + 1 < out_size)
        out[(*pos)++] = *s++;
    out[*pos] = '\0';
}

/* Copies what follows the user info (or the scheme when there is none):
 * only the parts that have the shape of a host, a port, a database or a
 * unix path are shown, anything else (a password written where the port
 * or the database goes, a query such as ?password=) is "***" up to the
 * end. */
static void mask_tail(const char *s, bool unix_path, char *out, size_t out_size,
                      size_t *pos)
{
    const char *p = s;
    size_t n;

    if (*p == '@')
        put(out, out_size, pos, p++, 1);
    if (unix_path) {
        n = strcspn(p, "?");
        put(out, out_size, pos, p, n);
        p += n;
        if (*p && (strncmp(p, "?db=", 4) ||
                   digits_value(p + 4, strlen(p + 4), INT_MAX) < 0)) {
            put(out, out_size, pos, "?***", 4);
            return;
        }
        put(out, out_size, pos, p, strlen(p));
        return;
    }
    n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789._-");
    put(out, out_size, pos, p, n);
    p += n;
    if (*p == ':') {
        size_t plen = strcspn(p + 1, "/?");

        /* With no host before it, "port" is a password in disguise; after
         * a host, up to 5 digits read as a port (shown, valid or not, for
         * diagnosis: as ambiguous as a valid one), anything else not. */
        if (n == 0 || digits_value(p + 1, plen, 99999) < 0) {
            put(out, out_size, pos, ":***", 4);
            return;
        }
        put(out, out_size, pos, p, plen + 1);
        p += plen + 1;
    }
    if (*p == '/') {
        size_t dlen = strcspn(p + 1, "?");

        if (digits_value(p + 1, dlen, INT_MAX) < 0) {
            put(out, out_size, pos, "/***", 4);
            return;
        }
        put(out, out_size, pos, p, dlen + 1);
        p += dlen + 1;
    }
    if (*p == '?')
        put(out, out_size, pos, "?***", 4); /* redis:// takes no query */
    else if (*p)
        put(out, out_size, pos, "***", 3);
}

void cp_redis_url_mask(const char *url, char *out, size_t out_size)
{
    const char *at = strrchr(url, '@');
    const char *info, *colon;
    bool unix_path = !strncasecmp(url, "unix:", 5);
    size_t pos = 0;

    if (out_size == 0)
        return;
    out[0] = '\0';
    /* The user info starts after "scheme://", or after "//" in a typo such
     * as "redis//", else at the start: whatever the scheme looks like, what
     * precedes the last '@' is hidden. */
    info = strstr(url, "//");
    if (!at) {
        info = info ? info + 2 : url;
        put(out, out_size, &pos, url, (size_t)(info - url));
        mask_tail(info, unix_path, out, out_size, &pos);
        return;
    }
    info = info && info < at ? info + 2 : url;
    colon = memchr(info, ':', (size_t)(at - info));
    if (colon && colon > info)
        put(out, out_size, &pos, url, (size_t)(colon + 1 - url));
    else
        put(out, out_size, &pos, url, (size_t)(info - url));
    put(out, out_size, &pos, "***", 3);
    mask_tail(at, false, out, out_size, &pos);
}
