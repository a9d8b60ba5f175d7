#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Self-test of churn_eval.py's arithmetic on hand-made inputs: the 7-day
counting rule, true and false alerts around the churn start, lead, alerted
customer-months, alerts per manager per day, Brier, ROC AUC with ties, and
--check catching what does not add up; and score_auc.py on a
crmpulse-score CSV. Exit status 0 when all hold."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import churn_eval as ce  # noqa: E402

DAY = ce.DAY
T0 = 1_700_000_000_000


def run(labels, alerts, scores, *extra):
    d = tempfile.mkdtemp()
    paths = {}
    for name, rows in (("labels.csv", labels), ("alerts.jsonl", alerts),
                       ("scores.csv", scores)):
        paths[name] = os.path.join(d, name)
        with open(paths[name], "w") as f:
            f.write("\n".join(rows) + "\n")
    js = os.path.join(d, "summary.json")
    p = subprocess.run(
        [sys.executable, os.path.join(HERE, "churn_eval.py"),
         "--labels", paths["labels.csv"], "--alerts", paths["alerts.jsonl"],
         "--scores", paths["scores.csv"], "--start-ms", str(T0),
         "--end-ms", str(T0 + 60 * DAY), "--json", js] + list(extra),
        capture_output=True, text=True)
    out = json.load(open(js)) if p.returncode == 0 else None
    return p.returncode, p.stdout + p.stderr, out


def alert(aid, kind, cust, day, mgr="m1"):
    return json.dumps({"alert_id": aid, "kind": kind, "tenant_id": "t",
                       "customer_id": cust, "manager_id": mgr,
                       "event_time": T0 + int(day * DAY)})


def main():
    head = ("tenant_id,customer_id,profile,churned,churn_start_ms,"
            "population,business,manager_id")
    labels = [head,
              "t,h1,healthy,0,,healthy,retail,m1",
              "t,h2,healthy,0,,healthy,retail,m2",
              "t,l1,complaining,1,%d,loud_churner,retail,m1" % (T0 + 10 * DAY),
              "t,q1,silent,1,%d,quiet_churner,retail,m2" % (T0 + 20 * DAY),
              "t,q2,fading,0,%d,quiet_churner,retail,m2" % (T0 + 90 * DAY)]
    alerts = [
        # h1: days 1, 5 (within 7 days: not counted), 9 (counted), 40
        alert("a1", "CHURN_RISK", "h1", 1), alert("a2", "CHURN_RISK", "h1", 5),
        alert("a3", "CHURN_RISK", "h1", 9), alert("a4", "CHURN_RISK", "h1", 40),
        # l1: before its churn start (false), then 5.5 days after (true;
        # 7.5 days after the first, so it counts)
        alert("a5", "CHURN_RISK", "l1", 8), alert("a6", "CHURN_RISK", "l1", 15.5),
        # q1: never alerted; q2: an SLA breach only
        alert("a7", "RESPONSE_SLA_BREACH", "q2", 3),
        alert("a7", "RESPONSE_SLA_BREACH", "q2", 3),  # a duplicate id
    ]
    scores = ["tenant_id,customer_id,score", "t,h1,0.2", "t,h2,0.4",
              "t,l1,0.4", "t,q1,0.9", "t,q2,0.1"]
    rc, text, ev = run(labels, alerts, scores, "--check")
    assert rc == 0, text
    o, h = ev["populations"]["overall"], ev["populations"]["healthy"]
    assert h["alerts_counted"] == 3, h          # days 1, 9, 40
    assert o["alerts_counted"] == 5 and o["alerts_true"] == 1, o
    assert abs(o["precision"] - 0.2) < 1e-12, o
    assert o["recall"] == 0.5 and o["churned"] == 2, o   # l1 yes, q1 no
    assert o["lead_days_median"] == 5.5, o
    # h1 alerted in months 0 and 1 of 2; h2 never; q2 (not churned) never:
    # 2 customer-months of 3 customers x 2 months
    assert abs(o["alerted_per_month"] - 2 / 6) < 1e-12, o
    assert abs(h["alerted_per_month"] - 2 / 4) < 1e-12, h
    assert ev["duplicate_alerts"] == 1, ev
    v = ev["volume"]
    assert v["churn"]["alerts"] == 6 and v["sla"]["alerts"] == 1, v
    assert abs(v["churn"]["per_manager_per_day"] - 6 / (2 * 60)) < 1e-12
    # Brier: ((.2)^2 + (.4)^2 + (.6)^2 + (.1)^2 + (.1)^2) / 5
    assert abs(o["brier"] - (0.04 + 0.16 + 0.36 + 0.01 + 0.01) / 5) < 1e-12
    # AUC: positives 0.4, 0.9; negatives 0.2, 0.4, 0.1: pairs won
    # (0.4: 2 + half a tie) + (0.9: 3) = 5.5 of 6
    assert abs(o["roc_auc"] - 5.5 / 6) < 1e-12, o["roc_auc"]
    assert ce.auc([(0.5, 1), (0.5, 0)]) == 0.5
    assert ce.auc([(0.1, 1)]) is None

    # --check catches a customer without a score, an unlabelled alert and
    # a score outside [0, 1]
    rc, text, _ = run(labels, alerts, scores[:-1], "--check")
    assert rc == 1 and "have no score" in text, text
    rc, text, _ = run(labels, alerts + [alert("x", "CHURN_RISK", "zz", 1)],
                      scores, "--check")
    assert rc == 1 and "is not labelled" in text, text
    rc, text, _ = run(labels, alerts, scores[:-1] + ["t,q2,1.5"], "--check")
    assert rc == 1 and "outside [0, 1]" in text, text
    rc, text, _ = run(labels[:2] + ["t,h9,healthy,2,,healthy,retail,m1"],
                      [], scores, "--check")
    assert rc == 1 and "churned '2'" in text, text
    # score_auc.py: crmpulse-score's CSV (no tenant column) against labels
    d = tempfile.mkdtemp()
    sp, lp = os.path.join(d, "s.csv"), os.path.join(d, "l.csv")
    with open(sp, "w") as f:
        f.write('customer_id,score,level,reasons\n'
                'a,0.9,high,"[{""x"":1}]"\nb,0.2,none,[]\nc,0.9,high,[]\n')
    with open(lp, "w") as f:
        f.write("customer_id,churned\na,1\nb,0\nc,0\n")
    p = subprocess.run([sys.executable, os.path.join(HERE, "score_auc.py"),
                        "--scores", sp, "--labels", lp],
                       capture_output=True, text=True)
    assert p.returncode == 0 and "ROC AUC 0.7500" in p.stdout, p.stdout
    with open(lp, "a") as f:
        f.write("d,1\n")  # labelled, never scored
    p = subprocess.run([sys.executable, os.path.join(HERE, "score_auc.py"),
                        "--scores", sp, "--labels", lp],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "without a score 1" in p.stdout, p.stdout
    print("churn_eval self-test: all checks hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
