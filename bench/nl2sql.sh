#!/usr/bin/env bash
# The text-to-SQL benchmark (issue 15; docs/nl_to_sql.md): eai.nl_to_sql's embedded engine on the
# Spider dev databases, each loaded once into a database of its own (eai_bench_nl_<db>), scored by
# execution against the gold SQL. Prints per database: questions, answered, correct, execution
# accuracy, precision when it answers, unsafe predictions; and the latency p50/p95.
#   bench/nl2sql.sh [--limit N]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
VENV="$REPO/.eai/bench-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import psycopg2' 2>/dev/null; then
  log "installing psycopg2 into $VENV (bench only)"
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q psycopg2-binary
fi
"$REPO/scripts/cluster.sh" start >/dev/null
source "$REPO/.eai/env"
EAI_SPIDER="${EAI_SPIDER:-$(cd "$REPO/.." && pwd)/shared/data/text-to-sql/spider}" PGHOST="$PGHOST" PGPORT="$PGPORT" \
  "$VENV/bin/python" "$REPO/bench/nl2sql.py" "$@"
