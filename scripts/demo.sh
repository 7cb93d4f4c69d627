#!/usr/bin/env bash
# The main job: install everything (idempotent), start the local cluster, and run the demo
# pipeline on the bundled sample data: a folder of messy CSV files and a second database with
# other column names and types, both landed raw in bronze. Leaves the cluster running.
#   scripts/demo.sh           run (again: re-ingesting adds no duplicate rows)
#   scripts/demo.sh --reset   start from an empty demo database
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$REPO/scripts/install.sh"
"$REPO/scripts/cluster.sh" start
source "$REPO/.eai/env"
RUN=$(runtime_dir)

# The server reads the CSV files: copy them where the postgres user can read them.
install -d -m 0755 "$RUN/demo"
rm -rf "$RUN/demo/shop_csv"
cp -r "$REPO/demo/shop_csv" "$RUN/demo/shop_csv"
# A folder of awkward files: one without a header line, one with a stray quote inside a field.
install -d -m 0755 "$RUN/demo/readings"
printf '2024-03-01 10:00,boiler,71.5\n2024-03-01 11:00,boiler,72.0\n2024-03-01 12:00,pump,18.25\n' > "$RUN/demo/readings/meters.csv"
printf 'id,item\n1,27" monitor\n2,desk\n' > "$RUN/demo/readings/notes.csv"
# A contacts export whose next version renames a column (the schema-drift step).
install -d -m 0755 "$RUN/demo/drift"
{ echo 'id,email,city'; for i in $(seq 1 12); do echo "$i,contact$i@example.com,City $((i % 4))"; done; } > "$RUN/demo/drift/contacts.csv"
{ echo 'id,email_address,city'; for i in $(seq 1 15); do echo "$i,contact$i@example.com,City $((i % 4))"; done; } > "$RUN/demo/drift/contacts_v2.csv"
# ... and whose versions after that add a column the pipeline must not publish (the contract step).
for n in 15 16; do
  { echo 'id,email_address,city,internal_note'; for i in $(seq 1 "$n"); do echo "$i,contact$i@example.com,City $((i % 4)),do not share $i"; done; } \
    > "$RUN/demo/drift/contacts_v$((n - 12)).csv"
done
chmod -R a+rX "$RUN/demo"

PSQL=(psql -X -v ON_ERROR_STOP=1 -q)
if [ "${1:-}" = "--reset" ]; then
  "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS eai WITH (FORCE)" -c "CREATE DATABASE eai"
fi
# The second source database.
if ! "${PSQL[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'eai_demo_crm'" | grep -q 1; then
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE eai_demo_crm"
  "${PSQL[@]}" -d eai_demo_crm -f "$REPO/demo/crm.sql"
fi

log "demo: ingesting the bundled sources into bronze"
"${PSQL[@]}" -d eai -v csv_dir="$RUN/demo/shop_csv" -v readings_dir="$RUN/demo/readings" -v drift_dir="$RUN/demo/drift" -v crm_uri="postgresql:///eai_demo_crm?host=$PGHOST&port=$PGPORT&user=postgres" <<'SQL'
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS eai CASCADE;
ALTER EXTENSION eai UPDATE;
RESET client_min_messages;
SELECT count(*) AS has_shop FROM eai.sources WHERE source = 'shop' \gset
\if :has_shop
\else
  \echo '== eai.add_source(''shop'', <folder of CSV files>)'
  SELECT table_name, foreign_table, replace(dialect ->> 'delimiter', E'\t', '\t') AS delimiter, dialect ->> 'header' AS header,
         jsonb_array_length(dialect -> 'columns') AS columns
    FROM eai.add_source('shop', :'csv_dir');
\endif
SELECT count(*) AS has_crm FROM eai.sources WHERE source = 'crm' \gset
\if :has_crm
\else
  \echo '== eai.add_source(''crm'', <postgresql:// URI of the CRM database>)'
  SELECT table_name, foreign_table FROM eai.add_source('crm', :'crm_uri');
\endif
\echo '== eai.ingest(): one batch per source table'
SELECT batch_id, source, table_name, status, rows_read, rows_written, rows_skipped, round(duration_ms::numeric, 1) AS ms
  FROM (SELECT * FROM eai.ingest('shop') UNION ALL SELECT * FROM eai.ingest('crm')) b ORDER BY batch_id;
\echo '== What landed in bronze (eai.ingest_status)'
SELECT source, table_name, bronze_table, rows_in_bronze, batches, last_status FROM eai.ingest_status ORDER BY 1, 2;
\echo '== bronze."shop__customers" (raw text, as in the file)'
SELECT customer_id, "Full Name", "E-mail", "signup date", country, _eai_batch FROM bronze.shop__customers ORDER BY _eai_loaded_at, customer_id;
\echo '== bronze."crm__clients" (types as in the CRM database)'
SELECT client_no, first_name, last_name, email_address, created, lifetime_value, _eai_batch FROM bronze.crm__clients ORDER BY client_no;
\echo '== eai.profile(): what each column of bronze."shop__customers" holds'
SELECT column_name, inferred_type, round(null_rate::numeric, 2) AS null_rate, distinct_count,
       semantic_type, pii, top_values
  FROM eai.profile('bronze.shop__customers') ORDER BY column_name;
\echo '== eai.map_schema(): bronze."shop__customers" onto silver.customers (a new mapping version each run)'
CREATE TABLE IF NOT EXISTS silver.customers (customer_id integer, full_name text, email text, phone_number text,
                                             signup_date date, country_code char(2));
SELECT source_column, target_column, round(confidence::numeric, 2) AS confidence, band, status
  FROM eai.map_schema('bronze.shop__customers', 'silver.customers');
\echo '== Waiting for review in psql: eai.pending_mappings (decide with eai.approve_mapping(id), eai.reject_mapping(id, reason), eai.override_mapping(id, column))'
SELECT id, source, target, confidence, source_values, why FROM eai.pending_mappings;
SELECT count(*) AS has_orders FROM eai.pipelines WHERE name = 'orders' \gset
\if :has_orders
\else
  \echo '== eai.create_pipeline(): bronze."shop__orders" -> silver.orders, created from the profile; then expectations'
  SELECT name, target_table, dedup_key FROM eai.create_pipeline('orders', 'bronze.shop__orders', 'silver.orders',
                                                                dedup_key => '{order_id}', promote => false);
  SELECT column_name, data_type FROM information_schema.columns
   WHERE table_schema = 'silver' AND table_name = 'orders' AND column_name NOT LIKE '\_eai\_%' ORDER BY ordinal_position;
  SELECT table_name, column_name, rule, spec, action FROM eai.expect('silver.orders', 'amount', 'range 0..100000');
  SELECT table_name, column_name, rule, spec, action FROM eai.expect('silver.orders', 'status', 'allowed pending, paid, shipped, refunded', 'warn');
  SELECT table_name, column_name, rule, spec, action FROM eai.expect('silver.orders', 'currency', 'regex ^[A-Z]{3}$', 'warn');
\endif
\echo '== eai.run_pipeline(''orders''): ingest, then promote to silver what is new (casts, expectations, quarantine)'
SELECT kind, bronze_batch, rows_read, rows_promoted, rows_quarantined, warned FROM eai.run_pipeline('orders');
SELECT order_id, cust, order_date, amount, currency, status, round(_eai_quality::numeric, 2) AS record_quality FROM silver.orders ORDER BY order_id;
\echo '== eai.quarantine: rows kept aside, whole, with why (eai.requeue_quarantine promotes them again after a fix)'
SELECT quarantine_id, row ->> 'order_id' AS order_id, row ->> 'amount' AS amount,
       jsonb_path_query_array(violations, '$[*].reason') AS why FROM eai.quarantine WHERE status = 'quarantined';
SELECT name, rows_read, rows_promoted, rows_quarantined, in_quarantine, batches_queued FROM eai.pipeline_status;
SELECT count(*) AS has_gold FROM eai.gold_tables WHERE name = 'revenue_by_status' \gset
\if :has_gold
\else
  \echo '== eai.create_gold(): a table for BI tools, refreshed after every promotion into silver.orders'
  SELECT name, inputs::regclass[] AS inputs, rows FROM eai.create_gold('revenue_by_status',
    'SELECT lower(status) AS status, count(*) AS orders, sum(amount) AS revenue FROM silver.orders GROUP BY 1',
    'Orders and revenue per status, from validated orders.');
\endif
SELECT * FROM gold.revenue_by_status ORDER BY status;
\echo '== eai.lineage(): where gold.revenue_by_status.revenue comes from, down to the CSV file'
SELECT depth, kind, from_table, from_column, to_table, to_column FROM eai.lineage('gold.revenue_by_status', 'revenue', 'upstream');
\echo '== eai.quality_score(): seven dimensions in one scan, each against its expectation (kept in eai.quality_history)'
SELECT dimension, score, measured, expected FROM eai.quality_score('silver.orders');
\echo '== eai.detect_anomalies(tbl): the metric history of silver.orders (quality runs, batches) judged; too short yet, and it says so'
SELECT metric, detector, severity, explanation FROM eai.detect_anomalies('silver.orders'::regclass);
\echo '== eai.detect_anomalies(query): any (time, value) series, judged point by point without look-ahead'
\echo '   (a generated one: three weeks of hourly orders with a daily cycle, and a two-hour outage on day 18;'
\echo '    min_history => 48: judged from day 3, once two cycles are known)'
SELECT ts, observed, round(expected::numeric) AS expected, round(score::numeric, 1) AS score, detector, severity, explanation
  FROM eai.detect_anomalies($q$
    SELECT timestamptz '2024-03-01 00:00+00' + h * interval '1 hour' AS ts,
           CASE WHEN h BETWEEN 17 * 24 + 14 AND 17 * 24 + 15 THEN 3
                ELSE round(100 + 60 * sin(2 * pi() * (h % 24) / 24) + 5 * sin(h * 7.3)) END AS orders
      FROM generate_series(0, 21 * 24 - 1) h ORDER BY 1 $q$, min_history => 48)
 WHERE score >= 6 ORDER BY ts;
\echo '== A slow drift no single value betrays: two weeks of hourly readings; from day 9 the level climbs 4 sigma in two days'
\echo '   and the spread triples. detector cusum: evidence summed over many points against a longer past'
SELECT ts, round(observed::numeric, 1) AS observed, round(expected::numeric, 1) AS expected, detector, severity
  FROM eai.detect_anomalies($q$
    SELECT timestamptz '2024-03-01 00:00+00' + h * interval '1 hour' AS ts,
           50 + 2 * (hashint4(h) % 1000) / 1000.0 * (1 + least(greatest(h - 200, 0), 48) / 24.0)
              + least(greatest(h - 200, 0), 48) * 0.1 AS temperature
      FROM generate_series(0, 335) h ORDER BY 1 $q$)
 WHERE severity IS NOT NULL ORDER BY ts;
\echo '== Hardening (docs/security.md): SQL handed in is parsed by PostgreSQL first; a gold query must be one SELECT'
\set ON_ERROR_STOP 0
SELECT eai.create_gold('sneaky', 'SELECT 1 FROM silver.orders; DROP TABLE silver.orders');
\echo '   ... and code another role owns is never run by a promotion (the refusal names it and its owner):'
CREATE TABLE IF NOT EXISTS public.demo_untrusted (id int);
DO $$ BEGIN CREATE ROLE demo_engineer NOLOGIN IN ROLE eai_engineer; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
ALTER TABLE public.demo_untrusted OWNER TO demo_engineer;
SELECT eai._refuse_foreign_code('public.demo_untrusted', current_user::regrole, true, 'promote into');
DROP TABLE public.demo_untrusted;
\echo '   ... the catalog is written only by eai, in the real role''s name, and shows sample values only to roles that may read their table:'
DO $$ BEGIN CREATE ROLE demo_reader NOLOGIN IN ROLE eai_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
SELECT count(*) AS "profiles of bronze.shop__customers (as postgres)" FROM eai.column_profiles WHERE table_name = 'shop__customers';
SET ROLE demo_reader;
SELECT count(*) AS "as demo_reader (no SELECT on it)" FROM eai.column_profiles WHERE table_name = 'shop__customers';
UPDATE eai.mappings SET decided_by = 'postgres';
RESET ROLE;
\set ON_ERROR_STOP 1
\echo '== Self-healing (docs/healing.md): the CRM database becomes unreachable; the failure is classified and retried'
SELECT s.server AS crm_server, o.option_value AS crm_port FROM eai.sources s, pg_foreign_server fs, pg_options_to_table(fs.srvoptions) o
 WHERE s.source = 'crm' AND fs.srvname = s.server AND o.option_name = 'port' \gset
SELECT format('ALTER SERVER %I OPTIONS (SET port %L)', :'crm_server', '1') \gexec
-- Here the circuit breaker opens after 2 failures in a row and probes after 2 s (defaults: 5, 1 min).
SET eai.breaker_consecutive_failures = 2;
SET eai.breaker_open_for = '2s';
SET client_min_messages = error;
SELECT table_name, status, error_sqlstate, error_class FROM eai.ingest('crm');
RESET client_min_messages;
SELECT stage, target, class, sqlstate, attempt, action, note FROM eai.failures ORDER BY failure_id DESC LIMIT 1;
\echo '   ... two failures in a row: the source is paused (its circuit breaker is open); its next batch is skipped, not tried:'
SET client_min_messages = error;
SELECT table_name, status, error_message FROM eai.ingest('crm', 'clients');
RESET client_min_messages;
SELECT scope, target, state, reason FROM eai.breakers;
\echo '   ... it comes back; after the open period the worker''s retry is the one probe, and it closes the breaker:'
SELECT format('ALTER SERVER %I OPTIONS (SET port %L)', :'crm_server', :'crm_port') \gexec
DO $$ BEGIN
  FOR i IN 1..100 LOOP
    EXIT WHEN (SELECT bool_and(status = 'succeeded') FROM (SELECT DISTINCT ON (table_name) status FROM eai.batches
                                                           WHERE source = 'crm' ORDER BY table_name, batch_id DESC) l);
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
SELECT DISTINCT ON (b.table_name) b.table_name, b.status, b.rows_read, b.rows_written AS rows_new, f.retried_at IS NOT NULL AS retried_by_eai
  FROM eai.batches b, LATERAL (SELECT x.retried_at FROM eai.failures x WHERE x.stage = 'ingest' AND x.target = 'crm.' || b.table_name
                                ORDER BY x.failure_id DESC LIMIT 1) f
 WHERE b.source = 'crm' ORDER BY b.table_name, b.batch_id DESC;
SELECT from_state, to_state, reason FROM eai.breaker_transitions WHERE target = 'crm' ORDER BY transition_id DESC LIMIT 3;
\echo '   ... the paused source was an escalation for a person (high: NOTIFY eai_incident), closed by eai when the breaker closed;'
\echo '       eai.healing_stats says how much eai healed alone:'
SELECT kind, severity, target, what, status, resolution FROM eai.escalations WHERE target = 'crm' ORDER BY escalation_id DESC LIMIT 1;
SELECT stage, class, action, failures, healed_automatically, needed_a_person, success_rate FROM eai.healing_stats WHERE stage = 'ingest';
RESET eai.breaker_consecutive_failures;
RESET eai.breaker_open_for;
\echo '== Schema drift (docs/healing.md): the next contacts export renames email to email_address'
SELECT count(*) AS has_contacts FROM eai.sources WHERE source = 'contacts' \gset
\if :has_contacts
\else
  SELECT table_name FROM eai.add_source('contacts', :'drift_dir' || '/contacts.csv');
  SELECT status, rows_written FROM eai.ingest('contacts');
  SELECT name FROM eai.create_pipeline('contacts', 'bronze.contacts__contacts', 'silver.contacts', dedup_key => '{id}');
\endif
\set drift_v2 :drift_dir '/contacts_v2.csv'
\set drift_v1 :drift_dir '/contacts.csv'
\setenv DRIFT_V2 :drift_v2
\setenv DRIFT_V1 :drift_v1
\! cp "$DRIFT_V2" "$DRIFT_V1"
SET client_min_messages = error;
SELECT status, rows_read, rows_written FROM eai.ingest('contacts');
RESET client_min_messages;
SELECT count(*) AS records, count(email) AS with_email FROM silver.contacts;
\echo '   ... one heal pass (the worker runs it too) recognises the rename and feeds silver.contacts.email from the new name;'
\echo '       the records that came without it are filled from bronze; the remediation keeps the evidence and the undo:'
SELECT schema_changes FROM eai.heal();
SELECT remediation_id, change, action, status, decided_by, columns ->> 'old_bronze' AS old_name, columns ->> 'bronze' AS new_name,
       round((evidence ->> 'confidence')::numeric, 2) AS confidence, undo
  FROM eai.remediations WHERE pipeline = 'contacts' ORDER BY remediation_id DESC LIMIT 1;
SELECT count(*) AS records, count(email) AS with_email FROM silver.contacts;
\echo '== A contract per kind of change: the next export adds internal_note, which this pipeline must not publish'
SELECT change, policy, apply FROM eai.set_drift_contract('contacts', 'new_column', 'discard_value');
\set drift_v3 :drift_dir '/contacts_v3.csv'
\set drift_v4 :drift_dir '/contacts_v4.csv'
\setenv DRIFT_V3 :drift_v3
\setenv DRIFT_V4 :drift_v4
\! cp "$DRIFT_V3" "$DRIFT_V1"
SET client_min_messages = error;
SELECT status, rows_read, rows_written FROM eai.ingest('contacts');
RESET client_min_messages;
SELECT schema_changes FROM eai.heal();
\echo '   ... the heal discards its values: out of silver (the records already promoted too), kept in bronze:'
SELECT action, status, decided_by, columns ->> 'bronze' AS column_discarded
  FROM eai.remediations WHERE pipeline = 'contacts' ORDER BY remediation_id DESC LIMIT 1;
\! cp "$DRIFT_V4" "$DRIFT_V1"
SET client_min_messages = error;
SELECT status, rows_written FROM eai.ingest('contacts');
RESET client_min_messages;
SELECT count(*) AS records, count(*) FILTER (WHERE _eai_extra ? 'internal_note') AS with_internal_note FROM silver.contacts;
SELECT count(internal_note) AS internal_notes_in_bronze FROM bronze.contacts__contacts;
\echo '== Awkward files lose no row: a file without a header gets column_1..n, a stray quote stays in its field'
SELECT count(*) AS has_readings FROM eai.sources WHERE source = 'readings' \gset
\if :has_readings
\else
  SELECT table_name, dialect ->> 'header' AS header, dialect -> 'columns' AS columns FROM eai.add_source('readings', :'readings_dir') ORDER BY 1;
\endif
SELECT table_name, status, rows_read, rows_written FROM eai.ingest('readings') ORDER BY table_name;
SELECT column_1, column_2, column_3 FROM bronze.readings__meters ORDER BY column_1;
SELECT id, item FROM bronze.readings__notes ORDER BY id;
\echo '== Questions in plain language (docs/nl_to_sql.md): the embedded engine, no LLM; validated, read-only SQL'
SELECT v.question, x.sql, x.confidence
  FROM (VALUES ('How many orders are shipped?'), ('What is the total amount of orders for each status?'),
               ('Show the order id and amount of the 3 largest orders')) v(question), LATERAL eai.nl_to_sql(v.question) x;
SELECT row FROM eai.ask('What is the total amount of orders for each status?') ORDER BY row ->> 'status';
\echo '   ... when it is not sure it abstains, and says why; any SQL it would run is checked first:'
SELECT sql, engine, explanation FROM eai.nl_to_sql('Which customers never ordered twice in a row?');
SELECT ok, sqlstate, reason FROM eai.nl_validate('SELECT count(*) FROM silver.orders WHERE pg_sleep(1) IS NULL');
\echo '== In-process embeddings: cosine of two column names'
SELECT round((1 - (eai.embed('customer_email') <=> eai.embed('client e-mail address')))::numeric, 3) AS "cosine(customer_email, client e-mail address)";
SQL
log "demo done. The cluster keeps running: source .eai/env && psql   (stop: scripts/cluster.sh stop)"
