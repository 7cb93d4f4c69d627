//! `eai.quality_score(tbl)`: one scan of the table (`eai_core::quality::scan_sql`), the table's
//! history and rules from the catalog, the seven dimensions scored by `eai_core::quality`, and the
//! run kept in `eai.quality_runs` / `eai.quality_scores`.

use std::time::Instant;

use eai_core::expectations::Rule;
use eai_core::quality::{self, Column, ColumnStats, Dimension, Measure};
use pgrx::prelude::*;
use pgrx::JsonB;

use crate::catalog_write;
use crate::errors::EaiError;

const COLUMNS_SQL: &str = "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod),
        EXISTS (SELECT 1 FROM eai.expectations e WHERE e.relid = a.attrelid AND e.column_name = a.attname AND e.rule = 'unique' AND e.enabled)
        OR EXISTS (SELECT 1 FROM eai.pipelines p WHERE p.target_relid = a.attrelid AND a.attname = ANY (p.dedup_key))
   FROM pg_attribute a
  WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attname NOT LIKE '\\_eai\\_%'
  ORDER BY a.attnum";

const CHECKS_SQL: &str = "SELECT column_name, spec FROM eai.expectations
  WHERE relid = $1 AND enabled AND rule NOT IN ('unique', 'type') ORDER BY expectation_id";

/// Load times of the table's data (epoch seconds), newest first: bronze batches, promotions into
/// silver, gold refreshes.
const LOADS_SQL: &str = "SELECT extract(epoch FROM t)::float8 FROM (
    SELECT b.finished_at AS t FROM eai.batches b
     WHERE b.bronze_table = (SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                              WHERE c.oid = $1 AND n.nspname = 'bronze')
       AND b.status = 'succeeded' AND b.rows_written > 0
    UNION ALL
    SELECT pr.started_at FROM eai.promotions pr JOIN eai.pipelines p USING (pipeline_id)
     WHERE p.target_relid = $1 AND pr.rows_promoted > 0
    UNION ALL
    SELECT g.refreshed_at FROM eai.gold_tables g WHERE g.relid = $1 AND g.refreshed_at IS NOT NULL
  ) x WHERE t IS NOT NULL ORDER BY t DESC LIMIT 50";

/// Freshness is never asked of a table more often than this (seconds), whatever its history.
const FRESHNESS_FLOOR_SECS: f64 = 3600.0;

fn spi<T>(r: Result<T, pgrx::spi::Error>) -> T {
    r.unwrap_or_else(|e| EaiError::catalog("score the table's quality", e).report())
}

#[pg_extern(volatile, parallel_unsafe)]
fn _quality_score(
    tbl: pg_sys::Oid,
) -> TableIterator<'static, (name!(dimension, String), name!(score, Option<f64>), name!(measured, String), name!(expected, String))> {
    let started = Instant::now();
    let (table, columns, checks, loaded_at) = spi(Spi::connect(|client| {
        let table: String = client.select("SELECT $1::regclass::text", Some(1), &[tbl.into()])?.first().get(1)?.unwrap_or_default();
        let columns = client
            .select(COLUMNS_SQL, None, &[tbl.into()])?
            .map(|r| Ok(Column { name: r.get(1)?.unwrap_or_default(), pg_type: r.get(2)?.unwrap_or_default(), unique: r.get(3)?.unwrap_or(false) }))
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()?;
        let checks = client
            .select(CHECKS_SQL, None, &[tbl.into()])?
            .filter_map(|r| {
                let column: Option<String> = r.get(1).ok().flatten();
                let spec: Option<JsonB> = r.get(2).ok().flatten();
                spec.and_then(|j| serde_json::from_value::<Rule>(j.0).ok()).map(|rule| match rule {
                    // Exactly one expression, whoever wrote the catalog row (crate::user_sql).
                    Rule::Sql { expr } => (column, Rule::Sql { expr: crate::user_sql::check_expression(&expr) }),
                    rule => (column, rule),
                })
            })
            .collect::<Vec<_>>();
        let loaded_at: bool = client
            .select(
                "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = $1 AND attname = '_eai_loaded_at' AND NOT attisdropped)",
                Some(1),
                &[tbl.into()],
            )?
            .first()
            .get(1)?
            .unwrap_or(false);
        Ok((table, columns, checks, loaded_at))
    }));
    // The scan: one statement, one pass.
    let args = serde_json::Value::Array(
        checks
            .iter()
            .map(|(_, r)| {
                let mut v = serde_json::to_value(r).expect("serialisable");
                if let Rule::Allowed { values } = r {
                    v["values"] = serde_json::json!(values);
                }
                v
            })
            .collect(),
    );
    let sql = quality::scan_sql(&table, &columns, &checks, loaded_at);
    let (now, newest): (Measure, Option<pgrx::datum::TimestampWithTimeZone>) = spi(Spi::connect(|client| {
        let row = client.select(&sql, Some(1), &[JsonB(args).into()])?.first();
        let rows: i64 = row.get(1)?.unwrap_or(0);
        let newest = row.get::<pgrx::datum::TimestampWithTimeZone>(2)?;
        let mut stats = Vec::with_capacity(columns.len());
        let mut i = 3;
        for c in &columns {
            stats.push(ColumnStats {
                name: c.name.clone(),
                pg_type: c.pg_type.clone(),
                non_null: row.get(i)?.unwrap_or(0),
                mean: row.get(i + 1)?,
                stddev: row.get(i + 2)?,
                distinct: row.get(i + 3)?,
            });
            i += 4;
        }
        let mut broken = Vec::with_capacity(checks.len());
        for _ in &checks {
            broken.push(row.get::<i64>(i)?.unwrap_or(0));
            i += 1;
        }
        Ok((Measure { rows, columns: stats, broken, age_secs: None }, newest))
    }));
    // History: the last runs' row counts and measures, the load times.
    let (history_rows, before, loads): (Vec<i64>, Option<Measure>, Vec<f64>) = spi(Spi::connect(|client| {
        let history_rows = client
            .select("SELECT rows FROM eai.quality_runs WHERE relid = $1 ORDER BY run_id DESC LIMIT 10", None, &[tbl.into()])?
            .map(|r| r.get::<i64>(1).map(|v| v.unwrap_or(0)))
            .collect::<Result<Vec<_>, _>>()?;
        let before: Option<Measure> = client
            .select("SELECT measure FROM eai.quality_runs WHERE relid = $1 ORDER BY run_id DESC LIMIT 1", Some(1), &[tbl.into()])?
            .next()
            .and_then(|r| r.get::<JsonB>(1).ok().flatten())
            .and_then(|j| serde_json::from_value(j.0).ok());
        let loads =
            client.select(LOADS_SQL, None, &[tbl.into()])?.map(|r| r.get::<f64>(1).map(|v| v.unwrap_or(0.0))).collect::<Result<Vec<_>, _>>()?;
        Ok((history_rows, before, loads))
    }));
    let now_epoch: f64 = spi(Spi::get_one::<f64>("SELECT extract(epoch FROM clock_timestamp())::float8")).unwrap_or(0.0);
    let newest_epoch: Option<f64> = match newest {
        Some(ts) => spi(Spi::get_one_with_args::<f64>("SELECT extract(epoch FROM $1)::float8", &[ts.into()])),
        None => loads.first().copied(),
    };
    let age_secs = newest_epoch.map(|t| (now_epoch - t).max(0.0));
    let now = Measure { age_secs, ..now };
    let gaps: Vec<f64> = loads.windows(2).map(|w| w[0] - w[1]).filter(|g| *g > 0.0).collect();
    let dims: Vec<Dimension> = vec![
        quality::freshness(age_secs, &gaps, FRESHNESS_FLOOR_SECS),
        quality::volume(now.rows, &history_rows),
        quality::distribution(&now, before.as_ref()),
        quality::completeness(&now, before.as_ref()),
        quality::schema(&now, before.as_ref()),
        quality::validity(&now, checks.len()),
        quality::uniqueness(&now),
    ];
    let overall = quality::overall(&dims);
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    spi(catalog_write::as_owner(|caller| {
        Spi::connect_mut(|client| {
            let run: i64 = client
            .update(
                "INSERT INTO eai.quality_runs (relid, table_name, rows, overall, measure, duration_ms, run_by) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING run_id",
                Some(1),
                &[
                    tbl.into(),
                    table.clone().into(),
                    now.rows.into(),
                    overall.into(),
                    JsonB(serde_json::to_value(&now).expect("serialisable")).into(),
                    elapsed_ms.into(),
                    caller.into(),
                ],
            )?
            .first()
            .get(1)?
            .unwrap_or(0);
            for d in &dims {
                client.update(
                    "INSERT INTO eai.quality_scores (run_id, dimension, score, measured, expected) VALUES ($1, $2, $3, $4, $5)",
                    None,
                    &[run.into(), d.dimension.into(), d.score.into(), d.measured.clone().into(), d.expected.clone().into()],
                )?;
            }
            Ok::<_, pgrx::spi::Error>(())
        })
    }));
    let mut out: Vec<(String, Option<f64>, String, String)> =
        dims.into_iter().map(|d| (d.dimension.to_string(), d.score.map(|s| (s * 1000.0).round() / 1000.0), d.measured, d.expected)).collect();
    out.push((
        "overall".into(),
        overall.map(|s| (s * 1000.0).round() / 1000.0),
        format!("{} rows, {} columns, {} rules", now.rows, now.columns.len(), checks.len()),
        "mean of the dimensions that could be judged".into(),
    ));
    TableIterator::new(out)
}
