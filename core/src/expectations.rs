//! Expectations: the rules a silver column (or row) must hold, how `eai.expect` spells them, and
//! the rules `eai.suggest_expectations` proposes from a column's profile.

use serde::{Deserialize, Serialize};

use crate::profile::ColumnProfile;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Quarantine,
    Warn,
    Fail,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        match s.trim().to_ascii_lowercase().as_str() {
            "quarantine" => Some(Action::Quarantine),
            "warn" => Some(Action::Warn),
            "fail" => Some(Action::Fail),
            _ => None,
        }
    }
}

/// A rule a column (or a row) must hold. Values are kept as text and compared in the column's
/// type at run time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rule {
    NotNull,
    /// The value casts to the column's type (implicit for every mapped column).
    Type,
    Range {
        min: Option<String>,
        max: Option<String>,
    },
    Regex {
        pattern: String,
    },
    Allowed {
        values: Vec<String>,
    },
    /// Unique within the batch and against the silver table.
    Unique,
    /// The value exists in `table`.`column` (`table` as `regclass::text` prints it).
    ForeignKey {
        table: String,
        column: String,
    },
    /// A boolean SQL expression over the silver columns; NULL counts as passed.
    Sql {
        expr: String,
    },
    /// A later row of the same batch has the same dedup key (implicit with a dedup key).
    DuplicateKey,
    /// The row carries a value in a bronze column whose rows the pipeline's schema-drift contract
    /// discards (`discard_row` for a new or renamed column; implicit, from
    /// `eai.pipeline_discards`).
    Discarded {
        bronze: String,
    },
}

impl Rule {
    pub fn name(&self) -> &'static str {
        match self {
            Rule::NotNull => "not_null",
            Rule::Type => "type",
            Rule::Range { .. } => "range",
            Rule::Regex { .. } => "regex",
            Rule::Allowed { .. } => "allowed",
            Rule::Unique => "unique",
            Rule::ForeignKey { .. } => "foreign_key",
            Rule::Sql { .. } => "sql",
            Rule::DuplicateKey => "duplicate_key",
            Rule::Discarded { .. } => "discarded",
        }
    }

    /// Parses `eai.expect`'s rule text and argument: `not_null`, `type`, `range` (`{"min":…,"max":…}`
    /// or `"min..max"`), `regex` (the pattern), `allowed` (a JSON array or comma-separated list),
    /// `unique`, `foreign_key` (`table(column)` or `table.column`), `sql` (an expression).
    pub fn parse(rule: &str, arg: Option<&str>) -> Result<Rule, String> {
        let arg = arg.map(str::trim).filter(|a| !a.is_empty());
        let need = |what: &str| arg.ok_or_else(|| format!("rule {rule} needs {what}"));
        Ok(match rule.trim().to_ascii_lowercase().replace([' ', '-'], "_").as_str() {
            "not_null" | "notnull" | "required" => Rule::NotNull,
            "type" => Rule::Type,
            "range" | "between" => {
                let a = need("bounds, e.g. '0..120' or '{\"min\": 0}'")?;
                let (min, max) = if let Ok(v) = serde_json::from_str::<serde_json::Value>(a).map(|v| v.as_object().cloned()) {
                    let v = v.ok_or("range bounds must be a JSON object or min..max")?;
                    let text = |k: &str| v.get(k).filter(|x| !x.is_null()).map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()));
                    (text("min"), text("max"))
                } else if let Some((lo, hi)) = a.split_once("..") {
                    let f = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
                    (f(lo), f(hi))
                } else {
                    return Err("range bounds must be min..max or a JSON object with min and/or max".into());
                };
                if min.is_none() && max.is_none() {
                    return Err("range needs a min, a max or both".into());
                }
                Rule::Range { min, max }
            }
            "regex" | "pattern" | "matches" => {
                let p = need("a pattern")?;
                regex::Regex::new(p).map_err(|e| format!("invalid pattern: {e}"))?;
                Rule::Regex { pattern: p.to_string() }
            }
            "allowed" | "in" | "allowed_values" => {
                let a = need("the allowed values")?;
                let values: Vec<String> = match serde_json::from_str::<Vec<serde_json::Value>>(a) {
                    Ok(vs) => vs.into_iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect(),
                    Err(_) => a.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect(),
                };
                if values.is_empty() {
                    return Err("allowed needs at least one value".into());
                }
                Rule::Allowed { values }
            }
            "unique" => Rule::Unique,
            "foreign_key" | "fk" | "references" => {
                let a = need("the referenced table and column, e.g. 'silver.customers(customer_id)'")?;
                let (table, column) = if let Some(open) = a.rfind('(') {
                    (a[..open].trim().to_string(), a[open + 1..].trim_end_matches(')').trim().to_string())
                } else if let Some(dot) = a.rfind('.') {
                    (a[..dot].trim().to_string(), a[dot + 1..].trim().to_string())
                } else {
                    return Err("foreign_key needs table(column)".into());
                };
                if table.is_empty() || column.is_empty() {
                    return Err("foreign_key needs table(column)".into());
                }
                Rule::ForeignKey { table, column: column.trim_matches('"').replace("\"\"", "\"") }
            }
            "sql" | "check" | "expression" => Rule::Sql { expr: need("a boolean SQL expression")?.to_string() },
            other => return Err(format!("unknown rule {other:?}: use not_null, type, range, regex, allowed, unique, foreign_key or sql")),
        })
    }
}

/// One expectation as promotion applies it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// `eai.expectations.expectation_id`, absent for implicit checks.
    pub id: Option<i64>,
    pub column: Option<String>,
    #[serde(flatten)]
    pub rule: Rule,
    pub action: Action,
}

/// A readable reason for a broken check.
pub fn reason(rule: &Rule, column: &str, pg_type: &str) -> String {
    match rule {
        Rule::NotNull => format!("{column} is missing"),
        Rule::Type => format!("{column}: value is not a valid {pg_type}"),
        Rule::Range { min, max } => match (min, max) {
            (Some(a), Some(b)) => format!("{column} outside [{a}, {b}]"),
            (Some(a), None) => format!("{column} below {a}"),
            (None, Some(b)) => format!("{column} above {b}"),
            (None, None) => format!("{column} out of range"),
        },
        Rule::Regex { pattern } => format!("{column} does not match {pattern}"),
        Rule::Allowed { values } => {
            let shown: Vec<&str> = values.iter().take(10).map(String::as_str).collect();
            format!("{column} not one of {}{}", shown.join(", "), if values.len() > 10 { ", …" } else { "" })
        }
        Rule::Unique => format!("{column} is not unique"),
        Rule::ForeignKey { table, column: c } => format!("{column} not found in {table}({c})"),
        Rule::Sql { expr } => format!("fails {expr}"),
        Rule::DuplicateKey => "duplicate key in the batch: a later row with the same key was promoted".to_string(),
        Rule::Discarded { bronze } => {
            format!("has a value in {bronze}, whose rows the pipeline's schema-drift contract discards (discard_row; eai.pipeline_discards)")
        }
    }
}

/// The SQL condition that is true when the value `v` (a column expression of type `pg_type`)
/// breaks `rule`, used by promotion and by the quality scan alike. Rule arguments come from
/// `arg(key)` (`min`, `max`, `pattern` as text, `values` as a jsonb array: parameters, never
/// literals) and are read in one-row subqueries, so once per statement, not per row. NULL passes
/// every rule but not_null. Numeric bounds on a text column compare as numbers (a value that is
/// not a number is out of range). None for the rules a row cannot judge alone (type, unique,
/// duplicate_key), which their callers handle.
pub fn broken_sql(rule: &Rule, v: &str, pg_type: &str, arg: &dyn Fn(&str) -> String) -> Option<String> {
    use crate::promotion::{is_textual, quote, NUM};
    Some(match rule {
        Rule::NotNull => format!("{v} IS NULL"),
        Rule::Range { min, max } => {
            let numeric_bounds = [min, max].iter().all(|b| b.as_deref().is_none_or(|x| x.trim().parse::<f64>().is_ok()));
            let (val, ty) = if is_textual(pg_type) && numeric_bounds {
                (format!("(CASE WHEN {v} ~ {NUM} THEN {v}::numeric END)"), "numeric")
            } else {
                (v.to_string(), pg_type)
            };
            let mut parts = Vec::new();
            if min.is_some() {
                parts.push(format!("{val} < (SELECT {}::{ty})", arg("min")));
            }
            if max.is_some() {
                parts.push(format!("{val} > (SELECT {}::{ty})", arg("max")));
            }
            if val != v {
                parts.push(format!("({v} IS NOT NULL AND {val} IS NULL)"));
            }
            format!("({})", parts.join(" OR "))
        }
        // A pattern both dialects read alike is matched by the regex crate (crate::regex_compat).
        Rule::Regex { pattern } if crate::regex_compat::to_rust(pattern).is_some() => {
            format!("NOT eai._regex_match({v}::text, (SELECT {}))", arg("pattern"))
        }
        Rule::Regex { .. } => format!("{v}::text !~ (SELECT {})", arg("pattern")),
        // IN (subquery): a hashed lookup, however long the list.
        // A few values are compared one by one (an array evaluated once per statement); more are
        // looked up by hashing, which costs more per row but not more for each value.
        Rule::Allowed { values } if values.len() <= 4 => {
            format!("NOT ({v}::text = ANY ((SELECT ARRAY(SELECT jsonb_array_elements_text({})))::text[]))", arg("values"))
        }
        Rule::Allowed { .. } => format!("NOT ({v}::text IN (SELECT jsonb_array_elements_text({})))", arg("values")),
        Rule::ForeignKey { table, column } => format!("{v} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {table} f WHERE f.{} = {v})", quote(column)),
        // On lines of its own: checked to be one expression (eai._check_expression), a trailing
        // `--` comment in it ends at the newline.
        Rule::Sql { expr } => format!("NOT coalesce((\n{expr}\n)::boolean, true)"),
        Rule::Type | Rule::Unique | Rule::DuplicateKey | Rule::Discarded { .. } => return None,
    })
}

/// Parses `eai.expect`'s rule text: the rule's name, then its argument (`range 0..120`,
/// `regex ^[A-Z]{2}$`, `allowed M, F`, `foreign_key silver.customers(id)`, `sql age < 150`,
/// `not null`, `unique`, `type`).
pub fn parse_spec(spec: &str) -> Result<Rule, String> {
    let s = spec.trim();
    let lower = s.to_ascii_lowercase();
    for name in ["not null", "not_null", "notnull"] {
        if lower == name {
            return Ok(Rule::NotNull);
        }
    }
    match s.split_once(char::is_whitespace) {
        Some((name, arg)) => Rule::parse(name, Some(arg)),
        None => Rule::parse(s, None),
    }
}

/// The silver type eai gives a column whose values were inferred as `inferred` (a type family).
pub fn silver_type(inferred: &str) -> &'static str {
    match inferred {
        "integer" => "bigint",
        "numeric" => "numeric",
        "boolean" => "boolean",
        "date" => "date",
        "timestamp" => "timestamptz",
        "uuid" => "uuid",
        "json" => "jsonb",
        _ => "text",
    }
}

/// Expectations a column's profile suggests, each with why. Conservative: a rule is proposed only
/// when every profiled value holds it and there are enough values to say so.
pub fn suggest(p: &ColumnProfile) -> Vec<(Rule, String)> {
    let mut out = Vec::new();
    let present = p.rows.saturating_sub(p.nulls);
    if p.rows >= 10 && p.nulls == 0 {
        out.push((Rule::NotNull, format!("no NULL among {} rows", p.rows)));
    }
    if present >= 10 && p.inferred_type != "text" {
        let share = p.type_shares.get(&p.inferred_type).copied().unwrap_or(1.0);
        out.push((Rule::Type, format!("{:.1}% of values are {}", share * 100.0, p.inferred_type)));
    }
    if let Some(n) = &p.numeric {
        if present >= 10 {
            let fmt = |x: f64| if x.fract() == 0.0 && x.abs() < 1e15 { format!("{}", x as i64) } else { format!("{x}") };
            out.push((
                Rule::Range { min: Some(fmt(n.min)), max: Some(fmt(n.max)) },
                format!("all {present} values lie in [{}, {}]", fmt(n.min), fmt(n.max)),
            ));
        }
    }
    // Allowed values: a few values hold (nearly) every row. Values too rare to be part of the
    // vocabulary (under 0.5% of the rows, under 2% of the most frequent value's count, or seen
    // fewer than 3 times) are left out: on dirty data they are the typos the rule is for.
    let numeric_like = matches!(p.inferred_type.as_str(), "integer" | "numeric");
    if present >= 20 && !numeric_like && p.distinct >= 2 {
        let top = p.top_values.first().map(|t| t.count).unwrap_or(0) as f64;
        let floor = ((present as f64) * 0.005).max(top * 0.02).max(3.0);
        let mut values: Vec<&crate::profile::TopValue> = p.top_values.iter().filter(|t| t.count as f64 >= floor).collect();
        let covered: u64 = values.iter().map(|t| t.count).sum();
        let coverage = covered as f64 / present as f64;
        if !values.is_empty() && values.len() <= MAX_ALLOWED && coverage >= 0.95 && (values.len() as f64) <= present as f64 / 5.0 {
            values.sort_by(|a, b| a.value.cmp(&b.value));
            let rare = p.distinct.saturating_sub(values.len() as u64);
            out.push((
                Rule::Allowed { values: values.iter().map(|t| t.value.clone()).collect() },
                if rare == 0 {
                    format!("{} distinct values in {present} rows", values.len())
                } else {
                    format!("{} values hold {:.1}% of {present} rows; {rare} rare values left out", values.len(), coverage * 100.0)
                },
            ));
        }
    }
    if let Some(sem) = p.semantic_type.as_deref() {
        if p.semantic_share >= 0.99 && present >= 10 {
            if let Some(pattern) = semantic_pattern(sem) {
                out.push((Rule::Regex { pattern: pattern.to_string() }, format!("{:.0}% of values look like {sem}", p.semantic_share * 100.0)));
            }
        }
    }
    if present >= 10 && p.distinct == present && p.inferred_type != "boolean" {
        out.push((Rule::Unique, format!("all {present} values are distinct")));
    }
    out
}

/// Most values a suggested allowed-value rule lists.
pub const MAX_ALLOWED: usize = 100;

/// A pattern for values of a semantic type, for suggested regex rules.
pub fn semantic_pattern(semantic: &str) -> Option<&'static str> {
    Some(match semantic {
        "email" => r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        "country_code" => r"^[A-Za-z]{2,3}$",
        "currency" => r"^[A-Za-z]{3}$",
        "ip" => r"^([0-9]{1,3}\.){3}[0-9]{1,3}$|:",
        "url" => r"^[a-z][a-z0-9+.-]*://",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ColumnProfiler;

    #[test]
    fn rules_parse() {
        assert_eq!(Rule::parse("not null", None), Ok(Rule::NotNull));
        assert_eq!(Rule::parse("range", Some("0..120")), Ok(Rule::Range { min: Some("0".into()), max: Some("120".into()) }));
        assert_eq!(Rule::parse("range", Some(r#"{"min": 0}"#)), Ok(Rule::Range { min: Some("0".into()), max: None }));
        assert!(Rule::parse("range", Some("..")).is_err());
        assert!(Rule::parse("regex", Some("(")).is_err());
        assert_eq!(Rule::parse("allowed", Some(r#"["a", "b,c"]"#)), Ok(Rule::Allowed { values: vec!["a".into(), "b,c".into()] }));
        assert_eq!(Rule::parse("allowed", Some("x, y")), Ok(Rule::Allowed { values: vec!["x".into(), "y".into()] }));
        assert_eq!(
            Rule::parse("foreign_key", Some("silver.customers(\"Cust\"\"ID\")")),
            Ok(Rule::ForeignKey { table: "silver.customers".into(), column: "Cust\"ID".into() })
        );
        assert!(Rule::parse("foreign_key", Some("nothing")).is_err());
        assert!(Rule::parse("sql", None).is_err());
        assert!(Rule::parse("bogus", None).unwrap_err().contains("unknown rule"));
        assert_eq!(Action::parse("WARN"), Some(Action::Warn));
        assert_eq!(Action::parse("drop"), None);
    }

    #[test]
    fn specs() {
        assert_eq!(parse_spec("not null"), Ok(Rule::NotNull));
        assert_eq!(parse_spec(" range 0..120 "), Ok(Rule::Range { min: Some("0".into()), max: Some("120".into()) }));
        assert_eq!(parse_spec("regex ^[A-Z]{2} x$"), Ok(Rule::Regex { pattern: "^[A-Z]{2} x$".into() }));
        assert_eq!(parse_spec("sql age < 150"), Ok(Rule::Sql { expr: "age < 150".into() }));
        assert_eq!(parse_spec("unique"), Ok(Rule::Unique));
    }

    fn profile(values: &[Option<&str>]) -> ColumnProfile {
        let mut p = ColumnProfiler::new("c", Some("text"));
        values.iter().for_each(|v| p.add(*v));
        p.finish()
    }

    #[test]
    fn allowed_values_few_by_array_many_by_hashing() {
        let arg = |k: &str| format!("($3 -> 0 -> '{k}')");
        let few = Rule::Allowed { values: vec!["a".into(), "b".into()] };
        let many = Rule::Allowed { values: (0..5).map(|i| i.to_string()).collect() };
        let f = broken_sql(&few, "t.c", "text", &arg).unwrap();
        assert_eq!(f, "NOT (t.c::text = ANY ((SELECT ARRAY(SELECT jsonb_array_elements_text(($3 -> 0 -> 'values'))))::text[]))");
        assert!(broken_sql(&many, "t.c", "text", &arg).unwrap().contains("t.c::text IN (SELECT jsonb_array_elements_text("));
    }

    #[test]
    fn suggestions_from_profiles() {
        let ages: Vec<String> = (20..60).map(|i| i.to_string()).collect();
        let p = profile(&ages.iter().map(|s| Some(s.as_str())).collect::<Vec<_>>());
        let rules: Vec<&str> = suggest(&p).iter().map(|(r, _)| r.name()).collect();
        assert_eq!(rules, ["not_null", "type", "range", "unique"]);
        assert!(suggest(&p).iter().any(|(r, _)| *r == Rule::Range { min: Some("20".into()), max: Some("59".into()) }));
        let sex: Vec<Option<&str>> = (0..40).map(|i| Some(if i % 3 == 0 { "F" } else { "M" })).chain([None]).collect();
        let s = suggest(&profile(&sex));
        assert_eq!(s.iter().map(|(r, _)| r.name()).collect::<Vec<_>>(), ["allowed"]);
        assert_eq!(s[0].0, Rule::Allowed { values: vec!["F".into(), "M".into()] });
        let emails: Vec<String> = (0..30).map(|i| format!("u{i}@example.com")).collect();
        let e = suggest(&profile(&emails.iter().map(|s| Some(s.as_str())).collect::<Vec<_>>()));
        assert!(e.iter().any(|(r, _)| matches!(r, Rule::Regex { .. })), "{e:?}");
        // Dirty data: the rare spellings are left out of the vocabulary.
        let mut dirty: Vec<Option<&str>> = (0..400).map(|i| Some(if i % 2 == 0 { "yes" } else { "no" })).collect();
        dirty.extend([Some("yxs"), Some("nx")]);
        let d = suggest(&profile(&dirty));
        let allowed = d.iter().find(|(r, _)| matches!(r, Rule::Allowed { .. })).expect("an allowed rule");
        assert_eq!(allowed.0, Rule::Allowed { values: vec!["no".into(), "yes".into()] });
        assert!(allowed.1.contains("2 rare values left out"), "{}", allowed.1);
        // Too few rows: nothing.
        assert!(suggest(&profile(&[Some("1"), Some("2")])).is_empty());
    }
}
