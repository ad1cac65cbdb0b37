INSERT INTO deferred_schema_version (version, name, checksum) VALUES (@version, @name, @checksum);
