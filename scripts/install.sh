#!/usr/bin/env bash
# Install everything nuages needs on Debian 12, idempotently.
#
#   bash scripts/install.sh          # to run nuages
#   bash scripts/install.sh --dev    # plus what the tests need
#
# 1. Debian packages (apt-get runs only when one is missing);
# 2. libvirt daemons started when not running (never the `default` network);
# 3. .venv with nuages installed editable (pip runs only when pyproject.toml or the
#    mode changed since the last install; the stamp is .venv/.nuages-install-stamp);
# 4. bash and zsh completion for `nuages` in the system completion directories;
# 5. front-end packages: `npm ci` in every assets/*/ holding a package.json.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/services.sh
source "$NUAGES_ROOT/scripts/services.sh"

mode=run
for arg in "$@"; do
    case "$arg" in
    --dev) mode=dev ;;
    -h | --help)
        sed -n '2,12p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *) die "unknown option: $arg" ;;
    esac
done

require_root
hold_setup_lock "${BASH_SOURCE[0]}" "$@"

# ------------------------------------------------------------------ Debian packages
PACKAGES=(
    # hypervisor and the tiny test guest
    qemu-system-x86 qemu-utils busybox-static linux-image-amd64
    libvirt-daemon-system libvirt-clients
    # build libvirt-python (PyPI ships it as source only)
    libvirt-dev pkg-config gcc
    # guest images, seeds and access
    dropbear-bin e2fsprogs genisoimage openssh-client
    # invoices (Typst) use the DejaVu font; the GDPR register's PDF (WeasyPrint) needs Pango & co.
    libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 libfontconfig1 fonts-dejavu-core
)
# qpdf: tests check the invoice PDFs (tests/invoicing/test_pdf_embedding.py); poppler-utils:
# pdftoppm rasterises the directly written invoice next to Typst's (test_pdf_direct.py).
DEV_PACKAGES=(postgresql redis-server chromium cpio qpdf poppler-utils)
# The portal's pinned front-end packages (assets/*/package-lock.json) need npm. Debian's
# `npm` package conflicts with a Node.js installed from NodeSource (which bundles npm), so
# it is asked for only when no `npm` command exists.
if ! command -v npm >/dev/null 2>&1; then
    PACKAGES+=(nodejs npm)
fi

if [[ $mode == dev ]]; then
    apt_ensure "${PACKAGES[@]}" "${DEV_PACKAGES[@]}"
else
    apt_ensure "${PACKAGES[@]}"
fi

# ------------------------------------------------------------------------- libvirt
start_libvirt

# ---------------------------------------------------------------------- virtualenv
venv="$NUAGES_ROOT/.venv"
stamp="$venv/.nuages-install-stamp"
PYTHON="${PYTHON:-python3}"

if ! "$venv/bin/python" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    log "creating $venv with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "nuages needs Python >= 3.11"'
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
fi

want_sha="$(sha256_of "$NUAGES_ROOT/pyproject.toml")"
have_sha="" have_mode=""
if [[ -f "$stamp" ]]; then
    read -r have_sha have_mode <"$stamp" || true
fi
# A dev install is a superset of a run install.
if [[ "$have_sha" == "$want_sha" && ("$have_mode" == "$mode" || "$have_mode" == dev) ]]; then
    log "Python packages up to date ($have_mode install, pyproject.toml unchanged)"
else
    spec="."
    [[ $mode == dev ]] && spec=".[dev]"
    log "pip install -e '$spec' (pyproject.toml changed or first install)"
    rm -f "$stamp"
    (cd "$NUAGES_ROOT" && "$venv/bin/python" -m pip install --no-input -q -e "$spec")
    # Invoices are laid out by Typst (a wheel with its own engine): prove it writes PDF/A.
    "$venv/bin/python" - <<'EOF'
import typst

pdf = typst.compile(b"nuages \u{2014} 1 234,56 \u{20AC}", pdf_standards="a-3b")
assert pdf.startswith(b"%PDF"), "Typst did not produce a PDF"
EOF
    echo "$want_sha $mode" >"$stamp"
    log "Python packages installed ($mode)"
fi

# 4. Shell completion for bash and zsh (issue #19): scripts in the system completion
#    directories, calling this checkout's nuages by its path. Rewritten only when changed.
install_completion() {
    local shell="$1" dest="$2" tmp
    tmp="$(mktemp)"
    "$venv/bin/nuages" completion "$shell" --program "$venv/bin/nuages" >"$tmp"
    mkdir -p "$(dirname "$dest")"
    if ! cmp -s "$tmp" "$dest"; then
        install -m 0644 "$tmp" "$dest"
        log "$shell completion written to $dest"
    fi
    rm -f "$tmp"
}
install_completion bash /usr/share/bash-completion/completions/nuages
install_completion zsh /usr/local/share/zsh/site-functions/_nuages

# 5. Front-end packages (the portal's htmx, and any other assets/<name>/): `npm ci` from
#    the pinned lock file in every assets/*/ that has a package.json, only when its
#    lock file changed since the last install (stamp: node_modules/.nuages-npm-stamp).
for dir in "$NUAGES_ROOT"/assets/*/; do
    [[ -f "$dir/package.json" ]] || continue
    lock="$dir/package-lock.json"
    [[ -f "$lock" ]] || die "$dir has a package.json but no package-lock.json (pin the packages)"
    npm_stamp="$dir/node_modules/.nuages-npm-stamp"
    want="$(sha256_of "$lock")"
    if [[ -f "$npm_stamp" && "$(cat "$npm_stamp")" == "$want" ]]; then
        log "front-end packages of ${dir#"$NUAGES_ROOT"/} up to date"
        continue
    fi
    log "npm ci in ${dir#"$NUAGES_ROOT"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
    echo "$want" >"$npm_stamp"
done
