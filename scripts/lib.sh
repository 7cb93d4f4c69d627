# Shared settings for eai's scripts. Source it; do not run it.
# shellcheck shell=bash
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_MAJOR=15
PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"
PG_CONFIG="$PG_BIN/pg_config"
PGRX_VERSION=0.18.1
ORT_VERSION=1.31.1
PG_OS_USER=postgres
# Where eai's runtime files go: model, ONNX Runtime (read by every backend).
EAI_SHARE=/usr/local/share/eai
EAI_LIB=/usr/local/lib/eai
EAI_MODEL_DIR="$EAI_SHARE/models/all-MiniLM-L6-v2"
EAI_ONNXRUNTIME_LIBRARY="$EAI_LIB/libonnxruntime.so"
# Each checkout gets its own port (54300–54399, from its path), so two checkouts never collide.
EAI_PGPORT="${EAI_PGPORT:-$((54300 + $(printf '%s' "$REPO" | cksum | cut -d' ' -f1) % 100))}"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1;34m[eai]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[eai] error:\033[0m %s\n' "$*" >&2; exit 1; }

# Run a command as the unprivileged PostgreSQL OS user (never as root).
# From / : the checkout may be a directory that user cannot enter.
as_pg() {
  if [ "$(id -un)" = "$PG_OS_USER" ]; then "$@"; else (cd / && sudo -u "$PG_OS_USER" -H -- "$@"); fi
}

# The runtime directory holds the cluster, its socket and the files the server reads (sample CSVs).
# It lives under the repo (.eai/) when the postgres user can reach the repo; otherwise (a checkout
# under a directory only root can enter) in /var/lib/eai/<hash of the repo path>, linked from
# .eai/run so it is still found "under the repo".
runtime_dir() {
  mkdir -p "$REPO/.eai"
  if [ -L "$REPO/.eai/run" ]; then readlink -f "$REPO/.eai/run"; return; fi
  if [ -d "$REPO/.eai/run" ]; then echo "$REPO/.eai/run"; return; fi
  if id "$PG_OS_USER" >/dev/null 2>&1 && sudo -u "$PG_OS_USER" test -x "$REPO/.eai" 2>/dev/null; then
    mkdir -p "$REPO/.eai/run"
    echo "$REPO/.eai/run"
  else
    local dir
    dir="/var/lib/eai/$(printf '%s' "$REPO" | sha256sum | cut -c1-12)"
    mkdir -p "$dir"
    ln -sfn "$dir" "$REPO/.eai/run"
    echo "$dir"
  fi
}
