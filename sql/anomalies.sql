-- Anomaly detection (docs/anomalies.md). The detectors are in eai-core (pgrx-free); this file
-- holds the SQL entry points. The query entry point runs any (ts, value) series or rows of
-- numbers through them.

-- Anomalies of any query: a time column then numeric value columns is a series (the online
-- detector, no look-ahead, one value column at a time); numeric columns only are rows (Isolation
-- Forest). Without all_rows only anomalous rows come back. threshold: in standard deviations for
-- series (default 6), in isolation score for rows (default 0.6).
CREATE FUNCTION eai.detect_anomalies(query text, all_rows boolean DEFAULT false, threshold double precision DEFAULT NULL,
                                     min_history integer DEFAULT 8, trees integer DEFAULT 100, subsample integer DEFAULT 256,
                                     seed bigint DEFAULT 42)
RETURNS TABLE (ordinal bigint, ts timestamptz, metric text, observed double precision, expected double precision,
               lo double precision, hi double precision, score double precision, anomalous boolean, detector text,
               severity text, explanation text)
LANGUAGE sql VOLATILE
AS $$
    SELECT * FROM eai._detect_query(query, all_rows, threshold, min_history, trees, subsample, seed)
$$;
COMMENT ON FUNCTION eai.detect_anomalies(text, boolean, double precision, integer, integer, integer, bigint) IS
    'Anomalies of a query''s rows: (ts, value…) series through the online detector, numeric rows through Isolation Forest. See docs/anomalies.md.';

-- The metric history: what promotion and quality scoring already keep, one row per table,
-- column, metric and time (a view: nothing is stored twice).
CREATE VIEW eai.metrics AS
SELECT p.target_relid AS relid, NULL::text AS column_name, m.metric, m.value, pr.started_at AS measured_at,
       pr.promotion_id, NULL::bigint AS quality_run_id
  FROM eai.promotions pr JOIN eai.pipelines p USING (pipeline_id)
 CROSS JOIN LATERAL (VALUES ('batch_rows', pr.rows_read::float8),
                            ('quarantine_rate', pr.rows_quarantined::float8 / nullif(pr.rows_read, 0)),
                            ('promotion_ms_per_row', pr.duration_ms / nullif(pr.rows_read, 0))) AS m (metric, value)
 WHERE pr.duration_ms IS NOT NULL
UNION ALL
SELECT r.relid, NULL, m.metric, m.value, r.run_at, NULL, r.run_id
  FROM eai.quality_runs r
 CROSS JOIN LATERAL (VALUES ('row_count', r.rows::float8),
                            -- Schema fingerprint: a hash of the column names and types, in order.
                            ('schema_fingerprint', (SELECT hashtext(string_agg((c ->> 'name') || ' ' || (c ->> 'pg_type'), ',' ORDER BY o))::float8
                                                      FROM jsonb_array_elements(r.measure -> 'columns') WITH ORDINALITY AS x (c, o)))) AS m (metric, value)
UNION ALL
SELECT r.relid, c ->> 'name', m.metric, m.value, r.run_at, NULL, r.run_id
  FROM eai.quality_runs r
 CROSS JOIN LATERAL jsonb_array_elements(r.measure -> 'columns') AS c
 CROSS JOIN LATERAL (VALUES ('null_rate', 1 - (c ->> 'non_null')::float8 / nullif(r.rows, 0)),
                            ('mean', (c ->> 'mean')::float8),
                            ('stddev', (c ->> 'stddev')::float8),
                            ('distinct_count', (c ->> 'distinct')::float8)) AS m (metric, value)
 WHERE m.value IS NOT NULL;
COMMENT ON VIEW eai.metrics IS
    'eai: metric history per table and column (promotions: batch rows, quarantine rate, time per row; quality runs: row count, schema fingerprint, null rate, mean, stddev, distinct count). eai.detect_anomalies(tbl) judges each series.';

-- Anomalies found in the metric history, each once.
CREATE TABLE eai.anomalies (
    anomaly_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    relid           oid NOT NULL,
    table_name      text NOT NULL,
    column_name     text,
    metric          text NOT NULL,
    observed_at     timestamptz NOT NULL,
    observed        double precision,
    expected        double precision,
    lo              double precision,
    hi              double precision,
    score           double precision,
    detector        text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    explanation     text NOT NULL,
    detected_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE NULLS NOT DISTINCT (relid, column_name, metric, observed_at)
);
COMMENT ON TABLE eai.anomalies IS 'eai: anomalies eai.detect_anomalies(tbl) found in eai.metrics, each recorded once, with what was expected and why.';
COMMENT ON COLUMN eai.anomalies.anomaly_id IS 'Identifier of the anomaly.';
COMMENT ON COLUMN eai.anomalies.relid IS 'OID of the table whose metric it is.';
COMMENT ON COLUMN eai.anomalies.table_name IS 'The table''s name when the anomaly was recorded.';
COMMENT ON COLUMN eai.anomalies.column_name IS 'The column, or NULL for a table-level metric.';
COMMENT ON COLUMN eai.anomalies.metric IS 'The metric (eai.metrics.metric).';
COMMENT ON COLUMN eai.anomalies.observed_at IS 'When the metric was measured.';
COMMENT ON COLUMN eai.anomalies.observed IS 'The value measured.';
COMMENT ON COLUMN eai.anomalies.expected IS 'What the history before it led to expect.';
COMMENT ON COLUMN eai.anomalies.lo IS 'Lowest value that would have raised no alarm.';
COMMENT ON COLUMN eai.anomalies.hi IS 'Highest value that would have raised no alarm.';
COMMENT ON COLUMN eai.anomalies.score IS 'Distance from the expected value in standard deviations of the recent residuals.';
COMMENT ON COLUMN eai.anomalies.detector IS 'robust_z, iqr, seasonal or schema (docs/anomalies.md).';
COMMENT ON COLUMN eai.anomalies.severity IS 'low, medium (score at least 1.5 × threshold) or high (at least 2 ×, and every schema change).';
COMMENT ON COLUMN eai.anomalies.explanation IS 'The verdict in words.';
COMMENT ON COLUMN eai.anomalies.detected_at IS 'When eai.detect_anomalies recorded it.';

-- Judges every metric series of a table with the online detector (each point only against the
-- points before it) and records the points that deviate. Returns them, new or already recorded.
CREATE FUNCTION eai.detect_anomalies(tbl regclass, threshold double precision DEFAULT 6, min_history integer DEFAULT 8)
RETURNS SETOF eai.anomalies
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF threshold IS NULL OR threshold <= 0 THEN
        RAISE EXCEPTION 'eai: threshold must be a positive number' USING ERRCODE = '22023',
            HINT = 'In standard deviations of the recent residuals; the default is 6.';
    END IF;
    INSERT INTO eai.anomalies (relid, table_name, column_name, metric, observed_at, observed, expected, lo, hi, score,
                               detector, severity, explanation)
    SELECT tbl, tbl::text, s.column_name, s.metric, s.times[d.ordinal], s.vals[d.ordinal], d.expected, d.lo, d.hi, d.score,
           CASE WHEN s.metric = 'schema_fingerprint' THEN 'schema' ELSE d.detector END,
           CASE WHEN s.metric = 'schema_fingerprint' THEN 'high' ELSE d.severity END,
           CASE WHEN s.metric = 'schema_fingerprint' THEN 'the columns changed (names, types or order)'
                ELSE format('%s%s = %s, expected %s (%s to %s): %s standard deviations off (%s%s)',
                            coalesce(s.column_name || '.', ''), s.metric, s.vals[d.ordinal], round(d.expected::numeric, 4),
                            round(d.lo::numeric, 4), round(d.hi::numeric, 4), round(d.score::numeric, 1), d.detector,
                            coalesce(', by ' || d.seasonality, '')) END
      FROM (SELECT m.column_name, m.metric, array_agg(m.measured_at ORDER BY m.measured_at) AS times,
                   array_agg(m.value ORDER BY m.measured_at) AS vals
              FROM eai.metrics m WHERE m.relid = tbl
             GROUP BY m.column_name, m.metric) s
     CROSS JOIN LATERAL eai._detect_series(ARRAY(SELECT extract(epoch FROM t)::float8 FROM unnest(s.times) t), s.vals,
                                           threshold, min_history) d
     WHERE d.deviates AND d.score IS NOT NULL
    ON CONFLICT DO NOTHING;
    -- Honest about too little history: nothing is judged before min_history points.
    IF NOT EXISTS (SELECT 1 FROM eai.metrics m WHERE m.relid = tbl GROUP BY m.column_name, m.metric HAVING count(*) >= min_history) THEN
        RAISE NOTICE 'eai: not enough history for %: no metric of it has % measurements yet, so nothing was judged', tbl, min_history
            USING HINT = 'Metrics come from eai.quality_score runs and promotions; schedule eai.quality_score (e.g. with pg_cron).';
    END IF;
    RETURN QUERY SELECT * FROM eai.anomalies a WHERE a.relid = tbl ORDER BY a.observed_at, a.anomaly_id;
END
$$;
COMMENT ON FUNCTION eai.detect_anomalies(regclass, double precision, integer) IS
    'Judges every metric series of a table (eai.metrics) and records the anomalies in eai.anomalies. See docs/anomalies.md.';
