-- Lets a role (the least-privilege role of Deferred.Silo create-role) record and count sample completions in
-- demo_completions (create-ledger.sql, run first). Deferred's own role script grants nothing on the sample's
-- table. The role name arrives as a parameter through a session setting and is quoted by format(%I).
SELECT set_config('deferred.demo_role', @role, false);

DO $$
BEGIN
    EXECUTE format('GRANT SELECT, INSERT ON TABLE demo_completions TO %I', current_setting('deferred.demo_role'));
END
$$;
