#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Churn alert quality of a worker run against the generator's labels.

    churn_eval.py --labels FILE --alerts FILE --start-ms MS --end-ms MS
                  (--redis HOST:PORT [--prefix crm] | --scores FILE)
                  [--json FILE] [--check] [--title TEXT]

Reads only what a user of crmpulse sees: the alerts of crm.alerts (JSON
lines, as bench_alerts writes them), the `score` field of every customer
hash crm:{T}:customer:C (or a CSV tenant_id,customer_id,score) and, for the
count check, the churn_alerts / sla_breaches counters of the day hashes. The
labels are crmpulse-gen --churn-cohort --labels:
  tenant_id,customer_id,profile,churned,churn_start_ms[,population,business,
  manager_id]
(without a population column the profile names one: healthy -> healthy,
casual -> rare_loyal, fading and silent -> quiet_churner, complaining and
cancelling -> loud_churner, prospect -> prospect).

Definitions (per population and overall):
  counted alerts  CHURN_RISK alerts, at most one per customer per 7 days:
                  an alert within 7 days after the last counted one of the
                  same customer buys nothing and is not counted
  true alert      a counted alert on a customer labelled churned = 1 whose
                  event_time is at or after the churn start
  precision       true alerts / counted alerts
  recall          churned customers with a true alert / churned customers
  lead (days)     first true alert - churn start, median over the churned
                  customers with one (smaller is earlier)
  alerted/month   customers not labelled churned: alerted customer-months
                  (30-day windows from --start-ms with a counted alert) per
                  customer-month of history
  alerts/manager/day  all CHURN_RISK (and separately RESPONSE_SLA_BREACH)
                  alerts per manager of the labels per day of history
  Brier, ROC AUC  the customer hash `score` at the end against `churned`
                  (AUC only where both classes occur; ties count half);
                  prospects are left out (they never bought: no churn)

--check turns the run into a test: the files parse, every alert names a
labelled customer, every labelled customer has a score in [0, 1], every
rate lies in [0, 1], the per-population counts add up to the totals and the
alerts on crm.alerts equal the alert counters in Redis. Exit status 1 names
the first failed check. Low quality never fails: this measures.
"""
import argparse
import bisect
import csv
import json
import math
import socket
import sys

DAY = 86400000
WEEK = 7 * DAY
MONTH = 30 * DAY
POP_OF_PROFILE = {
    "healthy": "healthy", "casual": "rare_loyal", "fading": "quiet_churner",
    "silent": "quiet_churner", "complaining": "loud_churner",
    "cancelling": "loud_churner", "prospect": "prospect",
}
POP_ORDER = ["healthy", "rare_loyal", "prospect", "loud_churner",
             "quiet_churner"]


class CheckFailed(Exception):
    pass


def need(cond, what):
    if not cond:
        raise CheckFailed(what)


# ---- a minimal RESP client: pipelined commands, replies in order ----

class Redis:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=60)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise IOError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bulk(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise IOError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise IOError("redis: " + rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._bulk(n).decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise IOError("redis: unexpected reply %r" % line)

    def pipeline(self, cmds, chunk=5000):
        out = []
        for i in range(0, len(cmds), chunk):
            part = cmds[i:i + chunk]
            msg = []
            for c in part:
                msg.append("*%d\r\n" % len(c))
                for a in c:
                    b = str(a).encode()
                    msg.append("$%d\r\n" % len(b))
                    msg.append(b.decode("latin-1") + "\r\n")
            self.sock.sendall("".join(msg).encode("latin-1"))
            out.extend(self._reply() for _ in part)
        return out

    def scan(self, pattern):
        cursor, keys = "0", []
        while True:
            cursor, batch = self.pipeline(
                [["SCAN", cursor, "MATCH", pattern, "COUNT", 1000]])[0]
            keys.extend(batch)
            if cursor == "0":
                return keys


# ---- inputs ----

def read_labels(path, end_ms):
    custs = {}
    with open(path, newline="") as f:
        rd = csv.reader(f)
        head = next(rd, None)
        need(head and head[:5] == ["tenant_id", "customer_id", "profile",
                                   "churned", "churn_start_ms"],
             "%s: header %r, expected tenant_id,customer_id,profile,"
             "churned,churn_start_ms[,...]" % (path, head))
        col = {name: i for i, name in enumerate(head)}
        for n, row in enumerate(rd, start=2):
            need(len(row) == len(head),
                 "%s line %d: %d fields, expected %d" %
                 (path, n, len(row), len(head)))
            tenant, cust, profile = row[0], row[1], row[2]
            need(tenant and cust, "%s line %d: empty tenant or customer" %
                 (path, n))
            need(row[3] in ("0", "1"), "%s line %d: churned %r, expected 0/1"
                 % (path, n, row[3]))
            start = int(row[4]) if row[4] else None
            churned = row[3] == "1"
            need(not churned or (start is not None and start <= end_ms),
                 "%s line %d: churned 1 needs a churn start <= the end" %
                 (path, n))
            pop = row[col["population"]] if "population" in col else \
                POP_OF_PROFILE.get(profile)
            need(pop, "%s line %d: unknown profile %r" % (path, n, profile))
            key = (tenant, cust)
            need(key not in custs, "%s line %d: customer %s/%s twice" %
                 (path, n, tenant, cust))
            custs[key] = {
                "pop": pop, "churned": churned, "start": start,
                "business": row[col["business"]] if "business" in col else "",
                "manager": row[col["manager_id"]] if "manager_id" in col
                else "",
                "alerts": [], "score": None,
            }
    need(custs, "%s: no customers" % path)
    return custs


def read_alerts(path, custs):
    churn, sla, seen, dups = [], [], set(), 0
    with open(path) as f:
        for n, line in enumerate(f, start=1):
            try:
                a = json.loads(line)
                kind, t = a["kind"], int(a["event_time"])
                key = (a["tenant_id"], a["customer_id"])
                aid = a["alert_id"]
            except (ValueError, KeyError, TypeError) as e:
                raise CheckFailed("%s line %d: not an alert (%s)" %
                                  (path, n, e))
            need(kind in ("CHURN_RISK", "RESPONSE_SLA_BREACH"),
                 "%s line %d: kind %r" % (path, n, kind))
            need(key in custs, "%s line %d: customer %s/%s is not labelled"
                 % (path, n, key[0], key[1]))
            if aid in seen:
                dups += 1
                continue
            seen.add(aid)
            rec = (t, key, a.get("manager_id"))
            (churn if kind == "CHURN_RISK" else sla).append(rec)
    return churn, sla, dups


def read_scores_redis(r, prefix, custs):
    keys = list(custs)
    replies = r.pipeline([["HGET", "%s:{%s}:customer:%s" % (prefix, t, c),
                           "score"] for t, c in keys])
    for key, v in zip(keys, replies):
        custs[key]["score"] = None if v is None else float(v)


def read_scores_csv(path, custs):
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            key = (row["tenant_id"], row["customer_id"])
            if key in custs and row["score"] != "":
                custs[key]["score"] = float(row["score"])


def redis_alert_counters(r, prefix):
    keys = [k for k in r.scan("%s:{*}:d:*" % prefix)
            if k.count(":") == 3 + prefix.count(":")]
    tot = {"churn_alerts": 0, "sla_breaches": 0}
    if keys:
        for k, (ca, sb) in zip(keys, r.pipeline(
                [["HMGET", k, "churn_alerts", "sla_breaches"]
                 for k in keys])):
            tot["churn_alerts"] += int(ca or 0)
            tot["sla_breaches"] += int(sb or 0)
    return tot


# ---- metrics ----

def auc(pairs):
    """ROC AUC of (score, label) pairs, ties counted half; None without
    both classes."""
    pos = sum(1 for _, y in pairs if y)
    neg = len(pairs) - pos
    if pos == 0 or neg == 0:
        return None
    srt = sorted(pairs, key=lambda p: p[0])
    rank_sum, i = 0.0, 0
    while i < len(srt):
        j = i
        while j < len(srt) and srt[j][0] == srt[i][0]:
            j += 1
        avg = (i + 1 + j) / 2.0  # ranks i+1..j
        rank_sum += avg * sum(1 for k in range(i, j) if srt[k][1])
        i = j
    return (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg)


def median(xs):
    if not xs:
        return None
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2.0


def evaluate(custs, churn, sla, start_ms, end_ms):
    days = (end_ms - start_ms) / DAY
    months = (end_ms - start_ms) / MONTH
    for t, key, _ in sorted(churn):
        custs[key]["alerts"].append(t)
    groups = {}
    for key, c in custs.items():
        groups.setdefault(c["pop"], []).append(c)
        groups.setdefault("overall", []).append(c)
    res = {}
    for name, members in groups.items():
        counted = tp = churned = detected = 0
        leads, alerted_months, quiet = [], 0, 0
        # A prospect never bought: "churn" means nothing for it, so its
        # score is left out of Brier and AUC (its alerts still count).
        pairs = [(c["score"], 1 if c["churned"] else 0) for c in members
                 if c["score"] is not None and c["pop"] != "prospect"]
        for c in members:
            last, mine, first_tp = None, [], None
            for t in c["alerts"]:
                if last is None or t - last >= WEEK:
                    mine.append(t)
                    last = t
            counted += len(mine)
            for t in mine:
                if c["churned"] and t >= c["start"]:
                    tp += 1
                    if first_tp is None:
                        first_tp = t
            if c["churned"]:
                churned += 1
                if first_tp is not None:
                    detected += 1
                    leads.append((first_tp - c["start"]) / DAY)
            else:
                quiet += 1
                alerted_months += len({(t - start_ms) // MONTH
                                       for t in mine})
        res[name] = {
            "customers": len(members),
            "churned": churned,
            "alerts_counted": counted,
            "alerts_true": tp,
            "precision": tp / counted if counted else None,
            "recall": detected / churned if churned else None,
            "lead_days_median": median(leads),
            "not_churned": quiet,
            "alerted_per_month": (alerted_months / (quiet * months)
                                  if quiet and months > 0 else None),
            "scored": len(pairs),
            "brier": (sum((s - y) ** 2 for s, y in pairs) / len(pairs)
                      if pairs else None),
            "roc_auc": auc(pairs),
        }
    managers = {(k[0], c["manager"]) for k, c in custs.items()
                if c["manager"]}
    if not managers:  # older labels: the managers the alerts name
        managers = {(k[0], m) for _, k, m in churn + sla if m}
    per_mgr_day = {}
    for kind, lst in (("churn", churn), ("sla", sla)):
        cnt = {}
        for t, key, m in lst:
            d = (key[0], m, (t - start_ms) // DAY)
            cnt[d] = cnt.get(d, 0) + 1
        per_mgr_day[kind] = {
            "alerts": len(lst),
            "per_manager_per_day": (len(lst) / (len(managers) * days)
                                    if managers and days > 0 else None),
            "max_manager_day": max(cnt.values()) if cnt else 0,
        }
    return {"days": days, "managers": len(managers),
            "populations": res, "volume": per_mgr_day}


def check(ev, custs, churn, sla, counters):
    pops = [p for p in ev["populations"] if p != "overall"]
    tot = ev["populations"]["overall"]
    need(sum(ev["populations"][p]["customers"] for p in pops) ==
         len(custs) == tot["customers"], "customers do not add up")
    for f in ("alerts_counted", "alerts_true", "churned", "not_churned",
              "scored"):
        need(sum(ev["populations"][p][f] for p in pops) == tot[f],
             "%s do not add up over the populations" % f)
    need(tot["alerts_counted"] <= len(churn), "more counted than alerts")
    need(tot["churned"] + tot["not_churned"] == tot["customers"],
         "churned + not churned != customers")
    missing = [k for k, c in custs.items() if c["score"] is None]
    need(not missing, "%d labelled customers have no score (first: %s/%s)"
         % (len(missing), missing[0][0], missing[0][1]) if missing else "")
    for k, c in custs.items():
        need(0.0 <= c["score"] <= 1.0, "score %r of %s/%s outside [0, 1]" %
             (c["score"], k[0], k[1]))
    for p, m in ev["populations"].items():
        for f in ("precision", "recall", "alerted_per_month", "brier",
                  "roc_auc"):
            v = m[f]
            need(v is None or (0.0 <= v <= 1.0 and not math.isnan(v)),
                 "%s %s = %r outside [0, 1]" % (p, f, v))
        need(m["lead_days_median"] is None or m["lead_days_median"] >= 0,
             "%s: negative lead" % p)
    if counters is not None:
        need(counters["churn_alerts"] == len(churn),
             "Redis counts %d churn alerts, crm.alerts holds %d" %
             (counters["churn_alerts"], len(churn)))
        need(counters["sla_breaches"] == len(sla),
             "Redis counts %d SLA breaches, crm.alerts holds %d" %
             (counters["sla_breaches"], len(sla)))


def fmt(v, d=2):
    return "-" if v is None else ("%.*f" % (d, v))


def table(ev, title):
    lines = []
    if title:
        lines.append(title)
    lines.append("%-14s %7s %6s %7s %6s %6s %6s %8s %8s %6s %6s" % (
        "population", "custs", "churn", "alerts", "prec", "recall", "lead_d",
        "alrt/mo", "scored", "brier", "auc"))
    order = [p for p in POP_ORDER if p in ev["populations"]] + \
        sorted(p for p in ev["populations"]
               if p not in POP_ORDER and p != "overall") + ["overall"]
    for p in order:
        m = ev["populations"][p]
        lines.append("%-14s %7d %6d %7d %6s %6s %6s %8s %8d %6s %6s" % (
            p, m["customers"], m["churned"], m["alerts_counted"],
            fmt(m["precision"]), fmt(m["recall"]),
            fmt(m["lead_days_median"], 1), fmt(m["alerted_per_month"], 4),
            m["scored"], fmt(m["brier"], 3), fmt(m["roc_auc"], 3)))
    v = ev["volume"]
    lines.append("alerts per manager per day (%d managers, %.1f days): "
                 "CHURN_RISK %s (max %d on one manager-day), "
                 "RESPONSE_SLA_BREACH %s (max %d)" % (
                     ev["managers"], ev["days"],
                     fmt(v["churn"]["per_manager_per_day"], 3),
                     v["churn"]["max_manager_day"],
                     fmt(v["sla"]["per_manager_per_day"], 3),
                     v["sla"]["max_manager_day"]))
    o = ev["populations"]["overall"]
    lines.append("overall: precision %s recall %s median lead %s d, "
                 "non-churners alerted per month %s, Brier %s, ROC AUC %s" % (
                     fmt(o["precision"]), fmt(o["recall"]),
                     fmt(o["lead_days_median"], 1),
                     fmt(o["alerted_per_month"], 4), fmt(o["brier"], 3),
                     fmt(o["roc_auc"], 3)))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labels", required=True)
    ap.add_argument("--alerts", required=True)
    ap.add_argument("--start-ms", type=int, required=True)
    ap.add_argument("--end-ms", type=int, required=True)
    ap.add_argument("--redis")
    ap.add_argument("--prefix", default="crm")
    ap.add_argument("--scores")
    ap.add_argument("--json")
    ap.add_argument("--title", default="")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--meta", default="{}",
                    help="JSON object copied into the summary's config")
    args = ap.parse_args()
    if not args.redis and not args.scores:
        ap.error("give --redis HOST:PORT or --scores FILE")
    try:
        custs = read_labels(args.labels, args.end_ms)
        churn, sla, dups = read_alerts(args.alerts, custs)
        counters = None
        if args.redis:
            r = Redis(args.redis)
            read_scores_redis(r, args.prefix, custs)
            counters = redis_alert_counters(r, args.prefix)
        if args.scores:
            read_scores_csv(args.scores, custs)
        ev = evaluate(custs, churn, sla, args.start_ms, args.end_ms)
        ev["duplicate_alerts"] = dups
        ev["redis_counters"] = counters
        ev["config"] = json.loads(args.meta)
        if args.check:
            check(ev, custs, churn, sla, counters)
    except CheckFailed as e:
        print("churn_eval: check failed: %s" % e, file=sys.stderr)
        return 1
    except (OSError, IOError, ValueError) as e:
        print("churn_eval: %s" % e, file=sys.stderr)
        return 1
    print(table(ev, args.title))
    if args.check:
        print("checks passed: %d customers, %d CHURN_RISK and %d SLA alerts, "
              "all scored, counts add up%s" % (
                  len(custs), len(churn), len(sla),
                  ", Kafka = Redis counters" if counters else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(ev, f, indent=1, sort_keys=True)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
