/* SPDX-License-Identifier: Apache-2.0 */
/* The tenants file and the mapping of each CRM's documented payloads to
 * our events (lib/bridge/tenants.h, map.h), with a table in place of the
 * vendors' REST APIs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "fixtures_bridge.h"
#include "mapping.h"
#include "mapping_int.h"
#include "tenants.h"

static struct cp_tenants *ts;
static struct cp_map_out out;

/* The fake REST API: path -> body; "!404" answers 404, "!503" fails. */
struct route {
    const char *path;
    const char *body;
};
static const struct route *routes;
static size_t route_cnt, fetches;

static cp_rc fake_get(void *opaque, const struct cp_tenant *t, const char *path,
                      struct cp_buf *body, char *err, size_t err_size)
{
    (void)opaque;
    (void)t;
    fetches++;
    for (size_t i = 0; i < route_cnt; i++) {
        if (strcmp(routes[i].path, path) != 0)
            continue;
        if (!strcmp(routes[i].body, "!404")) {
            snprintf(err, err_size, "GET %s: 404", path);
            return CP_EDECODE;
        }
        if (!strcmp(routes[i].body, "!503")) {
            snprintf(err, err_size, "GET %s: HTTP 503", path);
            return CP_EIO;
        }
        return cp_buf_append(body, routes[i].body, strlen(routes[i].body));
    }
    snprintf(err, err_size, "GET %s: not in the test's table", path);
    return CP_EDECODE;
}

static const struct cp_fetcher fetcher = {.get = fake_get};

static void setup(void)
{
    char err[256];

    ts = cp_tenants_parse(FX_TENANTS, strlen(FX_TENANTS), "fx", err,
                          sizeof(err));
    cr_assert_not_null(ts, "%s", err);
    cp_map_out_init(&out);
    fetches = 0;
}

static void teardown(void)
{
    cp_map_out_cleanup(&out);
    cp_tenants_destroy(ts);
}

TestSuite(bridge_map, .init = setup, .fini = teardown, .timeout = 10);

static cp_rc map(const char *tenant, const char *body)
{
    const struct cp_tenant *t = cp_tenants_find(ts, tenant);

    cr_assert_not_null(t);
    return cp_map_request(t, body, strlen(body), &fetcher, &out);
}

/* ---- tenants file ---- */

Test(bridge_map, tenants_file_defaults_and_lookups)
{
    const struct cp_tenant *t = cp_tenants_find(ts, "amo");

    cr_assert_eq(cp_tenants_count(ts), 4);
    cr_assert_eq(t->crm, CP_CRM_AMOCRM, "kommo is amoCRM");
    cr_assert(cp_tenant_is_won(t, "142"));
    cr_assert(cp_tenant_is_lost(t, "143"));
    cr_assert_str_eq(t->source, "amocrm");
    t = cp_tenants_find(ts, "pd");
    cr_assert_eq(cp_tenant_stage(t, "2")->order, 2);
    cr_assert_str_eq(cp_tenant_stage(t, "2")->name, "proposal");
    cr_assert_null(cp_tenant_stage(t, "3"));
    cr_assert_null(cp_tenants_find(ts, "nobody"));
}

Test(bridge_map, tenants_file_errors_name_line_and_fix)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"crm = hubspot\n", "fx:1: setting before the first"},
        {"[tenant a]\ncrm = salesforce\n", "fx:2: crm: \"salesforce\""},
        {"[tenant a]\ncrm = hubspot\nsecrt = x\n", "fx:3: unknown key"},
        {"[tenant a]\ncrm = hubspot\n", "secret missing"},
        {"[tenant a]\ncrm = amocrm\nsecret = s\n", "needs account"},
        {"[tenant a]\ncrm = pipedrive\nuser = u\n", "user and password"},
        {"[tenant a b]\n", "fx:1: tenant name"},
        {"[tenant a]\ncrm=hubspot\nsecret=s\n[tenant a]\n", "given twice"},
        {"[tenant a]\ncrm=hubspot\nsecret=s\nstage.x = bad name\n",
         "fx:4: stage.x: stage name"},
        {"[tenant a]\ncrm=hubspot\nsecret=s\namount.scale = 7\n",
         "amount.scale"},
        {"[tenant a]\ncrm=bitrix24\nsecret=s\nrest.url=http://x\n"
         "offline.poll = 5s\n",
         "fx:5: offline.poll: \"5s\" must be seconds"},
        {"[tenant a]\ncrm=bitrix24\nsecret=s\noffline.poll = 5\n",
         "offline.poll is for Bitrix24 tenants with rest.url"},
        {"[tenant a]\ncrm=hubspot\nsecret=s\nrest.url=http://x\n"
         "offline.poll = 5\n",
         "offline.poll is for Bitrix24"},
        {"# nothing\n", "no tenant"},
    };
    char err[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cp_tenants *bad = cp_tenants_parse(
            cases[i].text, strlen(cases[i].text), "fx", err, sizeof(err));

        cr_assert_null(bad, "case %zu", i);
        cr_assert(strstr(err, cases[i].want), "case %zu: %s", i, err);
    }
}

Test(bridge_map, tenants_file_never_shows_secrets)
{
    const char *text = "[tenant a]\ncrm = pipedrive\npassword = hunter2\n";
    char err[256];

    cr_assert_null(
        cp_tenants_parse(text, strlen(text), "fx", err, sizeof(err)));
    cr_assert_null(strstr(err, "hunter2"), "%s", err);
}

/* ---- amounts ---- */

Test(bridge_map, amounts_are_exact_minor_units)
{
    int64_t v;

    cr_assert_eq(cp__map_amount("1500.50", 100, &v), 0);
    cr_assert_eq(v, 150050);
    cr_assert_eq(cp__map_amount("7", 100, &v), 0);
    cr_assert_eq(v, 700);
    cr_assert_eq(cp__map_amount("0.1", 100, &v), 0);
    cr_assert_eq(v, 10);
    cr_assert_eq(cp__map_amount("2.500", 100, &v), 0, "trailing zeros");
    cr_assert_eq(v, 250);
    cr_assert_eq(cp__map_amount("-0.00", 100, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(cp__map_amount("1700000000", 1000, &v), 0);
    cr_assert_eq(v, 1700000000000LL);
    cr_assert_eq(cp__map_amount("2.505", 100, &v), -1, "below a cent");
    cr_assert_eq(cp__map_amount("-1", 100, &v), -1);
    cr_assert_eq(cp__map_amount("1e3", 100, &v), -1);
    cr_assert_eq(cp__map_amount("1.", 100, &v), -1);
    cr_assert_eq(cp__map_amount(".5", 100, &v), -1);
    cr_assert_eq(cp__map_amount("", 100, &v), -1);
    cr_assert_eq(cp__map_amount("99999999999999999999", 100, &v), -1);
}

/* ---- HubSpot ---- */

Test(bridge_map, hubspot_batch_maps_with_the_deal_read_back)
{
    static const struct route r[] = {
        {"/crm/v3/objects/deals/555?properties=amount,hubspot_owner_id&"
         "associations=companies,contacts",
         FX_HUBSPOT_DEAL_555}};

    routes = r;
    route_cnt = 1;
    cr_assert_eq(map("hs", FX_HUBSPOT_BATCH), CP_OK);
    cr_assert_eq(out.cnt, 3);
    cr_assert_eq(out.dead_cnt, 0);
    cr_assert_eq(out.ignored, 1, "the contact's e-mail edit");
    cr_assert_eq(fetches, 1, "one read of deal 555 for its three events");

    cr_assert_eq(out.evs[0].kind, CP_LEAD_CREATED);
    cr_assert_str_eq(out.evs[0].event_id, "hubspot-101");
    cr_assert_str_eq(out.evs[0].customer, "co-8080");
    cr_assert_str_eq(out.evs[0].manager, "9001");
    cr_assert_str_eq(out.evs[0].entity, "555");
    cr_assert_str_eq(out.evs[0].label, "hubspot");
    cr_assert_eq(out.evs[0].occurred_at, FX_T0_MS);

    cr_assert_eq(out.evs[1].kind, CP_STAGE_CHANGED);
    cr_assert_str_eq(out.evs[1].label, "qualified");
    cr_assert_eq(out.evs[1].stage_order, 1);

    cr_assert_eq(out.evs[2].kind, CP_DEAL_CLOSED);
    cr_assert(out.evs[2].won);
    cr_assert_eq(out.evs[2].amount, 150050);
    cr_assert_eq(out.evs[2].occurred_at, FX_T0_MS + 120000);
}

Test(bridge_map, hubspot_unmapped_stage_and_missing_record_are_dead)
{
    static const struct route r[] = {
        {"/crm/v3/objects/deals/555?properties=amount,hubspot_owner_id&"
         "associations=companies,contacts",
         "!404"}};
    const char *body =
        "[{\"eventId\":1,\"occurredAt\":1700000000000,\"objectId\":555,"
        "\"subscriptionType\":\"deal.propertyChange\","
        "\"propertyName\":\"dealstage\",\"propertyValue\":\"mystery\"},"
        "{\"eventId\":2,\"occurredAt\":1700000000000,\"objectId\":555,"
        "\"subscriptionType\":\"deal.creation\"},"
        "{\"eventId\":\"x\"}, 7]";

    routes = r;
    route_cnt = 1;
    cr_assert_eq(map("hs", body), CP_OK);
    cr_assert_eq(out.cnt, 0);
    cr_assert_eq(out.dead_cnt, 4);
    cr_assert(strstr(out.dead[0], "\"mystery\" is not in the mapping"), "%s",
              out.dead[0]);
    cr_assert(strstr(out.dead[0], "stage.mystery"), "%s", out.dead[0]);
    cr_assert(strstr(out.dead[1], "404"), "%s", out.dead[1]);
    cr_assert(strstr(out.dead[2], "required"), "%s", out.dead[2]);
    cr_assert(strstr(out.dead[3], "not an object"), "%s", out.dead[3]);
}

Test(bridge_map, hubspot_api_down_is_a_retry_not_a_dead_letter)
{
    static const struct route r[] = {
        {"/crm/v3/objects/deals/555?properties=amount,hubspot_owner_id&"
         "associations=companies,contacts",
         "!503"}};

    routes = r;
    route_cnt = 1;
    cr_assert_eq(map("hs", FX_HUBSPOT_BATCH), CP_EIO);
}

Test(bridge_map, hubspot_body_that_is_not_json_is_one_dead_letter)
{
    cr_assert_eq(map("hs", "{\"eventId\":"), CP_OK);
    cr_assert_eq(out.cnt, 0);
    cr_assert_eq(out.dead_cnt, 1);
    cr_assert(strstr(out.dead[0], "not JSON"), "%s", out.dead[0]);
    cr_assert_eq(map("hs", "{}"), CP_OK);
    cr_assert(strstr(out.dead[0], "array"), "%s", out.dead[0]);
}

/* ---- Bitrix24 ---- */

Test(bridge_map, bitrix24_update_reads_the_deal_and_maps_its_stage)
{
    static const struct route r[] = {
        {"/crm.deal.get.json?id=456", FX_B24_DEAL_456_PREP}};

    routes = r;
    route_cnt = 1;
    cr_assert_eq(map("b24", FX_B24_DEAL_UPDATE), CP_OK);
    cr_assert_eq(out.cnt, 1);
    cr_assert_eq(out.evs[0].kind, CP_STAGE_CHANGED);
    cr_assert_str_eq(out.evs[0].label, "proposal");
    cr_assert_eq(out.evs[0].stage_order, 2);
    cr_assert_str_eq(out.evs[0].customer, "co-31");
    cr_assert_str_eq(out.evs[0].manager, "1");
    cr_assert_eq(out.evs[0].occurred_at, FX_T0_MS);
    cr_assert_str_eq(
        out.evs[0].event_id,
        "bitrix24-a223c6b3710f85df22e9377d6c4f7553-ONCRMDEALUPDATE-456-"
        "1700000000");
}

Test(bridge_map, bitrix24_pipeline_prefixed_won_closes_the_deal)
{
    static const struct route r[] = {
        {"/crm.deal.get.json?id=456", FX_B24_DEAL_456_WON}};

    routes = r;
    route_cnt = 1;
    cr_assert_eq(map("b24", FX_B24_DEAL_UPDATE), CP_OK);
    cr_assert_eq(out.cnt, 1);
    cr_assert_eq(out.evs[0].kind, CP_DEAL_CLOSED);
    cr_assert(out.evs[0].won);
    cr_assert_eq(out.evs[0].amount, 99000);
}

Test(bridge_map, bitrix24_add_and_other_events)
{
    static const struct route r[] = {
        {"/crm.deal.get.json?id=456", FX_B24_DEAL_456_PREP}};
    const char *lead = "event=ONCRMLEADADD&data%5BFIELDS%5D%5BID%5D=1&ts=1";

    routes = r;
    route_cnt = 1;
    cr_assert_eq(map("b24", FX_B24_DEAL_ADD), CP_OK);
    cr_assert_eq(out.cnt, 1);
    cr_assert_eq(out.evs[0].kind, CP_LEAD_CREATED);
    cr_assert_str_eq(out.evs[0].label, "bitrix24");
    cr_assert_eq(map("b24", lead), CP_OK);
    cr_assert_eq(out.cnt + out.dead_cnt, 0);
    cr_assert_eq(out.ignored, 1);
    cr_assert_eq(map("b24", "event=ONCRMDEALADD&ts=1"), CP_OK);
    cr_assert_eq(out.dead_cnt, 1);
    cr_assert(strstr(out.dead[0], "required"), "%s", out.dead[0]);
    cr_assert_eq(map("b24", "event=%ZZ"), CP_OK);
    cr_assert(strstr(out.dead[0], "bitrix24: form"), "%s", out.dead[0]);
}

/* Calls and e-mails are Bitrix24 activities: a missed inbound call, an
 * answered outbound one on a deal (its company read back), e-mails in and
 * out on a contact sharing one conversation; a lead's activity and a
 * meeting are ignored; a DIRECTION that is neither is a dead letter. */
Test(bridge_map, bitrix24_call_and_email_activities)
{
    static const struct route r[] = {
        {"/crm.activity.get.json?id=900",
         FX_B24_ACTIVITY("900", "2", "1", "4", "31",
                         "2023-11-14T22:00:00+03:00",
                         "2023-11-14T22:00:00+03:00")},
        {"/crm.activity.get.json?id=901",
         FX_B24_ACTIVITY("901", "2", "2", "2", "456",
                         "2023-11-14T22:00:00+03:00",
                         "2023-11-14T22:03:20+03:00")},
        {"/crm.deal.get.json?id=456", FX_B24_DEAL_456_PREP},
        {"/crm.activity.get.json?id=902",
         FX_B24_ACTIVITY("902", "4", "1", "3", "88", "", "")},
        {"/crm.activity.get.json?id=903",
         FX_B24_ACTIVITY("903", "4", "2", "3", "88", "", "")},
        {"/crm.activity.get.json?id=904",
         FX_B24_ACTIVITY("904", "2", "1", "1", "5", "", "")},
        {"/crm.activity.get.json?id=905",
         FX_B24_ACTIVITY("905", "1", "0", "4", "31", "", "")},
        {"/crm.activity.get.json?id=906",
         FX_B24_ACTIVITY("906", "2", "3", "4", "31", "", "")},
    };
    struct cp_event ev;

    routes = r;
    route_cnt = CP_ARRAY_SIZE(r);
    cr_assert_eq(map("b24", FX_B24_ACTIVITY_ADD("900")), CP_OK);
    cr_assert_eq(out.cnt, 1);
    cr_assert_eq(out.evs[0].kind, CP_CALL_LOGGED);
    cr_assert(out.evs[0].inbound);
    cr_assert(!out.evs[0].answered, "no time on the line: missed");
    cr_assert_str_eq(out.evs[0].customer, "co-31");
    cr_assert_str_eq(out.evs[0].manager, "7");
    cr_assert_str_eq(out.evs[0].entity, "900");
    cr_assert_eq(out.evs[0].occurred_at, 1700000300000LL);
    cp_bridge_ev_view(&out.evs[0], "b24", &ev);
    cr_assert_eq(ev.channel, CP_CHANNEL_PHONE);

    cr_assert_eq(map("b24", FX_B24_ACTIVITY_ADD("901")), CP_OK);
    cr_assert_eq(out.cnt, 1);
    cr_assert(!out.evs[0].inbound);
    cr_assert(out.evs[0].answered);
    cr_assert_eq(out.evs[0].amount, 200000, "duration 3:20 in ms");
    cr_assert_str_eq(out.evs[0].customer, "co-31", "the deal's company");

    cr_assert_eq(map("b24", FX_B24_ACTIVITY_ADD("902")), CP_OK);
    cr_assert_eq(out.evs[0].kind, CP_MESSAGE_RECEIVED);
    cr_assert_str_eq(out.evs[0].customer, "ct-88");
    cr_assert_str_eq(out.evs[0].entity, "b24-3-88");
    cp_bridge_ev_view(&out.evs[0], "b24", &ev);
    cr_assert_eq(ev.channel, CP_CHANNEL_EMAIL);
    cr_assert_eq(map("b24", FX_B24_ACTIVITY_ADD("903")), CP_OK);
    cr_assert_eq(out.evs[0].kind, CP_MESSAGE_SENT);
    cr_assert_str_eq(out.evs[0].entity, "b24-3-88", "one conversation");

    cr_assert_eq(map("b24", FX_B24_ACTIVITY_ADD("904")), CP_OK);
    cr_assert_eq(out.cnt + out.dead_cnt, 0);
    cr_assert_eq(out.ignored, 1, "a lead's call: no customer yet");
    cr_assert_eq(map("b24", FX_B24_ACTIVITY_ADD("905")), CP_OK);
    cr_assert_eq(out.cnt + out.dead_cnt, 0);
    cr_assert_eq(out.ignored, 1, "a meeting");
    cr_assert_eq(map("b24", FX_B24_ACTIVITY_ADD("906")), CP_OK);
    cr_assert_eq(out.cnt, 0);
    cr_assert_eq(out.dead_cnt, 1);
    cr_assert(strstr(out.dead[0], "DIRECTION \"3\""), "%s", out.dead[0]);
    cr_assert_eq(map("b24", FX_B24_ACTIVITY_ADD("907")), CP_OK);
    cr_assert_eq(out.dead_cnt, 1, "an activity that does not exist");
    cr_assert(strstr(out.dead[0], "907"), "%s", out.dead[0]);
}

/* ---- amoCRM ---- */

Test(bridge_map, amocrm_add_and_won)
{
    cr_assert_eq(map("amo", FX_AMO_LEAD_ADD), CP_OK);
    cr_assert_eq(out.cnt, 1);
    cr_assert_eq(out.evs[0].kind, CP_LEAD_CREATED);
    cr_assert_str_eq(out.evs[0].customer, "deal-9001");
    cr_assert_str_eq(out.evs[0].manager, "77");
    cr_assert_eq(out.evs[0].occurred_at, FX_T0_MS);
    cr_assert_str_eq(out.evs[0].event_id,
                     "amocrm-1234-add-9001-142000-1700000000");

    cr_assert_eq(map("amo", FX_AMO_LEAD_WON), CP_OK);
    cr_assert_eq(out.cnt, 1);
    cr_assert_eq(out.evs[0].kind, CP_DEAL_CLOSED);
    cr_assert(out.evs[0].won);
    cr_assert_eq(out.evs[0].amount, 250000);
    cr_assert_eq(out.evs[0].occurred_at, FX_T0_MS + 500000);
}

Test(bridge_map, amocrm_unmapped_status_and_other_entities)
{
    const char *moved = "leads%5Bstatus%5D%5B0%5D%5Bid%5D=5"
                        "&leads%5Bstatus%5D%5B0%5D%5Bstatus_id%5D=999"
                        "&leads%5Bstatus%5D%5B0%5D%5Blast_modified%5D=1";
    const char *contact = "contacts%5Badd%5D%5B0%5D%5Bid%5D=5"
                          "&account%5Bid%5D=1234";

    cr_assert_eq(map("amo", moved), CP_OK);
    cr_assert_eq(out.cnt, 0);
    cr_assert_eq(out.dead_cnt, 1);
    cr_assert(strstr(out.dead[0], "stage.999"), "%s", out.dead[0]);
    cr_assert_eq(map("amo", contact), CP_OK);
    cr_assert_eq(out.cnt + out.dead_cnt, 0);
    cr_assert_eq(out.ignored, 1);
}

/* ---- Pipedrive ---- */

Test(bridge_map, pipedrive_create_stage_lost)
{
    cr_assert_eq(map("pd", FX_PD_CREATE), CP_OK);
    cr_assert_eq(out.cnt, 1);
    cr_assert_eq(out.evs[0].kind, CP_LEAD_CREATED);
    cr_assert_str_eq(out.evs[0].customer, "co-2");
    cr_assert_str_eq(out.evs[0].manager, "18487521");
    cr_assert_eq(out.evs[0].occurred_at, FX_T0_MS);

    cr_assert_eq(map("pd", FX_PD_STAGE), CP_OK);
    cr_assert_eq(out.cnt, 1);
    cr_assert_eq(out.evs[0].kind, CP_STAGE_CHANGED);
    cr_assert_str_eq(out.evs[0].label, "proposal");
    cr_assert_eq(out.evs[0].stage_order, 2);
    cr_assert_eq(out.evs[0].occurred_at, FX_T0_MS + 400000);

    cr_assert_eq(map("pd", FX_PD_LOST), CP_OK);
    cr_assert_eq(out.cnt, 1);
    cr_assert_eq(out.evs[0].kind, CP_DEAL_CLOSED);
    cr_assert(!out.evs[0].won);
    cr_assert_eq(out.evs[0].amount, 12050);
}

/* A call activity logged as done is a CallLogged (outbound, answered, its
 * duration); creating it open, editing it once done, or another kind of
 * activity produces nothing. */
Test(bridge_map, pipedrive_call_marked_done_is_logged)
{
    cr_assert_eq(map("pd", FX_PD_CALL("create", "true", "null")), CP_OK);
    cr_assert_eq(out.cnt, 1);
    cr_assert_eq(out.evs[0].kind, CP_CALL_LOGGED);
    cr_assert(!out.evs[0].inbound);
    cr_assert(out.evs[0].answered);
    cr_assert_eq(out.evs[0].amount, 270000);
    cr_assert_str_eq(out.evs[0].customer, "co-2");
    cr_assert_str_eq(out.evs[0].entity, "77");
    cr_assert_str_eq(out.evs[0].event_id,
                     "pipedrive-activity-77-done-1700001000000");
    cr_assert_eq(map("pd", FX_PD_CALL("change", "true", "{\"done\":false}")),
                 CP_OK);
    cr_assert_eq(out.cnt, 1, "marked done later");
    cr_assert_str_eq(out.evs[0].event_id,
                     "pipedrive-activity-77-done-1700001000000",
                     "the same call, the same id");
    cr_assert_eq(map("pd", FX_PD_CALL("create", "false", "null")), CP_OK);
    cr_assert_eq(out.cnt, 0);
    cr_assert_eq(out.ignored, 1, "planned, not made");
    cr_assert_eq(map("pd", FX_PD_CALL("change", "true", "{\"subject\":\"x\"}")),
                 CP_OK);
    cr_assert_eq(out.cnt, 0);
    cr_assert_eq(out.ignored, 1, "an edit of a call done already");
}

Test(bridge_map, pipedrive_redelivery_has_the_same_event_id)
{
    char first[CP_ID_MAX + 1];

    cr_assert_eq(map("pd", FX_PD_STAGE), CP_OK);
    strcpy(first, out.evs[0].event_id);
    cr_assert_eq(map("pd", FX_PD_STAGE), CP_OK);
    cr_assert_str_eq(out.evs[0].event_id, first);
    cr_assert_eq(map("pd", FX_PD_LOST), CP_OK);
    cr_assert_str_neq(out.evs[0].event_id, first);
}

Test(bridge_map, pipedrive_other_entities_and_garbage)
{
    cr_assert_eq(map("pd", "{\"meta\":{\"action\":\"create\",\"entity\":"
                           "\"person\"},\"data\":{\"id\":1}}"),
                 CP_OK);
    cr_assert_eq(out.ignored, 1);
    cr_assert_eq(map("pd", "{\"data\":{}}"), CP_OK);
    cr_assert_eq(out.dead_cnt, 1);
    cr_assert(strstr(out.dead[0], "meta.action"), "%s", out.dead[0]);
    cr_assert_eq(map("pd", "[1,2"), CP_OK);
    cr_assert(strstr(out.dead[0], "not JSON"), "%s", out.dead[0]);
}

Test(bridge_map, hubspot_tickets_open_and_resolve)
{
    static const struct route r[] = {
        {"/crm/v3/objects/tickets/31?properties=amount,hubspot_owner_id&"
         "associations=companies,contacts",
         "{\"id\":\"31\",\"properties\":{},\"associations\":{\"contacts\":"
         "{\"results\":[{\"id\":\"77\"}]}}}"}};
    const char *body =
        "[{\"eventId\":1,\"occurredAt\":1700000000000,\"objectId\":31,"
        "\"subscriptionType\":\"ticket.creation\"},"
        "{\"eventId\":2,\"occurredAt\":1700000100000,\"objectId\":31,"
        "\"subscriptionType\":\"ticket.propertyChange\","
        "\"propertyName\":\"hs_pipeline_stage\",\"propertyValue\":\"4\"},"
        "{\"eventId\":3,\"occurredAt\":1700000100000,\"objectId\":31,"
        "\"subscriptionType\":\"ticket.propertyChange\","
        "\"propertyName\":\"hs_pipeline_stage\",\"propertyValue\":\"2\"}]";

    routes = r;
    route_cnt = 1;
    cr_assert_eq(map("hs", body), CP_OK);
    cr_assert_eq(out.cnt, 2);
    cr_assert_eq(out.evs[0].kind, CP_TICKET_OPENED);
    cr_assert_str_eq(out.evs[0].customer, "ct-77", "no company: the contact");
    cr_assert_str_eq(out.evs[0].entity, "31");
    cr_assert_eq(out.evs[1].kind, CP_TICKET_RESOLVED);
    cr_assert_eq(out.ignored, 1, "a move to a stage that is not closed");
}

static bool fake_delivered(void *opaque, const struct cp_tenant *t,
                           const char *event_id)
{
    (void)opaque;
    (void)t;
    return !strcmp(event_id, "hubspot-101") ||
           !strcmp(event_id, "hubspot-102") ||
           !strcmp(event_id, "bitrix24-a223c6b3710f85df22e9377d6c4f7553-"
                             "ONCRMDEALUPDATE-456-1700000000");
}

Test(bridge_map, delivered_events_are_skipped_before_the_rest_read)
{
    static const struct route r[] = {
        {"/crm/v3/objects/deals/555?properties=amount,hubspot_owner_id&"
         "associations=companies,contacts",
         FX_HUBSPOT_DEAL_555}};
    const struct cp_fetcher f = {.get = fake_get, .delivered = fake_delivered};

    routes = r;
    route_cnt = 1;
    cr_assert_eq(cp_map_request(cp_tenants_find(ts, "hs"), FX_HUBSPOT_BATCH,
                                strlen(FX_HUBSPOT_BATCH), &f, &out),
                 CP_OK);
    cr_assert_eq(out.skipped, 2);
    cr_assert_eq(out.cnt, 1);
    cr_assert_str_eq(out.evs[0].event_id, "hubspot-103");
    cr_assert_eq(fetches, 1);
    cr_assert_eq(cp_map_request(cp_tenants_find(ts, "b24"), FX_B24_DEAL_UPDATE,
                                strlen(FX_B24_DEAL_UPDATE), &f, &out),
                 CP_OK);
    cr_assert_eq(out.skipped, 1);
    cr_assert_eq(out.cnt + out.dead_cnt, 0);
    cr_assert_eq(fetches, 1, "no read of the delivered Bitrix24 deal");
}
