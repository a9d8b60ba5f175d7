/* SPDX-License-Identifier: Apache-2.0 */
/* Writes a starting corpus for fuzz_codec into a directory: one valid
 * event per payload kind in each framing, dead letters, and a raw alert
 * written by hand (the codec has no alert encoder). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "codec.h"
#include "event.h"

static int write_file(const char *dir, const char *name, int n,
                      const struct cp_buf *buf)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s-%02d", dir, name, n);
    f = fopen(path, "wb");
    if (!f || fwrite(buf->data, 1, buf->len, f) != buf->len) {
        perror(path);
        if (f)
            fclose(f);
        return -1;
    }
    return fclose(f) ? -1 : 0;
}

static struct cp_str str(const char *s)
{
    return (struct cp_str){s, strlen(s)};
}

static void put_long(struct cp_buf *buf, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    unsigned char c;

    while (u >= 0x80) {
        c = (unsigned char)(u | 0x80);
        cp_buf_append(buf, &c, 1);
        u >>= 7;
    }
    c = (unsigned char)u;
    cp_buf_append(buf, &c, 1);
}

static void put_str(struct cp_buf *buf, const char *s)
{
    put_long(buf, (int64_t)strlen(s));
    cp_buf_append(buf, s, strlen(s));
}

/* 0.5 as a little-endian IEEE double */
static void put_half(struct cp_buf *buf)
{
    cp_buf_append(buf, "\0\0\0\0\0\0\xe0\x3f", 8);
}

static void make_alert(struct cp_buf *buf)
{
    cp_buf_reset(buf);
    put_str(buf, "alert-1");
    put_long(buf, 0); /* CHURN_RISK */
    put_str(buf, "acme");
    put_str(buf, "cust-1");
    put_long(buf, 1); /* manager_id: string */
    put_str(buf, "mgr-1");
    put_long(buf, 0); /* HIGH */
    put_half(buf);
    put_half(buf);
    put_long(buf, -2); /* two reasons, with the block's byte size */
    put_long(buf, 2 * (1 + 5 + 8 + 1 + 3));
    for (int i = 0; i < 2; i++) {
        put_str(buf, "nps_x");
        put_half(buf);
        put_str(buf, "low");
    }
    put_long(buf, 0);
    put_long(buf, 1); /* triggered_by: string */
    put_str(buf, "ev-1");
    put_long(buf, 1700000000000LL);
    put_long(buf, 1700000000001LL);
    put_str(buf, "m1");
}

int main(int argc, char **argv)
{
    static const enum cp_framing framings[] = {CP_FRAMING_CONFLUENT,
                                               CP_FRAMING_RAW};
    struct cp_buf buf;
    char err[256];
    int rc = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
        return 2;
    }
    cp_buf_init(&buf, 0);
    for (size_t f = 0; f < 2; f++) {
        const char *tag = framings[f] == CP_FRAMING_RAW ? "raw" : "conf";
        struct cp_codec *codec = cp_codec_new(framings[f], err, sizeof(err));
        struct cp_dead_letter dl = {
            .topic = "crm.events",
            .partition = 3,
            .offset = 42,
            .key = "acme:c-1",
            .key_len = 8,
            .value = "\0\0\0\0\1xyz",
            .value_len = 8,
            .reason = "avro: truncated at byte 8 (event_id)",
            .failed_at = 1700000000000LL,
        };
        char name[32];

        if (!codec) {
            fprintf(stderr, "codec: %s\n", err);
            goto out;
        }
        for (int k = 0; k < CP_PAYLOAD_KIND_CNT; k++) {
            struct cp_event ev;

            memset(&ev, 0, sizeof(ev));
            ev.event_id = str("3f1c2d9e-5a7b-4c8d-9e0f-1a2b3c4d5e6f");
            ev.tenant_id = str("acme");
            ev.customer_id = str("cust-1");
            if (k % 2)
                ev.manager_id = str("mgr-1");
            ev.occurred_at = 1699990000000LL + k;
            ev.channel =
                k % 3 ? (enum cp_channel)(k % CP_CHANNEL_CNT) : CP_CHANNEL_NONE;
            ev.kind = (enum cp_payload_kind)k;
            ev.entity_id = str("ent-1");
            ev.label = str("stage_a");
            ev.stage_order = 5;
            ev.amount = 1000 * k;
            ev.won = k % 2;
            ev.inbound = true;
            ev.survey_kind = CP_SURVEY_NPS;
            ev.score = 8;
            ev.sub_action = CP_SUB_CANCELLED;
            cp_buf_reset(&buf);
            snprintf(name, sizeof(name), "event-%s", tag);
            if (cp_codec_encode_event(codec, &ev, &buf) ||
                write_file(argv[1], name, k, &buf)) {
                cp_codec_destroy(codec);
                goto out;
            }
        }
        cp_buf_reset(&buf);
        snprintf(name, sizeof(name), "dead-letter-%s", tag);
        if (cp_codec_encode_dead_letter(codec, &dl, &buf) ||
            write_file(argv[1], name, 0, &buf)) {
            cp_codec_destroy(codec);
            goto out;
        }
        cp_codec_destroy(codec);
    }
    make_alert(&buf);
    if (write_file(argv[1], "alert-raw", 0, &buf))
        goto out;
    rc = 0;
out:
    cp_buf_cleanup(&buf);
    return rc;
}
