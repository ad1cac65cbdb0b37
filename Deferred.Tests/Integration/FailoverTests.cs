using System.Collections.Concurrent;
using Deferred.Tests.Infrastructure;
using Orleans.Hosting;
using Orleans.Runtime;
using Xunit;

namespace Deferred.Tests.Integration;

public sealed class FailoverTestsOnPostgresStore : FailoverTests
{
    protected override DeferredStore Store => DeferredStore.Postgres;
}

public sealed class FailoverTestsOnStockAdoNet : FailoverTests
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

/// <summary>Multi-silo clusters: a silo killed or stopped hands its tasks to the survivors, and only its tasks.</summary>
public abstract class FailoverTests : StoreConformance
{
    private static void Configure(DeferredOptions o)
    {
        o.MaxConcurrentTasks = 2;
        o.TimerThreshold = TimeSpan.FromSeconds(2);
        o.DuePollInterval = TimeSpan.FromMilliseconds(250);
    }

    [Fact]
    public async Task A_killed_silos_running_queued_and_far_tasks_are_adopted_and_run_by_a_survivor()
    {
        await using var cluster = await StartAsync(Configure, silos: 2);
        var survivor = cluster.Cluster.Silos[0].SiloAddress;
        var victim = cluster.Cluster.Silos[1].SiloAddress;

        // On the victim: two attempts that block (they fill both slots), three due tasks queued behind them,
        // and two tasks due in four seconds, beyond the timer threshold.
        var onVictim = cluster.OnSilo(1);
        var running = new[]
        {
            await onVictim.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease }),
            await onVictim.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease }),
        };
        await cluster.Probe.WaitAsync(runs => running.All(id => runs.Any(r => r.TaskId == id && r.Silo == victim)), "both blocking attempts to start on the victim");
        var queued = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            queued.Add(await onVictim.EnqueueAsync(new ProbeTask { Note = "queued" }));
        }

        var far = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            far.Add(await onVictim.EnqueueAsync(new ProbeTask { Note = "far" }, new DeferredEnqueueOptions { Delay = TimeSpan.FromSeconds(4) }));
        }

        Assert.All(queued.Concat(far), id => Assert.Empty(cluster.Probe.RunsOf(id)));

        await cluster.KillSiloAsync(1);

        // The interrupted attempts start again on the survivor (and fill its two slots until released); then
        // every other task of the dead silo runs there too.
        await cluster.Probe.WaitAsync(runs => running.All(id => runs.Any(r => r.TaskId == id && r.Silo == survivor)), "the interrupted attempts to start again on the survivor", TimeSpan.FromSeconds(90));

        // Adopted tasks are watched: their attempts on the survivor carry the in-flight marker.
        foreach (var id in running)
        {
            var row = await cluster.Rows.ReadAsync(id);
            Assert.True(row is { InFlight: true }, $"{id}: {row}");
            Assert.Equal(survivor.ToParsableString(), row.Value.Owner);
        }

        cluster.Probe.Release.TrySetResult();
        var all = running.Concat(queued).Concat(far).ToList();
        try
        {
            await cluster.Probe.WaitAsync(runs => all.All(id => runs.Any(r => r.TaskId == id && r.Silo == survivor)), "every task of the dead silo to run on the survivor", TimeSpan.FromSeconds(90));
        }
        catch (TimeoutException ex)
        {
            var missing = new List<string>();
            foreach (var id in all.Where(id => !cluster.Probe.RunsOf(id).Any(r => r.Silo == survivor)))
            {
                missing.Add($"{id} ({(running.Contains(id) ? "running" : queued.Contains(id) ? "queued" : "far")}): {await cluster.Rows.ReadAsync(id)}");
            }

            throw new TimeoutException($"{ex.Message}; victim {victim.ToParsableString()}, survivor {survivor.ToParsableString()}; missing: {string.Join("; ", missing)}", ex);
        }
        cluster.Probe.Release.TrySetResult();
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "every adopted task to complete");

        // Queued and far tasks never started on the dead silo, and nothing ran twice on the survivor.
        Assert.All(queued.Concat(far), id => Assert.Single(cluster.Probe.RunsOf(id)));
        Assert.All(running, id => Assert.Single(cluster.Probe.RunsOf(id), r => r.Silo == survivor));
    }

    [Fact]
    public async Task A_dead_silos_task_whose_adopting_resume_fails_runs_within_seconds_not_at_the_next_sweep()
    {
        // After a crash, Orleans' directory can still route a call for a task to the dead silo for a moment; the call
        // fails. Here the survivor's first resume or adopt call of each task fails that way. The periodic sweep and
        // the due-time poller are an hour away, so only a prompt retry can run the tasks within the deadline.
        var routedToTheDead = new ConcurrentDictionary<string, int>();
        await using var cluster = await StartAsync(o =>
        {
            Configure(o);
            o.SweepInterval = TimeSpan.FromHours(1);
            o.TimerThreshold = TimeSpan.FromHours(2);
            o.DuePollInterval = TimeSpan.FromHours(1);
        }, silos: 2, configureSilo: silo => silo.AddOutgoingGrainCallFilter(async call =>
        {
            if (call.MethodName is "ResumeAsync" or "AdoptAsync" && call.TargetId.Key.ToString() is { } id && id.StartsWith("orphan-", StringComparison.Ordinal)
                && routedToTheDead.AddOrUpdate(id, 1, (_, n) => n + 1) == 1)
            {
                throw new SiloUnavailableException($"simulated: the directory still routes {id} to the dead silo");
            }

            await call.Invoke();
        }));
        var survivor = cluster.Cluster.Silos[0].SiloAddress;

        // On the victim: two attempts that fill both slots, three due tasks queued behind them.
        var onVictim = cluster.OnSilo(1);
        var running = new[]
        {
            await onVictim.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease }, new DeferredEnqueueOptions { TaskId = "orphan-running-1" }),
            await onVictim.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease }, new DeferredEnqueueOptions { TaskId = "orphan-running-2" }),
        };
        await cluster.Probe.WaitAsync(runs => running.All(id => runs.Any(r => r.TaskId == id)), "both blocking attempts to start on the victim");
        var queued = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            queued.Add(await onVictim.EnqueueAsync(new ProbeTask { Note = "queued" }, new DeferredEnqueueOptions { TaskId = $"orphan-queued-{i}" }));
        }

        await cluster.KillSiloAsync(1);

        // The death-triggered sweep adopts all five; every first call fails; each runs on the survivor within seconds.
        await cluster.Probe.WaitAsync(runs => running.All(id => runs.Any(r => r.TaskId == id && r.Silo == survivor)), "the interrupted attempts to start again on the survivor", TimeSpan.FromSeconds(20));
        cluster.Probe.Release.TrySetResult();
        var all = running.Concat(queued).ToList();
        await cluster.Probe.WaitAsync(runs => all.All(id => runs.Any(r => r.TaskId == id && r.Silo == survivor)), "every task of the dead silo to run on the survivor", TimeSpan.FromSeconds(20));
        Assert.All(all, id => Assert.True(routedToTheDead.TryGetValue(id, out var calls) && calls >= 2, $"{id}: {calls} resume call(s)"));
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "every adopted task to complete");
    }

    [Fact]
    public async Task A_stopping_silo_lets_running_attempts_finish_and_hands_queued_tasks_to_a_survivor()
    {
        await using var cluster = await StartAsync(o =>
        {
            Configure(o);
            o.ShutdownGracePeriod = TimeSpan.FromSeconds(30);
        }, silos: 2);
        var survivor = cluster.Cluster.Silos[0].SiloAddress;
        var leaving = cluster.Cluster.Silos[1].SiloAddress;
        var gate = cluster.Gate(1);
        var onLeaving = cluster.OnSilo(1);
        var running = new[]
        {
            await onLeaving.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease }),
            await onLeaving.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease }),
        };
        await cluster.Probe.WaitAsync(runs => running.All(id => runs.Any(r => r.TaskId == id)), "both blocking attempts to start");
        var queued = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            queued.Add(await onLeaving.EnqueueAsync(new ProbeTask { Note = "queued" }));
        }

        var stopping = cluster.StopSiloAsync(1);
        await Eventually.True(() => Task.FromResult(gate.IsStopping), "the silo to begin stopping");

        // Within the grace period the running attempts may finish where they are.
        cluster.Probe.Release.TrySetResult();
        await stopping;

        await cluster.Probe.WaitAsync(runs => queued.All(id => runs.Any(r => r.TaskId == id)), "the queued tasks to run on the survivor", TimeSpan.FromSeconds(90));
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "every task to complete");
        Assert.All(running, id => Assert.Equal(leaving, Assert.Single(cluster.Probe.RunsOf(id)).Silo));
        Assert.All(queued, id => Assert.Equal(survivor, Assert.Single(cluster.Probe.RunsOf(id)).Silo));
        Assert.Equal(0, cluster.Probe.Cancelled);
    }

    [Fact]
    public async Task Silos_starting_together_split_a_left_over_backlog_and_run_each_task_once()
    {
        const int Count = 1_000;
        await using var cluster = await StartAsync(o => o.TimerThreshold = TimeSpan.FromHours(2));
        var runAt = DateTimeOffset.UtcNow.AddHours(1);
        await Parallel.ForEachAsync(Enumerable.Range(0, Count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (_, ct) =>
            await cluster.OnSilo(0).EnqueueAsync(new ProbeTask(), new DeferredEnqueueOptions { RunAt = runAt }, ct));
        await cluster.StopAsync();
        await cluster.Rows.MakeAllDueAsync();

        await using var next = await StartAsync(silos: 3, serviceId: cluster.ServiceId);
        await next.Probe.WaitAsync(runs => runs.Select(r => r.TaskId).Distinct().Count() >= Count, $"{Count} tasks to run", TimeSpan.FromMinutes(2));
        await Eventually.True(async () => await next.CountRowsAsync() == 0, "every row to be deleted");
        Assert.Equal(Count, next.Probe.Runs.Count);

        var reports = new List<Recovery.RecoveryReport>();
        for (var i = 0; i < 3; i++)
        {
            await next.Recovery(i).StartupSweep;
            reports.Add(next.Recovery(i).LastReport!);
        }

        if (Store == DeferredStore.Postgres)
        {
            // Row claims: each left-over task was adopted by exactly one silo.
            Assert.Equal(Count, reports.Sum(r => r.Found));
            Assert.Equal(0, reports.Sum(r => r.Errors));
        }
        else
        {
            // The stock store's silos split by a hash over the active silos each sees while the cluster forms; under the
            // full suite's load one resume call in a few runs failed (not reproduced alone). A failed resume is retried
            // by the next sweep, and every task ran exactly once above; more than a few would be a finding.
            Assert.InRange(reports.Sum(r => r.Errors), 0, 10);
        }
    }

    [Fact]
    public async Task While_an_attempt_runs_its_row_names_the_silo_and_carries_the_in_flight_marker()
    {
        await using var cluster = await StartAsync(o => o.WatchEveryAttempt = true, silos: 2);
        var taskId = await cluster.OnSilo(1).EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease });
        await cluster.Probe.WaitForRunsAsync(taskId, 1);

        var row = await cluster.Rows.ReadAsync(taskId);
        Assert.NotNull(row);
        Assert.Equal(cluster.OwnerOf(1), row.Value.Owner);
        Assert.True(row.Value.InFlight);

        // A sweep on the other silo leaves it alone: its owner is alive.
        Assert.Equal(0, (await cluster.Recovery(0).ScanAsync(CancellationToken.None)).Found);
        cluster.Probe.Release.TrySetResult();
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "the task to complete");
        Assert.Single(cluster.Probe.RunsOf(taskId));
    }

    [Fact]
    public async Task A_due_task_of_a_live_silo_that_no_activation_holds_is_found_by_the_audit_and_run()
    {
        await using var cluster = await StartAsync(o => o.SweepInterval = TimeSpan.FromHours(1));
        var taskId = await cluster.OnSilo(0).EnqueueAsync(new ProbeTask { Note = "stranded" }, new DeferredEnqueueOptions { Delay = TimeSpan.FromHours(1) });
        var grainId = cluster.Cluster.Client.GetGrain<IDeferredTaskGrain>(taskId).GetGrainId();
        await Eventually.True(() => Task.FromResult(!cluster.Cluster.TryGetGrainContext(grainId, out _)), "the parked task to hold no activation");

        // Its wake-up is lost: due long ago, owned by a live silo (so no sweep adopts it), held by nothing.
        await cluster.Rows.MakeOverdueAsync(taskId);
        Assert.Equal(0, (await cluster.Recovery(0).ScanAsync(CancellationToken.None)).Found);

        Assert.Equal(1, await cluster.Audit(0).AuditAsync(CancellationToken.None));
        await cluster.Probe.WaitForRunsAsync(taskId, 1);
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "the stranded task to complete");
    }
}
