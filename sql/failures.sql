-- eai 0.3.0: every failure eai meets, classified, with what eai did about it (docs/healing.md).
-- One row per failure of an ingest, a promotion, a gold refresh or an LLM call; the one writer is
-- eai._record_failure, which asks eai-core's retry policy (eai._retry_decision) what to do.

CREATE TABLE eai.failures (
    failure_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    stage           text NOT NULL CHECK (stage IN ('ingest', 'promotion', 'gold_refresh', 'llm', 'embedding')),
    target          text NOT NULL,
    relid           oid,
    pipeline_id     bigint,
    batch_id        bigint,
    class           text NOT NULL CHECK (class IN ('transient', 'resource', 'schema_drift', 'bad_data', 'configuration', 'internal')),
    sqlstate        text,
    message         text NOT NULL,
    attempt         integer NOT NULL CHECK (attempt >= 1),
    action          text NOT NULL CHECK (action IN ('retry', 'dead_letter', 'none')),
    next_attempt_at timestamptz,
    note            text,
    retried_at      timestamptz,
    recorded_by     name NOT NULL,
    spool_id        uuid UNIQUE
);
CREATE INDEX ON eai.failures (occurred_at);
CREATE INDEX ON eai.failures (batch_id) WHERE stage = 'ingest';
COMMENT ON TABLE eai.failures IS 'eai: every failure of an ingest, a promotion, a gold refresh, an LLM call or an embedding, with its class, what eai did (retry at next_attempt_at, dead_letter, none) and why. Written only by eai.';
COMMENT ON COLUMN eai.failures.failure_id IS 'Identifier of the failure.';
COMMENT ON COLUMN eai.failures.occurred_at IS 'When it failed.';
COMMENT ON COLUMN eai.failures.stage IS 'ingest, promotion, gold_refresh, llm or embedding.';
COMMENT ON COLUMN eai.failures.target IS 'What failed: source.table for an ingest, the pipeline for a promotion, gold.<name> for a refresh, protocol:model for an LLM call.';
COMMENT ON COLUMN eai.failures.relid IS 'The table whose values the message may quote (bronze, gold): only roles that may read it see the row.';
COMMENT ON COLUMN eai.failures.pipeline_id IS 'Pipeline of a promotion.';
COMMENT ON COLUMN eai.failures.batch_id IS 'The ingest batch (eai.batches) or bronze batch that failed.';
COMMENT ON COLUMN eai.failures.class IS 'transient, resource, schema_drift, bad_data, configuration or internal (eai-core error_taxonomy, from the SQLSTATE or the HTTP status).';
COMMENT ON COLUMN eai.failures.sqlstate IS 'SQLSTATE of the error (NULL for an LLM answer that was not an error of the server).';
COMMENT ON COLUMN eai.failures.message IS 'The error message, secrets removed.';
COMMENT ON COLUMN eai.failures.attempt IS 'Which attempt of the same work this was: 1, 2, … (consecutive failures of the same target).';
COMMENT ON COLUMN eai.failures.action IS 'retry (tried again at next_attempt_at), dead_letter (parked until a person requeues it) or none (the stage handles it: a gold table keeps its last content, an LLM pair goes to review).';
COMMENT ON COLUMN eai.failures.next_attempt_at IS 'When eai tries again (action retry).';
COMMENT ON COLUMN eai.failures.note IS 'How the failure is handled, in words (why it is parked, what a person can do).';
COMMENT ON COLUMN eai.failures.retried_at IS 'When eai took the work again (an ingest retried by eai.heal).';
COMMENT ON COLUMN eai.failures.recorded_by IS 'Role of the session that met the failure.';
COMMENT ON COLUMN eai.failures.spool_id IS 'The failure''s spool file under $PGDATA/eai_failure_spool, for a failure whose transaction may not commit (an ingest): it is then recorded once, afterwards, by the worker or eai.heal().';

-- The one writer. p_retried: eai retries this work by itself (queued promotions, ingests), so the
-- retry policy decides; otherwise the stage handles the failure (action none, p_note says how).
-- A failure a person must see (eai._escalation_for) raises an escalation with p_hint (the
-- error's own hint) and p_to_run (what to run once the cause is fixed).
CREATE FUNCTION eai._record_failure(p_stage text, p_target text, p_relid oid, p_pipeline bigint, p_batch bigint,
                                    p_sqlstate text, p_class text, p_message text, p_attempt integer,
                                    p_retried boolean, p_note text DEFAULT NULL, p_hint text DEFAULT NULL,
                                    p_to_run text DEFAULT NULL, p_recorded_by name DEFAULT NULL, p_spool_id uuid DEFAULT NULL)
RETURNS eai.failures
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d record;
    f eai.failures;
    esc record;
BEGIN
    IF p_retried THEN
        SELECT * INTO d FROM eai._retry_decision(p_class, greatest(p_attempt, 1), random());
        IF d.action = 'dead_letter' THEN
            d.note := CASE p_stage
                WHEN 'promotion' THEN format('parked as a dead letter (%s); once fixed: SELECT * FROM eai.requeue_batch(%L, %s);',
                                             d.note, p_target, p_batch)
                WHEN 'ingest' THEN format('not retried (%s); once fixed, the next eai.ingest of the table takes it', d.note)
                ELSE format('not retried (%s)', d.note) END;
        END IF;
    ELSE
        SELECT 'none' AS action, NULL::double precision AS retry_after_s, p_note AS note INTO d;
    END IF;
    INSERT INTO eai.failures (stage, target, relid, pipeline_id, batch_id, class, sqlstate, message, attempt, action,
                              next_attempt_at, note, recorded_by, spool_id)
    VALUES (p_stage, coalesce(p_target, '?'), p_relid, p_pipeline, p_batch, p_class, p_sqlstate,
            coalesce(eai._redact(p_message), ''), greatest(p_attempt, 1), d.action,
            clock_timestamp() + make_interval(secs => d.retry_after_s), coalesce(d.note, p_note),
            coalesce(p_recorded_by, eai._session_role()), p_spool_id)
    RETURNING * INTO f;
    FOR esc IN SELECT * FROM eai._escalation_for(p_stage, p_class, f.action, f.attempt) LOOP
        PERFORM eai._escalate(esc.kind, esc.severity, p_stage, f.target,
            CASE esc.kind
                WHEN 'dead_letter' THEN format('batch %s of pipeline %s is parked as a dead letter', p_batch, f.target)
                WHEN 'not_retried' THEN format('the ingest of %s failed and is not retried by eai', f.target)
                WHEN 'configuration' THEN format('the %s of %s fails on a setting only a person can fix', replace(p_stage, '_', ' '), f.target)
                WHEN 'gold_refresh' THEN format('%s keeps its last content: its refresh failed', f.target)
                ELSE format('%s of %s failed', p_stage, f.target) END,
            format('%s (%s, SQLSTATE %s)', f.message, f.class, coalesce(f.sqlstate, 'none')),
            p_hint, format('attempt %s: %s', f.attempt, f.note), p_to_run, f.failure_id, p_pipeline,
            -- A parked batch is work of its own; an ingest's escalation is the table's, whatever the batch.
            CASE WHEN p_stage = 'promotion' THEN p_batch END, p_relid);
    END LOOP;
    RETURN f;
END
$$;
COMMENT ON FUNCTION eai._record_failure(text, text, oid, bigint, bigint, text, text, text, integer, boolean, text, text, text, name, uuid) IS 'eai (internal): record a failure and what eai does about it; the only writer of eai.failures.';

-- A failure recorded from its spool file (src/failure_spool.rs) after its transaction rolled
-- back, of a stage eai does not retry by itself (an embedding: the statement that needed it
-- failed). Ingests have their own (eai._record_ingest_failure).
CREATE FUNCTION eai._record_spooled_failure(p jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM eai._record_failure(p ->> 'stage', p ->> 'target', NULL, NULL, NULL, p ->> 'sqlstate', p ->> 'class',
                                p ->> 'message', 1, false, p ->> 'note', p ->> 'hint', NULL, p ->> 'role',
                                (p ->> 'spool_id')::uuid);
END
$$;
COMMENT ON FUNCTION eai._record_spooled_failure(jsonb) IS 'eai (internal): record a spooled failure of a stage eai does not retry (an embedding).';

-- The heal job's pick (src/healing.rs): the oldest failed ingest whose retry is due, still the
-- latest batch of its table, of a source that still exists and a role still allowed to ingest
-- (a superuser); marked as taken, so no other session retries it too.
CREATE FUNCTION eai._take_due_ingest() RETURNS TABLE (source text, table_name text, role oid, class text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE f eai.failures;
BEGIN
    SELECT x.* INTO f FROM eai.failures x
      JOIN eai.batches b ON b.batch_id = x.batch_id
      JOIN eai.source_tables st ON st.source = b.source AND st.table_name = b.table_name
      JOIN pg_roles r ON r.rolname = x.recorded_by AND r.rolsuper
     WHERE x.stage = 'ingest' AND x.action = 'retry' AND x.retried_at IS NULL AND x.next_attempt_at <= clock_timestamp()
       AND b.status = 'failed'
       AND NOT EXISTS (SELECT 1 FROM eai.batches y WHERE y.source = b.source AND y.table_name = b.table_name AND y.batch_id > b.batch_id
                          AND y.status <> 'skipped')
       -- Not while the source's circuit breaker refuses work (it is retried once the breaker
       -- lets a probe through).
       AND NOT EXISTS (SELECT 1 FROM eai.breakers br WHERE br.scope = 'source' AND br.target = b.source
                          AND (br.state = 'half_open' OR (br.state = 'open' AND br.probe_at > clock_timestamp())))
     ORDER BY x.next_attempt_at
     LIMIT 1 FOR UPDATE OF x SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE eai.failures x SET retried_at = clock_timestamp() WHERE x.failure_id = f.failure_id;
    RETURN QUERY SELECT b.source, b.table_name, r.oid, f.class FROM eai.batches b, pg_roles r
                  WHERE b.batch_id = f.batch_id AND r.rolname = f.recorded_by;
END
$$;
COMMENT ON FUNCTION eai._take_due_ingest() IS 'eai (internal): the next failed ingest whose retry is due, taken (retried_at) so that it is retried once.';
