#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# A Redis Cluster on loopback for trying cluster mode and for the tests:
#   deploy/cluster.sh start DIR [--replicas 0|1] [--node-timeout MS] PORT...
#   deploy/cluster.sh stop DIR
# start runs one redis-server per PORT (cluster-enabled, no persistence,
# data and logs in DIR), joins them with redis-cli --cluster create and
# waits until every node says cluster_state:ok. With --replicas 1 give twice
# as many ports as masters. Then set redis.cluster.nodes=127.0.0.1:PORT,...
set -eu

usage() {
    echo "usage: $0 start DIR [--replicas N] [--node-timeout MS] PORT... | stop DIR" >&2
    exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2
shift 2

case $cmd in
stop)
    for pidfile in "$dir"/redis-*.pid; do
        [ -f "$pidfile" ] || continue
        kill -9 "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    done
    exit 0
    ;;
start) ;;
*) usage ;;
esac

replicas=0
timeout=2000
while [ $# -gt 0 ]; do
    case $1 in
    --replicas) replicas=$2; shift 2 ;;
    --node-timeout) timeout=$2; shift 2 ;;
    *) break ;;
    esac
done
[ $# -ge 3 ] || { echo "$0: a cluster needs at least 3 masters" >&2; exit 2; }

mkdir -p "$dir"
nodes=""
for port in "$@"; do
    redis-server --port "$port" --bind 127.0.0.1 --daemonize yes \
        --dir "$dir" --pidfile "$dir/redis-$port.pid" \
        --logfile "$dir/redis-$port.log" \
        --cluster-enabled yes --cluster-config-file "nodes-$port.conf" \
        --cluster-node-timeout "$timeout" \
        --save "" --appendonly no --protected-mode yes
    nodes="$nodes 127.0.0.1:$port"
done
for port in "$@"; do
    i=0
    until redis-cli -p "$port" ping >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "$0: redis-server on $port did not start (see $dir/redis-$port.log)" >&2; exit 1; }
        sleep 0.1
    done
done
# shellcheck disable=SC2086 # the node list is meant to split
redis-cli --cluster create $nodes --cluster-replicas "$replicas" \
    --cluster-yes >"$dir/create.log" 2>&1 ||
    { echo "$0: redis-cli --cluster create failed (see $dir/create.log)" >&2; exit 1; }
for port in "$@"; do
    i=0
    until redis-cli -p "$port" cluster info 2>/dev/null |
        grep -q '^cluster_state:ok'; do
        i=$((i + 1))
        [ $i -lt 300 ] || { echo "$0: node $port never reached cluster_state:ok" >&2; exit 1; }
        sleep 0.1
    done
done
echo "redis.cluster.nodes=$(echo $nodes | tr ' ' ',')"
