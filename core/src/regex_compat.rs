//! PostgreSQL regular expressions that the `regex` crate reads the same way.
//!
//! PostgreSQL's `~` runs its own engine (Henry Spencer's ARE), which is several times slower than
//! the `regex` crate on the short values rules check. A `regex` rule whose pattern sits in the
//! common subset of both dialects is checked in Rust (`eai._regex_match`); any other pattern
//! stays with `~`. Only whether a value matches matters to a rule, so the dialects' different
//! rules for which match is chosen do not.
//!
//! The subset, conservatively: literal characters; `. ^ $ | ? * + ( ) { }` as operators;
//! bracket expressions without nested brackets (so no POSIX classes like `[[:alpha:]]`, whose
//! meaning is locale-dependent) and without the `regex` crate's set operators (`&&`, `--`, `~~`);
//! backslash before punctuation; `\d` and `\D` as ASCII digits (PostgreSQL's `[[:digit:]]`).
//! Not in it: other escapes (`\w`, `\s`, `\m`, back-references…), `(?` constructs (lookahead,
//! embedded options) and `***` directors. PostgreSQL's `.` also matches a newline: the
//! translation starts with `(?s)`.

use regex::Regex;

/// The `regex` crate pattern that matches exactly the values PostgreSQL's `value ~ pattern`
/// matches, or None when the pattern is outside the common subset (or does not compile).
pub fn to_rust(pattern: &str) -> Option<String> {
    if pattern.starts_with("***") {
        return None;
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::from("(?s)");
    let mut i = 0;
    let mut in_bracket = false;
    let mut bracket_start = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let next = *chars.get(i + 1)?;
            match next {
                'd' if in_bracket => out.push_str("0-9"),
                'd' => out.push_str("[0-9]"),
                'D' if !in_bracket => out.push_str("[^0-9]"),
                n if n.is_ascii_punctuation() => {
                    out.push('\\');
                    out.push(n);
                }
                _ => return None,
            }
            i += 2;
            continue;
        }
        if in_bracket {
            // A `]` right after `[` or `[^` is a literal in both dialects.
            let first = i == bracket_start;
            match c {
                ']' if !first => in_bracket = false,
                '[' => return None,
                '&' | '-' | '~' if chars.get(i + 1) == Some(&c) => return None,
                _ => {}
            }
            out.push(c);
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_bracket = true;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                bracket_start = i;
                continue;
            }
            '(' if chars.get(i + 1) == Some(&'?') => return None,
            // `{,n}`: the regex crate reads it, PostgreSQL does not.
            '{' if chars.get(i + 1) == Some(&',') => return None,
            _ => out.push(c),
        }
        i += 1;
    }
    if in_bracket {
        return None;
    }
    Regex::new(&out).ok().map(|_| out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, value: &str) -> Option<bool> {
        to_rust(pattern).map(|p| Regex::new(&p).unwrap().is_match(value))
    }

    #[test]
    fn common_patterns_translate_and_match_as_postgres_does() {
        assert_eq!(matches(r"^[^@]+@[^@]+\.[a-z]+$", "user1@example.com"), Some(true));
        assert_eq!(matches(r"^[^@]+@[^@]+\.[a-z]+$", "user1@example"), Some(false));
        assert_eq!(matches(r"^[A-Z]{2}$", "FR"), Some(true));
        assert_eq!(matches(r"^[A-Z]{2}$", "FRA"), Some(false));
        assert_eq!(matches(r"^\d{5}$", "75001"), Some(true));
        assert_eq!(matches(r"^[\d-]+$", "12-34"), Some(true));
        assert_eq!(matches(r"^\D+$", "abc"), Some(true));
        // ARE's `.` matches a newline; `$` only at the very end.
        assert_eq!(matches(r"^a.b$", "a\nb"), Some(true));
        assert_eq!(matches(r"^ab$", "ab\n"), Some(false));
        // Unanchored: a match anywhere.
        assert_eq!(matches("foo|bar", "xxbarxx"), Some(true));
        // A leading ] in a bracket is a literal.
        assert_eq!(matches(r"^[]a]+$", "]a]"), Some(true));
        assert_eq!(matches(r"^[^]a]+$", "bc"), Some(true));
        // Non-ASCII digits are not \d in PostgreSQL.
        assert_eq!(matches(r"^\d$", "٣"), Some(false));
        assert_eq!(matches("^é+$", "éé"), Some(true));
    }

    #[test]
    fn patterns_outside_the_common_subset_stay_with_postgres() {
        for p in [
            r"^\w+$",          // locale-dependent class
            r"\s",             // idem
            r"^[[:alpha:]]+$", // POSIX class
            r"(?i)abc",        // embedded option
            r"a(?=b)",         // lookahead
            r"(a)\1",          // back-reference
            r"\mword\M",       // word boundaries
            "***=a.b",         // director
            "[a&&b]",          // set operator of the regex crate
            "[a--b]",
            "[abc",  // unterminated bracket
            "abc\\", // trailing backslash
            r"[\D]", // \D inside brackets
        ] {
            assert_eq!(to_rust(p), None, "{p}");
        }
    }
}
