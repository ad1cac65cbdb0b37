#!/usr/bin/env bash
# Creates the least-privilege PostgreSQL role a Deferred silo can run under: it may read and write the rows of
# Deferred's and Orleans' tables and call their functions, and run no DDL (no CREATE, ALTER, DROP, TRUNCATE).
# Deferred.Silo (the sample host) then creates its own demo_completions table, if missing, and grants the role
# SELECT and INSERT on it, so a sample silo under the role can run the demo tasks.
#
#   DEFERRED_ROLE_PASSWORD=... scripts/create-role.sh deferred_app
#
# Runs as the owner connection (DEFERRED_PG_CONNECTION, else the private server of scripts/postgres.sh), after the
# migrations. Then point the silo at the new role, e.g. Deferred:ConnectionString="Host=...;Username=deferred_app;Password=...".
# Idempotent: running it again refreshes the grants (and the password, when given).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
role="${1:-}"
[[ -n "$role" ]] || { echo "usage: scripts/create-role.sh ROLE   (password from DEFERRED_ROLE_PASSWORD)" >&2; exit 2; }
DEFERRED_PG_CONNECTION="${DEFERRED_PG_CONNECTION:-$(scripts/postgres.sh url)}" \
  dotnet run --project Deferred.Silo -c Release -v q -- create-role --role "$role"
