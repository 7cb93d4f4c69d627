//! A remediation's row (its one writer is `eai._remediation_write`), applying it and reverting it.

use super::*;

/// Records a remediation; returns its id.
pub(super) fn record(s: &Shape, p: &Proposal, verdict: &Verdict) -> i64 {
    let status = if matches!(verdict, Verdict::Apply(_)) { "proposed" } else { verdict.status() };
    let decided = match verdict {
        Verdict::Apply(by) => Some(by.clone()),
        _ => None,
    };
    spi(
        "record a remediation",
        Spi::get_one_with_args::<i64>(
            "SELECT (eai._remediation_write(NULL, ROW(NULL, NULL, $1, $2, $3, $4, $5, $6, NULL, NULL, NULL, $7, $8, $9,
                                                  NULL, NULL, NULL, NULL, NULL, NULL, NULL, $10)::eai.remediations)).remediation_id",
            &[
                s.id.into(),
                s.name.as_str().into(),
                p.change.as_str().into(),
                p.action.into(),
                JsonB(p.columns.clone()).into(),
                JsonB(p.evidence.clone()).into(),
                status.into(),
                decided.into(),
                verdict.why().into(),
                s.bronze.into(),
            ],
        ),
    )
    .unwrap_or(0)
}

pub(super) fn set(id: i64, changes: Value) {
    spi("update a remediation", Spi::run_with_args("SELECT eai._remediation_write($1, NULL, $2)", &[id.into(), JsonB(changes).into()]));
}

/// Escalates a remediation: `kind` schema_drift (a proposal, a change recorded only) or
/// remediation_failed (the canary reverted it).
pub(super) fn escalate(id: i64, kind: &str, severity: &str, what: &str, why: &str, to_run: &str) {
    let e = spi(
        "escalate a remediation",
        Spi::get_one_with_args::<i64>(
            "SELECT (eai._escalate($6, $2, 'promotion', r.pipeline, $3, $4,
                                   'SELECT * FROM eai.remediations WHERE remediation_id = ' || r.remediation_id || '; shows the evidence.',
                                   r.reason, $5, NULL, r.pipeline_id, NULL, r.relid, r.remediation_id)).escalation_id
               FROM eai.remediations r WHERE r.remediation_id = $1",
            &[id.into(), severity.into(), what.into(), why.into(), to_run.into(), kind.into()],
        ),
    );
    if let Some(e) = e {
        set(id, json!({"escalation_id": e}));
    }
}

/// The columns of a remediation.
pub(super) struct Cols {
    pub(super) bronze: Option<String>,
    pub(super) old_bronze: Option<String>,
    pub(super) silver: Option<String>,
    pub(super) from_type: Option<String>,
    pub(super) to_type: Option<String>,
    pub(super) silver_type: Option<String>,
}

pub(super) fn load(id: i64) -> Option<(i64, String, String, Cols, Option<Value>)> {
    Spi::connect(|c| {
        let mut it =
            c.select("SELECT pipeline_id, action, status, columns, before FROM eai.remediations WHERE remediation_id = $1", Some(1), &[id.into()])?;
        Ok::<_, pgrx::spi::Error>(it.next().map(|r| {
            let cols: Value = r.get::<JsonB>(4).ok().flatten().map(|j| j.0).unwrap_or(Value::Null);
            let g = |k: &str| cols.get(k).and_then(|v| v.as_str()).map(str::to_string);
            (
                r.get::<i64>(1).ok().flatten().unwrap_or(0),
                r.get::<String>(2).ok().flatten().unwrap_or_default(),
                r.get::<String>(3).ok().flatten().unwrap_or_default(),
                Cols {
                    bronze: g("bronze"),
                    old_bronze: g("old_bronze"),
                    silver: g("silver"),
                    from_type: g("from_type"),
                    to_type: g("to_type"),
                    silver_type: g("silver_type"),
                },
                r.get::<JsonB>(5).ok().flatten().map(|j| j.0),
            )
        }))
    })
    .ok()
    .flatten()
}

/// Applies a remediation (proposed or just recorded as such); the canary then waits for the
/// next batch.
pub(super) fn apply(id: i64, decided_by: &str) -> Result<(), String> {
    let (pipeline, action, _, c, _) = load(id).ok_or_else(|| format!("remediation {id} does not exist"))?;
    let s = shape_any(pipeline).ok_or_else(|| format!("pipeline {pipeline} no longer exists"))?;
    let before_quality = quality(s.silver);
    let last_promotion = Spi::get_one_with_args::<i64>("SELECT max(promotion_id) FROM eai.promotions WHERE pipeline_id = $1", &[pipeline.into()])
        .ok()
        .flatten()
        .unwrap_or(0);
    let reason = format!("remediation {id} ({action}), approved by {decided_by}");
    let (before, after, undo) = match action.as_str() {
        "map_column" | "remap_column" | "add_column" => {
            let silver = c.silver.clone().ok_or("no silver column")?;
            let bronze = c.bronze.clone().ok_or("no bronze column")?;
            if action == "add_column" {
                let ty = c.silver_type.clone().unwrap_or_else(|| "text".into());
                spi(
                    "add a silver column",
                    Spi::run_with_args("SELECT eai._add_silver_column($1, $2, $3)", &[pipeline.into(), silver.as_str().into(), ty.into()]),
                );
            }
            let r = spi(
                "set a column's source",
                Spi::get_one_with_args::<JsonB>(
                    "SELECT eai._set_column_source($1, $2, $3, $3, $4, $5)",
                    &[pipeline.into(), silver.as_str().into(), bronze.as_str().into(), decided_by.into(), reason.as_str().into()],
                ),
            )
            .map(|j| j.0)
            .unwrap_or(Value::Null);
            let undo = format!(
                "{silver} fed from {} again (a new mapping version), the silver rows with a value in {bronze} rewritten from bronze and {bronze} kept in _eai_extra{}",
                c.old_bronze.as_deref().unwrap_or("no column"),
                if action == "add_column" { format!("; column {silver} dropped") } else { String::new() }
            );
            (r["before"].clone(), r, undo)
        }
        "widen_column" => {
            let bronze = c.bronze.clone().ok_or("no bronze column")?;
            let to = c.to_type.clone().ok_or("no type")?;
            spi(
                "widen a bronze column",
                Spi::run_with_args("SELECT eai._alter_column_type($1, $2, $3)", &[s.bronze.into(), bronze.as_str().into(), to.as_str().into()]),
            );
            let mut silver_widened = false;
            if let (Some(silver), Some(st)) = (&c.silver, &c.silver_type) {
                if sd::type_change(st, &to) == TypeChange::Widened {
                    spi(
                        "widen a silver column",
                        Spi::run_with_args(
                            "SELECT eai._alter_column_type($1, $2, $3)",
                            &[s.silver.into(), silver.as_str().into(), to.as_str().into()],
                        ),
                    );
                    silver_widened = true;
                }
            }
            (
                json!({"bronze_type": c.from_type, "silver_type": c.silver_type}),
                json!({"bronze_type": to, "silver_type": if silver_widened { Some(to.clone()) } else { c.silver_type.clone() }}),
                format!(
                    "{bronze} back to {} in bronze{}; fails if a value no longer fits",
                    c.from_type.as_deref().unwrap_or("?"),
                    if silver_widened { " and silver" } else { "" }
                ),
            )
        }
        "discard_rows" | "discard_values" => {
            let bronze = c.bronze.clone().ok_or("no bronze column")?;
            let mode = if action == "discard_rows" { "row" } else { "value" };
            spi(
                "discard a column",
                Spi::run_with_args("SELECT eai._set_discard($1, $2, $3, $4)", &[pipeline.into(), bronze.as_str().into(), mode.into(), id.into()]),
            );
            (
                json!({"discard": null}),
                json!({"discard": mode, "bronze_column": bronze}),
                if mode == "value" {
                    format!("{bronze} no longer discarded: its values back in _eai_extra from bronze, and from the next promotion on")
                } else {
                    format!("{bronze} no longer discarded: from the next promotion on, its rows are promoted again")
                },
            )
        }
        other => return Err(format!("a {other} remediation changes nothing to apply")),
    };
    let mut before = before;
    if let Value::Object(m) = &mut before {
        m.insert("quality".into(), json!(before_quality));
    }
    // A discard quarantines or drops by design: no canary judges it by its quarantine share.
    let canary = if action.starts_with("discard_") { Value::Null } else { json!("pending") };
    set(
        id,
        json!({"status": "applied", "decided_by": decided_by, "applied": true, "after_promotion": last_promotion, "canary": canary,
               "before": before, "after": after, "undo": undo}),
    );
    // The values filled from bronze are judged at once against the expectations; the canary
    // judges the next batch.
    if matches!(action.as_str(), "map_column" | "remap_column" | "add_column") {
        if let Err(why) = sd::backfill_check(before_quality, quality(s.silver), guc::canary_max_drop()) {
            let reverted = revert(id, "eai (backfill check)");
            set(id, json!({"canary": "failed", "canary_detail": why}));
            escalate(
                id,
                "remediation_failed",
                "high",
                &format!("remediation {id} of pipeline {} filled silver with values that break its expectations, and was reverted", s.name),
                &match reverted {
                    Ok(()) => why.clone(),
                    Err(e) => format!("{why}; the revert failed: {e}"),
                },
                // safe: text for a person to read (to_run), never run by eai; only an integer in it.
                &format!("SELECT * FROM eai.remediations WHERE remediation_id = {id};"), // safe: an integer, in text for a person
            );
        }
    }
    Ok(())
}

/// Restores the state before an applied remediation.
pub(super) fn revert(id: i64, by: &str) -> Result<(), String> {
    let (pipeline, action, status, c, before) = load(id).ok_or_else(|| format!("remediation {id} does not exist"))?;
    if status != "applied" {
        return Err(format!("remediation {id} is {status}, not applied"));
    }
    let s = shape_any(pipeline).ok_or_else(|| format!("pipeline {pipeline} no longer exists"))?;
    let before = before.unwrap_or(Value::Null);
    match action.as_str() {
        "map_column" | "remap_column" | "add_column" => {
            let silver = c.silver.clone().ok_or("no silver column")?;
            let bronze = c.bronze.clone().ok_or("no bronze column")?;
            let old = before.get("source_column").and_then(|v| v.as_str()).map(str::to_string);
            let reason = format!("remediation {id} reverted by {by}");
            spi(
                "set a column's source back",
                Spi::get_one_with_args::<JsonB>(
                    "SELECT eai._set_column_source($1, $2, $3, $4, $5, $6)",
                    &[pipeline.into(), silver.as_str().into(), old.into(), bronze.as_str().into(), by.into(), reason.as_str().into()],
                ),
            );
            if action == "add_column" {
                spi("drop a silver column", Spi::run_with_args("SELECT eai._drop_silver_column($1, $2)", &[pipeline.into(), silver.as_str().into()]));
            }
        }
        "widen_column" => {
            let bronze = c.bronze.clone().ok_or("no bronze column")?;
            if let (Some(silver), Some(st)) = (&c.silver, before.get("silver_type").and_then(|v| v.as_str())) {
                spi(
                    "narrow a silver column back",
                    Spi::run_with_args("SELECT eai._alter_column_type($1, $2, $3)", &[s.silver.into(), silver.as_str().into(), st.into()]),
                );
            }
            if let Some(bt) = before.get("bronze_type").and_then(|v| v.as_str()) {
                spi(
                    "narrow a bronze column back",
                    Spi::run_with_args("SELECT eai._alter_column_type($1, $2, $3)", &[s.bronze.into(), bronze.as_str().into(), bt.into()]),
                );
            }
        }
        "discard_rows" | "discard_values" => {
            let bronze = c.bronze.clone().ok_or("no bronze column")?;
            spi(
                "stop discarding a column",
                Spi::run_with_args("SELECT eai._set_discard($1, $2, NULL, $3)", &[pipeline.into(), bronze.as_str().into(), id.into()]),
            );
        }
        other => return Err(format!("a {other} remediation changed nothing to revert")),
    }
    set(id, json!({"status": "reverted", "reverted_by": by}));
    Ok(())
}
