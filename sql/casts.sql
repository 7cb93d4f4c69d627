-- The per-value helpers of the promotion statement (eai_core::promotion builds the calls), as
-- plain C functions (src/fast_casts.rs): a promotion calls them once per bronze value, and
-- without pgrx's argument wrappers the cost per call is the parse.
-- Safe casts: the value as the type, or NULL when it is not one (or does not fit); never an error.
CREATE FUNCTION eai._to_int8(value text) RETURNS bigint
    AS 'MODULE_PATHNAME', 'eai_to_int8' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION eai._to_int4(value text) RETURNS integer
    AS 'MODULE_PATHNAME', 'eai_to_int4' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION eai._to_int2(value text) RETURNS smallint
    AS 'MODULE_PATHNAME', 'eai_to_int2' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
-- ISO dates always; D/M/Y or M/D/Y (with -, / or .) when date_order is DMY or MDY.
CREATE FUNCTION eai._to_date(value text, date_order text) RETURNS date
    AS 'MODULE_PATHNAME', 'eai_to_date' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
-- Whether PostgreSQL's numeric input reads the value as it stands (the promotion then casts it
-- directly; other values go through eai._normalize).
CREATE FUNCTION eai._is_number(value text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'eai_is_number' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
-- value ~ pattern for patterns in the subset PostgreSQL and the regex crate read alike
-- (eai_core::regex_compat); regex rules that fit use it, the others use ~. Any other pattern is
-- refused with SQLSTATE 2201B.
CREATE FUNCTION eai._regex_match(value text, pattern text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'eai_regex_match' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
