using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Deferred.Tests.Integration;

/// <summary>Stops and restarts PostgreSQL itself, so these run alone, on a server of their own.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class OutageGroup
{
    public const string Name = "database outage";
}

[Collection(OutageGroup.Name)]
public sealed class OutageTestsOnPostgresStore : OutageTests
{
    protected override DeferredStore Store => DeferredStore.Postgres;
}

[Collection(OutageGroup.Name)]
public sealed class OutageTestsOnStockAdoNet : OutageTests
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

public abstract class OutageTests : StoreConformance
{
    [Fact]
    public Task During_a_database_outage_enqueue_fails_fast_completions_wait_and_everything_resumes_when_it_returns() =>
        OutageAsync(watchEveryAttempt: false);

    [Fact]
    public Task A_watched_attempt_does_not_start_until_its_marker_can_be_stored() =>
        OutageAsync(watchEveryAttempt: true);

    [Fact]
    public async Task During_a_database_outage_the_operator_throws_the_typed_store_exception_for_reads_and_actions()
    {
        await using var server = await OwnPostgres.StartAsync();
        await using var database = await TestDatabase.CreateAsync(migrate: true, server.ConnectionString);
        await using var cluster = await StartAsync(o => o.EnqueueTimeout = TimeSpan.FromSeconds(1), database: database);
        var operations = cluster.Cluster.Client.ServiceProvider.GetRequiredService<IDeferredTaskOperator>();
        var stored = await cluster.Client.EnqueueAsync(new ProbeTask { Note = "later" }, new DeferredEnqueueOptions { Delay = TimeSpan.FromHours(1) });
        Assert.Single((await operations.ListAsync(new DeferredTaskQuery())).Tasks);

        await server.StopAsync();

        // What the dashboard and the CLI turn into "the task store is unreachable" (503, exit 1), not a server error.
        var refusals = new List<DeferredStoreUnavailableException>
        {
            await Assert.ThrowsAsync<DeferredStoreUnavailableException>(() => operations.ListAsync(new DeferredTaskQuery { Filter = new() { Status = DeferredTaskStatus.Dead } })),
            await Assert.ThrowsAsync<DeferredStoreUnavailableException>(() => operations.CountAsync()),
            await Assert.ThrowsAsync<DeferredStoreUnavailableException>(() => operations.PurgeDeadAsync(DateTimeOffset.UtcNow)),

            // A task whose grain is not active must read its row first; that read fails in activation.
            await Assert.ThrowsAsync<DeferredStoreUnavailableException>(() => operations.ShowAsync("never-activated-1")),
            await Assert.ThrowsAsync<DeferredStoreUnavailableException>(() => operations.DeleteAsync("never-activated-2")),
        };
        Assert.All(refusals, r =>
        {
            Assert.Contains("task store", r.Message);
            Assert.DoesNotContain("127.0.0.1", r.Message);
            Assert.Null(r.InnerException);
        });

        await server.StartAgainAsync();
        await Eventually.True(
            async () =>
            {
                try
                {
                    return (await operations.ListAsync(new DeferredTaskQuery())).Tasks.Any(t => t.TaskId == stored);
                }
                catch (DeferredStoreUnavailableException)
                {
                    return false;
                }
            },
            "the list to be served again");
    }

    private async Task OutageAsync(bool watchEveryAttempt)
    {
        await using var server = await OwnPostgres.StartAsync();
        await using var database = await TestDatabase.CreateAsync(migrate: true, server.ConnectionString);
        await using var cluster = await StartAsync(
            o =>
            {
                o.EnqueueTimeout = TimeSpan.FromSeconds(1);
                o.SweepInterval = TimeSpan.FromSeconds(1);
                o.WatchEveryAttempt = watchEveryAttempt;
            },
            database: database);

        // One attempt running, one task due shortly (it comes due while the database is down).
        var running = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease });
        await cluster.Probe.WaitForRunsAsync(running, 1);
        var dueAt = DateTimeOffset.UtcNow.AddSeconds(4);
        var dueDuringOutage = await cluster.Client.EnqueueAsync(new ProbeTask { Note = "due" }, new DeferredEnqueueOptions { RunAt = dueAt });

        await server.StopAsync();
        Assert.True(DateTimeOffset.UtcNow < dueAt, $"stopping the server took until {DateTimeOffset.UtcNow:O}, past the due time {dueAt:O} the test relies on");

        // Enqueue fails fast with a typed exception; nothing was acknowledged.
        var started = DateTimeOffset.UtcNow;
        var refused = await Assert.ThrowsAsync<DeferredStoreUnavailableException>(() =>
            cluster.Client.EnqueueAsync(new ProbeTask { Note = "refused" }, new DeferredEnqueueOptions { TaskId = "refused-during-outage" }));
        Assert.Equal("refused-during-outage", refused.TaskId);

        // One sentence an app may show its own callers: the task id and what to do, no server details, nothing nested.
        Assert.Contains("'refused-during-outage'", refused.Message);
        Assert.Contains("retry", refused.Message);
        Assert.True(refused.Message.Length < 300, refused.Message);
        Assert.DoesNotContain("127.0.0.1", refused.Message);
        Assert.DoesNotContain(Environment.NewLine, refused.Message);
        Assert.Null(refused.InnerException);
        Assert.True(DateTimeOffset.UtcNow - started < TimeSpan.FromSeconds(20), $"took {DateTimeOffset.UtcNow - started}");

        // The running attempt finishes while the database is down: its completion cannot be written yet.
        cluster.Probe.Release.TrySetResult();
        await Eventually.True(() => Task.FromResult(cluster.Probe.Running == 0), "the running attempt to return");
        if (!watchEveryAttempt)
        {
            // The task that comes due meanwhile runs (it needs no write to start); its outcome waits for the database.
            await cluster.Probe.WaitForRunsAsync(dueDuringOutage, 1);
        }
        else
        {
            // Watched, it cannot store its marker: it must come due during the outage for the run below to prove that
            // it waited (a condition on the clock, not an assertion of absence).
            await Eventually.True(() => Task.FromResult(DateTimeOffset.UtcNow > dueAt.AddSeconds(1)), "the second task to come due during the outage");
        }

        var restarting = DateTimeOffset.UtcNow;
        await server.StartAgainAsync();
        await cluster.Probe.WaitForRunsAsync(dueDuringOutage, 1);
        if (watchEveryAttempt)
        {
            // Its one run began once the server was being started again: none while its marker could not be stored.
            var run = Assert.Single(cluster.Probe.RunsOf(dueDuringOutage));
            Assert.True(run.StartedAt >= restarting, $"the watched task ran at {run.StartedAt:O}, before the server was started again at {restarting:O}");
        }

        // Both completions are written, neither task re-run; new work is accepted again.
        var after = await cluster.Client.EnqueueAsync(new ProbeTask { Note = "after" });
        await cluster.Probe.WaitForRunsAsync(after, 1);
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "every task to complete after the outage", TimeSpan.FromSeconds(90));
        Assert.Single(cluster.Probe.RunsOf(running));
        Assert.Single(cluster.Probe.RunsOf(dueDuringOutage));
        Assert.Null(await cluster.Client.GetAsync("refused-during-outage"));
    }
}
