using Deferred.Benchmarks.Systems;

namespace Deferred.Benchmarks;

/// <summary>The soak scenario: the memory of a long-running silo.</summary>
internal static partial class ChildRunner
{
    /// <summary>
    /// A long-running silo: N tasks in ten rounds, each round as in throughput. After each round, the live heap (after a
    /// forced full collection) and the resident set; a silo that keeps something per completed task grows round by round.
    /// </summary>
    private static async Task<BenchResult> SoakAsync(RunSpec spec, IBenchSystem system, CancellationToken ct)
    {
        const int rounds = 10;
        var perRound = Math.Max(1, spec.Tasks / rounds);
        await system.StartAsync(seeding: false, ct);
        var heap = new List<double>();
        var rss = new List<double>();
        var cost = Cost.Now();
        var start = Clock.Now;
        (double P50, double P99) last = default;
        for (var round = 0; round < rounds; round++)
        {
            Recorder.Reset(perRound);
            var all = Recorder.Expect(perRound);
            await EnqueueRangeAsync(system, 0, perRound, spec.Concurrency, ct);
            await all.WaitAsync(ct);
            await WaitUntilNothingPendingAsync(system, ct);
            last = Stats.P50P99(Recorder.DoneLatencies(0, perRound));
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            heap.Add(GC.GetTotalMemory(forceFullCollection: false) / (1024.0 * 1024.0));
            rss.Add(Stats.CurrentRssMb());
            Console.Error.WriteLine($"bench: {spec.System} soak: {(round + 1) * perRound} tasks, live heap {heap[^1]:F0} MB, RSS {rss[^1]:F0} MB");
        }

        var total = perRound * rounds;
        var elapsed = Clock.Seconds(Clock.Now - start);
        static string Series(List<double> values) => string.Join('/', values.Select(v => v.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)));
        return new BenchResult(spec.System, "soak", total, total / elapsed, last.P50, last.P99, Stats.PeakRssMb()).WithCost(cost) with
        {
            Extra = $"live_heap_mb={Series(heap)} rss_now_mb={Series(rss)}",
        };
    }
}
