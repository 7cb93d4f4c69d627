\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
begin;
-- The per-value helpers of promotion (src/fast_casts.rs): C functions, strict, never an error on
-- a value that does not parse.
SELECT v, eai._to_int8(v) AS int8, eai._to_int4(v) AS int4, eai._to_int2(v) AS int2, eai._is_number(v) AS is_number
  FROM unnest(ARRAY[' 42 ', '-9223372036854775808', '9223372036854775808', '70000', '-32768', '4.2', '1e3',
                    '', '--1', '12,5', E'\t7\n', NULL]) v;
SELECT v, o, eai._to_date(v, o) AS date
  FROM (VALUES ('2024-02-29', 'YMD'), ('2023-02-29', 'YMD'), ('31/12/2024', 'DMY'), ('12/31/2024', 'MDY'),
               ('12/31/2024', 'DMY'), ('31.12.2024', 'dmy'), (' 0001-01-01 ', 'YMD'), ('9999-12-31', 'YMD'),
               ('2024-1-5', 'YMD'), ('2024-01', 'YMD'), ('2024-01-05x', 'YMD'), (NULL, 'YMD')) AS t (v, o);
-- Agrees with PostgreSQL's own input functions wherever those accept the value.
SELECT count(*) AS disagreements FROM generate_series(-40000, 40000, 7) i
 WHERE eai._to_int8(i::text) IS DISTINCT FROM i::bigint OR eai._to_int2(i::text) IS DISTINCT FROM
       CASE WHEN i BETWEEN -32768 AND 32767 THEN i::smallint END
    OR eai._to_date(to_char(date '1999-12-25' + i, 'YYYY-MM-DD'), 'YMD') IS DISTINCT FROM date '1999-12-25' + i
    OR eai._to_date(to_char(date '1999-12-25' + i, 'DD/MM/YYYY'), 'DMY') IS DISTINCT FROM date '1999-12-25' + i;
-- Values stored compressed or out of line are read too (detoasted first).
CREATE TEMP TABLE toasted (v text);
ALTER TABLE toasted ALTER COLUMN v SET STORAGE external;
INSERT INTO toasted VALUES (repeat(' ', 5000) || '42' || repeat(' ', 5000)), (repeat('1', 3000)), (repeat('a', 3000) || '@x.org');
ALTER TABLE toasted ALTER COLUMN v SET STORAGE extended;
INSERT INTO toasted VALUES (repeat(' ', 20000) || '2024-03-01');
SELECT length(v), pg_column_size(v) AS stored_bytes, eai._to_int8(v), eai._is_number(v), eai._to_date(v, 'YMD'),
       eai._regex_match(v, '^[^@]+@[^@]+\.[a-z]+$') AS email
  FROM toasted ORDER BY 1;
-- Regular expressions: the same answers as ~, several patterns in one statement, unicode values.
SELECT v, p, eai._regex_match(v, p) AS rust, v ~ p AS postgres
  FROM unnest(ARRAY['ann@example.com', 'not an email', 'zoë@exämple.org', E'two\nlines']) v,
       unnest(ARRAY['^[^@]+@[^@]+\.[a-z]+$', '^.+$', 'ä', '^[a-z]{3}$']) p
 ORDER BY 1, 2;
-- A pattern outside the subset both engines read alike is refused with SQLSTATE 2201B and a hint.
DO $$
DECLARE
    p text;
    st text; msg text; hint text;
BEGIN
    FOREACH p IN ARRAY ARRAY['\w+', E'x''; DROP TABLE toasted; --['] LOOP
        BEGIN
            PERFORM eai._regex_match('abc', p);
        EXCEPTION WHEN others THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
            RAISE NOTICE '% % (hint: %)', st, msg, hint;
        END;
    END LOOP;
END
$$;
SELECT count(*) AS toasted_rows FROM toasted;
rollback;
