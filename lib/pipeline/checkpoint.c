/* SPDX-License-Identifier: Apache-2.0 */
/* Offsets and fences in Redis (see checkpoint.h). */
#include "checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "map.h"

/* A tenant's applied offsets (checkpoint.h): what Redis held when they were
 * read, and the partitions of its events applied since the last commit. */
struct applied_part {
    int32_t partition;
    int64_t next; /* next offset */
};

struct tenant_applied {
    const char *tenant; /* owned by the map's key arena */
    size_t tenant_len;
    int loaded;                /* read from Redis */
    int in_batch;              /* listed in cp->batch */
    struct applied_part *read; /* owned: what Redis held */
    size_t read_cnt, read_cap;
    struct applied_part *now; /* owned: applied since the last commit */
    size_t now_cnt, now_cap;
};

struct cp_checkpoint {
    struct cp_store *store;    /* borrowed */
    char *topic;               /* owned */
    char offsets_key[300];     /* crmpulse:offsets:<group> */
    char *group;               /* owned */
    struct cp_cmds cmds;       /* one round trip's commands */
    uint64_t armed_connection; /* connection whose WATCH covers our fences;
                                  0 (ids start at 1): none */
    uint8_t *owned;            /* owned, MAX_PARTITIONS */
    int64_t *epoch;            /* owned, MAX_PARTITIONS: our fence values */
    int32_t *watch_order;      /* owned, MAX_PARTITIONS: scratch, MGET order */
    size_t watch_cnt;          /* fences the last arm WATCHed */

    /* Per-tenant applied offsets (P:{T}:applied:<group>). */
    char *prefix;                /* owned: redis.prefix */
    struct cp_map applied;       /* tenant -> struct tenant_applied */
    struct tenant_applied **all; /* owned array, borrowed entries: to free */
    size_t all_cnt, all_cap;
    struct tenant_applied **loading; /* owned array: queued reads */
    size_t loading_cnt, loading_cap;
    struct tenant_applied **batch; /* owned array: tenants to write */
    size_t batch_cnt, batch_cap;
};

struct cp_checkpoint *cp_checkpoint_new(struct cp_store *store,
                                        const char *prefix, const char *group,
                                        const char *topic)
{
    struct cp_checkpoint *cp = calloc(1, sizeof(*cp));

    if (!cp)
        return NULL;
    cp->store = store;
    cp->topic = strdup(topic);
    cp->group = strdup(group);
    cp->prefix = strdup(prefix);
    cp_map_init(&cp->applied);
    cp->owned = calloc(CP_CHECKPOINT_MAX_PARTITIONS, sizeof(*cp->owned));
    cp->epoch = calloc(CP_CHECKPOINT_MAX_PARTITIONS, sizeof(*cp->epoch));
    cp->watch_order =
        calloc(CP_CHECKPOINT_MAX_PARTITIONS, sizeof(*cp->watch_order));
    cp_cmds_init(&cp->cmds);
    if (!cp->topic || !cp->group || !cp->prefix || !cp->owned || !cp->epoch ||
        !cp->watch_order ||
        cp_key_offsets(cp->offsets_key, sizeof(cp->offsets_key), group) < 0) {
        cp_checkpoint_destroy(cp);
        return NULL;
    }
    return cp;
}

void cp_checkpoint_destroy(struct cp_checkpoint *cp)
{
    if (!cp)
        return;
    cp_checkpoint_applied_forget(cp);
    cp_map_cleanup(&cp->applied);
    free(cp->all);
    free(cp->loading);
    free(cp->batch);
    free(cp->prefix);
    cp_cmds_cleanup(&cp->cmds);
    free(cp->topic);
    free(cp->group);
    free(cp->owned);
    free(cp->epoch);
    free(cp->watch_order);
    free(cp);
}

static bool in_range(int32_t partition)
{
    return partition >= 0 && partition < CP_CHECKPOINT_MAX_PARTITIONS;
}

void cp_checkpoint_own(struct cp_checkpoint *cp, int32_t partition, bool own)
{
    if (in_range(partition))
        cp->owned[partition] = own;
}

bool cp_checkpoint_owns(const struct cp_checkpoint *cp, int32_t partition)
{
    return in_range(partition) && cp->owned[partition];
}

bool cp_checkpoint_armed(const struct cp_checkpoint *cp)
{
    return cp->armed_connection == cp_store_connection_id(cp->store);
}

void cp_checkpoint_disarm(struct cp_checkpoint *cp)
{
    cp->armed_connection = 0;
}

static void append_fence_key(struct cp_checkpoint *cp, struct cp_cmds *cmds,
                             int32_t partition);

bool cp_checkpoint_watched_fence(struct cp_checkpoint *cp, struct cp_cmds *cmds)
{
    if (!cp->watch_cnt || !cp_checkpoint_armed(cp))
        return false;
    if (cmds)
        append_fence_key(cp, cmds, cp->watch_order[0]);
    return true;
}

/* ---- keys ---- */

static void append_fence_key(struct cp_checkpoint *cp, struct cp_cmds *cmds,
                             int32_t partition)
{
    char key[600];
    int n = cp_key_fence(key, sizeof(key), cp->group, cp->topic, partition);

    cp_cmd_arg(cmds, key, n < 0 ? 0 : (size_t)n);
}

static void append_offset_field(const struct cp_checkpoint *cp,
                                struct cp_cmds *cmds, int32_t partition)
{
    char field[300];
    int n = snprintf(field, sizeof(field), "%s:%d", cp->topic, (int)partition);

    cp_cmd_arg(cmds, field, (size_t)n);
}

void cp_checkpoint_append_commit(const struct cp_checkpoint *cp,
                                 struct cp_cmds *cmds, int32_t partition,
                                 int64_t next_offset)
{
    cp_cmd_begin(cmds, 4);
    cp_cmd_arg(cmds, "HSET", 4);
    cp_cmd_str(cmds, cp->offsets_key);
    append_offset_field(cp, cmds, partition);
    cp_cmd_int(cmds, next_offset);
}

/* ---- values read back: untrusted ---- */

/* A value of ours in Redis is not what we write (another program, a bad
 * restore): an error naming the key, the field and the fix, once per
 * read. CP_ECONFIG: the caller stops; no retry can fix it. */
static cp_rc corrupt(const char *key, const char *field, const char *value,
                     size_t len, const char *expected, const char *fix)
{
    char shown[64];
    size_t n = 0;

    for (; n < len && n + 1 < sizeof(shown); n++)
        shown[n] = value[n] >= 0x20 && value[n] < 0x7f ? value[n] : '?';
    shown[n] = '\0';
    cp_log(CP_LOG_ERR, "REDIS",
           "STOPPING: corrupt value in Redis: %s%s%s holds \"%s\"%s, not %s "
           "(written by another program? see schemas/redis-keys.md). Fix: "
           "%s, then restart the worker.",
           key, field ? " field " : "", field ? field : "", shown,
           len > n ? "..." : "", expected, fix);
    return CP_ECONFIG;
}

/* Strict: decimal digits only (no sign, space or exponent), 0..INT64_MAX.
 * @returns 0 with *@p out set, or -1. */
static int parse_offset(const char *s, size_t len, int64_t *out)
{
    int64_t v = 0;

    if (len == 0 || len > 19)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v > (INT64_MAX - (s[i] - '0')) / 10)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* ---- offsets ---- */

struct offset_read {
    struct cp_checkpoint *cp;
    struct cp_partition *parts;
};

static cp_rc on_offset_reply(void *opaque, size_t i,
                             const struct cp_reply *reply)
{
    struct offset_read *rd = opaque;
    struct cp_partition *parts = rd->parts;
    char field[300];
    int64_t v;

    if (reply->type == CP_REPLY_ERROR)
        return CP_EREDIS;
    if (reply->type != CP_REPLY_STRING) {
        parts[i].offset = CP_OFFSET_STORED;
        return CP_OK;
    }
    if (!parse_offset(reply->str, reply->len, &v)) {
        parts[i].offset = v;
        return CP_OK;
    }
    snprintf(field, sizeof(field), "%s:%d", rd->cp->topic,
             (int)parts[i].partition);
    return corrupt(rd->cp->offsets_key, field, reply->str, reply->len,
                   "an offset (a non-negative decimal integer)",
                   "HSET the partition's next offset to read there, or HDEL "
                   "the field to start from Kafka's committed offset or the "
                   "log start");
}

cp_rc cp_checkpoint_read_offsets(struct cp_checkpoint *cp,
                                 struct cp_partition *parts, size_t cnt)
{
    cp_rc rc;

    cp_cmds_reset(&cp->cmds);
    for (size_t i = 0; i < cnt; i++) {
        cp_cmd_begin(&cp->cmds, 3);
        cp_cmd_arg(&cp->cmds, "HGET", 4);
        cp_cmd_str(&cp->cmds, cp->offsets_key);
        append_offset_field(cp, &cp->cmds, parts[i].partition);
    }
    {
        struct offset_read rd = {cp, parts};

        rc = cp_store_roundtrip(cp->store, &cp->cmds, on_offset_reply, &rd);
    }
    if (rc && rc != CP_ECONFIG)
        cp_log(CP_LOG_DEBUG, "REDIS", "read offsets: %s",
               cp_store_errstr(cp->store));
    return rc;
}

/* ---- fences ---- */

struct fence_read {
    struct cp_checkpoint *cp;
    size_t cnt;
};

/* A fence's value: its epoch, -1 when the fence is gone (nil), -2 when
 * it is not a fence at all (corrupt). */
static int64_t epoch_of(const struct cp_reply *elem)
{
    int64_t v;

    if (elem->type == CP_REPLY_NIL)
        return -1;
    if (elem->type != CP_REPLY_STRING || parse_offset(elem->str, elem->len, &v))
        return -2;
    return v;
}

static cp_rc corrupt_fence(struct cp_checkpoint *cp, int32_t p,
                           const struct cp_reply *elem)
{
    char key[600];

    cp_key_fence(key, sizeof(key), cp->group, cp->topic, p);
    return corrupt(key, NULL, elem->str ? elem->str : "", elem->len,
                   "a fence epoch (a non-negative decimal integer)",
                   "DEL the key (every worker of the group claims it again)");
}

static cp_rc on_fence_reply(void *opaque, size_t i,
                            const struct cp_reply *reply)
{
    struct fence_read *rd = opaque;
    struct cp_checkpoint *cp = rd->cp;

    if (reply->type == CP_REPLY_ERROR)
        return CP_EREDIS;
    if (i < 2)
        return CP_OK; /* UNWATCH, WATCH */
    if (reply->type != CP_REPLY_ARRAY || reply->elements != rd->cnt)
        return CP_EREDIS;
    for (size_t j = 0; j < rd->cnt; j++) {
        int32_t p = cp->watch_order[j];
        struct cp_reply elem;
        int64_t now_epoch;

        cp_store_reply_element(reply, j, &elem);
        now_epoch = epoch_of(&elem);
        if (now_epoch == -2)
            return corrupt_fence(cp, p, &elem);
        if (now_epoch != cp->epoch[p]) {
            struct cp_log_field f[] = {{"event", "partition_fenced", 0},
                                       {"topic", cp->topic, 0},
                                       {"partition", NULL, p},
                                       {"fence", NULL, now_epoch},
                                       {"our_fence", NULL, cp->epoch[p]}};

            cp_log_fields(CP_LOG_WARNING, "WORKER", f, CP_ARRAY_SIZE(f),
                          "partition %s [%d] fenced: it belongs to another "
                          "worker now (fence %lld, ours %lld): no more writes "
                          "for it",
                          cp->topic, (int)p, (long long)now_epoch,
                          (long long)cp->epoch[p]);
            cp->owned[p] = 0;
        }
    }
    return CP_OK;
}

cp_rc cp_checkpoint_arm(struct cp_checkpoint *cp)
{
    struct fence_read rd = {cp, 0};
    cp_rc rc;

    for (int32_t p = 0; p < CP_CHECKPOINT_MAX_PARTITIONS; p++)
        if (cp->owned[p])
            cp->watch_order[rd.cnt++] = p;
    cp_cmds_reset(&cp->cmds);
    cp_cmd_begin(&cp->cmds, 1);
    cp_cmd_arg(&cp->cmds, "UNWATCH", 7);
    if (rd.cnt) {
        cp_cmd_begin(&cp->cmds, 1 + (int)rd.cnt);
        cp_cmd_arg(&cp->cmds, "WATCH", 5);
        for (size_t j = 0; j < rd.cnt; j++)
            append_fence_key(cp, &cp->cmds, cp->watch_order[j]);
        cp_cmd_begin(&cp->cmds, 1 + (int)rd.cnt);
        cp_cmd_arg(&cp->cmds, "MGET", 4);
        for (size_t j = 0; j < rd.cnt; j++)
            append_fence_key(cp, &cp->cmds, cp->watch_order[j]);
    }
    rc = cp_store_roundtrip(cp->store, &cp->cmds, on_fence_reply, &rd);
    if (rc && rc != CP_ECONFIG) {
        cp_log(CP_LOG_DEBUG, "REDIS", "arm fences: %s",
               cp_store_errstr(cp->store));
        cp->armed_connection = 0;
        cp->watch_cnt = 0;
    } else {
        cp->armed_connection = cp_store_connection_id(cp->store);
        cp->watch_cnt = rd.cnt;
    }
    return rc;
}

struct epoch_read {
    struct cp_checkpoint *cp;
    const struct cp_partition *parts;
};

static bool starts_with(const struct cp_reply *reply, const char *prefix)
{
    size_t n = strlen(prefix);

    return reply->len >= n && !memcmp(reply->str, prefix, n);
}

static cp_rc on_incr_reply(void *opaque, size_t i, const struct cp_reply *reply)
{
    struct epoch_read *rd = opaque;

    /* INCR refuses a fence that does not hold an integer. */
    if (reply->type == CP_REPLY_ERROR &&
        (starts_with(reply, "ERR value is not an integer") ||
         starts_with(reply, "WRONGTYPE"))) {
        char key[600], why[128];

        cp_key_fence(key, sizeof(key), rd->cp->group, rd->cp->topic,
                     rd->parts[i].partition);
        snprintf(why, sizeof(why), "%.*s", (int)reply->len, reply->str);
        return corrupt(key, NULL, why, strlen(why),
                       "a fence epoch (INCR refused it)",
                       "DEL the key (every worker of the group claims it "
                       "again)");
    }
    if (reply->type != CP_REPLY_INTEGER)
        return CP_EREDIS;
    rd->cp->epoch[rd->parts[i].partition] = reply->integer;
    return CP_OK;
}

cp_rc cp_checkpoint_claim(struct cp_checkpoint *cp,
                          const struct cp_partition *parts, size_t cnt)
{
    struct epoch_read rd = {cp, parts};
    cp_rc rc;

    for (size_t i = 0; i < cnt; i++)
        if (!in_range(parts[i].partition)) {
            cp_log(CP_LOG_ERR, "WORKER",
                   "STOPPING: partition %s [%d] is beyond what crmpulse "
                   "handles (partitions 0..%d of the input topic): its "
                   "messages would not be applied. Fix: use a topic with at "
                   "most %d partitions",
                   parts[i].topic, (int)parts[i].partition,
                   CP_CHECKPOINT_MAX_PARTITIONS - 1,
                   CP_CHECKPOINT_MAX_PARTITIONS);
            return CP_ECONFIG;
        }
    cp_cmds_reset(&cp->cmds);
    for (size_t i = 0; i < cnt; i++) {
        cp_cmd_begin(&cp->cmds, 2);
        cp_cmd_arg(&cp->cmds, "INCR", 4);
        append_fence_key(cp, &cp->cmds, parts[i].partition);
    }
    rc = cp_store_roundtrip(cp->store, &cp->cmds, on_incr_reply, &rd);
    if (rc && rc != CP_ECONFIG)
        cp_log(CP_LOG_DEBUG, "REDIS", "claim partitions: %s",
               cp_store_errstr(cp->store));
    return rc;
}

/* KEYS[1] the fence, ARGV[1] our epoch: bump it if it is ours or gone,
 * returning the new epoch; -1 if another worker's epoch is there. */
static const char reclaim_script[] = "local v = redis.call('GET', KEYS[1]) "
                                     "if v and v ~= ARGV[1] then return -1 end "
                                     "local e = tonumber(ARGV[1]) + 1 "
                                     "redis.call('SET', KEYS[1], e) "
                                     "return e";

struct reclaim_read {
    struct cp_checkpoint *cp;
    const struct cp_partition *parts;
};

static cp_rc on_reclaim_reply(void *opaque, size_t i,
                              const struct cp_reply *reply)
{
    struct reclaim_read *rd = opaque;

    if (reply->type != CP_REPLY_INTEGER)
        return CP_EREDIS;
    if (reply->integer > 0) /* else: fenced; cp_checkpoint_arm() says so */
        rd->cp->epoch[rd->parts[i].partition] = reply->integer;
    return CP_OK;
}

cp_rc cp_checkpoint_reclaim(struct cp_checkpoint *cp,
                            const struct cp_partition *parts, size_t cnt)
{
    struct reclaim_read rd = {cp, parts};
    cp_rc rc;

    for (size_t i = 0; i < cnt; i++)
        if (!in_range(parts[i].partition))
            return CP_ECONFIG;
    cp_cmds_reset(&cp->cmds);
    for (size_t i = 0; i < cnt; i++) {
        cp_cmd_begin(&cp->cmds, 5);
        cp_cmd_arg(&cp->cmds, "EVAL", 4);
        cp_cmd_arg(&cp->cmds, reclaim_script, sizeof(reclaim_script) - 1);
        cp_cmd_arg(&cp->cmds, "1", 1);
        append_fence_key(cp, &cp->cmds, parts[i].partition);
        cp_cmd_int(&cp->cmds, cp->epoch[parts[i].partition]);
    }
    rc = cp_store_roundtrip(cp->store, &cp->cmds, on_reclaim_reply, &rd);
    if (rc)
        cp_log(CP_LOG_DEBUG, "REDIS", "reclaim fences: %s",
               cp_store_errstr(cp->store));
    return rc;
}

/* KEYS[1] the fence, KEYS[2] the offsets hash; ARGV[1] our epoch, ARGV[2]
 * the field, ARGV[3] the offset: written only while the fence is ours. */
static const char move_script[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
    "redis.call('HSET', KEYS[2], ARGV[2], ARGV[3]) return 1";

static cp_rc on_move_reply(void *opaque, size_t i, const struct cp_reply *reply)
{
    (void)i;
    if (reply->type != CP_REPLY_INTEGER)
        return CP_EREDIS;
    *(int64_t *)opaque = reply->integer;
    return CP_OK;
}

cp_rc cp_checkpoint_move_offset(struct cp_checkpoint *cp, int32_t partition,
                                int64_t next_offset)
{
    int64_t done = 0;
    cp_rc rc;

    if (!in_range(partition))
        return CP_ECONFIG;
    cp_cmds_reset(&cp->cmds);
    cp_cmd_begin(&cp->cmds, 8);
    cp_cmd_arg(&cp->cmds, "EVAL", 4);
    cp_cmd_arg(&cp->cmds, move_script, sizeof(move_script) - 1);
    cp_cmd_arg(&cp->cmds, "2", 1);
    append_fence_key(cp, &cp->cmds, partition);
    cp_cmd_str(&cp->cmds, cp->offsets_key);
    cp_cmd_int(&cp->cmds, cp->epoch[partition]);
    append_offset_field(cp, &cp->cmds, partition);
    cp_cmd_int(&cp->cmds, next_offset);
    rc = cp_store_roundtrip(cp->store, &cp->cmds, on_move_reply, &done);
    if (rc) {
        cp_log(CP_LOG_DEBUG, "REDIS", "move offset: %s",
               cp_store_errstr(cp->store));
        return rc;
    }
    return done == 1 ? CP_OK : CP_EFENCED;
}

/* ---- per-tenant applied offsets ---- */

/* Appends @p item to the array *@p arr of *@p cnt items (capacity *@p cap).
 * @returns 0, or -1 on ENOMEM. */
static int push_ptr(struct tenant_applied ***arr, size_t *cnt, size_t *cap,
                    struct tenant_applied *item)
{
    struct tenant_applied **grown = cp_grow(*arr, cap, *cnt, sizeof(**arr), 16);

    if (!grown)
        return -1;
    *arr = grown;
    grown[(*cnt)++] = item;
    return 0;
}

static struct applied_part *find_part(struct applied_part *parts, size_t cnt,
                                      int32_t partition)
{
    for (size_t i = 0; i < cnt; i++)
        if (parts[i].partition == partition)
            return &parts[i];
    return NULL;
}

/* Sets @p partition to @p next in the array (added when absent).
 * @returns 0, or -1 on ENOMEM. */
static int set_part(struct applied_part **parts, size_t *cnt, size_t *cap,
                    int32_t partition, int64_t next)
{
    struct applied_part *ap = find_part(*parts, *cnt, partition), *grown;

    if (!ap) {
        grown = cp_grow(*parts, cap, *cnt, sizeof(**parts), 4);
        if (!grown)
            return -1;
        *parts = grown;
        ap = &grown[(*cnt)++];
        ap->partition = partition;
    }
    ap->next = next;
    return 0;
}

static struct tenant_applied *tenant_of(const struct cp_checkpoint *cp,
                                        const char *tenant, size_t len)
{
    const struct cp_map_entry *e =
        cp_map_find(&cp->applied, tenant, len, cp_map_hash(tenant, len));

    return e ? e->value : NULL;
}

cp_rc cp_checkpoint_tenant_seen(struct cp_checkpoint *cp, const char *tenant,
                                size_t tenant_len)
{
    struct cp_map_entry *e;
    struct tenant_applied *ta;

    if (tenant_of(cp, tenant, tenant_len))
        return CP_OK;
    ta = calloc(1, sizeof(*ta));
    if (!ta || push_ptr(&cp->all, &cp->all_cnt, &cp->all_cap, ta)) {
        free(ta);
        return CP_ENOMEM;
    }
    e = cp_map_upsert(&cp->applied, tenant, tenant_len,
                      cp_map_hash(tenant, tenant_len));
    if (!e)
        return CP_ENOMEM; /* freed with the others by the forget */
    e->value = ta;
    ta->tenant = e->key;
    ta->tenant_len = tenant_len;
    if (push_ptr(&cp->loading, &cp->loading_cnt, &cp->loading_cap, ta))
        return CP_ENOMEM;
    return CP_OK;
}

static int applied_key(const struct cp_checkpoint *cp,
                       const struct tenant_applied *ta, char *out, size_t size)
{
    int n = cp_key_tenant(out, size, cp->prefix, ta->tenant, ta->tenant_len,
                          CP_KSEG_APPLIED);

    if (n < 0 || (size_t)n + strlen(cp->group) >= size)
        return -1;
    memcpy(out + n, cp->group, strlen(cp->group) + 1);
    return n + (int)strlen(cp->group);
}

size_t cp_checkpoint_applied_load_cmds(struct cp_checkpoint *cp,
                                       struct cp_cmds *cmds)
{
    for (size_t i = 0; i < cp->loading_cnt; i++) {
        char key[600];
        int n = applied_key(cp, cp->loading[i], key, sizeof(key));

        cp_cmd_begin(cmds, 2);
        cp_cmd_arg(cmds, "HGETALL", 7);
        cp_cmd_arg(cmds, key, n < 0 ? 0 : (size_t)n);
    }
    return cp->loading_cnt;
}

cp_rc cp_checkpoint_applied_load_reply(struct cp_checkpoint *cp, size_t i,
                                       const struct cp_reply *reply)
{
    struct tenant_applied *ta;
    size_t topic_len = strlen(cp->topic);

    if (i >= cp->loading_cnt)
        return CP_OK;
    ta = cp->loading[i];
    if (reply->type == CP_REPLY_ERROR)
        return CP_EREDIS;
    ta->read_cnt = 0;
    for (size_t f = 0; f + 1 < reply->elements; f += 2) {
        struct cp_reply name, value;
        int64_t partition, next;
        char key[600], field[300];

        cp_reply_element(reply, f, &name);
        cp_reply_element(reply, f + 1, &value);
        /* Fields of other input topics (another deployment sharing the
         * group name) are not ours to read. */
        if (name.type != CP_REPLY_STRING || name.len <= topic_len + 1 ||
            memcmp(name.str, cp->topic, topic_len) ||
            name.str[topic_len] != ':')
            continue;
        if (parse_offset(name.str + topic_len + 1, name.len - topic_len - 1,
                         &partition) ||
            partition >= CP_CHECKPOINT_MAX_PARTITIONS)
            continue; /* no partition field: not one we write */
        if (value.type == CP_REPLY_STRING &&
            !parse_offset(value.str, value.len, &next)) {
            if (set_part(&ta->read, &ta->read_cnt, &ta->read_cap,
                         (int32_t)partition, next))
                return CP_ENOMEM;
            continue;
        }
        applied_key(cp, ta, key, sizeof(key));
        snprintf(field, sizeof(field), "%.*s", (int)name.len, name.str);
        return corrupt(key, field,
                       value.type == CP_REPLY_STRING ? value.str : "",
                       value.type == CP_REPLY_STRING ? value.len : 0,
                       "an offset (a non-negative decimal integer)",
                       "HSET the partition's next offset there (the group's "
                       "offset of that partition is a safe value), or DEL the "
                       "key to apply the tenant's events from the group's "
                       "offsets");
    }
    ta->loaded = 1;
    return CP_OK;
}

void cp_checkpoint_applied_load_done(struct cp_checkpoint *cp)
{
    cp->loading_cnt = 0;
}

cp_rc cp_checkpoint_applies(struct cp_checkpoint *cp, const char *tenant,
                            size_t tenant_len, int32_t partition,
                            int64_t offset, bool *apply)
{
    struct tenant_applied *ta = tenant_of(cp, tenant, tenant_len);
    const struct applied_part *read;

    *apply = false;
    if (!ta || !ta->loaded) {
        cp_log(CP_LOG_ERR, "WORKER",
               "applied offsets of tenant %.*s not read before its events: "
               "the batch is read again",
               (int)tenant_len, tenant);
        return CP_EREDIS;
    }
    read = find_part(ta->read, ta->read_cnt, partition);
    if (read && offset < read->next)
        return CP_OK; /* committed for this tenant already */
    if (set_part(&ta->now, &ta->now_cnt, &ta->now_cap, partition, offset + 1))
        return CP_ENOMEM;
    if (!ta->in_batch) {
        if (push_ptr(&cp->batch, &cp->batch_cnt, &cp->batch_cap, ta))
            return CP_ENOMEM;
        ta->in_batch = 1;
    }
    *apply = true;
    return CP_OK;
}

void cp_checkpoint_append_applied(struct cp_checkpoint *cp,
                                  struct cp_cmds *cmds)
{
    for (size_t i = 0; i < cp->batch_cnt; i++) {
        struct tenant_applied *ta = cp->batch[i];
        char key[600];
        int n = applied_key(cp, ta, key, sizeof(key));

        cp_cmd_begin(cmds, 2 + 2 * (int)ta->now_cnt);
        cp_cmd_arg(cmds, "HSET", 4);
        cp_cmd_arg(cmds, key, n < 0 ? 0 : (size_t)n);
        for (size_t j = 0; j < ta->now_cnt; j++) {
            append_offset_field(cp, cmds, ta->now[j].partition);
            cp_cmd_int(cmds, ta->now[j].next);
        }
        ta->now_cnt = 0;
        ta->in_batch = 0;
    }
    cp->batch_cnt = 0;
}

void cp_checkpoint_applied_forget(struct cp_checkpoint *cp)
{
    for (size_t i = 0; i < cp->all_cnt; i++) {
        free(cp->all[i]->read);
        free(cp->all[i]->now);
        free(cp->all[i]);
    }
    cp->all_cnt = cp->loading_cnt = cp->batch_cnt = 0;
    cp_map_reset(&cp->applied);
}

/* KEYS[1] an applied-offsets hash, ARGV[1] a field, ARGV[2] an offset:
 * the field goes if it is above the offset (or no offset at all). */
static const char unapply_script[] =
    "local v = redis.call('HGET', KEYS[1], ARGV[1]) "
    "if v and (tonumber(v) == nil or tonumber(v) > tonumber(ARGV[2])) then "
    "redis.call('HDEL', KEYS[1], ARGV[1]) return 1 end return 0";

struct scan_read {
    struct cp_checkpoint *cp;
    struct cp_cmds *evals; /* the scripts for the keys found */
    char cursor[32];
    int32_t partition;
    int64_t next_offset;
};

static cp_rc on_scan_reply(void *opaque, size_t i, const struct cp_reply *reply)
{
    struct scan_read *rd = opaque;
    struct cp_reply cursor, keys, key;

    (void)i;
    if (reply->type != CP_REPLY_ARRAY || reply->elements != 2)
        return CP_EREDIS;
    cp_reply_element(reply, 0, &cursor);
    cp_reply_element(reply, 1, &keys);
    if (cursor.type != CP_REPLY_STRING || cursor.len >= sizeof(rd->cursor))
        return CP_EREDIS;
    memcpy(rd->cursor, cursor.str, cursor.len);
    rd->cursor[cursor.len] = '\0';
    for (size_t k = 0; k < keys.elements; k++) {
        cp_reply_element(&keys, k, &key);
        if (key.type != CP_REPLY_STRING)
            continue;
        cp_cmd_begin(rd->evals, 6);
        cp_cmd_arg(rd->evals, "EVAL", 4);
        cp_cmd_arg(rd->evals, unapply_script, sizeof(unapply_script) - 1);
        cp_cmd_arg(rd->evals, "1", 1);
        cp_cmd_arg(rd->evals, key.str, key.len);
        append_offset_field(rd->cp, rd->evals, rd->partition);
        cp_cmd_int(rd->evals, rd->next_offset);
    }
    return CP_OK;
}

/* Appends @p s to @p out with the glob characters of SCAN MATCH escaped. */
static size_t glob_escape(char *out, size_t size, size_t at, const char *s)
{
    for (; *s && at + 2 < size; s++) {
        if (strchr("*?[]\\", *s))
            out[at++] = '\\';
        out[at++] = *s;
    }
    out[at] = '\0';
    return at;
}

cp_rc cp_checkpoint_reset_applied(struct cp_checkpoint *cp, int32_t partition,
                                  int64_t next_offset)
{
    struct scan_read rd = {cp, NULL, "0", partition, next_offset};
    struct cp_cmds evals;
    char pattern[700];
    size_t n;
    cp_rc rc = CP_OK;

    n = glob_escape(pattern, sizeof(pattern), 0, cp->prefix);
    n += (size_t)snprintf(pattern + n, sizeof(pattern) - n,
                          ":{*}:" CP_KSEG_APPLIED);
    glob_escape(pattern, sizeof(pattern), n, cp->group);
    cp_cmds_init(&evals);
    rd.evals = &evals;
    do {
        cp_cmds_reset(&cp->cmds);
        cp_cmds_reset(&evals);
        cp_cmd_begin(&cp->cmds, 6);
        cp_cmd_arg(&cp->cmds, "SCAN", 4);
        cp_cmd_str(&cp->cmds, rd.cursor);
        cp_cmd_arg(&cp->cmds, "MATCH", 5);
        cp_cmd_str(&cp->cmds, pattern);
        cp_cmd_arg(&cp->cmds, "COUNT", 5);
        cp_cmd_int(&cp->cmds, 1000);
        rc = cp_store_roundtrip(cp->store, &cp->cmds, on_scan_reply, &rd);
        if (!rc && cp_cmds_failed(&evals))
            rc = CP_ENOMEM;
        if (!rc && evals.cnt)
            rc = cp_store_roundtrip(cp->store, &evals, NULL, NULL);
    } while (!rc && strcmp(rd.cursor, "0"));
    cp_cmds_cleanup(&evals);
    if (rc == CP_EREDIS)
        cp_log(CP_LOG_DEBUG, "REDIS", "reset applied offsets: %s",
               cp_store_errstr(cp->store));
    cp_checkpoint_applied_forget(cp);
    return rc;
}
