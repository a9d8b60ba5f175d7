/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the codec: any bytes go through event decoding in
 * both framings, dead-letter decoding, and the validation walk plus avro-c
 * read of an alert (the only schema with arrays). Besides crashes, leaks and
 * sanitizer reports it checks that whatever is accepted is a valid event
 * whose re-encoding is byte-identical to the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "codec.h"
#include "codec_int.h"
#include "event.h"
#include "schemas.h"

#define FUZZ_NOW_MS 1700000000000LL /* fixed clock: reproducible runs */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cp_codec *conf, *raw;
static struct cp_arena arena;
static struct cp_buf out;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_codec: %s: %s\n", what, detail);
    abort();
}

static void init_once(void)
{
    char err[256];

    if (conf)
        return;
    conf = cp_codec_new(CP_FRAMING_CONFLUENT, err, sizeof(err));
    raw = cp_codec_new(CP_FRAMING_RAW, err, sizeof(err));
    if (!conf || !raw)
        die("cp_codec_new", err);
    cp_arena_init(&arena, 64 * 1024);
    cp_buf_init(&out, 0);
}

static void check_event(struct cp_codec *codec, const uint8_t *data,
                        size_t size)
{
    char reason[256];
    struct cp_event ev;
    cp_rc rc;

    reason[0] = '\0';
    rc = cp_codec_decode_event(codec, data, size, FUZZ_NOW_MS, &arena, &ev,
                               reason, sizeof(reason));
    if (rc == CP_EDECODE) {
        if (!reason[0])
            die("rejected", "empty reason");
        if (strstr(reason, "avro: read failed"))
            die("walk accepted what avro-c cannot read", reason);
        for (const char *p = reason; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                die("rejected", "raw byte in the reason");
        return;
    }
    if (rc)
        die("decode", cp_rc_name(rc));
    if (cp_event_validate(&ev, FUZZ_NOW_MS, reason, sizeof(reason)))
        die("accepted an invalid event", reason);
    cp_buf_reset(&out);
    if (cp_codec_encode_event(codec, &ev, &out))
        die("re-encode", "failed");
    if (out.len != size || memcmp(out.data, data, size) != 0)
        die("re-encode", "bytes differ from the accepted input");
}

static void check_dead_letter(struct cp_codec *codec, const uint8_t *data,
                              size_t size)
{
    char reason[256];
    struct cp_dead_letter dl;
    cp_rc rc;

    rc = cp_codec_decode_dead_letter(codec, data, size, &arena, &dl, reason,
                                     sizeof(reason));
    if (rc == CP_EDECODE && strstr(reason, "avro: read failed"))
        die("walk accepted what avro-c cannot read", reason);
    if (rc == CP_EDECODE)
        return;
    if (rc)
        die("decode dead letter", cp_rc_name(rc));
    cp_buf_reset(&out);
    if (cp_codec_encode_dead_letter(codec, &dl, &out))
        die("re-encode dead letter", "failed");
    if (out.len != size || memcmp(out.data, data, size) != 0)
        die("re-encode dead letter", "bytes differ from the accepted input");
}

/* No alert decoder exists: a walk that accepts bytes avro-c then fails to
 * read would show up here. */
static void check_alert(const uint8_t *data, size_t size)
{
    char reason[256];
    cp_rc rc;

    rc = cp__codec_check(conf, CP_SCHEMA_ID_ALERT, data, size, reason,
                         sizeof(reason));
    if (rc == CP_EDECODE && strstr(reason, "avro: read failed"))
        die("walk accepted what avro-c cannot read", reason);
    if (rc && rc != CP_EDECODE)
        die("check alert", cp_rc_name(rc));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    check_event(conf, data, size);
    check_event(raw, data, size);
    check_dead_letter(conf, data, size);
    check_dead_letter(raw, data, size);
    check_alert(data, size);
    cp_arena_reset(&arena);
    return 0;
}
