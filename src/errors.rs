//! eai's errors as PostgreSQL sees them: each variant has a real SQLSTATE and a hint, and its
//! message has secrets stripped before it leaves the backend.

use eai_core::{conninfo::ConninfoError, csv_scan, embedding::EmbedError, error_taxonomy::redact_secrets};
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use pgrx::pg_sys::panic::ErrorReport;

#[derive(Debug, thiserror::Error)]
pub enum EaiError {
    #[error("{0}")]
    Embed(#[from] EmbedError),
    #[error("invalid connection string: {0}")]
    Conninfo(#[from] ConninfoError),
    #[error("could not read \"{path}\": {source}")]
    File { path: String, source: std::io::Error },
    #[error("\"{0}\" is not a directory")]
    NotADirectory(String),
    /// A CSV file that COPY would read differently from what it means (eai_core::csv_scan).
    #[error("could not read \"{path}\" as CSV: {malformed}")]
    MalformedCsv { path: String, malformed: csv_scan::Malformed },
    #[error("{0}")]
    AnomalyInput(String),
    #[error("{0}")]
    InvalidParameter(String),
    /// A parameter of eai.ask or eai.nl_to_sql out of its range.
    #[error("{0}")]
    InvalidQuestionParameter(String),
    #[error("pattern {0:?} is not in the subset eai._regex_match reads")]
    UnsupportedPattern(String),
    /// SQL text a user handed in (a gold query, a rule, a query to read) that is not exactly the
    /// one statement or expression it must be.
    #[error("{kind} {reason}")]
    InvalidSql { kind: SqlKind, reason: String },
    /// An expectation rule eai cannot read (`eai.expect`'s spelling).
    #[error("{0}")]
    InvalidRule(String),
    /// The role may not do this.
    #[error("{0}")]
    NotAllowed(String),
    /// What the call names is not in a state that allows it.
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0:?} is not an error class")]
    UnknownErrorClass(String),
    #[error("pipeline {0} does not exist")]
    UnknownPipeline(i64),
    /// More rows of a batch break checks than a promotion keeps aside in memory: the promotion
    /// falls back to the statement that keeps them on disk (caught in `eai._promote`).
    #[error("more than {0} rows of the batch break checks")]
    TooManyAside(usize),
    /// eai's own catalog could not be read or written as the statement expects (an extension
    /// whose SQL and library differ, or a bug).
    #[error("could not {doing}: {detail}")]
    Catalog { doing: &'static str, detail: String },
    /// The machine refused what eai asked of it (random bytes, an HTTP client).
    #[error("{0}")]
    System(String),
    /// A statement eai built could not be run (a bug in eai).
    #[error("{0}")]
    Internal(String),
}

impl EaiError {
    /// A catalog read or write that failed, as an error to raise.
    pub fn catalog(doing: &'static str, detail: impl std::fmt::Display) -> EaiError {
        EaiError::Catalog { doing, detail: detail.to_string() }
    }
}

/// What a piece of user SQL must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlKind {
    /// One SELECT (a gold query, a query detect_anomalies reads).
    Select,
    /// One boolean expression over a table's columns (an sql rule).
    Expression,
}

impl std::fmt::Display for SqlKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SqlKind::Select => "the query",
            SqlKind::Expression => "the rule",
        })
    }
}

impl EaiError {
    fn code(&self) -> PgSqlErrorCode {
        match self {
            EaiError::Embed(_) => PgSqlErrorCode::ERRCODE_CONFIG_FILE_ERROR,
            EaiError::Conninfo(_) => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            EaiError::File { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => PgSqlErrorCode::ERRCODE_UNDEFINED_FILE,
                std::io::ErrorKind::PermissionDenied => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                _ => PgSqlErrorCode::ERRCODE_IO_ERROR,
            },
            EaiError::NotADirectory(_) => PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            EaiError::MalformedCsv { .. } => PgSqlErrorCode::ERRCODE_BAD_COPY_FILE_FORMAT,
            EaiError::AnomalyInput(_) => PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            EaiError::InvalidParameter(_) | EaiError::InvalidQuestionParameter(_) => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            EaiError::UnsupportedPattern(_) => PgSqlErrorCode::ERRCODE_INVALID_REGULAR_EXPRESSION,
            EaiError::InvalidSql { .. } => PgSqlErrorCode::ERRCODE_SYNTAX_ERROR,
            EaiError::InvalidRule(_) => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            EaiError::UnknownErrorClass(_) => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            EaiError::NotAllowed(_) => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            EaiError::InvalidState(_) => PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            EaiError::NotFound(_) => PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            EaiError::UnknownPipeline(_) => PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            EaiError::TooManyAside(_) => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            EaiError::Catalog { .. } => PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            EaiError::System(_) => PgSqlErrorCode::ERRCODE_SYSTEM_ERROR,
            EaiError::Internal(_) => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        }
    }

    fn hint(&self) -> &'static str {
        match self {
            EaiError::Embed(EmbedError::Runtime { .. }) => {
                "Check eai.onnxruntime_library (SHOW eai.onnxruntime_library); scripts/install.sh installs it."
            }
            EaiError::Embed(_) => "Check eai.model_dir (SHOW eai.model_dir): it must hold model.onnx and tokenizer.json, readable by the server.",
            EaiError::Conninfo(_) => "Use a libpq URI (postgresql://user@host:port/db) or key=value pairs (host=… dbname=…).",
            EaiError::File { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                "The file must be readable by the database server's OS user (usually postgres), as must every directory above it."
            }
            EaiError::File { .. } => "Check the path: it is read by the database server, on the server's machine.",
            EaiError::NotADirectory(_) => "Give a CSV file or a folder of CSV files.",
            EaiError::MalformedCsv { malformed, .. } => match malformed.problem {
                csv_scan::Problem::StrayQuote => {
                    "Quote the whole field and double the quote inside it (\"5\"\" screen\"), or remove the quote, at the line shown; then run eai.ingest again. Nothing of this batch was written."
                }
                csv_scan::Problem::TextAfterQuote => {
                    "Put the whole field inside the quotes, doubling a quote meant literally (\"5\"\" screen\"), at the line shown; then run eai.ingest again. Nothing of this batch was written."
                }
                csv_scan::Problem::UnterminatedQuote => {
                    "Close the quote opened at the line shown, or double it if it is meant literally; then run eai.ingest again. Nothing of this batch was written."
                }
            },
            EaiError::AnomalyInput(_) => {
                "Give a query returning (ts, value) for a series, or numeric columns only for rows, e.g. SELECT ts, amount FROM silver.orders ORDER BY ts."
            }
            EaiError::InvalidParameter(_) => "See docs/anomalies.md for the parameters and their ranges.",
            EaiError::InvalidQuestionParameter(_) => "SELECT * FROM eai.ask('how many orders are there?', max_rows => 100); see docs/nl_to_sql.md.",
            EaiError::UnsupportedPattern(_) => "Use value ~ pattern.",
            EaiError::InvalidSql { kind: SqlKind::Select, .. } => {
                "Give exactly one SELECT (no second statement, no INTO, no FOR UPDATE, no data-modifying WITH), e.g. SELECT day, sum(amount) FROM silver.orders GROUP BY day."
            }
            EaiError::InvalidSql { kind: SqlKind::Expression, .. } => {
                "Give exactly one boolean expression over the table's columns, without SELECT, FROM or ;, e.g. 'sql discharge_date >= admission_date'."
            }
            EaiError::InvalidRule(_) => {
                "Rules: 'not null', 'type', 'range 0..120', 'regex ^[A-Z]{2}$', 'allowed M,F', 'unique', 'foreign_key silver.t(col)', 'sql <expression>'."
            }
            EaiError::NotAllowed(_) => "GRANT eai_engineer TO <role>; (docs/security.md).",
            EaiError::InvalidState(_) | EaiError::NotFound(_) => {
                "SELECT remediation_id, status, action, reason FROM eai.remediations ORDER BY remediation_id DESC; shows them (docs/healing.md)."
            }
            EaiError::UnknownErrorClass(_) => "The classes are transient, resource, schema_drift, bad_data, configuration and internal (docs/healing.md).",
            EaiError::UnknownPipeline(_) => "SELECT * FROM eai.pipelines;",
            EaiError::TooManyAside(_) => "The promotion falls back to the statement that keeps them on disk.",
            EaiError::Catalog { .. } => {
                "Check that the extension's SQL matches its library (SELECT extversion FROM pg_extension WHERE extname = 'eai'; ALTER EXTENSION eai UPDATE); if it does, this is a bug in eai: report the statement and this message."
            }
            EaiError::System(_) => "Check the server's resources (memory, open files, threads) and its log.",
            EaiError::Internal(_) => "This is a bug in eai: report the statement and this message.",
        }
    }

    /// Its SQLSTATE, as five characters.
    pub fn sqlstate(&self) -> String {
        sqlstate_text(self.code())
    }

    /// The message as it is raised: `eai: …`, secrets removed.
    pub fn public_message(&self) -> String {
        format!("eai: {}", redact_secrets(&self.to_string()))
    }

    /// The hint it is raised with.
    pub fn public_hint(&self) -> &'static str {
        self.hint()
    }

    /// Raise this error in PostgreSQL (does not return).
    pub fn report(self) -> ! {
        let message = self.public_message();
        ErrorReport::new(self.code(), message, "eai").set_hint(self.hint()).report(pgrx::PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}

/// A SQLSTATE as its five characters (MAKE_SQLSTATE packs each in six bits, the first lowest).
pub fn sqlstate_text(code: PgSqlErrorCode) -> String {
    let code = code as i32;
    (0..5).map(|i| (((code >> (6 * i)) & 0x3F) as u8 + b'0') as char).collect()
}

/// Unwrap or raise as a PostgreSQL error.
pub trait OrReport<T> {
    fn or_report(self) -> T;
}

impl<T, E: Into<EaiError>> OrReport<T> for Result<T, E> {
    fn or_report(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => e.into().report(),
        }
    }
}
