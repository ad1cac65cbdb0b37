using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Deferred.Diagnostics;

/// <summary>
/// Metrics (meter <c>Deferred</c>) and traces (activity source <c>Deferred</c>): the .NET-native APIs that
/// OpenTelemetry reads (<c>AddMeter("Deferred")</c>, <c>AddSource("Deferred")</c>). Names and units follow OpenTelemetry
/// conventions: dotted lower-case names, durations in seconds, counts in curly-brace units. The only tag on task
/// instruments is <see cref="TaskTypeTag"/>, whose values are the registered task types (bounded). The reference is
/// <c>docs/operations.md</c>.
/// </summary>
internal static class DeferredTelemetry
{
    public const string Name = "Deferred";

    /// <summary>The tag naming a task's stored type.</summary>
    public const string TaskTypeTag = "deferred.task.type";

    public static readonly ActivitySource ActivitySource = new(Name, typeof(DeferredTelemetry).Assembly.GetName().Version?.ToString());

    private static readonly Meter Meter = new(Name, typeof(DeferredTelemetry).Assembly.GetName().Version?.ToString());

    private static readonly InstrumentAdvice<double> Seconds = new()
    {
        HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
    };

    public static readonly Counter<long> Enqueued = Meter.CreateCounter<long>("deferred.tasks.enqueued", "{task}", "Tasks stored by enqueue calls.");

    public static readonly Counter<long> Started = Meter.CreateCounter<long>("deferred.attempts.started", "{attempt}", "Attempts whose handler was started.");

    public static readonly Counter<long> Succeeded = Meter.CreateCounter<long>("deferred.tasks.succeeded", "{task}", "Tasks whose attempt succeeded and whose row was deleted.");

    public static readonly Counter<long> Failed = Meter.CreateCounter<long>("deferred.attempts.failed", "{attempt}", "Attempts that failed (threw or timed out), whether or not the task retries.");

    public static readonly Counter<long> Retried = Meter.CreateCounter<long>("deferred.tasks.retried", "{task}", "Failed attempts scheduled to run again, and dead tasks retried by an operator.");

    public static readonly Counter<long> Dead = Meter.CreateCounter<long>("deferred.tasks.dead", "{task}", "Tasks that became dead (out of attempts, given up, unreadable or quarantined).");

    public static readonly Counter<long> Snoozed = Meter.CreateCounter<long>("deferred.tasks.snoozed", "{task}", "Runs a handler snoozed: the task runs again later, the attempt not counted.");

    public static readonly Counter<long> Cancelled = Meter.CreateCounter<long>("deferred.tasks.cancelled", "{task}", "Tasks removed by an operator's cancel.");

    public static readonly Counter<long> Quarantined = Meter.CreateCounter<long>("deferred.tasks.quarantined", "{task}", "Tasks made dead because their attempts kept taking silos down.");

    public static readonly Counter<long> Recovered = Meter.CreateCounter<long>("deferred.tasks.recovered", "{task}", "Live tasks resumed by recovery: the startup scan, the sweep of a departed silo's tasks and the stranded-task audit.");

    /// <summary>Attempts found in flight after their silo went away.</summary>
    public static readonly Counter<long> Interrupted = Meter.CreateCounter<long>("deferred.attempts.interrupted", "{attempt}", "Attempts found in flight after their silo went away.");

    /// <summary>Orphaned tasks adopted by this silo's sweep.</summary>
    public static readonly Counter<long> Adopted = Meter.CreateCounter<long>("deferred.tasks.adopted", "{task}", "Orphaned tasks adopted by the sweep.");

    /// <summary>Occurrences of schedules stored as tasks by this silo's scheduler.</summary>
    public static readonly Counter<long> ScheduleOccurrences = Meter.CreateCounter<long>("deferred.schedule.occurrences", "{occurrence}", "Occurrences of schedules stored as tasks (one per cluster) by this silo's scheduler.");

    public static readonly Histogram<double> QueueWait = Meter.CreateHistogram("deferred.task.queue_wait", "s", "From when an attempt was due (enqueue or retry time) to when its handler started.", advice: Seconds);

    public static readonly Histogram<double> AttemptDuration = Meter.CreateHistogram("deferred.attempt.duration", "s", "How long handler attempts take.", advice: Seconds);

    public static readonly Histogram<int> StoreBatchSize = Meter.CreateHistogram<int>("deferred.store.batch.size", "{operation}", "Row operations sent and committed together by the default store.");

    public static readonly Histogram<double> StoreCommitDuration = Meter.CreateHistogram("deferred.store.commit.duration", "s", "How long one batch of the default store takes, send to commit.", advice: Seconds);

    /// <summary>
    /// Counts what a committed lifecycle transition means for the task counters, by edge: the one telemetry verb the
    /// task grain calls after a write.
    /// </summary>
    public static void Transitioned(Lifecycle.Transition edge)
    {
        var type = (edge.Before ?? edge.After)?.TaskType ?? "";
        switch (edge.Edge)
        {
            case Lifecycle.Edge.Enqueue:
                Count(Enqueued, type);
                break;
            case Lifecycle.Edge.Succeed or Lifecycle.Edge.Commit:
                Count(Succeeded, type);
                break;
            case Lifecycle.Edge.Fail:
                Count(Failed, type);
                Count(Retried, type);
                break;
            case Lifecycle.Edge.GiveUp:
                Count(Failed, type);
                Count(Dead, type);
                break;
            case Lifecycle.Edge.Unreadable:
                Count(Dead, type);
                break;
            case Lifecycle.Edge.Interrupted:
                Count(Interrupted, type);
                break;
            case Lifecycle.Edge.Quarantine:
                Count(Interrupted, type);
                Count(Quarantined, type);
                Count(Dead, type);
                break;
            case Lifecycle.Edge.Cancel:
                Count(Cancelled, type);
                break;
            case Lifecycle.Edge.Snooze:
                Count(Snoozed, type);
                break;
            case Lifecycle.Edge.RetryDead:
                Count(Retried, type);
                break;
        }
    }

    /// <summary>Adds one to <paramref name="counter"/>, tagged with the task type.</summary>
    public static void Count(Counter<long> counter, string taskType)
    {
        if (counter.Enabled)
        {
            counter.Add(1, new KeyValuePair<string, object?>(TaskTypeTag, taskType));
        }
    }

    /// <summary>Records <paramref name="seconds"/> on <paramref name="histogram"/>, tagged with the task type.</summary>
    public static void Record(Histogram<double> histogram, double seconds, string taskType)
    {
        if (histogram.Enabled)
        {
            histogram.Record(seconds, new KeyValuePair<string, object?>(TaskTypeTag, taskType));
        }
    }

    /// <summary>Creates the per-silo gauges (running and locally due attempts) on a meter the caller owns.</summary>
    public static Meter CreateGateMeter(Func<int> running, Func<int> due)
    {
        var meter = new Meter(Name, typeof(DeferredTelemetry).Assembly.GetName().Version?.ToString());
        meter.CreateObservableGauge("deferred.attempts.running", running, "{attempt}", "Attempts holding an execution slot on this silo.");
        meter.CreateObservableGauge("deferred.tasks.due", due, "{task}", "Due attempts on this silo: announced, waiting for a slot, or running.");
        return meter;
    }
}
