#!/usr/bin/env bash
# pg_regress golden tests (pg_test/sql → pg_test/expected) against the local cluster, in a fresh
# database eai_regress. Each file runs in begin; … rollback;. --accept copies the results over the
# expected files (review the diff before committing).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$REPO/.eai/env"
out=$(mktemp -d)
chmod 0777 "$out"
tests=$(cd "$REPO/pg_test/sql" && ls *.sql | sed 's/\.sql$//' | sort)
status=0
PG_REGRESS=/usr/lib/postgresql/$PG_MAJOR/lib/pgxs/src/test/regress/pg_regress
"$PG_REGRESS" --bindir="$PG_BIN" --inputdir="$REPO/pg_test" --outputdir="$out" \
  --host="$PGHOST" --port="$PGPORT" --user=postgres --dbname=eai_regress $tests || status=$?
if [ "${1:-}" = "--accept" ]; then
  mkdir -p "$REPO/pg_test/expected"
  for t in $tests; do cp "$out/results/$t.out" "$REPO/pg_test/expected/$t.out"; done
  log "regress: results copied to pg_test/expected"
elif [ $status -ne 0 ] && [ -f "$out/regression.diffs" ]; then
  cat "$out/regression.diffs"
fi
rm -rf "$out"
exit $status
