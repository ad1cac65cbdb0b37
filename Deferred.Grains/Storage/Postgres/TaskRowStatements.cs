using Deferred.Lifecycle;
using Npgsql;
using NpgsqlTypes;

namespace Deferred.Storage.Postgres;

/// <summary>
/// The array-parameter statements over <c>deferred_tasks</c> rows (<c>tasks-read/insert/update/delete.sql</c>): what
/// <see cref="TaskBatcher"/> sends for many tasks at once, and the one-transaction batch insert. The rows they return
/// are read by <see cref="TaskRowReader"/>.
/// </summary>
internal static class TaskRowStatements
{
    public static NpgsqlBatchCommand Read(string serviceId, string[] taskIds)
    {
        var command = new NpgsqlBatchCommand(SqlQueries.TasksRead);
        command.Parameters.AddWithValue("service_id", serviceId);
        command.Parameters.AddWithValue("task_ids", taskIds);
        return command;
    }

    /// <summary>Inserts the rows; an existing id inserts nothing and is missing from RETURNING.</summary>
    public static NpgsqlBatchCommand Insert(string serviceId, TaskRow[] rows, TimeSpan completedIdRetention)
    {
        var command = new NpgsqlBatchCommand(SqlQueries.TasksInsert);
        var states = Array.ConvertAll(rows, r => r.State);
        command.Parameters.AddWithValue("service_id", serviceId);
        command.Parameters.AddWithValue("task_ids", Array.ConvertAll(rows, r => r.TaskId));
        command.Parameters.AddWithValue("task_types", Array.ConvertAll(states, s => s.TaskType));
        AddMutable(command, states);
        command.Parameters.AddWithValue("enqueued_ats", Array.ConvertAll(states, s => s.EnqueuedAt));
        command.Parameters.AddWithValue("payloads", Array.ConvertAll(states, s => s.Payload));
        AddText(command, "trace_parents", Array.ConvertAll(states, s => s.TraceParent));
        AddText(command, "trace_states", Array.ConvertAll(states, s => s.TraceState));
        AddText(command, "baggages", Array.ConvertAll(states, s => s.Baggage));
        AddText(command, "ordering_keys", Array.ConvertAll(states, s => s.OrderingKey));
        command.Parameters.Add(new NpgsqlParameter("request_contexts", NpgsqlDbType.Array | NpgsqlDbType.Bytea) { Value = Array.ConvertAll(states, s => s.RequestContext) });
        command.Parameters.AddWithValue("caller_ids", Array.ConvertAll(states, s => s.CallerChosenId));
        command.Parameters.AddWithValue("completed_id_retention", completedIdRetention);
        return command;
    }

    /// <summary>Updates the rows still at <paramref name="versions"/>; the others are missing from RETURNING.</summary>
    public static NpgsqlBatchCommand Update(string serviceId, TaskRow[] rows, int[] versions)
    {
        var command = new NpgsqlBatchCommand(SqlQueries.TasksUpdate);
        command.Parameters.AddWithValue("service_id", serviceId);
        command.Parameters.AddWithValue("task_ids", Array.ConvertAll(rows, r => r.TaskId));
        command.Parameters.AddWithValue("versions", versions);
        AddMutable(command, Array.ConvertAll(rows, r => r.State));
        return command;
    }

    /// <summary>Deletes the rows still at <paramref name="versions"/>; remembers the caller-chosen ids among them when <paramref name="rememberCompleted"/>.</summary>
    public static NpgsqlBatchCommand Delete(string serviceId, string[] taskIds, int[] versions, bool rememberCompleted)
    {
        var command = new NpgsqlBatchCommand(SqlQueries.TasksDelete);
        command.Parameters.AddWithValue("service_id", serviceId);
        command.Parameters.AddWithValue("task_ids", taskIds);
        command.Parameters.AddWithValue("versions", versions);
        command.Parameters.AddWithValue("remember_completed", rememberCompleted);
        return command;
    }

    /// <summary>
    /// Inserts <paramref name="rows"/> with one statement in one transaction of its own (not through the batcher's
    /// queue): all of them, or, when any id exists already, none (then it throws).
    /// </summary>
    public static async Task InsertAllAsync(NpgsqlDataSource dataSource, string serviceId, TaskRow[] rows)
    {
        await using var connection = await dataSource.OpenConnectionAsync().ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync().ConfigureAwait(false);
        await using var batch = new NpgsqlBatch(connection, transaction);
        // Batches carry generated ids only, never checked against completed ids.
        batch.BatchCommands.Add(Insert(serviceId, rows, TimeSpan.Zero));
        var inserted = 0;
        await using (var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false))
        {
            while (await reader.ReadAsync().ConfigureAwait(false))
            {
                inserted++;
            }
        }

        if (inserted != rows.Length)
        {
            await transaction.RollbackAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"{rows.Length - inserted} of the batch's {rows.Length} task ids are stored already; nothing was stored.");
        }

        await transaction.CommitAsync().ConfigureAwait(false);
    }

    private static void AddText(NpgsqlBatchCommand command, string name, string?[] values) =>
        command.Parameters.Add(new NpgsqlParameter(name, NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = values });

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
        command.Parameters.AddWithValue("snoozes", states.Select(s => s.Snoozes).ToArray());
    }
}
