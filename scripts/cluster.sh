#!/usr/bin/env bash
# The local PostgreSQL 15 cluster eai's demo and tests use: start | stop | status | env.
# Runs the server as the unprivileged "postgres" OS user, in a runtime directory that user can
# read (see runtime_dir in lib.sh), on port $EAI_PGPORT (default 54329) and a unix socket there.
# Writes .eai/env (PGHOST, PGPORT, PGUSER, PGDATABASE) for psql.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUN=$(runtime_dir)
PGDATA="$RUN/pgdata"
if [ -f "$PGDATA/postgresql.conf" ]; then
  EAI_PGPORT=$(grep -E '^port = ' "$PGDATA/postgresql.conf" | tail -n1 | awk '{print $3}')
fi
SOCK="$RUN/socket"
DB=eai

write_env() {
  cat > "$REPO/.eai/env" <<ENV
# source this file, then run psql
export PGHOST='$SOCK'
export PGPORT='$EAI_PGPORT'
export PGUSER='postgres'
export PGDATABASE='$DB'
ENV
}

psql_pg() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$EAI_PGPORT" -U postgres "$@"; }

start() {
  id "$PG_OS_USER" >/dev/null 2>&1 || die "no '$PG_OS_USER' OS user: install postgresql-15 (scripts/install.sh)"
  chown "$PG_OS_USER" "$RUN"
  chmod 0755 "$RUN"
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    log "cluster: initdb in $PGDATA (as $PG_OS_USER)"
    as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth-local=trust --auth-host=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$PGDATA/postgresql.conf" <<CONF
# --- eai ---
listen_addresses = '127.0.0.1'
port = $EAI_PGPORT
unix_socket_directories = '$SOCK'
shared_preload_libraries = 'pg_cron, eai'
cron.database_name = '$DB'
eai.worker_database = '$DB'
eai.model_dir = '$EAI_MODEL_DIR'
eai.onnxruntime_library = '$EAI_ONNXRUNTIME_LIBRARY'
max_connections = 50
shared_buffers = 256MB
logging_collector = off
CONF
  fi
  # Settings added after a cluster was created (older checkouts).
  if ! grep -q '^eai.worker_database' "$PGDATA/postgresql.conf"; then
    echo "eai.worker_database = '$DB'" | as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null
  fi
  as_pg mkdir -p "$SOCK"
  # eai is preloaded: a running server keeps the library it started with. Restart it when the
  # installed library is newer.
  local so="$("$PG_CONFIG" --pkglibdir)/eai.so"
  if as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1 && [ -f "$so" ] && [ "$so" -nt "$PGDATA/postmaster.pid" ]; then
    log "cluster: restarting to load the newly installed eai.so"
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
  fi
  if ! as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    log "cluster: starting on port $EAI_PGPORT (socket $SOCK)"
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$RUN/postgresql.log" -w -t 60 start >/dev/null \
      || { tail -n 30 "$RUN/postgresql.log" >&2; die "the cluster did not start (log: $RUN/postgresql.log)"; }
  fi
  psql_pg -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
    || psql_pg -d postgres -c "CREATE DATABASE $DB"
  write_env
}

stop() {
  if [ -f "$PGDATA/PG_VERSION" ]; then as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true; fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" status ;;
  env) write_env; cat "$REPO/.eai/env" ;;
  *) die "usage: $0 start|stop|restart|status|env" ;;
esac
