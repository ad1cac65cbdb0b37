-- When this silo's scheduler should look again: the earliest next occurrence among the schedules it can fire, and the
-- database's clock to measure the wait against.
SELECT (SELECT min(next_at)
        FROM deferred_schedules
        WHERE service_id = @service_id
          AND NOT paused
          AND task_type = ANY(@task_types)
          AND (source = 'runtime' OR name = ANY(@code_names))) AS next_at,
       clock_timestamp() AS db_now;
