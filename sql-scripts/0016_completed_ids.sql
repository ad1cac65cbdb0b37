-- 0016: ids of completed tasks, remembered for a while, so a caller that repeats an enqueue whose task has already
-- completed does not run it a second time.
--
-- caller_id               the task's id was chosen by the caller (DeferredTaskOptions.TaskId), not generated.
-- deferred_completed_ids  the ids of caller-id tasks whose rows were deleted (completed, cancelled, deleted by an
--                         operator), written by the same statement as the delete (tasks-delete.sql). An insert of a
--                         caller id remembered here less than DeferredTasksOptions.CompletedIdRetention ago inserts
--                         nothing (tasks-insert.sql); the enqueue reports the task as completed. The sweep deletes
--                         older entries. Generated ids are never repeated and never remembered.

ALTER TABLE deferred_tasks
    ADD COLUMN IF NOT EXISTS caller_id boolean NOT NULL DEFAULT false;

CREATE TABLE IF NOT EXISTS deferred_completed_ids
(
    service_id   text        NOT NULL,
    task_id      text        NOT NULL,
    completed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_deferred_completed_ids PRIMARY KEY (service_id, task_id)
);

CREATE INDEX IF NOT EXISTS ix_deferred_completed_ids_age
    ON deferred_completed_ids (service_id, completed_at);
