begin;
-- Schemas, catalog tables and their comments.
SELECT nspname, obj_description(oid, 'pg_namespace') IS NOT NULL AS commented
  FROM pg_namespace WHERE nspname IN ('eai', 'bronze', 'silver', 'gold') ORDER BY 1;
SELECT c.relname, obj_description(c.oid, 'pg_class') IS NOT NULL AS commented,
       count(*) FILTER (WHERE col_description(c.oid, a.attnum) IS NULL) AS uncommented_columns
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE n.nspname = 'eai' AND c.relkind IN ('r', 'v')
 GROUP BY c.oid, c.relname ORDER BY 1;
-- Public functions and who may run them.
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args,
       has_function_privilege('public', p.oid, 'execute') AS public_may_execute
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'eai' AND p.proname NOT LIKE '\_%' ORDER BY 1, 2;
-- GUCs with their defaults.
SELECT name, setting, context FROM pg_settings WHERE name LIKE 'eai.%' AND name NOT IN ('eai.model_dir', 'eai.onnxruntime_library') ORDER BY 1;
SELECT name, context FROM pg_settings WHERE name IN ('eai.model_dir', 'eai.onnxruntime_library') ORDER BY 1;
rollback;
