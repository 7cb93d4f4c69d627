-- eai 0.3.0: escalations, what eai hands to a person (docs/healing.md): what failed, why, the hint,
-- what eai already tried and what to run. eai raises them (eai._escalate: a dead letter, an
-- ingest not retried, a configuration failure, a gold refresh that failed, a paused source) and
-- closes them once the work succeeds again (eai._resolve_escalations); a person dismisses one
-- with eai.dismiss_escalation. An escalation joins the open incident of its table; high ones are
-- announced with NOTIFY eai_incident.

CREATE TABLE eai.escalations (
    escalation_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    raised_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    kind            text NOT NULL CHECK (kind IN ('dead_letter', 'not_retried', 'configuration', 'gold_refresh', 'breaker_open',
                                                  'schema_drift', 'remediation_failed')),
    severity        text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    stage           text NOT NULL,
    target          text NOT NULL,
    what            text NOT NULL,
    why             text NOT NULL,
    hint            text,
    tried           text,
    to_run          text,
    occurrences     integer NOT NULL DEFAULT 1,
    failure_id      bigint,
    pipeline_id     bigint,
    batch_id        bigint,
    relid           oid,
    remediation_id  bigint,
    incident_id     bigint,
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'dismissed')),
    closed_at       timestamptz,
    closed_by       name,
    resolution      text,
    notified_at     timestamptz
);
CREATE UNIQUE INDEX escalations_one_open ON eai.escalations (kind, target, coalesce(batch_id, 0), coalesce(remediation_id, 0)) WHERE status = 'open';
COMMENT ON TABLE eai.escalations IS 'eai: what needs a person: what failed, why, the hint, what eai already tried and what to run. Closed by eai when the work succeeds again, or dismissed (eai.dismiss_escalation).';
COMMENT ON COLUMN eai.escalations.escalation_id IS 'Identifier (eai.dismiss_escalation takes it).';
COMMENT ON COLUMN eai.escalations.raised_at IS 'When it was raised.';
COMMENT ON COLUMN eai.escalations.updated_at IS 'When it last happened again.';
COMMENT ON COLUMN eai.escalations.kind IS 'dead_letter (a batch parked), not_retried (an ingest eai does not retry), configuration (a setting a person must fix; eai keeps retrying slowly), gold_refresh (a gold table keeps its last content), breaker_open (a source is paused), schema_drift (a schema change to approve or to know of), remediation_failed (a heal the canary reverted).';
COMMENT ON COLUMN eai.escalations.severity IS 'low, medium or high (high ones are sent with NOTIFY eai_incident).';
COMMENT ON COLUMN eai.escalations.stage IS 'ingest, promotion, gold_refresh or source.';
COMMENT ON COLUMN eai.escalations.target IS 'What failed: source.table, the pipeline, gold.<name>, the source.';
COMMENT ON COLUMN eai.escalations.what IS 'What happened, in words.';
COMMENT ON COLUMN eai.escalations.why IS 'The error (secrets removed), with its class and SQLSTATE.';
COMMENT ON COLUMN eai.escalations.hint IS 'What to look at.';
COMMENT ON COLUMN eai.escalations.tried IS 'What eai already did about it.';
COMMENT ON COLUMN eai.escalations.to_run IS 'What to run once the cause is fixed.';
COMMENT ON COLUMN eai.escalations.occurrences IS 'How many times it happened while open.';
COMMENT ON COLUMN eai.escalations.failure_id IS 'The latest failure (eai.failures) behind it.';
COMMENT ON COLUMN eai.escalations.pipeline_id IS 'Pipeline, for a promotion.';
COMMENT ON COLUMN eai.escalations.batch_id IS 'The batch, for a dead letter or an ingest.';
COMMENT ON COLUMN eai.escalations.relid IS 'The table whose values the text may quote: only roles that may read it see the row.';
COMMENT ON COLUMN eai.escalations.remediation_id IS 'The remediation it is about (a proposal to approve, a heal the canary reverted).';
COMMENT ON COLUMN eai.escalations.incident_id IS 'The open incident of the same table it joined (eai.incidents), if any.';
COMMENT ON COLUMN eai.escalations.status IS 'open, resolved (the work succeeded again) or dismissed (by a person).';
COMMENT ON COLUMN eai.escalations.closed_at IS 'When it was resolved or dismissed.';
COMMENT ON COLUMN eai.escalations.closed_by IS 'Role that resolved or dismissed it.';
COMMENT ON COLUMN eai.escalations.resolution IS 'How it ended, in words.';
COMMENT ON COLUMN eai.escalations.notified_at IS 'When NOTIFY eai_incident announced it (high only; once).';

-- Raise (or, while one is open for the same kind, target and batch, count again) an escalation.
CREATE FUNCTION eai._escalate(p_kind text, p_severity text, p_stage text, p_target text, p_what text, p_why text,
                              p_hint text, p_tried text, p_to_run text, p_failure bigint, p_pipeline bigint,
                              p_batch bigint, p_relid oid, p_remediation bigint DEFAULT NULL)
RETURNS eai.escalations
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e eai.escalations;
    v_tables text[];
BEGIN
    UPDATE eai.escalations x SET occurrences = x.occurrences + 1, updated_at = clock_timestamp(), why = p_why,
                                 tried = coalesce(p_tried, x.tried), failure_id = coalesce(p_failure, x.failure_id)
     WHERE x.status = 'open' AND x.kind = p_kind AND x.target = p_target AND coalesce(x.batch_id, 0) = coalesce(p_batch, 0)
       AND coalesce(x.remediation_id, 0) = coalesce(p_remediation, 0)
    RETURNING * INTO e;
    IF FOUND THEN
        RETURN e;
    END IF;
    -- The open incident of its table (the bronze table, or the pipeline's silver table).
    v_tables := array_remove(ARRAY[(SELECT p_relid::regclass::text WHERE to_regclass(p_relid::regclass::text) IS NOT NULL),
                                   (SELECT p.target_relid::regclass::text FROM eai.pipelines p
                                     WHERE p.pipeline_id = p_pipeline AND to_regclass(p.target_table) IS NOT NULL)], NULL);
    INSERT INTO eai.escalations (kind, severity, stage, target, what, why, hint, tried, to_run, failure_id, pipeline_id,
                                 batch_id, relid, remediation_id, incident_id)
    VALUES (p_kind, p_severity, p_stage, p_target, p_what, coalesce(p_why, ''), p_hint, p_tried, p_to_run, p_failure, p_pipeline,
            p_batch, p_relid, p_remediation,
            (SELECT i.incident_id FROM eai.incidents i
              WHERE i.tables && v_tables
                AND i.updated_at >= clock_timestamp() - current_setting('eai.incident_window')::interval
              ORDER BY i.updated_at DESC LIMIT 1))
    RETURNING * INTO e;
    IF e.severity = 'high' THEN
        PERFORM pg_notify('eai_incident', json_build_object(
            'escalation_id', e.escalation_id, 'kind', e.kind, 'severity', e.severity, 'target', left(e.target, 200),
            'what', left(e.what, 500), 'incident_id', e.incident_id)::text);
        UPDATE eai.escalations x SET notified_at = clock_timestamp() WHERE x.escalation_id = e.escalation_id RETURNING * INTO e;
    END IF;
    RETURN e;
END
$$;
COMMENT ON FUNCTION eai._escalate(text, text, text, text, text, text, text, text, text, bigint, bigint, bigint, oid, bigint) IS 'eai (internal): raise an escalation, or count it again while open; the writer of new escalations.';

-- Close the open escalations of some work that succeeded again (or that a person dismissed).
CREATE FUNCTION eai._resolve_escalations(p_kinds text[], p_target text, p_batch bigint, p_status text, p_resolution text,
                                         p_remediation bigint DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE n integer;
BEGIN
    UPDATE eai.escalations x SET status = p_status, closed_at = clock_timestamp(), closed_by = eai._session_role(),
                                 resolution = p_resolution, updated_at = clock_timestamp()
     WHERE x.status = 'open' AND x.kind = ANY (p_kinds) AND x.target = p_target
       AND (p_batch IS NULL OR x.batch_id = p_batch) AND (p_remediation IS NULL OR x.remediation_id = p_remediation);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION eai._resolve_escalations(text[], text, bigint, text, text, bigint) IS 'eai (internal): close the open escalations of work that succeeded again; the writer of their ends.';

-- A person's word that an escalation needs nothing more (logged with the role). Engineers may
-- dismiss; readers see.
CREATE FUNCTION eai.dismiss_escalation(id bigint, reason text DEFAULT NULL) RETURNS eai.escalations
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE e eai.escalations;
BEGIN
    SELECT * INTO e FROM eai.escalations x WHERE x.escalation_id = id;
    IF NOT FOUND OR (e.relid IS NOT NULL AND NOT coalesce(has_table_privilege(eai._session_role(), e.relid, 'SELECT'), false)) THEN
        RAISE EXCEPTION 'eai: escalation % does not exist', id USING ERRCODE = '42704',
            HINT = 'SELECT escalation_id, kind, target, what FROM eai.escalations WHERE status = ''open''; lists the open ones.';
    END IF;
    IF e.status <> 'open' THEN
        RAISE EXCEPTION 'eai: escalation % is already %', id, e.status USING ERRCODE = '55000',
            HINT = format('It was closed by %s: %s', e.closed_by, e.resolution);
    END IF;
    UPDATE eai.escalations x SET status = 'dismissed', closed_at = clock_timestamp(), closed_by = eai._session_role(),
                                 resolution = coalesce('dismissed: ' || nullif(reason, ''), 'dismissed'), updated_at = clock_timestamp()
     WHERE x.escalation_id = id RETURNING * INTO e;
    RETURN e;
END
$$;
COMMENT ON FUNCTION eai.dismiss_escalation(bigint, text) IS 'eai: close an open escalation that needs nothing more, with why; recorded with your role.';
