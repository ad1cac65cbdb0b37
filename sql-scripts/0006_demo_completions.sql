-- 0006: the sample app's ledger (Deferred.Silo demo). Each sample task inserts its id here when its handler
-- completes. There is deliberately no unique constraint: a task that runs twice (at-least-once) leaves two
-- rows, so losses and duplicates can be counted in SQL:
--   duplicates = count(*) - count(DISTINCT task_id).
CREATE TABLE IF NOT EXISTS demo_completions
(
    task_id      text        NOT NULL,
    run_id       text        NOT NULL,
    completed_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS ix_demo_completions_task ON demo_completions (task_id);
