/* SPDX-License-Identifier: Apache-2.0 */
/* RESP command writer and the client-independent side of reply views. */
#include "resp.h"

#include "redis_int.h"

#include <stdio.h>
#include <string.h>

/* A buffer whose len exceeds cap marks a failed append (sticky). */
#define CP_CMDS_MAX ((size_t)512 << 20)

void cp_cmds_init(struct cp_cmds *cmds)
{
    cp_buf_init(&cmds->buf, CP_CMDS_MAX);
    cmds->cnt = 0;
}

void cp_cmds_reset(struct cp_cmds *cmds)
{
    cp_buf_reset(&cmds->buf);
    cmds->cnt = 0;
}

void cp_cmds_cleanup(struct cp_cmds *cmds)
{
    cp_buf_cleanup(&cmds->buf);
    cmds->cnt = 0;
}

void cp_cmds_poison(struct cp_cmds *cmds)
{
    cmds->buf.len = cmds->buf.cap + 1;
}

int cp_cmds_failed(const struct cp_cmds *cmds)
{
    return cmds->buf.len > cmds->buf.cap;
}

/* Writes decimal @p v followed by \r\n; returns bytes written. */
static size_t put_int_crlf(char *out, int64_t v)
{
    size_t i = cp_i64_str(out, v);

    out[i++] = '\r';
    out[i++] = '\n';
    return i;
}

static void put_header(struct cp_cmds *cmds, char type, int64_t n, size_t extra)
{
    struct cp_buf *buf = &cmds->buf;

    if (cp_cmds_failed(cmds))
        return;
    if (cp_buf_reserve(buf, 24 + extra)) {
        buf->len = buf->cap + 1; /* sticky failure */
        return;
    }
    buf->data[buf->len++] = type;
    buf->len += put_int_crlf(buf->data + buf->len, n);
}

void cp_cmd_begin(struct cp_cmds *cmds, int argc)
{
    put_header(cmds, '*', argc, 0);
    cmds->cnt++;
}

void cp_cmd_arg2(struct cp_cmds *cmds, const void *a, size_t a_len,
                 const void *b, size_t b_len)
{
    struct cp_buf *buf = &cmds->buf;

    put_header(cmds, '$', (int64_t)(a_len + b_len), a_len + b_len + 2);
    if (cp_cmds_failed(cmds))
        return;
    if (a_len)
        memcpy(buf->data + buf->len, a, a_len);
    buf->len += a_len;
    if (b_len)
        memcpy(buf->data + buf->len, b, b_len);
    buf->len += b_len;
    buf->data[buf->len++] = '\r';
    buf->data[buf->len++] = '\n';
}

void cp_cmd_arg(struct cp_cmds *cmds, const void *arg, size_t len)
{
    cp_cmd_arg2(cmds, arg, len, NULL, 0);
}

void cp_cmd_str(struct cp_cmds *cmds, const char *arg)
{
    cp_cmd_arg(cmds, arg, strlen(arg));
}

void cp_reply_element(const struct cp_reply *reply, size_t i,
                      struct cp_reply *out)
{
    memset(out, 0, sizeof(*out));
    if (reply->type == CP_REPLY_ARRAY && i < reply->elements &&
        reply->element_fn)
        reply->element_fn(reply->impl, i, out);
}

static void array_element(const void *impl, size_t i, struct cp_reply *out)
{
    *out = ((const struct cp_reply *)impl)[i];
}

void cp_reply_array(struct cp_reply *out, const struct cp_reply *elems,
                    size_t cnt)
{
    memset(out, 0, sizeof(*out));
    out->type = CP_REPLY_ARRAY;
    out->elements = cnt;
    out->element_fn = array_element;
    out->impl = elems;
}

void cp_cmd_int(struct cp_cmds *cmds, int64_t value)
{
    char tmp[24];
    size_t n = put_int_crlf(tmp, value) - 2;

    cp_cmd_arg(cmds, tmp, n);
}

long long cp__resp_read_header(const struct cp_buf *buf, size_t *pos, char type)
{
    long long v = 0;
    size_t p = *pos;

    if (p >= buf->len || buf->data[p] != type)
        return -1;
    for (p++; p < buf->len && buf->data[p] >= '0' && buf->data[p] <= '9'; p++)
        v = v * 10 + (buf->data[p] - '0');
    if (p + 1 >= buf->len || buf->data[p] != '\r')
        return -1;
    *pos = p + 2;
    return v;
}

int cp_cmds_arg(const struct cp_cmds *cmds, size_t cmd, size_t arg, char *out,
                size_t out_size)
{
    const struct cp_buf *buf = &cmds->buf;
    size_t pos = 0;

    if (out_size)
        snprintf(out, out_size, "?");
    if (cp_cmds_failed(cmds))
        return -1;
    for (size_t c = 0; c <= cmd; c++) {
        long long argc = cp__resp_read_header(buf, &pos, '*');

        if (argc < 0)
            return -1;
        for (long long a = 0; a < argc; a++) {
            long long len = cp__resp_read_header(buf, &pos, '$');

            if (len < 0 || pos + (size_t)len + 2 > buf->len)
                return -1;
            if (c == cmd && (size_t)a == arg) {
                size_t n = 0;

                for (; n < (size_t)len && n + 1 < out_size; n++) {
                    char ch = buf->data[pos + n];

                    out[n] = ch >= 0x20 && ch < 0x7f ? ch : '?';
                }
                if (out_size)
                    out[n] = '\0';
                return 0;
            }
            pos += (size_t)len + 2;
        }
    }
    return -1;
}

int cp_cmds_next(const struct cp_cmds *cmds, size_t *pos,
                 struct cp_cmd_view *out)
{
    const struct cp_buf *buf = &cmds->buf;
    size_t p = *pos;
    long long argc;

    memset(out, 0, sizeof(*out));
    if (cp_cmds_failed(cmds) || p >= buf->len)
        return 0;
    argc = cp__resp_read_header(buf, &p, '*');
    if (argc < 1)
        return 0;
    for (long long a = 0; a < argc; a++) {
        long long len = cp__resp_read_header(buf, &p, '$');

        if (len < 0 || p + (size_t)len + 2 > buf->len)
            return 0;
        if (a == 0) {
            out->name = buf->data + p;
            out->name_len = (size_t)len;
        } else if (a == 1) {
            out->key = buf->data + p;
            out->key_len = (size_t)len;
        }
        p += (size_t)len + 2;
    }
    *pos = p;
    return 1;
}
