-- eai catalog: schemas and tables. Loaded first (bootstrap) by src/lib.rs.
-- The extension's own schema "eai" is created by CREATE EXTENSION (control file: schema = eai).

CREATE SCHEMA bronze;
COMMENT ON SCHEMA bronze IS 'eai: raw, complete copies of source tables, one table per source table (<source>__<table>), with _eai_batch, _eai_loaded_at, _eai_row_hash.';
CREATE SCHEMA silver;
COMMENT ON SCHEMA silver IS 'eai: mapped, cast and validated tables promoted from bronze.';
CREATE SCHEMA gold;
COMMENT ON SCHEMA gold IS 'eai: curated tables for BI tools, built from silver.';
COMMENT ON SCHEMA eai IS 'eai: catalog tables, views and functions of the eai extension.';

CREATE TABLE eai.sources (
    source          text PRIMARY KEY CHECK (btrim(source) <> ''),
    kind            text NOT NULL CHECK (kind IN ('csv_file', 'csv_folder', 'postgres', 'foreign_server')),
    location        text,
    server          name NOT NULL,
    owns_server     boolean NOT NULL,
    staging_schema  name NOT NULL UNIQUE,
    options         jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE eai.sources IS 'eai: data sources, each a foreign server whose tables are imported into a staging schema and ingested into bronze. Managed by eai.add_source / eai.drop_source.';
COMMENT ON COLUMN eai.sources.source IS 'Name of the source, as given to eai.add_source; any text.';
COMMENT ON COLUMN eai.sources.kind IS 'csv_file (one CSV file), csv_folder (every CSV file of a folder), postgres (another database through postgres_fdw) or foreign_server (an existing foreign server of any wrapper).';
COMMENT ON COLUMN eai.sources.location IS 'File or folder path, or the connection string with its password replaced by ********.';
COMMENT ON COLUMN eai.sources.server IS 'Foreign server the source reads through.';
COMMENT ON COLUMN eai.sources.owns_server IS 'True when eai created the server (and drops it with the source).';
COMMENT ON COLUMN eai.sources.staging_schema IS 'Schema holding the source''s foreign tables (eai_src_<source>).';
COMMENT ON COLUMN eai.sources.options IS 'Options given to eai.add_source (remote schema, table list, CSV overrides).';
COMMENT ON COLUMN eai.sources.created_at IS 'When the source was added.';
COMMENT ON COLUMN eai.sources.created_by IS 'Role that added the source.';

CREATE TABLE eai.source_tables (
    source          text NOT NULL REFERENCES eai.sources (source) ON DELETE CASCADE ON UPDATE CASCADE,
    table_name      text NOT NULL,
    foreign_table   name NOT NULL,
    bronze_table    name NOT NULL,
    file_path       text,
    dialect         jsonb,
    discovered_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, table_name),
    UNIQUE (bronze_table)
);
COMMENT ON TABLE eai.source_tables IS 'eai: the tables of each source: the foreign table that reads it and the bronze table it lands in.';
COMMENT ON COLUMN eai.source_tables.source IS 'Source the table belongs to.';
COMMENT ON COLUMN eai.source_tables.table_name IS 'Name of the table in the source: the remote table name, or the CSV file name without its extension.';
COMMENT ON COLUMN eai.source_tables.foreign_table IS 'Foreign table in the source''s staging schema.';
COMMENT ON COLUMN eai.source_tables.bronze_table IS 'Table in schema bronze that receives the rows (<source>__<table>, fitted to 63 bytes).';
COMMENT ON COLUMN eai.source_tables.file_path IS 'CSV file read, for file sources.';
COMMENT ON COLUMN eai.source_tables.dialect IS 'Detected CSV dialect (delimiter, quote, header, columns, encoding), for file sources; {"empty": true} for an empty file.';
COMMENT ON COLUMN eai.source_tables.discovered_at IS 'When the table''s definition was last read from the source.';

CREATE TABLE eai.batches (
    batch_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source          text NOT NULL,
    table_name      text NOT NULL,
    bronze_table    name NOT NULL,
    status          text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    rows_read       bigint NOT NULL DEFAULT 0,
    rows_written    bigint NOT NULL DEFAULT 0,
    rows_skipped    bigint GENERATED ALWAYS AS (rows_read - rows_written) STORED,
    started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at     timestamptz,
    duration_ms     double precision GENERATED ALWAYS AS (extract(epoch FROM finished_at - started_at) * 1000) STORED,
    error_sqlstate  text,
    error_class     text,
    error_message   text,
    error_detail    text,
    error_hint      text,
    error_context   text,
    run_by          name NOT NULL DEFAULT current_user
);
CREATE INDEX ON eai.batches (source, table_name, batch_id DESC);
COMMENT ON TABLE eai.batches IS 'eai: one row per ingest of one source table into bronze: counts, timings, status and, for a failed batch, the error with its SQLSTATE. A failed batch writes nothing to bronze.';
COMMENT ON COLUMN eai.batches.batch_id IS 'Batch number; bronze rows carry it in _eai_batch.';
COMMENT ON COLUMN eai.batches.source IS 'Source ingested (kept when the source is dropped).';
COMMENT ON COLUMN eai.batches.table_name IS 'Source table ingested.';
COMMENT ON COLUMN eai.batches.bronze_table IS 'Bronze table written.';
COMMENT ON COLUMN eai.batches.status IS 'running, succeeded, failed, or skipped (its source was paused by its circuit breaker: nothing was read).';
COMMENT ON COLUMN eai.batches.rows_read IS 'Rows read from the source.';
COMMENT ON COLUMN eai.batches.rows_written IS 'Rows inserted into bronze (new rows only).';
COMMENT ON COLUMN eai.batches.rows_skipped IS 'Rows read that were already in bronze (same content), so not written again.';
COMMENT ON COLUMN eai.batches.started_at IS 'When the batch started.';
COMMENT ON COLUMN eai.batches.finished_at IS 'When the batch ended.';
COMMENT ON COLUMN eai.batches.duration_ms IS 'Duration in milliseconds.';
COMMENT ON COLUMN eai.batches.error_sqlstate IS 'SQLSTATE of the error of a failed batch.';
COMMENT ON COLUMN eai.batches.error_class IS 'transient, resource, schema_drift, bad_data, configuration or internal (eai-core error_taxonomy).';
COMMENT ON COLUMN eai.batches.error_message IS 'Error message (secrets removed).';
COMMENT ON COLUMN eai.batches.error_detail IS 'Error detail, if any.';
COMMENT ON COLUMN eai.batches.error_hint IS 'What to do about the error.';
COMMENT ON COLUMN eai.batches.error_context IS 'Where the error happened (for a CSV file: the line).';
COMMENT ON COLUMN eai.batches.run_by IS 'Role that ran the ingest.';
