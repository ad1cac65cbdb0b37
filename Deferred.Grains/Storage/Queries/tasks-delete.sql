-- Batched conditional delete (task completed or deleted by an operator).
DELETE FROM deferred_tasks AS t
USING unnest(@task_ids, @versions) AS u(task_id, version)
WHERE t.service_id = @service_id
  AND t.task_id = u.task_id
  AND t.version = u.version
RETURNING t.task_id;
