-- Operator listing over the default store, for a filter with a task type and no error substring: as tasks-list.sql
-- (see there), reading ix_deferred_tasks_list_type (0011) per status.
SELECT t.task_id, t.task_type, t.status, t.attempts, t.max_attempts, t.enqueued_at, t.next_run_at,
       t.last_error ->> 'type', t.last_error ->> 'message', t.owner
FROM (VALUES ('Pending'), ('Failed'), ('Dead')) AS s(status)
CROSS JOIN LATERAL (
    SELECT d.task_id, d.task_type, d.status, d.attempts, d.max_attempts, d.enqueued_at, d.next_run_at, d.last_error, d.owner
    FROM deferred_tasks AS d
    WHERE d.service_id = @service_id
      AND d.task_type = @task_type
      AND d.status = s.status
      AND (d.next_run_at, d.task_id) > (@after_due::timestamptz, @after_id)
      AND d.next_run_at < @due_before
    ORDER BY d.next_run_at, d.task_id
    LIMIT @page_size
) AS t
WHERE @status IS NULL OR s.status = @status
ORDER BY t.next_run_at, t.task_id
LIMIT @page_size;
