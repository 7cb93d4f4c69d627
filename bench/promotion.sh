#!/usr/bin/env bash
# Promotion bronze -> silver against its physical limit, in one run: eai promoting N bronze rows
# (mapped, cast safely, 5 expectations, dedup key, ~2% bad rows quarantined) versus a plain
# INSERT ... SELECT with the same casts over N clean rows (the plain casts abort on a bad value, so
# the baseline gets none). Each of R rounds times both on a checkpointed cluster (the other's
# dirty pages and WAL do not land on its clock), the baseline first; silver and the baseline's
# table are emptied between rounds. Prints seconds, rows/s and the ratio of each round and their
# median. Usage: bench/promotion.sh [rows] [rounds]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
N=${1:-1000000}
R=${2:-3}
"$REPO/scripts/cluster.sh" start >/dev/null
source "$REPO/.eai/env"
DB=eai_bench_promotion
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d "$DB")
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
"${PSQL[@]}" -c "SET client_min_messages = warning" -c "CREATE EXTENSION eai CASCADE"

# Bronze as eai.ingest leaves it: text columns plus _eai_batch, _eai_loaded_at, _eai_row_hash.
# Row i is bad when i % 50 = 0 (2%): one of a bad age, date, amount, status or a missing name.
"${PSQL[@]}" <<SQL
CREATE TABLE bronze.orders (order_id text, customer text, age text, ordered text, email text, amount text, status text,
                            _eai_batch bigint NOT NULL, _eai_loaded_at timestamptz NOT NULL DEFAULT now(), _eai_row_hash uuid NOT NULL);
CREATE FUNCTION pg_temp.rows(first bigint, n bigint, bad boolean) RETURNS TABLE (order_id text, customer text, age text, ordered text,
                                                                                email text, amount text, status text) AS \$\$
  SELECT i::text,
         CASE WHEN bad AND i % 250 = 0 THEN NULL ELSE 'customer ' || (i % 9973) END,
         CASE WHEN bad AND i % 250 = 50 THEN 'n/a' ELSE (18 + i % 70)::text END,
         CASE WHEN bad AND i % 250 = 100 THEN '2024-02-30' ELSE (date '2024-01-01' + (i % 365)::int)::text END,
         'user' || i || '@example.com',
         CASE WHEN bad AND i % 250 = 150 THEN '12,34.5' ELSE ((i % 100000) / 100.0)::text END,
         CASE WHEN bad AND i % 250 = 200 THEN 'lost' ELSE (ARRAY['new','paid','shipped'])[1 + i % 3] END
    FROM generate_series(first, first + n - 1) i
\$\$ LANGUAGE sql;
-- A first small batch: the pipeline creates silver.orders from its profile.
INSERT INTO bronze.orders SELECT r.*, 1, now(), gen_random_uuid() FROM pg_temp.rows(1, 1000, false) r;
SET client_min_messages = warning;
SELECT 1 FROM eai.create_pipeline('orders', 'bronze.orders', 'silver.orders', dedup_key => '{order_id}');
SELECT 1 FROM eai.expect('silver.orders', 'customer', 'not null');
SELECT 1 FROM eai.expect('silver.orders', 'age', 'range 0..120');
SELECT 1 FROM eai.expect('silver.orders', 'email', 'regex ^[^@]+@[^@]+\.[a-z]+$');
SELECT 1 FROM eai.expect('silver.orders', 'amount', 'range 0..100000');
SELECT 1 FROM eai.expect('silver.orders', 'status', 'allowed new, paid, shipped');
-- The big batch is queued (not promoted in the inserting transaction), so that promotion alone is timed.
SET eai.sync_promotion_max_rows = 0;
INSERT INTO bronze.orders SELECT r.*, b, now(), gen_random_uuid() FROM generate_series(2, $R + 1) b, pg_temp.rows(1001, $N, true) r;
-- The baseline's input: the same shape, no bad rows, and its target with the same types and key.
CREATE TABLE public.clean AS SELECT * FROM pg_temp.rows(1001, $N, false);
CREATE TABLE public.plain (LIKE silver.orders INCLUDING INDEXES);
ALTER TABLE public.plain DROP COLUMN _eai_row, DROP COLUMN _eai_promotion, DROP COLUMN _eai_quality, DROP COLUMN _eai_extra;
VACUUM ANALYZE bronze.orders; VACUUM ANALYZE public.clean;
SQL
"${PSQL[@]}" -c "\\d silver.orders" | sed -n '1,12p'

t() { local s e; s=$(date +%s.%N); "${PSQL[@]}" -c "$1" >/dev/null; e=$(date +%s.%N); awk -v a="$s" -v b="$e" 'BEGIN { printf "%.2f", b - a }'; }
ratios=()
for round in $(seq 1 "$R"); do
  "${PSQL[@]}" -c "TRUNCATE public.plain" -c "SET client_min_messages = warning" -c "TRUNCATE silver.orders" -c "CHECKPOINT"
  plain=$(t "INSERT INTO public.plain SELECT order_id::bigint, customer, age::bigint, ordered::date, email, amount::numeric, status FROM public.clean")
  "${PSQL[@]}" -c "CHECKPOINT"
  eai=$(t "SET client_min_messages = error; SELECT * FROM eai.promote_queued(max_batches => 1)")
  r=$(awk -v p="$plain" -v e="$eai" 'BEGIN { printf "%.2f", p / e }')
  ratios+=("$r")
  printf 'round %d: plain %.2f s, eai %.2f s, ratio %.2fx\n' "$round" "$plain" "$eai" "$r"
done
"${PSQL[@]}" -c "SELECT kind, rows_read, rows_promoted, rows_quarantined, round(duration_ms) AS ms, statement FROM eai.promotions ORDER BY promotion_id"
"${PSQL[@]}" -c "SELECT v ->> 'reason' AS reason, count(*) FROM eai.quarantine, jsonb_array_elements(violations) v WHERE bronze_batch = 2 GROUP BY 1 ORDER BY 2 DESC"
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
printf '\n== promotion of %s bronze rows (5 expectations, dedup key, 2%% bad) vs plain INSERT ... SELECT with the same casts\n' "$N"
awk -v n="$N" -v p="$plain" -v e="$eai" -v m="$median" -v r="$R" 'BEGIN {
  printf "%-44s %8.2f s %12.0f rows/s   (last round)\n", "plain INSERT ... SELECT (clean rows)", p, n / p;
  printf "%-44s %8.2f s %12.0f rows/s   (last round)\n", "eai.promote_queued()", e, n / e;
  printf "%-44s %8.2fx  (median of %d rounds; aim >= 0.70x)\n", "eai throughput / plain", m, r }'
