-- The due-time poller: live tasks of a service whose next run falls in (@from, @to], in due-time order,
-- one page after the keyset (@after_due, @after_id). Served by ix_deferred_tasks_due.
SELECT task_id, next_run_at
FROM deferred_tasks
WHERE service_id = @service_id
  AND status IN ('Pending', 'Failed')
  AND next_run_at > @from
  AND next_run_at <= @to
  AND (next_run_at, task_id) > (@after_due, @after_id)
ORDER BY next_run_at, task_id
LIMIT @page_size;
