/* SPDX-License-Identifier: Apache-2.0 */
/* Name rules (see ids.h). */
#include "ids.h"

/* Bit 0: allowed in stage and source names [A-Za-z0-9_-]; bit 1: allowed
 * in tenant, customer and manager ids [A-Za-z0-9._-]. A table, because
 * every event checks up to four names byte by byte. */
static const unsigned char name_class[256] = {
    ['-'] = 3, ['.'] = 2, ['_'] = 3, ['0'] = 3, ['1'] = 3, ['2'] = 3, ['3'] = 3,
    ['4'] = 3, ['5'] = 3, ['6'] = 3, ['7'] = 3, ['8'] = 3, ['9'] = 3, ['A'] = 3,
    ['B'] = 3, ['C'] = 3, ['D'] = 3, ['E'] = 3, ['F'] = 3, ['G'] = 3, ['H'] = 3,
    ['I'] = 3, ['J'] = 3, ['K'] = 3, ['L'] = 3, ['M'] = 3, ['N'] = 3, ['O'] = 3,
    ['P'] = 3, ['Q'] = 3, ['R'] = 3, ['S'] = 3, ['T'] = 3, ['U'] = 3, ['V'] = 3,
    ['W'] = 3, ['X'] = 3, ['Y'] = 3, ['Z'] = 3, ['a'] = 3, ['b'] = 3, ['c'] = 3,
    ['d'] = 3, ['e'] = 3, ['f'] = 3, ['g'] = 3, ['h'] = 3, ['i'] = 3, ['j'] = 3,
    ['k'] = 3, ['l'] = 3, ['m'] = 3, ['n'] = 3, ['o'] = 3, ['p'] = 3, ['q'] = 3,
    ['r'] = 3, ['s'] = 3, ['t'] = 3, ['u'] = 3, ['v'] = 3, ['w'] = 3, ['x'] = 3,
    ['y'] = 3, ['z'] = 3,
};

static const char *const channel_names[CP_KEY_CHANNEL_CNT] = {
    "phone", "email", "chat", "messenger", "web", "social", "in_person",
};

size_t cp_name_bad_byte(const char *s, size_t len, bool allow_dot)
{
    unsigned char mask = allow_dot ? 2 : 1;

    for (size_t i = 0; i < len; i++)
        if (!(name_class[(unsigned char)s[i]] & mask))
            return i;
    return len;
}

bool cp_id_valid(const char *s, size_t len)
{
    return len >= 1 && len <= CP_KEY_NAME_MAX &&
           cp_name_bad_byte(s, len, true) == len;
}

const char *cp_key_channel_name(int i)
{
    return i >= 0 && i < CP_KEY_CHANNEL_CNT ? channel_names[i] : NULL;
}
