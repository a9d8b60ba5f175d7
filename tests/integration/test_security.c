/* SPDX-License-Identifier: Apache-2.0 */
/* Security basics with the real crmpulse binary and a real redis-server:
 * - a Redis ACL user limited to crmpulse's keys and channels (README,
 *   Security; key patterns from schemas/redis-keys.md), with the default
 *   user disabled, runs a stream to exact results (oracle);
 * - a user without access to the crmpulse:* keys fails with a clear
 *   NOPERM message, logged once, and commits nothing;
 * - known secrets (the Redis URL password, kafka.sasl.password,
 *   kafka.ssl.key.password, kafka.ssl.keystore.password) never appear in
 *   stdout, stderr, /metrics, /readyz or --print-config, in a good run, a
 *   failing start or a rejected setting.
 *
 * CP_IT_EVENTS sets the events of the stream (default 3000, CI-sized). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "kafka.h"
#include "stream.h"

#define PARTITIONS 4

/* The ACL rule of README, Security: the prefix's keys and channels and
 * crmpulse's own keys (offsets, fences, timers, watermarks). */
#define ACL_KEYS "~crm:*", "~crmpulse:*", "&crm:*", "+@all", "-@dangerous"

/* Secrets: distinctive strings that occur nowhere else. */
#define REDIS_PW    "rpw-Zq81xT"
#define SASL_PW     "sasl-Kp27wQ"
#define SSL_KEY_PW  "sslkey-Vb55nR"
#define KEYSTORE_PW "keystore-Hm90sD"
#define LIMITED_PW  "lim-Ty42pL"
#define ADMIN_PW    "adm-Rr19eW"

static struct cp_embedded *emb;
static const char *bootstrap;

static void start_kafka(void)
{
    emb = h_kafka_start(PARTITIONS, &bootstrap);
}

static void stop_kafka(void)
{
    h_kafka_stop(&emb);
}

TestSuite(security, .init = start_kafka, .fini = stop_kafka, .timeout = 600);

/* ---- helpers ---- */

/* None of the secrets occurs in the file at @p path (@p what names it). */
static void assert_no_secret(const char *path, const char *what)
{
    static const char *const secrets[] = {REDIS_PW,    SASL_PW,    SSL_KEY_PW,
                                          KEYSTORE_PW, LIMITED_PW, ADMIN_PW};
    char *text = h_slurp(path);

    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        cr_assert_null(strstr(text, secrets[i]), "%s shows the secret %s:\n%s",
                       what, secrets[i], text);
    free(text);
}

/* One ACL SETUSER as the (still enabled) default user; asserts "OK". */
static void acl_setuser(const struct h_redis *r, const char *const *args,
                        size_t cnt)
{
    char cmd[512] = "ACL SETUSER";
    char reply[64];

    for (size_t i = 0; i < cnt; i++) {
        strncat(cmd, " ", sizeof(cmd) - strlen(cmd) - 1);
        strncat(cmd, args[i], sizeof(cmd) - strlen(cmd) - 1);
    }
    cr_assert_geq(h_redis_str(r, reply, sizeof(reply), cmd), 0, "%s", cmd);
    cr_assert_str_eq(reply, "OK", "%s", cmd);
}

static int free_tcp_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    cr_assert_geq(fd, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* GET http://127.0.0.1:port/path into @p out; returns the HTTP status. */
static int http_get(int port, const char *path, const char *out)
{
    static const char get[] =
        "import sys,urllib.request,urllib.error\n"
        "try:\n"
        "    r=urllib.request.urlopen(sys.argv[1],timeout=10)\n"
        "    code,body=r.status,r.read()\n"
        "except urllib.error.HTTPError as e:\n"
        "    code,body=e.code,e.read()\n"
        "open(sys.argv[2],'wb').write(body)\n"
        "sys.exit(0 if code==200 else 1)\n";
    const char *script = h_scratch_file("get.py");
    char url[128];
    const char *argv[] = {"/usr/bin/python3", script, url, out, NULL};

    h_write_file(script, get, strlen(get));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    return h_run(argv, NULL, 30) == 0 ? 200 : -1;
}

/* ---- an ACL user with exactly what crmpulse needs ---- */

Test(security, acl_user_runs_to_exact_results_and_no_secret_leaks)
{
    char dump[600], log[600], metrics[600], readyz[600];
    char x_redis[160], x_http[64];
    const char *crmpulse_user[] = {"crmpulse", "on", (">" REDIS_PW), ACL_KEYS};
    const char *admin_user[] = {"admin", "on", (">" ADMIN_PW),
                                "~*",    "&*", "+@all"};
    const char *default_off[] = {"default", "off"};
    const char *extras[] = {x_redis, x_http, NULL};
    long n = h_env_long("CP_IT_EVENTS", 3000);
    int64_t invalid = 0, total;
    struct h_redis r, admin;
    char pong[16];
    int http_port = free_tcp_port();
    pid_t pid;

    snprintf(dump, sizeof(dump), "%s", h_scratch_file("acl.dump"));
    snprintf(log, sizeof(log), "%s", h_scratch_file("acl.log"));
    snprintf(metrics, sizeof(metrics), "%s", h_scratch_file("metrics.txt"));
    snprintf(readyz, sizeof(readyz), "%s", h_scratch_file("readyz.txt"));
    h_redis_start(&r);
    acl_setuser(&r, crmpulse_user, CP_ARRAY_SIZE(crmpulse_user));
    acl_setuser(&r, admin_user, CP_ARRAY_SIZE(admin_user));
    acl_setuser(&r, default_off, CP_ARRAY_SIZE(default_off));
    /* The default user is refused from now on. */
    cr_assert_eq(h_redis_str(&r, pong, sizeof(pong), "PING"), -1);

    h_produce(bootstrap, dump, "11", n, cp_now_ms() - 3600 * 1000, "5");
    total = h_dump_count(dump, &invalid);
    snprintf(x_redis, sizeof(x_redis),
             "redis.url=redis://crmpulse:" REDIS_PW "@127.0.0.1:%d", r.port);
    snprintf(x_http, sizeof(x_http), "http.listen=127.0.0.1:%d", http_port);
    pid = h_worker_spawn(bootstrap, &r, "acl", log, extras);
    /* Ready = partitions assigned and a commit (or ping) went through. */
    cr_assert(h_log_wait(log, "] ready", 60000), "the worker never got ready");
    cr_assert_eq(http_get(http_port, "/metrics", metrics), 200);
    cr_assert_eq(http_get(http_port, "/readyz", readyz), 200);
    h_worker_wait_done(pid, log, 240);

    {
        char *text = h_slurp(log);

        /* PUBLISH to the channels and every key the worker touched were
         * allowed: no error at all. */
        cr_assert_null(strstr(text, "NOPERM"), "%s", text);
        cr_assert_null(strstr(text, "redis down"), "%s", text);
        cr_assert(strstr(text, "connected to 127.0.0.1:"), "%s", text);
        free(text);
    }
    {
        char *text = h_slurp(metrics);

        cr_assert(strstr(text, "crmpulse_"), "not a /metrics body: %s", text);
        free(text);
    }
    assert_no_secret(log, "the worker's stdout/stderr");
    assert_no_secret(metrics, "/metrics");
    assert_no_secret(readyz, "/readyz");

    /* The oracle reads everything as the admin user. */
    admin = r;
    snprintf(admin.url, sizeof(admin.url),
             "redis://admin:" ADMIN_PW "@127.0.0.1:%d", r.port);
    h_oracle_check(bootstrap, &admin, (const char *[]){dump}, 1, invalid);
    cr_assert_gt(total, n);
    h_redis_stop(&r);
}

/* ---- an ACL user that lacks the crmpulse:* keys ---- */

Test(security, user_without_key_access_fails_with_a_clear_noperm)
{
    char log[600], x_redis[160], cmd[700];
    const char *limited_user[] = {"limited",    "on",     (">" LIMITED_PW),
                                  "~crm:*",     "&crm:*", "+@all",
                                  "-@dangerous"};
    const char *extras[] = {x_redis, NULL};
    struct h_redis r;
    pid_t pid;
    int rc;

    snprintf(log, sizeof(log), "%s", h_scratch_file("noperm.log"));
    h_redis_start(&r);
    acl_setuser(&r, limited_user, CP_ARRAY_SIZE(limited_user));
    snprintf(x_redis, sizeof(x_redis),
             "redis.url=redis://limited:" LIMITED_PW "@127.0.0.1:%d", r.port);
    pid = h_worker_spawn(bootstrap, &r, "noperm", log, extras);
    cr_assert(h_log_wait(log, "NOPERM", 60000), "no NOPERM in the log");
    /* Several retries later it is still one line, with the fix. */
    h_sleep_ms(4000);
    kill(pid, SIGTERM);
    rc = h_wait(pid, 20);
    cr_assert_eq(rc, 0, "exit %d after SIGTERM", rc);
    {
        char *text = h_slurp(log);

        cr_assert_eq(h_count(text, "NOPERM"), 1, "%s", text);
        cr_assert_eq(h_count(text, "redis down"), 1, "%s", text);
        cr_assert(strstr(text, "Redis ACL: the user in redis.url lacks a "
                               "permission crmpulse needs"),
                  "%s", text);
        cr_assert(strstr(text, "~crmpulse:*"), "%s", text);
        /* It never got its partitions: never ready, Redis never "back". */
        cr_assert_null(strstr(text, "] ready"), "%s", text);
        cr_assert_null(strstr(text, "redis back"), "%s", text);
        free(text);
    }
    assert_no_secret(log, "the worker's output");
    /* Nothing was committed, nothing was counted. */
    snprintf(cmd, sizeof(cmd), "EXISTS crmpulse:offsets:noperm");
    cr_assert_eq(h_redis_int(&r, cmd), 0);
    h_redis_stop(&r);
}

/* ---- --print-config, rejected settings and a failing start ---- */

Test(security, secrets_are_masked_in_print_config_and_failed_starts)
{
    char out[600], redis_url[160], x_redis[200];
    const char *print[] = {h_bin("crmpulse"),
                           "--print-config",
                           "-X",
                           x_redis,
                           "-X",
                           "kafka.security.protocol=SASL_SSL",
                           "-X",
                           "kafka.sasl.mechanisms=PLAIN",
                           "-X",
                           "kafka.sasl.username=crm",
                           "-X",
                           ("kafka.sasl.password=" SASL_PW),
                           "-X",
                           ("kafka.ssl.key.password=" SSL_KEY_PW),
                           "-X",
                           "kafka.ssl.ca.location=/nonexistent/ca.pem",
                           NULL};
    struct h_redis r;
    char *text;
    int rc;

    snprintf(out, sizeof(out), "%s", h_scratch_file("print.out"));
    h_redis_start(&r);
    {
        const char *user[] = {"crmpulse", "on", (">" REDIS_PW), ACL_KEYS};

        acl_setuser(&r, user, CP_ARRAY_SIZE(user));
    }
    snprintf(redis_url, sizeof(redis_url),
             "redis://crmpulse:" REDIS_PW "@127.0.0.1:%d", r.port);
    snprintf(x_redis, sizeof(x_redis), "redis.url=%s", redis_url);
    /* One secret from the environment. */
    setenv("CRMPULSE_KAFKA_SSL_KEYSTORE_PASSWORD", KEYSTORE_PW, 1);

    rc = h_run(print, out, 30);
    cr_assert_eq(rc, 0);
    text = h_slurp(out);
    cr_assert(strstr(text, "redis.url = redis://crmpulse:***@127.0.0.1:"), "%s",
              text);
    cr_assert(strstr(text, "kafka.sasl.password = ***\n"), "%s", text);
    cr_assert(strstr(text, "kafka.ssl.key.password = ***\n"), "%s", text);
    cr_assert(strstr(text, "kafka.ssl.keystore.password = ***\n"), "%s", text);
    cr_assert(strstr(text, "kafka.sasl.username = crm\n"), "%s", text);
    free(text);
    assert_no_secret(out, "--print-config");

    /* A failing start: SASL_SSL with a CA file that does not exist fails
     * when the Kafka client is created, after Redis connected. */
    print[1] = "-Xhttp.listen="; /* in place of --print-config */
    rc = h_run(print, out, 60);
    text = h_slurp(out);
    cr_assert_eq(rc, 1, "exit %d:\n%s", rc, text);
    cr_assert(strstr(text, "ssl.ca.location"), "%s", text);
    free(text);
    assert_no_secret(out, "a failing start");

    /* Rejected settings: a bad value of a secret Kafka setting and a
     * mistyped -X separator after a Redis password. */
    {
        const char *bad_secret[] = {
            h_bin("crmpulse"),
            "--print-config",
            "-X",
            ("kafka.ssl.key.password=" SSL_KEY_PW),
            "-X",
            ("kafka.sasl.oauthbearer.client.secret=" SASL_PW),
            NULL};
        const char *bad_x[] = {h_bin("crmpulse"), "--print-config", "-X",
                               ("redis.url:redis://u:" REDIS_PW "@h"), NULL};
        const char *bad_url[] = {h_bin("crmpulse"), "--print-config", "-X",
                                 ("redis.url=redis://u:" REDIS_PW "@h:99999"),
                                 NULL};

        /* Rejected where librdkafka lacks OAuth/OIDC, else printed. */
        rc = h_run(bad_secret, out, 30);
        cr_assert(rc == 2 || rc == 0, "exit %d", rc);
        assert_no_secret(out, "a rejected secret setting");
        cr_assert_eq(h_run(bad_x, out, 30), 2);
        assert_no_secret(out, "a mistyped -X");
        cr_assert_eq(h_run(bad_url, out, 30), 2);
        assert_no_secret(out, "a rejected redis.url");
    }
    unsetenv("CRMPULSE_KAFKA_SSL_KEYSTORE_PASSWORD");
    h_redis_stop(&r);
}
