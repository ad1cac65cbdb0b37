using System.Diagnostics;
using System.Globalization;
using System.Text;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Xunit.Abstractions;

namespace Deferred.Tests.Integration;

/// <summary>Runs only with DEFERRED_BULK_SCALE=1: it makes 100,000 tasks die, which takes minutes.</summary>
public sealed class BulkScaleFactAttribute : FactAttribute
{
    public BulkScaleFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("DEFERRED_BULK_SCALE") != "1")
        {
            Skip = "A measurement, not a check: set DEFERRED_BULK_SCALE=1 to time bulk retry and purge of 100,000 dead tasks (docs/operations.md).";
        }
    }
}

/// <summary>
/// The figures of docs/operations.md: 100,000 dead tasks whose handler always fails (one attempt each), enqueued in
/// batches and run once to death on one silo of the default store; then bulk retries of all of them (each task runs once
/// more and dies again) and a bulk purge, each timed: prepare (listing and counting), the walk (every task's grain
/// reached), and for a retry the time until every task has run and died again. It also checks the point of bounding:
/// each task runs exactly once per retry.
/// </summary>
public sealed class BulkActionMeasurement(ITestOutputHelper output)
{
    private const int Tasks = 100_000;

    [BulkScaleFact]
    public async Task Bulk_retry_and_purge_of_100000_dead_tasks()
    {
        var retries = int.Parse(Environment.GetEnvironmentVariable("DEFERRED_BULK_RETRIES") ?? "3", CultureInfo.InvariantCulture);
        var report = new StringBuilder();
        await using var database = await TestDatabase.CreateAsync(migrate: true);
        await using var cluster = await DeferredTestCluster.StartAsync(database: database);
        var ops = cluster.Cluster.Client.ServiceProvider.GetRequiredService<IDeferredTaskOperator>();
        report.AppendLine(CultureInfo.InvariantCulture, $"{Environment.ProcessorCount} cores; load average at start: {(await File.ReadAllTextAsync("/proc/loadavg")).Trim()}");

        var seed = Stopwatch.StartNew();
        for (var i = 0; i < Tasks; i += IDeferredTasks.MaxBatchSize)
        {
            await cluster.Client.EnqueueManyAsync(
                Enumerable.Range(i, IDeferredTasks.MaxBatchSize).Select(n => new ProbeTask { Behavior = ProbeBehavior.AlwaysFail, Note = $"m{n}" }),
                new DeferredEnqueueOptions { MaxAttempts = 1 });
        }

        await DeadAsync(ops, Tasks, TimeSpan.FromMinutes(30));
        report.AppendLine(CultureInfo.InvariantCulture, $"seeded: {Tasks:N0} tasks enqueued, run and dead in {seed.Elapsed.TotalSeconds:F1} s");

        for (var run = 1; run <= retries; run++)
        {
            var watch = Stopwatch.StartNew();
            var prepared = await ops.PrepareRetryDeadAsync(new DeferredTaskFilter());
            var preparedIn = watch.Elapsed;
            Assert.Equal(Tasks, prepared.Total);
            await ops.StartBulkActionAsync(prepared.Id);
            var end = await Eventually.Until(() => ops.GetBulkActionAsync(prepared.Id), a => a!.IsFinished, "the retry to finish", TimeSpan.FromMinutes(30));
            var walkedIn = watch.Elapsed;
            Assert.Equal((DeferredBulkActionState.Completed, Tasks), (end!.State, end.Done));
            await Eventually.True(async () => cluster.Probe.Runs.Count >= Tasks * (run + 1), "every retried task to run", TimeSpan.FromMinutes(30));
            await DeadAsync(ops, Tasks, TimeSpan.FromMinutes(30));
            report.AppendLine(CultureInfo.InvariantCulture,
                $"retry {run}: prepared (listed and counted {prepared.Total:N0}) in {preparedIn.TotalSeconds:F1} s; every task retried by {walkedIn.TotalSeconds:F1} s; every task run and dead again by {watch.Elapsed.TotalSeconds:F1} s");
        }

        var perTask = cluster.Probe.Runs.GroupBy(r => r.TaskId).Select(g => g.Count()).ToList();
        Assert.Equal(Tasks, perTask.Count);
        Assert.All(perTask, n => Assert.Equal(retries + 1, n));
        report.AppendLine(CultureInfo.InvariantCulture, $"runs per task: {perTask.Min()}–{perTask.Max()} (1 + {retries} retries)");

        var purgeWatch = Stopwatch.StartNew();
        var purge = await ops.PreparePurgeDeadAsync(DateTimeOffset.UtcNow.AddMinutes(1));
        var purgePrepared = purgeWatch.Elapsed;
        Assert.Equal(Tasks, purge.Total);
        await ops.StartBulkActionAsync(purge.Id);
        var purged = await Eventually.Until(() => ops.GetBulkActionAsync(purge.Id), a => a!.IsFinished, "the purge to finish", TimeSpan.FromMinutes(30));
        Assert.Equal(Tasks, purged!.Done);
        Assert.Equal(0, await cluster.CountRowsAsync());
        report.AppendLine(CultureInfo.InvariantCulture, $"purge: prepared in {purgePrepared.TotalSeconds:F1} s; every task deleted by {purgeWatch.Elapsed.TotalSeconds:F1} s");
        report.AppendLine(CultureInfo.InvariantCulture, $"load average at end: {(await File.ReadAllTextAsync("/proc/loadavg")).Trim()}");
        output.WriteLine(report.ToString());
        await File.WriteAllTextAsync(Environment.GetEnvironmentVariable("DEFERRED_BULK_SCALE_OUT") ?? Path.Combine(Path.GetTempPath(), "deferred-bulk-scale.md"), report.ToString());
    }

    private static Task DeadAsync(IDeferredTaskOperator ops, int count, TimeSpan timeout) =>
        Eventually.True(async () => (await ops.CountAsync()).Where(c => c.Status == DeferredTaskStatus.Dead).Sum(c => c.Count) == count, $"{count} dead tasks", timeout);
}
