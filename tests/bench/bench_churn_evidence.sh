#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The alert's evidence weights fitted on one seed, judged on another, on
# generated data only (never real data):
#
#   bench_churn_evidence.sh [--build-dir DIR] [--out-dir DIR]
#                           [--train-seed N] [--eval-seed N]
#                           [--horizon DAYS] [--precision P] [--step DAYS]
#                           [--base FILE] [--no-judge]
#
# 1. crmpulse-gen --churn-cohort --dry-run writes the training seed's
#    labelled histories of three weeks and of a year (9,000 customers, five
#    tenants, noise on) as CSV; the two are merged in event-time order (the
#    three-week customers renamed "w3-<tenant>") so one model serves both.
# 2. crmpulse-fit --evidence-horizon fits the evidence weights and
#    level.high (target precision of the alerts on the training history)
#    on top of --base (default deploy/model.conf: every other key is kept).
# 3. Unless --no-judge: bench_churn_quality.sh runs the real worker with
#    the fitted model on the evaluation seed, three weeks and a year.
# The fitted model is $out/model.conf; the shipped default's evidence part
# was made this way (schemas/churn-model.md).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$src/build
out=
train_seed=1
eval_seed=3
horizon=90
precision=0.9
step=2
base=$src/deploy/model.conf
judge=1
while [ $# -gt 0 ]; do
    case $1 in
    --build-dir) build=$2; shift 2 ;;
    --out-dir) out=$2; shift 2 ;;
    --train-seed) train_seed=$2; shift 2 ;;
    --eval-seed) eval_seed=$2; shift 2 ;;
    --horizon) horizon=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --step) step=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --no-judge) judge=0; shift ;;
    *) echo "usage: $0 [--build-dir DIR] [--out-dir DIR] [--train-seed N]" \
            "[--eval-seed N] [--horizon DAYS] [--precision P] [--step DAYS]" \
            "[--base FILE] [--no-judge]" >&2; exit 2 ;;
    esac
done
build=$(cd "$build" && pwd)
for b in crmpulse-gen crmpulse-fit; do
    [ -x "$build/$b" ] || { echo "$0: build $b in $build first" >&2; exit 1; }
done
[ -n "$out" ] || out=$build/bench-results/churn-evidence-s$train_seed
mkdir -p "$out"
end_ms=$(($(date +%s) * 1000))

for h in 21 365; do
    "$build/crmpulse-gen" --dry-run --churn-cohort -c 9000 --tenants 5 \
        --days $h --end $end_ms -s "$train_seed" \
        --labels "$out/labels-$h.csv" --events-csv "$out/events-$h.csv" >&2
done
{
    head -1 "$out/events-365.csv"
    {
        tail -n +2 "$out/events-365.csv"
        tail -n +2 "$out/events-21.csv" | sed 's/^/w3-/'
    } | sort -t, -k3,3n -s
} >"$out/events.csv"
{
    cat "$out/labels-365.csv"
    tail -n +2 "$out/labels-21.csv" | sed 's/^/w3-/'
} >"$out/labels.csv"

echo "== evidence fit (train seed $train_seed: 3 weeks + 1 year, 9000" \
     "customers each; horizon $horizon d, precision $precision)"
"$build/crmpulse-fit" --events "$out/events.csv" --labels "$out/labels.csv" \
    --evidence-horizon "$horizon" --evidence-step "$step" \
    --evidence-precision "$precision" --base "$base" \
    --model-version "$(sed -n 's/^version *= *//p' "$base")" \
    -o "$out/model.conf"

[ $judge = 1 ] || exit 0
for h in 3w 1y; do
    echo
    echo "== judged on seed $eval_seed, history $h, noise on"
    bash "$here/bench_churn_quality.sh" --build-dir "$build" --history $h \
        --seed "$eval_seed" --noise on --customers 9000 --tenants 5 \
        --model "$out/model.conf" --out-dir "$out/judge-$h" 2>/dev/null |
        grep -v '^[0-9:]* churn-quality:'
done
