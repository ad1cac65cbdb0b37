INSERT INTO deferred_schema_version (version, name, checksum, additive) VALUES (@version, @name, @checksum, @additive);
