-- The migrator's own bookkeeping table: one row per applied migration, with the checksum of the file applied, and
-- whether older builds may keep running on the schema it produced (its file says "-- deferred: additive").
CREATE TABLE IF NOT EXISTS deferred_schema_version (
    version    integer     PRIMARY KEY CHECK (version > 0),
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE deferred_schema_version ADD COLUMN IF NOT EXISTS additive boolean NOT NULL DEFAULT false;
