/* SPDX-License-Identifier: Apache-2.0 */
/* The registry client as the programs' settings describe it: one reading
 * of schema.registry.* for the worker, crmpulse-gen and crmpulse-bridge. */
#include "registry.h"

#include "config.h"

struct cp_registry *cp_registry_from_config(const struct cp_config *cfg,
                                            char *errstr, size_t errstr_size)
{
    const struct cp_registry_opts opts = {
        .urls = cfg->registry_url,
        .user_info = cfg->registry_user_info,
        .ca_file = cfg->registry_ca_file,
        .verify = cfg->registry_verify != 0,
        .timeout_ms = cfg->registry_timeout_ms,
    };

    return cp_registry_new(&opts, errstr, errstr_size);
}
