using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Deferred.Diagnostics;

/// <summary>
/// Metrics (meter <c>Deferred</c>) and traces (activity source <c>Deferred</c>), the .NET-native APIs that
/// OpenTelemetry reads.
/// </summary>
internal static class DeferredTelemetry
{
    public const string Name = "Deferred";

    public static readonly ActivitySource ActivitySource = new(Name);

    private static readonly Meter Meter = new(Name);

    public static readonly Counter<long> Enqueued = Meter.CreateCounter<long>("deferred.tasks.enqueued", "{task}", "Tasks stored by enqueue calls.");

    public static readonly Counter<long> Succeeded = Meter.CreateCounter<long>("deferred.tasks.succeeded", "{task}", "Tasks whose attempt succeeded and whose row was deleted.");

    public static readonly Counter<long> Failed = Meter.CreateCounter<long>("deferred.attempts.failed", "{attempt}", "Failed attempts that will be retried.");

    public static readonly Counter<long> Dead = Meter.CreateCounter<long>("deferred.tasks.dead", "{task}", "Tasks that became dead.");

    public static readonly Counter<long> Recovered = Meter.CreateCounter<long>("deferred.tasks.recovered", "{task}", "Tasks resumed by the sweep, the audit or the due-time poller.");

    /// <summary>Attempts found in flight after their silo went away.</summary>
    public static readonly Counter<long> Interrupted = Meter.CreateCounter<long>("deferred.attempts.interrupted", "{attempt}", "Attempts found in flight after their silo went away.");

    /// <summary>Orphaned tasks adopted by this silo's sweep.</summary>
    public static readonly Counter<long> Adopted = Meter.CreateCounter<long>("deferred.tasks.adopted", "{task}", "Orphaned tasks adopted by the sweep.");

    public static readonly Histogram<double> AttemptDuration = Meter.CreateHistogram<double>("deferred.attempt.duration", "ms", "How long handler attempts take.");
}
