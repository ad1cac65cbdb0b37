-- Takes the lowest free slot of task type @task_type below @limit for an attempt of task @task_id on silo @holder.
-- No row when every slot is taken, or when a concurrent taker won the slot chosen (then another may be free: try
-- again). The primary key (service, type, slot) is what bounds the attempts running at once.
INSERT INTO deferred_concurrency_leases (service_id, task_type, slot, holder, task_id)
SELECT @service_id, @task_type, s.slot, @holder, @task_id
FROM generate_series(0, @limit - 1) AS s(slot)
WHERE NOT EXISTS (
    SELECT 1
    FROM deferred_concurrency_leases AS l
    WHERE l.service_id = @service_id
      AND l.task_type = @task_type
      AND l.slot = s.slot)
ORDER BY s.slot
LIMIT 1
ON CONFLICT DO NOTHING
RETURNING slot;
