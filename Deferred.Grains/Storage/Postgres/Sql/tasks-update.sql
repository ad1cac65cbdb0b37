-- Batched conditional update: applies only where the stored version is the one the writer read. The
-- payload and task type never change after the insert and are not rewritten.
UPDATE deferred_tasks AS t
SET status        = u.status,
    attempts      = u.attempts,
    max_attempts  = u.max_attempts,
    next_run_at   = u.next_run_at,
    has_reminder  = u.has_reminder,
    last_error    = u.last_error::jsonb,
    owner         = u.owner,
    running_since = u.running_since,
    interruptions = u.interruptions,
    snoozes       = u.snoozes,
    version       = t.version + 1,
    updated_at    = now()
FROM unnest(@task_ids, @versions, @statuses, @attempts, @max_attempts, @next_run_ats, @has_reminders, @last_errors,
            @owners, @running_sinces, @interruptions, @snoozes)
     AS u(task_id, version, status, attempts, max_attempts, next_run_at, has_reminder, last_error,
          owner, running_since, interruptions, snoozes)
WHERE t.service_id = @service_id
  AND t.task_id = u.task_id
  AND t.version = u.version
RETURNING t.task_id, t.version;
