# shellcheck shell=bash
# Shared helpers for scripts/*.sh. Source it; do not run it.
#
# Everything here is idempotent and quiet when there is nothing to do, so that a
# second run of install.sh / test.sh takes seconds.

if [[ -n "${_NUAGES_LIB_SH:-}" ]]; then
    return 0
fi
_NUAGES_LIB_SH=1

NUAGES_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export NUAGES_ROOT

# Where the helper services (Redis for the tests, logs) keep their state.
NUAGES_STATE_DIR="${NUAGES_STATE_DIR:-/var/lib/nuages-dev}"
export NUAGES_STATE_DIR

# No prompt anywhere: CI has no standard input.
export DEBIAN_FRONTEND=noninteractive
export PIP_NO_INPUT=1

log() { printf '[nuages] %s\n' "$*" >&2; }
die() {
    printf '[nuages] ERROR: %s\n' "$*" >&2
    exit 1
}

banner() {
    local line="=================================================================="
    printf '\n%s\n== %s\n%s\n' "$line" "$*" "$line" >&2
}

require_root() {
    [[ "$(id -u)" -eq 0 ]] || die "run as root (apt-get and the libvirt/PostgreSQL set-up need it)"
}

# pkg_installed NAME -> 0 when the Debian package is fully installed.
pkg_installed() {
    local status
    status="$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)"
    [[ "$status" == "install ok installed" ]]
}

_apt_updated=0
_apt_update() {
    if [[ $_apt_updated -eq 0 ]]; then
        log "apt-get update"
        apt-get update -qq || apt-get update
        _apt_updated=1
    fi
}

# apt_ensure PKG... : install the packages that are missing; skip apt entirely when
# none is. Services are never started by package scripts (policy-rc.d, see below):
# services.sh starts what nuages needs, on loopback, the way it wants.
apt_ensure() {
    local missing=() p
    for p in "$@"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        return 0
    fi
    log "installing Debian packages: ${missing[*]}"

    # Keep package maintainer scripts from starting daemons (redis on 6379, the
    # default PostgreSQL cluster, libvirtd...). Only add the guard when the machine
    # has none; remove only the one we added.
    local added_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        added_policy=1
    fi

    local rc=0 apt_opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    _apt_update
    apt-get install "${apt_opts[@]}" "${missing[@]}" || rc=$?
    if [[ $rc -ne 0 ]]; then
        log "apt-get install failed (rc=$rc); refreshing the lists and retrying once"
        _apt_updated=0
        _apt_update
        rc=0
        apt-get install "${apt_opts[@]}" --fix-missing "${missing[@]}" || rc=$?
    fi

    if [[ $added_policy -eq 1 ]]; then
        rm -f /usr/sbin/policy-rc.d
    fi
    [[ $rc -eq 0 ]] || die "apt-get install failed: ${missing[*]}"
    for p in "${missing[@]}"; do
        pkg_installed "$p" || die "package $p is still not installed"
    done
}

# wait_for SECONDS DESCRIPTION CMD... : poll CMD every 0.2 s until it succeeds.
wait_for() {
    local timeout="$1" what="$2"
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            die "timed out after ${timeout}s waiting for $what"
        fi
        sleep 0.2
    done
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# hold_setup_lock "$0" "$@" : re-run the calling script under a machine-wide lock, so
# two set-ups at once (several people share this machine and tree) never run apt,
# pip or a cluster creation concurrently. flock -o: daemons the script starts do not
# inherit the lock. Nested calls (install.sh from test.sh) take it once.
NUAGES_SETUP_LOCK="${NUAGES_SETUP_LOCK:-/run/lock/nuages-setup.lock}"
hold_setup_lock() {
    if [[ -z "${NUAGES_SETUP_LOCKED:-}" ]]; then
        export NUAGES_SETUP_LOCKED=1
        mkdir -p "$(dirname "$NUAGES_SETUP_LOCK")"
        if ! flock -n "$NUAGES_SETUP_LOCK" true; then
            log "another nuages set-up is running; waiting for it (up to 30 min)"
        fi
        exec flock -o -w 1800 "$NUAGES_SETUP_LOCK" bash "$@"
    fi
}
