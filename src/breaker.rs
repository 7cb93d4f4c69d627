//! Circuit breakers as eai's work meets them (docs/healing.md): before an ingest of a source or an
//! LLM call to an endpoint, `admit` says whether to go on, to go on as the one probe of a breaker
//! whose open period is over, or not to try; after it, `record` feeds the outcome back. The state
//! machine is eai-core's (`breaker`); the state is a row of `eai.breakers`, written by
//! `eai._breaker_transition` only when it changes, so a closed breaker costs one read.

use std::time::{SystemTime, UNIX_EPOCH};

use eai_core::breaker::{self, Admission, State};
use pgrx::prelude::*;

use crate::catalog_write;
use crate::errors::{EaiError, OrReport};
use crate::guc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Source,
    Llm,
}

impl Scope {
    fn name(self) -> &'static str {
        match self {
            Scope::Source => "source",
            Scope::Llm => "llm",
        }
    }

    fn parse(name: &str) -> Scope {
        match name {
            "source" => Scope::Source,
            "llm" => Scope::Llm,
            other => EaiError::InvalidParameter(format!("{other:?} is not a breaker scope (source or llm)")).report(),
        }
    }

    /// The target's recent outcomes that count (true: a failure), most recent first: for a
    /// source, its ingest batches (a failure is one of class transient, resource or configuration;
    /// any other outcome reached the source); for an endpoint, its calls (unreachable or not).
    fn recent_sql(self) -> &'static str {
        match self {
            Scope::Source => {
                "SELECT array_agg(failed ORDER BY batch_id DESC) FROM (
                   SELECT batch_id, status = 'failed' AND error_class IN ('transient', 'resource', 'configuration') AS failed
                     FROM eai.batches WHERE source = $1 AND status IN ('succeeded', 'failed')
                    ORDER BY batch_id DESC LIMIT $2) r"
            }
            Scope::Llm => {
                "SELECT array_agg(failed ORDER BY call_id DESC) FROM (
                   SELECT call_id, outcome = 'unreachable' AS failed
                     FROM eai.llm_calls WHERE endpoint = $1 AND NOT cache_hit AND outcome IN ('ok', 'unreachable', 'invalid_answer', 'hallucinated')
                    ORDER BY call_id DESC LIMIT $2) r"
            }
        }
    }
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

fn state(scope: Scope, target: &str) -> State {
    let row = Spi::get_two_with_args::<String, f64>(
        "SELECT b.state, extract(epoch FROM b.probe_at)::float8 FROM (SELECT 1) one
           LEFT JOIN eai.breakers b ON b.scope = $1 AND b.target = $2",
        &[scope.name().into(), target.into()],
    )
    .map_err(|e| EaiError::catalog("read a circuit breaker", e))
    .or_report();
    match row {
        (Some(s), probe_at) if s == "open" => State::Open { probe_at: probe_at.unwrap_or(0.0) },
        (Some(s), _) if s == "half_open" => State::HalfOpen,
        _ => State::Closed,
    }
}

fn transition(scope: Scope, target: &str, from: State, to: State, reason: &str) -> bool {
    let probe_at = match to {
        State::Open { probe_at } => Some(probe_at),
        _ => None,
    };
    Spi::get_one_with_args::<bool>(
        "SELECT eai._breaker_transition($1, $2, $3, $4, to_timestamp($5), $6)",
        &[scope.name().into(), target.into(), from.name().into(), to.name().into(), probe_at.into(), reason.into()],
    )
    .map_err(|e| EaiError::catalog("change a circuit breaker", e))
    .or_report()
    .unwrap_or(false)
}

/// Whether work on `target` may go on now.
pub fn admit(scope: Scope, target: &str) -> Admission {
    catalog_write::as_owner(|_| {
        let current = state(scope, target);
        match breaker::admit(current, now()) {
            Admission::Probe => {
                if transition(scope, target, current, State::HalfOpen, "the open period is over: one probe goes through") {
                    Admission::Probe
                } else {
                    Admission::Refuse("its circuit breaker is half-open: another session's probe is under way".into())
                }
            }
            other => other,
        }
    })
}

/// Feeds an outcome back (`failed`: the target could not be reached or refused the work).
pub fn record(scope: Scope, target: &str, failed: bool) {
    catalog_write::as_owner(|_| {
        let current = state(scope, target);
        if current == State::Closed && !failed {
            return;
        }
        let settings = guc::breaker_settings();
        let window = settings.window.max(settings.consecutive_failures as usize).max(1) as i64;
        let recent = Spi::get_one_with_args::<Vec<bool>>(scope.recent_sql(), &[target.into(), window.into()])
            .map_err(|e| EaiError::catalog("read a target's recent outcomes", e))
            .or_report()
            .unwrap_or_default();
        if let Some(t) = breaker::after_outcome(current, failed, &recent, now(), &settings) {
            transition(scope, target, current, t.to, &t.reason);
        }
    })
}

/// `admit` for SQL (eai.ingest): allow, probe or refuse, with why for a refusal.
#[pg_extern(volatile)]
fn _breaker_admit(scope: &str, target: &str) -> TableIterator<'static, (name!(decision, String), name!(reason, Option<String>))> {
    let row = match admit(Scope::parse(scope), target) {
        Admission::Allow => ("allow".to_string(), None),
        Admission::Probe => ("probe".to_string(), None),
        Admission::Refuse(why) => ("refuse".to_string(), Some(why)),
    };
    TableIterator::once(row)
}

/// `record` for SQL (eai.ingest).
#[pg_extern(volatile)]
fn _breaker_record(scope: &str, target: &str, failed: bool) {
    record(Scope::parse(scope), target, failed)
}

/// Gives the probe of a half-open source its own timeout (eai.breaker_probe_timeout), by the
/// statement timeout's mechanism (`crate::deadline`): past it the probe is cancelled with 57014,
/// which the ingest records as a failed probe. False when no timeout was armed (the setting is 0).
#[pg_extern(volatile, parallel_unsafe)]
fn _arm_probe_timeout() -> bool {
    crate::deadline::arm(guc::breaker_probe_timeout_ms())
}

/// Ends the probe's own timeout and puts the statement's deadline back; true when the probe's
/// deadline had passed (its 57014 was the probe's timeout, not a cancel).
#[pg_extern(volatile, parallel_unsafe)]
fn _disarm_probe_timeout() -> bool {
    crate::deadline::disarm()
}
