/* SPDX-License-Identifier: Apache-2.0 */
/* The contract's name rules, in one place for everything that checks a
 * name, whether it came from an event, a URL or a value read back from
 * Redis: tenant, customer and manager ids are 1-64 of [A-Za-z0-9._-];
 * stage and source names 1-64 of [A-Za-z0-9_-] (DESIGN.md, input
 * contract); and the lower-case channel names of the key contract. */
#ifndef CP_IDS_H
#define CP_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define CP_KEY_NAME_MAX    64 /* longest tenant, customer, manager, stage */
#define CP_KEY_CHANNEL_CNT 7

/**
 * @brief Index of the first byte of @p s (@p len bytes) outside the name
 *        set: [A-Za-z0-9._-] with @p allow_dot, else [A-Za-z0-9_-].
 * @returns that index, or @p len when every byte is allowed (the length
 *          is not checked here).
 */
size_t cp_name_bad_byte(const char *s, size_t len, bool allow_dot);

/** @brief A tenant, customer or manager id: 1-64 of [A-Za-z0-9._-]. */
bool cp_id_valid(const char *s, size_t len);

/** @brief Lower-case channel name of the key contract ("phone", "email",
 *         "chat", "messenger", "web", "social", "in_person") for channel
 *         @p i (0..6, the Avro enum's order); NULL when out of range. */
const char *cp_key_channel_name(int i);

#endif
