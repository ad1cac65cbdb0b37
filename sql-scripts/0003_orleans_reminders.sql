-- 0003: the reminder table.
--
-- Read by Microsoft.Orleans.Reminders.AdoNet 10.4.2 (AdoNetReminderTable). At silo start it loads every
-- OrleansQuery row and refuses to start unless all of these keys are present: UpsertReminderRowKey,
-- ReadReminderRowsKey, ReadReminderRowKey, ReadRangeRows1Key, ReadRangeRows2Key, DeleteReminderRowKey,
-- DeleteReminderRowsKey.
--
-- Contract the provider relies on:
--   * rows come back with the columns GrainId, ReminderName, StartTime, Period (bigint, milliseconds)
--     and Version, matched by name;
--   * the ETag is "version": 0 when a reminder is first stored, +1 on every re-registration;
--   * deleting a single reminder succeeds only for the current version and answers with one integer
--     column that is > 0 on success and 0 otherwise.
--
-- grainid is GrainId.ToString() ("<grain type>/<key>"), so type + key must fit in 150 characters.
-- grainhash is the grain's uniform hash cast to a signed integer; each silo reads the hash ranges it owns
-- every few minutes, which is why (serviceid, grainhash) is indexed here (upstream has no such index).

CREATE TABLE IF NOT EXISTS orleansreminderstable
(
    serviceid    varchar(150)   NOT NULL,
    grainid      varchar(150)   NOT NULL,
    remindername varchar(150)   NOT NULL,
    starttime    timestamptz(3) NOT NULL,
    period       bigint         NOT NULL,
    grainhash    integer        NOT NULL,
    version      integer        NOT NULL,

    CONSTRAINT pk_reminderstable_serviceid_grainid_remindername
        PRIMARY KEY (serviceid, grainid, remindername)
);

CREATE INDEX IF NOT EXISTS ix_orleansreminderstable_serviceid_grainhash
    ON orleansreminderstable (serviceid, grainhash);

-- Insert or replace one reminder; returns its new version (column "version").
CREATE OR REPLACE FUNCTION upsert_reminder_row(
    p_serviceid    varchar,
    p_grainid      varchar,
    p_remindername varchar,
    p_starttime    timestamptz,
    p_period       bigint,
    p_grainhash    integer)
    RETURNS TABLE (version integer)
    LANGUAGE sql
AS $function$
    INSERT INTO orleansreminderstable AS r
        (serviceid, grainid, remindername, starttime, period, grainhash, version)
    VALUES
        (p_serviceid, p_grainid, p_remindername, p_starttime, p_period, p_grainhash, 0)
    ON CONFLICT (serviceid, grainid, remindername) DO UPDATE
        SET starttime = excluded.starttime,
            period    = excluded.period,
            grainhash = excluded.grainhash,
            version   = r.version + 1
    RETURNING r.version;
$function$;

-- Delete one reminder if it is still at the expected version; returns the number of rows deleted (0 or 1).
CREATE OR REPLACE FUNCTION delete_reminder_row(
    p_serviceid    varchar,
    p_grainid      varchar,
    p_remindername varchar,
    p_version      integer)
    RETURNS TABLE (row_count integer)
    LANGUAGE sql
AS $function$
    WITH deleted AS
    (
        DELETE FROM orleansreminderstable AS r
        WHERE r.serviceid = p_serviceid
          AND r.grainid = p_grainid
          AND r.remindername = p_remindername
          AND r.version = p_version
        RETURNING 1
    )
    SELECT count(*)::integer FROM deleted;
$function$;

-- Query texts. Parameters: @ServiceId, @GrainId, @ReminderName, @StartTime, @Period, @GrainHash,
-- @Version, @BeginHash, @EndHash.
INSERT INTO orleansquery (querykey, querytext)
VALUES
(
    'UpsertReminderRowKey',
    $q$
    SELECT version
    FROM upsert_reminder_row(@ServiceId, @GrainId, @ReminderName, @StartTime, @Period, @GrainHash);
    $q$
),
(
    'ReadReminderRowsKey',
    $q$
    SELECT grainid, remindername, starttime, period, version
    FROM orleansreminderstable
    WHERE serviceid = @ServiceId
      AND grainid = @GrainId;
    $q$
),
(
    'ReadReminderRowKey',
    $q$
    SELECT grainid, remindername, starttime, period, version
    FROM orleansreminderstable
    WHERE serviceid = @ServiceId
      AND grainid = @GrainId
      AND remindername = @ReminderName;
    $q$
),
(
    -- Used when (int)BeginHash < (int)EndHash: the range (BeginHash, EndHash].
    'ReadRangeRows1Key',
    $q$
    SELECT grainid, remindername, starttime, period, version
    FROM orleansreminderstable
    WHERE serviceid = @ServiceId
      AND grainhash > @BeginHash
      AND grainhash <= @EndHash;
    $q$
),
(
    -- Used otherwise: the range wraps around, i.e. above BeginHash or up to and including EndHash.
    'ReadRangeRows2Key',
    $q$
    SELECT grainid, remindername, starttime, period, version
    FROM orleansreminderstable
    WHERE serviceid = @ServiceId
      AND (grainhash > @BeginHash OR grainhash <= @EndHash);
    $q$
),
(
    'DeleteReminderRowKey',
    $q$
    SELECT row_count
    FROM delete_reminder_row(@ServiceId, @GrainId, @ReminderName, @Version);
    $q$
),
(
    'DeleteReminderRowsKey',
    $q$
    DELETE FROM orleansreminderstable
    WHERE serviceid = @ServiceId;
    $q$
)
ON CONFLICT (querykey) DO UPDATE SET querytext = excluded.querytext;
