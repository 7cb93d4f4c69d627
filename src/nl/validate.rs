//! Validation and safety of a SELECT, whatever wrote it (an engine, an LLM, a person): PostgreSQL's
//! own parser says it is exactly one SELECT (no second statement, no SELECT INTO, no FOR UPDATE,
//! no data-modifying WITH: `user_sql::check_select`); its parse analysis, as the calling role,
//! resolves every name; every function it calls (functions, operators, aggregates, window
//! functions, in subqueries too) and every relation it reads must pass eai-core's rules
//! (`nl::safety`: PostgreSQL's own functions that change nothing; relations in the scope that the
//! role may read); and EXPLAIN plans it. Nothing is run. A refusal says why, with its SQLSTATE.

use std::collections::BTreeSet;
use std::ffi::{c_void, CString};

use eai_core::nl::safety::{self, Volatility};
use pgrx::pg_sys::{self, NodeTag};
use pgrx::prelude::*;

use crate::errors::sqlstate_text;
use crate::user_sql;

/// What a validation found: the checked statement, or why not.
pub struct Checked {
    pub statement: Option<String>,
    pub refusal: Option<(String, String)>,
    pub relations: Vec<String>,
    pub functions: Vec<String>,
}

#[derive(Default)]
struct Found {
    functions: BTreeSet<u32>,
    relations: BTreeSet<u32>,
    not_a_read: Option<&'static str>,
}

unsafe fn list_cells(l: *mut pg_sys::List) -> Vec<*mut c_void> {
    if l.is_null() {
        return Vec::new();
    }
    unsafe { (0..(*l).length as usize).map(|i| (*(*l).elements.add(i)).ptr_value).collect() }
}

unsafe extern "C-unwind" fn walk(node: *mut pg_sys::Node, ctx: *mut c_void) -> bool {
    if node.is_null() {
        return false;
    }
    // SAFETY: ctx is the &mut Found handed to the walker below; node a valid analysed node.
    unsafe {
        let found = &mut *(ctx as *mut Found);
        match (*node).type_ {
            NodeTag::T_Query => {
                let q = node as *mut pg_sys::Query;
                if (*q).commandType != pg_sys::CmdType::CMD_SELECT || !(*q).utilityStmt.is_null() {
                    found.not_a_read = Some("a statement that is not a SELECT");
                } else if (*q).hasModifyingCTE {
                    found.not_a_read = Some("a WITH query that writes");
                } else if !(*q).rowMarks.is_null() {
                    found.not_a_read = Some("a row lock (FOR UPDATE/SHARE)");
                }
                for rte in list_cells((*q).rtable) {
                    let rte = rte as *mut pg_sys::RangeTblEntry;
                    if (*rte).rtekind == pg_sys::RTEKind::RTE_RELATION {
                        found.relations.insert((*rte).relid.to_u32());
                    }
                }
                return pg_sys::query_tree_walker(q, Some(walk), ctx, 0);
            }
            NodeTag::T_FuncExpr => {
                found.functions.insert((*(node as *mut pg_sys::FuncExpr)).funcid.to_u32());
            }
            NodeTag::T_OpExpr | NodeTag::T_DistinctExpr | NodeTag::T_NullIfExpr => {
                let op = node as *mut pg_sys::OpExpr;
                found.functions.insert(pg_sys::get_opcode((*op).opno).to_u32());
            }
            NodeTag::T_ScalarArrayOpExpr => {
                found.functions.insert(pg_sys::get_opcode((*(node as *mut pg_sys::ScalarArrayOpExpr)).opno).to_u32());
            }
            NodeTag::T_RowCompareExpr => {
                for op in list_cells((*(node as *mut pg_sys::RowCompareExpr)).opnos) {
                    found.functions.insert(pg_sys::get_opcode(pg_sys::Oid::from(op as usize as u32)).to_u32());
                }
            }
            NodeTag::T_Aggref => {
                found.functions.insert((*(node as *mut pg_sys::Aggref)).aggfnoid.to_u32());
            }
            NodeTag::T_WindowFunc => {
                found.functions.insert((*(node as *mut pg_sys::WindowFunc)).winfnoid.to_u32());
            }
            _ => {}
        }
        pg_sys::expression_tree_walker(node, Some(walk), ctx)
    }
}

/// `name` as PostgreSQL quotes an identifier (only when it must).
fn quote_ident(name: &str) -> String {
    let c = CString::new(name).unwrap_or_default();
    // SAFETY: quote_identifier returns its argument or a palloc'd copy, a valid C string either way.
    unsafe { std::ffi::CStr::from_ptr(pg_sys::quote_identifier(c.as_ptr())) }.to_string_lossy().into_owned()
}

/// The SQLSTATE and message of an error raised by `f`, or its value. `f` runs in a read-only
/// subtransaction that is rolled back (`user_sql::read_only`), so what an error left behind (locks,
/// cache references) is released with it; it must return Rust-owned data.
fn caught<T>(f: impl FnOnce() -> T) -> Result<T, (String, String)> {
    PgTryBuilder::new(std::panic::AssertUnwindSafe(|| Ok(user_sql::read_only(f))))
        .catch_others(|e| {
            Err(match e {
                pg_sys::panic::CaughtError::PostgresError(r) | pg_sys::panic::CaughtError::ErrorReport(r) => {
                    (sqlstate_text(r.sql_error_code()), r.message().to_string())
                }
                pg_sys::panic::CaughtError::RustPanic { ereport, .. } => (sqlstate_text(ereport.sql_error_code()), ereport.message().to_string()),
            })
        })
        .execute()
}

/// Validates `sql` for the calling role, reading only relations of the `scope` schemas.
pub fn validate(sql: &str, scope: &[String]) -> Checked {
    let mut out = Checked { statement: None, refusal: None, relations: Vec::new(), functions: Vec::new() };
    let refuse = |mut out: Checked, sqlstate: &str, reason: String| {
        out.refusal = Some((sqlstate.to_string(), reason));
        out
    };
    let statement = match caught(|| user_sql::check_select(sql)) {
        Ok(s) => s,
        Err((state, message)) => return refuse(out, &state, message),
    };
    // Parse analysis as the calling role: names resolved, privileges on schemas checked.
    let found = caught(|| unsafe {
        let c = CString::new(statement.as_str()).unwrap_or_default();
        let raw = pg_sys::raw_parser(c.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT);
        let stmt = list_cells(raw)[0] as *mut pg_sys::RawStmt;
        let query = pg_sys::parse_analyze_fixedparams(stmt, c.as_ptr(), std::ptr::null_mut(), 0, std::ptr::null_mut());
        let mut found = Found::default();
        walk(query as *mut pg_sys::Node, &mut found as *mut Found as *mut c_void);
        found
    });
    let found = match found {
        Ok(f) => f,
        Err((state, message)) => return refuse(out, &state, format!("the query does not resolve: {message}")),
    };
    if let Some(what) = found.not_a_read {
        return refuse(out, "42601", format!("the query holds {what}"));
    }
    for f in &found.functions {
        let row = Spi::get_three_with_args::<String, String, String>(
            "SELECT n.nspname::text, p.proname::text, p.provolatile::text FROM pg_catalog.pg_proc p
               JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = $1",
            &[pg_sys::Oid::from(*f).into()],
        );
        let Ok((Some(schema), Some(name), Some(v))) = row else { continue };
        let shown = format!("{}.{}", quote_ident(&schema), quote_ident(&name));
        out.functions.push(shown.clone());
        if let Err(why) = safety::function_allowed(&schema, &name, Volatility::from_code(&v)) {
            return refuse(out, "42501", format!("the query calls {shown}, which {why}"));
        }
    }
    for r in &found.relations {
        let row = Spi::get_three_with_args::<String, String, bool>(
            "SELECT n.nspname::text, c.relname::text, pg_catalog.has_any_column_privilege(c.oid, 'SELECT')
               FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1",
            &[pg_sys::Oid::from(*r).into()],
        );
        let Ok((Some(schema), Some(name), Some(readable))) = row else { continue };
        let shown = format!("{}.{}", quote_ident(&schema), quote_ident(&name));
        out.relations.push(shown.clone());
        if let Err(why) = safety::relation_allowed(&schema, readable, scope) {
            return refuse(out, "42501", format!("the query reads {shown}, which {why}"));
        }
    }
    // Planned, not run (the plan is read in a read-only subtransaction that is rolled back).
    // safe: the statement checked above, planned with the caller's rights.
    let explain = format!("EXPLAIN (COSTS false) {statement}");
    match caught(|| Spi::run(&explain).map_err(|e| e.to_string())) {
        Err((state, message)) => return refuse(out, &state, format!("the query does not plan: {message}")),
        Ok(Err(message)) => return refuse(out, "XX000", format!("the query does not plan: {message}")),
        Ok(Ok(())) => {}
    }
    out.statement = Some(statement);
    out
}

/// `eai.nl_validate(sql, scope)`: whether eai would run `sql` for this role, and why not.
#[pg_extern(volatile, parallel_unsafe)]
fn nl_validate(
    sql: &str,
    scope: default!(Vec<String>, "ARRAY['gold', 'silver']"),
) -> TableIterator<
    'static,
    (
        name!(ok, bool),
        name!(sqlstate, Option<String>),
        name!(reason, Option<String>),
        name!(statement, Option<String>),
        name!(relations, Vec<String>),
        name!(functions, Vec<String>),
    ),
> {
    let c = validate(sql, &scope);
    let (state, reason) = c.refusal.map(|(s, r)| (Some(s), Some(r))).unwrap_or((None, None));
    TableIterator::once((c.statement.is_some(), state, reason, c.statement, c.relations, c.functions))
}
