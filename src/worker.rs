//! The promotion worker: a background worker that promotes the batches queued in
//! `eai.promotion_queue` (those larger than `eai.sync_promotion_max_rows`) of the database named by
//! `eai.worker_database`, one batch per transaction, as pgrx's bgworker example does: signal
//! handlers, `wait_latch`, work inside a transaction. An error never kills it: the transaction is
//! rolled back, the error logged, and the loop goes on (`eai.promote_queued` itself records a
//! batch that cannot be promoted and backs off from it). With the queue empty, it measures the
//! promoted batches not measured yet (`eai.measure_batches`), so that batch profiles and drift
//! follow each batch within a naptime. Each wake it also records the LLM calls whose statement
//! was cancelled during the call (`llm_ledger::drain`).

use std::time::Duration;

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;

use crate::{guc, llm_ledger};

/// Batches promoted per wake-up at most, so that a SIGTERM is seen soon.
const BATCHES_PER_WAKE: usize = 100;

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

/// One queued batch promoted (true), or nothing to do (false).
fn promote_one() -> bool {
    // eai (0.3.0 or later) in this database; nothing to do otherwise.
    let installed = Spi::get_one::<bool>("SELECT to_regclass('eai.promotion_queue') IS NOT NULL").ok().flatten().unwrap_or(false);
    if !installed {
        return false;
    }
    Spi::get_one::<bool>("SELECT EXISTS (SELECT 1 FROM eai.promotion_queue) AND (SELECT count(*) FROM eai.promote_queued(NULL, 1)) > 0")
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// Batches of every pipeline's silver table measured (`eai.measure_batches`, a few per table);
/// how many.
fn measure_some() -> i64 {
    let installed =
        Spi::get_one::<bool>("SELECT to_regprocedure('eai.measure_batches(regclass,integer)') IS NOT NULL").ok().flatten().unwrap_or(false);
    if !installed {
        return 0;
    }
    Spi::get_one::<i64>(
        "SELECT coalesce(sum(eai.measure_batches(t.target_relid::regclass, 10)), 0)::bigint
           FROM (SELECT DISTINCT target_relid FROM eai.pipelines) t",
    )
    .ok()
    .flatten()
    .unwrap_or(0)
}

/// LLM calls whose transaction ended without their ledger row (cancelled, timed out), recorded.
fn drain_llm_ledger() -> usize {
    let ready = Spi::get_one::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('eai.llm_calls') AND attname = 'call_uuid' AND NOT attisdropped)",
    )
    .ok()
    .flatten()
    .unwrap_or(false);
    if ready {
        llm_ledger::drain(100)
    } else {
        0
    }
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn eai_promotion_worker_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let database = guc::worker_database();
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    log!("eai promotion worker: promoting queued batches of database \"{database}\"");
    // Consecutive failed wake-ups: the sleep doubles with each, up to 64 naptimes, so that a
    // lasting problem is logged now and then, not every second.
    let mut failures: u32 = 0;
    while BackgroundWorker::wait_latch(Some(guc::worker_naptime() * 2u32.pow(failures.min(6)))) {
        if BackgroundWorker::sighup_received() {
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        for _ in 0..BATCHES_PER_WAKE {
            if BackgroundWorker::sigterm_received() {
                break;
            }
            match in_transaction(promote_one) {
                Ok(true) => failures = 0,
                Ok(false) => {
                    failures = 0;
                    // The queue is empty: measure what was promoted, a few batches per table at a time.
                    match in_transaction(measure_some) {
                        Ok(n) if n > 0 => continue,
                        Ok(_) => {}
                        Err(message) => {
                            warning!("eai promotion worker: measuring batches: {message}");
                            failures += 1;
                        }
                    }
                    break;
                }
                Err(message) => {
                    warning!("eai promotion worker: {message}");
                    failures += 1;
                    break;
                }
            }
        }
        if let Err(message) = in_transaction(drain_llm_ledger) {
            warning!("eai promotion worker: recording LLM calls: {message}");
        }
    }
    // Exit code 1: the postmaster starts the worker again after the restart time, which is what
    // is wanted when it was stopped by DROP DATABASE … WITH (FORCE) or pg_terminate_backend (at
    // server shutdown, the code does not matter). Exit code 0 would unregister it for good.
    log!("eai promotion worker: stopping");
    unsafe { pg_sys::proc_exit(1) };
}
