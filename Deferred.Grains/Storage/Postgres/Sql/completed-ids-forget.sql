-- Forgets the completed ids older than the retention (the sweep, a bounded number at a time).
DELETE FROM deferred_completed_ids
WHERE (service_id, task_id) IN (
    SELECT service_id, task_id
    FROM deferred_completed_ids
    WHERE service_id = @service_id
      AND completed_at <= now() - @completed_id_retention
    LIMIT 10000);
