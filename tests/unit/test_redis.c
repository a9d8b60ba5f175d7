/* SPDX-License-Identifier: Apache-2.0 */
/* The Redis layer against a real redis-server: URL forms (database, unix
 * socket, password, ACL user), the errors an operator must be able to act
 * on (NOAUTH, wrong password), reconnection, and what a transaction's
 * replies amount to (queued errors, errors inside EXEC, a WATCH abort). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "fixtures.h"
#include "resp.h"
#include "store.h"

TestSuite(redis, .timeout = 30);

static char errstr[1024];

/* Connects to "<head>127.0.0.1:<port of r><tail>". */
static struct cp_store *connect_url(const char *head, const struct fx_redis *r,
                                    const char *tail)
{
    char url[900];

    snprintf(url, sizeof(url), "%s127.0.0.1:%d%s", head, r->port, tail);
    return cp_store_new(url, errstr, sizeof(errstr));
}

/* What one roundtrip's replies were, as text ("S:v" "I:3" "N" "E:..."). */
struct seen {
    char text[8][128];
    size_t cnt;
};

static void describe(const struct cp_reply *reply, char *out, size_t size)
{
    switch (reply->type) {
    case CP_REPLY_STRING:
    case CP_REPLY_STATUS:
        snprintf(out, size, "S:%.*s", (int)reply->len, reply->str);
        return;
    case CP_REPLY_ERROR:
        snprintf(out, size, "E:%.*s", (int)reply->len, reply->str);
        return;
    case CP_REPLY_INTEGER:
        snprintf(out, size, "I:%lld", (long long)reply->integer);
        return;
    case CP_REPLY_ARRAY: {
        size_t len = (size_t)snprintf(out, size, "A%zu", reply->elements);

        for (size_t i = 0; i < reply->elements && len < size; i++) {
            struct cp_reply elem;
            char one[64];

            cp_reply_element(reply, i, &elem);
            describe(&elem, one, sizeof(one));
            len += (size_t)snprintf(out + len, size - len, "|%s", one);
        }
        return;
    }
    case CP_REPLY_NIL:
        snprintf(out, size, "N");
        return;
    }
}

static cp_rc on_reply(void *opaque, size_t i, const struct cp_reply *reply)
{
    struct seen *seen = opaque;

    cr_assert_eq(i, seen->cnt, "replies come in order");
    if (seen->cnt < CP_ARRAY_SIZE(seen->text))
        describe(reply, seen->text[seen->cnt++], sizeof(seen->text[0]));
    return CP_OK;
}

/* Builds one command from space-separated words. */
static void cmd(struct cp_cmds *cmds, const char *line)
{
    char copy[256];
    const char *words[16];
    int n = 0;

    snprintf(copy, sizeof(copy), "%s", line);
    for (char *w = strtok(copy, " "); w && n < 16; w = strtok(NULL, " "))
        words[n++] = w;
    cp_cmd_begin(cmds, n);
    for (int i = 0; i < n; i++)
        cp_cmd_str(cmds, words[i]);
}

static cp_rc run(struct cp_store *st, struct seen *seen,
                 const char *const *lines, size_t cnt)
{
    struct cp_cmds cmds;
    cp_rc rc;

    memset(seen, 0, sizeof(*seen));
    cp_cmds_init(&cmds);
    for (size_t i = 0; i < cnt; i++)
        cmd(&cmds, lines[i]);
    rc = cp_store_roundtrip(st, &cmds, on_reply, seen);
    cp_cmds_cleanup(&cmds);
    return rc;
}

Test(redis, round_trip_in_order_with_array_elements)
{
    static const char *const lines[] = {"SET a 1", "INCR a", "GET a",
                                        "MGET a nope", "GET nope"};
    struct fx_redis r;
    struct cp_store *st;
    struct seen seen;

    fx_redis_start(&r, NULL);
    st = connect_url("redis://", &r, "");
    cr_assert_not_null(st, "%s", errstr);
    cr_assert_eq(run(st, &seen, lines, CP_ARRAY_SIZE(lines)), CP_OK, "%s",
                 cp_store_errstr(st));
    cr_assert_eq(seen.cnt, 5);
    cr_assert_str_eq(seen.text[0], "S:OK");
    cr_assert_str_eq(seen.text[1], "I:2");
    cr_assert_str_eq(seen.text[2], "S:2");
    cr_assert_str_eq(seen.text[3], "A2|S:2|N");
    cr_assert_str_eq(seen.text[4], "N");
    cp_store_destroy(st);
    fx_redis_stop(&r);
}

Test(redis, database_of_the_url_is_selected)
{
    static const char *const set[] = {"SET k in-db-5"};
    static const char *const get[] = {"GET k"};
    struct fx_redis r;
    struct cp_store *db5, *db0, *sock5;
    struct seen seen;
    char url[700];

    fx_redis_start(&r, NULL);
    db5 = connect_url("redis://", &r, "/5");
    db0 = connect_url("redis://", &r, "");
    snprintf(url, sizeof(url), "unix://%s?db=5", r.sock);
    sock5 = cp_store_new(url, errstr, sizeof(errstr));
    cr_assert(db5 && db0 && sock5, "%s", errstr);
    cr_assert_str_eq(cp_store_address(sock5) + strlen("unix:"), r.sock);
    cr_assert_eq(run(db5, &seen, set, 1), CP_OK);
    cr_assert_eq(run(db0, &seen, get, 1), CP_OK);
    cr_assert_str_eq(seen.text[0], "N", "db 0 must not see db 5's key");
    cr_assert_eq(run(sock5, &seen, get, 1), CP_OK);
    cr_assert_str_eq(seen.text[0], "S:in-db-5");
    cp_store_destroy(db5);
    cp_store_destroy(db0);
    cp_store_destroy(sock5);
    fx_redis_stop(&r);
}

Test(redis, password_and_acl_user_forms_authenticate)
{
    static const char *const extra[] = {
        "--requirepass", "hunter2", "--user", "alice", "on",
        ">s3cret",       "~*",      "&*",     "+@all", NULL};
    static const char *const set[] = {"SET k v"};
    struct fx_redis r;
    struct cp_store *st;
    struct seen seen;

    fx_redis_start(&r, extra);
    st = connect_url("redis://:hunter2@", &r, "");
    cr_assert_not_null(st, "%s", errstr);
    cr_assert_eq(run(st, &seen, set, 1), CP_OK);
    cp_store_destroy(st);
    st = connect_url("redis://hunter2@", &r, "");
    cr_assert_not_null(st, "a lone user info is the password: %s", errstr);
    cp_store_destroy(st);
    st = connect_url("redis://alice:s3cret@", &r, "");
    cr_assert_not_null(st, "%s", errstr);
    cr_assert_eq(run(st, &seen, set, 1), CP_OK);
    cp_store_destroy(st);
    fx_redis_stop(&r);
}

Test(redis, noauth_is_reported_at_connect_with_the_fix)
{
    static const char *const extra[] = {"--requirepass", "hunter2", NULL};
    struct fx_redis r;

    fx_redis_start(&r, extra);
    cr_assert_null(connect_url("redis://", &r, ""));
    cr_assert_not_null(strstr(errstr, "NOAUTH"), "%s", errstr);
    cr_assert_not_null(strstr(errstr, "redis.url has no password"), "%s",
                       errstr);
    cr_assert_not_null(strstr(errstr, "redis://user:pass@host"), "%s", errstr);

    cr_assert_null(connect_url("redis://:wrongpw@", &r, ""));
    cr_assert_not_null(strstr(errstr, "password in redis.url is wrong"), "%s",
                       errstr);
    cr_assert_null(strstr(errstr, "wrongpw"), "password echoed: %s", errstr);
    fx_redis_stop(&r);
}

/* Redis reconfigured under a running worker: the next connection must say
 * why it is refused, not just fail. */
Test(redis, noauth_after_reconnect_names_the_fix)
{
    static const char *const ping[] = {"PING"};
    struct fx_redis r;
    struct cp_store *st;
    struct seen seen;
    char reply[256];
    uint64_t conn;

    fx_redis_start(&r, NULL);
    st = connect_url("redis://", &r, "");
    cr_assert_not_null(st, "%s", errstr);
    conn = cp_store_connection_id(st);
    /* Our connection dropped, then Redis wants a password: the store
     * notices the dead connection and connects again. */
    cr_assert_eq(
        fx_redis_cmd(&r, "CLIENT KILL TYPE normal", reply, sizeof(reply)), 0);
    cr_assert_eq(fx_redis_cmd(&r, "CONFIG SET requirepass hunter2", reply,
                              sizeof(reply)),
                 0);
    cr_assert_str_eq(reply, "+OK");
    cr_assert_eq(run(st, &seen, ping, 1), CP_EREDIS);
    cr_assert_eq(run(st, &seen, ping, 1), CP_EREDIS);
    cr_assert_not_null(strstr(cp_store_errstr(st), "NOAUTH"), "%s",
                       cp_store_errstr(st));
    cr_assert_not_null(strstr(cp_store_errstr(st), "redis.url has no password"),
                       "%s", cp_store_errstr(st));
    cr_assert_eq(cp_store_connection_id(st), conn, "no usable connection");
    cp_store_destroy(st);
    fx_redis_stop(&r);
}

Test(redis, reconnects_after_the_connection_is_killed)
{
    static const char *const ping[] = {"PING"};
    struct fx_redis r;
    struct cp_store *st;
    struct seen seen;
    char reply[256];
    uint64_t conn;

    fx_redis_start(&r, NULL);
    st = connect_url("redis://", &r, "");
    cr_assert_not_null(st, "%s", errstr);
    conn = cp_store_connection_id(st);
    cr_assert_eq(
        fx_redis_cmd(&r, "CLIENT KILL TYPE normal", reply, sizeof(reply)), 0);
    /* The first command finds the connection dead (and drops it)... */
    cr_assert_eq(run(st, &seen, ping, 1), CP_EREDIS);
    /* ...the next one connects again: WATCHes are gone, so the id moved. */
    cr_assert_eq(run(st, &seen, ping, 1), CP_OK, "%s", cp_store_errstr(st));
    cr_assert_str_eq(seen.text[0], "S:PONG");
    cr_assert_gt(cp_store_connection_id(st), conn);
    cp_store_destroy(st);
    fx_redis_stop(&r);
}

static void send_lines(struct cp_store *st, const char *const *lines,
                       size_t cnt)
{
    struct cp_cmds cmds;

    cp_cmds_init(&cmds);
    for (size_t i = 0; i < cnt; i++)
        cmd(&cmds, lines[i]);
    cr_assert_eq(cp_store_send(st, &cmds), CP_OK, "%s", cp_store_errstr(st));
    cr_assert_eq(cp_store_pending(st), cnt);
    cp_cmds_cleanup(&cmds);
}

Test(redis, transaction_errors_inside_exec_are_counted)
{
    static const char *const setup[] = {"SET s text", "DEL l"};
    static const char *const tx[] = {"INCR n",    "MULTI",  "SET a 1", "INCR s",
                                     "LPUSH s x", "INCR a", "EXEC"};
    struct fx_redis r;
    struct cp_store *st;
    struct cp_tx_result res;
    struct seen seen;
    static const char *const get[] = {"GET a"};

    fx_redis_start(&r, NULL);
    st = connect_url("redis://", &r, "");
    cr_assert_not_null(st, "%s", errstr);
    cr_assert_eq(run(st, &seen, setup, 2), CP_OK);
    send_lines(st, tx, CP_ARRAY_SIZE(tx));
    cr_assert_eq(cp_store_finish_tx(st, &res), CP_OK);
    cr_assert_eq(cp_store_pending(st), 0);
    cr_assert_eq(res.aborted, 0);
    cr_assert_eq(res.errors, 2, "INCR and LPUSH on a string: %zu", res.errors);
    cr_assert(strstr(res.error, "not an integer"), "first error: %s",
              res.error);
    cr_assert_eq(res.exec_errors, 2, "both inside EXEC: the rest applied");
    cr_assert_eq(res.error_cmd, 3, "INCR s is command 3 of the batch: %zu",
                 res.error_cmd);
    /* Redis does not roll back: the other commands ran. */
    cr_assert_eq(run(st, &seen, get, 1), CP_OK);
    cr_assert_str_eq(seen.text[0], "S:2");
    cp_store_destroy(st);
    fx_redis_stop(&r);
}

Test(redis, queued_error_aborts_the_transaction)
{
    static const char *const tx[] = {"MULTI", "SET a 1", "NOSUCHCOMMAND",
                                     "EXEC"};
    static const char *const get[] = {"GET a"};
    struct fx_redis r;
    struct cp_store *st;
    struct cp_tx_result res;
    struct seen seen;

    fx_redis_start(&r, NULL);
    st = connect_url("redis://", &r, "");
    cr_assert_not_null(st, "%s", errstr);
    send_lines(st, tx, CP_ARRAY_SIZE(tx));
    cr_assert_eq(cp_store_finish_tx(st, &res), CP_OK);
    cr_assert_eq(res.errors, 2, "the unknown command and EXECABORT: %zu",
                 res.errors);
    cr_assert(strstr(res.error, "unknown command"), "%s", res.error);
    cr_assert_eq(res.exec_errors, 0, "EXECABORT: nothing applied");
    cr_assert_eq(res.error_cmd, 2, "%zu", res.error_cmd);
    cr_assert_eq(run(st, &seen, get, 1), CP_OK);
    cr_assert_str_eq(seen.text[0], "N", "nothing of an aborted EXEC ran");
    cp_store_destroy(st);
    fx_redis_stop(&r);
}

Test(redis, watched_key_changed_aborts_exec)
{
    static const char *const watch[] = {"WATCH fence"};
    static const char *const tx[] = {"MULTI", "SET a 1", "EXEC"};
    static const char *const get[] = {"GET a"};
    struct fx_redis r;
    struct cp_store *st;
    struct cp_tx_result res;
    struct seen seen;
    char reply[256];

    fx_redis_start(&r, NULL);
    st = connect_url("redis://", &r, "");
    cr_assert_not_null(st, "%s", errstr);
    cr_assert_eq(run(st, &seen, watch, 1), CP_OK);
    /* Another client (a new owner) bumps the watched key. */
    cr_assert_eq(fx_redis_cmd(&r, "INCR fence", reply, sizeof(reply)), 0);
    cr_assert_str_eq(reply, ":1");
    send_lines(st, tx, CP_ARRAY_SIZE(tx));
    cr_assert_eq(cp_store_finish_tx(st, &res), CP_OK);
    cr_assert_eq(res.aborted, 1);
    cr_assert_eq(res.errors, 0);
    cr_assert_eq(run(st, &seen, get, 1), CP_OK);
    cr_assert_str_eq(seen.text[0], "N");
    /* Without the interference the same transaction lands. */
    cr_assert_eq(run(st, &seen, watch, 1), CP_OK);
    send_lines(st, tx, CP_ARRAY_SIZE(tx));
    cr_assert_eq(cp_store_finish_tx(st, &res), CP_OK);
    cr_assert_eq(res.aborted, 0);
    cr_assert_eq(run(st, &seen, get, 1), CP_OK);
    cr_assert_str_eq(seen.text[0], "S:1");
    cp_store_destroy(st);
    fx_redis_stop(&r);
}

Test(redis, exec_reply_with_a_failed_command_reads_as_error)
{
    static const char *const setup[] = {"SET s text"};
    static const char *const tx[] = {"MULTI", "INCR s", "SET b 1", "EXEC"};
    struct fx_redis r;
    struct cp_store *st;
    struct seen seen;

    fx_redis_start(&r, NULL);
    st = connect_url("redis://", &r, "");
    cr_assert_not_null(st, "%s", errstr);
    cr_assert_eq(run(st, &seen, setup, 1), CP_OK);
    cr_assert_eq(run(st, &seen, tx, CP_ARRAY_SIZE(tx)), CP_OK);
    cr_assert_str_eq(seen.text[0], "S:OK");
    cr_assert_str_eq(seen.text[1], "S:QUEUED");
    cr_assert(!strncmp(seen.text[3], "E:ERR value is not an integer", 29),
              "EXEC with a failed command: %s", seen.text[3]);
    cp_store_destroy(st);
    fx_redis_stop(&r);
}

Test(redis, array_view_without_a_client)
{
    struct cp_reply elems[2], arr, out;

    memset(elems, 0, sizeof(elems));
    elems[0].type = CP_REPLY_STRING;
    elems[0].str = "x";
    elems[0].len = 1;
    elems[1].type = CP_REPLY_INTEGER;
    elems[1].integer = 7;
    cp_reply_array(&arr, elems, 2);
    cr_assert_eq(arr.elements, 2);
    cp_reply_element(&arr, 1, &out);
    cr_assert_eq(out.type, CP_REPLY_INTEGER);
    cr_assert_eq(out.integer, 7);
    cp_reply_element(&arr, 2, &out);
    cr_assert_eq(out.type, CP_REPLY_NIL, "out of range reads as nil");
    cp_reply_element(&elems[0], 0, &out);
    cr_assert_eq(out.type, CP_REPLY_NIL, "a string has no elements");
}

Test(redis, unreachable_server_names_the_address)
{
    struct fx_redis r = {.port = fx_free_port()};

    cr_assert_null(connect_url("redis://:hunter2@", &r, ""));
    cr_assert_not_null(strstr(errstr, "redis connect 127.0.0.1:"), "%s",
                       errstr);
    cr_assert_null(strstr(errstr, "hunter2"), "%s", errstr);
}

/* A stopped (SIGSTOP) Redis holds the reply: with the stop flag set the
 * wait ends after the grace, not after the 30 s I/O timeout, and the
 * store connects no more. */
Test(redis, stop_flag_ends_a_wait_on_a_stopped_server)
{
    static const char *const ping[] = {"PING"};
    volatile sig_atomic_t stop = 0;
    struct fx_redis r;
    struct cp_store *st;
    struct seen seen;
    int64_t t0, took;

    fx_redis_start(&r, NULL);
    st = connect_url("redis://", &r, "");
    cr_assert_not_null(st, "%s", errstr);
    cp_store_set_stop(st, &stop);
    cr_assert_eq(kill(r.pid, SIGSTOP), 0);
    stop = 1;
    t0 = cp_mono_ms();
    cr_assert_eq(run(st, &seen, ping, 1), CP_EREDIS);
    took = cp_mono_ms() - t0;
    cr_assert_lt(took, 5000, "waited %lld ms", (long long)took);
    cr_assert_eq(run(st, &seen, ping, 1), CP_EREDIS, "connected again");
    cr_assert_eq(kill(r.pid, SIGCONT), 0);
    cp_store_destroy(st);
    fx_redis_stop(&r);
}

/* cp_store_open() needs no server: commands fail until one answers. */
Test(redis, open_needs_no_server)
{
    static const char *const ping[] = {"PING"};
    struct cp_store *st;
    struct seen seen;
    char url[64];

    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", fx_free_port());
    st = cp_store_open(url, errstr, sizeof(errstr));
    cr_assert_not_null(st, "%s", errstr);
    cr_assert_eq(run(st, &seen, ping, 1), CP_EREDIS);
    cr_assert_eq(cp_store_ensure_connected(st), CP_EREDIS);
    cp_store_destroy(st);
}

Test(redis, cmds_arg_names_a_command_and_its_key)
{
    struct cp_cmds cmds;
    char out[16];

    cp_cmds_init(&cmds);
    cmd(&cmds, "MULTI");
    cmd(&cmds, "HINCRBY crm:t:c:1 n 1");
    cp_cmd_begin(&cmds, 2);
    cp_cmd_str(&cmds, "GET");
    cp_cmd_arg(&cmds, "a\r\nb-with-a-long-tail", 21);
    cr_assert_eq(cp_cmds_arg(&cmds, 1, 0, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "HINCRBY");
    cr_assert_eq(cp_cmds_arg(&cmds, 1, 1, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "crm:t:c:1");
    cr_assert_eq(cp_cmds_arg(&cmds, 2, 1, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "a??b-with-a-lon", "cut to fit, CRLF shown as ?");
    cr_assert_eq(cp_cmds_arg(&cmds, 0, 1, out, sizeof(out)), -1);
    cr_assert_str_eq(out, "?");
    cr_assert_eq(cp_cmds_arg(&cmds, 3, 0, out, sizeof(out)), -1);
    cp_cmds_cleanup(&cmds);
}

/* What the worker does before a transaction (see build_tx in worker.c):
 * a script that finds a key of the wrong type rewrites a WATCHed key, so
 * the EXEC that follows in the same pipeline applies nothing. */
Test(redis, type_check_before_multi_aborts_the_exec)
{
    static const char *const get[] = {"HGET h a"};
    static const char script[] =
        "for i = 2, #KEYS do "
        "local t = redis.call('TYPE', KEYS[i])['ok'] "
        "if t ~= 'none' and t ~= ARGV[i - 1] then "
        "local f = redis.call('GET', KEYS[1]) "
        "if f then redis.call('SET', KEYS[1], f) end "
        "return redis.error_reply('CPTYPE key ' .. KEYS[i] .. "
        "' is a ' .. t .. ', crmpulse writes a ' .. ARGV[i - 1] .. ' there') "
        "end end return 0";
    static const char *const setup[] = {"SET f 1", "SET z text", "WATCH f"};
    struct fx_redis r;
    struct cp_store *st;
    struct cp_tx_result res;
    struct seen seen;
    struct cp_cmds cmds;

    fx_redis_start(&r, NULL);
    st = connect_url("redis://", &r, "");
    cr_assert_not_null(st, "%s", errstr);
    cr_assert_eq(run(st, &seen, setup, 3), CP_OK);
    cp_cmds_init(&cmds);
    cp_cmd_begin(&cmds, 10);
    cp_cmd_str(&cmds, "EVAL");
    cp_cmd_str(&cmds, script);
    cp_cmd_str(&cmds, "4");
    cp_cmd_str(&cmds, "f");
    cp_cmd_str(&cmds, "h");
    cp_cmd_str(&cmds, "z");
    cp_cmd_str(&cmds, "h2");
    cp_cmd_str(&cmds, "hash");
    cp_cmd_str(&cmds, "zset");
    cp_cmd_str(&cmds, "hash");
    cmd(&cmds, "MULTI");
    cmd(&cmds, "HSET h a b");
    cmd(&cmds, "ZADD z 1 m");
    cmd(&cmds, "HSET h2 a b");
    cmd(&cmds, "EXEC");
    cr_assert_eq(cp_store_send(st, &cmds), CP_OK);
    cr_assert_eq(cp_store_finish_tx(st, &res), CP_OK);
    cr_assert_eq(res.errors, 1, "only the check's: %zu (%s)", res.errors,
                 res.error);
    cr_assert_eq(res.exec_errors, 0);
    cr_assert_eq(res.aborted, 1, "the check wrote the WATCHed key");
    cr_assert_eq(res.error_cmd, 0, "%zu", res.error_cmd);
    cr_assert(strstr(res.error, "key z is a string"), "%s", res.error);
    cr_assert_eq(run(st, &seen, get, 1), CP_OK);
    cr_assert_str_eq(seen.text[0], "N", "nothing of the EXEC ran");
    cp_cmds_cleanup(&cmds);
    cp_store_destroy(st);
    fx_redis_stop(&r);
}

Test(redis, the_command_of_an_error_reply_is_known)
{
    static const char *const lines[] = {"SET s text", "GET s", "HGET s f",
                                        "INCR s"};
    struct fx_redis r;
    struct cp_store *st;
    struct seen seen;

    fx_redis_start(&r, NULL);
    st = connect_url("redis://", &r, "");
    cr_assert_not_null(st, "%s", errstr);
    cr_assert_eq(run(st, &seen, lines, 2), CP_OK);
    cr_assert_eq(cp_store_error_cmd(st), SIZE_MAX, "no error, no index");
    cr_assert_eq(run(st, &seen, lines, 4), CP_OK, "callbacks decide");
    cr_assert_eq(cp_store_error_cmd(st), 2, "HGET on a string: %zu",
                 cp_store_error_cmd(st));
    cr_assert(strstr(cp_store_errstr(st), "WRONGTYPE"), "%s",
              cp_store_errstr(st));
    cp_store_destroy(st);
    fx_redis_stop(&r);
}
