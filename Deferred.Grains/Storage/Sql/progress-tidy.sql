-- Deletes up to @limit progress rows not updated since @stale_before: left by attempts whose silo went away before it
-- could clear them (a live attempt that still reports refreshes its row at least as often as it reports).
DELETE FROM deferred_task_progress
WHERE (service_id, task_id) IN (
    SELECT p.service_id, p.task_id
    FROM deferred_task_progress AS p
    WHERE p.service_id = @service_id
      AND p.updated_at < @stale_before
    ORDER BY p.updated_at
    LIMIT @limit);
