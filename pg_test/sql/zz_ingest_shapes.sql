\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT current_setting('data_directory') AS datadir \gset
\set file0 :datadir '/regress_shape.csv'
\set file1 :datadir '/regress_nohead.csv'
\set file2 :datadir '/regress_dupes.csv'
\set file3 :datadir '/regress_stray.csv'
\set file4 :datadir '/regress_mixed.csv'
\set file5 :datadir '/regress_long.csv'
begin;
-- (Failed batches send a WARNING naming their batch number and path, which vary: hidden here.)
SET client_min_messages = error;
-- A source that gains columns and reorders them re-lands none of its unchanged rows; a row that
-- now has a value in a new column is a changed row and lands once.
COPY (VALUES ('id,name'), ('1,a'), ('2,b'), ('3,c'), ('4,d'), ('5,e')) TO :'file0';
SELECT count(*) FROM eai.add_source('shape', :'file0');
SELECT status, rows_read, rows_written FROM eai.ingest('shape');
COPY (VALUES ('id,name,email'), ('1,a,'), ('2,b,'), ('3,c,'), ('4,d,'), ('5,e,')) TO :'file0';
SELECT status, rows_read, rows_written FROM eai.ingest('shape');
COPY (VALUES ('phone,name,email,id'), (',a,,1'), (',b,,2'), (',c,,3'), (',d,,4'), (',e,e@x.io,5')) TO :'file0';
SELECT status, rows_read, rows_written FROM eai.ingest('shape');
SELECT id, name, email, phone FROM bronze.shape__regress_shape ORDER BY id, email NULLS FIRST;
-- A file without a header keeps its first row: without evidence of a header, the first line is data.
COPY (VALUES ('Ann,Paris'), ('Bob,London'), ('Cy,Rome')) TO :'file1';
SELECT dialect -> 'header' AS header, dialect -> 'columns' AS columns FROM eai.add_source('nohead', :'file1');
SELECT status, rows_read, rows_written FROM eai.ingest('nohead');
-- A header with a repeated name is a header.
COPY (VALUES ('id,name,name'), ('1,Ann,Lee'), ('2,Bob,Ray')) TO :'file2';
SELECT dialect -> 'header' AS header, dialect -> 'columns' AS columns FROM eai.add_source('dupes', :'file2');
-- Quotes inside unquoted fields, in a file that quotes no field: read as text, one row per line.
COPY (VALUES ('id,item'), ('1,5" screen'), ('2,plain'), ('3,7" tablet'), ('4,plain')) TO :'file3';
SELECT dialect ->> 'quote' = '"' AS quotes_fields FROM eai.add_source('stray', :'file3');
SELECT status, rows_read, rows_written FROM eai.ingest('stray');
SELECT id, item FROM bronze.stray__regress_stray ORDER BY id;
-- The same in a file that also quotes fields: the batch fails at the line of the stray quote.
COPY (VALUES ('id,item'), ('1,"Doe, Jane"'), ('2,5" screen'), ('3,x')) TO :'file4';
SELECT count(*) FROM eai.add_source('mixed', :'file4');
SELECT status, rows_read, error_sqlstate, error_class FROM eai.ingest('mixed');
SELECT replace(error_message, :'datadir', '<datadir>') AS error_message FROM eai.batches WHERE source = 'mixed';
SELECT error_hint FROM eai.batches WHERE source = 'mixed';
-- A long file without a line break is not "empty": the batch says what it is.
COPY (SELECT repeat('x', 100000)) TO :'file5';
SELECT dialect #>> '{unreadable,sqlstate}' AS sqlstate FROM eai.add_source('long', :'file5');
SELECT status, rows_read, error_sqlstate, error_class FROM eai.ingest('long');
SELECT replace(error_message, :'datadir', '<datadir>') AS error_message FROM eai.batches WHERE source = 'long';
SELECT error_hint FROM eai.batches WHERE source = 'long';
rollback;
