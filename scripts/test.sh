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

# The dashboard's browser tests drive Debian's chromium through Playwright (Playwright's own browser download is not
# used and does not work here). Installed once when missing; apt-get prints what it does.
if ! command -v chromium >/dev/null 2>&1; then
  echo "test.sh: chromium is missing; installing Debian's package (apt-get install -y chromium)"
  as_root=()
  if [[ "$(id -u)" != 0 ]]; then
    as_root=(sudo)
  fi
  "${as_root[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y chromium
fi
echo "test.sh: browser for the dashboard tests: $(command -v chromium) ($(chromium --version 2>/dev/null || echo 'version unknown'))"

scripts/postgres.sh start
dotnet test Deferred.sln -c Release --logger "console;verbosity=normal" "$@"
