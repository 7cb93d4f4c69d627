#!/usr/bin/env bash
# Window detection on the NAB series (../shared/data/anomaly/nab) with their labelled windows, in
# one run: eai.detect_anomalies over (ts, value) from SQL (online: no look-ahead) against a rolling
# 3-sigma baseline and PyOD's IForest fitted on the past, plus IForest fitted on the whole series
# (look-ahead, for reference). Prints precision, recall and F1 per series and pooled.
# PyOD is installed from PyPI into .eai/bench-venv on first use (bench only).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
NAB="$REPO/../shared/data/anomaly/nab"
[ -d "$NAB" ] || die "NAB data not found at $NAB"
VENV="$REPO/.eai/bench-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sklearn, pyod, psycopg2' 2>/dev/null; then
  log "installing scikit-learn, pyod and psycopg2 into $VENV"
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q scikit-learn pyod psycopg2-binary
fi
"$REPO/scripts/cluster.sh" start >/dev/null
source "$REPO/.eai/env"
DB=eai_bench_nab
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
psql -X -q -d "$DB" -c "SET client_min_messages = warning" -c "CREATE EXTENSION eai CASCADE" -c "CREATE SCHEMA nab" \
  -c "CREATE TABLE nab.series (name text, ts timestamp, value double precision)"
for f in "$NAB"/data/*/*.csv; do
  name=${f#"$NAB/data/"}
  psql -X -q -d "$DB" -c "CREATE TEMP TABLE s (ts timestamp, value double precision)" \
    -c "\\copy s FROM STDIN WITH (FORMAT csv, HEADER true)" \
    -c "INSERT INTO nab.series SELECT '$name', ts, value FROM s" < "$f"
done
psql -X -q -d "$DB" -c "CREATE INDEX ON nab.series (name, ts)" -c "ANALYZE nab.series"
PGDATABASE=$DB "$VENV/bin/python" "$REPO/bench/anomaly_nab.py" "$NAB/labels/combined_windows.json"
