using System.Collections.Concurrent;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans;
using Orleans.Configuration;
using Orleans.Hosting;
using Xunit;

namespace Deferred.Tests.Integration;

/// <summary>
/// Transactional handlers: the handler's writes (to a ledger table with no unique constraint, so a second effect would
/// show as a second row) and the task's completion commit together, or not at all.
/// </summary>
public sealed class TransactionalHandlerTests
{
    [Fact]
    public async Task The_writes_the_delete_and_a_follow_up_enqueue_commit_together_once_per_task()
    {
        await using var cluster = await StartAsync();
        var ids = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            ids.Add(await cluster.Client.EnqueueAsync(new LedgerTask { Step = LedgerStep.WriteAndFollowUp, Note = $"n{i}" }));
        }

        await Eventually.True(async () => await cluster.CountRowsAsync() == 0 && cluster.Probe.Runs.Count == 20, "every task and its follow-up to end");
        var effects = await Ledger.EffectsAsync(cluster);
        Assert.Equal(ids.Order(StringComparer.Ordinal), effects.Select(e => e.TaskId).Order(StringComparer.Ordinal));
        Assert.All(effects, e => Assert.Equal(1, e.Attempt));
        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"follow-up of n{i}").Order(StringComparer.Ordinal), cluster.Probe.Runs.Select(r => r.Note).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_handler_that_throws_leaves_nothing_and_its_retry_writes_once()
    {
        await using var cluster = await StartAsync();
        var id = await cluster.Client.EnqueueAsync(new LedgerTask { Step = LedgerStep.WriteThenThrowOnFirstAttempt });

        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "the task to end");
        var effect = Assert.Single(await Ledger.EffectsAsync(cluster));
        Assert.Equal((id, 2), (effect.TaskId, effect.Attempt));
    }

    [Theory]
    [InlineData(LedgerStep.CommitItself)]
    [InlineData(LedgerStep.CommitAndDisposeItself)]
    [InlineData(LedgerStep.RollBackItself)]
    [InlineData(LedgerStep.CommitBySqlText)]
    public async Task A_handler_that_ends_its_transaction_itself_makes_the_task_dead_at_once_with_a_clear_error(LedgerStep step)
    {
        await using var cluster = await StartAsync();
        var id = await cluster.Client.EnqueueAsync(new LedgerTask { Step = step }, new DeferredEnqueueOptions { MaxAttempts = 5 });

        await Eventually.True(async () => (await cluster.Client.GetAsync(id))?.Status == DeferredTaskStatus.Dead, "the task to be dead");
        var dead = (await cluster.Client.GetAsync(id))!;
        Assert.Equal(1, dead.Attempts);
        Assert.Equal("Deferred.TransactionEnded", dead.LastError!.Type);
        Assert.Contains("committed or rolled back the transaction it was given", dead.LastError.Message);

        // What the handler committed itself stays (Deferred cannot take it back); what it rolled back is gone.
        Assert.Equal(step == LedgerStep.RollBackItself ? 0 : 1, (await Ledger.EffectsAsync(cluster)).Count);
    }

    [Fact]
    public async Task An_attempt_past_its_timeout_is_rolled_back_and_the_retry_writes_once()
    {
        await using var cluster = await StartAsync(timeout: TimeSpan.FromSeconds(1));
        var id = await cluster.Client.EnqueueAsync(new LedgerTask { Step = LedgerStep.WriteThenOutliveTheTimeoutOnFirstAttempt });

        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "the task to end");
        var effect = Assert.Single(await Ledger.EffectsAsync(cluster));
        Assert.Equal((id, 2), (effect.TaskId, effect.Attempt));
    }

    [Fact]
    public async Task A_connection_lost_mid_attempt_rolls_back_and_the_retry_writes_once()
    {
        await using var cluster = await StartAsync();
        var gate = Ledger.GateFor(cluster.ServiceId);
        var id = await cluster.Client.EnqueueAsync(new LedgerTask { Step = LedgerStep.WriteThenWaitOnFirstAttempt });

        var backend = await gate.Written.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await using (var kill = cluster.Database.DataSource.CreateCommand($"SELECT pg_terminate_backend({backend})"))
        {
            Assert.True((bool)(await kill.ExecuteScalarAsync())!);
        }

        gate.Proceed.TrySetResult();
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "the task to end");
        var effect = Assert.Single(await Ledger.EffectsAsync(cluster));
        Assert.Equal((id, 2), (effect.TaskId, effect.Attempt));
    }

    [Fact]
    public async Task A_database_restart_between_the_handlers_writes_and_the_commit_loses_the_attempt_and_the_retry_writes_once()
    {
        await using var server = await OwnPostgres.StartAsync();
        await using var database = await TestDatabase.CreateAsync(migrate: true, server.ConnectionString);
        await using var cluster = await StartAsync(database: database);
        var gate = Ledger.GateFor(cluster.ServiceId);
        var id = await cluster.Client.EnqueueAsync(new LedgerTask { Step = LedgerStep.WriteThenWaitThenReturnOnFirstAttempt });

        await gate.Written.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await server.StopAsync();
        await server.StartAgainAsync();
        gate.Proceed.TrySetResult();

        // The test's own pooled connections broke with the restart too: a probe that meets one looks again.
        await Eventually.True(
            async () =>
            {
                try
                {
                    return await cluster.CountRowsAsync() == 0;
                }
                catch (NpgsqlException)
                {
                    return false;
                }
            },
            "the task to end",
            TimeSpan.FromSeconds(90));
        var effect = Assert.Single(await Ledger.EffectsAsync(cluster));
        Assert.Equal((id, 2), (effect.TaskId, effect.Attempt));
    }

    [Fact]
    public async Task An_attempt_whose_row_changed_under_it_is_rolled_back_and_the_row_as_stored_decides()
    {
        await using var cluster = await StartAsync();
        var gate = Ledger.GateFor(cluster.ServiceId);
        var id = await cluster.Client.EnqueueAsync(new LedgerTask { Step = LedgerStep.WriteThenWaitThenReturnOnFirstAttempt });
        await gate.Written.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // Another writer moved the row on while the handler ran (as an activation that took the task over would).
        await using (var bump = cluster.Database.DataSource.CreateCommand("UPDATE deferred_tasks SET version = version + 1 WHERE service_id = @s AND task_id = @t"))
        {
            bump.Parameters.AddWithValue("s", cluster.ServiceId);
            bump.Parameters.AddWithValue("t", id);
            Assert.Equal(1, await bump.ExecuteNonQueryAsync());
        }

        gate.Proceed.TrySetResult();

        // The first run's write was rolled back with its delete; the row, still pending, ran again and committed once.
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "the task to end");
        var effect = Assert.Single(await Ledger.EffectsAsync(cluster));
        Assert.Equal(id, effect.TaskId);
    }

    [Fact]
    public async Task Keyed_tasks_under_a_cluster_limit_run_in_order_and_leave_no_hold_or_lease_behind()
    {
        await using var cluster = await StartAsync(configure: o => o.ConcurrencyLimits[LedgerTask.Name] = new DeferredConcurrencyLimit { Cluster = 1 });
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await cluster.Client.EnqueueAsync(new LedgerTask { Step = LedgerStep.Write, Note = $"k{i}" }, new DeferredEnqueueOptions { OrderingKey = "account-1" }));
        }

        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "every task to end");
        Assert.Equal(ids, (await Ledger.EffectsAsync(cluster)).OrderBy(e => e.Seq).Select(e => e.TaskId));
        Assert.Equal(0L, await CountAsync(cluster, "deferred_ordering_holds"));
        Assert.Equal(0L, await CountAsync(cluster, "deferred_concurrency_leases"));
    }

    [Fact]
    public async Task A_caller_chosen_id_is_remembered_by_the_commit_so_a_repeated_enqueue_stores_nothing()
    {
        await using var cluster = await StartAsync(configure: o => o.CompletedIdRetention = TimeSpan.FromMinutes(5));
        await cluster.Client.EnqueueAsync(new LedgerTask { Step = LedgerStep.Write }, new DeferredEnqueueOptions { TaskId = "invoice-7" });
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "the task to end");

        var again = await cluster.Client.EnqueueWithResultAsync(new LedgerTask { Step = LedgerStep.Write }, new DeferredEnqueueOptions { TaskId = "invoice-7" });

        Assert.False(again.Created);
        Assert.Equal(0L, await cluster.CountRowsAsync());
        Assert.Single(await Ledger.EffectsAsync(cluster));
    }

    [Fact]
    public async Task The_stock_store_refuses_a_transactional_handler_at_silo_start()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync(store: DeferredStore.OrleansAdoNet));

        var refusal = Chain(error).OfType<NotSupportedException>().FirstOrDefault();
        Assert.True(refusal is not null, ExceptionText.Flatten(error));
        var text = refusal.Message;
        Assert.Contains($"Task type '{LedgerTask.Name}' has a transactional handler", text);
        Assert.Contains("OrleansAdoNet store does not support", text);
    }

    private static IEnumerable<Exception> Chain(Exception error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            yield return e;
            if (e is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions.SelectMany(Chain))
                {
                    yield return inner;
                }
            }
        }
    }

    private static async Task<long> CountAsync(DeferredTestCluster cluster, string table)
    {
        await using var command = cluster.Database.DataSource.CreateCommand($"SELECT count(*) FROM {table} WHERE service_id = @s");
        command.Parameters.AddWithValue("s", cluster.ServiceId);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<DeferredTestCluster> StartAsync(
        Action<DeferredOptions>? configure = null,
        TimeSpan? timeout = null,
        TestDatabase? database = null,
        DeferredStore store = DeferredStore.Postgres)
    {
        await Ledger.CreateAsync(database ?? await TestDatabase.Shared);
        return await DeferredTestCluster.StartAsync(
            o =>
            {
                o.RetryBackoff = _ => TimeSpan.FromMilliseconds(100);
                configure?.Invoke(o);
            },
            configureSilo: silo => silo.Services.AddDeferredTransactionalTaskHandler<LedgerTask, LedgerHandler>(timeout: timeout),
            database: database,
            store: store);
    }
}

public enum LedgerStep
{
    Write,
    WriteAndFollowUp,
    WriteThenThrowOnFirstAttempt,
    WriteThenOutliveTheTimeoutOnFirstAttempt,
    WriteThenWaitOnFirstAttempt,
    WriteThenWaitThenReturnOnFirstAttempt,
    CommitItself,
    CommitAndDisposeItself,
    RollBackItself,
    CommitBySqlText,
}

[GenerateSerializer]
[Alias(Name)]
public sealed record LedgerTask
{
    public const string Name = "test.ledger";

    [Id(0)] public LedgerStep Step { get; init; }

    [Id(1)] public string Note { get; init; } = "";
}

/// <summary>The test ledger: one row per effect of a transactional handler, deliberately without a unique constraint.</summary>
internal static class Ledger
{
    private static readonly ConcurrentDictionary<string, LedgerGate> Gates = new();
    private static readonly SemaphoreSlim Creating = new(1, 1);

    public static LedgerGate GateFor(string serviceId) => Gates.GetOrAdd(serviceId, _ => new LedgerGate());

    public static async Task CreateAsync(TestDatabase database)
    {
        await Creating.WaitAsync();
        try
        {
            await using var command = database.DataSource.CreateCommand(
                "CREATE TABLE IF NOT EXISTS test_ledger (seq bigserial, service_id text NOT NULL, task_id text NOT NULL, attempt int NOT NULL)");
            await command.ExecuteNonQueryAsync();
        }
        finally
        {
            Creating.Release();
        }
    }

    public static async Task<List<(long Seq, string TaskId, int Attempt)>> EffectsAsync(DeferredTestCluster cluster)
    {
        await using var command = cluster.Database.DataSource.CreateCommand("SELECT seq, task_id, attempt FROM test_ledger WHERE service_id = @s");
        command.Parameters.AddWithValue("s", cluster.ServiceId);
        var effects = new List<(long, string, int)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            effects.Add((reader.GetInt64(0), reader.GetString(1), reader.GetInt32(2)));
        }

        return effects;
    }
}

/// <summary>Where a waiting handler says it has written (with its backend's pid), and waits to go on.</summary>
internal sealed class LedgerGate
{
    public TaskCompletionSource<int> Written { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource Proceed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

internal sealed class LedgerHandler(IOptions<ClusterOptions> cluster, DeferredTransactionalEnqueuer enqueuer) : IDeferredTransactionalHandler<LedgerTask>
{
    public async Task ExecuteAsync(LedgerTask task, DeferredTaskContext context, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var first = context.Attempt == 1;
        await using (var write = new NpgsqlCommand("INSERT INTO test_ledger (service_id, task_id, attempt) VALUES (@s, @t, @a)", transaction.Connection, transaction))
        {
            write.Parameters.AddWithValue("s", cluster.Value.ServiceId);
            write.Parameters.AddWithValue("t", context.TaskId);
            write.Parameters.AddWithValue("a", context.Attempt);
            await write.ExecuteNonQueryAsync(cancellationToken);
        }

        switch (task.Step)
        {
            case LedgerStep.WriteAndFollowUp:
                await enqueuer.EnqueueAsync(transaction, new ProbeTask { Note = "follow-up of " + task.Note }, cancellationToken: cancellationToken);
                break;
            case LedgerStep.WriteThenThrowOnFirstAttempt when first:
                throw new InvalidOperationException("the first attempt fails after its write");
            case LedgerStep.WriteThenOutliveTheTimeoutOnFirstAttempt when first:
                // Waits for the attempt timeout's cancellation, the only thing that ends it.
                await new TaskCompletionSource().Task.WaitAsync(cancellationToken);
                break;
            case LedgerStep.WriteThenWaitThenReturnOnFirstAttempt when first:
                // Returns normally: the commit is what meets the broken connection.
                var returning = Ledger.GateFor(cluster.Value.ServiceId);
                returning.Written.TrySetResult(transaction.Connection!.ProcessID);
                await returning.Proceed.Task.WaitAsync(cancellationToken);
                break;
            case LedgerStep.WriteThenWaitOnFirstAttempt when first:
                var gate = Ledger.GateFor(cluster.Value.ServiceId);
                gate.Written.TrySetResult(transaction.Connection!.ProcessID);
                await gate.Proceed.Task.WaitAsync(cancellationToken);

                // The connection is gone (terminated, or the server restarted): this fails, as a handler's next write would.
                await using (var again = new NpgsqlCommand("SELECT 1", transaction.Connection, transaction))
                {
                    await again.ExecuteScalarAsync(cancellationToken);
                }

                break;
            case LedgerStep.CommitItself:
                await transaction.CommitAsync(cancellationToken);
                break;
            case LedgerStep.CommitAndDisposeItself:
                await transaction.CommitAsync(cancellationToken);
                await transaction.DisposeAsync();
                break;
            case LedgerStep.RollBackItself:
                await transaction.RollbackAsync(cancellationToken);
                break;
            case LedgerStep.CommitBySqlText:
                await using (var commit = new NpgsqlCommand("COMMIT", transaction.Connection))
                {
                    await commit.ExecuteNonQueryAsync(cancellationToken);
                }

                break;
        }
    }
}
