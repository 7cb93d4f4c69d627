#!/usr/bin/env bash
# The chaos benchmark (issue 14; docs/healing.md): a CSV source and a postgres_fdw source on a
# second real cluster feed two pipelines while a seeded series of at least 60 real faults is
# injected (source down, its backend terminated mid-read, a statement timeout, a lock held, a
# deadlock, the source at its connection limit, a password changed, a privilege revoked, a remote
# type widened and narrowed, CSV columns renamed, added and removed, ragged rows, LLM
# 429/503/hang/garbage). The same series runs twice, side by side:
# with eai's self-healing, and with it switched off while a scheduler re-runs everything blindly.
# Prints per class: faults, healed alone, escalated, median and worst time to recover, the share
# that needed a person; rows lost and doubled; renames recognised; and the ratio between the two.
#   bench/chaos.sh [--seed N] [--faults N] [--modes eai,baseline] [--only kind,kind…]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
VENV="$REPO/.eai/bench-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import psycopg2' 2>/dev/null; then
  log "installing psycopg2 into $VENV (bench only)"
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q psycopg2-binary
fi
"$REPO/scripts/cluster.sh" start >/dev/null
source "$REPO/.eai/env"
EAI_RUN=$(runtime_dir) PGHOST="$PGHOST" PGPORT="$PGPORT" "$VENV/bin/python" "$REPO/bench/chaos.py" "$@"
