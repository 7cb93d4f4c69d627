//! SQL-callable helpers for sources (sql/api.sql orchestrates them): file inspection and CSV
//! sniffing, connection-string parsing, derived names, error taxonomy, and ingest progress.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::time::Instant;

use eai_core::{conninfo, csv_sniff, error_taxonomy, ident, row_hash};
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;

use crate::errors::{EaiError, OrReport};
use crate::guc;

/// How much of a file the sniffer reads.
const SNIFF_BYTES: usize = 64 * 1024;

/// 'file', 'directory' or 'missing', as the server sees the path.
#[pg_extern(volatile, strict)]
fn _path_kind(path: &str) -> &'static str {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => "directory",
        Ok(_) => "file",
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "missing",
        Err(source) => EaiError::File { path: path.into(), source }.report(),
    }
}

/// CSV files of a folder (.csv, .tsv, .txt; hidden files skipped), sorted by name.
#[pg_extern(volatile, strict)]
fn _list_csv_files(dir: &str) -> SetOfIterator<'static, String> {
    let meta = std::fs::metadata(dir).map_err(|source| EaiError::File { path: dir.into(), source }).or_report();
    if !meta.is_dir() {
        EaiError::NotADirectory(dir.into()).report();
    }
    let entries = std::fs::read_dir(dir).map_err(|source| EaiError::File { path: dir.into(), source }).or_report();
    let mut files: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .filter(|n| {
            let lower = n.to_lowercase();
            lower.ends_with(".csv") || lower.ends_with(".tsv") || lower.ends_with(".txt")
        })
        .map(|n| std::path::Path::new(dir).join(n).display().to_string())
        .collect();
    files.sort();
    SetOfIterator::new(files)
}

/// The CSV dialect of a file as jsonb: delimiter, quote, header, columns, encoding, ragged_lines;
/// `{"empty": true}` for a file with no header and no rows.
#[pg_extern(volatile, strict)]
fn _sniff_csv(path: &str) -> JsonB {
    let file = std::fs::File::open(path).map_err(|source| EaiError::File { path: path.into(), source }).or_report();
    let mut sample = Vec::with_capacity(SNIFF_BYTES);
    file.take(SNIFF_BYTES as u64 + 1).read_to_end(&mut sample).map_err(|source| EaiError::File { path: path.into(), source }).or_report();
    let complete = sample.len() <= SNIFF_BYTES;
    sample.truncate(SNIFF_BYTES);
    JsonB(match csv_sniff::sniff(&sample, complete) {
        Ok(d) => json!({
            "delimiter": d.delimiter.to_string(),
            "quote": d.quote.to_string(),
            "header": d.header,
            "columns": d.columns,
            "encoding": d.encoding,
            "ragged_lines": d.ragged_lines,
        }),
        Err(csv_sniff::SniffError::Empty) => json!({"empty": true}),
    })
}

#[pg_extern(immutable, strict)]
fn _is_conninfo(location: &str) -> bool {
    conninfo::is_conninfo(location)
}

/// `{"server": {...}, "user_mapping": {...}, "redacted": "..."}` for a libpq string or URI.
#[pg_extern(immutable, strict)]
fn _parse_conninfo(location: &str) -> JsonB {
    let opts = conninfo::parse(location).or_report();
    let obj = |pairs: &[(String, String)]| serde_json::Value::Object(pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect());
    JsonB(json!({
        "server": obj(&opts.server),
        "user_mapping": obj(&opts.user_mapping),
        "redacted": conninfo::redact(location),
    }))
}

#[pg_extern(immutable, strict)]
fn _bronze_table_name(source: &str, table: &str) -> String {
    ident::bronze_table(source, table)
}

#[pg_extern(immutable, strict)]
fn _staging_schema_name(source: &str) -> String {
    ident::staging_schema(source)
}

#[pg_extern(immutable, strict)]
fn _server_name(source: &str) -> String {
    ident::server_name(source)
}

#[pg_extern(immutable, strict)]
fn _table_name_for_file(path: &str) -> String {
    let file_name = std::path::Path::new(path).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    ident::table_name_for_file(&file_name)
}

/// transient | schema_drift | bad_data | configuration | internal
#[pg_extern(immutable, strict)]
fn _error_class(sqlstate: &str) -> &'static str {
    error_taxonomy::classify(sqlstate).as_str()
}

#[pg_extern(immutable, strict)]
fn _ingest_hint(sqlstate: &str) -> &'static str {
    error_taxonomy::ingest_hint(sqlstate)
}

/// The message with passwords replaced by ********.
#[pg_extern(immutable, strict)]
fn _redact(message: &str) -> String {
    error_taxonomy::redact_secrets(message)
}

struct Progress {
    rows: u64,
    started: Instant,
}

thread_local! {
    static PROGRESS: RefCell<HashMap<i64, Progress>> = RefCell::new(HashMap::new());
}

/// Called once per row read by an ingest (in its WHERE clause): counts rows, and every
/// `eai.progress_rows` rows sends a NOTICE with the count and the rate. Always true.
#[pg_extern(volatile, strict, parallel_unsafe)]
fn _ingest_tick(batch: i64) -> bool {
    let every = guc::progress_rows();
    let report = PROGRESS.with(|p| {
        let mut map = p.borrow_mut();
        let entry = map.entry(batch).or_insert_with(|| Progress { rows: 0, started: Instant::now() });
        entry.rows += 1;
        (every > 0 && entry.rows % every == 0).then(|| (entry.rows, entry.started.elapsed().as_secs_f64()))
    });
    if let Some((rows, secs)) = report {
        notice!("eai: batch {batch}: {rows} rows read ({:.0} rows/s)", rows as f64 / secs.max(1e-9));
    }
    true
}

/// Rows counted by `_ingest_tick` for the batch; forgets the batch.
#[pg_extern(volatile, strict)]
fn _ingest_rows_read(batch: i64) -> i64 {
    PROGRESS.with(|p| p.borrow_mut().remove(&batch).map(|e| e.rows as i64).unwrap_or(0))
}

/// Row identity for bronze (see eai_core::row_hash): a 128-bit hash of the row's values, each
/// passed as text (NULL stays NULL).
#[pg_extern(immutable, parallel_safe)]
fn _row_hash(values: pgrx::VariadicArray<'_, &str>) -> pgrx::Uuid {
    pgrx::Uuid::from_bytes(row_hash::hash_values(values.iter().map(|v| v.map(str::as_bytes))))
}

/// Identity of the `n`-th copy (n ≥ 2) of a row whose hash is `row`.
#[pg_extern(immutable, parallel_safe, strict)]
fn _row_hash_occurrence(row: pgrx::Uuid, n: i64) -> pgrx::Uuid {
    let bytes: [u8; 16] = row.as_bytes().to_owned();
    pgrx::Uuid::from_bytes(row_hash::with_occurrence(bytes, n))
}
