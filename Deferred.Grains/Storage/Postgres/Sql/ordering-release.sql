-- Gives ordering key @ordering_key back, if task @task_id holds it (after the task's row was deleted).
DELETE FROM deferred_ordering_holds
WHERE service_id = @service_id
  AND ordering_key = @ordering_key
  AND task_id = @task_id;
