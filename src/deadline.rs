//! A deadline of eai's own within a statement (the probe of a source, a question's query), by
//! PostgreSQL's statement timeout: past it the work is cancelled with 57014, as a
//! `statement_timeout` would. A sooner deadline of the statement's own stays in force, and is put
//! back when eai's ends. It works in the worker too, where no statement timeout runs otherwise.

use pgrx::prelude::*;

/// PostgreSQL's statement timeout (utils/timeout.h, `TimeoutId` STATEMENT_TIMEOUT in PostgreSQL 15).
const STATEMENT_TIMEOUT: std::ffi::c_int = 3;

unsafe extern "C-unwind" {
    fn enable_timeout_after(id: std::ffi::c_int, delay_ms: std::ffi::c_int);
    fn enable_timeout_at(id: std::ffi::c_int, fin_time: pg_sys::TimestampTz);
    fn disable_timeout(id: std::ffi::c_int, keep_indicator: bool);
    fn get_timeout_active(id: std::ffi::c_int) -> bool;
    fn get_timeout_finish_time(id: std::ffi::c_int) -> pg_sys::TimestampTz;
}

/// An armed deadline: eai's, and the statement's deadline it replaced (if any).
#[derive(Clone, Copy)]
struct Deadline {
    ours: pg_sys::TimestampTz,
    statement: Option<pg_sys::TimestampTz>,
}

thread_local! {
    static DEADLINE: std::cell::Cell<Option<Deadline>> = const { std::cell::Cell::new(None) };
}

/// Arms a deadline `ms` from now (false, and nothing armed, when `ms` is 0 or less).
pub fn arm(ms: i32) -> bool {
    if ms <= 0 {
        return false;
    }
    // SAFETY: the timeout module's own functions, on its predefined statement timeout, from the
    // backend's main thread.
    unsafe {
        let statement = get_timeout_active(STATEMENT_TIMEOUT).then(|| get_timeout_finish_time(STATEMENT_TIMEOUT));
        let ours = pg_sys::GetCurrentTimestamp() + i64::from(ms) * 1000;
        DEADLINE.set(Some(Deadline { ours, statement }));
        if statement.is_none_or(|fin| fin > ours) {
            enable_timeout_after(STATEMENT_TIMEOUT, ms);
        }
    }
    true
}

/// Ends eai's deadline and puts the statement's back; true when eai's had passed.
pub fn disarm() -> bool {
    let Some(d) = DEADLINE.take() else { return false };
    // SAFETY: as in `arm`.
    unsafe {
        match d.statement {
            Some(fin) => enable_timeout_at(STATEMENT_TIMEOUT, fin),
            None => disable_timeout(STATEMENT_TIMEOUT, false),
        }
        pg_sys::GetCurrentTimestamp() >= d.ours
    }
}

/// Runs `f` under a deadline of `ms` (none when 0), disarmed after it, also when it raises.
pub fn within<R>(ms: i32, f: impl FnOnce() -> R) -> R {
    arm(ms);
    PgTryBuilder::new(std::panic::AssertUnwindSafe(f))
        .finally(|| {
            disarm();
        })
        .execute()
}
