/* SPDX-License-Identifier: Apache-2.0 */
/* crm.v1.CrmEvent as our own passive struct (projected from Avro by field
 * name in codec.c), and the validation rules of the input contract. */
#ifndef CP_EVENT_H
#define CP_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

/* Every payload kind of crm.v1.CrmEvent (schemas/crm_event.avsc): our
 * enum, the Avro record name of its union branch and the field holding its
 * entity id (NULL: none). One list gives the enum and both name tables. */
#define CP_PAYLOAD_KINDS(X)                                                    \
    X(LEAD_CREATED, "LeadCreated", "deal_id")                                  \
    X(STAGE_CHANGED, "StageChanged", "deal_id")                                \
    X(DEAL_CLOSED, "DealClosed", "deal_id")                                    \
    X(ORDER_PLACED, "OrderPlaced", "order_id")                                 \
    X(MESSAGE_RECEIVED, "MessageReceived", "conversation_id")                  \
    X(MESSAGE_SENT, "MessageSent", "conversation_id")                          \
    X(CALL_LOGGED, "CallLogged", "call_id")                                    \
    X(TICKET_OPENED, "TicketOpened", "ticket_id")                              \
    X(TICKET_RESOLVED, "TicketResolved", "ticket_id")                          \
    X(SURVEY_ANSWERED, "SurveyAnswered", NULL)                                 \
    X(SUBSCRIPTION_CHANGED, "SubscriptionChanged", "subscription_id")          \
    X(WEB_VISIT, "WebVisit", "session_id")

#define CP_KIND_ENUM_(id, record, entity) CP_##id,
enum cp_payload_kind { CP_PAYLOAD_KINDS(CP_KIND_ENUM_) CP_PAYLOAD_KIND_CNT };
#undef CP_KIND_ENUM_

enum cp_channel {
    CP_CHANNEL_NONE = -1, /* Avro null */
    CP_CHANNEL_PHONE = 0,
    CP_CHANNEL_EMAIL,
    CP_CHANNEL_CHAT,
    CP_CHANNEL_MESSENGER,
    CP_CHANNEL_WEB,
    CP_CHANNEL_SOCIAL,
    CP_CHANNEL_IN_PERSON,
    CP_CHANNEL_CNT
};

enum cp_survey_kind { CP_SURVEY_NPS = 0, CP_SURVEY_CSAT, CP_SURVEY_CES };
enum cp_sub_action { CP_SUB_STARTED = 0, CP_SUB_RENEWED, CP_SUB_CANCELLED };

/* Bounds of the input contract (schemas/events.md). */
#define CP_MIN_OCCURRED_AT_MS 946684800000LL /* 2000-01-01T00:00:00Z */
/* Whatever the clock says: day keys have a 4-digit year (YYYY-MM-DD). */
#define CP_MAX_OCCURRED_AT_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */
#define CP_MAX_FUTURE_MS      (24LL * 3600 * 1000)
#define CP_NAME_MAX           64  /* tenant, customer, manager, stage, source */
#define CP_ID_MAX             128 /* event id and entity ids, in bytes */

/** One decoded event. Strings are borrowed (from the decode arena, or from
 * the generator) and never NUL-terminated by contract; use .len. */
struct cp_event {
    struct cp_str event_id;
    struct cp_str tenant_id;
    struct cp_str customer_id;
    struct cp_str manager_id; /* .ptr == NULL: null */
    int64_t occurred_at;      /* ms since epoch (timestamp-millis) */
    enum cp_channel channel;  /* CP_CHANNEL_NONE: null */
    enum cp_payload_kind kind;
    /* Payload, by kind: */
    struct cp_str
        entity_id; /* deal/order/conversation/call/ticket/subscription/session
                      id */
    struct cp_str label; /* LeadCreated.source or StageChanged.stage */
    int32_t stage_order; /* StageChanged */
    int64_t amount;      /* amount_minor (DealClosed, OrderPlaced), mrr_minor,
                            duration_ms */
    bool won;            /* DealClosed */
    bool inbound;        /* CallLogged */
    bool answered;       /* CallLogged */
    enum cp_survey_kind survey_kind; /* SurveyAnswered */
    int32_t score;                   /* SurveyAnswered */
    enum cp_sub_action sub_action;   /* SubscriptionChanged */
};

/** @brief Avro record name of a payload kind ("OrderPlaced"). */
const char *cp_payload_kind_name(enum cp_payload_kind kind);
/** @brief Avro field name of the entity id of a kind ("order_id"). */
const char *cp_payload_entity_field(enum cp_payload_kind kind);
/** @brief Avro symbol of a channel ("PHONE"); NULL for NONE. */
const char *cp_channel_symbol(enum cp_channel channel);
/** @brief Lower-case channel name for Redis keys ("phone"); NULL for NONE. */
const char *cp_channel_key_name(enum cp_channel channel);

/**
 * @brief Checks every rule of the input contract that the Avro schema
 *        cannot express: id charsets and lengths, timestamp range (against
 *        @p now_ms), non-negative amounts, stage_order 0-63, survey ranges.
 * @returns CP_OK, or CP_EDECODE with a one-line reason naming the field,
 *          e.g. "customer_id: character 0x20 not in [A-Za-z0-9._-]".
 */
cp_rc cp_event_validate(const struct cp_event *ev, int64_t now_ms, char *reason,
                        size_t reason_size);

/**
 * @brief The rule of cp_event_validate() for an entity id (1-128 bytes of
 *        UTF-8 without control characters), for ids read back from Redis
 *        (tenant, customer and manager ids: cp_id_valid() in ids.h).
 * @returns CP_OK, or CP_EDECODE with a reason naming @p field.
 */
cp_rc cp_event_check_id(const char *field, struct cp_str s, char *reason,
                        size_t reason_size);

#endif
