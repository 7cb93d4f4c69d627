//! Which functions and relations a generated (or handed-in) SELECT may use (docs/nl_to_sql.md,
//! "Safety"). The glue (src/nl/validate.rs) has PostgreSQL parse and analyse the statement,
//! collects every function it calls (functions, operators, aggregates, window functions) and every
//! relation it reads, and asks these rules. Deny by default: a function is allowed only when it is
//! PostgreSQL's own (`pg_catalog`), cannot change anything (immutable or stable, or one of a few
//! volatile ones that only read a clock or a random source), and is not one that acts on the
//! server, the session, other sessions, files, large objects or other databases, or that runs SQL
//! text of its own.

/// How PostgreSQL labels a function (`pg_proc.provolatile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volatility {
    Immutable,
    Stable,
    Volatile,
}

impl Volatility {
    pub fn from_code(c: &str) -> Volatility {
        match c {
            "i" => Volatility::Immutable,
            "s" => Volatility::Stable,
            _ => Volatility::Volatile,
        }
    }
}

/// Volatile, yet only read a clock or a random source: allowed.
const VOLATILE_BUT_HARMLESS: &[&str] = &["random", "clock_timestamp", "timeofday", "gen_random_uuid", "random_normal"];

/// Stable or immutable by their label, yet they act, leak or run SQL text: refused by name.
/// (Prefixes end with `*`.)
const DENIED: &[&str] = &[
    // run SQL text of their own
    "query_to_xml",
    "query_to_xml_and_xmlschema",
    "query_to_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "table_to_xml*",
    "schema_to_xml*",
    "database_to_xml*",
    "ts_stat",
    // files and the server's own state
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_*",
    "pg_stat_file",
    "pg_current_logfile",
    "pg_hba_file_rules",
    "pg_ident_file_mappings",
    "pg_show_all_file_settings",
    "pg_get_backend_memory_contexts",
    "pg_log_backend_memory_contexts",
    // settings, sessions, locks, sequences, notifications
    "set_config",
    "current_setting",
    "pg_sleep*",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_advisory*",
    "pg_try_advisory*",
    "nextval",
    "setval",
    "currval",
    "lastval",
    "pg_notify",
    "txid_current*",
    "pg_current_xact_id*",
    // large objects, replication, WAL, other databases
    "lo_*",
    "pg_logical_*",
    "pg_replication_*",
    "pg_create_*",
    "pg_drop_replication_slot",
    "pg_switch_wal",
    "pg_promote",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "dblink*",
];

fn denied(name: &str) -> bool {
    DENIED.iter().any(|d| match d.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == *d,
    })
}

/// Whether a function may be called: `Err` says why not ("is …", "acts …", after its name).
pub fn function_allowed(schema: &str, name: &str, volatility: Volatility) -> Result<(), String> {
    if schema != "pg_catalog" {
        return Err("is not one of PostgreSQL's own functions".into());
    }
    if denied(name) {
        return Err("acts on the server, a session, files or other databases, or runs SQL of its own".into());
    }
    if volatility == Volatility::Volatile && !VOLATILE_BUT_HARMLESS.contains(&name) {
        return Err("is volatile: it may change something".into());
    }
    Ok(())
}

/// Whether a relation may be read: in one of the `scope` schemas, and readable by the role; `Err`
/// says why not ("is …", after its name).
pub fn relation_allowed(schema: &str, readable: bool, scope: &[String]) -> Result<(), String> {
    if !scope.iter().any(|s| s == schema) {
        return Err(format!("is outside the question's scope ({})", scope.join(", ")));
    }
    if !readable {
        return Err("is not readable by this role".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_postgres_own_functions_that_change_nothing() {
        assert!(function_allowed("pg_catalog", "sum", Volatility::Immutable).is_ok());
        assert!(function_allowed("pg_catalog", "date_trunc", Volatility::Stable).is_ok());
        assert!(function_allowed("pg_catalog", "now", Volatility::Stable).is_ok());
        assert!(function_allowed("pg_catalog", "random", Volatility::Volatile).is_ok());
        for (name, v) in [
            ("pg_sleep", Volatility::Volatile),
            ("set_config", Volatility::Volatile),
            ("pg_terminate_backend", Volatility::Volatile),
            ("nextval", Volatility::Volatile),
            ("lo_import", Volatility::Volatile),
            ("pg_read_file", Volatility::Volatile),
            ("query_to_xml", Volatility::Stable),
            ("table_to_xmlschema", Volatility::Stable),
            ("current_setting", Volatility::Stable),
            ("pg_advisory_lock", Volatility::Volatile),
            ("txid_current", Volatility::Stable),
            ("pg_ls_dir", Volatility::Volatile),
        ] {
            assert!(function_allowed("pg_catalog", name, v).is_err(), "{name}");
        }
        let e = function_allowed("eai", "_record_failure", Volatility::Volatile).unwrap_err();
        assert!(e.contains("not one of PostgreSQL's own"), "{e}");
        assert!(function_allowed("public", "dblink", Volatility::Volatile).is_err());
        assert!(function_allowed("pg_catalog", "some_new_volatile", Volatility::Volatile).unwrap_err().contains("volatile"));
    }

    #[test]
    fn relations_in_scope_and_readable() {
        let scope = vec!["gold".to_string(), "silver".to_string()];
        assert!(relation_allowed("gold", true, &scope).is_ok());
        assert!(relation_allowed("silver", false, &scope).unwrap_err().contains("not readable"));
        assert!(relation_allowed("pg_catalog", true, &scope).unwrap_err().contains("outside"));
        assert!(relation_allowed("eai", true, &scope).is_err());
    }
}
