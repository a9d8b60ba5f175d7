#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Churn alert quality of the real worker on a labelled cohort: what a
# manager would get. Generated data only, never real data.
#
#   bench_churn_quality.sh [--history 3w|1y] [--seed N] [--noise on|off]
#                          [--customers N] [--tenants N] [--model FILE]
#                          [--small] [--build-dir DIR] [--out-dir DIR]
#
# 1. Starts the embedded Kafka (librdkafka's mock cluster, bench_broker) and
#    a real redis-server on free ports.
# 2. crmpulse-gen --churn-cohort produces a labelled history ending now
#    (3 weeks or a year; tenants of four kinds of business; healthy
#    customers, loud and quiet churners, rare loyal buyers, prospects;
#    --noise off leaves out the healthy customers' bad spells, holiday
#    pauses and plan changes) and writes the labels.
# 3. The worker (crmpulse, time.idle_advance=0: event time moves only with
#    the events, so the result depends on the input alone) consumes all of
#    it and exits when idle; the committed offsets must account for every
#    produced event.
# 4. bench_alerts reads crm.alerts; churn_eval.py scores the alerts and the
#    customer hashes' `score` against the labels: per population and overall
#    precision and recall of CHURN_RISK alerts (one per customer per 7 days
#    counted), median lead from churn start, non-churners alerted per month,
#    alerts per manager per day (CHURN_RISK and SLA apart), Brier score and
#    ROC AUC. The table goes to stdout and summary.json to --out-dir.
#
# It measures: low quality never fails it. It fails when something does not
# add up (--small, the CI mode, runs churn_eval.py --check: the labels and
# alerts parse, every labelled customer has a score in [0, 1], every rate is
# in [0, 1], counts add up over populations, the alerts on crm.alerts equal
# Redis's alert counters).
#
# Full mode (the "before/after" numbers; a Release build is much faster):
#   tests/bench/bench_churn_quality.sh --build-dir build-release \
#       --history 3w --customers 9000 --tenants 5 --seed 2
#   tests/bench/bench_churn_quality.sh --build-dir build-release \
#       --history 1y --customers 9000 --tenants 5 --seed 2
#
# A quicker look at a model, without Kafka or Redis (the worker's replay;
# its alerts agree with the worker's to within one in a thousand):
#   crmpulse-gen --dry-run --churn-cohort ... --labels L.csv --events-csv E.csv
#   bench_churn cohort MODEL E.csv END_MS A.jsonl S.csv
#   churn_eval.py --labels L.csv --alerts A.jsonl --scores S.csv ...
# and churn_observable.py (with bench_cohort_truth) tells how many churners
# show any change before the history ends: the bound on recall and lead.
#
# The offline model-fit benchmark (crmpulse-fit on a Python cohort, and
# --write-default, which makes deploy/model.conf) is bench_churn_fit.sh;
# --fit, --write-default, --train-seed and --eval-seed hand over to it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
for a in "$@"; do
    case $a in
    --fit | --write-default | --train-seed | --eval-seed)
        args=()
        for b in "$@"; do [ "$b" = --fit ] || args+=("$b"); done
        exec sh "$here/bench_churn_fit.sh" "${args[@]}"
        ;;
    esac
done

build=$src/build
out=
history=3w
seed=2
noise=on
customers=9000
tenants=5
model=
small=0
usage() {
    echo "usage: $0 [--history 3w|1y] [--seed N] [--noise on|off]" \
        "[--customers N] [--tenants N] [--model FILE] [--small]" \
        "[--build-dir DIR] [--out-dir DIR]  (--fit: bench_churn_fit.sh)" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case $1 in
    --build-dir) build=$2; shift 2 ;;
    --out-dir) out=$2; shift 2 ;;
    --history) history=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --noise) noise=$2; shift 2 ;;
    --customers) customers=$2; shift 2 ;;
    --tenants) tenants=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --small) small=1; shift ;;
    *) usage ;;
    esac
done
case $history in 3w) days=21 ;; 1y) days=365 ;; *) usage ;; esac
case $noise in on | off) ;; *) usage ;; esac
if [ "$small" = 1 ]; then
    customers=600
    tenants=4
fi

log() { printf '%s churn-quality: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

find_bin() { # name -> path in the build tree
    local p=$build/$1
    [ -x "$p" ] || p=$(find "$build" -name "$1" -type f -perm -u+x 2>/dev/null | head -1)
    [ -n "$p" ] && [ -x "$p" ] || die "build $1 in $build first (cmake --build $build --target $1)"
    echo "$p"
}
worker=$(find_bin crmpulse)
gen=$(find_bin crmpulse-gen)
broker=$(find_bin bench_broker)
alerts_tool=$(find_bin bench_alerts)
command -v redis-server >/dev/null || die "redis-server is not installed"

[ -n "$out" ] || out=$build/bench-results/churn-quality-$history-s$seed-noise-$noise
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/crmpulse-churnq.XXXXXX")
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    cp "$work"/*.log "$out/" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ~200 B per cohort event on the mock broker's log, which keeps about
# 5 MiB per partition: enough partitions that nothing is dropped (a cohort
# has about 0.3 events per customer and day; the worker checks the count).
events_guess=$((customers * days / 2))
parts=4
while [ $((events_guess * 200 / parts)) -gt $((3 * 1024 * 1024)) ]; do
    parts=$((parts * 2))
done

"$broker" -t "crm.events:$parts" -t crm.alerts:4 -t crm.events.dlq:1 \
    -f "$work/bootstrap" >"$work/broker.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/bootstrap" ] && break; sleep 0.05; done
boot=$(head -1 "$work/bootstrap" 2>/dev/null || true)
[ -n "$boot" ] || die "bench_broker did not start (see $out/broker.log)"

port=$(free_port)
mkdir -p "$work/redis"
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$work/redis" --logfile "$work/redis.log" &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p "$port" ping >/dev/null 2>&1 || die "redis-server did not start"

end_ms=$(($(date +%s) * 1000))
start_ms=$((end_ms - days * 86400000))
noise_args=()
[ "$noise" = off ] && noise_args=(--noise off)
log "cohort: $customers customers, $tenants tenants, $days days up to $end_ms," \
    "seed $seed, noise $noise; broker $boot ($parts partitions), redis :$port"
t0=$(date +%s)
"$gen" -b "$boot" --churn-cohort -c "$customers" --tenants "$tenants" \
    --days "$days" --end "$end_ms" -s "$seed" "${noise_args[@]}" \
    --labels "$out/labels.csv" -X kafka.linger.ms=200 \
    >"$work/gen.log" 2>&1 || die "crmpulse-gen: $(tail -2 "$work/gen.log")"
produced=$(sed -n 's/.*done: \([0-9]*\) events.*/\1/p' "$work/gen.log")
[ -n "$produced" ] || die "crmpulse-gen printed no summary (see $out/gen.log)"
log "produced $produced events in $(($(date +%s) - t0)) s"

wargs=(-X "kafka.bootstrap.servers=$boot" -X "redis.url=redis://127.0.0.1:$port"
    -X time.idle_advance=0 -X worker.exit.idle.ms=5000 -X http.listen=
    -X log.alerts.per_s=0)
[ -n "$model" ] && wargs+=(-X "model.file=$model")
t0=$(date +%s)
"$worker" "${wargs[@]}" >"$work/worker.log" 2>&1 ||
    die "worker exited with $? (see $out/worker.log: $(grep -E 'ERR|CRIT' "$work/worker.log" | tail -2))"
committed=$(redis-cli -p "$port" hvals crmpulse:offsets:crmpulse | awk '{s += $1} END {print s + 0}')
log "worker done in $(($(date +%s) - t0)) s; committed offsets $committed"
[ "$committed" = "$produced" ] ||
    die "the worker committed $committed offsets for $produced produced events"

"$alerts_tool" -b "$boot" -t crm.alerts -o "$out/alerts.jsonl" 2>"$work/alerts.log" ||
    die "bench_alerts: $(tail -2 "$work/alerts.log")"

check=()
[ "$small" = 1 ] && check=(--check)
python3 "$here/churn_eval.py" --labels "$out/labels.csv" \
    --alerts "$out/alerts.jsonl" --start-ms "$start_ms" --end-ms "$end_ms" \
    --redis "127.0.0.1:$port" --json "$out/summary.json" "${check[@]}" \
    --title "churn quality: history $history, seed $seed, noise $noise, $customers customers, $tenants tenants, $produced events" \
    --meta "{\"history\":\"$history\",\"days\":$days,\"seed\":$seed,\"noise\":\"$noise\",\"customers\":$customers,\"tenants\":$tenants,\"events\":$produced,\"model\":\"${model:-built-in}\"}"
log "summary: $out/summary.json"
