/* SPDX-License-Identifier: Apache-2.0 */
/* crmpulse-gen's options and run (produce.h): every option form, the
 * checks between modes, settings shorthands, and a --dry-run whose dump
 * holds exactly the valid and malformed messages asked for. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "produce.h"

static char errstr[1024];

TestSuite(produce, .timeout = 60);

/* Parses a NULL-terminated argument list (argv[0] added). */
#define PARSE(o, ...)                                                          \
    parse((o), (const char *[]){"crmpulse-gen", __VA_ARGS__, NULL})

static int parse(struct cp_gen_opts *o, const char **args)
{
    int argc = 0;

    while (args[argc])
        argc++;
    cp_gen_opts_init(o);
    return cp_gen_opts_parse(o, argc, (char **)args, errstr, sizeof(errstr));
}

Test(produce, defaults_and_every_option_form)
{
    struct cp_gen_opts o;

    cr_assert(PARSE(&o, "-q") == 0, "%s", errstr);
    cr_assert(o.events == 100000 && o.customers == 10000 && o.tenants == 3 &&
              o.seed == 1 && o.quiet && !o.events_set);
    cp_gen_opts_cleanup(&o);

    cr_assert(PARSE(&o, "--events=7", "-c", "50", "--tenants", "2", "-s", "9",
                    "--rate=100", "--invalid", "10", "--start-ms",
                    "1700000000000", "--step-ms", "5", "-b", "k:9092", "-t",
                    "topic", "--raw", "--dry-run", "-o", "f.bin") == 0,
              "%s", errstr);
    cr_assert(o.events == 7 && o.events_set && o.customers == 50 &&
              o.tenants == 2 && o.tenants_set && o.seed == 9 && o.rate == 100 &&
              o.invalid_pm == 10);
    cr_assert(o.start_set && o.start_ms == 1700000000000LL && o.step_set &&
              o.step_ms == 5);
    cr_assert(!strcmp(o.bootstrap, "k:9092") && !strcmp(o.topic, "topic") &&
              !strcmp(o.out_path, "f.bin") && o.raw && o.dry_run);
    cp_gen_opts_cleanup(&o);
}

Test(produce, help_and_bad_usage)
{
    struct cp_gen_opts o;

    cr_assert(PARSE(&o, "-n", "5", "--help") == 1);
    cp_gen_opts_cleanup(&o);
    cr_assert(PARSE(&o, "--bogus") == -1);
    cr_assert(!strcmp(errstr, "unknown argument \"--bogus\" (see --help)"),
              "%s", errstr);
    cp_gen_opts_cleanup(&o);
    cr_assert(PARSE(&o, "-n") == -1);
    cr_assert(strstr(errstr, "-n needs a value"), "%s", errstr);
    cp_gen_opts_cleanup(&o);
    cr_assert(PARSE(&o, "--customers", "0") == -1);
    cr_assert(strstr(errstr, "--customers \"0\": expected a whole number in "
                             "[1, 4294967295]"),
              "%s", errstr);
    cp_gen_opts_cleanup(&o);
    cr_assert(PARSE(&o, "-X") == -1);
    cr_assert(strstr(errstr, "-X needs key=value"), "%s", errstr);
    cp_gen_opts_cleanup(&o);
}

Test(produce, options_of_one_mode_are_refused_in_the_other)
{
    struct cp_gen_opts o;

    cr_assert(PARSE(&o, "--labels", "l.csv") == -1);
    cr_assert(!strcmp(errstr, "--labels needs --churn-cohort"), "%s", errstr);
    cp_gen_opts_cleanup(&o);
    cr_assert(PARSE(&o, "--churn-cohort", "--step-ms", "5") == -1);
    cr_assert(strstr(errstr, "--step-ms does not apply to --churn-cohort"),
              "%s", errstr);
    cp_gen_opts_cleanup(&o);
    cr_assert(PARSE(&o, "--churn-cohort", "--mix", "1,2") == -1);
    cr_assert(strstr(errstr, "--mix \"1,2\": expected 6 or 7 whole numbers"),
              "%s", errstr);
    cp_gen_opts_cleanup(&o);
    cr_assert(PARSE(&o, "--churn-cohort", "--mix", "1,2,3,4,5,6,7,8") == -1);
    cp_gen_opts_cleanup(&o);
    cr_assert(PARSE(&o, "--churn-cohort", "--mix", "1,2,3,4,5,6,") == -1);
    cp_gen_opts_cleanup(&o);
    cr_assert(PARSE(&o, "--noise", "off") == -1);
    cr_assert(!strcmp(errstr, "--noise needs --churn-cohort"), "%s", errstr);
    cp_gen_opts_cleanup(&o);
    cr_assert(PARSE(&o, "--churn-cohort", "--noise", "quiet") == -1);
    cr_assert(strstr(errstr, "--noise \"quiet\": expected on or off"), "%s",
              errstr);
    cp_gen_opts_cleanup(&o);
    cr_assert(PARSE(&o, "--churn-cohort", "--mix", "0,0,0,0,0,0") == -1);
    cr_assert(strstr(errstr, "at least one share must be above 0"), "%s",
              errstr);
    cp_gen_opts_cleanup(&o);
}

Test(produce, cohort_defaults_to_one_tenant_and_parses_the_mix)
{
    struct cp_gen_opts o;

    cr_assert(PARSE(&o, "--churn-cohort", "--mix", "5,4,3,2,1,0") == 0, "%s",
              errstr);
    cr_assert(o.cohort && o.tenants == 1 && o.noise == NULL);
    /* six shares: the mix of older versions, no prospects */
    for (int p = 0; p < CP_PROFILE_CNT; p++)
        cr_assert(o.mix_shares[p] == (unsigned)(p < 6 ? 5 - p : 0));
    cp_gen_opts_cleanup(&o);
    cr_assert(PARSE(&o, "--churn-cohort", "--mix", "1,2,3,4,5,6,7", "--noise",
                    "off") == 0,
              "%s", errstr);
    for (int p = 0; p < CP_PROFILE_CNT; p++)
        cr_assert(o.mix_shares[p] == (unsigned)(p + 1));
    cr_assert_str_eq(o.noise, "off");
    cp_gen_opts_cleanup(&o);
    cr_assert(PARSE(&o, "--churn-cohort", "--tenants", "4") == 0);
    cr_assert(o.tenants == 4);
    cp_gen_opts_cleanup(&o);
}

Test(produce, shorthands_are_settings_and_an_explicit_x_wins)
{
    struct cp_gen_opts o;
    struct cp_config *cfg;

    cr_assert(PARSE(&o, "-b", "a:1", "-t", "first", "-X", "topic.events=second",
                    "-Xcodec.framing=raw") == 0,
              "%s", errstr);
    cr_assert(o.xargc == 3, "-X, its value, and -Xkey=value: %d", o.xargc);
    cfg = cp_gen_config_load(&o, "crmpulse-gen", errstr, sizeof(errstr));
    cr_assert(cfg != NULL, "%s", errstr);
    cr_assert(!strcmp(cfg->kafka_bootstrap, "a:1"));
    cr_assert(!strcmp(cfg->topic_events, "second"));
    cr_assert(cfg->codec_raw);
    cp_config_destroy(cfg);
    cp_gen_opts_cleanup(&o);
}

/* The dump record of produce.c: flag, key length, key, value length,
 * value. Counts valid and malformed records and null keys. */
static void count_dump(const char *path, int *valid, int *invalid,
                       int *null_keys)
{
    FILE *f = fopen(path, "rb");
    unsigned char h[5];

    cr_assert(f != NULL);
    *valid = *invalid = *null_keys = 0;
    while (fread(h, 1, 5, f) == 5) {
        uint32_t klen = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 |
                        (uint32_t)h[3] << 8 | h[4];
        unsigned char v[4];
        uint32_t vlen;

        if (h[0])
            ++*invalid;
        else
            ++*valid;
        if (klen == 0xffffffffu)
            ++*null_keys;
        else
            cr_assert(fseek(f, (long)klen, SEEK_CUR) == 0);
        cr_assert(fread(v, 1, 4, f) == 4);
        vlen = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 |
               (uint32_t)v[2] << 8 | v[3];
        cr_assert((h[0] || vlen > 0) && fseek(f, (long)vlen, SEEK_CUR) == 0,
                  "a valid event has a value");
    }
    cr_assert(feof(f), "the dump ends with a whole record");
    fclose(f);
}

Test(produce, dry_run_dump_holds_what_was_asked)
{
    static volatile sig_atomic_t stop;
    char path[] = "/tmp/cp-produce-XXXXXX";
    int fd = mkstemp(path), status, valid, invalid, null_keys;
    struct cp_gen_opts o;
    struct cp_config *cfg;
    struct cp_gen_run *rn;

    cr_assert(fd >= 0);
    close(fd);
    cr_assert(PARSE(&o, "-n", "1000", "--invalid", "25", "--dry-run", "-o",
                    path, "-q", "--start-ms", "1700000000000", "--step-ms",
                    "1000") == 0,
              "%s", errstr);
    cfg = cp_gen_config_load(&o, "crmpulse-gen", errstr, sizeof(errstr));
    cr_assert(cfg != NULL, "%s", errstr);
    rn = cp_gen_run_new(&o, cfg, stderr, &status);
    cr_assert(rn != NULL && status == 0);
    cr_assert(cp_gen_run_produce(rn, &stop) == 0);
    cp_gen_run_destroy(rn);
    count_dump(path, &valid, &invalid, &null_keys);
    cr_assert(valid == 1000 && invalid == 25, "%d valid, %d invalid", valid,
              invalid);
    cr_assert(null_keys == 5, "every 5th malformed message: %d", null_keys);
    unlink(path);
    cp_config_destroy(cfg);
    cp_gen_opts_cleanup(&o);
}

Test(produce, a_run_without_a_destination_is_bad_usage)
{
    struct cp_gen_opts o;
    struct cp_config *cfg;
    int status = -1;

    cr_assert(PARSE(&o, "--dry-run", "-q") == 0);
    cfg = cp_gen_config_load(&o, "crmpulse-gen", errstr, sizeof(errstr));
    cr_assert(cfg != NULL, "%s", errstr);
    cr_assert(cp_gen_run_new(&o, cfg, stderr, &status) == NULL);
    cr_assert(status == 2);
    cp_config_destroy(cfg);
    cp_gen_opts_cleanup(&o);
}
