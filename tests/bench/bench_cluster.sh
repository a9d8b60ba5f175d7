#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Redis CPU per event on each master for clusters of 1, 2 and 3 masters
# (bench_cluster.c says what a commit holds). Each cluster is started fresh
# on loopback with the slots split evenly (CLUSTER ADDSLOTSRANGE, MEET),
# without persistence, and stopped afterwards.
#   tests/bench/bench_cluster.sh BUILD_DIR [events] [tenants] [batch]
set -euo pipefail

build=${1:?usage: $0 BUILD_DIR [events] [tenants] [batch]}
events=${2:-200000}
tenants=${3:-100}
batch=${4:-1000}
dir=$(mktemp -d "${TMPDIR:-/tmp}/crmpulse-bench-cluster-XXXXXX")
pids=()

stop_all() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
cleanup() {
    stop_all
    rm -rf "$dir"
}
trap cleanup EXIT

run() { # masters
    local n=$1 base=$((21000 + 100 * $1)) i seeds=""
    for ((i = 0; i < n; i++)); do
        local port=$((base + i))
        redis-server --port "$port" --bind 127.0.0.1 --daemonize no \
            --dir "$dir" --cluster-enabled yes \
            --cluster-config-file "nodes-$port.conf" --save "" \
            --appendonly no >"$dir/redis-$port.log" 2>&1 &
        pids+=($!)
        seeds="$seeds${seeds:+,}127.0.0.1:$port"
    done
    for ((i = 0; i < n; i++)); do
        until redis-cli -p $((base + i)) ping >/dev/null 2>&1; do sleep 0.1; done
    done
    for ((i = 0; i < n; i++)); do
        local from=$((16384 * i / n)) to=$((16384 * (i + 1) / n - 1))
        redis-cli -p $((base + i)) cluster addslotsrange "$from" "$to" >/dev/null
        [ "$i" -eq 0 ] || redis-cli -p "$base" cluster meet 127.0.0.1 $((base + i)) >/dev/null
    done
    for ((i = 0; i < n; i++)); do
        until redis-cli -p $((base + i)) cluster info | grep -q '^cluster_state:ok'; do
            sleep 0.1
        done
    done
    "$build/bench_cluster" "$seeds" "$events" "$tenants" "$batch" 2>/dev/null
    stop_all
    rm -f "$dir"/nodes-*.conf
}

for masters in 1 2 3; do run "$masters"; done
