-- One sorted line per property of every object that belongs to extension eai: definitions,
-- columns, constraints, indexes, comments and privileges. Two databases with the same output have
-- the same eai schema. Used by scripts/check_upgrades.sh (pg_dump skips extension members).
WITH members AS (
    SELECT d.classid, d.objid
      FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
     WHERE e.extname = 'eai' AND d.deptype = 'e'
)
SELECT line FROM (
    -- functions
    SELECT format('function %s: %s acl=%s config=%s comment=%s', p.oid::regprocedure,
                  md5(pg_get_functiondef(p.oid)), p.proacl, p.proconfig, obj_description(p.oid, 'pg_proc')) AS line
      FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    UNION ALL
    -- tables, views, sequences, indexes
    SELECT format('relation %s kind=%s acl=%s rls=%s options=%s comment=%s view=%s', c.oid::regclass, c.relkind, c.relacl,
                  c.relrowsecurity, c.reloptions, obj_description(c.oid, 'pg_class'),
                  CASE WHEN c.relkind = 'v' THEN md5(pg_get_viewdef(c.oid)) END)
      FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    UNION ALL
    SELECT format('column %s.%s %s notnull=%s default=%s generated=%s acl=%s comment=%s', c.oid::regclass, a.attname,
                  format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid),
                  a.attgenerated, a.attacl, col_description(c.oid, a.attnum))
      FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
    UNION ALL
    SELECT format('constraint %s on %s: %s', co.conname, co.conrelid::regclass, pg_get_constraintdef(co.oid))
      FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
      JOIN pg_constraint co ON co.conrelid = c.oid
    UNION ALL
    SELECT format('index on %s: %s', i.indrelid::regclass, regexp_replace(pg_get_indexdef(i.indexrelid), 'INDEX \S+ ON', 'INDEX ON'))
      FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
      JOIN pg_index i ON i.indrelid = c.oid
    UNION ALL
    SELECT format('policy %s on %s: %s %s to %s', pol.polname, pol.polrelid::regclass, pol.polcmd,
                  pg_get_expr(pol.polqual, pol.polrelid), pol.polroles)
      FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
      JOIN pg_policy pol ON pol.polrelid = c.oid
    UNION ALL
    SELECT format('schema %s comment=%s acl=%s', n.nspname, obj_description(n.oid, 'pg_namespace'), n.nspacl)
      FROM members m JOIN pg_namespace n ON m.classid = 'pg_namespace'::regclass AND n.oid = m.objid
    UNION ALL
    SELECT format('other %s', pg_describe_object(m.classid, m.objid, 0))
      FROM members m WHERE m.classid NOT IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_namespace'::regclass)
) s ORDER BY line;
