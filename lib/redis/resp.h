/* SPDX-License-Identifier: Apache-2.0 */
/* Writes Redis commands in RESP form straight into a buffer, so a whole
 * batch becomes one write without a per-command allocation. */
#ifndef CP_RESP_H
#define CP_RESP_H

#include <stdint.h>

#include "buf.h"

/** A batch of commands for one round trip. */
struct cp_cmds {
    struct cp_buf buf; /* owned; RESP bytes */
    size_t cnt;        /* commands in buf */
};

void cp_cmds_init(struct cp_cmds *cmds);
void cp_cmds_reset(struct cp_cmds *cmds);
void cp_cmds_cleanup(struct cp_cmds *cmds);

/* Building one command: begin with its argument count, then each argument.
 * Errors (only CP_ENOMEM) are sticky in the returned code of the last call;
 * callers check cp_cmds_failed() once per batch. */
void cp_cmd_begin(struct cp_cmds *cmds, int argc);
void cp_cmd_arg(struct cp_cmds *cmds, const void *arg, size_t len);
/** @brief One argument made of two pieces, without joining them first. */
void cp_cmd_arg2(struct cp_cmds *cmds, const void *a, size_t a_len,
                 const void *b, size_t b_len);
void cp_cmd_str(struct cp_cmds *cmds, const char *arg);
void cp_cmd_int(struct cp_cmds *cmds, int64_t value);
/** @brief Marks the batch as failed (a caller ran out of memory). */
void cp_cmds_poison(struct cp_cmds *cmds);
/** @returns non-zero if any append ran out of memory since the last reset. */
int cp_cmds_failed(const struct cp_cmds *cmds);
/**
 * @brief Copies argument @p arg of command @p cmd (both from 0) of @p cmds
 *        into @p out as text (cut to fit, non-printable bytes as '?'), to
 *        name the command or key in a message. A linear scan: for errors.
 * @returns 0, or -1 (and "?" in @p out) when there is no such argument.
 */
int cp_cmds_arg(const struct cp_cmds *cmds, size_t cmd, size_t arg, char *out,
                size_t out_size);

/** One command of a batch read back: its name and first argument. */
struct cp_cmd_view {
    const char *name; /* borrowed from the batch; not NUL-terminated */
    size_t name_len;
    const char *key; /* the first argument; NULL when there is none */
    size_t key_len;
};

/**
 * @brief Reads back the command at byte offset *@p pos of @p cmds (start
 *        with 0) and moves *@p pos to the next one.
 * @returns 1 with @p out filled, 0 at the end (or on bytes this writer
 *          did not produce).
 */
int cp_cmds_next(const struct cp_cmds *cmds, size_t *pos,
                 struct cp_cmd_view *out);

enum cp_reply_type {
    CP_REPLY_NIL = 0,
    CP_REPLY_STRING, /* bulk string */
    CP_REPLY_STATUS,
    CP_REPLY_INTEGER,
    CP_REPLY_ARRAY,
    CP_REPLY_ERROR,
};

/** A passive view of one reply; valid only inside the callback it is given
 *  to. Elements of an ARRAY are reached with cp_reply_element(), so code
 *  that reads replies needs this header only, never the client library. */
struct cp_reply {
    enum cp_reply_type type;
    const char *str; /* STRING, STATUS, ERROR */
    size_t len;
    int64_t integer; /* INTEGER */
    size_t elements; /* ARRAY */
    /* ARRAY: fills *out with element i of impl (whoever made the view) */
    void (*element_fn)(const void *impl, size_t i, struct cp_reply *out);
    const void *impl; /* borrowed; what element_fn reads */
};

/**
 * @brief Element @p i of an ARRAY reply; a NIL view when @p reply is not an
 *        array or @p i is out of range.
 * Ownership: @p out is valid as long as @p reply is.
 */
void cp_reply_element(const struct cp_reply *reply, size_t i,
                      struct cp_reply *out);
/**
 * @brief Makes @p out an ARRAY view of @p elems (@p cnt views), e.g. for
 *        tests of code that reads replies, without a Redis client.
 * Ownership: @p elems is borrowed and must outlive @p out.
 */
void cp_reply_array(struct cp_reply *out, const struct cp_reply *elems,
                    size_t cnt);

#endif
