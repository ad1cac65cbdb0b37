-- Serialises migrators across processes for the life of this session (released by migrations-unlock.sql).
SELECT pg_advisory_lock(@lock_key);
