#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs (idempotent), starts the local cluster,
# then runs every tier and ends with "N passed, N failed".
#   core        cargo test -p eai-core           pure algorithms, no PostgreSQL
#   regress     pg_regress golden files          pg_test/sql → pg_test/expected
#   integration cargo test -p eai-integration-tests   the real cluster via the postgres crate
#   upgrade     scripts/check_upgrades.sh        frozen releases and upgrade scripts
#   pgrx        cargo pgrx test pg15             #[pg_test]s in a throwaway cluster (runs last:
#                                                it installs a pg_test build, replaced at the end)
#   style       cargo fmt --check; no error!() in src/   the code as rustfmt.toml lays it out; errors raised one way
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set +e
"$REPO/scripts/install.sh" || die "install failed"
"$REPO/scripts/cluster.sh" start || die "the cluster did not start"
source "$REPO/.eai/env"
RUN=$(runtime_dir)
LOGS="$REPO/.eai/test-logs"
mkdir -p "$LOGS"

total_passed=0; total_failed=0; summary=()
record() { # tier passed failed
  total_passed=$((total_passed + $2)); total_failed=$((total_failed + $3))
  summary+=("$(printf '%-12s %4d passed, %d failed' "$1" "$2" "$3")")
}
cargo_counts() { # sums "test result: … N passed; M failed" lines of a cargo test log
  local p f
  p=$(grep -oE '[0-9]+ passed' "$1" | awk '{s += $1} END {print s + 0}')
  f=$(grep -oE '[0-9]+ failed' "$1" | awk '{s += $1} END {print s + 0}')
  # A build failure runs no test: count it as a failure.
  if ! grep -q 'test result' "$1"; then f=$((f + 1)); fi
  echo "$p $f"
}

cd "$REPO"
log "tier core"
cargo test -p eai-core --no-fail-fast 2>&1 | tee "$LOGS/core.log" | grep -E '^test |test result' ; record core $(cargo_counts "$LOGS/core.log")

log "tier regress"
scripts/regress.sh 2>&1 | tee "$LOGS/regress.log" | grep -E '^(test|ok|not ok) |tests'
p=$(grep -cE '^(test|ok) .* ok ' "$LOGS/regress.log"); f=$(grep -cE '^(test|not ok) .* FAILED' "$LOGS/regress.log")
[ $((p + f)) -gt 0 ] || f=1   # pg_regress did not run at all
record regress "$p" "$f"

log "tier integration"
cargo test -p eai-integration-tests --no-fail-fast 2>&1 | tee "$LOGS/integration.log" | grep -E '^test |test result'
record integration $(cargo_counts "$LOGS/integration.log")

log "tier upgrade"
scripts/check_upgrades.sh 2>&1 | tee "$LOGS/upgrade.log" | grep -E 'upgrade-check'
read -r p f < <(grep -oE 'upgrade-check: [0-9]+ passed, [0-9]+ failed' "$LOGS/upgrade.log" | grep -oE '[0-9]+' | xargs)
record upgrade "${p:-0}" "${f:-1}"

log "tier pgrx"
install -d -o "$PG_OS_USER" "$RUN/pgrx-test"
cargo pgrx test pg15 --runas "$PG_OS_USER" --pgdata "$RUN/pgrx-test/data" 2>&1 | tee "$LOGS/pgrx.log" | grep -E '^test |test result'
record pgrx $(cargo_counts "$LOGS/pgrx.log")

log "tier style"
if cargo fmt --all -- --check > "$LOGS/style.log" 2>&1; then record style 1 0; else
  grep -E '^Diff in' "$LOGS/style.log" | head -5; record style 0 1; fi
# Errors are raised one way (src/errors.rs: EaiError, a real SQLSTATE and a hint), never error!().
if grep -n 'error!(' src/*.rs | grep -v '^src/tests.rs:' > "$LOGS/errors.log"; then
  head -5 "$LOGS/errors.log"; record errors 0 1; else record errors 1 0; fi

log "restoring the regular build of the extension"
"$REPO/scripts/install.sh" >/dev/null 2>&1 && "$REPO/scripts/cluster.sh" start >/dev/null 2>&1

echo
echo "== eai test suite (logs in .eai/test-logs/)"
printf '   %s\n' "${summary[@]}"
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
