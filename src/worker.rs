//! The promotion worker: a background worker of the database named by `eai.worker_database` that
//! runs eai's jobs (src/jobs.rs: promote queued batches, measure promoted ones, record cancelled
//! LLM calls), each unit of work in a transaction of its own, as pgrx's bgworker example does:
//! signal handlers, `wait_latch`, work inside a transaction. An error never kills it: the
//! transaction is rolled back, the error logged, that job backs off (`eai_core::schedule`) and the
//! others go on (`eai.promote_queued` itself records a batch that cannot be promoted and backs off
//! from it).

use std::time::{Duration, Instant};

use eai_core::schedule::{self, Outcome, Schedule};
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;

use crate::guc;
use crate::jobs::JOBS;

/// Registers the worker; only possible while shared_preload_libraries loads eai.
pub fn register() {
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    BackgroundWorkerBuilder::new("eai promotion worker")
        .set_type("eai promotion worker")
        .set_function("eai_promotion_worker_main")
        .set_library("eai")
        .enable_spi_access()
        .set_restart_time(Some(Duration::from_secs(10)))
        .load();
}

/// Runs `body` in its own transaction; an ERROR rolls the transaction back and comes back as Err.
fn in_transaction<R>(body: impl FnOnce() -> R + std::panic::UnwindSafe + std::panic::RefUnwindSafe) -> Result<R, String> {
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    let result = PgTryBuilder::new(|| Ok(body()))
        .catch_others(|e| {
            Err(match e {
                pg_sys::panic::CaughtError::PostgresError(r) | pg_sys::panic::CaughtError::ErrorReport(r) => r.message().to_string(),
                pg_sys::panic::CaughtError::RustPanic { ereport, .. } => ereport.message().to_string(),
            })
        })
        .execute();
    unsafe {
        match result {
            Ok(_) => {
                pg_sys::PopActiveSnapshot();
                pg_sys::CommitTransactionCommand();
            }
            Err(_) => pg_sys::AbortCurrentTransaction(),
        }
    }
    result
}

unsafe extern "C-unwind" {
    /// PostgreSQL's SIGTERM handler for backends (postgres.c), called as the signal handler
    /// itself: pgrx's `pg_sys::die` is a guarded Rust wrapper, not a handler.
    #[link_name = "die"]
    fn postgres_die(postgres_signal_arg: std::ffi::c_int);
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn eai_promotion_worker_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    // SIGTERM (pg_terminate_backend, a server shutdown) as every backend has it: PostgreSQL's own
    // die() sets ProcDiePending, so a worker waiting for a lock in the middle of a job ends at
    // once (its transaction rolls back) instead of waiting for the lock first; pgrx's handler
    // only sets a flag that the loop reads between jobs.
    // SAFETY: installs PostgreSQL's standard handler for a signal this process owns.
    unsafe {
        pg_sys::pqsignal(15 /* SIGTERM */, Some(postgres_die))
    };
    let database = guc::worker_database();
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    log!("eai promotion worker: promoting queued batches of database \"{database}\"");
    let started = Instant::now();
    let mut schedules: Vec<Schedule> = JOBS.iter().map(|j| Schedule::new((j.every)())).collect();
    let mut sleep = Duration::ZERO;
    while BackgroundWorker::wait_latch(Some(sleep)) {
        if BackgroundWorker::sighup_received() {
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
            // The intervals may have changed (eai.worker_naptime_ms): every job is due again.
            schedules = JOBS.iter().map(|j| Schedule::new((j.every)())).collect();
        }
        for (job, schedule) in JOBS.iter().zip(schedules.iter_mut()) {
            if !schedule.due(started.elapsed()) {
                continue;
            }
            // A busy job runs again at once, up to its burst; then the others get their turn.
            let mut outcome = Outcome::Idle;
            for _ in 0..job.burst {
                if BackgroundWorker::sigterm_received() {
                    break;
                }
                outcome = match in_transaction(job.run) {
                    Ok(n) if n > 0 => Outcome::Busy,
                    Ok(_) => Outcome::Idle,
                    Err(message) => {
                        warning!("eai promotion worker: {}: {message}", job.name);
                        Outcome::Failed
                    }
                };
                if outcome != Outcome::Busy {
                    break;
                }
            }
            schedule.done(started.elapsed(), outcome);
        }
        let refs: Vec<&Schedule> = schedules.iter().collect();
        sleep = schedule::next_wake(&refs, started.elapsed(), guc::worker_naptime() * 64);
    }
    // Reached when the loop ends without die() having ended the process first. Exit code 1: the
    // postmaster starts the worker again after the restart time, which is what
    // is wanted when it was stopped by DROP DATABASE … WITH (FORCE) or pg_terminate_backend (at
    // server shutdown, the code does not matter). Exit code 0 would unregister it for good.
    log!("eai promotion worker: stopping");
    unsafe { pg_sys::proc_exit(1) };
}
