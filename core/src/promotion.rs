//! Promotion bronze → silver: the one statement that casts a batch to the silver table's types,
//! checks its expectations, quarantines the rows that break them (with the rules and why) and
//! inserts the rest, in a single pass, with counts that always add up (read = promoted +
//! quarantined).
//!
//! Every identifier is quoted with [`quote`]; every value (patterns, bounds, allowed values, rule
//! descriptions) is passed as the statement's parameters: `$1` pipeline id, `$2` promotion id,
//! `$3` the checks as a jsonb array (see [`Plan::checks_json`]).

use serde::{Deserialize, Serialize};
use serde_json::json;

pub use crate::expectations::{reason, Action, Check, Rule};

/// `"name"`, with inner quotes doubled: a quoted identifier PostgreSQL accepts for any name.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// One silver column and where its value comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub target: String,
    /// Bronze column (text), or none: the column stays NULL.
    pub source: Option<String>,
    /// The silver column's type as `format_type` prints it (`integer`, `numeric(10,2)`, …).
    pub pg_type: String,
}

/// Everything needed to promote batches of one pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub target_schema: String,
    pub target_table: String,
    pub columns: Vec<Column>,
    /// Declared expectations (implicit type and dedup checks are added by [`Plan::checks`]).
    pub expectations: Vec<Check>,
    pub dedup_key: Vec<String>,
    /// Bronze columns no silver column takes: kept, as jsonb, in `_eai_extra` (but not those
    /// whose values the schema-drift contract discards: the caller leaves them out).
    pub extra: Vec<String>,
    /// Bronze columns (among `extra`) whose rows the schema-drift contract discards: a row with a
    /// value in one goes to quarantine.
    pub discard_rows: Vec<String>,
    /// `YMD` (ISO only), `DMY` or `MDY`: how to read dates like 03/04/2024.
    pub date_order: String,
}

/// SQL pattern of a number as PostgreSQL's numeric input accepts it.
pub(crate) const NUM: &str = "'^\\s*[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]{1,3})?\\s*$'";

pub(crate) fn is_textual(pg_type: &str) -> bool {
    let t = pg_type.trim().to_ascii_lowercase();
    t == "text" || t.starts_with("character") || t.starts_with("varchar") || t.starts_with("char")
}

/// The SQL expression that casts text `v` to `pg_type`, or gives NULL when it does not parse:
/// never an error. Integers, numbers, booleans, uuids and bounded text are checked in SQL; dates,
/// timestamps and JSON by `eai._normalize`; any other type by `eai._try_cast` (one subtransaction
/// per value: slow, but safe).
pub fn safe_cast(v: &str, pg_type: &str, date_order: &str) -> String {
    let t = pg_type.trim().to_ascii_lowercase();
    let base = t.split('(').next().unwrap_or("").trim().to_string();
    let typmod: Vec<u32> =
        t.split_once('(').map(|(_, r)| r.trim_end_matches(')').split(',').filter_map(|x| x.trim().parse().ok()).collect()).unwrap_or_default();
    match base.as_str() {
        // Integers and dates are parsed in Rust (eai._to_int*, eai._to_date), a call per value:
        // several times faster than a regular-expression guard.
        "smallint" | "int2" => format!("eai._to_int2({v})"),
        "integer" | "int" | "int4" => format!("eai._to_int4({v})"),
        "bigint" | "int8" => format!("eai._to_int8({v})"),
        "numeric" | "decimal" | "double precision" | "float8" | "real" | "float4" => {
            // Numbers as eai.profile reads them (1,234.5 and 19,99 too), canonical text from
            // eai._normalize, then bounded by the type.
            // A plain number (the common case) goes straight to PostgreSQL's own input function
            // once eai._is_number has vouched for it; anything else through eai._normalize.
            let n = format!("(CASE WHEN eai._is_number({v}) THEN {v} ELSE eai._normalize({v}, 'numeric', 'YMD') END)");
            match (base.as_str(), typmod.as_slice()) {
                // The type's own cast outside the CASE, so the expression carries the typmod
                // (the streamed insert into silver compares it with the column's).
                ("numeric" | "decimal", [p, s]) if *p >= *s => {
                    format!("(CASE WHEN abs(round({n}::numeric, {s})) < 1e{} THEN {n}::numeric END)::{t}", p - s)
                }
                ("numeric" | "decimal", [p]) => format!("(CASE WHEN abs(round({n}::numeric, 0)) < 1e{p} THEN {n}::numeric END)::{t}"),
                ("numeric" | "decimal", _) => format!("{n}::numeric"),
                ("real" | "float4", _) => format!("CASE WHEN abs({n}::numeric) <= 3.4e38 THEN {n}::{t} END"),
                _ => format!("CASE WHEN abs({n}::numeric) <= 1e308 THEN {n}::{t} END"),
            }
        }
        "boolean" | "bool" => format!(
            "CASE WHEN lower(btrim({v})) IN ('t','true','y','yes','on','1') THEN true \
             WHEN lower(btrim({v})) IN ('f','false','n','no','off','0') THEN false END"
        ),
        "uuid" => format!(
            "CASE WHEN {v} ~* '^\\s*\\{{?[0-9a-f]{{8}}-?[0-9a-f]{{4}}-?[0-9a-f]{{4}}-?[0-9a-f]{{4}}-?[0-9a-f]{{12}}\\}}?\\s*$' THEN {v}::uuid END"
        ),
        "text" => v.to_string(),
        "character varying" | "varchar" | "character" | "char" | "bpchar" => match typmod.first() {
            Some(n) => format!("(CASE WHEN length({v}) <= {n} THEN {v} END)::{t}"),
            None => format!("{v}::{t}"),
        },
        "date" => format!("eai._to_date({v}, '{}')", order(date_order)),
        _ if base.starts_with("timestamp") => format!("eai._normalize({v}, 'timestamp', '{}')::{t}", order(date_order)),
        "json" | "jsonb" => format!("eai._normalize({v}, 'json', 'YMD')::{t}"),
        _ => format!("eai._try_cast({v}, '{}'::regtype)::{t}", t.replace('\'', "''")),
    }
}

fn order(o: &str) -> &'static str {
    match o.to_ascii_uppercase().as_str() {
        "DMY" => "DMY",
        "MDY" => "MDY",
        _ => "YMD",
    }
}

impl Plan {
    /// Implicit checks (type of every mapped column, not null and in-batch duplicates of the dedup
    /// key) followed by the declared ones, in the order their index is used in the statement.
    /// The bronze columns the promotion reads, in the order of `$4`: the mapped sources (each
    /// once), then the extras.
    pub fn bronze_columns(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in &self.columns {
            if let Some(s) = &c.source {
                if !out.contains(s) {
                    out.push(s.clone());
                }
            }
        }
        for x in &self.extra {
            if !out.contains(x) {
                out.push(x.clone());
            }
        }
        out
    }

    pub fn checks(&self) -> Vec<Check> {
        let mut out: Vec<Check> = self
            .columns
            .iter()
            .filter(|c| c.source.is_some() && !is_text(&c.pg_type))
            .map(|c| Check { id: None, column: Some(c.target.clone()), rule: Rule::Type, action: Action::Quarantine })
            .collect();
        for k in &self.dedup_key {
            out.push(Check { id: None, column: Some(k.clone()), rule: Rule::NotNull, action: Action::Quarantine });
        }
        if !self.dedup_key.is_empty() {
            out.push(Check { id: None, column: None, rule: Rule::DuplicateKey, action: Action::Quarantine });
        }
        out.extend(self.expectations.iter().filter(|e| e.rule != Rule::Type).cloned());
        for b in self.discard_rows.iter().filter(|b| self.extra.contains(b)) {
            out.push(Check { id: None, column: None, rule: Rule::Discarded { bronze: b.clone() }, action: Action::Quarantine });
        }
        out
    }

    /// `$3`: the checks as jsonb, each with a readable `reason`; a quarantined row's `violations`
    /// are elements of this array.
    pub fn checks_json(&self) -> serde_json::Value {
        let cols: std::collections::HashMap<&str, &str> = self.columns.iter().map(|c| (c.target.as_str(), c.pg_type.as_str())).collect();
        let arr: Vec<serde_json::Value> = self
            .checks()
            .iter()
            .map(|c| {
                let mut v = serde_json::to_value(c).expect("serialisable");
                let col = c.column.as_deref().unwrap_or("row");
                let ty = c.column.as_deref().and_then(|k| cols.get(k)).copied().unwrap_or("");
                v["reason"] = json!(reason(&c.rule, col, ty));
                v
            })
            .collect();
        serde_json::Value::Array(arr)
    }

    /// The promotion statement reading the bronze rows from `rows` (a relation name or a
    /// parenthesised query with an alias-free result). It returns one row: read, promoted,
    /// quarantined, failed (rows breaking a `fail` rule: the caller raises) and warned (jsonb:
    /// check index → rows).
    pub fn statement(&self, rows: &str) -> String {
        self.build(rows, true)
    }

    /// The statement without the search for in-batch duplicate keys (a hash of every key), for a
    /// pipeline with a dedup key, or None without one. It is right whenever the batch repeats no
    /// key, and otherwise fails with unique_violation (a new key twice) or cardinality_violation
    /// (an existing key twice) instead of promoting anything wrong: the caller runs it in a
    /// subtransaction and falls back to [`Plan::statement`].
    pub fn statement_without_duplicates(&self, rows: &str) -> Option<String> {
        (!self.dedup_key.is_empty()).then(|| self.build(rows, false))
    }

    /// The single-pass statement: one `INSERT … SELECT` streaming the batch into silver, whose
    /// filter hands each row that breaks a check to `eai._set_aside` (which keeps it in the
    /// backend until `eai._take_aside` gives it to eai.quarantine) — nothing is materialised, no
    /// row is read twice. It returns nothing; the caller takes the promoted count from the
    /// INSERT and the quarantined rows from `eai._take_aside($2)`.
    ///
    /// Only for plans whose checks all quarantine (warn and fail rules need counts across the
    /// batch) and hold per row (a `unique` rule looks at the other rows). With a dedup key, a key
    /// silver has or that the batch repeats makes it fail with unique_violation, and the caller
    /// falls back to the other statements; `eai._set_aside` fails with program_limit_exceeded
    /// past [`ASIDE_LIMIT`] rows, and the caller falls back too.
    pub fn statement_single_pass(&self, rows: &str) -> Option<String> {
        let select = self.select_single_pass(rows)?;
        let cols: Vec<String> = self.columns.iter().map(|c| quote(&c.target)).collect();
        Some(format!(
            "INSERT INTO {}.{} AS x ({}, _eai_row, _eai_promotion, _eai_quality, _eai_extra) {select}",
            quote(&self.target_schema),
            quote(&self.target_table),
            cols.join(", ")
        ))
    }

    /// The `SELECT` of [`Plan::statement_single_pass`]: one row per promoted record, its output
    /// columns named and typed as the silver columns they fill (the bookkeeping columns
    /// included), so that `eai._insert_streamed` can write them into silver as `COPY` does.
    pub fn select_single_pass(&self, rows: &str) -> Option<String> {
        let checks = self.checks();
        if checks.iter().any(|c| c.action != Action::Quarantine || c.rule == Rule::Unique) {
            return None;
        }
        Some(self.build_with(rows, Mode::SinglePass))
    }

    fn build(&self, rows: &str, detect_dups: bool) -> String {
        self.build_with(rows, if detect_dups { Mode::Full } else { Mode::WithoutDuplicates })
    }

    fn build_with(&self, rows: &str, mode: Mode) -> String {
        let checks = self.checks();
        let detect_dups = mode == Mode::Full && !self.dedup_key.is_empty();
        let target = format!("{}.{}", quote(&self.target_schema), quote(&self.target_table));
        // 1. src: each bronze column the promotion keeps (mapped sources, then extras) once, as
        // _eai_k{j}, in the order of `bronze_columns()` (`$4`), with the row's bronze identity and
        // order. A quarantined row is rebuilt as jsonb from these, so no copy of whole rows travels.
        let kept = self.bronze_columns();
        let mut src = vec!["r._eai_row_hash AS _eai_row".to_string(), "r._eai_batch AS _eai_bronze_batch".to_string()];
        if detect_dups {
            src.push("row_number() OVER () AS _eai_ord".to_string());
        }
        for (j, k) in kept.iter().enumerate() {
            src.push(format!("r.{}::text AS _eai_k{j}", quote(k)));
        }
        // The raw value of silver column i: its source's _eai_k.
        let raw_of = |i: usize| self.columns[i].source.as_ref().map(|sc| format!("_eai_k{}", kept.iter().position(|k| k == sc).expect("kept")));
        // Past `typed`, bronze column j is read under the name of the first text silver column
        // it fills (the same value: it is not carried twice, which keeps the rows kept in memory
        // narrow), or as _eai_k{j}.
        let kref: Vec<String> = kept
            .iter()
            .map(|k| {
                self.columns
                    .iter()
                    .find(|c| c.source.as_deref() == Some(k.as_str()) && is_text(&c.pg_type))
                    .map(|c| quote(&c.target))
                    .unwrap_or_else(|| format!("_eai_k{}", kept.iter().position(|x| x == k).expect("kept")))
            })
            .collect();
        let ref_of = |i: usize| self.columns[i].source.as_ref().map(|sc| kref[kept.iter().position(|k| k == sc).expect("kept")].clone());
        // 2. typed: the safe casts, named as the silver columns.
        let mut typed = vec!["s._eai_row".to_string(), "s._eai_bronze_batch".to_string()];
        if detect_dups {
            typed.push("s._eai_ord".to_string());
        }
        typed.extend(kref.iter().filter(|r| r.starts_with("_eai_k")).map(|r| format!("s.{r}")));
        for (i, c) in self.columns.iter().enumerate() {
            let v = raw_of(i).map(|r| format!("s.{r}")).unwrap_or_else(|| "NULL::text".into());
            let e = if c.source.is_some() { safe_cast(&v, &c.pg_type, &self.date_order) } else { format!("NULL::{}", c.pg_type) };
            typed.push(format!("{e} AS {}", quote(&c.target)));
        }
        // 3. checked: the indices of the broken checks.
        let idx: std::collections::HashMap<&str, usize> = self.columns.iter().enumerate().map(|(i, c)| (c.target.as_str(), i)).collect();
        let key_cols: Vec<String> = self.dedup_key.iter().map(|k| format!("t.{}", quote(k))).collect();
        let mut broken = Vec::new();
        for (n, c) in checks.iter().enumerate() {
            let col = c.column.as_deref().map(|k| format!("t.{}", quote(k)));
            let arg = |k: &str| if k == "values" { format!("($3 -> {n} -> 'values')") } else { format!("($3 -> {n} ->> '{k}')") };
            let ty = c
                .column
                .as_deref()
                .and_then(|k| self.columns.iter().find(|x| x.target == k))
                .map(|x| x.pg_type.clone())
                .unwrap_or_else(|| "text".into());
            let cond = match (&c.rule, &col) {
                (Rule::Type, Some(v)) => {
                    let i = idx[c.column.as_deref().unwrap()];
                    let r = ref_of(i).map(|r| format!("t.{r}")).unwrap_or_else(|| "NULL::text".into());
                    // The cast's NULL test first: most values cast, and btrim is then never called.
                    format!("{v} IS NULL AND {r} IS NOT NULL AND btrim({r}) <> ''")
                }
                (Rule::Unique, Some(v)) => format!(
                    "{v} IS NOT NULL AND (count(*) OVER (PARTITION BY {v}) > 1 OR EXISTS (SELECT 1 FROM {target} x WHERE x.{q} = {v}))",
                    q = quote(c.column.as_deref().unwrap())
                ),
                (Rule::Discarded { bronze }, _) => match kept.iter().position(|k| k == bronze) {
                    Some(j) => format!("t.{} IS NOT NULL", kref[j]),
                    None => "false".to_string(),
                },
                (Rule::DuplicateKey, _) if !detect_dups => "false".to_string(),
                (Rule::DuplicateKey, _) => format!(
                    "({}) IN (SELECT {} FROM dups) AND t._eai_ord NOT IN (SELECT _eai_last FROM dups)",
                    key_cols.join(", "),
                    self.dedup_key.iter().map(|k| quote(k)).collect::<Vec<_>>().join(", ")
                ),
                // The rules a scan checks the same way (sql rules are about the row).
                (rule, v) => match (v, rule) {
                    (None, Rule::Sql { .. }) | (Some(_), _) => {
                        crate::expectations::broken_sql(rule, v.as_deref().unwrap_or("NULL"), &ty, &arg).unwrap_or_else(|| "false".into())
                    }
                    // A column rule without a column cannot be built; eai.expect refuses it.
                    _ => "false".to_string(),
                },
            };
            if cond != "false" {
                broken.push((n, cond));
            }
        }
        let by = |a: Action| -> String {
            let ns: Vec<String> = checks.iter().enumerate().filter(|(_, c)| c.action == a).map(|(n, _)| n.to_string()).collect();
            if ns.is_empty() {
                "false".into()
            } else {
                format!("coalesce(_eai_broken && ARRAY[{}], false)", ns.join(","))
            }
        };
        let (quarantine, fail) = (by(Action::Quarantine), by(Action::Fail));
        let warn_list = checks.iter().enumerate().filter(|(_, c)| c.action == Action::Warn).map(|(n, _)| n.to_string()).collect::<Vec<_>>().join(",");
        // Record quality: share of the row's cells that are filled and of its warn checks that pass.
        let warn_n = checks.iter().filter(|c| c.action == Action::Warn).count();
        // num_nonnulls counts a row's filled cells in one call (chunks: it takes 100 arguments at most).
        let filled: Vec<String> = self
            .columns
            .chunks(90)
            .map(|chunk| format!("num_nonnulls({})", chunk.iter().map(|c| quote(&c.target)).collect::<Vec<_>>().join(", ")))
            .collect();
        let passed: Vec<String> = checks
            .iter()
            .enumerate()
            .filter(|(_, c)| c.action == Action::Warn)
            .map(|(n, _)| format!("(CASE WHEN {n} = ANY (_eai_broken) THEN 0 ELSE 1 END)"))
            .collect();
        let quality = format!(
            "({})::real / {}::real",
            if filled.is_empty() && passed.is_empty() {
                "1".to_string()
            } else {
                filled.iter().chain(&passed).cloned().collect::<Vec<_>>().join(" + ")
            },
            (self.columns.len() + warn_n).max(1)
        );
        let cols: Vec<String> = self.columns.iter().map(|c| quote(&c.target)).collect();
        let extra = if self.extra.is_empty() {
            "NULL::jsonb".to_string()
        } else {
            let first = kept.len() - self.extra.len();
            format!(
                "jsonb_strip_nulls(jsonb_build_object({}))",
                (first..kept.len()).map(|j| format!("$4[{}], {}", j + 1, kref[j])).collect::<Vec<_>>().join(", ")
            )
        };
        // The bronze row of a quarantined row, rebuilt (jsonb_build_object takes at most 100 arguments: chunks).
        let pairs: Vec<String> = (0..kept.len()).map(|j| format!("$4[{}], {}", j + 1, kref[j])).collect();
        let mut raw_row = "jsonb_build_object('_eai_row_hash', _eai_row, '_eai_batch', _eai_bronze_batch)".to_string();
        for chunk in pairs.chunks(40) {
            raw_row = format!("{raw_row} || jsonb_build_object({})", chunk.join(", "));
        }
        if mode == Mode::SinglePass {
            let keep = if broken.is_empty() {
                String::new()
            } else {
                let any = if broken.len() == 1 {
                    format!("coalesce({}, false)", broken[0].1)
                } else {
                    format!("CASE {} ELSE false END", broken.iter().map(|(_, c)| format!("WHEN {c} THEN true")).collect::<Vec<_>>().join(" "))
                };
                format!(
                    " WHERE CASE WHEN {any} THEN eai._set_aside($2, t._eai_bronze_batch, t._eai_row, ARRAY[{vals}]::text[], \
                     array_remove(ARRAY[{idx}]::int[], NULL)) ELSE true END",
                    vals = kref.iter().map(|k| format!("t.{k}")).collect::<Vec<_>>().join(", "),
                    idx = broken.iter().map(|(n, c)| format!("CASE WHEN {c} THEN {n} END")).collect::<Vec<_>>().join(", ")
                )
            };
            return format!(
                "SELECT {cols}, _eai_row, $2 AS _eai_promotion, {quality} AS _eai_quality, {extra} AS _eai_extra \
                   FROM (SELECT {typed} FROM (SELECT {src} FROM {rows} AS r) s OFFSET 0) t{keep}",
                cols = cols.join(", "),
                typed = typed.join(", "),
                src = src.join(", "),
            );
        }
        let upsert = if self.dedup_key.is_empty() {
            String::new()
        } else {
            let keys: Vec<String> = self.dedup_key.iter().map(|k| quote(k)).collect();
            let set: Vec<String> = cols
                .iter()
                .filter(|c| !keys.contains(c))
                .cloned()
                .chain(["_eai_row", "_eai_promotion", "_eai_quality", "_eai_extra"].map(String::from))
                .map(|c| format!("{c} = EXCLUDED.{c}"))
                .collect();
            format!(" ON CONFLICT ({}) DO UPDATE SET {}", keys.join(", "), set.join(", "))
        };
        format!(
            "WITH {head} \
             checked AS MATERIALIZED (SELECT t.*, {broken} AS _eai_broken FROM {typed_from} t), \
             q AS (INSERT INTO eai.quarantine (pipeline_id, promotion_id, bronze_batch, row_hash, row, violations) \
                   SELECT $1, $2, _eai_bronze_batch, _eai_row, {raw_row}, \
                          (SELECT jsonb_agg($3 -> b ORDER BY b) FROM unnest(_eai_broken) b) \
                     FROM checked WHERE {quarantine} RETURNING 1), \
             {inserts} \
             SELECT (SELECT count(*) FROM checked) AS rows_read, {promoted} AS rows_promoted, \
                    (SELECT count(*) FROM q) AS rows_quarantined, \
                    {failed} AS rows_failed, {warned} AS warned",
            // With a dedup key, rows whose key silver does not have yet take a plain INSERT (the
            // upsert path costs 60% more); the others replace their record with ON CONFLICT DO
            // UPDATE. The two sets cannot overlap: in-batch duplicates are quarantined, and
            // promotions into one table are serialised (eai._promotion_start).
            inserts = if self.dedup_key.is_empty() {
                format!(
                    "ins AS (INSERT INTO {target} AS x ({cols}, _eai_row, _eai_promotion, _eai_quality, _eai_extra) \
                     SELECT {cols}, _eai_row, $2, {quality}, {extra} FROM checked WHERE NOT ({quarantine}) RETURNING 1)",
                    cols = cols.join(", ")
                )
            } else {
                let exists = format!(
                    "EXISTS (SELECT 1 FROM {target} y WHERE {})",
                    self.dedup_key.iter().map(|k| format!("y.{q} = c.{q}", q = quote(k))).collect::<Vec<_>>().join(" AND ")
                );
                format!(
                    "ins AS (INSERT INTO {target} AS x ({cols}, _eai_row, _eai_promotion, _eai_quality, _eai_extra) \
                     SELECT {cols}, _eai_row, $2, {quality}, {extra} FROM checked c WHERE NOT ({quarantine}) AND NOT {exists} RETURNING 1), \
                     upd AS (INSERT INTO {target} AS x ({cols}, _eai_row, _eai_promotion, _eai_quality, _eai_extra) \
                     SELECT {cols}, _eai_row, $2, {quality}, {extra} FROM checked c WHERE NOT ({quarantine}) AND {exists}{upsert} RETURNING 1)",
                    cols = cols.join(", ")
                )
            },
            promoted = if self.dedup_key.is_empty() {
                "(SELECT count(*) FROM ins)".to_string()
            } else {
                "((SELECT count(*) FROM ins) + (SELECT count(*) FROM upd))".to_string()
            },
            failed = if fail == "false" { "0::bigint".to_string() } else { format!("(SELECT count(*) FROM checked WHERE {fail})") },
            warned = if warn_list.is_empty() {
                "'{}'::jsonb".to_string()
            } else {
                format!(
                    "(SELECT coalesce(jsonb_object_agg($3 -> b ->> 'reason', n), '{{}}') FROM (SELECT b, count(*) AS n FROM checked, unnest(_eai_broken) b \
                      WHERE NOT ({quarantine}) AND b = ANY (ARRAY[{warn_list}]::int[]) GROUP BY b) w)"
                )
            },
            // Looking for duplicates, the cast rows are kept once (typed) and their repeated keys
            // found by hashing (dups); otherwise they are computed on the fly, once per row (OFFSET 0).
            head = if !detect_dups {
                String::new()
            } else {
                let keys: Vec<String> = self.dedup_key.iter().map(|k| quote(k)).collect();
                format!(
                    "typed AS MATERIALIZED (SELECT {typed} FROM (SELECT {src} FROM {rows} AS r) s), \
                     dups AS (SELECT {k}, max(_eai_ord) AS _eai_last FROM typed WHERE {nn} GROUP BY {k} HAVING count(*) > 1),",
                    typed = typed.join(", "),
                    src = src.join(", "),
                    k = keys.join(", "),
                    nn = keys.iter().map(|k| format!("{k} IS NOT NULL")).collect::<Vec<_>>().join(" AND ")
                )
            },
            typed_from = if !detect_dups {
                format!("(SELECT {} FROM (SELECT {} FROM {rows} AS r) s OFFSET 0)", typed.join(", "), src.join(", "))
            } else {
                "typed".to_string()
            },
            // The indices of the broken checks, NULL when none (nothing to keep in memory). Most
            // rows break none: one short-circuiting test of every condition first, and the array
            // only for the rows that break one.
            broken = if broken.is_empty() {
                "NULL::int[]".to_string()
            } else {
                format!(
                    "CASE WHEN {} THEN array_remove(ARRAY[{}]::int[], NULL) END",
                    if broken.len() == 1 {
                        format!("coalesce({}, false)", broken[0].1)
                    } else {
                        format!("CASE {} ELSE false END", broken.iter().map(|(_, c)| format!("WHEN {c} THEN true")).collect::<Vec<_>>().join(" "))
                    },
                    broken.iter().map(|(n, c)| format!("CASE WHEN {c} THEN {n} END")).collect::<Vec<_>>().join(", ")
                )
            },
        )
    }
}

/// The three promotion statements (see [`Plan::statement`], [`Plan::statement_without_duplicates`],
/// [`Plan::statement_single_pass`]).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Full,
    WithoutDuplicates,
    SinglePass,
}

/// Rows one single-pass promotion keeps aside in backend memory before it gives up (a batch
/// with more bad rows takes the statement that spills to disk instead).
pub const ASIDE_LIMIT: usize = 100_000;

fn is_text(pg_type: &str) -> bool {
    pg_type.trim().eq_ignore_ascii_case("text")
}

/// An integer as PostgreSQL's int8 input reads it (surrounding spaces, an optional sign, digits),
/// or None.
pub fn parse_int(v: &str) -> Option<i64> {
    parse_int_bytes(v.as_bytes())
}

/// Blanks PostgreSQL's input functions skip around a value (C `isspace` in the C locale).
fn is_pg_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

fn trim_pg_blanks(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if !is_pg_blank(*first) {
            break;
        }
        b = rest;
    }
    while let [rest @ .., last] = b {
        if !is_pg_blank(*last) {
            break;
        }
        b = rest;
    }
    b
}

/// [`parse_int`] over the bytes of a value (the form promotion's C functions read), without
/// allocating: blanks around, one optional sign, at least one digit, nothing else, and the
/// value within `i64`.
pub fn parse_int_bytes(v: &[u8]) -> Option<i64> {
    let t = trim_pg_blanks(v);
    let (negative, digits) = match t {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, t),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulated negative, so that i64::MIN reads too.
    let mut acc: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        acc = acc.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    if negative {
        Some(acc)
    } else {
        acc.checked_neg()
    }
}

/// Whether PostgreSQL's numeric input reads `v` as it stands: ASCII blanks around an optional
/// sign, digits with at most one point, an exponent of at most three digits, 1,000 characters at
/// most. Anything else (thousands separators, a decimal comma, NaN…) goes through [`normalize`].
pub fn is_plain_number(v: &str) -> bool {
    is_plain_number_bytes(v.as_bytes())
}

/// [`is_plain_number`] over the bytes of a value.
pub fn is_plain_number_bytes(v: &[u8]) -> bool {
    let b = trim_pg_blanks(v);
    if b.is_empty() || b.len() > 1000 {
        return false;
    }
    let mut i = usize::from(matches!(b[0], b'+' | b'-'));
    let (mut digits, mut point) = (0, false);
    while i < b.len() && (b[i].is_ascii_digit() || (b[i] == b'.' && !point)) {
        if b[i] == b'.' {
            point = true;
        } else {
            digits += 1;
        }
        i += 1;
    }
    if digits == 0 {
        return false;
    }
    if i < b.len() && matches!(b[i], b'e' | b'E') {
        i += 1;
        i += usize::from(i < b.len() && matches!(b[i], b'+' | b'-'));
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i - start > 3 {
            return false;
        }
    }
    i == b.len()
}

/// Days from 2000-01-01, PostgreSQL's date epoch (its `date2j` less `POSTGRES_EPOCH_JDATE`).
pub fn pg_epoch_days(year: i32, month: u32, day: u32) -> i32 {
    let (y, m) = if month > 2 { (year + 4800, month as i32 + 1) } else { (year + 4799, month as i32 + 13) };
    let century = y / 100;
    let julian = y * 365 - 32167 + y / 4 - century + century / 4 + 7834 * m / 256 + day as i32;
    julian - 2_451_545
}

/// A date as (year, month, day) read per `order` (see [`normalize`]), or None.
pub fn parse_date_parts(v: &str, order: &str) -> Option<(i32, u32, u32)> {
    parse_date(v.trim(), order)
}

/// [`parse_date_parts`] over the bytes of a value and of its order, without allocating (blanks
/// around the value are those PostgreSQL skips).
pub fn parse_date_bytes(v: &[u8], order: &[u8]) -> Option<(i32, u32, u32)> {
    let v = trim_pg_blanks(v);
    // Three runs of digits between two separators, each one of `-`, `/`, `.`.
    let mut parts = [(0u32, 0usize); 3];
    let mut k = 0;
    let mut value: u32 = 0;
    let mut len = 0;
    for &b in v {
        if b.is_ascii_digit() {
            value = value.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
            len += 1;
        } else if matches!(b, b'-' | b'/' | b'.') && len > 0 && k < 2 {
            parts[k] = (value, len);
            (k, value, len) = (k + 1, 0, 0);
        } else {
            return None;
        }
    }
    if k != 2 || len == 0 {
        return None;
    }
    parts[2] = (value, len);
    let (y, m, d) = if parts[0].1 == 4 {
        (parts[0].0, parts[1].0, parts[2].0)
    } else if parts[2].1 == 4 {
        if order.eq_ignore_ascii_case(b"DMY") {
            (parts[2].0, parts[1].0, parts[0].0)
        } else if order.eq_ignore_ascii_case(b"MDY") {
            (parts[2].0, parts[0].0, parts[1].0)
        } else {
            return None;
        }
    } else {
        return None;
    };
    calendar_date(y, m, d)
}

fn calendar_date(y: u32, m: u32, d: u32) -> Option<(i32, u32, u32)> {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    (y >= 1 && (1..=12).contains(&m) && d >= 1 && d <= days[(m - 1) as usize]).then_some((y as i32, m, d))
}

/// Canonical text PostgreSQL's input functions accept for `value` read as `family` (`date`,
/// `timestamp`, `json`), or None when it is not one. Dates: ISO `YYYY-MM-DD` always; `D/M/Y` or
/// `M/D/Y` (also with `-` or `.`) when `order` is `DMY` or `MDY`. Timestamps: a date as above, then
/// `T` or a space, `HH:MM[:SS[.fff]]` and an optional zone (`Z`, `±HH[:MM]`).
pub fn normalize(value: &str, family: &str, order: &str) -> Option<String> {
    let v = value.trim();
    match family {
        "date" => parse_date(v, order).map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
        "timestamp" => {
            let (date, rest) = match v.find(['T', ' ']) {
                Some(i) => (&v[..i], v[i + 1..].trim()),
                None => (v, ""),
            };
            let (y, m, d) = parse_date(date, order)?;
            if rest.is_empty() {
                return Some(format!("{y:04}-{m:02}-{d:02} 00:00:00"));
            }
            let zone_at = rest.find(['Z', 'z', '+']).or_else(|| rest.rfind('-'));
            let (time, zone) = match zone_at {
                Some(i) => (rest[..i].trim(), rest[i..].trim()),
                None => (rest, ""),
            };
            let mut parts = time.split(':');
            let h: u32 = parts.next()?.parse().ok()?;
            let mi: u32 = parts.next()?.parse().ok()?;
            let s = parts.next().unwrap_or("0");
            if parts.next().is_some() || h > 23 || mi > 59 {
                return None;
            }
            let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
            let sec: u32 = whole.parse().ok()?;
            if sec > 59 || !frac.chars().all(|c| c.is_ascii_digit()) || frac.len() > 9 {
                return None;
            }
            let zone = match zone {
                "" => String::new(),
                "Z" | "z" => "+00".into(),
                z => {
                    let sign = &z[..1];
                    let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
                    if !(digits.len() == 2 || digits.len() == 4) || !digits.chars().all(|c| c.is_ascii_digit()) {
                        return None;
                    }
                    if digits[..2].parse::<u32>().ok()? > 15 {
                        return None;
                    }
                    format!("{sign}{digits}")
                }
            };
            let frac = if frac.is_empty() { String::new() } else { format!(".{frac}") };
            Some(format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{sec:02}{frac}{zone}"))
        }
        "numeric" => {
            let unsigned = v.strip_prefix(['+', '-']).unwrap_or(v);
            let plain = !unsigned.is_empty()
                && unsigned.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
                && unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.');
            if plain && v.parse::<f64>().is_ok_and(f64::is_finite) {
                return Some(v.to_string());
            }
            // As eai.profile reads numbers: thousands separators (1,234.5) or a decimal comma (19,99).
            let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
            let (sign, body) = if let Some(rest) = v.strip_prefix('-') { ("-", rest) } else { ("", v.strip_prefix('+').unwrap_or(v)) };
            let (int, frac) = body.split_once('.').map_or((body, None), |(a, b)| (a, Some(b)));
            let groups: Vec<&str> = int.split(',').collect();
            if groups.len() > 1
                && (1..=3).contains(&groups[0].len())
                && groups.iter().all(|g| digits(g))
                && groups[1..].iter().all(|g| g.len() == 3)
                && frac.is_none_or(digits)
            {
                return Some(format!("{sign}{}{}", groups.concat(), frac.map(|f| format!(".{f}")).unwrap_or_default()));
            }
            if let (Some((a, b)), None) = (body.split_once(','), frac) {
                if digits(a) && digits(b) {
                    return Some(format!("{sign}{a}.{b}"));
                }
            }
            None
        }
        "json" => {
            let parsed: serde_json::Value = serde_json::from_str(v).ok()?;
            // PostgreSQL's jsonb refuses \u0000.
            if v.contains("\\u0000") {
                return None;
            }
            Some(parsed.to_string())
        }
        _ => None,
    }
}

fn parse_date(v: &str, order: &str) -> Option<(i32, u32, u32)> {
    parse_date_bytes(v.as_bytes(), order.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            target_schema: "silver".into(),
            target_table: "cust\"omers; --".into(),
            columns: vec![
                Column { target: "id".into(), source: Some("Cust ID".into()), pg_type: "integer".into() },
                Column { target: "e\"mail".into(), source: Some("E-mail".into()), pg_type: "text".into() },
                Column { target: "signup".into(), source: Some("signup; DROP TABLE x".into()), pg_type: "date".into() },
                Column { target: "tier".into(), source: None, pg_type: "text".into() },
            ],
            expectations: vec![
                Check {
                    id: Some(7),
                    column: Some("e\"mail".into()),
                    rule: Rule::Regex { pattern: "^[^@]+@[^@]+$".into() },
                    action: Action::Quarantine,
                },
                Check { id: Some(8), column: Some("id".into()), rule: Rule::Range { min: Some("1".into()), max: None }, action: Action::Warn },
            ],
            dedup_key: vec!["id".into()],
            extra: vec!["notes".into()],
            discard_rows: vec![],
            date_order: "YMD".into(),
        }
    }

    /// A bronze column whose rows the contract discards: a quarantine check on its raw value,
    /// with its reason; a discarded column that is not among the extras checks nothing.
    #[test]
    fn a_discarded_column_quarantines_the_rows_that_carry_it() {
        let p = Plan { discard_rows: vec!["notes".into(), "gone".into()], ..plan() };
        let checks = p.checks();
        let last = checks.last().unwrap();
        assert_eq!((last.rule.name(), last.action), ("discarded", Action::Quarantine));
        assert_eq!(checks.iter().filter(|c| c.rule.name() == "discarded").count(), 1, "only a column among the extras");
        let n = checks.len() - 1;
        let sql = p.statement("bronze.t");
        assert!(sql.contains("t._eai_k3 IS NOT NULL"), "{sql}");
        assert!(sql.contains(&format!("WHEN t._eai_k3 IS NOT NULL THEN {n}")) || sql.contains("_eai_k3 IS NOT NULL"), "{sql}");
        assert!(p.checks_json()[n]["reason"].as_str().unwrap().contains("discard_row"));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b;c"), "\"a\"\"b;c\"");
        assert_eq!(quote("ünï"), "\"ünï\"");
    }

    #[test]
    fn checks_are_implicit_then_declared() {
        let p = plan();
        let rules: Vec<&str> = p.checks().iter().map(|c| c.rule.name()).collect();
        // type of id and signup (text needs none), key not null, duplicates, then the declared.
        assert_eq!(rules, ["type", "type", "not_null", "duplicate_key", "regex", "range"]);
        let j = p.checks_json();
        assert_eq!(j[4]["pattern"], "^[^@]+@[^@]+$");
        assert_eq!(j[5]["reason"], "id below 1");
        assert_eq!(j[0]["reason"], "id: value is not a valid integer");
    }

    #[test]
    fn statement_quotes_every_name_and_keeps_values_out() {
        let p = plan();
        let sql = p.statement("new_rows");
        assert!(sql.contains(r#""silver"."cust""omers; --""#), "{sql}");
        assert!(sql.contains(r#"r."signup; DROP TABLE x""#));
        assert!(sql.contains(r#"AS "e""mail""#));
        // Patterns and bounds are parameters, never in the text.
        assert!(!sql.contains("[^@]"));
        assert!(sql.contains("(SELECT ($3 -> 4 ->> 'pattern'))"));
        assert!(sql.contains("ON CONFLICT (\"id\") DO UPDATE"));
        assert!(sql.contains("AND NOT EXISTS (SELECT 1 FROM \"silver\".\"cust\"\"omers; --\" y WHERE y.\"id\" = c.\"id\")"), "{sql}");
        assert!(sql.contains("$4[1]"));
        assert!(sql.contains("eai._to_date(s._eai_k2, 'YMD')"));
        assert_eq!(p.bronze_columns(), ["Cust ID", "E-mail", "signup; DROP TABLE x", "notes"]);
        assert!(sql.contains("jsonb_build_object('_eai_row_hash', _eai_row, '_eai_batch', _eai_bronze_batch) || jsonb_build_object($4[1], _eai_k0"));
        assert!(sql.contains("jsonb_build_object($4[4], _eai_k3)"));
        // A bronze column filling a text column travels once, under the silver name.
        assert!(sql.contains(r#"$4[2], "e""mail""#) && !sql.contains("s._eai_k1,"), "{sql}");
        // Balanced parentheses.
        assert_eq!(sql.matches('(').count(), sql.matches(')').count());
    }

    #[test]
    fn safe_casts() {
        assert_eq!(safe_cast("v", "integer", "YMD"), "eai._to_int4(v)");
        assert!(safe_cast("v", "numeric(10,2)", "YMD").contains("< 1e8"));
        // Bounded types end with their own cast: the expression has the column's typmod.
        assert!(safe_cast("v", "numeric(10,2)", "YMD").ends_with(" END)::numeric(10,2)"));
        assert!(safe_cast("v", "character varying(5)", "YMD").ends_with(" END)::character varying(5)"));
        assert_eq!(safe_cast("v", "numeric", "YMD"), "(CASE WHEN eai._is_number(v) THEN v ELSE eai._normalize(v, 'numeric', 'YMD') END)::numeric");
        assert_eq!(safe_cast("v", "date", "DMY"), "eai._to_date(v, 'DMY')");
        assert_eq!(parse_int(" -42 "), Some(-42));
        assert_eq!(parse_int("+7"), Some(7));
        assert_eq!(parse_int("4.2"), None);
        assert_eq!(parse_int("9223372036854775808"), None);
        assert_eq!(parse_int("--1"), None);
        assert_eq!(safe_cast("v", "text", "YMD"), "v");
        assert!(safe_cast("v", "character varying(5)", "YMD").contains("length(v) <= 5"));
        assert!(safe_cast("v", "timestamp with time zone", "DMY").contains("'timestamp', 'DMY')::timestamp with time zone"));
        assert!(safe_cast("v", "inet", "YMD").contains("eai._try_cast(v, 'inet'::regtype)"));
    }

    #[test]
    fn byte_parsers_read_what_postgres_input_reads() {
        // int8in: blanks around, one sign, digits, the whole i64 range.
        for (v, want) in [
            (" -42 ", Some(-42)),
            ("\t+7\n", Some(7)),
            ("007", Some(7)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-9223372036854775809", None),
            ("", None),
            ("-", None),
            (" ", None),
            ("--1", None),
            ("+-1", None),
            ("1 2", None),
            ("4.2", None),
            ("1_000", None),
            ("\u{a0}1", None),
            ("\u{663}", None), // an Arabic-Indic digit
        ] {
            assert_eq!(parse_int_bytes(v.as_bytes()), want, "{v:?}");
        }
        // Dates: the same answers as the str reader, without allocating.
        for (v, order) in [
            ("2024-02-29", "YMD"),
            ("2023-02-29", "YMD"),
            (" 2024-12-31 ", "YMD"),
            ("31/12/2024", "DMY"),
            ("12/31/2024", "MDY"),
            ("12/31/2024", "dmy"),
            ("31.12.2024", "DMY"),
            ("2024-1-5", "YMD"),
            ("2024--05", "YMD"),
            ("2024-01-05-", "YMD"),
            ("-2024-01-05", "YMD"),
            ("2024-01", "YMD"),
            ("24-01-05", "YMD"),
            ("2024-13-01", "YMD"),
            ("0000-01-01", "YMD"),
            ("2024-01-99999999999", "YMD"),
            ("2024-01-0x", "YMD"),
            ("31/12/2024", "YMD"),
        ] {
            assert_eq!(parse_date_bytes(v.as_bytes(), order.as_bytes()), parse_date_parts(v, order), "{v:?} {order}");
        }
        assert_eq!(parse_date_bytes(b"29/02/2024", b"DMY"), Some((2024, 2, 29)));
        assert_eq!(parse_date_bytes(b"2024-02-30", b"YMD"), None);
        assert!(is_plain_number_bytes(b" 12.5e3\t"));
        assert!(!is_plain_number_bytes(b"12,5"));
    }

    #[test]
    fn plain_numbers_are_those_numeric_input_reads() {
        for ok in ["0", " -1.5 ", "+.5", "5.", "1e5", "1.5E-300", "\t42\n", "007"] {
            assert!(is_plain_number(ok), "{ok:?}");
        }
        for bad in ["", " ", ".", "-", "1,5", "1.2.3", "1e", "1e1000", "NaN", "inf", "1 000", "\u{a0}1", "1e+", "--1", "0x10"] {
            assert!(!is_plain_number(bad), "{bad:?}");
        }
        assert!(!is_plain_number(&"9".repeat(1001)));
    }

    #[test]
    fn epoch_days_match_postgres() {
        assert_eq!(pg_epoch_days(2000, 1, 1), 0);
        assert_eq!(pg_epoch_days(1999, 12, 31), -1);
        assert_eq!(pg_epoch_days(2024, 3, 1), 8826); // SELECT date '2024-03-01' - date '2000-01-01'
        assert_eq!(pg_epoch_days(1970, 1, 1), -10957);
        assert_eq!(pg_epoch_days(1, 1, 1), -730119);
    }

    #[test]
    fn without_duplicates_the_statement_skips_the_key_hash() {
        let p = plan();
        let fast = p.statement_without_duplicates("new_rows").expect("dedup key");
        assert!(!fast.contains("dups") && !fast.contains("_eai_ord"), "{fast}");
        assert!(p.statement("new_rows").contains("FROM dups"));
        // Check numbering is the same in both: the regex is check 4 in each.
        assert!(fast.contains("(SELECT ($3 -> 4 ->> 'pattern'))"));
        assert_eq!(fast.matches('(').count(), fast.matches(')').count());
        let none = Plan { dedup_key: vec![], ..plan() };
        assert!(none.statement_without_duplicates("new_rows").is_none());
    }

    #[test]
    fn single_pass_streams_the_batch_and_sets_bad_rows_aside() {
        // The plan's range rule warns: no single pass.
        assert!(plan().statement_single_pass("new_rows").is_none());
        let mut p = plan();
        p.expectations[1].action = Action::Quarantine;
        let sql = p.statement_single_pass("(SELECT * FROM bronze.x WHERE _eai_batch = $5)").expect("all quarantine");
        assert!(sql.starts_with(r#"INSERT INTO "silver"."cust""omers; --" AS x"#), "{sql}");
        assert!(!sql.contains("WITH") && !sql.contains("MATERIALIZED") && !sql.contains("ON CONFLICT"), "{sql}");
        // Its SELECT names every output column as the silver column it fills.
        let select = p.select_single_pass("(SELECT * FROM bronze.x WHERE _eai_batch = $5)").unwrap();
        assert!(sql.ends_with(&select));
        assert!(
            select.starts_with(r#"SELECT "id", "e""mail", "signup", "tier", _eai_row, $2 AS _eai_promotion, "#)
                && select.contains(" AS _eai_quality, jsonb_strip_nulls(jsonb_build_object($4[4], _eai_k3)) AS _eai_extra FROM"),
            "{select}"
        );
        // Every bronze value kept, in the order of $4, for the quarantined row.
        assert!(
            sql.contains(r#"eai._set_aside($2, t._eai_bronze_batch, t._eai_row, ARRAY[t._eai_k0, t."e""mail", t._eai_k2, t._eai_k3]::text[]"#),
            "{sql}"
        );
        // Same check numbering as the other statements; values stay parameters.
        assert!(sql.contains("(SELECT ($3 -> 4 ->> 'pattern'))") && !sql.contains("[^@]"));
        assert!(sql.contains(r#"CASE WHEN t."id" IS NULL AND t._eai_k0 IS NOT NULL AND btrim(t._eai_k0) <> '' THEN 0 END"#), "{sql}");
        assert_eq!(sql.matches('(').count(), sql.matches(')').count());
        // A unique rule looks at other rows; a fail rule needs the batch's count.
        for (rule, action) in [(Rule::Unique, Action::Quarantine), (Rule::NotNull, Action::Fail)] {
            let mut q = p.clone();
            q.expectations.push(Check { id: Some(9), column: Some("id".into()), rule, action });
            assert!(q.statement_single_pass("new_rows").is_none());
        }
        // No check at all (text columns only, no key): no filter.
        let bare = Plan { columns: vec![p.columns[1].clone()], expectations: vec![], dedup_key: vec![], extra: vec![], ..p };
        assert!(!bare.statement_single_pass("new_rows").unwrap().contains("WHERE"));
    }

    #[test]
    fn normalize_dates_and_times() {
        assert_eq!(normalize("2024-02-29", "date", "YMD").as_deref(), Some("2024-02-29"));
        assert_eq!(normalize("2023-02-29", "date", "YMD"), None);
        assert_eq!(normalize("03/04/2024", "date", "YMD"), None);
        assert_eq!(normalize("03/04/2024", "date", "DMY").as_deref(), Some("2024-04-03"));
        assert_eq!(normalize("03/04/2024", "date", "MDY").as_deref(), Some("2024-03-04"));
        assert_eq!(normalize("13/13/2024", "date", "MDY"), None);
        assert_eq!(normalize("2024-01-15T10:30:00Z", "timestamp", "YMD").as_deref(), Some("2024-01-15 10:30:00+00"));
        assert_eq!(normalize("2024-01-15 10:30:05.25-05:00", "timestamp", "YMD").as_deref(), Some("2024-01-15 10:30:05.25-0500"));
        assert_eq!(normalize("2024-01-15", "timestamp", "YMD").as_deref(), Some("2024-01-15 00:00:00"));
        assert_eq!(normalize("2024-01-15 25:00", "timestamp", "YMD"), None);
        assert_eq!(normalize("yesterday", "timestamp", "YMD"), None);
        assert_eq!(normalize("19,99", "numeric", "YMD").as_deref(), Some("19.99"));
        assert_eq!(normalize("-1,234.5", "numeric", "YMD").as_deref(), Some("-1234.5"));
        assert_eq!(normalize("1,234", "numeric", "YMD").as_deref(), Some("1234"));
        assert_eq!(normalize(" 007 ", "numeric", "YMD").as_deref(), Some("007"));
        assert_eq!(normalize("12,34.5", "numeric", "YMD"), None);
        assert_eq!(normalize("inf", "numeric", "YMD"), None);
        assert_eq!(normalize("1.2.3", "numeric", "YMD"), None);
        assert_eq!(normalize(r#"{"a": [1, 2]}"#, "json", "YMD").as_deref(), Some(r#"{"a":[1,2]}"#));
        assert_eq!(normalize("{nope", "json", "YMD"), None);
        assert_eq!(normalize(r#""\u0000""#, "json", "YMD"), None);
    }
}
