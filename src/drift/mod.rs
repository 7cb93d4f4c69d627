//! Schema drift healed under a contract (docs/healing.md), the glue: finds what changed between
//! a pipeline's source (its staging foreign table: the file's header, the remote table after
//! eai.refresh_source) and what the pipeline maps, gathers the evidence (sample values, profiles
//! and name embeddings, the batches where a column stopped and another started), asks eai-core
//! (`schema_drift`, `matching`) what to do under the pipeline's contract and the safeguards, and
//! applies, proposes or records it as a row of `eai.remediations`. A canary judges every applied
//! heal by the first batch promoted after it and reverts it when it made things worse.

use std::collections::HashSet;

use eai_core::matching::combine;
use eai_core::matching::features::ColumnFeatures;
use eai_core::names;
use eai_core::schema_drift::{self as sd, Apply, Change, Policy, Safeguards, TypeChange, Verdict};
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{json, Value};

use crate::catalog_write;
use crate::embed;
use crate::errors::{EaiError, OrReport};
use crate::guc;

mod canary;
mod detect;
mod remediation;
mod shape;

use canary::*;
use detect::*;
use remediation::*;
use shape::*;

/// Outcomes an action kind's success rate is taken over; failures on one target that stop it.
const SAFEGUARD_WINDOW: usize = 10;

const MAX_FAILURES_PER_TARGET: usize = 2;

pub(super) fn spi<T>(doing: &'static str, r: Result<T, pgrx::spi::Error>) -> T {
    r.map_err(|e| EaiError::catalog(doing, e)).or_report()
}

fn contract(pipeline: i64, change: Change) -> (Policy, Apply) {
    let set = spi(
        "read a drift contract",
        Spi::get_two_with_args::<String, String>(
            "SELECT c.policy, c.apply FROM (SELECT 1) one LEFT JOIN eai.drift_contracts c ON c.pipeline_id = $1 AND c.change = $2",
            &[pipeline.into(), change.as_str().into()],
        ),
    );
    match set {
        (Some(p), Some(a)) => (Policy::from_name(&p).unwrap_or(Policy::Evolve), Apply::from_name(&a).unwrap_or(Apply::Approve)),
        _ => sd::default_contract(change),
    }
}

fn safeguards() -> Safeguards {
    Safeguards {
        min_success_rate: guc::heal_min_success_rate(),
        window: SAFEGUARD_WINDOW,
        max_per_hour: guc::heal_max_actions_per_hour(),
        max_failures_per_target: MAX_FAILURES_PER_TARGET,
    }
}

fn safe(pipeline: i64, action: &str, silver: Option<&str>) -> Result<(), String> {
    let outcomes: Vec<bool> = spi(
        "read remediation outcomes",
        Spi::get_one_with_args::<Vec<bool>>(
            "SELECT array_agg(ok ORDER BY remediation_id DESC) FROM (
               SELECT remediation_id, canary = 'passed' AS ok FROM eai.remediations
                WHERE action = $1 AND decided_by LIKE 'eai%' AND (canary IN ('passed', 'failed') OR status = 'failed')
                ORDER BY remediation_id DESC LIMIT $2) r",
            &[action.into(), (SAFEGUARD_WINDOW as i64).into()],
        ),
    )
    .unwrap_or_default();
    let (on_target, last_hour) = spi(
        "count remediations",
        Spi::get_two_with_args::<i64, i64>(
            "SELECT count(*) FILTER (WHERE columns ->> 'silver' = $2 AND (canary = 'failed' OR status = 'failed')),
                    count(*) FILTER (WHERE decided_by LIKE 'eai%' AND applied_at > clock_timestamp() - interval '1 hour')
               FROM eai.remediations WHERE pipeline_id = $1",
            &[pipeline.into(), silver.into()],
        ),
    );
    sd::safeguard(&outcomes, on_target.unwrap_or(0) as usize, last_hour.unwrap_or(0) as usize, &safeguards())
}

/// One pass over a pipeline's schema: canaries judged, then every change not yet acted on
/// applied, proposed or recorded. Returns how many remediations it made or judged.
#[pg_extern]
fn _heal_drift(pipeline: i64) -> i64 {
    // One pass per pipeline at a time (the worker and eai.heal() may meet).
    let locked = Spi::get_one_with_args::<bool>("SELECT pg_try_advisory_xact_lock(25954, $1::int)", &[(pipeline as i32).into()]).ok().flatten();
    if locked != Some(true) {
        return 0;
    }
    let Some(s) = shape(pipeline) else { return 0 };
    let mut n = check_canaries(&s);
    for mut p in detect(&s) {
        let (policy, apply_how) = contract(s.id, p.change);
        // A discard_row / discard_value contract on a new or renamed column: the remediation
        // discards what the new name brings instead of mapping it.
        if let Some(discard) = sd::discard_action(p.change, policy) {
            p.action = discard;
        }
        let guard = safe(s.id, p.action, p.silver.as_deref());
        let mut verdict = match p.action {
            // Nothing to change in silver: the removal (or the narrower type) is recorded.
            "flag_removed_column" | "keep_type" => Verdict::Record(match p.action {
                "keep_type" => "silver keeps its type; values that no longer cast are quarantined".into(),
                _ => "silver keeps the column, NULL from now on".into(),
            }),
            _ => sd::verdict(p.change, policy, apply_how, p.confidence, guard),
        };
        if p.action == "add_column" && matches!(verdict, Verdict::Propose(_)) {
            verdict = Verdict::Propose("a new silver column changes what every reader of the table sees: a person approves it".into());
        }
        // A rename or a new column's match left to a person is also a pending mapping, where
        // reviewers decide mappings (eai.pending_mappings; deciding it there settles it).
        if matches!(verdict, Verdict::Propose(_)) && matches!(p.action, "map_column" | "remap_column") {
            if let (Some(bronze), Some(silver)) = (p.columns.get("bronze").and_then(|v| v.as_str()), p.silver.as_deref()) {
                let mapping = spi(
                    "list a proposal in eai.pending_mappings",
                    Spi::get_one_with_args::<i64>(
                        "SELECT eai._propose_mapping($1, $2, $3, $4, $5, $6)",
                        &[
                            s.id.into(),
                            bronze.into(),
                            silver.into(),
                            p.confidence.into(),
                            JsonB(p.evidence.get("signals").cloned().unwrap_or(Value::Null)).into(),
                            verdict.why().into(),
                        ],
                    ),
                );
                if let (Some(m), Value::Object(cols)) = (mapping, &mut p.columns) {
                    cols.insert("mapping_id".into(), json!(m));
                }
            }
        }
        let id = record(&s, &p, &verdict);
        n += 1;
        let col = |k: &str| p.columns.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string();
        match &verdict {
            Verdict::Apply(by) => {
                if let Err(e) = apply(id, by) {
                    set(id, json!({"status": "failed", "reason": e}));
                }
            }
            Verdict::Propose(why) => escalate(
                id,
                "schema_drift",
                "medium",
                &match p.action {
                    "remap_column" => format!(
                        "column {} of {} looks renamed to {}: feed silver column {} from it?",
                        col("old_bronze"),
                        s.name,
                        col("bronze"),
                        col("silver")
                    ),
                    "map_column" => format!("new column {} of {} could feed silver column {}", col("bronze"), s.name, col("silver")),
                    "add_column" => {
                        format!("new column {} of {} has no silver column: add {} ({})?", col("bronze"), s.name, col("silver"), col("silver_type"))
                    }
                    "widen_column" => format!("column {} of {} widened from {} to {}", col("bronze"), s.name, col("from_type"), col("to_type")),
                    "discard_rows" => format!("new column {} of {}: send the rows that carry it to quarantine (discard_row)?", col("bronze"), s.name),
                    "discard_values" => format!("new column {} of {}: leave its values out of silver (discard_value)?", col("bronze"), s.name),
                    _ => format!("a {} in {}", p.change.as_str().replace('_', " "), s.name),
                },
                why,
                // safe: text for a person to read (to_run), never run by eai; only an integer in it.
                &format!("SELECT * FROM eai.approve_remediation({id});"), // safe: an integer, in text for a person
            ),
            Verdict::Record(why) => {
                let key = p.silver.as_deref().is_some_and(|c| s.dedup_key.iter().any(|k| k == c))
                    || p.silver.as_deref().is_some_and(|c| not_null(s.silver, c));
                if p.action == "keep_type" || (p.action == "flag_removed_column" && key) || policy != Policy::Evolve || apply_how == Apply::Never {
                    escalate(
                        id,
                        "schema_drift",
                        if key { "high" } else { "medium" },
                        &match p.action {
                            "flag_removed_column" => format!(
                                "column {} of {} is gone; it fed silver column {}{}",
                                col("old_bronze"),
                                s.name,
                                col("silver"),
                                if key { ", a key or NOT NULL column" } else { "" }
                            ),
                            "keep_type" => format!(
                                "column {} of {} changed from {} to {}, which silver's type does not follow",
                                col("bronze"),
                                s.name,
                                col("from_type"),
                                col("to_type")
                            ),
                            _ => format!("a {} in {}, recorded only", p.change.as_str().replace('_', " "), s.name),
                        },
                        why,
                        "SELECT * FROM eai.remediations WHERE status = 'recorded' ORDER BY remediation_id DESC;",
                    );
                }
            }
        }
    }
    n
}

fn not_null(rel: pg_sys::Oid, column: &str) -> bool {
    Spi::get_one_with_args::<bool>("SELECT a.attnotnull FROM pg_attribute a WHERE a.attrelid = $1 AND a.attname = $2", &[rel.into(), column.into()])
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// May the session's role approve and revert (a superuser or an eai_engineer)?
fn require_engineer(doing: &str) {
    let ok = Spi::get_one::<bool>("SELECT pg_catalog.pg_has_role(eai._session_role(), 'eai_engineer', 'MEMBER') OR (SELECT rolsuper FROM pg_roles WHERE rolname = eai._session_role())")
        .ok()
        .flatten()
        .unwrap_or(false);
    if !ok {
        EaiError::NotAllowed(format!("only superusers and members of eai_engineer may {doing} remediations")).report();
    }
}

/// A person approves a proposed remediation: it is applied in their name (with the extension
/// owner's rights, since it alters silver and the catalog), and the canary judges it.
#[pg_extern]
fn _approve_remediation(id: i64) {
    require_engineer("approve");
    let role = catalog_write::session_role();
    catalog_write::as_owner(|_| {
        let status = load(id).map(|r| r.2);
        match status.as_deref() {
            Some("proposed") => {}
            Some(other) => EaiError::InvalidState(format!("remediation {id} is {other}, not proposed")).report(),
            None => EaiError::NotFound(format!("remediation {id} does not exist")).report(),
        }
        if let Err(e) = apply(id, &role) {
            EaiError::InvalidState(format!("remediation {id} could not be applied: {e}")).report();
        }
        // Its pending mapping, if it has one still pending, is decided with it.
        spi(
            "decide the proposal's pending mapping",
            Spi::run_with_args(
                "SELECT eai._record_decision(m.mapping_id, 'approved', m.target_column, 'approved as remediation ' || $1, $2::name)
                   FROM eai.remediations r JOIN eai.mappings m ON m.mapping_id = (r.columns ->> 'mapping_id')::bigint
                  WHERE r.remediation_id = $1 AND m.status = 'pending'",
                &[id.into(), role.as_str().into()],
            ),
        );
        spi(
            "close the proposal's escalation",
            Spi::run_with_args(
                "SELECT eai._resolve_escalations(ARRAY['schema_drift'], r.pipeline, NULL, 'resolved', 'approved by ' || $2, r.remediation_id)
                   FROM eai.remediations r WHERE r.remediation_id = $1",
                &[id.into(), role.as_str().into()],
            ),
        );
    })
}

/// A person reverts an applied remediation: the state before comes back.
#[pg_extern]
fn _revert_remediation(id: i64) {
    require_engineer("revert");
    let role = catalog_write::session_role();
    catalog_write::as_owner(|_| {
        if load(id).is_none() {
            EaiError::NotFound(format!("remediation {id} does not exist")).report();
        }
        if let Err(e) = revert(id, &role) {
            EaiError::InvalidState(format!("remediation {id} could not be reverted: {e}")).report();
        }
    })
}

/// The contract of a kind of change when a pipeline sets none.
#[pg_extern(immutable, strict, parallel_safe)]
fn _default_drift_contract(change: &str) -> TableIterator<'static, (name!(policy, String), name!(apply, String))> {
    let c = Change::from_name(change).ok_or_else(|| EaiError::InvalidParameter(format!("{change:?} is not a kind of schema change"))).or_report();
    let (p, a) = sd::default_contract(c);
    TableIterator::once((p.as_str().to_string(), a.as_str().to_string()))
}
