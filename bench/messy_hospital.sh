#!/usr/bin/env bash
# The dirty hospital table (HoloClean's 1,000 x 19, typos and empty cells) through a pipeline with
# suggested and declared expectations, scored against its clean version: how many bad cells the
# rules catch (the quarantined row names the column), how many bad rows are quarantined, and how
# many good rows are quarantined wrongly. Usage: bench/messy_hospital.sh [holoclean-hospital dir]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
DATA=${1:-$REPO/../shared/data/messy/holoclean-hospital}
"$REPO/scripts/cluster.sh" start >/dev/null
source "$REPO/.eai/env"
DB=eai_bench_messy
WORK="$(runtime_dir)/bench-messy"
install -d -m 0755 "$WORK"
install -m 0644 "$DATA/hospital.csv" "$DATA/hospital_clean.csv" "$WORK/"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d "$DB")
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
"${PSQL[@]}" -v dirty="$WORK/hospital.csv" -v clean="$WORK/hospital_clean.csv" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION eai CASCADE;
SELECT count(*) FROM eai.add_source('hospital', :'dirty');
SELECT status, rows_written FROM eai.ingest('hospital');
-- The clean version, in long form (tid = 0-based row number of the file).
CREATE TABLE public.clean (tid integer, attribute text, correct_val text);
COPY public.clean FROM :'clean' WITH (FORMAT csv, HEADER true);
-- The dirty file again, with its row numbers (tid, 0-based, as the clean version counts), matched
-- to the bronze rows by content.
-- tid from a sequence, which COPY draws row by row in file order.
CREATE TABLE public.dirty_file (LIKE eai_src_hospital.hospital);
CREATE SEQUENCE public.tids MINVALUE 0 START 0;
ALTER TABLE public.dirty_file ADD COLUMN tid bigint DEFAULT nextval('public.tids');
SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) AS cols
  FROM pg_attribute WHERE attrelid = 'eai_src_hospital.hospital'::regclass AND attnum > 0 \gset
COPY public.dirty_file (:cols) FROM :'dirty' WITH (FORMAT csv, HEADER true);
CREATE TABLE public.row_ids AS
SELECT d.tid, b._eai_row_hash
  FROM public.dirty_file d
  JOIN bronze.hospital__hospital b ON (to_jsonb(b) - '_eai_batch' - '_eai_loaded_at' - '_eai_row_hash') = (to_jsonb(d) - 'tid');
CREATE TABLE public.dirty_cells AS
SELECT d.tid, c.attribute, c.correct_val, to_jsonb(d) ->> c.attribute AS dirty_val
  FROM public.dirty_file d JOIN public.clean c ON c.tid = d.tid
 WHERE coalesce(to_jsonb(d) ->> c.attribute, '') IS DISTINCT FROM coalesce(c.correct_val, '');
-- The pipeline: silver created from the profile, rules suggested from it, plus a few declared.
SELECT name FROM eai.create_pipeline('hospital', 'bronze.hospital__hospital', 'silver.hospital', promote => false);
SQL
echo "== suggested expectations (accepted), from the profile of the dirty table"
"${PSQL[@]}" -c "SELECT column_name, rule, left(reason, 70) AS reason FROM eai.suggest_expectations('bronze.hospital__hospital', accept => false) ORDER BY 1, 2"
"${PSQL[@]}" <<'SQL'
SET client_min_messages = warning;
-- Accept the suggestions (they name bronze columns; silver names are normalised), then declare.
INSERT INTO eai.expectations (relid, table_name, column_name, rule, spec, action, origin)
SELECT 'silver.hospital'::regclass, 'silver.hospital', pc.target_column, s.rule, s.spec, 'quarantine', 'suggested'
  FROM eai.suggest_expectations('bronze.hospital__hospital') s
  JOIN eai.pipeline_columns pc ON pc.source_column = s.column_name
 WHERE s.rule NOT IN ('type', 'not_null', 'unique', 'range')
   -- Rules on raw values hold for text columns; typed silver columns are checked by their casts.
   AND pc.target_type = 'text';
SELECT 1 FROM eai.expect('silver.hospital', 'zipcode', 'regex ^[0-9]{5}$');
SELECT 1 FROM eai.expect('silver.hospital', 'phonenumber', 'regex ^[0-9]{10}$');
SELECT 1 FROM eai.expect('silver.hospital', 'state', 'regex ^[a-z]{2}$');
SELECT count(*) FROM eai.run_pipeline('hospital');
SQL
echo "== results against the clean version"
"${PSQL[@]}" <<'SQL'
WITH q AS (SELECT r.tid, v ->> 'column' AS col FROM eai.quarantine x JOIN public.row_ids r ON r._eai_row_hash = x.row_hash,
                jsonb_array_elements(x.violations) v WHERE x.status = 'quarantined'),
     qrows AS (SELECT DISTINCT tid FROM q),
     bad AS (SELECT d.*, lower(d.attribute) AS col FROM public.dirty_cells d),
     badrows AS (SELECT DISTINCT tid FROM bad)
SELECT (SELECT count(*) FROM bad) AS bad_cells,
       (SELECT count(*) FROM bad WHERE EXISTS (SELECT 1 FROM q WHERE q.tid = bad.tid AND q.col = bad.col)) AS bad_cells_caught,
       (SELECT count(*) FROM badrows) AS bad_rows,
       (SELECT count(*) FROM badrows WHERE tid IN (SELECT tid FROM qrows)) AS bad_rows_quarantined,
       (SELECT count(*) FROM public.row_ids) - (SELECT count(*) FROM badrows) AS good_rows,
       (SELECT count(*) FROM qrows WHERE tid NOT IN (SELECT tid FROM badrows)) AS good_rows_quarantined,
       (SELECT rows_read FROM eai.pipeline_status) AS rows_read,
       (SELECT rows_promoted FROM eai.pipeline_status) AS promoted,
       (SELECT rows_quarantined FROM eai.pipeline_status) AS quarantined;
SQL
echo "== per column: bad cells, caught, and rule breaks on good cells"
"${PSQL[@]}" <<'SQL'
WITH q AS (SELECT r.tid, v ->> 'column' AS col, v ->> 'rule' AS rule FROM eai.quarantine x JOIN public.row_ids r ON r._eai_row_hash = x.row_hash,
                jsonb_array_elements(x.violations) v WHERE x.status = 'quarantined'),
     bad AS (SELECT tid, lower(attribute) AS col FROM public.dirty_cells)
SELECT col, (SELECT count(*) FROM bad b WHERE b.col = c.col) AS bad_cells,
       (SELECT count(*) FROM bad b WHERE b.col = c.col AND EXISTS (SELECT 1 FROM q WHERE q.tid = b.tid AND q.col = b.col)) AS caught,
       (SELECT count(*) FROM q WHERE q.col = c.col AND NOT EXISTS (SELECT 1 FROM bad b WHERE b.tid = q.tid AND b.col = q.col)) AS false_alarms,
       (SELECT string_agg(DISTINCT rule, ', ') FROM q WHERE q.col = c.col) AS rules
  FROM (SELECT DISTINCT lower(attribute) AS col FROM public.clean) c ORDER BY 2 DESC, 1;
SQL
