-- 0001: the OrleansQuery table.
--
-- Read by every stock Orleans ADO.NET provider (Microsoft.Orleans.Persistence.AdoNet,
-- Microsoft.Orleans.Reminders.AdoNet, Microsoft.Orleans.Clustering.AdoNet, 10.4.2). At start-up each
-- provider runs "SELECT QueryKey, QueryText FROM OrleansQuery" and from then on executes only the SQL
-- text it finds here, binding its own @Parameters. The table and its two column names are therefore
-- hard-coded in the providers; the rows are added by the migrations that follow.

CREATE TABLE IF NOT EXISTS orleansquery
(
    querykey  varchar(64)   NOT NULL,
    querytext varchar(8000) NOT NULL,

    CONSTRAINT orleansquery_key PRIMARY KEY (querykey)
);
