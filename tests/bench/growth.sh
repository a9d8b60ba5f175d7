#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# How cost grows: runs the backfill workload of run.sh at several sizes,
# one factor at a time from a base point, and prints one table of
# throughput, CPU per event (worker, Redis) and memory per customer (worker
# state, Redis) against customers, tenants and partitions.
#
#   tests/bench/growth.sh [--build-dir DIR] [--out-dir DIR]
#                         [--customers "100000 1000000"] [--tenants "10 1000 10000"]
#                         [--partitions "16 256"] [--events-per-customer N]
#                         [--base-customers N] [--base-tenants N] [--base-partitions N]
#
# Each point is one run.sh run (--no-live --no-python --no-alloc), so its
# broker, Redis and worker start fresh; events = customers x
# --events-per-customer over run.sh's 21 days. Writes growth.md in the out
# directory and keeps each point's results.md beside it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build_dir="$src/build-bench"
out_dir=""
customers_list="100000 1000000"
tenants_list="10 1000 10000"
partitions_list="16 256"
per_customer=3
base_customers=100000
base_tenants=100
base_partitions=0 # 0: as run.sh picks for the event count (16 up to ~300k)

usage() {
    sed -n '3,16p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
    --build-dir) build_dir=$2; shift ;;
    --out-dir) out_dir=$2; shift ;;
    --customers) customers_list=$2; shift ;;
    --tenants) tenants_list=$2; shift ;;
    --partitions) partitions_list=$2; shift ;;
    --events-per-customer) per_customer=$2; shift ;;
    --base-customers) base_customers=$2; shift ;;
    --base-tenants) base_tenants=$2; shift ;;
    --base-partitions) base_partitions=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "growth.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$out_dir" ] || out_dir=$(mktemp -d /tmp/crmpulse-growth.XXXXXX)
mkdir -p "$out_dir"

log() { printf '%s growth: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

metric() { # tsv name -> value or -
    awk -v k="$2" '$1 == k {print $2; found = 1} END {if (!found) print "-"}' "$1"
}

rows=()
point() { # label customers tenants partitions
    local label=$1 c=$2 t=$3 p=$4 dir tsv
    dir="$out_dir/c$c-t$t-p$p"
    if [ ! -f "$dir/results.tsv" ]; then
        log "$label: $c customers, $t tenants, $p partitions, $((c * per_customer)) events"
        bash "$here/run.sh" --events $((c * per_customer)) --customers "$c" \
            --tenants "$t" --partitions "$p" --no-live --no-python --no-alloc \
            --repeat 1 --build-dir "$build_dir" --out-dir "$dir" \
            >"$out_dir/c$c-t$t-p$p.log" 2>&1 ||
            { log "$label failed (see $out_dir/c$c-t$t-p$p.log)"; rows+=("$label|$c|$t|$p|failed||||||"); return 0; }
    fi
    tsv="$dir/results.tsv"
    [ "$p" = 0 ] && p="$(grep -o 'partitions=[0-9]*\|[0-9]* partitions' "$dir/results.md" | head -1 | tr -dc 0-9) (auto)"
    rows+=("$label|$c|$t|$p|$(metric "$tsv" pipe_rate_backfill)|$(metric "$tsv" worker_us_backfill)|$(metric "$tsv" redis_us_backfill)|$(metric "$tsv" worker_state_backfill)|$(metric "$tsv" worker_rss_backfill)|$(metric "$tsv" redis_bytes_backfill)")
}

for c in $customers_list; do point customers "$c" "$base_tenants" "$base_partitions"; done
for t in $tenants_list; do point tenants "$base_customers" "$t" "$base_partitions"; done
for p in $partitions_list; do point partitions "$base_customers" "$base_tenants" "$p"; done

{
    echo "# crmpulse: how cost grows (backfill)"
    echo
    echo "\`tests/bench/growth.sh\`, $per_customer events per customer over 21 days, one run per row, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "| factor | customers | tenants | partitions | events/s | worker us/event | Redis us/event | worker state B/customer | worker RSS B/customer | Redis B/customer |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for r in "${rows[@]}"; do echo "|$r|"; done
} >"$out_dir/growth.md"
cat "$out_dir/growth.md"
echo "growth: $out_dir/growth.md"
