using Deferred.Tests.Infrastructure;
using Xunit;

namespace Deferred.Tests.Integration;

/// <summary>EnqueueManyAsync: one commit, all or nothing; the stock store refuses it clearly.</summary>
public sealed class BatchEnqueueTests : StoreConformance
{
    protected override DeferredStore Store => DeferredStore.Postgres;

    [Fact]
    public async Task A_batch_is_stored_in_one_commit_and_every_task_runs_once()
    {
        await using var cluster = await StartAsync();
        var tasks = Enumerable.Range(0, 200).Select(i => new ProbeTask { Note = $"b{i}" }).ToList();

        var ids = await cluster.Client.EnqueueManyAsync(tasks);

        Assert.Equal(200, ids.Count);
        Assert.Equal(200, ids.Distinct().Count());
        await cluster.Probe.WaitAsync(runs => ids.All(id => runs.Any(r => r.TaskId == id)), "every task of the batch to run");
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "every row to be deleted");
        Assert.All(ids, id => Assert.Single(cluster.Probe.RunsOf(id)));
        Assert.Equal(tasks.Select(t => t.Note), ids.Select(id => cluster.Probe.RunsOf(id)[0].Note));
    }

    [Fact]
    public async Task A_far_batch_waits_as_rows_and_is_visible_to_the_operator()
    {
        await using var cluster = await StartAsync();
        var ids = await cluster.OnSilo(0).EnqueueManyAsync(new[] { new ProbeTask(), new ProbeTask() }, new DeferredEnqueueOptions { Delay = TimeSpan.FromHours(1), MaxAttempts = 4 });

        Assert.Equal(2, await cluster.CountRowsAsync());
        var info = await cluster.Client.GetAsync(ids[1]);
        Assert.Equal((DeferredTaskStatus.Pending, 4), (info!.Status, info.MaxAttempts));
        Assert.Empty(cluster.Probe.Runs);
    }

    [Fact]
    public async Task A_bad_item_fails_the_whole_batch_naming_its_index_and_stores_nothing()
    {
        await using var cluster = await StartAsync();
        var withNull = new[] { new ProbeTask(), new ProbeTask(), new ProbeTask(), null! };
        var nullItem = await Assert.ThrowsAsync<ArgumentException>(() => cluster.Client.EnqueueManyAsync(withNull));
        Assert.Contains("tasks[3]", nullItem.Message);

        var mixed = Enumerable.Range(0, 1000).Select(i => i == 777 ? (object)new UnhandledTask(1) : new ProbeTask()).ToArray();
        var unregistered = await Assert.ThrowsAsync<DeferredTaskTypeNotRegisteredException>(() => cluster.Client.EnqueueManyAsync(mixed));
        Assert.Contains("tasks[777]", unregistered.Message);
        Assert.Contains(nameof(UnhandledTask), unregistered.TaskType);

        var tooMany = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            cluster.Client.EnqueueManyAsync(Enumerable.Range(0, IDeferredTasks.MaxBatchSize + 1).Select(_ => new ProbeTask())));
        Assert.Contains("10001", tooMany.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => cluster.Client.EnqueueManyAsync(new[] { new ProbeTask() }, new DeferredEnqueueOptions { TaskId = "one-id" }));
        Assert.Empty(await cluster.Client.EnqueueManyAsync(Array.Empty<ProbeTask>()));

        Assert.Equal(0, await cluster.CountRowsAsync());
    }
}

/// <summary>The stock store cannot commit many tasks at once and says so.</summary>
public sealed class BatchEnqueueOnStockAdoNetTests : StoreConformance
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;

    [Fact]
    public async Task The_stock_store_refuses_a_batch_with_a_clear_error_and_stores_nothing()
    {
        await using var cluster = await StartAsync();
        var error = await Assert.ThrowsAsync<NotSupportedException>(() => cluster.Client.EnqueueManyAsync(new[] { new ProbeTask(), new ProbeTask() }));
        Assert.Contains("OrleansAdoNet", error.Message);
        Assert.Contains("Deferred:Store = Postgres", error.Message);
        Assert.Equal(0, await cluster.CountRowsAsync());
    }
}
