using Deferred.Cluster;
using Deferred.Storage.Resilience;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Deferred.Storage;

/// <summary>
/// The cluster-wide concurrency leases (<c>deferred_concurrency_leases</c>, <c>leases-*.sql</c>): one row per taken slot of
/// a limited task type. The table sits beside either store's tables, so both stores use these statements.
/// </summary>
internal sealed class ConcurrencyLeases(DeferredDatabase database, IOptions<ClusterOptions> cluster, SiloIdentity silo, StoreResilience resilience)
{
    private readonly string _serviceId = cluster.Value.ServiceId;

    /// <summary>The slot taken, or null when none is free (or the database could not be reached: then it is asked again).</summary>
    public async Task<int?> TryTakeAsync(string taskType, int limit, string taskId, CancellationToken cancellationToken)
    {
        try
        {
            await using var command = database.DataSource.CreateCommand(SqlQueries.LeasesTake);
            command.Parameters.AddWithValue("service_id", _serviceId);
            command.Parameters.AddWithValue("task_type", taskType);
            command.Parameters.AddWithValue("limit", limit);
            command.Parameters.AddWithValue("holder", silo.Owner);
            command.Parameters.AddWithValue("task_id", taskId);
            return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is int slot ? slot : null;
        }
        catch (Exception ex) when (StoreFailures.IsUnavailable(ex) && !cancellationToken.IsCancellationRequested)
        {
            resilience.Unreachable(ex);
            return null;
        }
    }

    /// <summary>
    /// Gives a slot back, window after window while the database is unreachable (a lease must not stay taken). The
    /// shared policy logs what it gives up on; a silo disposed meanwhile ends quietly, and the sweep of another silo
    /// frees its leases once it is dead.
    /// </summary>
    public async Task ReleaseAsync(string taskType, int slot, string taskId)
    {
        while ((await resilience.RunAsync(StoreWindow.Outcome, taskId, "lease release", () => ExecuteReleaseAsync(taskType, slot, taskId)).ConfigureAwait(false)).Outcome == StoreOutcome.Unavailable)
        {
        }
    }

    private async Task ExecuteReleaseAsync(string taskType, int slot, string taskId)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.LeasesRelease);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("task_type", taskType);
        command.Parameters.AddWithValue("slot", slot);
        command.Parameters.AddWithValue("holder", silo.Owner);
        command.Parameters.AddWithValue("task_id", taskId);
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    public async Task<int> ReleaseGoneAsync(Func<string, bool> isGone, CancellationToken cancellationToken)
    {
        var gone = new List<string>();
        await using (var list = database.DataSource.CreateCommand(SqlQueries.LeasesListHolders))
        {
            list.Parameters.AddWithValue("service_id", _serviceId);
            await using var reader = await list.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var holder = reader.GetString(0);
                if (holder != silo.Owner && isGone(holder))
                {
                    gone.Add(holder);
                }
            }
        }

        if (gone.Count == 0)
        {
            return 0;
        }

        await using var release = database.DataSource.CreateCommand(SqlQueries.LeasesReleaseHolders);
        release.Parameters.AddWithValue("service_id", _serviceId);
        release.Parameters.AddWithValue("holders", gone.ToArray());
        await release.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        return gone.Count;
    }
}
