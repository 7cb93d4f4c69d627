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
