-- Operator listing over the stock store, for a filter with an error substring (with or without a task type): as
-- stock-list.sql (see there), reading ix_orleansstorage_deferred_list_errors (0011) per status: only rows with a
-- lastError, mostly the failed and dead ones, never the pending backlog. The substring (of the error's type or
-- message, ignoring case) and the task type are checked row by row, so a rare substring reads every task with an
-- error in the status range. (Planned for a given type, PostgreSQL may read ix_orleansstorage_deferred_list_type
-- instead when that type has fewer rows.)
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
          AND (d.doc -> 'lastError') IS NOT NULL
          AND (@task_type IS NULL OR d.doc ->> 'taskType' = @task_type)
          AND (k.due, o.grainidextensionstring) > (@after_due::timestamptz, @after_id)
          AND k.due < @due_before
          AND (strpos(lower(d.doc -> 'lastError' ->> 'type'), lower(@error)) > 0
               OR strpos(lower(d.doc -> 'lastError' ->> 'message'), lower(@error)) > 0)
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
