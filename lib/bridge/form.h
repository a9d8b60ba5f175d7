/* SPDX-License-Identifier: Apache-2.0 */
/* application/x-www-form-urlencoded bodies (Bitrix24 and amoCRM webhooks)
 * as a flat list of decoded key/value pairs: "data[FIELDS][ID]=7" stays
 * one key "data[FIELDS][ID]", looked up by its whole name. */
#ifndef CP_FORM_H
#define CP_FORM_H

#include <stddef.h>

#include "common.h"

/** Most pairs a body may hold: more is bad input, not a bigger array. */
#define CP_FORM_MAX_PAIRS 4096

/** One decoded pair. */
struct cp_form_pair {
    char *key;   /* owned by the form; NUL-terminated, decoded */
    char *value; /* owned by the form; NUL-terminated, decoded */
};

/** A parsed body. Passive: read .pairs; free with cp_form_cleanup(). */
struct cp_form {
    struct cp_form_pair *pairs; /* owned */
    size_t cnt;
    char *text; /* owned: every key and value, back to back */
};

/**
 * @brief Parses @p len bytes of a form body: pairs split on '&', key and
 *        value on the first '=', '+' is a space, %XX a byte. Empty pieces
 *        ("a=1&&b=2") are skipped; a key without '=' has the value "".
 * @returns CP_OK; CP_EDECODE with a reason ("form: bad %-escape at byte
 *          12", "form: NUL byte in pair 3", "form: more than 4096 pairs");
 *          CP_ENOMEM. On failure @p form holds nothing to free.
 * Ownership: caller cleans @p form with cp_form_cleanup(); @p body is
 *            only read during the call.
 */
cp_rc cp_form_parse(const char *body, size_t len, struct cp_form *form,
                    char *reason, size_t reason_size);

/** @brief The value of the first pair named @p key, or NULL.
 *  Ownership: borrowed from @p form. */
const char *cp_form_get(const struct cp_form *form, const char *key);

/** @brief cp_form_get() of the key printf(@p fmt, ...) makes (at most 255
 *         bytes; longer is NULL). */
const char *cp_form_getf(const struct cp_form *form, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void cp_form_cleanup(struct cp_form *form);

#endif
