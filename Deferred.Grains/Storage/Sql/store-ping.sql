-- Asks the server to answer one statement: how a silo learns that a store outage has ended.
SELECT 1;
