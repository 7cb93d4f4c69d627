-- eai 0.3.0: schema drift healed under a contract, every action reversible and explained
-- (docs/healing.md). The decisions are eai-core's (schema_drift.rs) through src/drift/; these
-- are the tables and their small writers.

CREATE TABLE eai.drift_contracts (
    pipeline_id     bigint NOT NULL REFERENCES eai.pipelines ON DELETE CASCADE,
    change          text NOT NULL CHECK (change IN ('new_column', 'renamed_column', 'removed_column', 'widened_type', 'narrowed_type')),
    policy          text NOT NULL CHECK (policy IN ('evolve', 'freeze', 'discard_row', 'discard_value')),
    apply           text NOT NULL CHECK (apply IN ('auto', 'approve', 'never')),
    set_by          name NOT NULL,
    set_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (pipeline_id, change)
);
COMMENT ON TABLE eai.drift_contracts IS 'eai: a pipeline''s contract for schema changes at its source, where it differs from the default (eai.drift_contract shows the contract in force).';
COMMENT ON COLUMN eai.drift_contracts.pipeline_id IS 'Pipeline.';
COMMENT ON COLUMN eai.drift_contracts.change IS 'new_column, renamed_column, removed_column, widened_type or narrowed_type.';
COMMENT ON COLUMN eai.drift_contracts.policy IS 'evolve (silver follows), freeze (silver stays; new values stay in _eai_extra), discard_row, discard_value.';
COMMENT ON COLUMN eai.drift_contracts.apply IS 'auto (eai applies it, within the safeguards), approve (eai proposes, a person approves) or never (recorded only).';
COMMENT ON COLUMN eai.drift_contracts.set_by IS 'Role that set it.';
COMMENT ON COLUMN eai.drift_contracts.set_at IS 'When.';

CREATE FUNCTION eai.set_drift_contract(pipeline text, change text, policy text, apply text DEFAULT 'auto')
RETURNS eai.drift_contracts
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    p eai.pipelines := eai._pipeline_or_raise(pipeline);
    c eai.drift_contracts;
BEGIN
    IF change IS NULL OR change NOT IN ('new_column', 'renamed_column', 'removed_column', 'widened_type', 'narrowed_type') THEN
        RAISE EXCEPTION 'eai: % is not a kind of schema change', coalesce(quote_literal(change), 'NULL') USING ERRCODE = '22023',
            HINT = 'Kinds: new_column, renamed_column, removed_column, widened_type, narrowed_type.';
    END IF;
    IF policy IS NULL OR policy NOT IN ('evolve', 'freeze', 'discard_row', 'discard_value') THEN
        RAISE EXCEPTION 'eai: % is not a drift policy', coalesce(quote_literal(policy), 'NULL') USING ERRCODE = '22023',
            HINT = 'Policies: evolve, freeze, discard_row, discard_value.';
    END IF;
    IF apply IS NULL OR apply NOT IN ('auto', 'approve', 'never') THEN
        RAISE EXCEPTION 'eai: % is not a way to apply a change', coalesce(quote_literal(apply), 'NULL') USING ERRCODE = '22023',
            HINT = 'auto, approve or never.';
    END IF;
    INSERT INTO eai.drift_contracts AS x (pipeline_id, change, policy, apply, set_by)
    VALUES (p.pipeline_id, change, policy, apply, eai._session_role())
    ON CONFLICT ON CONSTRAINT drift_contracts_pkey DO UPDATE SET policy = excluded.policy, apply = excluded.apply,
                                                     set_by = excluded.set_by, set_at = clock_timestamp()
    RETURNING * INTO c;
    RETURN c;
END
$$;
COMMENT ON FUNCTION eai.set_drift_contract(text, text, text, text) IS 'eai: set what a pipeline does with one kind of schema change at its source (policy evolve, freeze, discard_row or discard_value; apply auto, approve or never).';

CREATE VIEW eai.drift_contract AS
SELECT p.name AS pipeline, k.change, coalesce(c.policy, d.policy) AS policy, coalesce(c.apply, d.apply) AS apply,
       c.pipeline_id IS NULL AS is_default, c.set_by, c.set_at
  FROM eai.pipelines p
 CROSS JOIN unnest(ARRAY['new_column', 'renamed_column', 'removed_column', 'widened_type', 'narrowed_type']) AS k(change)
 CROSS JOIN LATERAL eai._default_drift_contract(k.change) d
  LEFT JOIN eai.drift_contracts c ON c.pipeline_id = p.pipeline_id AND c.change = k.change;
COMMENT ON VIEW eai.drift_contract IS 'eai: the contract in force per pipeline and kind of schema change (the default where none was set).';
COMMENT ON COLUMN eai.drift_contract.pipeline IS 'Pipeline.';
COMMENT ON COLUMN eai.drift_contract.change IS 'Kind of change.';
COMMENT ON COLUMN eai.drift_contract.policy IS 'evolve, freeze, discard_row or discard_value.';
COMMENT ON COLUMN eai.drift_contract.apply IS 'auto, approve or never.';
COMMENT ON COLUMN eai.drift_contract.is_default IS 'Whether it is eai''s default (no eai.set_drift_contract for it).';
COMMENT ON COLUMN eai.drift_contract.set_by IS 'Role that set it.';
COMMENT ON COLUMN eai.drift_contract.set_at IS 'When.';

CREATE TABLE eai.remediations (
    remediation_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    pipeline_id     bigint NOT NULL,
    pipeline        text NOT NULL,
    change          text NOT NULL,
    action          text NOT NULL CHECK (action IN ('map_column', 'remap_column', 'add_column', 'flag_removed_column', 'widen_column', 'keep_type',
                                                'discard_rows', 'discard_values')),
    columns         jsonb NOT NULL,
    evidence        jsonb NOT NULL DEFAULT '{}',
    before          jsonb,
    after           jsonb,
    undo            text,
    status          text NOT NULL CHECK (status IN ('proposed', 'applied', 'recorded', 'reverted', 'rejected', 'failed')),
    decided_by      text,
    reason          text NOT NULL,
    applied_at      timestamptz,
    after_promotion bigint,
    canary          text CHECK (canary IN ('pending', 'passed', 'failed')),
    canary_detail   text,
    reverted_at     timestamptz,
    reverted_by     text,
    escalation_id   bigint,
    relid           oid
);
CREATE INDEX ON eai.remediations (pipeline_id, remediation_id);
COMMENT ON TABLE eai.remediations IS 'eai: every action eai took or proposed on a schema change: what changed, the action, the evidence, the state before and after, the undo, who approved it, and its outcome (the canary). eai.revert_remediation restores the state before.';
COMMENT ON COLUMN eai.remediations.remediation_id IS 'Identifier (eai.approve_remediation, eai.revert_remediation take it).';
COMMENT ON COLUMN eai.remediations.created_at IS 'When the change was found.';
COMMENT ON COLUMN eai.remediations.pipeline_id IS 'Pipeline.';
COMMENT ON COLUMN eai.remediations.pipeline IS 'Pipeline name.';
COMMENT ON COLUMN eai.remediations.change IS 'new_column, renamed_column, removed_column, widened_type or narrowed_type.';
COMMENT ON COLUMN eai.remediations.action IS 'map_column (a new bronze column feeds an unmapped silver column), remap_column (a renamed column feeds the silver column the old name fed), add_column (a new silver column), flag_removed_column, widen_column (bronze and silver follow a wider type), keep_type (a narrower type: silver keeps its own), discard_rows (a discard_row contract: rows with a value in the new column go to quarantine), discard_values (a discard_value contract: its values are left out of silver; bronze keeps them).';
COMMENT ON COLUMN eai.remediations.columns IS 'The columns involved: bronze (new name), old_bronze (old name), silver, from_type, to_type.';
COMMENT ON COLUMN eai.remediations.evidence IS 'Why eai thinks so: the signals (name embedding, letters, values, distribution, type) and the confidence.';
COMMENT ON COLUMN eai.remediations.before IS 'The state before: which bronze column fed the silver column, its mapping version, the column types.';
COMMENT ON COLUMN eai.remediations.after IS 'The state after, once applied (and the rows filled from bronze).';
COMMENT ON COLUMN eai.remediations.undo IS 'What eai.revert_remediation does, in words.';
COMMENT ON COLUMN eai.remediations.status IS 'proposed (waits for eai.approve_remediation), applied, recorded (nothing to change, or the contract says not to), reverted, rejected, failed.';
COMMENT ON COLUMN eai.remediations.decided_by IS 'Who approved it: eai (auto, with the confidence) or a role.';
COMMENT ON COLUMN eai.remediations.reason IS 'Why it was applied, proposed or only recorded.';
COMMENT ON COLUMN eai.remediations.applied_at IS 'When it was applied.';
COMMENT ON COLUMN eai.remediations.after_promotion IS 'The pipeline''s last promotion when it was applied: the canary judges the first one after it.';
COMMENT ON COLUMN eai.remediations.canary IS 'pending, passed or failed (then reverted by itself and escalated).';
COMMENT ON COLUMN eai.remediations.canary_detail IS 'What the canary measured: the share of quarantined rows and the quality score, before and after.';
COMMENT ON COLUMN eai.remediations.reverted_at IS 'When it was reverted.';
COMMENT ON COLUMN eai.remediations.reverted_by IS 'Who reverted it: a role, or eai (canary).';
COMMENT ON COLUMN eai.remediations.escalation_id IS 'The escalation raised for it (a proposal, a removed key, a failed canary).';
COMMENT ON COLUMN eai.remediations.relid IS 'The bronze table whose values the evidence may quote: only roles that may read it see the row.';

-- The writer of remediations: a new one (p_id NULL) or a change of an existing one (the keys of
-- p_set: status, after, decided_by, reason, applied_at, after_promotion, canary, canary_detail,
-- reverted_at, reverted_by, escalation_id, before, undo).
CREATE FUNCTION eai._remediation_write(p_id bigint, p_new eai.remediations, p_set jsonb DEFAULT '{}')
RETURNS eai.remediations
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE r eai.remediations;
BEGIN
    IF p_id IS NULL THEN
        INSERT INTO eai.remediations (pipeline_id, pipeline, change, action, columns, evidence, before, after, undo, status,
                                      decided_by, reason, relid)
        VALUES (p_new.pipeline_id, p_new.pipeline, p_new.change, p_new.action, p_new.columns, coalesce(p_new.evidence, '{}'),
                p_new.before, p_new.after, p_new.undo, p_new.status, p_new.decided_by, p_new.reason, p_new.relid)
        RETURNING * INTO r;
        RETURN r;
    END IF;
    UPDATE eai.remediations x SET
        status          = coalesce(p_set ->> 'status', x.status),
        after           = CASE WHEN p_set ? 'after' THEN p_set -> 'after' ELSE x.after END,
        before          = CASE WHEN p_set ? 'before' THEN p_set -> 'before' ELSE x.before END,
        undo            = CASE WHEN p_set ? 'undo' THEN p_set ->> 'undo' ELSE x.undo END,
        decided_by      = CASE WHEN p_set ? 'decided_by' THEN p_set ->> 'decided_by' ELSE x.decided_by END,
        reason          = coalesce(p_set ->> 'reason', x.reason),
        applied_at      = CASE WHEN p_set ? 'applied' THEN clock_timestamp() ELSE x.applied_at END,
        after_promotion = CASE WHEN p_set ? 'after_promotion' THEN (p_set ->> 'after_promotion')::bigint ELSE x.after_promotion END,
        canary          = CASE WHEN p_set ? 'canary' THEN p_set ->> 'canary' ELSE x.canary END,
        canary_detail   = CASE WHEN p_set ? 'canary_detail' THEN p_set ->> 'canary_detail' ELSE x.canary_detail END,
        reverted_at     = CASE WHEN p_set ? 'reverted_by' THEN clock_timestamp() ELSE x.reverted_at END,
        reverted_by     = CASE WHEN p_set ? 'reverted_by' THEN p_set ->> 'reverted_by' ELSE x.reverted_by END,
        escalation_id   = CASE WHEN p_set ? 'escalation_id' THEN (p_set ->> 'escalation_id')::bigint ELSE x.escalation_id END
     WHERE x.remediation_id = p_id RETURNING * INTO r;
    RETURN r;
END
$$;
COMMENT ON FUNCTION eai._remediation_write(bigint, eai.remediations, jsonb) IS 'eai (internal): the one writer of eai.remediations.';

-- Which bronze column feeds a silver column: a new mapping version of the pipeline (every
-- column's decision carried over, this one decided by p_decided_by), then the silver rows whose
-- bronze row has a value in p_rows_with are rewritten: the silver column from p_to (cast safely;
-- NULL when p_to is NULL), and p_rows_with's value moved out of (or back into) _eai_extra. Rows
-- are found through _eai_row (the bronze row hash), so nothing is promoted twice.
CREATE FUNCTION eai._set_column_source(p_pipeline bigint, p_silver text, p_to text, p_rows_with text, p_decided_by text, p_reason text)
RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p eai.pipelines;
    v_run eai.mapping_runs;
    v_type text;
    v_before jsonb;
    n bigint;
BEGIN
    SELECT * INTO STRICT p FROM eai.pipelines x WHERE x.pipeline_id = p_pipeline;
    SELECT jsonb_build_object('source_column', pc.source_column, 'mapping_id', pc.mapping_id, 'run_id', p.run_id)
      INTO STRICT v_before FROM eai.pipeline_columns pc WHERE pc.pipeline_id = p_pipeline AND pc.target_column = p_silver;
    SELECT format_type(a.atttypid, a.atttypmod) INTO STRICT v_type FROM pg_attribute a
     WHERE a.attrelid = p.target_relid AND a.attname = p_silver AND NOT a.attisdropped;
    INSERT INTO eai.mapping_runs (source_relid, source_table, target_relid, target_table, version, one_to_many)
    VALUES (p.source_relid, p.source_table, p.target_relid, p.target_table,
            coalesce((SELECT max(r.version) FROM eai.mapping_runs r WHERE r.source_table = p.source_table AND r.target_table = p.target_table), 0) + 1,
            false) RETURNING * INTO v_run;
    INSERT INTO eai.mappings (run_id, source_column, target_column, proposed_target, score, confidence, band, status,
                              signals, candidates, reason, decided_by, decided_at)
    SELECT v_run.run_id, coalesce(CASE WHEN pc.target_column = p_silver THEN p_to ELSE pc.source_column END, ''),
           pc.target_column, pc.target_column, coalesce(m.score, 1), coalesce(m.confidence, 1), coalesce(m.band, 'auto_approved'),
           'approved', coalesce(m.signals, '{}'), coalesce(m.candidates, '[]'),
           CASE WHEN pc.target_column = p_silver THEN p_reason ELSE coalesce(m.reason, 'carried over') END,
           CASE WHEN pc.target_column = p_silver THEN p_decided_by ELSE coalesce(m.decided_by, 'eai:carried over') END, now()
      FROM eai.pipeline_columns pc LEFT JOIN eai.mappings m ON m.mapping_id = pc.mapping_id
     WHERE pc.pipeline_id = p_pipeline
       AND coalesce(CASE WHEN pc.target_column = p_silver THEN p_to ELSE pc.source_column END, '') <> '';
    UPDATE eai.pipeline_columns pc
       SET source_column = CASE WHEN pc.target_column = p_silver THEN p_to ELSE pc.source_column END,
           mapping_id = (SELECT m.mapping_id FROM eai.mappings m WHERE m.run_id = v_run.run_id AND m.target_column = pc.target_column)
     WHERE pc.pipeline_id = p_pipeline;
    UPDATE eai.pipelines x SET run_id = v_run.run_id WHERE x.pipeline_id = p_pipeline;
    -- safe: identifiers quoted with %I, the type is format_type's, the values are bronze's.
    EXECUTE format(
        'UPDATE %1$s AS s SET %2$I = %3$s, '
        '_eai_extra = CASE WHEN %4$L::text IS DISTINCT FROM %5$L::text THEN coalesce(s._eai_extra, ''{}'') || jsonb_build_object(%6$L, b.%6$I::text) '
        '                  ELSE nullif(coalesce(s._eai_extra, ''{}'') - %6$L, ''{}'') END '
        'FROM %7$s AS b WHERE b._eai_row_hash = s._eai_row AND b.%6$I IS NOT NULL',
        p.target_relid::regclass, p_silver,
        CASE WHEN p_to IS NULL THEN 'NULL' ELSE format('eai._try_cast(b.%I::text, %L::regtype)::%s', p_to, v_type, v_type) END,
        p_to, p_rows_with, p_rows_with, p.source_relid::regclass);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN jsonb_build_object('before', v_before, 'run_id', v_run.run_id, 'rows_rewritten', n, 'source_column', p_to);
END
$$;
COMMENT ON FUNCTION eai._set_column_source(bigint, text, text, text, text, text) IS 'eai (internal): make a bronze column (or none) feed a silver column, as a new mapping version, and rewrite the silver rows it concerns from bronze.';

-- A drift heal that waits for a person (a rename or a new column's match, proposed) is also a
-- pending mapping, where reviewers look for mapping decisions: a row of eai.mappings in the
-- pipeline's current mapping version, status pending, with the signals. Deciding it there
-- (eai.approve_mapping, eai.reject_mapping) settles the remediation (eai._settle_drift_mapping).
CREATE FUNCTION eai._propose_mapping(p_pipeline bigint, p_source text, p_target text, p_confidence double precision,
                                     p_signals jsonb, p_reason text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p eai.pipelines;
    v_id bigint;
BEGIN
    SELECT * INTO STRICT p FROM eai.pipelines x WHERE x.pipeline_id = p_pipeline;
    INSERT INTO eai.mappings (run_id, source_column, target_column, proposed_target, score, confidence, band, status,
                              signals, candidates, reason)
    VALUES (p.run_id, p_source, p_target, p_target, coalesce(p_confidence, 0), coalesce(p_confidence, 0), 'review', 'pending',
            coalesce(p_signals, '{}'), '[]', 'schema drift: ' || p_reason)
    RETURNING mapping_id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION eai._propose_mapping(bigint, text, text, double precision, jsonb, text) IS 'eai (internal): list a proposed drift heal (a rename, a new column''s match) in eai.pending_mappings.';

-- A decision on a pending mapping that a drift heal proposed: approved, the remediation is
-- applied in the decider's name (an engineer's call: it changes the pipeline); rejected, it is
-- rejected and its escalation dismissed. Nothing for any other mapping.
CREATE FUNCTION eai._settle_drift_mapping(p_mapping bigint, p_status text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE r eai.remediations;
BEGIN
    SELECT * INTO r FROM eai.remediations x
     WHERE x.status = 'proposed' AND x.columns ->> 'mapping_id' = p_mapping::text;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF p_status = 'approved' THEN
        PERFORM eai._approve_remediation(r.remediation_id);
        RETURN;
    END IF;
    IF NOT (pg_has_role(eai._session_role(), 'eai_engineer', 'MEMBER')
            OR coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = eai._session_role()), false)) THEN
        RAISE EXCEPTION 'eai: only superusers and members of eai_engineer may reject remediations (mapping % is remediation %)',
                        p_mapping, r.remediation_id USING ERRCODE = '42501';
    END IF;
    PERFORM eai._remediation_write(r.remediation_id, NULL,
        jsonb_build_object('status', 'rejected', 'reason', format('mapping %s rejected by %s', p_mapping, eai._session_role())));
    PERFORM eai._resolve_escalations(ARRAY['schema_drift'], r.pipeline, NULL, 'dismissed',
                                     format('mapping %s rejected by %s', p_mapping, eai._session_role()), r.remediation_id);
END
$$;
COMMENT ON FUNCTION eai._settle_drift_mapping(bigint, text) IS 'eai (internal): apply or reject the drift remediation a pending mapping stands for.';

-- What a discard_row or discard_value contract applied to a new or renamed column: from the next
-- promotion on, rows with a value in that bronze column go to quarantine (row), or its values are
-- left out of silver's _eai_extra (value). Bronze keeps every value either way.
CREATE TABLE eai.pipeline_discards (
    pipeline_id    bigint NOT NULL REFERENCES eai.pipelines ON DELETE CASCADE,
    bronze_column  text NOT NULL,
    mode           text NOT NULL CHECK (mode IN ('row', 'value')),
    remediation_id bigint,
    set_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (pipeline_id, bronze_column)
);
COMMENT ON TABLE eai.pipeline_discards IS 'eai: bronze columns a pipeline''s schema-drift contract discards (discard_row: their rows go to quarantine; discard_value: their values stay out of silver). Written only by eai (a remediation, and its revert).';
COMMENT ON COLUMN eai.pipeline_discards.pipeline_id IS 'Pipeline.';
COMMENT ON COLUMN eai.pipeline_discards.bronze_column IS 'The bronze column (a new or renamed source column).';
COMMENT ON COLUMN eai.pipeline_discards.mode IS 'row (rows with a value in it are quarantined) or value (its values are left out of silver).';
COMMENT ON COLUMN eai.pipeline_discards.remediation_id IS 'The remediation that set it (eai.remediations).';
COMMENT ON COLUMN eai.pipeline_discards.set_at IS 'When.';

-- The one writer: p_mode 'row' or 'value' sets it, NULL removes it (a revert). Discarding values
-- also takes them out of the silver rows already promoted (bronze keeps them); removing that
-- discard puts them back from bronze.
CREATE FUNCTION eai._set_discard(p_pipeline bigint, p_column text, p_mode text, p_remediation bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p eai.pipelines;
    v_was text;
BEGIN
    SELECT * INTO STRICT p FROM eai.pipelines x WHERE x.pipeline_id = p_pipeline;
    SELECT d.mode INTO v_was FROM eai.pipeline_discards d WHERE d.pipeline_id = p_pipeline AND d.bronze_column = p_column;
    IF p_mode = 'value' THEN
        -- safe: the table is a regclass, the key a literal (%L).
        EXECUTE format('UPDATE %s SET _eai_extra = nullif(_eai_extra - %L, ''{}'') WHERE _eai_extra ? %L',
                       p.target_relid::regclass, p_column, p_column);
    ELSIF p_mode IS NULL AND v_was = 'value' AND to_regclass(p.source_table) IS NOT NULL THEN
        -- safe: tables as regclass, the column with %I, the key with %L.
        EXECUTE format('UPDATE %1$s AS s SET _eai_extra = coalesce(s._eai_extra, ''{}'') || jsonb_build_object(%2$L, b.%2$I::text) '
                       'FROM %3$s AS b WHERE b._eai_row_hash = s._eai_row AND b.%2$I IS NOT NULL',
                       p.target_relid::regclass, p_column, p.source_relid::regclass);
    END IF;
    IF p_mode IS NULL THEN
        DELETE FROM eai.pipeline_discards d WHERE d.pipeline_id = p_pipeline AND d.bronze_column = p_column;
        RETURN;
    END IF;
    INSERT INTO eai.pipeline_discards (pipeline_id, bronze_column, mode, remediation_id)
    VALUES (p_pipeline, p_column, p_mode, p_remediation)
    ON CONFLICT (pipeline_id, bronze_column) DO UPDATE SET mode = EXCLUDED.mode, remediation_id = EXCLUDED.remediation_id,
                                                          set_at = EXCLUDED.set_at;
END
$$;
COMMENT ON FUNCTION eai._set_discard(bigint, text, text, bigint) IS 'eai (internal): set (row, value) or remove (NULL) what a pipeline discards of a bronze column; discarded values leave silver''s _eai_extra and come back from bronze when the discard is removed.';

-- A silver column a new source column feeds (eai.approve_remediation of an add_column).
CREATE FUNCTION eai._add_silver_column(p_pipeline bigint, p_column text, p_type text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE p eai.pipelines;
BEGIN
    SELECT * INTO STRICT p FROM eai.pipelines x WHERE x.pipeline_id = p_pipeline;
    IF to_regtype(p_type) IS NULL THEN
        RAISE EXCEPTION 'eai: % is not a type', quote_literal(p_type) USING ERRCODE = '42704';
    END IF;
    -- safe: the column quoted with %I, the type checked above and written as PostgreSQL names it.
    EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s', p.target_relid::regclass, p_column, format_type(to_regtype(p_type), NULL));
    INSERT INTO eai.pipeline_columns (pipeline_id, target_column, source_column, target_type)
    VALUES (p_pipeline, p_column, NULL, format_type(to_regtype(p_type), NULL));
END
$$;
COMMENT ON FUNCTION eai._add_silver_column(bigint, text, text) IS 'eai (internal): add a silver column to a pipeline (an approved add_column remediation).';

CREATE FUNCTION eai._drop_silver_column(p_pipeline bigint, p_column text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE p eai.pipelines;
BEGIN
    SELECT * INTO STRICT p FROM eai.pipelines x WHERE x.pipeline_id = p_pipeline;
    DELETE FROM eai.pipeline_columns pc WHERE pc.pipeline_id = p_pipeline AND pc.target_column = p_column;
    EXECUTE format('ALTER TABLE %s DROP COLUMN IF EXISTS %I', p.target_relid::regclass, p_column);
END
$$;
COMMENT ON FUNCTION eai._drop_silver_column(bigint, text) IS 'eai (internal): drop a silver column eai added (a reverted add_column remediation); its values are back in _eai_extra.';

-- A column's type widened (or, on revert, narrowed back: fails with the value that does not fit).
CREATE FUNCTION eai._alter_column_type(p_rel regclass, p_column text, p_type text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF to_regtype(p_type) IS NULL OR p_type !~ '^[a-z ]+(\([0-9, ]+\))?$' THEN
        RAISE EXCEPTION 'eai: % is not a type eai changes columns to', quote_literal(p_type) USING ERRCODE = '42704';
    END IF;
    -- safe: the column quoted with %I; the type is a plain name with a numeric modifier, checked above.
    EXECUTE format('ALTER TABLE %s ALTER COLUMN %I TYPE %s USING %I::%s', p_rel, p_column, p_type, p_column, p_type);
    UPDATE eai.pipeline_columns pc SET target_type = p_type
      FROM eai.pipelines p WHERE p.pipeline_id = pc.pipeline_id AND p.target_relid = p_rel AND pc.target_column = p_column;
END
$$;
COMMENT ON FUNCTION eai._alter_column_type(regclass, text, text) IS 'eai (internal): change a bronze or silver column''s type (a widen_column remediation, or its revert).';
