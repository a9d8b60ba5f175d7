#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The churn model on real orders (a JSON-lines history of OrderPlaced events
# and a labels CSV, e.g. the UCI "Online Retail" set turned into CrmEvents):
#
#  1. converts the history into crmpulse-fit's events CSV;
#  2. in time: ROC AUC and calibration (Brier, ECE, reliability by decile) of
#     MODEL (default: the built-in model) at the labels' cutoff;
#  3. out of time: fits on an earlier cutoff built from the same events
#     (labels = no order within HORIZON days after it, for the customers
#     with an order before it) and judges that fit at the labels' cutoff,
#     and at every --judge DATE (labels built the same way from the events).
#
# Usage: tests/bench/bench_churn_realdata.sh EVENTS.jsonl LABELS.csv CUTOFF
#        [--model FILE] [--early-cutoff DATE] [--horizon DAYS] [--build DIR]
#        [--judge DATE]...
#   CUTOFF, DATE: YYYY-MM-DD (UTC); the defaults: the built-in model, the
#   cutoff minus HORIZON days, 90 days, build-release. A --judge DATE lies
#   after the early cutoff and HORIZON days before the last event (else it
#   has no labels); less than HORIZON days after the early cutoff, its
#   labels' window overlaps the fit's (said in a note: partly in time).
# Prints what it runs and each report. Reads its inputs only.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
[ $# -ge 3 ] || { sed -n 3,22p "$0"; exit 2; }
events=$1 labels=$2 cutoff=$3
shift 3
model="" early="" horizon=90 build=$src/build-release judge=""
while [ $# -gt 0 ]; do
    case $1 in
    --model) model=$2; shift 2 ;;
    --early-cutoff) early=$2; shift 2 ;;
    --horizon) horizon=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --judge) judge="$judge $2"; shift 2 ;;
    *) echo "$0: unknown argument $1" >&2; exit 2 ;;
    esac
done
fit=$build/crmpulse-fit
[ -x "$fit" ] || { echo "$0: build crmpulse-fit in $build first" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$events" "$cutoff" "$horizon" "${early:-}" "$work" $judge <<'PY'
import json, sys, datetime
events, cutoff, horizon, early, work = sys.argv[1:6]
judge = sys.argv[6:]
day = 86400000
def ms(d):
    return int(datetime.datetime.strptime(d, "%Y-%m-%d").replace(
        tzinfo=datetime.timezone.utc).timestamp() * 1000)
cut = ms(cutoff)
early_ms = ms(early) if early else cut - int(horizon) * day
orders = []
with open(events) as f, open(work + "/events.csv", "w") as out:
    out.write("tenant_id,customer_id,occurred_at_ms,obs,value\n")
    for line in f:
        e = json.loads(line)
        p = e.get("payload", {})
        if p.get("type") != "OrderPlaced":
            continue
        t = int(e["occurred_at"])
        out.write("%s,%s,%d,order,%d\n" % (e["tenant_id"], e["customer_id"], t,
                                          int(p.get("amount_minor", 0))))
        orders.append(((e["tenant_id"], e["customer_id"]), t))
last_ms = max((t for _, t in orders), default=0)

def write_labels(at, until, path):
    # Only customers with an order before AT: one first seen later was not
    # a customer yet, and labelling it "stayed" leaks what came after AT.
    bought = {}
    for key, t in orders:
        if t < at:
            bought.setdefault(key, False)
    for key, t in orders:
        if at <= t < until and key in bought:
            bought[key] = True
    with open(path, "w") as out:
        out.write("tenant_id,customer_id,churned\n")
        for (tenant, cust), b in sorted(bought.items()):
            out.write("%s,%s,%d\n" % (tenant, cust, 0 if b else 1))

write_labels(early_ms, min(early_ms + int(horizon) * day, cut),
             work + "/early-labels.csv")
with open(work + "/judge", "w") as jl:
    for d in judge:
        at = ms(d)
        if at <= early_ms:
            sys.exit("--judge %s: not after the early cutoff; pick a later "
                     "date" % d)
        if at < early_ms + int(horizon) * day:
            print("note: --judge %s: its horizon overlaps the fit's by %d "
                  "days (partly in time)" % (d, (early_ms + int(horizon) * day
                                                 - at) // day))
        if at + int(horizon) * day > last_ms + day:
            sys.exit("--judge %s: the events end before its horizon does "
                     "(no labels); pick an earlier date" % d)
        write_labels(at, at + int(horizon) * day,
                     work + "/judge-%s.csv" % d)
        jl.write("%s\n" % d)
with open(work + "/early-cutoff", "w") as out:
    out.write(str(early_ms))
PY
early_ms=$(cat "$work/early-cutoff")

echo "== in time: ${model:-built-in model} at $cutoff"
echo "\$ crmpulse-fit --events EVENTS.csv --labels $(basename "$labels") --cutoff $cutoff --evaluate ${model:-BUILTIN}"
if [ -z "$model" ]; then
    # The built-in model, written out by a fit that changes nothing
    # would be a different model: print it through --evaluate of the
    # default file instead.
    model=$src/deploy/model.conf
fi
"$fit" --events "$work/events.csv" --labels "$labels" --cutoff "$cutoff" \
    --evaluate "$model"

echo
echo "== out of time: fit at $early_ms ms (labels: an order within $horizon days after it), judged at $cutoff"
echo "\$ crmpulse-fit --events EVENTS.csv --labels EARLY.csv --cutoff $early_ms --base $(basename "$model") --orders-only -o early.conf"
"$fit" --events "$work/events.csv" --labels "$work/early-labels.csv" \
    --cutoff "$early_ms" --base "$model" --orders-only -o "$work/early.conf" -q
"$fit" --events "$work/events.csv" --labels "$labels" --cutoff "$cutoff" \
    --evaluate "$work/early.conf"
while read -r d; do
    echo
    echo "== out of time: the same fit judged at $d (labels: an order within $horizon days after it, from the events)"
    "$fit" --events "$work/events.csv" --labels "$work/judge-$d.csv" \
        --cutoff "$d" --evaluate "$work/early.conf"
done < "$work/judge"
