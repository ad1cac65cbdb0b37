-- The orphan sweep's claim: takes up to @page_size live tasks whose owner is @from_owner, a silo that is gone, and
-- makes @owner, this silo, their owner (tasks-claim-unowned.sql does the same for rows with no owner). One owner per
-- statement, ordered by (owner, next_run_at): then ix_deferred_tasks_owner_due hands the rows over in order and the
-- scan stops after a page. Matching several owners at once made PostgreSQL sort every orphaned row on each page (the
-- sort sits under FOR UPDATE, so it cannot stop early): 50 ms per page of 500 at 100,000 rows, against 1-2 ms. SKIP LOCKED lets silos sweeping at the same
-- time split the backlog instead of taking the same rows. The version is left alone on purpose: no live
-- activation holds these rows, and one that did would simply write its own owner back on its next write.
-- Returns each claimed task's row (tasks-read.sql's columns, read by name), so the sweep resumes only what is due
-- soon, leaves later tasks to this silo's due-time poller, and hands the rows it resumes to their activations
-- (no second read); and whether it had no owner: released by a silo that stopped cleanly (or written before
-- migration 0009), so it was not in flight at a crash and needs no watching.
WITH claimed AS (
    SELECT t.task_id, t.owner
    FROM deferred_tasks AS t
    WHERE t.service_id = @service_id
      AND t.status IN ('Pending', 'Failed')
      AND t.owner = @from_owner
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
