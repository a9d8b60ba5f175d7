# SPDX-License-Identifier: Apache-2.0
"""Load test of crmpulse-board on loopback; stops itself.

Two phases against the same board and Redis: a small one (a twentieth of
the SSE clients, a tenth of the request rate) and the full one (by default
200 SSE clients and 1,000 API requests/s for 20 s), while `live` messages
are published to every tenant 10 times a second. The clients are driven by
board_loadgen (C, epoll) so the driver is not the bottleneck. Reports the
board's CPU and memory, API latency percentiles, SSE delivery latency and
the Redis commands the board issued per second (INFO commandstats before
and after each phase). Fails if:
  - any API request fails, an SSE client is refused or misses a message,
  - API p99 latency exceeds --max-p99-ms, or the rate is not reached,
  - the board's Redis commands/s grow with the load (full phase more than
    1.5x the small phase + 20/s): one subscription and cached reads.

    python3 load_test.py BUILD_DIR/crmpulse-board BUILD_DIR/board_loadgen \
        [--sse 200 --rps 1000 --seconds 20]
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

import fixture
from common import Servers
from resp import Redis

# What the board sends to Redis (reads, its subscription and its setup);
# the test's own publisher only sends PUBLISH.
BOARD_CMDS = ("hgetall", "zrange", "zrevrange", "zcard", "lrange", "scan", "ping",
              "psubscribe", "select", "auth")


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "Threads:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0])
    return out


def publisher(redis_port, tenants, per_s, seconds, sent):
    """PUBLISHes a live message per tenant per_s times a second."""
    r = Redis(redis_port)
    stop = time.monotonic() + seconds
    seq = 0
    while time.monotonic() < stop:
        for t in tenants:
            msg = json.dumps({"tenant": t, "day": "load", "at": time.time() * 1000,
                              "seq": seq, "deltas": {"events": 1}})
            r.cmd("PUBLISH", "crm:{%s}:live" % t, msg)
            sent[t] = sent.get(t, 0) + 1
            seq += 1
        time.sleep(1.0 / per_s)
    r.close()


def phase(srv, loadgen, name, n_sse, rps, seconds, conns):
    pid = srv.board_proc.pid
    gen = subprocess.Popen([loadgen, str(srv.board_port), str(n_sse), str(rps),
                            str(seconds), str(conns), ",".join(fixture.TENANTS)],
                           stdout=subprocess.PIPE, text=True)
    ready = gen.stdout.readline().split()
    assert ready and ready[0] == "READY", ready
    stats0 = srv.redis.commandstats()
    cpu0, t0 = proc_cpu_s(pid), time.monotonic()
    sent = {}
    pub = threading.Thread(target=publisher,
                           args=(srv.redis_port, fixture.TENANTS, 10, seconds, sent))
    pub.start()
    samples = []
    while gen.poll() is None and time.monotonic() - t0 < seconds + 60:
        samples.append(proc_status(pid))
        time.sleep(0.5)
    out = gen.stdout.read()
    gen.wait(10)
    pub.join()
    elapsed = time.monotonic() - t0
    cpu = proc_cpu_s(pid) - cpu0
    stats1 = srv.redis.commandstats()
    res = json.loads(out.strip().splitlines()[-1])
    board_cmds = sum(stats1.get(k, 0) - stats0.get(k, 0) for k in BOARD_CMDS)
    missed = sum(max(0, sent.get(t, 0) - got) for t, got in res.pop("sse"))
    samples.append(proc_status(pid))
    res.update({
        "phase": name, "sse_clients": n_sse, "target_rps": rps, "seconds": seconds,
        "live_published": sum(sent.values()), "sse_messages_missed": missed,
        "board_cpu_pct": round(100 * cpu / elapsed, 1),
        "board_rss_mb": round(max(s["VmRSS"] for s in samples) / 1024, 1),
        "board_threads": max(s["Threads"] for s in samples),
        "redis_cmds_by_board": board_cmds,
        "redis_cmds_per_s": round(board_cmds / elapsed, 1),
    })
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("board_bin")
    ap.add_argument("loadgen_bin")
    ap.add_argument("--sse", type=int, default=200)
    ap.add_argument("--rps", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--conns", type=int, default=32, help="keep-alive API connections")
    ap.add_argument("--max-p99-ms", type=float, default=100.0)
    ap.add_argument("--min-rate-frac", type=float, default=0.9,
                    help="fail below this share of --rps (sanitizer builds are slower)")
    args = ap.parse_args()

    with Servers(args.board_bin) as srv:
        fixture.load(srv.redis)
        srv.start_board()
        srv.get("/api/tenants")  # the first SCAN is not part of a phase
        small = phase(srv, args.loadgen_bin, "small", max(1, args.sse // 20),
                      max(10, args.rps // 10), max(5, args.seconds // 2),
                      max(2, args.conns // 4))
        full = phase(srv, args.loadgen_bin, "full", args.sse, args.rps, args.seconds,
                     args.conns)
        stats = srv.get("/api/stats")
        srv.board_proc.terminate()
        rc = srv.board_proc.wait(10)

    for r in (small, full):
        print(json.dumps(r))
    print("board /api/stats:", json.dumps(stats))
    fails = []
    for r in (small, full):
        if r["sse_connected"] != r["sse_clients"]:
            fails.append("%s: %d of %d SSE clients connected"
                         % (r["phase"], r["sse_connected"], r["sse_clients"]))
        if r["api_errors"]:
            fails.append("%s: %d API errors" % (r["phase"], r["api_errors"]))
        if r["sse_messages_missed"]:
            fails.append("%s: %d live messages missed by SSE clients"
                         % (r["phase"], r["sse_messages_missed"]))
        if r["api_p99_ms"] > args.max_p99_ms:
            fails.append("%s: API p99 %.1f ms > %.1f ms" % (r["phase"], r["api_p99_ms"],
                                                            args.max_p99_ms))
        if r["api_rps"] < args.min_rate_frac * r["target_rps"]:
            fails.append("%s: %.0f requests/s of %d" % (r["phase"], r["api_rps"],
                                                        r["target_rps"]))
    if full["redis_cmds_per_s"] > 1.5 * small["redis_cmds_per_s"] + 20:
        fails.append("Redis load grew with the clients: %.1f/s -> %.1f/s"
                     % (small["redis_cmds_per_s"], full["redis_cmds_per_s"]))
    if stats["subscription_connects"] != 1:
        fails.append("the board made %d subscriptions" % stats["subscription_connects"])
    if rc != 0:
        fails.append("board exit status %d after SIGTERM" % rc)

    print("\n%-6s %5s %7s %8s %8s %8s %7s %7s %8s %9s" % (
        "phase", "sse", "req/s", "p50 ms", "p99 ms", "sse p99", "cpu %", "rss MB",
        "threads", "redis/s"))
    for r in (small, full):
        print("%-6s %5d %7.0f %8.2f %8.2f %8.2f %7.1f %7.1f %8d %9.1f" % (
            r["phase"], r["sse_connected"], r["api_rps"], r["api_p50_ms"],
            r["api_p99_ms"], r["sse_p99_ms"], r["board_cpu_pct"], r["board_rss_mb"],
            r["board_threads"], r["redis_cmds_per_s"]))
    for f in fails:
        print("FAIL:", f)
    print("load test", "FAILED" if fails else "passed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
