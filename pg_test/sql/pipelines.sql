\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT current_setting('data_directory') AS datadir \gset
\set file0 :datadir '/regress_admissions.csv'
begin;
-- A hospital extract with bad cells: an age that is not a number, an impossible date, a duplicate id.
COPY (VALUES ('Patient ID,Full Name,Age,Admitted,Sex,Ward Note'),
             ('1,Ann Lee,34,2024-01-05,F,quiet'),
             ('2,Bob Ray,abc,2024-02-30,M,'),
             ('3,Cy Dunn,67,2024-03-01,M,night shift'),
             ('4,Di Fox,45,2024-03-02,F,'),
             ('5,Ed Moe,51,2024-03-03,M,'),
             ('6,Flo Ng,29,2024-03-04,F,'),
             ('7,Gus Oh,73,2024-03-05,M,'),
             ('8,Hal Po,38,2024-03-06,M,'),
             ('9,Ida Qu,61,2024-03-07,F,'),
             ('10,Jo Ru,55,2024-03-08,F,'),
             ('11,Kim Su,48,2024-03-09,F,')) TO :'file0' WITH (FORMAT text);
SELECT table_name, bronze_table FROM eai.add_source('hospital', :'file0');
SELECT status, rows_written FROM eai.ingest('hospital');
-- No silver table yet: create_pipeline creates it from the bronze profile (names normalised,
-- types inferred), records that as an approved mapping version, and promotes what bronze holds.
SELECT name, source_table, target_table, dedup_key FROM eai.create_pipeline('admissions', 'bronze.hospital__regress_admissions',
                                                                              'silver.admissions', dedup_key => '{patient_id}');
SELECT column_name, data_type FROM information_schema.columns
 WHERE table_schema = 'silver' AND table_name = 'admissions' ORDER BY ordinal_position;
SELECT target_column, source_column, target_type, mapping_id IS NOT NULL AS from_mapping
  FROM eai.pipeline_columns ORDER BY target_column;
-- Bad casts never abort a batch: the rows are quarantined, whole, with why.
SELECT patient_id, full_name, age, admitted, _eai_quality FROM silver.admissions ORDER BY patient_id;
SELECT row ->> 'Patient ID' AS patient, jsonb_path_query_array(violations, '$[*].reason') AS why
  FROM eai.quarantine ORDER BY quarantine_id;
SELECT kind, rows_read, rows_promoted, rows_quarantined FROM eai.promotions ORDER BY promotion_id;
-- Expectations in SQL, and what the profile suggests.
SELECT rule, spec, action FROM eai.expect('silver.admissions', 'age', 'range 0..120');
SELECT rule, spec, action FROM eai.expect('silver.admissions', 'sex', 'allowed F, M', 'warn');
SELECT rule, action FROM eai.expect('silver.admissions', NULL, 'sql admitted >= date ''2020-01-01''');
SELECT column_name, rule, spec, reason FROM eai.suggest_expectations('bronze.hospital__regress_admissions')
 WHERE column_name IN ('Sex', 'Patient ID') ORDER BY 1, 2;
-- Bad expectations are clear errors.
SELECT eai.expect('silver.admissions', 'nope', 'not null');
SELECT eai.expect('silver.admissions', 'age', 'range');
SELECT eai.expect('silver.admissions', 'age', 'regex (');
SELECT eai.expect('silver.admissions', 'age', 'sometimes');
SELECT eai.expect('silver.admissions', 'age', 'not null', 'drop');
SELECT eai.expect('silver.admissions', NULL, 'sql 1; DROP TABLE silver.admissions');
SELECT eai.expect('silver.admissions', NULL, 'sql no_such_column > 1');
SELECT eai.expect('silver.admissions', 'age', 'foreign_key silver.nothing(id)');
-- New rows land: the trigger promotes the batch in the ingesting transaction. Patient 1 comes
-- again with a change (the dedup key keeps the latest), 12 breaks the range, 13 the warn rule.
COPY (VALUES ('Patient ID,Full Name,Age,Admitted,Sex,Ward Note'),
             ('1,Ann Lee,35,2024-01-05,F,moved'),
             ('12,Lu Vo,130,2024-04-01,F,'),
             ('13,Max Wu,40,2024-04-02,X,')) TO :'file0' WITH (FORMAT text);
SELECT status, rows_written FROM eai.ingest('hospital');
SELECT patient_id, age, sex, ward_note, round(_eai_quality::numeric, 2) AS quality, _eai_extra FROM silver.admissions
 WHERE patient_id IN (1, 12, 13) ORDER BY 1;
SELECT kind, rows_read, rows_promoted, rows_quarantined, warned, statement FROM eai.promotions ORDER BY promotion_id;
-- Rows read = rows promoted + rows quarantined, for every promotion.
SELECT count(*) FILTER (WHERE rows_read <> rows_promoted + rows_quarantined) AS unbalanced FROM eai.promotions;
-- Running the pipeline again promotes nothing twice (the file did not change).
SELECT count(*) AS new_promotions FROM eai.run_pipeline('admissions');
SELECT count(*) AS promotions FROM eai.promotions;
-- Quarantine round trip: relax the range, requeue; rows that still break a rule stay quarantined.
UPDATE eai.expectations SET enabled = false WHERE rule = 'range';
SELECT kind, rows_read, rows_promoted, rows_quarantined FROM eai.requeue_quarantine('admissions');
SELECT patient_id, age FROM silver.admissions WHERE patient_id = 12;
SELECT row ->> 'Patient ID' AS patient, status FROM eai.quarantine ORDER BY quarantine_id;
SELECT name, rows_read, rows_promoted, rows_quarantined, in_quarantine, batches_queued FROM eai.pipeline_status;
-- A fail rule rolls the whole batch back (bronze included): the ingest records the error.
SELECT eai.expect('silver.admissions', 'full_name', 'regex ^[A-Z]', 'fail') IS NOT NULL AS declared;
COPY (VALUES ('Patient ID,Full Name,Age,Admitted,Sex,Ward Note'), ('14,lowercase name,40,2024-04-03,F,')) TO :'file0' WITH (FORMAT text);
SELECT status, error_sqlstate, error_class, error_message FROM eai.ingest('hospital');
-- Large batches are queued instead and promoted by eai.promote_queued().
UPDATE eai.expectations SET enabled = false WHERE action = 'fail';
SET eai.sync_promotion_max_rows = 0;
SELECT status FROM eai.ingest('hospital');
SELECT rows_queued FROM eai.promotion_queue;
SELECT kind, rows_read, rows_promoted FROM eai.promote_queued();
SELECT count(*) AS still_queued FROM eai.promotion_queue;
-- A queued batch that cannot be promoted stays queued with its error; it blocks nothing.
UPDATE eai.expectations SET enabled = true WHERE action = 'fail';
COPY (VALUES ('Patient ID,Full Name,Age,Admitted,Sex,Ward Note'), ('15,lower,40,2024-04-03,F,')) TO :'file0' WITH (FORMAT text);
SELECT status FROM eai.ingest('hospital');
SELECT count(*) AS promoted FROM eai.promote_queued();
SELECT rows_queued, attempts, last_sqlstate, last_error FROM eai.promotion_queue;
SELECT count(*) AS retried_too_early FROM eai.promote_queued();
UPDATE eai.expectations SET enabled = false WHERE action = 'fail';
SELECT state, attempts, last_class FROM eai.requeue_batch('admissions');
SELECT kind, rows_read, rows_promoted FROM eai.promote_queued();
RESET eai.sync_promotion_max_rows;
-- Errors.
SELECT eai.create_pipeline('admissions', 'bronze.hospital__regress_admissions', 'silver.admissions');
SELECT eai.create_pipeline('x', 'eai.sources', 'silver.x');
SELECT eai.create_pipeline('y', 'bronze.hospital__regress_admissions', 'public.nothing_here');
CREATE TABLE silver.unmapped (id bigint);
SELECT eai.create_pipeline('z', 'bronze.hospital__regress_admissions', 'silver.unmapped');
SELECT eai.run_pipeline('nope');
rollback;
-- Hostile names, an existing target mapped by map_schema, an empty batch.
begin;
CREATE TABLE bronze."we""ird; --" ("Ünï ""id""" text, "a;b" text, _eai_batch bigint NOT NULL,
                                   _eai_loaded_at timestamptz NOT NULL DEFAULT now(), _eai_row_hash uuid NOT NULL);
CREATE TABLE silver."tar""get; --" ("ünï ""id""" integer, "a;b" text);
SELECT count(*) FROM eai.map_schema('bronze."we""ird; --"', 'silver."tar""get; --"');
SELECT eai.approve_mapping(mapping_id) IS NOT NULL FROM eai.mappings WHERE status = 'pending';
SELECT name FROM eai.create_pipeline('we"ird; --', 'bronze."we""ird; --"', 'silver."tar""get; --"', dedup_key => '{"ünï \"id\""}');
INSERT INTO bronze."we""ird; --" ("Ünï ""id""", "a;b", _eai_batch, _eai_row_hash)
VALUES ('1', 'x''); DROP TABLE silver.x; --', 1, gen_random_uuid()), ('zwei', 'y', 1, gen_random_uuid());
INSERT INTO bronze."we""ird; --" ("Ünï ""id""", "a;b", _eai_batch, _eai_row_hash) SELECT 'n', 'n', 2, gen_random_uuid() WHERE false;
SELECT "ünï ""id""", "a;b", _eai_row IS NOT NULL AS traced, _eai_quality FROM silver."tar""get; --";
SELECT jsonb_path_query_array(violations, '$[*].reason') FROM eai.quarantine;
SELECT kind, rows_read, rows_promoted, rows_quarantined FROM eai.promotions ORDER BY promotion_id;
-- A batch repeating a key, new (2) then existing (1): the last row of each key wins, the others
-- are quarantined as duplicates (the fast statement fails on them and the full one runs).
INSERT INTO bronze."we""ird; --" ("Ünï ""id""", "a;b", _eai_batch, _eai_row_hash)
VALUES ('2', 'first', 3, gen_random_uuid()), ('2', 'second', 3, gen_random_uuid());
INSERT INTO bronze."we""ird; --" ("Ünï ""id""", "a;b", _eai_batch, _eai_row_hash)
VALUES ('1', 'one', 4, gen_random_uuid()), ('1', 'uno', 4, gen_random_uuid());
SELECT "ünï ""id""", "a;b" FROM silver."tar""get; --" ORDER BY 1;
SELECT row ->> 'a;b' AS kept_out, jsonb_path_query_array(violations, '$[*].rule') FROM eai.quarantine WHERE bronze_batch > 2 ORDER BY 1;
SELECT bronze_batch, rows_read, rows_promoted, rows_quarantined, statement FROM eai.promotions ORDER BY promotion_id;
-- Silver is written as COPY writes when the table allows it, else through INSERT (DEBUG says which and why).
CREATE TABLE bronze.streamed (id text, _eai_batch bigint NOT NULL, _eai_loaded_at timestamptz NOT NULL DEFAULT now(), _eai_row_hash uuid NOT NULL);
INSERT INTO bronze.streamed VALUES ('1', 1, now(), gen_random_uuid());
SELECT 1 FROM eai.create_pipeline('streamed', 'bronze.streamed', 'streamed', promote => false);
SET client_min_messages = debug1;
SELECT rows_promoted, statement FROM eai.run_pipeline('streamed');
RESET client_min_messages;
ALTER TABLE silver.streamed ADD COLUMN note text DEFAULT 'n';
SET eai.sync_promotion_max_rows = 0;  -- queued, promoted by run_pipeline
INSERT INTO bronze.streamed VALUES ('2', 2, now(), gen_random_uuid());
RESET eai.sync_promotion_max_rows;
SET client_min_messages = debug1;
SELECT rows_promoted, statement FROM eai.run_pipeline('streamed');
RESET client_min_messages;
SELECT id, note FROM silver.streamed ORDER BY id;
rollback;
