using Deferred.Storage.Postgres;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit;

namespace Deferred.Tests.Integration;

/// <summary>Enqueue inside the app's own transaction: stored if and only if it commits, then woken by a notification.</summary>
public sealed class TransactionalEnqueueTests : StoreConformance
{
    protected override DeferredStore Store => DeferredStore.Postgres;

    [Fact]
    public async Task A_task_enqueued_in_a_committed_transaction_runs_and_one_in_a_rolled_back_one_is_never_stored()
    {
        // A sweep interval far longer than the test: only the notification can wake the sweep in time.
        await using var cluster = await StartAsync(o => o.SweepInterval = TimeSpan.FromMinutes(10));
        await cluster.Recovery(0).StartupSweep;
        var enqueuer = Enqueuer(cluster);
        await using var app = NpgsqlDataSource.Create(cluster.Database.ConnectionString);

        string rolledBack;
        await using (var connection = await app.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            rolledBack = await enqueuer.EnqueueAsync(transaction, new ProbeTask { Note = "rolled back" });
            await transaction.RollbackAsync();
        }

        string committed;
        await using (var connection = await app.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            committed = await enqueuer.EnqueueAsync(transaction, new ProbeTask { Note = "committed" });
            Assert.Equal(0, await cluster.CountRowsAsync());
            await transaction.CommitAsync();
        }

        await cluster.Probe.WaitForRunsAsync(committed, 1);
        Assert.Empty(cluster.Probe.RunsOf(rolledBack));
        Assert.Null(await cluster.Client.GetAsync(rolledBack));
    }

    [Fact]
    public async Task A_killed_listening_connection_is_reopened_so_a_later_commit_still_wakes_the_sweep()
    {
        await using var cluster = await StartAsync(o => o.SweepInterval = TimeSpan.FromMinutes(10));
        await cluster.Recovery(0).StartupSweep;
        var signal = cluster.Cluster.Silos[0].ServiceProvider.GetRequiredService<PostgresNewTaskSignal>();
        await Eventually.True(() => Task.FromResult(signal.ListenerProcessId is not null), "the silo to listen");
        var killed = signal.ListenerProcessId!.Value;
        await using var app = NpgsqlDataSource.Create(cluster.Database.ConnectionString);
        await using (var kill = app.CreateCommand($"SELECT pg_terminate_backend({killed})"))
        {
            await kill.ExecuteScalarAsync();
        }

        await Eventually.True(() => Task.FromResult(signal.ListenerProcessId is { } pid && pid != killed), "a new listening connection");
        string taskId;
        await using (var connection = await app.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            taskId = await Enqueuer(cluster).EnqueueAsync(transaction, new ProbeTask { Note = "after the kill" });
            await transaction.CommitAsync();
        }

        await cluster.Probe.WaitForRunsAsync(taskId, 1);
    }

    [Fact]
    public async Task Bad_transactions_are_refused_with_a_clear_error()
    {
        await using var cluster = await StartAsync();
        var enqueuer = Enqueuer(cluster);
        await using var app = NpgsqlDataSource.Create(cluster.Database.ConnectionString);
        await using var connection = await app.OpenConnectionAsync();
        var finished = await connection.BeginTransactionAsync();
        await finished.CommitAsync();
        var error = await Assert.ThrowsAsync<ArgumentException>(() => enqueuer.EnqueueAsync(finished, new ProbeTask()));
        Assert.Contains("already committed or rolled back", error.Message);

        // A database without Deferred's table: refused before anything is written.
        var other = new NpgsqlConnectionStringBuilder(cluster.Database.ConnectionString) { Database = "postgres" };
        await using var elsewhere = new NpgsqlConnection(other.ConnectionString);
        await elsewhere.OpenAsync();
        await using var transaction = await elsewhere.BeginTransactionAsync();
        var wrong = await Assert.ThrowsAsync<InvalidOperationException>(() => enqueuer.EnqueueAsync(transaction, new ProbeTask()));
        Assert.Contains("'postgres' has no deferred_tasks table", wrong.Message);
    }

    private static DeferredTransactionalEnqueuer Enqueuer(DeferredTestCluster cluster) =>
        cluster.Cluster.Client.ServiceProvider.GetRequiredService<DeferredTransactionalEnqueuer>();
}
