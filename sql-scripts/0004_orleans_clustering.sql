-- 0004: cluster membership.
--
-- Read by Microsoft.Orleans.Clustering.AdoNet 10.4.2 (AdoNetClusteringTable on silos,
-- AdoNetGatewayListProvider on clients). At start-up it loads every OrleansQuery row and refuses to start
-- unless all of these keys are present: MembershipReadAllKey, MembershipReadRowKey, InsertMembershipKey,
-- UpdateMembershipKey, UpdateIAmAlivetimeKey, InsertMembershipVersionKey, DeleteMembershipTableEntriesKey,
-- GatewaysQueryKey, CleanupDefunctSiloEntriesKey.
--
-- Contract the provider relies on:
--   * one version row per cluster (deploymentid = ClusterOptions.ClusterId). Its integer "version" is the
--     membership table's ETag; inserting or updating a silo row succeeds only if the caller's version is
--     still current, and bumps it in the same transaction. Either both changes happen or neither does;
--   * insert/update answer with one integer column, > 0 on success and 0 on failure (then the silo
--     re-reads and retries);
--   * the read queries always return at least the version row (LEFT JOIN), with NULL silo columns when
--     there is no matching silo; the provider tells the two apart by StartTime being NULL;
--   * columns are matched by name.
-- Status holds Orleans' SiloStatus as an integer (3 = Active, 6 = Dead).

CREATE TABLE IF NOT EXISTS orleansmembershipversiontable
(
    deploymentid varchar(150)   NOT NULL,
    timestamp    timestamptz(3) NOT NULL DEFAULT now(),
    version      integer        NOT NULL DEFAULT 0,

    CONSTRAINT pk_orleansmembershipversiontable_deploymentid PRIMARY KEY (deploymentid)
);

CREATE TABLE IF NOT EXISTS orleansmembershiptable
(
    deploymentid varchar(150)   NOT NULL,
    address      varchar(45)    NOT NULL,
    port         integer        NOT NULL,
    generation   integer        NOT NULL,
    siloname     varchar(150)   NOT NULL,
    hostname     varchar(150)   NOT NULL,
    status       integer        NOT NULL,
    proxyport    integer        NULL,
    suspecttimes varchar(8000)  NULL,   -- "silo,time|silo,time", written and parsed by Orleans
    starttime    timestamptz(3) NOT NULL,
    iamalivetime timestamptz(3) NOT NULL,

    CONSTRAINT pk_membershiptable_deploymentid
        PRIMARY KEY (deploymentid, address, port, generation),
    CONSTRAINT fk_membershiptable_membershipversiontable_deploymentid
        FOREIGN KEY (deploymentid) REFERENCES orleansmembershipversiontable (deploymentid)
);

-- Heartbeat. Not versioned: Orleans neither expects it to fail nor looks at a result.
CREATE OR REPLACE FUNCTION update_i_am_alive_time(
    p_deploymentid varchar,
    p_address      varchar,
    p_port         integer,
    p_generation   integer,
    p_iamalivetime timestamptz)
    RETURNS void
    LANGUAGE sql
AS $function$
    UPDATE orleansmembershiptable AS m
    SET iamalivetime = p_iamalivetime
    WHERE m.deploymentid = p_deploymentid
      AND m.address = p_address
      AND m.port = p_port
      AND m.generation = p_generation;
$function$;

-- Creates the cluster's version row unless it exists; returns 1 if it was created, 0 if it already existed.
CREATE OR REPLACE FUNCTION insert_membership_version(
    p_deploymentid varchar)
    RETURNS TABLE (row_count integer)
    LANGUAGE sql
AS $function$
    WITH inserted AS
    (
        INSERT INTO orleansmembershipversiontable (deploymentid)
        VALUES (p_deploymentid)
        ON CONFLICT (deploymentid) DO NOTHING
        RETURNING 1
    )
    SELECT count(*)::integer FROM inserted;
$function$;

-- Adds a silo row and bumps the table version, but only if the silo row is new and p_version is the
-- current version. Returns 1 on success, 0 (with nothing changed) otherwise.
CREATE OR REPLACE FUNCTION insert_membership(
    p_deploymentid varchar,
    p_address      varchar,
    p_port         integer,
    p_generation   integer,
    p_siloname     varchar,
    p_hostname     varchar,
    p_status       integer,
    p_proxyport    integer,
    p_starttime    timestamptz,
    p_iamalivetime timestamptz,
    p_version      integer)
    RETURNS TABLE (row_count integer)
    LANGUAGE plpgsql
AS $function$
DECLARE
    affected integer;
BEGIN
    -- The inner block is a savepoint: raising inside it undoes the insert when the version check fails.
    -- (RAISE rather than ASSERT, because ASSERT is skipped when plpgsql.check_asserts is off.)
    BEGIN
        INSERT INTO orleansmembershiptable
            (deploymentid, address, port, generation, siloname, hostname,
             status, proxyport, starttime, iamalivetime)
        VALUES
            (p_deploymentid, p_address, p_port, p_generation, p_siloname, p_hostname,
             p_status, p_proxyport, p_starttime, p_iamalivetime)
        ON CONFLICT (deploymentid, address, port, generation) DO NOTHING;

        GET DIAGNOSTICS affected = ROW_COUNT;
        IF affected = 0 THEN
            RETURN QUERY SELECT 0;
            RETURN;
        END IF;

        UPDATE orleansmembershipversiontable AS v
        SET timestamp = now(),
            version   = v.version + 1
        WHERE v.deploymentid = p_deploymentid
          AND v.version = p_version;

        GET DIAGNOSTICS affected = ROW_COUNT;
        IF affected = 0 THEN
            RAISE EXCEPTION 'membership version % is stale', p_version;
        END IF;
    EXCEPTION
        WHEN raise_exception THEN
            RETURN QUERY SELECT 0;
            RETURN;
    END;

    RETURN QUERY SELECT 1;
END
$function$;

-- Changes a silo's status, suspicions and heartbeat and bumps the table version, but only if p_version is
-- the current version and the silo row exists. Returns 1 on success, 0 (with nothing changed) otherwise.
CREATE OR REPLACE FUNCTION update_membership(
    p_deploymentid varchar,
    p_address      varchar,
    p_port         integer,
    p_generation   integer,
    p_status       integer,
    p_suspecttimes varchar,
    p_iamalivetime timestamptz,
    p_version      integer)
    RETURNS TABLE (row_count integer)
    LANGUAGE plpgsql
AS $function$
DECLARE
    affected integer;
BEGIN
    BEGIN
        UPDATE orleansmembershipversiontable AS v
        SET timestamp = now(),
            version   = v.version + 1
        WHERE v.deploymentid = p_deploymentid
          AND v.version = p_version;

        GET DIAGNOSTICS affected = ROW_COUNT;
        IF affected = 0 THEN
            RETURN QUERY SELECT 0;
            RETURN;
        END IF;

        UPDATE orleansmembershiptable AS m
        SET status       = p_status,
            suspecttimes = p_suspecttimes,
            iamalivetime = p_iamalivetime
        WHERE m.deploymentid = p_deploymentid
          AND m.address = p_address
          AND m.port = p_port
          AND m.generation = p_generation;

        GET DIAGNOSTICS affected = ROW_COUNT;
        IF affected = 0 THEN
            -- Undo the version bump: there was no such silo.
            RAISE EXCEPTION 'no membership row for %:%@%', p_address, p_port, p_generation;
        END IF;
    EXCEPTION
        WHEN raise_exception THEN
            RETURN QUERY SELECT 0;
            RETURN;
    END;

    RETURN QUERY SELECT 1;
END
$function$;

-- Query texts. Parameters: @DeploymentId, @Address, @Port, @Generation, @SiloName, @HostName, @Status,
-- @ProxyPort, @SuspectTimes, @StartTime, @IAmAliveTime, @Version.
INSERT INTO orleansquery (querykey, querytext)
VALUES
(
    'UpdateIAmAlivetimeKey',
    $q$
    SELECT update_i_am_alive_time(@DeploymentId, @Address, @Port, @Generation, @IAmAliveTime);
    $q$
),
(
    'InsertMembershipVersionKey',
    $q$
    SELECT row_count FROM insert_membership_version(@DeploymentId);
    $q$
),
(
    'InsertMembershipKey',
    $q$
    SELECT row_count
    FROM insert_membership(@DeploymentId, @Address, @Port, @Generation, @SiloName, @HostName,
                           @Status, @ProxyPort, @StartTime, @IAmAliveTime, @Version);
    $q$
),
(
    'UpdateMembershipKey',
    $q$
    SELECT row_count
    FROM update_membership(@DeploymentId, @Address, @Port, @Generation, @Status, @SuspectTimes,
                           @IAmAliveTime, @Version);
    $q$
),
(
    'MembershipReadRowKey',
    $q$
    SELECT v.deploymentid,
           m.address, m.port, m.generation, m.siloname, m.hostname, m.status, m.proxyport,
           m.suspecttimes, m.starttime, m.iamalivetime,
           v.version
    FROM orleansmembershipversiontable AS v
    LEFT JOIN orleansmembershiptable AS m
           ON m.deploymentid = v.deploymentid
          AND m.address = @Address
          AND m.port = @Port
          AND m.generation = @Generation
    WHERE v.deploymentid = @DeploymentId;
    $q$
),
(
    'MembershipReadAllKey',
    $q$
    SELECT v.deploymentid,
           m.address, m.port, m.generation, m.siloname, m.hostname, m.status, m.proxyport,
           m.suspecttimes, m.starttime, m.iamalivetime,
           v.version
    FROM orleansmembershipversiontable AS v
    LEFT JOIN orleansmembershiptable AS m
           ON m.deploymentid = v.deploymentid
    WHERE v.deploymentid = @DeploymentId;
    $q$
),
(
    -- Two statements in one command (the silo rows reference the version row).
    'DeleteMembershipTableEntriesKey',
    $q$
    DELETE FROM orleansmembershiptable WHERE deploymentid = @DeploymentId;
    DELETE FROM orleansmembershipversiontable WHERE deploymentid = @DeploymentId;
    $q$
),
(
    -- Orleans passes @Status = 3 (Active).
    'GatewaysQueryKey',
    $q$
    SELECT address, proxyport, generation
    FROM orleansmembershiptable
    WHERE deploymentid = @DeploymentId
      AND status = @Status
      AND proxyport > 0;
    $q$
),
(
    -- Removes rows of silos that are not Active and have not sent a heartbeat since @IAmAliveTime.
    'CleanupDefunctSiloEntriesKey',
    $q$
    DELETE FROM orleansmembershiptable
    WHERE deploymentid = @DeploymentId
      AND iamalivetime < @IAmAliveTime
      AND status <> 3;
    $q$
)
ON CONFLICT (querykey) DO UPDATE SET querytext = excluded.querytext;
