using System.Globalization;
using Deferred.Lifecycle;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Runtime;
using Orleans.Storage;

namespace Deferred.Storage.Postgres;

/// <summary>
/// The default store's grain storage: Orleans grain storage for task state over the <c>deferred_tasks</c> table, with every
/// operation batched by <see cref="TaskBatcher"/>. The ETag is the row's <c>version</c>; a write that finds
/// another version throws <see cref="InconsistentStateException"/> exactly like the stock providers do.
/// </summary>
/// <remarks>
/// Its awaits do not resume on the activation's scheduler (<c>ConfigureAwait(false)</c>, as Orleans' own providers do):
/// they touch only the state object handed in, while the activation awaits the whole operation. One scheduler hop less
/// per operation.
/// </remarks>
internal sealed class PostgresGrainStorage : IGrainStorage, IAsyncDisposable
{
    private readonly TaskBatcher _batcher;
    private readonly Npgsql.NpgsqlDataSource _dataSource;
    private readonly string _serviceId;
    private readonly FreshTaskIds _freshIds;
    private readonly JustInsertedRows _justInserted = new();
    private readonly Cluster.OneShotMemo<string> _deletedInAttempt = new();

    public PostgresGrainStorage(DeferredDatabase database, IOptions<ClusterOptions> cluster, IOptions<DeferredOptions> options, FreshTaskIds freshIds)
    {
        _dataSource = database.DataSource;
        _serviceId = cluster.Value.ServiceId;
        _batcher = new TaskBatcher(_dataSource, _serviceId, options.Value);
        _freshIds = freshIds;
    }

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var state = Check(grainState);
        var taskId = grainId.Key.ToString()!;
        if (_justInserted.TryConsume(taskId, out var inserted))
        {
            // A row this silo inserted in a batch a moment ago: its first read needs no round trip.
            state.State = inserted.State;
            state.ETag = inserted.Version.ToString(CultureInfo.InvariantCulture);
            state.RecordExists = true;
            return;
        }

        if (_freshIds.TryConsume(taskId))
        {
            // A task id this silo generated a moment ago: there is no row to read.
            Reset(state);
            return;
        }

        if (await _batcher.ReadAsync(taskId).ConfigureAwait(false) is { } row)
        {
            state.State = row.State;
            state.ETag = row.Version.ToString(CultureInfo.InvariantCulture);
            state.RecordExists = true;
        }
        else
        {
            Reset(state);
        }
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var state = Check(grainState);
        var row = new TaskRow(grainId.Key.ToString()!, state.State ?? new TaskRecord(), 0);
        if (state.ETag is null)
        {
            if (!await _batcher.InsertAsync(row).ConfigureAwait(false))
            {
                throw new InconsistentStateException($"Deferred task '{row.TaskId}' is already stored.", "unknown", "none");
            }

            state.ETag = "1";
        }
        else
        {
            var expected = int.Parse(state.ETag, CultureInfo.InvariantCulture);
            var version = await _batcher.UpdateAsync(row, expected).ConfigureAwait(false)
                ?? throw new InconsistentStateException($"Deferred task '{row.TaskId}' changed since it was read.", "unknown", state.ETag);
            state.ETag = version.ToString(CultureInfo.InvariantCulture);
        }

        state.RecordExists = true;
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var state = Check(grainState);
        var taskId = grainId.Key.ToString()!;
        // Deleted in its attempt's transaction at this very version: nothing left to delete. (Keyed by the version too,
        // so a note that no clear consumed can never skip the delete of a later task under the same id.)
        if (state.ETag is not null && !(_deletedInAttempt.TryConsume(taskId, out var deletedAt) && deletedAt == state.ETag))
        {
            if (!await _batcher.DeleteAsync(taskId, int.Parse(state.ETag, CultureInfo.InvariantCulture)).ConfigureAwait(false))
            {
                throw new InconsistentStateException($"Deferred task '{taskId}' changed or vanished since it was read.", "unknown", state.ETag);
            }
        }

        Reset(state);
    }

    /// <summary>
    /// The row of <paramref name="taskId"/> at <paramref name="version"/> was deleted in its attempt's own transaction (a
    /// transactional handler's): the activation's clear that follows only forgets it, with no round trip.
    /// </summary>
    public void NoteDeletedInAttempt(string taskId, string version) => _deletedInAttempt.Set(taskId, version);

    /// <summary>Inserts a new task's row without an activation. False when the id exists.</summary>
    public Task<bool> InsertNewAsync(string taskId, TaskRecord state) => _batcher.InsertAsync(new TaskRow(taskId, state, 0));

    /// <summary>Inserts many new tasks' rows in one transaction, all or none.</summary>
    public async Task InsertManyAsync(IReadOnlyList<(string TaskId, TaskRecord Record)> rows)
    {
        var taskRows = rows.Select(r => new TaskRow(r.TaskId, r.Record, 1)).ToArray();
        await TaskRowStatements.InsertAllAsync(_dataSource, _serviceId, taskRows);
        foreach (var row in taskRows)
        {
            _justInserted.Add(row);
        }
    }

    /// <summary>
    /// A row this silo has just committed outside the batcher (a schedule's occurrence) or claimed in a sweep: its
    /// activation's first read is answered from memory, as after a batch enqueue.
    /// </summary>
    public void NoteInserted(TaskRow row) => _justInserted.Add(row);

    /// <summary>Row operations queued for the next batches.</summary>
    public int Backlog => _batcher.Queued;

    public ValueTask DisposeAsync() => _batcher.DisposeAsync();

    private static IGrainState<TaskRecord> Check<T>(IGrainState<T> grainState) =>
        grainState as IGrainState<TaskRecord>
        ?? throw new NotSupportedException($"The Deferred task store only stores {nameof(TaskRecord)}, not {typeof(T)}.");

    private static void Reset(IGrainState<TaskRecord> state)
    {
        state.State = new TaskRecord();
        state.ETag = null;
        state.RecordExists = false;
    }
}
