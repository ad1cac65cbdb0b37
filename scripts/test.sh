#!/usr/bin/env bash
# Runs the whole test suite against a real PostgreSQL: starts the private instance if it is not running
# (see scripts/postgres.sh; DEFERRED_PG_CONNECTION selects an external server instead), runs every test, and
# stops the instance again if this script started it, so no server is left running.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

started_here=0
if [[ -z "${DEFERRED_PG_CONNECTION:-}" ]] && ! scripts/postgres.sh status >/dev/null 2>&1; then
  started_here=1
fi
cleanup() {
  if [[ "$started_here" == 1 ]]; then
    scripts/postgres.sh stop || true
  fi
}
trap cleanup EXIT

scripts/postgres.sh start
dotnet test Deferred.sln -c Release --logger "console;verbosity=normal" "$@"
