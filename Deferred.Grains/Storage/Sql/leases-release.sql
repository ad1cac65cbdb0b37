-- Gives back slot @slot of task type @task_type, if silo @holder holds it for task @task_id (not a lease another attempt
-- took since, after this one's was freed another way).
DELETE FROM deferred_concurrency_leases
WHERE service_id = @service_id
  AND task_type = @task_type
  AND slot = @slot
  AND holder = @holder
  AND task_id = @task_id;
