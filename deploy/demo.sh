#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Demo on one machine: embedded Kafka (in-process, not durable), a local
# redis-server on a scratch port, a generated CRM history (a labelled churn
# cohort: healthy, casual, fading, complaining, cancelling and silent
# customers over the last 90 days, with a few malformed messages), the
# crmpulse worker with its churn engine, then live traffic, a summary of
# what landed in Redis (counters, the at-risk list with reasons, alerts) and
# the live wallboard. Ctrl-C stops everything.
#   CUSTOMERS=3000 DAYS=90 RATE=20 bash deploy/demo.sh
#   DEMO_SECONDS=60 bash deploy/demo.sh     # stop by itself after 60 s
#   DEMO_BRIDGE=1 bash deploy/demo.sh       # also crmpulse-bridge: a CRM's
#       webhooks (Pipedrive deals) into the same pipeline, tenant crm-demo
set -euo pipefail
cd "$(dirname "$0")/.."
CUSTOMERS="${CUSTOMERS:-3000}"
DAYS="${DAYS:-90}"
RATE="${RATE:-20}"
BOARD_PORT="${BOARD_PORT:-8080}"
DEMO_SECONDS="${DEMO_SECONDS:-0}"
DEMO_BRIDGE="${DEMO_BRIDGE:-0}"

bash deploy/install-deps.sh
build=$(bash deploy/build.sh Release)

work=$(mktemp -d -t crmpulse-demo-XXXXXX)
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port=$(free_port)
metrics_port=$(free_port)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 0' INT TERM

redis-server deploy/redis.conf --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$work" --daemonize yes --logfile "$work/redis.log" >/dev/null
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "demo: redis-server on 127.0.0.1:$port, logs in $work" >&2

"$build/crmpulse" -X redis.url="redis://127.0.0.1:$port" \
  -X embedded.bootstrap.file="$work/bootstrap" \
  -X http.listen="127.0.0.1:$metrics_port" 2>"$work/worker.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
bootstrap=$(cat "$work/bootstrap")
echo "demo: worker running (embedded Kafka at $bootstrap, NOT durable); log $work/worker.log" >&2

r() { redis-cli -p "$port" "$@"; }
# The history: a labelled churn cohort in 3 tenants, then some malformed
# messages of the ordinary stream (they go to the dead-letter topic).
"$build/crmpulse-gen" -b "$bootstrap" --churn-cohort -c "$CUSTOMERS" --tenants 3 \
  --days "$DAYS" --labels "$work/labels.csv" -q
"$build/crmpulse-gen" -b "$bootstrap" -n 2000 -c 200 --tenants 3 --invalid 10 \
  --seed 9 --start-ms $(( $(date +%s) * 1000 - 3600000 )) -q
echo "demo: history produced; waiting for the worker to commit it..." >&2
last=-1
for _ in $(seq 600); do
  done_now=$(r hvals crmpulse:offsets:crmpulse | awk '{s+=$1} END {print s+0}')
  [ "$done_now" = "$last" ] && [ "$done_now" -gt 0 ] && break
  last=$done_now
  sleep 2
done

# Live traffic from now on: the wallboard moves.
"$build/crmpulse-gen" -b "$bootstrap" -n 100000000 -c 2000 --tenants 3 \
  --rate "$RATE" --seed 11 -q &
pids+=($!)

tenant=$(r --scan --pattern 'crm:{*}:risk' | sed 's/^crm:{\([^}]*\)}.*/\1/' | sort | head -1)
day=$(date -u +%Y-%m-%d)
echo
echo "================ crmpulse demo: what is in Redis now ================"
echo "messages committed with the state: $(r hvals crmpulse:offsets:crmpulse | awk '{s+=$1} END {print s+0}')"
echo "tenants: $(r --scan --pattern 'crm:{*}:risk' | sed 's/^crm:{\([^}]*\)}.*/\1/' | sort -u | paste -sd' ')"
echo
echo "-- crm:{$tenant}:d:$day (today's counters of tenant $tenant) --"
r hgetall "crm:{$tenant}:d:$day" | paste - - | sort | awk -F'\t' '{printf "  %-22s %s\n", $1, $2}' | head -20
echo
echo "-- top 5 at-risk customers of $tenant (crm:{$tenant}:risk) with their reasons --"
for c in $(r zrevrange "crm:{$tenant}:risk" 0 4); do
  printf '  %-14s score %s (%s), manager %s\n' "$c" \
    "$(r hget "crm:{$tenant}:customer:$c" score)" \
    "$(r hget "crm:{$tenant}:customer:$c" level)" \
    "$(r hget "crm:{$tenant}:customer:$c" manager)"
  r hget "crm:{$tenant}:customer:$c" reasons | python3 -c '
import json, sys
for x in json.load(sys.stdin): print("      - %s" % x["detail"])'
done
echo
echo "-- latest churn alerts of $tenant (crm:{$tenant}:alerts:recent; also on topic crm.alerts) --"
r lrange "crm:{$tenant}:alerts:recent" 0 -1 | python3 -c '
import json, sys
alerts = [json.loads(line) for line in sys.stdin]
churn = [a for a in alerts if a["kind"] == "CHURN_RISK"]
for a in churn[:5]:
    print("  %-8s %-12s manager %-7s score %.2f, %.2f a month at risk" % (
        a["level"], a["customer_id"], a["manager_id"], a["risk_score"],
        (a.get("value_at_risk_minor") or 0) / 100))
    print("      action: %s" % (a.get("action") or "-"))
    for x in a["reasons"]:
        print("      - %s" % x["detail"])
if not churn:
    print("  (none among the last %d alerts)" % len(alerts))
sla = [a for a in alerts if a["kind"] == "RESPONSE_SLA_BREACH"]
print()
print("-- response SLA breaches: %d of the last %d alerts; the latest 3 --" % (len(sla), len(alerts)))
for a in sla[:3]:
    why = "; ".join(x["detail"] for x in a["reasons"])
    print("  %-12s manager %-7s %s" % (a["customer_id"], a["manager_id"], why))'
echo
echo "alerts so far: $(curl -s "127.0.0.1:$metrics_port/metrics" | awk '/^crmpulse_alerts_total/ {s+=$2} END {print s+0}')" \
  "(by kind and level: http://127.0.0.1:$metrics_port/metrics)"
echo "dead letters: $(curl -s "127.0.0.1:$metrics_port/metrics" | awk '/^crmpulse_events_total\{result="dead_letter"\}/ {print $2}')" \
  "(malformed input with reasons on crm.events.dlq)"
echo "churn labels of the generated customers: $work/labels.csv"
echo
if [ "$DEMO_BRIDGE" = 1 ]; then
  # A CRM's webhooks: a Pipedrive account as tenant crm-demo (HTTP Basic
  # hook:demo-pass), three deals created and one won, as Pipedrive posts
  # them; the bridge answers 200 once Kafka has them.
  bridge_port=$(free_port)
  cat >"$work/bridge.conf" <<CONF
[tenant crm-demo]
crm = pipedrive
user = hook
password = demo-pass
stage.1 = qualified
CONF
  "$build/crmpulse-bridge" -X bridge.tenants="$work/bridge.conf" \
    -X kafka.bootstrap.servers="$bootstrap" -X redis.url="redis://127.0.0.1:$port" \
    -X bridge.listen="127.0.0.1:$bridge_port" 2>"$work/bridge.log" &
  pids+=($!)
  for _ in $(seq 50); do curl -sf "127.0.0.1:$bridge_port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  hook() {
    curl -s -o /dev/null -w "%{http_code}" -u hook:demo-pass -H 'Content-Type: application/json' \
      --data "$1" "127.0.0.1:$bridge_port/hooks/pipedrive/crm-demo"
  }
  for d in 1 2 3; do
    echo "demo: webhook deal $d created -> HTTP $(hook '{"meta":{"action":"create","entity":"deal","entity_id":"'$d'","version":"2.0","timestamp":"'$now'"},"data":{"id":'$d',"value":1200,"status":"open","stage_id":1,"owner_id":7,"org_id":'$((40 + d))',"update_time":"'$now'"},"previous":null}')" >&2
  done
  echo "demo: webhook deal 1 won -> HTTP $(hook '{"meta":{"action":"change","entity":"deal","entity_id":"1","version":"2.0","timestamp":"'$now'"},"data":{"id":1,"value":1200,"status":"won","stage_id":1,"owner_id":7,"org_id":41,"update_time":"'$now'"},"previous":{"status":"open"}}')" >&2
  sleep 2
  echo "crm-demo today (from the webhooks): $(r HGETALL "crm:{crm-demo}:d:$(date -u +%F)" | paste -sd' ')"
  echo "crmpulse-bridge: http://127.0.0.1:$bridge_port/hooks/<crm>/<tenant> (log $work/bridge.log)"
fi
"$build/crmpulse-board" -X redis.url="redis://127.0.0.1:$port" \
  -X board.listen="127.0.0.1:$BOARD_PORT" 2>"$work/board.log" &
pids+=($!)
sleep 1
echo "================ live wallboard: http://127.0.0.1:$BOARD_PORT/ ================"
echo "(live traffic at $RATE events/s; Ctrl-C stops the demo)"
if [ "$DEMO_SECONDS" -gt 0 ]; then
  sleep "$DEMO_SECONDS"
else
  wait "${pids[0]}"
fi
