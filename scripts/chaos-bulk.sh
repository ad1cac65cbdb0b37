#!/usr/bin/env bash
# Bulk-retry chaos run (also `scripts/chaos.sh --bulk-retry ...`): three Deferred.Silo processes on loopback in one
# cluster, as in scripts/chaos.sh; an operator's bulk retry of dead tasks that keep failing, while silos are SIGKILLed.
#
#  1. chaos-bulk-client enqueues N tasks of the chaos type deferred.chaos.fail (MaxAttempts 1; the handler records
#     each run in the table chaos_bulk_runs, then throws) and waits until all N are dead.
#  2. It retries every dead task of that type as a bulk action (PrepareRetryDeadAsync, StartBulkActionAsync,
#     GetBulkActionAsync: what `tasks retry --all-dead` does) and, once the first --kill-holder actions have reached
#     a tenth of their tasks, SIGKILLs the silo that holds each of them. Meanwhile this script SIGKILLs a random silo
#     every --kill-every seconds and restarts every killed silo 2 s later.
#  3. Expected when the silo holding an action dies: the action is held in that silo's memory, so it stops there;
#     no silo holds it any more (GetBulkActionAsync returns null, the CLI says so and exits 1). What it reached stays
#     retried; those tasks run once and die again. The operator (the client) waits until every task of the run is
#     dead again and runs the bulk retry again: a new action over what is dead now, so a task reached by the lost
#     action is retried once more, by the new one. It stops after the first action that completes (or --max-actions).
#  4. Each run in the ledger is counted against the last action started before it (each action starts only when
#     the previous one's retries have all run and died, so the windows do not overlap). A second run of a task in one
#     window is attributed: after-kill when the silo of the run before it was SIGKILLed from 2 s before to 10 s after
#     it began (the attempt was in flight or its failure not yet recorded: docs/semantics.md, points 2 and 5, the
#     task's own at-least-once, which no bulk action can prevent); other otherwise (a bulk action retried a task
#     twice, or a duplicate no known point explains: a finding).
#
# The last line is
#   chaos-bulk: dead=N bulk_actions=A completed_actions=C lost_actions=L touched=T untouched=U
#               max_runs_per_task_per_action=M runs_again_after_kill=K runs_again_other=O lost=X kills=S
#               kills_during_actions=D elapsed_ms=E
# (touched: tasks run by some action; untouched: still dead, never run by one; lost: tasks of the N that are not
# dead at the end, neither retried to their death again nor left dead). The exit status is non-zero when lost > 0,
# runs_again_other > 0, no action completed, or the client failed.
#
#   scripts/chaos-bulk.sh [--tasks N] [--kill-every S] [--kill-holder K] [--max-actions M] [--silo-port P] [--gateway-port P]
#
#   --tasks N          dead tasks to make and retry (default 2000)
#   --kill-every S     seconds between random SIGKILLs during the bulk retries (default 5)
#   --kill-holder K    SIGKILL the silo holding each of the first K actions, a tenth of the way in (default 1)
#   --max-actions M    bulk actions at most (default 6)
#   --silo-port P      silo i listens on P+i (default 21111), gateway on --gateway-port + i (default 32000)
#
# PostgreSQL is the private server of scripts/postgres.sh (DEFERRED_PG_PORT and DEFERRED_PG_DATA choose its port
# and data folder); it is not restarted here. Logs, the action list and the kill times go to .data/chaos/<run>/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TASKS=2000 KILL_EVERY=5 KILL_HOLDER=1 MAX_ACTIONS=6 SILO_PORT=21111 GATEWAY_PORT=32000
value() { [[ $# -ge 2 ]] || { echo "chaos-bulk.sh: $1 needs a value" >&2; exit 2; }; printf '%s' "$2"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tasks) TASKS="$(value "$@")"; shift 2 ;;
    --kill-every) KILL_EVERY="$(value "$@")"; shift 2 ;;
    --kill-holder) KILL_HOLDER="$(value "$@")"; shift 2 ;;
    --max-actions) MAX_ACTIONS="$(value "$@")"; shift 2 ;;
    --silo-port) SILO_PORT="$(value "$@")"; shift 2 ;;
    --gateway-port) GATEWAY_PORT="$(value "$@")"; shift 2 ;;
    *) echo "chaos-bulk.sh: unknown option '$1'; use --tasks N --kill-every S --kill-holder K --max-actions M --silo-port P --gateway-port P" >&2; exit 2 ;;
  esac
done
for v in "$TASKS" "$KILL_EVERY" "$MAX_ACTIONS" "$SILO_PORT" "$GATEWAY_PORT"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "chaos-bulk.sh: '$v' is not a positive whole number" >&2; exit 2; }
done
[[ "$KILL_HOLDER" =~ ^[0-9]+$ ]] || { echo "chaos-bulk.sh: --kill-holder '$KILL_HOLDER' is not a whole number" >&2; exit 2; }
[[ -z "${DEFERRED_PG_CONNECTION:-}" ]] || { echo "chaos-bulk.sh: uses the private server of scripts/postgres.sh; unset DEFERRED_PG_CONNECTION" >&2; exit 2; }

log() { echo "chaos-bulk.sh: $*" >&2; }
pg() { DEFERRED_PG_CONNECTION= scripts/postgres.sh "$@"; }
sql() { pg psql -tA -c "$1" 2>/dev/null; }

scripts/postgres.sh start
dotnet build Deferred.Silo -c Release -v q -nologo >&2
DLL="$ROOT/Deferred.Silo/bin/Release/net10.0/Deferred.Silo.dll"
RUN="chaosbulk-$(date +%Y%m%d%H%M%S)"
OUT="$ROOT/.data/chaos/$RUN"
mkdir -p "$OUT"
touch "$OUT/events.txt" "$OUT/actions.txt" "$OUT/silos.txt"
export DEFERRED_PG_CONNECTION="$(scripts/postgres.sh url)"
export Orleans__ClusterId="$RUN" Orleans__ServiceId="$RUN"
started=$(date +%s%3N)

declare -a PIDS
start_silo() {
  local i=$1
  Orleans__ClusteringMode=AdoNet Orleans__SiloPort=$((SILO_PORT + i)) Orleans__GatewayPort=$((GATEWAY_PORT + i)) \
  Orleans__Membership__ProbeTimeout=00:00:02 Orleans__Membership__NumMissedProbesLimit=2 \
  Orleans__Membership__NumVotesForDeathDeclaration=1 \
  Logging__Console__FormatterName=simple Logging__Console__FormatterOptions__TimestampFormat="HH:mm:ss.fff " \
  Logging__Console__FormatterOptions__UseUtcTimestamp=true \
    dotnet "$DLL" run >>"$OUT/silo$i.log" 2>&1 &
  PIDS[$i]=$!
  # For the client, which kills the silo holding an action: "silo-port pid", the latest line per port counts.
  echo "$((SILO_PORT + i)) ${PIDS[$i]}" >>"$OUT/silos.txt"
}
cleanup() {
  [[ -n "${CLIENT:-}" ]] && kill "$CLIENT" 2>/dev/null || true
  for pid in "${PIDS[@]:-}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

for i in 0 1 2; do start_silo "$i"; done
for _ in $(seq 1 120); do
  active=$(sql "SELECT count(*) FROM orleansmembershiptable WHERE deploymentid = '$RUN' AND status = 3" || echo 0)
  [[ "$active" == 3 ]] && break
  sleep 1
done
[[ "${active:-0}" == 3 ]] || { log "the silos did not form a cluster; see $OUT/silo*.log"; exit 1; }
log "cluster $RUN is up with 3 silos (ports $SILO_PORT-$((SILO_PORT + 2))); making $TASKS dead tasks"

dotnet "$DLL" chaos-bulk-client --tasks "$TASKS" --run-id "$RUN" --out "$OUT" --max-actions "$MAX_ACTIONS" \
  --kill-holder "$KILL_HOLDER" >"$OUT/client.log" 2>&1 &
CLIENT=$!

kills=0 next_kill=0 bulk=0
while kill -0 "$CLIENT" 2>/dev/null; do
  now=$(date +%s)
  for i in 0 1 2; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      # Killed by the client (the holder of an action; it logged the kill) or exited on its own.
      grep -q " kill ${PIDS[$i]}\$" "$OUT/events.txt" || echo "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) exit ${PIDS[$i]}" >>"$OUT/events.txt"
      log "silo $i (pid ${PIDS[$i]}) is gone; starting it again in 2 s"
      wait "${PIDS[$i]}" 2>/dev/null || true
      sleep 2
      start_silo "$i"
    fi
  done
  if (( bulk == 0 )) && grep -q "chaos-bulk-client: dead=$TASKS elapsed" "$OUT/client.log"; then
    bulk=1 next_kill=$(( now + KILL_EVERY ))
    log "all $TASKS are dead; bulk retries start; a random SIGKILL every $KILL_EVERY s from now"
  elif (( bulk == 1 && now >= next_kill )); then
    victim=$((RANDOM % 3))
    log "SIGKILL silo $victim (pid ${PIDS[$victim]}); restarting it in 2 s"
    echo "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) kill ${PIDS[$victim]}" >>"$OUT/events.txt"
    kill -9 "${PIDS[$victim]}" 2>/dev/null || true
    wait "${PIDS[$victim]}" 2>/dev/null || true
    kills=$((kills + 1))
    sleep 2
    start_silo "$victim"
    next_kill=$(( $(date +%s) + KILL_EVERY ))
  fi
  sleep 0.5
done
client_ok=1
wait "$CLIENT" || { client_ok=0; log "the client did not finish with a completed bulk action (see $OUT/client.log)"; }
CLIENT=
grep -E "chaos-bulk-client: (action [0-9]+ [0-9a-f]+: |done|not quiet|gave up)" "$OUT/client.log" >&2 || true
elapsed=$(( $(date +%s%3N) - started ))

# Runs per task per action, from the ledger (the database's clock) and the actions' start times (this machine's).
pg psql -tA -F ' ' >"$OUT/summary.txt" <<SQL
CREATE TEMP TABLE actions (n int, id text, started_at timestamptz, ended_at timestamptz, outcome text,
                           total int, done int, skipped int, failed int, holder_port int);
\copy actions FROM '$OUT/actions.txt' WITH (DELIMITER ' ')
CREATE TEMP TABLE events (at timestamptz, kind text, pid int);
\copy events FROM '$OUT/events.txt' WITH (DELIMITER ' ')
CREATE TEMP TABLE silos (port int, pid int);
\copy silos FROM '$OUT/silos.txt' WITH (DELIMITER ' ')
CREATE TEMP TABLE runs AS
    SELECT r.task_id, r.silo_pid, r.ran_at, (SELECT max(a.n) FROM actions a WHERE a.started_at <= r.ran_at) AS action
    FROM chaos_bulk_runs r WHERE r.run_id = '$RUN';
CREATE TEMP TABLE again AS
    SELECT s.*, EXISTS (SELECT 1 FROM events e WHERE e.kind IN ('kill', 'exit') AND e.pid = s.prev_pid
                        AND e.at BETWEEN s.prev_at - interval '2 seconds' AND s.prev_at + interval '10 seconds') AS after_kill
    FROM (SELECT task_id, action, silo_pid, ran_at,
                 lag(silo_pid) OVER w AS prev_pid, lag(ran_at) OVER w AS prev_at
          FROM runs WHERE action IS NOT NULL
          WINDOW w AS (PARTITION BY task_id, action ORDER BY ran_at)) s
    WHERE s.prev_at IS NOT NULL;
\copy again TO '$OUT/runs-again.txt' WITH (DELIMITER ' ')
-- One line per action: n outcome total retried(last seen, for a lost one) runs tasks_run
SELECT 'action', a.n, a.outcome, a.total, a.done, a.skipped,
       (SELECT count(*) FROM runs r WHERE r.action = a.n), (SELECT count(DISTINCT task_id) FROM runs r WHERE r.action = a.n),
       (SELECT count(*) FROM events e WHERE e.kind = 'kill' AND e.at BETWEEN a.started_at AND a.ended_at),
       -- For a lost action: seconds from the first SIGKILL of its holder's port after its start to the client seeing no silo hold it.
       coalesce((SELECT round(extract(epoch FROM a.ended_at - min(e.at))::numeric, 1)::text FROM events e JOIN silos s ON s.pid = e.pid
                 WHERE a.outcome = 'lost' AND e.kind IN ('kill', 'exit') AND s.port = a.holder_port
                   AND e.at BETWEEN a.started_at AND a.ended_at), '-')
FROM actions a ORDER BY a.n;
SELECT 'total',
       (SELECT count(*) FROM actions),
       (SELECT count(*) FROM actions WHERE outcome = 'completed'),
       (SELECT count(*) FROM actions WHERE outcome = 'lost'),
       (SELECT count(DISTINCT task_id) FROM runs WHERE action IS NOT NULL),
       (SELECT count(*) FROM deferred_tasks t WHERE t.service_id = '$RUN' AND t.status = 'Dead'
          AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.task_id = t.task_id AND r.action IS NOT NULL)),
       (SELECT coalesce(max(c), 0) FROM (SELECT count(*) AS c FROM runs WHERE action IS NOT NULL GROUP BY task_id, action) x),
       (SELECT count(*) FROM again WHERE after_kill),
       (SELECT count(*) FROM again WHERE NOT after_kill),
       (SELECT count(*) FROM generate_series(0, $TASKS - 1) i
          WHERE NOT EXISTS (SELECT 1 FROM deferred_tasks t WHERE t.service_id = '$RUN'
                            AND t.task_id = 'chaosbulk-$RUN-' || i AND t.status = 'Dead')),
       (SELECT count(*) FROM events WHERE kind = 'kill'),
       (SELECT count(*) FROM events e WHERE e.kind = 'kill'
          AND EXISTS (SELECT 1 FROM actions a WHERE e.at BETWEEN a.started_at AND a.ended_at)),
       (SELECT count(*) FROM runs WHERE action IS NULL);
SQL
while read -r _ n outcome total done skipped runs tasks_run action_kills seen_lost; do
  log "action $n: $outcome; covered $total, retried $done (last seen, for a lost one), skipped $skipped; runs $runs of $tasks_run task(s); SIGKILLs during it: $action_kills$([[ "$seen_lost" == - ]] || echo "; seen lost ${seen_lost} s after its holder's SIGKILL")"
done < <(grep '^action ' "$OUT/summary.txt")
read -r _ actions completed lost_actions touched untouched max_runs again_kill again_other lost kills_all kills_during initial_runs \
  < <(grep '^total ' "$OUT/summary.txt")
log "runs before the first action (making the tasks dead): $initial_runs; runs again within an action listed in $OUT/runs-again.txt; logs in $OUT"
echo "chaos-bulk: dead=$TASKS bulk_actions=$actions completed_actions=$completed lost_actions=$lost_actions touched=$touched untouched=$untouched max_runs_per_task_per_action=$max_runs runs_again_after_kill=$again_kill runs_again_other=$again_other lost=$lost kills=$kills_all kills_during_actions=$kills_during elapsed_ms=$elapsed"
[[ "$lost" == 0 && "$again_other" == 0 && "$completed" -ge 1 && "$client_ok" == 1 ]]
