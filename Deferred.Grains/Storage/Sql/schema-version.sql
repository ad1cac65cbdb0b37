-- The highest applied Deferred migration.
SELECT coalesce(max(version), 0) FROM deferred_schema_version;
