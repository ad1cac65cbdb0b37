using System.Threading.Channels;
using Deferred.Diagnostics;
using Deferred.Lifecycle;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Deferred.Storage.Postgres;

/// <summary>
/// Group commit for <c>deferred_tasks</c>. Reads, inserts, updates and deletes from many task grains queue here;
/// a few flush loops each take what is queued (up to <see cref="DeferredOptions.StoreMaxBatchSize"/>
/// operations, waiting at most <see cref="DeferredOptions.StoreBatchLinger"/> for more while another batch
/// is in flight) and send it as one <see cref="NpgsqlBatch"/>: at most one array-parameter statement per kind of
/// operation, one round trip, one commit. Each operation completes only after that commit, so an enqueue is still
/// acknowledged only once its own row is durable.
/// </summary>
/// <remarks>
/// Statements never fail because of one row (conflicts and stale versions simply leave the row out of
/// RETURNING). If a batch fails with a database error anyway, its operations are retried one by one, so a row
/// that breaks a constraint fails its own task and not its neighbours. Connection errors fail every operation of
/// the batch; the grains retry their writes.
/// </remarks>
internal sealed class TaskBatcher : IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly string _serviceId;
    private readonly int _maxBatch;
    private readonly TimeSpan _linger;
    private readonly Channel<StoreOp> _queue = Channel.CreateUnbounded<StoreOp>(new UnboundedChannelOptions { SingleReader = false });
    private readonly Task[] _flushers;
    private int _inFlight;
    private readonly TimeSpan _completedIdRetention;

    public TaskBatcher(NpgsqlDataSource dataSource, string serviceId, DeferredOptions options)
    {
        _dataSource = dataSource;
        _serviceId = serviceId;
        _maxBatch = options.StoreMaxBatchSize;
        _linger = options.StoreBatchLinger;
        _completedIdRetention = options.CompletedIdRetention;
        _flushers = Enumerable.Range(0, options.StoreMaxBatchesInFlight).Select(_ => Task.Run(FlushLoopAsync)).ToArray();
    }

    public Task<TaskRow?> ReadAsync(string taskId) => Enqueue(new ReadOp(taskId));

    /// <summary>True when inserted; false when a row with this id exists.</summary>
    public Task<bool> InsertAsync(TaskRow row) => Enqueue(new InsertOp(row));

    /// <summary>The new version, or null when the stored version was not <paramref name="expectedVersion"/>.</summary>
    public Task<int?> UpdateAsync(TaskRow row, int expectedVersion) => Enqueue(new UpdateOp(row, expectedVersion));

    /// <summary>True when deleted; false when the stored version was not <paramref name="expectedVersion"/> or no row exists.</summary>
    public Task<bool> DeleteAsync(string taskId, int expectedVersion) => Enqueue(new DeleteOp(taskId, expectedVersion));

    /// <summary>Operations queued and not yet sent.</summary>
    public int Queued => _queue.Reader.Count;

    private Task<T> Enqueue<T>(StoreOp<T> op)
    {
        if (!_queue.Writer.TryWrite(op))
        {
            throw new ObjectDisposedException(nameof(TaskBatcher), "The Deferred task store is shut down.");
        }

        return op.Completion.Task;
    }

    private async Task FlushLoopAsync()
    {
        var batch = new List<StoreOp>(_maxBatch);
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < _maxBatch && reader.TryRead(out var op))
            {
                batch.Add(op);
            }

            if (batch.Count == 0)
            {
                continue;
            }

            // Linger only while another batch is on the wire: an idle store sends at once (lowest latency), a
            // busy one gathers a little more per commit (highest throughput).
            if (batch.Count < _maxBatch && _linger > TimeSpan.Zero && Volatile.Read(ref _inFlight) > 0)
            {
                // Without a cancelled token: ending a linger by cancellation threw an exception per batch.
                var over = Task.Delay(_linger);
                while (batch.Count < _maxBatch)
                {
                    var more = reader.WaitToReadAsync().AsTask();
                    if (!more.IsCompleted && await Task.WhenAny(more, over).ConfigureAwait(false) != more || !await more.ConfigureAwait(false))
                    {
                        break;
                    }

                    while (batch.Count < _maxBatch && reader.TryRead(out var op))
                    {
                        batch.Add(op);
                    }
                }
            }

            Interlocked.Increment(ref _inFlight);
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                await ExecuteAsync(batch).ConfigureAwait(false);
                DeferredTelemetry.StoreBatchSize.Record(batch.Count);
                if (DeferredTelemetry.StoreCommitDuration.Enabled)
                {
                    DeferredTelemetry.StoreCommitDuration.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
                }
            }
            catch (PostgresException) when (batch.Count > 1)
            {
                // A statement failed for the whole batch; find the culprit by running each operation alone.
                foreach (var op in batch)
                {
                    try
                    {
                        await ExecuteAsync([op]).ConfigureAwait(false);
                    }
                    catch (Exception ex)
                    {
                        op.Fail(ex);
                    }
                }
            }
            catch (Exception ex)
            {
                foreach (var op in batch)
                {
                    op.Fail(ex);
                }
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }
    }

    private async Task ExecuteAsync(List<StoreOp> ops)
    {
        var reads = ops.OfType<ReadOp>().ToList();
        var inserts = ops.OfType<InsertOp>().ToList();
        var updates = ops.OfType<UpdateOp>().ToList();
        var deletes = ops.OfType<DeleteOp>().ToList();

        await using var connection = await _dataSource.OpenConnectionAsync().ConfigureAwait(false);
        await using var batch = new NpgsqlBatch(connection);
        if (reads.Count > 0)
        {
            batch.BatchCommands.Add(ReadCommand(reads));
        }

        if (inserts.Count > 0)
        {
            batch.BatchCommands.Add(InsertCommand(inserts));
        }

        if (updates.Count > 0)
        {
            batch.BatchCommands.Add(UpdateCommand(updates));
        }

        if (deletes.Count > 0)
        {
            batch.BatchCommands.Add(DeleteCommand(deletes));
        }

        // With no explicit transaction, PostgreSQL runs the batch's statements as one implicit transaction:
        // all of them commit together, once.
        var readRows = new Dictionary<string, TaskRow>(StringComparer.Ordinal);
        var inserted = new HashSet<string>(StringComparer.Ordinal);
        var updated = new Dictionary<string, int>(StringComparer.Ordinal);
        var deleted = new HashSet<string>(StringComparer.Ordinal);
        await using (var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false))
        {
            if (reads.Count > 0)
            {
                var rows = new TaskRowReader(reader);
                while (await reader.ReadAsync().ConfigureAwait(false))
                {
                    var row = rows.Read();
                    readRows[row.TaskId] = row;
                }

                await reader.NextResultAsync().ConfigureAwait(false);
            }

            if (inserts.Count > 0)
            {
                while (await reader.ReadAsync().ConfigureAwait(false))
                {
                    inserted.Add(reader.GetString(0));
                }

                await reader.NextResultAsync().ConfigureAwait(false);
            }

            if (updates.Count > 0)
            {
                while (await reader.ReadAsync().ConfigureAwait(false))
                {
                    updated[reader.GetString(0)] = reader.GetInt32(1);
                }

                await reader.NextResultAsync().ConfigureAwait(false);
            }

            if (deletes.Count > 0)
            {
                while (await reader.ReadAsync().ConfigureAwait(false))
                {
                    deleted.Add(reader.GetString(0));
                }
            }
        }

        // Only now, after the commit, does any caller learn its outcome.
        foreach (var op in reads)
        {
            op.Completion.TrySetResult(readRows.GetValueOrDefault(op.TaskId));
        }

        foreach (var op in inserts)
        {
            op.Completion.TrySetResult(inserted.Contains(op.Row.TaskId));
        }

        foreach (var op in updates)
        {
            op.Completion.TrySetResult(updated.TryGetValue(op.Row.TaskId, out var version) ? version : null);
        }

        foreach (var op in deletes)
        {
            op.Completion.TrySetResult(deleted.Contains(op.TaskId));
        }
    }

    private NpgsqlBatchCommand ReadCommand(List<ReadOp> ops) =>
        TaskRowStatements.Read(_serviceId, ops.Select(o => o.TaskId).Distinct(StringComparer.Ordinal).ToArray());

    private NpgsqlBatchCommand InsertCommand(List<InsertOp> ops) => TaskRowStatements.Insert(_serviceId, ops.Select(o => o.Row).ToArray(), _completedIdRetention);

    private NpgsqlBatchCommand UpdateCommand(List<UpdateOp> ops) =>
        TaskRowStatements.Update(_serviceId, ops.Select(o => o.Row).ToArray(), ops.Select(o => o.ExpectedVersion).ToArray());

    private NpgsqlBatchCommand DeleteCommand(List<DeleteOp> ops) =>
        TaskRowStatements.Delete(_serviceId, ops.Select(o => o.TaskId).ToArray(), ops.Select(o => o.ExpectedVersion).ToArray(), _completedIdRetention > TimeSpan.Zero);

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAll(_flushers).ConfigureAwait(false);
    }

    private abstract class StoreOp
    {
        public abstract void Fail(Exception exception);
    }

    private abstract class StoreOp<T> : StoreOp
    {
        public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override void Fail(Exception exception) => Completion.TrySetException(exception);
    }

    private sealed class ReadOp(string taskId) : StoreOp<TaskRow?>
    {
        public string TaskId { get; } = taskId;
    }

    private sealed class InsertOp(TaskRow row) : StoreOp<bool>
    {
        public TaskRow Row { get; } = row;
    }

    private sealed class UpdateOp(TaskRow row, int expectedVersion) : StoreOp<int?>
    {
        public TaskRow Row { get; } = row;

        public int ExpectedVersion { get; } = expectedVersion;
    }

    private sealed class DeleteOp(string taskId, int expectedVersion) : StoreOp<bool>
    {
        public string TaskId { get; } = taskId;

        public int ExpectedVersion { get; } = expectedVersion;
    }
}
