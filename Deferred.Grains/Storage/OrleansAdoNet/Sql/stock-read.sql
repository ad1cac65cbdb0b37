-- One task row of the stock store by task id, for a reader without a silo (the CLI when no silo answers): the row's
-- JSON as the provider stored it, decoded by OrleansAdoNetStateSerializer like a grain's read. The provider itself
-- finds a row by its grain id hashes; this reads by the key of ix_orleansstorage_deferred_scan (0005) instead,
-- (serviceid, graintypestring, grainidextensionstring) where payloadbinary IS NOT NULL. Task ids always hold a
-- non-hex character, so grainidn0 and grainidn1 are 0 (see 0005).
SELECT s.payloadbinary
FROM orleansstorage AS s
WHERE s.serviceid = @service_id
  AND s.graintypestring = @state_name
  AND s.grainidextensionstring = @task_id
  AND s.payloadbinary IS NOT NULL
  AND s.grainidn0 = 0
  AND s.grainidn1 = 0;
