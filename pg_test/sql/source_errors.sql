\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT current_setting('data_directory') AS datadir \gset
\set file0 :datadir '/regress_ok.csv'
\set file1 :datadir '/regress_bad.csv'
\set file2 :datadir '/regress_empty.csv'
begin;
-- Bad calls: a clear error with a hint.
SELECT eai.add_source(NULL, 'x.csv');
SELECT eai.add_source('nothing');
SELECT eai.add_source('missing', '/no/such/file.csv');
SELECT eai.add_source('nosrv', server => 'no_such_server');
SELECT eai.ingest('no_such_source');
COPY (VALUES ('a,b'), ('1,2')) TO :'file0';
SELECT count(*) FROM eai.add_source('ok', :'file0');
SELECT eai.add_source('ok', :'file0');
SELECT eai.ingest('ok', 'no_such_table');
-- A malformed row: the batch fails with its SQLSTATE and line, nothing is written.
-- (Its WARNING names the batch number and path, which vary: hidden here, shown in the docs.)
SET client_min_messages = error;
COPY (VALUES ('id,name'), ('1,Ann'), ('2,Bob,extra'), ('3,Cy')) TO :'file1';
SELECT count(*) FROM eai.add_source('bad', :'file1');
SELECT status, rows_read, rows_written, error_sqlstate, error_class, error_message, split_part(error_context, E'\n', 1) AS error_context
  FROM eai.ingest('bad');
SELECT to_regclass('bronze.bad__regress_bad') AS bronze_table_after_failed_first_batch;
-- An empty file: registered, and its batch fails with eai's own SQLSTATE EAI01 until it has data.
COPY (SELECT 1 WHERE false) TO :'file2';
SELECT table_name, dialect FROM eai.add_source('empty', :'file2');
SELECT status, rows_read, error_sqlstate, error_class, replace(error_message, :'datadir', '<datadir>') AS error_message, error_hint FROM eai.ingest('empty');
COPY (VALUES ('x'), ('42')) TO :'file2';
SELECT status, rows_read, rows_written FROM eai.ingest('empty');
RESET client_min_messages;
-- A postgres source that is down: a clear error at add_source, and no password in it.
SELECT eai.add_source('down', 'postgresql://bob:hunter2@127.0.0.1:1/nowhere');
SELECT count(*) AS leftovers FROM pg_foreign_server WHERE srvname = 'eai_down';
-- Bad connection strings.
SELECT eai.add_source('badconn', 'host=''x');
SELECT eai.add_source('badopt', 'host=x evil=1');
rollback;
