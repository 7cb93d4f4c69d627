//! eai-core: the algorithms behind the eai PostgreSQL extension, free of pgrx so that they build
//! and test with plain `cargo test`. The extension crate (`eai`) is a thin layer on top.
//!
//! One concern per module:
//! - [`breaker`]: circuit breakers per source and LLM endpoint: closed, open, half-open with one probe.
//! - [`ident`]: names eai derives for staging schemas, servers and bronze tables (63-byte safe).
//! - [`csv_sniff`]: delimiter, quote, header, column names and encoding of a CSV file; files it cannot read.
//! - [`csv_scan`]: a whole CSV file read strictly, as COPY will: stray quotes found, with their line.
//! - [`conninfo`]: libpq connection strings and URIs → postgres_fdw server / user-mapping options.
//! - [`error_taxonomy`]: SQLSTATE → error class and a hint for the user; secret redaction.
//! - [`escalation`]: which failures a person must see, of which kind and severity.
//! - [`expectations`]: rules silver data must hold (`eai.expect`), suggestions from profiles.
//! - [`schema_drift`]: schema drift under a contract: type widening, rename confidence, verdicts, safeguards, canary.
//! - [`embedding`]: in-process sentence embeddings with ONNX Runtime (mean pooling + L2).
//! - [`llm`]: LLM disambiguation protocol: prompts, OpenAI/Ollama bodies and replies, validation, prices.
//! - [`promotion`]: the bronze → silver statement: safe casts, expectations, quarantine, dedup.
//! - [`node_tree`]: PostgreSQL's `pg_node_tree` text parsed; column lineage of a view (gold tables).
//! - [`quality`]: the single-pass quality scan and the scores of its seven dimensions.
//! - [`retry_policy`]: per class, retry after an exponential backoff with jitter, or park the work.
//! - [`row_hash`]: 128-bit row identity that keeps bronze free of re-ingested duplicates.

pub mod anomaly;
pub mod breaker;
pub mod conninfo;
pub mod csv_scan;
pub mod csv_sniff;
pub mod embedding;
pub mod error_taxonomy;
pub mod escalation;
pub mod expectations;
pub mod ident;
pub mod llm;
pub mod llm_ledger;
pub mod llm_retry;
pub mod matching;
pub mod names;
pub mod nl;
pub mod node_tree;
pub mod profile;
pub mod promotion;
pub mod quality;
pub mod regex_compat;
pub mod retry_policy;
pub mod row_hash;
pub mod schedule;
pub mod schema_drift;
