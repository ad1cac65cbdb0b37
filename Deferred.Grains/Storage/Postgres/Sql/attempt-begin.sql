-- The first statement of a transactional handler's transaction: the id of that transaction, which the attempt's
-- completion (attempt-complete.sql) checks, so a handler that ended the transaction itself is noticed.
SELECT pg_current_xact_id()::text;
