-- Recovery scan over deferred_tasks: one page of live task ids after @after that are due by @horizon
-- (now plus the timer threshold). Later ones are woken by the due-time poller when their time comes near.
-- Served by ix_deferred_tasks_live.
SELECT task_id
FROM deferred_tasks
WHERE service_id = @service_id
  AND status IN ('Pending', 'Failed')
  AND task_id > @after
  AND next_run_at <= @horizon
ORDER BY task_id
LIMIT @page_size;
