//! `eai.profile(tbl)`: read a sample of the table once, profile every column with
//! `eai_core::profile`, embed the normalised column names (plus comments) in one model run, and
//! store a new version of each column's profile in `eai.column_profiles`.

use eai_core::matching::ValueSet;
use eai_core::names;
use eai_core::profile::{ColumnProfile, ColumnProfiler};
use pgrx::prelude::*;
use pgrx::JsonB;

use crate::errors::EaiError;
use crate::{catalog_write, embed, guc};

struct Column {
    name: String,
    declared_type: String,
    comment: Option<String>,
    attnum: i16,
}

const COLUMNS_SQL: &str = "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), col_description(a.attrelid, a.attnum), a.attnum
   FROM pg_attribute a
  WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attname NOT LIKE '\\_eai\\_%'
  ORDER BY a.attnum";

/// Builds the sampling query with format('%I'): every column as text, and a sampling clause whose
/// numbers are parameters ($1 percent, $2 row limit) of the query it returns.
const SAMPLE_SQL_BUILDER: &str =
    "SELECT format('SELECT %s FROM %s %s', string_agg(format('%I::text', a.attname), ', ' ORDER BY a.attnum), $1::regclass,
        CASE WHEN $2 THEN 'TABLESAMPLE BERNOULLI ($1) REPEATABLE (0) LIMIT $2'
             WHEN $3 THEN 'WHERE $1 IS NOT NULL ORDER BY random() LIMIT $2'
             ELSE 'WHERE $1 IS NOT NULL LIMIT $2' END)
   FROM pg_attribute a
  WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attname NOT LIKE '\\_eai\\_%'";

const INSERT_SQL: &str = "INSERT INTO eai.column_profiles
    (relid, schema_name, table_name, column_name, attnum, version, rows_estimated, rows_sampled, declared_type,
     inferred_type, type_share, null_rate, empty_rate, distinct_count, semantic_type, pii, profile, value_set, name_text, name_embedding,
     profiled_by)
 SELECT $1, n.nspname, c.relname, $2, $3,
        coalesce((SELECT max(p.version) FROM eai.column_profiles p WHERE p.relid = $1 AND p.column_name = $2), 0) + 1,
        $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17::real[], $18
   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1
 RETURNING version";

fn read_columns(rel: pg_sys::Oid) -> Vec<Column> {
    Spi::connect(|client| {
        client
            .select(COLUMNS_SQL, None, &[rel.into()])?
            .map(|row| {
                Ok(Column {
                    name: row.get::<String>(1)?.unwrap_or_default(),
                    declared_type: row.get::<String>(2)?.unwrap_or_default(),
                    comment: row.get::<String>(3)?,
                    attnum: row.get::<i16>(4)?.unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
    })
    .unwrap_or_else(|e| EaiError::catalog("read the columns of the table", e).report())
}

/// (estimated rows, whether TABLESAMPLE applies: plain, partitioned or materialized tables).
fn table_size(rel: pg_sys::Oid) -> (f64, bool) {
    Spi::connect(|client| {
        let row = client
            .select("SELECT greatest(c.reltuples, 0)::float8, c.relkind IN ('r', 'p', 'm') FROM pg_class c WHERE c.oid = $1", None, &[rel.into()])?
            .first();
        Ok::<_, pgrx::spi::Error>((row.get::<f64>(1)?.unwrap_or(0.0), row.get::<bool>(2)?.unwrap_or(false)))
    })
    .unwrap_or_else(|e| EaiError::catalog("read the table's size", e).report())
}

/// Profiles and value sets of every column, the rows read, and the table's estimated size.
fn profile_sample(rel: pg_sys::Oid, columns: &[Column]) -> (Vec<(ColumnProfile, ValueSet)>, i64, f64) {
    let limit = guc::profile_sample_rows();
    let (estimated, samplable) = table_size(rel);
    // Sample only when the table is clearly bigger than the limit; 1.5x over-asks so that LIMIT,
    // not chance, decides the sample size.
    let sample = samplable && estimated > 2.0 * limit as f64;
    let percent = if sample { (100.0 * 1.5 * limit as f64 / estimated).min(100.0) } else { 100.0 };
    let shuffle = !samplable;
    Spi::connect(|client| {
        let query: String =
            client.select(SAMPLE_SQL_BUILDER, None, &[rel.into(), sample.into(), shuffle.into()])?.first().get::<String>(1)?.expect("a query");
        let mut profilers: Vec<ColumnProfiler> = columns.iter().map(|c| ColumnProfiler::new(&c.name, Some(&c.declared_type))).collect();
        let mut rows = 0i64;
        for row in client.select(query.as_str(), None, &[percent.into(), limit.into()])? {
            rows += 1;
            for (i, p) in profilers.iter_mut().enumerate() {
                p.add(row.get::<&str>(i + 1)?);
            }
        }
        let finished = profilers
            .into_iter()
            .map(|p| {
                let values = ValueSet::from_values(p.distinct_values()).for_storage();
                (p.finish(), values)
            })
            .collect();
        Ok::<_, pgrx::spi::Error>((finished, rows, estimated))
    })
    .unwrap_or_else(|e| EaiError::catalog("read a sample of the table", e).report())
}

/// One row of `eai.profile()`'s result.
pub type ProfileRow = (String, i32, String, String, Option<f64>, f64, i64, Option<String>, Vec<String>, String);

/// Profiles every column of `rel` and stores a new version of each; one row per column.
#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::type_complexity)]
pub fn _profile(
    rel: pg_sys::Oid,
) -> TableIterator<
    'static,
    (
        name!(column_name, String),
        name!(version, i32),
        name!(declared_type, String),
        name!(inferred_type, String),
        name!(type_share, Option<f64>),
        name!(null_rate, f64),
        name!(distinct_count, i64),
        name!(semantic_type, Option<String>),
        name!(pii, Vec<String>),
        name!(top_values, String),
    ),
> {
    TableIterator::new(profile_table(rel))
}

/// Profile `rel` and store the profiles (the work behind `eai.profile`).
pub fn profile_table(rel: pg_sys::Oid) -> Vec<ProfileRow> {
    let columns = read_columns(rel);
    if columns.is_empty() {
        return Vec::new();
    }
    let (profiles, sampled, estimated) = profile_sample(rel, &columns);
    let texts: Vec<String> = columns.iter().map(|c| names::embedding_text(&c.name, c.comment.as_deref())).collect();
    let embeddings = embed::embed_texts(&texts.iter().map(String::as_str).collect::<Vec<_>>());
    let mut out = Vec::with_capacity(columns.len());
    catalog_write::as_owner(|caller| {
        Spi::connect_mut(|client| {
            for ((col, (prof, values)), (text, emb)) in columns.iter().zip(&profiles).zip(texts.iter().zip(embeddings)) {
                let share = (prof.inferred_type != "text").then(|| prof.type_shares.get(&prof.inferred_type).copied()).flatten();
                let json = serde_json::to_value(prof).expect("profiles serialise");
                let version: i32 = client
                    .update(
                        INSERT_SQL,
                        None,
                        &[
                            rel.into(),
                            col.name.as_str().into(),
                            col.attnum.into(),
                            (estimated.max(sampled as f64) as i64).into(),
                            sampled.into(),
                            col.declared_type.as_str().into(),
                            prof.inferred_type.as_str().into(),
                            share.into(),
                            prof.null_rate.into(),
                            prof.empty_rate.into(),
                            (prof.distinct as i64).into(),
                            prof.semantic_type.clone().into(),
                            prof.pii.clone().into(),
                            JsonB(json).into(),
                            JsonB(serde_json::to_value(values).expect("value sets serialise")).into(),
                            text.as_str().into(),
                            emb.into(),
                            caller.into(),
                        ],
                    )?
                    .first()
                    .get::<i32>(1)?
                    .unwrap_or(0);
                let top = prof.top_values.iter().take(3).map(|t| t.value.as_str()).collect::<Vec<_>>().join(" | ");
                out.push((
                    col.name.clone(),
                    version,
                    col.declared_type.clone(),
                    prof.inferred_type.clone(),
                    share,
                    prof.null_rate,
                    prof.distinct as i64,
                    prof.semantic_type.clone(),
                    prof.pii.clone(),
                    top,
                ));
            }
            Ok::<_, pgrx::spi::Error>(())
        })
    })
    .unwrap_or_else(|e| EaiError::catalog("store the profiles", e).report());
    out
}
