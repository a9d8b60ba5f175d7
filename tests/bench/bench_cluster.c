/* SPDX-License-Identifier: Apache-2.0 */
/* Redis CPU per event on each master of a Redis Cluster, for commits shaped
 * like the worker's but split into one MULTI/EXEC per tenant slot (the
 * commit the worker needs to run on a cluster; it does not do so yet, so
 * this measures the router and the servers, not crmpulse's worker).
 *
 * Per batch of events (customers drawn per tenant, tenants by a skewed
 * weight: tenant i gets a share proportional to 1/(i+1)), per tenant: one
 * transaction with the coalesced day and minute counter HINCRBYs, one HSET
 * of the packed state of every dirty customer, one HSET of each dirty
 * customer's public hash, one ZADD of their risks and the tenant's applied
 * offset. Redis CPU (INFO cpu, user + sys) is read from every master before
 * and after.
 *
 * usage: bench_cluster SEEDS [events] [tenants] [batch]
 * prints: Redis CPU per event of the run on each master, the sum, and the
 * busiest master's share of it (the tenant skew). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "resp.h"

#define CUSTOMERS_PER_TENANT 5000

static const char *const fields[] = {"events", "orders", "messages_in",
                                     "order_amount_minor"};

struct cpu {
    double sec;
};

static cp_rc on_info(void *opaque, size_t i, const struct cp_reply *reply)
{
    struct cpu *c = opaque;
    char buf[4096];
    const char *p;

    (void)i;
    c->sec = 0;
    if (reply->type != CP_REPLY_STRING)
        return CP_EREDIS;
    snprintf(buf, sizeof(buf), "%.*s", (int)reply->len, reply->str);
    for (p = buf; (p = strstr(p, "used_cpu_")); p++)
        if (!strncmp(p, "used_cpu_sys:", 13))
            c->sec += atof(p + 13);
        else if (!strncmp(p, "used_cpu_user:", 14))
            c->sec += atof(p + 14);
    return CP_OK;
}

static double master_cpu(struct cp_cluster *cl, size_t m)
{
    struct cp_cmds cmds;
    struct cpu c = {0};

    cp_cmds_init(&cmds);
    cp_cmd_begin(&cmds, 2);
    cp_cmd_str(&cmds, "INFO");
    cp_cmd_str(&cmds, "cpu");
    if (cp_cluster_run_on(cl, m, &cmds, on_info, &c)) {
        fprintf(stderr, "bench_cluster: INFO: %s\n", cp_cluster_errstr(cl));
        exit(1);
    }
    cp_cmds_cleanup(&cmds);
    return c.sec;
}

static unsigned long long rng = 88172645463325252ULL;

static unsigned long long next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(int argc, char **argv)
{
    long events = argc > 2 ? atol(argv[2]) : 200000;
    int tenants = argc > 3 ? atoi(argv[3]) : 100;
    int batch = argc > 4 ? atoi(argv[4]) : 1000;
    char errstr[512], key[128], field[64], value[64];
    struct cp_cluster *cl;
    struct cp_cmds cmds;
    double *weight, total_w = 0, before[64], after[64], sum = 0, busiest = 0;
    long *per_tenant;
    size_t masters;

    if (argc < 2 || events < 1 || tenants < 1 || batch < 1) {
        fprintf(stderr, "usage: bench_cluster SEEDS [events] [tenants] "
                        "[batch]\n");
        return 2;
    }
    cl = cp_cluster_new(argv[1], NULL, 30000, errstr, sizeof(errstr));
    if (!cl || cp_cluster_ensure_map(cl)) {
        fprintf(stderr, "bench_cluster: %s\n",
                cl ? cp_cluster_errstr(cl) : errstr);
        return 1;
    }
    masters = cp_cluster_masters(cl);
    if (masters > 64)
        return 1;
    weight = calloc((size_t)tenants, sizeof(*weight));
    per_tenant = calloc((size_t)tenants, sizeof(*per_tenant));
    for (int t = 0; t < tenants; t++)
        total_w += weight[t] = 1.0 / (t + 1);
    cp_cmds_init(&cmds);
    for (size_t m = 0; m < masters; m++)
        before[m] = master_cpu(cl, m);
    for (long done = 0; done < events; done += batch) {
        long n = events - done < batch ? events - done : batch;

        memset(per_tenant, 0, (size_t)tenants * sizeof(*per_tenant));
        for (long i = 0; i < n; i++) {
            double x = (double)(next_rand() % 1000000) / 1e6 * total_w;
            int t = 0;

            while (t + 1 < tenants && x > weight[t]) {
                x -= weight[t];
                t++;
            }
            per_tenant[t]++;
        }
        cp_cmds_reset(&cmds);
        for (int t = 0; t < tenants; t++) {
            long k = per_tenant[t];

            if (!k)
                continue;
            cp_cmd_begin(&cmds, 1);
            cp_cmd_str(&cmds, "MULTI");
            for (size_t f = 0; f < CP_ARRAY_SIZE(fields); f++) {
                snprintf(key, sizeof(key), "crm:{t%d}:d:2026-12-07", t);
                cp_cmd_begin(&cmds, 4);
                cp_cmd_str(&cmds, "HINCRBY");
                cp_cmd_str(&cmds, key);
                cp_cmd_str(&cmds, fields[f]);
                cp_cmd_int(&cmds, k);
                snprintf(key, sizeof(key), "crm:{t%d}:m:2026-12-07:1200", t);
                cp_cmd_begin(&cmds, 4);
                cp_cmd_str(&cmds, "HINCRBY");
                cp_cmd_str(&cmds, key);
                cp_cmd_str(&cmds, fields[f]);
                cp_cmd_int(&cmds, k);
            }
            /* every event dirties one customer */
            snprintf(key, sizeof(key), "crm:{t%d}:state:customers", t);
            cp_cmd_begin(&cmds, 2 + 2 * (int)k);
            cp_cmd_str(&cmds, "HSET");
            cp_cmd_str(&cmds, key);
            for (long c = 0; c < k; c++) {
                snprintf(field, sizeof(field), "cust-%06llu",
                         next_rand() % CUSTOMERS_PER_TENANT);
                cp_cmd_str(&cmds, field);
                cp_cmd_str(&cmds, "0123456789012345678901234567890123456789"
                                  "01234567890123456789");
            }
            for (long c = 0; c < k; c++) {
                snprintf(key, sizeof(key), "crm:{t%d}:customer:cust-%06llu", t,
                         next_rand() % CUSTOMERS_PER_TENANT);
                cp_cmd_begin(&cmds, 8);
                cp_cmd_str(&cmds, "HSET");
                cp_cmd_str(&cmds, key);
                cp_cmd_str(&cmds, "score");
                cp_cmd_str(&cmds, "0.4200");
                cp_cmd_str(&cmds, "level");
                cp_cmd_str(&cmds, "none");
                cp_cmd_str(&cmds, "orders");
                cp_cmd_int(&cmds, c);
            }
            snprintf(key, sizeof(key), "crm:{t%d}:risk", t);
            cp_cmd_begin(&cmds, 2 + 2 * (int)k);
            cp_cmd_str(&cmds, "ZADD");
            cp_cmd_str(&cmds, key);
            for (long c = 0; c < k; c++) {
                snprintf(field, sizeof(field), "cust-%06llu",
                         next_rand() % CUSTOMERS_PER_TENANT);
                cp_cmd_str(&cmds, "0.42");
                cp_cmd_str(&cmds, field);
            }
            snprintf(key, sizeof(key), "crm:{t%d}:applied:bench", t);
            snprintf(value, sizeof(value), "%ld", done + n);
            cp_cmd_begin(&cmds, 4);
            cp_cmd_str(&cmds, "HSET");
            cp_cmd_str(&cmds, key);
            cp_cmd_str(&cmds, "crm.events:0");
            cp_cmd_str(&cmds, value);
            cp_cmd_begin(&cmds, 1);
            cp_cmd_str(&cmds, "EXEC");
        }
        if (cp_cluster_run(cl, &cmds, NULL, NULL)) {
            fprintf(stderr, "bench_cluster: %s\n", cp_cluster_errstr(cl));
            return 1;
        }
    }
    for (size_t m = 0; m < masters; m++)
        after[m] = master_cpu(cl, m);
    printf("masters=%zu events=%ld tenants=%d batch=%d\n", masters, events,
           tenants, batch);
    for (size_t m = 0; m < masters; m++) {
        double us = (after[m] - before[m]) * 1e6;

        sum += us;
        busiest = us > busiest ? us : busiest;
        printf("  master %s: %.2f us of Redis CPU per event of the run\n",
               cp_cluster_master_address(cl, m), us / (double)events);
    }
    printf("  all masters: %.2f us per event; the busiest master did %.0f%% "
           "of it (1/%zu = %.0f%% if tenants were even)\n",
           sum / (double)events, sum > 0 ? 100.0 * busiest / sum : 0.0, masters,
           100.0 / (double)masters);
    free(weight);
    free(per_tenant);
    cp_cmds_cleanup(&cmds);
    cp_cluster_destroy(cl);
    return 0;
}
