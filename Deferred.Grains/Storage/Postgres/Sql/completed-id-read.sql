-- When the caller-id task @task_id completed (left the store), if that is less than the retention ago; no row otherwise.
SELECT completed_at
FROM deferred_completed_ids
WHERE service_id = @service_id
  AND task_id = @task_id
  AND completed_at > now() - @completed_id_retention;
