using System.Collections.Concurrent;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Xunit;

namespace Deferred.Tests.Integration;

public sealed class SnoozeTestsOnPostgresStore : SnoozeTests
{
    protected override DeferredStore Store => DeferredStore.Postgres;
}

public sealed class SnoozeTestsOnStockAdoNet : SnoozeTests
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

/// <summary>A handler snoozes its task: it runs again later, the attempt not counted, the snoozes counted and bounded.</summary>
public abstract class SnoozeTests : StoreConformance
{
    [Fact]
    public async Task A_snoozed_task_runs_again_later_without_using_up_an_attempt()
    {
        await using var cluster = await StartSnoozingAsync();
        var id = await cluster.Client.EnqueueAsync(new SnoozeTask { Times = 2, DelayMs = 100 }, new DeferredEnqueueOptions { MaxAttempts = 1 });

        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "the task to end");

        // Three runs, each seeing attempt 1 of 1 (a snooze counts none), the last after its two snoozes.
        Assert.Equal([(1, 0), (1, 1), (1, 2)], SnoozeHandler.RunsOf(id));
    }

    [Fact]
    public async Task A_snoozed_task_shows_its_snoozes_and_next_run_and_keeps_its_attempts_and_last_error()
    {
        await using var cluster = await StartSnoozingAsync(o => o.RetryBackoff = _ => TimeSpan.FromMilliseconds(50));
        var until = DateTimeOffset.UtcNow.AddHours(1);
        var id = await cluster.Client.EnqueueAsync(new SnoozeTask { Times = 1, FailFirst = true, UntilUnixMs = until.ToUnixTimeMilliseconds() });

        var snoozed = await Eventually.Until(() => cluster.Client.GetAsync(id), i => i is { Snoozes: 1 }, "the snooze to be stored");

        Assert.Equal(DeferredTaskStatus.Failed, snoozed!.Status);
        Assert.Equal(1, snoozed.Attempts);
        Assert.Equal("System.InvalidOperationException", snoozed.LastError!.Type);
        Assert.InRange(snoozed.NextRunAt!.Value, until.AddSeconds(-1), until.AddSeconds(1));
    }

    [Fact]
    public async Task The_snooze_beyond_the_limit_counts_as_a_failed_attempt_named_as_such()
    {
        await using var cluster = await StartSnoozingAsync(o => o.MaxSnoozes = 2);
        var id = await cluster.Client.EnqueueAsync(new SnoozeTask { Times = int.MaxValue, DelayMs = 50 }, new DeferredEnqueueOptions { MaxAttempts = 1 });

        var dead = await Eventually.Until(() => cluster.Client.GetAsync(id), i => i is { Status: DeferredTaskStatus.Dead }, "the task to be dead");

        Assert.Equal(1, dead!.Attempts);
        Assert.Equal(2, dead.Snoozes);
        Assert.Equal("Deferred.SnoozeLimit", dead.LastError!.Type);
        Assert.Contains("MaxSnoozes (2)", dead.LastError.Message);
        Assert.Equal(3, SnoozeHandler.RunsOf(id).Count);
    }

    [Fact]
    public void A_snooze_out_of_range_is_refused_where_the_handler_asks_for_it()
    {
        var negative = Assert.Throws<ArgumentOutOfRangeException>(() => new DeferredSnoozeException(TimeSpan.FromSeconds(-1)));
        Assert.Equal("delay", negative.ParamName);
        var far = Assert.Throws<ArgumentOutOfRangeException>(() => new DeferredSnoozeException(DateTimeOffset.UtcNow.AddYears(101)));
        Assert.Equal("until", far.ParamName);
    }

    private Task<DeferredTestCluster> StartSnoozingAsync(Action<DeferredOptions>? configure = null) =>
        StartAsync(configure, configureSilo: silo => silo.Services.AddDeferredTaskHandler<SnoozeTask, SnoozeHandler>());
}

[GenerateSerializer]
[Alias("test.snooze")]
public sealed record SnoozeTask
{
    /// <summary>How many times to snooze before returning.</summary>
    [Id(0)] public int Times { get; init; }

    /// <summary>Each snooze's delay.</summary>
    [Id(1)] public int DelayMs { get; init; }

    /// <summary>Snooze until this time instead (Unix ms), when set.</summary>
    [Id(2)] public long UntilUnixMs { get; init; }

    /// <summary>Fail the first attempt before snoozing.</summary>
    [Id(3)] public bool FailFirst { get; init; }
}

internal sealed class SnoozeHandler : IDeferredTaskHandler<SnoozeTask>
{
    private static readonly ConcurrentDictionary<string, ConcurrentQueue<(int Attempt, int Snoozes)>> Runs = new();

    public static List<(int Attempt, int Snoozes)> RunsOf(string taskId) => Runs.TryGetValue(taskId, out var runs) ? [.. runs] : [];

    public Task ExecuteAsync(SnoozeTask task, DeferredTaskContext context, CancellationToken cancellationToken)
    {
        Runs.GetOrAdd(context.TaskId, _ => new()).Enqueue((context.Attempt, context.Snoozes));
        if (task.FailFirst && context.Attempt == 1)
        {
            throw new InvalidOperationException("the first attempt fails");
        }

        if (context.Snoozes < task.Times)
        {
            throw task.UntilUnixMs > 0
                ? new DeferredSnoozeException(DateTimeOffset.FromUnixTimeMilliseconds(task.UntilUnixMs))
                : new DeferredSnoozeException(TimeSpan.FromMilliseconds(task.DelayMs));
        }

        return Task.CompletedTask;
    }
}
