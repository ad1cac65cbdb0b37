-- Operator listing over the stock store: one page of a service's task rows (live and dead) matching the filter, in
-- (due, task id) order, strictly after the keyset (@after_due, @after_id). This statement serves a filter without a
-- task type or an error substring; stock-list-by-type.sql and stock-list-by-error.sql serve those. The same shapes,
-- parameters and columns as tasks-list*.sql; see tasks-list.sql for the plan, why each filter shape has a statement
-- of its own, and why DueFrom arrives folded into the keyset.
-- Served by ix_orleansstorage_deferred_list_status (0011). The index expressions are repeated here verbatim (the
-- planner matches them by their form; the laterals d and k are pulled up into them), and so is the index predicate:
-- the state name is written as a literal ('deferred-task', TaskRecord.StateName), because a partial index cannot
-- serve a parameter. The due time is nextRunAt, or 0001-01-01 when it is missing or unreadable (what the row reads
-- as, and keeps once the sweep stores it as dead). Rows whose JSON cannot be read, or whose status is not Pending,
-- Failed or Dead, are not listed: the orphan sweep stores unreadable rows as dead, and then they are.
-- The innermost query reads only the key and the row; the record's other fields are parsed once per listed row,
-- after the page is cut (jsonb_to_record).
SELECT p.task_id, coalesce(r."taskType", ''), p.status, coalesce(r.attempts, 0), coalesce(r."maxAttempts", 0),
       deferred_try_timestamptz(r."enqueuedAt"), p.next_run_at,
       r."lastError" ->> 'type', r."lastError" ->> 'message', r.owner
FROM (
    SELECT t.task_id, t.status, t.next_run_at, t.payloadbinary
    FROM (VALUES ('Pending'), ('Failed'), ('Dead')) AS s(status)
    CROSS JOIN LATERAL (
        SELECT o.grainidextensionstring AS task_id, s.status, k.due AS next_run_at, o.payloadbinary
        FROM orleansstorage AS o
        CROSS JOIN LATERAL (SELECT deferred_try_jsonb(o.payloadbinary) AS doc) AS d
        CROSS JOIN LATERAL (
            SELECT coalesce(deferred_try_timestamptz(d.doc ->> 'nextRunAt'), timestamptz '0001-01-01 00:00:00+00') AS due
        ) AS k
        WHERE o.serviceid = @service_id
          AND o.graintypestring = 'deferred-task'
          AND o.payloadbinary IS NOT NULL
          AND d.doc ->> 'status' = s.status
          AND (k.due, o.grainidextensionstring) > (@after_due::timestamptz, @after_id)
          AND k.due < @due_before
        ORDER BY k.due, o.grainidextensionstring
        LIMIT @page_size
    ) AS t
    WHERE @status IS NULL OR s.status = @status
    ORDER BY t.next_run_at, t.task_id
    LIMIT @page_size
) AS p
CROSS JOIN LATERAL jsonb_to_record(deferred_try_jsonb(p.payloadbinary))
    AS r("taskType" text, attempts integer, "maxAttempts" integer, "enqueuedAt" text, "lastError" jsonb, owner text)
ORDER BY p.next_run_at, p.task_id;
