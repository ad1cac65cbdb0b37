-- 0009: ownership and the in-flight marker, for failover across a cluster (docs/reliability.md).
--
-- owner          the silo (Orleans SiloAddress, "ip:port@generation") that last wrote the row, i.e. the silo
--                holding the task. The orphan sweep adopts only rows whose owner the cluster has declared dead
--                (or that no longer exists); NULL marks rows written before this migration, adopted by anyone.
-- running_since  set just before a handler starts, cleared when the attempt's outcome is written. A row found
--                with it set by a new owner was in flight when its silo went away.
-- interruptions  how often that happened; at DeferredTasksOptions.QuarantineAfterInterruptions the task is
--                quarantined as Dead.
ALTER TABLE deferred_tasks
    ADD COLUMN IF NOT EXISTS owner text,
    ADD COLUMN IF NOT EXISTS running_since timestamptz,
    ADD COLUMN IF NOT EXISTS interruptions integer NOT NULL DEFAULT 0;

ALTER TABLE deferred_tasks DROP CONSTRAINT IF EXISTS ck_deferred_tasks_interruptions;
ALTER TABLE deferred_tasks ADD CONSTRAINT ck_deferred_tasks_interruptions CHECK (interruptions >= 0);

-- Live tasks by owner and due time. Serves the due-time poller (one silo's own rows coming due), the
-- sweep's list of distinct owners (an index skip scan) and its claim of an orphaned owner's rows.
CREATE INDEX IF NOT EXISTS ix_deferred_tasks_owner_due
    ON deferred_tasks (service_id, owner, next_run_at)
    WHERE status IN ('Pending', 'Failed');

-- Superseded by the index above: every due-time lookup now filters on the owner.
DROP INDEX IF EXISTS ix_deferred_tasks_due;
