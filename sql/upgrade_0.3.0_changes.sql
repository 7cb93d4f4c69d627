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
