using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Deferred.Diagnostics;
using Deferred.Lifecycle;
using Xunit;

namespace Deferred.Tests.Unit;

/// <summary>The telemetry verb the task grain calls with each committed transition: which counters each edge moves.</summary>
public sealed class DeferredTelemetryTests
{
    public static TheoryData<string, string[]> Edges => new()
    {
        { nameof(Edge.Enqueue), ["deferred.tasks.enqueued"] },
        { nameof(Edge.Succeed), ["deferred.tasks.succeeded"] },
        { nameof(Edge.Fail), ["deferred.attempts.failed", "deferred.tasks.retried"] },
        { nameof(Edge.GiveUp), ["deferred.attempts.failed", "deferred.tasks.dead"] },
        { nameof(Edge.Unreadable), ["deferred.tasks.dead"] },
        { nameof(Edge.Interrupted), ["deferred.attempts.interrupted"] },
        { nameof(Edge.Quarantine), ["deferred.attempts.interrupted", "deferred.tasks.quarantined", "deferred.tasks.dead"] },
        { nameof(Edge.Cancel), ["deferred.tasks.cancelled"] },
        { nameof(Edge.RetryDead), ["deferred.tasks.retried"] },
        { nameof(Edge.Park), [] },
        { nameof(Edge.Start), [] },
    };

    [Theory]
    [MemberData(nameof(Edges))]
    public void Each_edge_moves_its_counters_by_one_tagged_with_the_task_type(string edgeName, string[] counters)
    {
        // A task type of this test's own: counters are process-wide and other tests run alongside.
        var type = "telemetry-" + Guid.NewGuid().ToString("N");
        var seen = new ConcurrentDictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == DeferredTelemetry.Name)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Value as string == type)
                {
                    seen.AddOrUpdate(instrument.Name, value, (_, v) => v + value);
                }
            }
        });
        listener.Start();

        var record = new TaskRecord { TaskType = type, Payload = [1], Status = DeferredTaskStatus.Pending, MaxAttempts = 3 };
        DeferredTelemetry.Transitioned(new Transition(Enum.Parse<Edge>(edgeName), record, record, Write.Update, Then.Nothing));

        Assert.Equal(counters.Order(), seen.Keys.Order());
        Assert.All(seen.Values, v => Assert.Equal(1, v));
    }
}
