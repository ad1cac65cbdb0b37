-- 0008: deferred_try_jsonb (0005) was declared PARALLEL SAFE, but its exception block starts a
-- subtransaction, which PostgreSQL forbids in parallel mode. On tables big enough for a parallel plan (tens
-- of thousands of rows), the recovery scan over orleansstorage then failed with "cannot start
-- subtransactions during a parallel operation". Marking it PARALLEL UNSAFE keeps queries that call it off
-- parallel plans.
ALTER FUNCTION deferred_try_jsonb(bytea) PARALLEL UNSAFE;
