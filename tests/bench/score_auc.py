#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""ROC AUC and Brier score of churn scores against labels.

    score_auc.py --scores S.csv --labels L.csv

S.csv has customer_id and score columns (crmpulse-score writes
customer_id,score,level,reasons) and optionally tenant_id; L.csv has
customer_id and churned (0/1) columns (crmpulse-gen --labels, or the labels
of a real history) and optionally tenant_id. They are joined on (tenant_id,
customer_id) when both name the tenant, else on customer_id. Labelled
customers without a score, and scores that are not numbers in [0, 1], are
counted and make the exit status 1: nothing is dropped silently.
"""
import argparse
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from churn_eval import auc  # noqa: E402


def read(path, need):
    with open(path, newline="") as f:
        rd = csv.DictReader(f)
        missing = [c for c in need if c not in (rd.fieldnames or [])]
        if missing:
            sys.exit("score_auc: %s: no column %s (columns: %s)" %
                     (path, ", ".join(missing), ",".join(rd.fieldnames or [])))
        return rd.fieldnames, list(rd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scores", required=True)
    ap.add_argument("--labels", required=True)
    args = ap.parse_args()
    sf, srows = read(args.scores, ["customer_id", "score"])
    lf, lrows = read(args.labels, ["customer_id", "churned"])
    by_tenant = "tenant_id" in sf and "tenant_id" in lf

    def key(r):
        return (r["tenant_id"], r["customer_id"]) if by_tenant \
            else r["customer_id"]
    scores, bad = {}, 0
    for r in srows:
        try:
            v = float(r["score"])
        except ValueError:
            v = -1.0
        if not 0.0 <= v <= 1.0:
            bad += 1
            continue
        scores[key(r)] = v
    pairs, unscored = [], 0
    for r in lrows:
        if r["churned"] not in ("0", "1"):
            sys.exit("score_auc: %s: churned %r for %s (expected 0/1)" %
                     (args.labels, r["churned"], r["customer_id"]))
        if key(r) not in scores:
            unscored += 1
            continue
        pairs.append((scores[key(r)], 1 if r["churned"] == "1" else 0))
    a = auc(pairs)
    brier = sum((s - y) ** 2 for s, y in pairs) / len(pairs) if pairs \
        else None
    print("customers %d scored %d (labelled without a score %d, bad scores "
          "%d) churned %d  ROC AUC %s  Brier %s" % (
              len(lrows), len(pairs), unscored, bad,
              sum(y for _, y in pairs),
              "-" if a is None else "%.4f" % a,
              "-" if brier is None else "%.4f" % brier))
    return 1 if unscored or bad or a is None else 0


if __name__ == "__main__":
    sys.exit(main())
