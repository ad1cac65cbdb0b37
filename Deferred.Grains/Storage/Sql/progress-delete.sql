-- Clears the progress of task @task_id when its attempt has ended.
DELETE FROM deferred_task_progress
WHERE service_id = @service_id
  AND task_id = @task_id;
