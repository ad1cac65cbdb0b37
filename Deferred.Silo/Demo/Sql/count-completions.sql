-- Distinct completed ids and total completion rows, for one run or (with @run_id NULL) for all runs.
SELECT count(DISTINCT task_id) AS completed, count(*) AS rows_total
FROM demo_completions
WHERE @run_id::text IS NULL OR run_id = @run_id::text;
