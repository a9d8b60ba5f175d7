/* SPDX-License-Identifier: Apache-2.0 */
/* Who may read the wallboard (board_int.h): the tokens of board.token,
 * each for every tenant or for one. Compared in constant time, so the time
 * an answer takes says nothing about how much of a guess was right. */
#include "board_int.h"

#include <stdlib.h>
#include <string.h>

struct access_token {
    char *token;  /* owned */
    char *tenant; /* owned; NULL = every tenant */
};

struct cp__access {
    struct access_token *tokens; /* owned */
    size_t cnt;
};

/* Equal in time that depends on the lengths only. */
static int same_secret(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char diff = alen != blen;

    for (size_t i = 0; i < alen && i < blen; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* Appends one "TOKEN[@TENANT]" entry of @p len bytes. */
static int add_entry(struct cp__access *acc, const char *p, size_t len)
{
    const char *at = memchr(p, '@', len);
    struct access_token *t;
    size_t cap = acc->cnt; /* grown by one each time: a handful of TVs */

    t = realloc(acc->tokens, (cap + 1) * sizeof(*t));
    if (!t)
        return -1;
    acc->tokens = t;
    t = &acc->tokens[acc->cnt];
    t->token = strndup(p, at ? (size_t)(at - p) : len);
    t->tenant = at ? strndup(at + 1, len - (size_t)(at - p) - 1) : NULL;
    if (!t->token || (at && !t->tenant)) {
        free(t->token);
        free(t->tenant);
        return -1;
    }
    acc->cnt++;
    return 0;
}

struct cp__access *cp__access_new(const char *list)
{
    struct cp__access *acc = calloc(1, sizeof(*acc));
    const char *p = list;

    if (!acc)
        return NULL;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len;

        if (!end)
            end = p + strlen(p);
        while (p < end && *p == ' ')
            p++;
        len = (size_t)(end - p);
        while (len && p[len - 1] == ' ')
            len--;
        if (len && add_entry(acc, p, len)) {
            cp__access_destroy(acc);
            return NULL;
        }
        p = *end ? end + 1 : end;
    }
    return acc;
}

void cp__access_destroy(struct cp__access *acc)
{
    if (!acc)
        return;
    for (size_t i = 0; i < acc->cnt; i++) {
        free(acc->tokens[i].token);
        free(acc->tokens[i].tenant);
    }
    free(acc->tokens);
    free(acc);
}

int cp__access_required(const struct cp__access *acc)
{
    return acc->cnt > 0;
}

int cp__access_check(const struct cp__access *acc, const char *token,
                     size_t len, const char **tenant)
{
    int found = 0;

    *tenant = NULL;
    /* Every entry is compared, whichever matches. */
    for (size_t i = 0; i < acc->cnt; i++) {
        const struct access_token *t = &acc->tokens[i];

        if (same_secret(t->token, strlen(t->token), token, len) && !found) {
            found = 1;
            *tenant = t->tenant;
        }
    }
    return found ? 0 : -1;
}
