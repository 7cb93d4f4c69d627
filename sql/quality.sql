-- eai 0.3.0: table quality scores and their history. Loaded after gold.sql and eai._quality_score.

CREATE TABLE eai.quality_runs (
    run_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    relid           oid NOT NULL,
    table_name      text NOT NULL,
    run_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    duration_ms     double precision,
    rows            bigint NOT NULL,
    overall         double precision,
    measure         jsonb NOT NULL,
    run_by          name NOT NULL DEFAULT current_user
);
CREATE INDEX ON eai.quality_runs (relid, run_id DESC);
COMMENT ON TABLE eai.quality_runs IS 'eai: every eai.quality_score run: what the scan measured (the baseline of the next run) and the overall score.';
COMMENT ON COLUMN eai.quality_runs.run_id IS 'Identifier of the run.';
COMMENT ON COLUMN eai.quality_runs.relid IS 'OID of the table scored.';
COMMENT ON COLUMN eai.quality_runs.table_name IS 'Table scored, schema-qualified.';
COMMENT ON COLUMN eai.quality_runs.run_at IS 'When.';
COMMENT ON COLUMN eai.quality_runs.duration_ms IS 'How long the run took (scan and scoring), in milliseconds.';
COMMENT ON COLUMN eai.quality_runs.rows IS 'Rows in the table.';
COMMENT ON COLUMN eai.quality_runs.overall IS 'Overall score 0-1: the mean of the dimensions that could be judged.';
COMMENT ON COLUMN eai.quality_runs.measure IS 'Per column: non-null count, mean and standard deviation (numbers), distinct count (unique columns); rule breaks.';
COMMENT ON COLUMN eai.quality_runs.run_by IS 'Role that ran it.';

CREATE TABLE eai.quality_scores (
    run_id          bigint NOT NULL REFERENCES eai.quality_runs ON DELETE CASCADE,
    dimension       text NOT NULL CHECK (dimension IN ('freshness', 'volume', 'distribution', 'completeness', 'schema', 'validity', 'uniqueness')),
    score           double precision,
    measured        text NOT NULL,
    expected        text NOT NULL,
    PRIMARY KEY (run_id, dimension)
);
COMMENT ON TABLE eai.quality_scores IS 'eai: the score of each dimension of each run, with what was measured and what it was judged against.';
COMMENT ON COLUMN eai.quality_scores.run_id IS 'Run (eai.quality_runs).';
COMMENT ON COLUMN eai.quality_scores.dimension IS 'freshness, volume, distribution, completeness, schema, validity or uniqueness.';
COMMENT ON COLUMN eai.quality_scores.score IS 'Score 0-1; NULL when there was nothing to judge it against (e.g. volume on a first run).';
COMMENT ON COLUMN eai.quality_scores.measured IS 'What was measured.';
COMMENT ON COLUMN eai.quality_scores.expected IS 'The expectation it was judged against.';

CREATE FUNCTION eai.quality_score(tbl regclass)
RETURNS TABLE (dimension text, score double precision, measured text, expected text)
LANGUAGE sql VOLATILE
AS 'SELECT * FROM eai._quality_score(tbl)';
COMMENT ON FUNCTION eai.quality_score(regclass) IS 'eai: score a table''s quality in one scan: freshness, volume, distribution, completeness, schema, validity and uniqueness (each 0-1 with what was measured and the expectation), plus overall; every run is kept (eai.quality_runs, eai.quality_scores).';

CREATE VIEW eai.quality_history AS
SELECT r.table_name, r.run_id, r.run_at, r.rows, round(r.overall::numeric, 3) AS overall,
       jsonb_object_agg(s.dimension, round(s.score::numeric, 3)) AS scores
  FROM eai.quality_runs r JOIN eai.quality_scores s USING (run_id)
 GROUP BY r.run_id;
COMMENT ON VIEW eai.quality_history IS 'eai: every quality run, one row each, the dimensions side by side.';
COMMENT ON COLUMN eai.quality_history.table_name IS 'Table scored.';
COMMENT ON COLUMN eai.quality_history.run_id IS 'Run.';
COMMENT ON COLUMN eai.quality_history.run_at IS 'When.';
COMMENT ON COLUMN eai.quality_history.rows IS 'Rows then.';
COMMENT ON COLUMN eai.quality_history.overall IS 'Overall score.';
COMMENT ON COLUMN eai.quality_history.scores IS 'Score of each dimension (null: not judged).';
