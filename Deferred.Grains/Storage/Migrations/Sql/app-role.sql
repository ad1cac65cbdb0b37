-- Creates (or updates) the least-privilege role a silo can run under: it may connect, read and write the rows
-- of Deferred's and Orleans' tables and call their functions, and nothing else: no CREATE on the schema, no
-- ownership (so no ALTER, DROP or TRUNCATE), not a superuser. Migrations run under an owner role instead.
-- Only the product's tables: the sample's demo_completions (dropped from the schema by migration 0010) is granted
-- by Deferred.Silo itself.
-- The role name and password arrive as parameters through session settings; identifiers and literals are
-- quoted by format(%I, %L), never spliced by the caller.
SELECT set_config('deferred.app_role', @role, false),
       set_config('deferred.app_password', coalesce(@password, ''), false);

DO $$
DECLARE
    r text := current_setting('deferred.app_role');
    p text := current_setting('deferred.app_password');
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
        EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', r);
    END IF;
    IF p <> '' THEN
        EXECUTE format('ALTER ROLE %I PASSWORD %L', r, p);
    END IF;
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), r);
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', r);
    EXECUTE format('REVOKE CREATE ON SCHEMA public FROM %I', r);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE deferred_tasks, orleansstorage, orleansreminderstable, '
                   'orleansmembershiptable, orleansmembershipversiontable, deferred_ordering_holds, '
                   'deferred_concurrency_leases, deferred_completed_ids, deferred_task_progress TO %I', r);
    EXECUTE format('GRANT USAGE ON SEQUENCE deferred_ordering_seq TO %I', r);
    EXECUTE format('GRANT SELECT ON TABLE orleansquery, deferred_schema_version TO %I', r);
    EXECUTE format('GRANT EXECUTE ON FUNCTION writetostorage, upsert_reminder_row, delete_reminder_row, update_i_am_alive_time, '
                   'insert_membership_version, insert_membership, update_membership, deferred_try_jsonb, deferred_try_timestamptz TO %I', r);
    -- Periodic tasks (docs/schedules.md).
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE deferred_schedules TO %I', r);
END
$$;

SELECT set_config('deferred.app_password', '', false);
