using Deferred.Tests.Infrastructure;
using Xunit;

namespace Deferred.Tests.Integration;

public sealed class ExecutionTestsOnPostgresStore : ExecutionTests
{
    protected override DeferredStore Store => DeferredStore.Postgres;
}

public sealed class ExecutionTestsOnStockAdoNet : ExecutionTests
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

public abstract class ExecutionTests : StoreConformance
{
    [Fact]
    public async Task A_task_runs_once_on_the_silo_that_enqueued_it_and_its_row_is_deleted()
    {
        await using var cluster = await StartAsync(silos: 2);
        var enqueuingSilo = cluster.Cluster.Silos[1].SiloAddress;

        var taskId = await cluster.OnSilo(1).EnqueueAsync(new ProbeTask { Note = "hello" });

        await cluster.Probe.WaitForRunsAsync(taskId, 1);
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "the task row to be deleted");
        Assert.Null(await cluster.Client.GetAsync(taskId));
        var run = Assert.Single(cluster.Probe.RunsOf(taskId));
        Assert.Equal(enqueuingSilo, run.Silo);
        Assert.Equal(1, run.Attempt);
        Assert.Equal("hello", run.Note);
    }

    [Fact]
    public async Task Enqueue_returns_before_the_task_runs_and_GetAsync_answers_while_it_runs()
    {
        await using var cluster = await StartAsync();

        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease });

        // The enqueue call came back while the handler is (or will be) blocked: it did not run inside the call.
        await cluster.Probe.WaitForRunsAsync(taskId, 1);
        var info = await cluster.Client.GetAsync(taskId);
        Assert.NotNull(info);
        Assert.Equal(DeferredTaskStatus.Running, info.Status);
        Assert.Equal("deferred.tests.probe", info.TaskType);
        Assert.Equal(1, await cluster.CountRowsAsync());

        cluster.Probe.Release.SetResult();
        await Eventually.True(async () => await cluster.Client.GetAsync(taskId) is null, "the task to complete");
        Assert.Equal(0, await cluster.CountRowsAsync());
    }

    [Fact]
    public async Task Every_call_that_can_reach_a_running_task_is_answered_while_its_handler_runs()
    {
        // The attempt runs in the grain's timer callback, which does not interleave: a call that waited behind it would
        // wait for the handler, and a handler longer than Orleans' response timeout would make the caller time out.
        // Each call below (a reminder tick too) is awaited while the handler is still held; none may wait for it.
        await using var cluster = await StartAsync();
        var options = new DeferredEnqueueOptions { TaskId = "held-1" };
        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease }, options);
        await cluster.Probe.WaitForRunsAsync(taskId, 1);

        Assert.Equal(DeferredTaskStatus.Running, (await cluster.Client.GetAsync(taskId))!.Status);
        var repeat = await cluster.Client.EnqueueWithResultAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease }, options);
        Assert.False(repeat.Created);
        Assert.Equal(DeferredTaskStatus.Running, repeat.Info.Status);
        var recoverable = cluster.Cluster.Client.GetGrain<Deferred.Wakeups.IRecoverableTask>(taskId);
        Assert.True(await recoverable.ResumeAsync());
        Assert.True(await recoverable.AdoptAsync());
        await cluster.Cluster.Client.GetGrain<IRemindable>(recoverable.GetGrainId()).ReceiveReminder(Deferred.TaskGrain.DeferredTaskGrain.ReminderName, default);
        Assert.False(await cluster.Client.RetryDeadAsync(taskId));
        var delete = await Assert.ThrowsAsync<InvalidOperationException>(() => cluster.Client.DeleteAsync(taskId));
        Assert.Contains(taskId, delete.Message);
        Assert.Equal(1, cluster.Probe.Running);

        cluster.Probe.Release.SetResult();
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "the task row to be deleted");
        Assert.Single(cluster.Probe.RunsOf(taskId));
    }

    [Fact]
    public async Task Enqueuing_the_same_task_id_twice_stores_and_runs_one_task()
    {
        await using var cluster = await StartAsync();
        var options = new DeferredEnqueueOptions { TaskId = "order-42" };

        // Concurrent and sequential repeats of the same task under the same id while it is stored. The handler
        // holds the task until the test releases it, so every repeat below meets the stored task, however slow
        // the machine.
        ProbeTask First() => new() { Note = "first", Behavior = ProbeBehavior.WaitForRelease };
        var results = await Task.WhenAll(
            cluster.Client.EnqueueWithResultAsync(First(), options),
            cluster.Client.EnqueueWithResultAsync(First(), options));
        var third = await cluster.Client.EnqueueWithResultAsync(First(), options);

        Assert.All(results.Append(third), r => Assert.Equal("order-42", r.Info.TaskId));
        Assert.Single(results, r => r.Created);
        Assert.False(third.Created);

        // The same id for a different task is refused, naming the id, and changes nothing, also while it runs.
        var conflict = await Assert.ThrowsAsync<DeferredTaskIdConflictException>(() => cluster.Client.EnqueueAsync(new ProbeTask { Note = "second" }, options));
        Assert.Contains("order-42", conflict.Message);
        await cluster.Probe.WaitForRunsAsync("order-42", 1);
        Assert.False((await cluster.Client.EnqueueWithResultAsync(First(), options)).Created);
        await Assert.ThrowsAsync<DeferredTaskIdConflictException>(() => cluster.Client.EnqueueAsync(new ProbeTask { Note = "second" }, options));
        Assert.Equal(1, await cluster.CountRowsAsync());

        cluster.Probe.Release.SetResult();
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "the task row to be deleted");
        var run = Assert.Single(cluster.Probe.RunsOf("order-42"));
        Assert.Equal("first", run.Note);

        if (Store == DeferredStore.Postgres)
        {
            // The default store remembers the completed id (CompletedIdRetention): a repeat stores nothing.
            var repeat = await cluster.Client.EnqueueWithResultAsync(new ProbeTask { Note = "again" }, options);
            Assert.False(repeat.Created);
            Assert.Equal(DeferredTaskStatus.Completed, repeat.Info.Status);
            Assert.Equal(0, await cluster.CountRowsAsync());
            return;
        }

        // The stock store's window ends with the task: once completed, the id enqueues a new task.
        Assert.True((await cluster.Client.EnqueueWithResultAsync(new ProbeTask { Note = "again" }, options)).Created);
        await cluster.Probe.WaitForRunsAsync("order-42", 2);
    }
}
