using Deferred.Storage.Resilience;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Deferred.Storage.Postgres;

/// <summary>
/// The default store's ordering keys (<c>deferred_ordering_holds</c>, <c>ordering-take.sql</c>,
/// <c>ordering-release.sql</c>): a task may take its key when no earlier task of the key is stored and no other task
/// holds it.
/// </summary>
internal sealed class PostgresOrderingKeys(DeferredDatabase database, IOptions<ClusterOptions> cluster, StoreResilience resilience) : IOrderingKeys
{
    private readonly string _serviceId = cluster.Value.ServiceId;

    public async Task<bool> TryTakeAsync(string key, string taskId, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.OrderingTake);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("ordering_key", key);
        command.Parameters.AddWithValue("task_id", taskId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken);
    }

    public async Task ReleaseAsync(string key, string taskId)
    {
        try
        {
            await using var command = database.DataSource.CreateCommand(SqlQueries.OrderingRelease);
            command.Parameters.AddWithValue("service_id", _serviceId);
            command.Parameters.AddWithValue("ordering_key", key);
            command.Parameters.AddWithValue("task_id", taskId);
            await command.ExecuteNonQueryAsync();
        }
        catch (Exception ex) when (StoreFailures.IsUnavailable(ex))
        {
            // Best effort: the row is deleted already, so the key is free; the hold is tidied by the next take.
            resilience.Unreachable(ex);
        }
    }
}
