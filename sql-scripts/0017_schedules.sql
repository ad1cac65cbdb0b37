-- 0017: periodic tasks.
--
-- One row per schedule of a service (docs/schedules.md). The silos' schedulers claim due rows with
-- FOR UPDATE SKIP LOCKED, insert the occurrences' task rows into deferred_tasks (ids schedule:{name}:{time}, ON
-- CONFLICT DO NOTHING) and advance next_at, all in one transaction: the row lock and the advance are what make an
-- occurrence fire once per cluster; the deterministic task id is the second line.
--
-- task_type        the stored task type name of the occurrences
-- payload          runtime schedules: the serialized task every occurrence gets; code schedules: NULL (the silo's
--                  registered factory makes each occurrence's task)
-- cron|interval_ms exactly one is set; interval occurrences are whole multiples of interval_ms since the Unix epoch
-- time_zone        the IANA or Windows id a cron expression is read in ('UTC' for intervals)
-- missed_policy    RunOnce | RunAll | Skip: occurrences that came due while no silo could fire them
-- paused           set and cleared only by an operator; kept when a silo start rewrites a code schedule
-- next_at          the next occurrence to fire (while paused: the one due when it was paused)
-- last_occurrence  the last occurrence enqueued
-- source           'code' (AddDeferredSchedule, rewritten at each silo start) or 'runtime' (IDeferredTasks.ScheduleAsync)
-- definition       the schedule's definition as text, to tell a changed definition from an unchanged one
CREATE TABLE IF NOT EXISTS deferred_schedules
(
    service_id      text        NOT NULL,
    name            text        NOT NULL,
    task_type       text        NOT NULL,
    payload         bytea,
    cron            text,
    interval_ms     bigint,
    time_zone       text        NOT NULL DEFAULT 'UTC',
    missed_policy   text        NOT NULL DEFAULT 'RunOnce',
    max_attempts    integer     NOT NULL,
    paused          boolean     NOT NULL DEFAULT false,
    next_at         timestamptz NOT NULL,
    last_occurrence timestamptz,
    source          text        NOT NULL,
    definition      text        NOT NULL,
    version         integer     NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_deferred_schedules PRIMARY KEY (service_id, name),
    CONSTRAINT ck_deferred_schedules_timing CHECK ((cron IS NULL) <> (interval_ms IS NULL)),
    CONSTRAINT ck_deferred_schedules_interval CHECK (interval_ms IS NULL OR interval_ms >= 1000),
    CONSTRAINT ck_deferred_schedules_cron CHECK (cron IS NULL OR length(btrim(cron)) > 0),
    CONSTRAINT ck_deferred_schedules_missed CHECK (missed_policy IN ('RunOnce', 'RunAll', 'Skip')),
    CONSTRAINT ck_deferred_schedules_source CHECK (source IN ('code', 'runtime')),
    -- A runtime schedule carries its task; a code schedule's task comes from the silo's factory.
    CONSTRAINT ck_deferred_schedules_payload CHECK ((source = 'runtime') = (payload IS NOT NULL)),
    CONSTRAINT ck_deferred_schedules_attempts CHECK (max_attempts >= 1),
    CONSTRAINT ck_deferred_schedules_name CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    CONSTRAINT ck_deferred_schedules_version CHECK (version >= 1)
);

-- The schedulers' claim and wait: a service's unpaused schedules by next occurrence.
CREATE INDEX IF NOT EXISTS ix_deferred_schedules_due
    ON deferred_schedules (service_id, next_at)
    WHERE NOT paused;
