using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Xunit;

namespace Deferred.Tests.Integration;

public sealed class TelemetryTestsOnPostgresStore : TelemetryTests
{
    protected override DeferredStore Store => DeferredStore.Postgres;
}

public sealed class TelemetryTestsOnStockAdoNet : TelemetryTests
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

/// <summary>
/// The instruments and spans OpenTelemetry reads (meter and activity source "Deferred"), observed with the .NET listeners
/// an exporter uses. Listeners are process-wide, so each test keeps only what carries its own task ids.
/// </summary>
public abstract class TelemetryTests : StoreConformance
{
    [Fact]
    public async Task One_trace_runs_from_the_enqueue_through_a_failed_attempt_to_the_successful_retry_with_the_enqueuers_baggage()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Deferred",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var cluster = await StartAsync(o => o.RetryBackoff = _ => TimeSpan.FromMilliseconds(100));

        using var request = new Activity("app.request").Start();
        request.SetBaggage("tenant", "acme");
        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.FailUntilAttempt, SucceedOnAttempt = 2 });
        request.Stop();
        await cluster.Probe.WaitForRunsAsync(taskId, 2);
        await Eventually.True(() => Task.FromResult(Attempts(spans, taskId).Count() == 2), "both attempt spans to end");

        var enqueue = Assert.Single(spans, s => s.OperationName == "deferred.task.enqueue" && Equals(s.GetTagItem("deferred.task.id"), taskId));
        Assert.Equal(ActivityKind.Producer, enqueue.Kind);
        Assert.Equal(request.TraceId, enqueue.TraceId);
        var attempts = Attempts(spans, taskId).OrderBy(s => (int)s.GetTagItem("deferred.task.attempt")!).ToArray();
        Assert.All(attempts, a =>
        {
            Assert.Equal(ActivityKind.Consumer, a.Kind);
            Assert.Equal(request.TraceId, a.TraceId);
            Assert.Equal(enqueue.SpanId, a.ParentSpanId);
            Assert.Equal("deferred.tests.probe", a.GetTagItem("deferred.task.type"));
        });
        Assert.Equal(ActivityStatusCode.Error, attempts[0].Status);
        Assert.Equal("failed", attempts[0].GetTagItem("deferred.task.outcome"));
        Assert.Contains(attempts[0].Events, e => e.Name == "exception");
        Assert.Equal("succeeded", attempts[1].GetTagItem("deferred.task.outcome"));

        // The handler ran inside that trace and saw the enqueuer's baggage.
        Assert.All(cluster.Probe.RunsOf(taskId), run =>
        {
            Assert.Equal(request.TraceId.ToHexString(), run.TraceId);
            Assert.Equal("acme", run.Baggage["tenant"]);
        });
    }

    [Fact]
    public async Task The_counters_and_histograms_report_each_edge_of_the_lifecycle_by_task_type()
    {
        var measured = new ConcurrentQueue<(string Name, double Value, string? Type)>();
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "Deferred")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        meters.SetMeasurementEventCallback<long>((i, v, tags, _) => measured.Enqueue((i.Name, v, TypeOf(tags))));
        meters.SetMeasurementEventCallback<double>((i, v, tags, _) => measured.Enqueue((i.Name, v, TypeOf(tags))));
        meters.SetMeasurementEventCallback<int>((i, v, tags, _) => measured.Enqueue((i.Name, v, TypeOf(tags))));
        meters.Start();
        await using var cluster = await StartAsync(o => o.RetryBackoff = _ => TimeSpan.FromMilliseconds(100));

        var before = measured.Count(m => m.Name == "deferred.tasks.succeeded");
        var retried = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.FailUntilAttempt, SucceedOnAttempt = 2 });
        var dead = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.AlwaysFail }, new DeferredEnqueueOptions { MaxAttempts = 1 });
        await cluster.Probe.WaitForRunsAsync(retried, 2);
        await Eventually.True(async () => (await cluster.Client.GetAsync(dead))?.Status == DeferredTaskStatus.Dead, "the second task to die");
        await Eventually.True(async () => await cluster.Client.GetAsync(retried) is null, "the first task to complete");
        meters.RecordObservableInstruments();

        bool Seen(string name) => measured.Any(m => m.Name == name && (m.Type is null || m.Type == "deferred.tests.probe"));
        foreach (var name in new[]
                 {
                     "deferred.tasks.enqueued", "deferred.attempts.started", "deferred.attempts.failed", "deferred.tasks.retried",
                     "deferred.tasks.dead", "deferred.tasks.succeeded", "deferred.task.queue_wait", "deferred.attempt.duration",
                     "deferred.attempts.running", "deferred.tasks.due",
                 })
        {
            Assert.True(Seen(name), $"no measurement of {name}");
        }

        Assert.True(measured.Count(m => m.Name == "deferred.tasks.succeeded") > before);
        // Seconds, not milliseconds: this test's tasks waited and ran well under a minute. The listener also hears tests
        // running alongside (a task due long ago waits long), so the bound applies to the quickest measurement.
        foreach (var name in new[] { "deferred.task.queue_wait", "deferred.attempt.duration" })
        {
            var values = measured.Where(m => m.Name == name).Select(m => m.Value).ToList();
            Assert.All(values, v => Assert.True(v >= 0, $"{name} measured {v}"));
            Assert.InRange(values.Min(), 0, 60);
        }
        if (Store == DeferredStore.Postgres)
        {
            Assert.True(Seen("deferred.store.batch.size") && Seen("deferred.store.commit.duration"), "no store batch measurements");
        }
    }

    [Fact]
    public async Task The_health_checks_report_a_reachable_store_at_the_expected_schema_and_a_recent_sweep()
    {
        await using var cluster = await StartAsync(configureSilo: silo => silo.Services.AddHealthChecks().AddDeferredTasks());
        var health = cluster.Cluster.Silos[0].ServiceProvider.GetRequiredService<HealthCheckService>();
        await cluster.Recovery(0).StartupSweep;

        var report = await health.CheckHealthAsync(r => r.Tags.Contains(DeferredHealthCheckExtensions.Tag));

        Assert.Equal(3, report.Entries.Count);
        Assert.True(report.Status == HealthStatus.Healthy, string.Join("; ", report.Entries.Select(e => $"{e.Key}: {e.Value.Status} {e.Value.Description}")));
        Assert.Contains("schema at version", report.Entries["deferred-store"].Description);
    }

    private static IEnumerable<Activity> Attempts(IEnumerable<Activity> spans, string taskId) =>
        spans.Where(s => s.OperationName == "deferred.task.process" && Equals(s.GetTagItem("deferred.task.id"), taskId));

    private static string? TypeOf(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == "deferred.task.type")
            {
                return tag.Value as string;
            }
        }

        return null;
    }
}
