# SPDX-License-Identifier: Apache-2.0
"""Writes a realistic wallboard data set into Redis exactly per the key
contract (day / manager / channel / source / funnel / rt hashes for today
and the same weekday last week, waiting, risk, customer hashes,
alerts:recent), for the browser test, the load test and the screenshot.

    python3 fixture.py PORT [PREFIX]
"""
import datetime
import json
import random
import sys
import time

from resp import Redis

TENANTS = ["acme-retail", "globex", "initech"]
MANAGERS = ["anna.k", "boris.p", "chen.l", "dana.r", "emil.s", "fatima.o"]
SOURCES = ["google_ads", "facebook", "referral", "organic", "email_campaign"]
CHANNELS = ["phone", "email", "chat", "messenger", "web"]
STAGES = [("qualified", 0.62), ("proposal", 0.41), ("negotiation", 0.27)]
RT = ["b15", "b30", "b60", "b120", "b300", "b600", "b900", "b1800", "b3600",
      "b7200", "b14400", "b28800", "b86400", "binf"]
REASONS = [
    ("order_silence", "no order for {d} days; usually every {u} days"),
    ("nps", "NPS {n} on {day}"),
    ("open_tickets", "{t} tickets open, oldest {o} days"),
    ("order_rate", "orders down {p}% vs. usual"),
    ("missed_calls", "{m} missed inbound calls this week"),
]


def day_counters(rnd, scale):
    c = {}
    c["leads"] = int(140 * scale)
    c["web_visits"] = int(2300 * scale)
    c["orders"] = int(310 * scale)
    c["first_orders"] = int(c["orders"] * rnd.uniform(0.25, 0.4))
    c["repeat_orders"] = c["orders"] - c["first_orders"]
    c["order_amount_minor"] = c["orders"] * rnd.randint(3500, 6800)
    c["deals_won"] = int(c["leads"] * rnd.uniform(0.18, 0.26))
    c["deals_lost"] = int(c["leads"] * rnd.uniform(0.2, 0.3))
    c["won_amount_minor"] = c["deals_won"] * rnd.randint(40000, 90000)
    c["deal_cycle_count"] = c["deals_won"]
    c["deal_cycle_ms_sum"] = c["deals_won"] * rnd.randint(3, 9) * 86400000
    c["messages_in"] = int(900 * scale)
    c["messages_out"] = int(840 * scale)
    c["responses"] = int(420 * scale)
    c["response_ms_sum"] = c["responses"] * rnd.randint(60000, 400000)
    c["calls"] = int(260 * scale)
    c["calls_inbound"] = int(c["calls"] * 0.6)
    c["calls_missed"] = int(c["calls_inbound"] * rnd.uniform(0.04, 0.12))
    c["call_ms_sum"] = c["calls"] * rnd.randint(60000, 240000)
    c["tickets_opened"] = int(48 * scale)
    c["tickets_resolved"] = int(c["tickets_opened"] * rnd.uniform(0.7, 0.95))
    c["resolution_ms_sum"] = c["tickets_resolved"] * rnd.randint(2, 30) * 3600000
    c["nps_promoters"] = int(40 * scale)
    c["nps_passives"] = int(15 * scale)
    c["nps_detractors"] = int(9 * scale)
    c["csat_count"] = int(70 * scale)
    c["csat_sum"] = int(c["csat_count"] * rnd.uniform(3.8, 4.6))
    c["csat_satisfied"] = int(c["csat_count"] * rnd.uniform(0.75, 0.9))
    c["ces_count"] = int(30 * scale)
    c["ces_sum"] = int(c["ces_count"] * rnd.uniform(2.0, 3.5))
    c["subs_started"] = int(12 * scale)
    c["subs_renewed"] = int(30 * scale)
    c["subs_cancelled"] = int(4 * scale)
    c["mrr_cancelled_minor"] = c["subs_cancelled"] * 4900
    c["churn_alerts"] = int(7 * scale)
    c["sla_breaches"] = int(3 * scale)
    c["events"] = sum(c[k] for k in ("leads", "web_visits", "orders", "messages_in",
                                     "messages_out", "calls", "tickets_opened",
                                     "tickets_resolved", "csat_count", "ces_count"))
    return c


def split(rnd, total, n):
    w = [rnd.uniform(0.3, 1.0) for _ in range(n)]
    s = sum(w)
    parts = [int(total * x / s) for x in w]
    parts[0] += total - sum(parts)
    return parts


def hset(key, mapping):
    args = ["HSET", key]
    for k, v in mapping.items():
        args += [k, v]
    return args


def load(r, prefix="crm", now_ms=None, seed=7):
    rnd = random.Random(seed)
    now_ms = now_ms or int(time.time() * 1000)
    today = datetime.datetime.utcfromtimestamp(now_ms / 1000).date()
    cmds = []
    for ti, t in enumerate(TENANTS):
        for day, scale in ((today, 1.0 - 0.25 * ti), (today - datetime.timedelta(days=7),
                                                       0.9 - 0.2 * ti)):
            D = day.isoformat()
            base = "%s:{%s}:d:%s" % (prefix, t, D)
            c = day_counters(rnd, scale)
            cmds.append(hset(base, c))
            for ch, share in zip(CHANNELS, split(rnd, 1000, len(CHANNELS))):
                cmds.append(hset(base + ":channel:" + ch,
                                 {k: v * share // 1000 for k, v in c.items()}))
            for m, share in zip(MANAGERS, split(rnd, 1000, len(MANAGERS))):
                cmds.append(hset(base + ":manager:" + m,
                                 {k: v * share // 1000 for k, v in c.items()}))
            for s, share in zip(SOURCES, split(rnd, 1000, len(SOURCES))):
                cmds.append(hset(base + ":source:" + s, {
                    k: c[k] * share // 1000
                    for k in ("leads", "deals_won", "deals_lost", "won_amount_minor")}))
            funnel = {"lead": c["leads"], "won": c["deals_won"], "lost": c["deals_lost"]}
            for name, frac in STAGES:
                funnel["stage:" + name] = int(c["leads"] * frac * rnd.uniform(0.9, 1.1))
            cmds.append(hset(base + ":funnel", funnel))
            hist = split(rnd, c["responses"], len(RT))
            hist.sort(reverse=True)
            hist = hist[2:5] + hist[:2] + hist[5:]
            cmds.append(hset(base + ":rt", dict(zip(RT, hist))))
        waiting = ["%s:{%s}:waiting" % (prefix, t)]
        cmds.append(["DEL", waiting[0]])
        for i in range(5 + 4 * ti):
            cmds.append(["ZADD", waiting[0], now_ms - rnd.randint(20, 5400) * 1000,
                         "conv-%d-%04d" % (ti, i)])
        risk = "%s:{%s}:risk" % (prefix, t)
        for i in range(40):
            cust = "C%05d" % (1000 * (ti + 1) + i)
            score = round(rnd.betavariate(2, 5) if i > 8 else rnd.uniform(0.62, 0.97), 4)
            level = "critical" if score >= 0.85 else "high" if score >= 0.6 else "none"
            reasons = []
            for f, tmpl in rnd.sample(REASONS, 3):
                reasons.append({"factor": f, "contribution": round(rnd.uniform(0.2, 1.5), 3),
                                "detail": tmpl.format(d=rnd.randint(30, 90), u=rnd.randint(7, 20),
                                                      n=rnd.randint(1, 5),
                                                      day=(today - datetime.timedelta(days=rnd.randint(1, 9))).isoformat(),
                                                      t=rnd.randint(2, 4), o=rnd.randint(5, 14),
                                                      p=rnd.randint(40, 80), m=rnd.randint(2, 5))})
            reasons.sort(key=lambda x: -x["contribution"])
            cmds.append(["ZADD", risk, score, cust])
            cmds.append(hset("%s:{%s}:customer:%s" % (prefix, t, cust), {
                "score": score, "level": level, "reasons": json.dumps(reasons),
                "scored_at": now_ms - rnd.randint(0, 3600000),
                "manager": rnd.choice(MANAGERS), "orders": rnd.randint(1, 40),
                "last_order_at": now_ms - rnd.randint(5, 90) * 86400000,
                "open_tickets": rnd.randint(0, 4), "last_nps": rnd.randint(0, 10)}))
        alerts = "%s:{%s}:alerts:recent" % (prefix, t)
        cmds.append(["DEL", alerts])
        for i in range(12):
            cust = "C%05d" % (1000 * (ti + 1) + i)
            cmds.append(["RPUSH", alerts, json.dumps(make_alert(
                t, cust, rnd.choice(MANAGERS), "alert-%s-%d" % (t, i),
                now_ms - i * 420000, rnd))])
    r.pipeline(cmds)
    return today.isoformat()


def make_alert(tenant, customer, manager, alert_id, at_ms, rnd=None, level=None):
    rnd = rnd or random.Random(alert_id)
    score = round(rnd.uniform(0.6, 0.97), 4)
    sla = rnd.random() < 0.2
    return {
        "alert_id": alert_id,
        "kind": "RESPONSE_SLA_BREACH" if sla else "CHURN_RISK",
        "tenant_id": tenant, "customer_id": customer, "manager_id": manager,
        "level": level or ("CRITICAL" if score >= 0.85 else "HIGH"),
        "risk_score": score, "previous_score": round(score - 0.2, 4),
        "reasons": [{"factor": "order_silence", "contribution": 1.1,
                     "detail": "no order for %d days; usually every 12 days" % rnd.randint(30, 80)},
                    {"factor": "nps", "contribution": 0.6, "detail": "NPS 3 on 2026-11-20"},
                    {"factor": "open_tickets", "contribution": 0.4,
                     "detail": "2 tickets open, oldest 9 days"}],
        "triggered_by": None, "event_time": at_ms, "emitted_at": at_ms + 800,
        "model_version": "churn-v1",
    }


if __name__ == "__main__":
    port = int(sys.argv[1])
    prefix = sys.argv[2] if len(sys.argv) > 2 else "crm"
    r = Redis(port)
    print(load(r, prefix))
