//! Questions in plain language to SQL (issue 15; docs/nl_to_sql.md). Pure parts: the safety
//! rules any SQL must pass before eai runs it, whatever wrote it.

pub mod engine;
pub mod safety;
