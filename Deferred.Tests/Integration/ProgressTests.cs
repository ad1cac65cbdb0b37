using System.Collections.Concurrent;
using Deferred.Execution;
using Deferred.Operations;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Configuration;
using Xunit;

namespace Deferred.Tests.Integration;

public sealed class ProgressTestsOnPostgresStore : ProgressTests
{
    protected override DeferredStore Store => DeferredStore.Postgres;
}

public sealed class ProgressTestsOnStockAdoNet : ProgressTests
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

/// <summary>A handler reports its progress: seen while it runs, stored throttled, cleared when it ends.</summary>
public abstract class ProgressTests : StoreConformance
{
    [Fact]
    public async Task Progress_is_seen_while_the_attempt_runs_stored_for_readers_without_the_silo_and_cleared_at_its_end()
    {
        await using var cluster = await StartReportingAsync();
        var gate = ProgressHandler.GateFor(cluster.ServiceId);
        var id = await cluster.Client.EnqueueAsync(new ProgressTask());
        await gate.Reported.Task.WaitAsync(TimeSpan.FromSeconds(30));

        var running = (await cluster.Client.GetAsync(id))!;
        Assert.Equal(DeferredTaskStatus.Running, running.Status);
        Assert.Equal((0.25, "a quarter"), (running.Progress!.Fraction, running.Progress.Message));
        var operators = cluster.Cluster.Client.ServiceProvider.GetRequiredService<IDeferredTaskOperator>();
        Assert.Equal(0.25, (await operators.ShowAsync(id))!.Info.Progress!.Fraction);

        // Stored for a reader without the silo (the command line's database reads).
        await using var reader = new StoredTaskReader(cluster.Database.ConnectionString, cluster.ServiceId, Store);
        var stored = await Eventually.Until(() => reader.ShowAsync(id, CancellationToken.None), d => d?.Info.Progress is not null, "the report to be stored");
        Assert.Equal((0.25, "a quarter"), (stored!.Info.Progress!.Fraction, stored.Info.Progress.Message));

        gate.Proceed.TrySetResult();
        await Eventually.True(async () => await cluster.Client.GetAsync(id) is null, "the task to end");
        await Eventually.True(async () => await ProgressRowsAsync(cluster) == 0, "the stored report to be cleared");
    }

    [Fact]
    public async Task A_burst_of_reports_is_stored_once_more_at_most_the_latest_winning()
    {
        await using var cluster = await StartReportingAsync();
        var progress = cluster.Cluster.Silos[0].ServiceProvider.GetRequiredService<AttemptProgress>();
        var gate = ProgressHandler.GateFor(cluster.ServiceId);
        var id = await cluster.Client.EnqueueAsync(new ProgressTask { Burst = 500 });
        await gate.Reported.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // The first report is stored at once.
        await Eventually.True(() => Task.FromResult(progress.Writes == 1), "the first report to be stored");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        gate.Proceed.TrySetResult();

        // 500 more reports as fast as the handler can make them, then it waits: the latest reaches the store.
        await gate.Burst.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await using var reader = new StoredTaskReader(cluster.Database.ConnectionString, cluster.ServiceId, Store);
        var stored = await Eventually.Until(() => reader.ShowAsync(id, CancellationToken.None), d => d?.Info.Progress?.Fraction == 1.0, "the latest report to be stored");
        var writes = progress.Writes;
        var seconds = clock.Elapsed.TotalSeconds;

        Assert.Equal("item 500", stored!.Info.Progress!.Message);
        Assert.InRange(writes, 2, 1 + (long)Math.Ceiling(seconds / AttemptProgress.WriteInterval.TotalSeconds) + 1);
        Assert.Equal(501, ProgressHandler.Reports(id));
        gate.Finish.TrySetResult();
        await Eventually.True(async () => await ProgressRowsAsync(cluster) == 0, "the stored report to be cleared");
    }

    [Fact]
    public async Task A_report_out_of_range_is_refused_by_name_and_a_context_without_a_silo_drops_reports()
    {
        var context = new DeferredTaskContext("t-1", "type", 1, 3, DateTimeOffset.UtcNow, null);

        Assert.Equal("fraction", Assert.Throws<ArgumentOutOfRangeException>(() => context.ReportProgressAsync(1.5).AsTask().GetAwaiter().GetResult()).ParamName);
        Assert.Equal("fraction", Assert.Throws<ArgumentOutOfRangeException>(() => context.ReportProgressAsync(double.NaN).AsTask().GetAwaiter().GetResult()).ParamName);
        Assert.Equal("fraction", Assert.Throws<ArgumentOutOfRangeException>(() => context.ReportProgressAsync(-0.1).AsTask().GetAwaiter().GetResult()).ParamName);
        var tooLong = Assert.Throws<ArgumentException>(() => context.ReportProgressAsync(0.5, new string('x', 501)).AsTask().GetAwaiter().GetResult());
        Assert.Equal("message", tooLong.ParamName);
        Assert.Contains("501", tooLong.Message);
        Assert.Equal("message", Assert.Throws<ArgumentException>(() => context.ReportProgressAsync(0.5, "a\0b").AsTask().GetAwaiter().GetResult()).ParamName);
        await context.ReportProgressAsync(1, "done");
        Assert.Null(context.ProgressState);
    }

    [Fact]
    public async Task A_report_after_the_attempt_ended_is_not_heard()
    {
        await using var cluster = await StartReportingAsync();
        var progress = cluster.Cluster.Silos[0].ServiceProvider.GetRequiredService<AttemptProgress>();
        var context = new DeferredTaskContext("ended-1", "type", 1, 3, DateTimeOffset.UtcNow, null) { ProgressSink = progress };

        // As for a handler abandoned after its timeout: its attempt ended before it reported.
        progress.End(context);
        await context.ReportProgressAsync(0.5, "late");

        Assert.Null(progress.Current("ended-1"));
        Assert.NotNull(context.ProgressState);
        Assert.IsNotType<DeferredTaskProgress>(context.ProgressState);
    }

    private static async Task<long> ProgressRowsAsync(DeferredTestCluster cluster)
    {
        await using var command = cluster.Database.DataSource.CreateCommand("SELECT count(*) FROM deferred_task_progress WHERE service_id = @s");
        command.Parameters.AddWithValue("s", cluster.ServiceId);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private Task<DeferredTestCluster> StartReportingAsync() =>
        StartAsync(configureSilo: silo => silo.Services.AddDeferredTaskHandler<ProgressTask, ProgressHandler>());
}

[GenerateSerializer]
[Alias("test.progress")]
public sealed record ProgressTask
{
    /// <summary>Reports to make in a burst after the gate opens (0: none).</summary>
    [Id(0)] public int Burst { get; init; }
}

internal sealed class ProgressGate
{
    public TaskCompletionSource Reported { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource Proceed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource Burst { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource Finish { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

internal sealed class ProgressHandler(IOptions<ClusterOptions> cluster) : IDeferredTaskHandler<ProgressTask>
{
    private static readonly ConcurrentDictionary<string, ProgressGate> Gates = new();
    private static readonly ConcurrentDictionary<string, int> Counts = new();

    public static ProgressGate GateFor(string serviceId) => Gates.GetOrAdd(serviceId, _ => new ProgressGate());

    public static int Reports(string taskId) => Counts.GetValueOrDefault(taskId);

    public async Task ExecuteAsync(ProgressTask task, DeferredTaskContext context, CancellationToken cancellationToken)
    {
        var gate = GateFor(cluster.Value.ServiceId);
        await context.ReportProgressAsync(0.25, "a quarter");
        Counts.AddOrUpdate(context.TaskId, 1, (_, n) => n + 1);
        gate.Reported.TrySetResult();
        await gate.Proceed.Task.WaitAsync(cancellationToken);
        if (task.Burst == 0)
        {
            return;
        }

        for (var i = 1; i <= task.Burst; i++)
        {
            await context.ReportProgressAsync((double)i / task.Burst, $"item {i}");
            Counts.AddOrUpdate(context.TaskId, 1, (_, n) => n + 1);
        }

        gate.Burst.TrySetResult();
        await gate.Finish.Task.WaitAsync(cancellationToken);
    }
}
