#!/usr/bin/env bash
# Install what nuages and its tests need, start the services the tests use, and run
# every check and the whole test suite. Extra arguments go to pytest:
#
#   bash scripts/test.sh                 # everything
#   bash scripts/test.sh -k ledger -x    # a subset
#
# Fails fast: the first failing step ends the run with a non-zero exit code.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

t0=$SECONDS
current_step="start"
step() {
    current_step="$1"
    banner "$* ($(date -u +%H:%M:%S), +$((SECONDS - t0))s)"
}
trap 'rc=$?; printf "\n[nuages] FAILED at step: %s (exit %s)\n" "$current_step" "$rc" >&2' ERR
step_done() { log "ok: $1"; }

require_root
cd "$NUAGES_ROOT"

step "install (scripts/install.sh --dev)"
bash "$NUAGES_ROOT/scripts/install.sh" --dev </dev/null
step_done install

step "services: libvirt, PostgreSQL, Redis (loopback only)"
services_env="$(bash "$NUAGES_ROOT/scripts/services.sh" libvirt postgres redis </dev/null)"
eval "$services_env"
log "NUAGES_TEST_POSTGRES_URL=$NUAGES_TEST_POSTGRES_URL"
log "NUAGES_TEST_REDIS_URL=$NUAGES_TEST_REDIS_URL"
step_done services

# Lint and type-check only the directories that exist and hold Python files.
lint_dirs=()
for d in src tests bench; do
    if [[ -d "$d" ]] && [[ -n "$(find "$d" -name '*.py' -print -quit)" ]]; then
        lint_dirs+=("$d")
    fi
done

step "ruff format --check ${lint_dirs[*]}"
.venv/bin/ruff format --check "${lint_dirs[@]}"
step_done "ruff format"

step "ruff check ${lint_dirs[*]}"
.venv/bin/ruff check "${lint_dirs[@]}"
step_done "ruff check"

step "mypy"
.venv/bin/mypy
step_done mypy

step "pytest $* (all checks before it passed in $((SECONDS - t0))s)"
# pytest's own summary stays the last line of a successful run (CI reads it).
rc=0
.venv/bin/pytest "$@" </dev/null || rc=$?
if [[ $rc -eq 5 ]]; then
    die "pytest collected no tests (exit 5): that is a failure here, tests must exist and run"
elif [[ $rc -ne 0 ]]; then
    die "pytest failed (exit $rc)"
fi
