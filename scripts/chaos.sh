#!/usr/bin/env bash
# Chaos run: three Deferred.Silo processes on loopback in one cluster (Orleans ADO.NET clustering on the same
# PostgreSQL), a steady stream of tasks from an Orleans client, random SIGKILLs of silos (each restarted a few
# seconds later) and one PostgreSQL restart during the run. At the end every acknowledged task must have
# completed: the last line is
#   chaos: acknowledged=N completed_distinct=M lost=L duplicates=D kills=K db_restarts=R elapsed_ms=T
# and the exit status is non-zero unless lost=0. Before it, each duplicate completion is attributed to the
# at-least-once point that produced it (docs/semantics.md, "Where a task can run twice"), from the silo process id
# and time the sample ledger records with every completion and the times of the kills and the database restart:
#   chaos.sh: duplicates by cause: silo-killed-before-delete=A silo-exited-before-delete=B
#             enqueue-retried-after-completion=C db-restart=D other=E
# and the delay from each task's acknowledgement (the time the client got it, from <ack-log>.times) to its first
# completion (demo_completions.completed_at; the sample handler does nothing but that insert, so it is a close
# proxy for the start), for tasks acknowledged within 5 s before or after a SIGKILL (not within 5 s of the database
# restart: those are counted apart), for all tasks, and around the database restart:
#   chaos-latency: around_kills=N p50_ms=.. p99_ms=.. max_ms=.. (all tasks: p99_ms=.. max_ms=..;
#                  around the db restart: n=.. p99_ms=.. max_ms=..; around_kills from the first send: p99_ms=.. max_ms=..)
# The last figure counts from the client's first call for the id instead of the acknowledgement: a call to a
# killed gateway is retried after the client's 5 s response timeout, which the acknowledgement hides.
#
#   scripts/chaos.sh [--tasks N] [--rate R] [--kill-every S] [--settle-seconds S] [--silo-port P] [--gateway-port P] [--transactional]
#   scripts/chaos.sh --bulk-retry [options of scripts/chaos-bulk.sh]
#
#   --tasks N          tasks to enqueue (default 50000)
#   --rate R           enqueue rate, tasks per second (default 500)
#   --kill-every S     seconds between kills (default 8)
#   --settle-seconds S how long to wait, after the last enqueue, for every acknowledged task to complete (default 300)
#   --silo-port P      silo i listens on P+i (default 21111), its gateway on --gateway-port + i (default 32000)
#   --transactional    half the tasks (the even-numbered) are the transactional sample: its handler writes its ledger
#                      row in the transaction that ends the task. One more line before the last reports, per kind,
#                        chaos-transactional: transactional_tasks=N duplicate_effects=D plain_tasks=M plain_duplicates=P
#                      and the exit status is non-zero unless lost=0 and duplicate_effects=0
#   --bulk-retry       the bulk-retry run instead: scripts/chaos-bulk.sh, an operator's bulk retry of dead tasks that
#                      keep failing while silos are killed (each task at most once per bulk action)
#
# Needs the private server of scripts/postgres.sh (it is restarted during the run; DEFERRED_PG_PORT and
# DEFERRED_PG_DATA choose its port and data folder). Logs and the ack log go to .data/chaos/<run>/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

for arg in "$@"; do
  if [[ "$arg" == --bulk-retry ]]; then
    args=()
    for a in "$@"; do [[ "$a" == --bulk-retry ]] || args+=("$a"); done
    exec "$ROOT/scripts/chaos-bulk.sh" "${args[@]}"
  fi
done

TASKS=50000 RATE=500 KILL_EVERY=8 SETTLE=300 SILO_PORT=21111 GATEWAY_PORT=32000 TRANSACTIONAL=
# The value of the option in $1; an option given last without one is named, not an unbound-variable error.
value() { [[ $# -ge 2 ]] || { echo "chaos.sh: $1 needs a value" >&2; exit 2; }; printf '%s' "$2"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tasks) TASKS="$(value "$@")"; shift 2 ;;
    --rate) RATE="$(value "$@")"; shift 2 ;;
    --kill-every) KILL_EVERY="$(value "$@")"; shift 2 ;;
    --settle-seconds) SETTLE="$(value "$@")"; shift 2 ;;
    --silo-port) SILO_PORT="$(value "$@")"; shift 2 ;;
    --gateway-port) GATEWAY_PORT="$(value "$@")"; shift 2 ;;
    --transactional) TRANSACTIONAL=--transactional; shift ;;
    *) echo "chaos.sh: unknown option '$1'; use --tasks N --rate R --kill-every S --settle-seconds S --silo-port P --gateway-port P --transactional, or --bulk-retry" >&2; exit 2 ;;
  esac
done
for v in "$TASKS" "$RATE" "$KILL_EVERY" "$SETTLE" "$SILO_PORT" "$GATEWAY_PORT"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "chaos.sh: '$v' is not a positive whole number" >&2; exit 2; }
done
[[ -z "${DEFERRED_PG_CONNECTION:-}" ]] || { echo "chaos.sh: restarts the private server of scripts/postgres.sh; unset DEFERRED_PG_CONNECTION" >&2; exit 2; }

log() { echo "chaos.sh: $*" >&2; }
# psql on the private server (DEFERRED_PG_CONNECTION, exported for the silos, would make postgres.sh refuse).
pg() { DEFERRED_PG_CONNECTION= scripts/postgres.sh "$@"; }
sql() { pg psql -tA -c "$1" 2>/dev/null; }

scripts/postgres.sh start
dotnet build Deferred.Silo -c Release -v q -nologo >&2
DLL="$ROOT/Deferred.Silo/bin/Release/net10.0/Deferred.Silo.dll"
RUN="chaos-$(date +%Y%m%d%H%M%S)"
OUT="$ROOT/.data/chaos/$RUN"
mkdir -p "$OUT"
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
}
cleanup() {
  for pid in "${PIDS[@]:-}"; do kill "$pid" 2>/dev/null || true; done
  [[ -n "${CLIENT:-}" ]] && kill "$CLIENT" 2>/dev/null || true
  wait 2>/dev/null || true
  unset DEFERRED_PG_CONNECTION
  DEFERRED_PG_NO_MIGRATE=1 scripts/postgres.sh start >/dev/null 2>&1 || true
}
trap cleanup EXIT

for i in 0 1 2; do start_silo "$i"; done
for _ in $(seq 1 120); do
  active=$(sql "SELECT count(*) FROM orleansmembershiptable WHERE deploymentid = '$RUN' AND status = 3" || echo 0)
  [[ "$active" == 3 ]] && break
  sleep 1
done
[[ "${active:-0}" == 3 ]] || { log "the silos did not form a cluster; see $OUT/silo*.log"; exit 1; }
log "cluster $RUN is up with 3 silos; enqueueing $TASKS tasks at $RATE/s"

dotnet "$DLL" chaos-client --tasks "$TASKS" --rate "$RATE" --run-id "$RUN" --ack-log "$OUT/acks.txt" \
  --timeout-seconds $((TASKS / RATE + 600)) $TRANSACTIONAL >"$OUT/client.log" 2>&1 &
CLIENT=$!

kills=0 db_restarts=0 next_kill=$(( $(date +%s) + KILL_EVERY ))
db_restart_after=$(( $(date +%s) + (TASKS / RATE) / 2 ))
while kill -0 "$CLIENT" 2>/dev/null; do
  now=$(date +%s)
  for i in 0 1 2; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      log "silo $i exited on its own (see $OUT/silo$i.log); starting it again"
      echo "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) exit ${PIDS[$i]}" >>"$OUT/events.txt"
      start_silo "$i"
    fi
  done
  if (( db_restarts == 0 && now >= db_restart_after )); then
    log "restarting PostgreSQL"
    echo "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) db-stop 0" >>"$OUT/events.txt"
    pg stop >/dev/null 2>&1; sleep 3; DEFERRED_PG_NO_MIGRATE=1 pg start >/dev/null 2>&1
    echo "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) db-start 0" >>"$OUT/events.txt"
    db_restarts=1
  elif (( now >= next_kill )); then
    victim=$((RANDOM % 3))
    log "SIGKILL silo $victim (pid ${PIDS[$victim]}); restarting it in 2 s"
    kill -9 "${PIDS[$victim]}" 2>/dev/null || true
    date -u +%H:%M:%S.%3N >>"$OUT/kills.txt"
    echo "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) kill ${PIDS[$victim]}" >>"$OUT/events.txt"
    wait "${PIDS[$victim]}" 2>/dev/null || true
    kills=$((kills + 1))
    sleep 2
    start_silo "$victim"
    next_kill=$(( $(date +%s) + KILL_EVERY ))
  fi
  sleep 1
done
wait "$CLIENT" || log "the client did not get every task acknowledged (see $OUT/client.log)"
grep "chaos-client: done" "$OUT/client.log" >&2 || true

# Every acknowledged id must appear in demo_completions (written by the sample handler on each completion; the
# sample's own table, which chaos-client created, if missing, before its first enqueue).
count() {
  pg psql -tA -F ' ' <<SQL
CREATE TEMP TABLE acks (task_id text);
\copy acks FROM '$OUT/acks.txt'
SELECT (SELECT count(DISTINCT task_id) FROM acks),
       (SELECT count(DISTINCT task_id) FROM demo_completions WHERE run_id = '$RUN'),
       (SELECT count(*) FROM (SELECT DISTINCT task_id FROM acks) a
         WHERE NOT EXISTS (SELECT 1 FROM demo_completions c WHERE c.run_id = '$RUN' AND c.task_id = a.task_id)),
       (SELECT count(*) - count(DISTINCT task_id) FROM demo_completions WHERE run_id = '$RUN'),
       (SELECT count(*) FROM deferred_tasks WHERE service_id = '$RUN' AND status = 'Dead');
SQL
}
deadline=$(( $(date +%s) + SETTLE ))
while true; do
  read -r acknowledged completed lost duplicates dead < <(count | tail -n 1)
  log "settling: acknowledged=$acknowledged completed_distinct=$completed lost=$lost dead=$dead"
  (( lost == 0 || $(date +%s) >= deadline )) && break
  sleep 2
done
elapsed=$(( $(date +%s%3N) - started ))

# Duplicates by cause: each completion after a task's first is set against the completion before it (process id
# and time, from the sample ledger), the kills, exits and database restart of the run, and the ids the client sent
# again after a failed call:
# - silo-killed-before-delete: the previous run's silo was SIGKILLed within 10 s after it completed (or up to 2 s
#   before: the ledger's time is when its insert began, and a commit sent just before the kill still lands): the handler had
#   finished (the ledger row is its effect) but the delete of the task's row had not committed (delayed, if the
#   database was down, by the outcome window's backoff), so the adopting silo ran it again;
# - silo-exited-before-delete: the same, for a silo that exited on its own (declared dead by the cluster);
# - enqueue-retried-after-completion: the client's enqueue call failed (its gateway was killed, a timeout) although
#   the task had been stored; it completed and its row was deleted before the client sent the same id again, which
#   then stored a new task (the idempotency window: while stored, see docs/semantics.md);
# - db-restart: within 30 s of the database restart, none of the above;
# - other: none of these (each one is a finding).
touch "$OUT/events.txt" "$OUT/acks.txt.retried"
read -r dup_killed dup_exited dup_retried dup_db dup_other < <(pg psql -tA -F ' ' <<SQL | tail -n 1
CREATE TEMP TABLE events (at timestamptz, kind text, pid integer);
\copy events FROM '$OUT/events.txt' WITH (DELIMITER ' ')
CREATE TEMP TABLE retried (task_id text);
\copy retried FROM '$OUT/acks.txt.retried'
WITH runs AS (
    SELECT task_id, completed_at,
           lag(silo_pid) OVER w AS previous_pid, lag(completed_at) OVER w AS previous_at
    FROM demo_completions
    WHERE run_id = '$RUN'
    WINDOW w AS (PARTITION BY task_id ORDER BY completed_at)
), caused AS (
    SELECT CASE
               WHEN EXISTS (SELECT 1 FROM events e WHERE e.kind = 'kill' AND e.pid = r.previous_pid
                            AND e.at BETWEEN r.previous_at - interval '2 seconds' AND r.previous_at + interval '10 seconds') THEN 'killed'
               WHEN EXISTS (SELECT 1 FROM events e WHERE e.kind = 'exit' AND e.pid = r.previous_pid
                            AND e.at BETWEEN r.previous_at - interval '2 seconds' AND r.previous_at + interval '60 seconds') THEN 'exited'
               WHEN EXISTS (SELECT 1 FROM retried x WHERE x.task_id = r.task_id) THEN 'retried'
               WHEN EXISTS (SELECT 1 FROM events e WHERE e.kind LIKE 'db-%'
                            AND e.at BETWEEN r.previous_at - interval '30 seconds' AND r.previous_at + interval '30 seconds') THEN 'db'
               ELSE 'other'
           END AS cause
    FROM runs r
    WHERE r.previous_at IS NOT NULL
)
SELECT count(*) FILTER (WHERE cause = 'killed'), count(*) FILTER (WHERE cause = 'exited'),
       count(*) FILTER (WHERE cause = 'retried'), count(*) FILTER (WHERE cause = 'db'), count(*) FILTER (WHERE cause = 'other')
FROM caused;
SQL
) || true
log "duplicates by cause: silo-killed-before-delete=${dup_killed:-?} silo-exited-before-delete=${dup_exited:-?} enqueue-retried-after-completion=${dup_retried:-?} db-restart=${dup_db:-?} other=${dup_other:-?}"
pg psql -tA -F ' ' >"$OUT/duplicates.txt" 2>/dev/null <<SQL || true
SELECT task_id, silo_pid, attempt, completed_at FROM demo_completions
WHERE run_id = '$RUN' AND task_id IN (SELECT task_id FROM demo_completions WHERE run_id = '$RUN' GROUP BY task_id HAVING count(*) > 1)
ORDER BY task_id, completed_at;
SQL
interrupted=$(cat "$OUT"/silo*.log | grep -c "was found in flight after its silo went away" || true)
log "kills=$kills; attempts found in flight after a kill: $interrupted; dead tasks: $dead; logs in $OUT"

# Adoption delay: from each SIGKILL to the first sweep after it (on any silo) that adopted tasks, before the next kill.
grep -h -B1 -E "Deferred sweep adopted|Deferred recovery finished: adopted [1-9]" "$OUT"/silo*.log \
  | grep -oE "^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}" | sort >"$OUT/adoptions.txt" || true
awk 'function s(t, a) { split(t, a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
     NR == FNR { kill[++k] = s($1); next }
     { adopt[++n] = s($1) }
     END {
       for (i = 1; i <= k; i++) {
         next_kill = (i < k) ? kill[i + 1] : 1e9
         for (j = 1; j <= n; j++) if (adopt[j] >= kill[i] && adopt[j] < next_kill) { d[++m] = adopt[j] - kill[i]; break }
       }
       if (m == 0) { print "chaos.sh: no adoption followed a kill (nothing was left to adopt)"; exit }
       for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (d[j] < d[i]) { t = d[i]; d[i] = d[j]; d[j] = t }
       printf "chaos.sh: SIGKILL to first adoption: %d of %d kills, min %.1f s, median %.1f s, max %.1f s\n", m, k, d[1], d[int((m + 1) / 2)], d[m]
     }' "$OUT/kills.txt" "$OUT/adoptions.txt" >&2 || true
# Enqueue->start around the kills (see the top). Both clocks are this machine's: the client's wall clock for the
# acknowledgement, PostgreSQL's now() for the completion. A task can complete before its acknowledgement reaches
# the client (negative delays count as they are).
touch "$OUT/acks.txt.times"
pg psql -tA <<SQL 2>/dev/null | grep '^chaos-latency:' || log "could not compute the enqueue-to-start delays"
CREATE TEMP TABLE events (at timestamptz, kind text, pid integer);
\copy events FROM '$OUT/events.txt' WITH (DELIMITER ' ')
CREATE TEMP TABLE ack_times (task_id text, acked_ms bigint, sent_ms bigint);
\copy ack_times FROM '$OUT/acks.txt.times'
CREATE TEMP TABLE delays AS
SELECT a.task_id, a.acked_at,
       extract(epoch FROM f.first_at - a.acked_at) * 1000 AS delay_ms,
       extract(epoch FROM f.first_at - a.sent_at) * 1000 AS from_send_ms,
       EXISTS (SELECT 1 FROM events e WHERE e.kind = 'kill'
               AND a.acked_at BETWEEN e.at - interval '5 seconds' AND e.at + interval '5 seconds') AS near_kill,
       EXISTS (SELECT 1 FROM events s JOIN events t ON s.kind = 'db-stop' AND t.kind = 'db-start' AND t.at >= s.at
               WHERE a.acked_at BETWEEN s.at - interval '5 seconds' AND t.at + interval '5 seconds') AS near_db
FROM (SELECT task_id, to_timestamp(min(acked_ms) / 1000.0) AS acked_at, to_timestamp(min(sent_ms) / 1000.0) AS sent_at
      FROM ack_times GROUP BY task_id) a
JOIN (SELECT task_id, min(completed_at) AS first_at FROM demo_completions WHERE run_id = '$RUN' GROUP BY task_id) f
  USING (task_id);
WITH k AS (SELECT count(*) AS n,
                  round(percentile_disc(0.5) WITHIN GROUP (ORDER BY delay_ms)) AS p50,
                  round(percentile_disc(0.99) WITHIN GROUP (ORDER BY delay_ms)) AS p99,
                  round(max(delay_ms)) AS mx,
                  round(percentile_disc(0.99) WITHIN GROUP (ORDER BY from_send_ms)) AS sp99,
                  round(max(from_send_ms)) AS smx
           FROM delays WHERE near_kill AND NOT near_db),
     a AS (SELECT round(percentile_disc(0.99) WITHIN GROUP (ORDER BY delay_ms)) AS p99, round(max(delay_ms)) AS mx FROM delays),
     d AS (SELECT count(*) AS n, round(percentile_disc(0.99) WITHIN GROUP (ORDER BY delay_ms)) AS p99,
                  round(max(delay_ms)) AS mx
           FROM delays WHERE near_db)
SELECT format('chaos-latency: around_kills=%s p50_ms=%s p99_ms=%s max_ms=%s (all tasks: p99_ms=%s max_ms=%s; around the db restart: n=%s p99_ms=%s max_ms=%s; around_kills from the first send: p99_ms=%s max_ms=%s)',
              k.n, coalesce(k.p50::text, '-'), coalesce(k.p99::text, '-'), coalesce(k.mx::text, '-'),
              coalesce(a.p99::text, '-'), coalesce(a.mx::text, '-'),
              d.n, coalesce(d.p99::text, '-'), coalesce(d.mx::text, '-'),
              coalesce(k.sp99::text, '-'), coalesce(k.smx::text, '-'))
FROM k, a, d;
SQL
tx_duplicates=0
if [[ -n "$TRANSACTIONAL" ]]; then
  # Per kind of handler: a transactional task's ledger row commits with its end, so a second row is a duplicate effect.
  read -r tx_tasks tx_duplicates plain_tasks plain_duplicates < <(pg psql -tA -F ' ' -c "
    SELECT count(DISTINCT task_id) FILTER (WHERE kind = 'transactional'),
           count(*) FILTER (WHERE kind = 'transactional') - count(DISTINCT task_id) FILTER (WHERE kind = 'transactional'),
           count(DISTINCT task_id) FILTER (WHERE kind = 'plain'),
           count(*) FILTER (WHERE kind = 'plain') - count(DISTINCT task_id) FILTER (WHERE kind = 'plain')
    FROM demo_completions WHERE run_id = '$RUN'" | tail -n 1)
  echo "chaos-transactional: transactional_tasks=$tx_tasks duplicate_effects=$tx_duplicates plain_tasks=$plain_tasks plain_duplicates=$plain_duplicates"
fi
echo "chaos: acknowledged=$acknowledged completed_distinct=$completed lost=$lost duplicates=$duplicates kills=$kills db_restarts=$db_restarts elapsed_ms=$elapsed"
[[ "$lost" == 0 && "$tx_duplicates" == 0 ]]
