-- The silos holding concurrency leases of this service: the sweep frees those of silos that are gone.
SELECT DISTINCT holder
FROM deferred_concurrency_leases
WHERE service_id = @service_id;
