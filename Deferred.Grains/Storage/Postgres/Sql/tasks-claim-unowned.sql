-- The orphan sweep's claim of rows with no owner: released by a silo that stopped cleanly, committed by app code in
-- its own transaction, or written before migration 0009. Otherwise as tasks-claim.sql (ordered by (owner,
-- next_run_at) so the owner index serves the page in order); every row it returns has released = true.
WITH claimed AS (
    SELECT t.task_id, t.owner
    FROM deferred_tasks AS t
    WHERE t.service_id = @service_id
      AND t.status IN ('Pending', 'Failed')
      AND t.owner IS NULL
    ORDER BY t.owner, t.next_run_at
    LIMIT @page_size
    FOR UPDATE SKIP LOCKED
)
UPDATE deferred_tasks AS t
SET owner = @owner,
    updated_at = now()
FROM claimed AS c
WHERE t.service_id = @service_id
  AND t.task_id = c.task_id
RETURNING t.task_id, t.task_type, t.status, t.attempts, t.max_attempts, t.enqueued_at, t.next_run_at, t.has_reminder, t.payload,
          t.last_error::text, t.version, t.owner, t.running_since, t.interruptions, t.trace_parent, t.trace_state, t.baggage,
          t.ordering_key, t.request_context, t.caller_id, t.snoozes, c.owner IS NULL AS released;
