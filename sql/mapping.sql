-- eai 0.2.0: schema mapping and its review. Loaded by src/lib.rs after discovery and eai._map_schema.

CREATE TABLE eai.mapping_runs (
    run_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_relid    oid NOT NULL,
    source_table    text NOT NULL,
    target_relid    oid NOT NULL,
    target_table    text NOT NULL,
    version         integer NOT NULL,
    one_to_many     boolean NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    duration_ms     double precision,
    run_by          name NOT NULL DEFAULT current_user,
    UNIQUE (source_table, target_table, version)
);
COMMENT ON TABLE eai.mapping_runs IS 'eai: one row per eai.map_schema run; each run is a new mapping version of its (source, target) pair and never rewrites an older one.';
COMMENT ON COLUMN eai.mapping_runs.run_id IS 'Identifier of the run.';
COMMENT ON COLUMN eai.mapping_runs.source_relid IS 'OID of the source table at the time of the run.';
COMMENT ON COLUMN eai.mapping_runs.source_table IS 'Source table, schema-qualified.';
COMMENT ON COLUMN eai.mapping_runs.target_relid IS 'OID of the target table at the time of the run.';
COMMENT ON COLUMN eai.mapping_runs.target_table IS 'Target table, schema-qualified.';
COMMENT ON COLUMN eai.mapping_runs.version IS 'Mapping version of this (source, target) pair: 1, 2, …';
COMMENT ON COLUMN eai.mapping_runs.one_to_many IS 'Whether a source column could map to several target columns.';
COMMENT ON COLUMN eai.mapping_runs.started_at IS 'When the run started.';
COMMENT ON COLUMN eai.mapping_runs.duration_ms IS 'How long scoring and assignment took, in milliseconds.';
COMMENT ON COLUMN eai.mapping_runs.run_by IS 'Role that ran eai.map_schema.';

CREATE TABLE eai.mappings (
    mapping_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id          bigint NOT NULL REFERENCES eai.mapping_runs ON DELETE CASCADE,
    source_column   text NOT NULL,
    target_column   text,
    proposed_target text,
    score           double precision,
    confidence      double precision NOT NULL,
    band            text NOT NULL CHECK (band IN ('auto_approved', 'llm', 'review', 'new_column')),
    status          text NOT NULL CHECK (status IN ('approved', 'pending', 'rejected', 'new_column')),
    signals         jsonb NOT NULL,
    candidates      jsonb NOT NULL,
    reason          text,
    decided_by      text,
    decided_at      timestamptz
);
CREATE INDEX ON eai.mappings (run_id);
CREATE INDEX ON eai.mappings (status) WHERE status = 'pending';
COMMENT ON TABLE eai.mappings IS 'eai: one decision per source column of a mapping run: the target column chosen (or none), its confidence, the signals behind it, and who or what approved, rejected or overrode it.';
COMMENT ON COLUMN eai.mappings.mapping_id IS 'Identifier of the decision (eai.approve_mapping, eai.reject_mapping, eai.override_mapping take it).';
COMMENT ON COLUMN eai.mappings.run_id IS 'Mapping run (eai.mapping_runs).';
COMMENT ON COLUMN eai.mappings.source_column IS 'Source column.';
COMMENT ON COLUMN eai.mappings.target_column IS 'Target column it maps to; NULL for a new-column proposal (kept as is, never dropped).';
COMMENT ON COLUMN eai.mappings.proposed_target IS 'Target column eai proposed (differs from target_column after an override).';
COMMENT ON COLUMN eai.mappings.score IS 'Combined score of the signals, 0-1.';
COMMENT ON COLUMN eai.mappings.confidence IS 'Confidence of the decision, 0-1: the score discounted by a close runner-up and by contradicting evidence.';
COMMENT ON COLUMN eai.mappings.band IS 'Routing: auto_approved (> 0.85), llm (0.70-0.85), review (< 0.70), new_column (no target scores enough).';
COMMENT ON COLUMN eai.mappings.status IS 'approved, pending (waiting for review), rejected, or new_column.';
COMMENT ON COLUMN eai.mappings.signals IS 'The signals of the chosen pair: name_embedding, lexical, type_compat, value_overlap, distribution, history, target_empty.';
COMMENT ON COLUMN eai.mappings.candidates IS 'The best targets with their scores, best first.';
COMMENT ON COLUMN eai.mappings.reason IS 'Why the decision is pending, or the reviewer''s reason for a rejection.';
COMMENT ON COLUMN eai.mappings.decided_by IS 'Who decided: eai:auto for automatic approvals, else the role that approved, rejected or overrode.';
COMMENT ON COLUMN eai.mappings.decided_at IS 'When it was decided.';

CREATE FUNCTION eai.map_schema(source regclass, target regclass, one_to_many boolean DEFAULT false,
                               reprofile boolean DEFAULT false)
RETURNS TABLE (mapping_id bigint, source_column text, target_column text, confidence double precision,
               band text, status text, reason text, signals jsonb)
LANGUAGE sql VOLATILE
AS 'SELECT * FROM eai._map_schema(source, target, one_to_many, reprofile)';
COMMENT ON FUNCTION eai.map_schema(regclass, regclass, boolean, boolean) IS 'eai: match every column of source to target (name embeddings, lexical similarity, types, shared values, distributions, past decisions), assign 1:1 (Hungarian) or 1:n, and record a new mapping version: > 0.85 confidence approved, 0.70-0.85 for the LLM (review when none is configured), below for review; unmatched columns are new-column proposals. Profiles the tables first when they have no profile (or when reprofile).';

-- Review in psql.
CREATE FUNCTION eai._mapping_or_raise(p_id bigint) RETURNS eai.mappings
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE m eai.mappings;
BEGIN
    SELECT * INTO m FROM eai.mappings WHERE mapping_id = p_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'eai: mapping % does not exist', p_id USING ERRCODE = '42704',
            HINT = 'SELECT * FROM eai.pending_mappings; lists what waits for review.';
    END IF;
    RETURN m;
END
$$;

-- Reviewers decide through the functions below, never by updating eai.mappings; the one writer of
-- a decision, eai._record_decision, is in sql/catalog_access.sql.
CREATE FUNCTION eai.approve_mapping(id bigint) RETURNS eai.mappings
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
COMMENT ON FUNCTION eai.approve_mapping(bigint) IS 'eai: approve a mapping decision; records who and when, and feeds later runs (history signal).';

CREATE FUNCTION eai.reject_mapping(id bigint, reason text) RETURNS eai.mappings
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
COMMENT ON FUNCTION eai.reject_mapping(bigint, text) IS 'eai: reject a mapping decision with a reason; later runs score that pair down.';

CREATE FUNCTION eai.override_mapping(id bigint, target_column text) RETURNS eai.mappings
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
COMMENT ON FUNCTION eai.override_mapping(bigint, text) IS 'eai: map the source column to another target column than proposed (approved by you; the proposal is kept in proposed_target).';

CREATE VIEW eai.pending_mappings AS
SELECT m.mapping_id                                                            AS id,
       r.source_table || '.' || quote_ident(m.source_column)                  AS source,
       coalesce(r.target_table || '.' || quote_ident(m.target_column), '(new column)') AS target,
       round(m.confidence::numeric, 2)                                         AS confidence,
       (SELECT string_agg(v ->> 'value', ' | ') FROM (SELECT v FROM jsonb_array_elements(sp.profile -> 'top_values') v LIMIT 3) s) AS source_values,
       (SELECT string_agg(v ->> 'value', ' | ') FROM (SELECT v FROM jsonb_array_elements(tp.profile -> 'top_values') v LIMIT 3) s) AS target_values,
       m.reason || format(' (name %s, lexical %s, values %s, type %s)',
                          coalesce(round((m.signals ->> 'name_embedding')::numeric, 2)::text, '-'),
                          round((m.signals ->> 'lexical')::numeric, 2),
                          coalesce(round((m.signals ->> 'value_overlap')::numeric, 2)::text, '-'),
                          round((m.signals ->> 'type_compat')::numeric, 2))     AS why
  FROM eai.mappings m
  JOIN eai.mapping_runs r USING (run_id)
  LEFT JOIN LATERAL (SELECT p.profile FROM eai.column_profiles p WHERE p.relid = r.source_relid
                        AND p.column_name = m.source_column ORDER BY p.version DESC LIMIT 1) sp ON true
  LEFT JOIN LATERAL (SELECT p.profile FROM eai.column_profiles p WHERE p.relid = r.target_relid
                        AND p.column_name = m.target_column ORDER BY p.version DESC LIMIT 1) tp ON true
 WHERE m.status = 'pending'
 ORDER BY m.confidence DESC, m.mapping_id;
COMMENT ON VIEW eai.pending_mappings IS 'eai: mapping decisions waiting for a human, best first, with sample values of both columns side by side and why they wait. Decide with eai.approve_mapping(id), eai.reject_mapping(id, reason) or eai.override_mapping(id, target_column).';
COMMENT ON COLUMN eai.pending_mappings.id IS 'mapping_id to pass to eai.approve_mapping / reject_mapping / override_mapping.';
COMMENT ON COLUMN eai.pending_mappings.source IS 'Source table and column.';
COMMENT ON COLUMN eai.pending_mappings.target IS 'Proposed target table and column.';
COMMENT ON COLUMN eai.pending_mappings.confidence IS 'Confidence, 0-1.';
COMMENT ON COLUMN eai.pending_mappings.source_values IS 'Most frequent values of the source column.';
COMMENT ON COLUMN eai.pending_mappings.target_values IS 'Most frequent values of the target column.';
COMMENT ON COLUMN eai.pending_mappings.why IS 'Why it waits, and the signals behind the proposal.';
