using System.Runtime.CompilerServices;
using Deferred.Cluster;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Deferred.Storage.Postgres;

/// <summary>The default store's catalog and due-time index, over its table <c>deferred_tasks</c>.</summary>
internal sealed class PostgresCatalog(DeferredDatabase database, IOptions<ClusterOptions> cluster, IOptions<DeferredOptions> options, PostgresGrainStorage? storage = null) : IDeferredTaskCatalog, IDueTaskSource
{
    private readonly string _serviceId = cluster.Value.ServiceId;
    private readonly TimeSpan _threshold = options.Value.TimerThreshold;

    /// <summary>
    /// Lists the owners of live tasks (an index skip scan), keeps those that are gone, and claims their rows for this
    /// silo a page at a time (<c>FOR UPDATE SKIP LOCKED</c>, so silos sweeping together split the work). Claimed
    /// tasks due within the timer threshold are returned to resume now; later ones are left to this silo's
    /// due-time poller, which now sees them as its own.
    /// </summary>
    public async IAsyncEnumerable<OrphanPage> SweepAsync(OwnerView owners, string me, DateTimeOffset now, int pageSize, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var listed = await ListOwnersAsync(cancellationToken);
        var orphans = listed.Where(o => o is not null && owners.IsOrphaned(o)).Select(o => o!).ToArray();
        var unowned = listed.Contains(null);
        if (orphans.Length == 0 && !unowned)
        {
            yield break;
        }

        var horizon = now + _threshold;

        // One owner at a time (null: the rows with no owner), so each claim is an ordered index scan of one page.
        var sources = orphans.Select(o => (string?)o).Concat(unowned ? [null] : []).ToList();
        var source = 0;
        while (source < sources.Count)
        {
            var claimed = await ClaimAsync(sources[source], me, pageSize, cancellationToken);
            if (claimed.Count < pageSize)
            {
                source++;
            }

            if (claimed.Count == 0)
            {
                continue;
            }

            var due = claimed.Where(c => c.Row.State.NextRunAt <= horizon).ToList();
            foreach (var (row, _) in due)
            {
                // Resumed next: its activation's read is answered from the row the claim returned, not a second round trip.
                storage?.NoteInserted(row);
            }

            yield return new OrphanPage(
                claimed.Count,
                due.Where(c => !c.Released).Select(c => c.Row.TaskId).ToList(),
                due.Where(c => c.Released).Select(c => c.Row.TaskId).ToList());
        }
    }

    public async IAsyncEnumerable<IReadOnlyList<string>> ListOwnDueAsync(string me, DateTimeOffset dueBefore, int pageSize, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var from = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var (afterDue, afterId) = (from, "");
        while (true)
        {
            var page = await ListDueAsync(me, from, dueBefore, afterDue, afterId, pageSize, cancellationToken);
            if (page.Count == 0)
            {
                yield break;
            }

            (afterId, afterDue) = page[^1];
            yield return page.Select(p => p.TaskId).ToList();
            if (page.Count < pageSize)
            {
                yield break;
            }
        }
    }

    /// <summary>The distinct owners of live tasks; null stands for rows with no owner.</summary>
    public async Task<IReadOnlyList<string?>> ListOwnersAsync(CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.TasksListOwners);
        command.Parameters.AddWithValue("service_id", _serviceId);
        var owners = new List<string?>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            owners.Add(reader.IsDBNull(0) ? null : reader.GetString(0));
        }

        return owners;
    }

    public async Task<int> ReleaseAsync(string me, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.TasksRelease);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("owner", me);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task<IReadOnlyList<(TaskRow Row, bool Released)>> ClaimAsync(string? fromOwner, string me, int pageSize, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(fromOwner is null ? SqlQueries.TasksClaimUnowned : SqlQueries.TasksClaim);
        command.Parameters.AddWithValue("service_id", _serviceId);
        if (fromOwner is not null)
        {
            command.Parameters.AddWithValue("from_owner", fromOwner);
        }

        command.Parameters.AddWithValue("owner", me);
        command.Parameters.AddWithValue("page_size", pageSize);
        var claimed = new List<(TaskRow, bool)>(pageSize);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new TaskRowReader(reader);
        var released = reader.GetOrdinal("released");
        while (await reader.ReadAsync(cancellationToken))
        {
            claimed.Add((rows.Read(), reader.GetBoolean(released)));
        }

        return claimed;
    }

    public async Task<IReadOnlyDictionary<string, long>> CountByStatusAsync(CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.TasksCountByStatus);
        command.Parameters.AddWithValue("service_id", _serviceId);
        return await CatalogReaders.ReadCountsAsync(command, cancellationToken);
    }

    /// <summary>The list statement for the filter's shape (<c>tasks-list*.sql</c>).</summary>
    public static string ListStatement(DeferredTaskFilter filter) =>
        CatalogListing.Statement(filter, SqlQueries.TasksList, SqlQueries.TasksListByType, SqlQueries.TasksListByError);

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
        await using var command = database.DataSource.CreateCommand(SqlQueries.TasksCountByType);
        command.Parameters.AddWithValue("service_id", _serviceId);
        return await CatalogListing.ReadTypeCountsAsync(command, cancellationToken);
    }

    /// <summary>
    /// Up to <paramref name="pageSize"/> live tasks due in (<paramref name="from"/>, <paramref name="to"/>], in
    /// due-time order after the keyset (<paramref name="afterDue"/>, <paramref name="afterId"/>).
    /// </summary>
    public async Task<IReadOnlyList<(string TaskId, DateTimeOffset DueAt)>> ListDueAsync(
        string owner, DateTimeOffset from, DateTimeOffset to, DateTimeOffset afterDue, string afterId, int pageSize, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.TasksListDue);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("owner", owner);
        command.Parameters.AddWithValue("from", from.ToUniversalTime());
        command.Parameters.AddWithValue("to", to.ToUniversalTime());
        command.Parameters.AddWithValue("after_due", afterDue.ToUniversalTime());
        command.Parameters.AddWithValue("after_id", afterId);
        command.Parameters.AddWithValue("page_size", pageSize);
        return await ReadDueAsync(command, pageSize, cancellationToken);
    }

    private static async Task<IReadOnlyList<(string TaskId, DateTimeOffset DueAt)>> ReadDueAsync(Npgsql.NpgsqlCommand command, int pageSize, CancellationToken cancellationToken)
    {
        var due = new List<(string, DateTimeOffset)>(pageSize);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            due.Add((reader.GetString(0), reader.GetFieldValue<DateTimeOffset>(1)));
        }

        return due;
    }
}
