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

-- Batch profiles: per promotion and silver column (not identifiers), the rows, nulls and
-- distinct values; for numbers also the mean, stddev and a quantile sketch (21 evenly spaced quantiles), and the drift from the batch before (PSI, KL and
-- the G-test's p-value, from the two sketches). Measured after the promotion by
-- eai.measure_batches (the worker, and eai.detect_anomalies for every batch left), so promotion
-- itself pays nothing.
CREATE TABLE eai.batch_profiles (
    promotion_id    bigint NOT NULL REFERENCES eai.promotions ON DELETE CASCADE,
    relid           oid NOT NULL,
    column_name     text NOT NULL,
    rows            bigint NOT NULL,
    nulls           bigint NOT NULL,
    distinct_count  bigint,
    mean            double precision,
    stddev          double precision,
    quantiles       double precision[],
    psi             double precision,
    kl              double precision,
    drift_p         double precision,
    measured_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    measured_by     name NOT NULL,
    PRIMARY KEY (promotion_id, column_name)
);
CREATE INDEX ON eai.batch_profiles (relid, column_name, promotion_id);
COMMENT ON TABLE eai.batch_profiles IS 'eai: per promoted batch and silver column (identifiers left out): rows, nulls, distinct values; for numbers also mean, stddev, a quantile sketch, and the drift from the batch before (eai.measure_batches).';
COMMENT ON COLUMN eai.batch_profiles.promotion_id IS 'The promotion (eai.promotions) whose rows were measured (silver rows with that _eai_promotion).';
COMMENT ON COLUMN eai.batch_profiles.relid IS 'OID of the silver table.';
COMMENT ON COLUMN eai.batch_profiles.column_name IS 'The column measured.';
COMMENT ON COLUMN eai.batch_profiles.rows IS 'Rows of the batch still carrying its promotion when measured.';
COMMENT ON COLUMN eai.batch_profiles.nulls IS 'Of them, rows where the column is NULL.';
COMMENT ON COLUMN eai.batch_profiles.distinct_count IS 'Distinct non-null values of the column in the batch (exact).';
COMMENT ON COLUMN eai.batch_profiles.mean IS 'Mean of the column in the batch.';
COMMENT ON COLUMN eai.batch_profiles.stddev IS 'Sample standard deviation of the column in the batch.';
COMMENT ON COLUMN eai.batch_profiles.quantiles IS 'Quantile sketch: percentile_cont at 0, 0.05, …, 1 (21 values; [11] is the median).';
COMMENT ON COLUMN eai.batch_profiles.psi IS 'Population stability index against the batch before, over that batch''s 5% quantile bins.';
COMMENT ON COLUMN eai.batch_profiles.kl IS 'KL divergence of this batch from the batch before, over the same bins.';
COMMENT ON COLUMN eai.batch_profiles.drift_p IS 'p-value of the G-test (2·n·KL against χ²): how likely a batch of this size shows this divergence by chance.';
COMMENT ON COLUMN eai.batch_profiles.measured_at IS 'When it was measured.';
COMMENT ON COLUMN eai.batch_profiles.measured_by IS 'Role whose eai.measure_batches (or the worker''s) read the batch.';

-- What eai.measure_batches reads of one batch's column, handed to eai._record_batch_profile.
CREATE TYPE eai.batch_measure AS (column_name text, rows bigint, nulls bigint, distinct_count bigint,
                                  mean double precision, stddev double precision, quantiles double precision[]);
COMMENT ON TYPE eai.batch_measure IS 'eai: one column of a batch as eai.measure_batches read it (rows, nulls, distinct values, mean, stddev, quantile sketch).';

-- The one writer of eai.batch_profiles. eai.measure_batches reads the batch with its caller's
-- rights; this records what it read (SECURITY DEFINER: no eai_* role may write the table) in the
-- name of the session's role, for a promotion of a table that role may read and not measured
-- yet, and computes the drift from the batch before. Returns whether it recorded anything.
CREATE FUNCTION eai._record_batch_profile(p_promotion bigint, p_rel oid, p_columns text[], p_measures eai.batch_measure[])
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM eai._require_select(p_rel, 'measure its batches');
    IF NOT EXISTS (SELECT 1 FROM eai.promotions pr JOIN eai.pipelines p USING (pipeline_id)
                    WHERE pr.promotion_id = p_promotion AND p.target_relid = p_rel)
       OR EXISTS (SELECT 1 FROM eai.batch_profiles b WHERE b.promotion_id = p_promotion) THEN
        RETURN false;
    END IF;
    IF coalesce(cardinality(p_measures), 0) > 0 THEN
        INSERT INTO eai.batch_profiles (promotion_id, relid, column_name, rows, nulls, distinct_count, mean, stddev, quantiles, measured_by)
        SELECT p_promotion, p_rel, m.column_name, m.rows, m.nulls, m.distinct_count, m.mean, m.stddev, m.quantiles, eai._session_role()
          FROM unnest(p_measures) m
         WHERE m.column_name = ANY (p_columns);
    ELSE
        -- Every row of the batch was replaced since (dedup key): measured as empty.
        INSERT INTO eai.batch_profiles (promotion_id, relid, column_name, rows, nulls, measured_by)
        SELECT p_promotion, p_rel, c, 0, 0, eai._session_role() FROM unnest(p_columns) c;
    END IF;
    -- Drift from the last measured batch with values, column by column.
    UPDATE eai.batch_profiles b SET psi = d.psi, kl = d.kl, drift_p = d.p_value
      FROM (SELECT cur.column_name, x.*
              FROM eai.batch_profiles cur
              JOIN LATERAL (SELECT prev.quantiles FROM eai.batch_profiles prev
                             WHERE prev.relid = cur.relid AND prev.column_name = cur.column_name
                               AND prev.promotion_id < cur.promotion_id AND prev.quantiles[1] IS NOT NULL
                             ORDER BY prev.promotion_id DESC LIMIT 1) prev ON true
             CROSS JOIN LATERAL eai._sketch_drift(prev.quantiles, cur.quantiles, cur.rows - cur.nulls, 0.25) x
             WHERE cur.promotion_id = p_promotion AND cur.quantiles[1] IS NOT NULL) d
     WHERE b.promotion_id = p_promotion AND b.column_name = d.column_name;
    RETURN true;
END
$$;
COMMENT ON FUNCTION eai._record_batch_profile(bigint, oid, text[], eai.batch_measure[]) IS 'eai: record one batch''s measures (eai.measure_batches calls it) in the name of the session''s role, with the drift from the batch before.';

-- Measures the promoted batches of a silver table not measured yet (oldest first, at most
-- max_batches: a chunk; call again until it returns less than max_batches): one scan of each
-- batch's rows through the BRIN index on _eai_promotion that eai.create_pipeline creates.
-- Returns how many batches it measured.
CREATE FUNCTION eai.measure_batches(tbl regclass, max_batches integer DEFAULT 100)
RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_cols text[];
    v_values text;
    v_promotion bigint;
    v_measures eai.batch_measure[];
    v_done integer := 0;
BEGIN
    -- Every column (numbers get a sketch; the others rows, nulls and distinct values) but
    -- json/xml-like types that cannot be compared.
    SELECT array_agg(a.attname::text ORDER BY a.attnum),
           string_agg(CASE WHEN a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'float4'::regtype,
                                               'float8'::regtype, 'numeric'::regtype)
                           THEN format('(%L, t.%I::float8, t.%I::text)', a.attname, a.attname, a.attname)
                           ELSE format('(%L, NULL::float8, t.%I::text)', a.attname, a.attname) END, ', ' ORDER BY a.attnum)
      INTO v_cols, v_values
      FROM pg_attribute a
     WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped AND a.attname NOT LIKE '\_eai\_%'
       AND a.atttypid NOT IN ('json'::regtype, 'xml'::regtype, 'point'::regtype)
       -- Identifiers are not quantities: new keys in every batch would read as drift.
       AND NOT EXISTS (SELECT 1 FROM eai.pipelines p WHERE p.target_relid = tbl AND a.attname = ANY (p.dedup_key))
       AND NOT EXISTS (SELECT 1 FROM eai.expectations e WHERE e.relid = tbl AND e.column_name = a.attname AND e.rule = 'unique' AND e.enabled);
    IF v_cols IS NULL OR NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = '_eai_promotion' AND NOT a.attisdropped) THEN
        RETURN 0;
    END IF;
    FOR v_promotion IN
        SELECT pr.promotion_id FROM eai.promotions pr JOIN eai.pipelines p USING (pipeline_id)
         WHERE p.target_relid = tbl AND pr.rows_promoted > 0 AND pr.duration_ms IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM eai.batch_profiles b WHERE b.promotion_id = pr.promotion_id)
         ORDER BY pr.promotion_id LIMIT greatest(max_batches, 0)
    LOOP
        -- One pass over the batch, with the caller's rights: its columns side by side as
        -- (column, number, text) triples.
        EXECUTE format('SELECT array_agg(m.x) FROM (
                        SELECT ROW(u.c, count(*), count(*) - count(u.s), count(DISTINCT u.s), avg(u.v), stddev_samp(u.v),
                                   percentile_cont(ARRAY(SELECT g / 20.0 FROM generate_series(0, 20) g)::float8[]) WITHIN GROUP (ORDER BY u.v)
                                   )::eai.batch_measure AS x
                          FROM %s t CROSS JOIN LATERAL (VALUES %s) AS u (c, v, s)
                         WHERE t._eai_promotion = $1
                         GROUP BY u.c) m', tbl, v_values) INTO v_measures USING v_promotion;
        PERFORM eai._record_batch_profile(v_promotion, tbl, v_cols, v_measures);
        v_done := v_done + 1;
    END LOOP;
    RETURN v_done;
END
$$;
COMMENT ON FUNCTION eai.measure_batches(regclass, integer) IS
    'eai: profile up to max_batches promoted batches of a silver table not measured yet, oldest first (eai.batch_profiles: quantile sketch, drift from the batch before); returns how many. eai.detect_anomalies calls it until none is left.';

-- The metric history: what promotion, batch profiles and quality scoring keep, one row per
-- table, column, metric and time (a view: nothing is stored twice).
CREATE VIEW eai.metrics AS
SELECT p.target_relid AS relid, NULL::text AS column_name, m.metric, m.value, pr.started_at AS measured_at,
       pr.promotion_id, NULL::bigint AS quality_run_id
  FROM eai.promotions pr JOIN eai.pipelines p USING (pipeline_id)
  LEFT JOIN eai.batches b ON b.batch_id = pr.bronze_batch
 CROSS JOIN LATERAL (VALUES ('batch_rows', pr.rows_read::float8),
                            ('quarantine_rate', pr.rows_quarantined::float8 / nullif(pr.rows_read, 0)),
                            ('promotion_ms_per_row', pr.duration_ms / nullif(pr.rows_read, 0)),
                            -- From the bronze batch's start to its promotion: how late silver is.
                            ('promotion_lag_s', extract(epoch FROM pr.started_at - b.started_at)::float8)) AS m (metric, value)
 WHERE pr.duration_ms IS NOT NULL AND m.value IS NOT NULL
UNION ALL
SELECT r.relid, NULL, m.metric, m.value, r.run_at, NULL, r.run_id
  FROM eai.quality_runs r
 CROSS JOIN LATERAL (VALUES ('row_count', r.rows::float8),
                            -- Age of the newest data when scored.
                            ('freshness_lag_s', (r.measure ->> 'age_secs')::float8),
                            -- Schema fingerprint: a hash of the column names and types, in order.
                            ('schema_fingerprint', (SELECT hashtext(string_agg((c ->> 'name') || ' ' || (c ->> 'pg_type'), ',' ORDER BY o))::float8
                                                      FROM jsonb_array_elements(r.measure -> 'columns') WITH ORDINALITY AS x (c, o)))) AS m (metric, value)
 WHERE m.value IS NOT NULL
UNION ALL
SELECT r.relid, c ->> 'name', m.metric, m.value, r.run_at, NULL, r.run_id
  FROM eai.quality_runs r
 CROSS JOIN LATERAL jsonb_array_elements(r.measure -> 'columns') AS c
 CROSS JOIN LATERAL (VALUES ('null_rate', 1 - (c ->> 'non_null')::float8 / nullif(r.rows, 0)),
                            ('mean', (c ->> 'mean')::float8),
                            ('stddev', (c ->> 'stddev')::float8),
                            ('distinct_count', (c ->> 'distinct')::float8)) AS m (metric, value)
 WHERE m.value IS NOT NULL
UNION ALL
SELECT bp.relid, bp.column_name, m.metric, m.value, pr.started_at, bp.promotion_id, NULL
  FROM eai.batch_profiles bp JOIN eai.promotions pr USING (promotion_id)
 CROSS JOIN LATERAL (VALUES ('batch_null_rate', bp.nulls::float8 / nullif(bp.rows, 0)),
                            ('batch_distinct_count', bp.distinct_count::float8),
                            ('batch_mean', bp.mean),
                            ('batch_stddev', bp.stddev),
                            ('batch_p05', bp.quantiles[2]),
                            ('batch_median', bp.quantiles[11]),
                            ('batch_p95', bp.quantiles[20]),
                            ('psi', bp.psi),
                            ('kl', bp.kl)) AS m (metric, value)
 WHERE m.value IS NOT NULL;
COMMENT ON VIEW eai.metrics IS
    'eai: metric history per table and column. Promotions: batch rows, quarantine rate, time per row, promotion lag. Quality runs: row count, freshness lag, schema fingerprint, null rate, mean, stddev, distinct count. Batch profiles: null rate, distinct count, mean, stddev, 5th/50th/95th percentiles, PSI and KL from the batch before. eai.detect_anomalies(tbl) judges each series.';

-- Incidents: related anomalies (same batch, time window, lineage chain) as one row.
CREATE TABLE eai.incidents (
    incident_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    severity        text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    root_anomaly_id bigint,
    root_cause      text,
    anomalies       integer NOT NULL DEFAULT 0,
    tables          text[] NOT NULL DEFAULT '{}',
    first_observed_at timestamptz,
    last_observed_at timestamptz,
    opened_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    notified_at     timestamptz
);
COMMENT ON TABLE eai.incidents IS 'eai: related anomalies grouped into one incident (same batch, within eai.incident_window, or on one lineage chain within eai.incident_lineage_window), with the probable root cause.';
COMMENT ON COLUMN eai.incidents.incident_id IS 'Identifier of the incident (eai.anomalies.incident_id).';
COMMENT ON COLUMN eai.incidents.severity IS 'The highest severity of its anomalies; high ones are sent with NOTIFY eai_incident.';
COMMENT ON COLUMN eai.incidents.root_anomaly_id IS 'The probable root cause: the most upstream anomaly (fewest lineage steps from a source), then the earliest.';
COMMENT ON COLUMN eai.incidents.root_cause IS 'The root anomaly in words: table and explanation.';
COMMENT ON COLUMN eai.incidents.anomalies IS 'How many anomalies it groups.';
COMMENT ON COLUMN eai.incidents.tables IS 'Tables of its anomalies.';
COMMENT ON COLUMN eai.incidents.first_observed_at IS 'When its earliest anomaly was measured.';
COMMENT ON COLUMN eai.incidents.last_observed_at IS 'When its latest anomaly was measured.';
COMMENT ON COLUMN eai.incidents.opened_at IS 'When eai opened it.';
COMMENT ON COLUMN eai.incidents.updated_at IS 'When an anomaly last joined it.';
COMMENT ON COLUMN eai.incidents.notified_at IS 'When NOTIFY eai_incident was sent (high severity only; once).';

-- Anomalies found in the metric history, each once.
CREATE TABLE eai.anomalies (
    anomaly_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    relid           oid NOT NULL,
    table_name      text NOT NULL,
    column_name     text,
    metric          text NOT NULL,
    observed_at     timestamptz NOT NULL,
    promotion_id    bigint,
    observed        double precision,
    expected        double precision,
    lo              double precision,
    hi              double precision,
    score           double precision,
    threshold       double precision,
    detector        text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    explanation     text NOT NULL,
    detected_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    label           text CHECK (label IN ('false_positive', 'true_positive')),
    labelled_by     name,
    labelled_at     timestamptz,
    incident_id     bigint REFERENCES eai.incidents ON DELETE SET NULL,
    UNIQUE NULLS NOT DISTINCT (relid, column_name, metric, observed_at)
);
CREATE INDEX ON eai.anomalies (incident_id);
CREATE INDEX ON eai.anomalies (observed_at);
COMMENT ON TABLE eai.anomalies IS 'eai: anomalies eai.detect_anomalies(tbl) found in eai.metrics, each recorded once, with what was expected and why.';
COMMENT ON COLUMN eai.anomalies.anomaly_id IS 'Identifier of the anomaly.';
COMMENT ON COLUMN eai.anomalies.relid IS 'OID of the table whose metric it is.';
COMMENT ON COLUMN eai.anomalies.table_name IS 'The table''s name when the anomaly was recorded.';
COMMENT ON COLUMN eai.anomalies.column_name IS 'The column, or NULL for a table-level metric.';
COMMENT ON COLUMN eai.anomalies.metric IS 'The metric (eai.metrics.metric).';
COMMENT ON COLUMN eai.anomalies.observed_at IS 'When the metric was measured.';
COMMENT ON COLUMN eai.anomalies.promotion_id IS 'The promotion (batch) the metric was measured on, if any.';
COMMENT ON COLUMN eai.anomalies.observed IS 'The value measured.';
COMMENT ON COLUMN eai.anomalies.expected IS 'What the history before it led to expect.';
COMMENT ON COLUMN eai.anomalies.lo IS 'Lowest value that would have raised no alarm.';
COMMENT ON COLUMN eai.anomalies.hi IS 'Highest value that would have raised no alarm.';
COMMENT ON COLUMN eai.anomalies.score IS 'How far off: standard deviations of the recent residuals (series), the CUSUM in units of its alarm level times the threshold (cusum), the isolation score (metric vectors), or the PSI (drift).';
COMMENT ON COLUMN eai.anomalies.threshold IS 'The threshold the score crossed (the metric''s own, eai.anomaly_thresholds, when labels moved it).';
COMMENT ON COLUMN eai.anomalies.detector IS 'robust_z, iqr, seasonal, cusum (a drift of the level), isolation_forest, drift or schema (docs/anomalies.md).';
COMMENT ON COLUMN eai.anomalies.severity IS 'low, medium (score at least 1.5 × threshold) or high (at least 2 ×, and every schema change).';
COMMENT ON COLUMN eai.anomalies.explanation IS 'The verdict in words.';
COMMENT ON COLUMN eai.anomalies.detected_at IS 'When eai.detect_anomalies recorded it.';
COMMENT ON COLUMN eai.anomalies.label IS 'Feedback (eai.label_anomaly): false_positive or true_positive; NULL until labelled.';
COMMENT ON COLUMN eai.anomalies.labelled_by IS 'Role that labelled it.';
COMMENT ON COLUMN eai.anomalies.labelled_at IS 'When it was labelled.';
COMMENT ON COLUMN eai.anomalies.incident_id IS 'The incident (eai.incidents) it belongs to.';

-- Thresholds per metric, moved by feedback: visible here, every change logged in
-- eai.threshold_changes and reversible with eai.revert_threshold.
CREATE TABLE eai.anomaly_thresholds (
    relid           oid NOT NULL,
    table_name      text NOT NULL,
    column_name     text,
    metric          text NOT NULL,
    threshold       double precision CHECK (threshold > 0),
    base_threshold  double precision CHECK (base_threshold > 0),
    adaptive        boolean NOT NULL DEFAULT true,
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE NULLS NOT DISTINCT (relid, column_name, metric)
);
COMMENT ON TABLE eai.anomaly_thresholds IS 'eai: a metric''s own threshold, moved by labels (eai.label_anomaly) to keep false positives under eai.anomaly_false_positive_target, or set by hand (eai.set_threshold).';
COMMENT ON COLUMN eai.anomaly_thresholds.relid IS 'OID of the table.';
COMMENT ON COLUMN eai.anomaly_thresholds.table_name IS 'The table''s name when the threshold was set.';
COMMENT ON COLUMN eai.anomaly_thresholds.column_name IS 'The column, or NULL for a table-level metric.';
COMMENT ON COLUMN eai.anomaly_thresholds.metric IS 'The metric (eai.metrics.metric; psi for drift).';
COMMENT ON COLUMN eai.anomaly_thresholds.threshold IS 'The threshold in force; NULL: the one eai.detect_anomalies is called with. An adaptive threshold applies when above the call''s.';
COMMENT ON COLUMN eai.anomaly_thresholds.base_threshold IS 'The default it adapts from (labels never take it below); NULL: the threshold the labelled anomalies were detected at.';
COMMENT ON COLUMN eai.anomaly_thresholds.adaptive IS 'Whether labels move it; false after eai.revert_threshold or eai.set_threshold(…, adaptive => false).';
COMMENT ON COLUMN eai.anomaly_thresholds.updated_at IS 'When it last changed.';

CREATE TABLE eai.threshold_changes (
    change_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    relid           oid NOT NULL,
    table_name      text NOT NULL,
    column_name     text,
    metric          text NOT NULL,
    old_threshold   double precision,
    new_threshold   double precision,
    reason          text NOT NULL,
    anomaly_id      bigint REFERENCES eai.anomalies ON DELETE SET NULL,
    reverts         bigint REFERENCES eai.threshold_changes,
    changed_by      name NOT NULL DEFAULT current_user,
    changed_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE eai.threshold_changes IS 'eai: every change of a metric''s threshold, why, and who; eai.revert_threshold(change_id) undoes one.';
COMMENT ON COLUMN eai.threshold_changes.change_id IS 'Identifier of the change.';
COMMENT ON COLUMN eai.threshold_changes.relid IS 'OID of the table.';
COMMENT ON COLUMN eai.threshold_changes.table_name IS 'The table''s name then.';
COMMENT ON COLUMN eai.threshold_changes.column_name IS 'The column, or NULL for a table-level metric.';
COMMENT ON COLUMN eai.threshold_changes.metric IS 'The metric.';
COMMENT ON COLUMN eai.threshold_changes.old_threshold IS 'Threshold before (NULL: the call''s default).';
COMMENT ON COLUMN eai.threshold_changes.new_threshold IS 'Threshold after (NULL: the call''s default).';
COMMENT ON COLUMN eai.threshold_changes.reason IS 'Why: the labels that moved it, a revert, or a hand setting.';
COMMENT ON COLUMN eai.threshold_changes.anomaly_id IS 'The labelled anomaly that triggered it.';
COMMENT ON COLUMN eai.threshold_changes.reverts IS 'The change this one undoes.';
COMMENT ON COLUMN eai.threshold_changes.changed_by IS 'Role that made it.';
COMMENT ON COLUMN eai.threshold_changes.changed_at IS 'When.';

-- The threshold a metric is judged at: its own when labels or a hand set one (an adaptive one only
-- when above the call's), otherwise the call's.
CREATE FUNCTION eai._threshold_in_force(tbl oid, column_name text, metric text, call_threshold double precision)
RETURNS double precision
LANGUAGE sql STABLE
AS $$
    SELECT coalesce((SELECT CASE WHEN t.adaptive THEN greatest(t.threshold, call_threshold) ELSE coalesce(t.threshold, call_threshold) END
                       FROM eai.anomaly_thresholds t
                      WHERE t.relid = $1 AND t.column_name IS NOT DISTINCT FROM $2 AND t.metric = $3), call_threshold)
$$;
COMMENT ON FUNCTION eai._threshold_in_force(oid, text, text, double precision) IS 'eai: the threshold a metric is judged at (eai.anomaly_thresholds, else the call''s).';

-- Labels and thresholds are written only by the three functions below (SECURITY DEFINER: the
-- eai_* roles have no INSERT or UPDATE on the tables), which record the session's role and the
-- time themselves, log every threshold change, and act only on tables the role may read.
CREATE FUNCTION eai._require_select(p_rel oid, p_what text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT coalesce(has_table_privilege(eai._session_role(), p_rel, 'SELECT'), false) THEN
        RAISE EXCEPTION 'eai: % may not read %, so it may not %', eai._session_role(),
              coalesce(p_rel::regclass::text, 'table ' || p_rel), p_what
            USING ERRCODE = '42501', HINT = 'Ask the table''s owner for SELECT on it, or a superuser to do it.';
    END IF;
END
$$;
COMMENT ON FUNCTION eai._require_select(oid, text) IS 'eai: raise 42501 unless the session''s role may read the table.';

-- Feedback on an anomaly. The labels of its metric move the metric's threshold to the lowest one
-- (never below its default) that keeps false positives among the labelled alerts at most
-- eai.anomaly_false_positive_target; the change is logged in eai.threshold_changes.
CREATE FUNCTION eai.label_anomaly(id bigint, label text)
RETURNS TABLE (anomaly_id bigint, verdict text, metric text, threshold_before double precision,
               threshold_after double precision, change_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    a eai.anomalies;
    th eai.anomaly_thresholds;
    v_base double precision;
    v_before double precision;
    v_new double precision;
    v_labels integer;
    v_false integer;
    v_change bigint;
BEGIN
    IF label_anomaly.label IS NULL OR label_anomaly.label NOT IN ('false_positive', 'true_positive') THEN
        RAISE EXCEPTION 'eai: an anomaly is labelled false_positive or true_positive, not %', coalesce(quote_literal(label_anomaly.label), 'NULL')
            USING ERRCODE = '22023', HINT = 'SELECT * FROM eai.label_anomaly(42, ''false_positive'');';
    END IF;
    SELECT * INTO a FROM eai.anomalies x WHERE x.anomaly_id = label_anomaly.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'eai: there is no anomaly %', label_anomaly.id USING ERRCODE = 'P0002',
            HINT = 'SELECT anomaly_id, table_name, metric, explanation FROM eai.anomalies ORDER BY anomaly_id DESC;';
    END IF;
    PERFORM eai._require_select(a.relid, 'label its anomalies');
    UPDATE eai.anomalies x SET label = label_anomaly.label, labelled_by = eai._session_role(), labelled_at = clock_timestamp()
     WHERE x.anomaly_id = label_anomaly.id
    RETURNING x.* INTO a;
    IF a.score IS NULL OR a.threshold IS NULL THEN
        -- A schema change has no score: the label is kept, no threshold moves.
        RETURN QUERY SELECT a.anomaly_id, a.label, a.metric, NULL::float8, NULL::float8, NULL::bigint;
        RETURN;
    END IF;
    SELECT * INTO th FROM eai.anomaly_thresholds t
     WHERE t.relid = a.relid AND t.column_name IS NOT DISTINCT FROM a.column_name AND t.metric = a.metric
       FOR UPDATE;
    IF FOUND AND NOT th.adaptive THEN
        RETURN QUERY SELECT a.anomaly_id, a.label, a.metric, th.threshold, th.threshold, NULL::bigint;
        RETURN;
    END IF;
    v_base := coalesce(th.base_threshold, a.threshold);
    v_before := coalesce(th.threshold, v_base);
    SELECT eai._adapt_threshold(v_base, array_agg(x.score), array_agg(x.label = 'false_positive')),
           count(*), count(*) FILTER (WHERE x.label = 'false_positive')
      INTO v_new, v_labels, v_false
      FROM eai.anomalies x
     WHERE x.relid = a.relid AND x.column_name IS NOT DISTINCT FROM a.column_name AND x.metric = a.metric
       AND x.label IS NOT NULL AND x.score IS NOT NULL;
    IF v_new IS DISTINCT FROM v_before THEN
        INSERT INTO eai.anomaly_thresholds AS t (relid, table_name, column_name, metric, threshold, base_threshold)
        VALUES (a.relid, a.table_name, a.column_name, a.metric, v_new, v_base)
        ON CONFLICT (relid, column_name, metric) DO UPDATE SET threshold = excluded.threshold, updated_at = clock_timestamp();
        INSERT INTO eai.threshold_changes (relid, table_name, column_name, metric, old_threshold, new_threshold, reason, anomaly_id, changed_by)
        VALUES (a.relid, a.table_name, a.column_name, a.metric, th.threshold, v_new,
                format('%s labelled alerts, %s false positives: the lowest threshold from %s keeping false positives at or under %s%% of the alerts it raises',
                       v_labels, v_false, round(v_base::numeric, 4), round(100 * current_setting('eai.anomaly_false_positive_target')::numeric, 1)),
                a.anomaly_id, eai._session_role())
        RETURNING threshold_changes.change_id INTO v_change;
    END IF;
    RETURN QUERY SELECT a.anomaly_id, a.label, a.metric, v_before, v_new, v_change;
END
$$;
COMMENT ON FUNCTION eai.label_anomaly(bigint, text) IS
    'eai: label an anomaly false_positive or true_positive; its metric''s threshold adapts (eai.anomaly_thresholds, logged in eai.threshold_changes).';

-- Undoes a threshold change: the threshold before it comes back, and labels stop moving it until
-- eai.set_threshold(…, adaptive => true).
CREATE FUNCTION eai.revert_threshold(change_id bigint)
RETURNS SETOF eai.threshold_changes
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    c eai.threshold_changes;
    th eai.anomaly_thresholds;
BEGIN
    SELECT * INTO c FROM eai.threshold_changes x WHERE x.change_id = revert_threshold.change_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'eai: there is no threshold change %', revert_threshold.change_id USING ERRCODE = 'P0002',
            HINT = 'SELECT * FROM eai.threshold_changes ORDER BY change_id DESC;';
    END IF;
    PERFORM eai._require_select(c.relid, 'change its thresholds');
    SELECT * INTO th FROM eai.anomaly_thresholds t
     WHERE t.relid = c.relid AND t.column_name IS NOT DISTINCT FROM c.column_name AND t.metric = c.metric FOR UPDATE;
    UPDATE eai.anomaly_thresholds t SET threshold = c.old_threshold, adaptive = false, updated_at = clock_timestamp()
     WHERE t.relid = c.relid AND t.column_name IS NOT DISTINCT FROM c.column_name AND t.metric = c.metric;
    RETURN QUERY
    INSERT INTO eai.threshold_changes AS x (relid, table_name, column_name, metric, old_threshold, new_threshold, reason, reverts, changed_by)
    VALUES (c.relid, c.table_name, c.column_name, c.metric, th.threshold, c.old_threshold,
            format('revert of change %s; labels no longer move this threshold (eai.set_threshold(…, adaptive => true) lets them again)', c.change_id),
            c.change_id, eai._session_role())
    RETURNING x.*;
END
$$;
COMMENT ON FUNCTION eai.revert_threshold(bigint) IS 'eai: undo a threshold change (eai.threshold_changes) and stop labels moving that threshold.';

-- Sets a metric's threshold by hand (NULL: the call's), and whether labels may move it.
CREATE FUNCTION eai.set_threshold(tbl regclass, metric text, column_name text DEFAULT NULL,
                                  threshold double precision DEFAULT NULL, adaptive boolean DEFAULT true)
RETURNS SETOF eai.threshold_changes
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    th eai.anomaly_thresholds;
BEGIN
    IF set_threshold.threshold IS NOT NULL AND set_threshold.threshold <= 0 THEN
        RAISE EXCEPTION 'eai: a threshold must be positive' USING ERRCODE = '22023',
            HINT = 'Give NULL to judge the metric at the threshold eai.detect_anomalies is called with.';
    END IF;
    IF set_threshold.metric IS NULL THEN
        RAISE EXCEPTION 'eai: which metric?' USING ERRCODE = '22023', HINT = 'SELECT DISTINCT metric FROM eai.metrics;';
    END IF;
    PERFORM eai._require_select(tbl, 'change its thresholds');
    SELECT * INTO th FROM eai.anomaly_thresholds t
     WHERE t.relid = tbl AND t.column_name IS NOT DISTINCT FROM set_threshold.column_name AND t.metric = set_threshold.metric FOR UPDATE;
    INSERT INTO eai.anomaly_thresholds AS t (relid, table_name, column_name, metric, threshold, base_threshold, adaptive)
    VALUES (tbl, tbl::text, set_threshold.column_name, set_threshold.metric, set_threshold.threshold,
            set_threshold.threshold, set_threshold.adaptive)
    ON CONFLICT (relid, column_name, metric) DO UPDATE
       SET threshold = excluded.threshold, adaptive = excluded.adaptive, updated_at = clock_timestamp();
    RETURN QUERY
    INSERT INTO eai.threshold_changes AS x (relid, table_name, column_name, metric, old_threshold, new_threshold, reason, changed_by)
    VALUES (tbl, tbl::text, set_threshold.column_name, set_threshold.metric, th.threshold, set_threshold.threshold,
            format('set by hand%s', CASE WHEN set_threshold.adaptive THEN '; labels may move it' ELSE '; labels do not move it' END),
            eai._session_role())
    RETURNING x.*;
END
$$;
COMMENT ON FUNCTION eai.set_threshold(regclass, text, text, double precision, boolean) IS
    'eai: set a metric''s anomaly threshold by hand (NULL: the call''s) and whether labels may move it; logged in eai.threshold_changes.';

-- Groups the anomalies no incident holds yet, with the recent ones that are, into incidents
-- (eai._group_incidents); announces high-severity incidents once with NOTIFY eai_incident.
CREATE FUNCTION eai._update_incidents()
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_since timestamptz;
    v_incident bigint;
    g record;
    inc eai.incidents;
BEGIN
    SELECT min(a.observed_at) INTO v_since FROM eai.anomalies a WHERE a.incident_id IS NULL;
    IF v_since IS NULL THEN
        RETURN;
    END IF;
    v_since := v_since - greatest(current_setting('eai.incident_window')::interval, current_setting('eai.incident_lineage_window')::interval);
    FOR g IN
        WITH c AS (SELECT a.* FROM eai.anomalies a WHERE a.incident_id IS NULL OR a.observed_at >= v_since),
             e AS (SELECT DISTINCT to_regclass(l.from_table)::oid AS f, to_regclass(l.to_table)::oid AS t
                     FROM eai.lineage_edges l
                    WHERE to_regclass(l.from_table) IS NOT NULL AND to_regclass(l.to_table) IS NOT NULL),
             grp AS (SELECT * FROM eai._group_incidents(
                        (SELECT array_agg(c.anomaly_id ORDER BY c.anomaly_id) FROM c),
                        (SELECT array_agg(c.relid ORDER BY c.anomaly_id) FROM c),
                        (SELECT array_agg(c.promotion_id ORDER BY c.anomaly_id) FROM c),
                        (SELECT array_agg(extract(epoch FROM c.observed_at)::float8 ORDER BY c.anomaly_id) FROM c),
                        (SELECT array_agg(c.severity ORDER BY c.anomaly_id) FROM c),
                        (SELECT array_agg(c.score ORDER BY c.anomaly_id) FROM c),
                        coalesce((SELECT array_agg(e.f ORDER BY e.f, e.t) FROM e), '{}'),
                        coalesce((SELECT array_agg(e.t ORDER BY e.f, e.t) FROM e), '{}')))
        SELECT grp.grp, array_agg(c.anomaly_id) AS members, min(c.incident_id) AS existing,
               array_agg(DISTINCT c.incident_id) FILTER (WHERE c.incident_id IS NOT NULL) AS previous,
               bool_or(c.incident_id IS NULL) AS has_new,
               (array_agg(c.anomaly_id) FILTER (WHERE grp.is_root))[1] AS root, min(grp.severity) AS severity
          FROM grp JOIN c USING (anomaly_id)
         GROUP BY grp.grp
         ORDER BY grp.grp
    LOOP
        CONTINUE WHEN NOT g.has_new;
        v_incident := g.existing;
        IF v_incident IS NULL THEN
            INSERT INTO eai.incidents (severity) VALUES (g.severity) RETURNING incident_id INTO v_incident;
        END IF;
        UPDATE eai.anomalies a SET incident_id = v_incident
         WHERE a.anomaly_id = ANY (g.members) AND a.incident_id IS DISTINCT FROM v_incident;
        -- Incidents merged into this one are gone.
        DELETE FROM eai.incidents i
         WHERE i.incident_id = ANY (coalesce(g.previous, '{}')) AND i.incident_id <> v_incident
           AND NOT EXISTS (SELECT 1 FROM eai.anomalies a WHERE a.incident_id = i.incident_id);
        UPDATE eai.incidents i
           SET severity = s.severity, root_anomaly_id = g.root, anomalies = s.n, tables = s.tables,
               first_observed_at = s.first, last_observed_at = s.last, updated_at = clock_timestamp(),
               root_cause = (SELECT format('%s: %s', r.table_name, r.explanation) FROM eai.anomalies r WHERE r.anomaly_id = g.root)
          FROM (SELECT count(*)::integer AS n, array_agg(DISTINCT a.table_name ORDER BY a.table_name) AS tables,
                       min(a.observed_at) AS first, max(a.observed_at) AS last,
                       (ARRAY['low', 'medium', 'high'])[max(array_position(ARRAY['low', 'medium', 'high'], a.severity))] AS severity
                  FROM eai.anomalies a WHERE a.incident_id = v_incident) s
         WHERE i.incident_id = v_incident
        RETURNING i.* INTO inc;
        IF inc.severity = 'high' AND inc.notified_at IS NULL THEN
            PERFORM pg_notify('eai_incident', json_build_object(
                'incident_id', inc.incident_id, 'severity', inc.severity, 'anomalies', inc.anomalies,
                'tables', inc.tables[1:20], 'root_anomaly_id', inc.root_anomaly_id, 'root_cause', left(inc.root_cause, 1000))::text);
            UPDATE eai.incidents i SET notified_at = clock_timestamp() WHERE i.incident_id = inc.incident_id;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION eai._update_incidents() IS 'eai: group new anomalies into incidents and NOTIFY eai_incident for high ones (called by eai.detect_anomalies).';

-- The judging half of eai.detect_anomalies(tbl), and the one writer of eai.anomalies and (through
-- eai._update_incidents) eai.incidents: it reads only eai's catalog, so it runs as the extension's
-- owner (no eai_* role may write those tables) for a table the session's role may read.
CREATE FUNCTION eai._judge_table(tbl regclass, threshold double precision, min_history integer,
                                 psi_threshold double precision, vector_threshold double precision)
RETURNS SETOF eai.anomalies
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM eai._require_select(tbl, 'judge it');
    -- Series: the online detector, each at the metric's own threshold when labels set one.
    INSERT INTO eai.anomalies (relid, table_name, column_name, metric, observed_at, promotion_id, observed, expected, lo, hi,
                               score, threshold, detector, severity, explanation)
    SELECT tbl, tbl::text, s.column_name, s.metric, s.times[d.ordinal], s.promotions[d.ordinal], s.vals[d.ordinal], d.expected,
           d.lo, d.hi, d.score, s.threshold, d.detector, d.severity,
           CASE WHEN d.detector = 'cusum'
                THEN format('%s%s = %s: the level drifted from the longer past (CUSUM of the residuals from it at %s times its alarm level); one value alone is expected %s (%s to %s) (cusum)',
                            coalesce(s.column_name || '.', ''), s.metric, s.vals[d.ordinal], round((d.score / s.threshold)::numeric, 2),
                            round(d.expected::numeric, 4), round(d.lo::numeric, 4), round(d.hi::numeric, 4))
                ELSE format('%s%s = %s, expected %s (%s to %s): %s standard deviations off (%s%s)',
                            coalesce(s.column_name || '.', ''), s.metric, s.vals[d.ordinal], round(d.expected::numeric, 4),
                            round(d.lo::numeric, 4), round(d.hi::numeric, 4), round(d.score::numeric, 1), d.detector,
                            coalesce(', by ' || d.seasonality, '')) END
      FROM (SELECT m.column_name, m.metric, array_agg(m.measured_at ORDER BY m.measured_at) AS times,
                   array_agg(m.value ORDER BY m.measured_at) AS vals, array_agg(m.promotion_id ORDER BY m.measured_at) AS promotions,
                   eai._threshold_in_force(tbl, m.column_name, m.metric, threshold) AS threshold
              FROM eai.metrics m
             WHERE m.relid = tbl AND m.metric NOT IN ('schema_fingerprint', 'psi', 'kl')
             GROUP BY m.column_name, m.metric) s
     CROSS JOIN LATERAL eai._detect_series(ARRAY(SELECT extract(epoch FROM t)::float8 FROM unnest(s.times) t), s.vals,
                                           s.threshold, min_history) d
     WHERE d.deviates AND d.score IS NOT NULL
    ON CONFLICT DO NOTHING;
    -- Drift between consecutive batches: PSI over the threshold and a significant G-test.
    INSERT INTO eai.anomalies (relid, table_name, column_name, metric, observed_at, promotion_id, observed, expected, lo, hi,
                               score, threshold, detector, severity, explanation)
    SELECT tbl, tbl::text, b.column_name, 'psi', pr.started_at, b.promotion_id, b.psi, 0, 0, x.t, b.psi, x.t, 'drift',
           eai._severity(b.psi / x.t),
           format('%s: the distribution moved from the batch before (PSI %s at most %s, KL %s, G-test p %s; median %s, 5%%–95%% %s to %s)',
                  b.column_name, round(b.psi::numeric, 3), round(x.t::numeric, 3), round(b.kl::numeric, 3),
                  CASE WHEN b.drift_p < 1e-6 THEN '< 1e-6' ELSE round(b.drift_p::numeric, 6)::text END,
                  round(b.quantiles[11]::numeric, 4), round(b.quantiles[2]::numeric, 4), round(b.quantiles[20]::numeric, 4))
      FROM eai.batch_profiles b JOIN eai.promotions pr USING (promotion_id)
     CROSS JOIN LATERAL (SELECT eai._threshold_in_force(tbl, b.column_name, 'psi', psi_threshold) AS t) x
     WHERE b.relid = tbl AND b.psi >= x.t AND b.drift_p < 1e-3
    ON CONFLICT DO NOTHING;
    -- Vectors: all the metrics of one quality run (or of one batch) together, by Isolation Forest,
    -- each against the ones before it. Metrics every point has; not times, lags or drift.
    WITH pts AS (
        SELECT CASE WHEN m.quality_run_id IS NULL THEN 'batch_vector' ELSE 'quality_run_vector' END AS kind,
               coalesce(m.quality_run_id, m.promotion_id) AS point, m.measured_at, m.promotion_id,
               coalesce(m.column_name || '.', '') || m.metric AS key, m.value
          FROM eai.metrics m
         WHERE m.relid = tbl
           AND m.metric NOT IN ('schema_fingerprint', 'psi', 'kl', 'promotion_ms_per_row', 'promotion_lag_s', 'freshness_lag_s')),
         npoints AS (SELECT p.kind, count(DISTINCT p.point) AS n FROM pts p GROUP BY p.kind),
         keys AS (SELECT p.kind, p.key FROM pts p JOIN npoints n USING (kind) GROUP BY p.kind, p.key, n.n HAVING count(*) = n.n),
         used AS (SELECT p.* FROM pts p JOIN keys k USING (kind, key)),
         points AS (SELECT u.kind, u.point, min(u.measured_at) AS at, min(u.promotion_id) AS promotion_id FROM used u GROUP BY u.kind, u.point),
         s AS (SELECT u.kind,
                      (SELECT array_agg(p.at ORDER BY p.at, p.point) FROM points p WHERE p.kind = u.kind) AS times,
                      (SELECT array_agg(p.promotion_id ORDER BY p.at, p.point) FROM points p WHERE p.kind = u.kind) AS promotions,
                      (SELECT array_agg(k.key ORDER BY k.key) FROM keys k WHERE k.kind = u.kind) AS keys,
                      array_agg(u.value ORDER BY p.at, u.point, u.key) AS vals,
                      eai._threshold_in_force(tbl, NULL, u.kind, vector_threshold) AS t
                 FROM used u JOIN points p USING (kind, point)
                GROUP BY u.kind)
    INSERT INTO eai.anomalies (relid, table_name, column_name, metric, observed_at, promotion_id, score, threshold,
                               detector, severity, explanation)
    SELECT tbl, tbl::text, NULL, s.kind, s.times[d.ordinal], s.promotions[d.ordinal], d.score, s.t, 'isolation_forest',
           eai._severity((d.score - 0.5) / (s.t - 0.5)),
           format('isolation score %s over %s metrics of this %s, unusual together; furthest from their past: %s',
                  round(d.score::numeric, 3), cardinality(s.keys), replace(replace(s.kind, '_vector', ''), '_', ' '),
                  coalesce((SELECT string_agg(format('%s (robust z %s)', s.keys[x.j + 1],
                                                     CASE WHEN x.z >= 1000 THEN 'above 1000' WHEN x.z <= -1000 THEN 'below -1000'
                                                          ELSE round(x.z::numeric, 1)::text END), ', ')
                              FROM unnest(d.standouts, d.standout_z) AS x (j, z)), 'no metric alone'))
      FROM s CROSS JOIN LATERAL eai._detect_vectors(s.vals, cardinality(s.keys), s.t, min_history) d
     WHERE cardinality(s.keys) > 0
    ON CONFLICT DO NOTHING;
    -- Schema: any change of the columns from one quality run to the next, with what changed.
    INSERT INTO eai.anomalies (relid, table_name, column_name, metric, observed_at, observed, detector, severity, explanation)
    SELECT tbl, tbl::text, NULL, 'schema_fingerprint', r.run_at, r.value, 'schema', 'high',
           format('the columns changed since the run before: %s',
                  coalesce(nullif(concat_ws('; ',
                      'added or retyped ' || (SELECT string_agg(format('%s %s', c ->> 'name', c ->> 'pg_type'), ', ')
                                                FROM jsonb_array_elements(r.measure -> 'columns') c
                                               WHERE NOT (r.prev -> 'columns') @> jsonb_build_array(jsonb_build_object('name', c -> 'name', 'pg_type', c -> 'pg_type'))),
                      'removed or retyped ' || (SELECT string_agg(format('%s %s', c ->> 'name', c ->> 'pg_type'), ', ')
                                                  FROM jsonb_array_elements(r.prev -> 'columns') c
                                                 WHERE NOT (r.measure -> 'columns') @> jsonb_build_array(jsonb_build_object('name', c -> 'name', 'pg_type', c -> 'pg_type')))),
                      ''), 'the same columns in another order'))
      FROM (SELECT q.run_at, q.measure, lag(q.measure) OVER w AS prev, m.value, lag(m.value) OVER w AS prev_value
              FROM eai.quality_runs q
              JOIN eai.metrics m ON m.quality_run_id = q.run_id AND m.metric = 'schema_fingerprint'
             WHERE q.relid = tbl
            WINDOW w AS (ORDER BY q.run_id)) r
     WHERE r.prev_value IS NOT NULL AND r.value <> r.prev_value
    ON CONFLICT DO NOTHING;
    PERFORM eai._update_incidents();
    -- Honest about too little history: no series is judged before min_history points.
    IF NOT EXISTS (SELECT 1 FROM eai.metrics m WHERE m.relid = tbl GROUP BY m.column_name, m.metric HAVING count(*) >= min_history) THEN
        RAISE NOTICE 'eai: not enough history for %: no metric of it has % measurements yet, so no series was judged', tbl, min_history
            USING HINT = 'Metrics come from promotions and eai.quality_score runs; schedule eai.detect_anomalies and eai.quality_score (e.g. with pg_cron).';
    END IF;
    RETURN QUERY SELECT * FROM eai.anomalies a WHERE a.relid = tbl ORDER BY a.observed_at, a.anomaly_id;
END
$$;
COMMENT ON FUNCTION eai._judge_table(regclass, double precision, integer, double precision, double precision) IS
    'eai: judge the metric history of a table and record its anomalies and incidents (eai.detect_anomalies(tbl) calls it after measuring the batches left).';

-- Judges every metric series of a table with the online detector (each point only against the
-- points before it), batch drift against its threshold, and schema changes run to run; records
-- what deviates, groups it into incidents, and returns the table's anomalies, new or not.
CREATE FUNCTION eai.detect_anomalies(tbl regclass, threshold double precision DEFAULT 6, min_history integer DEFAULT 8,
                                     psi_threshold double precision DEFAULT 0.25, vector_threshold double precision DEFAULT 0.7)
RETURNS SETOF eai.anomalies
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_chunk integer;
    v_measured integer := 0;
BEGIN
    PERFORM eai._require_select(tbl, 'judge it');
    IF threshold IS NULL OR threshold <= 0 OR psi_threshold IS NULL OR psi_threshold <= 0
       OR vector_threshold IS NULL OR vector_threshold <= 0.5 OR vector_threshold > 1 THEN
        RAISE EXCEPTION 'eai: threshold and psi_threshold must be positive, vector_threshold above 0.5 and at most 1' USING ERRCODE = '22023',
            HINT = 'threshold is in standard deviations of the recent residuals (default 6); psi_threshold is a population stability index (default 0.25); vector_threshold an isolation score (default 0.7; 0.5 is ordinary).';
    END IF;
    -- Every batch not measured yet, in chunks of 100, so that nothing is judged on part of the
    -- history (the worker usually leaves little; without it, every promoted batch is left).
    LOOP
        v_chunk := eai.measure_batches(tbl, 100);
        v_measured := v_measured + v_chunk;
        EXIT WHEN v_chunk < 100;
    END LOOP;
    IF v_measured > 100 THEN
        RAISE NOTICE 'eai: measured % batches of % before judging it', v_measured, tbl
            USING HINT = 'The promotion worker measures batches as they are promoted when eai is in shared_preload_libraries; eai.measure_batches(tbl) measures them by hand.';
    END IF;
    RETURN QUERY SELECT * FROM eai._judge_table(tbl, threshold, min_history, psi_threshold, vector_threshold);
END
$$;
COMMENT ON FUNCTION eai.detect_anomalies(regclass, double precision, integer, double precision, double precision) IS
    'eai: judge every metric series of a table (eai.metrics), its metric vectors (Isolation Forest), batch drift and schema changes; record the anomalies (eai.anomalies) and group them into incidents (eai.incidents). See docs/anomalies.md.';
