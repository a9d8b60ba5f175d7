/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the schema registry tests (test_registry.c,
 * test_writer_schemas.c): the test registry of
 * tests/integration/schema_registry.py on an ephemeral port, started per
 * test, and its fault modes. Header-only: each test is one file. */
#ifndef CP_FIXTURES_REGISTRY_H
#define CP_FIXTURES_REGISTRY_H

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t server_pid;
static int server_port;
static char url[64];

/* Starts the test registry (ids from 100); extra arguments after the
 * script's, NULL-terminated, or NULL. */
static void start_server(const char *const *extra)
{
    const char *schemas = getenv("CP_SCHEMA_DIR");
    char script[4096];
    const char *argv[16] = {"python3", script, "--first-id", "100"};
    int fds[2], n = 4;
    FILE *fp;

    cr_assert(schemas != NULL, "CP_SCHEMA_DIR is not set");
    snprintf(script, sizeof(script),
             "%s/../tests/integration/schema_registry.py", schemas);
    for (; extra && *extra && n < 15; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    cr_assert(pipe(fds) == 0);
    server_pid = fork();
    cr_assert(server_pid >= 0);
    if (server_pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);

        /* Dies with the test, and never holds the test's output open. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (devnull >= 0)
            dup2(devnull, 2);
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execvp("python3", (char **)argv);
        _exit(127);
    }
    close(fds[1]);
    fp = fdopen(fds[0], "r");
    cr_assert(fp && fscanf(fp, "PORT %d", &server_port) == 1,
              "the test registry did not start");
    fclose(fp);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", server_port);
}

static void stop_server(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
        server_pid = 0;
    }
}

/* Sets the fault mode: "ok", "500", "garbage", "close" or "hang". The
 * control endpoint is not part of the registry API, so curl(1) says it. */
static void set_mode(const char *mode)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd),
             "curl -sf -o /dev/null -X POST -d '{\"mode\":\"%s\"}' "
             "%s/_control",
             mode, url);
    cr_assert(system(cmd) == 0, "cannot set mode %s", mode);
}

#endif
