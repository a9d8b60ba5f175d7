#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""crmpulse against a real Apache Kafka 0.9.0.1 broker (deploy/kafka09.sh):
crmpulse-gen produces three generated streams (with invalid messages) to
crm.events (4 partitions) while two workers of one group consume them into
a real redis-server: worker A alone first, worker B joins mid-stream (a
rebalance), B is SIGKILLed mid-stream and started again (a restart). Then
every counter in Redis must equal the independent oracle's
(tests/integration/oracle.py, with the alerts read back from crm.alerts),
the group's offsets in Redis must cover every message exactly, and
crm.events.dlq must hold a dead letter for each invalid message.

Usage: test_kafka09.py BIN_DIR SOURCE_DIR

CP_KAFKA09_EVENTS: valid events over the three streams (default 30000, the
CI size; e.g. 600000 for a longer run).

When the broker cannot be had here (no network for npm, no Java) the test
says so loudly and exits 77, which ctest reports as skipped; any other
problem fails it.
"""
import glob
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import avro.io
import avro.schema
import redis

SKIP = 77
GROUP = "crmpulse-k09"
# What librdkafka 2.x needs to talk to a 0.9 broker: no ApiVersion request
# (0.9 closes the connection on it), the protocol features of 0.9, no
# idempotent producer (needs 0.11), a session timeout the broker accepts.
OLD_BROKER = [
    "kafka.broker.version.fallback=0.9.0.1",
    "kafka.api.version.request=false",
    "kafka.enable.idempotence=false",
    "kafka.session.timeout.ms=6000",
]

bin_dir = src_dir = work = None
procs = []


def log(msg):
    print("test_kafka09: " + msg, flush=True)


def fail(msg):
    print("FAIL: " + msg, flush=True)
    raise SystemExit(1)


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            lines = f.readlines()[-n:]
    except OSError:
        return
    for line in lines:
        sys.stdout.write("  | " + line)
    sys.stdout.flush()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kafka09(action):
    """Runs deploy/kafka09.sh @action in its own process group, so that an
    interrupted start leaves none of its helpers behind."""
    env = dict(os.environ, CP_KAFKA09_DIR=os.path.join(work, "kafka09"))
    p = subprocess.Popen(["bash", os.path.join(src_dir, "deploy", "kafka09.sh"), action],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=600)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def start_broker():
    t0 = time.monotonic()
    r = kafka09("start")
    if r.returncode == 3:
        print("\n*** SKIPPED: no Apache Kafka 0.9 broker on this machine ***\n"
              + r.stderr, flush=True)
        raise SystemExit(SKIP)
    if r.returncode != 0:
        sys.stdout.write(r.stderr)
        fail("deploy/kafka09.sh start exited %d" % r.returncode)
    boot = r.stdout.strip().splitlines()[-1]
    log("Kafka 0.9.0.1 at %s, up in %.1f s" % (boot, time.monotonic() - t0))
    return boot


def start_redis():
    port = free_port()
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--dir", work],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    r = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(100):
        try:
            r.ping()
            return "redis://127.0.0.1:%d" % port, r
        except redis.exceptions.ConnectionError:
            time.sleep(0.1)
    fail("redis-server did not start")


def gen(boot, dump, seed, n, start_ms, rate=0):
    """Starts crmpulse-gen: n valid events + 5 invalid per 1000, @rate
    events/s (0: as fast as it can)."""
    path = os.path.join(work, "gen-%s.log" % seed)
    argv = [os.path.join(bin_dir, "crmpulse-gen"), "-b", boot, "-n", str(n),
            "-c", "5000", "--tenants", "3", "-s", seed, "--invalid", "5",
            "--start-ms", str(start_ms), "--step-ms", "5", "-r", str(rate),
            "-o", dump, "-q"]
    for x in OLD_BROKER:
        argv += ["-X", x]
    p = subprocess.Popen(argv, stdout=open(path, "w"), stderr=subprocess.STDOUT)
    procs.append(p)
    return p, path


def gen_wait(g):
    p, path = g
    rc = p.wait(timeout=300)
    if rc != 0:
        tail(path)
        fail("crmpulse-gen exited %d" % rc)


def worker(boot, redis_url, name):
    path = os.path.join(work, "worker-%s.log" % name)
    argv = [os.path.join(bin_dir, "crmpulse"),
            "-X", "kafka.bootstrap.servers=" + boot, "-X", "redis.url=" + redis_url,
            "-X", "kafka.group.id=" + GROUP, "-X", "worker.exit.idle.ms=10000",
            "-X", "http.listen=", "-X", "time.idle_advance=0"]
    for x in OLD_BROKER:
        argv += ["-X", x]
    p = subprocess.Popen(argv, stdout=open(path, "a"), stderr=subprocess.STDOUT)
    procs.append(p)
    return p, path


def wait_assigned(w, seconds=90):
    """Waits until worker @w logged a non-empty assignment."""
    p, path = w
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with open(path, errors="replace") as f:
            for line in f:
                if "assigned " in line and "assigned 0 " not in line:
                    return line.strip()
        if p.poll() is not None:
            tail(path)
            fail("worker %s exited %d before its assignment" % (path, p.returncode))
        time.sleep(0.05)
    tail(path)
    fail("worker %s got no partitions within %d s" % (path, seconds))


def committed(r):
    return sum(int(v) for v in r.hvals("crmpulse:offsets:" + GROUP))


def wait_commits(r, target, workers, seconds=150):
    """Waits until the group committed @target messages; fails if a worker
    died on the way or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done = committed(r)
        if done >= target:
            return done
        for p, path in workers:
            if p.poll() is not None:
                tail(path)
                fail("worker %s exited %d early" % (path, p.returncode))
        time.sleep(0.02)
    fail("%d of %d messages committed after %d s" % (committed(r), target, seconds))


def dump_count(path):
    """(messages, invalid ones) of a crmpulse-gen dump file."""
    n = bad = 0
    with open(path, "rb") as f:
        while True:
            flag = f.read(1)
            if not flag:
                return n, bad
            for _ in range(2):
                (size,) = struct.unpack(">I", f.read(4))
                if size != 0xFFFFFFFF:
                    f.seek(size, os.SEEK_CUR)
            n += 1
            bad += flag[0] == 1


def read_topic(boot, topic):
    """Every message value of @topic, read with a fresh group."""
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": boot, "group.id": "check-%s-%d" % (topic, os.getpid()),
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "broker.version.fallback": "0.9.0.1", "api.version.request": False,
                  "session.timeout.ms": 6000})
    c.subscribe([topic])
    values, quiet = [], 0.0
    try:
        # Joining takes seconds; then stop once nothing more arrives.
        while quiet < (3.0 if values else 20.0):
            msgs = c.consume(1000, 0.2)
            quiet = 0.0 if msgs else quiet + 0.2
            for m in msgs:
                if m.error():
                    fail("reading %s: %s" % (topic, m.error()))
                values.append(m.value())
    finally:
        c.close()
    return values


def unframe(value, schema_id):
    if len(value) < 5 or value[0] != 0 or struct.unpack(">I", value[1:5])[0] != schema_id:
        fail("message without Confluent framing of schema %d" % schema_id)
    return value[5:]


def read_dead_letters(boot):
    """{(partition, offset): reason} of crm.events.dlq (at least once: a
    repeat must be the same dead letter)."""
    import io

    with open(os.path.join(src_dir, "schemas", "dead_letter.avsc")) as f:
        schema = avro.schema.parse(f.read())
    seen = {}
    for v in read_topic(boot, "crm.events.dlq"):
        dl = avro.io.DatumReader(schema).read(
            avro.io.BinaryDecoder(io.BytesIO(unframe(v, 3))))
        if dl["topic"] != "crm.events" or not dl["reason"]:
            fail("bad dead letter %r" % dl)
        seen[(dl["partition"], dl["offset"])] = dl["reason"]
    return seen


def dump_alerts(boot, path):
    sys.path.insert(0, os.path.join(src_dir, "tests", "integration"))
    import alert_decode
    import json

    schemas = {}
    for sid, name in alert_decode.ALERT_SCHEMAS.items():
        with open(os.path.join(src_dir, "schemas", name)) as f:
            schemas[sid] = avro.schema.parse(f.read())
    n = 0
    with open(path, "w") as out:
        for v in read_topic(boot, "crm.alerts"):
            schema = schemas[alert_decode.schema_id_of(v, False)]
            a = alert_decode.ordered(schema, alert_decode.decode(
                schema, alert_decode.unframe(v, False)))
            out.write(json.dumps(a, ensure_ascii=False, separators=(",", ":")) + "\n")
            n += 1
    return n


def run():
    total = int(os.environ.get("CP_KAFKA09_EVENTS", "30000"))
    part = total // 3
    t_start = time.monotonic()
    boot = start_broker()
    redis_url, r = start_redis()
    dumps = [os.path.join(work, "stream-%d.bin" % i) for i in range(3)]
    now = int(time.time() * 1000)
    t0 = now - 3600 * 1000
    produced_from = now

    # Stream 1 at full speed, consumed by worker A alone; streams 2 and 3
    # are produced at a fixed rate (~15 s and ~8 s) so that B joins, dies
    # and comes back while messages are still arriving.
    gen_wait(gen(boot, dumps[0], "42", part, t0))
    n1 = dump_count(dumps[0])[0]
    t_consume = time.monotonic()
    a = worker(boot, redis_url, "a")
    wait_assigned(a)
    wait_commits(r, n1, [a])
    g2 = gen(boot, dumps[1], "43", part, t0 + part * 5 + 60000, max(1, part // 15))
    wait_commits(r, n1 + part // 10, [a])
    b = worker(boot, redis_url, "b")
    line = wait_assigned(b)
    log("rebalance: worker B joined at %d committed, stream 2 %s (%s)"
        % (committed(r), "still producing" if g2[0].poll() is None else "produced", line))

    # SIGKILL B while it consumes (half of stream 2 in), start it again.
    wait_commits(r, n1 + part // 2, [a, b])
    b[0].send_signal(signal.SIGKILL)
    b[0].wait()
    log("restart: worker B SIGKILLed at %d committed, stream 2 %s"
        % (committed(r), "still producing" if g2[0].poll() is None else "produced"))
    b = worker(boot, redis_url, "b2")
    # The oracle reads the dumps in order: stream 3 only after stream 2.
    gen_wait(g2)
    g3 = gen(boot, dumps[2], "44", part, t0 + 2 * (part * 5 + 60000),
             max(1, part // 8))
    line = wait_assigned(b)
    log("restart: worker B back at %d committed, stream 3 %s (%s)"
        % (committed(r), "still producing" if g3[0].poll() is None else "produced", line))
    gen_wait(g3)
    counts = [dump_count(d) for d in dumps]
    n_all = sum(c[0] for c in counts)
    invalid = sum(c[1] for c in counts)
    wait_commits(r, n_all, [a, b])
    consumed_s = time.monotonic() - t_consume
    for p, path in (a, b):
        try:
            rc = p.wait(timeout=90)
        except subprocess.TimeoutExpired:
            rc = -1
        if rc != 0:
            tail(path)
            fail("worker %s: exit %d (-1: still running after 90 s)" % (path, rc))
    # Sanitizer builds: a report in a worker or generator log fails the run.
    for path in glob.glob(os.path.join(work, "*.log")):
        with open(path, errors="replace") as f:
            for line in f:
                if ("AddressSanitizer" in line or "LeakSanitizer" in line
                        or "runtime error:" in line):
                    tail(path, 40)
                    fail("sanitizer report in %s" % path)
    # Both workers that ran to the end did part of the work.
    for p, path in (a, b):
        with open(path, errors="replace") as f:
            applied = re.findall(r"stopped: (\d+) events applied", f.read())
        if not applied or int(applied[-1]) == 0:
            tail(path)
            fail("worker %s applied no events" % path)
        log("%s: %s events applied" % (os.path.basename(path), applied[-1]))
    done = committed(r)
    if done != n_all:
        fail("offsets in Redis cover %d messages, %d were produced" % (done, n_all))
    log("%d messages (%d invalid) consumed and committed in %.1f s"
        % (n_all, invalid, consumed_s))

    dl = read_dead_letters(boot)
    if len(dl) != invalid:
        fail("%d distinct dead letters on crm.events.dlq, %d invalid messages"
             % (len(dl), invalid))
    alerts = os.path.join(work, "alerts.jsonl")
    n_alerts = dump_alerts(boot, alerts)
    log("%d dead letters, %d alert records on crm.alerts" % (len(dl), n_alerts))

    argv = ["/usr/bin/python3", os.path.join(src_dir, "tests", "integration", "oracle.py")]
    for d in dumps:
        argv += ["--dump", d]
    argv += ["--schema-dir", os.path.join(src_dir, "schemas"), "--redis-url", redis_url,
             "--dlq-count", str(invalid), "--processed-from", str(produced_from),
             "--alerts", alerts]
    o = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=600)
    sys.stdout.write("".join("  | " + l + "\n" for l in o.stdout.splitlines()[-(30 if o.returncode else 2):]))
    if o.returncode != 0:
        fail("oracle found mismatches (exit %d)" % o.returncode)
    log("exact: Redis equals the oracle; whole test %.1f s" % (time.monotonic() - t_start))


def main():
    global bin_dir, src_dir, work
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    bin_dir, src_dir = sys.argv[1], sys.argv[2]
    # ctest's timeout sends SIGTERM: still stop the broker (its own session).
    signal.signal(signal.SIGTERM, lambda *_: fail("terminated (SIGTERM)"))
    work = tempfile.mkdtemp(prefix="crmpulse-kafka09-")
    ok = False
    try:
        run()
        ok = True
    except SystemExit as e:
        ok = e.code == SKIP
        raise
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        kafka09("stop")
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("test_kafka09: logs kept in %s: %s" % (
                work, " ".join(sorted(os.path.basename(x) for x in glob.glob(work + "/*.log")))),
                flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
