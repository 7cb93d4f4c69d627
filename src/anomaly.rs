//! SQL glue of anomaly detection: reads a user's query (crate::user_query) and runs the detectors of
//! `eai_core::anomaly` over it. The catalog (metrics, anomalies, thresholds, incidents) and the
//! table entry point live in sql/anomalies.sql.
use eai_core::anomaly::iforest::{Forest, Params, Rows};
use eai_core::anomaly::incidents::{self, Item};
use eai_core::anomaly::online::{Config, Method, Online};
use eai_core::anomaly::thresholds::{self, Label};
use eai_core::anomaly::Severity;
use eai_core::anomaly::{drift, vectors};
use eai_core::promotion::quote;
use pgrx::prelude::*;

use crate::errors::EaiError;
use crate::user_query::UserQuery;

type Found = (
    i64,
    Option<TimestampWithTimeZone>,
    String,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    bool,
    String,
    Option<String>,
    String,
);

/// Input shape of a query: a series (a time column then numeric value columns) or rows of numbers.
enum Shape {
    Series { time: String, values: Vec<String> },
    Rows { columns: Vec<String> },
}

const TIME_TYPES: [pg_sys::Oid; 3] = [pg_sys::TIMESTAMPTZOID, pg_sys::TIMESTAMPOID, pg_sys::DATEOID];
const NUMBER_TYPES: [pg_sys::Oid; 6] = [pg_sys::INT2OID, pg_sys::INT4OID, pg_sys::INT8OID, pg_sys::FLOAT4OID, pg_sys::FLOAT8OID, pg_sys::NUMERICOID];

fn shape(query: &UserQuery) -> Shape {
    let cols = query.columns().unwrap_or_else(|e| EaiError::AnomalyInput(format!("the query does not run: {e}")).report());
    let bad: Vec<&str> = cols.iter().skip(1).filter(|(_, t)| !NUMBER_TYPES.contains(t)).map(|(n, _)| n.as_str()).collect();
    if cols.is_empty() || !bad.is_empty() {
        EaiError::AnomalyInput(format!(
            "columns after the first must be numbers; not: {}",
            if bad.is_empty() { "(no columns)".into() } else { bad.join(", ") }
        ))
        .report();
    }
    let names: Vec<String> = cols.iter().map(|(n, _)| n.clone()).collect();
    if TIME_TYPES.contains(&cols[0].1) {
        if cols.len() < 2 {
            EaiError::AnomalyInput("a series needs a value column after its time column".into()).report();
        }
        Shape::Series { time: names[0].clone(), values: names[1..].to_vec() }
    } else if NUMBER_TYPES.contains(&cols[0].1) {
        Shape::Rows { columns: names }
    } else {
        EaiError::AnomalyInput(format!("the first column, {}, is neither a time nor a number", names[0])).report()
    }
}

/// Every row of `query` as f64 columns (NULL as NaN), `time` first as Unix seconds when given.
fn read(query: &UserQuery, time: Option<&str>, values: &[String]) -> (Vec<f64>, Vec<f64>) {
    let mut select: Vec<String> = Vec::new();
    if let Some(t) = time {
        select.push(format!("extract(epoch FROM q.{})::float8", quote(t))); // safe: quote_ident
    }
    select.extend(values.iter().map(|c| format!("q.{}::float8", quote(c)))); // safe: quote_ident
    let dims = values.len();
    let first = usize::from(time.is_some());
    let (mut ts, mut data) = (Vec::new(), Vec::new());
    query
        .for_each_row(&select, 10_000, |row| {
            if time.is_some() {
                ts.push(row.get::<f64>(1)?.unwrap_or(f64::NAN));
            }
            for j in 0..dims {
                data.push(row.get::<f64>(first + j + 1)?.unwrap_or(f64::NAN));
            }
            Ok(())
        })
        .unwrap_or_else(|e| EaiError::AnomalyInput(format!("could not read the query's rows: {e}")).report());
    (ts, data)
}

fn timestamp(secs: f64) -> Option<TimestampWithTimeZone> {
    // PostgreSQL counts microseconds from 2000-01-01.
    if !secs.is_finite() {
        return None;
    }
    TimestampWithTimeZone::try_from(((secs - 946_684_800.0) * 1e6).round() as i64).ok()
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Anomalies of a query's rows: a series `(ts, value[, value…])` goes through the online
/// detector (no look-ahead), one value column at a time; rows of numbers through Isolation Forest.
#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile, parallel_unsafe)]
fn _detect_query(
    query: &str,
    all_rows: bool,
    threshold: Option<f64>,
    min_history: i32,
    trees: i32,
    subsample: i32,
    seed: i64,
) -> TableIterator<
    'static,
    (
        name!(ordinal, i64),
        name!(ts, Option<TimestampWithTimeZone>),
        name!(metric, String),
        name!(observed, Option<f64>),
        name!(expected, Option<f64>),
        name!(lo, Option<f64>),
        name!(hi, Option<f64>),
        name!(score, Option<f64>),
        name!(anomalous, bool),
        name!(detector, String),
        name!(severity, Option<String>),
        name!(explanation, String),
    ),
> {
    if min_history < 2 || trees < 1 || subsample < 2 {
        EaiError::InvalidParameter(format!(
            "min_history must be at least 2 (got {min_history}), trees at least 1 (got {trees}), subsample at least 2 (got {subsample})"
        ))
        .report();
    }
    if threshold.is_some_and(|t| !t.is_finite() || t <= 0.0) {
        EaiError::InvalidParameter("threshold must be a positive number".into()).report();
    }
    let mut out: Vec<Found> = Vec::new();
    // Exactly one SELECT, read in a read-only subtransaction that is rolled back (crate::user_query).
    let query = UserQuery::check(query);
    match shape(&query) {
        Shape::Series { time, values } => {
            let (ts, data) = read(&query, Some(&time), &values);
            let t = threshold.unwrap_or(Config::default().threshold);
            let dims = values.len();
            for (j, metric) in values.iter().enumerate() {
                let mut d = Online::new(Config { threshold: t, min_history: min_history as usize });
                for (i, secs) in ts.iter().enumerate() {
                    let x = data[i * dims + j];
                    let v = d.push(if secs.is_finite() { *secs as i64 } else { 0 }, x);
                    if !(v.alarm || all_rows) {
                        continue;
                    }
                    let explanation = if v.alarm && v.deviates && v.method == Method::Cusum {
                        format!(
                            "{metric} = {x}: the level drifted from the longer past (CUSUM of the residuals from it at {:.2} times \
                             its alarm level); one value alone is expected at {:.4} (cusum)",
                            v.score / t,
                            v.expected
                        )
                    } else if v.alarm && v.deviates {
                        format!(
                            "{metric} = {x} is {:.1} standard deviations from the {:.4} expected ({}{})",
                            v.score,
                            v.expected,
                            v.method.as_str(),
                            v.seasonality.map(|s| format!(", by {}", s.name())).unwrap_or_default()
                        )
                    } else if v.alarm {
                        "within an alarm raised by a recent deviation".to_string()
                    } else if v.method == Method::Warmup {
                        "not judged: not enough history yet".to_string()
                    } else {
                        "as expected".to_string()
                    };
                    out.push((
                        i as i64 + 1,
                        timestamp(*secs),
                        metric.clone(),
                        finite(x).or(if x.is_infinite() { Some(x) } else { None }),
                        finite(v.expected),
                        finite(v.lo),
                        finite(v.hi),
                        if v.score.is_nan() { None } else { Some(v.score) },
                        v.alarm,
                        v.method.as_str().to_string(),
                        v.deviates.then(|| Severity::from_ratio(v.score / t).as_str().to_string()),
                        explanation,
                    ));
                }
            }
        }
        Shape::Rows { columns } => {
            let (_, data) = read(&query, None, &columns);
            let rows = Rows { data: &data, dims: columns.len() };
            let t = threshold.unwrap_or(0.6);
            let p = Params { trees: trees as usize, subsample: subsample as usize, seed: seed as u64 };
            if let Some(forest) = Forest::fit(&rows, p) {
                for (i, s) in forest.score(&rows).into_iter().enumerate() {
                    let anomalous = s >= t;
                    if anomalous || all_rows {
                        out.push((
                            i as i64 + 1,
                            None,
                            "row".to_string(),
                            None,
                            None,
                            None,
                            None,
                            Some(s),
                            anomalous,
                            "isolation_forest".to_string(),
                            anomalous.then(|| Severity::from_ratio((s - 0.5) / (t - 0.5).max(1e-9)).as_str().to_string()),
                            if anomalous {
                                format!(
                                    "isolation score {s:.3} (at least {t}): isolated in fewer random splits than most rows ({} trees of {} rows)",
                                    p.trees,
                                    p.subsample.min(rows.len())
                                )
                            } else {
                                String::new()
                            },
                        ));
                    }
                }
            }
        }
    }
    TableIterator::new(out)
}

/// The online detector over one series given as arrays (Unix times in order, values): the points under an
/// alarm, with what was expected of them (detector `cusum`: the level drifted, the score is the CUSUM
/// in units of its alarm level times the threshold). `eai.detect_anomalies(tbl)` runs it over each
/// metric series of `eai.metrics`.
#[pg_extern(immutable, parallel_safe)]
fn _detect_series(
    epochs: Vec<Option<f64>>,
    vals: Vec<Option<f64>>,
    threshold: f64,
    min_history: i32,
) -> TableIterator<
    'static,
    (
        name!(ordinal, i32),
        name!(expected, Option<f64>),
        name!(lo, Option<f64>),
        name!(hi, Option<f64>),
        name!(score, Option<f64>),
        name!(deviates, bool),
        name!(detector, String),
        name!(seasonality, Option<String>),
        name!(severity, String),
    ),
> {
    if epochs.len() != vals.len() {
        EaiError::InvalidParameter(format!("{} times for {} values", epochs.len(), vals.len())).report();
    }
    let mut d = Online::new(Config { threshold, min_history: min_history.max(2) as usize });
    let mut out = Vec::new();
    for (i, (t, v)) in epochs.iter().zip(&vals).enumerate() {
        let secs = t.filter(|t| t.is_finite()).unwrap_or(0.0) as i64;
        let r = d.push(secs, v.unwrap_or(f64::NAN));
        if r.alarm {
            out.push((
                i as i32 + 1,
                finite(r.expected),
                finite(r.lo),
                finite(r.hi),
                if r.score.is_nan() { None } else { Some(r.score) },
                r.deviates,
                r.method.as_str().to_string(),
                r.seasonality.map(|s| s.name().to_string()),
                Severity::from_ratio(r.score / threshold).as_str().to_string(),
            ));
        }
    }
    TableIterator::new(out)
}

/// Drift of a batch from the one before, from their quantile sketches (`eai.batch_profiles`):
/// PSI, KL divergence, the G-test's p-value, and whether it counts as drift (PSI at least
/// `psi_threshold` and p below 0.1%). No row when either sketch is unusable.
#[pg_extern(immutable, parallel_safe)]
fn _sketch_drift(
    reference: Vec<Option<f64>>,
    current: Vec<Option<f64>>,
    current_rows: i64,
    psi_threshold: f64,
) -> TableIterator<'static, (name!(psi, f64), name!(kl, f64), name!(p_value, f64), name!(drifted, bool))> {
    let flat = |v: Vec<Option<f64>>| v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect::<Vec<f64>>();
    let d = drift::compare_sketches(&flat(reference), &flat(current), current_rows.max(0) as u64, psi_threshold);
    TableIterator::new(d.map(|d| (d.psi, d.kl, d.p_value, d.drifted)))
}

/// The threshold a metric's labelled anomalies call for (`eai_core::anomaly::thresholds::adapt`):
/// `default` unless more than `eai.anomaly_false_positive_target` of the alerts it would raise
/// were false positives.
#[pg_extern(stable, parallel_safe)]
fn _adapt_threshold(default: f64, scores: Vec<Option<f64>>, false_positive: Vec<Option<bool>>) -> f64 {
    if scores.len() != false_positive.len() {
        EaiError::InvalidParameter(format!("{} scores for {} labels", scores.len(), false_positive.len())).report();
    }
    let labels: Vec<Label> = scores.iter().zip(&false_positive).filter_map(|(s, fp)| Some(Label { score: (*s)?, false_positive: (*fp)? })).collect();
    thresholds::adapt(default, &labels, crate::guc::anomaly_false_positive_target())
}

/// Groups anomalies into incidents (`eai_core::anomaly::incidents::group`): the same batch of a
/// table, within `eai.incident_window` of each other, or on one lineage chain (`edge_from[i]`
/// feeds `edge_to[i]`) within `eai.incident_lineage_window`. One row per anomaly: its group (numbered from 1),
/// whether it is the group's probable root cause, and the group's severity.
#[pg_extern(stable, parallel_safe)]
#[allow(clippy::too_many_arguments)]
fn _group_incidents(
    ids: Vec<i64>,
    tables: Vec<pg_sys::Oid>,
    batches: Vec<Option<i64>>,
    epochs: Vec<f64>,
    severities: Vec<String>,
    scores: Vec<Option<f64>>,
    edge_from: Vec<pg_sys::Oid>,
    edge_to: Vec<pg_sys::Oid>,
) -> TableIterator<'static, (name!(anomaly_id, i64), name!(grp, i32), name!(is_root, bool), name!(severity, String))> {
    let n = ids.len();
    if [tables.len(), batches.len(), epochs.len(), severities.len(), scores.len()].iter().any(|l| *l != n) || edge_from.len() != edge_to.len() {
        EaiError::InvalidParameter("the anomaly arrays (and the edge arrays) must have one length".into()).report();
    }
    let items: Vec<Item> = (0..n)
        .map(|i| Item {
            id: ids[i],
            table: tables[i].to_u32(),
            batch: batches[i],
            at: epochs[i] as i64,
            severity: Severity::parse(&severities[i]).unwrap_or(Severity::Low),
            score: scores[i].unwrap_or(0.0),
        })
        .collect();
    let (window, lineage_window) = crate::guc::incident_windows();
    let edges: Vec<(u32, u32)> = edge_from.iter().zip(&edge_to).map(|(a, b)| (a.to_u32(), b.to_u32())).collect();
    let mut out = Vec::with_capacity(n);
    for (g, inc) in incidents::group(&items, &edges, window as i64, lineage_window as i64).into_iter().enumerate() {
        for m in &inc.members {
            out.push((items[*m].id, g as i32 + 1, *m == inc.root, inc.severity.as_str().to_string()));
        }
    }
    TableIterator::new(out)
}

/// Severity of a score `ratio` times its threshold (`Severity::from_ratio`: the one place it is decided).
#[pg_extern(immutable, parallel_safe)]
fn _severity(ratio: f64) -> &'static str {
    Severity::from_ratio(ratio).as_str()
}

/// Isolation Forest over metric vectors (`eai_core::anomaly::vectors::judge`): `vals` holds the
/// vectors one after the other (`dims` values each, in time order); each is judged against the
/// ones before it once `min_history` precede it. One row per vector scoring at least `threshold`:
/// its ordinal (from 1), its score, and the (0-based) metrics furthest from their past with their
/// robust z.
#[pg_extern(immutable, parallel_safe)]
fn _detect_vectors(
    vals: Vec<Option<f64>>,
    dims: i32,
    threshold: f64,
    min_history: i32,
    trees: default!(i32, 100),
    seed: default!(i64, 42),
) -> TableIterator<'static, (name!(ordinal, i32), name!(score, f64), name!(standouts, Vec<i32>), name!(standout_z, Vec<f64>))> {
    if dims < 0 || (dims > 0 && vals.len() % dims as usize != 0) {
        EaiError::InvalidParameter(format!("{} values do not make vectors of {dims}", vals.len())).report();
    }
    if !(1..=10_000).contains(&trees) {
        EaiError::InvalidParameter(format!("trees must be 1 to 10000, not {trees}")).report();
    }
    let data: Vec<f64> = vals.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect();
    let p = Params { trees: trees as usize, subsample: 256, seed: seed as u64 };
    let found = vectors::judge(&data, dims as usize, min_history.max(2) as usize, threshold, p);
    TableIterator::new(
        found.into_iter().map(|v| {
            (v.index as i32 + 1, v.score, v.standouts.iter().map(|(j, _)| *j as i32).collect(), v.standouts.iter().map(|(_, z)| *z).collect())
        }),
    )
}
