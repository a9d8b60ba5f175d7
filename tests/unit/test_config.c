/* SPDX-License-Identifier: Apache-2.0 */
/* Settings: defaults, precedence of file < env < -X, kafka passthrough,
 * every validation error, file errors with file:line, masked dumps and the
 * argv entries left for the caller. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

/* The new assert API wants a 0/1 int and expands macros in its argument,
 * so plain conditions go through these functions. */
static int truthy(int cond)
{
    return cond != 0;
}

static int falsy(int cond)
{
    return cond == 0;
}

#include "config.h"
#include "log.h"

extern char **environ;

static char errstr[512];
static char file_path[64];

static void assert_str_eq(const char *got, const char *want)
{
    cr_assert(eq(str, (char *)got, (char *)want));
}

static void assert_has(const char *text, const char *part)
{
    cr_assert(truthy(strstr(text, part) != NULL), "\"%s\" not in:\n%s", part,
              text);
}

static void assert_lacks(const char *text, const char *part)
{
    cr_assert(falsy(strstr(text, part) != NULL), "\"%s\" unexpectedly in:\n%s",
              part, text);
}

/* Drops CRMPULSE_* variables the test runner may have inherited. */
static void setup(void)
{
    for (;;) {
        char **e;

        for (e = environ; *e; e++) {
            if (!strncmp(*e, "CRMPULSE_", 9))
                break;
        }
        if (!*e)
            break;
        char name[256];
        size_t len = strcspn(*e, "=");

        snprintf(name, sizeof(name), "%.*s", (int)len, *e);
        unsetenv(name);
    }
    cp_log_level = CP_LOG_INFO;
    errstr[0] = '\0';
    file_path[0] = '\0';
}

static void teardown(void)
{
    if (file_path[0])
        unlink(file_path);
}

TestSuite(config, .init = setup, .fini = teardown, .timeout = 10);

/* Writes a config file for this test; its path is file_path. */
static const char *write_file(const char *text)
{
    int fd;

    snprintf(file_path, sizeof(file_path), "/tmp/cp_config_XXXXXX");
    fd = mkstemp(file_path);
    cr_assert(truthy(fd >= 0));
    cr_assert(eq(sz, (size_t)write(fd, text, strlen(text)), strlen(text)));
    close(fd);
    return file_path;
}

/* Loads from a NULL-terminated argv list (program name added). */
#define LOAD(...)                                                              \
    load_argv((const char *[]){"crmpulse", __VA_ARGS__, NULL}, NULL, NULL)

/* String literals are const under -Wwrite-strings; the loader only reads
 * argv, so the cast is safe. */
static struct cp_config *load_argv(const char **argv, const char **rest,
                                   int *rest_cnt)
{
    int argc = 0;

    while (argv[argc])
        argc++;
    return cp_config_load(argc, (char **)argv, rest, rest_cnt, errstr,
                          sizeof(errstr));
}

static struct cp_config *load_none(void)
{
    const char *argv[] = {"crmpulse", NULL};

    return load_argv(argv, NULL, NULL);
}

/* Expects loading to fail; errstr holds the message. */
#define LOAD_FAILS(...)                                                        \
    do {                                                                       \
        struct cp_config *bad_ = LOAD(__VA_ARGS__);                            \
        cr_assert(truthy(bad_ == NULL), "loaded although it should fail");     \
        cr_assert(truthy(errstr[0] != '\0'));                                  \
    } while (0)

/* Captures cp_config_dump() output. Ownership: caller frees the result. */
static char *dump(const struct cp_config *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);

    cr_assert(truthy(fp != NULL));
    cp_config_dump(cfg, fp);
    fclose(fp);
    return text;
}

/* ---- defaults and precedence ---- */

Test(config, defaults)
{
    struct cp_config *cfg = load_none();

    cr_assert(truthy(cfg != NULL), "%s", errstr);
    assert_str_eq(cfg->kafka_bootstrap, "embedded");
    assert_str_eq(cfg->kafka_group_id, "crmpulse");
    assert_str_eq(cfg->topic_events, "crm.events");
    assert_str_eq(cfg->topic_alerts, "crm.alerts");
    assert_str_eq(cfg->topic_dlq, "crm.events.dlq");
    assert_str_eq(cfg->redis_url, "redis://127.0.0.1:6379");
    assert_str_eq(cfg->redis_prefix, "crm");
    cr_assert(eq(int, cfg->codec_raw, 0));
    cr_assert(eq(int, cfg->batch_max, 20000));
    cr_assert(eq(int, cfg->batch_wait_ms, 5));
    cr_assert(eq(int, cfg->exit_idle_ms, 0));
    cr_assert(eq(i64, cfg->cache_max, 2000000));
    cr_assert(eq(int, cfg->embedded_partitions, 16));
    assert_str_eq(cfg->embedded_bootstrap_file, "");
    cr_assert(eq(int, cfg->log_level, CP_LOG_INFO));
    cr_assert(eq(sz, cfg->kafka_prop_cnt, 0));
    cp_config_destroy(cfg);
}

Test(config, precedence_defaults_file_env_x)
{
    const char *path = write_file("worker.batch.max = 100\n"
                                  "worker.batch.wait.ms = 30\n"
                                  "worker.exit.idle.ms = 5\n"
                                  "topic.events = from.file\n");
    struct cp_config *cfg;

    setenv("CRMPULSE_WORKER_BATCH_MAX", "200", 1);
    setenv("CRMPULSE_WORKER_BATCH_WAIT_MS", "40", 1);
    cfg = LOAD("-X", "worker.batch.max=300", "-c", path);
    cr_assert(truthy(cfg != NULL), "%s", errstr);
    cr_assert(eq(int, cfg->batch_max, 300));    /* -X beats env and file */
    cr_assert(eq(int, cfg->batch_wait_ms, 40)); /* env beats file */
    cr_assert(eq(int, cfg->exit_idle_ms, 5));   /* file beats default */
    assert_str_eq(cfg->topic_events, "from.file");
    cr_assert(eq(int, cfg->embedded_partitions, 16)); /* default */
    cp_config_destroy(cfg);
}

Test(config, later_x_wins_and_both_spellings_work)
{
    struct cp_config *cfg =
        LOAD("-Xworker.batch.max=7", "-X", "worker.batch.max=8",
             "-Xtopic.alerts=a=b", "--config=/dev/null");

    cr_assert(truthy(cfg != NULL), "%s", errstr);
    cr_assert(eq(int, cfg->batch_max, 8));
    assert_str_eq(cfg->topic_alerts, "a=b"); /* split at the first '=' */
    cp_config_destroy(cfg);
}

Test(config, env_names_map_to_settings)
{
    struct cp_config *cfg;

    setenv("CRMPULSE_REDIS_URL", "redis://envhost:7000/3", 1);
    setenv("CRMPULSE_KAFKA_SECURITY_PROTOCOL", "SSL", 1);
    setenv("CRMPULSE_LOG_LEVEL", "debug", 1);
    cfg = load_none();
    cr_assert(truthy(cfg != NULL), "%s", errstr);
    assert_str_eq(cfg->redis_url, "redis://envhost:7000/3");
    cr_assert(eq(sz, cfg->kafka_prop_cnt, 1));
    assert_str_eq(cfg->kafka_props[0].key, "security.protocol");
    assert_str_eq(cfg->kafka_props[0].value, "SSL");
    cr_assert(eq(int, cfg->log_level, CP_LOG_DEBUG));
    cr_assert(eq(int, cp_log_level, CP_LOG_DEBUG)); /* applied on load */
    cp_config_destroy(cfg);
}

Test(config, env_error_names_the_variable)
{
    setenv("CRMPULSE_WORKER_BATCH_MAX", "many", 1);
    cr_assert(truthy(load_none() == NULL));
    assert_has(errstr, "CRMPULSE_WORKER_BATCH_MAX");
    assert_has(errstr, "worker.batch.max: \"many\" is not an integer");

    setenv("CRMPULSE_WORKER_BATCH_MAX", "5", 1);
    setenv("CRMPULSE_REDIS_URI", "redis://h", 1);
    cr_assert(truthy(load_none() == NULL));
    assert_has(errstr, "unknown setting 'redis.uri'; did you mean "
                       "'redis.url'?");
}

/* ---- kafka passthrough ---- */

Test(config, kafka_passthrough_collected_and_overridden)
{
    struct cp_config *cfg;

    setenv("CRMPULSE_KAFKA_SECURITY_PROTOCOL", "SSL", 1);
    cfg = LOAD("-X", "kafka.sasl.mechanism=PLAIN", "-X",
               "kafka.security.protocol=SASL_SSL", "-X",
               "kafka.bootstrap.servers=b1:9092,b2:9092", "-X",
               "kafka.sasl.mechanism=SCRAM-SHA-256");
    cr_assert(truthy(cfg != NULL), "%s", errstr);
    /* Known kafka.* settings land in their fields, not the passthrough. */
    assert_str_eq(cfg->kafka_bootstrap, "b1:9092,b2:9092");
    cr_assert(eq(sz, cfg->kafka_prop_cnt, 2));
    assert_str_eq(cfg->kafka_props[0].key, "security.protocol");
    assert_str_eq(cfg->kafka_props[0].value, "SASL_SSL");
    assert_str_eq(cfg->kafka_props[1].key, "sasl.mechanism");
    assert_str_eq(cfg->kafka_props[1].value, "SCRAM-SHA-256");
    cp_config_destroy(cfg);
}

Test(config, kafka_prefix_alone_is_an_error)
{
    LOAD_FAILS("-X", "kafka.=x");
    assert_has(errstr, "\"kafka.\"");
}

/* ---- validation ---- */

Test(config, non_integer_is_rejected_with_range)
{
    LOAD_FAILS("-X", "worker.batch.max=abc");
    assert_str_eq(errstr, "-X: worker.batch.max: \"abc\" is not an integer "
                          "(1..1000000)");
    LOAD_FAILS("-X", "worker.batch.max=12x");
    assert_has(errstr, "\"12x\" is not an integer");
    LOAD_FAILS("-X", "worker.batch.max=");
    assert_has(errstr, "\"\" is not an integer");
    LOAD_FAILS("-X", "worker.batch.max= 5");
    assert_has(errstr, "is not an integer");
}

Test(config, out_of_range_is_rejected)
{
    LOAD_FAILS("-X", "worker.batch.max=0");
    assert_has(errstr, "worker.batch.max: \"0\" is out of range (1..1000000)");
    LOAD_FAILS("-X", "worker.batch.max=1000001");
    assert_has(errstr, "\"1000001\" is out of range");
    LOAD_FAILS("-X", "worker.batch.wait.ms=-1");
    assert_has(errstr, "worker.batch.wait.ms: \"-1\" is out of range "
                       "(0..10000)");
    LOAD_FAILS("-X", "worker.exit.idle.ms=86400001");
    assert_has(errstr, "worker.exit.idle.ms");
    LOAD_FAILS("-X", "embedded.partitions=1025");
    assert_has(errstr, "embedded.partitions: \"1025\" is out of range "
                       "(1..1024)");
    LOAD_FAILS("-X", "worker.cache.max=999");
    assert_has(errstr, "worker.cache.max: \"999\" is out of range "
                       "(1000..1000000000)");
    LOAD_FAILS("-X", "worker.cache.max=99999999999999999999999");
    assert_has(errstr, "is out of range");
}

Test(config, range_limits_are_inclusive)
{
    struct cp_config *cfg =
        LOAD("-X", "worker.batch.max=1000000", "-X", "worker.batch.wait.ms=0",
             "-X", "worker.cache.max=1000000000", "-X",
             "worker.exit.idle.ms=86400000", "-X", "embedded.partitions=1");

    cr_assert(truthy(cfg != NULL), "%s", errstr);
    cr_assert(eq(int, cfg->batch_max, 1000000));
    cr_assert(eq(int, cfg->batch_wait_ms, 0));
    cr_assert(eq(i64, cfg->cache_max, 1000000000));
    cr_assert(eq(int, cfg->exit_idle_ms, 86400000));
    cr_assert(eq(int, cfg->embedded_partitions, 1));
    cp_config_destroy(cfg);
}

Test(config, enum_values)
{
    struct cp_config *cfg = LOAD("-X", "codec.framing=raw");

    cr_assert(truthy(cfg != NULL), "%s", errstr);
    cr_assert(eq(int, cfg->codec_raw, 1));
    cp_config_destroy(cfg);

    LOAD_FAILS("-X", "codec.framing=avro");
    assert_has(errstr, "codec.framing: \"avro\" is not one of confluent|raw");
}

Test(config, log_level_values)
{
    struct cp_config *cfg = LOAD("-X", "log.level=5");

    cr_assert(truthy(cfg != NULL), "%s", errstr);
    cr_assert(eq(int, cfg->log_level, CP_LOG_NOTICE));
    cr_assert(eq(int, cp_log_level, CP_LOG_NOTICE));
    cp_config_destroy(cfg);

    LOAD_FAILS("-X", "log.level=loud");
    assert_has(errstr, "log.level: \"loud\" is not a log level");
}

Test(config, unknown_key_suggests_the_closest)
{
    LOAD_FAILS("-X", "redis.uri=redis://h");
    assert_str_eq(errstr, "-X: unknown setting 'redis.uri'; did you mean "
                          "'redis.url'?");
    LOAD_FAILS("-X", "worker.batch.size=3");
    assert_has(errstr, "did you mean 'worker.batch.max'?");
    LOAD_FAILS("-X", "totally.different=1");
    assert_str_eq(errstr, "-X: unknown setting 'totally.different' (see "
                          "--help)");
}

/* kafka.* names pass through to librdkafka, except near misses of our own
 * kafka.* settings: kafka.bootstrap.server would otherwise reach librdkafka
 * only after the embedded cluster had started in its place. */
Test(config, kafka_near_miss_of_our_settings_is_rejected)
{
    LOAD_FAILS("-X", "kafka.bootstrap.server=b:9092");
    assert_str_eq(errstr, "-X: unknown setting 'kafka.bootstrap.server'; did "
                          "you mean 'kafka.bootstrap.servers'?");
    LOAD_FAILS("-X", "kafka.bootstap.servers=b:9092");
    assert_has(errstr, "did you mean 'kafka.bootstrap.servers'?");
    LOAD_FAILS("-X", "kafka.group.ids=g");
    assert_has(errstr, "did you mean 'kafka.group.id'?");
    /* Real librdkafka properties still pass through. */
    struct cp_config *cfg = LOAD("-X", "kafka.group.instance.id=w1", "-X",
                                 "kafka.security.protocol=SSL");
    cr_assert(eq(sz, cfg->kafka_prop_cnt, 2));
    cp_config_destroy(cfg);
}

Test(config, log_format_and_progress_interval)
{
    struct cp_config *cfg = load_none();

    cr_assert(eq(int, cfg->log_format, 0));
    cr_assert(eq(int, cfg->progress_interval_s, 10));
    cr_assert(eq(int, cp_log_format, CP_LOG_TEXT));
    cp_config_destroy(cfg);
    cfg = LOAD("-X", "log.format=json", "-X", "log.progress.interval=0");
    cr_assert(eq(int, cfg->log_format, 1));
    cr_assert(eq(int, cfg->progress_interval_s, 0));
    cr_assert(eq(int, cp_log_format, CP_LOG_JSON));
    cp_config_destroy(cfg);
    cp_log_format = CP_LOG_TEXT;
    LOAD_FAILS("-X", "log.format=xml");
    assert_str_eq(errstr, "-X: log.format: \"xml\" is not one of text|json");
    LOAD_FAILS("-X", "log.progress.interval=-1");
    assert_has(errstr, "out of range (0..86400)");
}

Test(config, alert_lines_per_second)
{
    struct cp_config *cfg = load_none();

    cr_assert(eq(int, cfg->log_alerts_per_s, 20));
    cp_config_destroy(cfg);
    cfg = LOAD("-X", "log.alerts.per_s=0");
    cr_assert(eq(int, cfg->log_alerts_per_s, 0));
    cp_config_destroy(cfg);
    LOAD_FAILS("-X", "log.alerts.per_s=-1");
    assert_has(errstr, "out of range (0..1000000)");
}

Test(config, x_without_value_is_an_error)
{
    LOAD_FAILS("-X", "worker.batch.max");
    assert_has(errstr, "expected -X key=value");
    LOAD_FAILS("-X");
    assert_has(errstr, "-X needs key=value");
    LOAD_FAILS("-X", "=5");
    assert_has(errstr, "expected -X key=value");
    LOAD_FAILS("-c");
    assert_has(errstr, "-c needs a file name");
}

static cp_rc set_url(struct cp_config *cfg, const char *url)
{
    return cp_config_set(cfg, "redis.url", url, errstr, sizeof(errstr));
}

Test(config, redis_url_forms)
{
    static const char *const good[] = {
        "redis://h",
        "redis://h:6379/2",
        "redis://u:p@h:1/0",
        "redis://:p@h",
        "redis://10.0.0.5:6380",
        "redis://redis-1.prod.example.com:6379/15",
        "redis://u:p@ss:w/rd@h:6379", /* password may hold '@', ':' and '/' */
        "unix:///tmp/r.sock",
        "unix:///var/run/redis/redis.sock?db=3",
    };
    static const char *const bad[] = {
        "http://x",
        "redis://h:99999",
        "redis://h:0",
        "redis://h:",
        "redis://h:port",
        "redis://",
        "redis://@h",
        "redis://h/x",
        "redis://h/",
        "redis://h?db=1",
        "redis://h h",
        "redis://-h",
        "redis://1.2.3",
        "redis://1.2.3.256",
        "redis:/h",
        "unix://",
        "unix://relative.sock",
        "unix:///tmp/r.sock?db=x",
        "unix:///tmp/r.sock?password=x",
        "",
    };
    struct cp_config *cfg = load_none();

    cr_assert(truthy(cfg != NULL), "%s", errstr);
    for (size_t i = 0; i < CP_ARRAY_SIZE(good); i++) {
        cr_assert(eq(int, set_url(cfg, good[i]), CP_OK), "%s: %s", good[i],
                  errstr);
        assert_str_eq(cfg->redis_url, good[i]);
    }
    for (size_t i = 0; i < CP_ARRAY_SIZE(bad); i++) {
        errstr[0] = '\0';
        cr_assert(eq(int, set_url(cfg, bad[i]), CP_ECONFIG), "%s accepted",
                  bad[i]);
        assert_has(errstr, "redis.url: ");
        /* A rejected value leaves the previous one in place. */
        assert_str_eq(cfg->redis_url, good[CP_ARRAY_SIZE(good) - 1]);
    }
    cp_config_destroy(cfg);
}

Test(config, redis_url_error_names_fix_and_masks_password)
{
    LOAD_FAILS("-X", "redis.url=redis://admin:hunter2@h:99999");
    assert_has(errstr, "redis.url: \"redis://admin:***@h:99999\" port must "
                       "be 1..65535");
    assert_has(errstr, "(use redis://[user[:pass]@]host[:port][/db] or "
                       "unix:///path[?db=N])");
    assert_lacks(errstr, "hunter2");

    LOAD_FAILS("-X", "redis.url=http://x");
    assert_has(errstr, "redis.url: \"http://x\" is not a Redis URL (use ");
}

Test(config, redis_prefix_rules)
{
    struct cp_config *cfg = LOAD("-X", "redis.prefix=crm-test_1.x");

    cr_assert(truthy(cfg != NULL), "%s", errstr);
    assert_str_eq(cfg->redis_prefix, "crm-test_1.x");
    cp_config_destroy(cfg);

    LOAD_FAILS("-X", "redis.prefix=");
    assert_has(errstr, "redis.prefix: \"\" must be 1..32 characters long");
    LOAD_FAILS("-X", "redis.prefix=123456789012345678901234567890123");
    assert_has(errstr, "must be 1..32 characters long");
    LOAD_FAILS("-X", "redis.prefix=a b");
    assert_has(errstr, "redis.prefix: \"a b\" may only hold");
    LOAD_FAILS("-X", "redis.prefix=crm:x");
    assert_has(errstr, "may only hold");
}

Test(config, failed_set_keeps_previous_value)
{
    struct cp_config *cfg = load_none();

    cr_assert(truthy(cfg != NULL), "%s", errstr);
    cr_assert(
        eq(int,
           cp_config_set(cfg, "worker.batch.max", "55", errstr, sizeof(errstr)),
           CP_OK));
    cr_assert(
        eq(int,
           cp_config_set(cfg, "worker.batch.max", "0", errstr, sizeof(errstr)),
           CP_ECONFIG));
    cr_assert(eq(int, cfg->batch_max, 55));
    cr_assert(eq(
        int, cp_config_set(cfg, "codec.framing", "x", errstr, sizeof(errstr)),
        CP_ECONFIG));
    cr_assert(eq(int, cfg->codec_raw, 0));
    cp_config_destroy(cfg);
}

/* ---- config files ---- */

Test(config, file_syntax)
{
    const char *path = write_file("# crmpulse settings\n"
                                  "\n"
                                  "   \t\n"
                                  "  redis.prefix   =   tenant1  \n"
                                  "topic.events=\"quoted.topic\"\n"
                                  "topic.alerts = 'single.quoted'\n"
                                  "kafka.sasl.password = p#ss word\n"
                                  "embedded.bootstrap.file = \"\"\n"
                                  "\t# indented comment\n"
                                  "codec.framing = raw\r\n"
                                  "worker.batch.max = 9"); /* no final \n */
    struct cp_config *cfg = LOAD("-c", path);

    cr_assert(truthy(cfg != NULL), "%s", errstr);
    assert_str_eq(cfg->redis_prefix, "tenant1");
    assert_str_eq(cfg->topic_events, "quoted.topic");
    assert_str_eq(cfg->topic_alerts, "single.quoted");
    assert_str_eq(cfg->embedded_bootstrap_file, "");
    cr_assert(eq(int, cfg->codec_raw, 1));
    cr_assert(eq(int, cfg->batch_max, 9));
    cr_assert(eq(sz, cfg->kafka_prop_cnt, 1));
    assert_str_eq(cfg->kafka_props[0].value, "p#ss word");
    cp_config_destroy(cfg);
}

static void expect_file_error(const char *text, const char *where,
                              const char *what)
{
    const char *path = write_file(text);
    char want[128];

    cr_assert(truthy(LOAD("--config", path) == NULL), "loaded:\n%s", text);
    snprintf(want, sizeof(want), "%s:%s: ", path, where);
    cr_assert(falsy(strncmp(errstr, want, strlen(want))),
              "got \"%s\", want \"%s\"", errstr, want);
    assert_has(errstr, what);
    unlink(path);
}

Test(config, file_errors_name_file_and_line)
{
    expect_file_error("# ok\nredis.prefix = a\nno equals sign here\n", "3",
                      "expected \"key = value\"");
    expect_file_error("\n\nworker.batch.max = abc\n", "3",
                      "worker.batch.max: \"abc\" is not an integer "
                      "(1..1000000)");
    expect_file_error("redis.uri = redis://h\n", "1",
                      "unknown setting 'redis.uri'; did you mean "
                      "'redis.url'?");
    expect_file_error("a = 1\n", "1", "unknown setting 'a'");
    expect_file_error("topic.events = \"open\n", "1",
                      "topic.events: unterminated quote");
    expect_file_error("topic.events = \"\n", "1", "unterminated quote");
    expect_file_error("x\n = 5\n", "1", "expected");
    expect_file_error("worker.batch.max = 1\n = 5\n", "2",
                      "missing setting name");
    expect_file_error("codec.framing = avro\n", "1",
                      "is not one of confluent|raw");
}

Test(config, missing_file_is_an_error)
{
    cr_assert(truthy(LOAD("-c", "/nonexistent/crmpulse.conf") == NULL));
    assert_has(errstr, "/nonexistent/crmpulse.conf");
    assert_has(errstr, "No such file or directory");
}

/* ---- dump and help ---- */

Test(config, dump_lists_every_setting_and_masks_secrets)
{
    struct cp_config *cfg =
        LOAD("-X", "redis.url=redis://admin:hunter2@db.example:6380/4", "-X",
             "kafka.sasl.password=s3cr3t-pw", "-X",
             "kafka.sasl.oauthbearer.config=principal=x token=t0k", "-X",
             "kafka.ssl.key.pem=KEYDATA", "-X",
             "kafka.sasl.oauthbearer.client.secret=cs", "-X",
             "kafka.security.protocol=SASL_SSL");
    char *text;

    cr_assert(truthy(cfg != NULL), "%s", errstr);
    text = dump(cfg);
    assert_has(text, "redis.url = redis://admin:***@db.example:6380/4\n");
    assert_has(text, "kafka.sasl.password = ***\n");
    assert_has(text, "kafka.sasl.oauthbearer.config = ***\n");
    assert_has(text, "kafka.ssl.key.pem = ***\n");
    assert_has(text, "kafka.sasl.oauthbearer.client.secret = ***\n");
    assert_has(text, "kafka.security.protocol = SASL_SSL\n");
    assert_lacks(text, "hunter2");
    assert_lacks(text, "s3cr3t");
    assert_lacks(text, "t0k");
    assert_lacks(text, "KEYDATA");
    assert_has(text, "kafka.bootstrap.servers = embedded\n");
    assert_has(text, "kafka.group.id = crmpulse\n");
    assert_has(text, "topic.events = crm.events\n");
    assert_has(text, "topic.alerts = crm.alerts\n");
    assert_has(text, "topic.dlq = crm.events.dlq\n");
    assert_has(text, "redis.prefix = crm\n");
    assert_has(text, "codec.framing = confluent\n");
    assert_has(text, "worker.batch.max = 20000\n");
    assert_has(text, "worker.batch.wait.ms = 5\n");
    assert_has(text, "worker.exit.idle.ms = 0\n");
    assert_has(text, "worker.cache.max = 2000000\n");
    assert_has(text, "embedded.partitions = 16\n");
    assert_has(text, "embedded.bootstrap.file = \"\"\n");
    assert_has(text, "log.level = info\n");
    free(text);
    cp_config_destroy(cfg);
}

Test(config, dump_masks_a_lone_redis_secret)
{
    struct cp_config *cfg = LOAD("-X", "redis.url=redis://t0ken@h");
    char *text;

    cr_assert(truthy(cfg != NULL), "%s", errstr);
    text = dump(cfg);
    assert_has(text, "redis.url = redis://***@h\n");
    assert_lacks(text, "t0ken");
    free(text);
    cp_config_destroy(cfg);
}

Test(config, help_shows_names_defaults_ranges_and_docs)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);

    cr_assert(truthy(fp != NULL));
    cp_config_print_help(fp);
    fclose(fp);
    assert_has(text, "kafka.bootstrap.servers");
    assert_has(text, "'embedded' starts an in-process mock cluster (not "
                     "durable)");
    assert_has(text, "kafka.<property>");
    assert_has(text, "\nredis:\n");
    assert_has(text, "\nworker:\n");
    assert_has(text, "redis://127.0.0.1:6379");
    assert_has(text, "(1..1000000)");
    assert_has(text, "(1000..1000000000)");
    assert_has(text, "(confluent|raw)");
    assert_has(text, "exit 0 after this long without input; 0 = run until "
                     "SIGTERM");
    assert_has(text, "entity states kept in memory");
    assert_has(text, "log.level");
    free(text);
}

/* ---- argv left for the caller ---- */

Test(config, rest_keeps_other_arguments_in_order)
{
    const char *path = write_file("redis.prefix = p\n");
    const char *argv[] = {"crmpulse",
                          "--events",
                          "5",
                          "-c",
                          path,
                          "--help",
                          "-X",
                          "worker.batch.max=3",
                          "-Xtopic.dlq=d",
                          "--version",
                          "--",
                          "-X",
                          "not.applied=1",
                          NULL};
    const char *rest[CP_ARRAY_SIZE(argv)];
    int rest_cnt = -1;
    struct cp_config *cfg = load_argv(argv, rest, &rest_cnt);

    cr_assert(truthy(cfg != NULL), "%s", errstr);
    cr_assert(eq(int, rest_cnt, 7));
    assert_str_eq(rest[0], "--events");
    assert_str_eq(rest[1], "5");
    assert_str_eq(rest[2], "--help");
    assert_str_eq(rest[3], "--version");
    assert_str_eq(rest[4], "--");
    assert_str_eq(rest[5], "-X");
    assert_str_eq(rest[6], "not.applied=1");
    cr_assert(
        eq(ptr, (void *)rest[1], (void *)argv[2])); /* borrowed, not copied */
    assert_str_eq(cfg->redis_prefix, "p");
    cr_assert(eq(int, cfg->batch_max, 3));
    assert_str_eq(cfg->topic_dlq, "d");
    cp_config_destroy(cfg);
}

Test(config, rest_may_be_null)
{
    struct cp_config *cfg = LOAD("--help", "-X", "worker.batch.max=4");

    cr_assert(truthy(cfg != NULL), "%s", errstr);
    cr_assert(eq(int, cfg->batch_max, 4));
    cp_config_destroy(cfg);
}

Test(config, destroy_accepts_null)
{
    cp_config_destroy(NULL);
}

/* The board's token and currency lists are checked at start, with the fix
 * in the message; a token is a secret: never shown by --print-config. */
Test(config, board_tokens_and_currencies_are_checked)
{
    struct cp_config *cfg;
    char *dump = NULL;
    size_t dump_len = 0;
    FILE *f;

    cr_assert(truthy(LOAD("-X", "board.token=short") == NULL));
    assert_has(errstr, "16 or more");
    cr_assert(truthy(LOAD("-X", "board.token=0123456789abcdef/x") == NULL));
    assert_has(errstr, "[A-Za-z0-9._~-]");
    cr_assert(truthy(LOAD("-X", "board.token=0123456789abcdef@bad}t") == NULL));
    assert_has(errstr, "tenant id");
    cr_assert(truthy(LOAD("-X", "board.currency=acme:eur") == NULL));
    assert_has(errstr, "ISO 4217");
    cr_assert(truthy(LOAD("-X", "board.currency=acme:EURO") == NULL));
    cr_assert(truthy(LOAD("-X", "board.thresholds=speed>3") == NULL));
    assert_has(errstr, "KPI>NUMBER");
    cr_assert(truthy(LOAD("-X", "board.thresholds=missed>ten") == NULL));
    assert_has(errstr, "not a number");
    cfg = LOAD("-X", "board.thresholds=rt_avg_s>3600, repeat<0.2");
    cr_assert(truthy(cfg != NULL), "%s", errstr);
    cp_config_destroy(cfg);
    cfg = LOAD("-X", "board.token=0123456789abcdef, tv-acme-0123456789@acme",
               "-X", "board.currency=acme:EUR, *:USD", "-X", "board.lang=uk");
    cr_assert(truthy(cfg != NULL), "%s", errstr);
    cr_assert(eq(int, cfg->board_lang, 2));
    f = open_memstream(&dump, &dump_len);
    cp_config_dump(cfg, f);
    fclose(f);
    assert_lacks(dump, "0123456789abcdef");
    free(dump);
    cp_config_destroy(cfg);
}
