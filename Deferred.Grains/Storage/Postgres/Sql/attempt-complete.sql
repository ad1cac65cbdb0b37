-- The end of a task whose transactional handler returned, inside that handler's transaction: deletes the row (only at
-- the version the attempt ran from, and only while the transaction still carries the attempt's mark @token, set by
-- attempt-begin.sql: a handler that committed or rolled it back by SQL text leaves another one), remembers a caller-chosen id (when @remember_completed), gives back the
-- task's ordering key and its concurrency lease (@slot, null when it holds none). All of it commits with the
-- handler's writes, or none of it does. One row: the deleted id (null when nothing was deleted) and whether the
-- transaction was still the attempt's.
WITH gone AS (
    DELETE FROM deferred_tasks AS t
    WHERE t.service_id = @service_id
      AND t.task_id = @task_id
      AND t.version = @version
      AND current_setting('deferred.attempt', true) = @token
    RETURNING t.task_id, t.caller_id, t.ordering_key
), remembered AS (
    INSERT INTO deferred_completed_ids (service_id, task_id)
    SELECT @service_id, g.task_id
    FROM gone AS g
    WHERE g.caller_id
      AND @remember_completed
    ON CONFLICT (service_id, task_id) DO UPDATE SET completed_at = now()
), key_released AS (
    DELETE FROM deferred_ordering_holds AS h
    USING gone AS g
    WHERE h.service_id = @service_id
      AND h.ordering_key = g.ordering_key
      AND h.task_id = g.task_id
), lease_released AS (
    DELETE FROM deferred_concurrency_leases AS l
    WHERE l.service_id = @service_id
      AND l.task_type = @task_type
      AND l.slot = @slot
      AND l.holder = @holder
      AND l.task_id = @task_id
      AND EXISTS (SELECT 1 FROM gone)
)
SELECT (SELECT g.task_id FROM gone AS g) AS task_id,
       coalesce(current_setting('deferred.attempt', true) = @token, false) AS same_transaction;
