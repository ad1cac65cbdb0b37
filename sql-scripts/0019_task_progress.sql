-- 0019: progress of running attempts. A handler reports how far it is (DeferredTaskContext.ReportProgressAsync); the
-- silo keeps the latest report in memory and stores it here at most once a second, so a reader without the silo (the
-- command line's database reads) and the operator after a crash see it too. A row is deleted when its attempt ends
-- (progress-delete.sql); rows whose attempt went away with its silo are tidied by the sweep once stale
-- (progress-tidy.sql). Not the task row: progress changes often, and deferred_tasks stays narrow and its version
-- untouched by it.
--
-- Additive: an older build inserts and updates rows without knowing the new table.
-- deferred: additive

CREATE TABLE IF NOT EXISTS deferred_task_progress
(
    service_id text             NOT NULL,
    task_id    text             NOT NULL,
    fraction   double precision NOT NULL,
    message    text,
    updated_at timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT pk_deferred_task_progress PRIMARY KEY (service_id, task_id),
    CONSTRAINT ck_deferred_task_progress_fraction CHECK (fraction >= 0 AND fraction <= 1),
    CONSTRAINT ck_deferred_task_progress_message CHECK (message IS NULL OR length(message) <= 500)
);

CREATE INDEX IF NOT EXISTS ix_deferred_task_progress_age
    ON deferred_task_progress (service_id, updated_at);
