/* SPDX-License-Identifier: Apache-2.0 */
/* The worker's side of the schema registry: before a batch is decoded,
 * the writer schema of every schema id in it that the codec has not seen
 * is fetched and compiled (a [SCHEMA] line each); at start, the alert and
 * dead-letter schemas get their ids under <topic>-value. Without
 * schema.registry.url none of this exists and the fixed ids apply. */
#ifndef CP_WRITER_SCHEMAS_H
#define CP_WRITER_SCHEMAS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "codec.h"
#include "common.h"
#include "config.h"
#include "kafka.h"
#include "metrics.h"

struct cp_writer_schemas;

/**
 * @brief With schema.registry.url set: connects @p codec to the registry
 *        (registry ids for events; alerts and dead letters framed with the
 *        ids of their schemas under <topic>-value, registered when
 *        schema.registry.auto.register, else looked up).
 * @returns CP_OK with *@p out (NULL when no registry is configured), or
 *          CP_ECONFIG with @p errstr naming the fix (raw framing, the
 *          registry refusing or not answering, a schema not registered).
 * Ownership: caller owns *@p out (cp_writer_schemas_destroy()); @p codec
 *            and @p metrics are borrowed and must outlive it.
 */
cp_rc cp_writer_schemas_open(const struct cp_config *cfg,
                             struct cp_codec *codec, struct cp_metrics *metrics,
                             struct cp_writer_schemas **out, char *errstr,
                             size_t errstr_size);
void cp_writer_schemas_destroy(struct cp_writer_schemas *ws);

/** @brief Requests in flight give up once *@p stop is set. Borrowed. */
void cp_writer_schemas_set_stop(struct cp_writer_schemas *ws,
                                volatile sig_atomic_t *stop);

/**
 * @brief Gives the codec the writer schema of every unseen schema id in
 *        @p msgs (ws may be NULL: nothing to do). A schema id the registry
 *        definitely lacks, or whose schema cannot resolve, is kept as
 *        unusable: its messages decode to a dead letter with the reason.
 * @returns CP_OK; CP_EIO when the registry gave no answer (the batch must
 *          wait and be read again; cp_writer_schemas_waiting() is true
 *          until an answer comes); CP_ENOMEM.
 */
cp_rc cp_writer_schemas_prepare(struct cp_writer_schemas *ws,
                                const struct cp_msg *msgs, size_t cnt);

/** @brief Whether the last prepare waited for the registry. */
bool cp_writer_schemas_waiting(const struct cp_writer_schemas *ws);

#endif
