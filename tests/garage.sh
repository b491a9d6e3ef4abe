#!/usr/bin/env bash
# A one-node Garage S3 server on loopback, for poof's tests.
#
#   tests/garage.sh install      reuse an installed `garage`, or build a lean one
#   tests/garage.sh start DIR    start a fresh node with its data, config, pid and env in DIR
#   tests/garage.sh stop DIR     stop the node started in DIR
#
# `start` writes DIR/env, to be sourced by tests:
#   POOF_TEST_S3_ENDPOINT    http://127.0.0.1:PORT (path-style S3 API)
#   POOF_TEST_S3_REGION      garage (Garage wants the client's region to equal `s3_region`)
#   POOF_TEST_S3_ACCESS_KEY  a key allowed to create buckets through the S3 API
#   POOF_TEST_S3_SECRET_KEY  its secret
#   POOF_TEST_GARAGE_CONFIG  the node's config file, for `garage -c FILE ...`
#   POOF_TEST_GARAGE         the garage binary
# Tests create a fresh bucket each with S3 CreateBucket (the key may), so they
# can run in parallel; `garage -c "$POOF_TEST_GARAGE_CONFIG" bucket create NAME`
# followed by `bucket allow --read --write --owner NAME --key poof-test` works too.
#
# Invariant: the node only ever listens on 127.0.0.1, on ports found free
# just before it starts (Garage panics on a taken port).
set -euo pipefail

die() { echo "garage.sh: $*" >&2; exit 1; }

find_garage() {
    if command -v garage >/dev/null 2>&1; then
        command -v garage
    elif [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/garage" ]; then
        echo "${CARGO_HOME:-$HOME/.cargo}/bin/garage"
    else
        return 1
    fi
}

install() {
    if g=$(find_garage); then
        echo "using $g ($("$g" --version 2>/dev/null | head -n 1))"
        return 0
    fi
    echo "garage not found; building it (about 10 minutes on 2 cores, once)" >&2
    # opt-level 1 and no default features: about 9 minutes instead of 31 on
    # 2 cores, and it served 1 GiB as fast as the full build (an rclone
    # upload in 12 s against 11.3 s), measured when the project was planned.
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 cargo install garage --locked \
        --no-default-features --features bundled-libs,lmdb
    find_garage >/dev/null || die "cargo install garage finished but no garage binary was found"
}

free_port() {
    # Binds port 0 on loopback, reads the port the kernel chose, then frees it.
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
    local dir=${1:?usage: garage.sh start DIR}
    local g
    g=$(find_garage) || die "garage is not installed; run: tests/garage.sh install"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ -f "$dir/garage.pid" ] && kill -0 "$(cat "$dir/garage.pid")" 2>/dev/null; then
        die "a garage node already runs from $dir (pid $(cat "$dir/garage.pid")); stop it first"
    fi
    local rpc_port s3_port admin_port secret
    rpc_port=$(free_port)
    s3_port=$(free_port)
    admin_port=$(free_port)
    [ "$rpc_port" != "$s3_port" ] && [ "$s3_port" != "$admin_port" ] && [ "$rpc_port" != "$admin_port" ] \
        || die "could not find three distinct free ports; try again"
    secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
    mkdir -p "$dir/meta" "$dir/data"
    cat >"$dir/garage.toml" <<EOF
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "lmdb"
replication_factor = 1

rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin_port"
EOF
    chmod 600 "$dir/garage.toml"
    local cli=("$g" -c "$dir/garage.toml")
    "${cli[@]}" server >"$dir/garage.log" 2>&1 &
    echo $! >"$dir/garage.pid"

    # Wait until the node answers its admin RPC (up to 30 s).
    local i
    for i in $(seq 1 60); do
        if "${cli[@]}" status >/dev/null 2>&1; then break; fi
        kill -0 "$(cat "$dir/garage.pid")" 2>/dev/null \
            || die "garage exited at start; see $dir/garage.log"
        sleep 0.5
        [ "$i" = 60 ] && die "garage did not answer within 30 s; see $dir/garage.log"
    done

    local node
    node=$("${cli[@]}" node id -q 2>/dev/null | cut -d@ -f1)
    [ -n "$node" ] || die "could not read the node id"
    "${cli[@]}" layout assign -z dc1 -c 1G "$node" >/dev/null
    "${cli[@]}" layout apply --version 1 >/dev/null

    local out key_id key_secret
    out=$("${cli[@]}" key create poof-test)
    key_id=$(printf '%s\n' "$out" | awk '/Key ID:/ {print $NF; exit}')
    key_secret=$(printf '%s\n' "$out" | awk '/Secret key:/ {print $NF; exit}')
    [ -n "$key_id" ] && [ -n "$key_secret" ] || die "could not read the new key from: garage key create"
    "${cli[@]}" key allow --create-bucket "$key_id" >/dev/null

    # The S3 API may take a moment after the layout is applied.
    for i in $(seq 1 60); do
        if curl -s -o /dev/null "http://127.0.0.1:$s3_port/"; then break; fi
        sleep 0.5
    done

    cat >"$dir/env" <<EOF
POOF_TEST_S3_ENDPOINT=http://127.0.0.1:$s3_port
POOF_TEST_S3_REGION=garage
POOF_TEST_S3_ACCESS_KEY=$key_id
POOF_TEST_S3_SECRET_KEY=$key_secret
POOF_TEST_GARAGE_CONFIG=$dir/garage.toml
POOF_TEST_GARAGE=$g
EOF
    chmod 600 "$dir/env"
    echo "garage runs on http://127.0.0.1:$s3_port (pid $(cat "$dir/garage.pid")); env in $dir/env"
}

stop() {
    local dir=${1:?usage: garage.sh stop DIR}
    local pidfile="$dir/garage.pid"
    [ -f "$pidfile" ] || { echo "no garage node runs from $dir"; return 0; }
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        local i
        for i in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$pidfile"
    echo "garage stopped"
}

case "${1:-}" in
    install) install ;;
    start) start "${2:-}" ;;
    stop) stop "${2:-}" ;;
    *) die "usage: garage.sh install | start DIR | stop DIR" ;;
esac
