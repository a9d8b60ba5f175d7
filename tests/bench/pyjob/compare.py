#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Checks that the Python yardstick computed what the worker computed.

  compare.py snapshot --port P --out FILE   saves the keys both jobs write
  compare.py diff A B [--window-from MS --window-to MS]

A snapshot holds every counter hash (`:d:` and `:m:` keys, without the alert
counters `churn_alerts` / `sla_breaches`, which only the worker keeps), each
minute key's EXPIRETIME, the waiting zsets, and the cheap fields of the
customer hashes. `diff` exits 1 on the first differences (printed), 0 when
equal. Minute keys whose expiry lies inside the window (between the first
job's start and the second one's end) may exist in one snapshot only: their
presence is not compared.
"""

import argparse
import json
import sys

import redis

ALERT_FIELDS = {"churn_alerts", "sla_breaches"}
CUSTOMER_FIELDS = ("manager", "orders", "last_order_at", "open_tickets",
                   "last_nps")
CUSTOMER_DEFAULTS = {"orders": "0", "open_tickets": "0"}


def snapshot(port, prefix):
    r = redis.Redis(port=port, decode_responses=True)
    out = {"counters": {}, "expire": {}, "waiting": {}, "customers": {}}
    keys = list(r.scan_iter(match=prefix + ":{*", count=5000))
    types = r.pipeline(transaction=False)
    for k in keys:
        types.type(k)
    pipe = r.pipeline(transaction=False)
    plan = []
    for k, t in zip(keys, types.execute()):
        if t == "hash" and (":d:" in k or ":m:" in k):
            pipe.hgetall(k)
            plan.append(("counters", k))
            if ":m:" in k:
                pipe.expiretime(k)
                plan.append(("expire", k))
        elif t == "hash" and ":customer:" in k:
            pipe.hmget(k, CUSTOMER_FIELDS)
            plan.append(("customers", k))
        elif t == "zset" and k.endswith(":waiting"):
            pipe.zrange(k, 0, -1, withscores=True)
            plan.append(("waiting", k))
    for (what, k), v in zip(plan, pipe.execute()):
        if what == "counters":
            v = {f: n for f, n in v.items() if f not in ALERT_FIELDS}
            if v:
                out[what][k] = v
        elif what == "customers":
            c = dict(CUSTOMER_DEFAULTS)
            c.update({f: x for f, x in zip(CUSTOMER_FIELDS, v)
                      if x is not None})
            out[what][k] = c
        elif what == "waiting":
            out[what][k] = {m: int(s) for m, s in v}
        else:
            out[what][k] = v
    return out


def diff(a, b, lo_ms, hi_ms):
    errs = []

    def uncertain(k):
        e = a["expire"].get(k, b["expire"].get(k))
        return e is not None and lo_ms <= e * 1000 <= hi_ms + 60000

    for k in sorted(set(a["counters"]) | set(b["counters"])):
        ha, hb = a["counters"].get(k), b["counters"].get(k)
        if ha == hb:
            continue
        if (ha is None or hb is None) and ":m:" in k and uncertain(k):
            continue
        errs.append("%s: %s != %s" % (k, ha, hb))
    for k in sorted(set(a["expire"]) & set(b["expire"])):
        if a["expire"][k] != b["expire"][k]:
            errs.append("EXPIRETIME %s: %s != %s" % (k, a["expire"][k],
                                                    b["expire"][k]))
    if a["waiting"] != b["waiting"]:
        errs.append("waiting zsets differ: %d vs %d members" % (
            sum(map(len, a["waiting"].values())),
            sum(map(len, b["waiting"].values()))))
    for k in sorted(set(a["customers"]) | set(b["customers"])):
        ca = a["customers"].get(k, CUSTOMER_DEFAULTS)
        cb = b["customers"].get(k, CUSTOMER_DEFAULTS)
        if ca != cb:
            errs.append("%s: %s != %s" % (k, ca, cb))
    return errs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("snapshot")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--prefix", default="crm")
    s.add_argument("--out", required=True)
    d = sub.add_parser("diff")
    d.add_argument("a")
    d.add_argument("b")
    d.add_argument("--window-from", type=int, default=0)
    d.add_argument("--window-to", type=int, default=0)
    a = ap.parse_args()
    if a.cmd == "snapshot":
        snap = snapshot(a.port, a.prefix)
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump(snap, f)
        print("snapshot counters=%d minute_keys=%d customers=%d" % (
            len(snap["counters"]), len(snap["expire"]),
            len(snap["customers"])))
        return 0
    with open(a.a, encoding="utf-8") as f:
        sa = json.load(f)
    with open(a.b, encoding="utf-8") as f:
        sb = json.load(f)
    errs = diff(sa, sb, a.window_from, a.window_to)
    for e in errs[:20]:
        print("differs: " + e)
    if errs:
        print("compare: %d differences in %d counter keys, %d customers" % (
            len(errs), len(sa["counters"]), len(sa["customers"])))
        return 1
    print("compare: equal (%d counter keys, %d minute keys, %d customers)" % (
        len(sa["counters"]), len(sa["expire"]), len(sa["customers"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
