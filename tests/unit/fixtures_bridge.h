/* SPDX-License-Identifier: Apache-2.0 */
/* Sample webhook payloads of the four CRMs, written for these tests after
 * the shapes each vendor documents (ids, times and secrets are ours):
 *  - HubSpot: "Webhooks API" docs, the JSON array of events with eventId,
 *    subscriptionId, portalId, appId, occurredAt, subscriptionType,
 *    attemptNumber, objectId, changeSource, propertyName, propertyValue;
 *    signature v3 per "Validating requests" (HMAC-SHA256, base64, over
 *    method + URI + body + timestamp); CRM API v3 objects with
 *    associations for the REST read.
 *  - Bitrix24: REST API docs, "What the handler receives" of the CRM deal
 *    events (event, event_handler_id, data[FIELDS][ID], ts, auth[...]
 *    with application_token, member_id, domain), sent form-encoded;
 *    crm.deal.get's "result" object (STAGE_ID, COMPANY_ID, CONTACT_ID,
 *    OPPORTUNITY, ASSIGNED_BY_ID, SOURCE_ID).
 *  - amoCRM / Kommo: "Webhooks" format page, form-encoded
 *    leads[<action>][0][...] (id, status_id, old_status_id, pipeline_id,
 *    price, responsible_user_id, last_modified) and account[id],
 *    account[subdomain].
 *  - Pipedrive: "Guide for Webhooks v2", {meta: {action, entity,
 *    entity_id, version, company_id, user_id, timestamp, ...}, data: {the
 *    deal now}, previous: {the fields that changed}}.
 */
#ifndef CP_FIXTURES_BRIDGE_H
#define CP_FIXTURES_BRIDGE_H

/* 2023-11-14T22:13:20Z */
#define FX_T0_MS 1700000000000LL

#define FX_TENANTS                                                             \
    "# test tenants\n"                                                         \
    "[tenant hs]\n"                                                            \
    "crm = hubspot\n"                                                          \
    "secret = hs-secret\n"                                                     \
    "url = https://hooks.example.com/hooks/hubspot/hs\n"                       \
    "rest.url = http://127.0.0.1:1\n"                                          \
    "customer = company,contact\n"                                             \
    "stage.appointmentscheduled = qualified\n"                                 \
    "stage.contractsent = contract\n"                                          \
    "ticket.closed = 4\n"                                                      \
    "\n"                                                                       \
    "[tenant b24]\n"                                                           \
    "crm = bitrix24\n"                                                         \
    "secret = b24-token\n"                                                     \
    "rest.url = http://127.0.0.1:1/rest/1/code\n"                              \
    "stage.NEW = new\n"                                                        \
    "stage.PREPARATION = proposal\n"                                           \
    "\n"                                                                       \
    "[tenant amo]\n"                                                           \
    "crm = kommo\n"                                                            \
    "account = 1234\n"                                                         \
    "secret = amo-path-secret\n"                                               \
    "customer = deal\n"                                                        \
    "stage.142001 = qualified\n"                                               \
    "\n"                                                                       \
    "[tenant pd]\n"                                                            \
    "crm = pipedrive\n"                                                        \
    "user = hook\n"                                                            \
    "password = pd-pass\n"                                                     \
    "stage.1 = qualified\n"                                                    \
    "stage.2 = proposal\n"

/* HubSpot: a deal created, moved to a mapped stage, won; a contact edit. */
#define FX_HUBSPOT_BATCH                                                       \
    "[{\"eventId\":101,\"subscriptionId\":7,\"portalId\":62515,"               \
    "\"appId\":54321,\"occurredAt\":1700000000000,"                            \
    "\"subscriptionType\":\"deal.creation\",\"attemptNumber\":0,"              \
    "\"objectId\":555,\"changeSource\":\"CRM\"},"                              \
    "{\"eventId\":102,\"subscriptionId\":8,\"portalId\":62515,"                \
    "\"appId\":54321,\"occurredAt\":1700000060000,"                            \
    "\"subscriptionType\":\"deal.propertyChange\",\"attemptNumber\":0,"        \
    "\"objectId\":555,\"changeSource\":\"CRM\","                               \
    "\"propertyName\":\"dealstage\","                                          \
    "\"propertyValue\":\"appointmentscheduled\"},"                             \
    "{\"eventId\":103,\"subscriptionId\":8,\"portalId\":62515,"                \
    "\"appId\":54321,\"occurredAt\":1700000120000,"                            \
    "\"subscriptionType\":\"deal.propertyChange\",\"attemptNumber\":0,"        \
    "\"objectId\":555,\"changeSource\":\"CRM\","                               \
    "\"propertyName\":\"dealstage\",\"propertyValue\":\"closedwon\"},"         \
    "{\"eventId\":104,\"subscriptionId\":9,\"portalId\":62515,"                \
    "\"appId\":54321,\"occurredAt\":1700000130000,"                            \
    "\"subscriptionType\":\"contact.propertyChange\",\"attemptNumber\":0,"     \
    "\"objectId\":77,\"changeSource\":\"CRM\","                                \
    "\"propertyName\":\"email\",\"propertyValue\":\"a@b.example\"}]"

/* The CRM API's deal 555 (GET /crm/v3/objects/deals/555?...). */
#define FX_HUBSPOT_DEAL_555                                                    \
    "{\"id\":\"555\",\"properties\":{\"amount\":\"1500.50\","                  \
    "\"dealstage\":\"closedwon\",\"hubspot_owner_id\":\"9001\"},"              \
    "\"associations\":{\"companies\":{\"results\":[{\"id\":\"8080\","          \
    "\"type\":\"deal_to_company\"}]},\"contacts\":{\"results\":"               \
    "[{\"id\":\"77\",\"type\":\"deal_to_contact\"}]}}}"

/* Bitrix24: a deal update (form-encoded, brackets percent-escaped). */
#define FX_B24_DEAL_UPDATE                                                     \
    "event=ONCRMDEALUPDATE&event_handler_id=5"                                 \
    "&data%5BFIELDS%5D%5BID%5D=456&ts=1700000000"                              \
    "&auth%5Bdomain%5D=acme.bitrix24.com"                                      \
    "&auth%5Bclient_endpoint%5D=https%3A%2F%2Facme.bitrix24.com%2Frest%2F"     \
    "&auth%5Bmember_id%5D=a223c6b3710f85df22e9377d6c4f7553"                    \
    "&auth%5Bapplication_token%5D=b24-token"

#define FX_B24_DEAL_ADD                                                        \
    "event=ONCRMDEALADD&event_handler_id=4"                                    \
    "&data%5BFIELDS%5D%5BID%5D=456&ts=1699999000"                              \
    "&auth%5Bmember_id%5D=a223c6b3710f85df22e9377d6c4f7553"                    \
    "&auth%5Bapplication_token%5D=b24-token"

/* crm.deal.get?id=456 answers, at two stages. */
#define FX_B24_DEAL_456_PREP                                                   \
    "{\"result\":{\"ID\":\"456\",\"STAGE_ID\":\"PREPARATION\","                \
    "\"COMPANY_ID\":\"31\",\"CONTACT_ID\":\"0\",\"OPPORTUNITY\":\"990.00\","   \
    "\"ASSIGNED_BY_ID\":\"1\",\"SOURCE_ID\":\"WEB\"},\"time\":{}}"
#define FX_B24_DEAL_456_WON                                                    \
    "{\"result\":{\"ID\":\"456\",\"STAGE_ID\":\"C1:WON\","                     \
    "\"COMPANY_ID\":\"31\",\"CONTACT_ID\":\"0\",\"OPPORTUNITY\":\"990.00\","   \
    "\"ASSIGNED_BY_ID\":\"1\",\"SOURCE_ID\":\"WEB\"},\"time\":{}}"

/* amoCRM: a lead added, and a lead moved to "won" (142). */
#define FX_AMO_LEAD_ADD                                                        \
    "leads%5Badd%5D%5B0%5D%5Bid%5D=9001"                                       \
    "&leads%5Badd%5D%5B0%5D%5Bname%5D=New+deal"                                \
    "&leads%5Badd%5D%5B0%5D%5Bstatus_id%5D=142000"                             \
    "&leads%5Badd%5D%5B0%5D%5Bprice%5D=0"                                      \
    "&leads%5Badd%5D%5B0%5D%5Bresponsible_user_id%5D=77"                       \
    "&leads%5Badd%5D%5B0%5D%5Blast_modified%5D=1700000000"                     \
    "&leads%5Badd%5D%5B0%5D%5Bcreated_at%5D=1700000000"                        \
    "&account%5Bsubdomain%5D=acme&account%5Bid%5D=1234"
#define FX_AMO_LEAD_WON                                                        \
    "leads%5Bstatus%5D%5B0%5D%5Bid%5D=9001"                                    \
    "&leads%5Bstatus%5D%5B0%5D%5Bstatus_id%5D=142"                             \
    "&leads%5Bstatus%5D%5B0%5D%5Bold_status_id%5D=142001"                      \
    "&leads%5Bstatus%5D%5B0%5D%5Bpipeline_id%5D=3"                             \
    "&leads%5Bstatus%5D%5B0%5D%5Bprice%5D=2500"                                \
    "&leads%5Bstatus%5D%5B0%5D%5Bresponsible_user_id%5D=77"                    \
    "&leads%5Bstatus%5D%5B0%5D%5Blast_modified%5D=1700000500"                  \
    "&account%5Bsubdomain%5D=acme&account%5Bid%5D=1234"

/* Pipedrive v2: deal created, stage 1 -> 2, status open -> lost. */
#define FX_PD_META(action, ts)                                                 \
    "\"meta\":{\"action\":\"" action "\",\"entity\":\"deal\","                 \
    "\"entity_id\":\"42\",\"version\":\"2.0\",\"company_id\":\"12882925\","    \
    "\"user_id\":\"18487521\",\"timestamp\":\"" ts "\","                       \
    "\"webhook_id\":\"99\",\"attempt\":1,\"host\":\"acme.pipedrive.com\","     \
    "\"change_source\":\"app\"}"
#define FX_PD_DATA(stage, status, time)                                        \
    "\"data\":{\"id\":42,\"title\":\"Deal\",\"value\":120.5,"                  \
    "\"currency\":\"EUR\",\"status\":\"" status "\",\"stage_id\":" stage ","   \
    "\"pipeline_id\":1,\"owner_id\":18487521,\"person_id\":3,"                 \
    "\"org_id\":2,\"add_time\":\"2023-11-14T22:13:20Z\","                      \
    "\"update_time\":\"" time "\"}"
#define FX_PD_CREATE                                                           \
    "{" FX_PD_META("create", "2023-11-14T22:13:20Z") "," FX_PD_DATA(           \
        "1", "open", "2023-11-14T22:13:20Z") ",\"previous\":null}"
#define FX_PD_STAGE                                                            \
    "{" FX_PD_META("change", "2023-11-14T22:20:00Z") "," FX_PD_DATA(           \
        "2", "open", "2023-11-14T22:20:00Z") ",\"previous\":{\"stage_id\":1}}"
#define FX_PD_LOST                                                             \
    "{" FX_PD_META("change", "2023-11-14T23:00:00Z") "," FX_PD_DATA(           \
        "2", "lost",                                                           \
        "2023-11-14T23:00:00Z") ",\"previous\":{\"status\":\"open\"}}"

/* Bitrix24 activities: ONCRMACTIVITYADD names the activity by id; the
 * record (crm.activity.get, fields as in crm.activity.fields) says what it
 * is: TYPE_ID 2 call, 4 e-mail, 1 meeting; DIRECTION 1 incoming, 2
 * outgoing; OWNER_TYPE_ID 1 lead, 2 deal, 3 contact, 4 company. */
#define FX_B24_ACTIVITY_ADD(id)                                                \
    "event=ONCRMACTIVITYADD&event_handler_id=6"                                \
    "&data%5BFIELDS%5D%5BID%5D=" id "&ts=1700000300"                           \
    "&auth%5Bmember_id%5D=a223c6b3710f85df22e9377d6c4f7553"                    \
    "&auth%5Bapplication_token%5D=b24-token"
#define FX_B24_ACTIVITY(id, type, dir, owner_type, owner, start, end)          \
    "{\"result\":{\"ID\":\"" id "\",\"TYPE_ID\":\"" type "\","                 \
    "\"DIRECTION\":\"" dir "\",\"OWNER_TYPE_ID\":\"" owner_type "\","          \
    "\"OWNER_ID\":\"" owner "\",\"RESPONSIBLE_ID\":\"7\",\"COMPLETED\":\"Y\"," \
    "\"START_TIME\":\"" start "\",\"END_TIME\":\"" end "\"},\"time\":{}}"

/* Pipedrive v2: a call activity logged as done, then edited. */
#define FX_PD_CALL(action, done, prev)                                         \
    "{\"meta\":{\"action\":\"" action "\",\"entity\":\"activity\","            \
    "\"entity_id\":\"77\",\"version\":\"2.0\","                                \
    "\"timestamp\":\"2023-11-14T22:30:00Z\"},"                                 \
    "\"data\":{\"id\":77,\"type\":\"call\",\"subject\":\"Call\","              \
    "\"done\":" done ",\"owner_id\":18487521,\"deal_id\":42,"                  \
    "\"person_id\":3,\"org_id\":2,\"duration\":\"00:04:30\","                  \
    "\"marked_as_done_time\":\"2023-11-14T22:30:00Z\","                        \
    "\"update_time\":\"2023-11-14T22:30:00Z\"},\"previous\":" prev "}"

#endif
