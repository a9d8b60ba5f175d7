/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-gen --replay (replay.h, produce.h): every line of the in-repo
 * sample history (tests/unit/replay_sample.jsonl, every payload kind)
 * becomes the event it says and survives the codec; a bad line is named
 * with its number and reason, counted, and nothing of its file is
 * produced. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "codec.h"
#include "config.h"
#include "produce.h"
#include "replay.h"

#define NOW_MS 1767312000000LL /* 2026-01-02, after every sample event */

TestSuite(replay, .timeout = 60);

/* The sample file, found next to the schemas (CP_SCHEMA_DIR, as ctest
 * sets it) or next to this file. */
static void sample_path(char *buf, size_t size)
{
    const char *dir = getenv("CP_SCHEMA_DIR");

    if (dir) {
        snprintf(buf, size, "%s/../tests/unit/replay_sample.jsonl", dir);
    } else {
        const char *slash = strrchr(__FILE__, '/');
        int n = slash ? (int)(slash - __FILE__) : 1;

        snprintf(buf, size, "%.*s/replay_sample.jsonl", n,
                 slash ? __FILE__ : ".");
    }
    cr_assert_eq(access(buf, R_OK), 0, "no %s", buf);
}

static int str_is(struct cp_str s, const char *want)
{
    if (!want)
        return s.ptr == NULL;
    return s.ptr && s.len == strlen(want) && !memcmp(s.ptr, want, s.len);
}

static cp_rc parse(struct cp_replay *rp, const char *line, struct cp_event *ev,
                   char *reason, size_t size)
{
    return cp_replay_parse(rp, line, strlen(line), NOW_MS, ev, reason, size);
}

Test(replay, every_sample_line_is_the_event_it_says)
{
    char path[1024], reason[512], errstr[256], *line = NULL;
    size_t cap = 0;
    ssize_t n;
    struct cp_replay *rp = cp_replay_new();
    struct cp_codec *codec =
        cp_codec_new(CP_FRAMING_CONFLUENT, errstr, sizeof(errstr));
    struct cp_arena arena;
    struct cp_buf out;
    struct cp_event ev, back;
    int kinds[CP_PAYLOAD_KIND_CNT] = {0}, lines = 0;
    FILE *f;

    cr_assert_not_null(rp);
    cr_assert_not_null(codec, "%s", errstr);
    sample_path(path, sizeof(path));
    f = fopen(path, "r");
    cr_assert_not_null(f);
    cp_arena_init(&arena, 4096);
    cp_buf_init(&out, 0);
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n')
            n--;
        lines++;
        cr_assert_eq(cp_replay_parse(rp, line, (size_t)n, NOW_MS, &ev, reason,
                                     sizeof(reason)),
                     CP_OK, "line %d: %s", lines, reason);
        kinds[ev.kind]++;
        cp_buf_reset(&out);
        cr_assert_eq(cp_codec_encode_event(codec, &ev, &out), CP_OK);
        cr_assert_eq(cp_codec_decode_event(codec, out.data, out.len, NOW_MS,
                                           &arena, &back, reason,
                                           sizeof(reason)),
                     CP_OK, "line %d: %s", lines, reason);
        cr_assert(
            str_is(back.event_id, NULL) == 0 &&
                back.event_id.len == ev.event_id.len &&
                !memcmp(back.event_id.ptr, ev.event_id.ptr, ev.event_id.len),
            "line %d", lines);
        cr_assert_eq(back.kind, ev.kind);
        cr_assert_eq(back.occurred_at, ev.occurred_at);
        cp_arena_reset(&arena);
        /* a few lines field by field */
        if (lines == 2) {
            cr_assert(str_is(ev.label, "qualified") && ev.stage_order == 1);
            cr_assert(str_is(ev.entity_id, "d-1"));
            cr_assert_eq(ev.channel, CP_CHANNEL_PHONE, "lower case is fine");
        } else if (lines == 3) {
            cr_assert(ev.won && ev.amount == 125000);
            cr_assert_eq(ev.channel, CP_CHANNEL_NONE, "absent: null");
        } else if (lines == 4) {
            cr_assert(str_is(ev.manager_id, NULL), "null manager");
            cr_assert(str_is(ev.tenant_id, "shop") &&
                      str_is(ev.customer_id, "c-1"));
            cr_assert(str_is(ev.entity_id, "o-1") && ev.amount == 4999);
            cr_assert_eq(ev.occurred_at, 1767236400000LL);
        } else if (lines == 7) {
            cr_assert(ev.inbound && !ev.answered && ev.amount == 0);
        } else if (lines == 10) {
            cr_assert(ev.survey_kind == CP_SURVEY_NPS && ev.score == 3);
        } else if (lines == 11) {
            cr_assert(ev.sub_action == CP_SUB_CANCELLED && ev.amount == 9900);
            cr_assert(str_is(ev.manager_id, NULL));
        } else if (lines == 12) {
            /* members it does not know are ignored */
            cr_assert(str_is(ev.entity_id, "s-77"));
            cr_assert_eq(ev.channel, CP_CHANNEL_IN_PERSON);
        }
    }
    cr_assert_eq(lines, 12);
    for (int k = 0; k < CP_PAYLOAD_KIND_CNT; k++)
        cr_assert_eq(kinds[k], 1, "%s", cp_payload_kind_name(k));
    free(line);
    fclose(f);
    cp_buf_cleanup(&out);
    cp_arena_cleanup(&arena);
    cp_codec_destroy(codec);
    cp_replay_destroy(rp);
}

Test(replay, a_bad_line_names_what_is_wrong)
{
    static const struct {
        const char *line, *reason;
    } cases[] = {
        {"not json", "not JSON"},
        {"[1,2]", "expected a JSON object"},
        {"{\"tenant_id\":\"t\",\"customer_id\":\"c\",\"occurred_at\":"
         "1767225600000,"
         "\"payload\":{\"type\":\"WebVisit\",\"session_id\":\"s\"}}",
         "event_id: missing"},
        {"{\"event_id\":\"e\",\"tenant_id\":\"t\",\"customer_id\":\"c\","
         "\"occurred_at\":\"2026-01-01\",\"payload\":{\"type\":\"WebVisit\","
         "\"session_id\":\"s\"}}",
         "occurred_at: expected an integer"},
        {"{\"event_id\":\"e\",\"tenant_id\":\"t\",\"customer_id\":\"c\","
         "\"occurred_at\":1767225600000,\"payload\":{\"type\":\"OrderPlaced\","
         "\"order_id\":\"o\",\"amount_minor\":12.5}}",
         "payload.amount_minor: expected an integer"},
        {"{\"event_id\":\"e\",\"tenant_id\":\"t\",\"customer_id\":\"c\","
         "\"occurred_at\":1767225600000,\"payload\":{\"type\":\"Refund\"}}",
         "payload.type: \"Refund\" is not a crm.v1.CrmEvent payload"},
        {"{\"event_id\":\"e\",\"tenant_id\":\"t\",\"customer_id\":\"c\","
         "\"occurred_at\":1767225600000}",
         "payload: expected an object"},
        {"{\"event_id\":\"e\",\"tenant_id\":\"t\",\"customer_id\":\"c\","
         "\"occurred_at\":1767225600000,\"channel\":\"FAX\",\"payload\":{"
         "\"type\":\"WebVisit\",\"session_id\":\"s\"}}",
         "channel: \"FAX\" is not one of"},
        {"{\"event_id\":\"e\",\"tenant_id\":\"t\",\"customer_id\":\"c\","
         "\"occurred_at\":1767225600000,\"payload\":{\"type\":"
         "\"SurveyAnswered\",\"kind\":\"XYZ\",\"score\":3}}",
         "payload.kind: \"XYZ\" is not one of NPS, CSAT, CES"},
        {"{\"event_id\":\"e\",\"tenant_id\":\"t\",\"customer_id\":\"c\","
         "\"occurred_at\":1767225600000,\"payload\":{\"type\":\"CallLogged\","
         "\"call_id\":\"x\",\"inbound\":1,\"answered\":true,"
         "\"duration_ms\":5}}",
         "payload.inbound: expected true or false"},
        {"{\"event_id\":\"e\",\"tenant_id\":\"t\",\"customer_id\":\"c\","
         "\"occurred_at\":1767225600000,\"payload\":{\"type\":\"TicketOpened\"}"
         "}",
         "payload.ticket_id: missing"},
        /* the input contract, as the worker would judge it */
        {"{\"event_id\":\"e\",\"tenant_id\":\"t\",\"customer_id\":\"c 1\","
         "\"occurred_at\":1767225600000,\"payload\":{\"type\":\"WebVisit\","
         "\"session_id\":\"s\"}}",
         "customer_id"},
        {"{\"event_id\":\"e\",\"tenant_id\":\"t\",\"customer_id\":\"c\","
         "\"occurred_at\":1767225600000,\"payload\":{\"type\":"
         "\"SurveyAnswered\",\"kind\":\"NPS\",\"score\":11}}",
         "score"},
        {"{\"event_id\":\"e\",\"tenant_id\":\"t\",\"customer_id\":\"c\","
         "\"occurred_at\":1867225600000,\"payload\":{\"type\":\"WebVisit\","
         "\"session_id\":\"s\"}}",
         "occurred_at"},
        {"{\"event_id\":\"e\",\"event_id\":\"f\",\"tenant_id\":\"t\","
         "\"customer_id\":\"c\",\"occurred_at\":1767225600000,\"payload\":{"
         "\"type\":\"WebVisit\",\"session_id\":\"s\"}}",
         "duplicate"},
    };
    struct cp_replay *rp = cp_replay_new();
    struct cp_event ev;
    char reason[512];

    cr_assert_not_null(rp);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reason[0] = '\0';
        cr_assert_eq(parse(rp, cases[i].line, &ev, reason, sizeof(reason)),
                     CP_EDECODE, "case %zu passed: %s", i, cases[i].line);
        cr_assert(strstr(reason, cases[i].reason) != NULL,
                  "case %zu: \"%s\" does not say \"%s\"", i, reason,
                  cases[i].reason);
    }
    cp_replay_destroy(rp);
}

/* Runs crmpulse-gen --replay FILE --dry-run --out DUMP with messages to
 * @p msgs_path. @returns the exit status. */
static int run_replay(const char *file, const char *dump, const char *msgs)
{
    const char *args[] = {"crmpulse-gen", "--replay", file, "--dry-run",
                          "--out",        dump,       "-q"};
    char errstr[512];
    struct cp_gen_opts o;
    struct cp_config *cfg;
    struct cp_gen_run *rn;
    volatile sig_atomic_t stop = 0;
    FILE *m = fopen(msgs, "w");
    int status;

    cr_assert_not_null(m);
    cp_gen_opts_init(&o);
    cr_assert_eq(
        cp_gen_opts_parse(&o, 7, (char **)args, errstr, sizeof(errstr)), 0,
        "%s", errstr);
    cfg = cp_gen_config_load(&o, "crmpulse-gen", errstr, sizeof(errstr));
    cr_assert_not_null(cfg, "%s", errstr);
    rn = cp_gen_run_new(&o, cfg, m, &status);
    if (rn)
        status = cp_gen_run_produce(rn, &stop);
    cp_gen_run_destroy(rn);
    cp_config_destroy(cfg);
    cp_gen_opts_cleanup(&o);
    fclose(m);
    return status;
}

/* Records of a --out dump (format at the top of produce.c); -1 when
 * malformed. */
static int dump_records(const char *path, char first_key[64])
{
    FILE *f = fopen(path, "rb");
    unsigned char h[5];
    int n = 0;

    if (!f)
        return 0; /* never opened: nothing produced */
    while (fread(h, 1, 5, f) == 5) {
        uint32_t kl = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 |
                      (uint32_t)h[3] << 8 | h[4];
        unsigned char l[4];
        char k[64];
        uint32_t vl;

        if (h[0] != 0 || kl >= 64 || fread(k, 1, kl, f) != kl ||
            fread(l, 1, 4, f) != 4) {
            fclose(f);
            return -1;
        }
        if (n == 0) {
            memcpy(first_key, k, kl);
            first_key[kl] = '\0';
        }
        vl = (uint32_t)l[0] << 24 | (uint32_t)l[1] << 16 | (uint32_t)l[2] << 8 |
             l[3];
        if (fseek(f, (long)vl, SEEK_CUR)) {
            fclose(f);
            return -1;
        }
        n++;
    }
    fclose(f);
    return n;
}

Test(replay, the_sample_is_produced_and_a_bad_file_is_not)
{
    char sample[1024], dump[] = "/tmp/cp-replay-dump-XXXXXX",
                       msgs[] = "/tmp/cp-replay-msgs-XXXXXX",
                       bad[] = "/tmp/cp-replay-bad-XXXXXX", key[64] = "",
                       text[4096];
    int fd;
    FILE *f, *in;
    size_t len;

    sample_path(sample, sizeof(sample));
    cr_assert((fd = mkstemp(dump)) >= 0);
    close(fd);
    cr_assert((fd = mkstemp(msgs)) >= 0);
    close(fd);
    cr_assert_eq(run_replay(sample, dump, msgs), 0);
    cr_assert_eq(dump_records(dump, key), 12);
    cr_assert_str_eq(key, "shop:c-1", "the Kafka key is tenant:customer");

    /* the sample with two bad lines in it: both named, counted, and the
     * good ones are not produced either */
    cr_assert((fd = mkstemp(bad)) >= 0);
    f = fdopen(fd, "w");
    in = fopen(sample, "r");
    cr_assert(f && in);
    for (int i = 1; fgets(text, sizeof(text), in); i++) {
        fputs(text, f);
        if (i == 3)
            fputs("{\"event_id\": 7}\n", f); /* line 4 */
    }
    fputs("\n", f); /* line 14: empty */
    fclose(in);
    fclose(f);
    unlink(dump);
    cr_assert_eq(run_replay(bad, dump, msgs), 1);
    cr_assert_eq(dump_records(dump, key), 0, "nothing produced");
    in = fopen(msgs, "r");
    cr_assert_not_null(in);
    len = fread(text, 1, sizeof(text) - 1, in);
    text[len] = '\0';
    fclose(in);
    cr_assert(strstr(text, ":4: event_id: expected a string"), "%s", text);
    cr_assert(strstr(text, ":14: empty line"), "%s", text);
    cr_assert(strstr(text, "2 of 14 lines are bad; nothing was produced"), "%s",
              text);
    unlink(dump);
    unlink(msgs);
    unlink(bad);
}
