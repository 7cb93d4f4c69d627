\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
begin;
CREATE TABLE src (cust_id text, "Full Name" text, "E-mail" text, phone text, signup text, country text, notes text);
INSERT INTO src VALUES
 ('1', 'Jane Doe',   'jane@example.com', '+1 555 0100',    '2024-01-15', 'US', 'vip'),
 ('2', 'Bob Martin', 'bob@example.com',  '(555) 010-2000', '2024-02-15', 'DE', NULL),
 ('3', 'Ann Lee',    'ann@example.org',  '+34 600 000 000', '2024-03-01', 'FR', 'late payer');
CREATE TABLE tgt (customer_id integer, full_name text, email text, phone_number text, signup_date date, country_code char(2));
-- Every source column gets a decision: approved above 0.85, pending (for the LLM, else review)
-- below, or a new-column proposal when nothing fits.
SELECT source_column, target_column, round(confidence::numeric, 2) AS confidence, band, status
  FROM eai.map_schema('src', 'tgt') ORDER BY mapping_id;
-- Every decision keeps its signals and runner-ups, and who decided.
SELECT source_column, signals ? 'name_embedding' AS has_signals, jsonb_array_length(candidates) AS candidates, decided_by
  FROM eai.mappings ORDER BY mapping_id;
-- Review in psql.
SELECT id, source, target, confidence, source_values, why FROM eai.pending_mappings;
SELECT status, decided_by = current_user AS by_me FROM eai.approve_mapping((SELECT min(id) FROM eai.pending_mappings));
SELECT status, reason FROM eai.reject_mapping((SELECT min(id) FROM eai.pending_mappings), 'not the same thing');
SELECT count(*) AS still_pending FROM eai.pending_mappings;
SELECT source_column, proposed_target, target_column, status
  FROM eai.override_mapping((SELECT mapping_id FROM eai.mappings WHERE source_column = 'notes'), 'full_name');
-- Bad review calls.
SELECT eai.approve_mapping(999999);
SELECT eai.reject_mapping((SELECT min(mapping_id) FROM eai.mappings), '');
SELECT eai.override_mapping((SELECT min(mapping_id) FROM eai.mappings), 'no_such_column');
-- A second run is version 2; version 1 and its decisions are untouched. Human decisions feed it.
SELECT version, count(*) FROM eai.mapping_runs r JOIN eai.mappings m USING (run_id) GROUP BY version ORDER BY 1;
SELECT source_column, target_column, band, status, (signals ->> 'history')::float AS history
  FROM eai.map_schema('src', 'tgt') WHERE signals ->> 'history' IS NOT NULL ORDER BY 1;
SELECT version, count(*) FILTER (WHERE decided_by IS NOT NULL AND decided_by <> 'eai:auto') AS human_decisions
  FROM eai.mapping_runs r JOIN eai.mappings m USING (run_id) GROUP BY version ORDER BY 1;
-- 1:n: a source column may map to several targets.
CREATE TABLE tgt2 (age_at_diagnosis integer, age_at_index integer, gender text);
CREATE TABLE src2 (age integer, sex text);
INSERT INTO src2 VALUES (61, 'male'), (47, 'female');
SELECT source_column, target_column, status FROM eai.map_schema('src2', 'tgt2', one_to_many => true) ORDER BY 1, 2;
-- Hostile names and empty tables.
CREATE TABLE "s""rc; --" ("a""b;c" text, "ünï" int);
CREATE TABLE "t""gt; --" ("a""b;c" text, "ünï" int);
SELECT source_column, target_column, status FROM eai.map_schema('"s""rc; --"', '"t""gt; --"') ORDER BY 1;
CREATE TABLE no_cols ();
SELECT count(*) FROM eai.map_schema('no_cols', 'tgt');
SELECT source_column, target_column, status FROM eai.map_schema('src2', 'no_cols');
rollback;
