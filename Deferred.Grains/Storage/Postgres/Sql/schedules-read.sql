-- One schedule of a service.
SELECT name, task_type, payload, cron, interval_ms, time_zone, missed_policy, max_attempts, paused, next_at, last_occurrence, source, version
FROM deferred_schedules
WHERE service_id = @service_id AND name = @name;
