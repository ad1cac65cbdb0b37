-- Resumes a paused schedule at @next_at, the first occurrence after now: what came due while it was paused is skipped.
-- Conditional on the version read, so a resume racing another change loses and reads again.
UPDATE deferred_schedules
SET paused = false,
    next_at = @next_at,
    version = version + 1,
    updated_at = now()
WHERE service_id = @service_id AND name = @name AND version = @version AND paused
RETURNING name;
