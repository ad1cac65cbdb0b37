-- Batched first write of new tasks. A conflicting id inserts nothing and is missing from RETURNING: the
-- caller reports it as a version conflict (the task already exists, or completed a moment ago). A keyed task takes
-- the next ordering number.
INSERT INTO deferred_tasks
    (service_id, task_id, task_type, status, attempts, max_attempts, enqueued_at, next_run_at, has_reminder, payload, last_error,
     owner, running_since, interruptions, trace_parent, trace_state, baggage, ordering_key, ordering_seq, request_context, caller_id, snoozes)
SELECT @service_id, u.task_id, u.task_type, u.status, u.attempts, u.max_attempts, u.enqueued_at, u.next_run_at, u.has_reminder, u.payload, u.last_error::jsonb,
       u.owner, u.running_since, u.interruptions, u.trace_parent, u.trace_state, u.baggage,
       u.ordering_key, CASE WHEN u.ordering_key IS NULL THEN NULL ELSE nextval('deferred_ordering_seq') END, u.request_context, u.caller_id, u.snoozes
FROM unnest(@task_ids, @task_types, @statuses, @attempts, @max_attempts, @enqueued_ats, @next_run_ats, @has_reminders, @payloads, @last_errors,
            @owners, @running_sinces, @interruptions, @trace_parents, @trace_states, @baggages, @ordering_keys, @request_contexts,
            @caller_ids, @snoozes)
     WITH ORDINALITY
     AS u(task_id, task_type, status, attempts, max_attempts, enqueued_at, next_run_at, has_reminder, payload, last_error,
          owner, running_since, interruptions, trace_parent, trace_state, baggage, ordering_key, request_context, caller_id, snoozes, n)
-- A caller's id whose task completed less than the retention ago is not stored again (0016).
WHERE NOT u.caller_id
   OR NOT EXISTS (
       SELECT 1
       FROM deferred_completed_ids AS c
       WHERE c.service_id = @service_id
         AND c.task_id = u.task_id
         AND c.completed_at > now() - @completed_id_retention)
-- In array order, so the tasks of one batch take their ordering numbers in the order they were given.
ORDER BY u.n
ON CONFLICT (service_id, task_id) DO NOTHING
RETURNING task_id;
