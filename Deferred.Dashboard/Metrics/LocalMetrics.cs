using System.Diagnostics.Metrics;

namespace Deferred.Dashboard.Metrics;

/// <summary>
/// Listens to the meter <c>Deferred</c> in this process and keeps the last ten minutes of successes, failed attempts
/// and queue waits in per-second buckets. These are the hosting process's figures (the attempts run by this silo), not
/// the cluster's: a cluster-wide view belongs in a metrics backend fed by OpenTelemetry.
/// </summary>
internal sealed class LocalMetrics : IDisposable
{
    public const string MeterName = "Deferred";
    public const string SucceededInstrument = "deferred.tasks.succeeded";
    public const string FailedInstrument = "deferred.attempts.failed";
    public const string QueueWaitInstrument = "deferred.task.queue_wait";

    /// <summary>The chart's resolution: one point per this many seconds.</summary>
    public const int StepSeconds = 10;

    private readonly SecondRing _ring = new();
    private readonly TimeProvider _time;
    private readonly MeterListener _listener;

    public LocalMetrics(TimeProvider time)
    {
        _time = time;
        Since = time.GetUtcNow();
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == MeterName && KindOf(instrument.Name) is { } kind)
                {
                    listener.EnableMeasurementEvents(instrument, kind);
                }
            },
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, state) => OnMeasurement(state, value));
        _listener.SetMeasurementEventCallback<int>((_, value, _, state) => OnMeasurement(state, value));
        _listener.SetMeasurementEventCallback<double>((_, value, _, state) => OnMeasurement(state, value));
        _listener.Start();
    }

    /// <summary>When listening began: figures before it are not known.</summary>
    public DateTimeOffset Since { get; }

    private enum Kind
    {
        Succeeded,
        Failed,
        QueueWait,
    }

    public LocalMetricsSnapshot Snapshot()
    {
        var now = _time.GetUtcNow();

        // The current second is still filling; the figures end with the last complete one.
        var last = now.ToUnixTimeSeconds() - 1;
        Span<long> succeeded = stackalloc long[SecondRing.Seconds];
        Span<long> failed = stackalloc long[SecondRing.Seconds];
        Span<long> waits = stackalloc long[WaitHistogram.Count];
        _ring.Read(last, SecondRing.Seconds, succeeded, failed, waits);

        var points = SecondRing.Seconds / StepSeconds;
        var succeededRate = new double[points];
        var failedRate = new double[points];
        for (var p = 0; p < points; p++)
        {
            succeededRate[p] = Sum(succeeded.Slice(p * StepSeconds, StepSeconds)) / (double)StepSeconds;
            failedRate[p] = Sum(failed.Slice(p * StepSeconds, StepSeconds)) / (double)StepSeconds;
        }

        Span<long> lastMinuteWaits = stackalloc long[WaitHistogram.Count];
        _ring.Read(last, 60, stackalloc long[60], stackalloc long[60], lastMinuteWaits);

        return new LocalMetricsSnapshot(
            Host: Environment.MachineName,
            ProcessId: Environment.ProcessId,
            Since: Since,
            SeriesStart: DateTimeOffset.FromUnixTimeSeconds(last - SecondRing.Seconds + 1),
            StepSeconds: StepSeconds,
            SucceededPerSecond: succeededRate,
            FailedPerSecond: failedRate,
            LastMinute: new LocalRates(
                Sum(succeeded[^60..]) / 60.0,
                Sum(failed[^60..]) / 60.0),
            QueueWait: new QueueWaitFigures(
                WindowSeconds: SecondRing.Seconds,
                Count: Sum(waits),
                P50Seconds: WaitHistogram.Quantile(waits, 0.50),
                P99Seconds: WaitHistogram.Quantile(waits, 0.99),
                LastMinuteCount: Sum(lastMinuteWaits),
                LastMinuteP50Seconds: WaitHistogram.Quantile(lastMinuteWaits, 0.50),
                LastMinuteP99Seconds: WaitHistogram.Quantile(lastMinuteWaits, 0.99)));
    }

    public void Dispose() => _listener.Dispose();

    private static Kind? KindOf(string instrument) => instrument switch
    {
        SucceededInstrument => Kind.Succeeded,
        FailedInstrument => Kind.Failed,
        QueueWaitInstrument => Kind.QueueWait,
        _ => null,
    };

    private void OnMeasurement(object? state, double value)
    {
        var second = _time.GetUtcNow().ToUnixTimeSeconds();
        switch (state)
        {
            case Kind.Succeeded:
                _ring.AddSucceeded(second, (long)value);
                break;
            case Kind.Failed:
                _ring.AddFailed(second, (long)value);
                break;
            case Kind.QueueWait:
                _ring.RecordWait(second, value);
                break;
        }
    }

    private static long Sum(ReadOnlySpan<long> values)
    {
        long sum = 0;
        foreach (var v in values)
        {
            sum += v;
        }

        return sum;
    }
}

/// <summary>What the page shows of this process's own figures.</summary>
internal sealed record LocalMetricsSnapshot(
    string Host,
    int ProcessId,
    DateTimeOffset Since,
    DateTimeOffset SeriesStart,
    int StepSeconds,
    IReadOnlyList<double> SucceededPerSecond,
    IReadOnlyList<double> FailedPerSecond,
    LocalRates LastMinute,
    QueueWaitFigures QueueWait);

/// <summary>Average rates over the last minute.</summary>
internal sealed record LocalRates(double SucceededPerSecond, double FailedPerSecond);

/// <summary>Queue-wait quantiles over the whole window and over the last minute; null when no wait was recorded.</summary>
internal sealed record QueueWaitFigures(
    int WindowSeconds,
    long Count,
    double? P50Seconds,
    double? P99Seconds,
    long LastMinuteCount,
    double? LastMinuteP50Seconds,
    double? LastMinuteP99Seconds);
