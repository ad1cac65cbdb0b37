-- The applied migrations newer than the running build that older builds cannot run on (not marked additive).
SELECT version, name
FROM deferred_schema_version
WHERE version > @latest
  AND NOT additive
ORDER BY version;
