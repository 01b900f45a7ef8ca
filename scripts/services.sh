#!/usr/bin/env bash
# Start the services nuages and its tests use, idempotently, on loopback only.
#
#   bash scripts/services.sh [libvirt] [postgres] [redis]   (no argument: all three)
#
# Prints the environment the tests read (export lines) on standard output, so
#   eval "$(bash scripts/services.sh postgres redis)"
# works. It can also be sourced (scripts/test.sh does) for its functions.
#
# Nothing here ever stops a running service, and libvirt's `default` network
# (192.168.122.0/24) is never started.

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NUAGES_PG_CLUSTER="${NUAGES_PG_CLUSTER:-nuages}"
NUAGES_PG_PORT="${NUAGES_PG_PORT:-5433}"
NUAGES_REDIS_PORT="${NUAGES_REDIS_PORT:-6390}"
NUAGES_LIBVIRT_URI="${NUAGES_LIBVIRT_URI:-qemu:///system}"

# --------------------------------------------------------------------------- libvirt

_virsh_ok() { timeout 10 virsh -c "$NUAGES_LIBVIRT_URI" version >/dev/null 2>&1; }

start_libvirt() {
    command -v libvirtd >/dev/null || die "libvirtd is not installed (run scripts/install.sh)"
    # Never let libvirtd autostart the `default` NAT network when it starts.
    rm -f /etc/libvirt/qemu/networks/autostart/default.xml
    if ! _virsh_ok; then
        mkdir -p "$NUAGES_STATE_DIR/log"
        if ! pgrep -x virtlogd >/dev/null; then
            log "starting virtlogd"
            virtlogd -d </dev/null >>"$NUAGES_STATE_DIR/log/virtlogd.log" 2>&1
        fi
        if ! pgrep -x libvirtd >/dev/null; then
            log "starting libvirtd"
            libvirtd -d </dev/null >>"$NUAGES_STATE_DIR/log/libvirtd.log" 2>&1
        fi
        wait_for 60 "libvirt ($NUAGES_LIBVIRT_URI)" _virsh_ok
        log "libvirt answers on $NUAGES_LIBVIRT_URI"
    fi
    # A libvirt that was already running with `default` on autostart: switch that
    # off (it does not stop a running network; we only make sure we never start it).
    local info
    info="$(timeout 10 virsh -c "$NUAGES_LIBVIRT_URI" net-info default 2>/dev/null || true)"
    if grep -qE '^Autostart:\s+yes' <<<"$info"; then
        timeout 10 virsh -c "$NUAGES_LIBVIRT_URI" net-autostart default --disable >/dev/null 2>&1 || true
    fi
    if grep -qE '^Active:\s+yes' <<<"$info"; then
        log "WARNING: libvirt's 'default' network is ACTIVE (not started by these scripts)"
    fi
}

# ------------------------------------------------------------------------ PostgreSQL

_pg_version() {
    # Newest server installed (bookworm: 15).
    find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' 2>/dev/null |
        awk -F/ '{print $5}' | sort -V | tail -n1
}

_psql() {
    (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 \
        -p "$NUAGES_PG_PORT" -d postgres "$@")
}

start_postgres() {
    local ver
    ver="$(_pg_version)"
    [[ -n "$ver" ]] || die "no PostgreSQL server installed (run scripts/install.sh --dev)"
    install -d -o postgres -g postgres -m 2775 /var/run/postgresql
    local etc="/etc/postgresql/$ver/$NUAGES_PG_CLUSTER"

    if ! pg_lsclusters -h | awk -v v="$ver" -v c="$NUAGES_PG_CLUSTER" \
        '$1==v && $2==c {found=1} END {exit !found}'; then
        log "creating PostgreSQL $ver cluster '$NUAGES_PG_CLUSTER' on 127.0.0.1:$NUAGES_PG_PORT"
        pg_createcluster --quiet --port "$NUAGES_PG_PORT" --start-conf manual \
            --encoding UTF8 --locale C.UTF-8 \
            "$ver" "$NUAGES_PG_CLUSTER" -- --auth-local=peer --auth-host=scram-sha-256 \
            </dev/null >/dev/null
    fi

    # A test server: loopback only, speed over durability. Kept in conf.d (read after
    # postgresql.conf); any change restarts a running server.
    local changed=0
    if [[ "$(pg_conftool -s "$ver" "$NUAGES_PG_CLUSTER" show port 2>/dev/null)" != "$NUAGES_PG_PORT" ]]; then
        pg_conftool "$ver" "$NUAGES_PG_CLUSTER" set port "$NUAGES_PG_PORT"
        changed=1
    fi
    local conf="$etc/conf.d/nuages-test.conf" want
    want="# Written by nuages scripts/services.sh: a test server, loopback only.
listen_addresses = '127.0.0.1'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off"
    if [[ "$(cat "$conf" 2>/dev/null)" != "$want" ]]; then
        install -d -o postgres -g postgres "$etc/conf.d"
        printf '%s\n' "$want" >"$conf"
        chown postgres:postgres "$conf"
        changed=1
    fi

    local status
    status="$(pg_lsclusters -h | awk -v v="$ver" -v c="$NUAGES_PG_CLUSTER" '$1==v && $2==c {print $4}')"
    if [[ "$status" == online* ]]; then
        if [[ $changed -eq 1 ]]; then
            log "restarting PostgreSQL cluster '$NUAGES_PG_CLUSTER' (settings changed)"
            setsid -w pg_ctlcluster "$ver" "$NUAGES_PG_CLUSTER" restart </dev/null >/dev/null
        fi
    else
        log "starting PostgreSQL cluster '$NUAGES_PG_CLUSTER'"
        setsid -w pg_ctlcluster "$ver" "$NUAGES_PG_CLUSTER" start </dev/null >/dev/null
    fi
    wait_for 60 "PostgreSQL on 127.0.0.1:$NUAGES_PG_PORT" \
        pg_isready -q -h 127.0.0.1 -p "$NUAGES_PG_PORT"

    if [[ "$(_psql -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'nuages'")" != 1 ]]; then
        log "creating role nuages"
        _psql -c "CREATE ROLE nuages LOGIN PASSWORD 'nuages' CREATEDB"
    fi
    if [[ "$(_psql -tAc "SELECT 1 FROM pg_database WHERE datname = 'nuages_test'")" != 1 ]]; then
        log "creating database nuages_test"
        _psql -c "CREATE DATABASE nuages_test OWNER nuages"
    fi
    export NUAGES_TEST_POSTGRES_URL="postgresql+psycopg://nuages:nuages@127.0.0.1:${NUAGES_PG_PORT}/nuages_test"
}

# ----------------------------------------------------------------------------- Redis

_redis_ok() {
    [[ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$NUAGES_REDIS_PORT" ping 2>/dev/null)" == PONG ]]
}

start_redis() {
    command -v redis-server >/dev/null || die "redis-server is not installed (run scripts/install.sh --dev)"
    if ! _redis_ok; then
        local dir="$NUAGES_STATE_DIR/redis"
        mkdir -p "$dir" "$NUAGES_STATE_DIR/log"
        log "starting redis-server on 127.0.0.1:$NUAGES_REDIS_PORT (no persistence)"
        redis-server --bind 127.0.0.1 --port "$NUAGES_REDIS_PORT" --protected-mode yes \
            --daemonize yes --save '' --appendonly no --dir "$dir" \
            --pidfile "$dir/redis-$NUAGES_REDIS_PORT.pid" \
            --logfile "$NUAGES_STATE_DIR/log/redis-$NUAGES_REDIS_PORT.log" \
            </dev/null >/dev/null 2>&1
        wait_for 30 "Redis on 127.0.0.1:$NUAGES_REDIS_PORT" _redis_ok
    fi
    export NUAGES_TEST_REDIS_URL="redis://127.0.0.1:${NUAGES_REDIS_PORT}/0"
}

# ------------------------------------------------------------------------------ main

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    require_root
    hold_setup_lock "${BASH_SOURCE[0]}" "$@"
    wanted=("$@")
    [[ ${#wanted[@]} -gt 0 ]] || wanted=(libvirt postgres redis)
    for s in "${wanted[@]}"; do
        case "$s" in
        libvirt)
            start_libvirt
            echo "export NUAGES_LIBVIRT_URI='$NUAGES_LIBVIRT_URI'"
            ;;
        postgres)
            start_postgres
            echo "export NUAGES_TEST_POSTGRES_URL='$NUAGES_TEST_POSTGRES_URL'"
            ;;
        redis)
            start_redis
            echo "export NUAGES_TEST_REDIS_URL='$NUAGES_TEST_REDIS_URL'"
            ;;
        *) die "unknown service '$s' (libvirt, postgres, redis)" ;;
        esac
    done
fi
