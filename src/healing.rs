//! Self-healing glue (docs/healing.md): eai-core's retry policy as SQL asks it
//! (`eai._record_failure`), and the heal job's retry of a failed ingest, run as the role whose
//! ingest failed.

use eai_core::error_taxonomy::ErrorClass;
use eai_core::escalation::{self, Event};
use eai_core::retry_policy::{self, Decision};
use pgrx::prelude::*;

use crate::catalog_write;
use crate::errors::{EaiError, OrReport};
use crate::guc;

/// What to do after attempt `attempt` of work failed with an error of class `class`: retry after
/// `retry_after_s` seconds, or park it as a dead letter; `u` is a uniform random number in [0, 1)
/// for the jitter.
#[pg_extern(stable, strict, parallel_safe)]
fn _retry_decision(
    class: &str,
    attempt: i32,
    u: f64,
) -> TableIterator<'static, (name!(action, String), name!(retry_after_s, Option<f64>), name!(note, String))> {
    let class = ErrorClass::from_name(class).ok_or_else(|| EaiError::UnknownErrorClass(class.to_string())).or_report();
    let policies = guc::retry_policies();
    let attempt = attempt.max(1) as u32;
    let decision = retry_policy::decide(class, attempt, &policies, u);
    let row = match &decision {
        // The note is the same for every run (the wait before jitter), so logs and tests can
        // compare it; next_attempt_at has the exact time.
        Decision::RetryAfter(wait) => (
            decision.action().to_string(),
            Some(wait.as_secs_f64()),
            format!(
                "tried again within {} (attempt {} of at most {}, eai.retry_* settings)",
                retry_policy::in_words(policy_interval(class, attempt, &policies)),
                attempt + 1,
                policies.base.max_attempts
            ),
        ),
        Decision::Park(why) => (decision.action().to_string(), None, why.clone()),
    };
    TableIterator::once(row)
}

fn policy_interval(class: ErrorClass, attempt: u32, policies: &retry_policy::Policies) -> std::time::Duration {
    match class {
        ErrorClass::Resource | ErrorClass::Configuration => policies.long.interval(attempt),
        _ => policies.base.interval(attempt),
    }
}

/// Takes one failed ingest whose retry is due (`eai._take_due_ingest`) and ingests that table
/// again as the role whose ingest failed (after a schema-drift failure, the source is read again
/// and its pipelines heal first); 1 when it did, 0 when none was due. The ingest records
/// its own outcome (a new batch; a failure again is a new row of eai.failures with the next
/// attempt's time). -1 when that ingest was cancelled (57014: a statement timeout, a cancel
/// request): the caller's pass stops there.
#[pg_extern]
fn _retry_due_ingest() -> i64 {
    let due = Spi::connect(|c| {
        let mut rows = c.select("SELECT source, table_name, role, class FROM eai._take_due_ingest()", Some(1), &[])?;
        Ok::<_, pgrx::spi::Error>(match rows.next() {
            Some(r) => Some((r.get::<String>(1)?, r.get::<String>(2)?, r.get::<pg_sys::Oid>(3)?, r.get::<String>(4)?)),
            None => None,
        })
    })
    .map_err(|e| EaiError::catalog("take a due ingest retry", e))
    .or_report();
    let Some((Some(source), Some(table), Some(role), class)) = due else {
        return 0;
    };
    catalog_write::as_role(role, || {
        // The source's shape changed: read it again (a remote table's columns and types), and let
        // the pipelines on its table follow under their contracts, before the retry.
        if class.as_deref() == Some("schema_drift") {
            Spi::run_with_args("SELECT count(*) FROM eai.refresh_source($1)", &[source.as_str().into()])
                .and_then(|_| {
                    Spi::run_with_args(
                        "SELECT eai._heal_drift(p.pipeline_id) FROM eai.pipelines p JOIN eai.source_tables st
                             ON to_regclass(format('bronze.%I', st.bronze_table)) = p.source_relid::regclass
                          WHERE st.source = $1 AND st.table_name = $2",
                        &[source.as_str().into(), table.as_str().into()],
                    )
                })
                .map_err(|e| EaiError::catalog("read a drifted source again", e))
                .or_report();
        }
        let batch = Spi::get_one_with_args::<i64>("SELECT eai._ingest_table($1, $2)", &[source.as_str().into(), table.as_str().into()])
            .map_err(|e| EaiError::catalog("retry an ingest", e))
            .or_report();
        Spi::get_one_with_args::<bool>("SELECT error_sqlstate IS NOT DISTINCT FROM '57014' FROM eai.batches WHERE batch_id = $1", &[batch.into()])
            .map_err(|e| EaiError::catalog("read a retried batch", e))
            .or_report()
    })
    .map_or(1, |cancelled| if cancelled { -1 } else { 1 })
}

/// The escalation a failure (or, with class `breaker`, a breaker of scope `stage` opening)
/// raises: (kind, severity), or no row (eai_core::escalation).
#[pg_extern(immutable, strict, parallel_safe)]
fn _escalation_for(stage: &str, class: &str, action: &str, attempt: i32) -> TableIterator<'static, (name!(kind, String), name!(severity, String))> {
    let event = if class == "breaker" {
        Event::BreakerOpened { scope: stage }
    } else {
        let class = ErrorClass::from_name(class).ok_or_else(|| EaiError::UnknownErrorClass(class.to_string())).or_report();
        Event::Failure { stage, class, action, attempt }
    };
    TableIterator::new(escalation::escalation(event).map(|(k, s)| (k.to_string(), s.as_str().to_string())))
}
