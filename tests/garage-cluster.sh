#!/usr/bin/env bash
# A three-node Garage cluster on loopback (replication factor 3), for poof's
# tests of a distributed store losing a node mid-run.
#
#   tests/garage-cluster.sh start DIR           start three fresh nodes in DIR/n1 DIR/n2 DIR/n3
#   tests/garage-cluster.sh stop DIR            stop every node
#   tests/garage-cluster.sh stop-node DIR N     stop node N (1 to 3), keeping its data
#   tests/garage-cluster.sh start-node DIR N    start node N again on its old ports and data
#
# `start` writes DIR/env in the same shape as tests/garage.sh (the S3
# endpoint is node 1's; the key may create buckets), plus
# POOF_TEST_CLUSTER_DIR=DIR.
#
# Invariant: every node listens on 127.0.0.1 only, on ports found free just
# before the cluster starts; a node is stopped by the pid it was started with.
set -euo pipefail

die() { echo "garage-cluster.sh: $*" >&2; exit 1; }

find_garage() {
    if [ -n "${POOF_TEST_GARAGE:-}" ] && [ -x "$POOF_TEST_GARAGE" ]; then
        echo "$POOF_TEST_GARAGE"
    elif command -v garage >/dev/null 2>&1; then
        command -v garage
    elif [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/garage" ]; then
        echo "${CARGO_HOME:-$HOME/.cargo}/bin/garage"
    else
        return 1
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

run_node() {
    local dir=$1 n=$2 g
    g=$(find_garage) || die "garage is not installed; run: tests/garage.sh install"
    "$g" -c "$dir/n$n/garage.toml" server >>"$dir/n$n/garage.log" 2>&1 &
    echo $! >"$dir/n$n/garage.pid"
}

wait_node() {
    local dir=$1 n=$2 g i
    g=$(find_garage)
    for i in $(seq 1 60); do
        if "$g" -c "$dir/n$n/garage.toml" status >/dev/null 2>&1; then return 0; fi
        kill -0 "$(cat "$dir/n$n/garage.pid")" 2>/dev/null \
            || die "node $n exited at start; see $dir/n$n/garage.log"
        sleep 0.5
    done
    die "node $n did not answer within 30 s; see $dir/n$n/garage.log"
}

start() {
    local dir=${1:?usage: garage-cluster.sh start DIR}
    local g
    g=$(find_garage) || die "garage is not installed; run: tests/garage.sh install"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    local secret ports=() n
    secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
    for _ in $(seq 1 9); do ports+=("$(free_port)"); done
    [ "$(printf '%s\n' "${ports[@]}" | sort -u | wc -l)" = 9 ] \
        || die "could not find nine distinct free ports; try again"
    for n in 1 2 3; do
        local rpc=${ports[$(((n - 1) * 3))]} s3=${ports[$(((n - 1) * 3 + 1))]} admin=${ports[$(((n - 1) * 3 + 2))]}
        mkdir -p "$dir/n$n/meta" "$dir/n$n/data"
        cat >"$dir/n$n/garage.toml" <<EOF
metadata_dir = "$dir/n$n/meta"
data_dir = "$dir/n$n/data"
db_engine = "lmdb"
replication_factor = 3

rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin"
EOF
        chmod 600 "$dir/n$n/garage.toml"
        echo "$s3" >"$dir/n$n/s3_port"
        run_node "$dir" "$n"
    done
    for n in 1 2 3; do wait_node "$dir" "$n"; done

    local cli=("$g" -c "$dir/n1/garage.toml") ids=()
    for n in 1 2 3; do
        ids+=("$("$g" -c "$dir/n$n/garage.toml" node id -q 2>/dev/null)")
    done
    for n in 2 3; do "${cli[@]}" node connect "${ids[$((n - 1))]}" >/dev/null; done
    for n in 1 2 3; do
        "${cli[@]}" layout assign -z "dc$n" -c 1G "${ids[$((n - 1))]%%@*}" >/dev/null
    done
    "${cli[@]}" layout apply --version 1 >/dev/null

    local out key_id key_secret i
    out=$("${cli[@]}" key create poof-test)
    key_id=$(printf '%s\n' "$out" | awk '/Key ID:/ {print $NF; exit}')
    key_secret=$(printf '%s\n' "$out" | awk '/Secret key:/ {print $NF; exit}')
    [ -n "$key_id" ] && [ -n "$key_secret" ] || die "could not read the new key from: garage key create"
    "${cli[@]}" key allow --create-bucket "$key_id" >/dev/null
    local s3_port
    s3_port=$(cat "$dir/n1/s3_port")
    for i in $(seq 1 60); do
        if curl -s -o /dev/null "http://127.0.0.1:$s3_port/"; then break; fi
        sleep 0.5
    done
    cat >"$dir/env" <<EOF
POOF_TEST_S3_ENDPOINT=http://127.0.0.1:$s3_port
POOF_TEST_S3_REGION=garage
POOF_TEST_S3_ACCESS_KEY=$key_id
POOF_TEST_S3_SECRET_KEY=$key_secret
POOF_TEST_GARAGE_CONFIG=$dir/n1/garage.toml
POOF_TEST_GARAGE=$g
POOF_TEST_CLUSTER_DIR=$dir
EOF
    chmod 600 "$dir/env"
    echo "garage cluster of 3 runs; S3 on http://127.0.0.1:$s3_port; env in $dir/env"
}

stop_node() {
    local dir=${1:?usage: garage-cluster.sh stop-node DIR N} n=${2:?N}
    local pidfile="$dir/n$n/garage.pid" pid i
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for i in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$pidfile"
}

start_node() {
    local dir=${1:?usage: garage-cluster.sh start-node DIR N} n=${2:?N}
    [ -f "$dir/n$n/garage.pid" ] && kill -0 "$(cat "$dir/n$n/garage.pid")" 2>/dev/null \
        && die "node $n already runs"
    run_node "$dir" "$n"
    wait_node "$dir" "$n"
}

stop() {
    local dir=${1:?usage: garage-cluster.sh stop DIR} n
    for n in 1 2 3; do stop_node "$dir" "$n"; done
    echo "garage cluster stopped"
}

case "${1:-}" in
    start) start "${2:-}" ;;
    stop) stop "${2:-}" ;;
    stop-node) stop_node "${2:-}" "${3:-}" ;;
    start-node) start_node "${2:-}" "${3:-}" ;;
    *) die "usage: garage-cluster.sh start DIR | stop DIR | stop-node DIR N | start-node DIR N" ;;
esac
