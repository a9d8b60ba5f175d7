/* SPDX-License-Identifier: Apache-2.0 */
/* Growable byte buffer with a hard cap. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CP_BUF_DEFAULT_MAX ((size_t)1 << 30)

void cp_buf_init(struct cp_buf *buf, size_t max)
{
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
    buf->max = max ? max : CP_BUF_DEFAULT_MAX;
}

cp_rc cp_buf_reserve(struct cp_buf *buf, size_t extra)
{
    size_t need = buf->len + extra;
    size_t cap;
    char *data;

    if (need <= buf->cap)
        return CP_OK;
    if (need > buf->max || need < buf->len)
        return CP_ENOMEM;
    cap = buf->cap ? buf->cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > buf->max)
        cap = buf->max;
    data = cp__alloc_fails() ? NULL : realloc(buf->data, cap);
    if (!data)
        return CP_ENOMEM;
    buf->data = data;
    buf->cap = cap;
    return CP_OK;
}

cp_rc cp_buf_append(struct cp_buf *buf, const void *bytes, size_t len)
{
    if (cp_buf_reserve(buf, len))
        return CP_ENOMEM;
    if (len)
        memcpy(buf->data + buf->len, bytes, len);
    buf->len += len;
    return CP_OK;
}

cp_rc cp_buf_printf(struct cp_buf *buf, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (int pass = 0; pass < 2; pass++) {
        size_t room = buf->cap - buf->len;

        va_start(ap, fmt);
        n = vsnprintf(room ? buf->data + buf->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return CP_ENOMEM;
        if ((size_t)n < room) {
            buf->len += (size_t)n;
            return CP_OK;
        }
        if (cp_buf_reserve(buf, (size_t)n + 1))
            return CP_ENOMEM;
    }
    return CP_ENOMEM;
}

void cp_buf_cleanup(struct cp_buf *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}
