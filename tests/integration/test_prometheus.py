#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A real Prometheus scrapes the operations endpoint.

Starts ops_serve (the endpoint serving known metric values) on an ephemeral
loopback port, starts Debian's `prometheus` on loopback with a temporary
config that scrapes it every second and a temporary TSDB, then waits until
Prometheus' HTTP query API returns the values ops_serve set. Bounded in time
(60 s); stops both processes and removes its files whatever happens.

Usage: test_prometheus.py PATH/TO/ops_serve
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

DEADLINE_S = 60
APPLIED = 12345  # the value ops_serve is asked to set


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(prom_port, expr):
    """One instant query; returns the list of (labels, value) or None."""
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (
        prom_port, urllib.parse.urlencode({"query": expr}))
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            doc = json.load(resp)
    except (OSError, ValueError):
        return None  # not up yet
    if doc.get("status") != "success":
        return None
    return [(r["metric"], r["value"][1]) for r in doc["data"]["result"]]


def stop(proc, name):
    """SIGTERM, then SIGKILL after 5 s; returns the exit code."""
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        print("%s ignored SIGTERM for 5 s: killed" % name, flush=True)
        proc.kill()
        return proc.wait()


def tail(path, lines=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def main():
    if len(sys.argv) != 2:
        fail("usage: test_prometheus.py PATH/TO/ops_serve")
    serve_bin = sys.argv[1]
    prom_bin = shutil.which("prometheus")
    if not prom_bin:
        fail("prometheus not found: apt-get install prometheus")

    start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="crmpulse-prom-")
    serve = prom = None
    serve_err = os.path.join(tmp, "ops_serve.log")
    prom_log = os.path.join(tmp, "prometheus.log")
    ok = False
    try:
        with open(serve_err, "w") as err:
            serve = subprocess.Popen(
                [serve_bin, "127.0.0.1:0", str(APPLIED)],
                stdout=subprocess.PIPE, stderr=err, text=True)
        line = serve.stdout.readline().split()
        if len(line) != 2 or line[0] != "port":
            fail("ops_serve did not report its port: %r\n%s"
                 % (line, tail(serve_err)))
        serve_port = int(line[1])

        prom_port = free_port()
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write(
                "global:\n"
                "  scrape_interval: 1s\n"
                "  evaluation_interval: 1s\n"
                "scrape_configs:\n"
                "  - job_name: crmpulse\n"
                "    scrape_interval: 1s\n"
                "    scrape_timeout: 1s\n"
                "    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % serve_port)
        with open(prom_log, "w") as log:
            prom = subprocess.Popen(
                [prom_bin, "--config.file=" + cfg,
                 "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                 "--web.listen-address=127.0.0.1:%d" % prom_port,
                 "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT)

        want = {
            'crmpulse_events_total{result="applied"}': str(APPLIED),
            'crmpulse_dead_letters_total{reason="framing"}': "1",
            'crmpulse_dead_letters_total{reason="validation"}': "1",
            'crmpulse_batch_size_count': "1",
            'crmpulse_ready': "1",
            'up{job="crmpulse"}': "1",
        }
        got = {}
        while time.monotonic() - start < DEADLINE_S - 10:
            if prom.poll() is not None:
                fail("prometheus exited with %d:\n%s"
                     % (prom.returncode, tail(prom_log)))
            if serve.poll() is not None:
                fail("ops_serve exited with %d:\n%s"
                     % (serve.returncode, tail(serve_err)))
            for expr in want:
                res = query(prom_port, expr)
                got[expr] = res[0][1] if res else None
            if all(got[e] == v for e, v in want.items()):
                ok = True
                break
            time.sleep(0.5)
        if not ok:
            fail("Prometheus never returned the values set within %d s:\n"
                 "  got  %r\n  want %r\nprometheus log:\n%s"
                 % (DEADLINE_S - 10, got, want, tail(prom_log)))
        print("prometheus scraped 127.0.0.1:%d and answered %s in %.1f s"
              % (serve_port, got, time.monotonic() - start), flush=True)
    finally:
        prom_rc = stop(prom, "prometheus")
        serve_rc = stop(serve, "ops_serve")
        if serve is not None and serve.stdout:
            serve.stdout.close()
        if ok and serve_rc != 0:
            # e.g. a leak report at exit in a sanitizer build
            print("FAIL: ops_serve exited with %s after SIGTERM:\n%s"
                  % (serve_rc, tail(serve_err)), flush=True)
            ok = False
        if ok and prom_rc not in (0, None):
            print("note: prometheus exited with %s" % prom_rc, flush=True)
        shutil.rmtree(tmp, ignore_errors=True)
    if not ok:
        sys.exit(1)
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
