#!/usr/bin/env bash
# Schema-matching accuracy and speed on the shared benchmark data (GDC-SM papers, Valentine's
# example): MRR and top-1 per source column, Recall@GT (Magneto's definition), precision and recall
# of the auto-approve band (confidence > 0.85), seconds per table (profiling + embeddings +
# scoring; the model is loaded once). Usage: bench/schema_matching.sh [schema-matching dir]
# Valentine's matchers side by side: planned (see docs/mapping.md).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
DATA=${1:-$REPO/../shared/data/schema-matching}
cd "$REPO"
EAI_MODEL_DIR="$EAI_MODEL_DIR" EAI_ONNXRUNTIME_LIBRARY="$EAI_ONNXRUNTIME_LIBRARY" \
  cargo run -q -p eai-core --example match_bench -- "$DATA"
