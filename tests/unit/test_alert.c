/* SPDX-License-Identifier: Apache-2.0 */
/* crm.v1.Alert: Avro round trips (both kinds, null and set optionals, 0-3
 * reasons, both framings), the framing bytes, decoding rejections, the
 * JSON form (an exact string, escaping, doubles) and interop: python3-avro
 * decodes what we encode and its reading equals our JSON field by field. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixtures_codec.h"
#include "alert.h"

TestSuite(alert, .init = fx_codec_setup, .fini = fx_codec_teardown,
          .timeout = 60);

/* ---- helpers ---- */

static void assert_str_eq(const char *got, const char *want)
{
    cr_assert(eq(str, (char *)got, (char *)want));
}

static const struct cp_alert_reason three_reasons[] = {
    {"overdue_purchase", 0.35, "no order for 41 days (usual gap 12)"},
    {"nps_detractor", 0.2, "NPS 3 on 2023-11-10"},
    {"open_tickets", -0.0625, "2 open tickets"},
};

/* The alert of the exact-JSON test; other tests vary it. */
static struct cp_alert known_alert(void)
{
    return (struct cp_alert){
        .alert_id = "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        .kind = CP_ALERT_CHURN_RISK,
        .tenant_id = "acme",
        .customer_id = "c-42",
        .manager_id = "m-7",
        .level = CP_ALERT_CRITICAL,
        .risk_score = 0.8125,
        .previous_score = 0.4,
        .reasons = three_reasons,
        .reason_cnt = 2,
        .triggered_by = "e-9001",
        .event_time = NOW,
        .emitted_at = NOW + 123,
        .model_version = "churn-v1",
        .action = "call today: NPS 3 on 2023-11-10",
        .value_minor = 12550,
        .value_at_risk_minor = 10197,
    };
}

static const char known_json[] =
    "{\"alert_id\":\"a1b2c3d4e5f60718293a4b5c6d7e8f90\","
    "\"kind\":\"CHURN_RISK\",\"tenant_id\":\"acme\",\"customer_id\":\"c-42\","
    "\"manager_id\":\"m-7\",\"level\":\"CRITICAL\",\"risk_score\":0.8125,"
    "\"previous_score\":0.4,\"reasons\":["
    "{\"factor\":\"overdue_purchase\",\"contribution\":0.35,"
    "\"detail\":\"no order for 41 days (usual gap 12)\"},"
    "{\"factor\":\"nps_detractor\",\"contribution\":0.2,"
    "\"detail\":\"NPS 3 on 2023-11-10\"}],"
    "\"triggered_by\":\"e-9001\",\"event_time\":1700000000000,"
    "\"emitted_at\":1700000000123,\"model_version\":\"churn-v1\","
    "\"action\":\"call today: NPS 3 on 2023-11-10\",\"value_minor\":12550,"
    "\"value_at_risk_minor\":10197}";

/* The JSON of @p a as a C string (valid until the next call). */
static const char *json_of(const struct cp_alert *a)
{
    static char s[8192];

    cp_buf_reset(&out);
    cr_assert(eq(int, cp_alert_json(a, &out), CP_OK));
    cr_assert(out.len < sizeof(s));
    memcpy(s, out.data, out.len);
    s[out.len] = '\0';
    return s;
}

static void assert_nullable_eq(const char *got, const char *want)
{
    if (!want)
        cr_assert_null(got);
    else {
        cr_assert_not_null(got);
        assert_str_eq(got, want);
    }
}

/* Every field equal; doubles bit for bit (Avro carries them exactly). */
static void assert_alert_eq(const struct cp_alert *got,
                            const struct cp_alert *want)
{
    assert_str_eq(got->alert_id, want->alert_id);
    cr_assert(eq(int, got->kind, want->kind));
    assert_str_eq(got->tenant_id, want->tenant_id);
    assert_str_eq(got->customer_id, want->customer_id);
    assert_nullable_eq(got->manager_id, want->manager_id);
    cr_assert(eq(int, got->level, want->level));
    cr_assert(eq(dbl, got->risk_score, want->risk_score));
    cr_assert(eq(dbl, got->previous_score, want->previous_score));
    cr_assert(eq(sz, got->reason_cnt, want->reason_cnt));
    for (size_t i = 0; i < want->reason_cnt; i++) {
        assert_str_eq(got->reasons[i].factor, want->reasons[i].factor);
        cr_assert(eq(dbl, got->reasons[i].contribution,
                     want->reasons[i].contribution));
        assert_str_eq(got->reasons[i].detail, want->reasons[i].detail);
    }
    assert_nullable_eq(got->triggered_by, want->triggered_by);
    cr_assert(eq(i64, got->event_time, want->event_time));
    cr_assert(eq(i64, got->emitted_at, want->emitted_at));
    assert_str_eq(got->model_version, want->model_version);
    assert_str_eq(got->action, want->action ? want->action : "");
    cr_assert(eq(i64, got->value_minor, want->value_minor));
    cr_assert(eq(i64, got->value_at_risk_minor, want->value_at_risk_minor));
}

/* The first @p needle in out's bytes, or NULL. */
static char *find_in_out(const char *needle)
{
    size_t n = strlen(needle);

    for (size_t i = 0; i + n <= out.len; i++)
        if (memcmp(out.data + i, needle, n) == 0)
            return out.data + i;
    return NULL;
}

static cp_rc decode(struct cp_codec *codec, const void *p, size_t len,
                    struct cp_alert *got, struct cp_alert_reason *rs,
                    size_t cap)
{
    reason[0] = '\0';
    return cp_codec_decode_alert(codec, p, len, &arena, got, rs, cap, reason,
                                 sizeof(reason));
}

/* ---- Avro ---- */

Test(alert, round_trip_every_shape_both_framings)
{
    struct cp_codec *codecs[] = {conf, raw};
    int n = 0;

    for (int c = 0; c < 2; c++)
        for (int kind = 0; kind < CP_ALERT_KIND_CNT; kind++)
            for (int opt = 0; opt < 4; opt++)
                for (size_t cnt = 0; cnt <= 3; cnt++) {
                    struct cp_alert a = known_alert(), got;
                    struct cp_alert_reason rs[3];

                    a.kind = (enum cp_alert_kind)kind;
                    a.level = (enum cp_alert_level)(opt & 1);
                    a.manager_id = opt & 1 ? NULL : "m-7";
                    a.triggered_by = opt & 2 ? NULL : "e-9001";
                    a.reason_cnt = cnt;
                    a.risk_score = 0.1 * (double)cnt + 1.0 / 3.0;
                    cp_buf_reset(&out);
                    cr_assert(eq(int,
                                 cp_codec_encode_alert(codecs[c], &a, &out),
                                 CP_OK));
                    cr_assert(
                        eq(int,
                           decode(codecs[c], out.data, out.len, &got, rs, 3),
                           CP_OK),
                        "%s", reason);
                    assert_alert_eq(&got, &a);
                    cr_assert(eq(ptr, (void *)got.reasons, (void *)rs));
                    cp_arena_reset(&arena);
                    n++;
                }
    cr_assert(eq(int, n, 2 * 2 * 4 * 4));
}

Test(alert, confluent_header_then_the_raw_bytes)
{
    /* Version 2 of the Alert: schema id 4. */
    static const uint8_t hdr[5] = {0x00, 0x00, 0x00, 0x00, 0x04};
    struct cp_alert a = known_alert();
    struct cp_buf rawb;

    cr_assert(eq(int, cp_codec_encode_alert(conf, &a, &out), CP_OK));
    cr_assert(out.len > 5);
    cr_assert(eq(int, memcmp(out.data, hdr, 5), 0));
    cp_buf_init(&rawb, 0);
    cr_assert(eq(int, cp_codec_encode_alert(raw, &a, &rawb), CP_OK));
    cr_assert(eq(sz, rawb.len, out.len - 5));
    cr_assert(eq(int, memcmp(rawb.data, out.data + 5, rawb.len), 0));
    /* the body starts with alert_id: length 32 as a zigzag varint */
    cr_assert(eq(u8, (uint8_t)rawb.data[0], 64));
    cp_buf_cleanup(&rawb);
}

Test(alert, encode_appends_to_what_is_there)
{
    struct cp_alert a = known_alert(), got;
    struct cp_alert_reason rs[3];
    size_t one;

    cr_assert(eq(int, cp_codec_encode_alert(conf, &a, &out), CP_OK));
    one = out.len;
    cr_assert(eq(int, cp_codec_encode_alert(conf, &a, &out), CP_OK));
    cr_assert(eq(sz, out.len, 2 * one));
    cr_assert(eq(int, memcmp(out.data, out.data + one, one), 0));
    cr_assert(eq(int, decode(conf, out.data + one, one, &got, rs, 3), CP_OK),
              "%s", reason);
    assert_alert_eq(&got, &a);
}

/* The cached value is reset between encodes: a shorter reason list after
 * a longer one must not keep the old items. */
Test(alert, reasons_do_not_carry_over_between_encodes)
{
    struct cp_alert a = known_alert(), got;
    struct cp_alert_reason rs[3];

    a.reason_cnt = 3;
    cr_assert(eq(int, cp_codec_encode_alert(conf, &a, &out), CP_OK));
    a.reason_cnt = 1;
    a.manager_id = NULL;
    cp_buf_reset(&out);
    cr_assert(eq(int, cp_codec_encode_alert(conf, &a, &out), CP_OK));
    cr_assert(eq(int, decode(conf, out.data, out.len, &got, rs, 3), CP_OK),
              "%s", reason);
    assert_alert_eq(&got, &a);
    cr_assert(eq(sz, got.reason_cnt, 1));
}

Test(alert, null_required_strings_are_written_empty)
{
    struct cp_alert a = known_alert(), got;
    struct cp_alert_reason r = {NULL, 0.5, NULL}, rs[1];

    a.alert_id = NULL;
    a.model_version = NULL;
    a.reasons = &r;
    a.reason_cnt = 1;
    cr_assert(eq(int, cp_codec_encode_alert(conf, &a, &out), CP_OK));
    cr_assert(eq(int, decode(conf, out.data, out.len, &got, rs, 1), CP_OK),
              "%s", reason);
    assert_str_eq(got.alert_id, "");
    assert_str_eq(got.model_version, "");
    assert_str_eq(got.reasons[0].factor, "");
    assert_str_eq(got.reasons[0].detail, "");
}

Test(alert, encode_rejects_bad_enums_and_leaves_out_alone)
{
    struct cp_alert a = known_alert();

    cr_assert(eq(int, cp_buf_append(&out, "xy", 2), CP_OK));
    a.kind = (enum cp_alert_kind)2;
    cr_assert(eq(int, cp_codec_encode_alert(conf, &a, &out), CP_EDECODE));
    a = known_alert();
    a.level = (enum cp_alert_level) - 1;
    cr_assert(eq(int, cp_codec_encode_alert(conf, &a, &out), CP_EDECODE));
    a = known_alert();
    a.reasons = NULL;
    cr_assert(eq(int, cp_codec_encode_alert(conf, &a, &out), CP_EDECODE));
    cr_assert(eq(sz, out.len, 2));
    /* the codec is still usable */
    a = known_alert();
    cr_assert(eq(int, cp_codec_encode_alert(conf, &a, &out), CP_OK));
}

Test(alert, decode_rejects_more_reasons_than_room)
{
    struct cp_alert a = known_alert(), got;
    struct cp_alert_reason rs[2];

    a.reason_cnt = 3;
    cr_assert(eq(int, cp_codec_encode_alert(conf, &a, &out), CP_OK));
    cr_assert(
        eq(int, decode(conf, out.data, out.len, &got, rs, 2), CP_EDECODE));
    assert_str_eq(reason, "alert: 3 reasons, room for 2");
}

Test(alert, decode_rejects_other_records)
{
    struct cp_dead_letter dl = {"crm.events", 1, 2,     NULL, 0,
                                "x",          1, "bad", NOW};
    struct cp_alert got;
    struct cp_alert_reason rs[3];

    cr_assert(eq(int, cp_codec_encode_dead_letter(conf, &dl, &out), CP_OK));
    cr_assert(
        eq(int, decode(conf, out.data, out.len, &got, rs, 3), CP_EDECODE));
    assert_str_eq(reason, "schema id 3 is crm.v1.DeadLetter, not an Alert");
    cr_assert(eq(int, decode(conf, out.data, 3, &got, rs, 3), CP_EDECODE));
    cr_assert(eq(int, decode(conf, NULL, 0, &got, rs, 3), CP_EDECODE));
}

Test(alert, decode_rejects_nul_inside_a_string)
{
    struct cp_alert a = known_alert(), got;
    struct cp_alert_reason rs[3];
    char *p;

    a.customer_id = "c-4X";
    cr_assert(eq(int, cp_codec_encode_alert(conf, &a, &out), CP_OK));
    p = find_in_out("c-4X");
    cr_assert_not_null(p);
    p[3] = '\0';
    cr_assert(
        eq(int, decode(conf, out.data, out.len, &got, rs, 3), CP_EDECODE));
    assert_str_eq(reason, "alert: NUL byte in customer_id");
}

/* Every cut and every single-byte change is either rejected with a reason
 * or decodes to a well-formed alert; nothing leaks (checked in teardown). */
Test(alert, prefixes_and_mutations_never_crash)
{
    struct cp_alert a = known_alert(), got;
    struct cp_alert_reason rs[3];
    uint8_t msg[512], m[512];
    size_t len;
    int ok = 0;

    a.reason_cnt = 3;
    cr_assert(eq(int, cp_codec_encode_alert(conf, &a, &out), CP_OK));
    len = out.len;
    cr_assert(len <= sizeof(msg));
    memcpy(msg, out.data, len);
    for (size_t cut = 0; cut < len; cut++) {
        cr_assert(eq(int, decode(conf, msg, cut, &got, rs, 3), CP_EDECODE),
                  "prefix %zu accepted", cut);
        cr_assert(reason[0] != '\0');
    }
    for (size_t i = 0; i < len; i++)
        for (int bit = 0; bit < 8; bit++) {
            cp_rc rc;

            memcpy(m, msg, len);
            m[i] ^= (uint8_t)(1u << bit);
            rc = decode(conf, m, len, &got, rs, 3);
            cr_assert(rc == CP_OK || rc == CP_EDECODE);
            if (rc == CP_OK) {
                int kind = (int)got.kind, level = (int)got.level;

                cr_assert(got.reason_cnt <= 3);
                cr_assert(kind >= 0 && kind < CP_ALERT_KIND_CNT);
                cr_assert(level >= 0 && level < CP_ALERT_LEVEL_CNT);
                ok++;
            } else {
                cr_assert(reason[0] != '\0');
            }
            cp_arena_reset(&arena);
        }
    /* flips inside string bytes and doubles still decode */
    cr_assert(ok > 0);
}

/* ---- JSON ---- */

Test(alert, json_exact_string)
{
    struct cp_alert a = known_alert();

    assert_str_eq(json_of(&a), known_json);
}

Test(alert, json_nulls_and_no_reasons)
{
    struct cp_alert a = known_alert();

    a.kind = CP_ALERT_RESPONSE_SLA_BREACH;
    a.level = CP_ALERT_HIGH;
    a.manager_id = NULL;
    a.triggered_by = NULL;
    a.reason_cnt = 0;
    a.reasons = NULL;
    a.risk_score = 1;
    a.previous_score = 0;
    a.event_time = -1;
    a.action = NULL; /* written as "" */
    a.value_minor = 0;
    a.value_at_risk_minor = 0;
    assert_str_eq(json_of(&a),
                  "{\"alert_id\":\"a1b2c3d4e5f60718293a4b5c6d7e8f90\","
                  "\"kind\":\"RESPONSE_SLA_BREACH\",\"tenant_id\":\"acme\","
                  "\"customer_id\":\"c-42\",\"manager_id\":null,"
                  "\"level\":\"HIGH\",\"risk_score\":1,\"previous_score\":0,"
                  "\"reasons\":[],\"triggered_by\":null,\"event_time\":-1,"
                  "\"emitted_at\":1700000000123,"
                  "\"model_version\":\"churn-v1\",\"action\":\"\","
                  "\"value_minor\":0,\"value_at_risk_minor\":0}");
}

/* An alert written before version 2 (schema id 2, no action or value)
 * still decodes, with the new fields' defaults. Its bytes are version 2's
 * without the three trailing fields. */
Test(alert, version_1_alerts_decode_with_defaults)
{
    struct cp_alert a = known_alert(), got;
    struct cp_alert_reason rs[3];
    size_t tail;

    a.action = "";
    a.value_minor = 0;
    a.value_at_risk_minor = 0;
    cr_assert(eq(int, cp_codec_encode_alert(conf, &a, &out), CP_OK));
    /* "" is one zero byte, each 0 long one zero byte. */
    tail = 3;
    cr_assert(eq(int, memcmp(out.data + out.len - tail, "\0\0\0", 3), 0));
    out.len -= tail;
    out.data[4] = 0x02;
    a.action = "ignored";
    cr_assert(eq(int, decode(conf, out.data, out.len, &got, rs, 3), CP_OK),
              "%s", reason);
    a.action = "";
    assert_alert_eq(&got, &a);
}

Test(alert, json_escapes_quotes_backslashes_and_controls)
{
    struct cp_alert a = known_alert();
    struct cp_alert_reason r = {"q\"b\\s/", 0.5,
                                "\x01\x1f tab\t nl\n cr\r del\x7f"};
    const char *j;

    a.reasons = &r;
    a.reason_cnt = 1;
    a.customer_id = "\"\\\"";
    j = json_of(&a);
    cr_assert_not_null(strstr(j, "\"customer_id\":\"\\\"\\\\\\\"\","), "%s", j);
    cr_assert_not_null(
        strstr(j, "{\"factor\":\"q\\\"b\\\\s/\",\"contribution\":0.5,"
                  "\"detail\":\"\\u0001\\u001f tab\\u0009 nl\\u000a "
                  "cr\\u000d del\x7f\"}"),
        "%s", j);
}

Test(alert, json_utf8_passes_and_bad_utf8_is_replaced)
{
    struct cp_alert a = known_alert();
    const char *j;

    a.tenant_id = "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80";
    /* stray continuation, overlong '/', a surrogate, a cut sequence */
    a.customer_id = "a\x80"
                    "b\xc0\xaf"
                    "c\xed\xa0\x80"
                    "d\xe6\x97";
    j = json_of(&a);
    cr_assert_not_null(
        strstr(j,
               "\"tenant_id\":\"caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80\""),
        "%s", j);
    cr_assert_not_null(strstr(j, "\"customer_id\":\"a\\ufffdb\\ufffd\\ufffdc"
                                 "\\ufffd\\ufffd\\ufffdd\\ufffd\\ufffd\""),
                       "%s", j);
}

Test(alert, json_doubles_ten_digits_never_nan)
{
    static const struct {
        double d;
        const char *want;
    } cases[] = {
        {1.0 / 3.0, "0.3333333333"},
        {2.0 / 3.0, "0.6666666667"},
        {1e-7, "1e-07"},
        {123456789012.0, "1.23456789e+11"},
        {-0.5, "-0.5"},
        {0.0, "0"},
        {NAN, "null"},
        {INFINITY, "null"},
        {-INFINITY, "null"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cp_alert a = known_alert();
        char want[64];

        a.risk_score = cases[i].d;
        snprintf(want, sizeof(want), "\"risk_score\":%s,", cases[i].want);
        cr_assert_not_null(strstr(json_of(&a), want), "%s in %s", want,
                           json_of(&a));
    }
}

Test(alert, json_appends_and_failure_leaves_out_alone)
{
    struct cp_alert a = known_alert();
    struct cp_buf small;

    cr_assert(eq(int, cp_buf_append(&out, "[", 1), CP_OK));
    cr_assert(eq(int, cp_alert_json(&a, &out), CP_OK));
    cr_assert(eq(sz, out.len, 1 + strlen(known_json)));
    cr_assert(eq(int, memcmp(out.data + 1, known_json, strlen(known_json)), 0));
    a.level = (enum cp_alert_level)7;
    cr_assert(eq(int, cp_alert_json(&a, &out), CP_EDECODE));
    cr_assert(eq(sz, out.len, 1 + strlen(known_json)));
    /* past the buffer's cap: CP_ENOMEM and no half object */
    a = known_alert();
    cp_buf_init(&small, 300);
    cr_assert(eq(int, cp_buf_append(&small, "x", 1), CP_OK));
    cr_assert(eq(int, cp_alert_json(&a, &small), CP_ENOMEM));
    cr_assert(eq(sz, small.len, 1));
    cp_buf_cleanup(&small);
}

Test(alert, symbols)
{
    assert_str_eq(cp_alert_kind_symbol(CP_ALERT_CHURN_RISK), "CHURN_RISK");
    assert_str_eq(cp_alert_kind_symbol(CP_ALERT_RESPONSE_SLA_BREACH),
                  "RESPONSE_SLA_BREACH");
    assert_str_eq(cp_alert_level_symbol(CP_ALERT_HIGH), "HIGH");
    assert_str_eq(cp_alert_level_symbol(CP_ALERT_CRITICAL), "CRITICAL");
    cr_assert_null(cp_alert_kind_symbol((enum cp_alert_kind)2));
    cr_assert_null(cp_alert_level_symbol((enum cp_alert_level) - 1));
}

/* ---- interop with python3-avro ---- */

static char scratch[512];

static void make_scratch(void)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

    snprintf(scratch, sizeof(scratch), "%s/crmpulse-alert-XXXXXX", tmp);
    cr_assert_not_null(mkdtemp(scratch));
    cr_assert_null(strchr(scratch, '\''));
}

static void write_file(const char *path, const void *p, size_t len)
{
    FILE *f = fopen(path, "wb");

    cr_assert_not_null(f, "open %s", path);
    cr_assert(eq(sz, fwrite(p, 1, len, f), len));
    cr_assert(eq(int, fclose(f), 0));
}

/* alert_decode.py, found next to the schemas (CP_SCHEMA_DIR, as ctest
 * sets it) or next to this file. */
static void script_path(char *buf, size_t size)
{
    const char *dir = getenv("CP_SCHEMA_DIR");

    if (dir)
        snprintf(buf, size, "%s/../tests/integration/alert_decode.py", dir);
    else {
        const char *slash = strrchr(__FILE__, '/');
        int n = slash ? (int)(slash - __FILE__) : 1;

        snprintf(buf, size, "%.*s/../integration/alert_decode.py", n,
                 slash ? __FILE__ : ".");
    }
    cr_assert(eq(int, access(buf, R_OK), 0), "no %s", buf);
    cr_assert_null(strchr(buf, '\''));
}

/* Runs alert_decode.py on @p bin (comparing with @p json if not NULL);
 * returns its exit status and its stdout in @p got. */
static int run_decoder(const char *bin, const char *json, bool is_raw,
                       char *got, size_t got_size)
{
    char script[1024], cmd[4096];
    FILE *p;
    size_t n;
    int status;
    bool exited;

    script_path(script, sizeof(script));
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' %s%s%s%s '%s'", script,
             is_raw ? "--raw " : "", json ? "--compare '" : "",
             json ? json : "", json ? "'" : "", bin);
    p = popen(cmd, "r");
    cr_assert_not_null(p, "%s", cmd);
    n = fread(got, 1, got_size - 1, p);
    got[n] = '\0';
    status = pclose(p);
    exited = WIFEXITED(status);
    cr_assert(exited, "%s: status %d", cmd, status);
    return WEXITSTATUS(status);
}

static void check_with_python(struct cp_codec *codec, bool is_raw,
                              const struct cp_alert *a, const char *tag)
{
    char bin[600], json[600], got[8192];

    snprintf(bin, sizeof(bin), "%s/%s.bin", scratch, tag);
    snprintf(json, sizeof(json), "%s/%s.json", scratch, tag);
    cp_buf_reset(&out);
    cr_assert(eq(int, cp_codec_encode_alert(codec, a, &out), CP_OK));
    write_file(bin, out.data, out.len);
    json_of(a);
    write_file(json, out.data, out.len);
    cr_assert(eq(int, run_decoder(bin, json, is_raw, got, sizeof(got)), 0),
              "python3-avro disagrees on %s (stdout: %s)", tag, got);
    cr_assert(got[0] == '{', "%s: %s", tag, got);
    unlink(bin);
    unlink(json);
}

Test(alert, python_avro_decodes_ours_and_agrees_with_our_json)
{
    struct cp_alert_reason odd[2] = {
        {"quote\"back\\slash", 1.0 / 3.0,
         "ctl\x01\n caf\xc3\xa9 \xf0\x9f\x98\x80"},
        {"", 1e-7, ""},
    };
    struct cp_alert a;

    make_scratch();
    a = known_alert();
    check_with_python(conf, false, &a, "known");
    check_with_python(raw, true, &a, "known-raw");
    a.kind = CP_ALERT_RESPONSE_SLA_BREACH;
    a.level = CP_ALERT_HIGH;
    a.manager_id = NULL;
    a.triggered_by = NULL;
    a.reason_cnt = 0;
    check_with_python(conf, false, &a, "nulls");
    a = known_alert();
    a.reasons = odd;
    a.reason_cnt = 2;
    a.risk_score = 2.0 / 3.0;
    a.previous_score = -1234567.0;
    a.tenant_id = "t\"en\\ant";
    check_with_python(conf, false, &a, "escapes");
    a.reasons = three_reasons;
    a.reason_cnt = 3;
    check_with_python(raw, true, &a, "three-raw");
    cr_assert(eq(int, rmdir(scratch), 0));
}

/* The checker itself can fail: a wrong value, a trailing byte and a wrong
 * schema id are all caught. */
Test(alert, python_check_catches_differences)
{
    char bin[600], json[600], got[8192];
    struct cp_alert a = known_alert();
    const char *j;
    char *p;

    make_scratch();
    snprintf(bin, sizeof(bin), "%s/a.bin", scratch);
    snprintf(json, sizeof(json), "%s/a.json", scratch);
    cr_assert(eq(int, cp_codec_encode_alert(conf, &a, &out), CP_OK));
    write_file(bin, out.data, out.len);
    j = json_of(&a);
    p = strstr(j, "0.8125");
    cr_assert_not_null(p);
    p[5] = '6'; /* risk_score 0.8126 */
    write_file(json, j, strlen(j));
    cr_assert(eq(int, run_decoder(bin, json, false, got, sizeof(got)), 1));

    cp_buf_reset(&out);
    cr_assert(eq(int, cp_codec_encode_alert(conf, &a, &out), CP_OK));
    cr_assert(eq(int, cp_buf_append(&out, "", 1), CP_OK));
    write_file(bin, out.data, out.len); /* one trailing byte */
    cr_assert(eq(int, run_decoder(bin, NULL, false, got, sizeof(got)), 1));

    out.data[4] = 1; /* schema id 1 */
    write_file(bin, out.data, out.len - 1);
    cr_assert(eq(int, run_decoder(bin, NULL, false, got, sizeof(got)), 1));
    unlink(bin);
    unlink(json);
    cr_assert(eq(int, rmdir(scratch), 0));
}
