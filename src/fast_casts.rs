//! The per-value helpers of the promotion statement as plain version-1 C functions
//! (`sql/casts.sql` declares them): `eai._to_int2/_to_int4/_to_int8`, `eai._to_date`,
//! `eai._is_number` and `eai._regex_match`.
//!
//! A promotion calls them once per bronze value, five million times for a million rows. A
//! `#[pg_extern]` wrapper costs about as much as the parsing itself (argument unboxing through
//! `FromDatum`, a memory-context switch, a `sigsetjmp` per call); these functions read their
//! text arguments straight from the datum (detoasting only a compressed or out-of-line value)
//! and hand the bytes to the parsers of `eai_core::promotion`, so the work per value is the
//! parse. `#[pg_guard]` still turns a Rust panic into a PostgreSQL ERROR.

use crate::errors::EaiError;
use eai_core::promotion;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::varlena::{varatt_is_1b, varatt_is_1b_e, varatt_is_4b_u, varlena_to_byte_slice};
use std::cell::RefCell;
use std::collections::HashMap;

/// The bytes of text argument `n` of a strict function (so never NULL).
///
/// # Safety
/// `fcinfo` is the call's, and argument `n` is a non-NULL `text`.
unsafe fn text_arg<'a>(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> &'a [u8] {
    unsafe {
        let mut p = pgrx::fcinfo::pg_getarg_datum_raw(fcinfo, n).cast_mut_ptr::<pg_sys::varlena>();
        // Plain 4-byte or short inline values are read in place; compressed or external ones are
        // detoasted (into the call's memory context, freed with it).
        if !(varatt_is_4b_u(p) || (varatt_is_1b(p) && !varatt_is_1b_e(p))) {
            p = pg_sys::pg_detoast_datum_packed(p);
        }
        varlena_to_byte_slice(p)
    }
}

/// Returns `value` or, for None, SQL NULL.
///
/// # Safety
/// `fcinfo` is the call's.
unsafe fn datum_or_null(fcinfo: pg_sys::FunctionCallInfo, value: Option<pg_sys::Datum>) -> pg_sys::Datum {
    match value {
        Some(d) => d,
        None => unsafe { pgrx::fcinfo::pg_return_null(fcinfo) },
    }
}

/// `v1_function!(symbol, finfo_symbol, body)`: the C symbol `symbol` (with its
/// `PG_FUNCTION_INFO_V1` record `finfo_symbol`) running `unsafe fn body(fcinfo) -> Datum` under
/// `#[pg_guard]`.
macro_rules! v1_function {
    ($name:ident, $finfo:ident, $body:ident) => {
        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub extern "C" fn $finfo() -> &'static pg_sys::Pg_finfo_record {
            const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }

        #[pg_guard]
        #[unsafe(no_mangle)]
        pub unsafe extern "C-unwind" fn $name(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
            unsafe { $body(fcinfo) }
        }
    };
}

// eai._to_int8(text) → bigint: the value as int8 input reads it, or NULL.
v1_function!(eai_to_int8, pg_finfo_eai_to_int8, to_int8);
unsafe fn to_int8(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    unsafe {
        let v = promotion::parse_int_bytes(text_arg(fcinfo, 0));
        datum_or_null(fcinfo, v.map(pg_sys::Datum::from))
    }
}

// eai._to_int4(text) → integer: NULL too when it does not fit.
v1_function!(eai_to_int4, pg_finfo_eai_to_int4, to_int4);
unsafe fn to_int4(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    unsafe {
        let v = promotion::parse_int_bytes(text_arg(fcinfo, 0)).and_then(|x| i32::try_from(x).ok());
        datum_or_null(fcinfo, v.map(pg_sys::Datum::from))
    }
}

// eai._to_int2(text) → smallint.
v1_function!(eai_to_int2, pg_finfo_eai_to_int2, to_int2);
unsafe fn to_int2(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    unsafe {
        let v = promotion::parse_int_bytes(text_arg(fcinfo, 0)).and_then(|x| i16::try_from(x).ok());
        datum_or_null(fcinfo, v.map(pg_sys::Datum::from))
    }
}

// eai._to_date(text, date_order text) → date: ISO, or D/M/Y or M/D/Y per the order, or NULL.
// parse_date_bytes returns calendar dates of years 1 to 9999, well inside PostgreSQL's range.
v1_function!(eai_to_date, pg_finfo_eai_to_date, to_date);
unsafe fn to_date(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    unsafe {
        let v = promotion::parse_date_bytes(text_arg(fcinfo, 0), text_arg(fcinfo, 1));
        datum_or_null(fcinfo, v.map(|(y, m, d)| pg_sys::Datum::from(promotion::pg_epoch_days(y, m, d))))
    }
}

// eai._is_number(text) → boolean: whether numeric input reads the value as it stands.
v1_function!(eai_is_number, pg_finfo_eai_is_number, is_number);
unsafe fn is_number(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    unsafe { pg_sys::Datum::from(promotion::is_plain_number_bytes(text_arg(fcinfo, 0))) }
}

thread_local! {
    /// Compiled patterns of this backend (a statement with several regex rules alternates), and
    /// the last one used (a statement calls with the same pattern row after row: no hashing).
    static COMPILED: RefCell<(HashMap<Vec<u8>, regex::bytes::Regex>, Option<(Vec<u8>, regex::bytes::Regex)>)> =
        RefCell::new((HashMap::new(), None));
}

fn compile(pattern: &[u8]) -> regex::bytes::Regex {
    let rust = std::str::from_utf8(pattern).ok().and_then(eai_core::regex_compat::to_rust);
    let Some(rust) = rust else { EaiError::UnsupportedPattern(String::from_utf8_lossy(pattern).into_owned()).report() };
    regex::bytes::Regex::new(&rust).expect("regex_compat returns patterns that compile")
}

/// Whether `value` matches `pattern` (the regex crate's reading of a PostgreSQL pattern in the
/// subset both read alike, `eai_core::regex_compat`). Values are UTF-8 (the database encoding
/// pgrx requires), so matching bytes is matching characters.
fn matches(value: &[u8], pattern: &[u8]) -> bool {
    COMPILED.with_borrow_mut(|(cache, last)| {
        if let Some((p, re)) = last.as_ref() {
            if p.as_slice() == pattern {
                return re.is_match(value);
            }
        }
        if !cache.contains_key(pattern) {
            if cache.len() >= 64 {
                cache.clear();
            }
            cache.insert(pattern.to_vec(), compile(pattern));
        }
        let re = cache[pattern].clone();
        let found = re.is_match(value);
        *last = Some((pattern.to_vec(), re));
        found
    })
}

// eai._regex_match(value text, pattern text) → boolean.
v1_function!(eai_regex_match, pg_finfo_eai_regex_match, regex_match);
unsafe fn regex_match(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    unsafe { pg_sys::Datum::from(matches(text_arg(fcinfo, 0), text_arg(fcinfo, 1))) }
}
