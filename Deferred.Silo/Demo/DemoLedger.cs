using Deferred.Storage;
using Npgsql;

namespace Deferred.Silo.Demo;

/// <summary>The demo_completions table (migration 0006): one row per completed attempt of a sample task.</summary>
internal sealed class DemoLedger(DeferredDatabase database)
{
    private static readonly string RecordSql = Load("record-completion");
    private static readonly string CountSql = Load("count-completions");

    public async Task RecordAsync(string taskId, string runId, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(RecordSql);
        command.Parameters.AddWithValue("task_id", taskId);
        command.Parameters.AddWithValue("run_id", runId);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Distinct completed task ids and duplicate completions, for one run or (null) all runs.</summary>
    public async Task<(long Completed, long Duplicates)> CountAsync(string? runId, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(CountSql);
        command.Parameters.Add(new NpgsqlParameter("run_id", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)runId ?? DBNull.Value });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var completed = reader.GetInt64(0);
        return (completed, reader.GetInt64(1) - completed);
    }

    private static string Load(string name)
    {
        using var stream = typeof(DemoLedger).Assembly.GetManifestResourceStream($"Deferred.Silo.Demo.{name}.sql")
            ?? throw new InvalidOperationException($"Embedded SQL '{name}.sql' is missing; the build is broken.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
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

        await ledger.RecordAsync(context.TaskId, task.RunId, cancellationToken);
    }

    // The default schedule waits 11-25 s before the first retry; the demo shows retries without the wait.
    public RetryDecision Decide(DeferredTaskFailure failure) => RetryDecision.RetryAfter(TimeSpan.FromSeconds(1));
}
