-- The first statement of a transactional handler's transaction: marks the transaction with a token of the attempt, as
-- a transaction-local setting, which the attempt's completion (attempt-complete.sql) checks: a handler that ended the
-- transaction itself (through the API, or COMMIT/ROLLBACK as SQL text) leaves a session without the mark. No
-- transaction id is assigned here, so a transaction that only waits (or reads) holds back no row's cleanup.
SELECT set_config('deferred.attempt', @token, true);
