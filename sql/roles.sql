-- Roles. Three group roles (NOLOGIN), each including the one before; grant them to login roles:
--   eai_reader    reads the catalog (profiles, mappings, review queue, ingest status, LLM usage)
--                 and the silver and gold tables (BI tools).
--   eai_reviewer  + decides pending mappings with approve_mapping / reject_mapping /
--                 override_mapping; the decision records the reviewer's own role.
--   eai_engineer  + profiles and maps the tables it can read (eai.profile, eai.map_schema),
--                 scores their quality (eai.quality_score), judges them (eai.detect_anomalies),
--                 and reads silver and gold (it may not create tables there: docs/security.md).
-- None of them writes a catalog table directly: eai's functions do, naming the role.
-- Adding sources, ingesting, pipelines, expectations and gold stay superuser-only (docs/security.md): they read server
-- files, create servers and triggers, or become code that promotions run.
-- Roles belong to the cluster, not to one database: they are created once, by the first database
-- that creates the extension, and are left in place by DROP EXTENSION (other databases may use
-- them).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'eai_reader') THEN
        CREATE ROLE eai_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'eai_reviewer') THEN
        CREATE ROLE eai_reviewer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'eai_engineer') THEN
        CREATE ROLE eai_engineer NOLOGIN;
    END IF;
END
$$;
GRANT eai_reader TO eai_reviewer;
GRANT eai_reviewer TO eai_engineer;

-- Functions that read server files or create servers are not for everyone.
REVOKE ALL ON FUNCTION eai._sniff_csv(text), eai._list_csv_files(text), eai._path_kind(text), eai._check_csv(text, text, text), eai._folder_files(text),
    eai.add_source(text, text, name, jsonb), eai.refresh_source(text), eai.drop_source(text, boolean),
    eai.ingest(text, text) FROM PUBLIC;
-- Pipelines create triggers on bronze tables and write silver as the ingesting role.
REVOKE ALL ON FUNCTION eai.create_pipeline(text, regclass, text, text[], text, boolean), eai.run_pipeline(text),
    eai.promote_queued(text, integer), eai.requeue_quarantine(text, bigint[]), eai.drop_pipeline(text, boolean),
    eai.create_gold(text, text, text), eai.refresh_gold(text), eai.drop_gold(text) FROM PUBLIC;
-- Expectations become code that every promotion runs as the ingesting role: declaring them is as
-- privileged as creating a trigger, so it is for superusers (no grant to the eai_* roles).
REVOKE ALL ON FUNCTION eai.expect(regclass, text, text, text), eai.suggest_expectations(regclass, boolean) FROM PUBLIC;

GRANT USAGE ON SCHEMA eai, silver, gold TO eai_reader;
GRANT SELECT ON eai.sources, eai.source_tables, eai.batches, eai.ingest_status,
                eai.column_profiles, eai.mapping_runs, eai.mappings, eai.pending_mappings,
                eai.llm_usage, eai.pipelines, eai.pipeline_columns, eai.expectations, eai.promotions,
                eai.quarantine, eai.promotion_queue, eai.pipeline_status, eai.gold_tables, eai.gold_columns,
                eai.lineage_edges, eai.quality_runs, eai.quality_scores, eai.quality_history,
                eai.batch_profiles, eai.metrics, eai.anomalies, eai.incidents, eai.anomaly_thresholds,
                eai.threshold_changes, eai.failures, eai.breakers, eai.breaker_transitions, eai.escalations,
                eai.healing_stats, eai.remediations, eai.drift_contracts, eai.drift_contract, eai.pipeline_discards
   TO eai_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA silver, gold TO eai_reader;
-- Tables created later in silver and gold by the role installing eai.
ALTER DEFAULT PRIVILEGES IN SCHEMA silver, gold GRANT SELECT ON TABLES TO eai_reader;

-- Decisions go through the functions; only they may call the writer.
REVOKE ALL ON FUNCTION eai._record_decision(bigint, text, text, text, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION eai.approve_mapping(bigint), eai.reject_mapping(bigint, text),
                       eai.override_mapping(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION eai._settle_drift_mapping(bigint, text), eai._propose_mapping(bigint, text, text, double precision, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION eai._settle_drift_mapping(bigint, text) TO eai_reviewer;
GRANT EXECUTE ON FUNCTION eai._record_decision(bigint, text, text, text, name),
                          eai.approve_mapping(bigint), eai.reject_mapping(bigint, text),
                          eai.override_mapping(bigint, text)
   TO eai_reviewer;

-- The catalog is written by eai only (docs/security.md): no eai_* role has INSERT, UPDATE or
-- DELETE on a catalog table (0.2.0 granted some). Profiling, mapping, quality scoring and batch
-- measuring read with the caller's rights, so the caller sees only what it may read; their rows
-- are written with the extension owner's rights and name the caller (src/catalog_write.rs, the
-- SECURITY DEFINER writers in sql/anomalies.sql). Row security hides sample values and rows of
-- tables the reader may not read (sql/catalog_access.sql).
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA eai FROM eai_reader, eai_reviewer, eai_engineer;
-- Engineers profile, map, score and measure the tables they can read.
REVOKE ALL ON FUNCTION eai.profile(regclass), eai._profile(oid), eai.map_schema(regclass, regclass, boolean, boolean),
    eai._map_schema(oid, oid, boolean, boolean), eai.quality_score(regclass), eai._quality_score(oid),
    eai.measure_batches(regclass, integer), eai._record_batch_profile(bigint, oid, text[], eai.batch_measure[]),
    eai.detect_anomalies(regclass, double precision, integer, double precision, double precision),
    eai._judge_table(regclass, double precision, integer, double precision, double precision), eai._update_incidents()
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION eai.profile(regclass), eai._profile(oid), eai.map_schema(regclass, regclass, boolean, boolean),
    eai._map_schema(oid, oid, boolean, boolean), eai.quality_score(regclass), eai._quality_score(oid),
    eai.measure_batches(regclass, integer), eai._record_batch_profile(bigint, oid, text[], eai.batch_measure[]),
    eai.detect_anomalies(regclass, double precision, integer, double precision, double precision),
    eai._judge_table(regclass, double precision, integer, double precision, double precision)
  TO eai_engineer;
GRANT SELECT ON eai.llm_cache, eai.llm_calls TO eai_engineer;
-- silver and gold stay closed to CREATE: a table an engineer created there (with a trigger, a
-- default, a rule) would become code that promotions and refreshes run (sql/trust.sql).
GRANT USAGE ON SCHEMA silver, gold TO eai_engineer;
REVOKE CREATE ON SCHEMA silver, gold FROM eai_engineer;  -- 0.2.0 granted it
-- Reviewers label anomalies and move thresholds through the functions, which record them and the
-- time and log every change (logged, reversible).
REVOKE ALL ON FUNCTION eai.label_anomaly(bigint, text), eai.revert_threshold(bigint),
    eai.set_threshold(regclass, text, text, double precision, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION eai.label_anomaly(bigint, text), eai.revert_threshold(bigint),
    eai.set_threshold(regclass, text, text, double precision, boolean) TO eai_reviewer;

-- Internal helpers that write bronze, silver, gold, the quarantine or the queue, or run a
-- pipeline's statements: only eai's own functions (run by superusers) call them.
REVOKE ALL ON FUNCTION eai._insert_streamed(oid, text, text, bigint, bigint, jsonb, text[], anyelement),
    eai._set_aside(bigint, bigint, uuid, text[], integer[]), eai._take_aside(bigint),
    eai._promotion_statement(bigint, text), eai._promotion_start(bigint, bigint, text),
    eai._promotion_finish(eai.promotions, record, text), eai._quarantine_aside(eai.promotions, jsonb, text[], bigint),
    eai._promote(bigint, bigint, text, text, anyelement), eai._promote_trigger(), eai._promote_backlog(eai.pipelines),
    eai._refresh_gold(eai.gold_tables), eai._refresh_gold_after(oid), eai._ensure_bronze(eai.source_tables, regclass),
    eai._ingest_table(text, text), eai._sync_file_table(text, text), eai._discover(text),
    eai._register_unreadable_file(text, text, jsonb), eai._bronze_table_for(text, text), eai._file_table_name(text, text),
    eai._refuse_foreign_code_in_expression(regclass, text)
  FROM PUBLIC;
-- Healing (docs/healing.md): recording failures, retrying ingests as the role that failed,
-- requeueing dead letters and a healing pass run promotions and ingests: superusers only.
REVOKE ALL ON FUNCTION eai._record_failure(text, text, oid, bigint, bigint, text, text, text, integer, boolean, text, text, text, name, uuid),
    eai._record_ingest_failure(jsonb), eai._record_spooled_failure(jsonb), eai._spool_failure(jsonb), eai._drain_failure_spool(),
    eai._escalate(text, text, text, text, text, text, text, text, text, bigint, bigint, bigint, oid, bigint),
    eai._resolve_escalations(text[], text, bigint, text, text, bigint), eai.dismiss_escalation(bigint, text),
    eai._take_due_ingest(), eai._retry_due_ingest(), eai.heal(integer), eai.requeue_batch(text, bigint),
    eai._breaker_transition(text, text, text, text, timestamptz, text), eai._breaker_admit(text, text),
    eai._breaker_record(text, text, boolean), eai.reset_breaker(text, text), eai._arm_probe_timeout(), eai._disarm_probe_timeout(),
    eai._heal_drift(bigint), eai._approve_remediation(bigint), eai._revert_remediation(bigint),
    eai._remediation_write(bigint, eai.remediations, jsonb), eai._set_column_source(bigint, text, text, text, text, text),
    eai._add_silver_column(bigint, text, text), eai._set_discard(bigint, text, text, bigint), eai._drop_silver_column(bigint, text), eai._alter_column_type(regclass, text, text),
    eai.set_drift_contract(text, text, text, text), eai.approve_remediation(bigint), eai.revert_remediation(bigint)
  FROM PUBLIC;
-- Engineers dismiss escalations (recorded with their role); readers see them.
GRANT EXECUTE ON FUNCTION eai.dismiss_escalation(bigint, text), eai.approve_remediation(bigint), eai.revert_remediation(bigint)
  TO eai_engineer;
