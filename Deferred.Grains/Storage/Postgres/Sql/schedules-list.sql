-- Every schedule of a service, by name (a service has a handful to a few thousand; the operator lists them all).
SELECT name, task_type, NULL::bytea AS payload, cron, interval_ms, time_zone, missed_policy, max_attempts, paused, next_at, last_occurrence, source, version
FROM deferred_schedules
WHERE service_id = @service_id
ORDER BY name;
