using System.Collections.Concurrent;
using System.Diagnostics;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Deferred.Tests.Integration;

[Collection(OutageGroup.Name)]
public sealed class RestartUnderLoadTestsOnPostgresStore : RestartUnderLoadTests
{
    protected override DeferredStore Store => DeferredStore.Postgres;
}

[Collection(OutageGroup.Name)]
public sealed class RestartUnderLoadTestsOnStockAdoNet : RestartUnderLoadTests
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

/// <summary>
/// PostgreSQL restarted while enqueues (from the silo, as an ASP.NET Core app on it does, and from a client) and
/// completions are in flight: every enqueue either commits or waits out its whole window and ends in
/// <see cref="DeferredStoreUnavailableException"/>, every completion waits for the database, and the outage is one
/// warning and one information line. (Issue 23, item 3: retries ran off the activation's scheduler, Orleans refused
/// them with an InvalidOperationException, and enqueues and completions gave up after half a second.)
/// </summary>
public abstract class RestartUnderLoadTests : StoreConformance
{
    private static readonly TimeSpan EnqueueWindow = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task A_restart_under_load_holds_each_enqueue_for_its_window_lets_completions_wait_and_logs_one_outage()
    {
        var logs = new CapturedLogs(LogLevel.Information);
        await using var server = await OwnPostgres.StartAsync();
        await using var database = await TestDatabase.CreateAsync(migrate: true, server.ConnectionString);
        await using var cluster = await StartAsync(
            o =>
            {
                o.EnqueueTimeout = EnqueueWindow;
                o.SweepInterval = TimeSpan.FromSeconds(1);
            },
            configureSilo: silo => silo.Services.AddSingleton<ILoggerProvider>(logs),
            database: database);

        // Attempts held in their handlers: they return during the outage, so their completions must wait for it.
        var held = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            held.Add(await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease, Note = "held" }));
        }

        await Eventually.True(() => Task.FromResult(cluster.Probe.Running == held.Count), "the held attempts to start");

        var acknowledged = new ConcurrentQueue<string>();
        var refused = new ConcurrentQueue<(Exception Error, TimeSpan Took)>();
        using var stop = new CancellationTokenSource();
        async Task EnqueueLoop(IDeferredTasks tasks)
        {
            while (!stop.IsCancellationRequested)
            {
                var took = Stopwatch.StartNew();
                try
                {
                    acknowledged.Enqueue(await tasks.EnqueueAsync(new ProbeTask { Note = "load" }));
                }
                catch (Exception ex)
                {
                    refused.Enqueue((ex, took.Elapsed));
                }
            }
        }

        var loops = Enumerable.Range(0, 16).Select(_ => Task.Run(() => EnqueueLoop(cluster.OnSilo(0))))
            .Concat(Enumerable.Range(0, 4).Select(_ => Task.Run(() => EnqueueLoop(cluster.Client))))
            .ToArray();
        await Eventually.True(() => Task.FromResult(acknowledged.Count >= 300), "300 enqueues before the restart");

        await server.StopAsync();
        cluster.Probe.Release.TrySetResult();

        // The database stays down until enqueues have waited out their window (a restart longer than EnqueueTimeout).
        await Eventually.True(() => Task.FromResult(refused.Count >= 20), "20 enqueues refused while the database is down");
        await server.StartAgainAsync();
        var beforeReturn = acknowledged.Count;
        await Eventually.True(() => Task.FromResult(acknowledged.Count >= beforeReturn + 300), "300 enqueues after the database is back");
        await stop.CancelAsync();
        await Task.WhenAll(loops);

        // Nothing acknowledged is lost: every acknowledged and every held task ran and its row is gone.
        try
        {
            await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "every stored task to complete", TimeSpan.FromSeconds(90));
        }
        catch (TimeoutException timeout)
        {
            // Say which tasks are left and where each stands, so a failure can be diagnosed from the log alone.
            var operations = cluster.Cluster.Client.ServiceProvider.GetRequiredService<IDeferredTaskOperator>();
            var left = (await operations.ListAsync(new DeferredTaskQuery { PageSize = 20 })).Tasks;
            var details = await Task.WhenAll(left.Select(t => operations.ShowAsync(t.TaskId)));
            throw new TimeoutException(
                $"{timeout.Message}; {await cluster.CountRowsAsync()} row(s) left, e.g. " +
                string.Join("; ", details.Select(d => $"{d!.Info.TaskId} {d.Info.Status} attempts={d.Info.Attempts} next={d.Info.NextRunAt:O} since={d.RunningSince:O} owner={d.Owner} error={d.Info.LastError?.Message}")),
                timeout);
        }

        var ids = acknowledged.Concat(held).ToArray();
        var ran = cluster.Probe.Runs.Select(r => r.TaskId).ToHashSet();
        Assert.DoesNotContain(ids, id => !ran.Contains(id));

        // Each refusal is the documented one, after the enqueue's whole window (its tries back off up to 1 s, so it
        // gives up once the next wait would pass the budget: at least EnqueueTimeout - 1 s).
        Assert.All(refused, r =>
        {
            Assert.IsType<DeferredStoreUnavailableException>(r.Error);
            Assert.True(r.Took >= EnqueueWindow - TimeSpan.FromSeconds(1.1), $"an enqueue gave up after {r.Took.TotalMilliseconds:0} ms, before its {EnqueueWindow.TotalSeconds} s window: {r.Error.Message}");
        });

        // One outage: one warning when it starts, one line when it ends (the probe sees the database back).
        await Eventually.True(() => Task.FromResult(logs.Count(1019) >= 1), "the outage's end (1019) to be logged");
        var text = string.Join(Environment.NewLine, logs.Entries);
        Assert.DoesNotContain("Activation access violation", text);
        Assert.Equal(1, logs.Count(1018));
        Assert.Equal(1, logs.Count(1019));

        // Only what was given up is an error, one line each (1006), and no completion was given up. (Orleans' state
        // bridge no longer adds a copy with its stack for every failed try. Orleans' catalog still logs its own lines
        // when a client's new task cannot be activated because its first read found the store down: not Deferred's.)
        var errors = logs.Entries.Where(e => e.Level >= LogLevel.Error && !e.Category.StartsWith("Orleans.", StringComparison.Ordinal)).ToArray();
        Assert.All(errors, e => Assert.Equal(1006, e.EventId));
        Assert.DoesNotContain(errors, e => e.Message.Contains("Outcome window", StringComparison.Ordinal));
        // One line per thing given up: no task's operation is reported twice. (Resumes and reads of tasks other than
        // the refused enqueues may be given up too; each is its own line.)
        var repeated = errors.GroupBy(e => e.Message[..e.Message.IndexOf(" after ", StringComparison.Ordinal)]).Where(g => g.Count() > 1).Select(g => g.Key).ToArray();
        Assert.True(repeated.Length == 0, $"given up more than once: {string.Join(", ", repeated.Take(5))}");
    }
}
