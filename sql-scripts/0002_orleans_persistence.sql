-- 0002: grain state storage.
--
-- Read by Microsoft.Orleans.Persistence.AdoNet 10.4.2 (AdoNetGrainStorage). At silo start it loads the
-- OrleansQuery rows WriteToStorageKey, ReadFromStorageKey and ClearStorageKey (required) and
-- DeleteStorageKey (needed when DeleteStateOnClear = true).
--
-- Contract the provider relies on (column and parameter names are matched by name):
--   * the ETag is the integer "version" column: 1 after the first insert, +1 on every write or clear;
--   * a write or clear that does not apply returns the version it was given (or NULL / no row), which the
--     provider turns into an InconsistentStateException;
--   * a read returns at most one row, otherwise ReadStateAsync fails.
--
-- Differences from the upstream PostgreSQL script, none of which change that contract:
--   * modifiedon is timestamptz and is always written with now() (upstream's base script still had
--     timestamp without time zone, and its later migration wrote a UTC wall-clock value into a timestamptz
--     column, which shifts it by the session time zone);
--   * a unique index makes a second row for the same grain state impossible. Upstream inserts with
--     "WHERE NOT EXISTS" under READ COMMITTED, so two concurrent first writes could both insert, after which
--     the grain could never be read again. Here the first write uses ON CONFLICT DO NOTHING against that
--     index: the loser waits for the winner to commit and then reports a version conflict;
--   * a clear also refreshes modifiedon, so the age of a cleared (tombstone) row is visible.

CREATE TABLE IF NOT EXISTS orleansstorage
(
    grainidhash            integer      NOT NULL,
    grainidn0              bigint       NOT NULL,
    grainidn1              bigint       NOT NULL,
    graintypehash          integer      NOT NULL,
    graintypestring        varchar(512) NOT NULL,  -- the normalised state name, not the grain class
    grainidextensionstring varchar(512),           -- string keys live here whole; NULL when there is none
    serviceid              varchar(150) NOT NULL,
    payloadbinary          bytea,                  -- NULL after a clear with DeleteStateOnClear = false
    modifiedon             timestamptz  NOT NULL,
    version                integer
);

-- The provider's own lookups filter on both hashes first.
CREATE INDEX IF NOT EXISTS ix_orleansstorage
    ON orleansstorage (grainidhash, graintypehash);

-- One row per grain state. NULLS NOT DISTINCT (PostgreSQL 15+) because Guid and integer keys without an
-- extension store NULL there, and a plain unique index would let two such NULL rows coexist; unlike
-- coalesce(ext, '') it still keeps a NULL extension and an empty one apart, exactly as the provider does.
CREATE UNIQUE INDEX IF NOT EXISTS ux_orleansstorage_grainstate
    ON orleansstorage (serviceid, graintypestring, grainidhash, grainidn0, grainidn1, grainidextensionstring)
    NULLS NOT DISTINCT;

-- Called through WriteToStorageKey. Returns one row, newgrainstateversion:
--   _grainstateversion NULL (state never stored): 1 if the row was inserted, NULL if one already existed;
--   otherwise: _grainstateversion + 1 if the stored version matched, else _grainstateversion unchanged.
CREATE OR REPLACE FUNCTION writetostorage(
    _grainidhash            integer,
    _grainidn0              bigint,
    _grainidn1              bigint,
    _graintypehash          integer,
    _graintypestring        varchar,
    _grainidextensionstring varchar,
    _serviceid              varchar,
    _grainstateversion      integer,
    _payloadbinary          bytea)
    RETURNS TABLE (newgrainstateversion integer)
    LANGUAGE plpgsql
AS $function$
DECLARE
    affected integer;
BEGIN
    IF _grainstateversion IS NULL THEN
        INSERT INTO orleansstorage AS s
            (grainidhash, grainidn0, grainidn1, graintypehash, graintypestring,
             grainidextensionstring, serviceid, payloadbinary, modifiedon, version)
        VALUES
            (_grainidhash, _grainidn0, _grainidn1, _graintypehash, _graintypestring,
             _grainidextensionstring, _serviceid, _payloadbinary, now(), 1)
        ON CONFLICT (serviceid, graintypestring, grainidhash, grainidn0, grainidn1, grainidextensionstring)
            DO NOTHING;

        GET DIAGNOSTICS affected = ROW_COUNT;
        -- NULL tells the provider another activation got there first.
        newgrainstateversion := CASE WHEN affected > 0 THEN 1 END;
    ELSE
        UPDATE orleansstorage AS s
        SET payloadbinary = _payloadbinary,
            modifiedon    = now(),
            version       = s.version + 1
        WHERE s.grainidhash = _grainidhash
          AND s.graintypehash = _graintypehash
          AND s.grainidn0 = _grainidn0
          AND s.grainidn1 = _grainidn1
          AND s.graintypestring = _graintypestring
          AND s.grainidextensionstring IS NOT DISTINCT FROM _grainidextensionstring
          AND s.serviceid = _serviceid
          AND s.version = _grainstateversion;

        GET DIAGNOSTICS affected = ROW_COUNT;
        newgrainstateversion := CASE WHEN affected > 0 THEN _grainstateversion + 1
                                     ELSE _grainstateversion END;
    END IF;

    RETURN NEXT;
END
$function$;

-- Query texts. The provider binds @GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash, @GrainTypeString,
-- @GrainIdExtensionString (NULL for keys without one) and @ServiceId for every operation, plus
-- @GrainStateVersion for write/clear/delete and @PayloadBinary for write. It reads the result columns
-- NewGrainStateVersion (write), PayloadBinary and Version (read), and the first column (clear/delete).
INSERT INTO orleansquery (querykey, querytext)
VALUES
(
    'WriteToStorageKey',
    $q$
    SELECT newgrainstateversion
    FROM writetostorage(@GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash, @GrainTypeString,
                        @GrainIdExtensionString, @ServiceId, @GrainStateVersion, @PayloadBinary);
    $q$
),
(
    -- The middle column is not read by the provider; it is kept so the row has the shape of upstream's.
    'ReadFromStorageKey',
    $q$
    SELECT payloadbinary,
           now() AT TIME ZONE 'utc',
           version
    FROM orleansstorage
    WHERE grainidhash = @GrainIdHash
      AND graintypehash = @GrainTypeHash
      AND grainidn0 = @GrainIdN0
      AND grainidn1 = @GrainIdN1
      AND graintypestring = @GrainTypeString
      AND grainidextensionstring IS NOT DISTINCT FROM @GrainIdExtensionString
      AND serviceid = @ServiceId;
    $q$
),
(
    -- DeleteStateOnClear = false: keep the row as a tombstone (NULL payload) and bump its version,
    -- which becomes the grain's new ETag.
    'ClearStorageKey',
    $q$
    UPDATE orleansstorage
    SET payloadbinary = NULL,
        modifiedon    = now(),
        version       = version + 1
    WHERE grainidhash = @GrainIdHash
      AND graintypehash = @GrainTypeHash
      AND grainidn0 = @GrainIdN0
      AND grainidn1 = @GrainIdN1
      AND graintypestring = @GrainTypeString
      AND grainidextensionstring IS NOT DISTINCT FROM @GrainIdExtensionString
      AND serviceid = @ServiceId
      AND version = @GrainStateVersion
    RETURNING version AS newgrainstateversion;
    $q$
),
(
    -- DeleteStateOnClear = true: remove the row. version + 1 is returned only so that the provider's
    -- "did the version move?" check passes; it then sets the grain's ETag to NULL.
    'DeleteStorageKey',
    $q$
    DELETE FROM orleansstorage
    WHERE grainidhash = @GrainIdHash
      AND graintypehash = @GrainTypeHash
      AND grainidn0 = @GrainIdN0
      AND grainidn1 = @GrainIdN1
      AND graintypestring = @GrainTypeString
      AND grainidextensionstring IS NOT DISTINCT FROM @GrainIdExtensionString
      AND serviceid = @ServiceId
      AND version = @GrainStateVersion
    RETURNING version + 1 AS newgrainstateversion;
    $q$
)
ON CONFLICT (querykey) DO UPDATE SET querytext = excluded.querytext;
