using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Deferred.Tests.Integration;

public sealed class DurabilityTestsOnPostgresStore : DurabilityTests
{
    protected override DeferredStore Store => DeferredStore.Postgres;
}

public sealed class DurabilityTestsOnStockAdoNet : DurabilityTests
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

public abstract class DurabilityTests : StoreConformance
{
    [Fact]
    public async Task An_acknowledged_task_survives_a_silo_that_stops_before_running_it()
    {
        await using var cluster = await StartAsync();
        var delay = TimeSpan.FromSeconds(8);
        var enqueuedAt = DateTimeOffset.UtcNow;

        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask(), new DeferredEnqueueOptions { Delay = delay });
        var stopped = cluster.Cluster.Silos[0].SiloAddress;
        await cluster.StopAsync();
        Assert.Equal(1, await cluster.CountRowsAsync());

        await cluster.RestartAsync();
        await cluster.Probe.WaitForRunsAsync(taskId, 1);
        var run = Assert.Single(cluster.Probe.RunsOf(taskId));
        Assert.NotEqual(stopped, run.Silo);
        Assert.True(run.StartedAt >= enqueuedAt + delay, $"ran at {run.StartedAt:O}, before its time {enqueuedAt + delay:O}");
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "the task row to be deleted");
    }

    [Fact]
    public async Task A_delayed_task_waits_durably_runs_on_time_and_survives_a_restart()
    {
        // Anything due more than a second ahead lets its activation go and waits durably: on the due-time
        // poller (default store) or on a reminder (stock store).
        await using var cluster = await StartAsync(o =>
        {
            o.TimerThreshold = TimeSpan.FromSeconds(1);
            o.DuePollInterval = TimeSpan.FromMilliseconds(300);
        });
        var runAt = DateTimeOffset.UtcNow.AddSeconds(8);

        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask(), new DeferredEnqueueOptions { RunAt = runAt });

        var info = await cluster.Client.GetAsync(taskId);
        Assert.Equal(DeferredTaskStatus.Pending, info!.Status);
        Assert.InRange(info.NextRunAt!.Value - runAt, TimeSpan.Zero, TimeSpan.FromTicks(9)); // stored in microseconds, rounded up
        Assert.Equal(Store == DeferredStore.OrleansAdoNet ? 1L : 0L, await cluster.Database.ScalarAsync<long>(
            "SELECT count(*) FROM orleansreminderstable WHERE serviceid = @s AND grainid LIKE '%' || @t", ("s", cluster.ServiceId), ("t", taskId)));

        var beforeRestart = cluster.Cluster.Silos[0].SiloAddress;
        await cluster.RestartAsync();

        // It ran once, on the restarted silo, not before its time.
        await cluster.Probe.WaitForRunsAsync(taskId, 1);
        var run = Assert.Single(cluster.Probe.RunsOf(taskId));
        Assert.NotEqual(beforeRestart, run.Silo);
        Assert.True(run.StartedAt >= runAt, $"ran at {run.StartedAt:O}, before its time {runAt:O}");
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "the task row to be deleted");
        await Eventually.True(
            async () => await cluster.Database.ScalarAsync<long>("SELECT count(*) FROM orleansreminderstable WHERE serviceid = @s", ("s", cluster.ServiceId)) == 0,
            "the reminder to be unregistered");
    }

    [Fact]
    public async Task A_far_task_enqueued_on_a_silo_waits_as_a_row_and_runs_on_time()
    {
        await using var cluster = await StartAsync(o =>
        {
            o.TimerThreshold = TimeSpan.FromSeconds(1);
            o.DuePollInterval = TimeSpan.FromMilliseconds(300);
        });
        var delay = TimeSpan.FromSeconds(6);

        // A task type without a handler is refused on the silo's path too, and stores nothing.
        await Assert.ThrowsAsync<DeferredTaskTypeNotRegisteredException>(() =>
            cluster.OnSilo(0).EnqueueAsync(new UnhandledTask(3), new DeferredEnqueueOptions { Delay = delay }));
        Assert.Equal(0, await cluster.CountRowsAsync());

        var enqueuedAt = DateTimeOffset.UtcNow;
        var taskId = await cluster.OnSilo(0).EnqueueAsync(new ProbeTask { Note = "far" }, new DeferredEnqueueOptions { Delay = delay });
        if (Store == DeferredStore.Postgres)
        {
            // Nothing in memory: the row is all a far task is until the due-time poller wakes it (about a
            // second before it is due).
            var grainId = cluster.Cluster.Client.GetGrain<IDeferredTaskGrain>(taskId).GetGrainId();
            Assert.False(cluster.Cluster.TryGetGrainContext(grainId, out _));
        }

        Assert.Equal(1, await cluster.CountRowsAsync());

        await cluster.Probe.WaitForRunsAsync(taskId, 1);
        var run = Assert.Single(cluster.Probe.RunsOf(taskId));
        Assert.Equal("far", run.Note);
        Assert.True(run.StartedAt >= enqueuedAt + delay, $"ran at {run.StartedAt:O}, before its time {enqueuedAt + delay:O}");
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "the task row to be deleted");
    }

    [Fact]
    public async Task Startup_recovery_pages_through_10000_left_over_rows_with_bounded_concurrency()
    {
        const int Count = 10_000;
        const int MaxConcurrent = 8;
        await using var cluster = await StartAsync(o =>
        {
            // First cluster: tasks due in an hour on in-memory timers, so stopping leaves them all pending.
            o.TimerThreshold = TimeSpan.FromHours(2);
            o.MaxConcurrentTasks = MaxConcurrent;
            o.RecoveryPageSize = 500;
            o.RecoveryConcurrency = 4;
            o.RecoveryMaxBacklog = 64;
        });
        var runAt = DateTimeOffset.UtcNow.AddHours(1);
        await Parallel.ForEachAsync(Enumerable.Range(0, Count), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (_, ct) =>
            await cluster.OnSilo(0).EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.Work }, new DeferredEnqueueOptions { RunAt = runAt }, ct));
        await cluster.StopAsync();
        Assert.Empty(cluster.Probe.Runs);

        // What an earlier cluster leaves behind: every row due now, about half already failed once.
        var changed = await cluster.Rows.MakeAllDueAsync(failHalf: true);
        Assert.Equal(Count, changed);

        await cluster.RestartAsync();
        await cluster.Probe.WaitAsync(runs => runs.Select(r => r.TaskId).Distinct().Count() >= Count, $"{Count} recovered tasks to run", TimeSpan.FromMinutes(4));
        await cluster.Recovery().StartupSweep;

        var report = cluster.Recovery().LastReport!;
        Assert.Equal(Count, report.Found);

        // A resume can find its task already run by the activation the call itself brought up (activations
        // schedule what they load); such a task counts as not resumable, but it ran.
        Assert.Equal(Count, report.Resumed + report.Skipped);
        Assert.Equal(0, report.Errors);
        Assert.True(report.Pages >= Count / 500, $"{report.Pages} pages");
        Assert.InRange(cluster.Probe.MaxConcurrent, 1, MaxConcurrent);
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "every recovered row to be deleted");
    }

    [Fact]
    public async Task A_stored_task_runs_after_its_type_is_renamed_and_gains_a_field()
    {
        await using var database = await TestDatabase.CreateAsync(migrate: true);
        const string Name = "tests.renamed-task";
        string serviceId, taskId;
        await using (var today = await StartAsync(
            o => o.TimerThreshold = TimeSpan.FromHours(2),
            configureSilo: s => s.Services.AddDeferredTaskHandler<TaskBeforeRename, RenameHandler>(Name),
            database: database))
        {
            serviceId = today.ServiceId;
            taskId = await today.Client.EnqueueAsync(new TaskBeforeRename { OrderId = 7, Comment = "kept" }, new DeferredEnqueueOptions { Delay = TimeSpan.FromHours(1) });
        }

        await new TaskRows(database, serviceId, Store).MakeAllDueAsync();

        await using var tomorrow = await StartAsync(
            configureSilo: s => s.Services.AddDeferredTaskHandler<TaskAfterRename, RenameHandler>(Name),
            database: database,
            serviceId: serviceId);
        var seen = await Eventually.Until(() => Task.FromResult(RenameHandler.Seen.TryGetValue(taskId, out var t) ? t : null), t => t is not null, "the renamed task to run");
        Assert.Equal(7, seen!.OrderId);
        Assert.Equal("kept", seen.Comment);
        Assert.Equal(0, seen.Priority);
        await Eventually.True(async () => await tomorrow.CountRowsAsync() == 0, "the renamed task's row to be deleted");
    }
}

[GenerateSerializer]
public sealed record TaskBeforeRename
{
    [Id(0)] public int OrderId { get; init; }

    [Id(1)] public string Comment { get; init; } = "";
}

[GenerateSerializer]
public sealed record TaskAfterRename
{
    [Id(0)] public int OrderId { get; init; }

    [Id(1)] public string Comment { get; init; } = "";

    [Id(2)] public int Priority { get; init; }
}

internal sealed class RenameHandler : IDeferredTaskHandler<TaskBeforeRename>, IDeferredTaskHandler<TaskAfterRename>
{
    /// <summary>The renamed tasks run, by task id (the test classes of both stores run at once).</summary>
    public static readonly System.Collections.Concurrent.ConcurrentDictionary<string, TaskAfterRename> Seen = new();

    public Task ExecuteAsync(TaskBeforeRename task, DeferredTaskContext context, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task ExecuteAsync(TaskAfterRename task, DeferredTaskContext context, CancellationToken cancellationToken)
    {
        Seen[context.TaskId] = task;
        return Task.CompletedTask;
    }
}
