#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Prints every key of a Redis database, sorted, one line per value, so two
runs can be compared byte for byte. TTLs are left out (they depend on when a
key was written); the consumer group name in the offsets key (and the
tenants' applied offsets) is normalised;
alerts:recent lists are reduced to their length (see below).

Usage: snapshot.py REDIS_URL [CUTOFF_EPOCH_S]
With a cutoff, keys that expire before it are left out: a minute key near
its retention edge may be written by a run that saw its minute live and
skipped by a later one, or expire between two snapshots; comparing runs made
at different times is only fair on keys that outlive both."""
import json
import sys

import redis


def main():
    url = sys.argv[1]
    cutoff = int(sys.argv[2]) if len(sys.argv) > 2 else None
    r = redis.Redis.from_url(url, decode_responses=False)
    out = []
    for key in sorted(r.scan_iter(count=10000)):
        if cutoff is not None:
            expires_at = r.execute_command("EXPIRETIME", key)
            # -2: gone since the scan; -1: no expiry.
            if expires_at == -2 or 0 <= expires_at < cutoff:
                continue
        kind = r.type(key).decode()
        name = key.decode("utf-8", "backslashreplace")
        if name.startswith("crmpulse:offsets:"):
            name = "crmpulse:offsets:<group>"
        if name.startswith("crmpulse:watermarks:"):
            name = "crmpulse:watermarks:<group>"
        if name.startswith("crmpulse:timers:"):
            name = "crmpulse:timers:<group>:" + name.split(":", 3)[3]
        head, sep, _ = name.partition("}:applied:")
        if sep:
            name = head + "}:applied:<group>"
        if name.startswith("crmpulse:fence:"):
            # Fence epochs count assignments, which differ run to run.
            out.append("crmpulse:fence:<group>:%s\tepoch" % name.rsplit(":", 1)[1])
            continue
        if kind == "hash":
            for f, v in sorted(r.hgetall(key).items()):
                out.append("%s\thash\t%s\t%s" % (name, f.decode("utf-8", "backslashreplace"),
                                                 v.decode("utf-8", "backslashreplace")))
        elif kind == "zset":
            for m, s in sorted(r.zrange(key, 0, -1, withscores=True)):
                out.append("%s\tzset\t%s\t%r" % (name, m.decode("utf-8", "backslashreplace"), s))
        elif kind == "string":
            out.append("%s\tstring\t%s" % (name, r.get(key).decode("utf-8", "backslashreplace")))
        elif kind == "list" and name.endswith(":alerts:recent"):
            # Which alerts are the last 100 depends on the order alerts of
            # different customers were decided in, which batch boundaries
            # change: compare the size and that no alert is in twice.
            ids = [json.loads(v)["alert_id"] for v in r.lrange(key, 0, -1)]
            out.append("%s\tlist\t%d alerts" % (name, len(ids)))
            if len(set(ids)) != len(ids):
                out.append("%s\tDUPLICATE ALERTS" % name)
        elif kind == "list":
            for i, v in enumerate(r.lrange(key, 0, -1)):
                out.append("%s\tlist\t%d\t%s" % (name, i, v.decode("utf-8", "backslashreplace")))
        else:
            out.append("%s\t%s" % (name, kind))
    sys.stdout.write("\n".join(sorted(out)) + "\n")


if __name__ == "__main__":
    main()
