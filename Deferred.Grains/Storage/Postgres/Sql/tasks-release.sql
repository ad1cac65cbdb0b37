-- A silo that stops cleanly releases the live tasks it owns (owner NULL): the sweep on another silo (or this
-- silo's next start) adopts them as clean hand-overs, without watching their attempts. Rows still carrying an
-- in-flight marker (a handler that did not return in time) stay owned, so their adoption counts the interruption.
UPDATE deferred_tasks
SET owner = NULL,
    updated_at = now()
WHERE service_id = @service_id
  AND owner = @owner
  AND status IN ('Pending', 'Failed')
  AND running_since IS NULL;
