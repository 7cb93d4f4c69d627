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

/// Whether eai reads a file of a folder: `.csv`, `.tsv` or `.txt` (any case), not hidden.
pub fn is_csv_file_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    !name.starts_with('.') && [".csv", ".tsv", ".txt"].iter().any(|ext| lower.ends_with(ext))
}

/// The table name for a file of a source whose other tables already have the names `taken`: its
/// stem ([`table_name_for_file`]) when free; else its whole file name (`same.tsv` next to
/// `same.csv`); else that with `_2`, `_3`…; each fitted to 63 bytes. A file keeps the name it
/// was given first (the SQL layer knows files by path), so names never move from file to file.
pub fn table_name_for_file_among<S: AsRef<str>>(file_name: &str, taken: &[S]) -> String {
    let taken: std::collections::HashSet<&str> = taken.iter().map(AsRef::as_ref).collect();
    let stem = table_name_for_file(file_name);
    if !taken.contains(stem.as_str()) {
        return stem;
    }
    let whole = file_name.trim();
    let fitted = fit(whole);
    if !whole.is_empty() && !taken.contains(fitted.as_str()) {
        return fitted;
    }
    (2u32..).map(|n| fit(&format!("{whole}_{n}"))).find(|c| !taken.contains(c.as_str())).expect("some suffix is free")
}

/// Bronze table names for `table` of `source`, best first: `<source>__<table>` ([`bronze_table`]),
/// then that name with `_` and a hash of the pair, for when another source table has the first
/// already (source `a` with table `b__c`, and source `a__b` with table `c`, both make `a__b__c`).
/// The pair is hashed with a NUL between its parts, which no name can hold, so the two pairs that
/// collide in the first name hash different inputs.
pub fn bronze_table_candidates(source: &str, table: &str) -> [String; 2] {
    let plain = bronze_table(source, table);
    let hash = short_hash(&format!("{source}\0{table}"));
    let hashed = format!("{}_{hash}", truncate_bytes(&plain, MAX_IDENT_BYTES - hash.len() - 1));
    [plain, hashed]
}

/// Longest silver column name before a `_<attnum>` suffix, in bytes.
const SILVER_BASE_BYTES: usize = 55;

/// Silver column names for bronze columns given as (name, attnum), in order: lower case; each run
/// of characters that are neither letters nor digits (of any script) made one `_`, none at either
/// end; cut to 55 bytes on a character boundary; `column_<attnum>` when nothing is left. Names that
/// several columns share get `_<attnum>`; the result is unique and at most 63 bytes.
///
/// For ASCII names this is what `regexp_replace(lower(name), '[^[:alnum:]]+', '_', 'g')` trimmed of
/// `_` gives; unlike that, it does not depend on the database's locale, under which `[[:alnum:]]`
/// may keep ASCII only (`ünï 表` became `n`; here it is `ünï_表`).
pub fn silver_column_names<S: AsRef<str>>(columns: &[(S, i32)]) -> Vec<String> {
    let bases: Vec<String> = columns
        .iter()
        .map(|(name, attnum)| {
            let mut out = String::new();
            let mut gap = false;
            for c in name.as_ref().chars().flat_map(char::to_lowercase) {
                if c.is_alphanumeric() {
                    if gap && !out.is_empty() {
                        out.push('_');
                    }
                    gap = false;
                    out.push(c);
                } else {
                    gap = true;
                }
            }
            let cut = truncate_bytes(&out, SILVER_BASE_BYTES);
            if cut.is_empty() {
                format!("column_{attnum}")
            } else {
                cut.to_string()
            }
        })
        .collect();
    let mut shared: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for b in &bases {
        *shared.entry(b.as_str()).or_default() += 1;
    }
    let mut seen = std::collections::HashSet::new();
    bases
        .iter()
        .zip(columns)
        .map(|(base, (_, attnum))| {
            let mut name = if shared[base.as_str()] == 1 { base.clone() } else { format!("{base}_{attnum}") };
            while !seen.insert(fit(&name)) {
                name = format!("{name}_{attnum}");
            }
            fit(&name)
        })
        .collect()
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
    fn folder_files_read() {
        assert!(is_csv_file_name("a.csv") && is_csv_file_name("B.TSV") && is_csv_file_name("c.Txt"));
        assert!(!is_csv_file_name(".hidden.csv") && !is_csv_file_name("notes.md") && !is_csv_file_name("csv"));
    }

    /// Item 9: same.csv and same.tsv in one folder are two tables.
    #[test]
    fn files_with_the_same_stem_get_distinct_names() {
        assert_eq!(table_name_for_file_among::<&str>("same.csv", &[]), "same");
        assert_eq!(table_name_for_file_among("same.tsv", &["same"]), "same.tsv");
        assert_eq!(table_name_for_file_among("same.tsv", &["same", "same.tsv"]), "same.tsv_2");
        assert_eq!(table_name_for_file_among("same.tsv", &["same", "same.tsv", "same.tsv_2"]), "same.tsv_3");
        let long = format!("{}.csv", "x".repeat(70));
        let a = table_name_for_file_among::<&str>(&long, &[]);
        let b = table_name_for_file_among(&long, &[a.as_str()]);
        assert!(a != b && b.len() <= MAX_IDENT_BYTES);
    }

    /// Item 9: source a__b's table c and source a's table b__c do not share a bronze table.
    #[test]
    fn colliding_bronze_names_have_a_second_candidate() {
        let one = bronze_table_candidates("a", "b__c");
        let two = bronze_table_candidates("a__b", "c");
        assert_eq!(one[0], "a__b__c");
        assert_eq!(two[0], "a__b__c");
        assert_ne!(one[1], two[1]);
        assert!(one[1].starts_with("a__b__c_") && one[1].len() == "a__b__c_".len() + 8);
        let long = bronze_table_candidates(&"s".repeat(63), "t");
        assert_eq!(long[0], bronze_table(&"s".repeat(63), "t"));
        assert!(long.iter().all(|n| n.len() <= MAX_IDENT_BYTES) && long[0] != long[1]);
    }

    /// Item 9: unicode names keep their letters in silver.
    #[test]
    fn silver_column_names_keep_every_script() {
        assert_eq!(silver_column_names(&[("ünï 表", 1), ("Patient ID", 2), ("Full Name", 3)]), vec!["ünï_表", "patient_id", "full_name"]);
        assert_eq!(silver_column_names(&[("__X__y__", 1), ("!!!", 2), ("E-Mail", 3)]), vec!["x_y", "column_2", "e_mail"]);
        assert_eq!(silver_column_names(&[("a-b", 1), ("a b", 2), ("a_b", 5)]), vec!["a_b_1", "a_b_2", "a_b_5"]);
        assert_eq!(silver_column_names(&[("a", 1), ("a", 3), ("a_3", 5)]), vec!["a_1", "a_3", "a_3_5"]);
        let long = silver_column_names(&[("é".repeat(40), 1), ("é".repeat(41), 2)]);
        assert!(long.iter().all(|n| n.len() <= MAX_IDENT_BYTES) && long[0] != long[1], "{long:?}");
        assert!(long[0].starts_with(&"é".repeat(27)) && long[0].ends_with("_1"));
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
