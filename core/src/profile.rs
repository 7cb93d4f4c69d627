//! Column profiling: one pass over a column's values (as text, NULL as `None`) gives its null and
//! empty rates, distinct count, inferred type with the share of values that parse, min/max,
//! quantiles and a histogram for numbers, length statistics, top values, a semantic type and PII
//! flags. Everything is computed here, without PostgreSQL; `eai.profile()` feeds it a sample.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

/// Share of non-empty values that must parse for a type or semantic type to be inferred.
pub const TYPE_THRESHOLD: f64 = 0.9;
pub const SEMANTIC_THRESHOLD: f64 = 0.8;
/// Most frequent values kept per column (suggested allowed-value rules are drawn from them).
pub const TOP_VALUES: usize = 100;
const HISTOGRAM_BINS: usize = 10;

/// Types eai infers for text values, most specific first.
pub const INFERRED_TYPES: [&str; 8] = ["boolean", "integer", "numeric", "date", "timestamp", "uuid", "json", "text"];

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct TopValue {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct NumericStats {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub stddev: f64,
    /// p0, p5, p25, p50, p75, p95, p100.
    pub quantiles: Vec<f64>,
    /// Counts in 10 equal-width bins from min to max.
    pub histogram: Vec<u64>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct ColumnProfile {
    pub rows: u64,
    pub nulls: u64,
    pub empties: u64,
    pub null_rate: f64,
    pub empty_rate: f64,
    pub distinct: u64,
    /// Declared type (as PostgreSQL names it), if any.
    pub declared_type: Option<String>,
    /// For text columns, the most specific type most values parse as; else the declared type's family.
    pub inferred_type: String,
    /// Share of non-empty values that parse as each candidate type.
    pub type_shares: HashMap<String, f64>,
    pub min: Option<String>,
    pub max: Option<String>,
    pub numeric: Option<NumericStats>,
    pub length_min: Option<u64>,
    pub length_max: Option<u64>,
    pub length_mean: Option<f64>,
    pub top_values: Vec<TopValue>,
    pub semantic_type: Option<String>,
    pub semantic_share: f64,
    pub pii: Vec<String>,
}

/// Accumulates one column's values.
#[derive(Debug, Default)]
pub struct ColumnProfiler {
    name: String,
    declared_type: Option<String>,
    rows: u64,
    nulls: u64,
    empties: u64,
    counts: HashMap<String, u64>,
}

impl ColumnProfiler {
    pub fn new(name: &str, declared_type: Option<&str>) -> Self {
        ColumnProfiler { name: name.to_string(), declared_type: declared_type.map(str::to_string), ..Default::default() }
    }

    pub fn add(&mut self, value: Option<&str>) {
        self.rows += 1;
        match value {
            None => self.nulls += 1,
            Some(v) if v.trim().is_empty() => self.empties += 1,
            Some(v) => {
                if let Some(c) = self.counts.get_mut(v) {
                    *c += 1;
                } else {
                    self.counts.insert(v.to_string(), 1);
                }
            }
        }
    }

    /// The distinct non-empty values seen so far.
    pub fn distinct_values(&self) -> impl Iterator<Item = &str> {
        self.counts.keys().map(String::as_str)
    }

    pub fn finish(self) -> ColumnProfile {
        let present: u64 = self.counts.values().sum();
        let rate = |n: u64| if self.rows == 0 { 0.0 } else { n as f64 / self.rows as f64 };
        // Type shares, weighted by how often each distinct value occurs.
        let mut parsed: HashMap<&str, u64> = HashMap::new();
        let mut numbers: Vec<(f64, u64)> = Vec::new();
        let mut lengths = (u64::MAX, 0u64, 0u64);
        let mut semantic: HashMap<&'static str, u64> = HashMap::new();
        for (v, &n) in &self.counts {
            let t = v.trim();
            for ty in parse_types(t) {
                *parsed.entry(ty).or_default() += n;
            }
            if let Some(x) = parse_number(t) {
                numbers.push((x, n));
            }
            let len = v.chars().count() as u64;
            lengths = (lengths.0.min(len), lengths.1.max(len), lengths.2 + len * n);
            if let Some(s) = semantic_of(t) {
                *semantic.entry(s).or_default() += n;
            }
        }
        let share = |n: u64| if present == 0 { 0.0 } else { n as f64 / present as f64 };
        let type_shares: HashMap<String, f64> =
            INFERRED_TYPES.iter().filter(|t| **t != "text").map(|t| (t.to_string(), share(*parsed.get(t).unwrap_or(&0)))).collect();
        let inferred_type = match self.declared_type.as_deref().map(type_family) {
            Some(family) if family != "text" => family.to_string(),
            _ => INFERRED_TYPES.iter().find(|t| **t == "text" || (present > 0 && type_shares[**t] >= TYPE_THRESHOLD)).unwrap().to_string(),
        };
        let numeric_like = matches!(inferred_type.as_str(), "integer" | "numeric");
        let numeric = if numeric_like { numeric_stats(&mut numbers) } else { None };
        let (min, max) = if let Some(ns) = &numeric {
            (Some(format_number(ns.min)), Some(format_number(ns.max)))
        } else {
            (self.counts.keys().min().cloned(), self.counts.keys().max().cloned())
        };
        let (semantic_type, semantic_share) = pick_semantic(&self.name, &semantic, present, &self.counts);
        let pii = pii_flags(semantic_type.as_deref(), &semantic, present);
        let mut top: Vec<TopValue> = self.counts.iter().map(|(v, &c)| TopValue { value: v.clone(), count: c }).collect();
        top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        top.truncate(TOP_VALUES);
        ColumnProfile {
            rows: self.rows,
            nulls: self.nulls,
            empties: self.empties,
            null_rate: rate(self.nulls),
            empty_rate: rate(self.empties),
            distinct: self.counts.len() as u64,
            declared_type: self.declared_type,
            inferred_type,
            type_shares,
            min,
            max,
            numeric,
            length_min: (present > 0).then_some(lengths.0),
            length_max: (present > 0).then_some(lengths.1),
            length_mean: (present > 0).then(|| lengths.2 as f64 / present as f64),
            top_values: top,
            semantic_type,
            semantic_share,
            pii,
        }
    }
}

/// The family of a PostgreSQL type name: integer, numeric, boolean, date, timestamp, uuid, json, text.
pub fn type_family(pg_type: &str) -> &'static str {
    let t = pg_type.to_ascii_lowercase();
    let t = t.split('(').next().unwrap_or("").trim();
    match t {
        "smallint" | "integer" | "bigint" | "int" | "int2" | "int4" | "int8" => "integer",
        "numeric" | "decimal" | "real" | "double precision" | "float4" | "float8" | "money" => "numeric",
        "boolean" | "bool" => "boolean",
        "date" => "date",
        _ if t.starts_with("timestamp") => "timestamp",
        "uuid" => "uuid",
        "json" | "jsonb" => "json",
        _ => "text",
    }
}

fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid regex"))
}

/// A number as written in data: `-3.5`, `1e3`, `19,99` (decimal comma), `1,234.5` (thousands).
pub fn parse_number(t: &str) -> Option<f64> {
    if t.is_empty() || t.len() > 40 {
        return None;
    }
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    if unsigned.len() > 1 && unsigned.starts_with('0') && unsigned.as_bytes()[1].is_ascii_digit() {
        return None; // zero-padded code
    }
    if let Ok(x) = t.parse::<f64>() {
        return x.is_finite().then_some(x);
    }
    static THOUSANDS: OnceLock<Regex> = OnceLock::new();
    static DECIMAL_COMMA: OnceLock<Regex> = OnceLock::new();
    if re(&THOUSANDS, r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$").is_match(t) {
        return t.replace(',', "").parse().ok();
    }
    if re(&DECIMAL_COMMA, r"^[+-]?\d+,\d+$").is_match(t) {
        return t.replace(',', ".").parse().ok();
    }
    None
}

/// An integer as written in data. Zero-padded values (`02139`) are codes, not integers: casting
/// them would lose their leading zeros.
fn is_integer(t: &str) -> bool {
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    !digits.is_empty() && digits.len() <= 19 && digits.bytes().all(|b| b.is_ascii_digit()) && !(digits.len() > 1 && digits.starts_with('0'))
}

/// Shaped like a date (digits separated by - / .), whether or not the date exists.
fn date_shaped(t: &str) -> bool {
    static SHAPE: OnceLock<Regex> = OnceLock::new();
    re(&SHAPE, r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}$").is_match(t)
}

fn is_boolean(t: &str) -> bool {
    matches!(t.to_ascii_lowercase().as_str(), "true" | "false" | "t" | "f" | "yes" | "no" | "y" | "n")
}

fn valid_ymd(y: i32, m: u32, d: u32) -> bool {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    (1..=9999).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days[(m - 1) as usize]
}

/// A calendar date in ISO (2024-01-31, 2024/01/31), day-first or month-first (31/01/2024) form.
pub fn is_date(t: &str) -> bool {
    static DATE: OnceLock<Regex> = OnceLock::new();
    let Some(c) = re(&DATE, r"^(\d{1,4})[-/.](\d{1,2})[-/.](\d{1,4})$").captures(t) else { return false };
    let (a, b, c3): (i32, u32, i32) = (c[1].parse().unwrap(), c[2].parse().unwrap(), c[3].parse().unwrap());
    if c[1].len() == 4 {
        valid_ymd(a, b, c3 as u32)
    } else if c[3].len() == 4 {
        valid_ymd(c3, b, a as u32) || valid_ymd(c3, a as u32, b)
    } else {
        false
    }
}

fn is_timestamp(t: &str) -> bool {
    static TS: OnceLock<Regex> = OnceLock::new();
    let r = re(&TS, r"^(\S+)[ T](\d{1,2}):(\d{2})(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?|[A-Za-z]{3,4})?$");
    r.captures(t).is_some_and(|c| is_date(&c[1]) && c[2].parse::<u32>().unwrap_or(99) < 24 && c[3].parse::<u32>().unwrap_or(99) < 60)
}

fn is_uuid(t: &str) -> bool {
    static UUID: OnceLock<Regex> = OnceLock::new();
    re(&UUID, r"^(?i)\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$").is_match(t)
}

fn is_json(t: &str) -> bool {
    (t.starts_with('{') || t.starts_with('[')) && serde_json::from_str::<serde_json::Value>(t).is_ok()
}

/// Every type a value parses as (a value may be several: "1" is an integer and a number).
fn parse_types(t: &str) -> Vec<&'static str> {
    let mut out = Vec::with_capacity(3);
    if is_boolean(t) {
        out.push("boolean");
    }
    if is_integer(t) {
        out.push("integer");
    }
    if parse_number(t).is_some() {
        out.push("numeric");
    }
    if is_date(t) {
        out.push("date");
    }
    if is_date(t) || is_timestamp(t) {
        out.push("timestamp");
    }
    if is_uuid(t) {
        out.push("uuid");
    }
    if is_json(t) {
        out.push("json");
    }
    out
}

fn numeric_stats(values: &mut [(f64, u64)]) -> Option<NumericStats> {
    let n: u64 = values.iter().map(|v| v.1).sum();
    if n == 0 {
        return None;
    }
    values.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mean = values.iter().map(|(x, c)| x * *c as f64).sum::<f64>() / n as f64;
    let var = values.iter().map(|(x, c)| (x - mean).powi(2) * *c as f64).sum::<f64>() / n as f64;
    let quantile = |q: f64| {
        let target = (q * (n - 1) as f64).round() as u64;
        let mut seen = 0;
        for (x, c) in values.iter() {
            seen += c;
            if seen > target {
                return *x;
            }
        }
        values.last().unwrap().0
    };
    let (min, max) = (values[0].0, values.last().unwrap().0);
    let mut histogram = vec![0u64; HISTOGRAM_BINS];
    for (x, c) in values.iter() {
        let bin = if max > min { (((x - min) / (max - min)) * HISTOGRAM_BINS as f64) as usize } else { 0 };
        histogram[bin.min(HISTOGRAM_BINS - 1)] += c;
    }
    Some(NumericStats {
        min,
        max,
        mean,
        stddev: var.sqrt(),
        quantiles: [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0].iter().map(|q| quantile(*q)).collect(),
        histogram,
    })
}

// ---------------------------------------------------------------------------------------------
// Semantic types and PII.

/// ISO 3166-1 alpha-2 country codes.
const COUNTRY_CODES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";
/// Common ISO 4217 currency codes.
const CURRENCY_CODES: &str = "USD EUR GBP JPY CNY INR CAD AUD CHF SEK NOK DKK PLN CZK HUF RUB BRL MXN ARS CLP COP ZAR TRY KRW SGD HKD NZD THB IDR MYR PHP VND AED SAR ILS EGP NGN KES";

/// Luhn checksum over the digits of a card number.
pub fn luhn_valid(digits: &str) -> bool {
    let ds: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    if ds.len() < 13 || ds.len() > 19 {
        return false;
    }
    let sum: u32 = ds
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// The semantic type of one value, if it has an unambiguous one.
pub fn semantic_of(t: &str) -> Option<&'static str> {
    static EMAIL: OnceLock<Regex> = OnceLock::new();
    static URL: OnceLock<Regex> = OnceLock::new();
    static PHONE: OnceLock<Regex> = OnceLock::new();
    static CARD: OnceLock<Regex> = OnceLock::new();
    static SSN: OnceLock<Regex> = OnceLock::new();
    static NINO: OnceLock<Regex> = OnceLock::new();
    static MONEY: OnceLock<Regex> = OnceLock::new();
    static POSTAL: OnceLock<Regex> = OnceLock::new();
    static NAME: OnceLock<Regex> = OnceLock::new();
    if t.is_empty() || t.len() > 320 {
        return None;
    }
    if re(&EMAIL, r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$").is_match(t) {
        return Some("email");
    }
    if re(&URL, r"^(?i)(https?|ftp)://[^\s/$.?#][^\s]*$|^www\.[^\s]+\.[a-z]{2,}[^\s]*$").is_match(t) {
        return Some("url");
    }
    if t.parse::<std::net::IpAddr>().is_ok() {
        return Some("ip_address");
    }
    if re(&SSN, r"^\d{3}-\d{2}-\d{4}$").is_match(t) || re(&NINO, r"^(?i)[A-CEGHJ-PR-TW-Z]{2}\d{6}[A-D]$").is_match(t) {
        return Some("national_id");
    }
    if re(&CARD, r"^\d{4}([ -]?\d{4}){2}[ -]?\d{1,7}$").is_match(t) && luhn_valid(t) {
        return Some("credit_card");
    }
    if re(&MONEY, r"^([$€£¥]\s?[+-]?\d[\d,]*(\.\d+)?|[+-]?\d[\d,]*(\.\d+)?\s?(USD|EUR|GBP|JPY|CHF|[$€£¥]))$").is_match(t) {
        return Some("currency_amount");
    }
    let digits = t.chars().filter(|c| c.is_ascii_digit()).count();
    if re(&PHONE, r"^\+?[\d\s().-]{7,20}$").is_match(t)
        && (7..=15).contains(&digits)
        && (t.starts_with('+') || t.contains(['(', ' ', '-', '.']))
        && !date_shaped(t)
    {
        return Some("phone");
    }
    if t.len() == 2 && COUNTRY_CODES.split(' ').any(|c| c.eq_ignore_ascii_case(t)) && t.chars().all(|c| c.is_ascii_alphabetic()) {
        return Some("country_code");
    }
    if t.len() == 3 && CURRENCY_CODES.split(' ').any(|c| c.eq_ignore_ascii_case(t)) {
        return Some("currency_code");
    }
    if re(&POSTAL, r"^(?i)(\d{5}(-\d{4})?|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|[A-Z]\d[A-Z] ?\d[A-Z]\d)$").is_match(t) {
        return Some("postal_code");
    }
    // Given names and surnames (capitalised words), initials, quoted nicknames, "Last, First".
    let name_pattern = r#"^\p{Lu}[\p{L}'’-]+,?( (\p{Lu}[\p{L}'’-]+|\p{Lu}\.|"[^"]{1,20}")){1,3}$"#;
    if re(&NAME, name_pattern).is_match(t) {
        return Some("person_name");
    }
    None
}

/// Semantic types that need the column's name to agree, since their values look like others'.
fn needs_name_hint(semantic: &str) -> Option<&'static [&'static str]> {
    match semantic {
        "postal_code" => Some(&["zip", "postal", "postcode", "plz", "cep"]),
        "person_name" => Some(&["name", "person", "customer", "client", "author", "contact", "employee", "patient", "owner"]),
        "country_code" => Some(&["country", "nation", "cc", "iso"]),
        "currency_code" => Some(&["currency", "ccy", "cur"]),
        _ => None,
    }
}

fn pick_semantic(name: &str, counts: &HashMap<&'static str, u64>, present: u64, values: &HashMap<String, u64>) -> (Option<String>, f64) {
    if present == 0 {
        return (None, 0.0);
    }
    let words = crate::names::normalize(name);
    let mut best: Option<(&str, f64)> = None;
    for (&sem, &n) in counts {
        let share = n as f64 / present as f64;
        let threshold = if needs_name_hint(sem).is_some_and(|hints| hints.iter().any(|h| words.contains(h))) {
            0.6
        } else if needs_name_hint(sem).is_some() {
            continue;
        } else {
            SEMANTIC_THRESHOLD
        };
        if share >= threshold && best.is_none_or(|(_, s)| share > s) {
            best = Some((sem, share));
        }
    }
    // Person names have many distinct values; a handful repeated is a category, not names.
    if best.is_some_and(|(s, _)| s == "person_name") && values.len() < 3 {
        best = None;
    }
    best.map(|(s, share)| (Some(s.to_string()), share)).unwrap_or((None, 0.0))
}

fn pii_flags(semantic: Option<&str>, counts: &HashMap<&'static str, u64>, present: u64) -> Vec<String> {
    const PII: [&str; 6] = ["email", "phone", "credit_card", "national_id", "ip_address", "person_name"];
    let mut flags: Vec<String> = PII
        .iter()
        .filter(|p| {
            Some(**p) == semantic || (**p != "person_name" && counts.get(*p).is_some_and(|n| present > 0 && *n as f64 / present as f64 >= 0.1))
        })
        .map(|p| p.to_string())
        .collect();
    flags.sort();
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str, declared: Option<&str>, values: &[Option<&str>]) -> ColumnProfile {
        let mut p = ColumnProfiler::new(name, declared);
        values.iter().for_each(|v| p.add(*v));
        p.finish()
    }

    fn some(vs: &[&'static str]) -> Vec<Option<&'static str>> {
        vs.iter().map(|v| Some(*v)).collect()
    }

    #[test]
    fn counts_and_rates() {
        let p = profile("x", Some("text"), &[Some("a"), None, Some(""), Some("a"), Some("b")]);
        assert_eq!((p.rows, p.nulls, p.empties, p.distinct), (5, 1, 1, 2));
        assert!((p.null_rate - 0.2).abs() < 1e-9 && (p.empty_rate - 0.2).abs() < 1e-9);
        assert_eq!(p.top_values[0], TopValue { value: "a".into(), count: 2 });
        assert_eq!((p.length_min, p.length_max), (Some(1), Some(1)));
    }

    #[test]
    fn empty_column() {
        let p = profile("x", None, &[]);
        assert_eq!((p.rows, p.distinct, p.inferred_type.as_str()), (0, 0, "text"));
        assert!(p.numeric.is_none() && p.semantic_type.is_none() && p.length_min.is_none());
        let p = profile("x", None, &[None, None]);
        assert_eq!(p.null_rate, 1.0);
        assert_eq!(p.inferred_type, "text");
    }

    #[test]
    fn infers_types_of_text() {
        assert_eq!(profile("a", Some("text"), &some(&["1", "2", "-3"])).inferred_type, "integer");
        assert_eq!(profile("a", Some("text"), &some(&["1.5", "19,99", "1e3", "7"])).inferred_type, "numeric");
        assert_eq!(profile("a", Some("text"), &some(&["yes", "no", "Y"])).inferred_type, "boolean");
        assert_eq!(profile("a", Some("text"), &some(&["2024-01-15", "15/02/2024", "2024/03/01"])).inferred_type, "date");
        assert_eq!(profile("a", Some("text"), &some(&["2024-01-15 10:00", "2024-01-15T10:00:00Z"])).inferred_type, "timestamp");
        assert_eq!(profile("a", None, &some(&["550e8400-e29b-41d4-a716-446655440000"])).inferred_type, "uuid");
        assert_eq!(profile("a", None, &some(&["{\"a\": 1}", "[1,2]"])).inferred_type, "json");
        assert_eq!(profile("a", None, &some(&["x", "1"])).inferred_type, "text");
        // Zero-padded codes stay text: a cast would lose the zeros.
        assert_eq!(profile("zip", None, &some(&["02139", "10001", "00501"])).inferred_type, "text");
        assert_eq!(profile("a", None, &some(&["0", "0.5", "10"])).inferred_type, "numeric");
        // 2024-04-31 is not a date.
        assert!(!is_date("2024-04-31") && is_date("2024-02-29") && !is_date("2023-02-29"));
    }

    #[test]
    fn type_shares_report_partial_parses() {
        let mut vals = some(&["1"; 9]);
        vals.push(Some("oops"));
        let p = profile("n", Some("text"), &vals);
        assert_eq!(p.inferred_type, "integer");
        assert!((p.type_shares["integer"] - 0.9).abs() < 1e-9);
        let mut vals = some(&["1"; 8]);
        vals.extend(some(&["x", "y"]));
        assert_eq!(profile("n", Some("text"), &vals).inferred_type, "text");
    }

    #[test]
    fn declared_types_win() {
        let p = profile("n", Some("numeric(10,2)"), &some(&["1.50", "2.00"]));
        assert_eq!(p.inferred_type, "numeric");
        assert_eq!(type_family("timestamp with time zone"), "timestamp");
        assert_eq!(type_family("character varying(100)"), "text");
    }

    #[test]
    fn numeric_stats_quantiles_histogram() {
        let vals: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
        let p = profile("n", Some("integer"), &vals.iter().map(|v| Some(v.as_str())).collect::<Vec<_>>());
        let ns = p.numeric.unwrap();
        assert_eq!((ns.min, ns.max), (1.0, 100.0));
        assert!((ns.mean - 50.5).abs() < 1e-9);
        assert_eq!(ns.quantiles[3], 51.0);
        assert_eq!(ns.histogram.iter().sum::<u64>(), 100);
        assert_eq!(ns.histogram, vec![10; 10]);
        assert_eq!((p.min.as_deref(), p.max.as_deref()), (Some("1"), Some("100")));
    }

    #[test]
    fn semantic_types() {
        assert_eq!(semantic_of("jane.doe@example.com"), Some("email"));
        assert_eq!(semantic_of("https://x.io/a?b=1"), Some("url"));
        assert_eq!(semantic_of("192.168.0.1"), Some("ip_address"));
        assert_eq!(semantic_of("2001:db8::1"), Some("ip_address"));
        assert_eq!(semantic_of("+1 555 0100"), Some("phone"));
        assert_eq!(semantic_of("(555) 010-2000"), Some("phone"));
        assert_eq!(semantic_of("4111 1111 1111 1111"), Some("credit_card"));
        assert_eq!(semantic_of("4111 1111 1111 1112"), None, "Luhn fails");
        assert_eq!(semantic_of("123-45-6789"), Some("national_id"));
        assert_eq!(semantic_of("$1,234.50"), Some("currency_amount"));
        assert_eq!(semantic_of("DE"), Some("country_code"));
        assert_eq!(semantic_of("EUR"), Some("currency_code"));
        assert_eq!(semantic_of("SW1A 1AA"), Some("postal_code"));
        assert_eq!(semantic_of("Jane Doe"), Some("person_name"));
        assert_eq!(semantic_of("Doe, Jane"), Some("person_name"));
        assert_eq!(semantic_of("Zoë \"Z\" Müller"), Some("person_name"));
        assert_eq!(semantic_of("John F. Kennedy"), Some("person_name"));
        assert_eq!(semantic_of("Jane"), None);
        assert_eq!(semantic_of("jane doe"), None);
        assert_eq!(semantic_of("2024-01-15"), None);
        assert_eq!(semantic_of("12345678"), None);
        assert_eq!(semantic_of("2024-04-31"), None, "an impossible date is still not a phone number");
        assert_eq!(semantic_of("01.02.2024"), None);
        assert!(luhn_valid("4539578763621486") && !luhn_valid("1234"));
    }

    #[test]
    fn column_semantics_and_pii() {
        let p = profile("contact", None, &some(&["a@x.io", "b@y.org", "c@z.com", "not-an-email"]));
        assert_eq!(p.semantic_type, None, "75% is below the 80% bar");
        assert_eq!(p.pii, vec!["email"], "but a quarter of emails is still PII");
        let p = profile("E-mail", None, &some(&["a@x.io", "b@y.org", "c@z.com", "d@w.net", "x"]));
        assert_eq!(p.semantic_type.as_deref(), Some("email"));
        // Names need the column name to say so.
        let names = some(&["Jane Doe", "Bob Martin", "Li Wei", "Ann Lee"]);
        assert_eq!(profile("full_name", None, &names).semantic_type.as_deref(), Some("person_name"));
        assert_eq!(profile("city", None, &names).semantic_type, None);
        assert_eq!(profile("full_name", None, &names).pii, vec!["person_name"]);
        let zips = some(&["12345", "90210", "10001"]);
        assert_eq!(profile("zip", None, &zips).semantic_type.as_deref(), Some("postal_code"));
        assert_eq!(profile("order_id", None, &zips).semantic_type, None);
        let cc = some(&["US", "DE", "FR"]);
        assert_eq!(profile("country", None, &cc).semantic_type.as_deref(), Some("country_code"));
        let cards = some(&["4111 1111 1111 1111", "5500 0000 0000 0004"]);
        assert_eq!(profile("card", None, &cards).pii, vec!["credit_card"]);
    }
}
