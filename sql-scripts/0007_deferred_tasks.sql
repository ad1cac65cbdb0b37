-- 0007: Deferred's own task table, used by the default store (DeferredStore.Postgres).
--
-- One row per stored task; completion deletes it. Rows are written in batches (group commit) by the
-- silo's store, always conditionally on "version", which is the Orleans ETag of the task's state.

CREATE TABLE IF NOT EXISTS deferred_tasks
(
    service_id   text        NOT NULL,              -- Orleans ClusterOptions.ServiceId
    task_id      text        NOT NULL,              -- the task grain's key
    task_type    text        NOT NULL,              -- the registered task type name
    status       text        NOT NULL,
    attempts     integer     NOT NULL DEFAULT 0,    -- attempts that have failed so far
    max_attempts integer     NOT NULL,
    enqueued_at  timestamptz NOT NULL,
    next_run_at  timestamptz NOT NULL,
    has_reminder boolean     NOT NULL DEFAULT false, -- a durable reminder will wake the task
    payload      bytea       NOT NULL,              -- the task object, Orleans-serialized
    last_error   jsonb,                             -- {type, message, stackTrace, attempt, at}
    version      integer     NOT NULL DEFAULT 1,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_deferred_tasks PRIMARY KEY (service_id, task_id),
    -- Running is never stored; completed tasks have no row.
    CONSTRAINT ck_deferred_tasks_status CHECK (status IN ('Pending', 'Failed', 'Dead')),
    CONSTRAINT ck_deferred_tasks_attempts CHECK (attempts >= 0 AND max_attempts >= 1),
    CONSTRAINT ck_deferred_tasks_version CHECK (version >= 1)
)
-- Every task is inserted and deleted once, so the table is all churn: vacuum after 1% dead rows (or
-- 1,000) rather than the default 20%, without cost-based throttling, so dead tuples and index entries are
-- reclaimed while they are few and the heap and indexes stay near their live size. fillfactor leaves room
-- for the in-place (HOT) updates a failed attempt makes.
WITH (
    fillfactor = 90,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);

-- The recovery scan: live tasks of one service in id order (keyset paging). Dead tasks are left out of
-- the index so that a pile of dead tasks costs the scan nothing.
CREATE INDEX IF NOT EXISTS ix_deferred_tasks_live
    ON deferred_tasks (service_id, task_id)
    WHERE status IN ('Pending', 'Failed');

-- Due-time lookups across a service (operators, sweeps): what is due next.
CREATE INDEX IF NOT EXISTS ix_deferred_tasks_due
    ON deferred_tasks (service_id, next_run_at)
    WHERE status IN ('Pending', 'Failed');
