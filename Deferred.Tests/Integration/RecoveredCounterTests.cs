using Deferred.Tests.Infrastructure;
using System.Diagnostics.Metrics;
using Xunit;

namespace Deferred.Tests.Integration;

/// <summary>
/// Runs alone (after the parallel tests): <c>deferred.tasks.recovered</c> carries no tag naming its silo, so a
/// process-wide listener would hear other tests' recoveries.
/// </summary>
[CollectionDefinition(nameof(RecoveredCounterTests), DisableParallelization = true)]
public sealed class RecoveredCounterTestsRunAlone;

/// <summary><c>deferred.tasks.recovered</c> counts recoveries, not the routine wake of tasks a silo has just stored.</summary>
[Collection(nameof(RecoveredCounterTests))]
public sealed class RecoveredCounterTests : StoreConformance
{
    protected override DeferredStore Store => DeferredStore.Postgres;

    [Fact]
    public async Task A_batch_enqueue_is_not_counted_as_recovered()
    {
        await using var cluster = await StartAsync();
        await cluster.Recovery(0).StartupSweep;
        long recovered = 0;
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "Deferred" && instrument.Name == "deferred.tasks.recovered")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        meters.SetMeasurementEventCallback<long>((_, v, _, _) => Interlocked.Add(ref recovered, v));
        meters.Start();

        // Due in 2 s (within the timer threshold): the silo wakes the batch's grains at once, and they arm timers, so
        // the wake-up (which counted them as recovered) has long returned when they run.
        var ids = await cluster.OnSilo(0).EnqueueManyAsync(
            Enumerable.Range(0, 20).Select(_ => new ProbeTask()).ToList(), new DeferredEnqueueOptions { Delay = TimeSpan.FromSeconds(2) });
        await cluster.Probe.WaitAsync(runs => ids.All(id => runs.Any(r => r.TaskId == id)), "every task of the batch to run");

        Assert.Equal(0, Interlocked.Read(ref recovered));
    }
}
