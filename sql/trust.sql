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
