/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for writer schemas from a schema registry: the input,
 * up to its first NUL byte, is the schema JSON the registry answered; what
 * follows is a message body framed with that schema's id. The schema is
 * parsed, compiled into the validation walk and resolved to our reader
 * (cp_codec_add_schema), then the body decoded. Besides crashes, leaks and
 * sanitizer reports it checks that a schema that does not resolve always
 * says why, and that an accepted event passes cp_event_validate() (the
 * decoder's own last step) again. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "codec.h"
#include "event.h"

#define FUZZ_NOW_MS  1700000000000LL /* fixed clock: reproducible runs */
#define CODEC_INPUTS 1               /* a fresh codec per input: leaks show */
#define MAX_JSON     (1u << 20)      /* the registry client's own cap */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cp_codec *codec;
static struct cp_arena arena;
static uint32_t next_id;
static unsigned inputs;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_schema_json: %s: %s\n", what, detail);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t json_len = nul ? (size_t)(nul - data) : size;
    uint8_t *msg;
    char *json, summary[1024], reason[512], err[256];
    struct cp_event ev;
    cp_rc rc;

    if (json_len > MAX_JSON)
        return 0;
    if (!codec || ++inputs % CODEC_INPUTS == 0) { /* per-input leak checks */
        cp_codec_destroy(codec);
        codec = cp_codec_new(CP_FRAMING_CONFLUENT, err, sizeof(err));
        if (!codec)
            die("cp_codec_new", err);
        cp_codec_use_registry(codec);
        if (!arena.chunk_size)
            cp_arena_init(&arena, 64 * 1024);
    }
    json = malloc(json_len + 1);
    if (!json)
        return 0;
    memcpy(json, data, json_len);
    json[json_len] = '\0';
    next_id++;
    summary[0] = '\0';
    rc = cp_codec_add_schema(codec, next_id, json, summary, sizeof(summary));
    free(json);
    if (rc == CP_ENOMEM)
        return 0;
    if (rc == CP_EDECODE && !summary[0])
        die("unusable schema without a reason", "");
    if (rc != CP_OK && rc != CP_EDECODE)
        die("cp_codec_add_schema", "unexpected return code");
    /* The body, framed with the id just added. */
    {
        size_t body = nul ? size - json_len - 1 : 0;

        msg = malloc(5 + body);
        if (!msg)
            return 0;
        msg[0] = 0;
        msg[1] = (uint8_t)(next_id >> 24);
        msg[2] = (uint8_t)(next_id >> 16);
        msg[3] = (uint8_t)(next_id >> 8);
        msg[4] = (uint8_t)next_id;
        if (body)
            memcpy(msg + 5, nul + 1, body);
        cp_arena_reset(&arena);
        rc = cp_codec_decode_event(codec, msg, 5 + body, FUZZ_NOW_MS, &arena,
                                   &ev, reason, sizeof(reason));
        free(msg);
    }
    if (rc == CP_OK &&
        cp_event_validate(&ev, FUZZ_NOW_MS, reason, sizeof(reason)) != CP_OK)
        die("accepted an invalid event", reason);
    if (rc == CP_EDECODE && !reason[0])
        die("dead letter without a reason", "");
    return 0;
}
