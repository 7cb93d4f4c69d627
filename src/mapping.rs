//! `eai.map_schema(source, target)`: read the latest profiles of both tables (profiling them when
//! needed), score every pair with `eai_core::matching`, assign, route each decision by confidence,
//! and record a new mapping version with the signals behind every decision.

use std::collections::HashMap;
use std::time::Instant;

use eai_core::llm::{Answer, Candidate, LlmError, Question};
use eai_core::matching::{assign, combine, Band, ColumnFeatures, ValueSet};
use eai_core::names;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;

use crate::errors::EaiError;
use crate::{catalog_write, llm, profile};

const FEATURES_SQL: &str = "SELECT p.column_name::text, p.inferred_type, p.null_rate, p.profile -> 'numeric' -> 'quantiles',
        (p.profile ->> 'length_mean')::float8, p.value_set, p.name_embedding::real[], a.attnum
   FROM (SELECT DISTINCT ON (column_name) * FROM eai.column_profiles WHERE relid = $1 ORDER BY column_name, version DESC) p
   JOIN pg_attribute a ON a.attrelid = p.relid AND a.attname = p.column_name AND a.attnum > 0 AND NOT a.attisdropped
  ORDER BY a.attnum";

const HISTORY_SQL: &str = "SELECT DISTINCT ON (m.source_column, m.target_column) m.source_column, m.target_column, m.status
   FROM eai.mappings m JOIN eai.mapping_runs r USING (run_id)
  WHERE r.target_relid = $1 AND m.target_column IS NOT NULL AND m.status IN ('approved', 'rejected')
    AND m.decided_by IS NOT NULL AND m.decided_by NOT LIKE 'eai:%'
  ORDER BY m.source_column, m.target_column, m.decided_at DESC";

const RUN_SQL: &str = "INSERT INTO eai.mapping_runs (source_relid, source_table, target_relid, target_table, version, one_to_many, run_by, duration_ms)
 SELECT $1, $1::regclass::text, $2, $2::regclass::text,
        coalesce((SELECT max(version) FROM eai.mapping_runs WHERE source_table = $1::regclass::text AND target_table = $2::regclass::text), 0) + 1, $3,
        $4, $5
 RETURNING run_id";

const DECISION_SQL: &str = "INSERT INTO eai.mappings (run_id, source_column, target_column, proposed_target, score, confidence, band, status,
                          signals, candidates, reason, decided_by, decided_at)
 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, CASE WHEN $12 IS NULL THEN NULL ELSE now() END)
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
    .unwrap_or_else(|e| EaiError::catalog("read column profiles", e).report())
}

/// Human decisions on earlier versions (not eai:auto nor eai:llm:…, so eai never learns from its
/// own guesses): (normalised source name, target column) → +1 / -1.
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
    .unwrap_or_else(|e| EaiError::catalog("read earlier mapping decisions", e).report())
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

fn decide(
    sources: &[ColumnFeatures],
    targets: &[ColumnFeatures],
    scores: &[f32],
    hist: &HashMap<(String, String), f64>,
    one_to_many: bool,
) -> Vec<Decision> {
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
            out.push(Decision {
                source: i,
                target: None,
                score: best,
                confidence: 1.0 - best,
                band: "new_column",
                signals: combine::Signals::default(),
                candidates,
            });
            continue;
        }
        for j in targets_of_i {
            let h = hist.get(&(names::normalize(&sources[i].name), targets[j].name.clone())).copied();
            let signals = combine::signals(&sources[i], &targets[j], h);
            let confidence = combine::confidence(row[j] as f64, combine::runner_up(row, j), &signals);
            out.push(Decision {
                source: i,
                target: Some(j),
                score: row[j] as f64,
                confidence,
                band: Band::of(confidence).as_str(),
                signals,
                candidates: candidates.clone(),
            });
        }
    }
    out
}

/// Where a decision ends up: its status, the target it keeps, why, and who decided.
struct Routed {
    status: &'static str,
    target: Option<usize>,
    reason: Option<String>,
    decided_by: Option<String>,
}

fn table_names(source: pg_sys::Oid, target: pg_sys::Oid) -> (String, String) {
    let name = |rel: pg_sys::Oid| Spi::get_one_with_args::<String>("SELECT $1::regclass::text", &[rel.into()]).ok().flatten().unwrap_or_default();
    (name(source), name(target))
}

/// A few sample values of a column, for the LLM prompt.
fn samples(f: &ColumnFeatures) -> Vec<String> {
    let mut v: Vec<String> = f.values.exact.iter().flatten().cloned().collect();
    v.sort();
    v.truncate(5);
    v
}

/// Asks the LLM endpoint the mapping question of one source column: which candidate it is (or
/// none). The prompt is eai-core's (`llm::SYSTEM_PROMPT`, `llm::user_prompt`); an answer that
/// names a column not among the candidates is refused (`hallucinated`).
fn ask_llm(cfg: &llm::Config, q: &Question, run_id: i64) -> Result<Answer, LlmError> {
    let candidates: Vec<String> = q.candidates.iter().map(|c| c.column.clone()).collect();
    cfg.complete(
        &llm::Purpose { name: "map_schema", run_id: Some(run_id) },
        eai_core::llm::SYSTEM_PROMPT,
        &eai_core::llm::user_prompt(q),
        &|content| eai_core::llm::parse_answer(content, &candidates),
    )
}

fn route(
    d: &Decision,
    sources: &[ColumnFeatures],
    targets: &[ColumnFeatures],
    scores: &[f32],
    llm: Option<&llm::Config>,
    run_id: i64,
    names: &(String, String),
) -> Routed {
    let pending = |reason: String| Routed { status: "pending", target: d.target, reason: Some(reason), decided_by: None };
    match d.band {
        "auto_approved" => Routed { status: "approved", target: d.target, reason: None, decided_by: Some("eai:auto".into()) },
        "review" => pending("confidence below 0.70: waiting for review".into()),
        "llm" => {
            let Some(cfg) = llm else {
                return pending("confidence 0.70-0.85; no LLM endpoint configured (eai.llm_url): waiting for review".into());
            };
            let n = targets.len();
            let row = &scores[d.source * n..(d.source + 1) * n];
            let candidates: Vec<Candidate> = combine::ranked(row)
                .into_iter()
                .take(3)
                .map(|j| Candidate {
                    column: targets[j].name.clone(),
                    data_type: targets[j].type_family.clone(),
                    samples: samples(&targets[j]),
                    score: row[j] as f64,
                })
                .collect();
            let s = &sources[d.source];
            let question = Question {
                source_table: names.0.clone(),
                source_column: s.name.clone(),
                source_type: s.type_family.clone(),
                source_samples: samples(s),
                target_table: names.1.clone(),
                candidates,
            };
            match ask_llm(cfg, &question, run_id) {
                Ok(answer) => match answer.target.as_deref().and_then(|t| targets.iter().position(|c| c.name == t)) {
                    Some(j) => Routed {
                        status: "approved",
                        target: Some(j),
                        reason: Some(format!("LLM ({:.2}): {}", answer.confidence, answer.reason)),
                        decided_by: Some(format!("eai:llm:{}", cfg.model())),
                    },
                    None => pending(format!("the LLM found no matching column ({}): waiting for review", answer.reason)),
                },
                Err(e) => pending(format!("{e}: waiting for review")),
            }
        }
        _ => Routed {
            status: "new_column",
            target: None,
            reason: Some(format!("no target column scores {:.2} or more: kept as a new column", combine::NEW_COLUMN_BELOW)),
            decided_by: None,
        },
    }
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
        name!(reason, Option<String>),
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
    let scores = combine::score_matrix(&sources, &targets, |i, j| hist.get(&(names::normalize(&sources[i].name), targets[j].name.clone())).copied());
    let decisions = decide(&sources, &targets, &scores, &hist, one_to_many);
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let run_id: i64 = catalog_write::as_owner(|caller| {
        Spi::connect_mut(|client| {
            client.update(RUN_SQL, None, &[source.into(), target.into(), one_to_many.into(), caller.into(), elapsed_ms.into()])?.first().get(1)
        })
    })
    .map(|id| id.unwrap_or(0))
    .unwrap_or_else(|e| EaiError::catalog("record the mapping run", e).report());
    let llm = llm::config();
    let names = table_names(source, target);
    let routed: Vec<Routed> = decisions.iter().map(|d| route(d, &sources, &targets, &scores, llm.as_ref(), run_id, &names)).collect();
    let mut out = Vec::with_capacity(decisions.len());
    catalog_write::as_owner(|_| {
        Spi::connect_mut(|client| {
            for (d, r) in decisions.iter().zip(routed) {
                let target_name = r.target.map(|j| targets[j].name.clone());
                let proposed = d.target.map(|j| targets[j].name.clone());
                let signals = serde_json::to_value(d.signals).expect("signals serialise");
                let id: i64 = client
                    .update(
                        DECISION_SQL,
                        None,
                        &[
                            run_id.into(),
                            sources[d.source].name.as_str().into(),
                            target_name.clone().into(),
                            proposed.into(),
                            d.score.into(),
                            d.confidence.into(),
                            d.band.into(),
                            r.status.into(),
                            JsonB(signals.clone()).into(),
                            JsonB(d.candidates.clone()).into(),
                            r.reason.clone().into(),
                            r.decided_by.into(),
                        ],
                    )?
                    .first()
                    .get(1)?
                    .unwrap_or(0);
                out.push((
                    id,
                    sources[d.source].name.clone(),
                    target_name,
                    d.confidence,
                    d.band.to_string(),
                    r.status.to_string(),
                    r.reason,
                    JsonB(signals),
                ));
            }
            Ok::<_, pgrx::spi::Error>(())
        })
    })
    .unwrap_or_else(|e| EaiError::catalog("record the mapping", e).report());
    TableIterator::new(out)
}
