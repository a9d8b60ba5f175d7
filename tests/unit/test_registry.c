/* SPDX-License-Identifier: Apache-2.0 */
/* The schema registry client against the test registry
 * (tests/integration/schema_registry.py, started per test on an ephemeral
 * port): fetch and cache, "not found" as a definite answer, 500 / garbage /
 * a closed connection / a dead URL as "no answer", failover, Basic auth,
 * register and look up, the 1 MiB cap, SIGTERM during a hung request; and
 * the schema.registry.* settings (checked, the credentials masked). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "config.h"
#include "fixtures_registry.h"
#include "registry.h"

static int truthy(int cond)
{
    return cond != 0;
}

static void assert_has(const char *text, const char *part)
{
    cr_assert(truthy(text && strstr(text, part) != NULL), "'%s' lacks '%s'",
              text ? text : "(null)", part);
}

static char reason[512];
static struct cp_registry *reg;

static void teardown(void)
{
    cp_registry_destroy(reg);
    reg = NULL;
    stop_server();
}

TestSuite(registry, .fini = teardown, .timeout = 30);

static struct cp_registry *client(const char *urls, const char *user_info,
                                  int timeout_ms)
{
    struct cp_registry_opts opts = {.urls = urls,
                                    .user_info = user_info,
                                    .verify = true,
                                    .timeout_ms = timeout_ms};
    char errstr[256] = "";
    struct cp_registry *r = cp_registry_new(&opts, errstr, sizeof(errstr));

    cr_assert(truthy(r != NULL), "%s", errstr);
    return r;
}

static const char *const event_schema =
    "{\"type\":\"record\",\"name\":\"E\",\"fields\":[{\"name\":\"a\","
    "\"type\":\"string\"}]}";

static uint32_t register_event(void)
{
    uint32_t id = 0;
    cp_rc rc = cp_registry_id_for(reg, "crm.events-value", event_schema, true,
                                  &id, reason, sizeof(reason));

    cr_assert(truthy(rc == CP_OK), "%s", reason);
    return id;
}

Test(registry, fetches_a_schema_once_and_keeps_it)
{
    struct cp_registry_stats st;
    const char *json = NULL;
    uint32_t id;

    start_server(NULL);
    reg = client(url, NULL, 2000);
    id = register_event();
    cr_assert(truthy(id == 100), "first id %u", id);
    cr_assert(truthy(cp_registry_schema(reg, id, &json, reason,
                                        sizeof(reason)) == CP_OK),
              "%s", reason);
    cr_assert(truthy(strcmp(json, event_schema) == 0), "%s", json);
    cp_registry_stats(reg, &st);
    cr_assert(truthy(st.requests == 2 && st.errors == 0 && st.cached == 1));
    /* The registry going bad changes nothing for a cached id. */
    set_mode("500");
    cr_assert(truthy(
        cp_registry_schema(reg, id, &json, reason, sizeof(reason)) == CP_OK));
    cp_registry_stats(reg, &st);
    cr_assert(truthy(st.requests == 2));
}

Test(registry, not_found_is_a_definite_answer_with_the_id)
{
    struct cp_registry_stats st;
    const char *json = NULL;

    start_server(NULL);
    reg = client(url, NULL, 2000);
    cr_assert(truthy(cp_registry_schema(reg, 4242, &json, reason,
                                        sizeof(reason)) == CP_EDECODE));
    assert_has(reason, "schema id 4242 not found in the schema registry "
                       "(40403)");
    /* Remembered: no second request. */
    reason[0] = '\0';
    cr_assert(truthy(cp_registry_schema(reg, 4242, &json, reason,
                                        sizeof(reason)) == CP_EDECODE));
    assert_has(reason, "4242");
    cp_registry_stats(reg, &st);
    cr_assert(truthy(st.requests == 1 && st.cached == 1));
}

Test(registry, a_registry_in_trouble_is_no_answer_not_bad_input)
{
    const char *const modes[] = {"500", "garbage", "close"};
    struct cp_registry_stats st;
    const char *json = NULL;
    uint32_t id;

    start_server(NULL);
    reg = client(url, NULL, 2000);
    id = register_event();
    for (size_t i = 0; i < 3; i++) {
        set_mode(modes[i]);
        cr_assert(truthy(cp_registry_schema(reg, id, &json, reason,
                                            sizeof(reason)) == CP_EIO),
                  "mode %s: %s", modes[i], reason);
    }
    cp_registry_stats(reg, &st);
    cr_assert(truthy(st.errors == 3 && st.cached == 0), "errors %llu",
              (unsigned long long)st.errors);
    set_mode("ok");
    cr_assert(truthy(cp_registry_schema(reg, id, &json, reason,
                                        sizeof(reason)) == CP_OK),
              "%s", reason);
}

Test(registry, fails_over_to_the_next_url)
{
    struct cp_registry_stats st;
    const char *json = NULL;
    char urls[160];
    uint32_t id;

    start_server(NULL);
    /* Port 9 (discard) on loopback refuses connections. */
    snprintf(urls, sizeof(urls), "http://127.0.0.1:9,%s/", url);
    reg = client(urls, NULL, 2000);
    id = register_event();
    cr_assert(truthy(cp_registry_schema(reg, id, &json, reason,
                                        sizeof(reason)) == CP_OK),
              "%s", reason);
    cp_registry_stats(reg, &st);
    /* The dead URL once; then the one that answered is asked first. */
    cr_assert(truthy(st.requests == 3 && st.errors == 1), "%llu %llu",
              (unsigned long long)st.requests, (unsigned long long)st.errors);
}

Test(registry, basic_auth_is_sent_and_a_refusal_names_the_setting)
{
    const char *const extra[] = {"--user", "crm:s3cret", NULL};
    const char *json = NULL;
    uint32_t id = 0;

    start_server(extra);
    reg = client(url, NULL, 2000);
    cr_assert(truthy(
        cp_registry_schema(reg, 100, &json, reason, sizeof(reason)) == CP_EIO));
    assert_has(reason, "schema.registry.basic.auth.user.info");
    cr_assert(truthy(cp_registry_id_for(reg, "s-value", event_schema, true, &id,
                                        reason, sizeof(reason)) == CP_ECONFIG));
    assert_has(reason, "schema.registry.basic.auth.user.info");
    cp_registry_destroy(reg);
    reg = client(url, "crm:s3cret", 2000);
    id = register_event();
    cr_assert(truthy(cp_registry_schema(reg, id, &json, reason,
                                        sizeof(reason)) == CP_OK),
              "%s", reason);
}

Test(registry, look_up_without_registering_and_stable_ids)
{
    uint32_t id = 0, again = 0;

    start_server(NULL);
    reg = client(url, NULL, 2000);
    cr_assert(
        truthy(cp_registry_id_for(reg, "crm.events-value", event_schema, false,
                                  &id, reason, sizeof(reason)) == CP_ECONFIG));
    assert_has(reason, "40401");
    assert_has(reason, "schema.registry.auto.register=true");
    id = register_event();
    cr_assert(
        truthy(cp_registry_id_for(reg, "crm.events-value", event_schema, false,
                                  &again, reason, sizeof(reason)) == CP_OK),
        "%s", reason);
    cr_assert(truthy(again == id));
    /* The same schema under another subject keeps its id. */
    cr_assert(
        truthy(cp_registry_id_for(reg, "other-value", event_schema, true,
                                  &again, reason, sizeof(reason)) == CP_OK));
    cr_assert(truthy(again == id));
    cr_assert(
        truthy(cp_registry_id_for(reg, "x-value", "not json", true, &again,
                                  reason, sizeof(reason)) == CP_ECONFIG));
    assert_has(reason, "42201");
}

Test(registry, an_oversized_schema_is_refused_not_read_whole)
{
    size_t n = (1u << 20) + 100;
    char *big = malloc(n + 64);
    const char *json = NULL;
    uint32_t id = 0;

    cr_assert(truthy(big != NULL));
    start_server(NULL);
    reg = client(url, NULL, 5000);
    /* A JSON string schema with a long doc-like name: valid JSON, > 1 MiB. */
    big[0] = '"';
    memset(big + 1, 'a', n);
    strcpy(big + 1 + n, "\"");
    cr_assert(truthy(cp_registry_id_for(reg, "big-value", big, true, &id,
                                        reason, sizeof(reason)) == CP_OK),
              "%s", reason);
    free(big);
    cr_assert(truthy(cp_registry_schema(reg, id, &json, reason,
                                        sizeof(reason)) == CP_EDECODE));
    assert_has(reason, "is over 1048576 bytes");
}

static volatile sig_atomic_t stop_flag;

static void on_alarm(int sig)
{
    (void)sig;
    stop_flag = 1;
}

Test(registry, a_stop_ends_a_hung_request_promptly)
{
    const char *json = NULL;
    struct timespec t0, t1;
    double secs;

    start_server(NULL);
    reg = client(url, NULL, 20000);
    set_mode("hang");
    cp_registry_set_stop(reg, &stop_flag);
    signal(SIGALRM, on_alarm);
    alarm(1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert(truthy(
        cp_registry_schema(reg, 100, &json, reason, sizeof(reason)) == CP_EIO));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_assert(truthy(secs < 3.0), "took %.1f s", secs);
}

Test(registry, a_timeout_is_no_answer)
{
    const char *json = NULL;

    start_server(NULL);
    reg = client(url, NULL, 300);
    set_mode("hang");
    cr_assert(truthy(
        cp_registry_schema(reg, 100, &json, reason, sizeof(reason)) == CP_EIO));
    assert_has(reason, "imeout");
}

/* A self-signed certificate for 127.0.0.1 in @p dir (cert.pem, key.pem). */
static void make_cert(const char *dir)
{
    char cmd[1024];

    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "
             "/CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout "
             "%s/key.pem -out %s/cert.pem >/dev/null 2>&1",
             dir, dir);
    cr_assert(truthy(system(cmd) == 0), "openssl could not make a "
                                        "certificate");
}

Test(registry, tls_needs_the_ca_unless_verification_is_off)
{
    char dir[] = "/tmp/cp-reg-tls-XXXXXX", cert[64], key[64], https[80];
    struct cp_registry_opts opts = {.timeout_ms = 5000, .verify = true};
    const char *extra[] = {"--tls", cert, key, NULL};
    char errstr[256];
    const char *json = NULL;

    cr_assert(truthy(mkdtemp(dir) != NULL));
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    make_cert(dir);
    start_server(extra);
    snprintf(https, sizeof(https), "https://127.0.0.1:%d", server_port);
    opts.urls = https;
    /* Not signed by a CA the system trusts: no answer, and it says why. */
    reg = cp_registry_new(&opts, errstr, sizeof(errstr));
    cr_assert(truthy(reg != NULL), "%s", errstr);
    cr_assert(truthy(
        cp_registry_schema(reg, 100, &json, reason, sizeof(reason)) == CP_EIO));
    assert_has(reason, "certificate");
    cp_registry_destroy(reg);
    /* With its CA: a definite answer (nothing registered: 40403). */
    opts.ca_file = cert;
    reg = cp_registry_new(&opts, errstr, sizeof(errstr));
    cr_assert(truthy(cp_registry_schema(reg, 100, &json, reason,
                                        sizeof(reason)) == CP_EDECODE),
              "%s", reason);
    assert_has(reason, "40403");
    cp_registry_destroy(reg);
    /* Verification off: answers too. */
    opts.ca_file = NULL;
    opts.verify = false;
    reg = cp_registry_new(&opts, errstr, sizeof(errstr));
    cr_assert(truthy(cp_registry_schema(reg, 100, &json, reason,
                                        sizeof(reason)) == CP_EDECODE),
              "%s", reason);
    remove(cert);
    remove(key);
    rmdir(dir);
}

/* ---- settings ---- */

static struct cp_config *load(const char *a, const char *b, char *errstr,
                              size_t errstr_size)
{
    const char *argv[] = {"crmpulse", "-X", a, "-X", b, NULL};

    return cp_config_load(5, (char **)argv, NULL, NULL, errstr, errstr_size);
}

Test(registry, settings_are_checked_and_the_credentials_masked)
{
    char errstr[512] = "", *text = NULL;
    size_t len = 0;
    struct cp_config *cfg =
        load("schema.registry.url=http://a:8081,https://b:8081/sr",
             "schema.registry.basic.auth.user.info=crm:hunter2", errstr,
             sizeof(errstr));
    FILE *fp;

    cr_assert(truthy(cfg != NULL), "%s", errstr);
    cr_assert(truthy(cfg->registry_verify == 1 &&
                     cfg->registry_auto_register == 1 &&
                     cfg->registry_timeout_ms == 5000));
    fp = open_memstream(&text, &len);
    cp_config_dump(cfg, fp);
    fclose(fp);
    assert_has(text, "schema.registry.url = http://a:8081,https://b:8081/sr\n");
    assert_has(text, "schema.registry.basic.auth.user.info = ***\n");
    cr_assert(truthy(strstr(text, "hunter2") == NULL));
    free(text);
    cp_config_destroy(cfg);
    cr_assert(truthy(load("schema.registry.url=http://u:p@a:8081",
                          "log.level=info", errstr, sizeof(errstr)) == NULL));
    assert_has(errstr, "schema.registry.basic.auth.user.info");
    cr_assert(truthy(load("schema.registry.url=a:8081", "log.level=info",
                          errstr, sizeof(errstr)) == NULL));
    assert_has(errstr, "http");
    cr_assert(truthy(load("schema.registry.basic.auth.user.info=nocolon",
                          "log.level=info", errstr, sizeof(errstr)) == NULL));
    assert_has(errstr, "user:password");
    cr_assert(truthy(load("schema.registry.basic.auth.user.info=nocolon",
                          "log.level=info", errstr, sizeof(errstr)) == NULL));
    cr_assert(truthy(strstr(errstr, "nocolon") == NULL), "%s", errstr);
}
