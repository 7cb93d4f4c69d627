#!/usr/bin/env bash
# Upgrade-script check (as pg_search does in CI). Every released version's generated install
# script is frozen in sql/releases/eai--<version>.sql.
#  1. The current version's generated script must equal its frozen copy once that version is
#     released: a change after release needs a new version and an upgrade script.
#  2. From every older release, CREATE EXTENSION eai VERSION '<old>' + ALTER EXTENSION eai UPDATE
#     must give the same schema as a fresh CREATE EXTENSION eai.
# Prints "upgrade-check: N passed, N failed".
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$REPO/.eai/env"
EXT_DIR="$("$PG_CONFIG" --sharedir)/extension"
version=$(grep -m1 '^version' "$REPO/Cargo.toml" | cut -d'"' -f2)
passed=0; failed=0
ok() { passed=$((passed + 1)); log "upgrade-check: ok: $*"; }
ko() { failed=$((failed + 1)); log "upgrade-check: FAILED: $*"; }
PSQL=(psql -X -q -v ON_ERROR_STOP=1)
# Check the upgrade scripts as they are in the repo, not as last installed.
for f in "$REPO"/sql/eai--*--*.sql; do [ -e "$f" ] && install -m 0644 "$f" "$EXT_DIR/"; done

frozen="$REPO/sql/releases/eai--$version.sql"
if [ -f "$frozen" ]; then
  # Comments (pgrx notes source lines there) and blank lines do not count.
  strip() { grep -vE '^\s*--' "$1" | sed '/^\s*$/d'; }
  if diff <(strip "$frozen") <(strip "$EXT_DIR/eai--$version.sql"); then ok "eai--$version.sql matches its frozen release"
  else ko "eai--$version.sql differs from sql/releases/ (released versions are immutable: bump the version, add sql/eai--$version--<new>.sql)"; fi
fi

# pg_dump leaves out extension members, so compare a catalog fingerprint of them instead.
dump() { psql -X -q -At -d "$1" -f "$REPO/scripts/schema_fingerprint.sql"; }
for old in "$REPO"/sql/releases/eai--*.sql; do
  [ -e "$old" ] || continue
  v=$(basename "$old" .sql); v=${v#eai--}
  [ "$v" = "$version" ] && continue
  cp "$old" "$EXT_DIR/eai--$v.sql"
  for db in eai_upgrade_old eai_upgrade_new; do
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  done
  if "${PSQL[@]}" -d eai_upgrade_old -c "SET client_min_messages = warning" -c "CREATE EXTENSION eai VERSION '$v' CASCADE" -c "ALTER EXTENSION eai UPDATE" \
     && "${PSQL[@]}" -d eai_upgrade_new -c "SET client_min_messages = warning" -c "CREATE EXTENSION eai CASCADE" \
     && diff <(dump eai_upgrade_old) <(dump eai_upgrade_new); then ok "$v -> $version gives the fresh schema"
  else ko "$v -> $version differs from a fresh install (see the diff above)"; fi
  rm -f "$EXT_DIR/eai--$v.sql"
done
[ $((passed + failed)) -gt 0 ] || ok "no released version to check against yet"
echo "upgrade-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
