#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The worker's /readyz follows Redis: ready with Redis up (and no input at
all), "not ready: redis unreachable" within seconds of Redis going away,
ready again once it is back; SIGTERM during the outage exits 0 within 5 s.
/metrics says the same through crmpulse_up and crmpulse_ready.

Usage: test_readyz.py PATH/TO/crmpulse
"""
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


def wait_for(what, fn, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.2)
    fail("%s: not within %d s" % (what, seconds))


def start_redis(port, workdir):
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--dir", workdir],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for("redis-server up", lambda: subprocess.run(
        ["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode == 0, 10)
    return p


def main():
    worker_bin = sys.argv[1]
    work = tempfile.mkdtemp(prefix="crmpulse-readyz-")
    rport, hport = free_port(), free_port()
    redis = start_redis(rport, work)
    log = open(os.path.join(work, "worker.log"), "w")
    worker = subprocess.Popen([worker_bin, "-X", "redis.url=redis://127.0.0.1:%d" % rport,
                               "-X", "http.listen=127.0.0.1:%d" % hport,
                               "-X", "embedded.partitions=2"],
                              stdout=log, stderr=log)
    try:
        assert get(hport, "/healthz")[0] in (None, 200)
        wait_for("ready with Redis up and no input",
                 lambda: get(hport, "/readyz") == (200, "ready\n") or
                 get(hport, "/readyz")[0] == 200, 30)
        redis.terminate()
        redis.wait(10)
        t0 = time.time()
        body = wait_for("not ready once Redis is gone",
                        lambda: (lambda r: r[1] if r[0] == 503 else None)(get(hport, "/readyz")), 10)
        if "redis" not in body:
            fail("the reason should name Redis: %r" % body)
        print("not ready %.1f s after Redis stopped: %s" % (time.time() - t0, body.strip()))
        metrics = get(hport, "/metrics")[1]
        if 'crmpulse_up{dependency="redis"} 0' not in metrics or "crmpulse_ready 0" not in metrics:
            fail("/metrics should show Redis down and not ready")
        if get(hport, "/healthz")[0] != 200:
            fail("/healthz must stay 200: the process is alive")
        redis = start_redis(rport, work)
        t0 = time.time()
        wait_for("ready again once Redis is back", lambda: get(hport, "/readyz")[0] == 200, 15)
        print("ready %.1f s after Redis came back" % (time.time() - t0))
        # SIGTERM while Redis is away: exit 0 within 5 s.
        redis.terminate()
        redis.wait(10)
        wait_for("not ready again", lambda: get(hport, "/readyz")[0] == 503, 10)
        t0 = time.time()
        worker.terminate()
        try:
            rc = worker.wait(5)
        except subprocess.TimeoutExpired:
            fail("SIGTERM with Redis down took more than 5 s")
        if rc != 0:
            fail("SIGTERM with Redis down exited %d" % rc)
        print("SIGTERM with Redis down: exit 0 in %.1f s" % (time.time() - t0))
    finally:
        if worker.poll() is None:
            worker.kill()
        if redis.poll() is None:
            redis.terminate()
        log.close()
    print("readyz: ok")


if __name__ == "__main__":
    main()
