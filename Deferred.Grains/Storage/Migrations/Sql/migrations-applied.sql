SELECT version, name, checksum FROM deferred_schema_version ORDER BY version;
