-- Gives back slot @slot of task type @task_type, if silo @holder holds it.
DELETE FROM deferred_concurrency_leases
WHERE service_id = @service_id
  AND task_type = @task_type
  AND slot = @slot
  AND holder = @holder;
