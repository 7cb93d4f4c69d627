#!/usr/bin/env bash
# eai.quality_score against the physical limit (a hand-written single-pass aggregate computing the
# same metrics) and against Soda Core and Great Expectations checking the same dimensions on the
# same table: warm in-process and as the whole command a user runs. Prints seconds and ratios.
# Usage: bench/quality.sh [rows ...]   (default 1000000; e.g. bench/quality.sh 1000000 10000000)
# Soda Core and GX are installed from PyPI into .eai/bench-venv on first use (bench only).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
SIZES=("$@"); [ ${#SIZES[@]} -gt 0 ] || SIZES=(1000000)
"$REPO/scripts/cluster.sh" start >/dev/null
source "$REPO/.eai/env"
VENV="$REPO/.eai/bench-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import soda.scan, great_expectations, sqlalchemy' 2>/dev/null; then
  log "installing soda-core-postgres and great-expectations into $VENV"
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q soda-core-postgres great-expectations psycopg2-binary sqlalchemy
fi
DB=eai_bench_quality
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d "$DB")
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); awk -v a="$s" -v b="$e" 'BEGIN { printf "%.2f", b - a }'; }
sql_secs() { "${PSQL[@]}" -tA <<SQL | tail -1
\\timing on
$1
SQL
}
# psql's \timing prints "Time: 123.456 ms"; the last one is the warm run.
warm_ms() { "${PSQL[@]}" -c '\timing on' -c "$1" -c "$1" 2>&1 | awk '/^Time:/ { t = $2 } END { printf "%.2f", t / 1000 }'; }

printf '%-44s %10s %10s %10s\n' "tool" "rows" "warm s" "command s"
for N in "${SIZES[@]}"; do
  psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  "${PSQL[@]}" <<SQL
SET client_min_messages = warning;
CREATE EXTENSION eai CASCADE;
CREATE TABLE silver.visits AS
SELECT i::bigint AS id, (20 + i % 70)::integer AS age, ((i * 37) % 100000 / 100.0)::numeric AS amount,
       ((i % 30) + 0.5)::numeric AS stay, sin(i)::float8 AS score, (ARRAY['A','B','C','D'])[1 + i % 4] AS ward,
       'name ' || (i % 5000) AS name, 'user' || i || '@example.com' AS email,
       date '2024-01-01' + (i % 365)::integer AS visited, now() - ((i % 1000) || ' s')::interval AS loaded
  FROM generate_series(1, $N) i;
VACUUM ANALYZE silver.visits;
SELECT 1 FROM eai.expect('silver.visits', 'id', 'unique');
SELECT 1 FROM eai.expect('silver.visits', 'age', 'range 0..120');
SELECT 1 FROM eai.expect('silver.visits', 'amount', 'range 0..100000');
SELECT 1 FROM eai.expect('silver.visits', 'ward', 'allowed A, B, C, D');
SELECT count(*) FROM eai.quality_score('silver.visits');
SQL
  # The physical limit: the same metrics in one hand-written pass (no history, no scoring).
  HAND="SELECT count(*), max(loaded), count(id), count(age), avg(age)::float8, stddev_pop(age)::float8, count(amount), avg(amount)::float8, stddev_pop(amount)::float8, count(stay), avg(stay)::float8, stddev_pop(stay)::float8, count(score), avg(score), stddev_pop(score), count(ward), count(name), count(email), count(visited), count(loaded), count(DISTINCT id), count(*) FILTER (WHERE age < 0 OR age > 120), count(*) FILTER (WHERE amount < 0 OR amount > 100000), count(*) FILTER (WHERE NOT ward = ANY (ARRAY['A','B','C','D'])) FROM silver.visits"
  hand=$(warm_ms "$HAND")
  hand_cmd=$(secs psql -X -d "$DB" -c "$HAND")
  eai=$(warm_ms "SELECT * FROM eai.quality_score('silver.visits')")
  eai_cmd=$(secs psql -X -d "$DB" -c "SELECT * FROM eai.quality_score('silver.visits')")
  read -r soda soda_failed < <("$VENV/bin/python" "$REPO/bench/quality_baselines.py" soda "$PGHOST" "$PGPORT" "$DB" 2>/dev/null)
  soda_cmd=$(secs "$VENV/bin/python" "$REPO/bench/quality_baselines.py" soda "$PGHOST" "$PGPORT" "$DB" --once)
  read -r gx gx_failed < <("$VENV/bin/python" "$REPO/bench/quality_baselines.py" gx "$PGHOST" "$PGPORT" "$DB" 2>/dev/null)
  gx_cmd=$(secs "$VENV/bin/python" "$REPO/bench/quality_baselines.py" gx "$PGHOST" "$PGPORT" "$DB" --once)
  for row in "single-pass aggregate (hand-written)|$hand|$hand_cmd" "eai.quality_score (7 dimensions + history)|$eai|$eai_cmd" \
             "Soda Core $("$VENV/bin/pip" show soda-core 2>/dev/null | awk '/^Version/ {print $2}') (25 checks)|${soda:-n/a}|$soda_cmd" \
             "Great Expectations $("$VENV/bin/pip" show great-expectations 2>/dev/null | awk '/^Version/ {print $2}') (24 expectations)|${gx:-n/a}|$gx_cmd"; do
    IFS='|' read -r name w c <<<"$row"
    printf '%-44s %10s %10s %10s\n' "$name" "$N" "$w" "$c"
  done
  awk -v h="$hand" -v e="$eai" -v s="$soda" -v g="$gx" -v hc="$hand_cmd" -v ec="$eai_cmd" -v sc="$soda_cmd" -v gc="$gx_cmd" 'BEGIN {
    printf "  ratios (warm): eai / single pass %.2fx (aim <= 1.2x); Soda / eai %.2fx; GX / eai %.2fx\n", e / h, s / e, g / e;
    printf "  ratios (whole command): eai / single pass %.2fx; Soda / eai %.2fx; GX / eai %.2fx\n", ec / hc, sc / ec, gc / ec }'
  "${PSQL[@]}" -c "SELECT dimension, score, measured FROM eai.quality_score('silver.visits')"
done
