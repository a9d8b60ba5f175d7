/* SPDX-License-Identifier: Apache-2.0 */
/* A real Redis Cluster of 3 masters on loopback for integration tests,
 * started with deploy/cluster.sh (what users run too). Header-only, so each
 * test executable builds it with its own harness; include after harness.h. */
#ifndef CP_CLUSTER_FIXTURE_H
#define CP_CLUSTER_FIXTURE_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "harness.h"

#define H_CLUSTER_MASTERS 3

struct h_cluster {
    int ports[2 * H_CLUSTER_MASTERS]; /* masters, then their replicas (if
                                         any), 127.0.0.1 */
    int nodes;                        /* ports in use */
    char seeds[128];                  /* redis.cluster.nodes: two of them */
    char dir[700];                    /* data, logs, pid files */
};

/* Whether @p port is free on loopback right now. */
static inline int h_cluster_bindable(int port)
{
    struct sockaddr_in addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok;

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    ok = bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
    close(fd);
    return ok;
}

/* A port p with p and p + 10000 (its cluster bus) free, below 55536 so the
 * bus port exists, and clear of the ports @p c has already. */
static inline int h_cluster_port(const struct h_cluster *c)
{
    for (int tries = 0; tries < 1000; tries++) {
        int port = 20000 + (int)((unsigned)rand() % 25000);
        int clash = 0;

        for (int i = 0; i < 2 * H_CLUSTER_MASTERS; i++)
            clash |= c->ports[i] &&
                     (c->ports[i] == port || c->ports[i] + 10000 == port ||
                      c->ports[i] == port + 10000);
        if (!clash && h_cluster_bindable(port) &&
            h_cluster_bindable(port + 10000))
            return port;
    }
    cr_assert_fail("no free port pair for a cluster node");
    return 0;
}

/**
 * @brief Starts 3 masters (and @p replicas replicas of each, 0 or 1) with
 *        cluster-node-timeout @p node_timeout_ms and joins them: all 16384
 *        slots covered. redis-cli --cluster create makes the first 3 ports
 *        the masters.
 */
static inline void h_cluster_start_opts(struct h_cluster *c, int replicas,
                                        int node_timeout_ms)
{
    char p[2 * H_CLUSTER_MASTERS][16], r[8], t[16];
    const char *argv[20];
    int n = 0;

    memset(c, 0, sizeof(*c));
    srand((unsigned)getpid() ^ (unsigned)cp_mono_us());
    snprintf(c->dir, sizeof(c->dir), "%s/cluster", h_scratch_dir());
    snprintf(r, sizeof(r), "%d", replicas);
    snprintf(t, sizeof(t), "%d", node_timeout_ms);
    argv[n++] = h_src("deploy/cluster.sh");
    argv[n++] = "start";
    argv[n++] = c->dir;
    argv[n++] = "--replicas";
    argv[n++] = r;
    argv[n++] = "--node-timeout";
    argv[n++] = t;
    c->nodes = H_CLUSTER_MASTERS * (1 + replicas);
    for (int i = 0; i < c->nodes; i++) {
        c->ports[i] = h_cluster_port(c);
        snprintf(p[i], sizeof(p[i]), "%d", c->ports[i]);
        argv[n++] = p[i];
    }
    argv[n] = NULL;
    snprintf(c->seeds, sizeof(c->seeds), "127.0.0.1:%d,127.0.0.1:%d",
             c->ports[0], c->ports[1]);
    if (h_run(argv, NULL, 60) == 0)
        return;
    /* Another test may have taken a port (or its bus port) since we found
     * it free: once more on fresh ports. */
    {
        const char *stop[] = {h_src("deploy/cluster.sh"), "stop", c->dir, NULL};

        h_run(stop, NULL, 30);
    }
    memset(c->ports, 0, sizeof(c->ports));
    for (int i = 0; i < c->nodes; i++) {
        c->ports[i] = h_cluster_port(c);
        snprintf(p[i], sizeof(p[i]), "%d", c->ports[i]);
    }
    snprintf(c->seeds, sizeof(c->seeds), "127.0.0.1:%d,127.0.0.1:%d",
             c->ports[0], c->ports[1]);
    if (h_run(argv, NULL, 60) != 0)
        cr_assert_fail("deploy/cluster.sh start failed twice (logs in %s)",
                       c->dir);
}

/** @brief Starts 3 masters, no replicas; a node timeout a loaded machine
 *         cannot reach by accident (no replica would take over). */
static inline void h_cluster_start(struct h_cluster *c)
{
    h_cluster_start_opts(c, 0, 5000);
}

/** @brief Kills every node of @p c. */
static inline void h_cluster_stop(struct h_cluster *c)
{
    const char *argv[] = {h_src("deploy/cluster.sh"), "stop", c->dir, NULL};

    if (c->dir[0])
        h_run(argv, NULL, 30);
}

#endif
