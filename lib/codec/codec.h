/* SPDX-License-Identifier: Apache-2.0 */
/* Kafka message bytes <-> our structs. Decoding: framing (Confluent 0x00 +
 * 4-byte big-endian schema id, or raw Avro), an allocation-free validation
 * walk of the bytes against the writer schema, avro_value_read, projection
 * by field name into struct cp_event, then cp_event_validate(). Encoding:
 * events (for the generator and tests) and dead letters, same framing. */
#ifndef CP_CODEC_H
#define CP_CODEC_H

#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "common.h"
#include "event.h"

enum cp_framing {
    CP_FRAMING_CONFLUENT = 0, /* 0x00, schema id (BE32), Avro binary */
    CP_FRAMING_RAW,           /* Avro binary of CrmEvent v1 only */
};

/** Passive: what goes to the dead-letter topic. */
struct cp_dead_letter {
    const char *topic; /* source topic, borrowed */
    int32_t partition;
    int64_t offset;
    const void *key; /* borrowed; NULL: null */
    size_t key_len;
    const void *value; /* borrowed; the original bytes (may be NULL if len 0) */
    size_t value_len;
    const char *reason; /* borrowed, NUL-terminated */
    int64_t failed_at;  /* ms since epoch */
};

struct cp_codec;

/**
 * @brief Parses the compiled-in schemas and prepares one reader per schema id.
 * Ownership: caller owns the result; free with cp_codec_destroy().
 * Thread: one codec per thread.
 */
struct cp_codec *cp_codec_new(enum cp_framing framing, char *errstr,
                              size_t errstr_size);
void cp_codec_destroy(struct cp_codec *codec);

/**
 * @brief Decodes and validates one message value.
 * @param now_ms the worker's clock, for the "24 h in the future" rule.
 * @returns CP_OK with @p ev filled (its strings copied into @p arena), or
 *          CP_EDECODE with a human-readable reason (never crashes, never
 *          leaks, whatever the bytes), or CP_ENOMEM.
 */
cp_rc cp_codec_decode_event(struct cp_codec *codec, const void *value,
                            size_t len, int64_t now_ms, struct cp_arena *arena,
                            struct cp_event *ev, char *reason,
                            size_t reason_size);

/** @brief Appends the framed encoding of @p ev to @p out. */
cp_rc cp_codec_encode_event(struct cp_codec *codec, const struct cp_event *ev,
                            struct cp_buf *out);

/** @brief Appends the framed encoding of @p dl to @p out. */
cp_rc cp_codec_encode_dead_letter(struct cp_codec *codec,
                                  const struct cp_dead_letter *dl,
                                  struct cp_buf *out);

/**
 * @brief Decodes a framed DeadLetter (tests and tools read the DLQ with it).
 * Ownership: strings and bytes in @p dl point into @p arena.
 */
cp_rc cp_codec_decode_dead_letter(struct cp_codec *codec, const void *value,
                                  size_t len, struct cp_arena *arena,
                                  struct cp_dead_letter *dl, char *reason,
                                  size_t reason_size);

#endif
