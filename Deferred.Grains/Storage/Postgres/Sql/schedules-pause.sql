-- Pauses a schedule: no occurrence fires until it is resumed. Returns the row whether or not it was paused already.
UPDATE deferred_schedules
SET paused = true,
    version = version + CASE WHEN paused THEN 0 ELSE 1 END,
    updated_at = now()
WHERE service_id = @service_id AND name = @name
RETURNING name;
