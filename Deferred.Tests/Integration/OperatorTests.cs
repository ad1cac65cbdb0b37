using Deferred.Options;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Deferred.Tests.Integration;

public sealed class OperatorTestsOnPostgresStore : OperatorTests
{
    protected override DeferredStore Store => DeferredStore.Postgres;
}

public sealed class OperatorTestsOnStockAdoNet : OperatorTests
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

/// <summary><see cref="IDeferredTaskOperator"/> from an Orleans client: reads through a silo, changes through the task grains.</summary>
public abstract class OperatorTests : StoreConformance
{
    [Fact]
    public async Task An_operator_lists_counts_and_pages_through_tasks_by_filter()
    {
        await using var cluster = await StartAsync();
        var ops = Operator(cluster);
        var later = new DeferredTaskOptions { Delay = TimeSpan.FromHours(1) };
        var ids = new List<string>();
        for (var i = 0; i < 7; i++)
        {
            ids.Add(await cluster.Client.EnqueueAsync(new ProbeTask { Note = $"n{i}" }, later with { TaskId = $"op-list-{i}" }));
        }

        var seen = new List<string>();
        string? token = null;
        do
        {
            var page = await ops.ListAsync(new DeferredTaskQuery { Filter = new() { Status = DeferredTaskStatus.Pending }, PageSize = 3, PageToken = token });
            Assert.InRange(page.Tasks.Count, 1, 3);
            seen.AddRange(page.Tasks.Select(t => t.TaskId));
            token = page.NextPageToken;
        }
        while (token is not null);

        Assert.Equal(ids.Order(), seen.Order());
        Assert.Equal(seen.Count, seen.Distinct().Count());
        var counts = await ops.CountAsync();
        Assert.Equal(7, counts.Single(c => c.Status == DeferredTaskStatus.Pending && c.TaskType == "deferred.tests.probe").Count);

        // A page token belongs to its query.
        var first = await ops.ListAsync(new DeferredTaskQuery { Filter = new() { Status = DeferredTaskStatus.Pending }, PageSize = 2 });
        var wrong = await Assert.ThrowsAsync<ArgumentException>(() =>
            ops.ListAsync(new DeferredTaskQuery { Filter = new() { Status = DeferredTaskStatus.Dead }, PageSize = 2, PageToken = first.NextPageToken }));
        Assert.Equal("PageToken", wrong.ParamName);
        await Assert.ThrowsAnyAsync<ArgumentException>(() => ops.ListAsync(new DeferredTaskQuery { PageSize = 0 }));
    }

    [Fact]
    public async Task Bulk_retry_revives_every_matching_dead_task_and_purge_deletes_old_dead_ones_through_their_grains()
    {
        await using var cluster = await StartAsync();
        var ops = Operator(cluster);
        var dead = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            dead.Add(await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.FailFirstRun }, new DeferredTaskOptions { MaxAttempts = 1 }));
        }

        var doomed = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.AlwaysFail }, new DeferredTaskOptions { MaxAttempts = 1 });
        await Eventually.True(async () => (await ops.CountAsync()).Where(c => c.Status == DeferredTaskStatus.Dead).Sum(c => c.Count) == 5, "five dead tasks");

        // Every dead task of the type is retried; the four that fail only on their first run then complete.
        Assert.Equal(5, await ops.RetryDeadAsync(new DeferredTaskFilter { TaskType = "deferred.tests.probe" }));
        foreach (var id in dead)
        {
            await cluster.Probe.WaitForRunsAsync(id, 2);
        }

        await Eventually.True(async () => await cluster.Client.GetAsync(doomed) is { Status: DeferredTaskStatus.Dead, Attempts: 1 }, "the always-failing task to die again");
        Assert.Equal(0, await ops.PurgeDeadAsync(DateTimeOffset.UtcNow.AddDays(-1)));
        Assert.Equal(1, await ops.PurgeDeadAsync(DateTimeOffset.UtcNow.AddMinutes(1)));
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "every row to be gone");
    }

    [Fact]
    public async Task Per_task_actions_answer_for_unknown_ids_and_refuse_what_the_lifecycle_refuses()
    {
        await using var cluster = await StartAsync();
        var ops = Operator(cluster);
        Assert.Null(await ops.ShowAsync("no-such-task"));
        Assert.False(await ops.RetryDeadAsync("no-such-task"));
        Assert.False(await ops.DeleteAsync("no-such-task"));
        Assert.Equal(DeferredCancelOutcome.NotStored, await ops.CancelAsync("no-such-task"));
        await Assert.ThrowsAsync<ArgumentException>(() => ops.ShowAsync("bad id with spaces"));

        var running = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease });
        await cluster.Probe.WaitForRunsAsync(running, 1);
        Assert.Equal(DeferredTaskStatus.Running, (await ops.ShowAsync(running))!.Info.Status);
        await Assert.ThrowsAsync<InvalidOperationException>(() => ops.DeleteAsync(running));
        Assert.False(await ops.RetryDeadAsync(running));
        cluster.Probe.Release.TrySetResult();
        await Eventually.True(async () => await ops.ShowAsync(running) is null, "the running task to complete");
    }

    private static IDeferredTaskOperator Operator(DeferredTestCluster cluster) =>
        cluster.Cluster.Client.ServiceProvider.GetRequiredService<IDeferredTaskOperator>();
}
