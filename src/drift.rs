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

/// Values read per column as evidence.
const SAMPLE: i64 = 500;
/// Outcomes an action kind's success rate is taken over; failures on one target that stop it.
const SAFEGUARD_WINDOW: usize = 10;
const MAX_FAILURES_PER_TARGET: usize = 2;

fn spi<T>(doing: &'static str, r: Result<T, pgrx::spi::Error>) -> T {
    r.map_err(|e| EaiError::catalog(doing, e)).or_report()
}

struct Shape {
    id: i64,
    name: String,
    bronze: pg_sys::Oid,
    silver: pg_sys::Oid,
    dedup_key: Vec<String>,
    foreign: pg_sys::Oid,
}

#[derive(Debug, Clone)]
struct Col {
    name: String,
    ty: String,
}

/// A pipeline, with the staging foreign table its bronze table is ingested from (`foreign`:
/// None for a bronze table no source feeds), whether it is enabled and its silver table exists.
fn pipeline_shape(pipeline: i64) -> Option<(Shape, Option<pg_sys::Oid>, bool)> {
    Spi::connect(|c| {
        let mut rows = c.select(
            "SELECT p.name, p.source_relid, p.target_relid, p.dedup_key,
                    to_regclass(format('%I.%I', s.staging_schema, st.foreign_table))::oid,
                    p.enabled AND to_regclass(p.target_table) IS NOT NULL
               FROM eai.pipelines p
               LEFT JOIN eai.source_tables st ON to_regclass(format('bronze.%I', st.bronze_table)) = p.source_relid::regclass
               LEFT JOIN eai.sources s ON s.source = st.source
              WHERE p.pipeline_id = $1",
            Some(1),
            &[pipeline.into()],
        )?;
        Ok::<_, pgrx::spi::Error>(rows.next().map(|r| {
            let foreign: Option<pg_sys::Oid> = r.get(5).ok().flatten();
            let shape = Shape {
                id: pipeline,
                name: r.get(1).ok().flatten().unwrap_or_default(),
                bronze: r.get(2).ok().flatten().unwrap_or(pg_sys::InvalidOid),
                silver: r.get(3).ok().flatten().unwrap_or(pg_sys::InvalidOid),
                dedup_key: r.get(4).ok().flatten().unwrap_or_default(),
                foreign: foreign.unwrap_or(pg_sys::InvalidOid),
            };
            (shape, foreign, r.get::<bool>(6).ok().flatten().unwrap_or(false))
        }))
    })
    .ok()
    .flatten()
}

/// The pipeline whose source is watched for drift: enabled, its silver table there, its bronze
/// table fed by a source.
fn shape(pipeline: i64) -> Option<Shape> {
    pipeline_shape(pipeline).filter(|(_, foreign, live)| foreign.is_some() && *live).map(|(s, _, _)| s)
}

/// Any pipeline (applying and reverting need no foreign table).
fn shape_any(pipeline: i64) -> Option<Shape> {
    pipeline_shape(pipeline).map(|(s, _, _)| s)
}

fn columns(rel: pg_sys::Oid) -> Vec<Col> {
    spi(
        "read a table's columns",
        Spi::connect(|c| {
            c.select(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                  WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attname NOT LIKE '\\_eai\\_%' ORDER BY a.attnum",
                None,
                &[rel.into()],
            )?
            .map(|r| Ok(Col { name: r.get(1)?.unwrap_or_default(), ty: r.get(2)?.unwrap_or_default() }))
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        }),
    )
}

/// (silver column, bronze column feeding it, silver type).
fn mapped(pipeline: i64) -> Vec<(String, Option<String>, String)> {
    spi(
        "read a pipeline's columns",
        Spi::connect(|c| {
            c.select(
                "SELECT pc.target_column, pc.source_column, format_type(a.atttypid, a.atttypmod)
                   FROM eai.pipeline_columns pc JOIN eai.pipelines p USING (pipeline_id)
                   JOIN pg_attribute a ON a.attrelid = p.target_relid AND a.attname = pc.target_column AND NOT a.attisdropped
                  WHERE pc.pipeline_id = $1 ORDER BY a.attnum",
                None,
                &[pipeline.into()],
            )?
            .map(|r| Ok((r.get(1)?.unwrap_or_default(), r.get(2)?, r.get(3)?.unwrap_or_default())))
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        }),
    )
}

/// What remediations already speak for (proposed, applied, recorded, or reverted: a reverted heal
/// is not proposed again): `new:<column>` for a column that arrived, `gone:<column>` for one that
/// went, and `type:<column>:<type>` for a type change. Each change is acted on once. A name's
/// `new` and `gone` hold only until a later remediation says the opposite of it: a column that
/// went and came back (renamed back) may go again, and a name that arrived, went and returns is
/// new again.
fn handled(pipeline: i64) -> HashSet<String> {
    spi(
        "read a pipeline's remediations",
        Spi::connect(|c| {
            c.select(
                "WITH v AS (
                   SELECT r.remediation_id AS id, x.kind, x.name, x.ty FROM eai.remediations r,
                          LATERAL (SELECT 'type' AS kind, r.columns ->> 'bronze' AS name, r.columns ->> 'to_type' AS ty
                                    WHERE r.change IN ('widened_type', 'narrowed_type')
                                   UNION ALL
                                   SELECT 'new', r.columns ->> 'bronze', NULL WHERE r.change NOT IN ('widened_type', 'narrowed_type')
                                   UNION ALL
                                   SELECT 'gone', r.columns ->> 'old_bronze', NULL WHERE r.change NOT IN ('widened_type', 'narrowed_type')) x
                    WHERE r.pipeline_id = $1 AND r.status IN ('proposed', 'applied', 'recorded', 'reverted') AND x.name IS NOT NULL)
                 SELECT DISTINCT CASE v.kind WHEN 'type' THEN 'type:' || v.name || ':' || v.ty ELSE v.kind || ':' || v.name END
                   FROM v
                  WHERE v.kind = 'type'
                     OR NOT EXISTS (SELECT 1 FROM v w WHERE w.name = v.name AND w.id > v.id
                                       AND w.kind = CASE v.kind WHEN 'new' THEN 'gone' ELSE 'new' END)",
                None,
                &[pipeline.into()],
            )?
            .map(|r| Ok(r.get::<String>(1)?.unwrap_or_default()))
            .collect::<Result<HashSet<_>, pgrx::spi::Error>>()
        }),
    )
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

/// Non-null values of a column, the latest batches first (bronze) or any (silver).
fn samples(rel: pg_sys::Oid, column: &str, latest_first: bool) -> Vec<Option<String>> {
    let order = if latest_first { "ORDER BY _eai_batch DESC" } else { "" };
    let sql = spi(
        "build a sample query",
        Spi::get_one_with_args::<String>(
            "SELECT format('SELECT %I::text FROM %s WHERE %I IS NOT NULL ', $2::text, $1::regclass, $2::text)",
            &[rel.into(), column.into()],
        ),
    )
    .unwrap_or_default();
    // safe: the query is built by format() with %I and the regclass; the order and limit are ours.
    let sql = format!("{sql}{order} LIMIT {SAMPLE}");
    spi("read sample values", Spi::connect(|c| c.select(&sql, None, &[])?.map(|r| r.get::<String>(1)).collect::<Result<Vec<_>, pgrx::spi::Error>>()))
}

/// (first, last) bronze batch in which a column holds a value.
fn batch_span(bronze: pg_sys::Oid, column: &str) -> (Option<i64>, Option<i64>) {
    // The start is that of the latest run of batches holding a value: a name that comes back (a
    // column renamed back) starts again where it came back, not at its first life.
    let sql = spi(
        "build a batch query",
        Spi::get_one_with_args::<String>(
            "SELECT format('WITH b AS (SELECT _eai_batch, bool_or(%2$I IS NOT NULL) AS has FROM %1$s GROUP BY _eai_batch),
                                 last AS (SELECT max(_eai_batch) AS l FROM b WHERE has)
                            SELECT (SELECT min(b._eai_batch) FROM b, last WHERE b.has AND b._eai_batch > coalesce(
                                       (SELECT max(x._eai_batch) FROM b x WHERE NOT x.has AND x._eai_batch < last.l), 0)),
                                   (SELECT l FROM last)', $1::regclass, $2::text)",
            &[bronze.into(), column.into()],
        ),
    )
    .unwrap_or_default();
    spi("read batches", Spi::get_two::<i64, i64>(&sql))
}

/// Whether a column holds a value in the table's latest batch (through the `_eai_batch` index:
/// a pass every few seconds never scans a whole bronze table for a column that stays empty).
fn in_latest_batch(bronze: pg_sys::Oid, column: &str) -> bool {
    let sql = spi(
        "build a latest-batch query",
        Spi::get_one_with_args::<String>(
            "SELECT format('SELECT EXISTS (SELECT 1 FROM %1$s WHERE _eai_batch = (SELECT max(_eai_batch) FROM %1$s) AND %2$I IS NOT NULL)',
                           $1::regclass, $2::text)",
            &[bronze.into(), column.into()],
        ),
    )
    .unwrap_or_default();
    spi("read the latest batch", Spi::get_one::<bool>(&sql)).unwrap_or(false)
}

fn features(name: &str, declared: Option<&str>, values: &[Option<String>]) -> ColumnFeatures {
    let refs: Vec<Option<&str>> = values.iter().map(|v| v.as_deref()).collect();
    let (_, f) = ColumnFeatures::from_values(name, declared, &refs);
    let text = names::embedding_text(name, None);
    match embed::embed_texts(&[text.as_str()]).into_iter().next() {
        Some(e) => f.with_embedding(e),
        None => f,
    }
}

fn evidence(sig: &combine::Signals, score: f64, confidence: f64) -> Value {
    json!({"signals": sig, "score": (score * 1000.0).round() / 1000.0, "confidence": (confidence * 1000.0).round() / 1000.0})
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

struct Proposal {
    change: Change,
    action: &'static str,
    columns: Value,
    evidence: Value,
    confidence: Option<f64>,
    silver: Option<String>,
}

/// What the pipeline's source changed, not yet acted on.
fn detect(s: &Shape) -> Vec<Proposal> {
    let bronze = columns(s.bronze);
    let source = columns(s.foreign);
    let map = mapped(s.id);
    let done = handled(s.id);
    let in_source = |n: &str| source.iter().find(|c| c.name == n);
    let fed: HashSet<&str> = map.iter().filter_map(|m| m.1.as_deref()).collect();
    let mut out = Vec::new();
    // Types: a typed source (a remote table) whose column's type changed.
    for b in &bronze {
        let Some(now) = in_source(&b.name) else { continue };
        if done.contains(&format!("type:{}:{}", b.name, now.ty)) || now.ty == b.ty {
            continue;
        }
        let silver = map.iter().find(|m| m.1.as_deref() == Some(b.name.as_str()));
        let (change, action) = match sd::type_change(&b.ty, &now.ty) {
            TypeChange::Same => continue,
            TypeChange::Widened => (Change::WidenedType, "widen_column"),
            TypeChange::Narrowed | TypeChange::Incompatible => (Change::NarrowedType, "keep_type"),
        };
        out.push(Proposal {
            change,
            action,
            columns: json!({"bronze": b.name, "silver": silver.map(|m| &m.0), "from_type": b.ty, "to_type": now.ty,
                            "silver_type": silver.map(|m| &m.2)}),
            evidence: json!({"bronze_type": b.ty, "source_type": now.ty}),
            confidence: None,
            silver: silver.map(|m| m.0.clone()),
        });
    }
    // Columns gone from the source that fed silver, and new ones with values. While the source
    // has columns bronze has not received yet (the ingest after a change comes next), a column
    // gone may be one of them renamed: it is judged once they have landed.
    let arriving = source.iter().any(|c| !bronze.iter().any(|b| b.name == c.name));
    let gone: Vec<&(String, Option<String>, String)> = map
        .iter()
        .filter(|m| {
            m.1.as_deref().is_some_and(|c| in_source(c).is_none() && !done.contains(&format!("gone:{c}")) && bronze.iter().any(|b| b.name == c))
        })
        .filter(|_| !arriving)
        .collect();
    let mut new: Vec<&Col> = bronze
        .iter()
        .filter(|b| in_source(&b.name).is_some() && !fed.contains(b.name.as_str()) && !done.contains(&format!("new:{}", b.name)))
        .filter(|b| in_latest_batch(s.bronze, &b.name))
        .collect();
    let new_features: Vec<(ColumnFeatures, (Option<i64>, Option<i64>))> =
        new.iter().map(|b| (features(&b.name, None, &samples(s.bronze, &b.name, true)), batch_span(s.bronze, &b.name))).collect();
    let mut taken: HashSet<usize> = HashSet::new();
    for (silver, old, _) in gone {
        let old = old.as_deref().unwrap_or_default();
        let old_f = features(old, None, &samples(s.bronze, old, true));
        let old_last = batch_span(s.bronze, old).1;
        let mut scored: Vec<(usize, f64, combine::Signals)> = new_features
            .iter()
            .enumerate()
            .filter(|(i, _)| !taken.contains(i))
            .map(|(i, (f, _))| {
                let sig = combine::signals(&old_f, f, None);
                (i, sd::rename_score(&sig), sig)
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        let rename = scored.first().map(|&(i, score, sig)| {
            let runner_up = scored.get(1).map(|x| x.1).unwrap_or(0.0);
            let (first_new, _) = new_features[i].1;
            let together = matches!((old_last, first_new), (Some(l), Some(f)) if l < f);
            let same_family = old_f.type_family == new_features[i].0.type_family;
            (i, sd::rename_confidence(score, runner_up, same_family, together), score, sig, together)
        });
        match rename {
            Some((i, confidence, score, sig, together)) if confidence >= sd::RENAME_MIN => {
                taken.insert(i);
                let mut ev = evidence(&sig, score, confidence);
                ev["stopped_when_the_new_one_started"] = json!(together);
                out.push(Proposal {
                    change: Change::RenamedColumn,
                    action: "remap_column",
                    columns: json!({"bronze": new[i].name, "old_bronze": old, "silver": silver}),
                    evidence: ev,
                    confidence: Some(confidence),
                    silver: Some(silver.clone()),
                });
            }
            _ => out.push(Proposal {
                change: Change::RemovedColumn,
                action: "flag_removed_column",
                columns: json!({"old_bronze": old, "silver": silver}),
                evidence: json!({"best_rename_confidence": rename.map(|r| (r.1 * 1000.0).round() / 1000.0)}),
                confidence: None,
                silver: Some(silver.clone()),
            }),
        }
    }
    // New columns: an unmapped silver column they match, or a new silver column.
    let free: Vec<&(String, Option<String>, String)> = map.iter().filter(|m| m.1.is_none()).collect();
    let free_features: Vec<ColumnFeatures> = free.iter().map(|m| features(&m.0, Some(&m.2), &samples(s.silver, &m.0, false))).collect();
    let mut used_free: HashSet<usize> = HashSet::new();
    for (i, b) in new.drain(..).enumerate() {
        if taken.contains(&i) {
            continue;
        }
        let f = &new_features[i].0;
        let mut scored: Vec<(usize, f64, combine::Signals)> = free_features
            .iter()
            .enumerate()
            .filter(|(j, _)| !used_free.contains(j))
            .map(|(j, t)| {
                let sig = combine::signals(f, t, None);
                (j, combine::score(&sig), sig)
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        let best = scored.first().map(|&(j, score, sig)| {
            let runner_up = scored.get(1).map(|x| x.1).unwrap_or(0.0);
            (j, score, combine::confidence(score, runner_up, &sig), sig)
        });
        match best {
            Some((j, score, confidence, sig)) if confidence >= sd::RENAME_MIN => {
                used_free.insert(j);
                out.push(Proposal {
                    change: Change::NewColumn,
                    action: "map_column",
                    columns: json!({"bronze": b.name, "silver": free[j].0}),
                    evidence: evidence(&sig, score, confidence),
                    confidence: Some(confidence),
                    silver: Some(free[j].0.clone()),
                });
            }
            _ => out.push(Proposal {
                change: Change::NewColumn,
                action: "add_column",
                columns: json!({"bronze": b.name, "silver": silver_name(s, &b.name), "silver_type": silver_type_of(f)}),
                evidence: json!({"inferred_type": f.type_family, "best_unmapped_match": best.map(|x| (x.2 * 1000.0).round() / 1000.0)}),
                // A new silver column is a new shape for every reader: a person approves it.
                confidence: Some(0.0),
                silver: None,
            }),
        }
    }
    out
}

fn silver_name(s: &Shape, bronze_column: &str) -> String {
    let taken: Vec<String> = columns(s.silver).into_iter().map(|c| c.name).collect();
    let base = eai_core::ident::silver_column_names(&[(bronze_column.to_string(), 1)]).into_iter().next().unwrap_or_else(|| "column".into());
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

fn silver_type_of(f: &ColumnFeatures) -> &'static str {
    match f.type_family.as_str() {
        "integer" => "bigint",
        "numeric" => "numeric",
        "boolean" => "boolean",
        "date" => "date",
        "timestamp" => "timestamp with time zone",
        "uuid" => "uuid",
        "json" => "jsonb",
        _ => "text",
    }
}

/// Records a remediation; returns its id.
fn record(s: &Shape, p: &Proposal, verdict: &Verdict) -> i64 {
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

fn set(id: i64, changes: Value) {
    spi("update a remediation", Spi::run_with_args("SELECT eai._remediation_write($1, NULL, $2)", &[id.into(), JsonB(changes).into()]));
}

/// Escalates a remediation: `kind` schema_drift (a proposal, a change recorded only) or
/// remediation_failed (the canary reverted it).
fn escalate(id: i64, kind: &str, severity: &str, what: &str, why: &str, to_run: &str) {
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
struct Cols {
    bronze: Option<String>,
    old_bronze: Option<String>,
    silver: Option<String>,
    from_type: Option<String>,
    to_type: Option<String>,
    silver_type: Option<String>,
}

fn load(id: i64) -> Option<(i64, String, String, Cols, Option<Value>)> {
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

fn quality(silver: pg_sys::Oid) -> Option<f64> {
    Spi::get_one_with_args::<f64>(
        "SELECT avg(q.score)::float8 FROM eai.quality_score($1::regclass) q WHERE q.dimension = 'validity'",
        &[silver.into()],
    )
    .ok()
    .flatten()
}

/// Applies a remediation (proposed or just recorded as such); the canary then waits for the
/// next batch.
fn apply(id: i64, decided_by: &str) -> Result<(), String> {
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
                &format!("SELECT * FROM eai.remediations WHERE remediation_id = {id};"),
            );
        }
    }
    Ok(())
}

/// Restores the state before an applied remediation.
fn revert(id: i64, by: &str) -> Result<(), String> {
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

/// Judges applied heals by the first batch promoted after them.
fn check_canaries(s: &Shape) -> i64 {
    let pending: Vec<(i64, i64, Option<f64>)> = spi(
        "read pending canaries",
        Spi::connect(|c| {
            c.select(
                "SELECT remediation_id, after_promotion, (before ->> 'quality')::float8 FROM eai.remediations
                  WHERE pipeline_id = $1 AND status = 'applied' AND canary = 'pending' ORDER BY remediation_id",
                None,
                &[s.id.into()],
            )?
            .map(|r| Ok((r.get(1)?.unwrap_or(0), r.get(2)?.unwrap_or(0), r.get(3)?)))
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        }),
    );
    let mut judged = 0;
    for (id, after, quality_before) in pending {
        let first = spi(
            "read the first promotion after a heal",
            Spi::get_two_with_args::<i64, i64>(
                "SELECT p.rows_read, p.rows_quarantined FROM (SELECT 1) one LEFT JOIN LATERAL (
                   SELECT rows_read, rows_quarantined FROM eai.promotions WHERE pipeline_id = $1 AND promotion_id > $2 AND rows_read > 0
                    ORDER BY promotion_id LIMIT 1) p ON true",
                &[s.id.into(), after.into()],
            ),
        );
        let (Some(read), Some(quarantined)) = first else { continue };
        let baseline = spi(
            "read the usual quarantine share",
            Spi::get_one_with_args::<f64>(
                "SELECT coalesce(avg(rows_quarantined::float8 / rows_read), 0)::float8 FROM (
                   SELECT rows_read, rows_quarantined FROM eai.promotions WHERE pipeline_id = $1 AND promotion_id <= $2 AND rows_read > 0
                    ORDER BY promotion_id DESC LIMIT 5) p",
                &[s.id.into(), after.into()],
            ),
        )
        .unwrap_or(0.0);
        let observed = quarantined as f64 / read.max(1) as f64;
        judged += 1;
        match sd::canary(baseline, observed, quality_before, quality(s.silver), guc::canary_max_drop()) {
            Ok(detail) => set(id, json!({"canary": "passed", "canary_detail": detail})),
            Err(why) => {
                let reverted = revert(id, "eai (canary)");
                set(id, json!({"canary": "failed", "canary_detail": why}));
                escalate(
                    id,
                    "remediation_failed",
                    "high",
                    &format!("remediation {id} of pipeline {} made things worse and was reverted", s.name),
                    &match reverted {
                        Ok(()) => why.clone(),
                        Err(e) => format!("{why}; the revert failed: {e}"),
                    },
                    // safe: text for a person to read (to_run), never run by eai; only an integer in it.
                    &format!("SELECT * FROM eai.remediations WHERE remediation_id = {id};"),
                );
            }
        }
    }
    judged
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
                &format!("SELECT * FROM eai.approve_remediation({id});"),
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
