-- The due-time poller: this silo's live tasks whose next run falls in (@from, @to], in due-time order, one
-- page after the keyset (@after_due, @after_id). Other silos' tasks are theirs to wake; orphans are adopted
-- by the sweep first. Served by ix_deferred_tasks_owner_due.
SELECT task_id, next_run_at
FROM deferred_tasks
WHERE service_id = @service_id
  AND owner = @owner
  AND status IN ('Pending', 'Failed')
  AND next_run_at > @from
  AND next_run_at <= @to
  AND (next_run_at, task_id) > (@after_due, @after_id)
ORDER BY next_run_at, task_id
LIMIT @page_size;
