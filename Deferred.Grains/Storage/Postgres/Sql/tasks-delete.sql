-- Batched conditional delete (task completed, cancelled, or deleted by an operator). The ids of deleted caller-id
-- tasks are remembered in the same statement (when @remember_completed), so a repeated enqueue of one is recognised.
WITH gone AS (
    DELETE FROM deferred_tasks AS t
    USING unnest(@task_ids, @versions) AS u(task_id, version)
    WHERE t.service_id = @service_id
      AND t.task_id = u.task_id
      AND t.version = u.version
    RETURNING t.task_id, t.caller_id
), remembered AS (
    INSERT INTO deferred_completed_ids (service_id, task_id)
    SELECT @service_id, g.task_id
    FROM gone AS g
    WHERE g.caller_id
      AND @remember_completed
    ON CONFLICT (service_id, task_id) DO UPDATE SET completed_at = now()
)
SELECT task_id FROM gone;
