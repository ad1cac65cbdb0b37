using System.Threading.Channels;
using Deferred.Benchmarks.Systems;

namespace Deferred.Benchmarks;

/// <summary>What one child process is asked to do: one system, one scenario (or one phase of it), one database.</summary>
internal sealed record RunSpec(
    string System,
    string Scenario,
    int Tasks,
    int ShortTasks,
    double Rate,
    int Seconds,
    int Concurrency,
    int Warmup,
    string ServiceId,
    int TimeoutSeconds,
    HangfireSettings Hangfire,
    bool Verbose);

/// <summary>
/// Runs one system through one scenario inside this (child) process and prints its result lines. The
/// connection string (DEFERRED_PG_CONNECTION) points at a database created for this run alone.
/// </summary>
internal static partial class ChildRunner
{
    public const string RecoverySeed = "recovery-seed";

    private static readonly TimeSpan FarDelay = TimeSpan.FromHours(1);

    public static async Task<int> RunAsync(RunSpec spec, string connectionString)
    {
        // Hangfire's client blocks a thread per enqueue; give every system the same head start of threads.
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, spec.Concurrency + 32), Math.Max(io, spec.Concurrency + 32));

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(spec.TimeoutSeconds));
        var scenarioName = spec.Scenario == RecoverySeed ? "recovery" : spec.Scenario;
        var expected = spec.Scenario == "delayed" ? new[] { "delayed-1h", "delayed-short" } : [scenarioName];
        var printed = 0;
        void Print(BenchResult result)
        {
            Console.Out.WriteLine(result.ToLine());
            Console.Out.Flush();
            printed++;
        }

        string? failure = null;
        try
        {
            if (spec.System is "pg-row" or "pg-batch")
            {
                Print(await PgRunner.ThroughputAsync(spec.System, connectionString, spec.Tasks, spec.Warmup, spec.Concurrency, deadline.Token));
            }
            else
            {
                await using var system = Create(spec, connectionString);
                switch (spec.Scenario)
                {
                    case "throughput": Print(await ThroughputAsync(spec, system, Print, deadline.Token)); break;
                    case "batch": Print(await BatchAsync(spec, system, deadline.Token)); break;
                    case "soak": Print(await SoakAsync(spec, system, deadline.Token)); break;
                    case "latency": Print(await LatencyAsync(spec, system, deadline.Token)); break;
                    case RecoverySeed: await SeedAsync(spec, system, deadline.Token); break;
                    case "recovery": Print(await RecoveryAsync(spec, system, deadline.Token)); break;
                    case "delayed": await DelayedAsync(spec, system, Print, deadline.Token); break;
                    default: throw new ArgumentException($"unknown scenario '{spec.Scenario}'");
                }
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            failure = $"timeout after {spec.TimeoutSeconds} s: {Recorder.Completed} tracked tasks had run";
        }
        catch (Exception ex)
        {
            failure = Describe(ex);
        }

        if (failure is not null)
        {
            Console.Error.WriteLine($"bench: {spec.System} {spec.Scenario} failed: {failure}");
            foreach (var missing in expected.Skip(printed))
            {
                Print(BenchResult.Failed(spec.System, missing, failure));
            }
        }

        if (Recorder.Duplicates > 0)
        {
            Console.Error.WriteLine($"bench: {spec.System} {spec.Scenario}: {Recorder.Duplicates} tasks ran more than once");
        }

        return failure is null ? 0 : 1;
    }

    private static IBenchSystem Create(RunSpec spec, string connectionString) => spec.System switch
    {
        "deferred" => new DeferredSystem(DeferredStore.Postgres, connectionString, spec.ServiceId, spec.Verbose),
        "deferred-stock" => new DeferredSystem(DeferredStore.OrleansAdoNet, connectionString, spec.ServiceId, spec.Verbose),
        "deferred-tx" => new DeferredSystem(DeferredStore.Postgres, connectionString, spec.ServiceId, spec.Verbose, transactional: true),
        "hangfire" => new HangfireSystem(connectionString, spec.Hangfire, spec.Verbose),
        "orleans-ceiling" => new OrleansCeilingSystem(spec.ServiceId, spec.Verbose),
        _ => throw new ArgumentException($"unknown system '{spec.System}'"),
    };

    /// <summary>N tasks enqueued as fast as the enqueuers allow; timed until every one ran and none is stored.</summary>
    private static async Task<BenchResult> ThroughputAsync(RunSpec spec, IBenchSystem system, Action<BenchResult> print, CancellationToken ct)
    {
        Recorder.Reset(spec.Tasks + spec.Warmup);
        await system.StartAsync(seeding: false, ct);
        var coldCost = Cost.Now();
        var coldStart = Clock.Now;
        await WarmUpAsync(spec, system, spec.Tasks, ct);
        if (spec.Warmup >= 1_000)
        {
            // The warm-up, right after start: the cold rate, while the JIT climbs.
            var coldElapsed = Clock.Seconds(Clock.Now - coldStart);
            var (coldP50, coldP99) = Stats.P50P99(Recorder.DoneLatencies(spec.Tasks, spec.Tasks + spec.Warmup));
            print(new BenchResult(spec.System, "cold", spec.Warmup, spec.Warmup / coldElapsed, coldP50, coldP99, Stats.PeakRssMb()).WithCost(coldCost));
        }

        var all = Recorder.Expect(spec.Warmup + spec.Tasks);
        var cost = Cost.Now();
        var start = Clock.Now;
        await EnqueueRangeAsync(system, 0, spec.Tasks, spec.Concurrency, ct);
        Console.Error.WriteLine($"bench: {spec.System} throughput: enqueue phase {spec.Tasks / Clock.Seconds(Clock.Now - start):F0} tasks/s acknowledged");
        await all.WaitAsync(ct);
        await WaitUntilNothingPendingAsync(system, ct);
        var elapsed = Clock.Seconds(Clock.Now - start);
        var (p50, p99) = Stats.P50P99(Recorder.DoneLatencies(0, spec.Tasks));
        return new BenchResult(spec.System, "throughput", spec.Tasks, spec.Tasks / elapsed, p50, p99, Stats.PeakRssMb()).WithCost(cost);
    }

    /// <summary>Like throughput, but the tasks are enqueued 1,000 per EnqueueManyAsync call (one commit each), a few calls in flight.</summary>
    private static async Task<BenchResult> BatchAsync(RunSpec spec, IBenchSystem system, CancellationToken ct)
    {
        const int batch = 1_000;
        Recorder.Reset(spec.Tasks + spec.Warmup);
        await system.StartAsync(seeding: false, ct);
        await WarmUpAsync(spec, system, spec.Tasks, ct);

        var all = Recorder.Expect(spec.Warmup + spec.Tasks);
        var cost = Cost.Now();
        var start = Clock.Now;
        var batches = Enumerable.Range(0, (spec.Tasks + batch - 1) / batch);
        await Parallel.ForEachAsync(batches, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (b, token) =>
        {
            var count = Math.Min(batch, spec.Tasks - (b * batch));
            for (var seq = b * batch; seq < (b * batch) + count; seq++)
            {
                Recorder.MarkEnqueued(seq, Clock.Now);
            }

            await system.EnqueueBatchAsync(b * batch, count, token);
        });
        Console.Error.WriteLine($"bench: {spec.System} batch: enqueue phase {spec.Tasks / Clock.Seconds(Clock.Now - start):F0} tasks/s acknowledged");
        await all.WaitAsync(ct);
        await WaitUntilNothingPendingAsync(system, ct);
        var elapsed = Clock.Seconds(Clock.Now - start);
        var (p50, p99) = Stats.P50P99(Recorder.DoneLatencies(0, spec.Tasks));
        return new BenchResult(spec.System, "batch", spec.Tasks, spec.Tasks / elapsed, p50, p99, Stats.PeakRssMb()).WithCost(cost);
    }

    /// <summary>Tasks enqueued at a fixed rate (open loop) for a fixed time; enqueue-to-start percentiles.</summary>
    private static async Task<BenchResult> LatencyAsync(RunSpec spec, IBenchSystem system, CancellationToken ct)
    {
        var total = Math.Max(1, (int)Math.Round(spec.Rate * spec.Seconds));
        Recorder.Reset(total + spec.Warmup);
        await system.StartAsync(seeding: false, ct);
        await WarmUpAsync(spec, system, total, ct);

        var all = Recorder.Expect(spec.Warmup + total);
        var queue = Channel.CreateUnbounded<int>(new UnboundedChannelOptions { SingleWriter = true });
        var enqueuers = Enumerable.Range(0, spec.Concurrency).Select(_ => Task.Run(async () =>
        {
            await foreach (var seq in queue.Reader.ReadAllAsync(ct))
            {
                await system.EnqueueAsync(seq, null, ct);
            }
        }, ct)).ToArray();

        // The pacer hands out every task that is due by now, stamping it with the time it was handed out: a
        // system that cannot keep up makes tasks wait in the queue, and that wait counts.
        var cost = Cost.Now();
        using var sampling = new CancellationTokenSource();
        var queueSamples = Stats.SampleThreadPoolQueueAsync(sampling.Token);
        var start = Clock.Now;
        var next = 0;
        while (next < total)
        {
            var now = Clock.Now;
            var due = Math.Min(total, (int)(Clock.Seconds(now - start) * spec.Rate) + 1);
            for (; next < due; next++)
            {
                Recorder.MarkEnqueued(next, now);
                queue.Writer.TryWrite(next);
            }

            await Task.Delay(1, ct);
        }

        queue.Writer.Complete();
        await Task.WhenAll(enqueuers);
        await all.WaitAsync(ct);
        var elapsed = Clock.Seconds(Recorder.LastDone(0, total) - start);
        var (p50, p99) = Stats.P50P99(Recorder.StartLatencies(0, total));
        await sampling.CancelAsync();
        var (queueMean, queueMax) = await queueSamples;
        return new BenchResult(spec.System, "latency", total, total / elapsed, p50, p99, Stats.PeakRssMb()).WithCost(cost) with
        {
            ThreadPoolQueueMean = queueMean,
            ThreadPoolQueueMax = queueMax,
        };
    }


    /// <summary>Recovery, first process: store N tasks that do not run, stop, and make them due.</summary>
    private static async Task SeedAsync(RunSpec spec, IBenchSystem system, CancellationToken ct)
    {
        Recorder.Reset(spec.Tasks);
        var start = Clock.Now;
        await system.StartAsync(seeding: true, ct);

        // Deferred: due in an hour on in-memory timers, then made due once the silo is gone. Hangfire: no server
        // runs here, so plain enqueues stay in its queue.
        var delay = system is HangfireSystem ? (TimeSpan?)null : FarDelay;
        await Parallel.ForEachAsync(Enumerable.Range(0, spec.Tasks), new ParallelOptions { MaxDegreeOfParallelism = spec.Concurrency, CancellationToken = ct },
            async (seq, token) => await system.EnqueueAsync(seq, delay, token));
        await system.StopAsync();
        if (Recorder.Completed > 0)
        {
            throw new InvalidOperationException($"{Recorder.Completed} tasks ran while seeding; the recovery run would be wrong");
        }

        await system.MakeDueAsync(ct);
        var pending = await system.CountPendingAsync(ct);
        Console.Error.WriteLine($"bench: {spec.System} recovery: seeded {spec.Tasks} tasks in {Clock.Seconds(Clock.Now - start):F1} s; {pending} stored");
        if (pending < spec.Tasks)
        {
            throw new InvalidOperationException($"only {pending} of {spec.Tasks} seeded tasks are stored");
        }
    }

    /// <summary>Recovery, second process: N pending rows at start-up; timed from start-up until all are done.</summary>
    private static async Task<BenchResult> RecoveryAsync(RunSpec spec, IBenchSystem system, CancellationToken ct)
    {
        Recorder.Reset(spec.Tasks);
        var all = Recorder.Expect(spec.Tasks);
        var start = Clock.Now;
        for (var i = 0; i < spec.Tasks; i++)
        {
            Recorder.MarkEnqueued(i, start);
        }

        var cost = Cost.Now();
        await system.StartAsync(seeding: false, ct);
        await all.WaitAsync(ct);
        await WaitUntilNothingPendingAsync(system, ct);
        var elapsed = Clock.Seconds(Clock.Now - start);
        var (p50, p99) = Stats.P50P99(Recorder.DoneLatencies(0, spec.Tasks));
        return new BenchResult(spec.System, "recovery", spec.Tasks, spec.Tasks / elapsed, p50, p99, Stats.PeakRssMb()).WithCost(cost);
    }

    /// <summary>
    /// N tasks delayed by an hour (enqueue rate, enqueue call percentiles, RSS), then, on top of them, a smaller
    /// batch due in 2-5 s (lateness percentiles: start minus due time).
    /// </summary>
    private static async Task DelayedAsync(RunSpec spec, IBenchSystem system, Action<BenchResult> print, CancellationToken ct)
    {
        Recorder.Reset(spec.ShortTasks);
        await system.StartAsync(seeding: false, ct);

        var callMs = new double[spec.Tasks];
        var start = Clock.Now;
        await Parallel.ForEachAsync(Enumerable.Range(0, spec.Tasks), new ParallelOptions { MaxDegreeOfParallelism = spec.Concurrency, CancellationToken = ct },
            async (i, token) =>
            {
                var called = Clock.Now;
                await system.EnqueueAsync(-1, FarDelay, token);
                callMs[i] = Clock.Ms(Clock.Now - called);
            });
        var elapsed = Clock.Seconds(Clock.Now - start);
        var (p50, p99) = Stats.P50P99(callMs);
        print(new BenchResult(spec.System, "delayed-1h", spec.Tasks, spec.Tasks / elapsed, p50, p99, Stats.PeakRssMb()));

        // Due times spread over 2-5 s. The reference is the moment the enqueue call began plus the delay: no
        // system can be due earlier, so this never flatters a system (it can add at most one enqueue call).
        var all = Recorder.Expect(spec.ShortTasks);
        start = Clock.Now;
        await Parallel.ForEachAsync(Enumerable.Range(0, spec.ShortTasks), new ParallelOptions { MaxDegreeOfParallelism = spec.Concurrency, CancellationToken = ct },
            async (i, token) =>
            {
                var delay = TimeSpan.FromMilliseconds(2000 + 3000.0 * i / spec.ShortTasks);
                Recorder.MarkEnqueued(i, Clock.Now + Clock.Ticks(delay));
                await system.EnqueueAsync(i, delay, token);
            });
        elapsed = Clock.Seconds(Clock.Now - start);
        await all.WaitAsync(ct);
        var lateness = Recorder.StartLatencies(0, spec.ShortTasks);
        var early = lateness.Count(l => l < 0);
        if (early > 0)
        {
            Console.Error.WriteLine($"bench: {spec.System} delayed-short: {early} tasks started before their due time");
        }

        (p50, p99) = Stats.P50P99(lateness);
        print(new BenchResult(spec.System, "delayed-short", spec.ShortTasks, spec.ShortTasks / elapsed, p50, p99, Stats.PeakRssMb()));
    }

    /// <summary>Runs the warm-up tasks (numbered after the measured ones) to completion, so JIT and pools are warm.</summary>
    private static async Task WarmUpAsync(RunSpec spec, IBenchSystem system, int firstSeq, CancellationToken ct)
    {
        if (spec.Warmup == 0)
        {
            return;
        }

        var warm = Recorder.Expect(spec.Warmup);
        await EnqueueRangeAsync(system, firstSeq, firstSeq + spec.Warmup, spec.Concurrency, ct);
        await warm.WaitAsync(ct);
        await WaitUntilNothingPendingAsync(system, ct);
    }

    private static Task EnqueueRangeAsync(IBenchSystem system, int from, int to, int concurrency, CancellationToken ct) =>
        Parallel.ForEachAsync(Enumerable.Range(from, to - from), new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct },
            async (seq, token) =>
            {
                Recorder.MarkEnqueued(seq, Clock.Now);
                await system.EnqueueAsync(seq, null, token);
            });

    private static async Task WaitUntilNothingPendingAsync(IBenchSystem system, CancellationToken ct)
    {
        while (await system.CountPendingAsync(ct) > 0)
        {
            await Task.Delay(10, ct);
        }
    }

    private static string Describe(Exception ex)
    {
        if (ex is AggregateException { InnerExceptions.Count: 1 } aggregate)
        {
            ex = aggregate.InnerExceptions[0];
        }

        var text = $"{ex.GetType().Name}: {ex.Message}";
        if (ex.InnerException is { } inner && !ex.Message.Contains(inner.Message, StringComparison.Ordinal))
        {
            text += $" ({inner.GetType().Name}: {inner.Message})";
        }

        return BenchResult.OneLine(text);
    }
}
