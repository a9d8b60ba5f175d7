/* SPDX-License-Identifier: Apache-2.0 */
#include "keys.h"

#include <stdarg.h>
#include <stdio.h>

static int key_printf(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int key_printf(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

int cp_key_tenant(char *out, size_t size, const char *prefix,
                  const char *tenant, size_t tenant_len, const char *segment)
{
    return key_printf(out, size, "%s:{%.*s}:%s", prefix, (int)tenant_len,
                      tenant, segment);
}

int cp_key_tenant_buf(struct cp_buf *out, const char *prefix,
                      const char *tenant, size_t tenant_len,
                      const char *segment, const char *tail)
{
    return cp_buf_printf(out, "%s:{%.*s}:%s%s", prefix, (int)tenant_len, tenant,
                         segment, tail ? tail : "")
               ? -1
               : 0;
}

int cp_key_offsets(char *out, size_t size, const char *group)
{
    return key_printf(out, size, "crmpulse:offsets:%s", group);
}

int cp_key_fence(char *out, size_t size, const char *group, const char *topic,
                 int32_t partition)
{
    return key_printf(out, size, "crmpulse:fence:%s:%s:%d", group, topic,
                      (int)partition);
}

int cp_key_watermarks(char *out, size_t size, const char *group)
{
    return key_printf(out, size, "crmpulse:watermarks:%s", group);
}

int cp_key_timers_prefix(char *out, size_t size, const char *group,
                         const char *topic)
{
    return key_printf(out, size, "crmpulse:timers:%s:%s:", group, topic);
}
