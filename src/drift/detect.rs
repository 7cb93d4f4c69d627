//! What changed at a pipeline's source, not yet acted on: type changes, renames (scored from the
//! samples, name embeddings and the batches where a column stopped and another started), removed
//! and new columns; and what the remediations already speak for.

use super::*;

/// Values read per column as evidence.
pub(super) const SAMPLE: i64 = 500;

/// What remediations already speak for (proposed, applied, recorded, or reverted: a reverted heal
/// is not proposed again): `new:<column>` for a column that arrived, `gone:<column>` for one that
/// went, and `type:<column>:<type>` for a type change. Each change is acted on once. A name's
/// `new` and `gone` hold only until a later remediation says the opposite of it: a column that
/// went and came back (renamed back) may go again, and a name that arrived, went and returns is
/// new again.
pub(super) fn handled(pipeline: i64) -> HashSet<String> {
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

/// Non-null values of a column, the latest batches first (bronze) or any (silver).
pub(super) fn samples(rel: pg_sys::Oid, column: &str, latest_first: bool) -> Vec<Option<String>> {
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
pub(super) fn batch_span(bronze: pg_sys::Oid, column: &str) -> (Option<i64>, Option<i64>) {
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
pub(super) fn in_latest_batch(bronze: pg_sys::Oid, column: &str) -> bool {
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

pub(super) fn features(name: &str, declared: Option<&str>, values: &[Option<String>]) -> ColumnFeatures {
    let refs: Vec<Option<&str>> = values.iter().map(|v| v.as_deref()).collect();
    let (_, f) = ColumnFeatures::from_values(name, declared, &refs);
    let text = names::embedding_text(name, None);
    match embed::embed_texts(&[text.as_str()]).into_iter().next() {
        Some(e) => f.with_embedding(e),
        None => f,
    }
}

pub(super) fn evidence(sig: &combine::Signals, score: f64, confidence: f64) -> Value {
    json!({"signals": sig, "score": (score * 1000.0).round() / 1000.0, "confidence": (confidence * 1000.0).round() / 1000.0})
}

pub(super) struct Proposal {
    pub(super) change: Change,
    pub(super) action: &'static str,
    pub(super) columns: Value,
    pub(super) evidence: Value,
    pub(super) confidence: Option<f64>,
    pub(super) silver: Option<String>,
}

/// What the pipeline's source changed, not yet acted on.
pub(super) fn detect(s: &Shape) -> Vec<Proposal> {
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

pub(super) fn silver_name(s: &Shape, bronze_column: &str) -> String {
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

pub(super) fn silver_type_of(f: &ColumnFeatures) -> &'static str {
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
