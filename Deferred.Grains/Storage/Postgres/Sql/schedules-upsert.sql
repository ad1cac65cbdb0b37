-- Creates or replaces a schedule (AddDeferredSchedule at silo start: @source 'code'; IDeferredTasks.ScheduleAsync:
-- 'runtime'). A changed timing (cron, interval or time zone) takes @next_at, computed from now; an unchanged one keeps
-- the stored next_at, so a silo restart neither skips nor repeats an occurrence. paused, last_occurrence and
-- created_at are always kept: an operator's pause survives restarts and replacements. A runtime schedule never
-- replaces a code schedule of the same name (@replace_code false): then nothing is returned. A code schedule
-- replaces whatever holds its name.
WITH old AS (SELECT definition FROM deferred_schedules WHERE service_id = @service_id AND name = @name)
INSERT INTO deferred_schedules AS s
    (service_id, name, task_type, payload, cron, interval_ms, time_zone, missed_policy, max_attempts, next_at, source, definition)
VALUES (@service_id, @name, @task_type, @payload, @cron, @interval_ms, @time_zone, @missed_policy, @max_attempts, @next_at, @source, @definition)
ON CONFLICT (service_id, name) DO UPDATE
SET task_type     = EXCLUDED.task_type,
    payload       = EXCLUDED.payload,
    cron          = EXCLUDED.cron,
    interval_ms   = EXCLUDED.interval_ms,
    time_zone     = EXCLUDED.time_zone,
    missed_policy = EXCLUDED.missed_policy,
    max_attempts  = EXCLUDED.max_attempts,
    next_at       = CASE
                        WHEN s.cron IS NOT DISTINCT FROM EXCLUDED.cron
                         AND s.interval_ms IS NOT DISTINCT FROM EXCLUDED.interval_ms
                         AND s.time_zone = EXCLUDED.time_zone
                        THEN s.next_at
                        ELSE EXCLUDED.next_at
                    END,
    source        = EXCLUDED.source,
    definition    = EXCLUDED.definition,
    version       = s.version + 1,
    updated_at    = now()
WHERE @replace_code OR s.source = 'runtime'
RETURNING (xmax = 0) AS created, ((SELECT definition FROM old) IS DISTINCT FROM @definition) AS changed, next_at;
