//! Running a SELECT a user handed in, the one way every caller does it (`eai.detect_anomalies(query)`
//! now; the questions of `eai.nl_to_sql` next): checked by PostgreSQL's own parser to be exactly
//! one SELECT (`user_sql::check_select`), opened as a cursor (which takes one SELECT only, so text
//! that closes the subquery to append a statement is refused, 42P11), and read in a read-only
//! subtransaction that is rolled back (`user_sql::read_only`): with the caller's rights, never a
//! definer's, and a function with side effects in it cannot write.

use pgrx::prelude::*;
use pgrx::spi::{self, SpiHeapTupleData};

use crate::user_sql;

/// A user's query that passed the parser's check: its statement text, nothing after it.
pub struct UserQuery(String);

impl UserQuery {
    /// Checks `sql` (42601 with a hint when it is not exactly one SELECT).
    pub fn check(sql: &str) -> UserQuery {
        UserQuery(user_sql::check_select(sql))
    }

    /// Its result columns (name, type oid), planned but not run (`LIMIT 0`).
    pub fn columns(&self) -> Result<Vec<(String, pg_sys::Oid)>, spi::Error> {
        // safe: the caller's own query, checked above, run with the caller's rights; never a value.
        let sql = format!("SELECT * FROM (\n{}\n) AS q LIMIT 0", self.0); // safe: see above
        user_sql::read_only(|| {
            Spi::connect(|client| {
                let mut cursor = client.try_open_cursor(sql.as_str(), &[])?;
                let t = cursor.fetch(1)?;
                (1..=t.columns()?).map(|i| Ok((t.column_name(i)?, t.column_type_oid(i)?.value()))).collect()
            })
        })
    }

    /// Reads `SELECT <select> FROM (<query>) AS q` through a cursor, `chunk` rows at a time,
    /// handing each row to `row`. `select` are expressions over `q`'s columns that the caller
    /// built with quoted identifiers.
    pub fn for_each_row(
        &self,
        select: &[String],
        chunk: i64,
        mut row: impl FnMut(SpiHeapTupleData<'_>) -> Result<(), spi::Error>,
    ) -> Result<(), spi::Error> {
        // safe: the caller's own query (checked), under select expressions of quoted identifiers.
        let sql = format!("SELECT {} FROM (\n{}\n) AS q", select.join(", "), self.0); // safe: see above
        user_sql::read_only(|| {
            Spi::connect(|client| {
                let mut cursor = client.try_open_cursor(sql.as_str(), &[])?;
                loop {
                    let t = cursor.fetch(chunk)?;
                    if t.is_empty() {
                        return Ok(());
                    }
                    for r in t {
                        row(r)?;
                    }
                }
            })
        })
    }

    /// At most `limit` rows of the query, each as jsonb (`to_jsonb` of the row: column names as
    /// keys).
    pub fn json_rows(&self, limit: i64) -> Result<Vec<pgrx::JsonB>, spi::Error> {
        // safe: the caller's own query, checked; the limit is a value.
        let sql = format!("SELECT pg_catalog.to_jsonb(q.*) FROM (\n{}\n) AS q LIMIT $1", self.0); // safe: see above
        user_sql::read_only(|| {
            Spi::connect(|client| {
                let mut cursor = client.try_open_cursor(sql.as_str(), &[limit.into()])?;
                let mut out = Vec::new();
                loop {
                    let t = cursor.fetch(1000)?;
                    if t.is_empty() {
                        return Ok(out);
                    }
                    for r in t {
                        if let Some(j) = r.get::<pgrx::JsonB>(1)? {
                            out.push(j);
                        }
                    }
                }
            })
        })
    }
}
