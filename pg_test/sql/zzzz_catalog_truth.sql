\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT current_setting('data_directory') AS datadir \gset
\set file0 :datadir '/regress_payroll.csv'
-- Catalog rows tell the truth (who, when) and show sample values and rows only to roles that may
-- read the table they came from (docs/security.md).
begin;
CREATE ROLE ct_eng LOGIN IN ROLE eai_engineer;
CREATE ROLE ct_rev LOGIN IN ROLE eai_reviewer;
CREATE ROLE ct_reader LOGIN IN ROLE eai_reader;
CREATE SCHEMA private;
CREATE TABLE private.salaries (emp_name text, ssn text, salary integer);
INSERT INTO private.salaries VALUES ('Ann Lee', '123-45-6789', 5000), ('Bob Ray', '987-65-4321', 6000), ('Cy Fox', '555-12-3456', 7000);
CREATE TABLE public.staff (full_name text, social_security text, pay integer);
INSERT INTO public.staff VALUES ('Dee Ames', '111-22-3333', 4000);
CREATE TABLE public.team (member text, pay integer);
INSERT INTO public.team VALUES ('Eve Ort', 3000);
GRANT SELECT ON public.staff, public.team TO ct_eng, ct_rev, ct_reader;
SELECT 'private.salaries'::regclass::oid AS salaries_oid \gset
-- The owner maps the private table: its profiles hold the SSNs as top values.
SELECT count(*) > 0 AS mapped FROM eai.map_schema('private.salaries', 'public.staff');
SELECT count(*) > 0 AS ssn_in_profiles FROM eai.column_profiles WHERE relid = :salaries_oid AND profile::text LIKE '%123-45-6789%';
-- A payroll file through a pipeline: a row with an age that is no number is quarantined, whole.
COPY (SELECT line FROM (SELECT 0 AS n, 'id,ssn,age' AS line
                         UNION ALL SELECT i, format('%s,%s-45-6789,%s', i, 100 + i, CASE WHEN i = 7 THEN 'forty' ELSE (30 + i)::text END)
                           FROM generate_series(1, 40) i) x ORDER BY n) TO :'file0' WITH (FORMAT text);
SELECT table_name FROM eai.add_source('payroll', :'file0');
SELECT status FROM eai.ingest('payroll');
SELECT name FROM eai.create_pipeline('payroll', 'bronze.payroll__regress_payroll', 'silver.payroll');
REVOKE SELECT ON silver.payroll FROM eai_reader;
SELECT count(*) AS quarantined FROM eai.quarantine q JOIN eai.pipelines p USING (pipeline_id) WHERE p.name = 'payroll';

-- 1. An engineer writes the catalog only through eai's functions, which record who it is.
SET SESSION AUTHORIZATION ct_eng;
INSERT INTO eai.mapping_runs (source_relid, source_table, target_relid, target_table, version, one_to_many, run_by)
VALUES (:salaries_oid, 'private.salaries', 'public.staff'::regclass, 'public.staff', 99, false, 'postgres');
INSERT INTO eai.mappings (run_id, source_column, target_column, confidence, band, status, signals, candidates, decided_by)
SELECT run_id, 'ssn', 'social_security', 1, 'auto_approved', 'approved', '{}', '[]', 'postgres' FROM eai.mapping_runs LIMIT 1;
UPDATE eai.mapping_runs SET duration_ms = 0;
INSERT INTO eai.column_profiles (relid, schema_name, table_name, column_name, attnum, version, profiled_by, rows_estimated, rows_sampled,
                                 declared_type, inferred_type, null_rate, empty_rate, distinct_count, profile, value_set, name_text)
VALUES ('public.team'::regclass, 'public', 'team', 'pay', 2, 99, 'postgres', 1, 1, 'integer', 'integer', 0, 0, 1, '{}', '{}', 'pay');
INSERT INTO eai.llm_calls (called_by, purpose, protocol, model, request_hash, latency_ms, cache_hit, outcome)
VALUES ('postgres', 'map_schema', 'openai', 'gpt', 'x', 1, false, 'ok');
INSERT INTO eai.llm_cache (request_hash, protocol, model, response, tokens_in, tokens_out) VALUES ('x', 'openai', 'gpt', '{}', 0, 0);
INSERT INTO eai.quality_runs (relid, table_name, rows, measure, run_by) VALUES ('public.team'::regclass, 'public.team', 1, '{}', 'postgres');
-- Its own work is recorded as its own.
SELECT count(*) > 0 AS mapped FROM eai.map_schema('public.team', 'public.staff');
SELECT count(*) AS scored FROM eai.quality_score('public.team');
RESET SESSION AUTHORIZATION;
SELECT DISTINCT run_by FROM eai.mapping_runs WHERE source_relid = 'public.team'::regclass;
SELECT DISTINCT profiled_by FROM eai.column_profiles WHERE relid = 'public.team'::regclass;
SELECT DISTINCT run_by FROM eai.quality_runs WHERE relid = 'public.team'::regclass;

-- 2. A reviewer labels and moves thresholds only through eai's functions: who and when are its
-- own, and every change has its log row.
INSERT INTO eai.anomalies (relid, table_name, metric, observed_at, observed, expected, score, threshold, detector, severity, explanation)
VALUES ('public.team'::regclass, 'public.team', 'row_count', now(), 100, 10, 9, 6, 'robust_z', 'medium', 'test');
SET SESSION AUTHORIZATION ct_rev;
UPDATE eai.anomalies SET label = 'false_positive', labelled_by = 'postgres', labelled_at = '2000-01-01';
INSERT INTO eai.threshold_changes (relid, table_name, metric, old_threshold, new_threshold, reason, changed_by, changed_at)
VALUES ('public.team'::regclass, 'public.team', 'row_count', 6, 7, 'backdated', 'postgres', '2000-01-01');
INSERT INTO eai.anomaly_thresholds (relid, table_name, metric, threshold) VALUES ('public.team'::regclass, 'public.team', 'row_count', 1e9);
SELECT verdict FROM eai.label_anomaly((SELECT max(anomaly_id) FROM eai.anomalies), 'false_positive');
SELECT new_threshold, changed_by FROM eai.set_threshold('public.team', 'row_count', threshold => 1e9);
-- A reviewer may not label or tune what it may not read.
SELECT new_threshold FROM eai.set_threshold(:salaries_oid::regclass, 'row_count', threshold => 1e9);
RESET SESSION AUTHORIZATION;
SELECT label, labelled_by, labelled_at > now() - interval '1 hour' AS labelled_now FROM eai.anomalies WHERE table_name = 'public.team';
SELECT threshold FROM eai.anomaly_thresholds WHERE table_name = 'public.team';
SELECT new_threshold, changed_by, changed_at > now() - interval '1 hour' AS logged_now FROM eai.threshold_changes WHERE table_name = 'public.team' ORDER BY change_id;

-- 3. A reader denied on private.salaries sees none of its values, through any catalog table or view.
SET SESSION AUTHORIZATION ct_reader;
SELECT count(*) AS salaries_profiles FROM eai.column_profiles WHERE relid = :salaries_oid;
SELECT count(*) AS ssn_anywhere FROM eai.column_profiles WHERE profile::text LIKE '%-45-6789%' OR value_set::text LIKE '%-45-6789%';
SELECT count(*) AS ssn_in_review FROM eai.pending_mappings WHERE source_values LIKE '%-45-6789%' OR target_values LIKE '%-45-6789%';
SELECT count(*) AS bronze_rows_in_quarantine FROM eai.quarantine;
-- … while what it may read stays in view.
SELECT count(*) > 0 AS sees_staff_profiles FROM eai.column_profiles WHERE table_name = 'staff';
SELECT count(*) > 0 AS sees_the_decisions FROM eai.mappings m JOIN eai.mapping_runs r USING (run_id) WHERE r.source_relid = :salaries_oid;
RESET SESSION AUTHORIZATION;
SELECT count(*) > 0 AS owner_sees_all FROM eai.column_profiles WHERE relid = :salaries_oid;
-- With SELECT on the bronze table, the reader sees its quarantined rows.
GRANT SELECT ON bronze.payroll__regress_payroll TO ct_reader;
SET SESSION AUTHORIZATION ct_reader;
SELECT row ->> 'id' AS id, row ->> 'ssn' AS ssn, row ->> 'age' AS age FROM eai.quarantine;
RESET SESSION AUTHORIZATION;
-- Measuring and judging are for engineers, on tables they may read; the rows name who measured.
SET SESSION AUTHORIZATION ct_reader;
SELECT eai.measure_batches('public.team');
SET SESSION AUTHORIZATION ct_eng;
SELECT count(*) FROM eai.detect_anomalies('silver.payroll'::regclass);
SELECT eai._record_batch_profile(1, 'silver.payroll'::regclass, '{age}', '{}');
RESET SESSION AUTHORIZATION;
GRANT SELECT ON silver.payroll TO ct_eng;
SET SESSION AUTHORIZATION ct_eng;
SELECT count(*) >= 0 AS judged FROM eai.detect_anomalies('silver.payroll'::regclass);
RESET SESSION AUTHORIZATION;
SELECT DISTINCT measured_by FROM eai.batch_profiles b JOIN eai.pipelines p ON p.target_relid = b.relid WHERE p.name = 'payroll';
-- Its batch sketches (quantiles of the values) stay hidden from the reader, in the table and in eai.metrics.
SET SESSION AUTHORIZATION ct_reader;
SELECT count(*) AS payroll_batch_sketches FROM eai.batch_profiles b JOIN eai.pipelines p ON p.target_relid = b.relid WHERE p.name = 'payroll';
SELECT count(*) AS payroll_metrics_from_sketches FROM eai.metrics m JOIN eai.pipelines p ON p.target_relid = m.relid
 WHERE p.name = 'payroll' AND m.metric LIKE 'batch\_%' AND m.column_name IS NOT NULL;
RESET SESSION AUTHORIZATION;
SELECT count(*) > 0 AS owner_sees_sketches FROM eai.batch_profiles b JOIN eai.pipelines p ON p.target_relid = b.relid WHERE p.name = 'payroll';
rollback;
