#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Webhooks/s and latency to the Kafka ack of crmpulse-bridge on loopback:
# a scratch redis-server, the bridge with its embedded Kafka, and
# bench_bridge's client threads posting Pipedrive webhooks (one new deal
# each). Usage: tests/bench/bench_bridge.sh [BUILD_DIR] [REQUESTS] [THREADS]
set -euo pipefail
build="${1:-build-release}"
requests="${2:-20000}"
threads="${3:-8}"
scratch=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port)
bport=$(free_port)
redis-server --port "$rport" --save "" --appendonly no --dir "$scratch" \
    >"$scratch/redis.log" 2>&1 &
rpid=$!
cat >"$scratch/tenants.conf" <<CONF
[tenant bench]
crm = pipedrive
user = hook
password = pd-pass
stage.1 = qualified
CONF
"$build/crmpulse-bridge" -X bridge.tenants="$scratch/tenants.conf" \
    -X redis.url="redis://127.0.0.1:$rport" \
    -X bridge.listen="127.0.0.1:$bport" -X bridge.rate=1000000 \
    -X bridge.connections=512 -X log.level=warning \
    >"$scratch/bridge.log" 2>&1 &
bpid=$!
cleanup() { kill "$bpid" "$rpid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$scratch"; }
trap cleanup EXIT
for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$bport/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
"$build/bench_bridge" "$bport" bench "$requests" "$threads"
curl -s "http://127.0.0.1:$bport/metrics" | grep -E '^crmpulse_bridge_(events_total\{result="produced"\}|request_seconds)'
