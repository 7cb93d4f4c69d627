//! Table quality: the single-pass scan that measures a table, and the scores of the seven
//! dimensions (freshness, volume, distribution, completeness, schema, validity, uniqueness), each
//! judged against an expectation drawn from the table's history or its declared rules.

use serde::{Deserialize, Serialize};

use crate::expectations::Rule;
use crate::promotion::quote;

/// A column as the scan sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub pg_type: String,
    /// Measured exactly for uniqueness (declared unique, or a dedup key).
    pub unique: bool,
}

/// What one scan measured about a column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    pub name: String,
    pub pg_type: String,
    pub non_null: i64,
    pub mean: Option<f64>,
    pub stddev: Option<f64>,
    /// Distinct values, for the columns measured for uniqueness.
    pub distinct: Option<i64>,
}

/// The measurements of one scan, kept in the history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    pub rows: i64,
    pub columns: Vec<ColumnStats>,
    /// Rows breaking each declared rule, in the order of `checks`.
    pub broken: Vec<i64>,
    /// Age of the newest data when measured, in seconds (the freshness lag); None when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_secs: Option<f64>,
}

fn numeric(pg_type: &str) -> bool {
    let t = pg_type.to_ascii_lowercase();
    ["smallint", "integer", "bigint", "numeric", "real", "double precision", "decimal"].iter().any(|n| t.starts_with(n))
}

/// The single-pass scan of `table` (already quoted): one row with `rows`, the newest
/// `_eai_loaded_at` (bronze tables; NULL otherwise), then per column its non-null count, mean and
/// standard deviation (numbers that are not identifiers), exact distinct count (unique columns),
/// then per check the rows
/// breaking it. `$1` is the checks' arguments as a jsonb array.
pub fn scan_sql(table: &str, columns: &[Column], checks: &[(Option<String>, Rule)], loaded_at: bool) -> String {
    let mut out = vec!["count(*)".to_string(), if loaded_at { "max(_eai_loaded_at)".into() } else { "NULL::timestamptz".into() }];
    for c in columns {
        let q = quote(&c.name);
        out.push(format!("count({q})"));
        // Identifiers (unique columns) are not quantities: no mean or spread for them (the spread
        // of a bigint accumulates in numeric, the dearest aggregate of the scan).
        if numeric(&c.pg_type) && !c.unique {
            out.push(format!("avg({q})::float8"));
            out.push(format!("stddev_pop({q})::float8"));
        } else {
            out.push("NULL::float8".into());
            out.push("NULL::float8".into());
        }
        out.push(if c.unique { format!("count(DISTINCT {q})") } else { "NULL::bigint".into() });
    }
    for (n, (column, rule)) in checks.iter().enumerate() {
        let v = column.as_deref().map(quote).unwrap_or_else(|| "NULL".into());
        let ty = column.as_deref().and_then(|k| columns.iter().find(|c| c.name == k)).map(|c| c.pg_type.clone()).unwrap_or_else(|| "text".into());
        let arg = |k: &str| if k == "values" { format!("($1 -> {n} -> 'values')") } else { format!("($1 -> {n} ->> '{k}')") };
        match crate::expectations::broken_sql(rule, &v, &ty, &arg) {
            Some(p) => out.push(format!("count(*) FILTER (WHERE {p})")),
            None => out.push("0::bigint".into()),
        }
    }
    format!("SELECT {} FROM {table}", out.join(", "))
}

/// One dimension's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dimension {
    pub dimension: &'static str,
    /// 0–1, or None when there is nothing to judge it against (left out of the overall score).
    pub score: Option<f64>,
    pub measured: String,
    pub expected: String,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 })
}

/// Volume: rows now against the recent runs. Within ±max(3 MAD, 10% of the median) scores 1, then
/// falls linearly to 0 at three times that distance.
pub fn volume(rows: i64, history: &[i64]) -> Dimension {
    let hist: Vec<f64> = history.iter().map(|&r| r as f64).collect();
    let Some(med) = median(hist.clone()) else {
        return Dimension { dimension: "volume", score: None, measured: format!("{rows} rows"), expected: "no earlier run to compare with".into() };
    };
    let mad = median(hist.iter().map(|x| (x - med).abs()).collect()).unwrap_or(0.0);
    let tol = (3.0 * 1.4826 * mad).max(0.1 * med).max(1.0);
    let off = (rows as f64 - med).abs();
    let score = if off <= tol { 1.0 } else { (1.0 - (off - tol) / (2.0 * tol)).max(0.0) };
    Dimension {
        dimension: "volume",
        score: Some(score),
        measured: format!("{rows} rows"),
        expected: format!("{:.0}..{:.0} rows (median {med:.0} of the last {} runs)", (med - tol).max(0.0), med + tol, history.len()),
    }
}

/// Freshness: age of the newest data against the usual gap between loads (twice the median gap,
/// at least `floor_secs`). Scores 1 within it, then halves with every further such period.
pub fn freshness(age_secs: Option<f64>, gaps_secs: &[f64], floor_secs: f64) -> Dimension {
    let Some(age) = age_secs else {
        return Dimension { dimension: "freshness", score: None, measured: "no load recorded".into(), expected: "-".into() };
    };
    let allowed = median(gaps_secs.to_vec()).map(|g| 2.0 * g).unwrap_or(floor_secs).max(floor_secs);
    let score = if age <= allowed { 1.0 } else { 0.5f64.powf((age - allowed) / allowed) };
    Dimension {
        dimension: "freshness",
        score: Some(score),
        measured: format!("newest data {} old", human_secs(age)),
        expected: format!("at most {} old", human_secs(allowed)),
    }
}

fn human_secs(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} d", s / 86400.0)
    }
}

/// Completeness: the share of filled cells, against the columns' earlier null rates (a column
/// that used to be full and is now half empty counts; one that was always sparse does not). The
/// score is 1 minus the mean excess null rate over the columns.
pub fn completeness(now: &Measure, before: Option<&Measure>) -> Dimension {
    if now.rows == 0 || now.columns.is_empty() {
        return Dimension { dimension: "completeness", score: None, measured: "empty table".into(), expected: "-".into() };
    }
    let rate = |m: &Measure, c: &ColumnStats| 1.0 - c.non_null as f64 / m.rows.max(1) as f64;
    let mut excess = 0.0;
    let mut worst: Option<(String, f64)> = None;
    for c in &now.columns {
        let r = rate(now, c);
        let baseline = before.and_then(|b| b.columns.iter().find(|x| x.name == c.name).map(|x| rate(b, x))).unwrap_or(0.0);
        let e = (r - baseline - 0.01).max(0.0);
        excess += e;
        if e > 0.0 && worst.as_ref().is_none_or(|(_, w)| e > *w) {
            worst = Some((c.name.clone(), r));
        }
    }
    let filled = now.columns.iter().map(|c| c.non_null).sum::<i64>() as f64 / (now.rows as f64 * now.columns.len() as f64);
    Dimension {
        dimension: "completeness",
        score: Some((1.0 - excess / now.columns.len() as f64).clamp(0.0, 1.0)),
        measured: match worst {
            Some((c, r)) => format!("{:.1}% of cells filled; {c} {:.1}% NULL", filled * 100.0, r * 100.0),
            None => format!("{:.1}% of cells filled", filled * 100.0),
        },
        expected: if before.is_some() { "null rates no higher than last run's (+1 point)".into() } else { "no NULL".into() },
    }
}

/// Distribution: for numeric columns, how far the mean moved since the last run, in standard
/// deviations (a shift of 0.5 costs nothing; each further σ costs a third), and the change of
/// spread; the score is the worst column's.
pub fn distribution(now: &Measure, before: Option<&Measure>) -> Dimension {
    let Some(before) = before else {
        return Dimension { dimension: "distribution", score: None, measured: "first run".into(), expected: "no earlier run to compare with".into() };
    };
    let mut worst: Option<(String, f64, f64, f64)> = None;
    for c in &now.columns {
        let (Some(m), Some(s)) = (c.mean, c.stddev) else { continue };
        let Some(b) = before.columns.iter().find(|x| x.name == c.name) else { continue };
        let (Some(bm), Some(bs)) = (b.mean, b.stddev) else { continue };
        let scale = bs.max(s).max(f64::EPSILON.max(bm.abs() * 1e-9));
        let shift = (m - bm).abs() / scale;
        let spread = if bs > 0.0 && s > 0.0 { (s / bs).ln().abs() } else { 0.0 };
        let score = (1.0 - (shift - 0.5).max(0.0) / 3.0 - (spread - 0.2).max(0.0) / 2.0).clamp(0.0, 1.0);
        if worst.as_ref().is_none_or(|(_, w, _, _)| score < *w) {
            worst = Some((c.name.clone(), score, shift, if bs > 0.0 { s / bs } else { 1.0 }));
        }
    }
    match worst {
        None => Dimension { dimension: "distribution", score: None, measured: "no numeric column".into(), expected: "-".into() },
        Some((c, score, shift, ratio)) => Dimension {
            dimension: "distribution",
            score: Some(score),
            measured: format!("most changed: {c}, mean moved {shift:.2} σ, spread ×{ratio:.2}"),
            expected: "means within 0.5 σ and spreads within ×1.22 of last run's".into(),
        },
    }
}

/// Schema: columns added, dropped or retyped since the last run.
pub fn schema(now: &Measure, before: Option<&Measure>) -> Dimension {
    let Some(before) = before else {
        return Dimension {
            dimension: "schema",
            score: Some(1.0),
            measured: format!("{} columns", now.columns.len()),
            expected: "first run: recorded".into(),
        };
    };
    let mut changes = Vec::new();
    for c in &now.columns {
        match before.columns.iter().find(|b| b.name == c.name) {
            None => changes.push(format!("+{}", c.name)),
            Some(b) if b.pg_type != c.pg_type => changes.push(format!("{} {}→{}", c.name, b.pg_type, c.pg_type)),
            _ => {}
        }
    }
    for b in &before.columns {
        if !now.columns.iter().any(|c| c.name == b.name) {
            changes.push(format!("-{}", b.name));
        }
    }
    let n = before.columns.len().max(now.columns.len()).max(1) as f64;
    Dimension {
        dimension: "schema",
        score: Some((1.0 - changes.len() as f64 / n).max(0.0)),
        measured: if changes.is_empty() { format!("{} columns, unchanged", now.columns.len()) } else { changes.join(", ") },
        expected: format!("the {} columns of last run", before.columns.len()),
    }
}

/// Validity: the share of (row, rule) pairs that hold, over the declared rules.
pub fn validity(now: &Measure, rules: usize) -> Dimension {
    let judged = now.broken.len().min(rules);
    if judged == 0 || now.rows == 0 {
        return Dimension {
            dimension: "validity",
            score: None,
            measured: "no rule to check".into(),
            expected: "declare rules with eai.expect".into(),
        };
    }
    let broken: i64 = now.broken.iter().take(judged).sum();
    let total = now.rows as f64 * judged as f64;
    Dimension {
        dimension: "validity",
        score: Some(1.0 - broken as f64 / total),
        measured: format!("{broken} rule breaks in {} rows", now.rows),
        expected: format!("every row holds the {judged} declared rules"),
    }
}

/// Uniqueness: the share of non-null values of the key columns that are not duplicates.
pub fn uniqueness(now: &Measure) -> Dimension {
    let keys: Vec<&ColumnStats> = now.columns.iter().filter(|c| c.distinct.is_some()).collect();
    if keys.is_empty() || now.rows == 0 {
        return Dimension { dimension: "uniqueness", score: None, measured: "no unique column declared".into(), expected: "-".into() };
    }
    let mut worst = (String::new(), 1.0f64, 0i64);
    for c in keys.iter() {
        let d = c.distinct.unwrap_or(0);
        let score = if c.non_null == 0 { 1.0 } else { d as f64 / c.non_null as f64 };
        if score <= worst.1 {
            worst = (c.name.clone(), score, c.non_null - d);
        }
    }
    Dimension {
        dimension: "uniqueness",
        score: Some(worst.1),
        measured: if worst.2 == 0 { "no duplicate".into() } else { format!("{}: {} duplicates", worst.0, worst.2) },
        expected: format!("{} unique", keys.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")),
    }
}

/// The overall score: the mean of the dimensions that could be judged.
pub fn overall(dims: &[Dimension]) -> Option<f64> {
    let s: Vec<f64> = dims.iter().filter_map(|d| d.score).collect();
    (!s.is_empty()).then(|| s.iter().sum::<f64>() / s.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(rows: i64, cols: &[(&str, i64, Option<f64>, Option<f64>)]) -> Measure {
        Measure {
            age_secs: None,
            rows,
            columns: cols
                .iter()
                .map(|(n, nn, m, s)| ColumnStats {
                    name: n.to_string(),
                    pg_type: if m.is_some() { "numeric".into() } else { "text".into() },
                    non_null: *nn,
                    mean: *m,
                    stddev: *s,
                    distinct: None,
                })
                .collect(),
            broken: vec![],
        }
    }

    #[test]
    fn scan_is_one_statement_with_quoted_names() {
        let cols = vec![
            Column { name: "a\"b".into(), pg_type: "bigint".into(), unique: true },
            Column { name: "name".into(), pg_type: "text".into(), unique: false },
            Column { name: "n;1".into(), pg_type: "numeric(10,2)".into(), unique: false },
        ];
        let checks = vec![(Some("a\"b".to_string()), Rule::Range { min: Some("0".into()), max: None }), (Some("name".to_string()), Rule::Unique)];
        let sql = scan_sql("silver.\"t\"", &cols, &checks, false);
        // An identifier gets no mean; a quantity does.
        assert!(sql.starts_with("SELECT count(*), NULL::timestamptz, count(\"a\"\"b\"), NULL::float8, NULL::float8"), "{sql}");
        assert!(sql.contains("avg(\"n;1\")::float8, stddev_pop(\"n;1\")::float8"), "{sql}");
        assert!(sql.contains("count(DISTINCT \"a\"\"b\")"));
        assert!(sql.contains("count(*) FILTER (WHERE (\"a\"\"b\" < (SELECT ($1 -> 0 ->> 'min')::bigint)))"), "{sql}");
        assert!(sql.ends_with("0::bigint FROM silver.\"t\""));
    }

    #[test]
    fn volume_against_history() {
        assert_eq!(volume(100, &[]).score, None);
        assert_eq!(volume(1000, &[990, 1000, 1010, 1005]).score, Some(1.0));
        let drop = volume(500, &[990, 1000, 1010, 1005]).score.unwrap();
        assert!(drop < 0.1, "{drop}");
    }

    #[test]
    fn freshness_decays() {
        assert_eq!(freshness(Some(60.0), &[3600.0], 600.0).score, Some(1.0));
        let late = freshness(Some(4.0 * 7200.0), &[3600.0], 600.0).score.unwrap();
        assert!((late - 0.125).abs() < 1e-9, "{late}");
        assert_eq!(freshness(None, &[], 600.0).score, None);
    }

    #[test]
    fn completeness_against_last_run() {
        let before = measure(100, &[("a", 100, None, None), ("b", 50, None, None)]);
        let same = measure(100, &[("a", 100, None, None), ("b", 50, None, None)]);
        assert_eq!(completeness(&same, Some(&before)).score, Some(1.0));
        let worse = measure(100, &[("a", 60, None, None), ("b", 50, None, None)]);
        let s = completeness(&worse, Some(&before)).score.unwrap();
        assert!((s - (1.0 - 0.39 / 2.0)).abs() < 1e-9, "{s}");
        assert!(completeness(&worse, Some(&before)).measured.contains("a 40.0% NULL"));
    }

    #[test]
    fn distribution_shift() {
        let before = measure(100, &[("x", 100, Some(50.0), Some(10.0))]);
        assert_eq!(distribution(&measure(100, &[("x", 100, Some(52.0), Some(10.0))]), Some(&before)).score, Some(1.0));
        let moved = distribution(&measure(100, &[("x", 100, Some(80.0), Some(10.0))]), Some(&before)).score.unwrap();
        assert!((moved - (1.0 - 2.5 / 3.0)).abs() < 1e-9, "{moved}");
        assert_eq!(distribution(&before, None).score, None);
    }

    #[test]
    fn schema_validity_uniqueness_overall() {
        let before = measure(10, &[("a", 10, None, None), ("b", 10, None, None)]);
        let now = measure(10, &[("a", 10, None, None), ("c", 10, None, None)]);
        let s = schema(&now, Some(&before));
        assert_eq!(s.score, Some(0.0));
        assert_eq!(s.measured, "+c, -b");
        let mut m = measure(10, &[("id", 10, None, None)]);
        m.broken = vec![2, 0];
        assert_eq!(validity(&m, 2).score, Some(0.9));
        m.columns[0].distinct = Some(8);
        assert_eq!(uniqueness(&m).score, Some(0.8));
        assert_eq!(uniqueness(&m).measured, "id: 2 duplicates");
        let dims = vec![validity(&m, 2), uniqueness(&m), volume(10, &[])];
        assert!((overall(&dims).unwrap() - 0.85).abs() < 1e-9);
    }
}
