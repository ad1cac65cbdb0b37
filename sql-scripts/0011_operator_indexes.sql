-- 0011: indexes for the operator listing (IDeferredTaskOperator.ListAsync): Storage/Queries/tasks-list*.sql over
-- the default store, stock-list*.sql over the stock store.
--
-- A page lists a service's tasks in (next run, task id) order after a keyset, optionally narrowed to one status,
-- one task type, a due-time range and a substring of the last error. Each filter shape has a list statement of its
-- own, which reads each stored status separately (a lateral join over the three), so each shape is served by ordered
-- index reads that start at the keyset and stop after one page (per status); no shape sorts or filters its way
-- through the whole service:
--
--   neither a type nor an error substring   (service, status, next run, id)                  _list_status
--   a task type                             (service, type, status, next run, id)            _list_type
--   an error substring (maybe a type)       (service, status, next run, id), with an error   _list_errors
--
-- A status picks the ranges read, a due-time range bounds "next run" within them. An error substring (and a type
-- with it) is still checked row by row, but only over tasks that have an error (the failed and dead ones, mostly): a
-- rare substring reads those, never the pending backlog. The errors index is partial, so writes of tasks without an
-- error (every insert) do not maintain it.
--
-- Locking: CREATE INDEX (not CONCURRENTLY: migrations run in a transaction) blocks writes to the table while it
-- builds. Where a table is large, create these indexes CONCURRENTLY under the same names before migrating; the
-- IF NOT EXISTS clauses then skip them.

-- Default store -------------------------------------------------------------------------------------------

CREATE INDEX IF NOT EXISTS ix_deferred_tasks_list_status
    ON deferred_tasks (service_id, status, next_run_at, task_id);

CREATE INDEX IF NOT EXISTS ix_deferred_tasks_list_type
    ON deferred_tasks (service_id, task_type, status, next_run_at, task_id);

CREATE INDEX IF NOT EXISTS ix_deferred_tasks_list_errors
    ON deferred_tasks (service_id, status, next_run_at, task_id)
    WHERE last_error IS NOT NULL;

-- Stock store ---------------------------------------------------------------------------------------------
--
-- The task record is JSON in payloadbinary, so the indexes are over expressions, and an index expression must be
-- IMMUTABLE. deferred_try_jsonb (0005) is declared IMMUTABLE (0008 made it PARALLEL UNSAFE, which indexes allow);
-- ->> is immutable. The text-to-timestamptz cast is not (it reads the session's DateStyle and TimeZone), hence
-- deferred_try_timestamptz below.
--
-- The indexes are partial on the task state name: other grain states in orleansstorage are never parsed. A
-- statement can use them only when it names 'deferred-task' literally (TaskRecord.StateName), as stock-list*.sql do.
-- Every write of a task row evaluates their expressions, each parsing the row's JSON: a few tens of microseconds of
-- database CPU per write in all, on a store that spends a round trip and a commit on every write.

-- An ISO 8601 time with an explicit offset ("2026-11-29T06:27:47.8812345+00:00", "…Z"), as the stock store's
-- serializer writes it, or NULL for anything else. Only explicit-offset ISO 8601 is accepted, and PostgreSQL reads
-- that the same way under every DateStyle and TimeZone: the result depends on the argument alone, so IMMUTABLE is
-- true here. A value that cannot be read (a hand-edited row) is NULL rather than an error, because an error in an
-- index expression would fail the provider's write of that row. PARALLEL UNSAFE: the exception block starts a
-- subtransaction (see 0008).
CREATE OR REPLACE FUNCTION deferred_try_timestamptz(_value text)
    RETURNS timestamptz
    LANGUAGE plpgsql
    IMMUTABLE
    PARALLEL UNSAFE
AS $function$
BEGIN
    IF _value !~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2}(:\d{2})?)$' THEN
        RETURN NULL;
    END IF;
    RETURN _value::timestamptz;
EXCEPTION
    WHEN datetime_field_overflow OR invalid_datetime_format OR invalid_time_zone_displacement_value THEN
        RETURN NULL;
END
$function$;

-- The due time of a task row as the listing orders by it: its nextRunAt, or 0001-01-01 (the default a missing or
-- unreadable nextRunAt reads as, and the value such a row keeps once the sweep has stored it as dead) so that no
-- row with a status is left out. stock-list*.sql repeat this expression verbatim.
CREATE INDEX IF NOT EXISTS ix_orleansstorage_deferred_list_status
    ON orleansstorage (
        serviceid,
        (deferred_try_jsonb(payloadbinary) ->> 'status'),
        coalesce(deferred_try_timestamptz(deferred_try_jsonb(payloadbinary) ->> 'nextRunAt'), timestamptz '0001-01-01 00:00:00+00'),
        grainidextensionstring)
    WHERE graintypestring = 'deferred-task' AND payloadbinary IS NOT NULL;

CREATE INDEX IF NOT EXISTS ix_orleansstorage_deferred_list_type
    ON orleansstorage (
        serviceid,
        (deferred_try_jsonb(payloadbinary) ->> 'taskType'),
        (deferred_try_jsonb(payloadbinary) ->> 'status'),
        coalesce(deferred_try_timestamptz(deferred_try_jsonb(payloadbinary) ->> 'nextRunAt'), timestamptz '0001-01-01 00:00:00+00'),
        grainidextensionstring)
    WHERE graintypestring = 'deferred-task' AND payloadbinary IS NOT NULL;

CREATE INDEX IF NOT EXISTS ix_orleansstorage_deferred_list_errors
    ON orleansstorage (
        serviceid,
        (deferred_try_jsonb(payloadbinary) ->> 'status'),
        coalesce(deferred_try_timestamptz(deferred_try_jsonb(payloadbinary) ->> 'nextRunAt'), timestamptz '0001-01-01 00:00:00+00'),
        grainidextensionstring)
    WHERE graintypestring = 'deferred-task' AND payloadbinary IS NOT NULL
      AND (deferred_try_jsonb(payloadbinary) -> 'lastError') IS NOT NULL;
