/* SPDX-License-Identifier: Apache-2.0 */
/* Integration-test plumbing: a real redis-server on a scratch port, child
 * processes (worker, generator, oracle) and a scratch directory. */
#ifndef CP_HARNESS_H
#define CP_HARNESS_H

#include <stdint.h>
#include <sys/types.h>

struct h_redis {
    pid_t pid;
    int port;
    char url[64];
    int aof; /* started by h_redis_start_aof(): restarts keep the AOF */
};

/** @brief A fresh scratch directory for this test (under $TMPDIR). */
const char *h_scratch_dir(void);
/** @brief Path of a built binary (CP_BIN_DIR) or source file (CP_SOURCE_DIR).
 */
const char *h_bin(const char *name);
const char *h_src(const char *rel);

/** @brief Starts redis-server without persistence on a free port. */
void h_redis_start(struct h_redis *r);
void h_redis_stop(struct h_redis *r);
/** @brief Runs one Redis command (argv style) and returns its integer or
 *         string-as-integer reply; -1 for nil. */
int64_t h_redis_int(const struct h_redis *r, const char *fmt, ...);
/** @brief Sum of all values of hash @p key (e.g. the offsets hash). */
int64_t h_redis_hash_sum(const struct h_redis *r, const char *key);

/**
 * @brief Kills redis-server with SIGKILL and leaves it down. @p keep_data:
 *        a snapshot is taken just before, so h_redis_revive() brings back
 *        what it held; else it comes back empty.
 */
void h_redis_kill(struct h_redis *r, int keep_data);
/** @brief Starts a killed redis-server again on the same port. */
void h_redis_revive(struct h_redis *r);

/**
 * @brief Starts redis-server on a free port with an append-only file
 *        (appendfsync always, no RDB preamble, no snapshots) in the
 *        scratch dir: every acknowledged write survives a SIGKILL.
 */
void h_redis_start_aof(struct h_redis *r);
/** @brief Picks a free port for @p r (url set, @p aof as for
 *         h_redis_start_aof) and starts nothing: Redis is absent until
 *         h_redis_restart(). */
void h_redis_reserve(struct h_redis *r, int aof);
/** @brief SIGKILL, no snapshot first: only what the AOF holds comes back. */
void h_redis_crash(struct h_redis *r);
/** @brief Starts redis-server on @p r's port with the persistence it was
 *         started with (AOF: loads it); waits until it answers. */
void h_redis_restart(struct h_redis *r);
/** @brief SIGSTOP / SIGCONT: Redis holds its connections and answers
 *         nothing while frozen. */
void h_redis_freeze(const struct h_redis *r);
void h_redis_thaw(const struct h_redis *r);
/** @brief A TCP port on 127.0.0.1 that was free a moment ago. */
int h_free_port(void);
/** @brief Waits up to @p timeout_ms until the file @p path contains
 *         @p needle; returns 1 if it does, 0 on timeout. */
int h_log_wait(const char *path, const char *needle, int timeout_ms);
/** @brief Integer setting from the environment (e.g. CP_IT_EVENTS for a
 *         quick local run), @p def when unset or not a positive number. */
long h_env_long(const char *name, long def);

/** @brief Starts a child with stdout+stderr to @p log_path (may be NULL). */
pid_t h_spawn(const char *const argv[], const char *log_path);
/** @brief Waits up to @p timeout_s for @p pid; returns its exit status
 *         (or 128+signal), -1 on timeout (the child is then killed). */
int h_wait(pid_t pid, int timeout_s);
/** @brief h_spawn + h_wait. */
int h_run(const char *const argv[], const char *log_path, int timeout_s);
/** @brief Prints the last lines of a log file to stderr (on failure). */
void h_tail(const char *path, int lines);
void h_sleep_ms(int ms);

/**
 * @brief Runs one Redis command (hiredis format) and copies its string,
 *        status or integer reply (binary-safe) into @p out, NUL-terminated
 *        and cut to @p size - 1 bytes.
 * @returns the reply's full length, or -1 for nil or an error/other reply.
 */
int64_t h_redis_str(const struct h_redis *r, char *out, size_t size,
                    const char *fmt, ...);

/** An array reply as NUL-terminated copies (binary-safe via len). */
struct h_strs {
    size_t cnt;
    char **str; /* owned, cnt entries */
    size_t *len;
};

/**
 * @brief Runs one Redis command whose reply is an array of strings (KEYS,
 *        LRANGE, ZRANGE ... WITHSCORES, HGETALL) into @p out (freed with
 *        h_strs_free()); a non-array reply gives an empty list.
 */
void h_redis_strs(const struct h_redis *r, struct h_strs *out, const char *fmt,
                  ...);
void h_strs_free(struct h_strs *s);

/** @brief Writes @p len bytes to a new file at @p path (asserts). */
void h_write_file(const char *path, const void *data, size_t len);

/** @brief A whole file as a NUL-terminated string (asserts).
 *  Ownership: caller frees the result. */
char *h_slurp(const char *path);
/** @brief Occurrences of @p needle in @p text (overlapping ones too). */
size_t h_count(const char *text, const char *needle);

/** @brief Path of @p name in the scratch directory (8 rotating buffers). */
const char *h_scratch_file(const char *name);

/**
 * @brief Writes every alert on the topic crm.alerts of @p bootstrap as one
 *        JSON line to @p path (the oracle counts each alert_id once);
 *        returns how many records were read.
 */
int64_t h_dump_alerts(const char *bootstrap, const char *path);

/** @brief The schema registry ids the worker frames alerts and dead
 *         letters with (schema.registry.url), for h_dump_alerts() and
 *         h_read_dlq(); 0 = the fixed ids (the default). */
void h_set_output_ids(uint32_t alert_id, uint32_t dead_letter_id);
/** @brief Makes @p codec read what h_set_output_ids() named. */
struct cp_codec;
void h_codec_output_ids(struct cp_codec *codec);

#endif
