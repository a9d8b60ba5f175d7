/* SPDX-License-Identifier: Apache-2.0 */
/* Schema registry glue of the worker: fetch, compile and log writer
 * schemas ahead of decoding; output ids at start. The registry client
 * (lib/registry) knows HTTP, the codec knows Avro; this file only decides
 * what a failure means for the batch. */
#include "writer_schemas.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "registry.h"
#include "schemas.h"

struct cp_writer_schemas {
    struct cp_registry *reg;    /* owned */
    struct cp_codec *codec;     /* borrowed */
    struct cp_metrics *metrics; /* borrowed */
    const char *topic;          /* borrowed from the config */
    bool waiting;               /* the last prepare found no registry */
};

/* The id of one of our output schemas under <topic>-value. */
static cp_rc output_id(struct cp_writer_schemas *ws, const char *topic,
                       int schema_id, bool auto_register, uint32_t *id,
                       char *errstr, size_t errstr_size)
{
    char subject[300], why[512];
    cp_rc rc;

    snprintf(subject, sizeof(subject), "%s-value", topic);
    rc = cp_registry_id_for(ws->reg, subject, cp_schema_json(schema_id),
                            auto_register, id, why, sizeof(why));
    if (rc == CP_ENOMEM)
        return rc;
    if (rc) {
        snprintf(errstr, errstr_size, "%s%s", why,
                 rc == CP_EIO ? " (is the schema registry running? set "
                                "schema.registry.url)"
                              : "");
        return CP_ECONFIG;
    }
    return CP_OK;
}

cp_rc cp_writer_schemas_open(const struct cp_config *cfg,
                             struct cp_codec *codec, struct cp_metrics *metrics,
                             struct cp_writer_schemas **out, char *errstr,
                             size_t errstr_size)
{
    struct cp_writer_schemas *ws;
    uint32_t alert_id = 0, dl_id = 0;
    cp_rc rc;

    *out = NULL;
    if (!cfg->registry_url || !cfg->registry_url[0])
        return CP_OK;
    if (cfg->codec_raw) {
        snprintf(errstr, errstr_size,
                 "schema.registry.url needs codec.framing=confluent (raw "
                 "Avro carries no schema id)");
        return CP_ECONFIG;
    }
    ws = calloc(1, sizeof(*ws));
    if (!ws) {
        snprintf(errstr, errstr_size, "out of memory");
        return CP_ENOMEM;
    }
    ws->codec = codec;
    ws->metrics = metrics;
    ws->topic = cfg->topic_events;
    ws->reg = cp_registry_from_config(cfg, errstr, errstr_size);
    if (!ws->reg) {
        rc = CP_ECONFIG;
        goto fail;
    }
    rc = output_id(ws, cfg->topic_alerts, CP_SCHEMA_ID_ALERT,
                   cfg->registry_auto_register != 0, &alert_id, errstr,
                   errstr_size);
    if (!rc)
        rc = output_id(ws, cfg->topic_dlq, CP_SCHEMA_ID_DEAD_LETTER,
                       cfg->registry_auto_register != 0, &dl_id, errstr,
                       errstr_size);
    if (rc)
        goto fail;
    cp_codec_use_registry(codec);
    cp_codec_set_output_ids(codec, 0, alert_id, dl_id);
    cp_log(CP_LOG_NOTICE, "SCHEMA",
           "schema registry %s: events by registry id; alerts framed with "
           "id %" PRIu32 " (%s-value), dead letters with id %" PRIu32
           " (%s-value)",
           cfg->registry_url, alert_id, cfg->topic_alerts, dl_id,
           cfg->topic_dlq);
    *out = ws;
    return CP_OK;

fail:
    cp_writer_schemas_destroy(ws);
    return rc;
}

void cp_writer_schemas_destroy(struct cp_writer_schemas *ws)
{
    if (!ws)
        return;
    cp_registry_destroy(ws->reg);
    free(ws);
}

void cp_writer_schemas_set_stop(struct cp_writer_schemas *ws,
                                volatile sig_atomic_t *stop)
{
    if (ws)
        cp_registry_set_stop(ws->reg, stop);
}

bool cp_writer_schemas_waiting(const struct cp_writer_schemas *ws)
{
    return ws && ws->waiting;
}

static void export_stats(struct cp_writer_schemas *ws)
{
    struct cp_registry_stats st;

    cp_registry_stats(ws->reg, &st);
    if (ws->metrics)
        cp_metrics_set_registry(ws->metrics, st.requests, st.errors, st.cached);
}

/* Fetches and compiles one schema id; CP_EIO when the registry is away. */
static cp_rc learn(struct cp_writer_schemas *ws, uint32_t id)
{
    char why[512], summary[1024];
    const char *json = NULL;
    cp_rc rc = cp_registry_schema(ws->reg, id, &json, why, sizeof(why));

    if (rc == CP_EIO) {
        if (!ws->waiting)
            cp_log(CP_LOG_WARNING, "SCHEMA",
                   "schema id %" PRIu32 ": %s; the batch waits for the "
                   "registry",
                   id, why);
        ws->waiting = true;
        return rc;
    }
    if (rc == CP_EDECODE) {
        rc = cp_codec_add_unusable(ws->codec, id, why);
        if (!rc)
            cp_log(CP_LOG_WARNING, "SCHEMA",
                   "topic %s (subject %s-value) schema id %" PRIu32
                   ": %s; its messages go to the dead-letter topic",
                   ws->topic, ws->topic, id, why);
        return rc;
    }
    if (rc)
        return rc;
    rc = cp_codec_add_schema(ws->codec, id, json, summary, sizeof(summary));
    if (rc == CP_OK)
        cp_log(CP_LOG_NOTICE, "SCHEMA",
               "topic %s (subject %s-value) new writer schema id %" PRIu32
               " vs crm_event.avsc: fields %s",
               ws->topic, ws->topic, id, summary);
    else if (rc == CP_EDECODE)
        cp_log(CP_LOG_WARNING, "SCHEMA",
               "topic %s (subject %s-value) %s; its messages go to the "
               "dead-letter topic",
               ws->topic, ws->topic, summary);
    return rc == CP_EDECODE ? CP_OK : rc;
}

cp_rc cp_writer_schemas_prepare(struct cp_writer_schemas *ws,
                                const struct cp_msg *msgs, size_t cnt)
{
    cp_rc rc = CP_OK;

    if (!ws)
        return CP_OK;
    for (size_t i = 0; i < cnt && !rc; i++) {
        uint32_t id;

        if (cp_codec_needs_schema(ws->codec, msgs[i].value, msgs[i].value_len,
                                  &id))
            rc = learn(ws, id);
    }
    if (!rc && ws->waiting) {
        cp_log(CP_LOG_NOTICE, "SCHEMA", "the schema registry answers again");
        ws->waiting = false;
    }
    export_stats(ws);
    return rc;
}
