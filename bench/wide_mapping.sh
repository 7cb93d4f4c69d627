#!/usr/bin/env bash
# Wide tables: eai.map_schema between two tables of N columns (default 1000 × 1000), warm (profiles
# and name embeddings already in the catalog), against the cold run that profiles both tables.
# Prints seconds. Usage: bench/wide_mapping.sh [columns] [rows]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
N=${1:-1000}; ROWS=${2:-200}
"$REPO/scripts/cluster.sh" start >/dev/null
source "$REPO/.eai/env"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d eai_bench_wide)
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS eai_bench_wide WITH (FORCE)" -c "CREATE DATABASE eai_bench_wide"
"${PSQL[@]}" -c "SET client_min_messages = warning" -c "CREATE EXTENSION eai CASCADE"
# Column names from a small vocabulary, so that names overlap as in real schemas; values shared
# between related columns.
"${PSQL[@]}" <<SQL
DO \$\$
DECLARE
  words text[] := ARRAY['customer','order','amount','date','status','code','name','address','city','country',
                        'phone','email','price','quantity','total','tax','discount','product','category','region'];
  src text; tgt text;
BEGIN
  SELECT string_agg(format('%I text', words[1 + i % 20] || '_' || words[1 + (i / 20) % 20] || '_' || i), ', ') INTO src
    FROM generate_series(0, $N - 1) i;
  SELECT string_agg(format('%I text', words[1 + (i * 7) % 20] || words[1 + (i / 20) % 20] || '_' || i), ', ') INTO tgt
    FROM generate_series(0, $N - 1) i;
  EXECUTE format('CREATE TABLE wide_src (%s)', src);
  EXECUTE format('CREATE TABLE wide_tgt (%s)', tgt);
  EXECUTE format('INSERT INTO wide_src SELECT %s FROM generate_series(1, $ROWS) r',
                 (SELECT string_agg(format('''v%s_'' || (r %% %s)', i % 50, 3 + i % 17), ', ') FROM generate_series(0, $N - 1) i));
  EXECUTE format('INSERT INTO wide_tgt SELECT %s FROM generate_series(1, $ROWS) r',
                 (SELECT string_agg(format('''v%s_'' || (r %% %s)', (i * 3) % 50, 3 + i % 13), ', ') FROM generate_series(0, $N - 1) i));
END \$\$;
ANALYZE wide_src; ANALYZE wide_tgt;
SQL
t() { local s e; s=$(date +%s.%N); "${PSQL[@]}" -c "$1" >/dev/null; e=$(date +%s.%N); awk -v a="$s" -v b="$e" 'BEGIN { printf "%.2f", b - a }'; }
cold=$(t "SELECT count(*) FROM eai.map_schema('wide_src', 'wide_tgt')")
warm1=$(t "SELECT count(*) FROM eai.map_schema('wide_src', 'wide_tgt')")
warm2=$(t "SELECT count(*) FROM eai.map_schema('wide_src', 'wide_tgt')")
printf '\n== eai.map_schema, %s x %s columns, %s rows each\n' "$N" "$N" "$ROWS"
printf '%-52s %6s s\n' "cold (profiles and embeds both tables first)" "$cold" \
       "warm (profiles cached), run 2" "$warm1" "warm, run 3" "$warm2"
"${PSQL[@]}" -c "SELECT version, round(duration_ms) AS scoring_and_assignment_ms FROM eai.mapping_runs ORDER BY version"
