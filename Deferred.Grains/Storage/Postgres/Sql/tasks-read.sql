-- Batched read: the rows of the given task ids (absent ids have no row).
SELECT task_id, task_type, status, attempts, max_attempts, enqueued_at, next_run_at, has_reminder, payload, last_error::text, version,
       owner, running_since, interruptions, trace_parent, trace_state, baggage, ordering_key, request_context, caller_id, snoozes
FROM deferred_tasks
WHERE service_id = @service_id
  AND task_id = ANY(@task_ids);
