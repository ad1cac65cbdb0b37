-- Recovery scan over deferred_tasks: one page of live task ids after @after, skipping tasks that wait on a
-- reminder that is not due yet. Served by ix_deferred_tasks_live.
SELECT task_id
FROM deferred_tasks
WHERE service_id = @service_id
  AND status IN ('Pending', 'Failed')
  AND task_id > @after
  AND (NOT has_reminder OR next_run_at <= @now)
ORDER BY task_id
LIMIT @page_size;
