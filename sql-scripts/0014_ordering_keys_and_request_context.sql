-- 0014: per-key ordering and the Orleans RequestContext values that travel with a task.
--
-- ordering_key     DeferredTaskOptions.OrderingKey: tasks of one key run one at a time, in enqueue order.
-- ordering_seq     the enqueue order within a key: taken from deferred_ordering_seq by the insert, only for keyed
--                  tasks (an unkeyed insert takes no number). An acknowledged enqueue has a larger number than every
--                  enqueue acknowledged before it started.
-- request_context  the RequestContext entries named by DeferredTasksOptions.CarriedRequestContextKeys, Orleans-
--                  serialized; restored around every attempt. Written once, by the insert.
--
-- A keyed task may start only while no row of its key has a smaller number (a failed or dead task keeps its row, so
-- it holds the ones behind it), and only while it holds its key in deferred_ordering_holds: the primary key there lets
-- one task at a time hold a key, whatever the order in which concurrent enqueues committed. A hold whose task row is
-- gone is free (a silo that died after the delete and before releasing the hold leaves nothing stuck).

CREATE SEQUENCE IF NOT EXISTS deferred_ordering_seq AS bigint;

ALTER TABLE deferred_tasks
    ADD COLUMN IF NOT EXISTS ordering_key text,
    ADD COLUMN IF NOT EXISTS ordering_seq bigint,
    ADD COLUMN IF NOT EXISTS request_context bytea;

ALTER TABLE deferred_tasks
    ADD CONSTRAINT ck_deferred_tasks_ordering
    CHECK ((ordering_key IS NULL) = (ordering_seq IS NULL)
           AND (ordering_key IS NULL OR length(ordering_key) BETWEEN 1 AND 200));

-- Partial: unkeyed tasks (most) never maintain it.
CREATE INDEX IF NOT EXISTS ix_deferred_tasks_ordering
    ON deferred_tasks (service_id, ordering_key, ordering_seq)
    WHERE ordering_key IS NOT NULL;

CREATE TABLE IF NOT EXISTS deferred_ordering_holds
(
    service_id   text        NOT NULL,
    ordering_key text        NOT NULL,
    task_id      text        NOT NULL,
    acquired_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_deferred_ordering_holds PRIMARY KEY (service_id, ordering_key)
);
