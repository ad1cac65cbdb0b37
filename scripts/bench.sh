#!/usr/bin/env bash
# Side-by-side benchmark: Deferred (its own store and the stock Orleans ADO.NET store), Hangfire on
# PostgreSQL, and PostgreSQL alone, against the same server with the same no-op task.
#   scripts/bench.sh --quick                                       every system and scenario, small, about 2.5 minutes
#   scripts/bench.sh                                               the full run; writes docs/benchmarks.md
#   scripts/bench.sh --systems deferred-stock,pg-row --scenarios throughput
#   scripts/bench.sh --help                                        every option
# Starts PostgreSQL if needed (scripts/postgres.sh; DEFERRED_PG_CONNECTION selects another server). Each system
# and scenario gets a database of its own, created and dropped by the benchmark. Result lines go to stdout,
# progress to stderr. The server keeps running afterwards; stop it with scripts/postgres.sh stop.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# The benchmark creates and migrates a database per run, so a server that is already up is used as it is
# (postgres.sh start would also rebuild the sample silo to migrate the default database, which costs time).
if ! scripts/postgres.sh status >/dev/null 2>&1; then
  scripts/postgres.sh start >&2
fi
export DEFERRED_PG_CONNECTION="${DEFERRED_PG_CONNECTION:-$(scripts/postgres.sh url)}"
# Every system's process runs with the runtime setting README recommends for a silo (see docs/performance.md,
# "Cold start"); the report names it. DOTNET_TC_CallCountingDelayMs=100 measures with the runtime's default.
export DOTNET_TC_CallCountingDelayMs="${DOTNET_TC_CallCountingDelayMs:-0}"
dotnet build benchmarks/Deferred.Benchmarks -c Release -nologo -v q >&2
exec dotnet benchmarks/Deferred.Benchmarks/bin/Release/net10.0/Deferred.Benchmarks.dll "$@"
