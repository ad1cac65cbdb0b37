using System.Threading.Channels;
using Deferred.Options;
using Deferred.Diagnostics;
using Deferred.Lifecycle;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Deferred.Storage.Postgres;

/// <summary>
/// Group commit for <c>deferred_tasks</c>. Reads, inserts, updates and deletes from many task grains queue here;
/// a few flush loops each take what is queued (up to <see cref="DeferredTasksOptions.StoreMaxBatchSize"/>
/// operations, waiting at most <see cref="DeferredTasksOptions.StoreBatchLinger"/> for more while another batch
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

    public TaskBatcher(NpgsqlDataSource dataSource, string serviceId, DeferredTasksOptions options)
    {
        _dataSource = dataSource;
        _serviceId = serviceId;
        _maxBatch = options.StoreMaxBatchSize;
        _linger = options.StoreBatchLinger;
        _flushers = Enumerable.Range(0, options.StoreMaxBatchesInFlight).Select(_ => Task.Run(FlushLoopAsync)).ToArray();
    }

    public Task<TaskRow?> ReadAsync(string taskId) => Enqueue(new ReadOp(taskId));

    /// <summary>True when inserted; false when a row with this id exists.</summary>
    public Task<bool> InsertAsync(TaskRow row) => Enqueue(new InsertOp(row));

    /// <summary>The new version, or null when the stored version was not <paramref name="expectedVersion"/>.</summary>
    public Task<int?> UpdateAsync(TaskRow row, int expectedVersion) => Enqueue(new UpdateOp(row, expectedVersion));

    /// <summary>True when deleted; false when the stored version was not <paramref name="expectedVersion"/> or no row exists.</summary>
    public Task<bool> DeleteAsync(string taskId, int expectedVersion) => Enqueue(new DeleteOp(taskId, expectedVersion));

    /// <summary>
    /// Inserts <paramref name="rows"/> with one statement in one transaction of its own (not through the queue): all of
    /// them, or, when any id exists already, none (then it throws).
    /// </summary>
    public async Task InsertAllAsync(List<TaskRow> rows)
    {
        await using var connection = await _dataSource.OpenConnectionAsync().ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync().ConfigureAwait(false);
        await using var batch = new NpgsqlBatch(connection, transaction);
        batch.BatchCommands.Add(InsertCommand(rows.Select(r => new InsertOp(r)).ToList()));
        var inserted = 0;
        await using (var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false))
        {
            while (await reader.ReadAsync().ConfigureAwait(false))
            {
                inserted++;
            }
        }

        if (inserted != rows.Count)
        {
            await transaction.RollbackAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"{rows.Count - inserted} of the batch's {rows.Count} task ids are stored already; nothing was stored.");
        }

        await transaction.CommitAsync().ConfigureAwait(false);
    }

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
                using var timeout = new CancellationTokenSource(_linger);
                try
                {
                    while (batch.Count < _maxBatch && await reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false))
                    {
                        while (batch.Count < _maxBatch && reader.TryRead(out var op))
                        {
                            batch.Add(op);
                        }
                    }
                }
                catch (OperationCanceledException)
                {
                    // Linger over.
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
                while (await reader.ReadAsync().ConfigureAwait(false))
                {
                    var row = ReadRow(reader);
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

    private NpgsqlBatchCommand ReadCommand(List<ReadOp> ops)
    {
        var command = new NpgsqlBatchCommand(SqlQueries.TasksRead);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("task_ids", ops.Select(o => o.TaskId).Distinct(StringComparer.Ordinal).ToArray());
        return command;
    }

    private NpgsqlBatchCommand InsertCommand(List<InsertOp> ops)
    {
        var command = new NpgsqlBatchCommand(SqlQueries.TasksInsert);
        var states = ops.Select(o => o.Row.State).ToArray();
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("task_ids", ops.Select(o => o.Row.TaskId).ToArray());
        command.Parameters.AddWithValue("task_types", states.Select(s => s.TaskType).ToArray());
        AddMutable(command, states);
        command.Parameters.AddWithValue("enqueued_ats", states.Select(s => s.EnqueuedAt).ToArray());
        command.Parameters.AddWithValue("payloads", states.Select(s => s.Payload).ToArray());
        AddText(command, "trace_parents", states.Select(s => s.TraceParent));
        AddText(command, "trace_states", states.Select(s => s.TraceState));
        AddText(command, "baggages", states.Select(s => s.Baggage));
        return command;
    }

    private NpgsqlBatchCommand UpdateCommand(List<UpdateOp> ops)
    {
        var command = new NpgsqlBatchCommand(SqlQueries.TasksUpdate);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("task_ids", ops.Select(o => o.Row.TaskId).ToArray());
        command.Parameters.AddWithValue("versions", ops.Select(o => o.ExpectedVersion).ToArray());
        AddMutable(command, ops.Select(o => o.Row.State).ToArray());
        return command;
    }

    private NpgsqlBatchCommand DeleteCommand(List<DeleteOp> ops)
    {
        var command = new NpgsqlBatchCommand(SqlQueries.TasksDelete);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("task_ids", ops.Select(o => o.TaskId).ToArray());
        command.Parameters.AddWithValue("versions", ops.Select(o => o.ExpectedVersion).ToArray());
        return command;
    }

    private static void AddText(NpgsqlBatchCommand command, string name, IEnumerable<string?> values) =>
        command.Parameters.Add(new NpgsqlParameter(name, NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = values.ToArray() });

    /// <summary>The columns an update may change, shared by insert and update.</summary>
    private static void AddMutable(NpgsqlBatchCommand command, TaskRecord[] states)
    {
        command.Parameters.AddWithValue("statuses", states.Select(s => s.Status.ToString()).ToArray());
        command.Parameters.AddWithValue("attempts", states.Select(s => s.Attempts).ToArray());
        command.Parameters.AddWithValue("max_attempts", states.Select(s => s.MaxAttempts).ToArray());
        command.Parameters.AddWithValue("next_run_ats", states.Select(s => s.NextRunAt.ToUniversalTime()).ToArray());
        command.Parameters.AddWithValue("has_reminders", states.Select(s => s.HasReminder).ToArray());
        command.Parameters.Add(new NpgsqlParameter("last_errors", NpgsqlDbType.Array | NpgsqlDbType.Text)
        {
            Value = states.Select(s => TaskRow.ErrorJson(s.LastError)).ToArray(),
        });
        command.Parameters.Add(new NpgsqlParameter("owners", NpgsqlDbType.Array | NpgsqlDbType.Text)
        {
            Value = states.Select(s => s.Owner).ToArray(),
        });
        command.Parameters.Add(new NpgsqlParameter("running_sinces", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz)
        {
            Value = states.Select(s => s.RunningSince?.ToUniversalTime()).ToArray(),
        });
        command.Parameters.AddWithValue("interruptions", states.Select(s => s.Interruptions).ToArray());
    }

    private static TaskRow ReadRow(NpgsqlDataReader reader)
    {
        var state = new TaskRecord
        {
            TaskType = reader.GetString(1),
            Status = Enum.TryParse<DeferredTaskStatus>(reader.GetString(2), out var status) ? status : DeferredTaskStatus.Dead,
            Attempts = reader.GetInt32(3),
            MaxAttempts = reader.GetInt32(4),
            EnqueuedAt = reader.GetFieldValue<DateTimeOffset>(5),
            NextRunAt = reader.GetFieldValue<DateTimeOffset>(6),
            HasReminder = reader.GetBoolean(7),
            Payload = reader.GetFieldValue<byte[]>(8),
            LastError = reader.IsDBNull(9) ? null : TaskRow.ParseError(reader.GetString(9)),
            Owner = reader.IsDBNull(11) ? null : reader.GetString(11),
            RunningSince = reader.IsDBNull(12) ? null : reader.GetFieldValue<DateTimeOffset>(12),
            Interruptions = reader.GetInt32(13),
            TraceParent = reader.IsDBNull(14) ? null : reader.GetString(14),
            TraceState = reader.IsDBNull(15) ? null : reader.GetString(15),
            Baggage = reader.IsDBNull(16) ? null : reader.GetString(16),
        };
        return new TaskRow(reader.GetString(0), state, reader.GetInt32(10));
    }

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
