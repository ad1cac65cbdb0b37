-- Operator listing over the default store, for a filter with an error substring (with or without a task type): as
-- tasks-list.sql (see there), reading ix_deferred_tasks_list_errors (0011) per status: only tasks that have a last
-- error, mostly the failed and dead ones, never the pending backlog. The substring (of the error's type or message,
-- ignoring case) and the task type are checked row by row, so a rare substring reads every task with an error in the
-- status range. (Planned for a given type, PostgreSQL may read ix_deferred_tasks_list_type instead when that type has
-- fewer rows.)
SELECT t.task_id, t.task_type, t.status, t.attempts, t.max_attempts, t.enqueued_at, t.next_run_at,
       t.last_error ->> 'type', t.last_error ->> 'message', t.owner
FROM (VALUES ('Pending'), ('Failed'), ('Dead')) AS s(status)
CROSS JOIN LATERAL (
    SELECT d.task_id, d.task_type, d.status, d.attempts, d.max_attempts, d.enqueued_at, d.next_run_at, d.last_error, d.owner
    FROM deferred_tasks AS d
    WHERE d.service_id = @service_id
      AND d.status = s.status
      AND d.last_error IS NOT NULL
      AND (@task_type IS NULL OR d.task_type = @task_type)
      AND (d.next_run_at, d.task_id) > (@after_due::timestamptz, @after_id)
      AND d.next_run_at < @due_before
      AND (strpos(lower(d.last_error ->> 'type'), lower(@error)) > 0
           OR strpos(lower(d.last_error ->> 'message'), lower(@error)) > 0)
    ORDER BY d.next_run_at, d.task_id
    LIMIT @page_size
) AS t
WHERE @status IS NULL OR s.status = @status
ORDER BY t.next_run_at, t.task_id
LIMIT @page_size;
