#!/usr/bin/env bash
# Assembles sql/eai--0.2.0--0.3.0.sql (0.3.0 is in development; see sql/releases/README.md).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"
tmp=$(mktemp)
cargo pgrx schema "pg$PG_MAJOR" --out "$tmp" >/dev/null
python3 scripts/upgrade_script.py "$tmp" \
  --title "eai 0.2.0 -> 0.3.0: pipelines bronze -> silver (promotion, expectations, quarantine, worker), gold tables, column lineage, quality scores, anomaly detection; ingest hardening (row hash by bronze shape, strict CSV reading, distinct names, clear errors); the catalog written only by eai, naming the real role, and sample values visible only to roles that may read their table." \
  --functions _check_select _check_expression _promotion_statement _insert_streamed _set_aside _take_aside _normalize _silver_type _parse_rule _suggest_expectations _view_lineage _quality_score _detect_query _detect_series _sketch_drift _adapt_threshold _group_incidents _severity _detect_vectors \
              _row_hash_shaped _check_csv _folder_files _table_name_for_file_among _bronze_table_candidates _silver_column_names _ingest_error_class _ingest_error_hint _session_role _retry_decision _retry_due_ingest _breaker_admit _breaker_record _escalation_for _default_drift_contract _heal_drift _approve_remediation _revert_remediation _spool_failure _drain_failure_spool _ingest_failure_may_prevent_commit _arm_probe_timeout _disarm_probe_timeout nl_validate nl_to_sql ask \
  --files sql/api.sql sql/casts.sql sql/trust.sql sql/failures.sql sql/escalations.sql sql/breakers.sql sql/pipelines.sql sql/gold.sql sql/quality.sql sql/anomalies.sql sql/remediations.sql sql/healing.sql sql/catalog_access.sql sql/roles.sql sql/upgrade_0.3.0_changes.sql > sql/eai--0.2.0--0.3.0.sql
rm -f "$tmp"
log "wrote sql/eai--0.2.0--0.3.0.sql"
