#!/usr/bin/env bash
# Install what nuages needs (idempotent; a second run takes seconds), then start it:
# API, portal, worker and scheduler in one process on SQLite and the local libvirt.
# Extra arguments go to `nuages up`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install.sh"
cd "$root"
exec "$root/.venv/bin/nuages" up "$@"
