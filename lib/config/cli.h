/* SPDX-License-Identifier: Apache-2.0 */
/* The command line the executables share: settings (-c FILE, -X key=value,
 * CRMPULSE_* variables) through cp_config_load(), then --help, --version,
 * --print-config and each program's own arguments, with the same messages
 * and exit codes everywhere; and the stop signals. */
#ifndef CP_CLI_H
#define CP_CLI_H

#include <signal.h>
#include <stdio.h>

#include "config.h"

/** The --help lines of what cp_cli_load() reads for a program with
 *  --version and --print-config, for its usage text. */
#define CP_CLI_SETTINGS_HELP                                                   \
    "  -c, --config FILE   settings file (key = value lines)\n"                \
    "  -X key=value        set one setting (wins over file and "               \
    "environment)\n"                                                           \
    "  --print-config      print the effective settings and exit\n"            \
    "  -h, --help          this help\n"                                        \
    "  --version           print the version\n"

/** What a program's command line accepts. Plain data. */
struct cp_cli {
    const char *prog;         /* message prefix and --version's name */
    const char *version;      /* NULL: no --version */
    int print_config;         /* accept --print-config */
    void (*usage)(FILE *out); /* --help */
    /* The program's own arguments: called with the arguments left from
     * rest[0]; returns how many it took (>= 1), or 0 when rest[0] is
     * unknown or incomplete. NULL: none. */
    int (*arg)(void *opaque, const char **rest, int cnt);
    void *opaque;             /* passed to arg */
    const char *unknown_what; /* "unknown argument" unless set */
    /* The settings the program reads: exact names, or prefixes ending in
     * '.' ("redis."). A -X of any other setting is an error naming the
     * program's own setting of that kind (e.g. board.listen for
     * http.listen), because such a setting would be silently ignored.
     * NULL-terminated; NULL: every setting. */
    const char *const *settings;
    /* After the settings are loaded and before --print-config: a check
     * of the program's own (e.g. librdkafka's view of kafka.*). Returns
     * nonzero with a message in errstr to exit 2. NULL: none. */
    int (*check)(const struct cp_config *cfg, char *errstr, size_t errstr_size);
};

/** @brief Whether @p name is one of @p settings (see struct cp_cli). */
int cp_cli_reads_setting(const char *const *settings, const char *name);

/**
 * @brief Loads the settings and reads the other arguments. --help wins
 *        over a settings error, as does --version; --print-config prints
 *        the effective settings.
 * @returns the settings when the program should run; NULL when it should
 *          exit now with *@p status: 0 after --help, --version or
 *          --print-config, 2 on bad usage or settings, 1 out of memory
 *          (messages printed, "<prog>: ..." on stderr).
 * Ownership: caller owns the result; free with cp_config_destroy().
 *            Arguments handed to @p cli->arg are borrowed from @p argv.
 */
struct cp_config *cp_cli_load(const struct cp_cli *cli, int argc, char **argv,
                              int *status);

/**
 * @brief Sets the returned flag on SIGINT and SIGTERM (the handler does
 *        nothing else); with @p ignore_sigpipe, a peer that goes away
 *        mid-write does not kill the process.
 * @returns the flag, for the program's run loop.
 */
volatile sig_atomic_t *cp_cli_stop_signals(int ignore_sigpipe);

#endif
