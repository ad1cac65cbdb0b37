-- The migrator's own bookkeeping table: one row per applied migration, with the checksum of the file applied.
CREATE TABLE IF NOT EXISTS deferred_schema_version (
    version    integer     PRIMARY KEY CHECK (version > 0),
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
