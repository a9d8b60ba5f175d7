/* SPDX-License-Identifier: Apache-2.0 */
/* Codec internals for tests and fuzzing: the validation walk and
 * avro_value_read over any compiled-in schema, including those the public
 * API does not decode (alerts, whose arrays only this reaches). */
#ifndef CP_CODEC_INT_H
#define CP_CODEC_INT_H

#include <stddef.h>

#include "codec.h"
#include "common.h"

/**
 * @brief Walks [body, body + len) as one value of schema @p schema_id and,
 *        if the walk accepts it, reads it with avro-c (then drops it).
 * @returns CP_OK, CP_EDECODE with a reason (unknown id, walk or read
 *          failure), or CP_ENOMEM.
 */
cp_rc cp__codec_check(struct cp_codec *codec, int schema_id, const void *body,
                      size_t len, char *reason, size_t reason_size);

#endif
