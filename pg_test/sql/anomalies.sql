\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
begin;
-- A series: five-minute points with a small cycle and one spike, judged without look-ahead.
CREATE TEMP TABLE series AS
SELECT timestamptz '2024-01-01 00:00+00' + i * interval '5 min' AS ts,
       100 + (i % 7) + CASE WHEN i = 900 THEN 80 ELSE 0 END AS v
  FROM generate_series(1, 1000) i;
SELECT ordinal, ts, observed, expected, round(score::numeric, 1) AS score, detector, severity, explanation
  FROM eai.detect_anomalies('SELECT ts, v FROM series ORDER BY ts') WHERE score >= 6;
-- The alarm lasts an hour past the spike (one event), then clears.
SELECT count(*) AS alarmed, min(ordinal), max(ordinal) FROM eai.detect_anomalies('SELECT ts, v FROM series ORDER BY ts');
-- Every row on demand; warm-up rows are not judged.
SELECT detector, count(*) FROM eai.detect_anomalies('SELECT ts, v FROM series ORDER BY ts', all_rows => true) GROUP BY 1 ORDER BY 1;
-- Several value columns are judged one at a time; NULL is skipped, an infinity is anomalous.
SELECT metric, ordinal, observed, anomalous FROM eai.detect_anomalies(
  'SELECT ts, v AS a, CASE WHEN ts = timestamptz ''2024-01-02 00:00+00'' THEN ''Infinity''::float8 WHEN v = 103 THEN NULL ELSE 1 END AS "b; ""c"""
     FROM series ORDER BY ts') WHERE score >= 6 ORDER BY 1, 2;
-- Rows of numbers: Isolation Forest, deterministic for a seed.
CREATE TEMP TABLE points AS SELECT (i % 10)::float8 AS x, (i % 7)::numeric AS y FROM generate_series(1, 300) i
UNION ALL SELECT 60, 70;
SELECT ordinal, round(score::numeric, 2) AS score, detector, severity FROM eai.detect_anomalies('SELECT x, y FROM points');
SELECT count(DISTINCT score) = 1 AS same_for_same_seed FROM (
  SELECT score FROM eai.detect_anomalies('SELECT x, y FROM points', all_rows => true, seed => 7) WHERE ordinal = 5
  UNION ALL
  SELECT score FROM eai.detect_anomalies('SELECT x, y FROM points', all_rows => true, seed => 7) WHERE ordinal = 5) s;
-- Empty and constant inputs.
SELECT count(*) AS from_empty FROM eai.detect_anomalies('SELECT ts, v FROM series WHERE false');
SELECT count(*) AS from_constant FROM eai.detect_anomalies('SELECT ts, 5 FROM series');
-- Errors: SQLSTATE and a hint.
SELECT * FROM eai.detect_anomalies('SELECT ''a''::text, 1');
SELECT * FROM eai.detect_anomalies('SELECT ts, ''x''::text FROM series');
SELECT * FROM eai.detect_anomalies('SELECT ts FROM series');
SELECT * FROM eai.detect_anomalies('SELECT 1', trees => 0);
SELECT * FROM eai.detect_anomalies('SELECT 1', threshold => -1);
SELECT * FROM eai.detect_anomalies('DELETE FROM series');
SELECT * FROM eai.detect_anomalies('SELECT 1) AS x; DELETE FROM series; SELECT (1');
SELECT count(*) AS series_intact FROM series;
-- A table's metric history (eai.metrics: quality runs and promotions) judged by
-- eai.detect_anomalies(tbl): nulls flood a column, then a column is added.
CREATE TABLE silver."m; ""x""" (x int, y text);
-- No history yet: nothing is judged, and it says so.
SELECT count(*) AS judged FROM eai.detect_anomalies('silver."m; ""x"""'::regclass);
DO $$ BEGIN
  FOR i IN 1..12 LOOP
    INSERT INTO silver."m; ""x""" SELECT 10 + g % 5, 'a' FROM generate_series(1, 100) g;
    PERFORM eai.quality_score('silver."m; ""x"""');
  END LOOP;
END $$;
SELECT count(*) AS anomalies_before FROM eai.detect_anomalies('silver."m; ""x"""'::regclass);
INSERT INTO silver."m; ""x""" SELECT NULL, 'b' FROM generate_series(1, 400) g;
SELECT count(*) > 0 AS scored FROM eai.quality_score('silver."m; ""x"""');
ALTER TABLE silver."m; ""x""" ADD COLUMN z int;
SELECT count(*) > 0 AS scored FROM eai.quality_score('silver."m; ""x"""');
SELECT metric, count(*) FROM eai.metrics WHERE relid = 'silver."m; ""x"""'::regclass GROUP BY 1 ORDER BY 1;
SELECT DISTINCT ON (metric) table_name, column_name, metric, observed, detector, severity, explanation
  FROM eai.detect_anomalies('silver."m; ""x"""'::regclass) ORDER BY metric, observed_at;
-- Each anomaly is recorded once, however often detection runs.
SELECT count(*) = (SELECT count(*) FROM eai.anomalies) AS recorded_once FROM eai.detect_anomalies('silver."m; ""x"""'::regclass);
SELECT * FROM eai.detect_anomalies('silver."m; ""x"""'::regclass, threshold => 0);
rollback;
