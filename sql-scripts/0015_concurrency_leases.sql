-- 0015: cluster-wide concurrency limits per task type (DeferredTasksOptions.ConcurrencyLimits, Cluster).
--
-- A running attempt of a limited type holds one slot of its type: a row (service, type, slot) with
-- 0 <= slot < the limit. The primary key lets one attempt hold a slot, so no more attempts of a type run at once than
-- it has slots, across every silo. A silo takes the lowest free slot with one insert and deletes the row when the
-- attempt ends. The slots of a silo that membership declares dead are deleted by the next sweep of any silo (the same
-- rule that adopts its tasks), so a dead silo's leases end within seconds of its death.

CREATE TABLE IF NOT EXISTS deferred_concurrency_leases
(
    service_id  text        NOT NULL,
    task_type   text        NOT NULL,
    slot        integer     NOT NULL,
    holder      text        NOT NULL,
    task_id     text        NOT NULL,
    acquired_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_deferred_concurrency_leases PRIMARY KEY (service_id, task_type, slot),
    CONSTRAINT ck_deferred_concurrency_leases_slot CHECK (slot >= 0)
);

CREATE INDEX IF NOT EXISTS ix_deferred_concurrency_leases_holder
    ON deferred_concurrency_leases (service_id, holder);
