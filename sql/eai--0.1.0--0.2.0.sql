-- eai 0.1.0 -> 0.2.0: schema discovery (eai.profile), mapping (eai.map_schema, review), LLM disambiguation, roles.
-- Assembled by scripts/upgrade_script.py; checked by scripts/check_upgrades.sh.

CREATE  FUNCTION "_profile"(
	"rel" oid /* pg_sys :: Oid */
) RETURNS TABLE (
	"column_name" TEXT,  /* String */
	"version" INT,  /* i32 */
	"declared_type" TEXT,  /* String */
	"inferred_type" TEXT,  /* String */
	"type_share" double precision,  /* Option < f64 > */
	"null_rate" double precision,  /* f64 */
	"distinct_count" bigint,  /* i64 */
	"semantic_type" TEXT,  /* Option < String > */
	"pii" TEXT[],  /* Vec < String > */
	"top_values" TEXT  /* String */
)
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_profile_wrapper';

CREATE  FUNCTION "_map_schema"(
	"source" oid, /* pg_sys :: Oid */
	"target" oid, /* pg_sys :: Oid */
	"one_to_many" bool, /* bool */
	"reprofile" bool /* bool */
) RETURNS TABLE (
	"mapping_id" bigint,  /* i64 */
	"source_column" TEXT,  /* String */
	"target_column" TEXT,  /* Option < String > */
	"confidence" double precision,  /* f64 */
	"band" TEXT,  /* String */
	"status" TEXT,  /* String */
	"reason" TEXT,  /* Option < String > */
	"signals" jsonb  /* JsonB */
)
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_map_schema_wrapper';

-- sql/discovery.sql
-- eai 0.2.0: schema discovery. Loaded by src/lib.rs after the catalog and eai._profile.

CREATE TABLE eai.column_profiles (
    profile_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    relid           oid NOT NULL,
    schema_name     name NOT NULL,
    table_name      name NOT NULL,
    column_name     name NOT NULL,
    attnum          smallint NOT NULL,
    version         integer NOT NULL,
    profiled_at     timestamptz NOT NULL DEFAULT now(),
    profiled_by     name NOT NULL DEFAULT current_user,
    rows_estimated  bigint NOT NULL,
    rows_sampled    bigint NOT NULL,
    declared_type   text NOT NULL,
    inferred_type   text NOT NULL,
    type_share      double precision,
    null_rate       double precision NOT NULL,
    empty_rate      double precision NOT NULL,
    distinct_count  bigint NOT NULL,
    semantic_type   text,
    pii             text[] NOT NULL DEFAULT '{}',
    profile         jsonb NOT NULL,
    value_set       jsonb NOT NULL,
    name_text       text NOT NULL,
    name_embedding  vector(384),
    UNIQUE (relid, column_name, version)
);
CREATE INDEX ON eai.column_profiles USING hnsw (name_embedding vector_cosine_ops);
CREATE INDEX ON eai.column_profiles (schema_name, table_name, column_name, version DESC);
COMMENT ON TABLE eai.column_profiles IS 'eai: column profiles made by eai.profile(), versioned: each run adds a version per column and never rewrites an older one.';
COMMENT ON COLUMN eai.column_profiles.profile_id IS 'Identifier of this profile row.';
COMMENT ON COLUMN eai.column_profiles.relid IS 'OID of the profiled table when it was profiled.';
COMMENT ON COLUMN eai.column_profiles.schema_name IS 'Schema of the profiled table.';
COMMENT ON COLUMN eai.column_profiles.table_name IS 'Name of the profiled table.';
COMMENT ON COLUMN eai.column_profiles.column_name IS 'Profiled column.';
COMMENT ON COLUMN eai.column_profiles.attnum IS 'Position of the column in the table.';
COMMENT ON COLUMN eai.column_profiles.version IS 'Profile version of this column: 1, 2, … one per eai.profile run.';
COMMENT ON COLUMN eai.column_profiles.profiled_at IS 'When the profile was made.';
COMMENT ON COLUMN eai.column_profiles.profiled_by IS 'Role that ran eai.profile.';
COMMENT ON COLUMN eai.column_profiles.rows_estimated IS 'Rows in the table (planner estimate, at least the rows sampled).';
COMMENT ON COLUMN eai.column_profiles.rows_sampled IS 'Rows read (at most eai.profile_sample_rows).';
COMMENT ON COLUMN eai.column_profiles.declared_type IS 'Type of the column in the table.';
COMMENT ON COLUMN eai.column_profiles.inferred_type IS 'For text columns, the most specific type at least 90% of the values parse as (boolean, integer, numeric, date, timestamp, uuid, json, text); otherwise the declared type''s family.';
COMMENT ON COLUMN eai.column_profiles.type_share IS 'Share of non-empty values that parse as the inferred type.';
COMMENT ON COLUMN eai.column_profiles.null_rate IS 'Share of sampled rows that are NULL.';
COMMENT ON COLUMN eai.column_profiles.empty_rate IS 'Share of sampled rows that are empty or blank.';
COMMENT ON COLUMN eai.column_profiles.distinct_count IS 'Distinct non-empty values in the sample.';
COMMENT ON COLUMN eai.column_profiles.semantic_type IS 'email, phone, url, ip_address, credit_card, national_id, currency_amount, currency_code, country_code, postal_code or person_name, when most values are one.';
COMMENT ON COLUMN eai.column_profiles.pii IS 'Kinds of personal data found: email, phone, credit_card (Luhn-checked), national_id, ip_address, person_name.';
COMMENT ON COLUMN eai.column_profiles.profile IS 'The whole profile: type shares, min/max, quantiles and histogram, lengths, top values.';
COMMENT ON COLUMN eai.column_profiles.value_set IS 'Distinct values for matching: their count, a 128-hash MinHash signature, and the values themselves (lower-cased) when at most 256.';
COMMENT ON COLUMN eai.column_profiles.name_text IS 'Text embedded for the column: its normalised name (words, abbreviations expanded) and its comment.';
COMMENT ON COLUMN eai.column_profiles.name_embedding IS 'Embedding of name_text (eai.embed), HNSW-indexed for cosine search.';

CREATE FUNCTION eai.profile(tbl regclass)
RETURNS TABLE (column_name text, version integer, declared_type text, inferred_type text, type_share double precision,
               null_rate double precision, distinct_count bigint, semantic_type text, pii text[], top_values text)
LANGUAGE sql VOLATILE
AS 'SELECT * FROM eai._profile(tbl)';
COMMENT ON FUNCTION eai.profile(regclass) IS 'eai: profile every column of a table (a sample of eai.profile_sample_rows rows): types, null rate, distinct values, statistics, semantic type, PII; stores a new version per column in eai.column_profiles, with the embedding of its name.';

-- sql/mapping.sql
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

-- Reviewers decide through the functions below, never by updating eai.mappings: they run with the
-- caller's rights and pass the caller's role to this one, which alone may write the decision. It
-- accepts only a role the session may act as, so the record names the real decider.
CREATE FUNCTION eai._record_decision(p_id bigint, p_status text, p_target text, p_reason text, p_who name)
RETURNS eai.mappings
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE m eai.mappings;
BEGIN
    IF p_who IS NULL OR NOT pg_has_role(session_user, p_who, 'MEMBER') THEN
        RAISE EXCEPTION 'eai: % cannot record a decision as %', session_user, p_who USING ERRCODE = '42501',
            HINT = 'Use eai.approve_mapping, eai.reject_mapping or eai.override_mapping.';
    END IF;
    UPDATE eai.mappings x SET status = p_status, target_column = p_target, reason = p_reason,
                              decided_by = p_who, decided_at = now()
     WHERE x.mapping_id = p_id RETURNING * INTO m;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'eai: mapping % does not exist', p_id USING ERRCODE = '42704';
    END IF;
    RETURN m;
END
$$;

CREATE FUNCTION eai.approve_mapping(id bigint) RETURNS eai.mappings
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE m eai.mappings := eai._mapping_or_raise(id);
BEGIN
    IF m.target_column IS NULL THEN
        RAISE EXCEPTION 'eai: mapping % proposes a new column; there is no target to approve', id USING ERRCODE = '22023',
            HINT = 'Map it to an existing column with eai.override_mapping(id, target_column).';
    END IF;
    RETURN eai._record_decision(id, 'approved', m.target_column, NULL, current_user);
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
    RETURN eai._record_decision(id, 'rejected', m.target_column, reason, current_user);
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

-- sql/llm.sql
-- eai 0.2.0: LLM ledger and cache. Loaded by src/lib.rs after mapping.

CREATE TABLE eai.llm_calls (
    call_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    called_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    called_by     name NOT NULL DEFAULT current_user,
    run_id        bigint,
    purpose       text NOT NULL,
    protocol      text NOT NULL,
    model         text NOT NULL,
    request_hash  text NOT NULL,
    tokens_in     bigint NOT NULL DEFAULT 0,
    tokens_out    bigint NOT NULL DEFAULT 0,
    latency_ms    double precision NOT NULL,
    cost_usd      double precision,
    cache_hit     boolean NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN ('ok', 'unreachable', 'refused', 'invalid_answer', 'hallucinated')),
    error         text
);
CREATE INDEX ON eai.llm_calls (called_at);
COMMENT ON TABLE eai.llm_calls IS 'eai: the LLM ledger: one row per LLM call (cached or not) with tokens, latency, estimated cost and outcome.';
COMMENT ON COLUMN eai.llm_calls.call_id IS 'Identifier of the call.';
COMMENT ON COLUMN eai.llm_calls.called_at IS 'When the call was made.';
COMMENT ON COLUMN eai.llm_calls.called_by IS 'Role whose statement made the call.';
COMMENT ON COLUMN eai.llm_calls.run_id IS 'Mapping run that asked (eai.mapping_runs).';
COMMENT ON COLUMN eai.llm_calls.purpose IS 'What the call was for (map_schema).';
COMMENT ON COLUMN eai.llm_calls.protocol IS 'openai (chat completions) or ollama (/api/chat).';
COMMENT ON COLUMN eai.llm_calls.model IS 'Model asked (eai.llm_model).';
COMMENT ON COLUMN eai.llm_calls.request_hash IS 'sha256 of protocol, model and prompt: the cache key.';
COMMENT ON COLUMN eai.llm_calls.tokens_in IS 'Prompt tokens reported by the endpoint (0 on a cache hit).';
COMMENT ON COLUMN eai.llm_calls.tokens_out IS 'Completion tokens reported by the endpoint (0 on a cache hit).';
COMMENT ON COLUMN eai.llm_calls.latency_ms IS 'Time of the call, in milliseconds.';
COMMENT ON COLUMN eai.llm_calls.cost_usd IS 'Estimated cost from the per-model price table; NULL for an unknown model, 0 for a cache hit or Ollama.';
COMMENT ON COLUMN eai.llm_calls.cache_hit IS 'Served from eai.llm_cache without calling the endpoint.';
COMMENT ON COLUMN eai.llm_calls.outcome IS 'ok, unreachable (transient), refused (4xx), invalid_answer (not the JSON asked for) or hallucinated (a column that is not a candidate).';
COMMENT ON COLUMN eai.llm_calls.error IS 'Error message, with secrets removed.';

CREATE TABLE eai.llm_cache (
    request_hash  text PRIMARY KEY,
    protocol      text NOT NULL,
    model         text NOT NULL,
    response      text NOT NULL,
    tokens_in     bigint NOT NULL,
    tokens_out    bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE eai.llm_cache IS 'eai: answers of earlier LLM calls, by request: an identical request is served from here. Only valid answers are kept; DELETE rows to ask again.';
COMMENT ON COLUMN eai.llm_cache.request_hash IS 'sha256 of protocol, model and prompt.';
COMMENT ON COLUMN eai.llm_cache.protocol IS 'openai or ollama.';
COMMENT ON COLUMN eai.llm_cache.model IS 'Model that answered.';
COMMENT ON COLUMN eai.llm_cache.response IS 'The message content the model answered.';
COMMENT ON COLUMN eai.llm_cache.tokens_in IS 'Prompt tokens of the original call.';
COMMENT ON COLUMN eai.llm_cache.tokens_out IS 'Completion tokens of the original call.';
COMMENT ON COLUMN eai.llm_cache.created_at IS 'When the answer was cached.';

CREATE VIEW eai.llm_usage AS
SELECT date_trunc('day', called_at) AS day, model, count(*) AS calls, count(*) FILTER (WHERE cache_hit) AS cache_hits,
       sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out, round(sum(cost_usd)::numeric, 6) AS cost_usd,
       count(*) FILTER (WHERE outcome <> 'ok') AS failures, round(avg(latency_ms)::numeric, 1) AS avg_latency_ms
  FROM eai.llm_calls GROUP BY 1, 2 ORDER BY 1 DESC, 2;
COMMENT ON VIEW eai.llm_usage IS 'eai: LLM calls, tokens and estimated cost per day and model.';
COMMENT ON COLUMN eai.llm_usage.day IS 'Day.';
COMMENT ON COLUMN eai.llm_usage.model IS 'Model.';
COMMENT ON COLUMN eai.llm_usage.calls IS 'Calls, cached or not.';
COMMENT ON COLUMN eai.llm_usage.cache_hits IS 'Calls served from the cache.';
COMMENT ON COLUMN eai.llm_usage.tokens_in IS 'Prompt tokens.';
COMMENT ON COLUMN eai.llm_usage.tokens_out IS 'Completion tokens.';
COMMENT ON COLUMN eai.llm_usage.cost_usd IS 'Estimated cost in US dollars.';
COMMENT ON COLUMN eai.llm_usage.failures IS 'Calls whose outcome was not ok.';
COMMENT ON COLUMN eai.llm_usage.avg_latency_ms IS 'Mean latency in milliseconds.';

-- sql/roles.sql
-- Roles. Three group roles (NOLOGIN), each including the one before; grant them to login roles:
--   eai_reader    reads the catalog (profiles, mappings, review queue, ingest status, LLM usage)
--                 and the silver and gold tables (BI tools).
--   eai_reviewer  + decides pending mappings with approve_mapping / reject_mapping /
--                 override_mapping; the decision records the reviewer's own role.
--   eai_engineer  + profiles and maps the tables it can read (eai.profile, eai.map_schema), and
--                 writes silver and gold.
-- Adding sources and ingesting stay superuser-only: they read server files and create servers.
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
REVOKE ALL ON FUNCTION eai._sniff_csv(text), eai._list_csv_files(text), eai._path_kind(text),
    eai.add_source(text, text, name, jsonb), eai.refresh_source(text), eai.drop_source(text, boolean),
    eai.ingest(text, text) FROM PUBLIC;

GRANT USAGE ON SCHEMA eai, silver, gold TO eai_reader;
GRANT SELECT ON eai.sources, eai.source_tables, eai.batches, eai.ingest_status,
                eai.column_profiles, eai.mapping_runs, eai.mappings, eai.pending_mappings,
                eai.llm_usage
   TO eai_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA silver, gold TO eai_reader;
-- Tables created later in silver and gold by the role installing eai.
ALTER DEFAULT PRIVILEGES IN SCHEMA silver, gold GRANT SELECT ON TABLES TO eai_reader;

-- Decisions go through the functions; only they may call the writer.
REVOKE ALL ON FUNCTION eai._record_decision(bigint, text, text, text, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION eai.approve_mapping(bigint), eai.reject_mapping(bigint, text),
                       eai.override_mapping(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION eai._record_decision(bigint, text, text, text, name),
                          eai.approve_mapping(bigint), eai.reject_mapping(bigint, text),
                          eai.override_mapping(bigint, text)
   TO eai_reviewer;

-- Profiling and mapping run with the caller's rights: the engineer reads only what it may read,
-- and writes the results to the catalog.
GRANT INSERT ON eai.column_profiles, eai.mapping_runs, eai.mappings, eai.llm_calls TO eai_engineer;
GRANT UPDATE (duration_ms) ON eai.mapping_runs TO eai_engineer;
GRANT SELECT, INSERT ON eai.llm_cache TO eai_engineer;
GRANT SELECT ON eai.llm_calls TO eai_engineer;
GRANT USAGE, CREATE ON SCHEMA silver, gold TO eai_engineer;

