using System.Diagnostics.Metrics;
using Deferred.Dashboard.Metrics;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Deferred.Tests.Dashboard;

/// <summary>The dashboard's in-process figures: per-second buckets, their reuse, and the queue-wait quantiles.</summary>
public sealed class LocalMetricsTests
{
    [Fact]
    public void Buckets_hold_the_last_ten_minutes_and_are_reused_when_their_second_comes_round_again()
    {
        var ring = new SecondRing();
        ring.AddSucceeded(1_000, 5);
        ring.AddFailed(1_000, 2);
        ring.AddSucceeded(1_001, 1);
        ring.RecordWait(1_001, 0.5);

        var succeeded = new long[3];
        var failed = new long[3];
        var waits = new long[WaitHistogram.Count];
        ring.Read(1_001, 3, succeeded, failed, waits);
        Assert.Equal([0L, 5, 1], succeeded);
        Assert.Equal([0L, 2, 0], failed);
        Assert.Equal(1, waits.Sum());

        // Ten minutes later the bucket of second 1,000 serves second 1,600: the old counts are gone, not added to.
        ring.AddSucceeded(1_000 + SecondRing.Seconds, 7);
        Array.Clear(succeeded);
        ring.Read(1_000 + SecondRing.Seconds, 1, succeeded.AsSpan(0, 1), failed.AsSpan(0, 1), new long[WaitHistogram.Count]);
        Assert.Equal(7, succeeded[0]);

        // A late measurement for a second whose bucket has moved on is dropped rather than counted in the wrong second.
        ring.AddSucceeded(1_000, 100);
        ring.Read(1_000 + SecondRing.Seconds, 1, succeeded.AsSpan(0, 1), failed.AsSpan(0, 1), new long[WaitHistogram.Count]);
        Assert.Equal(7, succeeded[0]);
    }

    [Theory]
    [InlineData(0.5, 0.5)]
    [InlineData(0.99, 0.99)]
    public void Queue_wait_quantiles_are_within_ten_percent(double quantile, double expectedSeconds)
    {
        // 1,000 waits spread evenly from 1 ms to 1 s.
        var bins = new long[WaitHistogram.Count];
        for (var i = 1; i <= 1_000; i++)
        {
            bins[WaitHistogram.BinOf(i / 1_000.0)]++;
        }

        var value = WaitHistogram.Quantile(bins, quantile)!.Value;
        Assert.InRange(value, expectedSeconds * 0.9, expectedSeconds * 1.1);
        Assert.Null(WaitHistogram.Quantile(new long[WaitHistogram.Count], 0.5));
        Assert.Equal(0, WaitHistogram.BinOf(-1));
        Assert.Equal(WaitHistogram.Count - 1, WaitHistogram.BinOf(1e9));
    }

    [Fact]
    public void The_listener_reads_the_Deferred_meter_and_reports_rates_and_waits_for_its_own_process()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 12, 0, 0, TimeSpan.Zero));
        using var metrics = new LocalMetrics(time);

        // The same names as Deferred.Grains' instruments, on a meter of the same name (other tests' silos in this
        // process may add to the figures, so they are asserted as lower bounds).
        using var meter = new Meter(LocalMetrics.MeterName);
        var succeeded = meter.CreateCounter<long>(LocalMetrics.SucceededInstrument);
        var failed = meter.CreateCounter<long>(LocalMetrics.FailedInstrument);
        var wait = meter.CreateHistogram<double>(LocalMetrics.QueueWaitInstrument);
        var ignored = meter.CreateCounter<long>("deferred.tasks.enqueued");
        for (var i = 0; i < 30; i++)
        {
            succeeded.Add(1);
            wait.Record(0.010);
        }

        failed.Add(6);
        ignored.Add(1_000);
        time.Advance(TimeSpan.FromSeconds(1));

        var snapshot = metrics.Snapshot();
        Assert.Equal(SecondRing.Seconds / LocalMetrics.StepSeconds, snapshot.SucceededPerSecond.Count);
        Assert.True(snapshot.SucceededPerSecond[^1] >= 3, $"last step {snapshot.SucceededPerSecond[^1]}/s; 30 in 10 s is 3/s");
        Assert.True(snapshot.FailedPerSecond[^1] >= 0.6);
        Assert.True(snapshot.LastMinute.SucceededPerSecond >= 0.5);
        Assert.True(snapshot.QueueWait.Count >= 30);
        Assert.NotNull(snapshot.QueueWait.P50Seconds);
        Assert.Equal(time.GetUtcNow().AddSeconds(-SecondRing.Seconds), snapshot.SeriesStart);
    }
}
