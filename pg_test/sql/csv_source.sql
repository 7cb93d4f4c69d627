\set SHOW_CONTEXT never
SELECT current_setting('data_directory') AS datadir \gset
\set file0 :datadir '/regress_people.csv'
begin;
-- A messy CSV file, written by the server into its data directory (relative paths resolve there).
COPY (VALUES ('id;Full Name;amount;joined'), ('1;"Doe; Jane";19,99;2024-01-15'), ('2;Bob;;15/02/2024'),
             ('2;Bob;;15/02/2024'), ('3;"Zoë ""Z""";7.5;')) TO :'file0';
SELECT table_name, foreign_table, bronze_table, dialect
  FROM eai.add_source('people', :'file0');
SELECT source, kind, location LIKE '%/regress_people.csv' AS location_ok, server, owns_server, staging_schema FROM eai.sources;
SELECT source, table_name, bronze_table, status, rows_read, rows_written, rows_skipped, error_sqlstate
  FROM eai.ingest('people');
-- Raw values, duplicates of the source kept, batch and hash columns added.
SELECT id, "Full Name", amount, joined, _eai_batch, _eai_row_hash IS NOT NULL AS hashed
  FROM bronze.people__regress_people ORDER BY id, _eai_row_hash;
-- Ingesting again writes nothing.
SELECT status, rows_read, rows_written, rows_skipped FROM eai.ingest('people', 'regress_people');
-- The file grows: only the new row lands.
COPY (VALUES ('id;Full Name;amount;joined'), ('1;"Doe; Jane";19,99;2024-01-15'), ('2;Bob;;15/02/2024'),
             ('2;Bob;;15/02/2024'), ('3;"Zoë ""Z""";7.5;'), ('4;New;1;2024-06-01')) TO :'file0';
SELECT status, rows_read, rows_written, rows_skipped FROM eai.ingest('people');
-- The file gains a column: bronze gains it too; old rows keep NULL.
COPY (VALUES ('id;Full Name;amount;joined;email'), ('5;Eve;2;2024-07-01;eve@example.com')) TO :'file0';
SELECT status, rows_read, rows_written FROM eai.ingest('people');
SELECT count(*) AS rows, count(email) AS with_email FROM bronze.people__regress_people;
SELECT source, table_name, bronze_table, rows_in_bronze, batches, last_status FROM eai.ingest_status;
-- Bronze tables describe themselves.
SELECT obj_description('bronze.people__regress_people'::regclass, 'pg_class');
-- Removing the source keeps bronze and the batch history unless asked.
SELECT eai.drop_source('people');
SELECT to_regclass('bronze.people__regress_people') IS NOT NULL AS bronze_kept,
       (SELECT count(*) FROM eai.batches) AS batches_kept,
       (SELECT count(*) FROM pg_foreign_server WHERE srvname = 'eai_people') AS servers;
rollback;
