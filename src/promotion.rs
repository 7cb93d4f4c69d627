//! Glue for pipelines (sql/pipelines.sql): the promotion statement of a pipeline, built by
//! `eai_core::promotion` from the catalog, and the helpers the statement and `eai.expect` call.

use eai_core::expectations::{self, Check, Rule};
use eai_core::profile::ColumnProfile;
use eai_core::promotion::{self, Column, Plan};
use pgrx::prelude::*;
use pgrx::JsonB;

use crate::errors::EaiError;

const PIPELINE_SQL: &str = "SELECT n.nspname::text, c.relname::text, p.dedup_key, p.date_order, p.source_relid, p.target_relid
   FROM eai.pipelines p JOIN pg_class c ON c.oid = p.target_relid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE p.pipeline_id = $1";

const COLUMNS_SQL: &str = "SELECT pc.target_column, pc.source_column, format_type(a.atttypid, a.atttypmod)
   FROM eai.pipeline_columns pc
   JOIN pg_attribute a ON a.attrelid = $2 AND a.attname = pc.target_column AND a.attnum > 0 AND NOT a.attisdropped
  WHERE pc.pipeline_id = $1
  ORDER BY a.attnum";

const EXPECTATIONS_SQL: &str = "SELECT e.expectation_id, e.column_name, e.spec, e.action
   FROM eai.expectations e
  WHERE e.relid = $1 AND e.enabled
  ORDER BY e.expectation_id";

const EXTRA_SQL: &str = "SELECT a.attname::text FROM pg_attribute a
  WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attname NOT LIKE '\\_eai\\_%'
    AND a.attname NOT IN (SELECT source_column FROM eai.pipeline_columns WHERE pipeline_id = $2 AND source_column IS NOT NULL)
    AND a.attname NOT IN (SELECT bronze_column FROM eai.pipeline_discards WHERE pipeline_id = $2 AND mode = 'value')
  ORDER BY a.attnum";

/// Bronze columns whose rows the pipeline's schema-drift contract discards (docs/healing.md).
const DISCARD_ROWS_SQL: &str = "SELECT bronze_column FROM eai.pipeline_discards WHERE pipeline_id = $1 AND mode = 'row' ORDER BY bronze_column";

/// The promotion statement of a pipeline reading its rows from `rows`, the checks (`$3`), the
/// names of the bronze columns it reads (`$4`: mapped sources, then those kept in `_eai_extra`),
/// with a dedup key the statement that assumes the batch repeats no key, and when every check
/// quarantines row by row the single pass (its INSERT, and its SELECT for `eai._insert_streamed`).
#[pg_extern(volatile, parallel_unsafe)]
fn _promotion_statement(
    pipeline_id: i64,
    rows: &str,
) -> TableIterator<
    'static,
    (
        name!(statement, String),
        name!(checks, JsonB),
        name!(extra, Vec<String>),
        name!(without_duplicates, Option<String>),
        name!(single_pass, Option<String>),
        name!(single_pass_select, Option<String>),
    ),
> {
    let result: Result<(Plan, serde_json::Value), pgrx::spi::Error> = Spi::connect(|client| {
        let mut it = client.select(PIPELINE_SQL, Some(1), &[pipeline_id.into()])?;
        if it.is_empty() {
            EaiError::UnknownPipeline(pipeline_id).report();
        }
        let row = it.next().expect("one row");
        let (schema, table): (String, String) = (row.get(1)?.unwrap_or_default(), row.get(2)?.unwrap_or_default());
        let dedup_key: Vec<String> = row.get(3)?.unwrap_or_default();
        let date_order: String = row.get(4)?.unwrap_or_else(|| "YMD".into());
        let source: pg_sys::Oid = row.get(5)?.expect("source");
        let target: pg_sys::Oid = row.get(6)?.expect("target");
        let columns = client
            .select(COLUMNS_SQL, None, &[pipeline_id.into(), target.into()])?
            .map(|r| Ok(Column { target: r.get(1)?.unwrap_or_default(), source: r.get(2)?, pg_type: r.get(3)?.unwrap_or_default() }))
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()?;
        let expectations = client
            .select(EXPECTATIONS_SQL, None, &[target.into()])?
            .map(|r| {
                let spec: JsonB = r.get(3)?.expect("spec");
                let mut rule: Rule = serde_json::from_value(spec.0).unwrap_or(Rule::Sql { expr: "true".into() });
                // Checked again here, whoever wrote the catalog row: exactly one expression.
                if let Rule::Sql { expr } = &mut rule {
                    *expr = crate::user_sql::check_expression(expr);
                }
                let action: String = r.get(4)?.unwrap_or_default();
                Ok(Check {
                    id: r.get(1)?,
                    column: r.get(2)?,
                    rule,
                    action: expectations::Action::parse(&action).unwrap_or(expectations::Action::Quarantine),
                })
            })
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()?;
        let extra = client
            .select(EXTRA_SQL, None, &[source.into(), pipeline_id.into()])?
            .map(|r| r.get::<String>(1).map(Option::unwrap_or_default))
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()?;
        let discard_rows = client
            .select(DISCARD_ROWS_SQL, None, &[pipeline_id.into()])?
            .map(|r| r.get::<String>(1).map(Option::unwrap_or_default))
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()?;
        let plan = Plan { target_schema: schema, target_table: table, columns, expectations, dedup_key, extra, discard_rows, date_order };
        let checks = plan.checks_json();
        Ok((plan, checks))
    });
    let (plan, checks) = result.unwrap_or_else(|e| EaiError::catalog("read the pipeline", format!("pipeline {pipeline_id}: {e}")).report());
    TableIterator::once((
        plan.statement(rows),
        JsonB(checks),
        plan.bronze_columns(),
        plan.statement_without_duplicates(rows),
        plan.statement_single_pass(rows),
        plan.select_single_pass(rows),
    ))
}

/// A bronze row the single-pass statement did not promote, waiting for eai.quarantine.
struct Aside {
    batch: i64,
    row: Option<pgrx::datum::Uuid>,
    values: Vec<Option<String>>,
    broken: Vec<Option<i32>>,
}

/// Rows set aside by single-pass statements of this backend's transaction, by promotion (a
/// trigger on silver may start another promotion before the first takes its rows).
#[derive(Default)]
struct Stash {
    rows: std::collections::HashMap<i64, Vec<Aside>>,
    /// Whether this transaction's end will clear the stash (rows of a statement that failed).
    hooked: bool,
}

thread_local! {
    static ASIDE: std::cell::RefCell<Stash> = std::cell::RefCell::new(Stash::default());
}

fn forget_aside() {
    ASIDE.with_borrow_mut(|s| *s = Stash::default());
}

/// The filter of the single-pass promotion statement for a row that breaks checks: keeps the
/// row (its bronze values, in the order of `eai._promotion_statement`'s `extra`, and the indices
/// of the broken checks) for `eai._take_aside`, and answers false, so the row is not promoted.
/// Past `ASIDE_LIMIT` rows it fails with program_limit_exceeded (the caller falls back to a
/// statement that keeps them on disk).
#[pg_extern(volatile, parallel_unsafe)]
fn _set_aside(promotion: i64, batch: i64, row: Option<pgrx::datum::Uuid>, values: Vec<Option<String>>, broken: Vec<Option<i32>>) -> bool {
    let full = ASIDE.with_borrow_mut(|s| {
        if !s.hooked {
            pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, forget_aside);
            pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Abort, forget_aside);
            s.hooked = true;
        }
        let rows = s.rows.entry(promotion).or_default();
        if rows.len() >= promotion::ASIDE_LIMIT {
            s.rows.remove(&promotion);
            return true;
        }
        rows.push(Aside { batch, row, values, broken });
        false
    });
    if full {
        EaiError::TooManyAside(promotion::ASIDE_LIMIT).report();
    }
    false
}

/// The rows `eai._set_aside` kept for a promotion, handed over once (and forgotten).
#[pg_extern(volatile, parallel_unsafe)]
fn _take_aside(
    promotion: i64,
) -> TableIterator<
    'static,
    (
        name!(bronze_batch, i64),
        name!(row_hash, Option<pgrx::datum::Uuid>),
        name!(bronze_values, Vec<Option<String>>),
        name!(broken, Vec<Option<i32>>),
    ),
> {
    let rows: Vec<Aside> = ASIDE.with_borrow_mut(|s| s.rows.remove(&promotion).unwrap_or_default());
    TableIterator::new(rows.into_iter().map(|a| (a.batch, a.row, a.values, a.broken)))
}

/// Canonical text for a date, timestamp or JSON value, or NULL when it is not one (the safe casts
/// of promotion use it).
#[pg_extern(immutable, strict, parallel_safe)]
fn _normalize(value: &str, family: &str, date_order: &str) -> Option<String> {
    promotion::normalize(value, family, date_order)
}

/// The silver type for a column eai inferred as `inferred`.
#[pg_extern(immutable, strict, parallel_safe)]
fn _silver_type(inferred: &str) -> &'static str {
    expectations::silver_type(inferred)
}

/// `eai.expect`'s rule text, parsed: the rule and its arguments as jsonb.
#[pg_extern(immutable, strict, parallel_safe)]
fn _parse_rule(spec: &str) -> JsonB {
    match expectations::parse_spec(spec) {
        Ok(rule) => JsonB(serde_json::to_value(rule).expect("serialisable")),
        Err(e) => EaiError::InvalidRule(e.to_string()).report(),
    }
}

/// Rules the latest profile of each column of `tbl` supports.
#[pg_extern(stable, parallel_safe)]
fn _suggest_expectations(tbl: pg_sys::Oid) -> TableIterator<'static, (name!(column_name, String), name!(spec, JsonB), name!(reason, String))> {
    let rows: Vec<(String, ColumnProfile)> = Spi::connect(|client| {
        client
            .select(
                "SELECT DISTINCT ON (p.column_name) p.column_name::text, p.profile, a.attnum
                   FROM eai.column_profiles p
                   JOIN pg_attribute a ON a.attrelid = p.relid AND a.attname = p.column_name AND NOT a.attisdropped
                  WHERE p.relid = $1 AND p.column_name NOT LIKE '\\_eai\\_%'
                  ORDER BY p.column_name, p.version DESC",
                None,
                &[tbl.into()],
            )?
            .map(|r| {
                let profile: Option<ColumnProfile> = r.get::<JsonB>(2)?.and_then(|j| serde_json::from_value(j.0).ok());
                Ok((r.get::<String>(1)?.unwrap_or_default(), profile, r.get::<i16>(3)?.unwrap_or(0)))
            })
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
            .map(|mut v| {
                v.sort_by_key(|x| x.2);
                v.into_iter().filter_map(|(c, p, _)| p.map(|p| (c, p))).collect()
            })
    })
    .unwrap_or_else(|e| EaiError::catalog("read profiles", e).report());
    let out: Vec<(String, JsonB, String)> = rows
        .into_iter()
        .flat_map(|(column, p)| {
            expectations::suggest(&p)
                .into_iter()
                .map(move |(rule, why)| (column.clone(), JsonB(serde_json::to_value(rule).expect("serialisable")), why))
        })
        .collect();
    TableIterator::new(out)
}
