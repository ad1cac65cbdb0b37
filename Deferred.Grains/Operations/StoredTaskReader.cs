using Deferred.Execution;
using Deferred.Lifecycle;
using Deferred.Storage;
using Deferred.Storage.OrleansAdoNet;
using Deferred.Storage.Postgres;
using Deferred.TaskGrain;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;

namespace Deferred.Operations;

/// <summary>
/// The operator's reads (list, counts, one task's details) straight from the database, without a silo: what the command
/// line falls back to when no silo answers, so an operator can still see the backlog. It runs the catalogs' own
/// statements with the same checks and page tokens as <see cref="OperatorGrain"/> (a token from one works
/// with the other), and reads a task's row as its grain would. It never writes: every change goes through the task's
/// grain, which needs a running silo.
/// </summary>
/// <remarks>
/// What a silo knows and the database does not: whether an attempt is in flight right now (a task is shown with its
/// stored status; <see cref="DeferredTaskDetails.RunningSince"/> is the in-flight marker of a watched attempt), and the
/// task types. A payload is Orleans-serialized as its declared type, so it is rendered only for the types in the
/// <see cref="TaskTypeRegistry"/> given here; for any other, <see cref="DeferredTaskDetails.PayloadJson"/> and
/// <see cref="DeferredTaskDetails.PayloadType"/> are null and the rest of the task is shown.
/// </remarks>
internal sealed class StoredTaskReader : IAsyncDisposable
{
    private readonly DeferredDatabase _database;
    private readonly string _serviceId;
    private readonly DeferredStore _store;
    private readonly IDeferredTaskCatalog _catalog;
    private readonly TaskTypeRegistry _registry;
    private readonly Serializer? _serializer;
    private readonly TaskProgressStore _progress;

    /// <param name="connectionString">The silos' connection string (an Npgsql connection string).</param>
    /// <param name="serviceId">The silos' Orleans ServiceId: the rows of that service are read.</param>
    /// <param name="store">The store the silos keep task rows in.</param>
    /// <param name="registry">The task types whose payloads can be rendered; null for none.</param>
    /// <param name="serializer">The Orleans serializer for those types; null renders no payload.</param>
    /// <exception cref="OrleansConfigurationException">The connection string is missing or malformed.</exception>
    public StoredTaskReader(string connectionString, string serviceId, DeferredStore store, TaskTypeRegistry? registry = null, Serializer? serializer = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(serviceId);
        var options = Microsoft.Extensions.Options.Options.Create(new DeferredOptions { ConnectionString = connectionString, Store = store });
        _database = new DeferredDatabase(options);
        _serviceId = serviceId;
        _store = store;
        var cluster = Microsoft.Extensions.Options.Options.Create(new ClusterOptions { ServiceId = serviceId, ClusterId = serviceId });
        _progress = new TaskProgressStore(_database, cluster);
        _catalog = store switch
        {
            DeferredStore.Postgres => new PostgresCatalog(_database, cluster, options),
            DeferredStore.OrleansAdoNet => new OrleansAdoNetCatalog(_database, cluster),
            _ => throw new ArgumentOutOfRangeException(nameof(store), store, "Not a Deferred store."),
        };
        _registry = registry ?? new TaskTypeRegistry([]);
        _serializer = serializer;
    }

    /// <summary>One page of the listing; see <see cref="IDeferredTaskOperator.ListAsync"/>.</summary>
    /// <exception cref="ArgumentException">The query is malformed, or its token belongs to another query.</exception>
    public Task<DeferredTaskPage> ListAsync(DeferredTaskQuery query, CancellationToken cancellationToken) =>
        TaskListing.PageAsync(query, (filter, after, limit) => _catalog.ListAsync(filter, after, limit, cancellationToken));

    /// <summary>How many tasks are stored, by status and task type.</summary>
    public Task<IReadOnlyList<DeferredTaskCount>> CountAsync(CancellationToken cancellationToken) =>
        _catalog.CountByStatusAndTypeAsync(cancellationToken);

    /// <summary>One task as stored, or null when it is not stored. Its status is the stored one (never running).</summary>
    /// <exception cref="ArgumentException">The task id is malformed.</exception>
    public async Task<DeferredTaskDetails?> ShowAsync(string taskId, CancellationToken cancellationToken)
    {
        if (DeferredTaskId.Validate(taskId) is { } problem)
        {
            throw new ArgumentException($"Task id {DeferredTaskId.Quoted(taskId)} is not valid: {problem}.", nameof(taskId));
        }

        var record = _store == DeferredStore.Postgres
            ? await ReadPostgresAsync(taskId, cancellationToken)
            : await ReadStockAsync(taskId, cancellationToken);
        if (record is null)
        {
            return null;
        }

        if (record.ReadFailure is { } failure)
        {
            // What the grain would store on its first activation: a dead task saying why its row could not be read.
            record = record with { LastError = failure };
        }

        // Rendered only where a registered type and a serializer are at hand; a payload that cannot be read is not rendered.
        // An attempt's stored progress: its latest report, stored at most once a second by the silo that runs it.
        var progress = await _progress.ReadAsync(taskId, cancellationToken);
        return TaskDetails.Of(taskId, record, running: false, runningSince: null, _registry, _serializer, progress);
    }

    private async Task<TaskRecord?> ReadPostgresAsync(string taskId, CancellationToken cancellationToken)
    {
        await using var command = _database.DataSource.CreateCommand(SqlQueries.TasksRead);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("task_ids", new[] { taskId });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? new TaskRowReader(reader).Read().State : null;
    }

    private async Task<TaskRecord?> ReadStockAsync(string taskId, CancellationToken cancellationToken)
    {
        await using var command = _database.DataSource.CreateCommand(SqlQueries.StockRead);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("state_name", TaskRecord.StateName);
        command.Parameters.AddWithValue("task_id", taskId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        var bytes = reader.GetFieldValue<byte[]>(0);
        return new OrleansAdoNetStateSerializer().Deserialize<TaskRecord>(BinaryData.FromBytes(bytes));
    }

    public ValueTask DisposeAsync() => _database.DisposeAsync();
}
