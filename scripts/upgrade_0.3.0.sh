#!/usr/bin/env bash
# Assembles sql/eai--0.2.0--0.3.0.sql (0.3.0 is in development; see sql/releases/README.md).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"
tmp=$(mktemp)
cargo pgrx schema "pg$PG_MAJOR" --out "$tmp" >/dev/null
python3 scripts/upgrade_script.py "$tmp" \
  --title "eai 0.2.0 -> 0.3.0: pipelines bronze -> silver (promotion, expectations, quarantine, worker), gold tables, column lineage, quality scores, anomaly detection." \
  --functions _check_select _check_expression _promotion_statement _insert_streamed _set_aside _take_aside _normalize _silver_type _parse_rule _suggest_expectations _view_lineage _quality_score _detect_query _detect_series _sketch_drift _adapt_threshold _group_incidents _severity _detect_vectors \
  --files sql/casts.sql sql/trust.sql sql/pipelines.sql sql/gold.sql sql/quality.sql sql/anomalies.sql sql/roles.sql sql/upgrade_0.3.0_changes.sql > sql/eai--0.2.0--0.3.0.sql
rm -f "$tmp"
log "wrote sql/eai--0.2.0--0.3.0.sql"
