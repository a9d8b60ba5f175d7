/* SPDX-License-Identifier: Apache-2.0 */
/* Form bodies: one pass that splits and percent-decodes into one owned
 * text buffer (decoding never grows a piece), then pair pointers into it. */
#include "form.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes body[from, to) into *out (NUL-terminated); @returns the byte
 * offset of a bad escape or NUL, or -1 when fine. */
static long decode(const char *body, size_t from, size_t to, char **out)
{
    char *o = *out;

    for (size_t i = from; i < to; i++) {
        char c = body[i];

        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;

            if (i + 2 >= to) /* needs two hex digits before the end */
                return (long)i;
            hi = hexval(body[i + 1]);
            lo = hexval(body[i + 2]);
            if (hi < 0 || lo < 0)
                return (long)i;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0')
            return (long)i;
        *o++ = c;
    }
    *o++ = '\0';
    *out = o;
    return -1;
}

cp_rc cp_form_parse(const char *body, size_t len, struct cp_form *form,
                    char *reason, size_t reason_size)
{
    size_t cap = 0, pos = 0;
    char *w;

    memset(form, 0, sizeof(*form));
    /* Each piece decodes to at most its own length plus a NUL, and a
     * key without '=' gets a 1-byte "" value: 2 * len + 2 bounds it. */
    form->text = malloc(2 * len + 2);
    if (!form->text)
        return CP_ENOMEM;
    w = form->text;
    while (pos < len) {
        const char *amp = memchr(body + pos, '&', len - pos);
        size_t end = amp ? (size_t)(amp - body) : len;
        const char *eq = memchr(body + pos, '=', end - pos);
        size_t kend = eq ? (size_t)(eq - body) : end;
        struct cp_form_pair *pairs;
        long bad;
        char *key, *value;

        if (end == pos) {
            pos = end + 1;
            continue;
        }
        if (form->cnt >= CP_FORM_MAX_PAIRS) {
            cp_decode_fail(reason, reason_size, "form: more than %d pairs",
                           CP_FORM_MAX_PAIRS);
            goto bad;
        }
        key = w;
        bad = decode(body, pos, kend, &w);
        value = w;
        if (bad < 0)
            bad = eq ? decode(body, kend + 1, end, &w) : (*w++ = '\0', -1);
        if (bad >= 0) {
            cp_decode_fail(reason, reason_size,
                           "form: bad %%-escape or NUL at byte %ld", bad);
            goto bad;
        }
        pairs = cp_grow(form->pairs, &cap, form->cnt, sizeof(*pairs), 16);
        if (!pairs) {
            cp_form_cleanup(form);
            return CP_ENOMEM;
        }
        form->pairs = pairs;
        pairs[form->cnt].key = key;
        pairs[form->cnt].value = value;
        form->cnt++;
        pos = end + 1;
    }
    return CP_OK;

bad:
    cp_form_cleanup(form);
    return CP_EDECODE;
}

const char *cp_form_get(const struct cp_form *form, const char *key)
{
    for (size_t i = 0; i < form->cnt; i++)
        if (!strcmp(form->pairs[i].key, key))
            return form->pairs[i].value;
    return NULL;
}

const char *cp_form_getf(const struct cp_form *form, const char *fmt, ...)
{
    char key[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(key, sizeof(key), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(key))
        return NULL;
    return cp_form_get(form, key);
}

void cp_form_cleanup(struct cp_form *form)
{
    free(form->pairs);
    free(form->text);
    memset(form, 0, sizeof(*form));
}
