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
