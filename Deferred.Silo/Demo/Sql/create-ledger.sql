-- The sample's ledger, demo_completions: one row per completed attempt of a sample task (DemoTask), with the process
-- id of the silo that ran it, the attempt number and the kind of handler ('plain', or 'transactional' for
-- DemoTransactionalTask, whose row commits with the task's end), written by
-- the demo and chaos runs and read by scripts/chaos.sh and the README's crash test. It belongs to Deferred.Silo,
-- not to Deferred's schema (migration 0010 dropped the copy that 0006 used to create).
--
-- There is deliberately no unique constraint: a task that runs twice (at-least-once) leaves two rows, so losses
-- and duplicates can be counted in SQL:
--   duplicates = count(*) - count(DISTINCT task_id).
--
-- Idempotent and safe to run from several processes at once: when the table exists nothing is done (so a role
-- without CREATE on the schema, such as the least-privilege role, passes); otherwise the advisory lock
-- ('DemoLdgr' in ASCII) makes concurrent creators wait for each other, since two concurrent CREATE TABLE IF NOT
-- EXISTS can both miss the table and one then fails on a duplicate catalog row.
DO $$
BEGIN
    IF to_regclass('demo_completions') IS NULL THEN
        PERFORM pg_advisory_xact_lock(x'44656d6f4c646772'::bigint);

        CREATE TABLE IF NOT EXISTS demo_completions
        (
            task_id      text        NOT NULL,
            run_id       text        NOT NULL,
            completed_at timestamptz NOT NULL DEFAULT now(),
            silo_pid     integer,
            attempt      integer,
            kind         text
        );

        CREATE INDEX IF NOT EXISTS ix_demo_completions_task ON demo_completions (task_id);
    END IF;

    -- Ledgers created before the process id and attempt were recorded (scripts/chaos.sh attributes duplicates by them).
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'demo_completions' AND column_name = 'silo_pid') THEN
        PERFORM pg_advisory_xact_lock(x'44656d6f4c646772'::bigint);
        ALTER TABLE demo_completions ADD COLUMN IF NOT EXISTS silo_pid integer, ADD COLUMN IF NOT EXISTS attempt integer;
    END IF;

    -- Ledgers created before the kind of handler was recorded (scripts/chaos.sh --transactional counts by it).
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'demo_completions' AND column_name = 'kind') THEN
        PERFORM pg_advisory_xact_lock(x'44656d6f4c646772'::bigint);
        ALTER TABLE demo_completions ADD COLUMN IF NOT EXISTS kind text;
    END IF;
END
$$;
