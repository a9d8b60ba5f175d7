#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Which churners of a generated cohort show any change before the history
ends, and what recall and lead the alerts reach among those: the upper
bound a model that sees only the events can reach, next to what it did.

    churn_observable.py --truth TRUTH.csv --events EVENTS.csv
                        --alerts ALERTS.jsonl --end-ms MS

TRUTH.csv is bench_cohort_truth's output (the generator's story: churn
start, first event, usual time between orders), EVENTS.csv crmpulse-gen
--churn-cohort --events-csv of the same cohort, ALERTS.jsonl the CHURN_RISK
alerts (bench_alerts, or bench_churn cohort). A churner's change is
observable from the earliest of:
  - a sign after its churn start: a ticket opened, a detractor answer
    (NPS <= 6, CSAT <= 2, CES >= 5), a missed call, a cancellation;
  - for a fading churner, its first order after the start (the decline
    makes every order smaller than usual);
  - the last order before the start plus 1.5 usual intervals: the
    generator's regular gaps are at most 1.5 intervals (longer only in a
    holiday pause), so silence beyond that is a change.
Generous on purpose (one smaller order, one bad answer count): it bounds
what any model could find. The recall of the alerts is counted as
churn_eval.py counts it (an alert at or after the churn start); "lead
bound" is the median time from churn start to the earliest observable
change over the observable churners.
"""
import argparse
import collections
import csv
import json

DAY = 86400000


def median(xs):
    xs = sorted(xs)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--truth", required=True)
    ap.add_argument("--events", required=True)
    ap.add_argument("--alerts", required=True)
    ap.add_argument("--end-ms", type=int, required=True)
    a = ap.parse_args()
    end = a.end_ms
    ch = {}
    for r in csv.DictReader(open(a.truth, newline="")):
        if r["churned"] == "1":
            ch[r["customer_id"]] = {
                "profile": r["profile"], "start": int(r["churn_start_ms"]),
                "first": int(r["first_ms"]), "interval": int(r["interval_ms"]),
                "last_before": None, "earliest": None, "alert": None}
    with open(a.events, newline="") as f:
        for row in csv.reader(f):
            if len(row) < 5 or row[1] not in ch:
                continue
            c = ch[row[1]]
            t, obs = int(row[2]), row[3]
            v = int(row[4]) if row[4] else 0
            sign = obs in ("ticket_opened", "call_missed", "sub_cancelled") or \
                (obs == "nps" and v <= 6) or (obs == "csat" and v <= 2) or \
                (obs == "ces" and v >= 5) or \
                (obs == "order" and c["profile"] == "fading")
            if obs == "order" and t < c["start"]:
                c["last_before"] = max(c["last_before"] or t, t)
            if t >= c["start"] and sign and t < end:
                c["earliest"] = min(c["earliest"] or t, t)
    with open(a.alerts) as f:
        for line in f:
            al = json.loads(line)
            c = ch.get(al["customer_id"])
            if c and al.get("kind", "CHURN_RISK") == "CHURN_RISK" and \
                    al["event_time"] >= c["start"]:
                c["alert"] = min(c["alert"] or al["event_time"],
                                 al["event_time"])
    groups = collections.defaultdict(list)
    for c in ch.values():
        silent_from = (c["last_before"] or c["first"]) + 1.5 * c["interval"]
        e = min(x for x in (c["earliest"], silent_from) if x is not None)
        c["obs_at"] = max(e, c["start"]) if e <= end else None
        pop = "loud" if c["profile"] in ("complaining", "cancelling") else \
            "quiet"
        for g in (c["profile"], pop, "all"):
            groups[g].append(c)
    print("%-12s %7s %10s %7s %10s %9s %9s" % (
        "churners", "churned", "observable", "recall", "recall_obs",
        "lead_bnd", "lead"))
    for g in ("cancelling", "complaining", "fading", "silent", "loud",
              "quiet", "all"):
        cs = groups.get(g, [])
        if not cs:
            continue
        obs = [c for c in cs if c["obs_at"] is not None]
        hit = [c for c in cs if c["alert"] is not None]
        hit_obs = [c for c in obs if c["alert"] is not None]
        lb = median([(c["obs_at"] - c["start"]) / DAY for c in obs])
        ld = median([(c["alert"] - c["start"]) / DAY for c in hit])
        print("%-12s %7d %10d %7.3f %10.3f %9s %9s" % (
            g, len(cs), len(obs), len(hit) / len(cs),
            len(hit_obs) / len(obs) if obs else 0,
            "-" if lb is None else "%.1f" % lb,
            "-" if ld is None else "%.1f" % ld))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
