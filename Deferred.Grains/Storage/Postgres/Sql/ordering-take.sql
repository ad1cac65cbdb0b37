-- Takes ordering key @ordering_key for task @task_id, or confirms that the task holds it already. One row when the
-- task may start. It may when it holds the key, or when no stored task of the key was enqueued before it (a lower
-- ordering_seq: pending, failed or dead) and the key is free. A key is free when no task holds it, or when the holder's
-- row is gone or no longer has the key (a silo died between the delete and the release). The primary key of
-- deferred_ordering_holds lets one task at a time hold a key, whatever order concurrent enqueues committed in.
WITH mine AS (
    SELECT h.task_id
    FROM deferred_ordering_holds AS h
    WHERE h.service_id = @service_id
      AND h.ordering_key = @ordering_key
      AND h.task_id = @task_id
), taken AS (
    INSERT INTO deferred_ordering_holds AS h (service_id, ordering_key, task_id)
    SELECT @service_id, @ordering_key, @task_id
    WHERE NOT EXISTS (SELECT 1 FROM mine)
      AND NOT EXISTS (
          SELECT 1
          FROM deferred_tasks AS e
          WHERE e.service_id = @service_id
            AND e.ordering_key = @ordering_key
            AND e.ordering_seq < (SELECT t.ordering_seq FROM deferred_tasks AS t WHERE t.service_id = @service_id AND t.task_id = @task_id))
    ON CONFLICT (service_id, ordering_key) DO UPDATE
        SET task_id = excluded.task_id,
            acquired_at = now()
        WHERE NOT EXISTS (
            SELECT 1
            FROM deferred_tasks AS o
            WHERE o.service_id = h.service_id
              AND o.task_id = h.task_id
              AND o.ordering_key = h.ordering_key)
    RETURNING h.task_id
)
SELECT task_id FROM mine
UNION ALL
SELECT task_id FROM taken;
