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

#endif
