#!/usr/bin/env bash
# Ingest throughput: eai.ingest (dedup hash, progress, batch record) against what a user would do
# by hand: COPY FROM the file into a table, and INSERT … SELECT from the same file_fdw table.
# Same file, same cluster, one run; prints seconds and ratios. Usage: bench/ingest.sh [rows]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
ROWS=${1:-1000000}
"$REPO/scripts/cluster.sh" start >/dev/null
source "$REPO/.eai/env"
RUN=$(runtime_dir)
DIR="$RUN/bench/ingest"; install -d -m 0755 "$RUN/bench"; install -d -m 0755 -o "$PG_OS_USER" "$DIR"
FILE="$DIR/events.csv"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d eai_bench)
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS eai_bench WITH (FORCE)" -c "CREATE DATABASE eai_bench"
"${PSQL[@]}" -c "SET client_min_messages = warning" -c "CREATE EXTENSION eai CASCADE"
# The server writes the file, so the postgres user can read it.
"${PSQL[@]}" -c "COPY (SELECT i AS id, 'user' || (i % 5000) AS user_name, (i::bigint * 7919 % 100000) / 100.0 AS amount,
                          timestamp '2024-01-01' + i * interval '1 second' AS ts, md5(i::text) AS note
                     FROM generate_series(1, $ROWS) i) TO '$FILE' WITH (FORMAT csv, HEADER)"
t() { local s e; s=$(date +%s.%N); "${PSQL[@]}" -c "SET eai.progress_rows = 0" -c "$1" >/dev/null; e=$(date +%s.%N); awk -v a="$s" -v b="$e" 'BEGIN { print b - a }'; }
"${PSQL[@]}" -c "SELECT count(*) FROM eai.add_source('bench', '$FILE')" >/dev/null
cols="id text, user_name text, amount text, ts text, note text"
copy=$(t "CREATE TABLE plain_copy ($cols); COPY plain_copy FROM '$FILE' WITH (FORMAT csv, HEADER)")
insel=$(t "CREATE TABLE plain_insert ($cols); INSERT INTO plain_insert SELECT * FROM eai_src_bench.events")
eai1=$(t "SELECT * FROM eai.ingest('bench')")
eai2=$(t "SELECT * FROM eai.ingest('bench')")
printf '\n== ingest of %s CSV rows (5 columns), seconds\n' "$ROWS"
printf '%-44s %8.2f s\n' "COPY FROM file (no dedup, no record)" "$copy"
printf '%-44s %8.2f s\n' "INSERT … SELECT from file_fdw (no dedup)" "$insel"
printf '%-44s %8.2f s   %.2fx COPY, %.2fx INSERT…SELECT\n' "eai.ingest, first run" "$eai1" "$(awk -v a="$eai1" -v b="$copy" 'BEGIN { print a / b }')" "$(awk -v a="$eai1" -v b="$insel" 'BEGIN { print a / b }')"
printf '%-44s %8.2f s   (re-read, 0 rows written)\n' "eai.ingest, second run" "$eai2"
"${PSQL[@]}" -c "SELECT batch_id, status, rows_read, rows_written, rows_skipped FROM eai.batches ORDER BY batch_id"
