SELECT status, count(*) AS tasks
FROM deferred_tasks
WHERE service_id = @service_id
GROUP BY status;
