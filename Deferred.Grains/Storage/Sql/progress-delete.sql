-- Clears the progress of task @task_id when its attempt has ended: only the report that attempt stored last (@at) or an
-- older one, so a later attempt of the task that has stored its own report since keeps it.
DELETE FROM deferred_task_progress
WHERE service_id = @service_id
  AND task_id = @task_id
  AND updated_at <= @at;
