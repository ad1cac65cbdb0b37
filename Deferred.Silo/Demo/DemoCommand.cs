using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Deferred.Recovery;
using Deferred.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Deferred.Silo.Demo;

/// <summary>
/// <c>demo --tasks N [--ack-log PATH] [--concurrency C] [--timeout-seconds S]</c>: runs a silo, enqueues N sample
/// tasks (every 10th fails its first attempt, every 10th is delayed by 3 s), shows progress, waits until no task
/// is pending, and prints one summary line. <c>--tasks 0</c> only recovers what is stored.
/// </summary>
internal static class DemoCommand
{
    private static readonly TimeSpan SampleDelay = TimeSpan.FromSeconds(3);

    public static async Task<int> RunAsync(string[] args)
    {
        int tasks = 1000, concurrency = 64, timeoutSeconds = 600;
        string? ackLog = null;
        var options = new CommandArgs(args);
        try
        {
            while (options.MoveNext())
            {
                switch (options.Name)
                {
                    case "--tasks": tasks = options.Number(0); break;
                    case "--concurrency": concurrency = options.Number(1); break;
                    case "--timeout-seconds": timeoutSeconds = options.Number(1); break;
                    case "--ack-log": ackLog = options.Value(); break;
                    default: throw options.Unknown();
                }
            }
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine($"demo: {ex.Message}. Usage: demo --tasks N [--ack-log PATH] [--concurrency C] [--timeout-seconds S]");
            return 2;
        }

        var builder = SiloHost.CreateBuilder([]);

        // The sample tasks fail on purpose; their warnings would drown the progress lines.
        builder.Logging.AddFilter("Deferred.Runtime", LogLevel.Error);
        using var host = builder.Build();
        var clock = Stopwatch.StartNew();
        await host.StartAsync();

        var deferred = host.Services.GetRequiredService<IDeferredTasks>();
        var catalog = host.Services.GetRequiredService<IDeferredTaskCatalog>();
        var ledger = host.Services.GetRequiredService<DemoLedger>();
        var recovery = host.Services.GetRequiredService<OrphanSweep>();
        var runId = DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..6];
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));

        // The sample's own table (not part of Deferred's migrations): there before the first task is enqueued.
        try
        {
            await ledger.EnsureCreatedAsync(deadline.Token);
        }
        catch (Npgsql.NpgsqlException ex)
        {
            Console.Error.WriteLine($"demo: cannot create the sample's table demo_completions: {ex.Message}");
            await host.StopAsync();
            return 1;
        }

        var enqueued = 0;
        var acks = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
        var ackWriter = WriteAcksAsync(ackLog, acks.Reader);
        var enqueue = Parallel.ForEachAsync(
            Enumerable.Range(0, tasks),
            new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = deadline.Token },
            async (i, ct) =>
            {
                var task = new DemoTask { RunId = runId, FailFirstAttempt = i % 10 == 3 };
                var options = new DeferredEnqueueOptions
                {
                    TaskId = $"demo-{runId}-{i}",
                    Delay = i % 10 == 7 ? SampleDelay : null,
                };
                var id = await deferred.EnqueueAsync(task, options, ct);
                acks.Writer.TryWrite(id);
                Interlocked.Increment(ref enqueued);
            });

        var scope = tasks > 0 ? runId : null;
        long completed, duplicates;
        IReadOnlyDictionary<string, long> counts;
        var exitCode = 0;
        try
        {
            while (true)
            {
                var enqueueDone = enqueue.IsCompleted;
                var recoveryDone = recovery.StartupSweep.IsCompleted;
                counts = await catalog.CountByStatusAsync(deadline.Token);
                (completed, duplicates) = await ledger.CountAsync(scope, deadline.Token);
                var pending = Pending(counts);
                Console.Error.WriteLine($"demo: progress enqueued={Volatile.Read(ref enqueued)}/{tasks} completed={completed} pending={pending} dead={Get(counts, "Dead")} elapsed_ms={clock.ElapsedMilliseconds}");
                if (enqueueDone && recoveryDone && pending == 0)
                {
                    await enqueue;
                    break;
                }

                var tick = Task.Delay(TimeSpan.FromSeconds(1), deadline.Token);
                await (enqueueDone ? tick : Task.WhenAny(tick, enqueue));
                deadline.Token.ThrowIfCancellationRequested();
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            Console.Error.WriteLine($"demo: gave up after {timeoutSeconds} s with work still pending");
            exitCode = 1;
        }

        acks.Writer.TryComplete();
        await ackWriter;
        counts = await catalog.CountByStatusAsync(CancellationToken.None);
        (completed, duplicates) = await ledger.CountAsync(scope, CancellationToken.None);
        var elapsed = clock.ElapsedMilliseconds;
        await host.StopAsync();
        Console.WriteLine($"demo: enqueued={Volatile.Read(ref enqueued)} completed={completed} duplicates={duplicates} dead={Get(counts, "Dead") + Get(counts, "Unreadable")} pending={Pending(counts)} elapsed_ms={elapsed}");
        return exitCode;
    }

    private static long Get(IReadOnlyDictionary<string, long> counts, string status) => counts.GetValueOrDefault(status);

    private static long Pending(IReadOnlyDictionary<string, long> counts) => Get(counts, "Pending") + Get(counts, "Failed");

    /// <summary>Appends acknowledged ids to the ack log, flushing at least every 100 ms.</summary>
    private static async Task WriteAcksAsync(string? path, ChannelReader<string> reader)
    {
        if (path is null)
        {
            while (await reader.WaitToReadAsync())
            {
                while (reader.TryRead(out _))
                {
                }
            }

            return;
        }

        await using var writer = new StreamWriter(path, append: true);
        while (await reader.WaitToReadAsync())
        {
            while (reader.TryRead(out var id))
            {
                await writer.WriteLineAsync(id);
            }

            await writer.FlushAsync();
            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }
    }
}
