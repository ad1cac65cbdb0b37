using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Deferred.Storage.Postgres;

/// <summary>
/// The ids of completed caller-id tasks (<c>deferred_completed_ids</c>, written by <c>tasks-delete.sql</c>): when one
/// completed, and forgetting those older than <see cref="DeferredOptions.CompletedIdRetention"/>.
/// </summary>
internal sealed class PostgresCompletedIds(DeferredDatabase database, IOptions<ClusterOptions> cluster, IOptions<DeferredOptions> options) : ICompletedTaskIds
{
    private readonly string _serviceId = cluster.Value.ServiceId;
    private readonly TimeSpan _retention = options.Value.CompletedIdRetention;

    public async Task<DateTimeOffset?> CompletedAtAsync(string taskId)
    {
        if (_retention <= TimeSpan.Zero)
        {
            return null;
        }

        await using var command = database.DataSource.CreateCommand(SqlQueries.CompletedIdRead);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("task_id", taskId);
        command.Parameters.AddWithValue("completed_id_retention", _retention);
        return await command.ExecuteScalarAsync() is DateTime at ? new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)) : null;
    }

    /// <summary>Rows one statement forgets at most (completed-ids-forget.sql), so no statement holds many row locks.</summary>
    private const int Chunk = 10_000;

    public async Task<int> ForgetExpiredAsync(CancellationToken cancellationToken)
    {
        // Chunk by chunk until a chunk comes back short: the sweep keeps up with any completion rate.
        var forgotten = 0;
        while (true)
        {
            await using var command = database.DataSource.CreateCommand(SqlQueries.CompletedIdsForget);
            command.Parameters.AddWithValue("service_id", _serviceId);
            command.Parameters.AddWithValue("completed_id_retention", _retention);
            var chunk = await command.ExecuteNonQueryAsync(cancellationToken);
            forgotten += chunk;
            if (chunk < Chunk)
            {
                return forgotten;
            }
        }
    }
}
