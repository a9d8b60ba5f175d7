/* SPDX-License-Identifier: Apache-2.0 */
/* The Avro schemas of the schemas/ folder, compiled in, by Confluent schema id.
 */
#ifndef CP_SCHEMAS_H
#define CP_SCHEMAS_H

#define CP_SCHEMA_ID_CRM_EVENT   1
#define CP_SCHEMA_ID_ALERT_V1    2 /* read only: alerts before action, value */
#define CP_SCHEMA_ID_DEAD_LETTER 3
#define CP_SCHEMA_ID_ALERT       4 /* what alerts are written with */

struct cp_schema_entry {
    int id;           /* Confluent schema id */
    const char *file; /* name of the .avsc in schemas/ */
    const char *json; /* the file's exact bytes, NUL-terminated */
};

/** Terminated by an entry with id 0. */
extern const struct cp_schema_entry cp_schema_registry[];

/** @returns the schema JSON for @p id, or NULL if the id is unknown. */
const char *cp_schema_json(int id);

#endif
