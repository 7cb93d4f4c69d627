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
