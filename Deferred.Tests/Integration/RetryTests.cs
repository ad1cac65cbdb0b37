using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Deferred.Tests.Integration;

public sealed class RetryTestsOnPostgresStore : RetryTests
{
    protected override DeferredStore Store => DeferredStore.Postgres;
}

public sealed class RetryTestsOnStockAdoNet : RetryTests
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

public abstract class RetryTests : StoreConformance
{
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task A_failing_task_is_retried_on_its_backoff_schedule_and_then_succeeds()
    {
        // Backoff n·300 ms instead of the production n^4 + 10 s, so the schedule is observable in a test.
        await using var cluster = await StartAsync(o => o.RetryBackoff = n => Step * n);

        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.FailUntilAttempt, SucceedOnAttempt = 3 });

        await cluster.Probe.WaitForRunsAsync(taskId, 3);
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "the task row to be deleted");
        var runs = cluster.Probe.RunsOf(taskId);
        Assert.Equal(new[] { 1, 2, 3 }, runs.Select(r => r.Attempt));
        Assert.True(runs[1].StartedAt - runs[0].StartedAt >= Step, $"retry 1 came {runs[1].StartedAt - runs[0].StartedAt} after attempt 1; backoff is {Step}");
        Assert.True(runs[2].StartedAt - runs[1].StartedAt >= Step * 2, $"retry 2 came {runs[2].StartedAt - runs[1].StartedAt} after attempt 2; backoff is {Step * 2}");
    }

    [Fact]
    public async Task A_far_retry_of_a_task_woken_from_a_far_wait_runs_at_its_own_time()
    {
        // Both the first run and the retry are beyond the timer threshold, so both wait on the store's far wake-up (the
        // due-time poller, or a reminder on the stock store). A reminder left at its first schedule would wake the retry
        // only at its next periodic tick, a reminder period (at least a minute) after the first run.
        var backoff = TimeSpan.FromSeconds(3);
        await using var cluster = await StartAsync(o =>
        {
            o.TimerThreshold = TimeSpan.FromSeconds(1);
            o.DuePollInterval = TimeSpan.FromMilliseconds(300);
            o.RetryBackoff = _ => backoff;
        });

        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.FailFirstRun }, new DeferredEnqueueOptions { Delay = TimeSpan.FromSeconds(2) });

        await cluster.Probe.WaitForRunsAsync(taskId, 2);
        var runs = cluster.Probe.RunsOf(taskId);
        var gap = runs[1].StartedAt - runs[0].StartedAt;
        Assert.True(gap >= backoff, $"the retry came {gap} after the first run; its backoff is {backoff}");
        Assert.True(gap < TimeSpan.FromSeconds(30), $"the retry came {gap} after the first run, long after its backoff of {backoff}");
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "the task row to be deleted");
    }

    [Fact]
    public async Task A_task_that_always_fails_ends_dead_with_its_error_and_the_next_startup_does_not_rerun_it()
    {
        await using var cluster = await StartAsync(o => o.RetryBackoff = _ => TimeSpan.FromMilliseconds(50));

        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.AlwaysFail }, new DeferredEnqueueOptions { MaxAttempts = 3 });

        var info = await Eventually.Until(() => cluster.Client.GetAsync(taskId), i => i?.Status == DeferredTaskStatus.Dead, "the task to die");
        Assert.Equal(3, info!.Attempts);
        Assert.Null(info.NextRunAt);
        Assert.NotNull(info.LastError);
        Assert.Equal(typeof(InvalidOperationException).FullName, info.LastError.Type);
        Assert.Equal("probe failure on attempt 3", info.LastError.Message);
        Assert.Contains(nameof(ProbeHandler), info.LastError.StackTrace);
        Assert.Equal(3, cluster.Probe.RunsOf(taskId).Count);

        await cluster.RestartAsync();
        var report = await ScanOnceAsync(cluster);
        Assert.Equal(0, report.Found);
        Assert.Equal(3, cluster.Probe.RunsOf(taskId).Count);
        Assert.Equal(DeferredTaskStatus.Dead, (await cluster.Client.GetAsync(taskId))!.Status);
        Assert.Equal(1, await cluster.CountRowsAsync());

        // An operator can give it another round.
        Assert.True(await cluster.Client.RetryDeadAsync(taskId));
        await cluster.Probe.WaitForRunsAsync(taskId, 4);
        Assert.False(await cluster.Client.RetryDeadAsync("no-such-task"));
    }

    [Fact]
    public async Task A_per_type_retry_policy_can_give_up_at_once()
    {
        await using var cluster = await StartAsync(
            configureSilo: silo => silo.Services.AddSingleton<IDeferredRetryPolicy<ProbeTask>>(new GiveUpOnInvalidOperation()));

        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.AlwaysFail });

        var info = await Eventually.Until(() => cluster.Client.GetAsync(taskId), i => i?.Status == DeferredTaskStatus.Dead, "the task to die");
        Assert.Equal(1, info!.Attempts);
        Assert.Single(cluster.Probe.RunsOf(taskId));
    }

    private static async Task<Recovery.RecoveryReport> ScanOnceAsync(DeferredTestCluster cluster)
    {
        await cluster.Recovery().StartupSweep;
        return await cluster.Recovery().ScanAsync(CancellationToken.None);
    }

    private sealed class GiveUpOnInvalidOperation : IDeferredRetryPolicy<ProbeTask>
    {
        public RetryDecision Decide(DeferredTaskFailure failure) =>
            failure.Exception is InvalidOperationException ? RetryDecision.GiveUp : RetryDecision.Default;
    }
}
