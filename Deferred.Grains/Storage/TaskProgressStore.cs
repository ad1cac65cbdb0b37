using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Deferred.Storage;

/// <summary>
/// Progress of running attempts in <c>deferred_task_progress</c> (<c>progress-*.sql</c>): the table sits beside either
/// store's tables, so both stores use these statements. Every write is best effort: progress is shown, never decided on.
/// </summary>
internal sealed class TaskProgressStore(DeferredDatabase database, IOptions<ClusterOptions> cluster)
{
    private readonly string _serviceId = cluster.Value.ServiceId;

    public async Task UpsertAsync(string taskId, DeferredTaskProgress progress)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.ProgressUpsert);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("task_id", taskId);
        command.Parameters.AddWithValue("fraction", progress.Fraction);
        command.Parameters.AddWithValue("message", (object?)progress.Message ?? DBNull.Value);
        command.Parameters.AddWithValue("at", progress.At.ToUniversalTime());
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    /// <summary>Deletes the stored report of <paramref name="taskId"/> if it is the one stored at <paramref name="storedAt"/> or older.</summary>
    public async Task DeleteAsync(string taskId, DateTimeOffset storedAt)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.ProgressDelete);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("task_id", taskId);
        command.Parameters.AddWithValue("at", storedAt.ToUniversalTime());
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// The stored report of <paramref name="taskId"/>, or null. A database that refuses the read (a role without the grant,
    /// a schema before 0019) gives null too: progress is shown, never needed, and the task is still shown without it.
    /// </summary>
    public async Task<DeferredTaskProgress?> ReadAsync(string taskId, CancellationToken cancellationToken)
    {
        try
        {
            return await ReadStoredAsync(taskId, cancellationToken).ConfigureAwait(false);
        }
        catch (Npgsql.PostgresException)
        {
            return null;
        }
    }

    private async Task<DeferredTaskProgress?> ReadStoredAsync(string taskId, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.ProgressRead);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("task_id", taskId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        return new DeferredTaskProgress
        {
            Fraction = reader.GetDouble(0),
            Message = reader.IsDBNull(1) ? null : reader.GetString(1),
            At = reader.GetFieldValue<DateTimeOffset>(2),
        };
    }

    /// <summary>Deletes up to <paramref name="limit"/> rows not updated since <paramref name="staleBefore"/>; returns how many.</summary>
    public async Task<int> TidyAsync(DateTimeOffset staleBefore, int limit, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.ProgressTidy);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("stale_before", staleBefore.ToUniversalTime());
        command.Parameters.AddWithValue("limit", limit);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
