\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
begin;
-- The three group roles, each including the one before.
SELECT r.rolname, r.rolcanlogin, array(SELECT m.rolname FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.roleid
                                        WHERE a.member = r.oid ORDER BY 1) AS member_of
  FROM pg_roles r WHERE r.rolname LIKE 'eai\_%' ORDER BY 1;
-- An engineer profiles and maps tables it can read; a reviewer decides; a reader only reads.
CREATE ROLE "al""ice; --" LOGIN IN ROLE eai_reviewer;
CREATE ROLE eve LOGIN IN ROLE eai_engineer;
CREATE ROLE bob LOGIN IN ROLE eai_reader;
CREATE ROLE mallory LOGIN;
CREATE TABLE public.people (cust_email text, full_name text);
INSERT INTO public.people VALUES ('a@x.io', 'Ann Lee'), ('b@y.org', 'Bob Ray');
CREATE TABLE public.customers (email text, name text, loyalty_tier text);
GRANT SELECT ON public.people, public.customers TO eve;
SET SESSION AUTHORIZATION eve;
SELECT source_column, target_column, status FROM eai.map_schema('people', 'customers') ORDER BY 1;
SELECT dimension, score FROM eai.quality_score('people') WHERE dimension = 'completeness';
-- Expectations are code promotions run as the ingesting role: not for engineers.
SELECT eai.expect('people', 'cust_email', 'sql pg_sleep(1) IS NULL');
INSERT INTO eai.expectations (relid, table_name, column_name, rule, spec) VALUES ('people'::regclass, 'people', NULL, 'sql', '{"rule": "sql", "expr": "true"}');
SET SESSION AUTHORIZATION mallory;
SELECT count(*) FROM eai.pending_mappings;
SELECT eai.approve_mapping(1);
SET SESSION AUTHORIZATION bob;
SELECT count(*) > 0 AS sees_the_queue FROM eai.pending_mappings;
SELECT eai.approve_mapping((SELECT min(id) FROM eai.pending_mappings));
SET SESSION AUTHORIZATION "al""ice; --";
-- The reviewer decides through the functions; the record names the reviewer, not the owner.
SELECT status, decided_by FROM eai.approve_mapping((SELECT min(id) FROM eai.pending_mappings));
-- … and cannot write the catalog directly, nor record a decision in someone else's name.
UPDATE eai.mappings SET status = 'approved';
SELECT eai._record_decision((SELECT min(id) FROM eai.pending_mappings), 'approved', 'email', NULL, 'postgres');
-- Nor profile: that is for engineers, on what they can read.
SELECT count(*) FROM eai.profile('people');
RESET SESSION AUTHORIZATION;
SELECT decided_by FROM eai.mappings WHERE decided_by IS NOT NULL AND decided_by <> 'eai:auto';
rollback;
