-- 0018: snoozes. A handler may ask for its task to run again later without the attempt counting
-- (DeferredSnoozeException); the count is kept with the task so it is bounded (DeferredOptions.MaxSnoozes) across
-- attempts, silos and restarts, and shown to operators.
--
-- snoozes  times the handler snoozed the task (the `snooze` edge of docs/state-machine.md); reset by an operator's
--          retry of a dead task.
--
-- Additive: an older build inserts and updates rows without knowing the new column (its default holds).
-- deferred: additive

ALTER TABLE deferred_tasks
    ADD COLUMN IF NOT EXISTS snoozes integer NOT NULL DEFAULT 0;

ALTER TABLE deferred_tasks
    DROP CONSTRAINT IF EXISTS ck_deferred_tasks_snoozes;

ALTER TABLE deferred_tasks
    ADD CONSTRAINT ck_deferred_tasks_snoozes CHECK (snoozes >= 0);
