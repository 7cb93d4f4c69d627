//! Row identity for bronze: a 128-bit hash of a row's values (xxh3-128), so that re-reading a
//! source never lands a row twice. Values are framed (a NULL marker, or a length and the bytes),
//! so NULL and '' differ and ("ab", "c") differs from ("a", "bc"). The 2nd, 3rd… copy of an
//! identical row gets [`with_occurrence`], so duplicates inside a source are all kept.
//!
//! A row is hashed by the shape of its bronze table ([`hash_shaped`]): the columns the table was
//! created with, in its order, then the columns it gained since, which count only up to the last
//! one that holds a value. A row whose added columns are all NULL hashes exactly as it did before
//! they existed, so a source that gains a column (or moves its columns around) does not re-land
//! its rows.
//!
//! These hashes are stored in bronze: they must never change. The known-answer tests pin them.

use xxhash_rust::xxh3::Xxh3;

/// Hash of a row, given its values in column order (`None` = NULL).
pub fn hash_values<'a, I>(values: I) -> [u8; 16]
where
    I: IntoIterator<Item = Option<&'a [u8]>>,
{
    let mut h = Xxh3::new();
    for v in values {
        match v {
            None => h.update(&[0]),
            Some(bytes) => {
                h.update(&[1]);
                h.update(&(bytes.len() as u64).to_le_bytes());
                h.update(bytes);
            }
        }
    }
    h.digest128().to_be_bytes()
}

/// Hash of a row of a bronze table, its values in the table's column order (`None` = NULL, also
/// for a column the source no longer has): the first `base` values are the columns the table was
/// created with, the rest the columns added since, in the order they were added. The added
/// columns count up to the last non-NULL one, so
///
/// - with nothing added, or every added column NULL, this is [`hash_values`] of the first `base`
///   values: the hash the row had before any column was added, which bronze already stores;
/// - within one table (`base` fixed) two different rows never share an input: the input is the
///   base values and then a prefix of the added ones that ends in a value, and two rows with the
///   same such input are equal once the NULLs after it are put back.
///
/// NULLs among the base columns are kept: only the trailing added columns are dropped.
pub fn hash_shaped(values: &[Option<&[u8]>], base: usize) -> [u8; 16] {
    let base = base.min(values.len());
    let end = values[base..].iter().rposition(Option::is_some).map_or(base, |last| base + last + 1);
    hash_values(values[..end].iter().copied())
}

/// Hash of the `n`-th occurrence (n ≥ 2) of a row whose hash is `row`.
pub fn with_occurrence(row: [u8; 16], n: i64) -> [u8; 16] {
    let mut h = Xxh3::new();
    h.update(&row);
    h.update(b"#");
    h.update(&n.to_le_bytes());
    h.digest128().to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: [u8; 16]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn row(vals: &[Option<&str>]) -> [u8; 16] {
        hash_values(vals.iter().map(|v| v.map(str::as_bytes)))
    }

    #[test]
    fn framing_separates_values() {
        assert_ne!(row(&[None]), row(&[Some("")]));
        assert_ne!(row(&[Some("ab"), Some("c")]), row(&[Some("a"), Some("bc")]));
        assert_ne!(row(&[Some("a"), None]), row(&[None, Some("a")]));
        assert_ne!(row(&[]), row(&[None]));
        assert_eq!(row(&[Some("x"), None]), row(&[Some("x"), None]));
    }

    #[test]
    fn occurrences_differ() {
        let r = row(&[Some("1"), Some("Bob")]);
        assert_ne!(with_occurrence(r, 2), r);
        assert_ne!(with_occurrence(r, 2), with_occurrence(r, 3));
    }

    fn shaped(vals: &[Option<&str>], base: usize) -> [u8; 16] {
        let v: Vec<Option<&[u8]>> = vals.iter().map(|v| v.map(str::as_bytes)).collect();
        hash_shaped(&v, base)
    }

    #[test]
    fn shaped_without_added_columns_is_the_plain_hash() {
        let r = [Some("1"), Some("Doe, Jane"), None];
        assert_eq!(shaped(&r, 3), row(&r));
        assert_eq!(hex(shaped(&r, 3)), KNOWN_ROW, "NULLs among the base columns are kept");
        assert_eq!(shaped(&r, 7), row(&r), "a base beyond the values is the whole row");
        assert_eq!(shaped(&[], 0), row(&[]));
    }

    #[test]
    fn added_columns_that_are_null_change_nothing() {
        // The row before the source gained two columns, and after, with both NULL.
        assert_eq!(hex(shaped(&[Some("1"), Some("Doe, Jane"), None, None, None], 3)), KNOWN_ROW);
        assert_eq!(shaped(&[Some("1"), Some("Doe, Jane"), None, None], 3), row(&[Some("1"), Some("Doe, Jane"), None]));
    }

    #[test]
    fn added_columns_with_values_count_where_they_are() {
        let base = [Some("1"), Some("x")];
        let first = shaped(&[base[0], base[1], Some("a"), None], 2);
        let second = shaped(&[base[0], base[1], None, Some("a")], 2);
        assert_ne!(first, shaped(&base, 2), "a value in an added column is a different row");
        assert_ne!(first, second, "which added column holds the value matters");
        assert_eq!(first, row(&[Some("1"), Some("x"), Some("a")]), "trailing NULLs dropped, nothing else");
        assert_eq!(second, row(&[Some("1"), Some("x"), None, Some("a")]));
        assert_ne!(shaped(&[Some("1"), Some("x"), Some("")], 2), shaped(&base, 2), "'' is a value, not NULL");
    }

    /// Bronze stores these hashes: if this test fails, the hash changed and every re-ingest
    /// would duplicate rows. Do not update the expected values; fix the code.
    #[test]
    fn known_answers_never_change() {
        assert_eq!(hex(row(&[Some("1"), Some("Doe, Jane"), None])), KNOWN_ROW);
        assert_eq!(hex(with_occurrence(row(&[Some("1"), Some("Doe, Jane"), None]), 2)), KNOWN_OCCURRENCE);
    }

    const KNOWN_ROW: &str = "7293fd4ab8b211b30bc8049e6efd7bf3";
    const KNOWN_OCCURRENCE: &str = "82f14e174dbfcf11970ec702e0c61a0e";
}
