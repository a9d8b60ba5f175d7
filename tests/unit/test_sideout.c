/* SPDX-License-Identifier: Apache-2.0 */
/* Side outputs alone against the embedded Kafka: dead letters and alerts
 * land on their topics once settled, a dead letter too large for the
 * producer lands cut with the reason saying so, and settling with nothing
 * sent is free. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "codec.h"
#include "config.h"
#include "kafka.h"
#include "sideout.h"

static struct cp_embedded *emb;
static struct cp_codec *codec;

static void start(void)
{
    const char *topics[] = {"crm.events.dlq", "crm.alerts"};
    char errstr[512];

    emb = cp_embedded_new(1, topics, 2, errstr, sizeof(errstr));
    cr_assert_not_null(emb, "%s", errstr);
    codec = cp_codec_new(CP_FRAMING_CONFLUENT, errstr, sizeof(errstr));
    cr_assert_not_null(codec, "%s", errstr);
}

static void stop(void)
{
    cp_codec_destroy(codec);
    cp_embedded_destroy(emb);
}

TestSuite(sideout, .init = start, .fini = stop, .timeout = 120);

static struct cp_producer *producer(const char *max_bytes)
{
    char key[] = "message.max.bytes", value[32];
    struct cp_kv prop = {key, value};
    char errstr[512];
    struct cp_producer *prod;

    snprintf(value, sizeof(value), "%s", max_bytes ? max_bytes : "");
    prod = cp_producer_new(cp_embedded_bootstrap(emb), max_bytes ? &prop : NULL,
                           max_bytes ? 1 : 0, errstr, sizeof(errstr));

    cr_assert_not_null(prod, "%s", errstr);
    return prod;
}

/* Reads the records of @p topic into @p out (copies of the values, at most
 * @p cap) until @p expected came and then 2 s passed without another (or
 * 30 s without any); returns the count. */
static size_t read_topic(const char *topic, char **out, size_t *lens,
                         size_t cap, size_t expected)
{
    struct cp_consumer_callbacks cbs = {NULL, NULL, NULL};
    char errstr[512], group[64];
    struct cp_consumer *cons;
    struct cp_msg msgs[64];
    size_t got = 0;
    int quiet_ms = 0;

    snprintf(group, sizeof(group), "read-%s-%d", topic, (int)getpid());
    cons = cp_consumer_new(cp_embedded_bootstrap(emb), group, topic, NULL, 0,
                           &cbs, errstr, sizeof(errstr));
    cr_assert_not_null(cons, "%s", errstr);
    while (quiet_ms < (got >= expected ? 2000 : 30000)) {
        size_t n = cp_consumer_poll(cons, msgs, 64, 100);

        quiet_ms = n ? 0 : quiet_ms + 100;
        for (size_t i = 0; i < n && got < cap; i++) {
            out[got] = malloc(msgs[i].value_len);
            cr_assert_not_null(out[got]);
            memcpy(out[got], msgs[i].value, msgs[i].value_len);
            lens[got++] = msgs[i].value_len;
        }
    }
    cp_consumer_destroy(cons);
    return got;
}

static struct cp_msg bad_message(const char *value, size_t len, int64_t off)
{
    struct cp_msg m;

    memset(&m, 0, sizeof(m));
    m.topic = "crm.events";
    m.partition = 3;
    m.offset = off;
    m.key = "t1:c1";
    m.key_len = 5;
    m.value = value;
    m.value_len = len;
    return m;
}

Test(sideout, dead_letters_and_alerts_land_once_settled)
{
    struct cp_producer *prod = producer(NULL);
    struct cp_sideout *so =
        cp_sideout_new(codec, prod, "crm.events.dlq", "crm.alerts");
    struct cp_msg m = bad_message("\x01garbage", 8, 41);
    struct cp_alert_reason why = {"no_orders", 0.5, "no order yet"};
    struct cp_alert a = {
        .alert_id = "a1b2",
        .kind = CP_ALERT_CHURN_RISK,
        .tenant_id = "t1",
        .customer_id = "c1",
        .level = CP_ALERT_HIGH,
        .risk_score = 0.8,
        .reasons = &why,
        .reason_cnt = 1,
        .event_time = 1700000000000,
        .emitted_at = 1700000000001,
        .model_version = "test",
    };
    char *vals[8];
    size_t lens[8], n;
    struct cp_arena arena;
    struct cp_dead_letter dl;
    char reason[256];

    cr_assert_not_null(so);
    cr_assert_eq(cp_sideout_dead_letter(so, &m, "bad framing: test"), CP_OK);
    cr_assert_eq(cp_sideout_alert(so, &a, "t1:c1"), CP_OK);
    cr_assert_eq(cp_sideout_pending(so), 2);
    cr_assert_eq(cp_sideout_settle(so, 30000), CP_OK);
    cr_assert_eq(cp_sideout_pending(so), 0);
    cp_arena_init(&arena, 0);
    n = read_topic("crm.events.dlq", vals, lens, 8, 1);
    cr_assert_eq(n, 1);
    cr_assert_eq(cp_codec_decode_dead_letter(codec, vals[0], lens[0], &arena,
                                             &dl, reason, sizeof(reason)),
                 CP_OK, "%s", reason);
    cr_assert_eq(dl.partition, 3);
    cr_assert_eq(dl.offset, 41);
    cr_assert_eq(dl.value_len, 8);
    cr_assert_str_eq(dl.reason, "bad framing: test");
    free(vals[0]);
    n = read_topic("crm.alerts", vals, lens, 8, 1);
    cr_assert_eq(n, 1);
    free(vals[0]);
    cp_arena_cleanup(&arena);
    cp_sideout_destroy(so);
    cp_producer_destroy(prod);
}

Test(sideout, an_oversized_dead_letter_lands_cut_with_the_reason_saying_so)
{
    enum { BIG = 50000 };
    struct cp_producer *prod = producer("20000");
    struct cp_sideout *so =
        cp_sideout_new(codec, prod, "crm.events.dlq", "crm.alerts");
    char *big = malloc(BIG);
    struct cp_msg m;
    char *vals[8];
    size_t lens[8], n, found = 0;
    struct cp_arena arena;
    char reason[256];

    cr_assert_not_null(big);
    memset(big, 0x7f, BIG);
    m = bad_message(big, BIG, 99);
    cr_assert_eq(cp_sideout_dead_letter(so, &m, "too big"), CP_OK);
    cr_assert_eq(cp_sideout_settle(so, 30000), CP_OK);
    cp_arena_init(&arena, 0);
    n = read_topic("crm.events.dlq", vals, lens, 8, 1);
    for (size_t i = 0; i < n; i++) {
        struct cp_dead_letter dl;

        cr_assert_eq(cp_codec_decode_dead_letter(codec, vals[i], lens[i],
                                                 &arena, &dl, reason,
                                                 sizeof(reason)),
                     CP_OK, "%s", reason);
        if (dl.offset == 99) {
            found++;
            cr_assert_lt(lens[i], 20000);
            cr_assert_lt(dl.value_len, BIG);
            cr_assert(strstr(dl.reason, "too big (dead letter truncated") ==
                          dl.reason,
                      "reason: %s", dl.reason);
        }
        free(vals[i]);
    }
    cr_assert_eq(found, 1);
    free(big);
    cp_arena_cleanup(&arena);
    cp_sideout_destroy(so);
    cp_producer_destroy(prod);
}

Test(sideout, settling_with_nothing_sent_is_free)
{
    struct cp_producer *prod = producer(NULL);
    struct cp_sideout *so =
        cp_sideout_new(codec, prod, "crm.events.dlq", "crm.alerts");

    cr_assert_eq(cp_sideout_pending(so), 0);
    cr_assert_eq(cp_sideout_settle(so, 0), CP_OK);
    cp_sideout_destroy(so);
    cp_producer_destroy(prod);
}
