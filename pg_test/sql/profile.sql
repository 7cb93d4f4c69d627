begin;
CREATE TABLE people ("Full Name" text, "E-mail" text, signup text, amount text, country text, zip text,
                     card text, n integer, misc text, _eai_batch bigint);
COMMENT ON COLUMN people.amount IS 'order total in euros';
INSERT INTO people VALUES
 ('Jane Doe',    'jane@example.com', '2024-01-15', '19,99', 'US', '12345', '4111 1111 1111 1111', 1, 'x',  1),
 ('Bob Martin',  'BOB@EXAMPLE.COM',  '15/02/2024', '5',     'us', '90210', '5500 0000 0000 0004', 2, NULL, 1),
 ('Ann Lee',     'ann@example',      '2024/03/01', '-3.5',  'DE', '10001', NULL,                  3, '',   1),
 ('Li Wei',      NULL,               '2024-04-31', '1e3',   'FR', '75001', NULL,                  4, 'y',  1),
 ('Zoë Müller',  'zoe@example.de',   '2024-05-20', '7.5',   'CN', '02139', NULL,                  5, 'x',  1);
-- One row per column (metadata columns _eai_* are skipped), one pass over the table.
SELECT column_name, version, declared_type, inferred_type, round(type_share::numeric, 2) AS share,
       round(null_rate::numeric, 2) AS nulls, distinct_count AS distinct, semantic_type, pii, top_values
  FROM eai.profile('people') ORDER BY column_name;
-- Profiling again adds version 2; version 1 is kept.
SELECT column_name, version FROM eai.profile('people') WHERE column_name = 'n';
SELECT version, count(*) FROM eai.column_profiles WHERE table_name = 'people' GROUP BY version ORDER BY 1;
-- The whole profile is kept as jsonb.
SELECT profile -> 'numeric' -> 'quantiles' AS quantiles, profile -> 'numeric' -> 'histogram' AS histogram,
       profile ->> 'length_max' AS length_max
  FROM eai.column_profiles WHERE column_name = 'n' AND version = 1;
-- Names (normalised, with the comment) are embedded and searchable by cosine.
SELECT column_name, name_text, vector_dims(name_embedding) AS dims
  FROM eai.column_profiles WHERE table_name = 'people' AND version = 1 ORDER BY column_name;
SELECT column_name FROM eai.column_profiles WHERE version = 1
 ORDER BY name_embedding <=> eai.embed('customer email address') LIMIT 1;
-- An empty table: every column, all rates 0, type from the declaration.
CREATE TABLE empty_t (a integer, b text);
SELECT column_name, inferred_type, null_rate, distinct_count, semantic_type, pii FROM eai.profile('empty_t') ORDER BY 1;
-- A table without columns.
CREATE TABLE no_cols ();
SELECT count(*) FROM eai.profile('no_cols');
-- Hostile names.
CREATE TABLE "we""ird; DROP TABLE people; --" ("c""ol;x" text, "ünï cödé" integer);
INSERT INTO "we""ird; DROP TABLE people; --" VALUES ('a', 1), ('b', 2);
SELECT column_name, inferred_type, distinct_count FROM eai.profile('"we""ird; DROP TABLE people; --"') ORDER BY 1;
SELECT count(*) AS people_still_there FROM people;
-- A big table is sampled (eai.profile_sample_rows), reproducibly.
SET LOCAL eai.profile_sample_rows = 1000;
CREATE TABLE big AS SELECT i, i % 7 AS k FROM generate_series(1, 100000) AS i;
ANALYZE big;
SELECT column_name, inferred_type, distinct_count <= 1000 AS bounded FROM eai.profile('big') ORDER BY 1;
SELECT DISTINCT rows_sampled, rows_estimated FROM eai.column_profiles WHERE table_name = 'big';
-- Not a table.
SELECT * FROM eai.profile('no_such_table');
rollback;
