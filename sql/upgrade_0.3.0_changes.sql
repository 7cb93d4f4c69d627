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
