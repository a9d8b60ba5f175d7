/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the settings parser: the input, split at NUL bytes,
 * is a config file's content (first part) and -X arguments (the others,
 * alternately as "-X" "k=v" and "-Xk=v"). cp_config_load() must return a
 * config or an error message, never exit or crash; a loaded config must
 * dump, and its every setting must be set again by name with the value it
 * dumped (masked secrets and values with newlines aside). Seeds:
 * tests/fuzz/corpus/fuzz_config. */
#define _GNU_SOURCE /* memfd_create */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

#define MAX_X 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int file_fd = -1;
static char file_path[64];

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_config: %s: %s\n", what, detail);
    abort();
}

/* The config file every run rewrites: in memory, since a file system
 * (ftruncate on a busy disk) would be most of the cost of a run. */
static void init_once(void)
{
    if (file_fd >= 0)
        return;
    file_fd = memfd_create("fuzz_config", 0);
    if (file_fd < 0)
        die("memfd_create", "failed");
    snprintf(file_path, sizeof(file_path), "/proc/self/fd/%d", file_fd);
}

static void write_file(const uint8_t *data, size_t len)
{
    if (ftruncate(file_fd, 0) || pwrite(file_fd, data, len, 0) != (ssize_t)len)
        die("write", file_path);
}

/* Every "name = value" line of a dump must be accepted again by
 * cp_config_set(), except masked secrets ("***" stands in for them). */
static void check_dump(struct cp_config *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    char err[512];

    if (!mem)
        die("open_memstream", "out of memory");
    cp_config_dump(cfg, mem);
    if (fclose(mem))
        die("dump", "fclose");
    for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        char *sep;

        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        sep = strstr(line, " = ");
        if (!sep)
            die("dump line without \" = \"", line);
        *sep = '\0';
        if (strstr(sep + 3, "***"))
            continue;
        /* Empty strings are dumped as "" (the file form of empty). */
        if (cp_config_set(cfg, line, sep + 3, err, sizeof(err)) &&
            (strcmp(sep + 3, "\"\"") ||
             cp_config_set(cfg, line, "", err, sizeof(err))))
            die("dumped value not accepted", err);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char prog[] = "crmpulse", opt_c[] = "-c", opt_x[] = "-X";
    char *copy, *argv[3 + 2 * MAX_X + 1], *joined[MAX_X];
    const char *rest[3 + 2 * MAX_X + 1];
    char err[512];
    struct cp_config *cfg;
    size_t file_len, pos, nx = 0;
    int argc = 0, rest_cnt = 0;
    int multiline = 0; /* an -X value with a newline: dump lines split */

    init_once();
    file_len = strnlen((const char *)data, size);
    write_file(data, file_len);

    /* The parts after the first NUL: -X arguments, NUL-terminated. */
    copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    argv[argc++] = prog;
    argv[argc++] = opt_c;
    argv[argc++] = file_path;
    for (pos = file_len + 1; pos < size && nx < MAX_X; nx++) {
        char *arg = copy + pos;
        size_t len = strlen(arg);

        joined[nx] = NULL;
        multiline |= strchr(arg, '\n') != NULL;
        if (nx % 2 == 0) {
            argv[argc++] = opt_x;
            argv[argc++] = arg;
        } else {
            joined[nx] = malloc(len + 3);
            if (!joined[nx])
                break;
            memcpy(joined[nx], "-X", 2);
            memcpy(joined[nx] + 2, arg, len + 1);
            argv[argc++] = joined[nx];
        }
        pos += len + 1;
    }
    argv[argc] = NULL;

    err[0] = '\0';
    cfg = cp_config_load(argc, argv, rest, &rest_cnt, err, sizeof(err));
    if (!cfg) {
        if (!err[0] || strnlen(err, sizeof(err)) == sizeof(err))
            die("rejected without a message", "");
    } else {
        if (rest_cnt != 0)
            die("unexpected leftover argument", rest[0]);
        if (!multiline)
            check_dump(cfg);
        cp_config_destroy(cfg);
    }
    for (size_t i = 0; i < nx; i++)
        free(joined[i]);
    free(copy);
    return 0;
}
