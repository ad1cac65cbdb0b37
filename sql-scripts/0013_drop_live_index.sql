-- 0013: drop ix_deferred_tasks_live (0007). It served the first recovery scan (live tasks in id order); the sweep
-- has gone by owner since 0009 (ix_deferred_tasks_owner_due), lookups by id use the primary key, and listings use the
-- operator indexes of 0011. Unused, it still cost every insert and delete an index entry.
DROP INDEX IF EXISTS ix_deferred_tasks_live;
