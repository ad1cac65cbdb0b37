using System.Runtime.CompilerServices;
using Deferred.Cluster;
using Deferred.Lifecycle;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;

namespace Deferred.Storage.OrleansAdoNet;

/// <summary>The stock store's catalog, over Orleans' <c>orleansstorage</c> table where the ADO.NET provider keeps task rows.</summary>
internal sealed class OrleansAdoNetCatalog(DeferredDatabase database, IOptions<ClusterOptions> cluster) : IDeferredTaskCatalog
{
    private readonly string _serviceId = cluster.Value.ServiceId;

    /// <summary>
    /// Up to <paramref name="pageSize"/> live tasks with their owners, in key order after <paramref name="afterTaskId"/>
    /// (empty string for the first page).
    /// </summary>
    public async Task<IReadOnlyList<(string TaskId, string? Owner, DateTimeOffset? DueAt)>> ListResumableAsync(string afterTaskId, int pageSize, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.ListResumable);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("state_name", TaskRecord.StateName);
        command.Parameters.AddWithValue("after", afterTaskId);
        command.Parameters.AddWithValue("now", now);
        command.Parameters.AddWithValue("page_size", pageSize);
        var rows = new List<(string, string?, DateTimeOffset?)>(pageSize);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add((reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetFieldValue<DateTimeOffset>(2)));
        }

        return rows;
    }

    /// <summary>
    /// The stock store cannot claim rows in place (the provider owns their format), so every silo pages through the
    /// live rows and keeps its share (by task id hash) of those whose owner is gone. Resuming a task activates it
    /// on this silo, and its next write records the new owner.
    /// </summary>
    public async IAsyncEnumerable<OrphanPage> SweepAsync(OwnerView owners, string me, DateTimeOffset now, int pageSize, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var page in LivePagesAsync(now, pageSize, cancellationToken))
        {
            // Rows with no owner predate ownership: nothing says they were in flight, so they are resumed plainly.
            var mine = page.Where(r => owners.IsOrphaned(r.Owner) && owners.IsMyShare(r.TaskId)).ToList();
            yield return new OrphanPage(
                mine.Count,
                mine.Where(r => r.Owner is not null).Select(r => r.TaskId).ToList(),
                mine.Where(r => r.Owner is null).Select(r => r.TaskId).ToList());
        }
    }

    public async IAsyncEnumerable<IReadOnlyList<string>> ListOwnDueAsync(string me, DateTimeOffset dueBefore, int pageSize, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var page in LivePagesAsync(dueBefore, pageSize, cancellationToken))
        {
            yield return page.Where(r => r.Owner == me && r.DueAt <= dueBefore).Select(r => r.TaskId).ToList();
        }
    }

    /// <summary>The stock provider owns its rows' format, so nothing is released; adopted tasks are watched.</summary>
    public Task<int> ReleaseAsync(string me, CancellationToken cancellationToken) => Task.FromResult(0);

    /// <summary>Every live row, a page at a time in key order.</summary>
    private async IAsyncEnumerable<IReadOnlyList<(string TaskId, string? Owner, DateTimeOffset? DueAt)>> LivePagesAsync(DateTimeOffset now, int pageSize, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var after = "";
        while (true)
        {
            var page = await ListResumableAsync(after, pageSize, now, cancellationToken);
            if (page.Count == 0)
            {
                yield break;
            }

            after = page[^1].TaskId;
            yield return page;
            if (page.Count < pageSize)
            {
                yield break;
            }
        }
    }

    public async Task<IReadOnlyDictionary<string, long>> CountByStatusAsync(CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.CountByStatus);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("state_name", TaskRecord.StateName);
        return await CatalogReaders.ReadCountsAsync(command, cancellationToken);
    }

    /// <summary>
    /// The list statement for the filter's shape (<c>stock-list*.sql</c>). They name the state
    /// (<see cref="TaskRecord.StateName"/>) literally, as their partial indexes require.
    /// </summary>
    public static string ListStatement(DeferredTaskFilter filter) =>
        CatalogListing.Statement(filter, SqlQueries.StockList, SqlQueries.StockListByType, SqlQueries.StockListByError);

    /// <summary>
    /// The listing over the task rows' JSON. Rows whose JSON cannot be read, or whose status is not Pending, Failed or
    /// Dead, are not listed (nor counted by <see cref="CountByStatusAndTypeAsync"/>) until the sweep has stored them as
    /// dead; a missing or unreadable nextRunAt lists as 0001-01-01, as the grain reads it.
    /// </summary>
    public async Task<IReadOnlyList<DeferredTaskSummary>> ListAsync(DeferredTaskFilter filter, TaskListKey? after, int limit, CancellationToken cancellationToken)
    {
        return await database.ReadGuardedAsync(
            ListStatement(filter),
            command => CatalogListing.AddParameters(command, _serviceId, filter, after, limit),
            command => CatalogListing.ReadSummariesAsync(command, limit, cancellationToken),
            cancellationToken);
    }

    public async Task<IReadOnlyList<DeferredTaskCount>> CountByStatusAndTypeAsync(CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.StockCountByType);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("state_name", TaskRecord.StateName);
        return await CatalogListing.ReadTypeCountsAsync(command, cancellationToken);
    }
}
