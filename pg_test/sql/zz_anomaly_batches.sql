-- Named to run last: promotions and mappings take identity values that the other files print.
\set ON_ERROR_ROLLBACK on
-- Batches: each promotion is profiled (quantile sketch) and compared with the batch before
-- (PSI, KL, G-test); a shifted batch is a drift, grouped with the other anomalies of its batch
-- into one incident. Labels move thresholds, visibly and reversibly.
begin;
CREATE TABLE bronze."d; ""r""" (amount text, _eai_batch bigint NOT NULL, _eai_loaded_at timestamptz NOT NULL DEFAULT now(),
                                _eai_row_hash uuid NOT NULL);
INSERT INTO bronze."d; ""r""" SELECT (100 + g % 50)::text, 1, now(), gen_random_uuid() FROM generate_series(1, 500) g;
SELECT name, target_table FROM eai.create_pipeline('drift', 'bronze."d; ""r"""', 'silver."d; ""r"""');
SELECT indexdef LIKE '%USING brin (_eai_promotion)%' AS brin_on_promotion FROM pg_indexes WHERE schemaname = 'silver' AND tablename = 'd; "r"';
DO $$ BEGIN
  FOR b IN 2..10 LOOP
    INSERT INTO bronze."d; ""r""" SELECT (100 + (g * 7 + b) % 50)::text, b, now(), gen_random_uuid() FROM generate_series(1, 500) g;
  END LOOP;
END $$;
-- Batch 11: the same spread, 200 higher, and a tenth missing.
INSERT INTO bronze."d; ""r""" SELECT CASE WHEN g % 10 <> 0 THEN (300 + g % 50)::text END, 11, now(), gen_random_uuid() FROM generate_series(1, 500) g;
SELECT eai.measure_batches('silver."d; ""r"""') AS measured, eai.measure_batches('silver."d; ""r"""') AS measured_again;
SELECT row_number() OVER (ORDER BY promotion_id) AS batch, column_name, rows, nulls, quantiles[1] AS min, quantiles[11] AS median,
       quantiles[21] AS max, round(psi::numeric, 3) AS psi, round(kl::numeric, 3) AS kl, drift_p < 1e-3 AS significant
  FROM eai.batch_profiles ORDER BY promotion_id;
SELECT metric, count(*) FROM eai.metrics WHERE relid = 'silver."d; ""r"""'::regclass GROUP BY 1 ORDER BY 1;
SELECT anomaly_id AS drift_id FROM eai.detect_anomalies('silver."d; ""r"""'::regclass) WHERE detector = 'drift' \gset
SELECT column_name, metric, detector, severity, round(score::numeric, 2) AS score, threshold, explanation
  FROM eai.anomalies ORDER BY metric, anomaly_id;
-- One batch, one incident: its most upstream, earliest anomaly is the probable cause; high
-- severity is announced (NOTIFY eai_incident, delivered at commit).
SELECT severity, anomalies, tables, root_cause IS NOT NULL AS has_cause, notified_at IS NOT NULL AS notified,
       (SELECT count(*) FROM eai.anomalies a WHERE a.incident_id = i.incident_id) = anomalies AS counted
  FROM eai.incidents i;
-- Feedback: the drift was expected (a price change). Its threshold rises just above it, logged.
SELECT verdict, metric, threshold_before, round(threshold_after::numeric, 3) AS threshold_after, change_id IS NOT NULL AS changed
  FROM eai.label_anomaly(:drift_id, 'false_positive');
SELECT table_name, column_name, metric, round(threshold::numeric, 3) AS threshold, base_threshold, adaptive FROM eai.anomaly_thresholds;
SELECT change_id AS change, old_threshold, round(new_threshold::numeric, 3) AS new_threshold, reason, anomaly_id = :drift_id AS from_label
  FROM eai.threshold_changes \gset
SELECT :'reason' AS reason;
-- The same shift in a new batch is no longer an alarm…
INSERT INTO bronze."d; ""r""" SELECT (100 + g % 50)::text, 12, now(), gen_random_uuid() FROM generate_series(1, 500) g;
INSERT INTO bronze."d; ""r""" SELECT (300 + g % 50)::text, 13, now(), gen_random_uuid() FROM generate_series(1, 500) g;
SELECT count(*) AS drift_alarms FROM eai.detect_anomalies('silver."d; ""r"""'::regclass) WHERE detector = 'drift';
-- …until the change is reverted: the old threshold is back and labels no longer move it.
SELECT old_threshold IS NOT NULL AS had_one, new_threshold, reverts = :change AS reverts, reason FROM eai.revert_threshold(:change);
SELECT threshold, adaptive FROM eai.anomaly_thresholds;
SELECT count(*) AS drift_alarms FROM eai.detect_anomalies('silver."d; ""r"""'::regclass) WHERE detector = 'drift';
SELECT threshold_before, threshold_after, change_id FROM eai.label_anomaly(:drift_id, 'true_positive');
SELECT new_threshold, reason FROM eai.set_threshold('silver."d; ""r"""', 'psi', 'amount', threshold => 5);
SELECT count(*) AS change_log FROM eai.threshold_changes;
-- Wrong labels and ids.
SELECT * FROM eai.label_anomaly(:drift_id, 'maybe');
SELECT * FROM eai.label_anomaly(-1, 'true_positive');
SELECT * FROM eai.revert_threshold(-1);
SELECT * FROM eai.set_threshold('silver."d; ""r"""', 'psi', 'amount', threshold => -1);
-- Anomalies two days apart (beyond eai.incident_lineage_window) are separate incidents.
DELETE FROM eai.incidents;
UPDATE eai.anomalies SET observed_at = observed_at + interval '2 days' WHERE promotion_id = (SELECT max(promotion_id) FROM eai.anomalies);
SELECT eai._update_incidents();
SELECT anomalies, severity FROM eai.incidents ORDER BY incident_id;
-- A lineage chain (bronze -> silver -> gold) three hours apart is one incident, rooted upstream;
-- an unrelated table in between in time, but more than eai.incident_window from each, is not.
SELECT name FROM eai.create_gold('d_total', 'SELECT sum(amount) AS total FROM silver."d; ""r"""');
INSERT INTO eai.anomalies (relid, table_name, metric, observed_at, detector, severity, explanation)
VALUES ('gold.d_total'::regclass, 'gold.d_total', 'row_count', now() + interval '10 days 6 hours', 'robust_z', 'high', 'gold moved'),
       ('silver."d; ""r"""'::regclass, 'silver', 'row_count', now() + interval '10 days 3 hours', 'robust_z', 'low', 'silver moved'),
       ('bronze."d; ""r"""'::regclass, 'bronze', 'row_count', now() + interval '10 days', 'robust_z', 'low', 'bronze moved'),
       ('eai.sources'::regclass, 'unrelated', 'row_count', now() + interval '10 days 4 hours 30 minutes', 'robust_z', 'low', 'elsewhere');
SELECT eai._update_incidents();
SELECT anomalies, severity, root_cause, tables FROM eai.incidents WHERE last_observed_at > now() + interval '9 days' ORDER BY incident_id;
-- Identifiers are not profiled: a dedup key gets no sketch (new keys in every batch are no drift).
CREATE TABLE bronze.keyed (id text, v text, _eai_batch bigint NOT NULL, _eai_loaded_at timestamptz NOT NULL DEFAULT now(),
                           _eai_row_hash uuid NOT NULL);
INSERT INTO bronze.keyed SELECT g::text, (g % 7)::text, 1, now(), gen_random_uuid() FROM generate_series(1, 100) g;
SELECT name FROM eai.create_pipeline('keyed', 'bronze.keyed', 'silver.keyed', dedup_key => '{id}');
SELECT eai.measure_batches('silver.keyed') AS measured;
SELECT DISTINCT column_name FROM eai.batch_profiles WHERE relid = 'silver.keyed'::regclass;
rollback;
