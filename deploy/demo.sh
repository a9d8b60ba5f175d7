#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Demo on one machine: embedded Kafka (in-process, not durable), a local
# redis-server on a scratch port, generated CRM events with some malformed
# ones, the crmpulse worker, then a summary of what landed in Redis.
#   EVENTS=200000 CUSTOMERS=20000 bash deploy/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${EVENTS:-200000}"
CUSTOMERS="${CUSTOMERS:-20000}"

bash deploy/install-deps.sh
build=$(bash deploy/build.sh Release)

work=$(mktemp -d -t crmpulse-demo-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
  [ -n "${worker_pid:-}" ] && kill "$worker_pid" 2>/dev/null || true
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
}
trap cleanup EXIT

redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$work" --daemonize yes --logfile "$work/redis.log" >/dev/null
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "demo: redis-server on 127.0.0.1:$port, logs in $work" >&2

"$build/crmpulse" -X redis.url="redis://127.0.0.1:$port" \
  -X embedded.bootstrap.file="$work/bootstrap" -X worker.exit.idle.ms=5000 \
  2> >(tee "$work/worker.log" >&2) &
worker_pid=$!
for _ in $(seq 100); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
bootstrap=$(cat "$work/bootstrap")

"$build/crmpulse-gen" -b "$bootstrap" -n "$EVENTS" -c "$CUSTOMERS" --invalid 2
wait "$worker_pid"
worker_pid=

r() { redis-cli -p "$port" "$@"; }
echo
echo "================ crmpulse demo: what is in Redis now ================"
echo "offsets committed with the state: $(r hvals crmpulse:offsets:crmpulse | awk "{s+=\$1} END {print s+0}") messages"
tenant_key=$(r --scan --pattern 'crm:{*}:d:????-??-??' | sort | tail -1)
tenant=${tenant_key#crm:\{}; tenant=${tenant%%\}*}
day=${tenant_key##*:d:}
echo "tenants: $(r --scan --pattern 'crm:{*}:d:*' | sed 's/^crm:{\([^}]*\)}.*/\1/' | sort -u | paste -sd' ')"
echo
echo "-- $tenant_key (tenant $tenant, day $day) --"
r hgetall "$tenant_key" | paste - - | sort | awk -F'\t' '{printf "%-22s %s\n", $1, $2}'
echo
echo "-- funnel (deals entering each stage on $day) --"
r hgetall "crm:{$tenant}:d:$day:funnel" | paste - - | sort -k2 -nr | awk -F'\t' '{printf "%-22s %s\n", $1, $2}'
echo
echo "-- first-response time histogram on $day --"
r hgetall "crm:{$tenant}:d:$day:rt" | paste - - | awk -F'\t' '{printf "%-22s %s\n", $1, $2}'
echo
echo "-- per manager on $day: events, responses, deals won --"
for k in $(r --scan --pattern "crm:{$tenant}:d:$day:manager:*" | sort | head -8); do
  printf '%-14s %s\n' "${k##*:}" "$(r hmget "$k" events responses deals_won | paste -sd' ')"
done
echo
echo "-- conversations still waiting for a reply: $(r zcard "crm:{$tenant}:waiting") (oldest first) --"
r zrange "crm:{$tenant}:waiting" 0 4 withscores | paste - -
echo
echo "dead letters: $(grep -o '[0-9]* to DLQ' "$work/worker.log" | tail -1) (malformed input, with reasons, on crm.events.dlq)"
echo "alerts: the churn-risk engine is not part of this release; crm.alerts stays empty."
