/* SPDX-License-Identifier: Apache-2.0 */
/* The shared command line: settings first (they take -c and -X out of
 * argv), then what is left, in order. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

volatile sig_atomic_t *cp_cli_stop_signals(int ignore_sigpipe)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (ignore_sigpipe)
        signal(SIGPIPE, SIG_IGN);
    return &stop_requested;
}

/* One argument of what is left after the settings. @returns how many it
 * took, 0 for unknown (printed), or -1 for "exit 0 now" (printed). */
static int one_arg(const struct cp_cli *cli, const char **rest, int cnt,
                   int *print_config)
{
    const char *a = rest[0];
    int took;

    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
        cli->usage(stdout);
        return -1;
    }
    if (cli->version && !strcmp(a, "--version")) {
        printf("%s %s\n", cli->prog, cli->version);
        return -1;
    }
    if (cli->print_config && !strcmp(a, "--print-config")) {
        *print_config = 1;
        return 1;
    }
    took = cli->arg ? cli->arg(cli->opaque, rest, cnt) : 0;
    if (took > 0)
        return took;
    fprintf(stderr, "%s: %s \"%s\" (see --help)\n", cli->prog,
            cli->unknown_what ? cli->unknown_what : "unknown argument", a);
    return 0;
}

int cp_cli_reads_setting(const char *const *settings, const char *name)
{
    if (!settings)
        return 1;
    for (size_t i = 0; settings[i]; i++) {
        size_t n = strlen(settings[i]);

        if (n && settings[i][n - 1] == '.' ? !strncmp(name, settings[i], n)
                                           : !strcmp(name, settings[i]))
            return 1;
    }
    return 0;
}

/* The program's setting most like @p name: the same last part ("listen"),
 * else NULL. */
static const char *own_setting_like(const struct cp_cli *cli, const char *name)
{
    const char *tail = strrchr(name, '.');

    if (!tail)
        return NULL;
    for (size_t i = 0; i < cp_config_setting_count(); i++) {
        const char *cand = cp_config_setting_name(i);
        const char *ct = strrchr(cand, '.');

        if (ct && !strcmp(ct, tail) && strcmp(cand, name) &&
            cp_cli_reads_setting(cli->settings, cand))
            return cand;
    }
    return NULL;
}

/* Every -X of argv names a setting the program reads. The file and the
 * environment may hold other programs' settings (one file for the worker
 * and the board); a -X is said to this program alone. @returns 0, or -1
 * with the message printed. */
static int check_x_settings(const struct cp_cli *cli, int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
        const char *kv, *eq, *like;
        char name[128];

        if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) {
            i++;
            continue;
        }
        if (strncmp(argv[i], "-X", 2))
            continue;
        kv = argv[i][2] ? argv[i] + 2 : (i + 1 < argc ? argv[++i] : "");
        eq = strchr(kv, '=');
        if (!eq || (size_t)(eq - kv) >= sizeof(name))
            continue; /* cp_config_load() has judged its syntax */
        memcpy(name, kv, (size_t)(eq - kv));
        name[eq - kv] = '\0';
        if (cp_cli_reads_setting(cli->settings, name))
            continue;
        like = own_setting_like(cli, name);
        if (like)
            fprintf(stderr,
                    "%s: -X %s: %s does not use this setting; set %s "
                    "instead (see --help)\n",
                    cli->prog, name, cli->prog, like);
        else
            fprintf(stderr,
                    "%s: -X %s: %s does not use this setting (see --help "
                    "for the ones it reads)\n",
                    cli->prog, name, cli->prog);
        return -1;
    }
    return 0;
}

struct cp_config *cp_cli_load(const struct cp_cli *cli, int argc, char **argv,
                              int *status)
{
    const char **rest = calloc((size_t)argc + 1, sizeof(*rest));
    int rest_cnt = 0, print_config = 0;
    struct cp_config *cfg;
    char errstr[1024];

    if (!rest) {
        fprintf(stderr, "%s: out of memory\n", cli->prog);
        *status = 1;
        return NULL;
    }
    cfg = cp_config_load(argc, argv, rest, &rest_cnt, errstr, sizeof(errstr));
    for (int i = 0; i < rest_cnt;) {
        int took = one_arg(cli, rest + i, rest_cnt - i, &print_config);

        if (took <= 0) {
            *status = took < 0 ? 0 : 2;
            goto out;
        }
        i += took;
    }
    if (!cfg) {
        fprintf(stderr, "%s: %s\n", cli->prog, errstr);
        *status = 2;
        goto out;
    }
    if (check_x_settings(cli, argc, argv)) {
        *status = 2;
        goto out;
    }
    if (cli->check && cli->check(cfg, errstr, sizeof(errstr))) {
        fprintf(stderr, "%s: %s\n", cli->prog, errstr);
        *status = 2;
        goto out;
    }
    if (print_config) {
        cp_config_dump(cfg, stdout);
        *status = 0;
        goto out;
    }
    free(rest);
    *status = 0;
    return cfg;

out:
    cp_config_destroy(cfg);
    free(rest);
    return NULL;
}
