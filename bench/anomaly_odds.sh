#!/usr/bin/env bash
# Isolation Forest on the ODDS outlier data sets (../shared/data/anomaly/odds), side by side in one
# run: eai.detect_anomalies (from SQL) against scikit-learn's IsolationForest and PyOD's IForest and
# ECOD, 100 trees of 256 rows, several seeds. Prints ROC-AUC and time per data set, and the ratios.
# scikit-learn and PyOD are installed from PyPI into .eai/bench-venv on first use (bench only).
# Usage: bench/anomaly_odds.sh [seeds]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
SEEDS=${1:-20}
ODDS="$REPO/../shared/data/anomaly/odds"
[ -d "$ODDS" ] || die "ODDS data not found at $ODDS"
VENV="$REPO/.eai/bench-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sklearn, pyod, psycopg2' 2>/dev/null; then
  log "installing scikit-learn, pyod and psycopg2 into $VENV"
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q scikit-learn pyod psycopg2-binary
fi
"$REPO/scripts/cluster.sh" start >/dev/null
source "$REPO/.eai/env"
DB=eai_bench_anomaly
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
psql -X -q -d "$DB" -c "SET client_min_messages = warning" -c "CREATE EXTENSION eai CASCADE" -c "CREATE SCHEMA odds"
# The server reads nothing from the checkout: rows go through COPY FROM STDIN.
for f in "$ODDS"/*.csv "$ODDS"/*.csv.gz; do
  [ -e "$f" ] || continue
  name=$(basename "$f"); name=${name%.gz}; name=${name%.csv}
  read -r header < <(case "$f" in *.gz) zcat "$f";; *) cat "$f";; esac) || true
  header=${header%$'\r'}
  cols=$(echo "$header" | tr ',' '\n' | sed 's/$/ double precision/' | paste -sd,)
  psql -X -q -d "$DB" -c "CREATE TABLE odds.$name (id bigserial PRIMARY KEY, $cols)"
  (case "$f" in *.gz) zcat "$f";; *) cat "$f";; esac) | psql -X -q -d "$DB" -c "\\copy odds.$name ($header) FROM STDIN WITH (FORMAT csv, HEADER true)"
done
PGDATABASE=$DB "$VENV/bin/python" "$REPO/bench/anomaly_odds.py" "$SEEDS"
