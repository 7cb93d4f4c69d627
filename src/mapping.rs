//! `eai.map_schema(source, target)`: read the latest profiles of both tables (profiling them when
//! needed), score every pair with `eai_core::matching`, assign, route each decision by confidence,
//! and record a new mapping version with the signals behind every decision.

use std::collections::HashMap;
use std::time::Instant;

use eai_core::matching::{assign, combine, Band, ColumnFeatures, ValueSet};
use eai_core::names;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;

use crate::profile;

const FEATURES_SQL: &str = "SELECT p.column_name::text, p.inferred_type, p.null_rate, p.profile -> 'numeric' -> 'quantiles',
        (p.profile ->> 'length_mean')::float8, p.value_set, p.name_embedding::real[], a.attnum
   FROM (SELECT DISTINCT ON (column_name) * FROM eai.column_profiles WHERE relid = $1 ORDER BY column_name, version DESC) p
   JOIN pg_attribute a ON a.attrelid = p.relid AND a.attname = p.column_name AND a.attnum > 0 AND NOT a.attisdropped
  ORDER BY a.attnum";

const HISTORY_SQL: &str = "SELECT DISTINCT ON (m.source_column, m.target_column) m.source_column, m.target_column, m.status
   FROM eai.mappings m JOIN eai.mapping_runs r USING (run_id)
  WHERE r.target_relid = $1 AND m.target_column IS NOT NULL AND m.status IN ('approved', 'rejected')
    AND m.decided_by IS NOT NULL AND m.decided_by <> 'eai:auto'
  ORDER BY m.source_column, m.target_column, m.decided_at DESC";

const RUN_SQL: &str = "INSERT INTO eai.mapping_runs (source_relid, source_table, target_relid, target_table, version, one_to_many)
 SELECT $1, $1::regclass::text, $2, $2::regclass::text,
        coalesce((SELECT max(version) FROM eai.mapping_runs WHERE source_table = $1::regclass::text AND target_table = $2::regclass::text), 0) + 1, $3
 RETURNING run_id";

const DECISION_SQL: &str = "INSERT INTO eai.mappings (run_id, source_column, target_column, proposed_target, score, confidence, band, status,
                          signals, candidates, reason, decided_by, decided_at)
 VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10, $11, CASE WHEN $11 IS NULL THEN NULL ELSE now() END)
 RETURNING mapping_id";

fn has_profile(rel: pg_sys::Oid) -> bool {
    Spi::get_one_with_args::<bool>("SELECT EXISTS (SELECT 1 FROM eai.column_profiles WHERE relid = $1)", &[rel.into()])
        .ok()
        .flatten()
        .unwrap_or(false)
}

fn load_features(rel: pg_sys::Oid) -> Vec<ColumnFeatures> {
    Spi::connect(|client| {
        client
            .select(FEATURES_SQL, None, &[rel.into()])?
            .map(|row| {
                let name: String = row.get(1)?.unwrap_or_default();
                let values: ValueSet = row.get::<JsonB>(6)?.and_then(|j| serde_json::from_value(j.0).ok()).unwrap_or_default();
                let quantiles: Option<Vec<f64>> = row.get::<JsonB>(4)?.and_then(|j| serde_json::from_value(j.0).ok());
                let features = ColumnFeatures::new(
                    &name,
                    &row.get::<String>(2)?.unwrap_or_default(),
                    values,
                    quantiles,
                    row.get::<f64>(5)?,
                    row.get::<f64>(3)?.unwrap_or(0.0),
                );
                Ok(match row.get::<Vec<f32>>(7)? {
                    Some(e) => features.with_embedding(e),
                    None => features,
                })
            })
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
    })
    .unwrap_or_else(|e| error!("eai: could not read column profiles: {e}"))
}

/// Human decisions on earlier versions: (normalised source name, target column) → +1 / -1.
fn history(target: pg_sys::Oid) -> HashMap<(String, String), f64> {
    Spi::connect(|client| {
        client
            .select(HISTORY_SQL, None, &[target.into()])?
            .map(|row| {
                let s: String = row.get(1)?.unwrap_or_default();
                let t: String = row.get(2)?.unwrap_or_default();
                let approved = row.get::<String>(3)?.as_deref() == Some("approved");
                Ok(((names::normalize(&s), t), if approved { 1.0 } else { -1.0 }))
            })
            .collect::<Result<HashMap<_, _>, pgrx::spi::Error>>()
    })
    .unwrap_or_else(|e| error!("eai: could not read earlier mapping decisions: {e}"))
}

struct Decision {
    source: usize,
    target: Option<usize>,
    score: f64,
    confidence: f64,
    band: &'static str,
    signals: combine::Signals,
    candidates: serde_json::Value,
}

fn decide(sources: &[ColumnFeatures], targets: &[ColumnFeatures], scores: &[f32], hist: &HashMap<(String, String), f64>, one_to_many: bool) -> Vec<Decision> {
    let n = targets.len();
    let picks: Vec<Vec<usize>> = if one_to_many {
        assign::one_to_many(scores, sources.len(), n, combine::NEW_COLUMN_BELOW, 0.05)
    } else {
        assign::one_to_one(scores, sources.len(), n, combine::NEW_COLUMN_BELOW).into_iter().map(|o| o.into_iter().collect()).collect()
    };
    let mut out = Vec::new();
    for (i, targets_of_i) in picks.into_iter().enumerate() {
        let row = &scores[i * n..(i + 1) * n];
        let ranked = combine::ranked(row);
        let candidates = json!(ranked.iter().take(3).map(|&j| json!({"target": targets[j].name, "score": row[j]})).collect::<Vec<_>>());
        if targets_of_i.is_empty() {
            let best = ranked.first().map(|&j| row[j] as f64).unwrap_or(0.0);
            out.push(Decision { source: i, target: None, score: best, confidence: 1.0 - best, band: "new_column", signals: combine::Signals::default(), candidates });
            continue;
        }
        for j in targets_of_i {
            let h = hist.get(&(names::normalize(&sources[i].name), targets[j].name.clone())).copied();
            let signals = combine::signals(&sources[i], &targets[j], h);
            let second = row.iter().enumerate().filter(|(k, _)| *k != j).map(|(_, s)| *s as f64).fold(0.0, f64::max);
            let confidence = combine::confidence(row[j] as f64, second, &signals);
            out.push(Decision { source: i, target: Some(j), score: row[j] as f64, confidence, band: Band::of(confidence).as_str(), signals, candidates: candidates.clone() });
        }
    }
    out
}

#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::type_complexity)]
pub fn _map_schema(
    source: pg_sys::Oid,
    target: pg_sys::Oid,
    one_to_many: bool,
    reprofile: bool,
) -> TableIterator<
    'static,
    (
        name!(mapping_id, i64),
        name!(source_column, String),
        name!(target_column, Option<String>),
        name!(confidence, f64),
        name!(band, String),
        name!(status, String),
        name!(signals, JsonB),
    ),
> {
    for rel in [source, target] {
        if reprofile || !has_profile(rel) {
            profile::profile_table(rel);
        }
    }
    let started = Instant::now();
    let sources = load_features(source);
    let targets = load_features(target);
    let hist = history(target);
    let scores = combine::score_matrix(&sources, &targets, |i, j| {
        hist.get(&(names::normalize(&sources[i].name), targets[j].name.clone())).copied()
    });
    let decisions = decide(&sources, &targets, &scores, &hist, one_to_many);
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut out = Vec::with_capacity(decisions.len());
    Spi::connect_mut(|client| {
        let run_id: i64 = client.update(RUN_SQL, None, &[source.into(), target.into(), one_to_many.into()])?.first().get(1)?.unwrap_or(0);
        client.update("UPDATE eai.mapping_runs SET duration_ms = $2 WHERE run_id = $1", None, &[run_id.into(), elapsed_ms.into()])?;
        for d in decisions {
            let (status, reason, decided_by): (&str, Option<String>, Option<&str>) = match d.band {
                "auto_approved" => ("approved", None, Some("eai:auto")),
                "llm" => ("pending", Some("confidence 0.70-0.85; no LLM endpoint configured (eai.llm_url): waiting for review".into()), None),
                "review" => ("pending", Some("confidence below 0.70: waiting for review".into()), None),
                _ => ("new_column", Some(format!("no target column scores {:.2} or more: kept as a new column", combine::NEW_COLUMN_BELOW)), None),
            };
            let target_name = d.target.map(|j| targets[j].name.clone());
            let signals = serde_json::to_value(d.signals).expect("signals serialise");
            let id: i64 = client
                .update(
                    DECISION_SQL,
                    None,
                    &[
                        run_id.into(),
                        sources[d.source].name.as_str().into(),
                        target_name.clone().into(),
                        d.score.into(),
                        d.confidence.into(),
                        d.band.into(),
                        status.into(),
                        JsonB(signals.clone()).into(),
                        JsonB(d.candidates).into(),
                        reason.into(),
                        decided_by.into(),
                    ],
                )?
                .first()
                .get(1)?
                .unwrap_or(0);
            out.push((id, sources[d.source].name.clone(), target_name, d.confidence, d.band.to_string(), status.to_string(), JsonB(signals)));
        }
        Ok::<_, pgrx::spi::Error>(())
    })
    .unwrap_or_else(|e| error!("eai: could not record the mapping: {e}"));
    TableIterator::new(out)
}
