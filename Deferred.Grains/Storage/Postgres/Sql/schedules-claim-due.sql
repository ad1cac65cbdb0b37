-- A scheduler's claim: up to @limit due, unpaused schedules this silo can fire (runtime schedules of a task type it
-- has a handler for, code schedules it registers), locked for the rest of the transaction. SKIP LOCKED: silos
-- passing at the same time take different schedules, never the same one. A row another silo advanced meanwhile is
-- re-checked under its lock and left out, since its next_at is no longer due. The database's clock decides what is
-- due, so silos with skewed clocks agree; it is returned for the missed-occurrence policy.
SELECT name, task_type, payload, cron, interval_ms, time_zone, missed_policy, max_attempts, paused, next_at, last_occurrence, source, version,
       clock_timestamp() AS db_now
FROM deferred_schedules
WHERE service_id = @service_id
  AND NOT paused
  AND next_at <= clock_timestamp()
  AND task_type = ANY(@task_types)
  AND (source = 'runtime' OR name = ANY(@code_names))
ORDER BY next_at
LIMIT @limit
FOR UPDATE SKIP LOCKED;
