//! A strict reading of a CSV file, byte by byte and in chunks (a whole file is checked without
//! holding it), that finds where PostgreSQL's `COPY … (FORMAT csv)` would read the file differently
//! from what it means, and says where by line of the file:
//!
//! - a quote inside an unquoted field (`5" screen`): COPY opens a quoted value there, so the
//!   delimiters and line ends that follow are read as data until the next quote, and lines are
//!   silently joined into one row;
//! - text after the closing quote of a quoted field (`"5" screen`): COPY glues it to the value;
//! - a quoted field that is never closed.
//!
//! Spaces or tabs before an opening quote and after a closing one are allowed (`a, "b, c"`): COPY
//! reads such fields as the file means, the spaces kept. A UTF-8 byte-order mark at the start is
//! skipped. Line ends are LF, CRLF or CR alone. Delimiter, quote and line ends are ASCII, so the
//! bytes of UTF-8 and LATIN1 files are read alike.

use std::fmt;

/// What COPY would misread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// A quote inside an unquoted field.
    StrayQuote,
    /// Text right after the closing quote of a quoted field.
    TextAfterQuote,
    /// A quoted field that the file never closes.
    UnterminatedQuote,
}

impl Problem {
    fn describe(self, quote: char) -> String {
        match self {
            Problem::StrayQuote => {
                format!("a quote ({quote}) inside an unquoted field, which would open a quoted value there and join the lines that follow")
            }
            Problem::TextAfterQuote => format!("text after the closing quote ({quote}) of a quoted field"),
            Problem::UnterminatedQuote => format!("a quoted field that opens here ({quote}) is never closed"),
        }
    }
}

/// Where and what: `line` is the file's physical line (1-based), `field` the field of the record
/// (1-based), `excerpt` the line up to the problem (at most its last 48 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub problem: Problem,
    pub line: u64,
    pub field: u32,
    pub quote: char,
    pub excerpt: String,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, field {}: {}", self.line, self.field, self.problem.describe(self.quote))?;
        if !self.excerpt.is_empty() {
            write!(f, "; the line reads: {}", self.excerpt)?;
        }
        Ok(())
    }
}

impl std::error::Error for Malformed {}

/// What a clean scan saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Records (rows, the header included), a last record without a line end included.
    pub records: u64,
    /// Fields that were quoted and closed properly: the file uses quoting.
    pub well_quoted: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field.
    FieldStart,
    /// Only spaces or tabs so far in the field.
    Leading,
    /// In an unquoted field.
    Unquoted,
    /// Inside quotes.
    Quoted,
    /// Just after a quote inside quotes: the end of the value, or the first of `""`.
    Closed,
    /// Spaces or tabs after the closing quote.
    Trailing,
}

const EXCERPT: usize = 48;

/// The scanner: [`Scanner::feed`] the file's bytes in any chunks, then [`Scanner::finish`]. The
/// first problem is kept; after it the scanner reads on (a stray quote as an ordinary character),
/// so that [`Scanner::well_quoted`] still counts the whole input.
pub struct Scanner {
    delimiter: u8,
    quote: u8,
    state: State,
    line: u64,
    field: u32,
    open_line: u64,
    open_field: u32,
    after_cr: bool,
    started: bool,
    records: u64,
    well_quoted: u64,
    ring: [u8; EXCERPT],
    ring_len: usize,
    problem: Option<Malformed>,
}

impl Scanner {
    pub fn new(delimiter: u8, quote: u8) -> Self {
        Scanner {
            delimiter,
            quote,
            state: State::FieldStart,
            line: 1,
            field: 1,
            open_line: 1,
            open_field: 1,
            after_cr: false,
            started: false,
            records: 0,
            well_quoted: 0,
            ring: [0; EXCERPT],
            ring_len: 0,
            problem: None,
        }
    }

    /// The first problem met so far.
    pub fn problem(&self) -> Option<&Malformed> {
        self.problem.as_ref()
    }

    /// Properly quoted fields met so far.
    pub fn well_quoted(&self) -> u64 {
        self.well_quoted
    }

    /// Read the next bytes of the file.
    pub fn feed(&mut self, chunk: &[u8]) {
        let mut bytes = chunk;
        if !self.started && !bytes.is_empty() {
            self.started = true;
            if let Some(rest) = bytes.strip_prefix(b"\xef\xbb\xbf".as_slice()) {
                bytes = rest;
            }
        }
        for &b in bytes {
            self.byte(b);
        }
    }

    /// The end of the file: the first problem, or what was read.
    pub fn finish(mut self) -> Result<Summary, Malformed> {
        let partial = self.state != State::FieldStart || self.field > 1 || self.ring_len > 0;
        match self.state {
            State::Quoted => self.report_at(Problem::UnterminatedQuote, self.open_line, self.open_field, false),
            State::Closed | State::Trailing => self.well_quoted += 1,
            _ => {}
        }
        match self.problem {
            Some(p) => Err(p),
            None => Ok(Summary { records: self.records + u64::from(partial), well_quoted: self.well_quoted }),
        }
    }

    fn byte(&mut self, b: u8) {
        // LF, CRLF (one line end) or CR alone.
        if b == b'\n' && self.after_cr {
            self.after_cr = false;
            return;
        }
        self.after_cr = b == b'\r';
        let eol = b == b'\n' || b == b'\r';
        if !eol {
            self.remember(b);
        }
        let (q, d) = (self.quote, self.delimiter);
        match self.state {
            State::FieldStart | State::Leading => {
                if b == q {
                    self.state = State::Quoted;
                    self.open_line = self.line;
                    self.open_field = self.field;
                } else if b == d {
                    self.next_field();
                } else if eol {
                    self.end_record();
                } else if b == b' ' || b == b'\t' {
                    self.state = State::Leading;
                } else {
                    self.state = State::Unquoted;
                }
            }
            State::Unquoted => {
                if b == q {
                    // Read on with the quote as an ordinary character.
                    self.report_at(Problem::StrayQuote, self.line, self.field, true);
                } else if b == d {
                    self.next_field();
                } else if eol {
                    self.end_record();
                }
            }
            State::Quoted => {
                if b == q {
                    self.state = State::Closed;
                } else if eol {
                    self.new_line();
                }
            }
            State::Closed | State::Trailing => {
                if b == q && self.state == State::Closed {
                    self.state = State::Quoted; // "" inside quotes
                } else if b == d {
                    self.well_quoted += 1;
                    self.next_field();
                } else if eol {
                    self.well_quoted += 1;
                    self.end_record();
                } else if b == b' ' || b == b'\t' {
                    self.state = State::Trailing;
                } else {
                    self.report_at(Problem::TextAfterQuote, self.line, self.field, true);
                    self.state = State::Unquoted;
                }
            }
        }
    }

    fn next_field(&mut self) {
        self.field += 1;
        self.state = State::FieldStart;
    }

    fn end_record(&mut self) {
        self.records += 1;
        self.field = 1;
        self.state = State::FieldStart;
        self.new_line();
    }

    fn new_line(&mut self) {
        self.line += 1;
        self.ring_len = 0;
    }

    fn remember(&mut self, b: u8) {
        self.ring[self.ring_len % EXCERPT] = b;
        self.ring_len += 1;
    }

    fn excerpt(&self) -> String {
        let bytes: Vec<u8> = if self.ring_len <= EXCERPT {
            self.ring[..self.ring_len].to_vec()
        } else {
            let start = self.ring_len % EXCERPT;
            self.ring[start..].iter().chain(&self.ring[..start]).copied().collect()
        };
        let text = String::from_utf8_lossy(&bytes);
        // A character cut at the start of the window shows as U+FFFD: drop it.
        let text: &str = if self.ring_len > EXCERPT { text.trim_start_matches('\u{fffd}') } else { &text };
        text.to_string()
    }

    fn report_at(&mut self, problem: Problem, line: u64, field: u32, with_excerpt: bool) {
        if self.problem.is_none() {
            let excerpt = if with_excerpt { self.excerpt() } else { String::new() };
            self.problem = Some(Malformed { problem, line, field, quote: char::from(self.quote), excerpt });
        }
    }
}

/// Scan a whole input at once.
pub fn scan(bytes: &[u8], delimiter: u8, quote: u8) -> Result<Summary, Malformed> {
    let mut s = Scanner::new(delimiter, quote);
    s.feed(bytes);
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> Malformed {
        scan(text.as_bytes(), b',', b'"').unwrap_err()
    }

    #[test]
    fn clean_files_pass() {
        let s = scan(b"id,name\n1,\"Doe, Jane\"\n2,\"say \"\"hi\"\"\"\n3,\"two\nlines\"\n4,plain\n", b',', b'"').unwrap();
        assert_eq!(s, Summary { records: 5, well_quoted: 3 });
        assert_eq!(scan(b"a,b\r\n1,2\r\n", b',', b'"').unwrap().records, 2);
        assert_eq!(scan(b"a,b\r1,2\r3,4", b',', b'"').unwrap().records, 3, "CR alone ends a line; the last line needs no end");
        assert_eq!(scan(b"", b',', b'"').unwrap(), Summary { records: 0, well_quoted: 0 });
        assert_eq!(scan(b"\xef\xbb\xbf\"id\",x\n1,2\n", b',', b'"').unwrap().well_quoted, 1, "a BOM before the first quote");
        assert!(scan(b"a, \"b, c\" ,d\n", b',', b'"').is_ok(), "spaces around a quoted field");
        assert!(scan(b"a;5\" screen\n", b';', 0x01).is_ok(), "with another quote character, \" is text");
    }

    #[test]
    fn a_stray_quote_is_found_with_its_line_and_field() {
        // Twenty lines, a stray quote on every other one: COPY would read ten rows.
        let mut text = String::from("id,item\n");
        for i in 1..=20 {
            text.push_str(&if i % 2 == 1 { format!("{i},{i}\" screen\n") } else { format!("{i},plain\n") });
        }
        let e = err(&text);
        assert_eq!((e.problem, e.line, e.field), (Problem::StrayQuote, 2, 2));
        assert_eq!(e.excerpt, "1,1\"");
        assert_eq!(
            e.to_string(),
            "line 2, field 2: a quote (\") inside an unquoted field, which would open a quoted value there and join the lines that follow; the line reads: 1,1\""
        );
    }

    #[test]
    fn lines_are_counted_through_quoted_line_breaks() {
        let e = err("a,b\n\"x\ny\",1\n2,3\"\n");
        assert_eq!((e.problem, e.line, e.field), (Problem::StrayQuote, 4, 2));
        let e = err("a,b\r\n\"x\r\ny\",1\r\n2,3\"\r\n");
        assert_eq!(e.line, 4, "CRLF is one line end");
    }

    #[test]
    fn text_after_a_closing_quote() {
        let e = err("a,b\n1,\"5\" screen\n");
        assert_eq!((e.problem, e.line, e.field), (Problem::TextAfterQuote, 2, 2));
    }

    #[test]
    fn a_quote_never_closed_is_reported_where_it_opens() {
        let e = err("a,b\n1,\"open\n2,x\n3,y\n");
        assert_eq!((e.problem, e.line, e.field), (Problem::UnterminatedQuote, 2, 2));
        assert!(e.excerpt.is_empty());
    }

    #[test]
    fn chunks_do_not_matter() {
        let text = b"id,item\r\n1,\"a\"\"b\"\r\n2,\"c\r\nd\"\r\n3,e\"f\r\n";
        let whole = scan(text, b',', b'"').unwrap_err();
        for size in 1..text.len() {
            let mut s = Scanner::new(b',', b'"');
            for chunk in text.chunks(size) {
                s.feed(chunk);
            }
            assert_eq!(s.finish().unwrap_err(), whole, "chunks of {size}");
        }
        assert_eq!((whole.line, whole.field), (5, 2));
    }

    #[test]
    fn reading_goes_on_after_the_first_problem() {
        let mut s = Scanner::new(b',', b'"');
        s.feed(b"a,b\"c\n\"d\",e\n");
        assert_eq!(s.problem().map(|p| p.line), Some(1));
        assert_eq!(s.well_quoted(), 1);
    }

    #[test]
    fn long_lines_show_their_end() {
        let line = format!("{},x\"", "y".repeat(100));
        let e = err(&line);
        assert_eq!(e.excerpt.len(), 48);
        assert!(e.excerpt.ends_with(",x\""));
    }
}
