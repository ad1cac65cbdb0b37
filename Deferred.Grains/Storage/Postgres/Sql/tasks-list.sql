-- Operator listing over the default store: one page of a service's tasks (live and dead) matching the filter, in
-- (next_run_at, task_id) order, strictly after the keyset (@after_due, @after_id). This statement serves a filter
-- without a task type or an error substring; tasks-list-by-type.sql and tasks-list-by-error.sql serve those. Each
-- statement has one shape, so its plan is the same whether PostgreSQL plans it for the values at hand or (a prepared
-- statement after a few runs) once for any values: an optional filter that could pick the index would be a plain
-- row filter in the latter.
-- Each stored status is read on its own (the lateral join), in index order from the keyset, at most @page_size rows;
-- the page is the first @page_size of those: at most three index ranges, each ending after @page_size rows. The
-- status filter only drops rows of the VALUES list, which holds for any plan. Served by ix_deferred_tasks_list_status
-- (0011).
-- The keyset is the only lower bound on next_run_at: the catalog folds DueFrom into it (a first page starts after
-- (DueFrom, ''), or ('-infinity', '') without one), because a btree scan starts from the row comparison and would not
-- skip ahead to a separate next_run_at >= bound. @after_due arrives as text (ISO 8601 or '-infinity'): as a
-- timestamptz parameter, Npgsql would send a key at 0001-01-01 00:00 UTC (DateTimeOffset.MinValue: the next run a
-- stock row keeps when it is stored dead as unreadable) as -infinity, and paging would not get past such rows.
-- An unset DueBefore arrives as infinity, an unset status as NULL.
SELECT t.task_id, t.task_type, t.status, t.attempts, t.max_attempts, t.enqueued_at, t.next_run_at,
       t.last_error ->> 'type', t.last_error ->> 'message', t.owner
FROM (VALUES ('Pending'), ('Failed'), ('Dead')) AS s(status)
CROSS JOIN LATERAL (
    SELECT d.task_id, d.task_type, d.status, d.attempts, d.max_attempts, d.enqueued_at, d.next_run_at, d.last_error, d.owner
    FROM deferred_tasks AS d
    WHERE d.service_id = @service_id
      AND d.status = s.status
      AND (d.next_run_at, d.task_id) > (@after_due::timestamptz, @after_id)
      AND d.next_run_at < @due_before
    ORDER BY d.next_run_at, d.task_id
    LIMIT @page_size
) AS t
WHERE @status IS NULL OR s.status = @status
ORDER BY t.next_run_at, t.task_id
LIMIT @page_size;
