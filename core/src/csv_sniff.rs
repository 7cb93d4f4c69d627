//! CSV dialect detection: delimiter, quote, header, column names and encoding, from the first bytes
//! of a file. The result becomes the options of a file_fdw foreign table. What eai cannot read at
//! all (UTF-16, NUL bytes, no line break) is an error that says what the file is and what to do.

use crate::{csv_scan, ident};

/// Delimiters eai tries, in order of preference on ties.
pub const CANDIDATE_DELIMITERS: [char; 4] = [',', ';', '\t', '|'];

/// How many lines of the sample are looked at.
const SAMPLE_LINES: usize = 200;

#[derive(Debug, Clone, PartialEq)]
pub struct CsvDialect {
    pub delimiter: char,
    /// `"`; or, for a file that quotes no field but has quotes inside its fields (`5" screen`), a
    /// control character the sample does not hold, so that COPY reads every `"` as text.
    pub quote: char,
    pub header: bool,
    /// Column names: from the header, or `column_1..n`.
    pub columns: Vec<String>,
    /// PostgreSQL encoding name for file_fdw: `UTF8`, or `LATIN1` when the bytes are not UTF-8.
    pub encoding: &'static str,
    /// Lines in the sample whose field count differs from the header's: a hint of malformed rows.
    pub ragged_lines: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SniffError {
    #[error("the file is empty: it has no header and no rows")]
    Empty,
    /// UTF-16 or UTF-32, by its byte-order mark or its NUL bytes.
    #[error("the file is {0}, an encoding PostgreSQL cannot read")]
    WideEncoding(&'static str),
    /// A NUL byte (1-based offset and line): not a text file.
    #[error("the file holds a NUL byte (byte {offset}, line {line}): it is not a text file")]
    NulByte { offset: usize, line: usize },
    /// No line end in the whole sample (its length in KiB), which is not the whole file.
    #[error("no line break in its first {kib} KiB: eai reads CSV files with one row per line")]
    NoLineBreak { kib: usize },
    /// Line ends in the sample (its length in KiB), but all inside a quoted value opened near the start.
    #[error("no row ends in its first {kib} KiB: a quote near the start of the file is never closed")]
    NoRecordEnd { kib: usize },
}

impl SniffError {
    /// The SQLSTATE of an ingest that meets this file.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            SniffError::Empty => "EAI01",
            SniffError::WideEncoding(_) => "22021",
            SniffError::NulByte { .. } | SniffError::NoLineBreak { .. } | SniffError::NoRecordEnd { .. } => "22P04",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            SniffError::Empty => "Write a header line and rows to the file, then run eai.ingest again.",
            SniffError::WideEncoding(_) => {
                "Convert the file to UTF-8 (iconv -f UTF-16 -t UTF-8 < file.csv > file-utf8.csv; in Excel, save as \"CSV UTF-8\"), then run eai.ingest again."
            }
            SniffError::NulByte { .. } => {
                "A CSV file is text: export the data as CSV (a spreadsheet, archive or dump renamed .csv cannot be read), or remove the NUL bytes, then run eai.ingest again."
            }
            SniffError::NoLineBreak { .. } => {
                "Each row of a CSV file ends with a line break (LF, CRLF or CR). If this is JSON, XML or a binary file, convert it to CSV; if its rows are separated otherwise, rewrite it with one row per line; then run eai.ingest again."
            }
            SniffError::NoRecordEnd { .. } => {
                "Close the quote, or double each quote meant literally inside a quoted field (\"\"), then run eai.ingest again."
            }
        }
    }

    /// As eai.source_tables.dialect records a file it cannot read (`{"empty": true}` aside).
    pub fn unreadable(&self) -> Unreadable {
        Unreadable { kind: "content", sqlstate: self.sqlstate(), message: self.to_string(), hint: self.hint() }
    }
}

/// Why eai cannot read a file at all, recorded in the table's dialect under `unreadable`; each
/// batch of the table then fails with this SQLSTATE, message and hint until the file is fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// `content` (re-read at every ingest) or `file_name` (the name itself is the problem).
    pub kind: &'static str,
    pub sqlstate: &'static str,
    pub message: String,
    pub hint: &'static str,
}

/// A file whose name is not UTF-8: PostgreSQL cannot name it to file_fdw. `shown` is the name with
/// U+FFFD for the bytes it cannot show.
pub fn non_utf8_file_name(shown: &str) -> Unreadable {
    Unreadable {
        kind: "file_name",
        sqlstate: "22021",
        message: format!(
            "the file name {shown:?} is not valid UTF-8 (shown with \u{fffd} for the bytes it cannot show), so PostgreSQL cannot open it"
        ),
        hint:
            "Rename the file to a UTF-8 name (e.g. convmv -f latin1 -t utf8 --notest FILE), then run eai.ingest again: the new name becomes a table.",
    }
}

/// Split one CSV record into fields, honouring quoting with `quote` and `""` escapes.
pub fn split_record(line: &str, delimiter: char, quote: char) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == quote {
                if chars.peek() == Some(&quote) {
                    field.push(quote);
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
        } else if c == quote {
            in_quotes = true;
        } else if c == delimiter {
            fields.push(std::mem::take(&mut field));
        } else {
            field.push(c);
        }
    }
    fields.push(field);
    fields
}

/// Split the sample into records as COPY does: a line end (LF, CRLF or CR alone) inside quotes
/// does not end a record. The last record is dropped when the sample was cut in the middle of the
/// file (`complete == false`).
fn records(text: &str, complete: bool, quote: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let bytes = text.as_bytes();
    for (i, c) in text.char_indices() {
        let ends = match c {
            c if c == quote => {
                in_quotes = !in_quotes;
                false
            }
            '\n' => !in_quotes,
            '\r' => !in_quotes && bytes.get(i + 1) != Some(&b'\n'),
            _ => false,
        };
        if ends {
            out.push(text[start..i].trim_end_matches('\r'));
            start = i + 1;
            if out.len() >= SAMPLE_LINES {
                return out.into_iter().filter(|l| !l.trim().is_empty()).collect();
            }
        }
    }
    if complete && start < text.len() {
        out.push(text[start..].trim_end_matches('\r'));
    }
    out.into_iter().filter(|l| !l.trim().is_empty()).collect()
}

fn mode(counts: &[usize]) -> (usize, usize) {
    let mut freq = std::collections::HashMap::new();
    for &c in counts {
        *freq.entry(c).or_insert(0usize) += 1;
    }
    freq.into_iter().max_by_key(|&(value, n)| (n, value)).unwrap_or((1, 0))
}

fn choose_delimiter(lines: &[&str], quote: char) -> char {
    let mut best = (',', 0.0f64, 1usize);
    for d in CANDIDATE_DELIMITERS {
        let counts: Vec<usize> = lines.iter().map(|l| split_record(l, d, quote).len()).collect();
        let (fields, n) = mode(&counts);
        if fields < 2 {
            continue;
        }
        let consistency = n as f64 / counts.len() as f64;
        if consistency > best.1 + 1e-9 || ((consistency - best.1).abs() < 1e-9 && fields > best.2) {
            best = (d, consistency, fields);
        }
    }
    best.0
}

#[derive(PartialEq, Eq, Clone, Copy, Debug)]
enum Kind {
    Empty,
    Number,
    Date,
    Bool,
    Email,
    Url,
    Uuid,
    Text,
}

fn kind(v: &str) -> Kind {
    let t = v.trim();
    if t.is_empty() {
        Kind::Empty
    } else if t.bytes().any(|b| b.is_ascii_digit()) && t.parse::<f64>().is_ok() {
        Kind::Number
    } else if looks_like_date(t) {
        Kind::Date
    } else if matches!(t.to_ascii_lowercase().as_str(), "true" | "false" | "yes" | "no" | "t" | "f" | "y" | "n") {
        Kind::Bool
    } else if t.find('@').is_some_and(|at| at > 0 && t[at + 1..].contains('.')) && !t.contains(char::is_whitespace) {
        Kind::Email
    } else if ["http://", "https://", "www."].iter().any(|p| t.len() > p.len() && t.get(..p.len()).is_some_and(|s| s.eq_ignore_ascii_case(p))) {
        Kind::Url
    } else if is_uuid(t) {
        Kind::Uuid
    } else {
        Kind::Text
    }
}

fn looks_like_date(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 8
        && b.iter().all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'/' | b'.' | b':' | b' ' | b'T'))
        && b.iter().filter(|c| c.is_ascii_digit()).count() >= 6
}

fn is_uuid(t: &str) -> bool {
    t.len() == 36 && t.bytes().enumerate().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { c == b'-' } else { c.is_ascii_hexdigit() })
}

/// Numbers and dates vote together, as they always have.
fn same_class(a: Kind, b: Kind) -> bool {
    let numeric = |k| matches!(k, Kind::Number | Kind::Date);
    a == b || (numeric(a) && numeric(b))
}

/// The kind that at least 90% of a column's non-empty cells share, numbers and dates together
/// first; `Text` when none does.
fn column_kind(data: &[&str]) -> Kind {
    let share = |pred: &dyn Fn(Kind) -> bool| data.iter().filter(|v| pred(kind(v))).count() * 10 >= data.len() * 9;
    if share(&|k| matches!(k, Kind::Number | Kind::Date)) {
        return Kind::Number;
    }
    [Kind::Bool, Kind::Email, Kind::Url, Kind::Uuid].into_iter().find(|&k| share(&|x| x == k)).unwrap_or(Kind::Text)
}

/// The letter case of a cell: lower, UPPER, Title Case, mixed; `None` without cased letters.
#[derive(PartialEq, Eq, Hash, Clone, Copy, Debug)]
enum Case {
    None,
    Lower,
    Upper,
    Title,
    Mixed,
}

fn case_of(v: &str) -> Case {
    let cased: Vec<char> = v.chars().filter(|c| c.is_lowercase() || c.is_uppercase()).collect();
    if cased.is_empty() {
        Case::None
    } else if cased.iter().all(|c| c.is_lowercase()) {
        Case::Lower
    } else if cased.len() >= 2 && cased.iter().all(|c| c.is_uppercase()) {
        Case::Upper
    } else if v.split(|c: char| !c.is_alphabetic()).filter(|w| !w.is_empty()).all(|w| {
        let mut cs = w.chars();
        cs.next().is_some_and(char::is_uppercase) && cs.all(|c| !c.is_uppercase())
    }) {
        Case::Title
    } else {
        Case::Mixed
    }
}

/// Does the first record look like a header? Votes per column, as in Python's csv.Sniffer:
///
/// - a column whose data share a kind (numbers or dates, booleans, e-mails, URLs, UUIDs) votes
///   "header" when its first cell is not of that kind, and "no header" when it is;
/// - a text column votes "no header" when its first cell is a number or a date, or appears again
///   in the column (data repeat, headers do not); and "header" when its first cell is unlike the
///   data: a length other than the data's one length, a letter case other than the data's one case
///   (`name` above `Ann`, `NAME` above `Ann`), or snake_case above data without `_`;
/// - an empty first cell gives no evidence.
///
/// The first record is a header only on evidence (more "header" votes than "no header"): without
/// any, it is read as data, so that a file without a header loses no row. A single line is a header
/// when nothing in it is a number or a date. Repeated names do not disqualify a header (they become
/// `name`, `name_2`).
fn has_header(rows: &[Vec<String>]) -> bool {
    let first = &rows[0];
    if first.iter().all(|c| c.trim().is_empty()) {
        return false;
    }
    if rows.len() == 1 {
        return first.iter().all(|c| !matches!(kind(c), Kind::Number | Kind::Date));
    }
    let mut votes = 0i32;
    for (col, head) in first.iter().enumerate() {
        let data: Vec<&str> = rows[1..].iter().filter_map(|r| r.get(col)).map(|s| s.as_str()).filter(|s| !s.trim().is_empty()).collect();
        let head_kind = kind(head);
        if data.is_empty() || head_kind == Kind::Empty {
            continue;
        }
        let col_kind = column_kind(&data);
        if col_kind != Kind::Text {
            votes += if same_class(head_kind, col_kind) { -1 } else { 1 };
        } else if matches!(head_kind, Kind::Number | Kind::Date) || data.iter().any(|v| v.trim() == head.trim()) {
            votes -= 1;
        } else {
            let lens: std::collections::HashSet<usize> = data.iter().map(|v| v.chars().count()).collect();
            let other_length = lens.len() == 1 && !lens.contains(&head.chars().count());
            let cases: std::collections::HashSet<Case> = data.iter().map(|v| case_of(v)).filter(|c| *c != Case::None).collect();
            let head_case = case_of(head);
            let other_case = cases.len() == 1 && head_case != Case::None && !cases.contains(&head_case);
            let snake = head.trim().contains('_') && !head.trim().contains(' ') && data.iter().all(|v| !v.contains('_'));
            if other_length || other_case || snake {
                votes += 1;
            }
        }
    }
    votes > 0
}

/// UTF-16 or UTF-32: by the byte-order mark, or, without one, by NUL bytes in every other byte.
fn wide_encoding(sample: &[u8]) -> Option<&'static str> {
    const MARKS: [(&[u8], &str); 4] = [
        (&[0xFF, 0xFE, 0, 0], "UTF-32 (little-endian)"),
        (&[0, 0, 0xFE, 0xFF], "UTF-32 (big-endian)"),
        (&[0xFF, 0xFE], "UTF-16 (little-endian)"),
        (&[0xFE, 0xFF], "UTF-16 (big-endian)"),
    ];
    if let Some((_, name)) = MARKS.iter().find(|(mark, _)| sample.starts_with(mark)) {
        return Some(*name);
    }
    let head = &sample[..sample.len().min(4096)];
    let pairs = head.len() / 2;
    if pairs < 2 {
        return None;
    }
    let nul_at = |parity: usize| head.iter().skip(parity).step_by(2).filter(|&&b| b == 0).count();
    let (even, odd) = (nul_at(0), nul_at(1));
    if odd * 10 >= pairs * 6 && even * 10 <= pairs {
        Some("UTF-16 (little-endian)")
    } else if even * 10 >= pairs * 6 && odd * 10 <= pairs {
        Some("UTF-16 (big-endian)")
    } else {
        None
    }
}

/// A control character that `sample` does not hold and that is not the delimiter: a quote
/// character for a file that quotes nothing, so that COPY reads its `"` as text.
fn unused_quote(sample: &[u8], delimiter: char) -> Option<char> {
    (1u8..0x20).filter(|&b| !matches!(b, b'\t' | b'\n' | b'\r')).map(char::from).find(|&c| c != delimiter && !sample.contains(&(c as u8)))
}

/// Detect the dialect of a CSV file from its first bytes. `complete` tells whether `sample` is the
/// whole file (so that its last line is not a partial record).
pub fn sniff(sample: &[u8], complete: bool) -> Result<CsvDialect, SniffError> {
    if let Some(name) = wide_encoding(sample) {
        return Err(SniffError::WideEncoding(name));
    }
    if let Some(at) = sample.iter().position(|&b| b == 0) {
        let line = sample[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(SniffError::NulByte { offset: at + 1, line });
    }
    let (text, encoding) = match std::str::from_utf8(sample) {
        Ok(t) => (t.to_string(), "UTF8"),
        // A sample cut inside a multi-byte character is still UTF-8.
        Err(e) if !complete && e.error_len().is_none() => (String::from_utf8_lossy(&sample[..e.valid_up_to()]).into_owned(), "UTF8"),
        Err(_) => (sample.iter().map(|&b| b as char).collect(), "LATIN1"),
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut quote = '"';
    let mut lines = records(text, complete, quote);
    if lines.is_empty() {
        return Err(if complete {
            SniffError::Empty
        } else if !text.contains(['\n', '\r']) {
            SniffError::NoLineBreak { kib: sample.len() / 1024 }
        } else if text.contains(quote) {
            SniffError::NoRecordEnd { kib: sample.len() / 1024 }
        } else {
            SniffError::Empty
        });
    }
    let mut delimiter = choose_delimiter(&lines, quote);
    // Quotes inside unquoted fields, in a file that quotes no field properly: COPY would read them
    // as the start of quoted values and join lines. Read every " as text instead: a quote character
    // the file does not hold. (A file that also quotes fields keeps ", and its batch fails with the
    // line of the stray quote: eai._check_csv.)
    let mut scanner = csv_scan::Scanner::new(delimiter as u8, b'"');
    scanner.feed(sample);
    if scanner.problem().is_some() && scanner.well_quoted() == 0 {
        if let Some(q) = unused_quote(sample, delimiter) {
            quote = q;
            lines = records(text, complete, quote);
            delimiter = choose_delimiter(&lines, quote);
        }
    }
    let rows: Vec<Vec<String>> = lines.iter().map(|l| split_record(l, delimiter, quote)).collect();
    let header = has_header(&rows);
    let width = if header { rows[0].len() } else { mode(&rows.iter().map(|r| r.len()).collect::<Vec<_>>()).0 };
    let columns = if header { ident::column_names(&rows[0]) } else { (1..=width).map(|i| format!("column_{i}")).collect() };
    let ragged_lines = rows.iter().skip(usize::from(header)).filter(|r| r.len() != width).count();
    Ok(CsvDialect { delimiter, quote, header, columns, encoding, ragged_lines })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> CsvDialect {
        sniff(text.as_bytes(), true).unwrap()
    }

    #[test]
    fn comma_with_header() {
        let d = s("id,name,amount\n1,Ann,3.5\n2,Bob,4\n");
        assert_eq!(d.delimiter, ',');
        assert!(d.header);
        assert_eq!(d.columns, vec!["id", "name", "amount"]);
        assert_eq!(d.encoding, "UTF8");
        assert_eq!(d.ragged_lines, 0);
    }

    #[test]
    fn semicolon_and_tab_and_pipe() {
        assert_eq!(s("a;b;c\n1;2,5;3\n4;5,5;6\n").delimiter, ';');
        assert_eq!(s("a\tb\n1\t2\n").delimiter, '\t');
        assert_eq!(s("a|b|c\nx|y|z\n1|2|3\n").delimiter, '|');
    }

    #[test]
    fn no_header_when_first_row_is_data() {
        let d = s("1,2.5,2024-01-01\n2,3.5,2024-01-02\n");
        assert!(!d.header);
        assert_eq!(d.columns, vec!["column_1", "column_2", "column_3"]);
    }

    #[test]
    fn quoted_fields_with_delimiters_and_newlines() {
        let d = s("\"full name\",note\n\"Doe, Jane\",\"line1\nline2\"\n\"Roe, Rick\",x\n");
        assert_eq!(d.delimiter, ',');
        assert_eq!(d.quote, '"');
        assert!(d.header);
        assert_eq!(d.columns, vec!["full name", "note"]);
        assert_eq!(d.ragged_lines, 0);
        assert_eq!(split_record("\"a \"\"q\"\"\",b", ',', '"'), vec!["a \"q\"", "b"]);
    }

    #[test]
    fn hostile_header_names() {
        let d = s("\"we\"\"ird\",\"semi;colon\",  ,émoji🙂\n1,2,3,4\n");
        assert_eq!(d.columns, vec!["we\"ird", "semi;colon", "column_3", "émoji🙂"]);
    }

    #[test]
    fn empty_and_blank_files() {
        assert_eq!(sniff(b"", true), Err(SniffError::Empty));
        assert_eq!(sniff(b"\n\r\n  \n", true), Err(SniffError::Empty));
    }

    #[test]
    fn ragged_rows_are_counted() {
        let d = s("a,b,c\n1,2,3\n1,2\n1,2,3,4\n");
        assert_eq!(d.columns.len(), 3);
        assert_eq!(d.ragged_lines, 2);
    }

    #[test]
    fn latin1_and_bom() {
        let d = sniff(b"nom,ville\nJos\xe9,Paris\n", true).unwrap();
        assert_eq!(d.encoding, "LATIN1");
        let d = s("\u{feff}id,x\n1,a\n");
        assert_eq!(d.columns[0], "id");
    }

    #[test]
    fn partial_sample_drops_cut_line_and_cut_char() {
        let mut bytes = b"id,city\n1,Z\xc3\xbcrich\n2,Z\xc3".to_vec();
        let d = sniff(&bytes, false).unwrap();
        assert_eq!(d.encoding, "UTF8");
        assert_eq!(d.columns, vec!["id", "city"]);
        bytes.truncate(8);
        assert!(sniff(&bytes, false).is_ok());
    }

    #[test]
    fn single_line_header_only() {
        let d = s("a,b,c\n");
        assert!(d.header);
        assert_eq!(d.columns, vec!["a", "b", "c"]);
    }

    /// Item 8: without evidence of a header, the first line is data.
    #[test]
    fn a_file_without_header_keeps_its_first_row() {
        for text in ["Ann,Paris\nBob,London\nCy,Rome\n", "alice,alice@x.io\nbob,bob@y.org\n", "x1,true\nx2,false\nx3,true\n", "a,b\nb,a\n"] {
            let d = s(text);
            assert!(!d.header, "{text:?}");
            assert_eq!(d.columns, vec!["column_1", "column_2"], "{text:?}");
        }
    }

    #[test]
    fn text_only_headers_are_found_by_case_length_and_kind() {
        for text in [
            "name,city\nAnn,Paris\nBob,London\n",
            "NAME,CITY\nAnn,Paris\nBob,London\n",
            "first_name,last_name\nAnn Lee,Bo\nCy Dunn,Ed\n",
            "user,email\nann,ann@x.io\nbob,bob@y.org\n",
            "sku,active\nA-1,yes\nB-2,no\n",
        ] {
            assert!(s(text).header, "{text:?}");
        }
    }

    /// Item 9: repeated names do not stop a header from being one.
    #[test]
    fn a_header_with_repeated_names_is_a_header() {
        let d = s("id,name,name\n1,Ann,Lee\n2,Bob,Ray\n");
        assert!(d.header);
        assert_eq!(d.columns, vec!["id", "name", "name_2"]);
    }

    /// Item 8: stray quotes in a file that quotes nothing are read as text.
    #[test]
    fn stray_quotes_in_a_file_without_quoting_are_text() {
        let mut text = String::from("id,item\n");
        for i in 1..=20 {
            text.push_str(&if i % 2 == 1 { format!("{i},{i}\" screen\n") } else { format!("{i},plain\n") });
        }
        let d = s(&text);
        assert_ne!(d.quote, '"');
        assert!(d.quote.is_control() && !text.contains(d.quote));
        assert!(d.header);
        assert_eq!(d.ragged_lines, 0);
        assert_eq!(split_record("1,5\" screen", d.delimiter, d.quote), vec!["1", "5\" screen"]);
        assert_eq!(records(&text, true, d.quote).len(), 21, "every line is a row");
        // A file that also quotes fields keeps ": eai._check_csv fails its batch at the line.
        assert_eq!(s("id,item\n1,\"Doe, Jane\"\n2,5\" screen\n").quote, '"');
    }

    /// Item 13: UTF-16 and binary files.
    #[test]
    fn wide_encodings_and_nul_bytes() {
        let utf16le: Vec<u8> = [0xFF, 0xFE].into_iter().chain("id,name\n1,Ann\n".encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(sniff(&utf16le, true), Err(SniffError::WideEncoding("UTF-16 (little-endian)")));
        let bare_be: Vec<u8> = "id,name\n1,Ann\n".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(sniff(&bare_be, true), Err(SniffError::WideEncoding("UTF-16 (big-endian)")));
        assert_eq!(sniff(b"\xFF\xFE\0\0i\0\0\0", true), Err(SniffError::WideEncoding("UTF-32 (little-endian)")));
        assert_eq!(sniff(b"id,x\n1,a\0b\n", true), Err(SniffError::NulByte { offset: 9, line: 2 }));
        let e = sniff(&utf16le, true).unwrap_err();
        assert_eq!((e.sqlstate(), e.unreadable().kind), ("22021", "content"));
        assert_eq!(e.to_string(), "the file is UTF-16 (little-endian), an encoding PostgreSQL cannot read");
    }

    /// Item 13: a long file without a line break is not "empty".
    #[test]
    fn no_line_break_in_the_sample() {
        let long = vec![b'x'; 64 * 1024];
        let e = sniff(&long, false).unwrap_err();
        assert_eq!(e, SniffError::NoLineBreak { kib: 64 });
        assert_eq!(e.to_string(), "no line break in its first 64 KiB: eai reads CSV files with one row per line");
        assert_eq!(e.sqlstate(), "22P04");
        let mut open = b"\"a\n".to_vec();
        open.extend(std::iter::repeat_n(b'y', 1000));
        assert_eq!(sniff(&open, false), Err(SniffError::NoRecordEnd { kib: 0 }));
        assert_eq!(sniff(b"id,x", false), Err(SniffError::NoLineBreak { kib: 0 }));
        assert!(s("id,x").header, "a whole file of one line without a line end is a header");
    }

    #[test]
    fn carriage_returns_alone_end_lines() {
        let d = s("id,name\r1,Ann\r2,Bob\r");
        assert!(d.header);
        assert_eq!(d.columns, vec!["id", "name"]);
        assert_eq!(d.ragged_lines, 0);
    }

    #[test]
    fn file_names_that_are_not_utf8() {
        let u = non_utf8_file_name("caf\u{fffd}.csv");
        assert_eq!((u.kind, u.sqlstate), ("file_name", "22021"));
        assert!(u.message.contains("caf\u{fffd}.csv"), "{}", u.message);
    }
}
