\set SHOW_CONTEXT never
SELECT current_setting('data_directory') AS datadir \gset
\set file0 :datadir '/regress_ho"st;ile ü.csv'
\set file1 :datadir '/regress_t.csv'
begin;
CREATE TABLE canary (x int);
-- Quotes, semicolons, spaces, unicode and 63-byte names, in the source, file and column names.
COPY (VALUES ('"q""uote";"semi;colon";"sp ace";ünï©ødé;"' || repeat('c', 63) || '";"x); DROP TABLE canary; --"'),
             ('1;2;3;4;5;6')) TO :'file0';
SELECT table_name, foreign_table, bronze_table, dialect -> 'columns' AS columns
  FROM eai.add_source('we"ird''; DROP TABLE canary; --', :'file0');
SELECT staging_schema, server FROM eai.sources;
SELECT status, rows_read, rows_written FROM eai.ingest('we"ird''; DROP TABLE canary; --');
SELECT "q""uote", "semi;colon", "sp ace", "ünï©ødé", "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc", "x); DROP TABLE canary; --"
  FROM bronze."we""ird'; DROP TABLE canary; --__regress_ho""st;ile ü";
-- A 63-byte source name: derived names stay within 63 bytes and distinct.
COPY (VALUES ('a'), ('1')) TO :'file1';
SELECT bronze_table, octet_length(bronze_table) AS bytes FROM eai.add_source(repeat('s', 63), :'file1');
SELECT bronze_table, octet_length(bronze_table) AS bytes FROM eai.add_source(repeat('s', 62) || 'z', :'file1');
SELECT status, rows_written FROM eai.ingest(repeat('s', 63));
SELECT octet_length(staging_schema) AS schema_bytes, octet_length(server) AS server_bytes FROM eai.sources WHERE source LIKE 'sss%' ORDER BY 1;
-- Nothing was injected.
SELECT count(*) AS canary_rows FROM canary;
rollback;
