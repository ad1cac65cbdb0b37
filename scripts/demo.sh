#!/usr/bin/env bash
# Starts PostgreSQL if needed (scripts/postgres.sh), then runs the demo silo:
#   scripts/demo.sh                       1,000 sample tasks
#   scripts/demo.sh --tasks 50000 --ack-log /tmp/acks.txt
#   scripts/demo.sh --tasks 0             only recover what is stored (e.g. after kill -9 of a demo)
# The server keeps running afterwards; stop it with scripts/postgres.sh stop.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/postgres.sh start
export DEFERRED_PG_CONNECTION="${DEFERRED_PG_CONNECTION:-$(scripts/postgres.sh url)}"
# The sample host's runtime setting for a fast start: hot methods reach optimised code while start-up is still
# compiling new ones (an environment variable only; docs/performance.md, "Cold start: the JIT").
export DOTNET_TC_CallCountingDelayMs="${DOTNET_TC_CallCountingDelayMs:-0}"
exec dotnet run --project Deferred.Silo -c Release --no-launch-profile -- demo "$@"
