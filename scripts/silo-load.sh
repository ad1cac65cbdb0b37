#!/usr/bin/env bash
# What idle silos cost the database: starts 1, 2, ... N Deferred.Silo processes in one cluster (Orleans ADO.NET
# clustering on the server of scripts/postgres.sh), lets them settle, then counts for a window what PostgreSQL did:
# transactions committed, rows read, and the CPU of its processes. No task runs; this is the polling floor (due-time
# poller, orphan sweep, membership, reminders) that grows with the number of silos. With --tasks, it then enqueues
# that many tasks at --rate through an Orleans client (the sample's chaos-client: caller-chosen ids, one ledger row
# per run) spread over the silos' gateways, and prints commits and PostgreSQL CPU per task, so a cost that grows with
# the number of silos shows.
#   scripts/silo-load.sh [--silos N] [--seconds S] [--tasks T --rate R]      (defaults 3, 30, no load)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MAX=3 SECONDS_WINDOW=30 TASKS=0 RATE=1000
# The value of the option in $1; an option given last without one is named, not an unbound-variable error.
value() { [[ $# -ge 2 ]] || { echo "silo-load.sh: $1 needs a value" >&2; exit 2; }; printf '%s' "$2"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --silos) MAX="$(value "$@")"; shift 2 ;;
    --seconds) SECONDS_WINDOW="$(value "$@")"; shift 2 ;;
    --tasks) TASKS="$(value "$@")"; shift 2 ;;
    --rate) RATE="$(value "$@")"; shift 2 ;;
    *) echo "silo-load.sh: unknown option '$1'; use --silos N --seconds S --tasks T --rate R" >&2; exit 2 ;;
  esac
done
for v in "$MAX" "$SECONDS_WINDOW" "$RATE"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "silo-load.sh: '$v' is not a positive whole number" >&2; exit 2; }
done
[[ "$TASKS" =~ ^[0-9]+$ ]] || { echo "silo-load.sh: --tasks '$TASKS' is not a whole number (0: no load)" >&2; exit 2; }
[[ -z "${DEFERRED_PG_CONNECTION:-}" ]] || { echo "silo-load.sh: uses the server of scripts/postgres.sh; unset DEFERRED_PG_CONNECTION" >&2; exit 2; }

pg() { DEFERRED_PG_CONNECTION= scripts/postgres.sh "$@"; }
sql() { pg psql -tA -c "$1" 2>/dev/null; }
pg_cpu_ticks() {
  local sum=0
  for stat in /proc/[0-9]*/stat; do
    { read -r line <"$stat"; } 2>/dev/null || continue
    [[ "$line" == *"(postgres)"* ]] || continue
    local rest=${line##*) }
    # shellcheck disable=SC2086
    set -- $rest
    sum=$((sum + ${12} + ${13}))
  done
  echo "$sum"
}

scripts/postgres.sh start >&2
dotnet build Deferred.Silo -c Release -v q -nologo >&2
DLL="$ROOT/Deferred.Silo/bin/Release/net10.0/Deferred.Silo.dll"
URL="$(scripts/postgres.sh url)"
declare -a PIDS=()
cleanup() { for pid in "${PIDS[@]:-}"; do [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

for n in $(seq 1 "$MAX"); do
  RUN="load-$n-$(date +%s)"
  PIDS=()
  for i in $(seq 1 "$n"); do
    DEFERRED_PG_CONNECTION="$URL" Orleans__ClusterId="$RUN" Orleans__ServiceId="$RUN" Orleans__ClusteringMode=AdoNet \
    Orleans__SiloPort=$((22111 + i)) Orleans__GatewayPort=$((33000 + i)) \
      dotnet "$DLL" run >"$ROOT/.data/silo-load-$n-$i.log" 2>&1 &
    PIDS+=($!)
  done
  for _ in $(seq 1 120); do
    active=$(sql "SELECT count(*) FROM orleansmembershiptable WHERE deploymentid = '$RUN' AND status = 3" || echo 0)
    [[ "$active" == "$n" ]] && break
    sleep 1
  done
  sleep 10
  read -r c0 r0 < <(sql "SELECT sum(xact_commit), sum(tup_returned + tup_fetched) FROM pg_stat_database" | tr '|' ' ')
  t0=$(pg_cpu_ticks)
  sleep "$SECONDS_WINDOW"
  read -r c1 r1 < <(sql "SELECT sum(xact_commit), sum(tup_returned + tup_fetched) FROM pg_stat_database" | tr '|' ' ')
  t1=$(pg_cpu_ticks)
  awk -v n="$n" -v s="$SECONDS_WINDOW" -v c=$((c1 - c0)) -v r=$((r1 - r0)) -v t=$((t1 - t0)) \
    'BEGIN { printf "silo-load: silos=%d idle commits_per_s=%.1f rows_read_per_s=%.0f pg_cpu_pct=%.1f\n", n, c / s, r / s, t / s }'
  if (( TASKS > 0 )); then
    read -r c0 _ < <(sql "SELECT sum(xact_commit), 0 FROM pg_stat_database" | tr '|' ' ')
    t0=$(pg_cpu_ticks); w0=$(date +%s%3N)
    DEFERRED_PG_CONNECTION="$URL" Orleans__ClusterId="$RUN" Orleans__ServiceId="$RUN" \
      dotnet "$DLL" chaos-client --tasks "$TASKS" --rate "$RATE" --run-id "$RUN" --ack-log "$ROOT/.data/silo-load-$n.acks" \
      >"$ROOT/.data/silo-load-$n-client.log" 2>&1
    for _ in $(seq 1 300); do
      left=$(sql "SELECT count(*) FROM deferred_tasks WHERE service_id = '$RUN'" || echo 1)
      [[ "$left" == 0 ]] && break
      sleep 0.2
    done
    read -r c1 _ < <(sql "SELECT sum(xact_commit), 0 FROM pg_stat_database" | tr '|' ' ')
    t1=$(pg_cpu_ticks); w1=$(date +%s%3N)
    awk -v n="$n" -v k="$TASKS" -v c=$((c1 - c0)) -v t=$((t1 - t0)) -v ms=$((w1 - w0)) \
      'BEGIN { printf "silo-load: silos=%d load tasks=%d tasks_per_s=%.0f commits_per_task=%.3f pg_cpu_us_per_task=%.1f\n", n, k, k / (ms / 1000), c / k, t * 10000 / k }'
  fi
  cleanup
  PIDS=()
done
