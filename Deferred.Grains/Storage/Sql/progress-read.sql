-- The stored progress of task @task_id's running attempt, if any (a reader without the silo that runs it).
SELECT fraction, message, updated_at
FROM deferred_task_progress
WHERE service_id = @service_id
  AND task_id = @task_id;
