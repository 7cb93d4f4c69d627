-- eai 0.2.0 -> 0.3.0: pipelines bronze -> silver (promotion, expectations, quarantine, worker), gold tables, column lineage, quality scores, anomaly detection; ingest hardening (row hash by bronze shape, strict CSV reading, distinct names, clear errors); the catalog written only by eai, naming the real role, and sample values visible only to roles that may read their table.
-- Assembled by scripts/upgrade_script.py; checked by scripts/check_upgrades.sh.

CREATE  FUNCTION "_check_select"(
	"query" TEXT /* & str */
) RETURNS TEXT /* String */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_check_select_wrapper';

CREATE  FUNCTION "_check_expression"(
	"expr" TEXT /* & str */
) RETURNS TEXT /* String */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_check_expression_wrapper';

CREATE  FUNCTION "_promotion_statement"(
	"pipeline_id" bigint, /* i64 */
	"rows" TEXT /* & str */
) RETURNS TABLE (
	"statement" TEXT,  /* String */
	"checks" jsonb,  /* JsonB */
	"extra" TEXT[],  /* Vec < String > */
	"without_duplicates" TEXT,  /* Option < String > */
	"single_pass" TEXT,  /* Option < String > */
	"single_pass_select" TEXT  /* Option < String > */
)
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_promotion_statement_wrapper';

CREATE  FUNCTION "_insert_streamed"(
	"target" oid, /* pg_sys :: Oid */
	"select_sql" TEXT, /* & str */
	"insert_sql" TEXT, /* & str */
	"pipeline" bigint, /* i64 */
	"promotion" bigint, /* i64 */
	"checks" jsonb, /* Option < pgrx :: JsonB > */
	"columns" TEXT[], /* :: std :: option :: Option < Vec < Option < String > > > */
	"arg" anyelement /* Option < pgrx :: AnyElement > */
) RETURNS bigint /* i64 */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_insert_streamed_wrapper';

CREATE  FUNCTION "_set_aside"(
	"promotion" bigint, /* i64 */
	"batch" bigint, /* i64 */
	"row" uuid, /* Option < pgrx :: datum :: Uuid > */
	"values" TEXT[], /* Vec < Option < String > > */
	"broken" INT[] /* Vec < Option < i32 > > */
) RETURNS bool /* bool */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_set_aside_wrapper';

CREATE  FUNCTION "_take_aside"(
	"promotion" bigint /* i64 */
) RETURNS TABLE (
	"bronze_batch" bigint,  /* i64 */
	"row_hash" uuid,  /* Option < pgrx :: datum :: Uuid > */
	"bronze_values" TEXT[],  /* Vec < Option < String > > */
	"broken" INT[]  /* Vec < Option < i32 > > */
)
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_take_aside_wrapper';

CREATE  FUNCTION "_normalize"(
	"value" TEXT, /* & str */
	"family" TEXT, /* & str */
	"date_order" TEXT /* & str */
) RETURNS TEXT /* Option < String > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_normalize_wrapper';

CREATE  FUNCTION "_silver_type"(
	"inferred" TEXT /* & str */
) RETURNS TEXT /* & '_ str */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_silver_type_wrapper';

CREATE  FUNCTION "_parse_rule"(
	"spec" TEXT /* & str */
) RETURNS jsonb /* JsonB */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_parse_rule_wrapper';

CREATE  FUNCTION "_suggest_expectations"(
	"tbl" oid /* pg_sys :: Oid */
) RETURNS TABLE (
	"column_name" TEXT,  /* String */
	"spec" jsonb,  /* JsonB */
	"reason" TEXT  /* String */
)
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_suggest_expectations_wrapper';

CREATE  FUNCTION "_view_lineage"(
	"view" oid /* pg_sys :: Oid */
) RETURNS TABLE (
	"column_name" TEXT,  /* Option < String > */
	"input_relid" oid,  /* pg_sys :: Oid */
	"input_column" TEXT  /* String */
)
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_view_lineage_wrapper';

CREATE  FUNCTION "_quality_score"(
	"tbl" oid /* pg_sys :: Oid */
) RETURNS TABLE (
	"dimension" TEXT,  /* String */
	"score" double precision,  /* Option < f64 > */
	"measured" TEXT,  /* String */
	"expected" TEXT  /* String */
)
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_quality_score_wrapper';

CREATE  FUNCTION "_detect_query"(
	"query" TEXT, /* & str */
	"all_rows" bool, /* bool */
	"threshold" double precision, /* Option < f64 > */
	"min_history" INT, /* i32 */
	"trees" INT, /* i32 */
	"subsample" INT, /* i32 */
	"seed" bigint /* i64 */
) RETURNS TABLE (
	"ordinal" bigint,  /* i64 */
	"ts" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"metric" TEXT,  /* String */
	"observed" double precision,  /* Option < f64 > */
	"expected" double precision,  /* Option < f64 > */
	"lo" double precision,  /* Option < f64 > */
	"hi" double precision,  /* Option < f64 > */
	"score" double precision,  /* Option < f64 > */
	"anomalous" bool,  /* bool */
	"detector" TEXT,  /* String */
	"severity" TEXT,  /* Option < String > */
	"explanation" TEXT  /* String */
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_detect_query_wrapper';

CREATE  FUNCTION "_detect_series"(
	"epochs" double precision[], /* Vec < Option < f64 > > */
	"vals" double precision[], /* Vec < Option < f64 > > */
	"threshold" double precision, /* f64 */
	"min_history" INT /* i32 */
) RETURNS TABLE (
	"ordinal" INT,  /* i32 */
	"expected" double precision,  /* Option < f64 > */
	"lo" double precision,  /* Option < f64 > */
	"hi" double precision,  /* Option < f64 > */
	"score" double precision,  /* Option < f64 > */
	"deviates" bool,  /* bool */
	"detector" TEXT,  /* String */
	"seasonality" TEXT,  /* Option < String > */
	"severity" TEXT  /* String */
)
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_detect_series_wrapper';

CREATE  FUNCTION "_sketch_drift"(
	"reference" double precision[], /* Vec < Option < f64 > > */
	"current" double precision[], /* Vec < Option < f64 > > */
	"current_rows" bigint, /* i64 */
	"psi_threshold" double precision /* f64 */
) RETURNS TABLE (
	"psi" double precision,  /* f64 */
	"kl" double precision,  /* f64 */
	"p_value" double precision,  /* f64 */
	"drifted" bool  /* bool */
)
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_sketch_drift_wrapper';

CREATE  FUNCTION "_adapt_threshold"(
	"default" double precision, /* f64 */
	"scores" double precision[], /* Vec < Option < f64 > > */
	"false_positive" bool[] /* Vec < Option < bool > > */
) RETURNS double precision /* f64 */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_adapt_threshold_wrapper';

CREATE  FUNCTION "_group_incidents"(
	"ids" bigint[], /* Vec < i64 > */
	"tables" oid[], /* Vec < pg_sys :: Oid > */
	"batches" bigint[], /* Vec < Option < i64 > > */
	"epochs" double precision[], /* Vec < f64 > */
	"severities" TEXT[], /* Vec < String > */
	"scores" double precision[], /* Vec < Option < f64 > > */
	"edge_from" oid[], /* Vec < pg_sys :: Oid > */
	"edge_to" oid[] /* Vec < pg_sys :: Oid > */
) RETURNS TABLE (
	"anomaly_id" bigint,  /* i64 */
	"grp" INT,  /* i32 */
	"is_root" bool,  /* bool */
	"severity" TEXT  /* String */
)
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_group_incidents_wrapper';

CREATE  FUNCTION "_severity"(
	"ratio" double precision /* f64 */
) RETURNS TEXT /* & '_ str */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_severity_wrapper';

CREATE  FUNCTION "_detect_vectors"(
	"vals" double precision[], /* Vec < Option < f64 > > */
	"dims" INT, /* i32 */
	"threshold" double precision, /* f64 */
	"min_history" INT, /* i32 */
	"trees" INT DEFAULT 100, /* i32 */
	"seed" bigint DEFAULT 42 /* i64 */
) RETURNS TABLE (
	"ordinal" INT,  /* i32 */
	"score" double precision,  /* f64 */
	"standouts" INT[],  /* Vec < i32 > */
	"standout_z" double precision[]  /* Vec < f64 > */
)
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_detect_vectors_wrapper';

CREATE  FUNCTION "_row_hash_shaped"(
	"base" INT, /* i32 */
	"values" VARIADIC TEXT[] /* pgrx :: VariadicArray < '_, & str > */
) RETURNS uuid /* pgrx :: Uuid */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_row_hash_shaped_wrapper';

CREATE  FUNCTION "_check_csv"(
	"path" TEXT, /* & str */
	"delimiter" TEXT, /* & str */
	"quote" TEXT /* & str */
) RETURNS void
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_check_csv_wrapper';

CREATE  FUNCTION "_folder_files"(
	"dir" TEXT /* & str */
) RETURNS TABLE (
	"path" TEXT,  /* String */
	"unreadable" jsonb  /* Option < JsonB > */
)
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_folder_files_wrapper';

CREATE  FUNCTION "_table_name_for_file_among"(
	"path" TEXT, /* & str */
	"taken" TEXT[] /* Vec < String > */
) RETURNS TEXT /* String */
IMMUTABLE STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_table_name_for_file_among_wrapper';

CREATE  FUNCTION "_bronze_table_candidates"(
	"source" TEXT, /* & str */
	"table" TEXT /* & str */
) RETURNS TEXT[] /* Vec < String > */
IMMUTABLE STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_bronze_table_candidates_wrapper';

CREATE  FUNCTION "_silver_column_names"(
	"names" TEXT[], /* Vec < String > */
	"attnums" INT[] /* Vec < i32 > */
) RETURNS TEXT[] /* Vec < String > */
IMMUTABLE STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_silver_column_names_wrapper';

CREATE  FUNCTION "_ingest_error_class"(
	"sqlstate" TEXT, /* & str */
	"context" TEXT, /* & str */
	"detail" TEXT, /* & str */
	"fdw" TEXT /* & str */
) RETURNS TEXT /* & '_ str */
IMMUTABLE STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_ingest_error_class_wrapper';

CREATE  FUNCTION "_ingest_error_hint"(
	"sqlstate" TEXT, /* & str */
	"context" TEXT, /* & str */
	"detail" TEXT, /* & str */
	"fdw" TEXT /* & str */
) RETURNS TEXT /* Option < & '_ str > */
IMMUTABLE STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_ingest_error_hint_wrapper';

CREATE  FUNCTION "_session_role"() RETURNS TEXT /* String */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_session_role_wrapper';

CREATE  FUNCTION "_retry_decision"(
	"class" TEXT, /* & str */
	"attempt" INT, /* i32 */
	"u" double precision /* f64 */
) RETURNS TABLE (
	"action" TEXT,  /* String */
	"retry_after_s" double precision,  /* Option < f64 > */
	"note" TEXT  /* String */
)
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_retry_decision_wrapper';

CREATE  FUNCTION "_retry_due_ingest"() RETURNS bigint /* i64 */
STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_retry_due_ingest_wrapper';

CREATE  FUNCTION "_breaker_admit"(
	"scope" TEXT, /* & str */
	"target" TEXT /* & str */
) RETURNS TABLE (
	"decision" TEXT,  /* String */
	"reason" TEXT  /* Option < String > */
)
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_breaker_admit_wrapper';

CREATE  FUNCTION "_breaker_record"(
	"scope" TEXT, /* & str */
	"target" TEXT, /* & str */
	"failed" bool /* bool */
) RETURNS void
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_breaker_record_wrapper';

CREATE  FUNCTION "_escalation_for"(
	"stage" TEXT, /* & str */
	"class" TEXT, /* & str */
	"action" TEXT, /* & str */
	"attempt" INT /* i32 */
) RETURNS TABLE (
	"kind" TEXT,  /* String */
	"severity" TEXT  /* String */
)
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_escalation_for_wrapper';

CREATE  FUNCTION "_default_drift_contract"(
	"change" TEXT /* & str */
) RETURNS TABLE (
	"policy" TEXT,  /* String */
	"apply" TEXT  /* String */
)
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_default_drift_contract_wrapper';

CREATE  FUNCTION "_heal_drift"(
	"pipeline" bigint /* i64 */
) RETURNS bigint /* i64 */
STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_heal_drift_wrapper';

CREATE  FUNCTION "_approve_remediation"(
	"id" bigint /* i64 */
) RETURNS void
STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_approve_remediation_wrapper';

CREATE  FUNCTION "_revert_remediation"(
	"id" bigint /* i64 */
) RETURNS void
STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_revert_remediation_wrapper';

CREATE  FUNCTION "_spool_failure"(
	"entry" jsonb /* JsonB */
) RETURNS jsonb /* JsonB */
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_spool_failure_wrapper';

CREATE  FUNCTION "_drain_failure_spool"() RETURNS bigint /* i64 */
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_drain_failure_spool_wrapper';

CREATE  FUNCTION "_ingest_failure_may_prevent_commit"(
	"sqlstate" TEXT, /* & str */
	"fdw" TEXT /* & str */
) RETURNS bool /* bool */
IMMUTABLE STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_ingest_failure_may_prevent_commit_wrapper';

CREATE  FUNCTION "_arm_probe_timeout"() RETURNS bool /* bool */
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_arm_probe_timeout_wrapper';

CREATE  FUNCTION "_disarm_probe_timeout"() RETURNS bool /* bool */
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_disarm_probe_timeout_wrapper';

CREATE  FUNCTION "nl_validate"(
	"sql" TEXT, /* & str */
	"scope" TEXT[] DEFAULT ARRAY['gold', 'silver'] /* Vec < String > */
) RETURNS TABLE (
	"ok" bool,  /* bool */
	"sqlstate" TEXT,  /* Option < String > */
	"reason" TEXT,  /* Option < String > */
	"statement" TEXT,  /* Option < String > */
	"relations" TEXT[],  /* Vec < String > */
	"functions" TEXT[]  /* Vec < String > */
)
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'nl_validate_wrapper';

CREATE  FUNCTION "nl_to_sql"(
	"question" TEXT, /* & str */
	"scope" TEXT[] DEFAULT ARRAY['gold', 'silver'] /* Vec < String > */
) RETURNS TABLE (
	"sql" TEXT,  /* Option < String > */
	"confidence" double precision,  /* f64 */
	"engine" TEXT,  /* String */
	"linked" jsonb,  /* JsonB */
	"warnings" TEXT[],  /* Vec < String > */
	"explanation" TEXT  /* String */
)
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'nl_to_sql_wrapper';

CREATE  FUNCTION "ask"(
	"question" TEXT, /* & str */
	"scope" TEXT[] DEFAULT ARRAY['gold', 'silver'], /* Vec < String > */
	"max_rows" INT DEFAULT 1000 /* i32 */
) RETURNS TABLE (
	"row" jsonb  /* JsonB */
)
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'ask_wrapper';

-- sql/api.sql
-- eai API: sources, ingest into bronze, embeddings. Loaded last (finalize) by src/lib.rs, after
-- the Rust helpers (eai._*) exist. Dynamic SQL quotes every identifier with format('%I') and every
-- value with format('%L') (DDL) or passes it with USING (DML).
-- Every statement here can run again over an older version (CREATE OR REPLACE, COMMENT): the
-- upgrade script includes this file whole (scripts/upgrade_0.3.0.sh). A function whose arguments
-- or result change must get a new name (CREATE OR REPLACE cannot change them).

-------------------------------------------------------------------------------------------------
-- Embeddings: pgvector's type lives in whatever schema vector was installed in; resolve it now so
-- the functions work whatever the caller's search_path.
DO $do$
DECLARE
    vs name := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                WHERE e.extname = 'vector');
BEGIN
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION eai.embed(input text) RETURNS %1$I.vector
        LANGUAGE sql STABLE STRICT PARALLEL UNSAFE
        AS 'SELECT eai._embed(input)::%1$I.vector'
    $f$, vs);
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION eai.embed_batch(inputs text[]) RETURNS %1$I.vector[]
        LANGUAGE sql STABLE STRICT PARALLEL UNSAFE
        AS 'SELECT coalesce(array_agg(e.embedding::%1$I.vector ORDER BY i.i), ''{}'')
              FROM generate_series(1, cardinality(inputs)) AS i(i)
              LEFT JOIN eai._embed_batch(inputs) AS e ON e.ord = i.i'
    $f$, vs);
END
$do$;
COMMENT ON FUNCTION eai.embed(text) IS 'eai: sentence embedding of a text (all-MiniLM-L6-v2 by default: 384 dimensions, unit length), computed in-process. Model from eai.model_dir.';
COMMENT ON FUNCTION eai.embed_batch(text[]) IS 'eai: embeddings of several texts in one model run, in input order (NULL for a NULL text).';

-------------------------------------------------------------------------------------------------
-- Internal helpers.

-- "key 'value', key2 'value2'" for an OPTIONS (...) clause, from a jsonb object.
CREATE OR REPLACE FUNCTION eai._fdw_options(opts jsonb) RETURNS text
LANGUAGE sql IMMUTABLE
AS $$ SELECT string_agg(format('%I %L', key, value), ', ' ORDER BY key) FROM jsonb_each_text(opts) $$;

-- The bronze table of a source table: the one it has; else <source>__<table>, unless another
-- source table has that name, now or in the batch history (a dropped source's bronze table is
-- kept), or a relation of that name that no batch of this table made is in bronze; else the same
-- name with a hash of the pair (eai._bronze_table_candidates).
CREATE OR REPLACE FUNCTION eai._bronze_table_for(p_source text, p_table text) RETURNS name
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name text;
BEGIN
    SELECT t.bronze_table INTO v_name FROM eai.source_tables t WHERE t.source = p_source AND t.table_name = p_table;
    IF FOUND THEN
        RETURN v_name;
    END IF;
    FOREACH v_name IN ARRAY eai._bronze_table_candidates(p_source, p_table) LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM eai.source_tables t WHERE t.bronze_table = v_name);
        CONTINUE WHEN EXISTS (SELECT 1 FROM eai.batches b WHERE b.bronze_table = v_name
                                 AND (b.source, b.table_name) IS DISTINCT FROM (p_source, p_table));
        CONTINUE WHEN to_regclass(format('bronze.%I', v_name)) IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM eai.batches b WHERE b.bronze_table = v_name
                                     AND b.source = p_source AND b.table_name = p_table);
        RETURN v_name;
    END LOOP;
    RAISE EXCEPTION 'eai: no free bronze table name for table % of source %', quote_literal(p_table), quote_literal(p_source)
        USING ERRCODE = '42P07',
              HINT = format('bronze.%I and bronze.%I belong to other source tables: rename this source or table.',
                            (eai._bronze_table_candidates(p_source, p_table))[1], (eai._bronze_table_candidates(p_source, p_table))[2]);
END
$$;

-- The table of a file of a source: the one it has (a file is known by its path and keeps the name
-- it was first given), else its stem, or its whole name when another table of the source has that
-- stem (same.csv and same.tsv are two tables).
CREATE OR REPLACE FUNCTION eai._file_table_name(p_source text, p_path text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_table text;
BEGIN
    SELECT t.table_name INTO v_table FROM eai.source_tables t WHERE t.source = p_source AND t.file_path = p_path;
    RETURN coalesce(v_table, eai._table_name_for_file_among(p_path, ARRAY(SELECT t.table_name FROM eai.source_tables t
                                                                          WHERE t.source = p_source)));
END
$$;

-- Register a file of a folder that PostgreSQL cannot name to file_fdw (a name that is not UTF-8,
-- eai._folder_files) with the dialect that says so: its batches fail with that, no foreign table.
CREATE OR REPLACE FUNCTION eai._register_unreadable_file(p_source text, p_path text, p_dialect jsonb) RETURNS eai.source_tables
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_table text := eai._file_table_name(p_source, p_path);
    st      eai.source_tables;
BEGIN
    INSERT INTO eai.source_tables AS t (source, table_name, foreign_table, bronze_table, file_path, dialect)
    VALUES (p_source, v_table, v_table, eai._bronze_table_for(p_source, v_table), p_path, p_dialect)
    ON CONFLICT (source, table_name) DO UPDATE SET dialect = EXCLUDED.dialect, discovered_at = now()
    RETURNING * INTO st;
    RETURN st;
END
$$;

-- Re-read one CSV file's dialect and (re)create its foreign table when the file's shape changed.
CREATE OR REPLACE FUNCTION eai._sync_file_table(p_source text, p_path text) RETURNS eai.source_tables
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s       eai.sources;
    st      eai.source_tables;
    v_table text := eai._file_table_name(p_source, p_path);
    d       jsonb := eai._sniff_csv(p_path);
    v_cols  text;
    v_have  text[];
    v_want  text[];
BEGIN
    SELECT * INTO STRICT s FROM eai.sources WHERE source = p_source;
    SELECT * INTO st FROM eai.source_tables WHERE source = p_source AND table_name = v_table;
    IF NOT d ?| ARRAY['empty', 'unreadable'] AND s.options ? 'csv' THEN
        d := d || (s.options -> 'csv');      -- user overrides: delimiter, header, encoding, quote
    END IF;
    -- An empty file, or one eai cannot read at all (UTF-16, NUL bytes, no line break): no foreign
    -- table; the table stays registered and each of its batches fails with what to do.
    IF d ?| ARRAY['empty', 'unreadable'] THEN
        IF to_regclass(format('%I.%I', s.staging_schema, v_table)) IS NOT NULL THEN
            EXECUTE format('DROP FOREIGN TABLE %I.%I', s.staging_schema, v_table);
        END IF;
    ELSE
        v_want := ARRAY(SELECT jsonb_array_elements_text(d -> 'columns'));
        v_have := ARRAY(SELECT a.attname::text FROM pg_attribute a
                         WHERE a.attrelid = to_regclass(format('%I.%I', s.staging_schema, v_table))
                           AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum);
        IF v_have IS DISTINCT FROM v_want OR st.dialect IS DISTINCT FROM d THEN
            IF v_have <> '{}' THEN
                EXECUTE format('DROP FOREIGN TABLE %I.%I', s.staging_schema, v_table);
            END IF;
            SELECT string_agg(format('%I text', c), ', ' ORDER BY o) INTO v_cols
              FROM jsonb_array_elements_text(d -> 'columns') WITH ORDINALITY AS t(c, o);
            EXECUTE format('CREATE FOREIGN TABLE %I.%I (%s) SERVER %I OPTIONS '
                           '(filename %L, format %L, header %L, delimiter %L, quote %L, encoding %L)',
                           s.staging_schema, v_table, v_cols, s.server,
                           p_path, 'csv', d ->> 'header', d ->> 'delimiter', d ->> 'quote', d ->> 'encoding');
        END IF;
    END IF;
    INSERT INTO eai.source_tables AS t (source, table_name, foreign_table, bronze_table, file_path, dialect)
    VALUES (p_source, v_table, v_table, eai._bronze_table_for(p_source, v_table), p_path, d)
    ON CONFLICT (source, table_name) DO UPDATE
       SET file_path = EXCLUDED.file_path, dialect = EXCLUDED.dialect, discovered_at = now()
    RETURNING * INTO st;
    RETURN st;
END
$$;

-- Read a source's table definitions: sniff its CSV files, or import its foreign schema.
CREATE OR REPLACE FUNCTION eai._discover(p_source text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s       eai.sources;
    f       record;
    r       record;
    v_limit text := '';
BEGIN
    SELECT * INTO STRICT s FROM eai.sources WHERE source = p_source;
    IF s.kind = 'csv_file' THEN
        PERFORM eai._sync_file_table(p_source, s.location);
    ELSIF s.kind = 'csv_folder' THEN
        FOR f IN SELECT * FROM eai._folder_files(s.location) LOOP
            IF f.unreadable IS NULL THEN
                PERFORM eai._sync_file_table(p_source, f.path);
            ELSE
                PERFORM eai._register_unreadable_file(p_source, f.path, f.unreadable);
            END IF;
        END LOOP;
    ELSE
        FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = s.staging_schema AND c.relkind = 'f' LOOP
            EXECUTE format('DROP FOREIGN TABLE %I.%I', s.staging_schema, r.relname);
        END LOOP;
        IF s.options ? 'tables' THEN
            SELECT ' LIMIT TO (' || string_agg(format('%I', t), ', ') || ')' INTO v_limit
              FROM jsonb_array_elements_text(s.options -> 'tables') AS t;
        END IF;
        EXECUTE format('IMPORT FOREIGN SCHEMA %I%s FROM SERVER %I INTO %I',
                       coalesce(s.options ->> 'schema', 'public'), v_limit, s.server, s.staging_schema);
        -- One table at a time, so that each bronze name is chosen knowing the ones before it.
        FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = s.staging_schema AND c.relkind = 'f' ORDER BY c.relname LOOP
            INSERT INTO eai.source_tables AS t (source, table_name, foreign_table, bronze_table)
            VALUES (p_source, r.relname, r.relname, eai._bronze_table_for(p_source, r.relname))
            ON CONFLICT (source, table_name) DO UPDATE SET discovered_at = now();
        END LOOP;
    END IF;
END
$$;

-- Create the bronze table of a source table, or add the columns the source gained since.
CREATE OR REPLACE FUNCTION eai._ensure_bronze(st eai.source_tables, v_ft regclass) RETURNS regclass
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p_source text := st.source;
    p_table  text := st.table_name;
    v_bt     regclass;
    c        record;
BEGIN
    SELECT a.attname INTO c FROM pg_attribute a
     WHERE a.attrelid = v_ft AND a.attnum > 0 AND NOT a.attisdropped AND a.attname LIKE '\_eai\_%' LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'eai: column "%" of source table "%" uses the reserved prefix _eai_', c.attname, p_table
            USING ERRCODE = '42701',
                  HINT = 'Rename the column at the source (or in a view the source reads).';
    END IF;
    v_bt := to_regclass(format('bronze.%I', st.bronze_table));
    IF v_bt IS NULL THEN
        EXECUTE format('CREATE TABLE bronze.%I (LIKE %s)', st.bronze_table, v_ft);
        EXECUTE format('ALTER TABLE bronze.%I ADD COLUMN _eai_batch bigint NOT NULL, '
                       'ADD COLUMN _eai_loaded_at timestamptz NOT NULL, ADD COLUMN _eai_row_hash uuid NOT NULL',
                       st.bronze_table);
        -- A hash index: cheaper than a B-tree for random 128-bit keys, and uniqueness is kept by
        -- the ingest itself (one writer per bronze table, anti-join on the hash).
        EXECUTE format('CREATE INDEX ON bronze.%I USING hash (_eai_row_hash)', st.bronze_table);
        EXECUTE format('COMMENT ON TABLE bronze.%I IS %L', st.bronze_table,
                       format('eai: raw rows of table %s of source %s, as read; see eai.batches.',
                              quote_literal(p_table), quote_literal(p_source)));
        EXECUTE format('COMMENT ON COLUMN bronze.%I._eai_batch IS %L', st.bronze_table,
                       'eai: batch that loaded the row (eai.batches.batch_id).');
        EXECUTE format('COMMENT ON COLUMN bronze.%I._eai_loaded_at IS %L', st.bronze_table,
                       'eai: when the row was loaded.');
        EXECUTE format('COMMENT ON COLUMN bronze.%I._eai_row_hash IS %L', st.bronze_table,
                       'eai: 128-bit hash (xxh3) of the row''s values in this table''s column order, columns added since it was created counting only when they hold a value (and, for the 2nd+ copy of an identical row, of its occurrence number); re-ingesting never duplicates a row, also after the source gained or reordered columns.');
        v_bt := to_regclass(format('bronze.%I', st.bronze_table));
    ELSE
        -- A column whose type changed at the source (int to text at a remote database, after
        -- eai.refresh_source) no longer fits bronze, which keeps the type its rows landed with. Say
        -- which column and how to widen bronze, instead of the insert's 42804 and its generic hint.
        -- Fits: the same type with bronze's modifier as wide or unset, or an implicit cast to an
        -- unmodified bronze type (int to bigint, varchar to text).
        SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS now_type, format_type(b.atttypid, b.atttypmod) AS bronze_type
          INTO c
          FROM pg_attribute a
          JOIN pg_attribute b ON b.attrelid = v_bt AND b.attname = a.attname AND b.attnum > 0 AND NOT b.attisdropped
         WHERE a.attrelid = v_ft AND a.attnum > 0 AND NOT a.attisdropped
           AND NOT CASE WHEN a.atttypid = b.atttypid
                        THEN b.atttypmod = -1 OR (a.atttypmod <> -1 AND a.atttypmod <= b.atttypmod)
                        ELSE b.atttypmod = -1 AND EXISTS (SELECT 1 FROM pg_cast k WHERE k.castsource = a.atttypid
                                                             AND k.casttarget = b.atttypid AND k.castcontext = 'i')
                   END
         ORDER BY a.attnum LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'eai: column % of source table % is now %, but % in %', quote_ident(c.attname), quote_literal(p_table),
                            c.now_type, c.bronze_type, v_bt
                USING ERRCODE = '42804',
                      DETAIL = 'The column''s type changed at the source; bronze keeps the type its rows were landed with.',
                      HINT = format('Widen the bronze column (its rows keep their values): ALTER TABLE %s ALTER COLUMN %I TYPE %s USING %I::text::%s; '
                                    'then run eai.ingest again. Or cast the column back to %s at the source (in a view the source reads).',
                                    v_bt, c.attname, c.now_type, c.attname, c.now_type, c.bronze_type);
        END IF;
        FOR c IN SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS typ FROM pg_attribute a
                  WHERE a.attrelid = v_ft AND a.attnum > 0 AND NOT a.attisdropped
                    AND NOT EXISTS (SELECT 1 FROM pg_attribute b WHERE b.attrelid = v_bt
                                       AND b.attname = a.attname AND NOT b.attisdropped)
                  ORDER BY a.attnum LOOP
            EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s', v_bt, c.attname, c.typ);
            RAISE NOTICE 'eai: % gained column % (new in source table %)', v_bt, quote_ident(c.attname), quote_literal(p_table);
        END LOOP;
    END IF;
    RETURN v_bt;
END
$$;

-- One batch: read one source table into its bronze table, inside a subtransaction. On error the
-- subtransaction is rolled back (nothing half-written) and the batch is recorded as failed.
-- The record of a failed ingest (from _ingest_table, or from the failure spool when that
-- transaction could not commit: then its batch row is written here, with the batch's number):
-- the batch marked failed, the failure with its attempt (failed batches of this table since its
-- last good one) and what eai does (retry at next_attempt_at, or not: returned, in words), the
-- source's breaker.
CREATE OR REPLACE FUNCTION eai._record_ingest_failure(p jsonb) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_batch  bigint := (p ->> 'batch_id')::bigint;
    v_source text := p ->> 'source';
    v_table  text := p ->> 'table_name';
    v_class  text := p ->> 'class';
    f        record;
BEGIN
    UPDATE eai.batches
       SET status = 'failed', rows_read = coalesce((p ->> 'rows_read')::bigint, 0), rows_written = 0,
           finished_at = (p ->> 'failed_at')::timestamptz, error_sqlstate = p ->> 'sqlstate', error_class = v_class,
           error_message = p ->> 'message', error_detail = p ->> 'detail', error_hint = p ->> 'hint',
           error_context = p ->> 'context'
     WHERE batch_id = v_batch;
    IF NOT FOUND THEN
        INSERT INTO eai.batches (batch_id, source, table_name, bronze_table, status, rows_read, rows_written, started_at,
                                 finished_at, error_sqlstate, error_class, error_message, error_detail, error_hint,
                                 error_context, run_by)
        OVERRIDING SYSTEM VALUE
        VALUES (v_batch, v_source, v_table, p ->> 'bronze_table', 'failed', coalesce((p ->> 'rows_read')::bigint, 0), 0,
                coalesce((p ->> 'started_at')::timestamptz, (p ->> 'failed_at')::timestamptz), (p ->> 'failed_at')::timestamptz,
                p ->> 'sqlstate', v_class, p ->> 'message', p ->> 'detail', p ->> 'hint', p ->> 'context', p ->> 'role');
    END IF;
    f := eai._record_failure('ingest', format('%s.%s', v_source, v_table), (p ->> 'relid')::oid, NULL, v_batch,
            p ->> 'sqlstate', v_class, p ->> 'message',
            (SELECT count(*)::integer FROM eai.batches x
              WHERE x.source = v_source AND x.table_name = v_table AND x.status = 'failed'
                AND x.batch_id > coalesce((SELECT max(y.batch_id) FROM eai.batches y
                                            WHERE y.source = v_source AND y.table_name = v_table AND y.status = 'succeeded'), 0)),
            true, NULL, p ->> 'hint', format('SELECT * FROM eai.ingest(%L, %L);', v_source, v_table),
            p ->> 'role', (p ->> 'spool_id')::uuid);
    -- The source was not reached (or refused): that counts against its circuit breaker. Any
    -- other failure (bad data, schema drift) reached it.
    PERFORM eai._breaker_record('source', v_source, v_class IN ('transient', 'resource', 'configuration'));
    RETURN f.note;
END
$$;
COMMENT ON FUNCTION eai._record_ingest_failure(jsonb) IS 'eai (internal): record a failed ingest (its batch, its failure, its source''s breaker), from eai._ingest_table or from the failure spool; returns what eai does about it, in words.';

CREATE OR REPLACE FUNCTION eai._ingest_table(p_source text, p_table text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET work_mem = '64MB' 
AS $$
DECLARE
    s         eai.sources;
    st        eai.source_tables;
    v_batch   bigint;
    v_bt      regclass;
    v_ft      regclass;
    v_cols    text;
    v_hash_args text;
    v_base    integer;
    v_written bigint;
    v_state   text;
    v_msg     text;
    v_detail  text;
    v_hint    text;
    v_context text;
    v_fdw     name;
    v_file    text;
    v_class   text;
    v_note    text;
    v_entry   jsonb;
    v_admit   record;
BEGIN
    SELECT * INTO STRICT s FROM eai.sources WHERE source = p_source;
    SELECT * INTO STRICT st FROM eai.source_tables WHERE source = p_source AND table_name = p_table;
    SELECT w.fdwname INTO v_fdw FROM pg_foreign_server fs JOIN pg_foreign_data_wrapper w ON w.oid = fs.srvfdw
     WHERE fs.srvname = s.server;
    INSERT INTO eai.batches (source, table_name, bronze_table, status)
    VALUES (p_source, p_table, st.bronze_table, 'running') RETURNING batch_id INTO v_batch;
    -- The source's circuit breaker (sql/breakers.sql): open, the source is not even tried; the
    -- batch is skipped and says until when. Every other source goes on.
    SELECT * INTO v_admit FROM eai._breaker_admit('source', p_source);
    IF v_admit.decision = 'refuse' THEN
        UPDATE eai.batches
           SET status = 'skipped', finished_at = clock_timestamp(),
               error_message = format('eai: source %s is paused: %s', quote_literal(p_source), v_admit.reason),
               error_hint = format('SELECT * FROM eai.breakers WHERE scope = ''source'' AND target = %L; eai.reset_breaker(''source'', %L) closes it now.',
                                   p_source, p_source)
         WHERE batch_id = v_batch;
        RAISE WARNING 'eai: batch % (source %, table %) skipped: the source is paused: %', v_batch, quote_literal(p_source),
                      quote_literal(p_table), v_admit.reason
            USING HINT = format('SELECT eai.reset_breaker(''source'', %L); closes its circuit breaker now.', p_source);
        RETURN v_batch;
    END IF;
    BEGIN
        IF s.kind IN ('csv_file', 'csv_folder') THEN
            IF st.dialect #>> '{unreadable,kind}' = 'file_name' THEN
                -- A name that is not UTF-8: there is no path to re-read. Gone from the folder, it is
                -- a missing file like any other.
                IF NOT EXISTS (SELECT 1 FROM eai._folder_files(s.location) f WHERE f.path = st.file_path) THEN
                    RAISE EXCEPTION 'eai: could not read "%": No such file or directory', st.file_path
                        USING ERRCODE = '58P01';
                END IF;
                RAISE EXCEPTION USING ERRCODE = st.dialect #>> '{unreadable,sqlstate}',
                    MESSAGE = format('eai: could not read "%s": %s', st.file_path, st.dialect #>> '{unreadable,message}'),
                    HINT = st.dialect #>> '{unreadable,hint}';
            END IF;
            IF eai._path_kind(st.file_path) = 'missing' THEN
                RAISE EXCEPTION 'eai: could not read "%": No such file or directory', st.file_path
                    USING ERRCODE = '58P01';
            END IF;
            st := eai._sync_file_table(p_source, st.file_path);
            IF st.dialect ? 'empty' THEN
                RAISE EXCEPTION 'eai: the file "%" is empty: it has no header and no rows', st.file_path
                    USING ERRCODE = 'EAI01';
            END IF;
            IF st.dialect ? 'unreadable' THEN
                RAISE EXCEPTION USING ERRCODE = st.dialect #>> '{unreadable,sqlstate}',
                    MESSAGE = format('eai: could not read "%s": %s', st.file_path, st.dialect #>> '{unreadable,message}'),
                    HINT = st.dialect #>> '{unreadable,hint}';
            END IF;
            -- COPY joins lines silently at a quote inside an unquoted field: read the whole file as
            -- COPY will first, and fail the batch at the line of the first such quote.
            PERFORM eai._check_csv(st.file_path, st.dialect ->> 'delimiter', st.dialect ->> 'quote');
        END IF;
        v_ft := format('%I.%I', s.staging_schema, st.foreign_table)::regclass;
        -- The one probe of a half-open breaker has a timeout of its own for the source's first
        -- row (eai.breaker_probe_timeout); once the source answered, the read goes on unbound.
        IF v_admit.decision = 'probe' AND eai._arm_probe_timeout() THEN
            EXECUTE format('SELECT 1 FROM %s LIMIT 1', v_ft);
            PERFORM eai._disarm_probe_timeout();
        END IF;
        v_bt := eai._ensure_bronze(st, v_ft);
        SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum) INTO v_cols
          FROM pg_attribute a WHERE a.attrelid = v_ft AND a.attnum > 0 AND NOT a.attisdropped;
        -- One writer per bronze table at a time (readers are not blocked); a second ingest of the
        -- same table waits, then sees the first one's rows.
        EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', v_bt);
        -- The row hash is a 128-bit hash of the row's values; the 2nd, 3rd… copy of an identical
        -- row hashes its occurrence number too, so duplicates inside the source are kept while
        -- re-reading the same rows adds nothing. The values are taken in the bronze table's order,
        -- not the source's: first the columns bronze was created with (those before _eai_batch),
        -- then the ones it gained since, which count only up to the last one holding a value
        -- (eai._row_hash_shaped). A column the source no longer has counts as NULL. So a source
        -- that gains a column, or reorders its columns, re-lands none of its unchanged rows; with
        -- no column gained this is eai._row_hash of the row, as bronze has always stored it.
        SELECT count(*) FILTER (WHERE b.attnum < (SELECT m.attnum FROM pg_attribute m
                                                    WHERE m.attrelid = v_bt AND m.attname = '_eai_batch')),
               string_agg(CASE WHEN f.attname IS NULL THEN 'NULL::text' ELSE format('%I::text', f.attname) END,
                          ', ' ORDER BY b.attnum)
          INTO v_base, v_hash_args
          FROM pg_attribute b
          LEFT JOIN pg_attribute f ON f.attrelid = v_ft AND f.attname = b.attname AND f.attnum > 0 AND NOT f.attisdropped
         WHERE b.attrelid = v_bt AND b.attnum > 0 AND NOT b.attisdropped AND b.attname NOT LIKE '\_eai\_%';
        EXECUTE format(
            'INSERT INTO %1$s (%2$s, _eai_batch, _eai_loaded_at, _eai_row_hash) '
            'SELECT %2$s, $1, $2, _eai_h FROM ('
            '  SELECT %2$s, CASE WHEN _eai_n = 1 THEN _eai_h0 ELSE eai._row_hash_occurrence(_eai_h0, _eai_n) END AS _eai_h'
            '    FROM (SELECT %2$s, _eai_h0, row_number() OVER (PARTITION BY _eai_h0) AS _eai_n'
            '            FROM (SELECT %2$s, eai._row_hash_shaped($3, VARIADIC ARRAY[%4$s]) AS _eai_h0 FROM %3$s'
            '                   WHERE eai._ingest_tick($1)) AS a) AS b) AS r '
            'WHERE NOT EXISTS (SELECT 1 FROM %1$s AS x WHERE x._eai_row_hash = r._eai_h)',
            v_bt, v_cols, v_ft, v_hash_args)
        USING v_batch, clock_timestamp(), v_base;
        GET DIAGNOSTICS v_written = ROW_COUNT;
        UPDATE eai.batches
           SET status = 'succeeded', rows_read = eai._ingest_rows_read(v_batch), rows_written = v_written,
               finished_at = clock_timestamp()
         WHERE batch_id = v_batch;
        PERFORM eai._breaker_record('source', p_source, false);
        PERFORM eai._resolve_escalations(ARRAY['not_retried', 'configuration'], format('%s.%s', p_source, p_table), NULL,
                                         'resolved', format('batch %s succeeded', v_batch));
    -- OTHERS leaves out query_canceled (57014): a statement timeout, or a cancel request, met
    -- while reading the source is recorded like any failure (transient), and the caller stops
    -- there (eai.ingest, eai.heal), keeping what was done before it.
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT,
                                v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT,
                                v_context = PG_EXCEPTION_CONTEXT;
        IF eai._disarm_probe_timeout() AND v_state = '57014' THEN
            v_msg := format('eai: the probe of source %s did not answer within eai.breaker_probe_timeout (%s): %s',
                            quote_literal(p_source), current_setting('eai.breaker_probe_timeout'), v_msg);
        END IF;
        -- eai's own errors carry their hint. For the others, what eai can tell from the error and
        -- the wrapper (a remote column whose type changed, a type that no longer fits bronze)
        -- comes before PostgreSQL's generic hint (eai-core error_taxonomy::diagnose_ingest).
        v_hint := CASE WHEN v_msg LIKE 'eai: %' AND coalesce(v_hint, '') <> '' THEN v_hint
                       ELSE coalesce(eai._ingest_error_hint(v_state, coalesce(v_context, ''), coalesce(v_detail, ''), coalesce(v_fdw, '')),
                                     nullif(v_hint, ''), eai._ingest_hint(v_state))
                  END;
        -- A file's error names the file and, when COPY says it, the line: PostgreSQL's own message
        -- ("extra data after last expected column") names neither.
        IF v_fdw = 'file_fdw' AND v_msg NOT LIKE 'eai: %' THEN
            SELECT regexp_replace(o.option_value, '^.*/', '') INTO v_file
              FROM pg_foreign_table t, pg_options_to_table(t.ftoptions) o
             WHERE t.ftrelid = v_ft AND o.option_name = 'filename';
            IF v_file IS NOT NULL AND strpos(v_msg, v_file) = 0 THEN
                v_msg := format('%s%s: %s', v_file, coalesce(', line ' || substring(v_context FROM 'COPY [^,]*, line ([0-9]+)'), ''), v_msg);
            END IF;
        END IF;
        v_class := eai._ingest_error_class(v_state, coalesce(v_context, ''), coalesce(v_detail, ''), coalesce(v_fdw, ''));
        -- The record of the failure. When this transaction may not be able to commit (postgres_fdw
        -- refuses to, once a remote connection broke in the middle of the read), it is spooled
        -- first (src/failure_spool.rs), and the worker or the next eai.heal() writes it from there.
        v_entry := jsonb_build_object(
            'batch_id', v_batch, 'source', p_source, 'table_name', p_table, 'bronze_table', st.bronze_table,
            'relid', coalesce(v_bt, to_regclass(format('bronze.%I', st.bronze_table)))::oid,
            'started_at', (SELECT b.started_at FROM eai.batches b WHERE b.batch_id = v_batch), 'failed_at', clock_timestamp(),
            'rows_read', eai._ingest_rows_read(v_batch), 'sqlstate', v_state, 'class', v_class,
            'message', eai._redact(v_msg), 'detail', eai._redact(nullif(v_detail, '')), 'hint', v_hint,
            'context', eai._redact(nullif(v_context, '')), 'role', eai._session_role());
        IF eai._ingest_failure_may_prevent_commit(v_state, coalesce(v_fdw, '')) THEN
            v_entry := eai._spool_failure(v_entry);
        END IF;
        v_note := eai._record_ingest_failure(v_entry);
        RAISE WARNING 'eai: batch % (source %, table %) failed: %', v_batch, quote_literal(p_source),
                      quote_literal(p_table), regexp_replace(eai._redact(v_msg), '^eai: ', '')
            USING HINT = v_hint,
                  DETAIL = format('SQLSTATE %s (%s); nothing of this batch was written (eai.batches); %s (eai.failures).',
                                  v_state, v_class, v_note);
    END;
    RETURN v_batch;
END
$$;

-------------------------------------------------------------------------------------------------
-- Public API.

CREATE OR REPLACE FUNCTION eai.add_source(name text, location text DEFAULT NULL, server name DEFAULT NULL,
                               options jsonb DEFAULT '{}')
RETURNS SETOF eai.source_tables
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
-- The caller's statement holds the connection string, password included: when it fails, the
-- server log must not repeat it (STATEMENT: lines). The error itself is logged, redacted.
SET log_min_error_statement = panic
AS $$
#variable_conflict use_variable
DECLARE
    v_kind    text;
    v_server  name;
    v_schema  name := eai._staging_schema_name(name);
    v_owns    boolean := false;
    v_fdw     name;
    v_conn    jsonb;
    v_loc     text := location;
    v_state   text;
    v_msg     text;
    v_detail  text;
    v_hint    text;
BEGIN
    IF name IS NULL OR btrim(name) = '' THEN
        RAISE EXCEPTION 'eai: a source needs a name' USING ERRCODE = '22023',
            HINT = 'SELECT * FROM eai.add_source(''crm'', ''/path/to/folder'');';
    END IF;
    IF EXISTS (SELECT 1 FROM eai.sources s WHERE s.source = name) THEN
        RAISE EXCEPTION 'eai: source % already exists', quote_literal(name) USING ERRCODE = '42710',
            HINT = 'Re-read its tables with eai.refresh_source(name), or remove it with eai.drop_source(name).';
    END IF;
    IF location IS NULL AND server IS NULL THEN
        RAISE EXCEPTION 'eai: source % needs a location (file, folder or connection string) or a foreign server',
            quote_literal(name) USING ERRCODE = '22023',
            HINT = 'Give a CSV file or folder path, a postgresql:// URI, or server => an existing foreign server.';
    END IF;
    options := coalesce(options, '{}');
    BEGIN
        IF server IS NOT NULL THEN
            SELECT w.fdwname INTO v_fdw FROM pg_foreign_server fs
              JOIN pg_foreign_data_wrapper w ON w.oid = fs.srvfdw WHERE fs.srvname = server;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'eai: foreign server % does not exist', quote_ident(server) USING ERRCODE = '42704',
                    HINT = 'List servers with \des in psql, or give a location instead.';
            END IF;
            v_server := server;
            IF v_fdw = 'file_fdw' THEN
                IF location IS NULL THEN
                    RAISE EXCEPTION 'eai: a file_fdw source needs a location (CSV file or folder)' USING ERRCODE = '22023';
                END IF;
                v_kind := CASE eai._path_kind(location) WHEN 'directory' THEN 'csv_folder' ELSE 'csv_file' END;
            ELSE
                v_kind := 'foreign_server';
            END IF;
        ELSIF eai._is_conninfo(location) THEN
            v_kind := 'postgres';
            v_conn := eai._parse_conninfo(location);
            v_loc := v_conn ->> 'redacted';
            v_server := eai._server_name(name);
            v_owns := true;
            EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER postgres_fdw OPTIONS (%s)',
                           v_server, coalesce(eai._fdw_options(v_conn -> 'server'), 'dbname ''postgres'''));
            IF v_conn -> 'user_mapping' = '{}' THEN
                EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER %I', v_server);
            ELSE
                EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER %I OPTIONS (%s)',
                               v_server, eai._fdw_options(v_conn -> 'user_mapping'));
            END IF;
        ELSE
            v_kind := CASE eai._path_kind(location)
                          WHEN 'directory' THEN 'csv_folder'
                          WHEN 'file' THEN 'csv_file'
                      END;
            IF v_kind IS NULL THEN
                RAISE EXCEPTION 'eai: could not read "%": No such file or directory', location
                    USING ERRCODE = '58P01',
                          HINT = 'The path is read by the database server: give an absolute path that the server''s OS user can read.';
            END IF;
            v_server := eai._server_name(name);
            v_owns := true;
            EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER file_fdw', v_server);
        END IF;
        EXECUTE format('CREATE SCHEMA %I', v_schema);
        EXECUTE format('COMMENT ON SCHEMA %I IS %L', v_schema,
                       format('eai: foreign tables of source %s (staging; see eai.source_tables).', quote_literal(name)));
        INSERT INTO eai.sources (source, kind, location, server, owns_server, staging_schema, options)
        VALUES (name, v_kind, v_loc, v_server, v_owns, v_schema, options);
        PERFORM eai._discover(name);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT,
                                v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        v_msg := format('eai: could not add source %s: %s', quote_literal(name),
                        regexp_replace(eai._redact(v_msg), '^eai: ', ''));
        v_hint := coalesce(nullif(v_hint, ''), eai._ingest_hint(v_state));
        IF coalesce(v_detail, '') = '' THEN
            RAISE EXCEPTION USING ERRCODE = v_state, MESSAGE = v_msg, HINT = v_hint;
        END IF;
        RAISE EXCEPTION USING ERRCODE = v_state, MESSAGE = v_msg, DETAIL = eai._redact(v_detail), HINT = v_hint;
    END;
    RETURN QUERY SELECT * FROM eai.source_tables t WHERE t.source = name ORDER BY t.table_name;
END
$$;
COMMENT ON FUNCTION eai.add_source(text, text, name, jsonb) IS
'eai: register a source and import its table definitions into a staging schema. location: a CSV file, a folder of CSV files (header and delimiter detected), or a postgres connection string / URI (postgres_fdw); server: an existing foreign server instead. options: {"schema": remote schema, "tables": [names], "csv": {"delimiter": ";", "header": true}}.';

CREATE OR REPLACE FUNCTION eai.refresh_source(name text) RETURNS SETOF eai.source_tables
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    IF NOT EXISTS (SELECT 1 FROM eai.sources s WHERE s.source = name) THEN
        RAISE EXCEPTION 'eai: source % does not exist', quote_literal(name) USING ERRCODE = '42704',
            HINT = 'SELECT source FROM eai.sources; lists the sources.';
    END IF;
    PERFORM eai._discover(name);
    RETURN QUERY SELECT * FROM eai.source_tables t WHERE t.source = name ORDER BY t.table_name;
END
$$;
COMMENT ON FUNCTION eai.refresh_source(text) IS 'eai: re-read a source''s table definitions (new files, new or changed remote tables).';

CREATE OR REPLACE FUNCTION eai.drop_source(name text, drop_bronze boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s  eai.sources;
    st eai.source_tables;
BEGIN
    SELECT * INTO s FROM eai.sources x WHERE x.source = name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'eai: source % does not exist', quote_literal(name) USING ERRCODE = '42704',
            HINT = 'SELECT source FROM eai.sources; lists the sources.';
    END IF;
    IF drop_bronze THEN
        FOR st IN SELECT * FROM eai.source_tables t WHERE t.source = name LOOP
            EXECUTE format('DROP TABLE IF EXISTS bronze.%I', st.bronze_table);
        END LOOP;
    END IF;
    FOR st IN SELECT * FROM eai.source_tables t WHERE t.source = name LOOP
        IF to_regclass(format('%I.%I', s.staging_schema, st.foreign_table)) IS NOT NULL THEN
            EXECUTE format('DROP FOREIGN TABLE %I.%I', s.staging_schema, st.foreign_table);
        END IF;
    END LOOP;
    EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', s.staging_schema);
    IF s.owns_server THEN
        EXECUTE format('DROP SERVER IF EXISTS %I CASCADE', s.server);
    END IF;
    DELETE FROM eai.sources x WHERE x.source = name;
END
$$;
COMMENT ON FUNCTION eai.drop_source(text, boolean) IS 'eai: remove a source, its staging schema and (if eai created it) its server. Bronze tables are kept unless drop_bronze; batch history is kept.';

CREATE OR REPLACE FUNCTION eai.ingest(source text, table_name text DEFAULT NULL) RETURNS SETOF eai.batches
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s    eai.sources;
    f    record;
    t    text;
    v_id bigint;
BEGIN
    SELECT * INTO s FROM eai.sources x WHERE x.source = source;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'eai: source % does not exist', quote_literal(source) USING ERRCODE = '42704',
            HINT = 'SELECT source FROM eai.sources; lists the sources; eai.add_source adds one.';
    END IF;
    IF s.kind = 'csv_folder' AND eai._path_kind(s.location) = 'directory' THEN
        -- New files in the folder become new tables.
        FOR f IN SELECT * FROM eai._folder_files(s.location) LOOP
            IF NOT EXISTS (SELECT 1 FROM eai.source_tables x WHERE x.source = source AND x.file_path = f.path) THEN
                IF f.unreadable IS NULL THEN
                    PERFORM eai._sync_file_table(source, f.path);
                ELSE
                    PERFORM eai._register_unreadable_file(source, f.path, f.unreadable);
                END IF;
            END IF;
        END LOOP;
    END IF;
    IF table_name IS NOT NULL AND NOT EXISTS (SELECT 1 FROM eai.source_tables x
                                              WHERE x.source = source AND x.table_name = table_name) THEN
        RAISE EXCEPTION 'eai: source % has no table %', quote_literal(source), quote_literal(table_name)
            USING ERRCODE = '42P01',
                  HINT = 'SELECT table_name FROM eai.source_tables WHERE source = ...; lists them; eai.refresh_source re-reads the source.';
    END IF;
    FOR t IN SELECT x.table_name FROM eai.source_tables x
              WHERE x.source = source AND (table_name IS NULL OR x.table_name = table_name)
              ORDER BY x.table_name LOOP
        v_id := eai._ingest_table(source, t);
        RETURN QUERY SELECT * FROM eai.batches b WHERE b.batch_id = v_id;
        -- Cancelled (a statement timeout, a cancel request): the tables after it are not read.
        EXIT WHEN EXISTS (SELECT 1 FROM eai.batches b WHERE b.batch_id = v_id AND b.error_sqlstate = '57014');
    END LOOP;
END
$$;
COMMENT ON FUNCTION eai.ingest(text, text) IS 'eai: copy the rows of a source''s tables (or of one table) into bronze, one batch per table. Rows already in bronze are not written again. A failing table fails its own batch (WARNING + eai.batches row, eai.failures), not the others; a statement timeout or a cancel request fails its batch the same way and ends the call.';

CREATE OR REPLACE VIEW eai.ingest_status AS
SELECT st.source,
       st.table_name,
       format('bronze.%I', st.bronze_table)                                     AS bronze_table,
       coalesce(agg.rows_in_bronze, 0)                                          AS rows_in_bronze,
       coalesce(agg.batches, 0)                                                 AS batches,
       last.batch_id                                                            AS last_batch,
       last.status                                                              AS last_status,
       last.rows_read                                                           AS last_rows_read,
       last.rows_written                                                        AS last_rows_written,
       last.finished_at                                                         AS last_finished_at,
       last.error_sqlstate                                                      AS last_error_sqlstate,
       last.error_message                                                       AS last_error
  FROM eai.source_tables st
  LEFT JOIN LATERAL (SELECT count(*) AS batches,
                            sum(b.rows_written) FILTER (WHERE b.status = 'succeeded') AS rows_in_bronze
                       FROM eai.batches b WHERE b.source = st.source AND b.table_name = st.table_name) agg ON true
  LEFT JOIN LATERAL (SELECT * FROM eai.batches b WHERE b.source = st.source AND b.table_name = st.table_name
                      ORDER BY b.batch_id DESC LIMIT 1) last ON true;
COMMENT ON VIEW eai.ingest_status IS 'eai: per source table, its bronze table, rows landed, batches, and the last batch''s outcome.';
COMMENT ON COLUMN eai.ingest_status.source IS 'Source.';
COMMENT ON COLUMN eai.ingest_status.table_name IS 'Source table.';
COMMENT ON COLUMN eai.ingest_status.bronze_table IS 'Bronze table, schema-qualified and quoted.';
COMMENT ON COLUMN eai.ingest_status.rows_in_bronze IS 'Rows written by the table''s succeeded batches.';
COMMENT ON COLUMN eai.ingest_status.batches IS 'Batches run for the table.';
COMMENT ON COLUMN eai.ingest_status.last_batch IS 'Latest batch.';
COMMENT ON COLUMN eai.ingest_status.last_status IS 'Status of the latest batch.';
COMMENT ON COLUMN eai.ingest_status.last_rows_read IS 'Rows the latest batch read.';
COMMENT ON COLUMN eai.ingest_status.last_rows_written IS 'Rows the latest batch wrote.';
COMMENT ON COLUMN eai.ingest_status.last_finished_at IS 'When the latest batch ended.';
COMMENT ON COLUMN eai.ingest_status.last_error_sqlstate IS 'SQLSTATE of the latest batch''s error, if it failed.';
COMMENT ON COLUMN eai.ingest_status.last_error IS 'Message of the latest batch''s error, if it failed.';

-- sql/casts.sql
-- The per-value helpers of the promotion statement (eai_core::promotion builds the calls), as
-- plain C functions (src/fast_casts.rs): a promotion calls them once per bronze value, and
-- without pgrx's argument wrappers the cost per call is the parse.
-- Safe casts: the value as the type, or NULL when it is not one (or does not fit); never an error.
CREATE FUNCTION eai._to_int8(value text) RETURNS bigint
    AS 'MODULE_PATHNAME', 'eai_to_int8' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION eai._to_int4(value text) RETURNS integer
    AS 'MODULE_PATHNAME', 'eai_to_int4' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION eai._to_int2(value text) RETURNS smallint
    AS 'MODULE_PATHNAME', 'eai_to_int2' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
-- ISO dates always; D/M/Y or M/D/Y (with -, / or .) when date_order is DMY or MDY.
CREATE FUNCTION eai._to_date(value text, date_order text) RETURNS date
    AS 'MODULE_PATHNAME', 'eai_to_date' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
-- Whether PostgreSQL's numeric input reads the value as it stands (the promotion then casts it
-- directly; other values go through eai._normalize).
CREATE FUNCTION eai._is_number(value text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'eai_is_number' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
-- value ~ pattern for patterns in the subset PostgreSQL and the regex crate read alike
-- (eai_core::regex_compat); regex rules that fit use it, the others use ~. Any other pattern is
-- refused with SQLSTATE 2201B.
CREATE FUNCTION eai._regex_match(value text, pattern text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'eai_regex_match' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;

-- sql/trust.sql
-- eai 0.4.0: whose code eai runs. Promotions and gold refreshes run as whoever starts them (the
-- ingesting role, the worker, run_pipeline: usually a superuser), and they run code attached to
-- the tables they write or read: triggers, defaults, check constraints, rules, policies, index
-- expressions, view queries, and the functions and operators in them. Code a less privileged role
-- owns must never run with those rights, so eai runs code only when its owner is trusted: the
-- role the pipeline or gold table belongs to, or a superuser. Anything else is refused with 42501,
-- naming the code and its owner (docs/security.md). Loaded before pipelines.sql.

CREATE FUNCTION eai._trusted(p_owner oid, p_trustee oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p_owner = p_trustee OR coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.oid = p_owner), false)
$$;

-- The code attached to `p_rel` whose owner `p_trustee` does not trust, and with p_owner the
-- relation itself when another role owns it (a view's query is its owner's code).
CREATE FUNCTION eai._foreign_code(p_rel regclass, p_trustee regrole, p_owner boolean)
RETURNS TABLE (what text, code text, owner name)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    WITH objs AS (
        SELECT 'pg_trigger'::regclass AS classid, t.oid AS objid, format('trigger %I', t.tgname) AS what
          FROM pg_trigger t WHERE t.tgrelid = p_rel AND NOT t.tgisinternal
        UNION ALL
        SELECT 'pg_attrdef'::regclass, d.oid, format('default of column %I', a.attname)
          FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = p_rel
        UNION ALL
        SELECT 'pg_constraint'::regclass, c.oid, format('constraint %I', c.conname) FROM pg_constraint c WHERE c.conrelid = p_rel
        UNION ALL
        SELECT 'pg_rewrite'::regclass, r.oid, CASE WHEN r.rulename = '_RETURN' THEN 'query of the view' ELSE format('rule %I', r.rulename) END
          FROM pg_rewrite r WHERE r.ev_class = p_rel
        UNION ALL
        SELECT 'pg_policy'::regclass, p.oid, format('policy %I', p.polname) FROM pg_policy p WHERE p.polrelid = p_rel
        UNION ALL
        SELECT 'pg_class'::regclass, i.indexrelid, format('index %s', i.indexrelid::regclass) FROM pg_index i WHERE i.indrelid = p_rel
    ),
    funcs AS (
        SELECT o.what, d.refobjid AS fn
          FROM objs o JOIN pg_depend d ON d.classid = o.classid AND d.objid = o.objid AND d.refclassid = 'pg_proc'::regclass
        UNION ALL
        SELECT o.what, op.oprcode::oid
          FROM objs o JOIN pg_depend d ON d.classid = o.classid AND d.objid = o.objid AND d.refclassid = 'pg_operator'::regclass
          JOIN pg_operator op ON op.oid = d.refobjid
    )
    SELECT DISTINCT f.what, p.oid::regprocedure::text, pg_get_userbyid(p.proowner)
      FROM funcs f JOIN pg_proc p ON p.oid = f.fn
     WHERE NOT eai._trusted(p.proowner, p_trustee)
    UNION ALL
    SELECT 'owner of ' || CASE c.relkind WHEN 'v' THEN 'the view' WHEN 'm' THEN 'the view' ELSE 'the table' END,
           p_rel::text, pg_get_userbyid(c.relowner)
      FROM pg_class c
     WHERE c.oid = p_rel AND p_owner AND NOT eai._trusted(c.relowner, p_trustee)
$$;
COMMENT ON FUNCTION eai._foreign_code(regclass, regrole, boolean) IS 'eai: code attached to a relation (triggers, defaults, constraints, rules, policies, indexes, a view''s query: the functions and operators in them) owned by a role the trustee does not trust (neither itself nor a superuser); with owner => true, also the relation itself when another role owns it. Promotions and gold refreshes refuse to run it.';

CREATE FUNCTION eai._refuse_foreign_code(p_rel regclass, p_trustee regrole, p_owner boolean, p_action text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE f record;
BEGIN
    SELECT * INTO f FROM eai._foreign_code(p_rel, p_trustee, p_owner) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '%', CASE WHEN f.what LIKE 'owner of%'
                THEN format('eai: will not %s %s: it belongs to %s, so its triggers, defaults and rules would run with the rights of %s',
                            p_action, p_rel, quote_ident(f.owner), coalesce(quote_ident(p_trustee::text), 'a dropped role'))
                ELSE format('eai: will not %s %s: its %s (%s) belongs to %s, so it would run with the rights of %s',
                            p_action, p_rel, f.what, f.code, quote_ident(f.owner), coalesce(quote_ident(p_trustee::text), 'a dropped role')) END
            USING ERRCODE = '42501',
            HINT = CASE WHEN f.what LIKE 'owner of%'
                        THEN format('Review the table, then ALTER TABLE %s OWNER TO %s; or give another table.', p_rel, coalesce(quote_ident(p_trustee::text), 'current_user'))
                        ELSE format('Review %s, then ALTER FUNCTION %s OWNER TO %s, or remove it.', f.code, f.code, coalesce(quote_ident(p_trustee::text), 'current_user')) END;
    END IF;
END
$$;

-- The functions and operators an sql rule's expression calls must be trusted too: PostgreSQL
-- records them for a view, so the expression becomes a temporary view for a moment.
CREATE FUNCTION eai._refuse_foreign_code_in_expression(p_rel regclass, p_expr text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE f record;
BEGIN
    EXECUTE format(E'CREATE TEMPORARY VIEW eai_rule_probe AS SELECT (\n%s\n)::boolean AS ok FROM %s', eai._check_expression(p_expr), p_rel);
    SELECT * INTO f FROM eai._foreign_code('pg_temp.eai_rule_probe'::regclass, current_user::regrole, false) LIMIT 1;
    DROP VIEW pg_temp.eai_rule_probe;
    IF FOUND THEN
        RAISE EXCEPTION 'eai: the rule calls % which belongs to %: promotions into % would run it with the rights of %',
            f.code, quote_ident(f.owner), p_rel, quote_ident(current_user)
            USING ERRCODE = '42501',
            HINT = format('Review %s, then ALTER FUNCTION %s OWNER TO %s; or write the rule without it.', f.code, f.code, quote_ident(current_user));
    END IF;
END
$$;

-- sql/failures.sql
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

-- sql/escalations.sql
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

-- sql/breakers.sql
-- eai 0.3.0: circuit breakers per source and per LLM endpoint (docs/healing.md). A target has a
-- row once its breaker has opened; no row is a closed breaker. The decisions are eai-core's
-- (breaker.rs, through src/breaker.rs); the one writer is eai._breaker_transition, which also logs
-- every transition.

CREATE TABLE eai.breakers (
    scope           text NOT NULL CHECK (scope IN ('source', 'llm')),
    target          text NOT NULL,
    state           text NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
    probe_at        timestamptz,
    reason          text NOT NULL,
    changed_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    changed_by      name NOT NULL,
    PRIMARY KEY (scope, target)
);
COMMENT ON TABLE eai.breakers IS 'eai: circuit breakers per source and per LLM endpoint that have opened at least once (no row: closed). Open: the target''s work is refused until probe_at, then one probe goes through.';
COMMENT ON COLUMN eai.breakers.scope IS 'source (eai.sources) or llm (an endpoint, by origin).';
COMMENT ON COLUMN eai.breakers.target IS 'The source''s name, or the LLM endpoint''s origin (scheme://host:port).';
COMMENT ON COLUMN eai.breakers.state IS 'closed (work goes on), open (refused until probe_at) or half_open (one probe under way).';
COMMENT ON COLUMN eai.breakers.probe_at IS 'When an open breaker lets one probe through.';
COMMENT ON COLUMN eai.breakers.reason IS 'Why it is in this state.';
COMMENT ON COLUMN eai.breakers.changed_at IS 'When it entered this state.';
COMMENT ON COLUMN eai.breakers.changed_by IS 'Role of the session whose work changed it (or that reset it).';

CREATE TABLE eai.breaker_transitions (
    transition_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope           text NOT NULL,
    target          text NOT NULL,
    from_state      text NOT NULL,
    to_state        text NOT NULL,
    reason          text NOT NULL,
    at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    by_role         name NOT NULL
);
CREATE INDEX ON eai.breaker_transitions (scope, target, transition_id);
COMMENT ON TABLE eai.breaker_transitions IS 'eai: every change of state of every circuit breaker, with why.';
COMMENT ON COLUMN eai.breaker_transitions.transition_id IS 'Identifier of the transition.';
COMMENT ON COLUMN eai.breaker_transitions.scope IS 'source or llm.';
COMMENT ON COLUMN eai.breaker_transitions.target IS 'The source, or the LLM endpoint''s origin.';
COMMENT ON COLUMN eai.breaker_transitions.from_state IS 'State before.';
COMMENT ON COLUMN eai.breaker_transitions.to_state IS 'State after.';
COMMENT ON COLUMN eai.breaker_transitions.reason IS 'Why (the failures that opened it, the probe''s outcome, a person''s reset).';
COMMENT ON COLUMN eai.breaker_transitions.at IS 'When.';
COMMENT ON COLUMN eai.breaker_transitions.by_role IS 'Role of the session whose work changed it.';

-- The one writer: moves a breaker from p_from to p_to, only if it is still in p_from and no other
-- session holds it (SKIP LOCKED: a session that cannot take it at once is refused, never made to
-- wait), and logs the transition. True when it moved.
CREATE FUNCTION eai._breaker_transition(p_scope text, p_target text, p_from text, p_to text, p_probe_at timestamptz, p_reason text)
RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE b eai.breakers;
BEGIN
    IF p_from = 'closed' THEN
        INSERT INTO eai.breakers (scope, target, state, reason, changed_by)
        VALUES (p_scope, p_target, 'closed', 'never opened', eai._session_role())
        ON CONFLICT (scope, target) DO NOTHING;
    END IF;
    SELECT * INTO b FROM eai.breakers x WHERE x.scope = p_scope AND x.target = p_target AND x.state = p_from
       FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE eai.breakers x SET state = p_to, probe_at = p_probe_at, reason = p_reason, changed_at = clock_timestamp(),
                              changed_by = eai._session_role()
     WHERE x.scope = p_scope AND x.target = p_target;
    INSERT INTO eai.breaker_transitions (scope, target, from_state, to_state, reason, by_role)
    VALUES (p_scope, p_target, p_from, p_to, p_reason, eai._session_role());
    IF p_to = 'open' AND p_from <> 'half_open' THEN
        PERFORM eai._escalate(e.kind, e.severity, p_scope, p_target,
                    format('%s %s is paused: its circuit breaker is open', CASE p_scope WHEN 'source' THEN 'source' ELSE 'the LLM endpoint' END, p_target),
                    p_reason, format('SELECT * FROM eai.failures WHERE target LIKE %L ORDER BY failure_id DESC LIMIT 10; shows its failures.',
                                     p_target || CASE p_scope WHEN 'source' THEN '.%' ELSE ' %' END),
                    format('its work is refused until %s; then one probe goes through, and the breaker closes if it succeeds', p_probe_at),
                    format('SELECT eai.reset_breaker(%L, %L);  -- once it is known to be back', p_scope, p_target), NULL, NULL, NULL, NULL)
          FROM eai._escalation_for(p_scope, 'breaker', 'open', 1) e;
    ELSIF p_to = 'closed' THEN
        PERFORM eai._resolve_escalations(ARRAY['breaker_open'], p_target, NULL, 'resolved', 'the circuit breaker closed: ' || p_reason);
    END IF;
    IF p_to = 'open' THEN
        RAISE WARNING 'eai: the circuit breaker of % % is open: %', p_scope, quote_literal(p_target), p_reason
            USING HINT = format('Its work is refused until %s, then one probe goes through. SELECT eai.reset_breaker(%L, %L); closes it now.',
                                p_probe_at, p_scope, p_target);
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION eai._breaker_transition(text, text, text, text, timestamptz, text) IS 'eai (internal): the one writer of eai.breakers and eai.breaker_transitions.';

-- A person closes a breaker (the source is known to be back): logged with the role.
CREATE FUNCTION eai.reset_breaker(scope text, target text) RETURNS eai.breakers
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    b eai.breakers;
BEGIN
    SELECT * INTO b FROM eai.breakers x WHERE x.scope = scope AND x.target = target;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'eai: no circuit breaker of % % has opened', coalesce(scope, 'NULL'), quote_literal(coalesce(target, 'NULL'))
            USING ERRCODE = '42704', HINT = 'SELECT scope, target, state FROM eai.breakers; lists them.';
    END IF;
    IF b.state <> 'closed' THEN
        IF NOT eai._breaker_transition(scope, target, b.state, 'closed', NULL, 'reset by ' || eai._session_role()) THEN
            RAISE EXCEPTION 'eai: the circuit breaker of % % is changing right now', scope, quote_literal(target)
                USING ERRCODE = '55P03', HINT = 'Its probe is under way; try again in a moment.';
        END IF;
    END IF;
    SELECT * INTO b FROM eai.breakers x WHERE x.scope = scope AND x.target = target;
    RETURN b;
END
$$;
COMMENT ON FUNCTION eai.reset_breaker(text, text) IS 'eai: close a circuit breaker now (its source or endpoint is known to be back); the transition is logged with your role.';

-- sql/pipelines.sql
-- eai 0.3.0: pipelines bronze → silver, expectations, quarantine. Loaded by src/lib.rs after the
-- mapping catalog and the Rust helpers (eai._normalize, eai._promotion_statement, eai._parse_rule,
-- eai._suggest_expectations).

CREATE TABLE eai.pipelines (
    pipeline_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    source_relid    oid NOT NULL,
    source_table    text NOT NULL,
    target_relid    oid NOT NULL,
    target_table    text NOT NULL,
    run_id          bigint NOT NULL REFERENCES eai.mapping_runs,
    dedup_key       text[] NOT NULL DEFAULT '{}',
    date_order      text NOT NULL DEFAULT 'YMD' CHECK (date_order IN ('YMD', 'DMY', 'MDY')),
    enabled         boolean NOT NULL DEFAULT true,
    created_by      name NOT NULL DEFAULT current_user,
    created_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE eai.pipelines IS 'eai: a bronze table bound to a silver table through an approved mapping version; every batch landing in bronze is promoted once.';
COMMENT ON COLUMN eai.pipelines.pipeline_id IS 'Identifier of the pipeline.';
COMMENT ON COLUMN eai.pipelines.source_relid IS 'OID of the bronze table.';
COMMENT ON COLUMN eai.pipelines.target_relid IS 'OID of the silver table.';
COMMENT ON COLUMN eai.pipelines.created_by IS 'Role that created the pipeline.';
COMMENT ON COLUMN eai.pipelines.created_at IS 'When it was created.';
COMMENT ON COLUMN eai.pipelines.name IS 'Name of the pipeline (eai.run_pipeline takes it).';
COMMENT ON COLUMN eai.pipelines.source_table IS 'Bronze table.';
COMMENT ON COLUMN eai.pipelines.target_table IS 'Silver table.';
COMMENT ON COLUMN eai.pipelines.run_id IS 'Mapping version (eai.mapping_runs) whose approved decisions the pipeline applies.';
COMMENT ON COLUMN eai.pipelines.dedup_key IS 'Silver columns identifying a record: a later row with the same key replaces the earlier one.';
COMMENT ON COLUMN eai.pipelines.date_order IS 'How to read dates like 03/04/2024: YMD (ISO dates only), DMY or MDY.';
COMMENT ON COLUMN eai.pipelines.enabled IS 'Whether new bronze batches are promoted.';

CREATE TABLE eai.pipeline_columns (
    pipeline_id     bigint NOT NULL REFERENCES eai.pipelines ON DELETE CASCADE,
    target_column   text NOT NULL,
    source_column   text,
    target_type     text NOT NULL,
    mapping_id      bigint REFERENCES eai.mappings,
    PRIMARY KEY (pipeline_id, target_column)
);
COMMENT ON TABLE eai.pipeline_columns IS 'eai: where each silver column of a pipeline comes from (column lineage bronze → silver).';
COMMENT ON COLUMN eai.pipeline_columns.pipeline_id IS 'Pipeline (eai.pipelines).';
COMMENT ON COLUMN eai.pipeline_columns.target_column IS 'Silver column.';
COMMENT ON COLUMN eai.pipeline_columns.source_column IS 'Bronze column, or NULL when no approved mapping feeds the silver column (it stays NULL).';
COMMENT ON COLUMN eai.pipeline_columns.target_type IS 'Type of the silver column; values are cast to it safely (a value that does not cast is quarantined, never aborts the batch).';
COMMENT ON COLUMN eai.pipeline_columns.mapping_id IS 'The approved mapping decision (eai.mappings) behind the column.';

CREATE TABLE eai.expectations (
    expectation_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    relid           oid NOT NULL,
    table_name      text NOT NULL,
    column_name     text,
    rule            text NOT NULL,
    spec            jsonb NOT NULL,
    action          text NOT NULL DEFAULT 'quarantine' CHECK (action IN ('quarantine', 'warn', 'fail')),
    origin          text NOT NULL DEFAULT 'declared' CHECK (origin IN ('declared', 'suggested')),
    enabled         boolean NOT NULL DEFAULT true,
    created_by      name NOT NULL DEFAULT current_user,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON eai.expectations (relid) WHERE enabled;
COMMENT ON TABLE eai.expectations IS 'eai: rules the rows of a silver table must hold, checked at every promotion. Disable one with UPDATE … SET enabled = false.';
COMMENT ON COLUMN eai.expectations.expectation_id IS 'Identifier of the expectation (quarantine violations name it).';
COMMENT ON COLUMN eai.expectations.relid IS 'OID of the table the rule is about.';
COMMENT ON COLUMN eai.expectations.table_name IS 'Table the rule is about, schema-qualified.';
COMMENT ON COLUMN eai.expectations.enabled IS 'Whether promotions check the rule.';
COMMENT ON COLUMN eai.expectations.created_by IS 'Role that declared or accepted it.';
COMMENT ON COLUMN eai.expectations.created_at IS 'When.';
COMMENT ON COLUMN eai.expectations.column_name IS 'Column the rule is about (NULL for a row-level sql rule).';
COMMENT ON COLUMN eai.expectations.rule IS 'not_null, type, range, regex, allowed, unique, foreign_key or sql.';
COMMENT ON COLUMN eai.expectations.spec IS 'The parsed rule with its arguments (bounds, pattern, values, referenced column, expression).';
COMMENT ON COLUMN eai.expectations.action IS 'quarantine (the row goes to eai.quarantine), warn (counted, the row is promoted with a lower record quality) or fail (the batch is rolled back).';
COMMENT ON COLUMN eai.expectations.origin IS 'declared with eai.expect, or suggested by eai.suggest_expectations and accepted.';

CREATE TABLE eai.promotions (
    promotion_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline_id     bigint NOT NULL REFERENCES eai.pipelines ON DELETE CASCADE,
    bronze_batch    bigint,
    kind            text NOT NULL CHECK (kind IN ('trigger', 'queue', 'backlog', 'requeue')),
    rows_read       bigint NOT NULL DEFAULT 0,
    rows_promoted   bigint NOT NULL DEFAULT 0,
    rows_quarantined bigint NOT NULL DEFAULT 0,
    warned          jsonb NOT NULL DEFAULT '{}',
    started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    duration_ms     double precision,
    promoted_by     name NOT NULL DEFAULT current_user,
    statement       text CHECK (statement IN ('single pass', 'without duplicates', 'full')),
    UNIQUE (pipeline_id, bronze_batch),
    UNIQUE (promotion_id, pipeline_id),  -- for eai.quarantine's reference
    CHECK (rows_read = rows_promoted + rows_quarantined)
);
COMMENT ON TABLE eai.promotions IS 'eai: one row per promoted batch; a bronze batch is promoted once per pipeline (unique), and rows read = rows promoted + rows quarantined, always.';
COMMENT ON COLUMN eai.promotions.promotion_id IS 'Identifier of the promotion (silver rows carry it in _eai_promotion).';
COMMENT ON COLUMN eai.promotions.pipeline_id IS 'Pipeline.';
COMMENT ON COLUMN eai.promotions.rows_read IS 'Bronze rows the promotion read.';
COMMENT ON COLUMN eai.promotions.rows_promoted IS 'Rows written to silver (inserted or, with a dedup key, replacing an earlier version).';
COMMENT ON COLUMN eai.promotions.rows_quarantined IS 'Rows written to eai.quarantine.';
COMMENT ON COLUMN eai.promotions.started_at IS 'When the promotion started.';
COMMENT ON COLUMN eai.promotions.duration_ms IS 'How long it took, in milliseconds.';
COMMENT ON COLUMN eai.promotions.promoted_by IS 'Role that ran it (the ingesting role for trigger promotions).';
COMMENT ON COLUMN eai.promotions.bronze_batch IS 'The eai.batches batch promoted (NULL for a requeue of quarantined rows).';
COMMENT ON COLUMN eai.promotions.kind IS 'trigger (in the ingesting transaction), queue (a large batch, promoted later), backlog (bronze rows that were there before the pipeline) or requeue.';
COMMENT ON COLUMN eai.promotions.statement IS 'Which statement promoted the batch: single pass (streamed, the fastest), without duplicates (materialised once; keys silver had are replaced, warn and fail rules counted) or full (also quarantines keys the batch repeats; without a dedup key, the statement for what the single pass does not take). See docs/pipelines.md.';
COMMENT ON COLUMN eai.promotions.warned IS 'Rows promoted although they broke a warn rule: {"reason": rows}.';

CREATE TABLE eai.quarantine (
    quarantine_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline_id     bigint NOT NULL,
    promotion_id    bigint NOT NULL,
    bronze_batch    bigint,
    row_hash        uuid,
    row             jsonb NOT NULL,
    violations      jsonb NOT NULL,
    quarantined_at  timestamptz NOT NULL DEFAULT now(),
    status          text NOT NULL DEFAULT 'quarantined' CHECK (status IN ('quarantined', 'requeued')),
    requeued_in     bigint REFERENCES eai.promotions,
    -- One reference for both (one check per quarantined row, not two): the row's promotion, of
    -- its pipeline; deleting a pipeline deletes its promotions and so their quarantine.
    FOREIGN KEY (promotion_id, pipeline_id) REFERENCES eai.promotions (promotion_id, pipeline_id) ON DELETE CASCADE
);
CREATE INDEX ON eai.quarantine (pipeline_id) WHERE status = 'quarantined';
COMMENT ON TABLE eai.quarantine IS 'eai: bronze rows a promotion did not promote, whole, with the rules they broke and why. Nothing is dropped: eai.requeue_quarantine promotes them again after a fix.';
COMMENT ON COLUMN eai.quarantine.quarantine_id IS 'Identifier of the quarantined row (eai.requeue_quarantine takes it).';
COMMENT ON COLUMN eai.quarantine.pipeline_id IS 'Pipeline.';
COMMENT ON COLUMN eai.quarantine.promotion_id IS 'Promotion that quarantined the row.';
COMMENT ON COLUMN eai.quarantine.bronze_batch IS 'Bronze batch the row came with.';
COMMENT ON COLUMN eai.quarantine.row_hash IS 'The bronze row''s _eai_row_hash.';
COMMENT ON COLUMN eai.quarantine.quarantined_at IS 'When.';
COMMENT ON COLUMN eai.quarantine.requeued_in IS 'Promotion that took the row again, once requeued.';
COMMENT ON COLUMN eai.quarantine.row IS 'The bronze row, as jsonb.';
COMMENT ON COLUMN eai.quarantine.violations IS 'The checks the row broke: rule, column, action, expectation_id (NULL for implicit checks) and reason.';
COMMENT ON COLUMN eai.quarantine.status IS 'quarantined, or requeued (promoted again in promotion requeued_in; a row that broke rules again has a new quarantine row).';

CREATE TABLE eai.promotion_queue (
    pipeline_id     bigint NOT NULL REFERENCES eai.pipelines ON DELETE CASCADE,
    bronze_batch    bigint NOT NULL,
    rows_queued     bigint NOT NULL,
    queued_at       timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    last_attempt_at timestamptz,
    last_error      text,
    last_sqlstate   text,
    last_class      text,
    next_attempt_at timestamptz,
    state           text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'dead_letter')),
    parked_reason   text,
    PRIMARY KEY (pipeline_id, bronze_batch)
);
CREATE INDEX ON eai.promotion_queue (queued_at, bronze_batch) WHERE state = 'queued';
COMMENT ON TABLE eai.promotion_queue IS 'eai: bronze batches too large to promote in the ingesting transaction (eai.sync_promotion_max_rows), waiting for eai.promote_queued().';
COMMENT ON COLUMN eai.promotion_queue.pipeline_id IS 'Pipeline.';
COMMENT ON COLUMN eai.promotion_queue.bronze_batch IS 'Bronze batch waiting for promotion.';
COMMENT ON COLUMN eai.promotion_queue.rows_queued IS 'Rows of the batch.';
COMMENT ON COLUMN eai.promotion_queue.queued_at IS 'When it was queued.';
COMMENT ON COLUMN eai.promotion_queue.last_attempt_at IS 'When the last failed attempt was.';
COMMENT ON COLUMN eai.promotion_queue.last_sqlstate IS 'SQLSTATE of the last failed attempt.';
COMMENT ON COLUMN eai.promotion_queue.attempts IS 'Failed attempts so far; a failed batch is retried at next_attempt_at (eai.retry_* GUCs, by the class of its error) and never blocks the others.';
COMMENT ON COLUMN eai.promotion_queue.last_error IS 'Message of the last failed attempt (e.g. a fail rule), secrets removed.';
COMMENT ON COLUMN eai.promotion_queue.last_class IS 'Class of the last failed attempt''s error (transient, resource, schema_drift, bad_data, configuration, internal).';
COMMENT ON COLUMN eai.promotion_queue.next_attempt_at IS 'When the batch is tried again (NULL: as soon as a promoter runs). Stored here, so a restart loses no retry.';
COMMENT ON COLUMN eai.promotion_queue.state IS 'queued, or dead_letter: parked after its attempts (or at once for bad data and internal errors) until eai.requeue_batch; it blocks no other batch.';
COMMENT ON COLUMN eai.promotion_queue.parked_reason IS 'Why a dead_letter batch is no longer retried by itself.';

-- A value that does not cast gives NULL: one subtransaction per value, for the types eai has no
-- faster check for.
CREATE FUNCTION eai._try_cast(v text, t regtype) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE r text;
BEGIN
    EXECUTE format('SELECT $1::%s::text', t) INTO r USING v;
    RETURN r;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

CREATE FUNCTION eai._pipeline_or_raise(p_name text) RETURNS eai.pipelines
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE p eai.pipelines;
BEGIN
    SELECT * INTO p FROM eai.pipelines WHERE name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'eai: pipeline "%" does not exist', p_name USING ERRCODE = '42704',
            HINT = 'SELECT name FROM eai.pipelines; lists them; eai.create_pipeline creates one.';
    END IF;
    RETURN p;
END
$$;

-- A promotion in three steps, so that the trigger can run the statement itself (transition
-- tables are visible only to the trigger function's own queries): start (NULL when the bronze
-- batch was promoted before: exactly once per pipeline and batch), the statement of
-- eai._promotion_statement, finish (counts; a row breaking a fail rule rolls everything back).
CREATE FUNCTION eai._promotion_start(p_pipeline bigint, p_batch bigint, p_kind text) RETURNS eai.promotions
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE pr eai.promotions;
BEGIN
    -- One promotion at a time into a silver table (they would contend for its rows anyway): a
    -- promotion can then tell the keys silver has from those it does not.
    PERFORM pg_advisory_xact_lock(hashtext('eai promote'),
                                  (SELECT p.target_relid::integer FROM eai.pipelines p WHERE p.pipeline_id = p_pipeline));
    -- Whoever promotes (the ingesting role, the worker, run_pipeline), code on the silver table
    -- must belong to the pipeline's creator or a superuser (sql/trust.sql): checked every time.
    PERFORM eai._refuse_foreign_code(p.target_relid::regclass, to_regrole(p.created_by), true, 'promote into')
       FROM eai.pipelines p WHERE p.pipeline_id = p_pipeline;
    INSERT INTO eai.promotions (pipeline_id, bronze_batch, kind) VALUES (p_pipeline, p_batch, p_kind)
        ON CONFLICT (pipeline_id, bronze_batch) DO NOTHING
        RETURNING * INTO pr;
    RETURN pr;
END
$$;

CREATE FUNCTION eai._promotion_finish(pr eai.promotions, res record, p_statement text) RETURNS eai.promotions
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF res.rows_failed > 0 THEN
        RAISE EXCEPTION 'eai: % row(s) of the batch break a rule whose action is fail; nothing was promoted', res.rows_failed
            USING ERRCODE = '23514',
            HINT = 'SELECT * FROM eai.expectations WHERE action = ''fail''; fix the data or change the rule''s action.';
    END IF;
    UPDATE eai.promotions SET rows_read = res.rows_read, rows_promoted = res.rows_promoted,
                              rows_quarantined = res.rows_quarantined, warned = res.warned, statement = p_statement,
                              duration_ms = 1000 * extract(epoch FROM clock_timestamp() - pr.started_at)
     WHERE promotion_id = pr.promotion_id RETURNING * INTO pr;
    IF res.warned <> '{}' THEN
        RAISE WARNING 'eai: promotion %: rows broke warn rules: %', pr.promotion_id, res.warned;
    END IF;
    -- Gold tables that read the silver table (eai._refresh_gold_after, sql/gold.sql).
    IF res.rows_promoted > 0 THEN
        PERFORM eai._refresh_gold_after((SELECT p.target_relid FROM eai.pipelines p WHERE p.pipeline_id = pr.pipeline_id));
    END IF;
    RETURN pr;
END
$$;

-- After the single-pass statement: the rows it set aside go to eai.quarantine, rebuilt as the
-- bronze rows they were, with the checks they broke; the counts for eai._promotion_finish.
CREATE FUNCTION eai._quarantine_aside(pr eai.promotions, p_checks jsonb, p_columns text[], p_promoted bigint,
    OUT rows_read bigint, OUT rows_promoted bigint, OUT rows_quarantined bigint, OUT rows_failed bigint, OUT warned jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Rows share a handful of sets of broken checks: each set's violations are built once.
    -- (broken lists checks in ascending order, which unnest keeps.)
    WITH a AS MATERIALIZED (SELECT * FROM eai._take_aside(pr.promotion_id)),
         v AS MATERIALIZED (SELECT d.broken, (SELECT jsonb_agg(p_checks -> b) FROM unnest(d.broken) b) AS violations
                 FROM (SELECT DISTINCT x.broken FROM a x) d)
    INSERT INTO eai.quarantine (pipeline_id, promotion_id, bronze_batch, row_hash, row, violations)
    SELECT pr.pipeline_id, pr.promotion_id, a.bronze_batch, a.row_hash,
           jsonb_build_object('_eai_row_hash', a.row_hash, '_eai_batch', a.bronze_batch) || jsonb_object(p_columns, a.bronze_values),
           v.violations
      FROM a JOIN v ON v.broken = a.broken;
    GET DIAGNOSTICS rows_quarantined = ROW_COUNT;
    rows_promoted := p_promoted;
    rows_read := p_promoted + rows_quarantined;
    rows_failed := 0;
    warned := '{}';
END
$$;

-- Promote the rows `p_rows` gives (a parenthesised query; $5 in it is p_arg).
CREATE FUNCTION eai._promote(p_pipeline bigint, p_batch bigint, p_kind text, p_rows text, p_arg anyelement)
RETURNS eai.promotions
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET work_mem = '256MB'
AS $$
DECLARE
    pr eai.promotions := eai._promotion_start(p_pipeline, p_batch, p_kind);
    st record;
    res record;
    n_promoted bigint;
    used text;
    done boolean := false;
BEGIN
    IF pr.promotion_id IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO STRICT st FROM eai._promotion_statement(p_pipeline, p_rows);
    -- Three statements, fastest first (eai_core::promotion): the single pass streams the batch
    -- into silver and sets bad rows aside; it needs every key to be new to silver and the batch.
    -- The statement without duplicates also replaces the records of keys silver has. The full
    -- statement also quarantines keys the batch repeats. A statement that cannot promote the
    -- batch fails (unique_violation, cardinality_violation, program_limit_exceeded: too many bad
    -- rows to keep aside) in its subtransaction, and the next one runs.
    -- The single pass writes silver as COPY does when the table allows it (eai._insert_streamed,
    -- src/streamed_insert.rs), else through INSERT. Every promotion runs this chain: the trigger's,
    -- the queue's, the backlog's and a requeue.
    IF st.single_pass IS NOT NULL THEN
        BEGIN
            n_promoted := eai._insert_streamed((SELECT x.target_relid FROM eai.pipelines x WHERE x.pipeline_id = p_pipeline),
                                               st.single_pass_select, st.single_pass,
                                               p_pipeline, pr.promotion_id, st.checks, st.extra, p_arg);
            SELECT * INTO res FROM eai._quarantine_aside(pr, st.checks, st.extra, n_promoted);
            done := true;
            used := 'single pass';
        EXCEPTION WHEN unique_violation OR cardinality_violation OR program_limit_exceeded THEN
            done := false;
            PERFORM count(*) FROM eai._take_aside(pr.promotion_id);  -- what it had set aside
        END;
    END IF;
    IF NOT done AND st.without_duplicates IS NOT NULL THEN
        BEGIN
            EXECUTE st.without_duplicates INTO res USING p_pipeline, pr.promotion_id, st.checks, st.extra, p_arg;
            done := true;
            used := 'without duplicates';
        EXCEPTION WHEN unique_violation OR cardinality_violation THEN
            done := false;
        END;
    END IF;
    IF NOT done THEN
        EXECUTE st.statement INTO res USING p_pipeline, pr.promotion_id, st.checks, st.extra, p_arg;
        used := 'full';
    END IF;
    RETURN eai._promotion_finish(pr, res, used);
END
$$;

-- Statement-level trigger on a bound bronze table: promotes the statement's rows in the
-- ingesting transaction, or queues the batch when it is large. The transition table gives the
-- batches and their sizes; the rows are read back from bronze (its _eai_batch index), so the one
-- fallback chain of eai._promote promotes them, as it does queued, backlog and requeued rows.
CREATE FUNCTION eai._promote_trigger() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET work_mem = '256MB'
AS $$
DECLARE
    v_pipeline bigint := TG_ARGV[0]::bigint;
    b record;
BEGIN
    IF NOT (SELECT enabled FROM eai.pipelines WHERE pipeline_id = v_pipeline) THEN
        RETURN NULL;
    END IF;
    FOR b IN SELECT _eai_batch AS batch, count(*) AS n FROM new_rows GROUP BY 1 ORDER BY 1 LOOP
        IF b.n > current_setting('eai.sync_promotion_max_rows')::bigint THEN
            INSERT INTO eai.promotion_queue (pipeline_id, bronze_batch, rows_queued) VALUES (v_pipeline, b.batch, b.n)
                ON CONFLICT DO NOTHING;
        ELSIF EXISTS (SELECT 1 FROM eai.pipelines p, eai._foreign_code(p.target_relid::regclass, to_regrole(p.created_by), true) f
                       WHERE p.pipeline_id = v_pipeline) THEN
            -- Not promoted as the ingesting role; the batch lands in bronze and waits in the
            -- queue, where eai.promote_queued records why (42501) until the code is fixed.
            INSERT INTO eai.promotion_queue (pipeline_id, bronze_batch, rows_queued) VALUES (v_pipeline, b.batch, b.n)
                ON CONFLICT DO NOTHING;
            RAISE WARNING 'eai: batch % of pipeline % is queued, not promoted: its silver table has code another role owns', b.batch, v_pipeline
                USING HINT = 'SELECT p.name, f.* FROM eai.pipelines p, eai._foreign_code(p.target_relid::regclass, to_regrole(p.created_by), true) f; shows it.';
        ELSE
            PERFORM eai._promote(v_pipeline, b.batch, 'trigger', format('(SELECT * FROM %s WHERE _eai_batch = $5)', TG_RELID::regclass), b.batch);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- The silver columns eai creates for a bronze table without a target: names lower-cased with runs
-- of other characters as _, types from the latest profile (eai._silver_type).
CREATE FUNCTION eai._silver_columns(src regclass)
RETURNS TABLE (attnum integer, source_column text, target_column text, target_type text, inferred_type text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    WITH cols AS (
        SELECT a.attnum::integer AS attnum, a.attname::text AS source_column, p.inferred_type
          FROM pg_attribute a
          LEFT JOIN LATERAL (SELECT x.inferred_type FROM eai.column_profiles x WHERE x.relid = src AND x.column_name = a.attname
                              ORDER BY x.version DESC LIMIT 1) p ON true
         WHERE a.attrelid = src AND a.attnum > 0 AND NOT a.attisdropped AND a.attname NOT LIKE '\_eai\_%'
    ),
    -- Silver names come from eai-core (ident::silver_column_names): lower case, letters and digits
    -- of every script kept whatever the database's locale (`ünï 表` is `ünï_表`), other runs `_`,
    -- a name several columns share suffixed with its attnum.
    named AS (
        SELECT n.attnum, n.target_column
          FROM unnest((SELECT array_agg(c.attnum ORDER BY c.attnum) FROM cols c),
                      eai._silver_column_names((SELECT array_agg(c.source_column ORDER BY c.attnum) FROM cols c),
                                               (SELECT array_agg(c.attnum ORDER BY c.attnum) FROM cols c)))
               AS n(attnum, target_column)
    )
    SELECT c.attnum, c.source_column, n.target_column, eai._silver_type(coalesce(c.inferred_type, 'text')), c.inferred_type
      FROM cols c JOIN named n ON n.attnum = c.attnum
$$;

-- Promote every bronze batch of the pipeline's table that it has not promoted yet.
CREATE FUNCTION eai._promote_backlog(p eai.pipelines) RETURNS SETOF eai.promotions
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b bigint;
    pr eai.promotions;
BEGIN
    FOR b IN EXECUTE format('SELECT DISTINCT _eai_batch FROM %s ORDER BY 1', p.source_relid::regclass) LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM eai.promotions x WHERE x.pipeline_id = p.pipeline_id AND x.bronze_batch = b);
        -- A dead letter waits for eai.requeue_batch; it does not stop the batches after it.
        CONTINUE WHEN EXISTS (SELECT 1 FROM eai.promotion_queue q WHERE q.pipeline_id = p.pipeline_id AND q.bronze_batch = b
                                 AND q.state = 'dead_letter');
        pr := eai._promote(p.pipeline_id, b, 'backlog', format('(SELECT * FROM %s WHERE _eai_batch = $5)', p.source_relid::regclass), b);
        IF pr.promotion_id IS NOT NULL THEN
            DELETE FROM eai.promotion_queue q WHERE q.pipeline_id = p.pipeline_id AND q.bronze_batch = b;
            RETURN NEXT pr;
        END IF;
    END LOOP;
END
$$;

CREATE FUNCTION eai.create_pipeline(name text, source regclass, target text, dedup_key text[] DEFAULT NULL,
                                    date_order text DEFAULT 'YMD', promote boolean DEFAULT true)
RETURNS eai.pipelines
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_target regclass := to_regclass(target);
    v_run eai.mapping_runs;
    v_pipeline eai.pipelines;
    v_schema text;
    v_table text;
    v_cols text;
    k text;
BEGIN
    IF name IS NULL OR btrim(name) = '' THEN
        RAISE EXCEPTION 'eai: a pipeline needs a name' USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM eai.pipelines p WHERE p.name = name) THEN
        RAISE EXCEPTION 'eai: pipeline "%" already exists', name USING ERRCODE = '42710',
            HINT = 'Pick another name, or DELETE FROM eai.pipelines WHERE name = … first.';
    END IF;
    IF (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = source AND a.attname IN ('_eai_batch', '_eai_row_hash')
          AND NOT a.attisdropped) <> 2 THEN
        RAISE EXCEPTION 'eai: % is not a bronze table', source USING ERRCODE = '42809',
            HINT = 'Pipelines start from a table eai.ingest fills (schema bronze): eai.add_source, then eai.ingest.';
    END IF;
    IF upper(date_order) NOT IN ('YMD', 'DMY', 'MDY') THEN
        RAISE EXCEPTION 'eai: date_order must be YMD, DMY or MDY, not %', date_order USING ERRCODE = '22023';
    END IF;
    IF v_target IS NULL THEN
        -- No such table: create it in silver from the bronze profile (names normalised, types
        -- inferred), as an approved mapping version of its own.
        IF array_length(parse_ident(target), 1) > 1 AND (parse_ident(target))[1] <> 'silver' THEN
            RAISE EXCEPTION 'eai: table % does not exist', target USING ERRCODE = '42P01',
                HINT = 'eai creates missing targets in schema silver only; give silver.<name> or an existing table.';
        END IF;
        v_table := (parse_ident(target))[array_length(parse_ident(target), 1)];
        IF NOT EXISTS (SELECT 1 FROM eai.column_profiles p WHERE p.relid = source) THEN
            PERFORM eai.profile(source);
        END IF;
        SELECT string_agg(format('%I %s', c.target_column, c.target_type), ', ' ORDER BY c.attnum) INTO v_cols
          FROM eai._silver_columns(source) c;
        EXECUTE format('CREATE TABLE silver.%I (%s)', v_table, v_cols);
        v_target := format('silver.%I', v_table)::regclass;
        INSERT INTO eai.mapping_runs (source_relid, source_table, target_relid, target_table, version, one_to_many)
        VALUES (source, source::text, v_target, v_target::text,
                -- The next version of the pair: a silver table dropped and created again under the
                -- same name keeps its older mapping versions.
                coalesce((SELECT max(r.version) FROM eai.mapping_runs r WHERE r.source_table = source::text AND r.target_table = v_target::text), 0) + 1,
                false) RETURNING * INTO v_run;
        INSERT INTO eai.mappings (run_id, source_column, target_column, proposed_target, score, confidence, band, status,
                                  signals, candidates, reason, decided_by, decided_at)
        SELECT v_run.run_id, c.source_column, c.target_column, c.target_column, 1, 1, 'auto_approved', 'approved',
               jsonb_build_object('created_from_profile', c.inferred_type), '[]', 'silver table created from the bronze profile',
               'eai:create_pipeline', now()
          FROM eai._silver_columns(source) c;
    ELSE
        -- Promotions run code attached to the target (triggers, defaults, checks, rules, index
        -- expressions) with the promoting role's rights: a target owned by another role, or with
        -- code another role owns, is refused (src/../sql/trust.sql).
        PERFORM eai._refuse_foreign_code(v_target, current_user::regrole, true, 'promote into');
        SELECT * INTO v_run FROM eai.mapping_runs r WHERE r.source_relid = source AND r.target_relid = v_target
         ORDER BY r.version DESC LIMIT 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'eai: no mapping from % to %', source, v_target USING ERRCODE = '55000',
                HINT = format('Map them first: SELECT * FROM eai.map_schema(%L, %L);', source::text, v_target::text);
        END IF;
    END IF;
    -- Promotions read bronze one batch at a time: an index on the batch, unless there is one.
    IF NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                    WHERE i.indrelid = source AND a.attname = '_eai_batch') THEN
        EXECUTE format('CREATE INDEX ON %s (_eai_batch)', source);
    END IF;
    -- eai's bookkeeping columns on the silver table.
    EXECUTE format('ALTER TABLE %s ADD COLUMN IF NOT EXISTS _eai_row uuid, ADD COLUMN IF NOT EXISTS _eai_promotion bigint, '
                   'ADD COLUMN IF NOT EXISTS _eai_quality real, ADD COLUMN IF NOT EXISTS _eai_extra jsonb', v_target);
    -- Batch profiles (eai.measure_batches) read one promotion's rows: a BRIN index on it. Rows are
    -- appended in promotion order, so the index stays tiny and costs promotion next to nothing.
    IF NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                    WHERE i.indrelid = v_target AND a.attname = '_eai_promotion') THEN
        EXECUTE format('CREATE INDEX ON %s USING brin (_eai_promotion)', v_target);
    END IF;
    EXECUTE format('COMMENT ON COLUMN %s._eai_row IS %L', v_target, 'eai: bronze row (its _eai_row_hash) this record was promoted from.');
    EXECUTE format('COMMENT ON COLUMN %s._eai_promotion IS %L', v_target, 'eai: promotion (eai.promotions) that wrote this record.');
    EXECUTE format('COMMENT ON COLUMN %s._eai_quality IS %L', v_target, 'eai: record quality 0-1: share of filled cells and passed warn rules.');
    EXECUTE format('COMMENT ON COLUMN %s._eai_extra IS %L', v_target, 'eai: bronze columns no silver column takes (new or unmapped), kept as jsonb.');
    FOREACH k IN ARRAY coalesce(dedup_key, '{}') LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = v_target AND a.attname = k AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'eai: % has no column %', v_target, quote_ident(k) USING ERRCODE = '42703';
        END IF;
    END LOOP;
    IF cardinality(dedup_key) > 0 THEN
        EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %I ON %s (%s)', left((SELECT c.relname FROM pg_class c WHERE c.oid = v_target) || '_eai_key', 63), v_target,
                       (SELECT string_agg(quote_ident(x), ', ') FROM unnest(dedup_key) x));
    END IF;
    INSERT INTO eai.pipelines (name, source_relid, source_table, target_relid, target_table, run_id, dedup_key, date_order)
    VALUES (name, source, source::text, v_target, v_target::text, v_run.run_id, coalesce(dedup_key, '{}'), upper(date_order))
    RETURNING * INTO v_pipeline;
    INSERT INTO eai.pipeline_columns (pipeline_id, target_column, source_column, target_type, mapping_id)
    SELECT v_pipeline.pipeline_id, a.attname, m.source_column, format_type(a.atttypid, a.atttypmod), m.mapping_id
      FROM pg_attribute a
      LEFT JOIN LATERAL (SELECT x.source_column, x.mapping_id FROM eai.mappings x
                          WHERE x.run_id = v_run.run_id AND x.status = 'approved' AND x.target_column = a.attname
                          ORDER BY x.confidence DESC LIMIT 1) m ON true
     WHERE a.attrelid = v_target AND a.attnum > 0 AND NOT a.attisdropped AND a.attname NOT LIKE '\_eai\_%';
    -- Comments on silver columns that have none: where each comes from (BI tools and gold show them).
    FOR k IN SELECT format('COMMENT ON COLUMN %s.%I IS %L', v_target, pc.target_column,
                          format('From %s.%I (mapping decision %s, %s).', source, pc.source_column, pc.mapping_id,
                                 coalesce('decided by ' || m.decided_by, 'pending')))
               FROM eai.pipeline_columns pc
               LEFT JOIN eai.mappings m ON m.mapping_id = pc.mapping_id
               JOIN pg_attribute a ON a.attrelid = v_target AND a.attname = pc.target_column
              WHERE pc.pipeline_id = v_pipeline.pipeline_id AND pc.source_column IS NOT NULL
                AND col_description(v_target, a.attnum) IS NULL LOOP
        EXECUTE k;
    END LOOP;
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT '
                   'EXECUTE FUNCTION eai._promote_trigger(%L)', 'eai_promote_' || v_pipeline.pipeline_id, source,
                   v_pipeline.pipeline_id);
    -- What bronze already holds (or later, with eai.run_pipeline: e.g. after declaring expectations).
    IF promote THEN
        PERFORM eai._promote_backlog(v_pipeline);
    END IF;
    RETURN v_pipeline;
END
$$;
COMMENT ON FUNCTION eai.create_pipeline(text, regclass, text, text[], text, boolean) IS 'eai: bind a bronze table to a silver table through its latest mapping version (creating silver.<target> from the bronze profile when it does not exist), then promote what bronze holds (unless promote => false: eai.run_pipeline does it later); later batches are promoted as they land.';

CREATE FUNCTION eai.promote_queued(pipeline text DEFAULT NULL, max_batches integer DEFAULT NULL)
RETURNS SETOF eai.promotions
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    q eai.promotion_queue;
    p eai.pipelines;
    pr eai.promotions;
    f eai.failures;
    v_hint text;
    v_name text;
    n integer := 0;
    tried text[] := '{}';
    v_state text;
    v_msg text;
BEGIN
    IF pipeline IS NOT NULL THEN
        p := eai._pipeline_or_raise(pipeline);
    END IF;
    LOOP
        EXIT WHEN max_batches IS NOT NULL AND n >= max_batches;
        -- The oldest queued batch nobody else is promoting, not tried in this call, due.
        SELECT * INTO q FROM eai.promotion_queue x
         WHERE x.state = 'queued' AND (pipeline IS NULL OR x.pipeline_id = p.pipeline_id)
           AND NOT (x.pipeline_id || ':' || x.bronze_batch) = ANY (tried)
           AND (x.next_attempt_at IS NULL OR x.next_attempt_at <= clock_timestamp())
         ORDER BY x.queued_at, x.bronze_batch FOR UPDATE SKIP LOCKED LIMIT 1;
        EXIT WHEN NOT FOUND;
        tried := tried || (q.pipeline_id || ':' || q.bronze_batch);
        n := n + 1;
        BEGIN
            pr := eai._promote(q.pipeline_id, q.bronze_batch, 'queue',
                               format('(SELECT * FROM %s WHERE _eai_batch = $5)',
                                      (SELECT x.source_relid::regclass FROM eai.pipelines x WHERE x.pipeline_id = q.pipeline_id)),
                               q.bronze_batch);
            DELETE FROM eai.promotion_queue x WHERE x.pipeline_id = q.pipeline_id AND x.bronze_batch = q.bronze_batch;
            PERFORM eai._resolve_escalations(ARRAY['dead_letter', 'configuration'],
                                             (SELECT x.name FROM eai.pipelines x WHERE x.pipeline_id = q.pipeline_id), q.bronze_batch,
                                             'resolved', format('promoted (promotion %s)', pr.promotion_id));
        EXCEPTION WHEN others OR query_canceled THEN
            -- A batch that cannot be promoted (a lock timeout, a fail rule, a dropped table…) is
            -- recorded as a failure; by its class it is retried later (next_attempt_at) or parked
            -- as a dead letter. The others go on, unless it was cancelled (57014: a statement
            -- timeout or a cancel request, which OTHERS leaves out): then the call ends there.
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_hint = PG_EXCEPTION_HINT;
            v_name := (SELECT x.name FROM eai.pipelines x WHERE x.pipeline_id = q.pipeline_id);
            f := eai._record_failure('promotion', v_name, (SELECT x.source_relid FROM eai.pipelines x WHERE x.pipeline_id = q.pipeline_id),
                                     q.pipeline_id, q.bronze_batch, v_state, eai._error_class(v_state), v_msg, q.attempts + 1, true,
                                     NULL, nullif(v_hint, ''), format('SELECT * FROM eai.requeue_batch(%L, %s);', v_name, q.bronze_batch));
            UPDATE eai.promotion_queue x SET attempts = f.attempt, last_attempt_at = f.occurred_at,
                                             last_error = f.message, last_sqlstate = f.sqlstate, last_class = f.class,
                                             next_attempt_at = f.next_attempt_at,
                                             state = CASE f.action WHEN 'dead_letter' THEN 'dead_letter' ELSE 'queued' END,
                                             parked_reason = CASE f.action WHEN 'dead_letter' THEN f.note END
             WHERE x.pipeline_id = q.pipeline_id AND x.bronze_batch = q.bronze_batch;
            RAISE WARNING 'eai: batch % of pipeline % could not be promoted (attempt %, %): %', q.bronze_batch, q.pipeline_id,
                f.attempt, f.class, f.message
                USING HINT = upper(left(f.note, 1)) || substr(f.note, 2), DETAIL = format('SQLSTATE %s; see eai.failures.', v_state);
            EXIT WHEN v_state = '57014';
            CONTINUE;
        END;
        IF pr.promotion_id IS NOT NULL THEN
            RETURN NEXT pr;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION eai.promote_queued(text, integer) IS 'eai: promote the batches queued because they were larger than eai.sync_promotion_max_rows (all pipelines, or one), at most max_batches; safe to run from several sessions at once (SKIP LOCKED) and from pg_cron.';

-- A person's word that a parked batch may be tried again (after fixing its data, its rule or a
-- setting): the pipeline's dead letters, or one batch (parked or backing off), due now with its
-- attempts counted from zero. The next promoter (the worker, eai.heal, eai.promote_queued) takes it.
CREATE FUNCTION eai.requeue_batch(pipeline text, batch bigint DEFAULT NULL) RETURNS SETOF eai.promotion_queue
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    p eai.pipelines := eai._pipeline_or_raise(pipeline);
    n integer;
BEGIN
    RETURN QUERY
    UPDATE eai.promotion_queue x SET state = 'queued', attempts = 0, next_attempt_at = NULL, parked_reason = NULL
     WHERE x.pipeline_id = p.pipeline_id AND (CASE WHEN batch IS NULL THEN x.state = 'dead_letter' ELSE x.bronze_batch = batch END)
    RETURNING x.*;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 AND batch IS NOT NULL THEN
        RAISE EXCEPTION 'eai: batch % of pipeline % is not in the queue', batch, quote_literal(pipeline) USING ERRCODE = '42704',
            HINT = format('SELECT q.bronze_batch, q.state, q.attempts, q.last_error FROM eai.promotion_queue q JOIN eai.pipelines p USING (pipeline_id) WHERE p.name = %L;', pipeline);
    END IF;
END
$$;
COMMENT ON FUNCTION eai.requeue_batch(text, bigint) IS 'eai: put a pipeline''s dead-letter batches (or one batch) back in the promotion queue, due now, attempts from zero; returns the rows requeued.';

CREATE FUNCTION eai.run_pipeline(name text) RETURNS SETOF eai.promotions
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    p eai.pipelines := eai._pipeline_or_raise(name);
    st eai.source_tables;
    b eai.batches;
BEGIN
    SELECT x.* INTO st FROM eai.source_tables x
     WHERE to_regclass(format('bronze.%I', x.bronze_table)) = p.source_relid;
    IF FOUND THEN
        FOR b IN SELECT * FROM eai.ingest(st.source, st.table_name) LOOP
            RAISE NOTICE 'eai: ingested batch % of %.%: % rows read, % new (%)', b.batch_id, st.source, st.table_name,
                b.rows_read, b.rows_written, b.status;
        END LOOP;
    END IF;
    RETURN QUERY SELECT * FROM eai.promotions x WHERE x.pipeline_id = p.pipeline_id
                    AND x.started_at >= statement_timestamp() AND x.kind = 'trigger';
    RETURN QUERY SELECT * FROM eai.promote_queued(name);
    RETURN QUERY SELECT * FROM eai._promote_backlog(p);
END
$$;
COMMENT ON FUNCTION eai.run_pipeline(text) IS 'eai: ingest the pipeline''s source table into bronze and promote everything bronze holds that the pipeline has not promoted yet; returns the promotions it made. Schedule it with pg_cron.';

CREATE FUNCTION eai.expect(tbl regclass, column_name text, rule text, action text DEFAULT 'quarantine')
RETURNS eai.expectations
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    spec jsonb;
    e eai.expectations;
BEGIN
    IF lower(btrim(coalesce(action, ''))) NOT IN ('quarantine', 'warn', 'fail') THEN
        RAISE EXCEPTION 'eai: action must be quarantine, warn or fail, not %', quote_nullable(action) USING ERRCODE = '22023';
    END IF;
    spec := eai._parse_rule(rule);
    IF column_name IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = column_name
                                                  AND a.attnum > 0 AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'eai: % has no column %', tbl, quote_ident(column_name) USING ERRCODE = '42703',
            HINT = format('Its columns: %s', (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a
                                                WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
                                                  AND a.attname NOT LIKE '\_eai\_%'));
    END IF;
    IF column_name IS NULL AND spec ->> 'rule' <> 'sql' THEN
        RAISE EXCEPTION 'eai: rule % needs a column', spec ->> 'rule' USING ERRCODE = '22023',
            HINT = 'Only sql rules are about a whole row.';
    END IF;
    IF spec ->> 'rule' = 'sql' THEN
        -- Free SQL runs in every promotion, as the promoting role: only the table's owner may add it,
        -- as only the owner may add a trigger. PostgreSQL's parser must read it as exactly one
        -- expression (eai._check_expression, src/user_sql.rs: 42601 otherwise) before anything runs.
        IF NOT pg_has_role(current_user, (SELECT c.relowner FROM pg_class c WHERE c.oid = tbl), 'USAGE') THEN
            RAISE EXCEPTION 'eai: only the owner of % may add sql rules', tbl USING ERRCODE = '42501';
        END IF;
        spec := jsonb_set(spec, '{expr}', to_jsonb(eai._check_expression(spec ->> 'expr')));
        BEGIN
            -- Where promotion evaluates it: in a row filter (no aggregate, window or set-returning function).
            EXECUTE format(E'SELECT 1 FROM %s WHERE $1 AND (\n%s\n)::boolean LIMIT 0', tbl, spec ->> 'expr') USING false;
        EXCEPTION WHEN others THEN
            RAISE EXCEPTION 'eai: % is not a boolean expression over %: %', spec ->> 'expr', tbl, SQLERRM USING ERRCODE = '42601',
                HINT = 'Write one expression over the table''s columns, e.g. ''sql discharge_date >= admission_date''.';
        END;
        PERFORM eai._refuse_foreign_code_in_expression(tbl, spec ->> 'expr');
    END IF;
    IF spec ->> 'rule' = 'range' THEN
        -- Bounds that cannot work are refused now rather than failing every later promotion.
        IF (spec ->> 'min') IS NOT NULL AND (spec ->> 'max') IS NOT NULL
           AND ((spec ->> 'min') ~ '^\s*[-+]?[0-9.]+([eE][-+]?[0-9]+)?\s*$') <> ((spec ->> 'max') ~ '^\s*[-+]?[0-9.]+([eE][-+]?[0-9]+)?\s*$') THEN
            RAISE EXCEPTION 'eai: range bounds % and % are not both numbers nor both text', spec ->> 'min', spec ->> 'max'
                USING ERRCODE = '22P02', HINT = 'Give two numbers (range 0..120), two dates or two words; fix the rule, not the data.';
        END IF;
        DECLARE
            v_type text := (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = column_name);
            b text;
        BEGIN
            FOREACH b IN ARRAY array_remove(ARRAY[spec ->> 'min', spec ->> 'max'], NULL) LOOP
                BEGIN
                    EXECUTE format('SELECT $1::%s', v_type) USING b;
                EXCEPTION WHEN others THEN
                    RAISE EXCEPTION 'eai: range bound % is not a valid % (the type of %.%)', quote_literal(b), v_type, tbl, quote_ident(column_name)
                        USING ERRCODE = '22P02', HINT = format('Give bounds of type %s, e.g. range 0..120 for a number; fix the rule, not the data.', v_type);
                END;
            END LOOP;
        END;
    END IF;
    IF spec ->> 'rule' = 'foreign_key' THEN
        IF to_regclass(spec ->> 'table') IS NULL THEN
            RAISE EXCEPTION 'eai: table % does not exist', spec ->> 'table' USING ERRCODE = '42P01';
        END IF;
        spec := jsonb_set(spec, '{table}', to_jsonb(to_regclass(spec ->> 'table')::text));
        IF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = to_regclass(spec ->> 'table') AND a.attname = spec ->> 'column'
                          AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'eai: % has no column %', spec ->> 'table', quote_ident(spec ->> 'column') USING ERRCODE = '42703';
        END IF;
    END IF;
    INSERT INTO eai.expectations (relid, table_name, column_name, rule, spec, action)
    VALUES (tbl, tbl::text, column_name, spec ->> 'rule', spec, lower(btrim(action)))
    RETURNING * INTO e;
    RETURN e;
END
$$;
COMMENT ON FUNCTION eai.expect(regclass, text, text, text) IS 'eai: declare a rule a silver table''s rows must hold at promotion: ''not null'', ''type'', ''range 0..120'', ''regex ^[A-Z]{2}$'', ''allowed M,F'', ''unique'', ''foreign_key silver.t(col)'' or ''sql <boolean expression>''; action quarantine (default), warn or fail.';

CREATE FUNCTION eai.suggest_expectations(tbl regclass, accept boolean DEFAULT false)
RETURNS TABLE (column_name text, rule text, spec jsonb, reason text, expectation_id bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE r record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM eai.column_profiles p WHERE p.relid = tbl) THEN
        PERFORM eai.profile(tbl);
    END IF;
    FOR r IN SELECT * FROM eai._suggest_expectations(tbl) s LOOP
        column_name := r.column_name; rule := r.spec ->> 'rule'; spec := r.spec; reason := r.reason; expectation_id := NULL;
        IF accept AND NOT EXISTS (SELECT 1 FROM eai.expectations e WHERE e.relid = tbl AND e.column_name = r.column_name
                                     AND e.rule = r.spec ->> 'rule' AND e.enabled) THEN
            INSERT INTO eai.expectations (relid, table_name, column_name, rule, spec, action, origin)
            VALUES (tbl, tbl::text, r.column_name, r.spec ->> 'rule', r.spec, 'quarantine', 'suggested')
            RETURNING expectations.expectation_id INTO expectation_id;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION eai.suggest_expectations(regclass, boolean) IS 'eai: rules the table''s latest profile supports (every profiled value holds them), with why; accept => true stores them as expectations (origin suggested).';

CREATE FUNCTION eai.requeue_quarantine(pipeline text, ids bigint[] DEFAULT NULL) RETURNS eai.promotions
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    p eai.pipelines := eai._pipeline_or_raise(pipeline);
    v_ids bigint[];
    pr eai.promotions;
BEGIN
    SELECT array_agg(x.quarantine_id ORDER BY x.quarantine_id) INTO v_ids
      FROM (SELECT q.quarantine_id FROM eai.quarantine q
             WHERE q.pipeline_id = p.pipeline_id AND q.status = 'quarantined' AND (ids IS NULL OR q.quarantine_id = ANY (ids))
               FOR UPDATE) x;
    IF v_ids IS NULL THEN
        RETURN NULL;
    END IF;
    pr := eai._promote(p.pipeline_id, NULL, 'requeue',
                       format('(SELECT (jsonb_populate_record(NULL::%s, q.row)).* FROM eai.quarantine q WHERE q.quarantine_id = ANY ($5))',
                              p.source_relid::regclass),
                       v_ids);
    UPDATE eai.quarantine q SET status = 'requeued', requeued_in = pr.promotion_id WHERE q.quarantine_id = ANY (v_ids);
    RETURN pr;
END
$$;
COMMENT ON FUNCTION eai.requeue_quarantine(text, bigint[]) IS 'eai: promote quarantined rows of a pipeline again (all, or the given quarantine_ids), after fixing data or rules; rows that break rules again get a new quarantine row. Returns the promotion.';

CREATE FUNCTION eai.drop_pipeline(name text, drop_silver boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE p eai.pipelines := eai._pipeline_or_raise(name);
BEGIN
    IF to_regclass(p.source_table) IS NOT NULL THEN
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'eai_promote_' || p.pipeline_id, p.source_relid::regclass);
    END IF;
    -- Promotions, quarantine, queue and column lineage go with it (ON DELETE CASCADE).
    DELETE FROM eai.pipelines x WHERE x.pipeline_id = p.pipeline_id;
    IF drop_silver AND to_regclass(p.target_table) IS NOT NULL THEN
        EXECUTE format('DROP TABLE %s', p.target_relid::regclass);
    END IF;
END
$$;
COMMENT ON FUNCTION eai.drop_pipeline(text, boolean) IS 'eai: remove a pipeline, its trigger, promotions, quarantine and queue; the silver table stays unless drop_silver => true.';

CREATE VIEW eai.pipeline_status AS
SELECT p.name, p.source_table, p.target_table, p.enabled,
       count(pr.*)                       AS promotions,
       coalesce(sum(pr.rows_read), 0)        AS rows_read,
       coalesce(sum(pr.rows_promoted), 0)    AS rows_promoted,
       coalesce(sum(pr.rows_quarantined), 0) AS rows_quarantined,
       (SELECT count(*) FROM eai.quarantine q WHERE q.pipeline_id = p.pipeline_id AND q.status = 'quarantined') AS in_quarantine,
       (SELECT count(*) FROM eai.promotion_queue q WHERE q.pipeline_id = p.pipeline_id AND q.state = 'queued') AS batches_queued,
       (SELECT count(*) FROM eai.promotion_queue q WHERE q.pipeline_id = p.pipeline_id AND q.state = 'dead_letter') AS batches_dead_letter,
       max(pr.started_at)                AS last_promotion
  FROM eai.pipelines p LEFT JOIN eai.promotions pr USING (pipeline_id)
 GROUP BY p.pipeline_id;
COMMENT ON VIEW eai.pipeline_status IS 'eai: per pipeline, what was read, promoted and quarantined, what waits in quarantine and in the queue, and the batches parked as dead letters (eai.requeue_batch).';

-- sql/gold.sql
-- eai 0.3.0: gold tables (curated results over silver that BI tools read) and column lineage
-- source -> bronze -> silver -> gold. Loaded after pipelines.sql and eai._view_lineage.

CREATE TABLE eai.gold_tables (
    gold_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    relid           oid NOT NULL,
    definition      oid NOT NULL,
    query           text NOT NULL,
    description     text,
    inputs          oid[] NOT NULL,
    created_by      name NOT NULL DEFAULT current_user,
    created_at      timestamptz NOT NULL DEFAULT now(),
    refreshed_at    timestamptz,
    refresh_ms      double precision,
    rows            bigint,
    refreshes       bigint NOT NULL DEFAULT 0,
    last_error      text,
    last_sqlstate   text,
    last_error_at   timestamptz
);
COMMENT ON TABLE eai.gold_tables IS 'eai: gold tables, each built from a query over silver (or gold) and refreshed after every promotion that touches its inputs.';
COMMENT ON COLUMN eai.gold_tables.gold_id IS 'Identifier of the gold table.';
COMMENT ON COLUMN eai.gold_tables.name IS 'Name: the table is gold.<name>.';
COMMENT ON COLUMN eai.gold_tables.relid IS 'OID of gold.<name>.';
COMMENT ON COLUMN eai.gold_tables.definition IS 'OID of the view eai.gold_<name> that holds the query (PostgreSQL keeps its dependencies, which give the lineage).';
COMMENT ON COLUMN eai.gold_tables.query IS 'The query as given.';
COMMENT ON COLUMN eai.gold_tables.description IS 'What the table means, shown as its comment to BI tools.';
COMMENT ON COLUMN eai.gold_tables.inputs IS 'Tables the query reads: a promotion into one of them refreshes this table.';
COMMENT ON COLUMN eai.gold_tables.created_by IS 'Role that created it.';
COMMENT ON COLUMN eai.gold_tables.created_at IS 'When.';
COMMENT ON COLUMN eai.gold_tables.refreshed_at IS 'When it was last refreshed successfully.';
COMMENT ON COLUMN eai.gold_tables.refresh_ms IS 'How long the last refresh took, in milliseconds.';
COMMENT ON COLUMN eai.gold_tables.rows IS 'Rows after the last refresh.';
COMMENT ON COLUMN eai.gold_tables.refreshes IS 'Successful refreshes so far.';
COMMENT ON COLUMN eai.gold_tables.last_error IS 'Error of the last failed refresh (the table keeps its last good content), NULL once a refresh succeeds.';
COMMENT ON COLUMN eai.gold_tables.last_sqlstate IS 'SQLSTATE of the last failed refresh.';
COMMENT ON COLUMN eai.gold_tables.last_error_at IS 'When the last refresh failed.';

CREATE TABLE eai.gold_columns (
    gold_id         bigint NOT NULL REFERENCES eai.gold_tables ON DELETE CASCADE,
    column_name     text NOT NULL,
    input_relid     oid NOT NULL,
    input_table     text NOT NULL,
    input_column    text NOT NULL,
    PRIMARY KEY (gold_id, column_name, input_relid, input_column)
);
COMMENT ON TABLE eai.gold_columns IS 'eai: column lineage into gold: each gold column and the input columns its value is computed from (read from the query tree).';
COMMENT ON COLUMN eai.gold_columns.gold_id IS 'Gold table.';
COMMENT ON COLUMN eai.gold_columns.column_name IS 'Gold column.';
COMMENT ON COLUMN eai.gold_columns.input_relid IS 'OID of the input table.';
COMMENT ON COLUMN eai.gold_columns.input_table IS 'Input table, schema-qualified.';
COMMENT ON COLUMN eai.gold_columns.input_column IS 'Input column.';

CREATE FUNCTION eai._gold_or_raise(p_name text) RETURNS eai.gold_tables
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE g eai.gold_tables;
BEGIN
    SELECT * INTO g FROM eai.gold_tables WHERE name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'eai: gold table "%" does not exist', p_name USING ERRCODE = '42704',
            HINT = 'SELECT name FROM eai.gold_tables; lists them; eai.create_gold creates one.';
    END IF;
    RETURN g;
END
$$;

-- Refresh one gold table from its definition, atomically for readers (DELETE + INSERT in one
-- transaction: a BI query sees the old or the new content, never an empty table). An error is
-- recorded and raised.
CREATE FUNCTION eai._refresh_gold(g eai.gold_tables) RETURNS eai.gold_tables
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    n bigint;
BEGIN
    -- One refresh of a table at a time (SHARE ROW EXCLUSIVE conflicts with itself, not with
    -- readers): a second refresh waits, then its DELETE sees the first one's rows. Without it two
    -- concurrent refreshes each delete the old rows and insert the new: doubled.
    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', g.relid::regclass);
    -- The query's functions, its view and its inputs' code must be the gold table's owner's or a
    -- superuser's, whoever refreshes (sql/trust.sql).
    PERFORM eai._refuse_foreign_code(g.definition::regclass, to_regrole(g.created_by), true, 'refresh gold from');
    PERFORM eai._refuse_foreign_code(i::regclass, to_regrole(g.created_by), false, 'refresh gold from') FROM unnest(g.inputs) i;
    EXECUTE format('DELETE FROM %s', g.relid::regclass);
    EXECUTE format('INSERT INTO %s SELECT * FROM %s', g.relid::regclass, g.definition::regclass);
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE eai.gold_tables x SET refreshed_at = clock_timestamp(), refresh_ms = 1000 * extract(epoch FROM clock_timestamp() - t0),
                                 rows = n, refreshes = x.refreshes + 1, last_error = NULL, last_sqlstate = NULL
     WHERE x.gold_id = g.gold_id RETURNING * INTO g;
    PERFORM eai._resolve_escalations(ARRAY['gold_refresh'], format('gold.%I', g.name), NULL, 'resolved',
                                     format('refreshed: %s rows', n));
    RETURN g;
END
$$;

-- After a promotion into `p_relid`: refresh every gold table that reads it, then those that read
-- those, in order. A gold query that fails keeps its table's last good content, records the
-- error, and never undoes the promotion.
CREATE FUNCTION eai._refresh_gold_after(p_relid oid) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g eai.gold_tables;
    done oid[] := '{}';
    todo oid[] := ARRAY[p_relid];
    n integer := 0;
    v_state text;
    v_msg text;
BEGIN
    WHILE cardinality(todo) > 0 LOOP
        SELECT * INTO g FROM eai.gold_tables x WHERE x.inputs && todo AND NOT x.relid = ANY (done)
         ORDER BY x.gold_id LIMIT 1;
        IF NOT FOUND THEN
            EXIT;
        END IF;
        done := done || g.relid;
        BEGIN
            PERFORM eai._refresh_gold(g);
            n := n + 1;
            todo := todo || g.relid;
        EXCEPTION WHEN others THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
            UPDATE eai.gold_tables x SET last_error = eai._redact(v_msg), last_sqlstate = v_state, last_error_at = clock_timestamp()
             WHERE x.gold_id = g.gold_id;
            PERFORM eai._record_failure('gold_refresh', format('gold.%I', g.name), g.relid, NULL, NULL, v_state,
                eai._error_class(v_state), v_msg,
                1 + (SELECT count(*)::integer FROM eai.failures f WHERE f.stage = 'gold_refresh' AND f.relid = g.relid
                        AND f.occurred_at > coalesce(g.refreshed_at, '-infinity')),
                false, 'the gold table keeps its last content; it is refreshed again after the next promotion into its inputs (or eai.refresh_gold)',
                'Fix the query (eai.drop_gold, eai.create_gold) or the data.', format('SELECT * FROM eai.refresh_gold(%L);', g.name));
            RAISE WARNING 'eai: gold table gold.% could not be refreshed and keeps its last content: %', g.name, v_msg
                USING HINT = format('SQLSTATE %s; fix the query (eai.drop_gold, eai.create_gold) or the data, then SELECT eai.refresh_gold(%L);', v_state, g.name);
        END;
    END LOOP;
    RETURN n;
END
$$;

CREATE FUNCTION eai.create_gold(name text, query text, description text DEFAULT NULL) RETURNS eai.gold_tables
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_view regclass;
    v_table regclass;
    g eai.gold_tables;
    v_inputs oid[];
    c record;
    v_from text;
BEGIN
    IF name IS NULL OR btrim(name) = '' OR name LIKE '\_eai\_%' THEN
        RAISE EXCEPTION 'eai: a gold table needs a name (not starting with _eai_)' USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM eai.gold_tables x WHERE x.name = name) OR to_regclass(format('gold.%I', name)) IS NOT NULL THEN
        RAISE EXCEPTION 'eai: gold.% already exists', quote_ident(name) USING ERRCODE = '42P07',
            HINT = 'Drop it first with eai.drop_gold(name), or pick another name.';
    END IF;
    -- PostgreSQL's parser must read the query as exactly one SELECT (eai._check_select,
    -- src/user_sql.rs: 42601 otherwise) before anything runs; then it becomes a view, which
    -- PostgreSQL checks and whose dependencies it records.
    query := eai._check_select(query);
    BEGIN
        EXECUTE format(E'CREATE VIEW eai.%I AS\n%s\n', left('gold_' || name, 63), query);
    EXCEPTION WHEN others THEN
        RAISE EXCEPTION 'eai: the gold query for % is not a valid query: %', quote_ident(name), SQLERRM USING ERRCODE = SQLSTATE,
            HINT = 'Give one SELECT over silver (or gold) tables, e.g. SELECT day, sum(amount) FROM silver.orders GROUP BY day.';
    END;
    v_view := format('eai.%I', left('gold_' || name, 63))::regclass;
    -- Every relation the query reads, as PostgreSQL recorded it (each arm of a UNION too).
    SELECT array_agg(DISTINCT d.refobjid) INTO v_inputs
      FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
     WHERE r.ev_class = v_view AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> v_view;
    IF v_inputs IS NULL THEN
        RAISE EXCEPTION 'eai: the gold query for % reads no table', quote_ident(name) USING ERRCODE = '22023',
            HINT = 'A gold table is refreshed when its inputs change: read silver or gold tables.';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(v_inputs) i JOIN pg_class cl ON cl.oid = i JOIN pg_namespace n ON n.oid = cl.relnamespace
                WHERE n.nspname NOT IN ('silver', 'gold')) THEN
        RAISE EXCEPTION 'eai: the gold query for % reads tables outside silver and gold: %', quote_ident(name),
            (SELECT string_agg(i::regclass::text, ', ') FROM unnest(v_inputs) i JOIN pg_class cl ON cl.oid = i
               JOIN pg_namespace n ON n.oid = cl.relnamespace WHERE n.nspname NOT IN ('silver', 'gold'))
            USING ERRCODE = '22023', HINT = 'Gold is built from validated data: promote the source to silver with a pipeline first.';
    END IF;
    PERFORM eai._refuse_foreign_code(v_view, current_user::regrole, true, 'create gold from');
    PERFORM eai._refuse_foreign_code(i::regclass, current_user::regrole, false, 'create gold from') FROM unnest(v_inputs) i;
    EXECUTE format('CREATE TABLE gold.%I AS SELECT * FROM %s WITH NO DATA', name, v_view);
    v_table := format('gold.%I', name)::regclass;
    INSERT INTO eai.gold_tables (name, relid, definition, query, description, inputs)
    VALUES (name, v_table, v_view, query, description, v_inputs) RETURNING * INTO g;
    INSERT INTO eai.gold_columns (gold_id, column_name, input_relid, input_table, input_column)
    SELECT g.gold_id, l.column_name, l.input_relid, l.input_relid::regclass::text, l.input_column
      FROM eai._view_lineage(v_view) l WHERE l.column_name IS NOT NULL
    ON CONFLICT DO NOTHING;
    -- Comments for BI tools: what the table means and where each column comes from.
    EXECUTE format('COMMENT ON TABLE %s IS %L', v_table,
                   coalesce(description || E'\n', '') || format('Built by eai from %s; refreshed after every promotion into them. Query: %s',
                   (SELECT string_agg(i::regclass::text, ', ' ORDER BY i::regclass::text) FROM unnest(v_inputs) i), query));
    FOR c IN SELECT a.attname::text AS col FROM pg_attribute a WHERE a.attrelid = v_table AND a.attnum > 0 AND NOT a.attisdropped LOOP
        SELECT string_agg(format('%s.%s%s', gc.input_table, quote_ident(gc.input_column),
                                 coalesce(' (' || col_description(gc.input_relid, ia.attnum) || ')', '')), '; '
                          ORDER BY gc.input_table, gc.input_column)
          INTO v_from
          FROM eai.gold_columns gc
          JOIN pg_attribute ia ON ia.attrelid = gc.input_relid AND ia.attname = gc.input_column
         WHERE gc.gold_id = g.gold_id AND gc.column_name = c.col;
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', v_table, c.col,
                       CASE WHEN v_from IS NULL THEN 'Computed by the gold query (no input column).' ELSE 'From ' || v_from END);
    END LOOP;
    RETURN eai._refresh_gold(g);
END
$$;
COMMENT ON FUNCTION eai.create_gold(text, text, text) IS 'eai: create gold.<name> from a query over silver (or gold), with comments on the table and its columns (meaning and source), refreshed after every promotion into its inputs.';

CREATE FUNCTION eai.refresh_gold(name text) RETURNS eai.gold_tables
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN eai._refresh_gold(eai._gold_or_raise(name));
END
$$;
COMMENT ON FUNCTION eai.refresh_gold(text) IS 'eai: refresh a gold table now (promotions refresh it on their own).';

CREATE FUNCTION eai.drop_gold(name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE g eai.gold_tables := eai._gold_or_raise(name);
BEGIN
    IF EXISTS (SELECT 1 FROM eai.gold_tables x WHERE g.relid = ANY (x.inputs)) THEN
        RAISE EXCEPTION 'eai: other gold tables read gold.%: %', quote_ident(name),
            (SELECT string_agg(x.name, ', ') FROM eai.gold_tables x WHERE g.relid = ANY (x.inputs)) USING ERRCODE = '2BP01',
            HINT = 'Drop those first.';
    END IF;
    DELETE FROM eai.gold_tables x WHERE x.gold_id = g.gold_id;
    EXECUTE format('DROP TABLE IF EXISTS %s', g.relid::regclass);
    EXECUTE format('DROP VIEW IF EXISTS %s', g.definition::regclass);
END
$$;
COMMENT ON FUNCTION eai.drop_gold(text) IS 'eai: drop a gold table and its definition.';

-- Column lineage as edges: source -> bronze (ingest), bronze -> silver (pipelines: the mapping
-- decision), silver/gold -> gold (the gold query).
CREATE VIEW eai.lineage_edges AS
SELECT 'ingest'::text AS kind,
       format('%I.%I', s.staging_schema, st.foreign_table) AS from_table, a.attname::text AS from_column,
       format('bronze.%I', st.bronze_table) AS to_table, a.attname::text AS to_column,
       jsonb_build_object('source', st.source, 'location', coalesce(st.file_path, s.location)) AS detail
  FROM eai.source_tables st
  JOIN eai.sources s USING (source)
  JOIN pg_attribute a ON a.attrelid = to_regclass(format('bronze.%I', st.bronze_table)) AND a.attnum > 0
                     AND NOT a.attisdropped AND a.attname NOT LIKE '\_eai\_%'
UNION ALL
SELECT 'pipeline', p.source_table, pc.source_column, p.target_table, pc.target_column,
       jsonb_build_object('pipeline', p.name, 'mapping_id', pc.mapping_id, 'mapping_version', r.version,
                          'confidence', m.confidence, 'decided_by', m.decided_by)
  FROM eai.pipeline_columns pc
  JOIN eai.pipelines p USING (pipeline_id)
  JOIN eai.mapping_runs r ON r.run_id = p.run_id
  LEFT JOIN eai.mappings m ON m.mapping_id = pc.mapping_id
 WHERE pc.source_column IS NOT NULL
UNION ALL
SELECT 'gold', gc.input_table, gc.input_column, format('gold.%I', g.name), gc.column_name,
       jsonb_build_object('gold', g.name)
  FROM eai.gold_columns gc JOIN eai.gold_tables g USING (gold_id);
COMMENT ON COLUMN eai.lineage_edges.kind IS 'ingest (source -> bronze), pipeline (bronze -> silver) or gold (-> gold).';
COMMENT ON COLUMN eai.lineage_edges.from_table IS 'Table (or foreign table) the value comes from.';
COMMENT ON COLUMN eai.lineage_edges.from_column IS 'Column it comes from.';
COMMENT ON COLUMN eai.lineage_edges.to_table IS 'Table it goes to.';
COMMENT ON COLUMN eai.lineage_edges.to_column IS 'Column it goes to.';
COMMENT ON COLUMN eai.lineage_edges.detail IS 'The source and its location, the pipeline with its mapping decision (version, confidence, who decided), or the gold table.';
COMMENT ON VIEW eai.lineage_edges IS 'eai: every column-level edge: ingest (source -> bronze), pipeline (bronze -> silver, with the mapping decision) and gold (silver/gold -> gold).';

CREATE FUNCTION eai.lineage(tbl regclass, column_name text DEFAULT NULL, dir text DEFAULT 'both')
RETURNS TABLE (direction text, depth integer, kind text, from_table text, from_column text, to_table text, to_column text, detail jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE v_dir text := lower(coalesce($3, 'both'));
BEGIN
    IF v_dir NOT IN ('both', 'upstream', 'downstream') THEN
        RAISE EXCEPTION 'eai: direction must be upstream, downstream or both, not %', $3 USING ERRCODE = '22023';
    END IF;
    IF $2 IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = $1 AND a.attname = $2 AND a.attnum > 0
                                         AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'eai: % has no column %', $1, quote_ident($2) USING ERRCODE = '42703';
    END IF;
    IF v_dir IN ('both', 'upstream') THEN
        RETURN QUERY
        WITH RECURSIVE up AS (
            SELECT 1 AS depth, e.* FROM eai.lineage_edges e
             WHERE e.to_table = $1::text AND ($2 IS NULL OR e.to_column = $2)
            UNION
            SELECT u.depth + 1, e.* FROM up u JOIN eai.lineage_edges e ON e.to_table = u.from_table AND e.to_column = u.from_column
             WHERE u.depth < 20
        )
        SELECT 'upstream', u.depth, u.kind, u.from_table, u.from_column, u.to_table, u.to_column, u.detail FROM up u
         ORDER BY 2, 4, 5, 6, 7;
    END IF;
    IF v_dir IN ('both', 'downstream') THEN
        RETURN QUERY
        WITH RECURSIVE down AS (
            SELECT 1 AS depth, e.* FROM eai.lineage_edges e
             WHERE e.from_table = $1::text AND ($2 IS NULL OR e.from_column = $2)
            UNION
            SELECT d.depth + 1, e.* FROM down d JOIN eai.lineage_edges e ON e.from_table = d.to_table AND e.from_column = d.to_column
             WHERE d.depth < 20
        )
        SELECT 'downstream', d.depth, d.kind, d.from_table, d.from_column, d.to_table, d.to_column, d.detail FROM down d
         ORDER BY 2, 4, 5, 6, 7;
    END IF;
END
$$;
COMMENT ON FUNCTION eai.lineage(regclass, text, text) IS 'eai: column-level lineage of a table (or one column): upstream to the source, downstream to gold, or both, with the mapping decision or gold table behind each edge.';

-- sql/quality.sql
-- eai 0.3.0: table quality scores and their history. Loaded after gold.sql and eai._quality_score.

CREATE TABLE eai.quality_runs (
    run_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    relid           oid NOT NULL,
    table_name      text NOT NULL,
    run_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    duration_ms     double precision,
    rows            bigint NOT NULL,
    overall         double precision,
    measure         jsonb NOT NULL,
    run_by          name NOT NULL DEFAULT current_user
);
CREATE INDEX ON eai.quality_runs (relid, run_id DESC);
COMMENT ON TABLE eai.quality_runs IS 'eai: every eai.quality_score run: what the scan measured (the baseline of the next run) and the overall score.';
COMMENT ON COLUMN eai.quality_runs.run_id IS 'Identifier of the run.';
COMMENT ON COLUMN eai.quality_runs.relid IS 'OID of the table scored.';
COMMENT ON COLUMN eai.quality_runs.table_name IS 'Table scored, schema-qualified.';
COMMENT ON COLUMN eai.quality_runs.run_at IS 'When.';
COMMENT ON COLUMN eai.quality_runs.duration_ms IS 'How long the run took (scan and scoring), in milliseconds.';
COMMENT ON COLUMN eai.quality_runs.rows IS 'Rows in the table.';
COMMENT ON COLUMN eai.quality_runs.overall IS 'Overall score 0-1: the mean of the dimensions that could be judged.';
COMMENT ON COLUMN eai.quality_runs.measure IS 'Per column: non-null count, mean and standard deviation (numbers), distinct count (unique columns); rule breaks.';
COMMENT ON COLUMN eai.quality_runs.run_by IS 'Role that ran it.';

CREATE TABLE eai.quality_scores (
    run_id          bigint NOT NULL REFERENCES eai.quality_runs ON DELETE CASCADE,
    dimension       text NOT NULL CHECK (dimension IN ('freshness', 'volume', 'distribution', 'completeness', 'schema', 'validity', 'uniqueness')),
    score           double precision,
    measured        text NOT NULL,
    expected        text NOT NULL,
    PRIMARY KEY (run_id, dimension)
);
COMMENT ON TABLE eai.quality_scores IS 'eai: the score of each dimension of each run, with what was measured and what it was judged against.';
COMMENT ON COLUMN eai.quality_scores.run_id IS 'Run (eai.quality_runs).';
COMMENT ON COLUMN eai.quality_scores.dimension IS 'freshness, volume, distribution, completeness, schema, validity or uniqueness.';
COMMENT ON COLUMN eai.quality_scores.score IS 'Score 0-1; NULL when there was nothing to judge it against (e.g. volume on a first run).';
COMMENT ON COLUMN eai.quality_scores.measured IS 'What was measured.';
COMMENT ON COLUMN eai.quality_scores.expected IS 'The expectation it was judged against.';

CREATE FUNCTION eai.quality_score(tbl regclass)
RETURNS TABLE (dimension text, score double precision, measured text, expected text)
LANGUAGE sql VOLATILE
AS 'SELECT * FROM eai._quality_score(tbl)';
COMMENT ON FUNCTION eai.quality_score(regclass) IS 'eai: score a table''s quality in one scan: freshness, volume, distribution, completeness, schema, validity and uniqueness (each 0-1 with what was measured and the expectation), plus overall; every run is kept (eai.quality_runs, eai.quality_scores).';

CREATE VIEW eai.quality_history AS
SELECT r.table_name, r.run_id, r.run_at, r.rows, round(r.overall::numeric, 3) AS overall,
       jsonb_object_agg(s.dimension, round(s.score::numeric, 3)) AS scores
  FROM eai.quality_runs r JOIN eai.quality_scores s USING (run_id)
 GROUP BY r.run_id;
COMMENT ON VIEW eai.quality_history IS 'eai: every quality run, one row each, the dimensions side by side.';
COMMENT ON COLUMN eai.quality_history.table_name IS 'Table scored.';
COMMENT ON COLUMN eai.quality_history.run_id IS 'Run.';
COMMENT ON COLUMN eai.quality_history.run_at IS 'When.';
COMMENT ON COLUMN eai.quality_history.rows IS 'Rows then.';
COMMENT ON COLUMN eai.quality_history.overall IS 'Overall score.';
COMMENT ON COLUMN eai.quality_history.scores IS 'Score of each dimension (null: not judged).';

-- sql/anomalies.sql
-- Anomaly detection (docs/anomalies.md). The detectors are in eai-core (pgrx-free); this file
-- holds the SQL entry points. The query entry point runs any (ts, value) series or rows of
-- numbers through them.

-- Anomalies of any query: a time column then numeric value columns is a series (the online
-- detector, no look-ahead, one value column at a time); numeric columns only are rows (Isolation
-- Forest). Without all_rows only anomalous rows come back. threshold: in standard deviations for
-- series (default 6), in isolation score for rows (default 0.6).
CREATE FUNCTION eai.detect_anomalies(query text, all_rows boolean DEFAULT false, threshold double precision DEFAULT NULL,
                                     min_history integer DEFAULT 8, trees integer DEFAULT 100, subsample integer DEFAULT 256,
                                     seed bigint DEFAULT 42)
RETURNS TABLE (ordinal bigint, ts timestamptz, metric text, observed double precision, expected double precision,
               lo double precision, hi double precision, score double precision, anomalous boolean, detector text,
               severity text, explanation text)
LANGUAGE sql VOLATILE
AS $$
    SELECT * FROM eai._detect_query(query, all_rows, threshold, min_history, trees, subsample, seed)
$$;
COMMENT ON FUNCTION eai.detect_anomalies(text, boolean, double precision, integer, integer, integer, bigint) IS
    'Anomalies of a query''s rows: (ts, value…) series through the online detector, numeric rows through Isolation Forest. See docs/anomalies.md.';

-- Batch profiles: per promotion and silver column (not identifiers), the rows, nulls and
-- distinct values; for numbers also the mean, stddev and a quantile sketch (21 evenly spaced quantiles), and the drift from the batch before (PSI, KL and
-- the G-test's p-value, from the two sketches). Measured after the promotion by
-- eai.measure_batches (the worker, and eai.detect_anomalies for every batch left), so promotion
-- itself pays nothing.
CREATE TABLE eai.batch_profiles (
    promotion_id    bigint NOT NULL REFERENCES eai.promotions ON DELETE CASCADE,
    relid           oid NOT NULL,
    column_name     text NOT NULL,
    rows            bigint NOT NULL,
    nulls           bigint NOT NULL,
    distinct_count  bigint,
    mean            double precision,
    stddev          double precision,
    quantiles       double precision[],
    psi             double precision,
    kl              double precision,
    drift_p         double precision,
    measured_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    measured_by     name NOT NULL,
    PRIMARY KEY (promotion_id, column_name)
);
CREATE INDEX ON eai.batch_profiles (relid, column_name, promotion_id);
COMMENT ON TABLE eai.batch_profiles IS 'eai: per promoted batch and silver column (identifiers left out): rows, nulls, distinct values; for numbers also mean, stddev, a quantile sketch, and the drift from the batch before (eai.measure_batches).';
COMMENT ON COLUMN eai.batch_profiles.promotion_id IS 'The promotion (eai.promotions) whose rows were measured (silver rows with that _eai_promotion).';
COMMENT ON COLUMN eai.batch_profiles.relid IS 'OID of the silver table.';
COMMENT ON COLUMN eai.batch_profiles.column_name IS 'The column measured.';
COMMENT ON COLUMN eai.batch_profiles.rows IS 'Rows of the batch still carrying its promotion when measured.';
COMMENT ON COLUMN eai.batch_profiles.nulls IS 'Of them, rows where the column is NULL.';
COMMENT ON COLUMN eai.batch_profiles.distinct_count IS 'Distinct non-null values of the column in the batch (exact).';
COMMENT ON COLUMN eai.batch_profiles.mean IS 'Mean of the column in the batch.';
COMMENT ON COLUMN eai.batch_profiles.stddev IS 'Sample standard deviation of the column in the batch.';
COMMENT ON COLUMN eai.batch_profiles.quantiles IS 'Quantile sketch: percentile_cont at 0, 0.05, …, 1 (21 values; [11] is the median).';
COMMENT ON COLUMN eai.batch_profiles.psi IS 'Population stability index against the batch before, over that batch''s 5% quantile bins.';
COMMENT ON COLUMN eai.batch_profiles.kl IS 'KL divergence of this batch from the batch before, over the same bins.';
COMMENT ON COLUMN eai.batch_profiles.drift_p IS 'p-value of the G-test (2·n·KL against χ²): how likely a batch of this size shows this divergence by chance.';
COMMENT ON COLUMN eai.batch_profiles.measured_at IS 'When it was measured.';
COMMENT ON COLUMN eai.batch_profiles.measured_by IS 'Role whose eai.measure_batches (or the worker''s) read the batch.';

-- What eai.measure_batches reads of one batch's column, handed to eai._record_batch_profile.
CREATE TYPE eai.batch_measure AS (column_name text, rows bigint, nulls bigint, distinct_count bigint,
                                  mean double precision, stddev double precision, quantiles double precision[]);
COMMENT ON TYPE eai.batch_measure IS 'eai: one column of a batch as eai.measure_batches read it (rows, nulls, distinct values, mean, stddev, quantile sketch).';

-- The one writer of eai.batch_profiles. eai.measure_batches reads the batch with its caller's
-- rights; this records what it read (SECURITY DEFINER: no eai_* role may write the table) in the
-- name of the session's role, for a promotion of a table that role may read and not measured
-- yet, and computes the drift from the batch before. Returns whether it recorded anything.
CREATE FUNCTION eai._record_batch_profile(p_promotion bigint, p_rel oid, p_columns text[], p_measures eai.batch_measure[])
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM eai._require_select(p_rel, 'measure its batches');
    IF NOT EXISTS (SELECT 1 FROM eai.promotions pr JOIN eai.pipelines p USING (pipeline_id)
                    WHERE pr.promotion_id = p_promotion AND p.target_relid = p_rel)
       OR EXISTS (SELECT 1 FROM eai.batch_profiles b WHERE b.promotion_id = p_promotion) THEN
        RETURN false;
    END IF;
    IF coalesce(cardinality(p_measures), 0) > 0 THEN
        INSERT INTO eai.batch_profiles (promotion_id, relid, column_name, rows, nulls, distinct_count, mean, stddev, quantiles, measured_by)
        SELECT p_promotion, p_rel, m.column_name, m.rows, m.nulls, m.distinct_count, m.mean, m.stddev, m.quantiles, eai._session_role()
          FROM unnest(p_measures) m
         WHERE m.column_name = ANY (p_columns);
    ELSE
        -- Every row of the batch was replaced since (dedup key): measured as empty.
        INSERT INTO eai.batch_profiles (promotion_id, relid, column_name, rows, nulls, measured_by)
        SELECT p_promotion, p_rel, c, 0, 0, eai._session_role() FROM unnest(p_columns) c;
    END IF;
    -- Drift from the last measured batch with values, column by column.
    UPDATE eai.batch_profiles b SET psi = d.psi, kl = d.kl, drift_p = d.p_value
      FROM (SELECT cur.column_name, x.*
              FROM eai.batch_profiles cur
              JOIN LATERAL (SELECT prev.quantiles FROM eai.batch_profiles prev
                             WHERE prev.relid = cur.relid AND prev.column_name = cur.column_name
                               AND prev.promotion_id < cur.promotion_id AND prev.quantiles[1] IS NOT NULL
                             ORDER BY prev.promotion_id DESC LIMIT 1) prev ON true
             CROSS JOIN LATERAL eai._sketch_drift(prev.quantiles, cur.quantiles, cur.rows - cur.nulls, 0.25) x
             WHERE cur.promotion_id = p_promotion AND cur.quantiles[1] IS NOT NULL) d
     WHERE b.promotion_id = p_promotion AND b.column_name = d.column_name;
    RETURN true;
END
$$;
COMMENT ON FUNCTION eai._record_batch_profile(bigint, oid, text[], eai.batch_measure[]) IS 'eai: record one batch''s measures (eai.measure_batches calls it) in the name of the session''s role, with the drift from the batch before.';

-- Measures the promoted batches of a silver table not measured yet (oldest first, at most
-- max_batches: a chunk; call again until it returns less than max_batches): one scan of each
-- batch's rows through the BRIN index on _eai_promotion that eai.create_pipeline creates.
-- Returns how many batches it measured.
CREATE FUNCTION eai.measure_batches(tbl regclass, max_batches integer DEFAULT 100)
RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_cols text[];
    v_values text;
    v_promotion bigint;
    v_measures eai.batch_measure[];
    v_done integer := 0;
BEGIN
    -- Every column (numbers get a sketch; the others rows, nulls and distinct values) but
    -- json/xml-like types that cannot be compared.
    SELECT array_agg(a.attname::text ORDER BY a.attnum),
           string_agg(CASE WHEN a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'float4'::regtype,
                                               'float8'::regtype, 'numeric'::regtype)
                           THEN format('(%L, t.%I::float8, t.%I::text)', a.attname, a.attname, a.attname)
                           ELSE format('(%L, NULL::float8, t.%I::text)', a.attname, a.attname) END, ', ' ORDER BY a.attnum)
      INTO v_cols, v_values
      FROM pg_attribute a
     WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped AND a.attname NOT LIKE '\_eai\_%'
       AND a.atttypid NOT IN ('json'::regtype, 'xml'::regtype, 'point'::regtype)
       -- Identifiers are not quantities: new keys in every batch would read as drift.
       AND NOT EXISTS (SELECT 1 FROM eai.pipelines p WHERE p.target_relid = tbl AND a.attname = ANY (p.dedup_key))
       AND NOT EXISTS (SELECT 1 FROM eai.expectations e WHERE e.relid = tbl AND e.column_name = a.attname AND e.rule = 'unique' AND e.enabled);
    IF v_cols IS NULL OR NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = '_eai_promotion' AND NOT a.attisdropped) THEN
        RETURN 0;
    END IF;
    FOR v_promotion IN
        SELECT pr.promotion_id FROM eai.promotions pr JOIN eai.pipelines p USING (pipeline_id)
         WHERE p.target_relid = tbl AND pr.rows_promoted > 0 AND pr.duration_ms IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM eai.batch_profiles b WHERE b.promotion_id = pr.promotion_id)
         ORDER BY pr.promotion_id LIMIT greatest(max_batches, 0)
    LOOP
        -- One pass over the batch, with the caller's rights: its columns side by side as
        -- (column, number, text) triples.
        EXECUTE format('SELECT array_agg(m.x) FROM (
                        SELECT ROW(u.c, count(*), count(*) - count(u.s), count(DISTINCT u.s), avg(u.v), stddev_samp(u.v),
                                   percentile_cont(ARRAY(SELECT g / 20.0 FROM generate_series(0, 20) g)::float8[]) WITHIN GROUP (ORDER BY u.v)
                                   )::eai.batch_measure AS x
                          FROM %s t CROSS JOIN LATERAL (VALUES %s) AS u (c, v, s)
                         WHERE t._eai_promotion = $1
                         GROUP BY u.c) m', tbl, v_values) INTO v_measures USING v_promotion;
        PERFORM eai._record_batch_profile(v_promotion, tbl, v_cols, v_measures);
        v_done := v_done + 1;
    END LOOP;
    RETURN v_done;
END
$$;
COMMENT ON FUNCTION eai.measure_batches(regclass, integer) IS
    'eai: profile up to max_batches promoted batches of a silver table not measured yet, oldest first (eai.batch_profiles: quantile sketch, drift from the batch before); returns how many. eai.detect_anomalies calls it until none is left.';

-- The metric history: what promotion, batch profiles and quality scoring keep, one row per
-- table, column, metric and time (a view: nothing is stored twice).
CREATE VIEW eai.metrics AS
SELECT p.target_relid AS relid, NULL::text AS column_name, m.metric, m.value, pr.started_at AS measured_at,
       pr.promotion_id, NULL::bigint AS quality_run_id
  FROM eai.promotions pr JOIN eai.pipelines p USING (pipeline_id)
  LEFT JOIN eai.batches b ON b.batch_id = pr.bronze_batch
 CROSS JOIN LATERAL (VALUES ('batch_rows', pr.rows_read::float8),
                            ('quarantine_rate', pr.rows_quarantined::float8 / nullif(pr.rows_read, 0)),
                            ('promotion_ms_per_row', pr.duration_ms / nullif(pr.rows_read, 0)),
                            -- From the bronze batch's start to its promotion: how late silver is.
                            ('promotion_lag_s', extract(epoch FROM pr.started_at - b.started_at)::float8)) AS m (metric, value)
 WHERE pr.duration_ms IS NOT NULL AND m.value IS NOT NULL
UNION ALL
SELECT r.relid, NULL, m.metric, m.value, r.run_at, NULL, r.run_id
  FROM eai.quality_runs r
 CROSS JOIN LATERAL (VALUES ('row_count', r.rows::float8),
                            -- Age of the newest data when scored.
                            ('freshness_lag_s', (r.measure ->> 'age_secs')::float8),
                            -- Schema fingerprint: a hash of the column names and types, in order.
                            ('schema_fingerprint', (SELECT hashtext(string_agg((c ->> 'name') || ' ' || (c ->> 'pg_type'), ',' ORDER BY o))::float8
                                                      FROM jsonb_array_elements(r.measure -> 'columns') WITH ORDINALITY AS x (c, o)))) AS m (metric, value)
 WHERE m.value IS NOT NULL
UNION ALL
SELECT r.relid, c ->> 'name', m.metric, m.value, r.run_at, NULL, r.run_id
  FROM eai.quality_runs r
 CROSS JOIN LATERAL jsonb_array_elements(r.measure -> 'columns') AS c
 CROSS JOIN LATERAL (VALUES ('null_rate', 1 - (c ->> 'non_null')::float8 / nullif(r.rows, 0)),
                            ('mean', (c ->> 'mean')::float8),
                            ('stddev', (c ->> 'stddev')::float8),
                            ('distinct_count', (c ->> 'distinct')::float8)) AS m (metric, value)
 WHERE m.value IS NOT NULL
UNION ALL
SELECT bp.relid, bp.column_name, m.metric, m.value, pr.started_at, bp.promotion_id, NULL
  FROM eai.batch_profiles bp JOIN eai.promotions pr USING (promotion_id)
 CROSS JOIN LATERAL (VALUES ('batch_null_rate', bp.nulls::float8 / nullif(bp.rows, 0)),
                            ('batch_distinct_count', bp.distinct_count::float8),
                            ('batch_mean', bp.mean),
                            ('batch_stddev', bp.stddev),
                            ('batch_p05', bp.quantiles[2]),
                            ('batch_median', bp.quantiles[11]),
                            ('batch_p95', bp.quantiles[20]),
                            ('psi', bp.psi),
                            ('kl', bp.kl)) AS m (metric, value)
 WHERE m.value IS NOT NULL;
COMMENT ON VIEW eai.metrics IS
    'eai: metric history per table and column. Promotions: batch rows, quarantine rate, time per row, promotion lag. Quality runs: row count, freshness lag, schema fingerprint, null rate, mean, stddev, distinct count. Batch profiles: null rate, distinct count, mean, stddev, 5th/50th/95th percentiles, PSI and KL from the batch before. eai.detect_anomalies(tbl) judges each series.';

-- Incidents: related anomalies (same batch, time window, lineage chain) as one row.
CREATE TABLE eai.incidents (
    incident_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    severity        text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    root_anomaly_id bigint,
    root_cause      text,
    anomalies       integer NOT NULL DEFAULT 0,
    tables          text[] NOT NULL DEFAULT '{}',
    first_observed_at timestamptz,
    last_observed_at timestamptz,
    opened_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    notified_at     timestamptz
);
COMMENT ON TABLE eai.incidents IS 'eai: related anomalies grouped into one incident (same batch, within eai.incident_window, or on one lineage chain within eai.incident_lineage_window), with the probable root cause.';
COMMENT ON COLUMN eai.incidents.incident_id IS 'Identifier of the incident (eai.anomalies.incident_id).';
COMMENT ON COLUMN eai.incidents.severity IS 'The highest severity of its anomalies; high ones are sent with NOTIFY eai_incident.';
COMMENT ON COLUMN eai.incidents.root_anomaly_id IS 'The probable root cause: the most upstream anomaly (fewest lineage steps from a source), then the earliest.';
COMMENT ON COLUMN eai.incidents.root_cause IS 'The root anomaly in words: table and explanation.';
COMMENT ON COLUMN eai.incidents.anomalies IS 'How many anomalies it groups.';
COMMENT ON COLUMN eai.incidents.tables IS 'Tables of its anomalies.';
COMMENT ON COLUMN eai.incidents.first_observed_at IS 'When its earliest anomaly was measured.';
COMMENT ON COLUMN eai.incidents.last_observed_at IS 'When its latest anomaly was measured.';
COMMENT ON COLUMN eai.incidents.opened_at IS 'When eai opened it.';
COMMENT ON COLUMN eai.incidents.updated_at IS 'When an anomaly last joined it.';
COMMENT ON COLUMN eai.incidents.notified_at IS 'When NOTIFY eai_incident was sent (high severity only; once).';

-- Anomalies found in the metric history, each once.
CREATE TABLE eai.anomalies (
    anomaly_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    relid           oid NOT NULL,
    table_name      text NOT NULL,
    column_name     text,
    metric          text NOT NULL,
    observed_at     timestamptz NOT NULL,
    promotion_id    bigint,
    observed        double precision,
    expected        double precision,
    lo              double precision,
    hi              double precision,
    score           double precision,
    threshold       double precision,
    detector        text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    explanation     text NOT NULL,
    detected_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    label           text CHECK (label IN ('false_positive', 'true_positive')),
    labelled_by     name,
    labelled_at     timestamptz,
    incident_id     bigint REFERENCES eai.incidents ON DELETE SET NULL,
    UNIQUE NULLS NOT DISTINCT (relid, column_name, metric, observed_at)
);
CREATE INDEX ON eai.anomalies (incident_id);
CREATE INDEX ON eai.anomalies (observed_at);
COMMENT ON TABLE eai.anomalies IS 'eai: anomalies eai.detect_anomalies(tbl) found in eai.metrics, each recorded once, with what was expected and why.';
COMMENT ON COLUMN eai.anomalies.anomaly_id IS 'Identifier of the anomaly.';
COMMENT ON COLUMN eai.anomalies.relid IS 'OID of the table whose metric it is.';
COMMENT ON COLUMN eai.anomalies.table_name IS 'The table''s name when the anomaly was recorded.';
COMMENT ON COLUMN eai.anomalies.column_name IS 'The column, or NULL for a table-level metric.';
COMMENT ON COLUMN eai.anomalies.metric IS 'The metric (eai.metrics.metric).';
COMMENT ON COLUMN eai.anomalies.observed_at IS 'When the metric was measured.';
COMMENT ON COLUMN eai.anomalies.promotion_id IS 'The promotion (batch) the metric was measured on, if any.';
COMMENT ON COLUMN eai.anomalies.observed IS 'The value measured.';
COMMENT ON COLUMN eai.anomalies.expected IS 'What the history before it led to expect.';
COMMENT ON COLUMN eai.anomalies.lo IS 'Lowest value that would have raised no alarm.';
COMMENT ON COLUMN eai.anomalies.hi IS 'Highest value that would have raised no alarm.';
COMMENT ON COLUMN eai.anomalies.score IS 'How far off: standard deviations of the recent residuals (series), the CUSUM in units of its alarm level times the threshold (cusum), the isolation score (metric vectors), or the PSI (drift).';
COMMENT ON COLUMN eai.anomalies.threshold IS 'The threshold the score crossed (the metric''s own, eai.anomaly_thresholds, when labels moved it).';
COMMENT ON COLUMN eai.anomalies.detector IS 'robust_z, iqr, seasonal, cusum (a drift of the level), isolation_forest, drift or schema (docs/anomalies.md).';
COMMENT ON COLUMN eai.anomalies.severity IS 'low, medium (score at least 1.5 × threshold) or high (at least 2 ×, and every schema change).';
COMMENT ON COLUMN eai.anomalies.explanation IS 'The verdict in words.';
COMMENT ON COLUMN eai.anomalies.detected_at IS 'When eai.detect_anomalies recorded it.';
COMMENT ON COLUMN eai.anomalies.label IS 'Feedback (eai.label_anomaly): false_positive or true_positive; NULL until labelled.';
COMMENT ON COLUMN eai.anomalies.labelled_by IS 'Role that labelled it.';
COMMENT ON COLUMN eai.anomalies.labelled_at IS 'When it was labelled.';
COMMENT ON COLUMN eai.anomalies.incident_id IS 'The incident (eai.incidents) it belongs to.';

-- Thresholds per metric, moved by feedback: visible here, every change logged in
-- eai.threshold_changes and reversible with eai.revert_threshold.
CREATE TABLE eai.anomaly_thresholds (
    relid           oid NOT NULL,
    table_name      text NOT NULL,
    column_name     text,
    metric          text NOT NULL,
    threshold       double precision CHECK (threshold > 0),
    base_threshold  double precision CHECK (base_threshold > 0),
    adaptive        boolean NOT NULL DEFAULT true,
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE NULLS NOT DISTINCT (relid, column_name, metric)
);
COMMENT ON TABLE eai.anomaly_thresholds IS 'eai: a metric''s own threshold, moved by labels (eai.label_anomaly) to keep false positives under eai.anomaly_false_positive_target, or set by hand (eai.set_threshold).';
COMMENT ON COLUMN eai.anomaly_thresholds.relid IS 'OID of the table.';
COMMENT ON COLUMN eai.anomaly_thresholds.table_name IS 'The table''s name when the threshold was set.';
COMMENT ON COLUMN eai.anomaly_thresholds.column_name IS 'The column, or NULL for a table-level metric.';
COMMENT ON COLUMN eai.anomaly_thresholds.metric IS 'The metric (eai.metrics.metric; psi for drift).';
COMMENT ON COLUMN eai.anomaly_thresholds.threshold IS 'The threshold in force; NULL: the one eai.detect_anomalies is called with. An adaptive threshold applies when above the call''s.';
COMMENT ON COLUMN eai.anomaly_thresholds.base_threshold IS 'The default it adapts from (labels never take it below); NULL: the threshold the labelled anomalies were detected at.';
COMMENT ON COLUMN eai.anomaly_thresholds.adaptive IS 'Whether labels move it; false after eai.revert_threshold or eai.set_threshold(…, adaptive => false).';
COMMENT ON COLUMN eai.anomaly_thresholds.updated_at IS 'When it last changed.';

CREATE TABLE eai.threshold_changes (
    change_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    relid           oid NOT NULL,
    table_name      text NOT NULL,
    column_name     text,
    metric          text NOT NULL,
    old_threshold   double precision,
    new_threshold   double precision,
    reason          text NOT NULL,
    anomaly_id      bigint REFERENCES eai.anomalies ON DELETE SET NULL,
    reverts         bigint REFERENCES eai.threshold_changes,
    changed_by      name NOT NULL DEFAULT current_user,
    changed_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE eai.threshold_changes IS 'eai: every change of a metric''s threshold, why, and who; eai.revert_threshold(change_id) undoes one.';
COMMENT ON COLUMN eai.threshold_changes.change_id IS 'Identifier of the change.';
COMMENT ON COLUMN eai.threshold_changes.relid IS 'OID of the table.';
COMMENT ON COLUMN eai.threshold_changes.table_name IS 'The table''s name then.';
COMMENT ON COLUMN eai.threshold_changes.column_name IS 'The column, or NULL for a table-level metric.';
COMMENT ON COLUMN eai.threshold_changes.metric IS 'The metric.';
COMMENT ON COLUMN eai.threshold_changes.old_threshold IS 'Threshold before (NULL: the call''s default).';
COMMENT ON COLUMN eai.threshold_changes.new_threshold IS 'Threshold after (NULL: the call''s default).';
COMMENT ON COLUMN eai.threshold_changes.reason IS 'Why: the labels that moved it, a revert, or a hand setting.';
COMMENT ON COLUMN eai.threshold_changes.anomaly_id IS 'The labelled anomaly that triggered it.';
COMMENT ON COLUMN eai.threshold_changes.reverts IS 'The change this one undoes.';
COMMENT ON COLUMN eai.threshold_changes.changed_by IS 'Role that made it.';
COMMENT ON COLUMN eai.threshold_changes.changed_at IS 'When.';

-- The threshold a metric is judged at: its own when labels or a hand set one (an adaptive one only
-- when above the call's), otherwise the call's.
CREATE FUNCTION eai._threshold_in_force(tbl oid, column_name text, metric text, call_threshold double precision)
RETURNS double precision
LANGUAGE sql STABLE
AS $$
    SELECT coalesce((SELECT CASE WHEN t.adaptive THEN greatest(t.threshold, call_threshold) ELSE coalesce(t.threshold, call_threshold) END
                       FROM eai.anomaly_thresholds t
                      WHERE t.relid = $1 AND t.column_name IS NOT DISTINCT FROM $2 AND t.metric = $3), call_threshold)
$$;
COMMENT ON FUNCTION eai._threshold_in_force(oid, text, text, double precision) IS 'eai: the threshold a metric is judged at (eai.anomaly_thresholds, else the call''s).';

-- Labels and thresholds are written only by the three functions below (SECURITY DEFINER: the
-- eai_* roles have no INSERT or UPDATE on the tables), which record the session's role and the
-- time themselves, log every threshold change, and act only on tables the role may read.
CREATE FUNCTION eai._require_select(p_rel oid, p_what text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT coalesce(has_table_privilege(eai._session_role(), p_rel, 'SELECT'), false) THEN
        RAISE EXCEPTION 'eai: % may not read %, so it may not %', eai._session_role(),
              coalesce(p_rel::regclass::text, 'table ' || p_rel), p_what
            USING ERRCODE = '42501', HINT = 'Ask the table''s owner for SELECT on it, or a superuser to do it.';
    END IF;
END
$$;
COMMENT ON FUNCTION eai._require_select(oid, text) IS 'eai: raise 42501 unless the session''s role may read the table.';

-- Feedback on an anomaly. The labels of its metric move the metric's threshold to the lowest one
-- (never below its default) that keeps false positives among the labelled alerts at most
-- eai.anomaly_false_positive_target; the change is logged in eai.threshold_changes.
CREATE FUNCTION eai.label_anomaly(id bigint, label text)
RETURNS TABLE (anomaly_id bigint, verdict text, metric text, threshold_before double precision,
               threshold_after double precision, change_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    a eai.anomalies;
    th eai.anomaly_thresholds;
    v_base double precision;
    v_before double precision;
    v_new double precision;
    v_labels integer;
    v_false integer;
    v_change bigint;
BEGIN
    IF label_anomaly.label IS NULL OR label_anomaly.label NOT IN ('false_positive', 'true_positive') THEN
        RAISE EXCEPTION 'eai: an anomaly is labelled false_positive or true_positive, not %', coalesce(quote_literal(label_anomaly.label), 'NULL')
            USING ERRCODE = '22023', HINT = 'SELECT * FROM eai.label_anomaly(42, ''false_positive'');';
    END IF;
    SELECT * INTO a FROM eai.anomalies x WHERE x.anomaly_id = label_anomaly.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'eai: there is no anomaly %', label_anomaly.id USING ERRCODE = 'P0002',
            HINT = 'SELECT anomaly_id, table_name, metric, explanation FROM eai.anomalies ORDER BY anomaly_id DESC;';
    END IF;
    PERFORM eai._require_select(a.relid, 'label its anomalies');
    UPDATE eai.anomalies x SET label = label_anomaly.label, labelled_by = eai._session_role(), labelled_at = clock_timestamp()
     WHERE x.anomaly_id = label_anomaly.id
    RETURNING x.* INTO a;
    IF a.score IS NULL OR a.threshold IS NULL THEN
        -- A schema change has no score: the label is kept, no threshold moves.
        RETURN QUERY SELECT a.anomaly_id, a.label, a.metric, NULL::float8, NULL::float8, NULL::bigint;
        RETURN;
    END IF;
    SELECT * INTO th FROM eai.anomaly_thresholds t
     WHERE t.relid = a.relid AND t.column_name IS NOT DISTINCT FROM a.column_name AND t.metric = a.metric
       FOR UPDATE;
    IF FOUND AND NOT th.adaptive THEN
        RETURN QUERY SELECT a.anomaly_id, a.label, a.metric, th.threshold, th.threshold, NULL::bigint;
        RETURN;
    END IF;
    v_base := coalesce(th.base_threshold, a.threshold);
    v_before := coalesce(th.threshold, v_base);
    SELECT eai._adapt_threshold(v_base, array_agg(x.score), array_agg(x.label = 'false_positive')),
           count(*), count(*) FILTER (WHERE x.label = 'false_positive')
      INTO v_new, v_labels, v_false
      FROM eai.anomalies x
     WHERE x.relid = a.relid AND x.column_name IS NOT DISTINCT FROM a.column_name AND x.metric = a.metric
       AND x.label IS NOT NULL AND x.score IS NOT NULL;
    IF v_new IS DISTINCT FROM v_before THEN
        INSERT INTO eai.anomaly_thresholds AS t (relid, table_name, column_name, metric, threshold, base_threshold)
        VALUES (a.relid, a.table_name, a.column_name, a.metric, v_new, v_base)
        ON CONFLICT (relid, column_name, metric) DO UPDATE SET threshold = excluded.threshold, updated_at = clock_timestamp();
        INSERT INTO eai.threshold_changes (relid, table_name, column_name, metric, old_threshold, new_threshold, reason, anomaly_id, changed_by)
        VALUES (a.relid, a.table_name, a.column_name, a.metric, th.threshold, v_new,
                format('%s labelled alerts, %s false positives: the lowest threshold from %s keeping false positives at or under %s%% of the alerts it raises',
                       v_labels, v_false, round(v_base::numeric, 4), round(100 * current_setting('eai.anomaly_false_positive_target')::numeric, 1)),
                a.anomaly_id, eai._session_role())
        RETURNING threshold_changes.change_id INTO v_change;
    END IF;
    RETURN QUERY SELECT a.anomaly_id, a.label, a.metric, v_before, v_new, v_change;
END
$$;
COMMENT ON FUNCTION eai.label_anomaly(bigint, text) IS
    'eai: label an anomaly false_positive or true_positive; its metric''s threshold adapts (eai.anomaly_thresholds, logged in eai.threshold_changes).';

-- Undoes a threshold change: the threshold before it comes back, and labels stop moving it until
-- eai.set_threshold(…, adaptive => true).
CREATE FUNCTION eai.revert_threshold(change_id bigint)
RETURNS SETOF eai.threshold_changes
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    c eai.threshold_changes;
    th eai.anomaly_thresholds;
BEGIN
    SELECT * INTO c FROM eai.threshold_changes x WHERE x.change_id = revert_threshold.change_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'eai: there is no threshold change %', revert_threshold.change_id USING ERRCODE = 'P0002',
            HINT = 'SELECT * FROM eai.threshold_changes ORDER BY change_id DESC;';
    END IF;
    PERFORM eai._require_select(c.relid, 'change its thresholds');
    SELECT * INTO th FROM eai.anomaly_thresholds t
     WHERE t.relid = c.relid AND t.column_name IS NOT DISTINCT FROM c.column_name AND t.metric = c.metric FOR UPDATE;
    UPDATE eai.anomaly_thresholds t SET threshold = c.old_threshold, adaptive = false, updated_at = clock_timestamp()
     WHERE t.relid = c.relid AND t.column_name IS NOT DISTINCT FROM c.column_name AND t.metric = c.metric;
    RETURN QUERY
    INSERT INTO eai.threshold_changes AS x (relid, table_name, column_name, metric, old_threshold, new_threshold, reason, reverts, changed_by)
    VALUES (c.relid, c.table_name, c.column_name, c.metric, th.threshold, c.old_threshold,
            format('revert of change %s; labels no longer move this threshold (eai.set_threshold(…, adaptive => true) lets them again)', c.change_id),
            c.change_id, eai._session_role())
    RETURNING x.*;
END
$$;
COMMENT ON FUNCTION eai.revert_threshold(bigint) IS 'eai: undo a threshold change (eai.threshold_changes) and stop labels moving that threshold.';

-- Sets a metric's threshold by hand (NULL: the call's), and whether labels may move it.
CREATE FUNCTION eai.set_threshold(tbl regclass, metric text, column_name text DEFAULT NULL,
                                  threshold double precision DEFAULT NULL, adaptive boolean DEFAULT true)
RETURNS SETOF eai.threshold_changes
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    th eai.anomaly_thresholds;
BEGIN
    IF set_threshold.threshold IS NOT NULL AND set_threshold.threshold <= 0 THEN
        RAISE EXCEPTION 'eai: a threshold must be positive' USING ERRCODE = '22023',
            HINT = 'Give NULL to judge the metric at the threshold eai.detect_anomalies is called with.';
    END IF;
    IF set_threshold.metric IS NULL THEN
        RAISE EXCEPTION 'eai: which metric?' USING ERRCODE = '22023', HINT = 'SELECT DISTINCT metric FROM eai.metrics;';
    END IF;
    PERFORM eai._require_select(tbl, 'change its thresholds');
    SELECT * INTO th FROM eai.anomaly_thresholds t
     WHERE t.relid = tbl AND t.column_name IS NOT DISTINCT FROM set_threshold.column_name AND t.metric = set_threshold.metric FOR UPDATE;
    INSERT INTO eai.anomaly_thresholds AS t (relid, table_name, column_name, metric, threshold, base_threshold, adaptive)
    VALUES (tbl, tbl::text, set_threshold.column_name, set_threshold.metric, set_threshold.threshold,
            set_threshold.threshold, set_threshold.adaptive)
    ON CONFLICT (relid, column_name, metric) DO UPDATE
       SET threshold = excluded.threshold, adaptive = excluded.adaptive, updated_at = clock_timestamp();
    RETURN QUERY
    INSERT INTO eai.threshold_changes AS x (relid, table_name, column_name, metric, old_threshold, new_threshold, reason, changed_by)
    VALUES (tbl, tbl::text, set_threshold.column_name, set_threshold.metric, th.threshold, set_threshold.threshold,
            format('set by hand%s', CASE WHEN set_threshold.adaptive THEN '; labels may move it' ELSE '; labels do not move it' END),
            eai._session_role())
    RETURNING x.*;
END
$$;
COMMENT ON FUNCTION eai.set_threshold(regclass, text, text, double precision, boolean) IS
    'eai: set a metric''s anomaly threshold by hand (NULL: the call''s) and whether labels may move it; logged in eai.threshold_changes.';

-- Groups the anomalies no incident holds yet, with the recent ones that are, into incidents
-- (eai._group_incidents); announces high-severity incidents once with NOTIFY eai_incident.
CREATE FUNCTION eai._update_incidents()
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_since timestamptz;
    v_incident bigint;
    g record;
    inc eai.incidents;
BEGIN
    SELECT min(a.observed_at) INTO v_since FROM eai.anomalies a WHERE a.incident_id IS NULL;
    IF v_since IS NULL THEN
        RETURN;
    END IF;
    v_since := v_since - greatest(current_setting('eai.incident_window')::interval, current_setting('eai.incident_lineage_window')::interval);
    FOR g IN
        WITH c AS (SELECT a.* FROM eai.anomalies a WHERE a.incident_id IS NULL OR a.observed_at >= v_since),
             e AS (SELECT DISTINCT to_regclass(l.from_table)::oid AS f, to_regclass(l.to_table)::oid AS t
                     FROM eai.lineage_edges l
                    WHERE to_regclass(l.from_table) IS NOT NULL AND to_regclass(l.to_table) IS NOT NULL),
             grp AS (SELECT * FROM eai._group_incidents(
                        (SELECT array_agg(c.anomaly_id ORDER BY c.anomaly_id) FROM c),
                        (SELECT array_agg(c.relid ORDER BY c.anomaly_id) FROM c),
                        (SELECT array_agg(c.promotion_id ORDER BY c.anomaly_id) FROM c),
                        (SELECT array_agg(extract(epoch FROM c.observed_at)::float8 ORDER BY c.anomaly_id) FROM c),
                        (SELECT array_agg(c.severity ORDER BY c.anomaly_id) FROM c),
                        (SELECT array_agg(c.score ORDER BY c.anomaly_id) FROM c),
                        coalesce((SELECT array_agg(e.f ORDER BY e.f, e.t) FROM e), '{}'),
                        coalesce((SELECT array_agg(e.t ORDER BY e.f, e.t) FROM e), '{}')))
        SELECT grp.grp, array_agg(c.anomaly_id) AS members, min(c.incident_id) AS existing,
               array_agg(DISTINCT c.incident_id) FILTER (WHERE c.incident_id IS NOT NULL) AS previous,
               bool_or(c.incident_id IS NULL) AS has_new,
               (array_agg(c.anomaly_id) FILTER (WHERE grp.is_root))[1] AS root, min(grp.severity) AS severity
          FROM grp JOIN c USING (anomaly_id)
         GROUP BY grp.grp
         ORDER BY grp.grp
    LOOP
        CONTINUE WHEN NOT g.has_new;
        v_incident := g.existing;
        IF v_incident IS NULL THEN
            INSERT INTO eai.incidents (severity) VALUES (g.severity) RETURNING incident_id INTO v_incident;
        END IF;
        UPDATE eai.anomalies a SET incident_id = v_incident
         WHERE a.anomaly_id = ANY (g.members) AND a.incident_id IS DISTINCT FROM v_incident;
        -- Incidents merged into this one are gone.
        DELETE FROM eai.incidents i
         WHERE i.incident_id = ANY (coalesce(g.previous, '{}')) AND i.incident_id <> v_incident
           AND NOT EXISTS (SELECT 1 FROM eai.anomalies a WHERE a.incident_id = i.incident_id);
        UPDATE eai.incidents i
           SET severity = s.severity, root_anomaly_id = g.root, anomalies = s.n, tables = s.tables,
               first_observed_at = s.first, last_observed_at = s.last, updated_at = clock_timestamp(),
               root_cause = (SELECT format('%s: %s', r.table_name, r.explanation) FROM eai.anomalies r WHERE r.anomaly_id = g.root)
          FROM (SELECT count(*)::integer AS n, array_agg(DISTINCT a.table_name ORDER BY a.table_name) AS tables,
                       min(a.observed_at) AS first, max(a.observed_at) AS last,
                       (ARRAY['low', 'medium', 'high'])[max(array_position(ARRAY['low', 'medium', 'high'], a.severity))] AS severity
                  FROM eai.anomalies a WHERE a.incident_id = v_incident) s
         WHERE i.incident_id = v_incident
        RETURNING i.* INTO inc;
        IF inc.severity = 'high' AND inc.notified_at IS NULL THEN
            PERFORM pg_notify('eai_incident', json_build_object(
                'incident_id', inc.incident_id, 'severity', inc.severity, 'anomalies', inc.anomalies,
                'tables', inc.tables[1:20], 'root_anomaly_id', inc.root_anomaly_id, 'root_cause', left(inc.root_cause, 1000))::text);
            UPDATE eai.incidents i SET notified_at = clock_timestamp() WHERE i.incident_id = inc.incident_id;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION eai._update_incidents() IS 'eai: group new anomalies into incidents and NOTIFY eai_incident for high ones (called by eai.detect_anomalies).';

-- The judging half of eai.detect_anomalies(tbl), and the one writer of eai.anomalies and (through
-- eai._update_incidents) eai.incidents: it reads only eai's catalog, so it runs as the extension's
-- owner (no eai_* role may write those tables) for a table the session's role may read.
CREATE FUNCTION eai._judge_table(tbl regclass, threshold double precision, min_history integer,
                                 psi_threshold double precision, vector_threshold double precision)
RETURNS SETOF eai.anomalies
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM eai._require_select(tbl, 'judge it');
    -- Series: the online detector, each at the metric's own threshold when labels set one.
    INSERT INTO eai.anomalies (relid, table_name, column_name, metric, observed_at, promotion_id, observed, expected, lo, hi,
                               score, threshold, detector, severity, explanation)
    SELECT tbl, tbl::text, s.column_name, s.metric, s.times[d.ordinal], s.promotions[d.ordinal], s.vals[d.ordinal], d.expected,
           d.lo, d.hi, d.score, s.threshold, d.detector, d.severity,
           CASE WHEN d.detector = 'cusum'
                THEN format('%s%s = %s: the level drifted from the longer past (CUSUM of the residuals from it at %s times its alarm level); one value alone is expected %s (%s to %s) (cusum)',
                            coalesce(s.column_name || '.', ''), s.metric, s.vals[d.ordinal], round((d.score / s.threshold)::numeric, 2),
                            round(d.expected::numeric, 4), round(d.lo::numeric, 4), round(d.hi::numeric, 4))
                ELSE format('%s%s = %s, expected %s (%s to %s): %s standard deviations off (%s%s)',
                            coalesce(s.column_name || '.', ''), s.metric, s.vals[d.ordinal], round(d.expected::numeric, 4),
                            round(d.lo::numeric, 4), round(d.hi::numeric, 4), round(d.score::numeric, 1), d.detector,
                            coalesce(', by ' || d.seasonality, '')) END
      FROM (SELECT m.column_name, m.metric, array_agg(m.measured_at ORDER BY m.measured_at) AS times,
                   array_agg(m.value ORDER BY m.measured_at) AS vals, array_agg(m.promotion_id ORDER BY m.measured_at) AS promotions,
                   eai._threshold_in_force(tbl, m.column_name, m.metric, threshold) AS threshold
              FROM eai.metrics m
             WHERE m.relid = tbl AND m.metric NOT IN ('schema_fingerprint', 'psi', 'kl')
             GROUP BY m.column_name, m.metric) s
     CROSS JOIN LATERAL eai._detect_series(ARRAY(SELECT extract(epoch FROM t)::float8 FROM unnest(s.times) t), s.vals,
                                           s.threshold, min_history) d
     WHERE d.deviates AND d.score IS NOT NULL
    ON CONFLICT DO NOTHING;
    -- Drift between consecutive batches: PSI over the threshold and a significant G-test.
    INSERT INTO eai.anomalies (relid, table_name, column_name, metric, observed_at, promotion_id, observed, expected, lo, hi,
                               score, threshold, detector, severity, explanation)
    SELECT tbl, tbl::text, b.column_name, 'psi', pr.started_at, b.promotion_id, b.psi, 0, 0, x.t, b.psi, x.t, 'drift',
           eai._severity(b.psi / x.t),
           format('%s: the distribution moved from the batch before (PSI %s at most %s, KL %s, G-test p %s; median %s, 5%%–95%% %s to %s)',
                  b.column_name, round(b.psi::numeric, 3), round(x.t::numeric, 3), round(b.kl::numeric, 3),
                  CASE WHEN b.drift_p < 1e-6 THEN '< 1e-6' ELSE round(b.drift_p::numeric, 6)::text END,
                  round(b.quantiles[11]::numeric, 4), round(b.quantiles[2]::numeric, 4), round(b.quantiles[20]::numeric, 4))
      FROM eai.batch_profiles b JOIN eai.promotions pr USING (promotion_id)
     CROSS JOIN LATERAL (SELECT eai._threshold_in_force(tbl, b.column_name, 'psi', psi_threshold) AS t) x
     WHERE b.relid = tbl AND b.psi >= x.t AND b.drift_p < 1e-3
    ON CONFLICT DO NOTHING;
    -- Vectors: all the metrics of one quality run (or of one batch) together, by Isolation Forest,
    -- each against the ones before it. Metrics every point has; not times, lags or drift.
    WITH pts AS (
        SELECT CASE WHEN m.quality_run_id IS NULL THEN 'batch_vector' ELSE 'quality_run_vector' END AS kind,
               coalesce(m.quality_run_id, m.promotion_id) AS point, m.measured_at, m.promotion_id,
               coalesce(m.column_name || '.', '') || m.metric AS key, m.value
          FROM eai.metrics m
         WHERE m.relid = tbl
           AND m.metric NOT IN ('schema_fingerprint', 'psi', 'kl', 'promotion_ms_per_row', 'promotion_lag_s', 'freshness_lag_s')),
         npoints AS (SELECT p.kind, count(DISTINCT p.point) AS n FROM pts p GROUP BY p.kind),
         keys AS (SELECT p.kind, p.key FROM pts p JOIN npoints n USING (kind) GROUP BY p.kind, p.key, n.n HAVING count(*) = n.n),
         used AS (SELECT p.* FROM pts p JOIN keys k USING (kind, key)),
         points AS (SELECT u.kind, u.point, min(u.measured_at) AS at, min(u.promotion_id) AS promotion_id FROM used u GROUP BY u.kind, u.point),
         s AS (SELECT u.kind,
                      (SELECT array_agg(p.at ORDER BY p.at, p.point) FROM points p WHERE p.kind = u.kind) AS times,
                      (SELECT array_agg(p.promotion_id ORDER BY p.at, p.point) FROM points p WHERE p.kind = u.kind) AS promotions,
                      (SELECT array_agg(k.key ORDER BY k.key) FROM keys k WHERE k.kind = u.kind) AS keys,
                      array_agg(u.value ORDER BY p.at, u.point, u.key) AS vals,
                      eai._threshold_in_force(tbl, NULL, u.kind, vector_threshold) AS t
                 FROM used u JOIN points p USING (kind, point)
                GROUP BY u.kind)
    INSERT INTO eai.anomalies (relid, table_name, column_name, metric, observed_at, promotion_id, score, threshold,
                               detector, severity, explanation)
    SELECT tbl, tbl::text, NULL, s.kind, s.times[d.ordinal], s.promotions[d.ordinal], d.score, s.t, 'isolation_forest',
           eai._severity((d.score - 0.5) / (s.t - 0.5)),
           format('isolation score %s over %s metrics of this %s, unusual together; furthest from their past: %s',
                  round(d.score::numeric, 3), cardinality(s.keys), replace(replace(s.kind, '_vector', ''), '_', ' '),
                  coalesce((SELECT string_agg(format('%s (robust z %s)', s.keys[x.j + 1],
                                                     CASE WHEN x.z >= 1000 THEN 'above 1000' WHEN x.z <= -1000 THEN 'below -1000'
                                                          ELSE round(x.z::numeric, 1)::text END), ', ')
                              FROM unnest(d.standouts, d.standout_z) AS x (j, z)), 'no metric alone'))
      FROM s CROSS JOIN LATERAL eai._detect_vectors(s.vals, cardinality(s.keys), s.t, min_history) d
     WHERE cardinality(s.keys) > 0
    ON CONFLICT DO NOTHING;
    -- Schema: any change of the columns from one quality run to the next, with what changed.
    INSERT INTO eai.anomalies (relid, table_name, column_name, metric, observed_at, observed, detector, severity, explanation)
    SELECT tbl, tbl::text, NULL, 'schema_fingerprint', r.run_at, r.value, 'schema', 'high',
           format('the columns changed since the run before: %s',
                  coalesce(nullif(concat_ws('; ',
                      'added or retyped ' || (SELECT string_agg(format('%s %s', c ->> 'name', c ->> 'pg_type'), ', ')
                                                FROM jsonb_array_elements(r.measure -> 'columns') c
                                               WHERE NOT (r.prev -> 'columns') @> jsonb_build_array(jsonb_build_object('name', c -> 'name', 'pg_type', c -> 'pg_type'))),
                      'removed or retyped ' || (SELECT string_agg(format('%s %s', c ->> 'name', c ->> 'pg_type'), ', ')
                                                  FROM jsonb_array_elements(r.prev -> 'columns') c
                                                 WHERE NOT (r.measure -> 'columns') @> jsonb_build_array(jsonb_build_object('name', c -> 'name', 'pg_type', c -> 'pg_type')))),
                      ''), 'the same columns in another order'))
      FROM (SELECT q.run_at, q.measure, lag(q.measure) OVER w AS prev, m.value, lag(m.value) OVER w AS prev_value
              FROM eai.quality_runs q
              JOIN eai.metrics m ON m.quality_run_id = q.run_id AND m.metric = 'schema_fingerprint'
             WHERE q.relid = tbl
            WINDOW w AS (ORDER BY q.run_id)) r
     WHERE r.prev_value IS NOT NULL AND r.value <> r.prev_value
    ON CONFLICT DO NOTHING;
    PERFORM eai._update_incidents();
    -- Honest about too little history: no series is judged before min_history points.
    IF NOT EXISTS (SELECT 1 FROM eai.metrics m WHERE m.relid = tbl GROUP BY m.column_name, m.metric HAVING count(*) >= min_history) THEN
        RAISE NOTICE 'eai: not enough history for %: no metric of it has % measurements yet, so no series was judged', tbl, min_history
            USING HINT = 'Metrics come from promotions and eai.quality_score runs; schedule eai.detect_anomalies and eai.quality_score (e.g. with pg_cron).';
    END IF;
    RETURN QUERY SELECT * FROM eai.anomalies a WHERE a.relid = tbl ORDER BY a.observed_at, a.anomaly_id;
END
$$;
COMMENT ON FUNCTION eai._judge_table(regclass, double precision, integer, double precision, double precision) IS
    'eai: judge the metric history of a table and record its anomalies and incidents (eai.detect_anomalies(tbl) calls it after measuring the batches left).';

-- Judges every metric series of a table with the online detector (each point only against the
-- points before it), batch drift against its threshold, and schema changes run to run; records
-- what deviates, groups it into incidents, and returns the table's anomalies, new or not.
CREATE FUNCTION eai.detect_anomalies(tbl regclass, threshold double precision DEFAULT 6, min_history integer DEFAULT 8,
                                     psi_threshold double precision DEFAULT 0.25, vector_threshold double precision DEFAULT 0.7)
RETURNS SETOF eai.anomalies
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_chunk integer;
    v_measured integer := 0;
BEGIN
    PERFORM eai._require_select(tbl, 'judge it');
    IF threshold IS NULL OR threshold <= 0 OR psi_threshold IS NULL OR psi_threshold <= 0
       OR vector_threshold IS NULL OR vector_threshold <= 0.5 OR vector_threshold > 1 THEN
        RAISE EXCEPTION 'eai: threshold and psi_threshold must be positive, vector_threshold above 0.5 and at most 1' USING ERRCODE = '22023',
            HINT = 'threshold is in standard deviations of the recent residuals (default 6); psi_threshold is a population stability index (default 0.25); vector_threshold an isolation score (default 0.7; 0.5 is ordinary).';
    END IF;
    -- Every batch not measured yet, in chunks of 100, so that nothing is judged on part of the
    -- history (the worker usually leaves little; without it, every promoted batch is left).
    LOOP
        v_chunk := eai.measure_batches(tbl, 100);
        v_measured := v_measured + v_chunk;
        EXIT WHEN v_chunk < 100;
    END LOOP;
    IF v_measured > 100 THEN
        RAISE NOTICE 'eai: measured % batches of % before judging it', v_measured, tbl
            USING HINT = 'The promotion worker measures batches as they are promoted when eai is in shared_preload_libraries; eai.measure_batches(tbl) measures them by hand.';
    END IF;
    RETURN QUERY SELECT * FROM eai._judge_table(tbl, threshold, min_history, psi_threshold, vector_threshold);
END
$$;
COMMENT ON FUNCTION eai.detect_anomalies(regclass, double precision, integer, double precision, double precision) IS
    'eai: judge every metric series of a table (eai.metrics), its metric vectors (Isolation Forest), batch drift and schema changes; record the anomalies (eai.anomalies) and group them into incidents (eai.incidents). See docs/anomalies.md.';

-- sql/remediations.sql
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

-- sql/healing.sql
-- eai 0.3.0: self-healing on demand (docs/healing.md). The worker runs the same work on its own
-- schedule (src/jobs.rs: the heal and promote jobs); pg_cron users schedule eai.heal().

CREATE FUNCTION eai.heal(max_actions integer DEFAULT 100)
RETURNS TABLE (schema_changes integer, ingests_retried integer, batches_promoted integer, dead_letters bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    retried integer := 0;
    promoted integer;
    changes integer;
    v_taken bigint;
BEGIN
    IF max_actions IS NULL OR max_actions < 0 THEN
        RAISE EXCEPTION 'eai: max_actions must be 0 or more, not %', coalesce(max_actions::text, 'NULL') USING ERRCODE = '22023',
            HINT = 'SELECT * FROM eai.heal();  -- at most 100 actions';
    END IF;
    -- Failures whose transaction could not commit, from their spool (src/failure_spool.rs).
    PERFORM eai._drain_failure_spool();
    -- Schema changes at the sources, under each pipeline's contract (and the canaries of earlier
    -- heals): first, so that a widened type is followed before its ingest is retried.
    SELECT coalesce(sum(eai._heal_drift(p.pipeline_id)), 0) INTO changes FROM eai.pipelines p WHERE p.enabled;
    -- Failed ingests whose retry is due, each as the role whose ingest failed.
    -- A retry that was cancelled (-1: a statement timeout, a cancel request) ends the pass there.
    WHILE retried < max_actions LOOP
        v_taken := eai._retry_due_ingest();
        EXIT WHEN v_taken = 0;
        retried := retried + 1;
        IF v_taken < 0 THEN
            RETURN QUERY SELECT changes, retried, 0, (SELECT count(*) FROM eai.promotion_queue q WHERE q.state = 'dead_letter');
            RETURN;
        END IF;
    END LOOP;
    -- Queued batches that are due (the others keep their next_attempt_at).
    SELECT count(*) INTO promoted FROM eai.promote_queued(NULL, max_actions - retried);
    RETURN QUERY SELECT changes, retried, promoted, (SELECT count(*) FROM eai.promotion_queue q WHERE q.state = 'dead_letter');
END
$$;
COMMENT ON FUNCTION eai.heal(integer) IS 'eai: one healing pass: schema changes at the sources acted on under each pipeline''s contract (eai.remediations), then the failed ingests and queued promotions that are due (eai.failures, eai.promotion_queue), at most max_actions; returns what it did and how many batches wait as dead letters. Schedule it with pg_cron, or let the worker run it.';

-- How well healing works (item 11): per stage, class and action, over a window. A failure is
-- recovered once the same work succeeded later (the table ingested, the batch promoted, the gold
-- table refreshed, the endpoint answered); it needed a person when an escalation for its work
-- was raised before that (or is still open).
CREATE FUNCTION eai.healing_stats(since interval)
RETURNS TABLE (stage text, class text, action text, failures bigint, healed_automatically bigint, needed_a_person bigint,
               not_yet_recovered bigint, success_rate double precision, share_needing_a_person double precision,
               median_recovery interval, worst_recovery interval)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    WITH f AS (
        SELECT f.*,
               CASE f.stage
                   WHEN 'ingest' THEN (SELECT min(b2.finished_at) FROM eai.batches b
                                         JOIN eai.batches b2 ON b2.source = b.source AND b2.table_name = b.table_name
                                                            AND b2.batch_id > b.batch_id AND b2.status = 'succeeded'
                                        WHERE b.batch_id = f.batch_id)
                   WHEN 'promotion' THEN (SELECT p.started_at + coalesce(p.duration_ms, 0) * interval '1 millisecond'
                                            FROM eai.promotions p WHERE p.pipeline_id = f.pipeline_id AND p.bronze_batch = f.batch_id)
                   WHEN 'gold_refresh' THEN (SELECT g.refreshed_at FROM eai.gold_tables g WHERE g.relid = f.relid AND g.refreshed_at > f.occurred_at)
                   WHEN 'llm' THEN (SELECT min(c.called_at) FROM eai.llm_calls c
                                     WHERE c.endpoint = split_part(f.target, ' ', 1) AND c.outcome = 'ok' AND c.called_at > f.occurred_at)
               END AS recovered_at
          FROM eai.failures f WHERE f.occurred_at >= clock_timestamp() - since
    ), o AS (
        SELECT f.*,
               f.action = 'dead_letter' OR EXISTS (
                   SELECT 1 FROM eai.escalations e
                    WHERE e.target = f.target AND (e.batch_id IS NULL OR e.batch_id = f.batch_id)
                      AND e.raised_at <= coalesce(f.recovered_at, 'infinity')
                      AND coalesce(e.closed_at, 'infinity') >= f.occurred_at) AS person
          FROM f
    )
    SELECT o.stage, o.class, o.action, count(*),
           count(*) FILTER (WHERE o.recovered_at IS NOT NULL AND NOT o.person),
           count(*) FILTER (WHERE o.person),
           count(*) FILTER (WHERE o.recovered_at IS NULL),
           round((count(*) FILTER (WHERE o.recovered_at IS NOT NULL AND NOT o.person))::numeric / count(*), 3)::float8,
           round((count(*) FILTER (WHERE o.person))::numeric / count(*), 3)::float8,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY o.recovered_at - o.occurred_at) FILTER (WHERE o.recovered_at IS NOT NULL),
           max(o.recovered_at - o.occurred_at)
      FROM o GROUP BY o.stage, o.class, o.action ORDER BY o.stage, o.class, o.action
$$;
COMMENT ON FUNCTION eai.healing_stats(interval) IS 'eai: how well healing works over the window: per stage, class and action, the failures, how many eai healed alone, how many needed a person, the success rate and the time to recover.';

CREATE VIEW eai.healing_stats WITH (security_invoker = true) AS SELECT * FROM eai.healing_stats(interval '7 days');
COMMENT ON VIEW eai.healing_stats IS 'eai: eai.healing_stats(interval ''7 days''): per stage, class and action over the last week, the failures, healed alone, needing a person, success rate, time to recover.';
COMMENT ON COLUMN eai.healing_stats.stage IS 'ingest, promotion, gold_refresh or llm.';
COMMENT ON COLUMN eai.healing_stats.class IS 'Class of the failures.';
COMMENT ON COLUMN eai.healing_stats.action IS 'What eai did: retry, dead_letter or none.';
COMMENT ON COLUMN eai.healing_stats.failures IS 'Failures in the window.';
COMMENT ON COLUMN eai.healing_stats.healed_automatically IS 'Failures whose work succeeded later with no escalation on the way.';
COMMENT ON COLUMN eai.healing_stats.needed_a_person IS 'Failures whose work was parked or escalated before it succeeded (or still is).';
COMMENT ON COLUMN eai.healing_stats.not_yet_recovered IS 'Failures whose work has not succeeded since.';
COMMENT ON COLUMN eai.healing_stats.success_rate IS 'healed_automatically / failures.';
COMMENT ON COLUMN eai.healing_stats.share_needing_a_person IS 'needed_a_person / failures.';
COMMENT ON COLUMN eai.healing_stats.median_recovery IS 'Median time from the failure to the work''s success.';
COMMENT ON COLUMN eai.healing_stats.worst_recovery IS 'Longest time from the failure to the work''s success.';

-- Approving and reverting remediations: engineers and superusers (the check is in src/drift/mod.rs);
-- the change is made with the extension owner's rights and recorded in the caller's name.
CREATE FUNCTION eai.approve_remediation(id bigint) RETURNS eai.remediations
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE r eai.remediations;
BEGIN
    IF id IS NULL THEN
        RAISE EXCEPTION 'eai: remediation NULL does not exist' USING ERRCODE = '42704',
            HINT = 'SELECT remediation_id, status, action, reason FROM eai.remediations ORDER BY remediation_id DESC; shows them.';
    END IF;
    PERFORM eai._approve_remediation(id);
    SELECT * INTO r FROM eai.remediations x WHERE x.remediation_id = id;
    RETURN r;
END
$$;
COMMENT ON FUNCTION eai.approve_remediation(bigint) IS 'eai: apply a proposed remediation (a rename to follow, a new column to map or add, a type to widen) in your name; the canary judges the next batch.';

CREATE FUNCTION eai.revert_remediation(id bigint) RETURNS eai.remediations
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE r eai.remediations;
BEGIN
    IF id IS NULL THEN
        RAISE EXCEPTION 'eai: remediation NULL does not exist' USING ERRCODE = '42704',
            HINT = 'SELECT remediation_id, status, action, reason FROM eai.remediations ORDER BY remediation_id DESC; shows them.';
    END IF;
    PERFORM eai._revert_remediation(id);
    SELECT * INTO r FROM eai.remediations x WHERE x.remediation_id = id;
    RETURN r;
END
$$;
COMMENT ON FUNCTION eai.revert_remediation(bigint) IS 'eai: restore the state before an applied remediation (the column''s source and mapping version, the rows it filled, the column type); recorded in your name.';

-- sql/catalog_access.sql
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

-- sql/roles.sql
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

-- sql/upgrade_0.3.0_changes.sql
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

