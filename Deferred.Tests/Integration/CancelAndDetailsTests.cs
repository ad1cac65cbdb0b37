using Deferred.Tests.Infrastructure;
using Xunit;

namespace Deferred.Tests.Integration;

public sealed class CancelAndDetailsTestsOnPostgresStore : CancelAndDetailsTests
{
    protected override DeferredStore Store => DeferredStore.Postgres;
}

public sealed class CancelAndDetailsTestsOnStockAdoNet : CancelAndDetailsTests
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

/// <summary>The cancel edge and the detail view, through the task grain (the operator API's per-task calls).</summary>
public abstract class CancelAndDetailsTests : StoreConformance
{
    [Fact]
    public async Task A_waiting_task_is_cancelled_at_once_and_a_dead_one_is_not()
    {
        await using var cluster = await StartAsync(o => o.RetryBackoff = _ => TimeSpan.FromMilliseconds(50));
        var waiting = await cluster.Client.EnqueueAsync(new ProbeTask(), new DeferredEnqueueOptions { TaskId = "cancel-waiting", Delay = TimeSpan.FromHours(1) });
        var dead = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.AlwaysFail }, new DeferredEnqueueOptions { MaxAttempts = 1 });
        await Eventually.True(async () => (await cluster.Client.GetAsync(dead))?.Status == DeferredTaskStatus.Dead, "the failing task to die");

        // App code cancels through IDeferredTasks: the same edge as the operator's.
        Assert.Equal(DeferredCancelOutcome.Cancelled, await cluster.Client.CancelAsync(waiting));
        Assert.Null(await cluster.Client.GetAsync(waiting));
        Assert.Equal(DeferredCancelOutcome.NotStored, await Grain(cluster, waiting).CancelAsync());

        Assert.Equal(DeferredCancelOutcome.NotLive, await Grain(cluster, dead).CancelAsync());
        Assert.Equal(DeferredTaskStatus.Dead, (await cluster.Client.GetAsync(dead))!.Status);
        Assert.Equal(1, await cluster.CountRowsAsync());
    }

    [Fact]
    public async Task A_running_task_gets_its_token_signalled_and_is_removed_when_the_handler_returns_without_a_retry()
    {
        await using var cluster = await StartAsync(o => o.RetryBackoff = _ => TimeSpan.FromMilliseconds(50));
        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease });
        await cluster.Probe.WaitForRunsAsync(taskId, 1);

        Assert.Equal(DeferredCancelOutcome.Signalled, await Grain(cluster, taskId).CancelAsync());

        await Eventually.True(() => Task.FromResult(cluster.Probe.Cancelled == 1), "the handler to see its token cancelled");
        await Eventually.True(async () => await cluster.Client.GetAsync(taskId) is null, "the cancelled task's row to be deleted");
        Assert.Equal(0, await cluster.CountRowsAsync());
        Assert.Single(cluster.Probe.RunsOf(taskId));
    }

    [Fact]
    public async Task A_task_cancelled_while_it_waits_for_a_slot_is_removed_without_its_handler_being_called()
    {
        // One slot, held by a task the test releases; the second task is due and waits for the slot (reported running).
        await using var cluster = await StartAsync(o => o.MaxConcurrentTasks = 1);
        var holder = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease });
        await cluster.Probe.WaitForRunsAsync(holder, 1);
        var queued = await cluster.Client.EnqueueAsync(new ProbeTask { Note = "queued" });
        await Eventually.True(async () => (await cluster.Client.GetAsync(queued))?.Status == DeferredTaskStatus.Running, "the second task to wait for the slot");

        Assert.Equal(DeferredCancelOutcome.Signalled, await Grain(cluster, queued).CancelAsync());
        cluster.Probe.Release.SetResult();

        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "both rows to be deleted");
        Assert.Empty(cluster.Probe.RunsOf(queued));
        Assert.Single(cluster.Probe.RunsOf(holder));
    }

    [Fact]
    public async Task Details_show_the_owner_and_the_payload_rendered_as_json()
    {
        await using var cluster = await StartAsync();
        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask { Note = "hello-details" }, new DeferredEnqueueOptions { TaskId = "details-1", Delay = TimeSpan.FromHours(1) });

        var details = await Grain(cluster, taskId).GetDetailsAsync();

        Assert.NotNull(details);
        Assert.Equal(DeferredTaskStatus.Pending, details.Info.Status);
        Assert.Equal(typeof(ProbeTask).FullName, details.PayloadType);
        Assert.Contains("hello-details", details.PayloadJson);
        Assert.True(details.PayloadBytes > 0);
        Assert.NotNull(details.Owner);
        Assert.Null(await Grain(cluster, "details-missing").GetDetailsAsync());
    }

    [Fact]
    public async Task Details_of_a_running_task_say_when_its_attempt_began()
    {
        // Unwatched (the default): the row holds no in-flight marker, so only the activation knows.
        await using var cluster = await StartAsync();
        var before = DateTimeOffset.UtcNow;
        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease });
        await cluster.Probe.WaitForRunsAsync(taskId, 1);

        var details = await Grain(cluster, taskId).GetDetailsAsync();
        cluster.Probe.Release.SetResult();

        Assert.Equal(DeferredTaskStatus.Running, details!.Info.Status);
        Assert.NotNull(details.RunningSince);
        Assert.InRange(details.RunningSince.Value, before.AddSeconds(-1), cluster.Probe.RunsOf(taskId)[0].StartedAt.AddSeconds(1));
        await Eventually.True(async () => await cluster.Client.GetAsync(taskId) is null, "the task to complete");
    }

    private static IDeferredTaskGrain Grain(DeferredTestCluster cluster, string taskId) => cluster.Cluster.Client.GetGrain<IDeferredTaskGrain>(taskId);
}
