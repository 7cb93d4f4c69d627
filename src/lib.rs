//! eai: the PostgreSQL extension. This crate is the thin glue between PostgreSQL and the
//! pgrx-free algorithms of `eai-core`: GUCs, SQL-callable wrappers, and error reporting.
//! Catalog tables, views and the PL/pgSQL orchestration live in `sql/`.

use pgrx::prelude::*;

mod anomaly;
mod breaker;
mod catalog_write;
mod deadline;
mod drift;
mod embed;
mod errors;
mod failure_spool;
mod fast_casts;
mod gold;
mod guc;
mod healing;
mod jobs;
mod llm;
mod llm_ledger;
mod mapping;
mod nl;
mod profile;
mod promotion;
mod quality;
mod source_helpers;
mod streamed_insert;
mod user_query;
mod user_sql;
mod worker;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../sql/catalog.sql", name = "catalog", bootstrap);
extension_sql_file!("../sql/discovery.sql", name = "discovery", requires = ["catalog", profile::_profile]);
extension_sql_file!("../sql/mapping.sql", name = "mapping", requires = ["discovery", mapping::_map_schema]);
extension_sql_file!("../sql/llm.sql", name = "llm", requires = ["mapping"]);
extension_sql_file!("../sql/api.sql", name = "api", requires = ["llm", embed::_embed, embed::_embed_batch]);
extension_sql_file!("../sql/casts.sql", name = "casts", requires = ["api"]);
extension_sql_file!("../sql/trust.sql", name = "trust", requires = ["casts", user_sql::_check_expression, user_sql::_check_select]);
extension_sql_file!("../sql/failures.sql", name = "failures", requires = ["trust", healing::_retry_decision, source_helpers::_redact]);
extension_sql_file!("../sql/escalations.sql", name = "escalations", requires = ["failures", catalog_write::_session_role, healing::_escalation_for]);
extension_sql_file!("../sql/breakers.sql", name = "breakers", requires = ["escalations"]);
extension_sql_file!(
    "../sql/pipelines.sql",
    name = "pipelines",
    requires = [
        "breakers",
        breaker::_breaker_admit,
        breaker::_breaker_record,
        promotion::_promotion_statement,
        promotion::_set_aside,
        promotion::_take_aside,
        promotion::_normalize,
        promotion::_silver_type,
        promotion::_parse_rule,
        promotion::_suggest_expectations,
        source_helpers::_silver_column_names,
        streamed_insert::_insert_streamed
    ]
);
extension_sql_file!("../sql/gold.sql", name = "gold", requires = ["pipelines", gold::_view_lineage]);
extension_sql_file!("../sql/quality.sql", name = "quality", requires = ["gold", quality::_quality_score]);
extension_sql_file!(
    "../sql/anomalies.sql",
    name = "anomalies",
    requires = [
        "quality",
        anomaly::_detect_query,
        anomaly::_detect_series,
        anomaly::_sketch_drift,
        anomaly::_adapt_threshold,
        anomaly::_group_incidents,
        anomaly::_severity,
        anomaly::_detect_vectors,
        catalog_write::_session_role
    ]
);
extension_sql_file!("../sql/remediations.sql", name = "remediations", requires = ["anomalies", drift::_default_drift_contract]);
extension_sql_file!(
    "../sql/healing.sql",
    name = "healing",
    requires = ["remediations", healing::_retry_due_ingest, drift::_heal_drift, drift::_approve_remediation, drift::_revert_remediation]
);
extension_sql_file!("../sql/catalog_access.sql", name = "catalog_access", requires = ["healing"]);
// Last: privileges on everything above and on the Rust functions.
extension_sql_file!("../sql/roles.sql", name = "roles", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    guc::register();
    worker::register();
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    include!("tests.rs");
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
