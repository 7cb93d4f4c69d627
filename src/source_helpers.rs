//! SQL-callable helpers for sources (sql/api.sql orchestrates them): file inspection and CSV
//! sniffing, connection-string parsing, derived names, error taxonomy, and ingest progress.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::time::Instant;

use eai_core::{conninfo, csv_scan, csv_sniff, error_taxonomy, ident, row_hash};
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;

use crate::errors::{EaiError, OrReport};
use crate::guc;

/// How much of a file the sniffer reads.
const SNIFF_BYTES: usize = 64 * 1024;

/// How much of a file `_check_csv` reads at a time.
const CHECK_CHUNK: usize = 256 * 1024;

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

/// The CSV files of a folder (.csv, .tsv, .txt; hidden files skipped; symbolic links to files
/// followed), sorted by path. `unreadable` is NULL, or the dialect to record for a file eai cannot
/// name to file_fdw, a name that is not UTF-8 (`{"unreadable": {"kind": "file_name", …}}`): such a
/// file is listed, its path shown with U+FFFD, so that its table's batches fail saying so instead
/// of the file being left out in silence.
#[pg_extern(volatile, strict)]
fn _folder_files(dir: &str) -> TableIterator<'static, (name!(path, String), name!(unreadable, Option<JsonB>))> {
    let meta = std::fs::metadata(dir).map_err(|source| EaiError::File { path: dir.into(), source }).or_report();
    if !meta.is_dir() {
        EaiError::NotADirectory(dir.into()).report();
    }
    let entries = std::fs::read_dir(dir).map_err(|source| EaiError::File { path: dir.into(), source }).or_report();
    let mut files: Vec<(String, Option<JsonB>)> = Vec::new();
    for entry in entries.flatten() {
        if !std::fs::metadata(entry.path()).map(|m| m.is_file()).unwrap_or(false) {
            continue;
        }
        let raw = entry.file_name();
        let shown = raw.to_string_lossy().into_owned();
        if !ident::is_csv_file_name(&shown) {
            continue;
        }
        let unreadable = raw.to_str().is_none().then(|| JsonB(unreadable_json(&csv_sniff::non_utf8_file_name(&shown))));
        files.push((std::path::Path::new(dir).join(&shown).display().to_string(), unreadable));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    TableIterator::new(files)
}

/// The CSV dialect of a file as jsonb: delimiter, quote, header, columns, encoding, ragged_lines;
/// `{"empty": true}` for a file with no header and no rows; `{"unreadable": {"kind", "sqlstate",
/// "message", "hint"}}` for a file eai cannot read at all (UTF-16, NUL bytes, no line break).
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
        Err(e) => unreadable_json(&e.unreadable()),
    })
}

fn unreadable_json(u: &csv_sniff::Unreadable) -> serde_json::Value {
    json!({"unreadable": {"kind": u.kind, "sqlstate": u.sqlstate, "message": u.message, "hint": u.hint}})
}

/// Read the whole file as COPY … (FORMAT csv, DELIMITER, QUOTE) will (eai_core::csv_scan) and raise
/// 22P04, with the line and field, at the first place COPY would read differently from what the
/// file means: a quote inside an unquoted field, text after a closing quote, a quote never closed.
/// A delimiter or quote that is not one byte is left to COPY to refuse.
#[pg_extern(volatile, strict)]
fn _check_csv(path: &str, delimiter: &str, quote: &str) {
    let (&[d], &[q]) = (delimiter.as_bytes(), quote.as_bytes()) else { return };
    let mut file = std::fs::File::open(path).map_err(|source| EaiError::File { path: path.into(), source }).or_report();
    let mut scanner = csv_scan::Scanner::new(d, q);
    let mut buf = vec![0u8; CHECK_CHUNK];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => EaiError::File { path: path.into(), source }.report(),
        };
        scanner.feed(&buf[..n]);
        if scanner.problem().is_some() {
            break;
        }
        pgrx::check_for_interrupts!();
    }
    if let Err(malformed) = scanner.finish() {
        EaiError::MalformedCsv { path: path.into(), malformed }.report();
    }
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

/// The table name for the file at `path` in a source whose tables already have the names `taken`
/// (eai_core::ident::table_name_for_file_among): `same.tsv` next to `same.csv`.
#[pg_extern(immutable, strict)]
fn _table_name_for_file_among(path: &str, taken: Vec<String>) -> String {
    let file_name = std::path::Path::new(path).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    ident::table_name_for_file_among(&file_name, &taken)
}

/// Bronze table names for a source table, best first (eai_core::ident::bronze_table_candidates).
#[pg_extern(immutable, strict)]
fn _bronze_table_candidates(source: &str, table: &str) -> Vec<String> {
    ident::bronze_table_candidates(source, table).to_vec()
}

/// Silver column names for bronze columns (eai_core::ident::silver_column_names), in the order given.
#[pg_extern(immutable, strict)]
fn _silver_column_names(names: Vec<String>, attnums: Vec<i32>) -> Vec<String> {
    let columns: Vec<(String, i32)> = names.into_iter().zip(attnums).collect();
    ident::silver_column_names(&columns)
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

/// The class of an ingest error, knowing its context and the source's wrapper
/// (eai_core::error_taxonomy::diagnose_ingest): a postgres_fdw conversion error is schema drift, a
/// connection refused for its password is configuration.
#[pg_extern(immutable, strict)]
fn _ingest_error_class(sqlstate: &str, context: &str, detail: &str, fdw: &str) -> &'static str {
    error_taxonomy::diagnose_ingest(sqlstate, context, detail, fdw).class.as_str()
}

/// Whether an ingest error may leave its transaction unable to commit, so that its record is
/// spooled first (eai_core::error_taxonomy::may_prevent_commit).
#[pg_extern(immutable, strict)]
fn _ingest_failure_may_prevent_commit(sqlstate: &str, fdw: &str) -> bool {
    error_taxonomy::may_prevent_commit(sqlstate, fdw)
}

/// A hint for an ingest error that knows better than the error's own, or NULL.
#[pg_extern(immutable, strict)]
fn _ingest_error_hint(sqlstate: &str, context: &str, detail: &str, fdw: &str) -> Option<&'static str> {
    error_taxonomy::diagnose_ingest(sqlstate, context, detail, fdw).hint
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

/// Row identity by the bronze table's shape (eai_core::row_hash::hash_shaped): the values in the
/// bronze table's column order, each as text (NULL for NULL and for a column the source no longer
/// has); `base` is the number of columns the bronze table was created with.
#[pg_extern(immutable, parallel_safe)]
fn _row_hash_shaped(base: i32, values: pgrx::VariadicArray<'_, &str>) -> pgrx::Uuid {
    let values: Vec<Option<&[u8]>> = values.iter().map(|v| v.map(str::as_bytes)).collect();
    pgrx::Uuid::from_bytes(row_hash::hash_shaped(&values, usize::try_from(base).unwrap_or(0)))
}

/// Identity of the `n`-th copy (n ≥ 2) of a row whose hash is `row`.
#[pg_extern(immutable, parallel_safe, strict)]
fn _row_hash_occurrence(row: pgrx::Uuid, n: i64) -> pgrx::Uuid {
    let bytes: [u8; 16] = row.as_bytes().to_owned();
    pgrx::Uuid::from_bytes(row_hash::with_occurrence(bytes, n))
}
