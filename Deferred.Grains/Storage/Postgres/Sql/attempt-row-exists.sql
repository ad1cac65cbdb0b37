-- After a commit whose answer was lost (the connection broke during COMMIT): whether the task's row is still stored at
-- the version the attempt ran from. Gone: the commit landed (nothing else deletes a row while its attempt runs).
SELECT EXISTS (
    SELECT 1
    FROM deferred_tasks
    WHERE service_id = @service_id
      AND task_id = @task_id
      AND version = @version);
