#!/usr/bin/env bash
# Measures how big deferred_tasks and its indexes get under churn: N tasks (default 1,000,000) as 100-row
# inserts and deletes from 4 clients on a scratch database migrated with the real scripts; then, once
# autovacuum has visited the table, another N. Prints the sizes and autovacuum counters after each:
#   churn: pass=1 tasks=N elapsed_s=T heap=… indexes=… dead_tuples=… autovacuums=…
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TASKS="${1:-1000000}"
[[ "$TASKS" =~ ^[0-9]+$ && "$TASKS" -ge 400 ]] || { echo "churn.sh: tasks must be a whole number of at least 400, not '$TASKS'" >&2; exit 2; }
scripts/postgres.sh start >/dev/null
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
PORT="${DEFERRED_PG_PORT:-54329}"
PSQL=("$BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres)
"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS deferred_churn" -c "CREATE DATABASE deferred_churn"
DEFERRED_PG_CONNECTION="Host=127.0.0.1;Port=$PORT;Username=postgres;Database=deferred_churn" \
  dotnet run --project Deferred.Silo -c Release -v q -- migrate >/dev/null 2>&1
sizes() {
  "${PSQL[@]}" -d deferred_churn -tAF ' ' -c "SELECT 'heap=' || pg_size_pretty(pg_relation_size('deferred_tasks')), 'indexes=' || pg_size_pretty(pg_indexes_size('deferred_tasks')), 'dead_tuples=' || n_dead_tup, 'autovacuums=' || autovacuum_count FROM pg_stat_user_tables WHERE relname = 'deferred_tasks'"
}
churn() {
  local start; start=$(date +%s)
  "$BIN/pgbench" -n -h 127.0.0.1 -p "$PORT" -U postgres -c 4 -j 2 -t $((TASKS / 400)) -f benchmarks/churn/churn.pgbench deferred_churn >/dev/null
  echo $(( $(date +%s) - start ))
}
# Pass 1: a fresh table through N tasks at full speed (faster than autovacuum's naptime can follow).
elapsed=$(churn)
echo "churn: pass=1 tasks=$TASKS elapsed_s=$elapsed $(sizes)"
# Let autovacuum visit the table once (up to 3 minutes), then pass 2: the space it freed is reused, so the
# files should barely grow however long the churn goes on.
for _ in $(seq 1 180); do
  [[ "$("${PSQL[@]}" -d deferred_churn -tAc "SELECT autovacuum_count FROM pg_stat_user_tables WHERE relname = 'deferred_tasks'")" -ge 2 ]] && break
  sleep 1
done
echo "churn: after-autovacuum $(sizes)"
elapsed=$(churn)
echo "churn: pass=2 tasks=$TASKS elapsed_s=$elapsed $(sizes)"
"${PSQL[@]}" -d postgres -c "DROP DATABASE deferred_churn"
