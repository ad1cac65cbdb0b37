-- A task stored by app code inside its own transaction (DeferredTransactionalEnqueuer). No owner: a silo's sweep
-- adopts it once the transaction commits; tasks-notify.sql in the same transaction wakes the sweeps at once.
INSERT INTO deferred_tasks
    (service_id, task_id, task_type, status, attempts, max_attempts, enqueued_at, next_run_at, payload,
     trace_parent, trace_state, baggage, ordering_key, ordering_seq, request_context, caller_id)
SELECT @service_id, @task_id, @task_type, 'Pending', 0, @max_attempts, @enqueued_at, @next_run_at, @payload,
       @trace_parent, @trace_state, @baggage,
       @ordering_key, CASE WHEN @ordering_key::text IS NULL THEN NULL ELSE nextval('deferred_ordering_seq') END, @request_context,
       @caller_id
-- A caller's id whose task completed less than the retention ago is not stored again (0016).
WHERE NOT @caller_id
   OR NOT EXISTS (
       SELECT 1
       FROM deferred_completed_ids AS c
       WHERE c.service_id = @service_id
         AND c.task_id = @task_id
         AND c.completed_at > now() - @completed_id_retention)
ON CONFLICT (service_id, task_id) DO NOTHING;
