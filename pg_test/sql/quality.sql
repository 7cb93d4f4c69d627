\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
begin;
CREATE TABLE silver.visits (id bigint, age integer, ward text, stay numeric);
INSERT INTO silver.visits SELECT i, 20 + i % 50, (ARRAY['A', 'B', 'C'])[1 + i % 3], (i % 10) + 0.5 FROM generate_series(1, 1000) i;
SELECT 1 FROM eai.expect('silver.visits', 'id', 'unique');
SELECT 1 FROM eai.expect('silver.visits', 'age', 'range 0..120');
SELECT 1 FROM eai.expect('silver.visits', 'ward', 'allowed A, B, C');
-- A first run: nothing to compare volume and distribution with yet.
SELECT dimension, score, measured, expected FROM eai.quality_score('silver.visits');
-- The same again: everything as expected.
SELECT dimension, score FROM eai.quality_score('silver.visits');
-- Then things go wrong: a third of the rows vanish, wards go missing, ages drift and break the
-- range, ids repeat, a column appears.
DELETE FROM silver.visits WHERE id % 3 = 0;
UPDATE silver.visits SET ward = NULL WHERE id % 2 = 0;
UPDATE silver.visits SET age = age + 100 WHERE id % 5 = 0;
INSERT INTO silver.visits SELECT id, age, ward, stay FROM silver.visits WHERE id < 20;
ALTER TABLE silver.visits ADD COLUMN note text;
SELECT dimension, score, measured, expected FROM eai.quality_score('silver.visits');
-- Every run is kept.
SELECT table_name, rows, overall, scores FROM eai.quality_history ORDER BY run_id;
-- Hostile names and an empty table.
CREATE TABLE silver."q""t; --" ("a""b" int, "ünï" text);
SELECT dimension, score, measured FROM eai.quality_score('silver."q""t; --"');
rollback;
