using Deferred.Recovery;
using Deferred.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Deferred.Health;

/// <summary>
/// The store is reachable and its schema is the one this build needs. Unhealthy when it cannot be reached or is older
/// (tasks cannot be stored); degraded when it is newer (a newer build migrated it; this one may miss columns).
/// </summary>
internal sealed class StoreHealthCheck(DeferredDatabase database) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        int version;
        try
        {
            version = await SchemaCheck.ReadVersionAsync(database, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy($"Deferred cannot reach PostgreSQL ({ex.GetType().Name}); enqueues fail after EnqueueTimeout.", ex);
        }

        var data = new Dictionary<string, object> { ["schema_version"] = version, ["expected_version"] = DeferredSchema.LatestVersion };
        if (version < DeferredSchema.LatestVersion)
        {
            return HealthCheckResult.Unhealthy($"Deferred schema is at version {version}; this build needs {DeferredSchema.LatestVersion}. Apply the migrations.", data: data);
        }

        return version > DeferredSchema.LatestVersion
            ? HealthCheckResult.Degraded($"Deferred schema is at version {version}, newer than this build's {DeferredSchema.LatestVersion}; upgrade this silo.", data: data)
            : HealthCheckResult.Healthy($"Deferred store reachable, schema at version {version}.", data);
    }
}

/// <summary>The store's write queue is not backed up: degraded beyond a few full batches per connection, unhealthy far beyond.</summary>
internal sealed class BatcherHealthCheck(IDeferredTaskStore store, IOptions<DeferredOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (store.Backlog is not { } backlog)
        {
            return Task.FromResult(HealthCheckResult.Healthy($"The {store.Name} store does not queue writes."));
        }

        var o = options.Value;
        var busy = 4 * o.StoreMaxBatchSize * o.StoreMaxBatchesInFlight;
        var data = new Dictionary<string, object> { ["queued_operations"] = backlog, ["degraded_above"] = busy, ["unhealthy_above"] = 10 * busy };
        var result = backlog > 10 * busy
            ? HealthCheckResult.Unhealthy($"Deferred store writes are backed up: {backlog} operations queued (over {10 * busy}); the database is not keeping up.", data: data)
            : backlog > busy
                ? HealthCheckResult.Degraded($"Deferred store writes are queuing: {backlog} operations waiting (over {busy}).", data: data)
                : HealthCheckResult.Healthy($"{backlog} store operations queued.", data);
        return Task.FromResult(result);
    }
}

/// <summary>The orphan sweep ran within its interval: degraded when the last good sweep is older than two intervals.</summary>
internal sealed class SweepHealthCheck(OrphanSweep recovery, IOptions<DeferredOptions> options, TimeProvider time) : IHealthCheck
{
    private readonly DateTimeOffset _created = time.GetUtcNow();

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!recovery.Sweeps)
        {
            return Task.FromResult(HealthCheckResult.Healthy("The orphan sweep is off on this silo (RecoverOnStartup = false)."));
        }

        var limit = 2 * options.Value.SweepInterval;
        var since = time.GetUtcNow() - (recovery.LastSweepAt ?? _created);
        var result = since <= limit
            ? HealthCheckResult.Healthy(recovery.LastSweepAt is { } at ? $"Last sweep at {at:O}." : "The first sweep is under way.")
            : HealthCheckResult.Degraded(
                $"No orphan sweep has finished for {since.TotalSeconds:0} s (interval {options.Value.SweepInterval.TotalSeconds:0} s): tasks of a dead silo are not being adopted; check the database and the silo log.");
        return Task.FromResult(result);
    }
}
