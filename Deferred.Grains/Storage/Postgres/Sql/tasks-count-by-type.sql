-- Operator counts over the default store: a service's tasks by status and task type (an index-only scan of
-- ix_deferred_tasks_list_type when the visibility map allows).
SELECT status, task_type, count(*) AS tasks
FROM deferred_tasks
WHERE service_id = @service_id
GROUP BY task_type, status
ORDER BY task_type, status;
