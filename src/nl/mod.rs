//! `eai.nl_to_sql` and its parts (issue 15; docs/nl_to_sql.md). Built so far: the validation
//! every SELECT passes before eai runs it, whatever wrote it (`validate`); the embedded engine over
//! a catalog read for the calling role (`to_sql`).

pub mod to_sql;
pub mod validate;
