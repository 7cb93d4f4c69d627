-- Named to run after zz_anomaly_batches: its promotions take identity values.
\set ON_ERROR_ROLLBACK on
-- eai.detect_anomalies(tbl) measures every promoted batch not measured yet (in chunks of 100),
-- not only the first 100, and says so when it measured more than one chunk.
begin;
CREATE TABLE bronze.backlog (amount text, _eai_batch bigint NOT NULL, _eai_loaded_at timestamptz NOT NULL DEFAULT now(),
                             _eai_row_hash uuid NOT NULL);
INSERT INTO bronze.backlog SELECT (100 + g % 50)::text, 1, now(), gen_random_uuid() FROM generate_series(1, 20) g;
SELECT name FROM eai.create_pipeline('backlog', 'bronze.backlog', 'silver.backlog');
DO $$ BEGIN
  FOR b IN 2..130 LOOP
    INSERT INTO bronze.backlog SELECT (100 + (g * 7 + b) % 50)::text, b, now(), gen_random_uuid() FROM generate_series(1, 20) g;
  END LOOP;
END $$;
SELECT count(*) AS promoted FROM eai.promotions pr JOIN eai.pipelines p USING (pipeline_id) WHERE p.target_relid = 'silver.backlog'::regclass;
SELECT count(*) AS measured_before FROM eai.batch_profiles WHERE relid = 'silver.backlog'::regclass;
SELECT count(*) >= 0 AS judged FROM eai.detect_anomalies('silver.backlog'::regclass);
SELECT count(DISTINCT promotion_id) AS measured FROM eai.batch_profiles WHERE relid = 'silver.backlog'::regclass;
-- Nothing is left: nothing more is measured, nothing said.
SELECT count(*) >= 0 AS judged_again FROM eai.detect_anomalies('silver.backlog'::regclass);
rollback;
