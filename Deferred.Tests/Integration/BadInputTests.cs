using Deferred.Tests.Infrastructure;
using Xunit;

namespace Deferred.Tests.Integration;

public sealed class BadInputTestsOnPostgresStore : BadInputTests
{
    protected override DeferredStore Store => DeferredStore.Postgres;
}

public sealed class BadInputTestsOnStockAdoNet : BadInputTests
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

public abstract class BadInputTests : StoreConformance
{
    [Fact]
    public async Task Bad_enqueues_fail_with_clear_errors_and_persist_nothing()
    {
        await using var cluster = await StartAsync();
        var tasks = cluster.Client;

        var unhandled = await Assert.ThrowsAsync<DeferredTaskTypeNotRegisteredException>(() => tasks.EnqueueAsync(new UnhandledTask(1)));
        Assert.Contains(typeof(UnhandledTask).FullName!, unhandled.Message);

        await Assert.ThrowsAsync<ArgumentNullException>(() => tasks.EnqueueAsync<ProbeTask>(null!));

        var negative = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            tasks.EnqueueAsync(new ProbeTask(), new DeferredEnqueueOptions { Delay = TimeSpan.FromSeconds(-1) }));
        Assert.Equal("Delay", negative.ParamName);
        Assert.Contains("-00:00:01", negative.Message);

        var forever = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            tasks.EnqueueAsync(new ProbeTask(), new DeferredEnqueueOptions { Delay = TimeSpan.MaxValue }));
        Assert.Equal("Delay", forever.ParamName);
        var endOfTime = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            tasks.EnqueueAsync(new ProbeTask(), new DeferredEnqueueOptions { RunAt = DateTimeOffset.MaxValue }));
        Assert.Equal("RunAt", endOfTime.ParamName);

        // A token cancelled before the call stores nothing, also for a far task that would skip the grain.
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => tasks.EnqueueAsync(new ProbeTask(), null, cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            cluster.OnSilo(0).EnqueueAsync(new ProbeTask(), new DeferredEnqueueOptions { Delay = TimeSpan.FromHours(1) }, cancelled.Token));

        var attempts = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            tasks.EnqueueAsync(new ProbeTask(), new DeferredEnqueueOptions { MaxAttempts = 0 }));
        Assert.Equal("MaxAttempts", attempts.ParamName);

        var both = await Assert.ThrowsAsync<ArgumentException>(() =>
            tasks.EnqueueAsync(new ProbeTask(), new DeferredEnqueueOptions { Delay = TimeSpan.Zero, RunAt = DateTimeOffset.UtcNow }));
        Assert.Contains("both set", both.Message);

        var hexId = await Assert.ThrowsAsync<ArgumentException>(() =>
            tasks.EnqueueAsync(new ProbeTask(), new DeferredEnqueueOptions { TaskId = "abc123" }));
        Assert.Contains("'abc123'", hexId.Message);

        // The grain validates on its own too: app code may call it directly.
        var grain = cluster.Cluster.Client.GetGrain<IDeferredTaskGrain>("direct-1");
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            grain.EnqueueAsync(new DeferredEnqueueRequest { Task = new ProbeTask(), Options = new DeferredEnqueueOptions { MaxAttempts = -5 } }));
        await Assert.ThrowsAsync<DeferredTaskTypeNotRegisteredException>(() =>
            grain.EnqueueAsync(new DeferredEnqueueRequest { Task = new UnhandledTask(2) }));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            grain.EnqueueAsync(new DeferredEnqueueRequest { Task = new ProbeTask(), Options = new DeferredEnqueueOptions { Delay = TimeSpan.MaxValue } }));

        Assert.Equal(0, await cluster.CountRowsAsync());

        // And the silo is still fine.
        var ok = await tasks.EnqueueAsync(new ProbeTask());
        await cluster.Probe.WaitForRunsAsync(ok, 1);
    }

    [Fact]
    public async Task Rows_with_an_unknown_type_a_corrupt_payload_or_a_corrupt_row_become_dead_and_the_silo_keeps_running()
    {
        await using var cluster = await StartAsync(o => o.TimerThreshold = TimeSpan.FromHours(2));
        var later = new DeferredEnqueueOptions { Delay = TimeSpan.FromHours(1) };
        var unknownType = await cluster.Client.EnqueueAsync(new ProbeTask(), later with { TaskId = "bad-type" });
        var corruptPayload = await cluster.Client.EnqueueAsync(new ProbeTask(), later with { TaskId = "bad-payload" });
        var corruptRow = await cluster.Client.EnqueueAsync(new ProbeTask(), later with { TaskId = "bad-row" });
        await cluster.StopAsync();

        await cluster.Rows.SetTaskTypeAsync(unknownType, "tests.type-that-was-deleted");
        await cluster.Rows.SetPayloadAsync(corruptPayload, [0xFF, 0xFF, 0xFF, 0xFF]);
        if (Store == DeferredStore.OrleansAdoNet)
        {
            // Only the stock store keeps the whole state as one blob that can be unreadable; the default
            // store's typed columns cannot be.
            await cluster.Database.ExecuteAsync(
                "UPDATE orleansstorage SET payloadbinary = '\\x00ff00fe'::bytea WHERE serviceid = @s AND grainidextensionstring = @id",
                ("s", cluster.ServiceId), ("id", corruptRow));
        }

        await cluster.RestartAsync();
        await cluster.Recovery().StartupSweep;

        var a = await DeadAsync(cluster, unknownType);
        Assert.Equal("Deferred.UnknownTaskType", a.LastError!.Type);
        Assert.Contains("tests.type-that-was-deleted", a.LastError.Message);

        var b = await DeadAsync(cluster, corruptPayload);
        Assert.Equal("Deferred.CorruptPayload", b.LastError!.Type);

        if (Store == DeferredStore.OrleansAdoNet)
        {
            var c = await DeadAsync(cluster, corruptRow);
            Assert.Equal("Deferred.CorruptRow", c.LastError!.Type);

            // The corrupt row was rewritten as a readable dead row, so scans skip it from now on.
            Assert.Equal("Dead", await cluster.Database.ScalarAsync<string>(
                "SELECT deferred_try_jsonb(payloadbinary) ->> 'status' FROM orleansstorage WHERE serviceid = @s AND grainidextensionstring = @id",
                ("s", cluster.ServiceId), ("id", corruptRow)));
            Assert.Empty(cluster.Probe.Runs);
        }
        else
        {
            // Still a valid row: it was delayed and stays pending; only the broken two are dead.
            Assert.Equal(DeferredTaskStatus.Pending, (await cluster.Client.GetAsync(corruptRow))!.Status);
        }

        // Nothing is orphaned any more (dead rows are never adopted, the pending one is this silo's now): a second
        // sweep adopts nothing. And the silo still runs new work.
        Assert.Equal(0, (await cluster.Recovery().ScanAsync(CancellationToken.None)).Found);
        var ok = await cluster.Client.EnqueueAsync(new ProbeTask());
        await cluster.Probe.WaitForRunsAsync(ok, 1);
    }

    private static async Task<DeferredTaskInfo> DeadAsync(DeferredTestCluster cluster, string taskId) =>
        (await Eventually.Until(() => cluster.Client.GetAsync(taskId), i => i?.Status == DeferredTaskStatus.Dead, $"{taskId} to be dead"))!;
}
