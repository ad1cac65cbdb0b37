-- Operator counts over the stock store: a service's task rows by status and task type; the rows stock-list.sql lists.
-- Rows whose JSON cannot be read, or whose status is not Pending, Failed or Dead, are left out (count-by-status.sql
-- reports unreadable ones as 'Unreadable').
SELECT d.doc ->> 'status' AS status, coalesce(d.doc ->> 'taskType', '') AS task_type, count(*) AS tasks
FROM orleansstorage AS o
CROSS JOIN LATERAL (SELECT deferred_try_jsonb(o.payloadbinary) AS doc) AS d
WHERE o.serviceid = @service_id
  AND o.graintypestring = @state_name
  AND o.payloadbinary IS NOT NULL
  AND d.doc ->> 'status' IN ('Pending', 'Failed', 'Dead')
GROUP BY 2, 1
ORDER BY 2, 1;
