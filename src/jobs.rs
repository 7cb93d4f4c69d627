//! The worker's jobs, each a function of its own run in a transaction of its own, with its own
//! interval (`eai_core::schedule`): promote a queued batch that is due, retry a failed ingest that
//! is due (the heal job), measure promoted batches, record LLM calls whose statement was cancelled and failures whose
//! transaction could not commit. Each returns how much it did; the worker runs a busy job
//! again at once and backs off from a failing one (src/worker.rs).

use std::time::Duration;

use pgrx::prelude::*;

use crate::{failure_spool, guc, llm_ledger};

pub struct Job {
    pub name: &'static str,
    /// One unit of work in the current transaction; how much it did (0: nothing to do).
    pub run: fn() -> i64,
    /// How often it runs when it finds nothing to do.
    pub every: fn() -> Duration,
    /// Runs per wake-up at most while it keeps finding work, so that a SIGTERM is seen soon.
    pub burst: usize,
}

pub const JOBS: &[Job] = &[
    Job { name: "promote", run: promote_one, every: guc::worker_naptime, burst: 100 },
    Job { name: "heal", run: retry_due_ingest, every: guc::worker_naptime, burst: 10 },
    Job { name: "heal schema", run: heal_schema, every: ten_naptimes, burst: 1 },
    Job { name: "measure", run: measure_some, every: guc::worker_naptime, burst: 10 },
    Job { name: "record LLM calls", run: drain_llm_ledger, every: ten_naptimes, burst: 1 },
    Job { name: "record failures", run: drain_failure_spool, every: ten_naptimes, burst: 1 },
];

fn ten_naptimes() -> Duration {
    guc::worker_naptime() * 10
}

fn installed(probe: &str) -> bool {
    Spi::get_one::<bool>(probe).ok().flatten().unwrap_or(false)
}

/// One queued batch promoted (1), or nothing to do (0).
fn promote_one() -> i64 {
    // eai (0.3.0 or later) in this database; nothing to do otherwise.
    if !installed("SELECT to_regclass('eai.promotion_queue') IS NOT NULL") {
        return 0;
    }
    let promoted =
        Spi::get_one::<bool>("SELECT EXISTS (SELECT 1 FROM eai.promotion_queue) AND (SELECT count(*) FROM eai.promote_queued(NULL, 1)) > 0")
            .ok()
            .flatten()
            .unwrap_or(false);
    promoted as i64
}

/// One failed ingest whose retry is due taken again (1), or nothing due (0): `eai._retry_due_ingest`.
fn retry_due_ingest() -> i64 {
    if !installed("SELECT to_regprocedure('eai._retry_due_ingest()') IS NOT NULL") {
        return 0;
    }
    // -1: taken, and cancelled (a cancel request to the worker): one unit of work all the same.
    Spi::get_one::<i64>("SELECT eai._retry_due_ingest()").ok().flatten().unwrap_or(0).abs()
}

/// Schema changes of every pipeline's source acted on, and canaries judged (`eai._heal_drift`).
fn heal_schema() -> i64 {
    if !installed("SELECT to_regprocedure('eai._heal_drift(bigint)') IS NOT NULL") {
        return 0;
    }
    Spi::get_one::<i64>("SELECT coalesce(sum(eai._heal_drift(pipeline_id)), 0)::bigint FROM eai.pipelines WHERE enabled").ok().flatten().unwrap_or(0)
}

/// Batches of every pipeline's silver table measured (`eai.measure_batches`, a few per table).
fn measure_some() -> i64 {
    if !installed("SELECT to_regprocedure('eai.measure_batches(regclass,integer)') IS NOT NULL") {
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
fn drain_llm_ledger() -> i64 {
    if !installed(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('eai.llm_calls') AND attname = 'call_uuid' AND NOT attisdropped)",
    ) {
        return 0;
    }
    llm_ledger::drain(100) as i64
}

/// Failures whose transaction could not commit (a remote connection broken mid-read), recorded.
fn drain_failure_spool() -> i64 {
    if !installed(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('eai.failures') AND attname = 'spool_id' AND NOT attisdropped)",
    ) {
        return 0;
    }
    failure_spool::drain(100) as i64
}
