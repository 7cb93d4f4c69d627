//! CSV dialect detection: delimiter, header, column names and encoding, from the first bytes of a
//! file. The result becomes the options of a file_fdw foreign table.

use crate::ident;

/// Delimiters eai tries, in order of preference on ties.
pub const CANDIDATE_DELIMITERS: [char; 4] = [',', ';', '\t', '|'];

/// How many lines of the sample are looked at.
const SAMPLE_LINES: usize = 200;

#[derive(Debug, Clone, PartialEq)]
pub struct CsvDialect {
    pub delimiter: char,
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
}

/// Split one CSV record into fields, honouring `"` quoting and `""` escapes.
pub fn split_record(line: &str, delimiter: char) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
        } else if c == '"' {
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

/// Split the sample into records; a newline inside quotes does not end a record. The last record
/// is dropped when the sample was cut in the middle of the file (`complete == false`).
fn records(text: &str, complete: bool) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '\n' if !in_quotes => {
                out.push(text[start..i].trim_end_matches('\r'));
                start = i + 1;
                if out.len() >= SAMPLE_LINES {
                    return out.into_iter().filter(|l| !l.trim().is_empty()).collect();
                }
            }
            _ => {}
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

fn choose_delimiter(lines: &[&str]) -> char {
    let mut best = (',', 0.0f64, 1usize);
    for d in CANDIDATE_DELIMITERS {
        let counts: Vec<usize> = lines.iter().map(|l| split_record(l, d).len()).collect();
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

#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Empty,
    Number,
    Text,
}

fn kind(v: &str) -> Kind {
    let t = v.trim();
    if t.is_empty() {
        Kind::Empty
    } else if t.parse::<f64>().is_ok() || looks_like_date(t) {
        Kind::Number
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

/// Does the first record look like a header? Votes per column, as in Python's csv.Sniffer: a
/// column whose data is numeric but whose first cell is text votes "header", and the reverse votes
/// "no header"; text columns vote by whether the first cell's length is unlike the data's.
fn has_header(rows: &[Vec<String>]) -> bool {
    let first = &rows[0];
    let named: Vec<&str> = first.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).collect();
    let unique: std::collections::HashSet<&str> = named.iter().copied().collect();
    if named.is_empty() || unique.len() != named.len() {
        return false;
    }
    if rows.len() == 1 {
        // A single line: a header when nothing in it is a number.
        return first.iter().all(|c| kind(c) != Kind::Number);
    }
    let mut votes = 0i32;
    for (col, head) in first.iter().enumerate() {
        let data: Vec<&str> = rows[1..].iter().filter_map(|r| r.get(col)).map(|s| s.as_str()).filter(|s| !s.trim().is_empty()).collect();
        if data.is_empty() {
            continue;
        }
        let numeric = data.iter().filter(|v| kind(v) == Kind::Number).count() * 10 >= data.len() * 9;
        let head_kind = kind(head);
        if numeric {
            votes += if head_kind == Kind::Text { 1 } else { -1 };
        } else if head_kind == Kind::Number {
            votes -= 1;
        } else {
            // Text data: a first cell whose length is unlike the (uniform) data's is a header.
            let lens: std::collections::HashSet<usize> = data.iter().map(|v| v.chars().count()).collect();
            if lens.len() == 1 && !lens.contains(&head.chars().count()) {
                votes += 1;
            }
        }
    }
    // Text-only tables give no evidence either way: most real CSV files carry a header.
    votes >= 0
}

/// Detect the dialect of a CSV file from its first bytes. `complete` tells whether `sample` is the
/// whole file (so that its last line is not a partial record).
pub fn sniff(sample: &[u8], complete: bool) -> Result<CsvDialect, SniffError> {
    let (text, encoding) = match std::str::from_utf8(sample) {
        Ok(t) => (t.to_string(), "UTF8"),
        // A sample cut inside a multi-byte character is still UTF-8.
        Err(e) if !complete && e.error_len().is_none() => (String::from_utf8_lossy(&sample[..e.valid_up_to()]).into_owned(), "UTF8"),
        Err(_) => (sample.iter().map(|&b| b as char).collect(), "LATIN1"),
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let lines = records(text, complete);
    if lines.is_empty() {
        return Err(SniffError::Empty);
    }
    let delimiter = choose_delimiter(&lines);
    let rows: Vec<Vec<String>> = lines.iter().map(|l| split_record(l, delimiter)).collect();
    let header = has_header(&rows);
    let width = if header { rows[0].len() } else { mode(&rows.iter().map(|r| r.len()).collect::<Vec<_>>()).0 };
    let columns = if header { ident::column_names(&rows[0]) } else { (1..=width).map(|i| format!("column_{i}")).collect() };
    let ragged_lines = rows.iter().skip(usize::from(header)).filter(|r| r.len() != width).count();
    Ok(CsvDialect { delimiter, quote: '"', header, columns, encoding, ragged_lines })
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
        assert!(d.header);
        assert_eq!(d.columns, vec!["full name", "note"]);
        assert_eq!(d.ragged_lines, 0);
        assert_eq!(split_record("\"a \"\"q\"\"\",b", ','), vec!["a \"q\"", "b"]);
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
}
