-- The distinct owners of a service's live tasks, found by skipping through ix_deferred_tasks_owner_due one
-- owner at a time (a handful of index probes, however many rows each owner has). Rows with no owner
-- (written before migration 0009) are reported as one NULL.
WITH RECURSIVE owners(owner) AS (
    (SELECT t.owner
     FROM deferred_tasks AS t
     WHERE t.service_id = @service_id AND t.status IN ('Pending', 'Failed') AND t.owner IS NOT NULL
     ORDER BY t.owner
     LIMIT 1)
    UNION ALL
    SELECT (SELECT t.owner
            FROM deferred_tasks AS t
            WHERE t.service_id = @service_id AND t.status IN ('Pending', 'Failed') AND t.owner > o.owner
            ORDER BY t.owner
            LIMIT 1)
    FROM owners AS o
    WHERE o.owner IS NOT NULL
)
SELECT owner FROM owners WHERE owner IS NOT NULL
UNION ALL
SELECT NULL
WHERE EXISTS (SELECT 1 FROM deferred_tasks AS t
              WHERE t.service_id = @service_id AND t.status IN ('Pending', 'Failed') AND t.owner IS NULL);
