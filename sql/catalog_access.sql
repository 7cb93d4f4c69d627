-- eai 0.3.0: who writes and who sees the catalog (docs/security.md).
--
-- Writes: no eai_* role has INSERT, UPDATE or DELETE on a catalog table (sql/roles.sql); eai's
-- functions write, naming the session's role (eai._session_role(): the role after SET ROLE, the
-- same inside SECURITY DEFINER functions).
--
-- The one writer of a mapping decision. The functions reviewers call (eai.approve_mapping,
-- eai.reject_mapping, eai.override_mapping) run with the caller's rights and pass the caller's
-- role; a name that is not the session's role is refused, so the record names the real decider.
CREATE OR REPLACE FUNCTION eai._record_decision(p_id bigint, p_status text, p_target text, p_reason text, p_who name)
RETURNS eai.mappings
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE m eai.mappings;
BEGIN
    IF p_who IS DISTINCT FROM eai._session_role() THEN
        RAISE EXCEPTION 'eai: % cannot record a decision as %', eai._session_role(), coalesce(p_who::text, 'NULL') USING ERRCODE = '42501',
            HINT = 'Use eai.approve_mapping, eai.reject_mapping or eai.override_mapping.';
    END IF;
    UPDATE eai.mappings x SET status = p_status, target_column = p_target, reason = p_reason,
                              decided_by = eai._session_role(), decided_at = now()
     WHERE x.mapping_id = p_id RETURNING * INTO m;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'eai: mapping % does not exist', p_id USING ERRCODE = '42704';
    END IF;
    RETURN m;
END
$$;

-- Reads: sample values and rows that came
-- from a table are visible only to roles that may read that table: column profiles (top values,
-- value sets), quarantined bronze rows, batch sketches, and the views over them. Row security
-- keyed on has_table_privilege; eai's writers (the tables' owner) and superusers are not subject
-- to it. Loaded after every catalog table and before sql/roles.sql.

ALTER TABLE eai.column_profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable_source ON eai.column_profiles FOR SELECT
    USING (coalesce(has_table_privilege(relid, 'SELECT'), false));

ALTER TABLE eai.quarantine ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable_source ON eai.quarantine FOR SELECT
    USING (EXISTS (SELECT 1 FROM eai.pipelines p
                    WHERE p.pipeline_id = quarantine.pipeline_id
                      AND coalesce(has_table_privilege(p.source_relid, 'SELECT'), false)));

ALTER TABLE eai.batch_profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable_source ON eai.batch_profiles FOR SELECT
    USING (coalesce(has_table_privilege(relid, 'SELECT'), false));

-- A failure's message may quote values of the table it came from (an unparseable value); an LLM
-- call's failure quotes the endpoint's answer, which the LLM ledger shows only to its readers.
ALTER TABLE eai.failures ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable_source ON eai.failures FOR SELECT
    USING (CASE WHEN stage = 'llm' THEN has_table_privilege('eai.llm_calls', 'SELECT')
                ELSE relid IS NULL OR coalesce(has_table_privilege(relid, 'SELECT'), false) END);

ALTER TABLE eai.escalations ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable_source ON eai.escalations FOR SELECT
    USING (relid IS NULL OR coalesce(has_table_privilege(relid, 'SELECT'), false));

ALTER TABLE eai.remediations ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable_source ON eai.remediations FOR SELECT
    USING (relid IS NULL OR coalesce(has_table_privilege(relid, 'SELECT'), false));

-- The views over them read with the reader's rights, so the policies above apply.
ALTER VIEW eai.pending_mappings SET (security_invoker = true);
ALTER VIEW eai.metrics SET (security_invoker = true);
