-- Tells listening silos of the service that tasks were stored outside them; delivered only if the transaction commits.
SELECT pg_notify('deferred_tasks', @service_id);
