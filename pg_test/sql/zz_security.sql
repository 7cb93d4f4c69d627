\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
\set VERBOSITY default
begin;
-- Hostile roles, rules and gold queries (issue 13, items 1, 2, 5, 10-12). Every refusal shows its
-- SQLSTATE, message and hint; the canaries count what must never run.
CREATE TABLE public.canary (x int);
INSERT INTO public.canary VALUES (1);
CREATE TABLE public.hits (n int);
CREATE FUNCTION public.canary_hit() RETURNS boolean LANGUAGE sql AS $$ INSERT INTO public.hits VALUES (1) RETURNING true $$;
CREATE ROLE regress_eng LOGIN IN ROLE eai_engineer;
CREATE FUNCTION public.escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN ALTER ROLE regress_eng SUPERUSER; RETURN NULL; END $$;
ALTER FUNCTION public.escalate() OWNER TO regress_eng;
CREATE FUNCTION public.eng_check(int) RETURNS boolean LANGUAGE sql AS $$ SELECT $1 > 0 $$;
ALTER FUNCTION public.eng_check(int) OWNER TO regress_eng;
-- 1. silver and gold are closed to CREATE for engineers.
SET ROLE regress_eng;
CREATE TABLE silver.trap (id text);
CREATE TABLE gold.trap (id text);
RESET ROLE;
-- A bronze table (as eai.ingest makes them) and an engineer's silver table with a trigger that
-- would make its owner superuser: create_pipeline refuses it and says why.
CREATE TABLE bronze.regress__t (id text, v text, _eai_batch bigint, _eai_row_hash uuid, _eai_loaded_at timestamptz DEFAULT now());
CREATE TABLE silver.trap (id int, v text);
ALTER TABLE silver.trap OWNER TO regress_eng;
SET ROLE regress_eng;
CREATE TRIGGER up AFTER INSERT ON silver.trap FOR EACH STATEMENT EXECUTE FUNCTION public.escalate();
RESET ROLE;
SELECT count(*) FROM eai.map_schema('bronze.regress__t', 'silver.trap');
SELECT name FROM eai.create_pipeline('trap', 'bronze.regress__t', 'silver.trap');
-- Owned by the superuser, but with the engineer's trigger function: refused as well.
ALTER TABLE silver.trap OWNER TO postgres;
SELECT name FROM eai.create_pipeline('trap', 'bronze.regress__t', 'silver.trap');
DROP TRIGGER up ON silver.trap;
SELECT name FROM eai.create_pipeline('trap', 'bronze.regress__t', 'silver.trap');
-- Code added after the pipeline was created: the batch lands in bronze and waits in the queue.
CREATE TRIGGER up AFTER INSERT ON silver.trap FOR EACH STATEMENT EXECUTE FUNCTION public.escalate();
INSERT INTO bronze.regress__t (id, v, _eai_batch, _eai_row_hash) VALUES ('1', 'a', 1, gen_random_uuid());
SELECT count(*) AS bronze FROM bronze.regress__t;
SELECT count(*) AS silver FROM silver.trap;
SELECT bronze_batch FROM eai.promotion_queue;
SELECT count(*) FROM eai.promote_queued();
SELECT bronze_batch, attempts, last_sqlstate FROM eai.promotion_queue;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_eng';
DROP TRIGGER up ON silver.trap;
-- 2. A rule must be exactly one expression; a gold query exactly one SELECT.
SELECT eai.expect('silver.trap', NULL, 'sql true)::boolean FROM pg_class; SELECT public.canary_hit(); SELECT (true');
SELECT eai.expect('silver.trap', NULL, 'sql id > 0) OR (true');
SELECT eai.expect('silver.trap', NULL, 'sql id > 0;');
SELECT eai.expect('silver.trap', NULL, 'sql true FROM pg_class');
SELECT eai.expect('silver.trap', NULL, 'sql sum(id) > 0');
SELECT eai.expect('silver.trap', NULL, 'sql public.eng_check(id)');
SELECT spec ->> 'expr' AS expr FROM eai.expect('silver.trap', NULL, 'sql id > 0 -- a comment ends at the line');
SELECT eai.create_gold('g1', 'SELECT id FROM silver.trap; DROP TABLE public.canary; --');
SELECT eai.create_gold('g1', 'WITH d AS (DELETE FROM silver.trap RETURNING id) SELECT id FROM d');
SELECT eai.create_gold('g1', 'SELECT id INTO public.stolen FROM silver.trap');
SELECT eai.create_gold('g1', 'SELECT id, public.eng_check(id) FROM silver.trap');
SELECT name, query FROM eai.create_gold('g1', 'SELECT id FROM silver.trap;  -- the trailing ; is not part of the query');
-- 10. A UNION ALL gold reads both inputs, and a promotion into either refreshes it.
CREATE TABLE silver.other (id int);
SELECT inputs::regclass[] FROM eai.create_gold('g2', 'SELECT id FROM silver.trap UNION ALL SELECT id FROM silver.other');
-- 11. Rules that cannot work are refused when declared, not at every later promotion.
SELECT eai.expect('silver.trap', 'id', 'range 0..abc');
SELECT eai.expect('silver.trap', 'id', 'range a..z');
SELECT eai.expect('silver.trap', 'v', 'regex [a-');
-- 5. detect_anomalies(query) reads; a function with side effects in the query cannot write.
SELECT count(*) FROM eai.detect_anomalies('SELECT now() - x * interval ''1 hour'', x::float8 FROM generate_series(1, 50) x WHERE public.canary_hit()');
SELECT count(*) FROM eai.detect_anomalies('SELECT x::float8 FROM generate_series(1, 50) x; DELETE FROM public.canary');
SELECT eai.drop_gold('g2');
SELECT eai.drop_gold('g1');
-- 12. A pipeline dropped with its silver table can be created again under the same names.
SELECT eai.drop_pipeline('trap', drop_silver => true);
SELECT name FROM eai.create_pipeline('trap', 'bronze.regress__t', 'silver.trap');
SELECT eai.drop_pipeline('trap', drop_silver => true);
SELECT name FROM eai.create_pipeline('trap', 'bronze.regress__t', 'silver.trap');
SELECT version FROM eai.mapping_runs WHERE target_table = 'silver.trap' ORDER BY version;
-- Nothing ran that must not have.
SELECT count(*) AS hits FROM public.hits;
SELECT count(*) AS canary FROM public.canary;
SELECT to_regclass('public.stolen') AS stolen;
-- Internal helpers are not for PUBLIC.
SELECT p.oid::regprocedure FROM pg_proc p WHERE p.pronamespace = 'eai'::regnamespace
   AND p.proname IN ('_insert_streamed', '_promote', '_set_aside', '_take_aside', '_refresh_gold')
   AND has_function_privilege('public', p.oid, 'EXECUTE');
rollback;
