-- A task stored by app code inside its own transaction (DeferredTransactionalEnqueuer). No owner: a silo's sweep
-- adopts it once the transaction commits; tasks-notify.sql in the same transaction wakes the sweeps at once.
INSERT INTO deferred_tasks
    (service_id, task_id, task_type, status, attempts, max_attempts, enqueued_at, next_run_at, payload,
     trace_parent, trace_state, baggage, ordering_key, ordering_seq, request_context)
VALUES (@service_id, @task_id, @task_type, 'Pending', 0, @max_attempts, @enqueued_at, @next_run_at, @payload,
        @trace_parent, @trace_state, @baggage,
        @ordering_key, CASE WHEN @ordering_key::text IS NULL THEN NULL ELSE nextval('deferred_ordering_seq') END, @request_context)
ON CONFLICT (service_id, task_id) DO NOTHING;
