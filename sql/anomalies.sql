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
