-- Removes a schedule. Occurrences already enqueued stay and run; no new one fires.
DELETE FROM deferred_schedules
WHERE service_id = @service_id AND name = @name;
