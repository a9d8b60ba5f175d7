/* SPDX-License-Identifier: Apache-2.0 */
/* A growable byte buffer with a hard cap, reused across batches so the hot
 * path stops allocating once it has grown to its working size. */
#ifndef CP_BUF_H
#define CP_BUF_H

#include <stddef.h>

#include "common.h"

struct cp_buf {
    char *data; /* owned; NULL until the first append */
    size_t len; /* bytes in use */
    size_t cap; /* bytes allocated */
    size_t max; /* hard cap on cap; 0 = 1 GiB */
};

void cp_buf_init(struct cp_buf *buf, size_t max);
/** @returns CP_OK, or CP_ENOMEM when growing would pass the cap or malloc
 * failed. */
cp_rc cp_buf_reserve(struct cp_buf *buf, size_t extra);
cp_rc cp_buf_append(struct cp_buf *buf, const void *bytes, size_t len);
/** @brief printf-append; CP_ENOMEM past the cap. */
cp_rc cp_buf_printf(struct cp_buf *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void cp_buf_reset(struct cp_buf *buf)
{
    buf->len = 0;
}
void cp_buf_cleanup(struct cp_buf *buf);

#endif
