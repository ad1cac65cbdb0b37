-- Whether the connection's database has Deferred's task table (a transactional enqueue checks once per database).
SELECT to_regclass('deferred_tasks') IS NOT NULL;
