-- Frees every lease held by the silos @holders (silos that membership declared dead, or an older generation).
DELETE FROM deferred_concurrency_leases
WHERE service_id = @service_id
  AND holder = ANY(@holders);
