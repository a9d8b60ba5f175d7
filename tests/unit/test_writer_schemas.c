/* SPDX-License-Identifier: Apache-2.0 */
/* The worker's and the generator's side of the schema registry, against
 * the test registry: output schemas registered (or only looked up, and a
 * missing one refused at start with the fix), raw framing refused, a
 * registry down at start refused, a batch with an unseen id prepared (or
 * waiting while the registry answers 500, nothing marked unusable), a
 * not-found id dead-lettered with the id; crmpulse-gen --schema-registry
 * framing its events with the registry's id. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "arena.h"
#include "buf.h"
#include "codec.h"
#include "config.h"
#include "fixtures_registry.h"
#include "produce.h"
#include "registry.h"
#include "schemas.h"
#include "writer_schemas.h"

#define NOW 1700000000000LL

static int truthy(int cond)
{
    return cond != 0;
}

static void assert_has(const char *text, const char *part)
{
    cr_assert(truthy(strstr(text, part) != NULL), "'%s' lacks '%s'", text,
              part);
}

static struct cp_config *cfg;
static struct cp_codec *codec;
static struct cp_writer_schemas *ws;
static char errstr[1024];

static void teardown(void)
{
    cp_writer_schemas_destroy(ws);
    ws = NULL;
    cp_codec_destroy(codec);
    codec = NULL;
    cp_config_destroy(cfg);
    cfg = NULL;
    stop_server();
}

TestSuite(writer_schemas, .fini = teardown, .timeout = 30);

/* Settings with the test registry's URL and @p extra (-X value or NULL). */
static void load(const char *extra)
{
    char x_url[128];
    const char *argv[] = {
        "crmpulse", "-X", x_url, "-X", extra ? extra : "log.level=err", NULL};

    snprintf(x_url, sizeof(x_url), "schema.registry.url=%s", url);
    cfg = cp_config_load(5, (char **)argv, NULL, NULL, errstr, sizeof(errstr));
    cr_assert(truthy(cfg != NULL), "%s", errstr);
    codec = cp_codec_new(cfg->codec_raw ? CP_FRAMING_RAW : CP_FRAMING_CONFLUENT,
                         errstr, sizeof(errstr));
    cr_assert(truthy(codec != NULL), "%s", errstr);
}

static cp_rc open_ws(void)
{
    return cp_writer_schemas_open(cfg, codec, NULL, &ws, errstr,
                                  sizeof(errstr));
}

/* Registers @p json under @p subject in the test registry. */
static uint32_t register_schema(const char *subject, const char *json)
{
    struct cp_registry_opts opts = {.urls = url, .timeout_ms = 2000};
    struct cp_registry *reg = cp_registry_new(&opts, errstr, sizeof(errstr));
    uint32_t id = 0;

    cr_assert(truthy(reg != NULL), "%s", errstr);
    cr_assert(truthy(cp_registry_id_for(reg, subject, json, true, &id, errstr,
                                        sizeof(errstr)) == CP_OK),
              "%s", errstr);
    cp_registry_destroy(reg);
    return id;
}

Test(writer_schemas, registers_the_output_schemas_and_frames_with_their_ids)
{
    struct cp_dead_letter dl = {.topic = "crm.events",
                                .value = "x",
                                .value_len = 1,
                                .reason = "r",
                                .failed_at = NOW};
    struct cp_buf out;
    const uint8_t *p;

    start_server(NULL);
    load(NULL);
    cr_assert(truthy(open_ws() == CP_OK), "%s", errstr);
    cr_assert(truthy(ws != NULL));
    /* alerts first (100), then dead letters (101) */
    cp_buf_init(&out, 0);
    cr_assert(truthy(cp_codec_encode_dead_letter(codec, &dl, &out) == CP_OK));
    p = (const uint8_t *)out.data;
    cr_assert(
        truthy(p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0 && p[4] == 101),
        "dead letter framed with id %u", p[4]);
    cp_buf_cleanup(&out);
}

Test(writer_schemas, look_up_only_refuses_to_start_when_not_registered)
{
    start_server(NULL);
    load("schema.registry.auto.register=false");
    cr_assert(truthy(open_ws() == CP_ECONFIG));
    assert_has(errstr, "crm.alerts-value");
    assert_has(errstr, "40401");
    assert_has(errstr, "schema.registry.auto.register=true");
    cp_codec_destroy(codec);
    cp_config_destroy(cfg);
    /* Registered beforehand: looked up, and the worker starts. */
    register_schema("crm.alerts-value", cp_schema_json(CP_SCHEMA_ID_ALERT));
    register_schema("crm.events.dlq-value",
                    cp_schema_json(CP_SCHEMA_ID_DEAD_LETTER));
    load("schema.registry.auto.register=false");
    cr_assert(truthy(open_ws() == CP_OK), "%s", errstr);
}

Test(writer_schemas, raw_framing_and_a_registry_down_are_refused_at_start)
{
    start_server(NULL);
    load("codec.framing=raw");
    cr_assert(truthy(open_ws() == CP_ECONFIG));
    assert_has(errstr, "codec.framing=confluent");
    cp_codec_destroy(codec);
    cp_config_destroy(cfg);
    stop_server();
    load(NULL);
    cr_assert(truthy(open_ws() == CP_ECONFIG));
    assert_has(errstr, "is the schema registry running?");
}

Test(writer_schemas, no_registry_configured_is_the_fixed_ids)
{
    const char *argv[] = {"crmpulse", NULL};
    struct cp_msg msg = {0};

    cfg = cp_config_load(1, (char **)argv, NULL, NULL, errstr, sizeof(errstr));
    cr_assert(truthy(cfg != NULL));
    codec = cp_codec_new(CP_FRAMING_CONFLUENT, errstr, sizeof(errstr));
    cr_assert(truthy(open_ws() == CP_OK && ws == NULL));
    cr_assert(truthy(cp_writer_schemas_prepare(NULL, &msg, 1) == CP_OK));
}

/* A message framed with @p id (its body is never read here). */
static void framed(uint8_t b[6], uint32_t id)
{
    b[0] = 0;
    b[1] = (uint8_t)(id >> 24);
    b[2] = (uint8_t)(id >> 16);
    b[3] = (uint8_t)(id >> 8);
    b[4] = (uint8_t)id;
    b[5] = 0;
}

Test(writer_schemas, a_batch_waits_for_the_registry_and_not_found_is_bad_input)
{
    uint8_t known[6], missing[6];
    struct cp_msg msgs[2] = {{.value = known, .value_len = 6},
                             {.value = missing, .value_len = 6}};
    struct cp_arena arena;
    struct cp_event ev;
    char reason[512];
    uint32_t id, unused;

    start_server(NULL);
    load(NULL);
    cr_assert(truthy(open_ws() == CP_OK), "%s", errstr);
    id = register_schema("crm.events-value",
                         cp_schema_json(CP_SCHEMA_ID_CRM_EVENT));
    framed(known, id);
    framed(missing, 4242);
    set_mode("500");
    cr_assert(truthy(cp_writer_schemas_prepare(ws, msgs, 2) == CP_EIO));
    cr_assert(truthy(cp_writer_schemas_waiting(ws)));
    /* Nothing learnt while waiting: both ids are still asked for. */
    cr_assert(truthy(cp_codec_needs_schema(codec, known, 6, &unused)));
    set_mode("ok");
    cr_assert(truthy(cp_writer_schemas_prepare(ws, msgs, 2) == CP_OK));
    cr_assert(truthy(!cp_writer_schemas_waiting(ws)));
    cr_assert(truthy(!cp_codec_needs_schema(codec, missing, 6, &unused)));
    cp_arena_init(&arena, 1024);
    cr_assert(
        truthy(cp_codec_decode_event(codec, missing, 6, NOW, &arena, &ev,
                                     reason, sizeof(reason)) == CP_EDECODE));
    assert_has(reason, "schema id 4242 not found in the schema registry "
                       "(40403)");
    /* The known id's body is one zero byte: bad input of a good schema. */
    cr_assert(
        truthy(cp_codec_decode_event(codec, known, 6, NOW, &arena, &ev, reason,
                                     sizeof(reason)) == CP_EDECODE));
    cp_arena_cleanup(&arena);
}

static volatile sig_atomic_t no_stop;

Test(writer_schemas, the_generator_frames_events_with_the_registry_id)
{
    char dump[256], x_url[128];
    const char *argv[] = {
        "crmpulse-gen", "--dry-run",         "-n",  "3", "-q", "-o",
        dump,           "--schema-registry", x_url, NULL};
    struct cp_gen_opts o;
    struct cp_config *gcfg;
    struct cp_gen_run *rn;
    unsigned char b[4096];
    const unsigned char *v;
    size_t n, klen;
    int status = 2;
    FILE *fp;

    start_server(NULL);
    register_schema("other-value", "\"string\""); /* takes id 100 */
    snprintf(dump, sizeof(dump), "/tmp/cp-gen-reg-%d.dump", (int)getpid());
    snprintf(x_url, sizeof(x_url), "%s", url);
    cp_gen_opts_init(&o);
    cr_assert(truthy(cp_gen_opts_parse(&o, 9, (char **)argv, errstr,
                                       sizeof(errstr)) == 0),
              "%s", errstr);
    gcfg = cp_gen_config_load(&o, "crmpulse-gen", errstr, sizeof(errstr));
    cr_assert(truthy(gcfg != NULL), "%s", errstr);
    rn = cp_gen_run_new(&o, gcfg, stderr, &status);
    cr_assert(truthy(rn != NULL));
    cr_assert(truthy(cp_gen_run_produce(rn, &no_stop) == 0));
    cp_gen_run_destroy(rn);
    cp_config_destroy(gcfg);
    cp_gen_opts_cleanup(&o);
    fp = fopen(dump, "rb");
    cr_assert(truthy(fp != NULL));
    n = fread(b, 1, sizeof(b), fp);
    fclose(fp);
    remove(dump);
    /* flag, key length + key, value length, then the value: 0x00 and the
     * id crm_event.avsc got under crm.events-value (101: 100 was taken). */
    cr_assert(truthy(n > 9));
    klen = (size_t)b[1] << 24 | (size_t)b[2] << 16 | (size_t)b[3] << 8 | b[4];
    cr_assert(truthy(5 + klen + 4 + 5 <= n));
    v = b + 5 + klen + 4;
    cr_assert(
        truthy(v[0] == 0 && v[1] == 0 && v[2] == 0 && v[3] == 0 && v[4] == 101),
        "framed with id %u", v[4]);
}
