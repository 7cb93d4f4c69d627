//! SQL text a user hands in — a gold query, an sql rule, a query `detect_anomalies` reads — checked
//! by PostgreSQL's own parser before anything is stored or run, and run read-only when eai runs it.
//!
//! - [`check_select`]: exactly one `SELECT` (no second statement, no `INTO`, no `FOR UPDATE`, no
//!   data-modifying `WITH`); returns the statement's own text, without a trailing `;`.
//! - [`check_expression`]: exactly one expression (`SELECT <text>` parses as one target and
//!   nothing else). Embedded as `(\n<text>\n)`, so a trailing `--` comment cannot swallow what
//!   follows and the text, balanced by the parser, stays one operand.
//! - [`read_only`]: runs a closure in a subtransaction with `transaction_read_only` on, then
//!   rolls the subtransaction back: a function with side effects in the query cannot write.

use crate::errors::{EaiError, SqlKind};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::CString;

fn invalid(kind: SqlKind, reason: impl Into<String>) -> ! {
    EaiError::InvalidSql { kind, reason: reason.into() }.report()
}

/// The raw parse trees of `sql` (a List of RawStmt), or a 42601 with eai's hint.
unsafe fn raw_parse(sql: &str, kind: SqlKind) -> *mut pg_sys::List {
    let c = CString::new(sql).unwrap_or_else(|_| invalid(kind, "contains a NUL byte"));
    PgTryBuilder::new(|| unsafe { pg_sys::raw_parser(c.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT) })
        .catch_when(PgSqlErrorCode::ERRCODE_SYNTAX_ERROR, |e| {
            let msg = match e {
                pg_sys::panic::CaughtError::PostgresError(r) | pg_sys::panic::CaughtError::ErrorReport(r) => r.message().to_string(),
                _ => "is not valid SQL".to_string(),
            };
            invalid(kind, format!("does not parse: {msg}"))
        })
        .execute()
}

unsafe fn list_len(l: *mut pg_sys::List) -> i32 {
    if l.is_null() {
        0
    } else {
        unsafe { (*l).length }
    }
}

unsafe fn list_nth(l: *mut pg_sys::List, i: i32) -> *mut pg_sys::Node {
    unsafe { (*(*l).elements.add(i as usize)).ptr_value as *mut pg_sys::Node }
}

unsafe fn tag(n: *mut pg_sys::Node) -> pg_sys::NodeTag {
    if n.is_null() {
        pg_sys::NodeTag::T_Invalid
    } else {
        unsafe { (*n).type_ }
    }
}

fn statement_name(t: pg_sys::NodeTag) -> &'static str {
    match t {
        pg_sys::NodeTag::T_InsertStmt => "an INSERT",
        pg_sys::NodeTag::T_UpdateStmt => "an UPDATE",
        pg_sys::NodeTag::T_DeleteStmt => "a DELETE",
        pg_sys::NodeTag::T_MergeStmt => "a MERGE",
        pg_sys::NodeTag::T_CallStmt => "a CALL",
        pg_sys::NodeTag::T_DoStmt => "a DO block",
        _ => "not a SELECT",
    }
}

/// `sql` must be exactly one SELECT; returns its text without what follows it (a `;`, comments).
pub fn check_select(sql: &str) -> String {
    let kind = SqlKind::Select;
    unsafe {
        let list = raw_parse(sql, kind);
        match list_len(list) {
            0 => invalid(kind, "is empty"),
            1 => {}
            n => invalid(kind, format!("holds {n} statements, not one")),
        }
        let raw = list_nth(list, 0) as *mut pg_sys::RawStmt;
        let stmt = (*raw).stmt;
        let t = tag(stmt);
        if t != pg_sys::NodeTag::T_SelectStmt {
            invalid(kind, format!("is {}, not a SELECT", statement_name(t)));
        }
        let sel = stmt as *mut pg_sys::SelectStmt;
        if !(*sel).intoClause.is_null() {
            invalid(kind, "is a SELECT INTO, which creates a table");
        }
        if list_len((*sel).lockingClause) > 0 {
            invalid(kind, "locks rows (FOR UPDATE/SHARE)");
        }
        let with = (*sel).withClause;
        if !with.is_null() {
            let ctes = (*with).ctes;
            for i in 0..list_len(ctes) {
                let cte = list_nth(ctes, i) as *mut pg_sys::CommonTableExpr;
                let q = tag((*cte).ctequery);
                if q != pg_sys::NodeTag::T_SelectStmt {
                    invalid(kind, format!("has a WITH query that is {}", statement_name(q)));
                }
            }
        }
        let start = (*raw).stmt_location.max(0) as usize;
        let len = (*raw).stmt_len;
        let end = if len > 0 { start + len as usize } else { sql.len() };
        sql.get(start..end).unwrap_or(sql).to_string()
    }
}

/// `expr` must be exactly one expression (no SELECT list, FROM, WHERE, `;` or second statement);
/// returns it trimmed.
pub fn check_expression(expr: &str) -> String {
    let kind = SqlKind::Expression;
    let expr = expr.trim();
    if expr.is_empty() {
        invalid(kind, "is empty");
    }
    let sql = format!("SELECT {expr}"); // safe: parsed only, never run
    unsafe {
        let list = raw_parse(&sql, kind);
        if list_len(list) != 1 {
            invalid(kind, format!("holds {} statements, not one expression", list_len(list)));
        }
        let raw = list_nth(list, 0) as *mut pg_sys::RawStmt;
        if (*raw).stmt_len != 0 {
            invalid(kind, "ends with ; (a rule is one expression, not a statement)");
        }
        let stmt = (*raw).stmt;
        if tag(stmt) != pg_sys::NodeTag::T_SelectStmt {
            invalid(kind, "is not an expression");
        }
        let s = stmt as *mut pg_sys::SelectStmt;
        let extra = list_len((*s).distinctClause) > 0
            || !(*s).intoClause.is_null()
            || list_len((*s).fromClause) > 0
            || !(*s).whereClause.is_null()
            || list_len((*s).groupClause) > 0
            || !(*s).havingClause.is_null()
            || list_len((*s).windowClause) > 0
            || list_len((*s).valuesLists) > 0
            || list_len((*s).sortClause) > 0
            || !(*s).limitOffset.is_null()
            || !(*s).limitCount.is_null()
            || list_len((*s).lockingClause) > 0
            || !(*s).withClause.is_null()
            || (*s).op != pg_sys::SetOperation::SETOP_NONE;
        if extra || list_len((*s).targetList) != 1 {
            invalid(kind, "is more than one expression (it has a list, FROM, WHERE, ORDER BY, UNION or the like)");
        }
        let target = list_nth((*s).targetList, 0) as *mut pg_sys::ResTarget;
        // The expression must start at the text's first token (not after ALL, say) and have no alias.
        if !(*target).name.is_null() || (*target).location != "SELECT ".len() as i32 {
            invalid(kind, "is not one expression (it has an alias or a keyword before it)");
        }
    }
    expr.to_string()
}

/// Run `f` in a subtransaction with `transaction_read_only` on, then roll the subtransaction back:
/// whatever `f` runs (a user's query and the functions in it) can read but never write. `f` must
/// return Rust-owned data (nothing allocated in the subtransaction's memory).
pub fn read_only<R>(f: impl FnOnce() -> R) -> R {
    unsafe {
        let context = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(context);
        let name = c"transaction_read_only";
        let on = c"on";
        pg_sys::set_config_option(
            name.as_ptr(),
            on.as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_LOCAL,
            true,
            0,
            false,
        );
        let restore = move || {
            // SAFETY: we are in the subtransaction begun above.
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::CurrentResourceOwner = owner;
        };
        let out = PgTryBuilder::new(std::panic::AssertUnwindSafe(f))
            .catch_others(|e| {
                restore();
                e.rethrow()
            })
            .execute();
        restore();
        out
    }
}

/// `eai._check_select(query)`: the query's statement text when it is exactly one SELECT, else 42601.
#[pg_extern(immutable, strict, parallel_safe)]
fn _check_select(query: &str) -> String {
    check_select(query)
}

/// `eai._check_expression(expr)`: the expression, trimmed, when it is exactly one, else 42601.
#[pg_extern(immutable, strict, parallel_safe)]
fn _check_expression(expr: &str) -> String {
    check_expression(expr)
}
