#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Redis memory by kind of key, to tell per-customer cost from counters.

  redis_memory.py --port P [--prefix crm]

Prints one line `redis_memory customers=N customer=B counters=B minutes=B
entities=B other=B` with MEMORY USAGE (all samples) summed per kind:
customer = the public customer hashes, the packed per-customer state, the
risk zsets and the timer zsets; counters = day hashes (with manager, channel,
source, funnel, rt); minutes = minute hashes; entities = deal and ticket
state and the waiting zsets; other = the rest (offsets, fences, alerts).
`customers` counts the fields of the packed state hashes.
"""

import argparse
import sys

import redis


def kind(key, prefix):
    if key.startswith("crmpulse:timers:"):
        return "customer"
    if not key.startswith(prefix + ":{"):
        return "other"
    rest = key.split("}:", 1)[1] if "}:" in key else ""
    if rest.startswith("customer:") or rest in ("state:customers", "risk"):
        return "customer"
    if rest.startswith("d:"):
        return "counters"
    if rest.startswith("m:"):
        return "minutes"
    if rest in ("state:deals", "state:tickets", "waiting"):
        return "entities"
    return "other"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--prefix", default="crm")
    a = ap.parse_args()
    r = redis.Redis(port=a.port, decode_responses=True)
    sums = dict.fromkeys(("customer", "counters", "minutes", "entities",
                          "other"), 0)
    customers = 0
    batch = []

    def flush():
        pipe = r.pipeline(transaction=False)
        for k in batch:
            pipe.memory_usage(k, samples=0)
        for k, n in zip(batch, pipe.execute()):
            sums[kind(k, a.prefix)] += n or 0
        batch.clear()

    for k in r.scan_iter(count=5000):
        batch.append(k)
        if k.endswith(":state:customers"):
            customers += r.hlen(k)
        if len(batch) >= 5000:
            flush()
    flush()
    print("redis_memory customers=%d %s" % (
        customers, " ".join("%s=%d" % kv for kv in sums.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
