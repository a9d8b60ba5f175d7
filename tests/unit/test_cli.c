/* SPDX-License-Identifier: Apache-2.0 */
/* The shared command line (cli.h): --help and --version exit 0 before a
 * settings error is reported, unknown arguments exit 2 with the program's
 * wording, a program's own arguments reach it, --print-config prints the
 * settings, and the stop signals only set the flag. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

TestSuite(cli, .timeout = 10);

static void usage(FILE *out)
{
    fprintf(out, "Usage: prog\n");
}

struct own {
    const char *tenant; /* borrowed from argv */
    int calls;
};

static int take(void *opaque, const char **rest, int cnt)
{
    struct own *own = opaque;

    own->calls++;
    if (strcmp(rest[0], "--tenant") || cnt < 2)
        return 0;
    own->tenant = rest[1];
    return 2;
}

/* Loads a NULL-terminated argument list (argv[0] added). */
#define LOAD(cli, status, ...)                                                 \
    cp_cli_load(                                                               \
        (cli),                                                                 \
        (int)(sizeof((const char *[]){"prog", __VA_ARGS__}) / sizeof(char *)), \
        (char **)(const char *[]){"prog", __VA_ARGS__, NULL}, (status))

Test(cli, help_wins_and_exits_zero, .init = cr_redirect_stdout)
{
    const struct cp_cli cli = {.prog = "prog", .usage = usage};
    int status = -1;

    cr_assert(LOAD(&cli, &status, "--help") == NULL);
    cr_assert(status == 0);
    fflush(stdout);
    cr_assert_stdout_eq_str("Usage: prog\n");
}

static void redirect_both(void)
{
    cr_redirect_stdout();
    cr_redirect_stderr();
}

Test(cli, version_only_when_the_program_has_one, .init = redirect_both)
{
    const struct cp_cli with = {
        .prog = "prog", .version = "1.2", .usage = usage};
    const struct cp_cli without = {.prog = "prog", .usage = usage};
    int status = -1;

    cr_assert(LOAD(&with, &status, "--version") == NULL && status == 0);
    cr_assert(LOAD(&without, &status, "--version") == NULL && status == 2);
    fflush(stdout);
    cr_assert_stdout_eq_str("prog 1.2\n");
}

Test(cli, unknown_argument_is_bad_usage_in_the_programs_words,
     .init = cr_redirect_stderr)
{
    const struct cp_cli cli = {.prog = "prog",
                               .usage = usage,
                               .unknown_what =
                                   "unknown or incomplete argument"};
    int status = -1;

    cr_assert(LOAD(&cli, &status, "--bogus") == NULL);
    cr_assert(status == 2);
    fflush(stderr);
    cr_assert_stderr_eq_str(
        "prog: unknown or incomplete argument \"--bogus\" (see --help)\n");
}

Test(cli, own_arguments_reach_the_program, .init = cr_redirect_stderr)
{
    struct own own = {0};
    const struct cp_cli cli = {
        .prog = "prog", .usage = usage, .arg = take, .opaque = &own};
    struct cp_config *cfg;
    int status = -1;

    cfg = LOAD(&cli, &status, "-X", "redis.prefix=zz", "--tenant", "acme");
    cr_assert(cfg != NULL && status == 0);
    cr_assert(!strcmp(own.tenant, "acme") && own.calls == 1);
    cr_assert(!strcmp(cfg->redis_prefix, "zz"), "-X is a setting");
    cp_config_destroy(cfg);

    own.tenant = NULL;
    cr_assert(LOAD(&cli, &status, "--tenant") == NULL && status == 2,
              "an incomplete argument");
}

Test(cli, settings_error_is_bad_usage, .init = cr_redirect_stderr)
{
    const struct cp_cli cli = {.prog = "prog", .usage = usage};
    int status = -1;

    cr_assert(LOAD(&cli, &status, "-X", "no.such.setting=1") == NULL);
    cr_assert(status == 2);
}

Test(cli, print_config_prints_and_exits_zero, .init = cr_redirect_stdout)
{
    const struct cp_cli cli = {
        .prog = "prog", .print_config = 1, .usage = usage};
    char buf[16384] = "";
    int status = -1;

    cr_assert(LOAD(&cli, &status, "--print-config", "-X",
                   "redis.prefix=printed") == NULL);
    cr_assert(status == 0);
    fflush(stdout);
    cr_assert(fread(buf, 1, sizeof(buf) - 1, cr_get_redirected_stdout()) > 0);
    cr_assert(strstr(buf, "printed") != NULL, "%s", buf);
}

Test(cli, stop_signals_set_the_flag_and_nothing_else)
{
    volatile sig_atomic_t *stop = cp_cli_stop_signals(1);

    cr_assert(*stop == 0);
    raise(SIGTERM);
    cr_assert(*stop == 1, "SIGTERM sets the flag; the process lives on");
    raise(SIGPIPE); /* ignored */
}

/* A setting the program does not read is an error naming the program's own
 * setting of the kind (the board took -X http.listen, the worker's, ignored
 * it and listened on its default port). */
Test(cli, x_setting_the_program_does_not_read_names_its_own,
     .init = cr_redirect_stderr)
{
    static const char *const board[] = {"board.", "redis.", "log.", NULL};
    const struct cp_cli cli = {
        .prog = "board", .usage = usage, .settings = board};
    struct cp_config *cfg;
    int status = -1;

    cr_assert(LOAD(&cli, &status, "-X", "http.listen=0.0.0.0:9000") == NULL);
    cr_assert(status == 2);
    cfg = LOAD(&cli, &status, "-Xboard.listen=127.0.0.1:9000", "-X",
               "redis.prefix=b");
    cr_assert(cfg != NULL && status == 0, "its own settings are accepted");
    cr_assert(!strcmp(cfg->board_listen, "127.0.0.1:9000"));
    cp_config_destroy(cfg);
    fflush(stderr);
    cr_assert_stderr_eq_str("board: -X http.listen: board does not use this "
                            "setting; set board.listen instead (see "
                            "--help)\n");
}

Test(cli, reads_setting_matches_names_and_prefixes)
{
    static const char *const list[] = {"redis.", "model.file", NULL};

    cr_assert(cp_cli_reads_setting(list, "redis.url"));
    cr_assert(cp_cli_reads_setting(list, "model.file"));
    cr_assert(!cp_cli_reads_setting(list, "model.filex"));
    cr_assert(!cp_cli_reads_setting(list, "redisx.url"));
    cr_assert(cp_cli_reads_setting(NULL, "anything"), "NULL: every setting");
}

/* A program's own check runs before --print-config and exits 2. */
static int refuse(const struct cp_config *cfg, char *errstr, size_t size)
{
    (void)cfg;
    snprintf(errstr, size, "refused by the program's check");
    return 1;
}

Test(cli, program_check_is_bad_usage, .init = redirect_both)
{
    const struct cp_cli cli = {
        .prog = "prog", .print_config = 1, .usage = usage, .check = refuse};
    int status = -1;

    cr_assert(LOAD(&cli, &status, "--print-config") == NULL);
    cr_assert(status == 2);
    fflush(stderr);
    cr_assert_stderr_eq_str("prog: refused by the program's check\n");
}
