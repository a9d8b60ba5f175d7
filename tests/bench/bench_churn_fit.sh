#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Churn model quality on generated data, never on real data.
#
#   bench_churn_fit.sh [--build-dir DIR] [--out-dir DIR]
#                      [--train-seed N] [--eval-seed N] [--customers N]
#                      [--write-default]
#
# 1. Generates the training blend with --train-seed: the labelled mixture
#    cohort of tests/bench/churn_cohort.py (every kind of observation) plus
#    four orders-only populations (bgnbd, pareto, erlang, clumpy), so the
#    order weights do not depend on one story of how customers buy.
# 2. Fits a model on it with crmpulse-fit (BG/NBD by maximum likelihood,
#    logistic weights, level thresholds for precision 0.9 / 0.97).
# 3. Generates the same populations with --eval-seed and prints, per
#    population, the ROC AUC of the fitted model and of the single-number
#    baselines (recency, 180-day decayed order count, BG/NBD P(no order in
#    90 days)); the mixture is scored with all observations and with orders
#    only.
# 4. Replays the evaluation mixture through the alert rule (bench_churn
#    alerts) for CHURN_RISK precision, recall and delay over the last year.
# --write-default copies the fitted model to deploy/model.conf: this is how
# the shipped default is made (train seed 1).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$src/build
out=
train_seed=1
eval_seed=2
customers=8000
write_default=0
while [ $# -gt 0 ]; do
    case $1 in
    --build-dir) build=$2; shift 2 ;;
    --out-dir) out=$2; shift 2 ;;
    --train-seed) train_seed=$2; shift 2 ;;
    --eval-seed) eval_seed=$2; shift 2 ;;
    --customers) customers=$2; shift 2 ;;
    --write-default) write_default=1; shift ;;
    *) echo "usage: $0 [--build-dir DIR] [--out-dir DIR] [--train-seed N]" \
            "[--eval-seed N] [--customers N] [--write-default]" >&2; exit 2 ;;
    esac
done
build=$(cd "$build" && pwd) # the fit runs in another directory
fit=$build/crmpulse-fit
bench=$build/bench_churn
[ -x "$fit" ] || fit=$(find "$build" -name crmpulse-fit -type f | head -1)
[ -x "$bench" ] || bench=$(find "$build" -name bench_churn -type f | head -1)
if [ ! -x "$fit" ] || [ ! -x "$bench" ]; then
    echo "$0: build crmpulse-fit and bench_churn in $build first" >&2
    exit 1
fi
if [ -z "$out" ]; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
cutoff=1780272000000 # 2026-06-01T00:00:00Z
worlds="bgnbd pareto erlang clumpy"
small=$((customers / 2))

gen() { # seed world customers dir
    python3 "$here/churn_cohort.py" --seed "$1" --world "$2" \
        --customers "$3" --cutoff-ms $cutoff --out "$4"
}

for s in "$train_seed" "$eval_seed"; do
    gen "$s" mixture "$customers" "$out/s$s-mixture" &
    for w in $worlds; do
        gen "$s" "$w" "$small" "$out/s$s-$w" &
    done
    wait
done

blend=$out/train
mkdir -p "$blend"
echo "tenant_id,customer_id,occurred_at_ms,obs,value" > "$blend/events.csv"
echo "customer_id,churned" > "$blend/labels.csv"
for w in mixture $worlds; do
    tail -n +2 "$out/s$train_seed-$w/events.csv" >> "$blend/events.csv"
    tail -n +2 "$out/s$train_seed-$w/labels.csv" >> "$blend/labels.csv"
done

echo "== fit (train seed $train_seed: mixture $customers + $small per" \
     "orders-only population)"
(cd "$blend" && "$fit" --events events.csv --labels labels.csv \
    --cutoff $cutoff --version "default-gen-s$train_seed" \
    --note "Default parameters fitted on GENERATED data only, no real data:
tests/bench/churn_cohort.py --seed $train_seed (mixture, $customers customers)
plus the orders-only worlds bgnbd, pareto, erlang, clumpy ($small each), made
by tests/bench/bench_churn_quality.sh --write-default. Re-train on your own
labelled history with crmpulse-fit (schemas/churn-model.md)." \
    -o model.conf)

echo
echo "== evaluation (eval seed $eval_seed, cutoff $cutoff)"
ev() { # label dir [flags]
    label=$1 dir=$2
    shift 2
    printf '%-22s ' "$label"
    "$fit" --events "$dir/events.csv" --labels "$dir/labels.csv" \
        --cutoff $cutoff --evaluate "$blend/model.conf" "$@" |
        awk '/^ROC AUC: model/ { m = $4; o = $7 }
             /^ROC AUC baselines/ { r = $5; d = $11; h = $13 }
             END { gsub(",", "", m); gsub(",", "", r); gsub(",", "", d);
                   printf "model %s  (orders part %s)  recency %s  " \
                          "decayed-180d %s  bgnbd-horizon %s\n", \
                          m, o, r, d, h }'
}
ev "mixture, all events" "$out/s$eval_seed-mixture"
ev "mixture, orders only" "$out/s$eval_seed-mixture" --orders-only
for w in $worlds; do
    ev "$w (orders only)" "$out/s$eval_seed-$w"
done

echo
echo "== CHURN_RISK alerts on the evaluation mixture, last 365 days"
"$bench" alerts "$blend/model.conf" "$out/s$eval_seed-mixture/events.csv" \
    "$out/s$eval_seed-mixture/truth.csv" $((cutoff - 365 * 86400000)) $cutoff

if [ $write_default = 1 ]; then
    cp "$blend/model.conf" "$src/deploy/model.conf"
    echo
    echo "wrote $src/deploy/model.conf"
fi
