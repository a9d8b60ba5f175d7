/* SPDX-License-Identifier: Apache-2.0 */
/* Writer schemas from a schema registry resolved to our reader
 * (schemas/crm_event.avsc) by the Avro rules: reordered fields, a field
 * only the writer has, an optional field it lacks (reader default null),
 * int->long and bytes->string promotions, an enum symbol and a payload
 * record the reader does not know (dead-lettered), and writers that cannot
 * resolve, named by field and rule. Messages are hand-encoded Avro. */
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "fixtures_codec.h"
#include "schemas.h"

static int truthy(int cond)
{
    return cond != 0;
}

static void assert_has(const char *text, const char *part)
{
    cr_assert(truthy(strstr(text, part) != NULL), "'%s' lacks '%s'", text,
              part);
}

TestSuite(codec_registry, .init = fx_codec_setup, .fini = fx_codec_teardown,
          .timeout = 10);

/* ---- a tiny Avro writer ---- */

struct msg {
    uint8_t b[512];
    size_t n;
};

static void framed(struct msg *m, uint32_t id)
{
    m->b[0] = 0;
    m->b[1] = (uint8_t)(id >> 24);
    m->b[2] = (uint8_t)(id >> 16);
    m->b[3] = (uint8_t)(id >> 8);
    m->b[4] = (uint8_t)id;
    m->n = 5;
}

static void put_long(struct msg *m, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);

    do {
        uint8_t byte = z & 0x7f;

        z >>= 7;
        m->b[m->n++] = (uint8_t)(byte | (z ? 0x80 : 0));
    } while (z);
}

static void put_str(struct msg *m, const char *s)
{
    size_t len = strlen(s);

    put_long(m, (int64_t)len);
    memcpy(m->b + m->n, s, len);
    m->n += len;
}

/* Evolved: reordered, "note" added, manager_id removed (reader default
 * null), channel with a new symbol FAX, payload records reordered with a
 * field added, promotions, and a record the reader does not know. */
static const char evolved[] =
    "{\"type\":\"record\",\"name\":\"CrmEvent\",\"namespace\":\"crm.v1\","
    "\"fields\":["
    "{\"name\":\"tenant_id\",\"type\":\"string\"},"
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"customer_id\",\"type\":\"bytes\"},"
    "{\"name\":\"occurred_at\",\"type\":\"long\"},"
    "{\"name\":\"channel\",\"type\":[\"null\",{\"type\":\"enum\",\"name\":"
    "\"Channel\",\"symbols\":[\"PHONE\",\"EMAIL\",\"CHAT\",\"MESSENGER\","
    "\"WEB\",\"SOCIAL\",\"IN_PERSON\",\"FAX\"],\"default\":\"PHONE\"}],"
    "\"default\":null},"
    "{\"name\":\"payload\",\"type\":["
    "{\"type\":\"record\",\"name\":\"OrderPlaced\",\"fields\":["
    "{\"name\":\"coupon\",\"type\":\"string\"},"
    "{\"name\":\"amount_minor\",\"type\":\"int\"},"
    "{\"name\":\"order_id\",\"type\":\"bytes\"}]},"
    "{\"type\":\"record\",\"name\":\"Refund\",\"fields\":["
    "{\"name\":\"refund_id\",\"type\":\"string\"}]}]}]}";

static void evolved_order(struct msg *m, uint32_t id, int channel_sym,
                          int payload_branch)
{
    framed(m, id);
    put_str(m, "acme"); /* tenant_id */
    put_long(m, 1);     /* note: string */
    put_str(m, "hello");
    put_str(m, "ev-1");      /* event_id */
    put_str(m, "cust-7");    /* customer_id (bytes) */
    put_long(m, NOW - 1000); /* occurred_at */
    put_long(m, 1);          /* channel: the enum */
    put_long(m, channel_sym);
    put_long(m, payload_branch);
    if (payload_branch == 0) {
        put_str(m, "SPRING");  /* coupon */
        put_long(m, 4200);     /* amount_minor (int) */
        put_str(m, "order-9"); /* order_id (bytes) */
    } else {
        put_str(m, "refund-1");
    }
}

Test(codec_registry, an_evolved_writer_resolves_by_name)
{
    char summary[512];
    struct cp_event ev;
    struct msg m;
    uint32_t id = 0;

    cp_codec_use_registry(conf);
    evolved_order(&m, 200, 1, 0);
    cr_assert(truthy(cp_codec_needs_schema(conf, m.b, m.n, &id) && id == 200));
    cr_assert(truthy(cp_codec_add_schema(conf, 200, evolved, summary,
                                         sizeof(summary)) == CP_OK),
              "%s", summary);
    assert_has(summary, "added: note, OrderPlaced.coupon, Refund;");
    assert_has(summary, "removed: manager_id, LeadCreated");
    cr_assert(truthy(!cp_codec_needs_schema(conf, m.b, m.n, &id)));
    cr_assert(truthy(cp_codec_decode_event(conf, m.b, m.n, NOW, &arena, &ev,
                                           reason, sizeof(reason)) == CP_OK),
              "%s", reason);
    cr_assert(truthy(ev.kind == CP_ORDER_PLACED && ev.amount == 4200));
    cr_assert(truthy(ev.event_id.len == 4 &&
                     memcmp(ev.event_id.ptr, "ev-1", 4) == 0));
    cr_assert(truthy(ev.customer_id.len == 6 &&
                     memcmp(ev.customer_id.ptr, "cust-7", 6) == 0));
    cr_assert(truthy(ev.entity_id.len == 7 &&
                     memcmp(ev.entity_id.ptr, "order-9", 7) == 0));
    cr_assert(truthy(ev.manager_id.ptr == NULL));
    cr_assert(truthy(ev.channel == CP_CHANNEL_EMAIL));
    cr_assert(truthy(ev.occurred_at == NOW - 1000));
}

Test(codec_registry, unknown_symbols_and_records_are_dead_lettered)
{
    char summary[512];
    struct cp_event ev;
    struct msg m;

    cp_codec_use_registry(conf);
    cr_assert(truthy(cp_codec_add_schema(conf, 200, evolved, summary,
                                         sizeof(summary)) == CP_OK));
    /* The reader's Channel has no default: Avro says error. */
    evolved_order(&m, 200, 7, 0);
    cr_assert(
        truthy(cp_codec_decode_event(conf, m.b, m.n, NOW, &arena, &ev, reason,
                                     sizeof(reason)) == CP_EDECODE));
    assert_has(reason, "channel: unknown symbol FAX");
    evolved_order(&m, 200, 1, 1);
    cr_assert(
        truthy(cp_codec_decode_event(conf, m.b, m.n, NOW, &arena, &ev, reason,
                                     sizeof(reason)) == CP_EDECODE));
    assert_has(reason, "payload: unknown record Refund");
}

Test(codec_registry, registry_ids_replace_the_fixed_ids_for_events)
{
    const char *reader = cp_schema_json(CP_SCHEMA_ID_CRM_EVENT);
    struct cp_event ev = {0}, got;
    char summary[512];
    uint32_t id = 0;

    ev.event_id = (struct cp_str){"e-1", 3};
    ev.tenant_id = (struct cp_str){"acme", 4};
    ev.customer_id = (struct cp_str){"c-1", 3};
    ev.occurred_at = NOW;
    ev.channel = CP_CHANNEL_NONE;
    ev.kind = CP_WEB_VISIT;
    ev.entity_id = (struct cp_str){"s-1", 3};
    cr_assert(truthy(cp_codec_encode_event(conf, &ev, &out) == CP_OK));
    cp_codec_use_registry(conf);
    /* Id 1 is the registry's to give: not our compiled-in schema now. */
    cr_assert(
        truthy(cp_codec_needs_schema(conf, out.data, out.len, &id) && id == 1));
    ((uint8_t *)out.data)[4] = 7;
    cr_assert(
        truthy(cp_codec_decode_event(conf, out.data, out.len, NOW, &arena, &got,
                                     reason, sizeof(reason)) == CP_EDECODE));
    assert_has(reason, "unknown schema id 7");
    cr_assert(truthy(cp_codec_add_schema(conf, 7, reader, summary,
                                         sizeof(summary)) == CP_OK),
              "%s", summary);
    assert_has(summary, "added: none; removed: none");
    cr_assert(
        truthy(cp_codec_decode_event(conf, out.data, out.len, NOW, &arena, &got,
                                     reason, sizeof(reason)) == CP_OK),
        "%s", reason);
    cr_assert(truthy(got.kind == CP_WEB_VISIT && got.occurred_at == NOW));
}

static void assert_unusable(const char *json, const char *want)
{
    char summary[512];
    struct cp_event ev;
    struct msg m;

    cr_assert(truthy(cp_codec_add_schema(conf, 300, json, summary,
                                         sizeof(summary)) == CP_EDECODE),
              "resolved: %s", json);
    assert_has(summary, "schema id 300");
    assert_has(summary, want);
    framed(&m, 300);
    put_str(&m, "x");
    cr_assert(
        truthy(cp_codec_decode_event(conf, m.b, m.n, NOW, &arena, &ev, reason,
                                     sizeof(reason)) == CP_EDECODE));
    assert_has(reason, want);
}

Test(codec_registry, a_writer_missing_a_required_field_names_it_and_the_rule)
{
    cp_codec_use_registry(conf);
    assert_unusable(
        "{\"type\":\"record\",\"name\":\"CrmEvent\",\"fields\":["
        "{\"name\":\"event_id\",\"type\":\"string\"},"
        "{\"name\":\"tenant_id\",\"type\":\"string\"},"
        "{\"name\":\"occurred_at\",\"type\":\"long\"},"
        "{\"name\":\"payload\",\"type\":[{\"type\":\"record\",\"name\":"
        "\"WebVisit\",\"fields\":[{\"name\":\"session_id\",\"type\":"
        "\"string\"}]}]}]}",
        "field CrmEvent.customer_id: the writer lacks it and the reader has "
        "no default");
}

Test(codec_registry, a_type_that_does_not_promote_names_it_and_the_rule)
{
    cp_codec_use_registry(conf);
    assert_unusable(
        "{\"type\":\"record\",\"name\":\"CrmEvent\",\"fields\":["
        "{\"name\":\"event_id\",\"type\":\"string\"},"
        "{\"name\":\"tenant_id\",\"type\":\"string\"},"
        "{\"name\":\"customer_id\",\"type\":\"string\"},"
        "{\"name\":\"occurred_at\",\"type\":\"string\"},"
        "{\"name\":\"payload\",\"type\":[{\"type\":\"record\",\"name\":"
        "\"WebVisit\",\"fields\":[{\"name\":\"session_id\",\"type\":"
        "\"string\"}]}]}]}",
        "field CrmEvent.occurred_at: writer type string, reader type long");
}

Test(codec_registry, a_payload_field_that_does_not_resolve_is_named)
{
    cp_codec_use_registry(conf);
    assert_unusable(
        "{\"type\":\"record\",\"name\":\"CrmEvent\",\"fields\":["
        "{\"name\":\"event_id\",\"type\":\"string\"},"
        "{\"name\":\"tenant_id\",\"type\":\"string\"},"
        "{\"name\":\"customer_id\",\"type\":\"string\"},"
        "{\"name\":\"occurred_at\",\"type\":\"long\"},"
        "{\"name\":\"payload\",\"type\":[{\"type\":\"record\",\"name\":"
        "\"OrderPlaced\",\"fields\":[{\"name\":\"order_id\",\"type\":"
        "\"string\"},{\"name\":\"amount_minor\",\"type\":\"double\"}]}]}]}",
        "field OrderPlaced.amount_minor: writer type double, reader type "
        "long");
}

Test(codec_registry, not_a_crm_event_or_not_json_is_unusable)
{
    cp_codec_use_registry(conf);
    assert_unusable(cp_schema_json(CP_SCHEMA_ID_ALERT), "not a record "
                                                        "CrmEvent");
    cp_codec_destroy(conf);
    conf = cp_codec_new(CP_FRAMING_CONFLUENT, reason, sizeof(reason));
    cp_codec_use_registry(conf);
    assert_unusable("{\"type\": \"record\", \"name\": ", "not an Avro schema");
}

Test(codec_registry, a_not_found_id_dead_letters_with_the_reason)
{
    struct cp_event ev;
    struct msg m;
    uint32_t id;

    cp_codec_use_registry(conf);
    cr_assert(truthy(cp_codec_add_unusable(conf, 404,
                                           "schema id 404 not "
                                           "found (40403)") == CP_OK));
    framed(&m, 404);
    put_str(&m, "x");
    cr_assert(truthy(!cp_codec_needs_schema(conf, m.b, m.n, &id)));
    cr_assert(
        truthy(cp_codec_decode_event(conf, m.b, m.n, NOW, &arena, &ev, reason,
                                     sizeof(reason)) == CP_EDECODE));
    assert_has(reason, "schema id 404 not found (40403)");
}

Test(codec_registry, without_a_registry_nothing_is_fetched)
{
    struct msg m;
    uint32_t id;

    framed(&m, 200);
    put_str(&m, "x");
    cr_assert(truthy(!cp_codec_needs_schema(conf, m.b, m.n, &id)));
    cr_assert(truthy(!cp_codec_needs_schema(raw, m.b, m.n, &id)));
}

Test(codec_registry, output_is_framed_with_the_registry_ids)
{
    struct cp_dead_letter dl = {.topic = "crm.events",
                                .partition = 3,
                                .offset = 9,
                                .value = "x",
                                .value_len = 1,
                                .reason = "bad",
                                .failed_at = NOW},
                          got;
    const uint8_t *p;

    cp_codec_set_output_ids(conf, 0, 501, 502);
    cr_assert(truthy(cp_codec_encode_dead_letter(conf, &dl, &out) == CP_OK));
    p = (const uint8_t *)out.data;
    cr_assert(truthy(p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0x01 &&
                     p[4] == 0xf6));
    cr_assert(truthy(cp_codec_decode_dead_letter(conf, out.data, out.len,
                                                 &arena, &got, reason,
                                                 sizeof(reason)) == CP_OK),
              "%s", reason);
    cr_assert(truthy(got.offset == 9 && strcmp(got.reason, "bad") == 0));
}

/* avro-c leaks what it built for such a schema: refused before it parses. */
Test(codec_registry, a_name_defined_twice_is_refused_without_leaking)
{
    cp_codec_use_registry(conf);
    assert_unusable(
        "{\"type\":\"record\",\"name\":\"CrmEvent\",\"namespace\":\"crm.v1\","
        "\"fields\":[{\"name\":\"payload\",\"type\":["
        "{\"type\":\"record\",\"name\":\"WebVisit\",\"fields\":[]},"
        "{\"type\":\"record\",\"name\":\"WebVisit\",\"fields\":[]}]}]}",
        "crm.v1.WebVisit is defined twice");
}
