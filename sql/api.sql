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
