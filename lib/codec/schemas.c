/* SPDX-License-Identifier: Apache-2.0 */
/* Look-up in the compiled-in schema registry. */
#include "schemas.h"

const char *cp_schema_json(int id)
{
    for (const struct cp_schema_entry *e = cp_schema_registry; e->id; e++)
        if (e->id == id)
            return e->json;
    return 0;
}
