#!/usr/bin/env bash
# Schema-matching accuracy and speed on the shared benchmark data (GDC-SM papers, Valentine's
# example), eai and Valentine's matchers side by side in one run: MRR and top-1 per source column,
# Recall@GT (Magneto's definition), eai's auto-approve band (confidence > 0.85), seconds per table.
# Usage: bench/schema_matching.sh [schema-matching dir] [--no-valentine] [--timeout S]
# Valentine is installed from PyPI into .eai/bench-venv on first use (bench only; never at run time).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
DATA=$REPO/../shared/data/schema-matching; VALENTINE=1; TIMEOUT=60
while [ $# -gt 0 ]; do
  case "$1" in
    --no-valentine) VALENTINE=0 ;;
    --timeout) TIMEOUT=$2; shift ;;
    *) DATA=$1 ;;
  esac
  shift
done
cd "$REPO"
echo "== eai (no LLM)"
out=$(EAI_MODEL_DIR="$EAI_MODEL_DIR" EAI_ONNXRUNTIME_LIBRARY="$EAI_ONNXRUNTIME_LIBRARY" \
      cargo run -q -p eai-core --example match_bench -- "$DATA")
echo "$out" | grep -v '^EAI_SUMMARY'
summary=$(echo "$out" | awk '/^EAI_SUMMARY/ {print $2}')
[ "$VALENTINE" = 1 ] || exit 0
VENV="$REPO/.eai/bench-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import valentine, sklearn' 2>/dev/null; then
  log "installing valentine into $VENV"
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q valentine scikit-learn
fi
"$VENV/bin/python" "$REPO/bench/valentine_baseline.py" "$DATA" --timeout "$TIMEOUT" --eai "$summary"
