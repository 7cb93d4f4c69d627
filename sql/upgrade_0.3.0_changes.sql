-- Changes 0.3.0 makes to objects of earlier versions' files (sql/api.sql): only in the upgrade
-- script (scripts/upgrade_0.3.0.sh); a fresh install has them from the files themselves.
ALTER FUNCTION eai.add_source(text, text, name, jsonb) SET log_min_error_statement = panic;
-- The LLM ledger: one row per attempt, cancelled calls included (sql/llm.sql).
ALTER TABLE eai.llm_calls ADD COLUMN call_uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
                          ADD COLUMN attempt integer NOT NULL DEFAULT 1,
                          DROP CONSTRAINT llm_calls_outcome_check,
                          ADD CONSTRAINT llm_calls_outcome_check CHECK (outcome IN ('ok', 'unreachable', 'refused', 'invalid_answer', 'hallucinated', 'cancelled'));
COMMENT ON COLUMN eai.llm_calls.call_uuid IS 'Identifier of the call attempt: the ledger''s spool file under $PGDATA/eai_llm_ledger carries it, so a call whose transaction was rolled back (cancelled, timed out) is recorded once, afterwards.';
COMMENT ON COLUMN eai.llm_calls.attempt IS 'Attempt of the call: 1, then 2, … after transient failures (eai.llm_max_attempts, eai.llm_retry_budget_ms, Retry-After).';
COMMENT ON COLUMN eai.llm_calls.outcome IS 'ok, unreachable (transient), refused (4xx, or a model without a price for a role that is not superuser), invalid_answer (not the JSON asked for), hallucinated (a column that is not a candidate) or cancelled (the statement was cancelled or timed out during the call).';
COMMENT ON COLUMN eai.llm_calls.called_by IS 'Role whose statement made the call (its cost is on this role''s name).';
COMMENT ON COLUMN eai.batches.error_class IS 'transient, resource, schema_drift, bad_data, configuration or internal (eai-core error_taxonomy).';
-- Self-healing (sql/failures.sql, sql/breakers.sql): the endpoint of each LLM call (its circuit
-- breaker's target) and the batches a paused source skipped.
ALTER TABLE eai.llm_calls ADD COLUMN endpoint text;
COMMENT ON COLUMN eai.llm_calls.endpoint IS 'Origin of the endpoint called (scheme://host:port; never a path, a user or a key): its circuit breaker''s target.';
ALTER TABLE eai.batches DROP CONSTRAINT batches_status_check,
                        ADD CONSTRAINT batches_status_check CHECK (status IN ('running', 'succeeded', 'failed', 'skipped'));
COMMENT ON COLUMN eai.batches.status IS 'running, succeeded, failed, or skipped (its source was paused by its circuit breaker: nothing was read).';

-- Mapping decisions settle the schema-drift proposals they stand for (docs/healing.md).
CREATE OR REPLACE FUNCTION eai.approve_mapping(id bigint) RETURNS eai.mappings
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE m eai.mappings := eai._mapping_or_raise(id);
BEGIN
    IF m.target_column IS NULL THEN
        RAISE EXCEPTION 'eai: mapping % proposes a new column; there is no target to approve', id USING ERRCODE = '22023',
            HINT = 'Map it to an existing column with eai.override_mapping(id, target_column).';
    END IF;
    m := eai._record_decision(id, 'approved', m.target_column, NULL, current_user);
    -- A rename or a new column's match that a drift heal proposed is applied now.
    PERFORM eai._settle_drift_mapping(id, 'approved');
    RETURN m;
END
$$;

CREATE OR REPLACE FUNCTION eai.reject_mapping(id bigint, reason text) RETURNS eai.mappings
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE m eai.mappings := eai._mapping_or_raise(id);
BEGIN
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'eai: say why mapping % is rejected', id USING ERRCODE = '22023',
            HINT = 'SELECT eai.reject_mapping(42, ''different meaning: billing vs shipping address'');';
    END IF;
    m := eai._record_decision(id, 'rejected', m.target_column, reason, current_user);
    PERFORM eai._settle_drift_mapping(id, 'rejected');
    RETURN m;
END
$$;

CREATE OR REPLACE FUNCTION eai.override_mapping(id bigint, target_column text) RETURNS eai.mappings
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    m eai.mappings := eai._mapping_or_raise(id);
    r eai.mapping_runs;
BEGIN
    SELECT * INTO STRICT r FROM eai.mapping_runs x WHERE x.run_id = m.run_id;
    IF EXISTS (SELECT 1 FROM eai.remediations x WHERE x.status = 'proposed' AND x.columns ->> 'mapping_id' = id::text) THEN
        RAISE EXCEPTION 'eai: mapping % is a schema-drift proposal for silver column %; it is approved or rejected as it is',
                        id, quote_ident(m.target_column) USING ERRCODE = '22023',
            HINT = 'SELECT eai.approve_mapping(id) or eai.reject_mapping(id, reason); to feed another column, reject it and map it with eai.map_schema.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = r.target_relid AND a.attname = target_column
                      AND a.attnum > 0 AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'eai: % has no column %', r.target_table, quote_ident(target_column) USING ERRCODE = '42703',
            HINT = format('Its columns: %s', (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
                                                FROM pg_attribute a WHERE a.attrelid = r.target_relid
                                                 AND a.attnum > 0 AND NOT a.attisdropped));
    END IF;
    RETURN eai._record_decision(id, 'approved', target_column, 'overridden', current_user);
END
$$;
