using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Xunit;

namespace Deferred.Tests.Integration;

public sealed class FaultTestsOnPostgresStore : FaultTests
{
    protected override DeferredStore Store => DeferredStore.Postgres;
}

public sealed class FaultTestsOnStockAdoNet : FaultTests
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

/// <summary>Shutdown, timeouts, quarantine and what reaches the logs.</summary>
public abstract class FaultTests : StoreConformance
{
    [Fact]
    public async Task Shutdown_cancels_an_attempt_that_outlives_the_grace_period_and_leaves_its_task_pending()
    {
        await using var cluster = await StartAsync(o => o.ShutdownGracePeriod = TimeSpan.FromMilliseconds(300));
        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease });
        await cluster.Probe.WaitForRunsAsync(taskId, 1);

        await cluster.StopAsync();

        Assert.Equal(1, cluster.Probe.Cancelled);
        var row = await cluster.Rows.ReadAsync(taskId);
        Assert.NotNull(row);
        Assert.Equal("Pending", row.Value.Status);
        Assert.Equal(0, row.Value.Attempts);
        Assert.False(row.Value.InFlight, "an interrupted attempt clears its marker: a shutdown is not a crash");
        if (Store == DeferredStore.Postgres)
        {
            // A clean stop releases the silo's tasks, so their adoption is not taken for a crash's.
            Assert.Null(row.Value.Owner);
        }

        cluster.Probe.Release.TrySetResult();
        await cluster.RestartAsync();
        await cluster.Probe.WaitForRunsAsync(taskId, 2);
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "the resumed task to complete");
    }

    [Fact]
    public async Task A_hanging_attempt_is_cancelled_at_its_type_timeout_and_counts_as_a_failed_attempt()
    {
        await using var cluster = await StartAsync(
            o => o.RetryBackoff = _ => TimeSpan.FromMilliseconds(100),
            configureSilo: s => s.Services.AddDeferredTaskHandler<ProbeTask, ProbeHandler>(taskTypeName: null, timeout: TimeSpan.FromMilliseconds(300)));

        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease }, new DeferredEnqueueOptions { MaxAttempts = 2 });

        var info = await Eventually.Until(() => cluster.Client.GetAsync(taskId), i => i?.Status == DeferredTaskStatus.Dead, "the task to time out twice");
        Assert.Equal(2, info!.Attempts);
        Assert.Equal("Deferred.Timeout", info.LastError!.Type);
        Assert.Contains("timeout", info.LastError.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(2, cluster.Probe.RunsOf(taskId).Count);
        Assert.Equal(2, cluster.Probe.Cancelled);
    }

    [Fact]
    public async Task A_handler_that_ignores_its_token_is_abandoned_and_the_attempt_recorded_as_timed_out()
    {
        await using var cluster = await StartAsync(o =>
        {
            o.DefaultTaskTimeout = TimeSpan.FromMilliseconds(200);
            o.AbandonAfter = TimeSpan.FromMilliseconds(200);
            o.MaxConcurrentTasks = 1;
        });

        var hung = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.Hang }, new DeferredEnqueueOptions { MaxAttempts = 1 });
        var info = await Eventually.Until(() => cluster.Client.GetAsync(hung), i => i?.Status == DeferredTaskStatus.Dead, "the hung attempt to be given up");
        Assert.Equal("Deferred.Timeout", info!.LastError!.Type);
        Assert.Equal(1, cluster.Probe.Running);

        // Its slot was freed: with one slot, another task still runs.
        var next = await cluster.Client.EnqueueAsync(new ProbeTask());
        await cluster.Probe.WaitForRunsAsync(next, 1);
        cluster.Probe.Release.TrySetResult();
        await Eventually.True(() => Task.FromResult(cluster.Probe.Running == 0), "the abandoned handler to end once released");
    }

    [Fact]
    public async Task A_task_found_in_flight_after_its_silo_went_away_K_times_is_quarantined_instead_of_run()
    {
        await using var cluster = await StartAsync(o =>
        {
            o.TimerThreshold = TimeSpan.FromHours(2);
            o.QuarantineAfterInterruptions = 2;
        });
        var poison = await cluster.Client.EnqueueAsync(new ProbeTask { Note = "poison" }, new DeferredEnqueueOptions { Delay = TimeSpan.FromHours(1) });
        var unlucky = await cluster.Client.EnqueueAsync(new ProbeTask { Note = "unlucky" }, new DeferredEnqueueOptions { Delay = TimeSpan.FromHours(1) });
        await cluster.StopAsync();

        // What crashes leave behind: the marker of an attempt that never reported back. The poison task has
        // been through this once before; the unlucky one was simply in flight at one crash.
        await cluster.Rows.SetInFlightAsync(poison, interruptions: 1);
        await cluster.Rows.SetInFlightAsync(unlucky, interruptions: 0);
        await cluster.RestartAsync();

        var dead = await Eventually.Until(() => cluster.Client.GetAsync(poison), i => i?.Status == DeferredTaskStatus.Dead, "the poison task to be quarantined");
        Assert.Equal("Deferred.Quarantined", dead!.LastError!.Type);
        Assert.Equal(2, dead.Interruptions);
        Assert.Empty(cluster.Probe.RunsOf(poison));

        await cluster.Probe.WaitForRunsAsync(unlucky, 1);
        await Eventually.True(async () => await cluster.Rows.ReadAsync(unlucky) is null, "the unlucky task to complete");

        // An operator can still give the quarantined task another chance.
        Assert.True(await cluster.Client.RetryDeadAsync(poison));
        await cluster.Probe.WaitForRunsAsync(poison, 1);
    }

    [Fact]
    public async Task Logs_at_default_levels_never_contain_a_payload_or_the_connection_string()
    {
        const string PayloadMarker = "payload-marker-5f1d2c";
        const string PasswordMarker = "password-marker-83a9e0";
        var logs = new CapturedLogs();
        var database = await TestDatabase.Shared;
        var connectionString = new NpgsqlConnectionStringBuilder(database.ConnectionString) { Password = PasswordMarker }.ConnectionString;
        await using var cluster = await StartAsync(
            o =>
            {
                o.ConnectionString = connectionString;
                o.RetryBackoff = _ => TimeSpan.FromMilliseconds(50);
            },
            configureSilo: s => s.Services.AddLogging(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Information)));

        var failing = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.AlwaysFail, Note = PayloadMarker }, new DeferredEnqueueOptions { MaxAttempts = 2 });
        var fine = await cluster.Client.EnqueueAsync(new ProbeTask { Note = PayloadMarker });
        await Eventually.Until(() => cluster.Client.GetAsync(failing), i => i?.Status == DeferredTaskStatus.Dead, "the failing task to die");
        await cluster.Probe.WaitForRunsAsync(fine, 1);
        await cluster.StopAsync();

        var lines = logs.Lines.ToArray();
        Assert.Contains(lines, l => l.Contains(failing, StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(PayloadMarker, StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(PasswordMarker, StringComparison.Ordinal));
    }
}
