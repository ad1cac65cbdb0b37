#!/usr/bin/env bash
# Deferred's PostgreSQL for development, demos and tests.
#
#   scripts/postgres.sh start    start (or reuse) the server, create the database, apply the migrations
#   scripts/postgres.sh stop     stop the private server (never touches an external one)
#   scripts/postgres.sh status   say what is running; exit 1 when the database is unreachable
#   scripts/postgres.sh url      print the Npgsql connection string
#   scripts/postgres.sh psql ... run psql on the database (private server only)
#
# With DEFERRED_PG_CONNECTION set, that database is used as it is: start only applies the migrations.
# Otherwise a private server runs from the installed PostgreSQL binaries with its data under
# .data/postgres (or under /tmp when the checkout is in a folder the postgres user cannot enter),
# on 127.0.0.1:${DEFERRED_PG_PORT:-54329} (DEFERRED_PG_DATA sets another data folder; DEFERRED_PG_NO_MIGRATE=1
# skips the migrations). As root the server runs as the postgres OS user, since initdb and
# postgres refuse to run as root. Where no PostgreSQL is installed and this runs as root on Debian, it
# is installed with apt-get. Every command is idempotent.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${DEFERRED_PG_PORT:-54329}"
DB="${DEFERRED_PG_DATABASE:-deferred}"

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

external() { [[ -n "${DEFERRED_PG_CONNECTION:-}" ]]; }

url() {
  if external; then
    echo "$DEFERRED_PG_CONNECTION"
  else
    echo "Host=127.0.0.1;Port=$PORT;Username=postgres;Database=$DB;Pooling=true;Maximum Pool Size=200"
  fi
}

find_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -z "$dir" && "$(id -u)" == 0 && -x /usr/bin/apt-get ]]; then
    log "no PostgreSQL found; installing it with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  fi
  [[ -n "$dir" && -x "$dir/pg_ctl" ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin; install PostgreSQL 15+ or set DEFERRED_PG_CONNECTION"
  echo "$dir"
}

# Runs a command as the server's OS user: postgres when we are root, else ourselves.
as_pg() {
  if [[ "$(id -u)" == 0 ]]; then
    su postgres -s /bin/bash -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

# Where the data lives: DEFERRED_PG_DATA when set; else .data/postgres, unless the postgres user cannot reach
# it (a checkout in /root).
data_dir() {
  if [[ -n "${DEFERRED_PG_DATA:-}" ]]; then
    echo "$DEFERRED_PG_DATA"; return
  fi
  local preferred="$ROOT/.data/postgres"
  if [[ "$(id -u)" != 0 ]]; then
    echo "$preferred"; return
  fi
  mkdir -p "$ROOT/.data"
  if su postgres -s /bin/bash -c "test -x $(printf '%q' "$ROOT/.data")" 2>/dev/null; then
    echo "$preferred"
  else
    echo "/tmp/deferred-postgres-$(printf '%s' "$ROOT" | sha1sum | cut -c1-10)"
  fi
}

psql_admin() {
  local bin="$1"; shift
  "$bin/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 "$@"
}

server_up() {
  local bin="$1"
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres
}

migrate() {
  if [[ -n "${DEFERRED_PG_NO_MIGRATE:-}" ]]; then
    return
  fi
  log "applying migrations"
  (cd "$ROOT" && DEFERRED_PG_CONNECTION="$(url)" dotnet run --project Deferred.Silo -c Release -v q -- migrate) >&2
}

start() {
  if external; then
    migrate; return
  fi
  local bin data
  bin="$(find_bin)"
  data="$(data_dir)"
  if ! server_up "$bin"; then
    if [[ ! -s "$data/PG_VERSION" ]]; then
      log "initialising a new cluster in $data"
      mkdir -p "$data"
      [[ "$(id -u)" == 0 ]] && chown postgres:postgres "$data"
      chmod 700 "$data"
      as_pg "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C >/dev/null
    fi
    log "starting the server on 127.0.0.1:$PORT (data: $data)"
    # autovacuum_naptime=10s: task tables churn fast; see docs/storage.md.
    as_pg "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
      -o "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$data -c max_connections=400 -c shared_buffers=256MB -c autovacuum_naptime=10s" \
      start >/dev/null || { tail -n 20 "$data/server.log" >&2; die "the server did not start"; }
  fi
  if [[ -z "$(psql_admin "$bin" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]]; then
    log "creating database $DB"
    psql_admin "$bin" -d postgres -c "CREATE DATABASE \"$DB\""
  fi
  migrate
  log "ready: $(url)"
}

stop() {
  if external; then
    log "DEFERRED_PG_CONNECTION is set; not stopping an external server"; return
  fi
  local bin data
  bin="$(find_bin)"
  data="$(data_dir)"
  if [[ -s "$data/postmaster.pid" ]]; then
    as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null && log "stopped"
  else
    log "not running"
  fi
}

status() {
  if external; then
    log "using DEFERRED_PG_CONNECTION"; return 0
  fi
  local bin
  bin="$(find_bin)"
  if server_up "$bin"; then
    log "running on 127.0.0.1:$PORT (data: $(data_dir))"
  else
    log "not running"; return 1
  fi
}

# Runs psql on the Deferred database of the private server (for scripts such as chaos.sh).
run_psql() {
  external && die "psql: only for the private server; use your own client with DEFERRED_PG_CONNECTION"
  local bin
  bin="$(find_bin)"
  psql_admin "$bin" -d "$DB" "$@"
}

case "${1:-}" in
  start) start ;;
  psql) shift; run_psql "$@" ;;
  stop) stop ;;
  status) status ;;
  url) url ;;
  *) echo "usage: scripts/postgres.sh start|stop|status|url|psql [psql args]" >&2; exit 2 ;;
esac
