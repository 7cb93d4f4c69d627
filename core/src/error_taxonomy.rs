//! Error taxonomy: what kind of failure a SQLSTATE (or an HTTP status) is, what to tell the user,
//! and how to keep secrets out of messages. Self-healing keys its actions on [`ErrorClass`]:
//! transient → retry with backoff; resource → retry, backing off long; schema drift →
//! conditional auto-heal; bad data → quarantine, never retried; configuration → escalate.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Worth retrying as is: connections, locks, cancellations, a server at its connection limit.
    Transient,
    /// The server ran short (disk full, out of memory, a configured limit): retry, backing off long.
    Resource,
    /// The source's shape changed: a missing table or column, a type that no longer matches.
    SchemaDrift,
    /// The data itself is bad: unparseable values, malformed rows, violated constraints.
    BadData,
    /// Someone must fix a setting: a missing file, a wrong password or database, a privilege.
    Configuration,
    /// Anything else: a bug or an unexpected state.
    Internal,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Resource => "resource",
            ErrorClass::SchemaDrift => "schema_drift",
            ErrorClass::BadData => "bad_data",
            ErrorClass::Configuration => "configuration",
            ErrorClass::Internal => "internal",
        }
    }

    /// The class named by [`ErrorClass::as_str`]; `None` for any other text.
    pub fn from_name(name: &str) -> Option<ErrorClass> {
        [ErrorClass::Transient, ErrorClass::Resource, ErrorClass::SchemaDrift, ErrorClass::BadData, ErrorClass::Configuration, ErrorClass::Internal]
            .into_iter()
            .find(|c| c.as_str() == name)
    }
}

/// Classify a five-character SQLSTATE.
pub fn classify(sqlstate: &str) -> ErrorClass {
    let class = sqlstate.get(..2).unwrap_or("");
    match sqlstate {
        // 53300: too many connections, a moment's wait frees one; the rest of 53 is the server
        // running short (53100 disk full, 53200 out of memory, 53400 a configured limit).
        "40001" | "40P01" | "55P03" | "57014" | "57P01" | "57P02" | "57P03" | "HV00N" | "53300" => return ErrorClass::Transient,
        "42703" | "42P01" | "42804" | "42P18" | "HV005" | "HV00J" | "HV00R" => return ErrorClass::SchemaDrift,
        // eai's own: EAI01 = a source file is empty.
        "EAI01" => return ErrorClass::BadData,
        "58P01" | "58P02" | "42501" | "3D000" | "42704" | "HV00D" | "HV00A" => return ErrorClass::Configuration,
        _ => {}
    }
    match class {
        "08" => ErrorClass::Transient,
        "53" => ErrorClass::Resource,
        "22" | "23" => ErrorClass::BadData,
        "28" | "58" | "3D" | "3F" | "F0" | "HV" => ErrorClass::Configuration,
        _ => ErrorClass::Internal,
    }
}

/// A hint for an error met while reading a source, for the batch record and the user.
pub fn ingest_hint(sqlstate: &str) -> &'static str {
    match sqlstate {
        "58P01" => "The file does not exist or is not readable by the database server's OS user. Check the path with eai.sources and the file's permissions, then run eai.ingest again.",
        "22P04" => "A row of the file does not match its header (a missing or extra field). Fix the row at the line shown in the context, or remove it, then run eai.ingest again; nothing of this batch was written.",
        "22021" => "The file is not in the expected encoding. Save it as UTF-8, or set the foreign table's encoding option, then run eai.ingest again.",
        "EAI01" => "Write a header line and rows to the file, then run eai.ingest again.",
        "28P01" | "28000" => "The remote server refused the credentials. Fix them with ALTER USER MAPPING, then run eai.ingest again.",
        "3D000" => "The remote database does not exist. Fix the server's dbname with ALTER SERVER, then run eai.ingest again.",
        _ => match classify(sqlstate) {
            ErrorClass::Transient => "The source is unreachable or busy; this is transient. Run eai.ingest again once it is back; rows already in bronze are not duplicated.",
            ErrorClass::Resource => "The server ran short (disk, memory or a configured limit). Free the resource or raise the limit, then run eai.ingest again; nothing of this batch was written.",
            ErrorClass::SchemaDrift => "The source's tables or columns changed. Run eai.refresh_source to re-import its definitions, then eai.ingest again.",
            ErrorClass::BadData => "The source holds values that cannot be read as declared. Fix the data at the source, then run eai.ingest again; nothing of this batch was written.",
            ErrorClass::Configuration => "The source is misconfigured (path, server option, user mapping or privilege). Fix it, then run eai.ingest again.",
            ErrorClass::Internal => "Unexpected error: see the message and context. Nothing of this batch was written.",
        },
    }
}

/// A value read through postgres_fdw that does not parse as its foreign table's column type.
const REMOTE_TYPE_CHANGED: &str = "A value of the remote table does not fit the type its foreign table declares (the context names the column): the remote column's type has most likely changed. Run eai.refresh_source to re-import the definition, then eai.ingest again; if bronze then holds the column with another type, the batch says how to widen it.";

/// An insert into bronze refused because a source column's type no longer matches.
const TYPE_NO_LONGER_FITS: &str = "A source column's type no longer matches its bronze column. Widen the bronze column to the source's type (ALTER TABLE bronze.… ALTER COLUMN … TYPE … USING …::text::…), or cast the column back at the source, then run eai.ingest again.";

/// Classify a SQLSTATE in its context: `55000` (object not in prerequisite state) is transient when
/// it is about a replication slot (in use by another process, or not yet free), and
/// configuration otherwise; every other SQLSTATE as [`classify`].
pub fn classify_in(sqlstate: &str, message: &str) -> ErrorClass {
    if sqlstate == "55000" {
        return if message.contains("replication slot") { ErrorClass::Transient } else { ErrorClass::Configuration };
    }
    classify(sqlstate)
}

/// Classify an HTTP status of an endpoint eai calls (an LLM): 408, 429 and 5xx are transient
/// (`Retry-After` says how long to wait), 401 and 403 configuration (the key), other 4xx
/// configuration too (the URL or the model), anything else internal.
pub fn classify_http(status: u16) -> ErrorClass {
    match status {
        408 | 429 | 500..=599 => ErrorClass::Transient,
        400..=499 => ErrorClass::Configuration,
        _ => ErrorClass::Internal,
    }
}

/// What eai can tell about an error met while ingesting, beyond its SQLSTATE alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Diagnosis {
    pub class: ErrorClass,
    /// A hint that knows better than the error's own (`None`: keep the error's hint, else
    /// [`ingest_hint`]).
    pub hint: Option<&'static str>,
}

/// The remote server refused the credentials or the role.
const REMOTE_REFUSED_CREDENTIALS: &str = "The remote server refused the credentials (the password, or the role, is wrong). Fix them with ALTER USER MAPPING … OPTIONS (SET password '…') or at the source, then run eai.ingest again (eai.heal retries on the long interval by itself).";

/// The remote server's pg_hba.conf has no line for this connection.
const REMOTE_HBA_REFUSED: &str = "The remote server's pg_hba.conf does not admit this host, user and database. Add a line for them at the source and reload it, then run eai.ingest again.";

/// The remote database named by the server does not exist.
const REMOTE_DATABASE_MISSING: &str = "The remote database does not exist. Fix the server's dbname with ALTER SERVER, then run eai.ingest again.";

/// The remote server is at max_connections (or the role's or database's connection limit).
const REMOTE_AT_CONNECTION_LIMIT: &str = "The source is at its connection limit (max_connections, or its role's or database's CONNECTION LIMIT); this is transient. eai retries as connections free up; raise the limit at the source if it keeps happening.";

/// Why a remote server refused a connection, from the message it sent (postgres_fdw reports every
/// refused connection as 08001 and puts the server's own message in the detail). The server sends
/// it in its `lc_messages`: English messages are recognised.
fn remote_refusal(detail: &str) -> Option<Diagnosis> {
    let has = |s: &str| detail.contains(s);
    let (class, hint) = if has("password authentication failed")
        || has("no password supplied")
        || has("password is required")
        || has("role \"") && has("does not exist")
    {
        (ErrorClass::Configuration, REMOTE_REFUSED_CREDENTIALS)
    } else if has("no pg_hba.conf entry") {
        (ErrorClass::Configuration, REMOTE_HBA_REFUSED)
    } else if has("database \"") && has("does not exist") {
        (ErrorClass::Configuration, REMOTE_DATABASE_MISSING)
    } else if has("too many clients already") || has("too many connections for") || has("remaining connection slots are reserved") {
        (ErrorClass::Transient, REMOTE_AT_CONNECTION_LIMIT)
    } else {
        return None;
    };
    Some(Diagnosis { class, hint: Some(hint) })
}

/// Diagnose an ingest error from its SQLSTATE, its context (`PG_EXCEPTION_CONTEXT`), its detail
/// and the source's foreign-data wrapper. postgres_fdw converts every remote value with the input
/// function of the foreign table's column type, in the remote session's own settings: a data
/// exception there (`22P02 invalid input syntax for type integer`, context `column "n" of foreign
/// table "t"`) means the remote column no longer has that type, i.e. schema drift, not bad data.
/// And it reports every refused connection as `08001`: a wrong password is configuration, not a
/// network blip, which only the server's message in the detail tells.
pub fn diagnose_ingest(sqlstate: &str, context: &str, detail: &str, fdw: &str) -> Diagnosis {
    if fdw == "postgres_fdw" && sqlstate.starts_with("22") && context.contains(" of foreign table ") {
        return Diagnosis { class: ErrorClass::SchemaDrift, hint: Some(REMOTE_TYPE_CHANGED) };
    }
    if sqlstate == "42804" {
        return Diagnosis { class: ErrorClass::SchemaDrift, hint: Some(TYPE_NO_LONGER_FITS) };
    }
    if sqlstate == "08001" {
        if let Some(d) = remote_refusal(detail) {
            return d;
        }
    }
    Diagnosis { class: classify_in(sqlstate, context), hint: None }
}

/// Whether an ingest error may leave the transaction unable to commit, so that its record must
/// be spooled outside it (src/failure_spool.rs): postgres_fdw refuses to commit a transaction
/// whose remote connection broke in the middle of a read (its abort cleanup failed), which a lost
/// connection (08…, not 08001: none was made), a terminated remote backend (57P0x) or a cancel the
/// remote did not answer (57014) can cause. Only those: a failure in a transaction the caller then
/// rolls back on purpose is not recorded afterwards.
pub fn may_prevent_commit(sqlstate: &str, fdw: &str) -> bool {
    fdw == "postgres_fdw" && ((sqlstate.starts_with("08") && sqlstate != "08001") || matches!(sqlstate, "57P01" | "57P02" | "57P03" | "57014"))
}

/// Replace secrets in a message: `password=…` values and the password part of URIs.
pub fn redact_secrets(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    // password=value or password = 'value'
    while let Some(pos) = find_ci(rest, "password") {
        let (before, after) = rest.split_at(pos + "password".len());
        out.push_str(before);
        let trimmed = after.trim_start();
        if let Some(value_part) = trimmed.strip_prefix('=').or_else(|| trimmed.strip_prefix(':')) {
            let value_part = value_part.trim_start();
            let skip = if let Some(q) = value_part.strip_prefix('\'') {
                q.find('\'').map(|i| i + 2).unwrap_or(value_part.len())
            } else {
                value_part.find(|c: char| c.is_whitespace() || c == ',' || c == ')').unwrap_or(value_part.len())
            };
            out.push_str("=********");
            rest = &value_part[skip..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    redact_uri_passwords(&out)
}

fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack.to_ascii_lowercase().find(needle)
}

fn redact_uri_passwords(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find("://") {
        let (before, after) = rest.split_at(pos + 3);
        out.push_str(before);
        let end = after.find(|c: char| c.is_whitespace() || c == '/' || c == '"' || c == '\'').unwrap_or(after.len());
        let authority = &after[..end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                out.push_str(&authority[..colon]);
                out.push_str(":********");
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(classify("08001"), ErrorClass::Transient);
        assert_eq!(classify("08006"), ErrorClass::Transient);
        assert_eq!(classify("40P01"), ErrorClass::Transient);
        assert_eq!(classify("53300"), ErrorClass::Transient, "too many connections");
        for resource in ["53100", "53200", "53400"] {
            assert_eq!(classify(resource), ErrorClass::Resource, "{resource}");
        }
        assert_eq!(classify_in("55000", "replication slot \"s\" is active for PID 42"), ErrorClass::Transient);
        assert_eq!(classify_in("55000", "cannot drop the extension"), ErrorClass::Configuration);
        assert_eq!(classify_in("40P01", ""), ErrorClass::Transient);
        for (status, class) in [
            (408, ErrorClass::Transient),
            (429, ErrorClass::Transient),
            (500, ErrorClass::Transient),
            (503, ErrorClass::Transient),
            (401, ErrorClass::Configuration),
            (403, ErrorClass::Configuration),
            (404, ErrorClass::Configuration),
            (302, ErrorClass::Internal),
        ] {
            assert_eq!(classify_http(status), class, "HTTP {status}");
        }
        assert_eq!(classify("42703"), ErrorClass::SchemaDrift);
        assert_eq!(ErrorClass::from_name("schema_drift"), Some(ErrorClass::SchemaDrift));
        assert_eq!(ErrorClass::from_name("Transient"), None);
        assert_eq!(classify("22P04"), ErrorClass::BadData);
        assert_eq!(classify("23505"), ErrorClass::BadData);
        assert_eq!(classify("58P01"), ErrorClass::Configuration);
        assert_eq!(classify("28P01"), ErrorClass::Configuration);
        assert_eq!(classify("XX000"), ErrorClass::Internal);
        assert_eq!(classify(""), ErrorClass::Internal);
        assert_eq!(ErrorClass::SchemaDrift.as_str(), "schema_drift");
    }

    #[test]
    fn hints_exist_for_every_class() {
        for s in ["08001", "42703", "22P02", "58P01", "XX000", "22P04", "EAI01", "28P01"] {
            assert!(!ingest_hint(s).is_empty());
        }
    }

    /// Item 13: a remote column that changed from int to text is schema drift, with a hint that
    /// says to refresh, then to widen bronze; not bad data with PostgreSQL's generic hint.
    #[test]
    fn a_remote_type_change_is_schema_drift() {
        let ctx = "column \"n\" of foreign table \"t\"\nSQL statement \"INSERT INTO bronze.r__t …\"\nPL/pgSQL function eai._ingest_table(text,text) line 60 at EXECUTE";
        let d = diagnose_ingest("22P02", ctx, "", "postgres_fdw");
        assert_eq!(d.class, ErrorClass::SchemaDrift);
        assert!(d.hint.unwrap().contains("eai.refresh_source"));
        // The same SQLSTATE read from a file, or without the foreign-table context, is bad data.
        assert_eq!(diagnose_ingest("22P02", ctx, "", "file_fdw"), Diagnosis { class: ErrorClass::BadData, hint: None });
        assert_eq!(diagnose_ingest("22P02", "PL/pgSQL function x", "", "postgres_fdw").class, ErrorClass::BadData);
        let d = diagnose_ingest("42804", "", "", "postgres_fdw");
        assert_eq!(d.class, ErrorClass::SchemaDrift);
        assert!(d.hint.unwrap().contains("ALTER TABLE bronze."));
        assert_eq!(diagnose_ingest("08006", "", "", "postgres_fdw"), Diagnosis { class: ErrorClass::Transient, hint: None });
    }

    #[test]
    fn only_a_broken_remote_connection_is_spooled() {
        assert!(may_prevent_commit("08006", "postgres_fdw"));
        assert!(may_prevent_commit("57P01", "postgres_fdw"));
        assert!(may_prevent_commit("57014", "postgres_fdw"));
        assert!(!may_prevent_commit("08001", "postgres_fdw"), "no connection was made");
        assert!(!may_prevent_commit("57014", "file_fdw"));
        assert!(!may_prevent_commit("22P04", "postgres_fdw"));
    }

    /// postgres_fdw reports each refused connection as 08001 with the server's message as detail.
    #[test]
    fn a_refused_connection_is_classified_by_the_server_s_message() {
        let fatal = |m: &str| format!("connection to server on socket \"/x/.s.PGSQL.5432\" failed: FATAL:  {m}");
        let d = diagnose_ingest("08001", "", &fatal("password authentication failed for user \"shop\""), "postgres_fdw");
        assert_eq!(d.class, ErrorClass::Configuration);
        assert!(d.hint.unwrap().contains("ALTER USER MAPPING"));
        assert_eq!(diagnose_ingest("08001", "", &fatal("role \"ghost\" does not exist"), "postgres_fdw").class, ErrorClass::Configuration);
        assert_eq!(
            diagnose_ingest("08001", "", &fatal("no pg_hba.conf entry for host \"[local]\", user \"u\", database \"d\""), "postgres_fdw").hint,
            Some(REMOTE_HBA_REFUSED)
        );
        assert_eq!(diagnose_ingest("08001", "", &fatal("database \"gone\" does not exist"), "postgres_fdw").hint, Some(REMOTE_DATABASE_MISSING));
        let d = diagnose_ingest("08001", "", &fatal("sorry, too many clients already"), "postgres_fdw");
        assert_eq!((d.class, d.hint), (ErrorClass::Transient, Some(REMOTE_AT_CONNECTION_LIMIT)));
        assert_eq!(diagnose_ingest("08001", "", &fatal("too many connections for role \"shop\""), "postgres_fdw").class, ErrorClass::Transient);
        // A server that is down or starting: transient, with the generic hint.
        let down = "connection to server on socket \"/x/.s.PGSQL.5432\" failed: No such file or directory";
        assert_eq!(diagnose_ingest("08001", "", down, "postgres_fdw"), Diagnosis { class: ErrorClass::Transient, hint: None });
    }

    #[test]
    fn secrets_are_redacted() {
        let m = redact_secrets("could not connect: host=h password=hunter2 user=u");
        assert!(!m.contains("hunter2"), "{m}");
        let m = redact_secrets("options (password 'x', PASSWORD='hunter2')");
        assert!(!m.contains("hunter2"), "{m}");
        let m = redact_secrets("uri postgresql://bob:hunter2@host:5432/db failed");
        assert!(!m.contains("hunter2"), "{m}");
        assert!(m.contains("bob:********@host:5432"), "{m}");
        assert_eq!(redact_secrets("nothing to hide"), "nothing to hide");
    }
}
