//! Identifiers that eai derives from user-supplied names.
//!
//! PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1), which silently makes two long
//! names collide. Every name eai derives goes through [`fit`], which keeps short names as they are
//! and shortens long ones on a UTF-8 character boundary with a stable hash suffix, so distinct
//! inputs stay distinct. Quoting is *not* done here: the SQL layer quotes every identifier with
//! `quote_ident` / `format('%I')`; these functions only decide the name's text.

use sha2::{Digest, Sha256};

/// Longest identifier PostgreSQL keeps, in bytes.
pub const MAX_IDENT_BYTES: usize = 63;

/// Longest prefix of `s` that is at most `max` bytes and ends on a character boundary.
pub fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn short_hash(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// `s` itself when it fits in 63 bytes; otherwise a prefix plus `_` and an 8-hex-digit hash of
/// the whole of `s`, 63 bytes at most.
pub fn fit(s: &str) -> String {
    if s.len() <= MAX_IDENT_BYTES {
        return s.to_string();
    }
    let hash = short_hash(s);
    let prefix = truncate_bytes(s, MAX_IDENT_BYTES - hash.len() - 1);
    format!("{prefix}_{hash}")
}

/// Bronze table for `table` of `source`: `<source>__<table>`.
pub fn bronze_table(source: &str, table: &str) -> String {
    fit(&format!("{source}__{table}"))
}

/// Per-source staging schema that holds the source's foreign tables.
pub fn staging_schema(source: &str) -> String {
    fit(&format!("eai_src_{source}"))
}

/// Foreign server eai creates for a source given by a path or a connection string.
pub fn server_name(source: &str) -> String {
    fit(&format!("eai_{source}"))
}

/// A table name for a CSV file: its file name without the extension, or `data` when nothing is
/// left. Any character is kept (the SQL layer quotes); only the length is fitted.
pub fn table_name_for_file(file_name: &str) -> String {
    let stem = match file_name.rfind('.') {
        Some(i) if i > 0 => &file_name[..i],
        _ => file_name,
    };
    let stem = stem.trim();
    if stem.is_empty() {
        "data".to_string()
    } else {
        fit(stem)
    }
}

/// Column names for a header row: trimmed, empty ones named `column_<n>`, long ones fitted, and
/// duplicates made unique with `_2`, `_3`… (compared as PostgreSQL would after truncation).
pub fn column_names<S: AsRef<str>>(raw: &[S]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, name) in raw.iter().enumerate() {
        let trimmed = name.as_ref().trim().trim_start_matches('\u{feff}');
        let base = if trimmed.is_empty() { format!("column_{}", i + 1) } else { fit(trimmed) };
        let mut candidate = base.clone();
        let mut n = 2;
        while !seen.insert(candidate.clone()) {
            candidate = fit(&format!("{base}_{n}"));
            n += 1;
        }
        out.push(candidate);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_kept() {
        assert_eq!(fit("orders"), "orders");
        assert_eq!(bronze_table("crm", "orders"), "crm__orders");
        assert_eq!(staging_schema("crm"), "eai_src_crm");
    }

    #[test]
    fn long_names_fit_and_stay_distinct() {
        let a = "a".repeat(63);
        let b = format!("{}b", "a".repeat(62));
        let ta = bronze_table(&a, "x");
        let tb = bronze_table(&b, "x");
        assert!(ta.len() <= MAX_IDENT_BYTES && tb.len() <= MAX_IDENT_BYTES);
        assert_ne!(ta, tb);
        // Deterministic.
        assert_eq!(ta, bronze_table(&a, "x"));
    }

    #[test]
    fn truncation_respects_utf8() {
        let s = "é".repeat(40); // 80 bytes
        let f = fit(&s);
        assert!(f.len() <= MAX_IDENT_BYTES);
        assert!(std::str::from_utf8(f.as_bytes()).is_ok());
        assert_eq!(truncate_bytes("aé", 2), "a");
    }

    #[test]
    fn hostile_names_are_kept_verbatim() {
        let hostile = "x\"; DROP TABLE t; --";
        assert_eq!(bronze_table(hostile, "t"), format!("{hostile}__t"));
        assert_eq!(table_name_for_file("we\"ird;name.csv"), "we\"ird;name");
    }

    #[test]
    fn file_stems() {
        assert_eq!(table_name_for_file("orders.csv"), "orders");
        assert_eq!(table_name_for_file(".csv"), ".csv");
        assert_eq!(table_name_for_file("archive.2024.csv"), "archive.2024");
        assert_eq!(table_name_for_file("   .csv"), "data");
    }

    #[test]
    fn column_names_are_unique_and_named() {
        let cols = column_names(&["id", "", "id", " name ", "\u{feff}x"]);
        assert_eq!(cols, vec!["id", "column_2", "id_2", "name", "x"]);
        let long = "c".repeat(70);
        let cols = column_names(&[long.as_str(), long.as_str()]);
        assert_ne!(cols[0], cols[1]);
        assert!(cols.iter().all(|c| c.len() <= MAX_IDENT_BYTES));
    }
}
