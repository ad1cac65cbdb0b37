-- After a claim, in its transaction: moves each fired schedule to its next occurrence (and pauses one whose stored
-- definition cannot be read). The rows are locked by the claim; the version check guards against a caller that
-- did not claim them.
UPDATE deferred_schedules AS s
SET next_at = u.next_at,
    last_occurrence = coalesce(u.last_occurrence, s.last_occurrence),
    paused = s.paused OR u.pause,
    version = s.version + 1,
    updated_at = now()
FROM unnest(@names, @versions, @next_ats, @last_occurrences, @pauses) AS u(name, version, next_at, last_occurrence, pause)
WHERE s.service_id = @service_id AND s.name = u.name AND s.version = u.version;
