-- Stored tasks of one service by status ('Unreadable' for rows whose JSON cannot be read).
SELECT coalesce(deferred_try_jsonb(payloadbinary) ->> 'status', 'Unreadable') AS status, count(*) AS tasks
FROM orleansstorage
WHERE serviceid = @service_id
  AND graintypestring = @state_name
  AND payloadbinary IS NOT NULL
GROUP BY 1;
