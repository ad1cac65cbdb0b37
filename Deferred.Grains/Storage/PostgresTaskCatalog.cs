using Deferred.Runtime;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;

namespace Deferred.Storage;

/// <summary>The catalog over Orleans' <c>orleansstorage</c> table, where the stock ADO.NET provider keeps task rows.</summary>
internal sealed class PostgresTaskCatalog(DeferredDatabase database, IOptions<ClusterOptions> cluster) : IDeferredTaskCatalog
{
    private readonly string _serviceId = cluster.Value.ServiceId;

    public async Task<IReadOnlyList<string>> ListResumableAsync(string afterTaskId, int pageSize, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.ListResumable);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("state_name", DeferredTaskState.StateName);
        command.Parameters.AddWithValue("after", afterTaskId);
        command.Parameters.AddWithValue("now", now);
        command.Parameters.AddWithValue("page_size", pageSize);
        return await CatalogReaders.ReadIdsAsync(command, pageSize, cancellationToken);
    }

    public async Task<IReadOnlyDictionary<string, long>> CountByStatusAsync(CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.CountByStatus);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("state_name", DeferredTaskState.StateName);
        return await CatalogReaders.ReadCountsAsync(command, cancellationToken);
    }

    public async Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var command = database.DataSource.CreateCommand(SqlQueries.SchemaVersion);
            return Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return 0;
        }
    }
}
