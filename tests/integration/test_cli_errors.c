/* SPDX-License-Identifier: Apache-2.0 */
/* The crmpulse command line before anything starts: kafka.* settings with
 * a typo or an invalid value are rejected (exit 2) by --print-config and by
 * a real start, before the embedded Kafka or Redis is touched; near misses
 * of our own kafka.* settings get a "did you mean"; --help prints its
 * settings header once. Runs the real binary; no servers needed (a start
 * that got past validation would fail on the unreachable Redis instead). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "stream.h"

TestSuite(cli, .timeout = 120);

/* Runs crmpulse with @p args (NULL-terminated) and returns its exit status
 * and, in *out, everything it printed (caller frees). */
static int run(const char *const *args, char **out, double *seconds)
{
    const char *argv[32] = {h_bin("crmpulse")};
    const char *log = h_scratch_file("cli.log");
    struct timespec t0;
    size_t argc = 1;
    int rc;

    for (size_t i = 0; args[i]; i++) {
        cr_assert_lt(argc + 1, sizeof(argv) / sizeof(argv[0]));
        argv[argc++] = args[i];
    }
    argv[argc] = NULL;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = h_run(argv, log, 60);
    if (seconds)
        *seconds = h_elapsed_s(&t0);
    *out = h_slurp(log);
    return rc;
}

/* A Redis nobody listens on: a start that passed validation would fail or
 * retry here, never exit 2 at once. */
#define NO_REDIS "redis.url=redis://127.0.0.1:1"

static void expect_rejected(const char *const *args, const char *message)
{
    double seconds;
    char *out;
    int rc = run(args, &out, &seconds);

    cr_assert_eq(rc, 2, "exit %d, want 2; output:\n%s", rc, out);
    cr_assert(strstr(out, message), "want \"%s\" in:\n%s", message, out);
    /* Nothing started: no embedded cluster, no Redis connection. */
    cr_assert_null(strstr(out, "EMBEDDED KAFKA"), "%s", out);
    cr_assert_null(strstr(out, "[REDIS]"), "%s", out);
    cr_assert_lt(seconds, 5.0, "took %.1f s to reject", seconds);
    free(out);
}

Test(cli, kafka_bootstrap_server_typo_is_rejected_before_starting)
{
    const char *print[] = {"--print-config", "-X",
                           "kafka.bootstrap.server=b1:9092", NULL};
    const char *start[] = {"-X", NO_REDIS,
                           "-X", "http.listen=",
                           "-X", "kafka.bootstrap.server=b1:9092",
                           NULL};
    static const char want[] =
        "unknown setting 'kafka.bootstrap.server'; did you mean "
        "'kafka.bootstrap.servers'?";

    expect_rejected(print, want);
    expect_rejected(start, want);
    /* The environment form too. */
    setenv("CRMPULSE_KAFKA_BOOTSTRAP_SERVER", "b1:9092", 1);
    {
        const char *env_start[] = {"-X", NO_REDIS, "-X", "http.listen=", NULL};

        expect_rejected(env_start, want);
    }
    unsetenv("CRMPULSE_KAFKA_BOOTSTRAP_SERVER");
}

/* Unknown librdkafka properties and invalid values: librdkafka's own
 * parser decides, before the embedded cluster starts. */
Test(cli, invalid_kafka_passthrough_is_rejected_before_starting)
{
    const char *typo[] = {"-X", NO_REDIS,
                          "-X", "http.listen=",
                          "-X", "kafka.security.protocl=SSL",
                          NULL};
    const char *typo_print[] = {"--print-config", "-X",
                                "kafka.sesion.timeout.ms=6000", NULL};
    const char *bad_value[] = {"-X", NO_REDIS,
                               "-X", "http.listen=",
                               "-X", "kafka.security.protocol=bogus",
                               NULL};
    const char *bad_number[] = {"--print-config", "-X",
                                "kafka.session.timeout.ms=soon", NULL};
    const char *unknown[] = {"--print-config", "-X", "kafka.no.such.thing=1",
                             NULL};

    expect_rejected(typo, "unknown setting 'kafka.security.protocl'; did you "
                          "mean 'kafka.security.protocol'?");
    expect_rejected(typo_print, "did you mean 'kafka.session.timeout.ms'?");
    expect_rejected(bad_value, "kafka.security.protocol: Invalid value "
                               "\"bogus\"");
    expect_rejected(bad_number, "kafka.session.timeout.ms:");
    expect_rejected(unknown, "unknown setting 'kafka.no.such.thing'");
}

Test(cli, valid_kafka_passthrough_still_prints)
{
    const char *args[] = {"--print-config",
                          "-X",
                          "kafka.security.protocol=SASL_SSL",
                          "-X",
                          "kafka.sasl.mechanisms=PLAIN",
                          "-X",
                          "kafka.session.timeout.ms=10000",
                          NULL};
    char *out;
    int rc = run(args, &out, NULL);

    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "kafka.security.protocol = SASL_SSL\n"), "%s", out);
    cr_assert(strstr(out, "kafka.session.timeout.ms = 10000\n"), "%s", out);
    free(out);
}

/* The worker reads churn.enabled (counters-only mode) and refuses a value
 * that is not a boolean. */
Test(cli, churn_enabled_is_a_worker_setting)
{
    const char *args[] = {"--print-config", "-X", "churn.enabled=false", NULL};
    const char *bad[] = {"--print-config", "-X", "churn.enabled=no", NULL};
    char *out;
    int rc = run(args, &out, NULL);

    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "churn.enabled = false\n"), "%s", out);
    free(out);
    expect_rejected(bad, "churn.enabled");
}

Test(cli, help_prints_the_settings_header_once)
{
    const char *args[] = {"--help", NULL};
    char *out;
    int rc = run(args, &out, NULL);

    cr_assert_eq(rc, 0);
    cr_assert_eq(h_count(out, "Settings"), 1, "%s", out);
    cr_assert(strstr(out, "log.format"), "%s", out);
    cr_assert(strstr(out, "log.progress.interval"), "%s", out);
    free(out);
}
