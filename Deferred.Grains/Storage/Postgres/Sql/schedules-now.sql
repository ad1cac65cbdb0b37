-- The database's clock: the one clock schedules are computed against (a new or resumed schedule's next occurrence),
-- so silos with skewed clocks agree with the schedulers' claims (schedules-claim-due.sql).
SELECT clock_timestamp();
