#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Prints every key of a Redis database, sorted, one line per value, so two
runs can be compared byte for byte. TTLs are left out (they depend on when a
key was written); the consumer group name in the offsets key is normalised;
alerts:recent lists are reduced to their length (see below)."""
import json
import sys

import redis


def main():
    url = sys.argv[1]
    r = redis.Redis.from_url(url, decode_responses=False)
    out = []
    for key in sorted(r.scan_iter(count=10000)):
        kind = r.type(key).decode()
        name = key.decode("utf-8", "backslashreplace")
        if name.startswith("crmpulse:offsets:"):
            name = "crmpulse:offsets:<group>"
        if name.startswith("crmpulse:watermarks:"):
            name = "crmpulse:watermarks:<group>"
        if name.startswith("crmpulse:timers:"):
            name = "crmpulse:timers:<group>:" + name.split(":", 3)[3]
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
