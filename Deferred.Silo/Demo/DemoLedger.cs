using Deferred.Storage;
using Npgsql;

namespace Deferred.Silo.Demo;

/// <summary>
/// The sample's demo_completions table (<see cref="DemoSchema"/>): one row per completed attempt of a sample task.
/// The table is created on first use, so a silo that runs recovered sample tasks, or a database migrated past
/// 0010 (which dropped the old copy), needs no other step.
/// </summary>
internal sealed class DemoLedger(DeferredDatabase database)
{
    private static readonly string RecordSql = DemoSchema.Load("record-completion");
    private static readonly string CountSql = DemoSchema.Load("count-completions");

    // Set once the table is known to exist; a failed attempt (database down) is simply tried again next time.
    private volatile bool _created;

    /// <summary>Creates demo_completions if it is missing (once per process once it succeeded).</summary>
    public async Task EnsureCreatedAsync(CancellationToken cancellationToken)
    {
        if (_created)
        {
            return;
        }

        await DemoSchema.EnsureCreatedAsync(database.DataSource, cancellationToken);
        _created = true;
    }

    public async Task RecordAsync(string taskId, string runId, int attempt, CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken);
        await using var command = database.DataSource.CreateCommand(RecordSql);
        await RecordAsync(command, taskId, runId, attempt, "plain", cancellationToken);
    }

    /// <summary>Records a completion in <paramref name="transaction"/>: it is stored if and only if that transaction commits.</summary>
    public async Task RecordAsync(NpgsqlTransaction transaction, string taskId, string runId, int attempt, CancellationToken cancellationToken)
    {
        // Created outside the transaction: a failed create must not poison it.
        await EnsureCreatedAsync(cancellationToken);
        await using var command = new NpgsqlCommand(RecordSql, transaction.Connection, transaction);
        await RecordAsync(command, taskId, runId, attempt, "transactional", cancellationToken);
    }

    private static async Task RecordAsync(NpgsqlCommand command, string taskId, string runId, int attempt, string kind, CancellationToken cancellationToken)
    {
        command.Parameters.AddWithValue("task_id", taskId);
        command.Parameters.AddWithValue("run_id", runId);
        command.Parameters.AddWithValue("silo_pid", Environment.ProcessId);
        command.Parameters.AddWithValue("attempt", attempt);
        command.Parameters.AddWithValue("kind", kind);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Distinct completed task ids and duplicate completions, for one run or (null) all runs.</summary>
    public async Task<(long Completed, long Duplicates)> CountAsync(string? runId, CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken);
        await using var command = database.DataSource.CreateCommand(CountSql);
        command.Parameters.Add(new NpgsqlParameter("run_id", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)runId ?? DBNull.Value });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var completed = reader.GetInt64(0);
        return (completed, reader.GetInt64(1) - completed);
    }
}

/// <summary>Runs a <see cref="DemoTask"/>: fails on purpose when asked, otherwise records the completion.</summary>
internal sealed class DemoTaskHandler(DemoLedger ledger) : IDeferredTaskHandler<DemoTask>, IDeferredRetryPolicy<DemoTask>
{
    public async Task ExecuteAsync(DemoTask task, DeferredTaskContext context, CancellationToken cancellationToken)
    {
        if (task.FailFirstAttempt && context.Attempt == 1)
        {
            throw new DemoFailureException($"Demo task {context.TaskId} fails its first attempt on purpose.");
        }

        await ledger.RecordAsync(context.TaskId, task.RunId, context.Attempt, cancellationToken);
    }

    // The default schedule waits 11-25 s before the first retry; the demo shows retries without the wait.
    public RetryDecision Decide(DeferredTaskFailure failure) => RetryDecision.RetryAfter(TimeSpan.FromSeconds(1));
}

/// <summary>Runs a <see cref="DemoTransactionalTask"/>: records the completion in the transaction that ends the task.</summary>
internal sealed class DemoTransactionalTaskHandler(DemoLedger ledger) : IDeferredTransactionalHandler<DemoTransactionalTask>, IDeferredRetryPolicy<DemoTransactionalTask>
{
    public Task ExecuteAsync(DemoTransactionalTask task, DeferredTaskContext context, NpgsqlTransaction transaction, CancellationToken cancellationToken) =>
        ledger.RecordAsync(transaction, context.TaskId, task.RunId, context.Attempt, cancellationToken);

    // As the plain demo task: a commit lost to a database restart is tried again after a second.
    public RetryDecision Decide(DeferredTaskFailure failure) => RetryDecision.RetryAfter(TimeSpan.FromSeconds(1));
}
