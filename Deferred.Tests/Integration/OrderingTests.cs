using System.Collections.Concurrent;
using Deferred.Execution;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;
using Xunit;

namespace Deferred.Tests.Integration;

/// <summary>A task of an ordering test: its key, its place in the enqueue order, and how its handler behaves.</summary>
[GenerateSerializer, Alias("deferred.tests.ordered")]
public sealed record OrderedTask
{
    [Id(0)] public string Key { get; init; } = "";

    [Id(1)] public int Index { get; init; }

    /// <summary>Fail the attempts before this one (0: never fail).</summary>
    [Id(2)] public int SucceedOnAttempt { get; init; }

    /// <summary>Wait for the test's gate before returning.</summary>
    [Id(3)] public bool Gated { get; init; }

    /// <summary>Fail the first run of this task, whatever its attempt number.</summary>
    [Id(4)] public bool FailFirstRun { get; init; }

    /// <summary>Wait until the test lets this one task go (<see cref="OrderLog.Release"/>), so tasks are held one by one.</summary>
    [Id(5)] public bool Stepwise { get; init; }
}

/// <summary>What the ordered handlers of one service saw: starts in order, and the most running at once per key.</summary>
public sealed class OrderLog
{
    private static readonly ConcurrentDictionary<string, OrderLog> ByService = new();
    private readonly ConcurrentQueue<(string Key, int Index, int Attempt, DateTimeOffset At)> _starts = new();
    private readonly ConcurrentQueue<(string Key, int Index, DateTimeOffset At)> _successes = new();
    private readonly ConcurrentDictionary<string, int> _running = new();
    private int _overlaps;

    public static OrderLog For(string serviceId) => ByService.GetOrAdd(serviceId, _ => new OrderLog());

    /// <summary>Completed by the test to let gated handlers return.</summary>
    public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly ConcurrentDictionary<(string Key, int Index), TaskCompletionSource> _steps = new();

    /// <summary>Lets the held <see cref="OrderedTask.Stepwise"/> task of <paramref name="key"/> at <paramref name="index"/> return.</summary>
    public void Release(string key, int index) => Step(key, index).TrySetResult();

    public Task StepAsync(OrderedTask task, CancellationToken cancellationToken) => Step(task.Key, task.Index).Task.WaitAsync(cancellationToken);

    private TaskCompletionSource Step(string key, int index) =>
        _steps.GetOrAdd((key, index), _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    /// <summary>Times a handler started while another of its key was running.</summary>
    public int Overlaps => Volatile.Read(ref _overlaps);

    public IReadOnlyList<(string Key, int Index, int Attempt, DateTimeOffset At)> Starts => [.. _starts];

    public IReadOnlyList<(string Key, int Index, DateTimeOffset At)> Successes => [.. _successes];

    public int[] SucceededIndexes(string key) => [.. _successes.Where(s => s.Key == key).Select(s => s.Index)];

    public void Enter(OrderedTask task, int attempt)
    {
        if (_running.AddOrUpdate(task.Key, 1, (_, n) => n + 1) > 1)
        {
            Interlocked.Increment(ref _overlaps);
        }

        _starts.Enqueue((task.Key, task.Index, attempt, DateTimeOffset.UtcNow));
    }

    public void Exit(OrderedTask task, bool succeeded)
    {
        if (succeeded)
        {
            _successes.Enqueue((task.Key, task.Index, DateTimeOffset.UtcNow));
        }

        _running.AddOrUpdate(task.Key, 0, (_, n) => n - 1);
    }
}

internal sealed class OrderedHandler(IOptions<ClusterOptions> cluster) : IDeferredTaskHandler<OrderedTask>
{
    public async Task ExecuteAsync(OrderedTask task, DeferredTaskContext context, CancellationToken cancellationToken)
    {
        var log = OrderLog.For(cluster.Value.ServiceId);
        log.Enter(task, context.Attempt);
        var succeeded = false;
        try
        {
            if (context.Attempt < task.SucceedOnAttempt || task.SucceedOnAttempt < 0 || (task.FailFirstRun && log.Starts.Count(s => s.Key == task.Key && s.Index == task.Index) == 1))
            {
                throw new InvalidOperationException($"ordered failure on attempt {context.Attempt}");
            }

            if (task.Stepwise)
            {
                await log.StepAsync(task, cancellationToken);
            }
            else if (task.Gated)
            {
                await log.Gate.Task.WaitAsync(cancellationToken);
            }

            succeeded = true;
        }
        finally
        {
            log.Exit(task, succeeded);
        }
    }
}

/// <summary>
/// Per-key ordering (DeferredEnqueueOptions.OrderingKey): one task of a key at a time, in enqueue order, across silos; a
/// failed task holds its key until it succeeds, a dead one until an operator deletes it; tasks without a key are not held.
/// Default store only: the stock store refuses keyed tasks (tested below).
/// </summary>
public sealed class OrderingTests
{
    private static Task<DeferredTestCluster> StartAsync(short silos = 1, DeferredStore store = DeferredStore.Postgres) =>
        DeferredTestCluster.StartAsync(
            o => o.RetryBackoff = _ => TimeSpan.FromMilliseconds(100),
            silos,
            silo => silo.Services.AddDeferredTaskHandler<OrderedTask, OrderedHandler>(),
            store: store);

    private static DeferredEnqueueOptions Key(string key, int? maxAttempts = null) => new() { OrderingKey = key, MaxAttempts = maxAttempts };

    [Fact]
    public async Task Tasks_of_a_key_run_one_at_a_time_in_enqueue_order_across_three_silos()
    {
        await using var cluster = await StartAsync(silos: 3);
        var log = OrderLog.For(cluster.ServiceId);
        string[] keys = ["order-1", "order-2", "order-3"];
        for (var i = 0; i < 12; i++)
        {
            foreach (var key in keys)
            {
                // Each enqueue of a key is acknowledged before the next starts, on a different silo each time: the key's
                // order is defined, and its tasks run on three silos.
                await cluster.OnSilo((i + Array.IndexOf(keys, key)) % 3).EnqueueAsync(new OrderedTask { Key = key, Index = i, Stepwise = true }, Key(key));
            }
        }

        // Every handler is held until the test lets it go, one task at a time: a task that started out of turn would be
        // in its handler together with the held one, and counted as an overlap, however fast or slow the machine.
        for (var i = 0; i < 12; i++)
        {
            foreach (var key in keys)
            {
                await Eventually.True(() => Task.FromResult(log.Starts.Any(s => s.Key == key && s.Index == i)), $"task {i} of {key} to start");
                Assert.Equal(Enumerable.Range(0, i + 1), log.Starts.Where(s => s.Key == key).Select(s => s.Index));
                Assert.True(log.Overlaps == 0, $"{log.Overlaps} time(s) a task started while another of its key ran");
                log.Release(key, i);
            }
        }

        await Eventually.True(() => Task.FromResult(log.Successes.Count == 36), "all 36 ordered tasks to succeed");

        Assert.True(log.Overlaps == 0, $"{log.Overlaps} time(s) a task started while another of its key ran");
        foreach (var key in keys)
        {
            Assert.Equal(Enumerable.Range(0, 12), log.SucceededIndexes(key));
        }

        // A handler's success is logged before its row is deleted and its hold given back (after the delete, in the
        // background): both end shortly after.
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0 && await CountHoldsAsync(cluster) == 0, "every row and hold to be gone");
    }

    [Fact]
    public async Task A_failed_task_holds_its_key_until_it_succeeds_and_tasks_without_a_key_are_not_held()
    {
        await using var cluster = await StartAsync();
        var log = OrderLog.For(cluster.ServiceId);
        await cluster.Client.EnqueueAsync(new OrderedTask { Key = "k", Index = 0, SucceedOnAttempt = 3 }, Key("k"));
        await cluster.Client.EnqueueAsync(new OrderedTask { Key = "k", Index = 1 }, Key("k"));
        var free = await cluster.Client.EnqueueAsync(new ProbeTask { Note = "unkeyed" });

        // The unkeyed task runs while the key is held by a failing task.
        await cluster.Probe.WaitForRunsAsync(free, 1);
        await Eventually.True(() => Task.FromResult(log.Successes.Count == 2), "both keyed tasks to succeed");

        var starts = log.Starts;
        Assert.Equal([(0, 1), (0, 2), (0, 3), (1, 1)], starts.Select(s => (s.Index, s.Attempt)));
        Assert.True(starts[3].At >= log.Successes[0].At, "the task behind started before the failing one succeeded");
    }

    [Fact]
    public async Task A_dead_task_holds_its_key_until_an_operator_deletes_it()
    {
        await using var cluster = await StartAsync();
        var log = OrderLog.For(cluster.ServiceId);
        var dead = await cluster.Client.EnqueueAsync(new OrderedTask { Key = "k", Index = 0, SucceedOnAttempt = -1 }, Key("k", maxAttempts: 1));
        var behind = await cluster.Client.EnqueueAsync(new OrderedTask { Key = "k", Index = 1 }, Key("k"));

        await Eventually.True(async () => (await cluster.Client.GetAsync(dead))?.Status == DeferredTaskStatus.Dead, "the first task to die");

        // The task behind is due, and waits for the key on this silo (a signal, not a timed guess).
        var turns = cluster.Cluster.Silos[0].ServiceProvider.GetRequiredService<OrderingTurns>();
        await Eventually.True(() => Task.FromResult(turns.Waiting == 1), "the task behind to wait for its key");
        Assert.DoesNotContain(log.Starts, s => s.Index == 1);
        Assert.Equal(DeferredTaskStatus.Pending, (await cluster.Client.GetAsync(behind))!.Status);
        var ops = cluster.Cluster.Client.ServiceProvider.GetRequiredService<IDeferredTaskOperator>();
        Assert.Equal("k", (await ops.ShowAsync(behind))!.OrderingKey);

        Assert.True(await cluster.Client.DeleteAsync(dead));

        await Eventually.True(() => Task.FromResult(log.Successes.Count == 1), "the task behind to run once the dead one is deleted");
        Assert.Equal(1, log.Successes[0].Index);
    }

    [Fact]
    public async Task A_retried_dead_task_runs_before_the_tasks_behind_it()
    {
        await using var cluster = await StartAsync();
        var log = OrderLog.For(cluster.ServiceId);
        var first = await cluster.Client.EnqueueAsync(new OrderedTask { Key = "k", Index = 0, FailFirstRun = true }, Key("k", maxAttempts: 1));
        await cluster.Client.EnqueueAsync(new OrderedTask { Key = "k", Index = 1 }, Key("k"));
        await Eventually.True(async () => (await cluster.Client.GetAsync(first))?.Status == DeferredTaskStatus.Dead, "the first task to die");

        Assert.True(await cluster.Client.RetryDeadAsync(first));

        await Eventually.True(() => Task.FromResult(log.Successes.Count == 2), "both tasks to succeed");
        Assert.Equal([0, 1], log.SucceededIndexes("k"));
    }

    [Fact]
    public async Task The_key_survives_the_death_of_the_silo_running_its_task()
    {
        await using var cluster = await StartAsync(silos: 2);
        var log = OrderLog.For(cluster.ServiceId);
        var first = await cluster.OnSilo(1).EnqueueAsync(new OrderedTask { Key = "k", Index = 0, Gated = true }, Key("k"));
        await cluster.OnSilo(0).EnqueueAsync(new OrderedTask { Key = "k", Index = 1 }, Key("k"));
        await Eventually.True(() => Task.FromResult(log.Starts.Count == 1), "the first task to start on silo 1");

        await cluster.KillSiloAsync(1);
        log.Gate.TrySetResult();

        // Adopted by silo 0, the first task runs again (it holds the key: the hold names it), then the second.
        await Eventually.True(() => Task.FromResult(log.SucceededIndexes("k").Length == 2), "both tasks to succeed after the kill");
        Assert.Equal([0, 1], log.SucceededIndexes("k"));
        Assert.Null(await cluster.Client.GetAsync(first));
    }

    [Fact]
    public async Task A_batch_with_a_key_runs_in_the_order_given()
    {
        await using var cluster = await StartAsync();
        var log = OrderLog.For(cluster.ServiceId);
        await cluster.OnSilo(0).EnqueueManyAsync(Enumerable.Range(0, 20).Select(i => new OrderedTask { Key = "batch", Index = i }), Key("batch"));

        await Eventually.True(() => Task.FromResult(log.Successes.Count == 20), "the batch to run");
        Assert.Equal(Enumerable.Range(0, 20), log.SucceededIndexes("batch"));
        Assert.Equal(0, log.Overlaps);
    }

    [Fact]
    public async Task Tasks_enqueued_in_app_transactions_keep_their_key_order_with_tasks_enqueued_by_silos()
    {
        await using var cluster = await StartAsync();
        var log = OrderLog.For(cluster.ServiceId);
        var enqueuer = cluster.Cluster.Client.ServiceProvider.GetRequiredService<DeferredTransactionalEnqueuer>();
        await using var app = NpgsqlDataSource.Create(cluster.Database.ConnectionString);
        for (var i = 0; i < 6; i++)
        {
            if (i % 2 == 0)
            {
                await using var connection = await app.OpenConnectionAsync();
                await using var transaction = await connection.BeginTransactionAsync();
                await enqueuer.EnqueueAsync(transaction, new OrderedTask { Key = "mixed", Index = i }, Key("mixed"));
                await transaction.CommitAsync();
            }
            else
            {
                await cluster.Client.EnqueueAsync(new OrderedTask { Key = "mixed", Index = i }, Key("mixed"));
            }
        }

        await Eventually.True(() => Task.FromResult(log.Successes.Count == 6), "the six tasks to run");
        Assert.Equal(Enumerable.Range(0, 6), log.SucceededIndexes("mixed"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData(null)]
    public async Task A_bad_ordering_key_is_refused_naming_it_and_nothing_is_stored(string? key)
    {
        await using var cluster = await StartAsync();
        key ??= new string('k', DeferredEnqueueOptionsValidation.MaxOrderingKeyLength + 1);

        var error = await Assert.ThrowsAsync<ArgumentException>(() => cluster.Client.EnqueueAsync(new OrderedTask { Key = key }, Key(key)));

        Assert.Contains("OrderingKey", error.Message);
        Assert.Contains($"({key.Length} characters)", error.Message);
        Assert.Equal(0L, await cluster.CountRowsAsync());
    }

    [Fact]
    public async Task The_stock_store_refuses_a_keyed_task_naming_the_key_and_stores_nothing()
    {
        await using var cluster = await StartAsync(store: DeferredStore.OrleansAdoNet);

        var error = await Assert.ThrowsAsync<NotSupportedException>(() => cluster.Client.EnqueueAsync(new OrderedTask { Key = "k" }, Key("tenant-7")));

        Assert.Contains("'tenant-7'", error.Message);
        Assert.Contains("UseDeferredPostgresStore", error.Message);
        Assert.Equal(0L, await cluster.CountRowsAsync());
    }

    private static async Task<long> CountHoldsAsync(DeferredTestCluster cluster)
    {
        await using var connection = new NpgsqlConnection(cluster.Database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM deferred_ordering_holds WHERE service_id = @s", connection);
        command.Parameters.AddWithValue("s", cluster.ServiceId);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
