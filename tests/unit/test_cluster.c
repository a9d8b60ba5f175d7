/* SPDX-License-Identifier: Apache-2.0 */
/* The slot router's pure parts: the CRC16 and hash-tag rules of the Redis
 * Cluster specification, and the redis.cluster.nodes check. Routing and
 * redirections against a real cluster: tests/integration/test_cluster.c. */
#include <criterion/criterion.h>
#include <string.h>

#include "cluster.h"
#include "config.h"
#include "url.h"

TestSuite(cluster, .timeout = 10);

static unsigned slot_of(const char *key)
{
    return cp_cluster_keyslot(key, strlen(key));
}

Test(cluster, crc16_matches_the_specification_vectors)
{
    /* The cluster specification's reference: XMODEM, "123456789". */
    cr_assert_eq(cp_cluster_crc16("123456789", 9), 0x31C3);
    cr_assert_eq(cp_cluster_crc16("", 0), 0);
    cr_assert_eq(cp_cluster_crc16("A", 1), 0x58E5);
}

Test(cluster, keyslot_is_crc16_mod_16384)
{
    /* Values CLUSTER KEYSLOT returns (checked against redis-server 7.0 in
     * the integration test as well). */
    cr_assert_eq(slot_of("123456789"), 0x31C3 % 16384);
    cr_assert_eq(slot_of("foo"), 12182);
    cr_assert_eq(slot_of("bar"), 5061);
    cr_assert_eq(slot_of("hello"), 866);
}

Test(cluster, hash_tags_follow_the_specification)
{
    /* The part inside the first {...} is hashed when it is not empty. */
    cr_assert_eq(slot_of("{user1000}.following"), slot_of("user1000"));
    cr_assert_eq(slot_of("{user1000}.followers"), slot_of("user1000"));
    cr_assert_eq(slot_of("foo{bar}{zap}"), slot_of("bar"));
    cr_assert_eq(slot_of("foo{{bar}}zap"), slot_of("{bar"));
    /* "{}" or an unclosed '{': the whole key. */
    cr_assert_eq(slot_of("foo{}{bar}"),
                 cp_cluster_crc16("foo{}{bar}", 10) % 16384);
    cr_assert_eq(slot_of("foo{bar"), cp_cluster_crc16("foo{bar", 7) % 16384);
    /* A tenant's keys share one slot whatever follows the tag. */
    cr_assert_eq(slot_of("crm:{acme}:applied:g1"),
                 slot_of("crm:{acme}:state:customers"));
    cr_assert_neq(slot_of("crm:{acme}:x"), slot_of("crm:{globex}:x"));
    /* Binary keys: the length counts, not a NUL. */
    cr_assert_eq(cp_cluster_keyslot("a\0b", 3),
                 cp_cluster_crc16("a\0b", 3) % 16384);
}

Test(cluster, nodes_setting_is_checked)
{
    char errstr[256];

    cr_assert_eq(
        cp_cluster_nodes_check("127.0.0.1:7000", errstr, sizeof(errstr)), 0,
        "%s", errstr);
    cr_assert_eq(cp_cluster_nodes_check(" a:1, b-2.example:65535 ,", errstr,
                                        sizeof(errstr)),
                 0, "%s", errstr);
    cr_assert_eq(cp_cluster_nodes_check("127.0.0.1", errstr, sizeof(errstr)),
                 -1);
    cr_assert(strstr(errstr, "host:port"), "%s", errstr);
    cr_assert_eq(cp_cluster_nodes_check("h:0", errstr, sizeof(errstr)), -1);
    cr_assert_eq(cp_cluster_nodes_check("h:65536", errstr, sizeof(errstr)), -1);
    cr_assert_eq(cp_cluster_nodes_check(":7000", errstr, sizeof(errstr)), -1);
    cr_assert_eq(cp_cluster_nodes_check("h:7x", errstr, sizeof(errstr)), -1);
    cr_assert_eq(cp_cluster_nodes_check(" , ", errstr, sizeof(errstr)), -1);
    cr_assert(strstr(errstr, "no node"), "%s", errstr);
}

Test(cluster, router_without_a_cluster_fails_with_the_setting_named)
{
    char errstr[256];
    struct cp_cluster *cl;
    struct cp_cmds cmds;

    cr_assert_null(
        cp_cluster_new("nonsense", NULL, 100, errstr, sizeof(errstr)));
    cr_assert(strstr(errstr, "redis.cluster.nodes"), "%s", errstr);
    /* Port 1 on loopback: nothing listens; the error names the node. */
    cl = cp_cluster_new("127.0.0.1:1", NULL, 200, errstr, sizeof(errstr));
    cr_assert_not_null(cl, "%s", errstr);
    cp_cmds_init(&cmds);
    cp_cmd_begin(&cmds, 2);
    cp_cmd_str(&cmds, "GET");
    cp_cmd_str(&cmds, "k");
    cr_assert_eq(cp_cluster_run(cl, &cmds, NULL, NULL), CP_EREDIS);
    cr_assert(strstr(cp_cluster_errstr(cl), "127.0.0.1:1"), "%s",
              cp_cluster_errstr(cl));
    cr_assert_eq(cp_cluster_masters(cl), 0);
    cp_cmds_cleanup(&cmds);
    cp_cluster_destroy(cl);
}

Test(cluster, setting_is_off_by_default_and_checked_by_the_router)
{
    char *argv[] = {(char *)"crmpulse", NULL};
    char errstr[512];
    struct cp_config *cfg =
        cp_config_load(1, argv, NULL, NULL, errstr, sizeof(errstr));

    cr_assert_not_null(cfg, "%s", errstr);
    cr_assert_str_eq(cfg->redis_cluster_nodes, "");
    cr_assert_eq(cp_config_set(cfg, "redis.cluster.nodes",
                               "127.0.0.1:7000,127.0.0.1:7001", errstr,
                               sizeof(errstr)),
                 CP_OK, "%s", errstr);
    cr_assert_str_eq(cfg->redis_cluster_nodes, "127.0.0.1:7000,127.0.0.1:7001");
    cr_assert_neq(cp_config_set(cfg, "redis.cluster.nodes", "127.0.0.1", errstr,
                                sizeof(errstr)),
                  CP_OK);
    cr_assert(strstr(errstr, "redis.cluster.nodes"), "%s", errstr);
    cr_assert(strstr(errstr, "host:port"), "%s", errstr);
    cp_config_destroy(cfg);
}

Test(cluster, url_for_a_cluster_refuses_a_database_or_a_socket)
{
    struct cp_redis_url url;
    char errstr[256];

    cr_assert_eq(
        cp_redis_url_parse("redis://u:pw@h/3", &url, errstr, sizeof(errstr)),
        CP_OK);
    cr_assert_eq(
        cp_redis_url_set_cluster(&url, "h:7000", errstr, sizeof(errstr)),
        CP_ECONFIG);
    cr_assert(strstr(errstr, "database 0"), "%s", errstr);
    cr_assert_null(strstr(errstr, "pw"), "%s", errstr);
    cp_redis_url_cleanup(&url);

    cr_assert_eq(cp_redis_url_parse("redis://h", &url, errstr, sizeof(errstr)),
                 CP_OK);
    cr_assert_eq(
        cp_redis_url_set_cluster(&url, "h:7000,h:7001", errstr, sizeof(errstr)),
        CP_OK, "%s", errstr);
    cr_assert_str_eq(url.cluster_nodes, "h:7000,h:7001");
    cr_assert_eq(cp_redis_url_set_cluster(&url, "", errstr, sizeof(errstr)),
                 CP_OK);
    cr_assert_null(url.cluster_nodes);
    cp_redis_url_cleanup(&url);
}
