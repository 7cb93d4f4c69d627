//! `eai.nl_to_sql(question, scope)`: the embedded engine (eai-core `nl::engine`) over the catalog
//! the calling role may read in the scope (tables, columns, their kinds, sample values of text
//! columns as the value index, foreign keys as join paths), then validated (`validate`). Read as the caller, in a read-only
//! subtransaction; nothing of the answer is run here.

use eai_core::nl::engine::{self, Catalog, Column, Kind, QuestionVectors, Table};
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;

use crate::nl::validate;
use crate::user_query::UserQuery;
use crate::{guc, user_sql};

/// Distinct values kept per text column, from its first rows.
const VALUES_PER_COLUMN: i64 = 200;
const ROWS_READ_FOR_VALUES: i64 = 5000;

fn kind(category: &str) -> Kind {
    match category {
        "N" => Kind::Number,
        "S" => Kind::Text,
        "D" => Kind::Time,
        _ => Kind::Other,
    }
}

/// The catalog of the relations in `scope` the role may read.
fn read_catalog(scope: &[String]) -> Result<Catalog, pgrx::spi::Error> {
    user_sql::read_only(|| {
        Spi::connect(|client| {
            let mut catalog = Catalog::default();
            let tables = client.select(
                "SELECT c.oid, c.relname::text, format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c
                   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = ANY ($1) AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
                    AND pg_catalog.has_table_privilege(c.oid, 'SELECT')
                  ORDER BY n.nspname, c.relname",
                None,
                &[scope.to_vec().into()],
            )?;
            let mut oids = Vec::new();
            for r in tables {
                oids.push(r.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::InvalidOid));
                catalog.tables.push(Table { name: r.get(2)?.unwrap_or_default(), sql_name: r.get(3)?.unwrap_or_default(), embedding: None });
            }
            let mut attnums: std::collections::HashMap<(u32, i16), usize> = std::collections::HashMap::new();
            for (t, oid) in oids.iter().enumerate() {
                let cols = client.select(
                    "SELECT a.attname::text, t.typcategory::text, a.attnum FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
                      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attname NOT LIKE '\\_eai\\_%' ORDER BY a.attnum",
                    None,
                    &[(*oid).into()],
                )?;
                let cols: Vec<(String, String, i16)> = cols
                    .map(|r| Ok((r.get::<String>(1)?.unwrap_or_default(), r.get::<String>(2)?.unwrap_or_default(), r.get::<i16>(3)?.unwrap_or(0))))
                    .collect::<Result<_, pgrx::spi::Error>>()?;
                for (name, category, attnum) in cols {
                    attnums.insert((oid.to_u32(), attnum), catalog.columns.len());
                    let k = kind(&category);
                    let mut values = Vec::new();
                    if k == Kind::Text {
                        // safe: the relation and the column are quoted by format(); the limits are values.
                        let q: String = client
                            .select(
                                "SELECT format('SELECT DISTINCT v FROM (SELECT %I::text AS v FROM %s LIMIT $1) s WHERE v IS NOT NULL LIMIT $2', $1::text, $2::regclass)",
                                Some(1),
                                &[name.as_str().into(), (*oid).into()],
                            )?
                            .first()
                            .get::<String>(1)?
                            .unwrap_or_default();
                        values = client
                            .select(&q, None, &[ROWS_READ_FOR_VALUES.into(), VALUES_PER_COLUMN.into()])?
                            .map(|r| r.get::<String>(1).map(Option::unwrap_or_default))
                            .collect::<Result<_, pgrx::spi::Error>>()?;
                    }
                    catalog.columns.push(Column { table: t, name, kind: k, values, embedding: None });
                }
            }
            // Foreign keys of one column between tables of the catalog: the join paths.
            let fks = client.select(
                "SELECT conrelid, conkey[1], confrelid, confkey[1] FROM pg_catalog.pg_constraint
                  WHERE contype = 'f' AND array_length(conkey, 1) = 1 AND conrelid = ANY ($1) AND confrelid = ANY ($1)",
                None,
                &[oids.clone().into()],
            )?;
            for r in fks {
                let from = (r.get::<pg_sys::Oid>(1)?.map(|o| o.to_u32()).unwrap_or(0), r.get::<i16>(2)?.unwrap_or(0));
                let to = (r.get::<pg_sys::Oid>(3)?.map(|o| o.to_u32()).unwrap_or(0), r.get::<i16>(4)?.unwrap_or(0));
                if let (Some(a), Some(b)) = (attnums.get(&from), attnums.get(&to)) {
                    catalog.foreign_keys.push((*a, *b));
                }
            }
            Ok(catalog)
        })
    })
}

/// What the engine made of a question for this role: the validated SQL (or none), the
/// confidence, the links, warnings and the explanation.
struct Reply {
    sql: Option<String>,
    confidence: f64,
    links: JsonB,
    warnings: Vec<String>,
    explanation: String,
}

fn reply(question: &str, scope: &[String]) -> Reply {
    let catalog = read_catalog(scope).unwrap_or_else(|e| crate::errors::EaiError::catalog("read the tables in scope", e).report());
    let a = engine::answer(question, &catalog, &QuestionVectors::default());
    let links =
        JsonB(json!(a.links.iter().map(|l| json!({"words": l.words, "to": l.to, "score": (l.score * 100.0).round() / 100.0})).collect::<Vec<_>>()));
    let mut warnings = Vec::new();
    let mut sql = a.sql;
    let mut explanation = a.explanation;
    if let Some(s) = &sql {
        let checked = validate::validate(s, scope);
        if let Some((state, reason)) = checked.refusal {
            warnings.push(format!("the composed SQL was refused ({state}): {reason}"));
            explanation = format!("abstained: {explanation}");
            sql = None;
        }
    }
    Reply { sql, confidence: (a.confidence * 100.0).round() / 100.0, links, warnings, explanation }
}

/// `eai.nl_to_sql(question, scope)`: a read-only SELECT for the question, or none (the engine
/// abstains), with its confidence, the links it made, warnings and an explanation.
#[pg_extern(volatile, parallel_unsafe)]
fn nl_to_sql(
    question: &str,
    scope: default!(Vec<String>, "ARRAY['gold', 'silver']"),
) -> TableIterator<
    'static,
    (
        name!(sql, Option<String>),
        name!(confidence, f64),
        name!(engine, String),
        name!(linked, JsonB),
        name!(warnings, Vec<String>),
        name!(explanation, String),
    ),
> {
    let r = reply(question, &scope);
    let engine = if r.sql.is_some() { "embedded" } else { "none" };
    TableIterator::once((r.sql, r.confidence, engine.to_string(), r.links, r.warnings, r.explanation))
}

/// `eai.ask(question, scope, max_rows)`: the answer's rows, each as jsonb: the validated SELECT
/// run as the calling role, read-only (a subtransaction rolled back), under
/// eai.nl_statement_timeout, at most `max_rows` rows. When the engine abstains, no rows and a
/// NOTICE that says why.
#[pg_extern(volatile, parallel_unsafe)]
fn ask(
    question: &str,
    scope: default!(Vec<String>, "ARRAY['gold', 'silver']"),
    max_rows: default!(i32, 1000),
) -> TableIterator<'static, (name!(row, JsonB),)> {
    if max_rows < 0 {
        crate::errors::EaiError::InvalidQuestionParameter(format!("max_rows must be 0 or more, not {max_rows}")).report();
    }
    let r = reply(question, &scope);
    let Some(sql) = r.sql else {
        notice!("eai: no answer: {} (SELECT * FROM eai.nl_to_sql(...) shows what was linked)", r.explanation);
        return TableIterator::new(Vec::new());
    };
    let query = UserQuery::check(&sql);
    let rows = crate::deadline::within(guc::nl_statement_timeout_ms(), || query.json_rows(i64::from(max_rows)))
        .unwrap_or_else(|e| crate::errors::EaiError::catalog("read the answer's rows", e).report());
    TableIterator::new(rows.into_iter().map(|j| (j,)).collect::<Vec<_>>())
}
