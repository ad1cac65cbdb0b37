using Deferred.Options;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Deferred.Storage.Postgres;

/// <summary>The catalog over <c>deferred_tasks</c>, the default store's table.</summary>
internal sealed class PostgresTableCatalog(DeferredDatabase database, IOptions<ClusterOptions> cluster, IOptions<DeferredTasksOptions> options) : IDeferredTaskCatalog
{
    private readonly string _serviceId = cluster.Value.ServiceId;
    private readonly TimeSpan _threshold = options.Value.TimerThreshold;
    private readonly PostgresTaskCatalog _schema = new(database, cluster);

    public async Task<IReadOnlyList<string>> ListResumableAsync(string afterTaskId, int pageSize, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.TasksListResumable);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("after", afterTaskId);
        command.Parameters.AddWithValue("horizon", (now + _threshold).ToUniversalTime());
        command.Parameters.AddWithValue("page_size", pageSize);
        return await CatalogReaders.ReadIdsAsync(command, pageSize, cancellationToken);
    }

    public async Task<IReadOnlyDictionary<string, long>> CountByStatusAsync(CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.TasksCountByStatus);
        command.Parameters.AddWithValue("service_id", _serviceId);
        return await CatalogReaders.ReadCountsAsync(command, cancellationToken);
    }

    /// <summary>
    /// Up to <paramref name="pageSize"/> live tasks due in (<paramref name="from"/>, <paramref name="to"/>], in
    /// due-time order after the keyset (<paramref name="afterDue"/>, <paramref name="afterId"/>).
    /// </summary>
    public async Task<IReadOnlyList<(string TaskId, DateTimeOffset DueAt)>> ListDueAsync(
        DateTimeOffset from, DateTimeOffset to, DateTimeOffset afterDue, string afterId, int pageSize, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.TasksListDue);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("from", from.ToUniversalTime());
        command.Parameters.AddWithValue("to", to.ToUniversalTime());
        command.Parameters.AddWithValue("after_due", afterDue.ToUniversalTime());
        command.Parameters.AddWithValue("after_id", afterId);
        command.Parameters.AddWithValue("page_size", pageSize);
        var due = new List<(string, DateTimeOffset)>(pageSize);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            due.Add((reader.GetString(0), reader.GetFieldValue<DateTimeOffset>(1)));
        }

        return due;
    }

    public Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken) => _schema.GetSchemaVersionAsync(cancellationToken);
}
