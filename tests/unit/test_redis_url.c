/* SPDX-License-Identifier: Apache-2.0 */
/* redis.url: the one parser (what the store connects to is what the
 * settings check accepts) and its masking, which must hide the password of
 * any text meant as a Redis URL, valid or not, wherever it came from (-X, a
 * settings file, the environment). */
#define _GNU_SOURCE /* open_memstream, setenv */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fixtures.h"
#include "url.h"

#define SECRET "hunter2"

TestSuite(redis_url, .timeout = 10);

Test(redis_url, tcp_forms_give_host_port_db_and_credentials)
{
    struct cp_redis_url u;
    char errstr[256];

    cr_assert_eq(cp_redis_url_parse("redis://h", &u, errstr, sizeof(errstr)),
                 CP_OK, "%s", errstr);
    cr_assert_str_eq(u.host, "h");
    cr_assert_eq(u.port, 6379);
    cr_assert_eq(u.db, 0);
    cr_assert_null(u.user);
    cr_assert_null(u.password);
    cr_assert_null(u.socket_path);
    cp_redis_url_cleanup(&u);

    cr_assert_eq(
        cp_redis_url_parse("redis://alice:p@ss:w/rd@db-1.example:6380/15", &u,
                           errstr, sizeof(errstr)),
        CP_OK, "%s", errstr);
    cr_assert_str_eq(u.host, "db-1.example");
    cr_assert_eq(u.port, 6380);
    cr_assert_eq(u.db, 15);
    cr_assert_str_eq(u.user, "alice");
    cr_assert_str_eq(u.password, "p@ss:w/rd");
    cp_redis_url_cleanup(&u);
    cr_assert_null(u.host, "cleanup leaves nothing behind");

    /* A lone user info is a password (as redis-cli reads it). */
    cr_assert_eq(cp_redis_url_parse("redis://t0ken@10.0.0.5", &u, errstr,
                                    sizeof(errstr)),
                 CP_OK, "%s", errstr);
    cr_assert_null(u.user);
    cr_assert_str_eq(u.password, "t0ken");
    cr_assert_str_eq(u.host, "10.0.0.5");
    cp_redis_url_cleanup(&u);

    cr_assert_eq(
        cp_redis_url_parse("redis://:pw@h:1/0", &u, errstr, sizeof(errstr)),
        CP_OK, "%s", errstr);
    cr_assert_null(u.user);
    cr_assert_str_eq(u.password, "pw");
    cr_assert_eq(u.port, 1);
    cp_redis_url_cleanup(&u);

    /* Schemes are case-insensitive (RFC 3986). */
    cr_assert_eq(
        cp_redis_url_parse("REDIS://h:7000/2", &u, errstr, sizeof(errstr)),
        CP_OK, "%s", errstr);
    cr_assert_eq(u.port, 7000);
    cr_assert_eq(u.db, 2);
    cp_redis_url_cleanup(&u);
}

Test(redis_url, unix_socket_form)
{
    struct cp_redis_url u;
    char errstr[256];

    cr_assert_eq(cp_redis_url_parse("unix:///run/redis/r.sock?db=3", &u, errstr,
                                    sizeof(errstr)),
                 CP_OK, "%s", errstr);
    cr_assert_str_eq(u.socket_path, "/run/redis/r.sock");
    cr_assert_null(u.host);
    cr_assert_eq(u.db, 3);
    cp_redis_url_cleanup(&u);
}

Test(redis_url, bad_forms_name_the_fix_and_never_the_password)
{
    static const char *const bad[] = {
        "http://hunter2@x",
        "rediss://u:hunter2@h",
        "redis//u:hunter2@h",
        "redis:/u:hunter2@h",
        "redis://u:hunter2@h:99999",
        "redis://u:hunter2@h:0",
        "redis://u:hunter2@h:",
        "redis://u:hunter2@h/x",
        "redis://u:hunter2@h/",
        "redis://u:hunter2@h/2147483648",
        "redis://u:hunter2@-h",
        "redis://u:hunter2@1.2.3",
        "redis://u:hunter2@1.2.3.256",
        "redis://u:hunter2@h h",
        "redis://u:@h",
        "redis://@h",
        "redis://",
        "unix://",
        "unix://relative.sock",
        "unix:///tmp/r.sock?password=hunter2",
        "unix:///tmp/r.sock?db=x",
        "",
    };

    for (size_t i = 0; i < CP_ARRAY_SIZE(bad); i++) {
        struct cp_redis_url u;
        char errstr[512] = "";

        cr_assert_eq(cp_redis_url_parse(bad[i], &u, errstr, sizeof(errstr)),
                     CP_ECONFIG, "%s accepted", bad[i]);
        cr_assert_not_null(strstr(errstr, "(use " CP_REDIS_URL_FORMS ")"),
                           "%s: %s", bad[i], errstr);
        cr_assert_null(strstr(errstr, SECRET), "%s: %s", bad[i], errstr);
        cr_assert_null(u.host, "nothing to free after a failure");
        cr_assert_null(u.password);
    }
}

Test(redis_url, rediss_says_tls_is_not_supported)
{
    struct cp_redis_url u;
    char errstr[512];

    cr_assert_eq(
        cp_redis_url_parse("rediss://h:6380", &u, errstr, sizeof(errstr)),
        CP_ECONFIG);
    cr_assert_not_null(strstr(errstr, "TLS"), "%s", errstr);
}

Test(redis_url, mask_hides_the_secret_of_any_form)
{
    static const char *const cases[][2] = {
        {"redis://admin:hunter2@h:6379/1", "redis://admin:***@h:6379/1"},
        {"redis://hunter2@h", "redis://***@h"},
        {"redis://:hunter2@h", "redis://***@h"},
        {"redis://admin:p@sshunter2@h", "redis://admin:***@h"},
        {"rediss://admin:hunter2@h", "rediss://admin:***@h"},
        {"REDIS://admin:hunter2@h", "REDIS://admin:***@h"},
        {"redis//admin:hunter2@h", "redis//admin:***@h"},
        {"redis:admin:hunter2@h", "redis:***@h"},
        {"hunter2@h", "***@h"},
        {"redis://h:6379", "redis://h:6379"},
        {"unix:///run/r.sock?db=1", "unix:///run/r.sock?db=1"},
        /* No '@': a password where the port, the database or a query
         * goes is hidden all the same. */
        {"redis://u:hunter2", "redis://u:***"},
        {"redis://:hunter2/0", "redis://:***"},
        {"redis://:6379/0", "redis://:***"},
        {"redis://h:6379/0?password=hunter2", "redis://h:6379/0?***"},
        {"redis://h?password=hunter2", "redis://h?***"},
        {"redis://h/hunter2", "redis://h/***"},
        {"redis://hun ter2", "redis://hun***"},
        {"redis://u:p@h:6379?password=hunter2", "redis://u:***@h:6379?***"},
        {"unix:///run/r.sock?password=hunter2", "unix:///run/r.sock?***"},
        {"redis://h:6379/2", "redis://h:6379/2"},
    };

    for (size_t i = 0; i < CP_ARRAY_SIZE(cases); i++) {
        char out[256];

        cp_redis_url_mask(cases[i][0], out, sizeof(out));
        cr_assert_str_eq(out, cases[i][1], "mask(%s)", cases[i][0]);
    }
}

/* ---- through the settings: -X, file, environment, dump ---- */

static struct cp_config *load(char *errstr, size_t size, const char *a1,
                              const char *a2)
{
    char *argv[] = {(char *)"crmpulse", (char *)a1, (char *)a2, NULL};

    return cp_config_load(a2 ? 3 : 2, argv, NULL, NULL, errstr, size);
}

static void assert_masked(const char *errstr)
{
    cr_assert_null(strstr(errstr, SECRET), "password echoed: %s", errstr);
    cr_assert_not_null(strstr(errstr, "redis.url"), "%s", errstr);
}

Test(redis_url, settings_errors_never_echo_the_password)
{
    static const char *const urls[] = {
        "rediss://admin:hunter2@h",
        "REDIS://admin:hunter2@h:99999",
        "redis//admin:hunter2@h",
        "http://hunter2@h",
        "redis://u:hunter2",
        "redis://:hunter2/0",
        "redis://h:6379/0?password=hunter2",
        "redis://h?password=hunter2",
    };
    char errstr[1024];

    unsetenv("CRMPULSE_REDIS_URL");
    for (size_t i = 0; i < CP_ARRAY_SIZE(urls); i++) {
        char x[256];

        snprintf(x, sizeof(x), "redis.url=%s", urls[i]);
        cr_assert_null(load(errstr, sizeof(errstr), "-X", x), "%s", urls[i]);
        assert_masked(errstr);
        cr_assert_not_null(strstr(errstr, "***"), "%s", errstr);
    }
}

Test(redis_url, x_without_equals_sign_does_not_echo_the_value)
{
    char errstr[1024];

    unsetenv("CRMPULSE_REDIS_URL");
    cr_assert_null(load(errstr, sizeof(errstr), "-X",
                        "redis.url:redis://admin:hunter2@h"));
    assert_masked(errstr);
    cr_assert_null(load(errstr, sizeof(errstr),
                        "-Xredis.url:redis://admin:hunter2@h", NULL));
    assert_masked(errstr);
}

Test(redis_url, environment_and_file_errors_are_masked)
{
    char errstr[1024], dir[512], path[600];
    FILE *f;

    setenv("CRMPULSE_REDIS_URL", "rediss://:hunter2@h", 1);
    cr_assert_null(load(errstr, sizeof(errstr), "--print-config", NULL));
    assert_masked(errstr);
    cr_assert_not_null(strstr(errstr, "CRMPULSE_REDIS_URL"), "%s", errstr);
    unsetenv("CRMPULSE_REDIS_URL");

    fx_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/c.conf", dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "redis.url = redis//admin:hunter2@h:6379\n");
    fclose(f);
    cr_assert_null(load(errstr, sizeof(errstr), "-c", path));
    assert_masked(errstr);
    remove(path);
    rmdir(dir);
}

Test(redis_url, dump_masks_an_upper_case_scheme)
{
    struct cp_config *cfg;
    char errstr[1024];
    char *text = NULL;
    size_t len = 0;
    FILE *out;

    unsetenv("CRMPULSE_REDIS_URL");
    cfg = load(errstr, sizeof(errstr), "-X",
               "redis.url=REDIS://admin:hunter2@h:6379/2");
    cr_assert_not_null(cfg, "%s", errstr);
    out = open_memstream(&text, &len);
    cp_config_dump(cfg, out);
    fclose(out);
    cr_assert_null(strstr(text, SECRET), "%s", text);
    cr_assert_not_null(strstr(text, "REDIS://admin:***@h:6379/2"), "%s", text);
    free(text);
    cp_config_destroy(cfg);
}
