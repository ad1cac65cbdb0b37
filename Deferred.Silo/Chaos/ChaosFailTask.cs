using Deferred.Storage;
using Npgsql;

namespace Deferred.Silo.Chaos;

/// <summary>
/// The bulk-retry chaos run's task (scripts/chaos-bulk.sh): its handler records the run in <c>chaos_bulk_runs</c>
/// and then always fails, so with <c>MaxAttempts = 1</c> every attempt ends the task dead again.
/// </summary>
[GenerateSerializer, Alias(TypeName)]
public sealed record ChaosFailTask
{
    /// <summary>The stored task type, which the run's bulk retry filters on.</summary>
    public const string TypeName = "deferred.chaos.fail";

    /// <summary>The chaos run that enqueued the task.</summary>
    [Id(0)] public required string RunId { get; init; }
}

/// <summary>The failure a <see cref="ChaosFailTask"/> raises on every run.</summary>
public sealed class ChaosFailureException(string message) : Exception(message);

/// <summary>
/// <c>chaos_bulk_runs</c>: one row per run of a <see cref="ChaosFailTask"/> (task id, silo process id, the database's
/// clock when the run began), so a script can count runs per task per bulk action. Not Deferred's schema: the
/// chaos-bulk client creates it before it enqueues anything. No unique constraint: a task that runs twice leaves two rows.
/// </summary>
internal sealed class ChaosRunLedger(DeferredDatabase database)
{
    private const string CreateSql = """
        CREATE TABLE IF NOT EXISTS chaos_bulk_runs
        (
            run_id   text        NOT NULL,
            task_id  text        NOT NULL,
            silo_pid integer     NOT NULL,
            ran_at   timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        CREATE INDEX IF NOT EXISTS ix_chaos_bulk_runs_run ON chaos_bulk_runs (run_id, task_id);
        """;

    private const string RecordSql = "INSERT INTO chaos_bulk_runs (run_id, task_id, silo_pid) VALUES (@run_id, @task_id, @silo_pid)";

    /// <summary>Creates the table if it is missing, on its own unpooled connection (the client, before it enqueues).</summary>
    public static async Task EnsureCreatedAsync(string connectionString, CancellationToken cancellationToken)
    {
        await using var dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false });
        await using var command = dataSource.CreateCommand(CreateSql);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task RecordAsync(string runId, string taskId, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(RecordSql);
        command.Parameters.AddWithValue("run_id", runId);
        command.Parameters.AddWithValue("task_id", taskId);
        command.Parameters.AddWithValue("silo_pid", Environment.ProcessId);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

/// <summary>Runs a <see cref="ChaosFailTask"/>: records the run, then fails; never retried (the task is dead at once).</summary>
internal sealed class ChaosFailTaskHandler(ChaosRunLedger ledger) : IDeferredTaskHandler<ChaosFailTask>, IDeferredRetryPolicy<ChaosFailTask>
{
    public async Task ExecuteAsync(ChaosFailTask task, DeferredTaskContext context, CancellationToken cancellationToken)
    {
        // If the record fails (database down) the attempt fails with that error instead: the task dies all the same,
        // and the run is missing from the ledger (an undercount, never a false duplicate).
        await ledger.RecordAsync(task.RunId, context.TaskId, cancellationToken);
        throw new ChaosFailureException($"Chaos task {context.TaskId} fails on purpose (attempt {context.Attempt}).");
    }

    public RetryDecision Decide(DeferredTaskFailure failure) => RetryDecision.GiveUp;
}
